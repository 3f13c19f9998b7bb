"""Side-by-side speed ratios (not absolute times: this machine is shared and noisy).

Threads: BENCH_THREADS (default 1, as in a workflow job).

    .venv/bin/python benchmarks/bench.py            # faults and training
    .venv/bin/python benchmarks/bench.py faults     # injection / trial cost vs a clean pass
    .venv/bin/python benchmarks/bench.py train      # SAQ vs conventional training step

Every ratio is a median over interleaved repetitions, so slow phases of the machine hit
numerator and denominator alike. The yardstick, printed first, is a plain-PyTorch float
LeNet-5 training step (no project code, 1 thread, batch 128): report wall times beside it,
and normalized minutes = minutes x (yardstick img/s / 10,000). Results go to results/bench.json.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from flatenn import campaign, evaluation, faults, models, train
from flatenn.deployed import MAPS_PER_PASS, DeployedNet
from flatenn.quant import export_memory_image, load_memory_image

torch.set_num_threads(int(__import__("os").environ.get("BENCH_THREADS", "1")))
Q = {"weight_bits": 8, "act_bits": 8}


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(fns: dict, reps: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def yardstick(steps: int = 60, batch: int = 128) -> float:
    """Plain PyTorch, float LeNet-5, SGD step, 1 thread: the machine's speed in img/s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                        nn.Linear(84, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def run():
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()

    run()  # warm-up
    t = statistics.median(timed(run) for _ in range(5))
    torch.set_num_threads(threads)
    return steps * batch / t


def python_loop_inject(q: torch.Tensor, rate: float, gen: torch.Generator) -> torch.Tensor:
    """Reference: one Python iteration per fault (how per-fault injectors work)."""
    out = q.clone().view(-1)
    n = round(rate * q.numel() * 8)
    cells = faults.sample_cells(q.numel() * 8, n, gen)
    for c in cells.tolist():
        e, b = divmod(c, 8)
        v = (int(out[e]) & 0xFF) ^ (1 << b)
        out[e] = v - 256 if v >= 128 else v
    return out.view_as(q)


def dense_xor_inject(q: torch.Tensor, rate: float, gen: torch.Generator) -> torch.Tensor:
    """Reference: a dense Bernoulli mask over every bit cell (cost ~ numel * bits)."""
    bits = (torch.rand(q.numel(), 8, generator=gen) < rate).to(torch.int64)
    mask = (bits << torch.arange(8)).sum(1).view_as(q)
    u = (q.to(torch.int64) & 0xFF) ^ mask
    return torch.where(u >= 128, u - 256, u).to(q.dtype)


