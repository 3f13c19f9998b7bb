import dataclasses

import pandas as pd
import pytest
import torch

from flatenn import campaign, evaluation, registry
from flatenn.quant import export_memory_image
from flatenn.stats import mean_ci



def test_rate_zero_gives_the_clean_accuracy_exactly(trained):
    ds, ms = trained
    evset = campaign.evaluation_set(ds, 300, 0)
    m = ms["standard"]
    clean = evaluation.accuracy(m, evaluation.batches(*evset))  # the training-time model
    rows = campaign.run(m, export_memory_image(m), evset, [{"fault": f, "rate": 0.0} for f in ("bitflip", "sa0", "sa1")],
                        trials=5, mode="exact", maps="shared", base_seed=1, arch="lenet5", seed=0, progress=False)
    assert len(rows) == 3 and rows[0]["accuracy"] == rows[1]["accuracy"] == rows[2]["accuracy"]
    assert abs(rows[0]["accuracy"] - clean) <= 1 / 300  # the deployed network: at most one image apart
    # The model is left as it was.
    assert evaluation.accuracy(m, evaluation.batches(*evset)) == clean


def test_accuracy_does_not_rise_with_rate(trained):
    ds, ms = trained
    evset = campaign.evaluation_set(ds, 300, 0)
    m = ms["standard"]
    rates = [0.0, 0.01, 0.05, 0.2]
    for fault in ("bitflip", "sa0", "sa1"):
        rows = pd.DataFrame(campaign.run(m, export_memory_image(m), evset, [{"fault": fault, "rate": r} for r in rates],
                                         trials=12, mode="exact", maps="shared", base_seed=1, arch="lenet5", seed=0,
                                         progress=False))
        cis = [mean_ci(rows[rows.rate == r].accuracy) if r > 0 else None for r in rates]
        means = [rows[rows.rate == r].accuracy.mean() for r in rates]
        for i in range(1, len(rates) - 1):
            assert means[i + 1] <= cis[i]["ci_high"] + 1e-12, (fault, rates[i + 1])
        assert means[-1] < means[0]


def test_common_random_numbers_across_variants(trained):
    ds, ms = trained
    images = {k: export_memory_image(m) for k, m in ms.items()}
    seed = campaign.trial_seed(7, "lenet5", "fault=bitflip", "rate=0.01", 3)
    maps = {}
    for k, image in images.items():
        ints = campaign.faulty_ints(image, "bitflip", 0.01, torch.Generator().manual_seed(seed), mode="exact")
        maps[k] = {n: (ints[n] != image[n]["q"]) for n in image}
    # The same cells are faulty in both models (a flip always changes a value).
    assert all(torch.equal(maps["standard"][n], maps["sparse"][n]) for n in maps["standard"])
    assert campaign.trial_seed(7, "lenet5", "fault=bitflip", "rate=0.01", 3) != campaign.trial_seed(
        7, "lenet5", "fault=bitflip", "rate=0.01", 4)


def test_shared_maps_fault_the_same_cells_whatever_the_fault_model(trained):
    """maps: shared seeds a map by the cells a model can hit, not its name: at one trial a stuck-at-1
    map sets exactly the cells the bit-flip map flips from 0 to 1 (the same cells); per_model keys
    on the name, as the stored studies' maps were drawn."""
    ds, ms = trained
    image = export_memory_image(ms["standard"])
    point = {"rate": 0.05}
    assert campaign.map_key({"fault": "sa1", **point}, "per_model", 8) == ["fault=sa1", "rate=0.05"]
    assert campaign.map_key({"fault": "sa1", **point}, "shared", 8) == ["cells=0,1,2,3,4,5,6,7", "rate=0.05"]
    assert campaign.map_key({"fault": "sa1", **point}, "shared", 8) == campaign.map_key({"fault": "bitflip", **point},
                                                                                       "shared", 8)
    with pytest.raises(ValueError, match="maps: must be one of shared, per_model, got 'by_name'"):
        campaign.map_key({"fault": "sa1", **point}, "by_name", 8)

    def changed(fault):
        key = campaign.map_key({"fault": fault, **point}, "shared", 8)
        gen = torch.Generator().manual_seed(campaign.trial_seed(2023, "lenet5", "seed=0", *key, 3))
        ints = campaign.faulty_ints(image, fault, 0.05, gen, mode="exact")
        return {n: (ints[n].to(torch.int64) ^ image[n]["q"].to(torch.int64)) & 0xFF for n in image}

    flipped, stuck = changed("bitflip"), changed("sa1")
    for n in image:
        zeros = ~image[n]["q"].to(torch.int64) & 0xFF
        assert torch.equal(stuck[n], flipped[n] & zeros) and int(stuck[n].count_nonzero()) > 0


