"""Memory faults on stored integer weights: bit-flip, stuck-at-0, stuck-at-1.

Pure functions on integer tensors (two's complement, ``bits`` wide). A fault map is a set
of bit cells, (element, bit position); sampling it costs in proportion to the number of
faulty cells, not to numel * bits, so small rates are cheap.
"""
from __future__ import annotations

import torch

FAULTS = ("bitflip", "sa0", "sa1")
MODES = ("exact", "bernoulli")
_SIGNED = (torch.int8, torch.int16, torch.int32, torch.int64)


def validate(weights, fault, rate, bits, mode, generator, bit=None) -> None:
    """Raise ValueError naming the first bad argument of inject / inject_bit."""
    if not isinstance(weights, torch.Tensor) or weights.dtype not in _SIGNED:
        raise ValueError(f"weights: expected a signed integer tensor, got "
                         f"{getattr(weights, 'dtype', type(weights).__name__)}")
    if fault not in FAULTS:
        raise ValueError(f"fault: unknown fault {fault!r} (one of {', '.join(FAULTS)})")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(f"rate: must be a number in [0, 1], got {rate!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8 * weights.element_size():
        raise ValueError(f"bits: must be an integer from 2 to {8 * weights.element_size()} "
                         f"for {weights.dtype}, got {bits!r}")
    if mode not in MODES:
        raise ValueError(f"mode: unknown mode {mode!r} (one of {', '.join(MODES)})")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: a torch.Generator is required (faults must be reproducible)")
    if bit is not None and (isinstance(bit, bool) or not isinstance(bit, int) or not 0 <= bit < bits):
        raise ValueError(f"bit: must be a bit position in [0, {bits}), got {bit!r}")
    if weights.numel():
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        wmin, wmax = torch.aminmax(weights)
        if int(wmin) < lo or int(wmax) > hi:
            raise ValueError(f"weights: values outside the {bits}-bit two's-complement range [{lo}, {hi}]")


def sample_cells(n: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct integers drawn uniformly from range(n), sorted.

    Draws the missing number with replacement and keeps the distinct values until there are
    enough (usually one round at small rates); every step treats all cells alike, so the
    result is a uniform random subset. Dense draws use a permutation.
    """
    if count < n // 32:  # few cells: sorting the draws costs less than a pass over all n
        chosen = torch.randint(0, n, (count,), generator=generator).unique()
        while len(chosen) < count:
            draw = torch.randint(0, n, (count - len(chosen),), generator=generator)
            chosen = torch.cat([chosen, draw]).unique()
        return chosen
    # Many cells: the same draws, marked in a map of all n cells rather than sorted in every
    # round (several rounds at high rates); reading the map back gives them sorted.
    seen = torch.zeros(n, dtype=torch.bool)
    if count > n // 4:
        seen[torch.randperm(n, generator=generator)[:count]] = True
    else:
        have = 0
        while have < count:
            seen[torch.randint(0, n, (count - have,), generator=generator)] = True
            have = int(seen.sum())
    return seen.nonzero().squeeze(1)


def fault_count(n_cells: int, rate: float, mode: str, generator: torch.Generator) -> int:
    if mode == "exact":
        return int(round(rate * n_cells))
    # Bernoulli(rate) per cell: the number of faulty cells is Binomial(n, rate) and, given
    # that number, the set is uniform, so the map is drawn in cost proportional to faults.
    if rate in (0, 1):
        return int(rate * n_cells)
    return int(torch.binomial(torch.tensor(float(n_cells), dtype=torch.float64),
                              torch.tensor(float(rate), dtype=torch.float64), generator=generator))


def fault_map(numel: int, bits: int, rate: float, *, mode: str, generator: torch.Generator,
              bit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(element indices, bit masks) of the faulty cells; each element appears once.

    With ``bit`` given, only that bit position is eligible (one cell per element).
    """
    width = 1 if bit is not None else bits
    cells = sample_cells(numel * width, fault_count(numel * width, rate, mode, generator), generator)
    elem = cells // width
    pos = torch.full_like(cells, bit) if bit is not None else cells % width
    # Cells are distinct, so summing the bit values of one element is their OR.
    elems, inverse = torch.unique_consecutive(elem, return_inverse=True)
    masks = torch.zeros(len(elems), dtype=torch.int64).index_add_(0, inverse, 1 << pos)
    return elems, masks


def fault_map_among(eligible: torch.Tensor, bits: int, count: int, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(element indices, bit masks) of ``count`` faulty cells drawn uniformly from the cells of
    the ``eligible`` elements only (sorted distinct indices): an intervention that moves a fixed
    number of faults onto a chosen part of the memory."""
    if count > len(eligible) * bits:
        raise ValueError(f"count: {count} faulty cells do not fit in {len(eligible)} eligible elements")
    cells = sample_cells(len(eligible) * bits, count, generator)
    elem, pos = eligible[cells // bits], cells % bits
    elems, inverse = torch.unique_consecutive(elem, return_inverse=True)
    return elems, torch.zeros(len(elems), dtype=torch.int64).index_add_(0, inverse, 1 << pos)


def apply_map(weights: torch.Tensor, fault: str, bits: int, elems: torch.Tensor,
              masks: torch.Tensor) -> torch.Tensor:
    """A copy of ``weights`` with the cells of the map forced or flipped."""
    out = weights.clone()
    flat = out.view(-1)
    elems, masks = elems.to(flat.device), masks.to(flat.device)
    full = (1 << bits) - 1
    u = flat[elems].to(torch.int64) & full  # the stored b-bit pattern
    if fault == "bitflip":
        u = u ^ masks
    elif fault == "sa0":
        u = u & ~masks
    else:
        u = u | masks
    signed = torch.where(u >= (1 << (bits - 1)), u - (1 << bits), u)
    flat[elems] = signed.to(flat.dtype)
    return out


def inject(weights: torch.Tensor, fault: str, rate: float, *, bits: int = 8,
           mode: str = "exact", generator: torch.Generator) -> torch.Tensor:
    """Faults at ``rate`` of the stored bit cells of ``weights``; the input is left unchanged.

    ``mode="exact"``: exactly round(rate * numel * bits) distinct cells;
    ``mode="bernoulli"``: each cell independently with probability ``rate``.
    A stuck cell forces its bit (about half of stuck cells change nothing).
    """
    validate(weights, fault, rate, bits, mode, generator)
    elems, masks = fault_map(weights.numel(), bits, rate, mode=mode, generator=generator)
    return apply_map(weights, fault, bits, elems, masks)


def inject_bit(weights: torch.Tensor, fault: str, rate: float, bit: int, *, bits: int = 8,
               mode: str = "exact", generator: torch.Generator) -> torch.Tensor:
    """Like ``inject``, with faults confined to bit position ``bit`` (0 = LSB, bits-1 = sign)."""
    validate(weights, fault, rate, bits, mode, generator, bit)
    elems, masks = fault_map(weights.numel(), bits, rate, mode=mode, generator=generator, bit=bit)
    return apply_map(weights, fault, bits, elems, masks)


def displacement_moments(weights: torch.Tensor, fault: str, *, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per stored integer, the mean and mean square of the change one fault type makes, per unit
    of cell fault rate, in integer steps (first order in the rate: one faulty cell per integer).

    A fault in cell b moves the integer by 2^b (the sign cell by 2^(bits-1) too, with the sign of
    the two's-complement weight), but only where it changes the bit: a flip always, a stuck-at-0
    cell where the bit is 1, a stuck-at-1 cell where it is 0. So at cell fault rate r a weight
    moves on average by r * mean and its squared move averages r * mean_square (float64)."""
    validate(weights, fault, 0.0, bits, "exact", torch.Generator())
    u = weights.to(torch.int64) & ((1 << bits) - 1)  # the stored two's-complement pattern
    mean = torch.zeros(weights.shape, dtype=torch.float64)
    square = torch.zeros(weights.shape, dtype=torch.float64)
    for b in range(bits):
        one = ((u >> b) & 1).to(torch.float64)
        step = float(2 ** b)
        up = -step if b == bits - 1 else step  # what setting the bit adds to the value
        if fault in ("bitflip", "sa1"):  # 0 -> 1
            mean += (1 - one) * up
            square += (1 - one) * step * step
        if fault in ("bitflip", "sa0"):  # 1 -> 0
            mean -= one * up
            square += one * step * step
    return mean, square
