"""Side-by-side speed ratios (not absolute times: this machine is shared and noisy).

Threads: BENCH_THREADS (default 1, as in a workflow job).

    .venv/bin/python benchmarks/bench.py            # faults and training
    .venv/bin/python benchmarks/bench.py faults     # injection / trial cost vs a clean pass; campaign trials
    .venv/bin/python benchmarks/bench.py campaign   # campaign trials at the default rates, former vs current
    .venv/bin/python benchmarks/bench.py train      # training steps: LeNet-5 former vs current, ResNet-20 vs plain float
    .venv/bin/python benchmarks/bench.py sharpness  # Hessian-vector products, former vs current
    .venv/bin/python benchmarks/bench.py numerics   # the pinned CPU numerics against native, per workload

Every ratio is a median over interleaved repetitions, so slow phases of the machine hit
numerator and denominator alike. The yardstick, printed first, is a plain-PyTorch float
LeNet-5 training step (no project code, 1 thread, batch 128): report wall times beside it,
and normalized minutes = minutes x (yardstick img/s / 10,000). Results go to results/bench.json.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from flatenn import numerics

numerics.apply()  # FLATENN_NUMERICS decides, as in a workflow job; before torch starts

import torch  # noqa: E402
from torch import nn  # noqa: E402

from flatenn import campaign, config, evaluation, fastgrad, faults, hessian, kernels, models, quant, sharpness, sparsity, train  # noqa: E402
from flatenn.deployed import DeployedNet  # noqa: E402
from flatenn.quant import export_memory_image, load_memory_image  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import reference  # noqa: E402  (former implementations, for old-vs-new ratios)

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
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


def deployed_setup(arch: str, shape: tuple, n_images: int):
    """A seeded untrained model, its memory image, deployed network, random uint8 images and labels,
    and its weight memory (built once per point, as in campaign.run)."""
    torch.manual_seed(0)
    model = models.build(arch, shape, 10, Q).eval()
    image = export_memory_image(model)
    x = torch.randint(0, 256, (n_images, *shape), dtype=torch.uint8)
    y = torch.randint(0, 10, (n_images,))
    return model, image, DeployedNet(model, image), x, y, campaign.weight_memory(image)


def bench_faults(rate: float = 1e-3) -> dict:
    """Per-trial cost against one clean pass of the training-time model deployed from its image
    (the campaign path before the deployed network): old and new side by side."""
    print(f"== fault trials at rate {rate:g}, {torch.get_num_threads()} thread(s) as in a campaign job; "
          f"unit: one clean pass of the training-time model on the same images, PyTorch code as in the issue ==")
    print(f"{'model':<9} {'images':>6} {'inject':>8} {'trial(old)':>11} {'clean(deployed)':>16} "
          f"{'trial(K maps)':>13} {'py-loop':>8} {'dense-xor':>10}")
    out = {}
    for arch, shape, n_images, reps in (("lenet5", (1, 28, 28), 1000, 15), ("resnet20", (3, 32, 32), 200, 3)):
        model, image, net, x, y, memory = deployed_setup(arch, shape, n_images)
        batched = evaluation.batches(x, y)
        gen = torch.Generator().manual_seed(0)
        clean_ints = {n: e["q"] for n, e in image.items()}

        def draw():
            return campaign.faulty_ints(image, "bitflip", rate, gen, mode="exact", memory=memory)

        def inject_all():  # the public API, argument checks included
            return {n: faults.inject(e["q"], "bitflip", rate, generator=gen) for n, e in image.items()}

        def trial_old():  # what campaign.run did per trial before the deployed network
            with kernels.disabled():
                load_memory_image(model, image, draw())
                evaluation.correct(model, batched)

        def clean_old(compiled: bool = False):  # the fault-free training-time model, deployed from its image
            with contextlib.nullcontext() if compiled else kernels.disabled():
                load_memory_image(model, image)
                evaluation.correct(model, batched)

        k = net.maps_per_pass()

        def trials_new():  # what campaign.run does: k maps drawn and run in one pass
            net.correct(x, y, [draw() for _ in range(k)])

        t = interleaved({
            "clean": clean_old,
            "clean_kernels": lambda: clean_old(True),
            "clean_new": lambda: net.correct(x, y, [clean_ints]),
            "inject": inject_all,
            "trial": trial_old,
            "trials_new": trials_new,
            "loop": lambda: [python_loop_inject(e["q"], rate, gen) for e in image.values()],
            "dense": lambda: [dense_xor_inject(e["q"], rate, gen) for e in image.values()],
        }, reps=reps)
        r = {k: v / t["clean"] for k, v in t.items()}
        r["trial_new"] = r["trials_new"] / k
        print(f"{arch:<9} {n_images:>6} {r['inject']:>8.4f} {r['trial']:>11.3f} {r['clean_new']:>16.3f} "
              f"{r['trial_new']:>13.3f} {r['loop']:>8.3f} {r['dense']:>10.4f}")
        if arch == "lenet5":
            out = {"inject_over_clean_pass": r["inject"], "trial_over_clean_pass": r["trial_new"],
                   "trial_over_clean_pass_old": r["trial"], "deployed_speedup": 1 / r["clean_new"],
                   "trial_speedup": r["trial"] / r["trial_new"], "maps_per_pass": k,
                   "trial_over_kernel_clean_pass": r["trial_new"] / r["clean_kernels"]}
    print(f"LeNet-5: a trial costs {out['trial_over_clean_pass']:.3f} clean passes (was "
          f"{out['trial_over_clean_pass_old']:.3f}): {out['trial_speedup']:.2f}x; the deployed clean pass alone is "
          f"{out['deployed_speedup']:.2f}x faster than the training-time model's; against that model's pass with the "
          f"compiled kernels (flatenn.kernels) a trial costs {out['trial_over_kernel_clean_pass']:.3f}")
    return out


def bench_campaign(reps: int = 3) -> dict:
    """A LeNet-5 campaign job's trials at the default config's fault types and rates (map drawn,
    injected, run in the deployed pass, K maps per pass): former against current, side by side."""
    cfg = config.load(Path(__file__).parents[1] / "config" / "default.yaml")["faults"]
    points = [(f, r) for f in cfg["types"] for r in cfg["rates"][f] if r > 0]
    _, image, net, x, y, memory = deployed_setup("lenet5", (1, 28, 28), cfg["eval_size"])
    k = net.maps_per_pass()

    def trials():  # k trials at every point: a campaign's mix of rates
        for fault, rate in points:
            gen = torch.Generator().manual_seed(0)
            net.correct(x, y, [campaign.faulty_ints(image, fault, rate, gen, mode="exact", memory=memory)
                               for _ in range(k)])

    def former():
        with reference.former_campaign():
            trials()

    t = interleaved({"former": former, "current": trials}, reps=reps)
    per_trial = {name: v / (k * len(points)) for name, v in t.items()}
    print(f"== campaign trials at the default config's {len(points)} faulty points, {k} maps per pass: "
          f"{per_trial['former'] * 1e3:.1f} -> {per_trial['current'] * 1e3:.1f} ms per trial "
          f"({t['former'] / t['current']:.2f}x: map sampling without re-sorting, compiled pooling) ==")
    return {"campaign_trial_speedup": t["former"] / t["current"]}


def bench_train(steps: int = 30, batch: int = 128) -> dict:
    """Training steps with the former activation quantizer (benchmarks/reference.py) and the
    current fused one, conventional and SAQ, interleaved; an as_high-like variant (threshold and
    penalty on) so that every part of the step runs."""
    print(f"== training step, LeNet-5 on 1x28x28, batch {batch}, {torch.get_num_threads()} thread(s), "
          f"threshold 0.1, L1 penalty ==")
    torch.manual_seed(0)
    model = models.build("lenet5", (1, 28, 28), 10, Q)
    sparsity.set_threshold(model, 0.1)
    sparsity.keep_outputs(model, True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def run(rho: float, former: bool, compiled: bool = True):
        def steps_():
            with reference.former_quantizer(former), contextlib.nullcontext() if compiled else kernels.disabled():
                for _ in range(steps):
                    opt.zero_grad()
                    train.gradients(model, x, y, 0.3, "l1", rho)
                    opt.step()
        return steps_

    model.train()
    t = interleaved({"conventional": run(0.0, False), "saq": run(0.05, False),
                     "conventional_old": run(0.0, True), "saq_old": run(0.05, True),
                     "conventional_torch": run(0.0, False, False), "saq_torch": run(0.05, False, False)}, reps=5)
    ips = {k: steps * batch / v for k, v in t.items()}
    out = {"conventional_img_s": ips["conventional"], "saq_img_s": ips["saq"],
           "saq_over_conventional": t["saq"] / t["conventional"],
           "train_speedup": t["conventional_old"] / t["conventional"], "saq_train_speedup": t["saq_old"] / t["saq"],
           "kernels_speedup": t["conventional_torch"] / t["conventional"],
           "saq_kernels_speedup": t["saq_torch"] / t["saq"], "kernels_built": kernels.available()}
    print(f"{'':<14} {'former img/s':>12} {'no kernels':>11} {'current img/s':>14} {'speedup':>8} {'kernels alone':>14}")
    for k in ("conventional", "saq"):
        print(f"{k:<14} {ips[k + '_old']:>12.0f} {ips[k + '_torch']:>11.0f} {ips[k]:>14.0f} {t[k + '_old'] / t[k]:>8.2f}"
              f" {t[k + '_torch'] / t[k]:>14.2f}")
    if not kernels.available():
        print("flatenn._kernels is not built (no C compiler at install?): current = no kernels")
    print(f"SAQ / conventional step time: {out['saq_over_conventional']:.2f} (former "
          f"{t['saq_old'] / t['conventional_old']:.2f})")
    return out


def float_resnet20(num_classes: int = 10) -> nn.Module:
    """Plain PyTorch ResNet-20 (nn.Conv2d, BatchNorm2d, ReLU; no project code): what a float
    training step of the same network costs in eager PyTorch."""
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.sc = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.sc(x))

    layers, cin = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


def bench_resnet_train(steps: int = 4, batch: int = 128, reps: int = 5) -> dict:
    """ResNet-20's training step (threshold 0.1 and the L1 penalty on, as an AS network trains),
    conventional and SAQ, against a plain eager float NCHW step of the same network, shape and
    thread count, interleaved; also the project's step with its activations row-major (the layout
    before channels-last), and the ms per image pass a study plans with."""
    print(f"== training step, ResNet-20 on 1x28x28, batch {batch}, {torch.get_num_threads()} thread(s) ==")
    torch.manual_seed(0)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    plain = float_resnet20()
    popt = torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)
    model = models.build("resnet20", (1, 28, 28), 10, Q)
    sparsity.set_threshold(model, 0.1)
    sparsity.keep_outputs(model, True)
    opt = train.NesterovSGD(model.parameters(), momentum=0.9, weight_decay=5e-4)
    plain.train()
    model.train()

    def float_steps():
        for _ in range(steps):
            popt.zero_grad()
            nn.functional.cross_entropy(plain(x), y).backward()
            popt.step()

    def project(rho: float, layout=torch.channels_last):
        def run():
            quant.set_layout(model, layout)
            try:
                for _ in range(steps):
                    opt.zero_grad()
                    train.gradients(model, x, y, 0.003, "l1", rho)
                    opt.step(0.01)
            finally:
                quant.set_layout(model, torch.channels_last)
        return run

    fns = {"float": float_steps, "qat": project(0.0), "saq": project(0.05), "qat_rowmajor": project(0.0, None)}
    for fn in fns.values():
        fn()  # warm-up
    t = interleaved(fns, reps)
    out = {"resnet20_qat_over_float": t["qat"] / t["float"], "resnet20_saq_over_float": t["saq"] / t["float"],
           "resnet20_saq_over_conventional": t["saq"] / t["qat"],
           "resnet20_layout_speedup": t["qat_rowmajor"] / t["qat"],
           "resnet20_ms_per_image_pass": 1000 * t["qat"] / (steps * batch),
           "resnet20_saq_ms_per_image_pass": 1000 * t["saq"] / (steps * batch)}
    print(f"{'step':<34} {'img/s':>7} {'time / plain eager float':>25}")
    for k, name in (("float", "plain PyTorch float, eager, NCHW"), ("qat_rowmajor", "project QAT, row-major (former)"),
                    ("qat", "project QAT (channels-last)"), ("saq", "project SAQ (channels-last)")):
        print(f"{name:<34} {steps * batch / t[k]:>7.0f} {t[k] / t['float']:>25.2f}")
    print(f"SAQ / conventional step time: {out['resnet20_saq_over_conventional']:.2f}; "
          f"{out['resnet20_ms_per_image_pass']:.2f} ms per image pass (QAT), "
          f"{out['resnet20_saq_ms_per_image_pass']:.2f} (SAQ)")
    return out


def bench_sharpness(products: int = 6) -> dict:
    """Hessian-vector products on 1,000 images, interleaved: the former quantizer, stem convolution
    and a fresh torch.func graph per product; the current quantizer and stem convolution with one
    graph reused by every product; and the current code (stem as a product over image columns)."""
    print(f"== Hessian-vector products, LeNet-5, 1,000 images, {torch.get_num_threads()} thread(s) ==")
    torch.manual_seed(0)
    net = models.build("lenet5", (1, 28, 28), 10, Q)
    with reference.former_batch_norm():
        former_model, _, params = sharpness.at_quantized_weights(copy.deepcopy(net))
    model, _, _ = sharpness.at_quantized_weights(net)
    x, y = torch.rand(1000, 1, 28, 28), torch.randint(0, 10, (1000,))
    conv_loss, loss = reference.former_make_loss(former_model, x, y), fastgrad.make_loss(model, x, y)
    vs = [{k: torch.randn_like(p) for k, p in params.items()} for _ in range(products)]

    def reused(f):
        def run():
            hv = hessian.hessian_operator(f, params)
            for v in vs:
                hv(v)
        return run

    def former():
        with reference.former_quantizer():
            for v in vs:
                reference.former_hvp(conv_loss, params, v)

    t = interleaved({"former": former, "conv_stem": reused(conv_loss), "current": reused(loss)}, reps=3)
    # conv_stem: the current quantizer and kernels, but the stem convolution and ATen's BatchNorm
    print(f"{products} products: former {t['former']:.2f} s, stem convolution (graph reused) "
          f"{t['conv_stem']:.2f} s, current {t['current']:.2f} s; speedup {t['former'] / t['current']:.2f} "
          f"(column stem and FrozenBatchNorm alone {t['conv_stem'] / t['current']:.2f})")
    return {"hvp_speedup": t["former"] / t["current"], "column_stem_speedup": t["conv_stem"] / t["current"]}


NUMERICS_WORK = ("lenet5_train", "resnet20_train", "lenet5_trial")


def numerics_child() -> dict:
    """Seconds of each numerics workload in this process (its mode set before torch started):
    QAT steps (SAQ, threshold and penalty on) of LeNet-5 and ResNet-20, and LeNet-5 fault trials."""
    out = {}
    for arch, shape, batch, steps in (("lenet5", (1, 28, 28), 128, 20), ("resnet20", (3, 32, 32), 32, 3)):
        torch.manual_seed(0)
        model = models.build(arch, shape, 10, Q)
        sparsity.set_threshold(model, 0.1)
        sparsity.keep_outputs(model, True)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
        model.train()

        def step():
            opt.zero_grad()
            train.gradients(model, x, y, 0.3, "l1", 0.05)
            opt.step()
        step()  # first-call setup (oneDNN's kernels are generated here) is not timed
        out[f"{arch}_train"] = timed(lambda: [step() for _ in range(steps)])
    model, image, net, x, y, memory = deployed_setup("lenet5", (1, 28, 28), 1000)
    gen = torch.Generator().manual_seed(0)

    def trials():  # what campaign.run does: maps drawn, k of them run in one deployed pass
        for _ in range(3):
            net.correct(x, y, [campaign.faulty_ints(image, "bitflip", 1e-3, gen, mode="exact", memory=memory)
                               for _ in range(net.maps_per_pass())])
    trials()
    out["lenet5_trial"] = timed(trials)
    return out


def bench_numerics(reps: int = 5) -> dict:
    """Pinned against native CPU numerics, and against the former pins (MKL asked for its AVX2
    branch, which it honors on Intel CPUs only): each workload in a fresh process per mode (the
    libraries read their dispatch once, at start), modes interleaved, medians."""
    print("== CPU numerics: pinned against native and the former pins (MKL AVX2), fresh process per mode, "
          f"{numerics.describe().split(':')[0]} here ==")
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINS}
    modes = {"native": {"FLATENN_NUMERICS": "native"}, "pinned": {"FLATENN_NUMERICS": "pinned"},
             "former": {"FLATENN_NUMERICS": "native", **numerics.PINS, "MKL_CBWR": "AVX2,STRICT"}}
    times = {m: {w: [] for w in NUMERICS_WORK} for m in modes}
    for _ in range(reps):
        for m, extra in modes.items():
            res = subprocess.run([sys.executable, __file__, "numerics-child"], env={**env, **extra},
                                 capture_output=True, text=True, check=True)
            for w, t in json.loads(res.stdout.splitlines()[-1]).items():
                times[m][w].append(t)
    med = {m: {w: statistics.median(v) for w, v in ws.items()} for m, ws in times.items()}
    out = {}
    for w in NUMERICS_WORK:
        out[f"pinned_over_native_{w}"] = med["pinned"][w] / med["native"][w]
        out[f"pinned_over_former_{w}"] = med["pinned"][w] / med["former"][w]
        print(f"{w:<16} native {med['native'][w]:7.3f} s  pinned {med['pinned'][w]:7.3f} s  former pins "
              f"{med['former'][w]:7.3f} s  pinned / native {out['pinned_over_native_' + w]:.2f}  "
              f"pinned / former {out['pinned_over_former_' + w]:.2f}")
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["numerics-child"]:
        print(json.dumps(numerics_child()))
        sys.exit(0)
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    result = {"yardstick_img_s": yardstick()}
    print(f"== yardstick: plain PyTorch float LeNet-5 training step, 1 thread, batch 128: "
          f"{result['yardstick_img_s']:.0f} img/s ==")
    if what in ("all", "faults"):
        result.update(bench_faults())
    if what in ("all", "faults", "campaign"):
        result.update(bench_campaign())
    if what in ("all", "train"):
        result.update(bench_train())
        result.update(bench_resnet_train())
    if what in ("all", "sharpness"):
        result.update(bench_sharpness())
    if what in ("all", "numerics"):
        result.update(bench_numerics())
    out = Path("results/bench.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "threads": torch.get_num_threads(),
                               "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2) + "\n")
    print(f"written to {out}")