def test_a_copy_of_a_fault_model_under_another_name_gives_identical_campaign_rows(trained, monkeypatch):
    ds, ms = trained
    monkeypatch.setitem(registry.FAULTS, "sa1_copy", dataclasses.replace(registry.FAULTS["sa1"], name="sa1_copy"))
    m = ms["sparse"]
    image, evset = export_memory_image(m), campaign.evaluation_set(ds, 300, 0)

    def rows(fault, maps):
        points = [{"fault": fault, "rate": r} for r in (0.0, 0.03, 0.1)]
        return pd.DataFrame(campaign.run(m, image, evset, points, trials=6, mode="exact", maps=maps, base_seed=1,
                                         arch="lenet5", seed=0, progress=False)).drop(columns="fault")

    shared = rows("sa1", "shared")
    assert shared.equals(rows("sa1_copy", "shared")) and shared.accuracy.nunique() > 2
    assert not rows("sa1", "per_model").equals(rows("sa1_copy", "per_model"))


def test_layer_and_bit_sweeps_hit_only_their_target(trained):
    ds, ms = trained
    image = export_memory_image(ms["standard"])
    gen = torch.Generator().manual_seed(0)
    ints = campaign.faulty_ints(image, "bitflip", 0.1, gen, mode="exact", layers=["body.4"])
    assert [n for n in image if not torch.equal(ints[n], image[n]["q"])] == ["body.4"]
    ints = campaign.faulty_ints(image, "bitflip", 0.5, gen, mode="exact", bit=7)
    for n in image:
        diff = (ints[n].to(torch.int64) ^ image[n]["q"].to(torch.int64)) & 0xFF
        assert set(diff.unique().tolist()) <= {0, 128}


def test_exact_faults_are_drawn_over_the_whole_memory():
    """round(rate x all cells) faults in all; each layer gets its hypergeometric share, so a
    small layer is hit at low rates and a large one is not over-served by per-layer rounding."""
    image = {name: {"q": torch.zeros(n, dtype=torch.int8), "scale": torch.ones(1), "bits": 8}
             for name, n in (("tiny", 10), ("mid", 500), ("big", 20000))}
    cells = 8 * sum(e["q"].numel() for e in image.values())
    rate, draws = 1e-4, 2000
    counts = {n: 0 for n in image}
    for d in range(draws):
        ints = campaign.faulty_ints(image, "bitflip", rate, torch.Generator().manual_seed(d), mode="exact")
        per_layer = {n: int(sum(bin(int(v) & 0xFF).count("1") for v in ints[n][ints[n] != 0])) for n in image}
        assert sum(per_layer.values()) == round(rate * cells)  # 16 faulty cells every time
        for n in image:
            counts[n] += per_layer[n]
    for n, e in image.items():
        expected = draws * round(rate * cells) * e["q"].numel() * 8 / cells
        assert abs(counts[n] - expected) < 5 * expected ** 0.5 + 1, (n, counts[n], expected)
    assert counts["tiny"] > 0


def test_maps_and_images_are_shared_within_a_seed_and_drawn_anew_across_seeds(trained):
    ds, _ = trained
    k = ["lenet5", "seed=0", "fault=bitflip", "rate=0.01"]
    assert campaign.trial_seed(7, *k, 3) != campaign.trial_seed(7, "lenet5", "seed=1", *k[2:], 3)
    a, b = campaign.evaluation_set_of(ds, 50, 7, 0), campaign.evaluation_set_of(ds, 50, 7, 0)
    c = campaign.evaluation_set_of(ds, 50, 7, 1)
    assert torch.equal(a[0][0], b[0][0]) and not torch.equal(a[0][0], c[0][0])