def bench_faults(rate: float = 1e-3) -> dict:
    """Per-trial cost against one clean pass of the training-time model deployed from its image
    (the campaign path before the deployed network): old and new side by side."""
    print(f"== fault trials at rate {rate:g}, {torch.get_num_threads()} thread(s) as in a campaign job; "
          f"unit: one clean pass of the training-time model on the same images ==")
    print(f"{'model':<9} {'images':>6} {'inject':>8} {'trial(old)':>11} {'clean(deployed)':>16} "
          f"{f'trial(K={MAPS_PER_PASS})':>12} {'py-loop':>8} {'dense-xor':>10}")
    out = {}
    for arch, shape, n_images, reps in (("lenet5", (1, 28, 28), 1000, 15), ("resnet20", (3, 32, 32), 200, 3)):
        torch.manual_seed(0)
        model = models.build(arch, shape, 10, Q).eval()
        image = export_memory_image(model)
        net = DeployedNet(model, image)
        x = torch.randint(0, 256, (n_images, *shape), dtype=torch.uint8)
        y = torch.randint(0, 10, (n_images,))
        batched = evaluation.batches(x, y)
        gen = torch.Generator().manual_seed(0)
        memory = campaign.weight_memory(image)  # built once per point, as in campaign.run
        clean_ints = {n: e["q"] for n, e in image.items()}

        def draw():
            return campaign.faulty_ints(image, "bitflip", rate, gen, mode="exact", memory=memory)

        def inject_all():  # the public API, argument checks included
            return {n: faults.inject(e["q"], "bitflip", rate, generator=gen) for n, e in image.items()}

        def trial_old():  # what campaign.run did per trial before the deployed network
            load_memory_image(model, image, draw())
            evaluation.correct(model, batched)

        def clean_old():  # the fault-free training-time model, deployed from its image
            load_memory_image(model, image)
            evaluation.correct(model, batched)

        def trials_new():  # what campaign.run does: MAPS_PER_PASS maps drawn and run in one pass
            net.correct(x, y, [draw() for _ in range(MAPS_PER_PASS)])

        t = interleaved({
            "clean": clean_old,
            "clean_new": lambda: net.correct(x, y, [clean_ints]),
            "inject": inject_all,
            "trial": trial_old,
            "trials_new": trials_new,
            "loop": lambda: [python_loop_inject(e["q"], rate, gen) for e in image.values()],
            "dense": lambda: [dense_xor_inject(e["q"], rate, gen) for e in image.values()],
        }, reps=reps)
        r = {k: v / t["clean"] for k, v in t.items()}
        r["trial_new"] = r["trials_new"] / MAPS_PER_PASS
        print(f"{arch:<9} {n_images:>6} {r['inject']:>8.4f} {r['trial']:>11.3f} {r['clean_new']:>16.3f} "
              f"{r['trial_new']:>12.3f} {r['loop']:>8.3f} {r['dense']:>10.4f}")
        if arch == "lenet5":
            out = {"inject_over_clean_pass": r["inject"], "trial_over_clean_pass": r["trial_new"],
                   "trial_over_clean_pass_old": r["trial"], "deployed_speedup": 1 / r["clean_new"],
                   "trial_speedup": r["trial"] / r["trial_new"], "maps_per_pass": MAPS_PER_PASS}
    print(f"LeNet-5: a trial costs {out['trial_over_clean_pass']:.3f} clean passes (was "
          f"{out['trial_over_clean_pass_old']:.3f}): {out['trial_speedup']:.2f}x; the deployed clean pass alone is "
          f"{out['deployed_speedup']:.2f}x faster than the training-time model's")
    return out


def bench_train(steps: int = 60, batch: int = 128) -> dict:
    print(f"== training step, LeNet-5 on 1x28x28, batch {batch}, {torch.get_num_threads()} thread(s) ==")
    torch.manual_seed(0)
    model = models.build("lenet5", (1, 28, 28), 10, Q)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def conventional():
        for _ in range(steps):
            opt.zero_grad()
            train.loss_fn(model, x, y, 0.0, "l1").backward()
            opt.step()

    def saq():
        for _ in range(steps):
            opt.zero_grad()
            train.saq_step(model, x, y, 0.0, "l1", rho=0.05)
            opt.step()

    model.train()
    t = interleaved({"conventional": conventional, "saq": saq}, reps=5)
    conv, sq = steps * batch / t["conventional"], steps * batch / t["saq"]
    print(f"conventional {conv:8.0f} img/s   saq {sq:8.0f} img/s   saq/conventional time ratio "
          f"{t['saq'] / t['conventional']:.2f}")
    return {"conventional_img_s": conv, "saq_img_s": sq, "saq_over_conventional": t["saq"] / t["conventional"]}


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    result = {"yardstick_img_s": yardstick()}
    print(f"== yardstick: plain PyTorch float LeNet-5 training step, 1 thread, batch 128: "
          f"{result['yardstick_img_s']:.0f} img/s ==")
    if what in ("all", "faults"):
        result.update(bench_faults())
    if what in ("all", "train"):
        result.update(bench_train())
    out = Path("results/bench.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "threads": torch.get_num_threads(),
                               "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2) + "\n")
    print(f"written to {out}")
