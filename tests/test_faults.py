"""Exact semantics of the fault injector (flatenn.faults.inject)."""
import numpy as np
import pytest
import torch
from scipy import stats

from flatenn import faults, registry
from flatenn.faults import inject, inject_bit, sample_cells


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def ints(n=4096, bits=8, seed=1):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1)
    return torch.randint(lo, hi, (n,), generator=gen(seed)).to(torch.int8)


def patterns(w, bits):
    """The stored b-bit patterns as non-negative integers."""
    return w.to(torch.int64) & ((1 << bits) - 1)


def changed_bits(a, b, bits):
    x = (patterns(a, bits) ^ patterns(b, bits)).numpy()
    return sum(bin(int(v)).count("1") for v in x)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("rate", [0.0, 1e-3, 0.05, 0.5, 1.0])
def test_bitflip_flips_exactly_round_rate_cells(bits, rate):
    w = ints(1000, bits)
    out = inject(w, "bitflip", rate, bits=bits, generator=gen())
    assert changed_bits(w, out, bits) == round(rate * 1000 * bits)
    assert out.dtype == w.dtype and out.shape == w.shape
    assert int(out.min()) >= -(2 ** (bits - 1)) and int(out.max()) <= 2 ** (bits - 1) - 1


def test_known_bit_patterns():
    # Every cell faulty: flip inverts each pattern, sa0 gives 0, sa1 gives all ones (-1).
    w = torch.tensor([0, 1, -1, 127, -128, 5], dtype=torch.int8)
    assert inject(w, "bitflip", 1.0, generator=gen()).tolist() == [-1, -2, 0, -128, 127, -6]
    assert inject(w, "sa0", 1.0, generator=gen()).tolist() == [0] * 6
    assert inject(w, "sa1", 1.0, generator=gen()).tolist() == [-1] * 6
    w4 = torch.tensor([3, -4, 7, -8], dtype=torch.int8)  # 4-bit two's complement
    assert inject(w4, "bitflip", 1.0, bits=4, generator=gen()).tolist() == [-4, 3, -8, 7]
    assert inject(w4, "sa1", 1.0, bits=4, generator=gen()).tolist() == [-1] * 4


def test_sign_bit_flip_known_answer():
    w = torch.tensor([5, -3, 0], dtype=torch.int8)
    out = inject_bit(w, "bitflip", 1.0, 7, generator=gen())
    assert out.tolist() == [5 - 128, -3 + 128, -128]
    assert inject_bit(w, "bitflip", 1.0, 0, generator=gen()).tolist() == [4, -4, 1]


def test_stuck_at_never_sets_or_clears_wrong_bits():
    w = ints(5000)
    p = patterns(w, 8)
    for seed in range(5):
        sa1 = patterns(inject(w, "sa1", 0.2, generator=gen(seed)), 8)
        sa0 = patterns(inject(w, "sa0", 0.2, generator=gen(seed)), 8)
        assert torch.equal(sa1 & p, p)       # sa1 never clears a bit
        assert torch.equal(sa0 | p, p)       # sa0 never sets one
        assert not torch.equal(sa1, p) and not torch.equal(sa0, p)


def test_stuck_at_changes_about_half_of_stuck_cells():
    w = ints(20000)
    out = inject(w, "sa1", 0.1, generator=gen())
    n = round(0.1 * 20000 * 8)
    assert 0.45 * n < changed_bits(w, out, 8) < 0.55 * n


def test_sign_bit_is_hit():
    w = torch.zeros(2000, dtype=torch.int8)
    out = inject(w, "bitflip", 0.05, generator=gen())
    assert (out < 0).any()  # only the sign bit makes a zero negative


def test_input_unchanged_and_seed_reproducible():
    w = ints()
    before = w.clone()
    a = inject(w, "bitflip", 0.01, generator=gen(7))
    b = inject(w, "bitflip", 0.01, generator=gen(7))
    c = inject(w, "bitflip", 0.01, generator=gen(8))
    assert torch.equal(w, before)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_multidimensional_and_wider_dtypes():
    w = torch.randint(-128, 128, (8, 3, 5, 5), generator=gen()).to(torch.int8)
    out = inject(w, "bitflip", 0.01, generator=gen())
    assert out.shape == w.shape
    w16 = w.to(torch.int16)
    assert torch.equal(inject(w16, "bitflip", 0.01, generator=gen()).to(torch.int8), out)


def test_bernoulli_mode_count_is_binomial():
    w = ints(10000)
    counts = [changed_bits(w, inject(w, "bitflip", 0.01, mode="bernoulli", generator=gen(s)), 8)
              for s in range(30)]
    n = 10000 * 8
    assert abs(np.mean(counts) - 0.01 * n) < 4 * np.sqrt(0.01 * n / 30)
    assert len(set(counts)) > 1


def test_cells_hit_uniformly():
    # Chi-square tests of bit positions and of elements over many draws.
    w = torch.zeros(64, dtype=torch.int8)
    pos_counts = np.zeros(8)
    elem_counts = np.zeros(64)
    for s in range(400):
        p = patterns(inject(w, "bitflip", 0.05, generator=gen(s)), 8).numpy()
        for b in range(8):
            hit = (p >> b) & 1
            pos_counts[b] += hit.sum()
            elem_counts += hit
    assert stats.chisquare(pos_counts).pvalue > 1e-3
    assert stats.chisquare(elem_counts).pvalue > 1e-3


