"""Memory faults on stored integer weights: one registry of fault models (bit flip, stuck-at-0,
stuck-at-1, and whatever a user registers), and pure functions on integer tensors.

Integers are two's complement, ``bits`` wide. A fault map is a set of bit cells, (element, bit
position); sampling it costs in proportion to the number of faulty cells, not to numel * bits,
so small rates are cheap. A fault model is a record (``FaultModel``): what it does to the stored
bit pattern where its map has a cell, which bit positions it can hit, how its rate is counted,
its label; everything else (displacement moments, curvature metrics, schema names, figure
labels) follows from the record. docs/extending.md shows how to add one.
"""
from __future__ import annotations

import torch

from flatenn import registry
from flatenn.registry import FaultModel

MODES = ("exact", "bernoulli")
_SIGNED = (torch.int8, torch.int16, torch.int32, torch.int64)


def get(name: str) -> FaultModel:
    """The registered fault model ``name`` (flatenn.registry); anything else is a ValueError."""
    return registry.fault(name)


def validate(weights, fault, rate, bits, mode, generator, bit=None) -> None:
    """Raise ValueError naming the first bad argument of inject / inject_bit."""
    if not isinstance(weights, torch.Tensor) or weights.dtype not in _SIGNED:
        raise ValueError(f"weights: expected a signed integer tensor, got "
                         f"{getattr(weights, 'dtype', type(weights).__name__)}")
    get(fault)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(f"rate: must be a number in [0, 1], got {rate!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8 * weights.element_size():
        raise ValueError(f"bits: must be an integer from 2 to {8 * weights.element_size()} "
                         f"for {weights.dtype}, got {bits!r}")
    if mode not in MODES:
        raise ValueError(f"mode: unknown mode {mode!r} (one of {', '.join(MODES)})")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: a torch.Generator is required (faults must be reproducible)")
    if bit is not None and (isinstance(bit, bool) or not isinstance(bit, int) or bit not in get(fault).eligible(bits)):
        raise ValueError(f"bit: must be a bit position {fault} can hit in a {bits}-bit weight, got {bit!r}")
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
              bit: int | None = None, positions: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(element indices, bit masks) of the faulty cells; each element appears once.

    The cells are those of bit ``positions`` (default: every bit) of every element; with ``bit``
    given, only that position (one cell per element).
    """
    pos_of = (bit,) if bit is not None else (tuple(range(bits)) if positions is None else tuple(positions))
    width = len(pos_of)
    cells = sample_cells(numel * width, fault_count(numel * width, rate, mode, generator), generator)
    elem = cells // width
    if pos_of == tuple(range(bits)):
        pos = cells % width
    else:
        pos = torch.tensor(pos_of, dtype=torch.int64)[cells % width]
    # Cells are distinct, so summing the bit values of one element is their OR.
    elems, inverse = torch.unique_consecutive(elem, return_inverse=True)
    masks = torch.zeros(len(elems), dtype=torch.int64).index_add_(0, inverse, 1 << pos)
    return elems, masks


def fault_map_among(eligible: torch.Tensor, bits: int, count: int, generator: torch.Generator,
                    positions: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(element indices, bit masks) of ``count`` faulty cells drawn uniformly from the cells (bit
    ``positions``, default every bit) of the ``eligible`` elements only (sorted distinct indices):
    an intervention that moves a fixed number of faults onto a chosen part of the memory."""
    pos_of = tuple(range(bits)) if positions is None else tuple(positions)
    width = len(pos_of)
    if count > len(eligible) * width:
        raise ValueError(f"count: {count} faulty cells do not fit in {len(eligible)} eligible elements")
    cells = sample_cells(len(eligible) * width, count, generator)
    elem = eligible[cells // width]
    pos = cells % width if pos_of == tuple(range(bits)) else torch.tensor(pos_of, dtype=torch.int64)[cells % width]
    elems, inverse = torch.unique_consecutive(elem, return_inverse=True)
    return elems, torch.zeros(len(elems), dtype=torch.int64).index_add_(0, inverse, 1 << pos)


def faulty_patterns(fault: str, u: torch.Tensor, masks: torch.Tensor, bits: int) -> torch.Tensor:
    """The fault model's patterns for stored ``bits``-bit patterns ``u`` and their masks; a pattern
    outside the word is a ValueError that names the model (a model must keep its effects inside)."""
    f = get(fault).apply(u, masks, bits)
    if bool(((f < 0) | (f >= (1 << bits))).any()):
        raise ValueError(f"fault model {fault}: apply returned a pattern outside the {bits}-bit word "
                         f"(keep its effects inside: mask with (1 << width) - 1)")
    return f


def apply_map(weights: torch.Tensor, fault: str, bits: int, elems: torch.Tensor,
              masks: torch.Tensor) -> torch.Tensor:
    """A copy of ``weights`` with the cells of the map forced or flipped."""
    out = weights.clone()
    flat = out.view(-1)
    elems, masks = elems.to(flat.device), masks.to(flat.device)
    u = faulty_patterns(fault, flat[elems].to(torch.int64) & ((1 << bits) - 1), masks, bits)  # the stored pattern
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
    elems, masks = fault_map(weights.numel(), bits, rate, mode=mode, generator=generator,
                             positions=get(fault).eligible(bits))
    return apply_map(weights, fault, bits, elems, masks)


def inject_bit(weights: torch.Tensor, fault: str, rate: float, bit: int, *, bits: int = 8,
               mode: str = "exact", generator: torch.Generator) -> torch.Tensor:
    """Like ``inject``, with faults confined to bit position ``bit`` (0 = LSB, bits-1 = sign)."""
    validate(weights, fault, rate, bits, mode, generator, bit)
    elems, masks = fault_map(weights.numel(), bits, rate, mode=mode, generator=generator, bit=bit)
    return apply_map(weights, fault, bits, elems, masks)


def displacement_moments(weights: torch.Tensor, fault: str, *, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per stored integer, the mean and mean square of the change one fault type makes, per unit
    of cell fault rate, in integer steps (first order in the rate: one faulty cell per integer),
    summed over the cells the fault can hit (``FaultModel.eligible``).

    Computed from the record's own ``apply``: for each eligible cell b, the change of the signed
    value when that cell alone is faulty (a bit flip moves the value by +-2^b always, the sign
    cell by -+2^(bits-1); a stuck cell only where it changes the bit). So at cell fault rate r a
    weight moves on average by r * mean and its squared move averages r * mean_square (float64)."""
    validate(weights, fault, 0.0, bits, "exact", torch.Generator())
    model, full = get(fault), (1 << bits) - 1
    u = weights.to(torch.int64) & full  # the stored two's-complement pattern
    value = torch.where(u >= (1 << (bits - 1)), u - (1 << bits), u).to(torch.float64)
    mean = torch.zeros(weights.shape, dtype=torch.float64)
    square = torch.zeros(weights.shape, dtype=torch.float64)
    for b in model.eligible(bits):
        f = faulty_patterns(fault, u, torch.full_like(u, 1 << b), bits)
        move = torch.where(f >= (1 << (bits - 1)), f - (1 << bits), f).to(torch.float64) - value
        mean += move
        square += move * move
    return mean, square