def union_of_draws(n, count, generator):
    """sample_cells by its definition: draw the missing number with replacement until there are
    ``count`` distinct values (a permutation's first ``count`` above n/4); sorted."""
    if count > n // 4:
        return sorted(torch.randperm(n, generator=generator)[:count].tolist())
    chosen = set()
    while len(chosen) < count:
        chosen.update(torch.randint(0, n, (count - len(chosen),), generator=generator).tolist())
    return sorted(chosen)


@pytest.mark.parametrize("fraction", [0, 1e-3, 1 / 33, 1 / 31, 0.1, 0.2, 0.25, 0.26, 0.6, 1.0])
def test_sample_cells_is_the_union_of_its_draws(fraction):
    # The same subset, in the same order, from each of the three ways of collecting the draws
    # (sorting them, marking a map of all cells, a permutation) as from the plain definition.
    n = 4000
    count = round(fraction * n)
    for seed in range(3):
        got = sample_cells(n, count, gen(seed))
        assert got.dtype == torch.int64 and got.tolist() == union_of_draws(n, count, gen(seed))


@pytest.mark.parametrize("kwargs, name", [
    (dict(fault="flip"), "fault"),
    (dict(rate=1.5), "rate"),
    (dict(rate=-0.1), "rate"),
    (dict(bits=1), "bits"),
    (dict(bits=9), "bits"),
    (dict(mode="poisson"), "mode"),
    (dict(generator=None), "generator"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    args = dict(weights=ints(), fault="bitflip", rate=0.01, bits=8, mode="exact", generator=gen())
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}:"):
        inject(args.pop("weights"), args.pop("fault"), args.pop("rate"), **args)


def test_bad_weights_rejected():
    with pytest.raises(ValueError, match="^weights:"):
        inject(torch.zeros(4), "bitflip", 0.1, generator=gen())
    with pytest.raises(ValueError, match="^weights:.*range"):
        inject(torch.tensor([9], dtype=torch.int8), "bitflip", 0.1, bits=4, generator=gen())
    with pytest.raises(ValueError, match="^bit:"):
        inject_bit(ints(), "bitflip", 0.1, 8, generator=gen())


@pytest.mark.parametrize("fault", registry.FAULTS)
def test_displacement_moments_are_those_of_injected_faults(fault):
    """E[inject(q) - q] / r and E[(inject(q) - q)^2] / r at a small Bernoulli rate r, over many
    maps, against displacement_moments (first order in r)."""
    q = torch.tensor([0, 1, -1, 127, -128, 37, -90], dtype=torch.int8)
    mean, square = faults.displacement_moments(q, fault)
    gen, r, n = torch.Generator().manual_seed(0), 0.01, 40000
    d = faults.inject(q.repeat(n), fault, r, mode="bernoulli", generator=gen).view(n, -1).to(torch.float64) - q
    for got, want in ((d / r, mean), (d * d / r, square)):  # 4 standard errors, 5 % for the r^2 terms
        tol = 4 * got.std(0) / n ** 0.5 + 0.05 * want.abs()
        assert ((got.mean(0) - want).abs() <= tol).all(), (got.mean(0), want)


def test_displacement_moments_known_answers():
    q = torch.tensor([0, -1, 127], dtype=torch.int8)
    assert faults.displacement_moments(q, "bitflip")[0].tolist() == [-1.0, 1.0, -255.0]
    assert faults.displacement_moments(q, "bitflip")[1].tolist() == [21845.0] * 3  # (4^8 - 1) / 3
    assert faults.displacement_moments(q, "sa0")[0].tolist() == [0.0, 1.0, -127.0]
    assert faults.displacement_moments(q, "sa1")[1].tolist() == [21845.0, 0.0, 16384.0]


def burst(masked: bool):
    """A 2-bit burst (each faulty cell flips its bit and the next higher one), kept inside the word
    or not."""
    return registry.FaultModel("burst2_test", "2-bit burst", lambda u, m, width: u ^ (
        (m | (m << 1)) & ((1 << width) - 1) if masked else m | (m << 1)))


def test_a_fault_model_gets_the_width_and_overlapping_bursts_combine_as_it_says(monkeypatch):
    """Known patterns of the masked 2-bit burst at 8 bits: a burst from bit 7 stops at the edge
    (0x00 -> 0x80, value -128), two cells at bits 2 and 3 flip bits 2, 3 and 4 once each (0 -> 28),
    and one cell at bit 0 flips bits 0 and 1 (0x03 -> 0x00)."""
    monkeypatch.setitem(registry.FAULTS, "burst2_test", burst(True))
    w = torch.tensor([0, 0, 3], dtype=torch.int8)
    out = faults.apply_map(w, "burst2_test", 8, torch.tensor([0, 1, 2]), torch.tensor([1 << 7, 0b1100, 1]))
    assert out.tolist() == [-128, 28, 0]
    registry.FAULTS["burst2_test"].check_width(8)  # every pattern stays inside


def test_a_fault_model_that_leaves_the_word_is_stopped_naming_it(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.FAULTS, "burst2_test", burst(False))
    with pytest.raises(ValueError, match="fault model burst2_test: apply returned a pattern outside the 8-bit word"):
        registry.FAULTS["burst2_test"].check_width(8)
    with pytest.raises(ValueError, match="fault model burst2_test: apply returned a pattern outside"):
        faults.apply_map(torch.tensor([0], dtype=torch.int8), "burst2_test", 8, torch.tensor([0]),
                         torch.tensor([1 << 7]))
    with pytest.raises(ValueError, match=r"apply: fault model 'two_args' must take \(u, masks, width\)"):
        registry.register_fault(registry.FaultModel("two_args", "old", lambda u, m: u ^ m))
    assert "two_args" not in registry.FAULTS
