"""What a study (default: config/depth.yaml) costs with `device: cuda`, estimated without a GPU.

Networks this small at batch 128 leave a GPU waiting on its host: each PyTorch operator costs
its dispatch on the CPU plus a kernel launch, while its kernel runs for microseconds. So a job's
GPU-side time is estimated as operators x host cost per operator, where
  * operators are counted exactly, per training step, evaluation batch and fault trial, on the
    PyTorch code path that CUDA runs (FLATENN_KERNELS=0) by a dispatch-mode counter;
  * the host cost per operator is measured here at batch 2 (where compute is nil) and a CUDA
    launch is added: 5-20 us on the CPU side (Holistic Trace Analysis docs, "kernel launch
    stats"). The GPU's own kernel time is left out; it adds little until jobs saturate it.
Sharpness runs on the CPU in every setting: its Hessian-vector products and forward passes are
timed here at the config's subset size and multiplied by the number a job runs (power
iterations counted in full, so an upper bound). Both parts are in this machine's seconds:
report them beside `make bench`'s yardstick. A measured GPU run (benchmarks/gpu/run.sh)
replaces this estimate.

    .venv/bin/python benchmarks/gpu/estimate.py [config/depth.yaml] [concurrent jobs, default 8]
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time

os.environ["FLATENN_KERNELS"] = "0"  # the code path that runs on CUDA (the kernels are CPU-only)

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from flatenn import campaign, catalog, config, fastgrad, hessian, models, sharpness, sparsity, train  # noqa: E402
from flatenn.quant import export_memory_image  # noqa: E402

torch.set_num_threads(1)
LAUNCH_US = (5, 20)
SHAPE = {"fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
TRAIN_SIZE = {"fashion_mnist": 60000, "cifar10": 50000}  # before the validation split
TEST_SIZE = {"fashion_mnist": 10000, "cifar10": 10000}


class OperatorCount(TorchDispatchMode):
    """Counts the operators dispatched (views launch no kernel and are left out)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        schema = func._schema
        if schema.is_mutable or not any(r.alias_info for r in schema.returns):
            self.n += 1
        return func(*args, **(kwargs or {}))


def operators(fn) -> int:
    with OperatorCount() as c:
        fn()
    return c.n


def seconds(fn, reps: int = 15) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def training_step(model, opt, x, y, variant, rho):
    def step():
        opt.zero_grad()
        train.gradients(model, x, y, variant["alpha"], variant["penalty"], rho)
        opt.step(0.01)
    return step


def model_costs(cfg: dict, arch: str, variant_name: str, training: str) -> dict:
    """Operators and measured host seconds of one model's jobs (this machine, 1 thread)."""
    ds = cfg["dataset"]["name"]
    wc = {"dataset": ds, "arch": arch, "variant": variant_name, "training": training, "seed": str(cfg["seeds"][0])}
    st = config.job_settings(cfg, "train", **wc)
    variant, tc = st["variant"], st["training"]
    torch.manual_seed(0)
    model = models.build(arch, SHAPE[ds], catalog.NUM_CLASSES[ds], cfg["quant"])
    opt = train.NesterovSGD(model.parameters(), momentum=tc["momentum"], weight_decay=tc["weight_decay"])
    sparsity.keep_outputs(model, variant["alpha"] > 0)
    sparsity.set_threshold(model, variant["threshold"])
    model.train()
    bs = tc["batch_size"]
    x, y = torch.rand(bs, *SHAPE[ds]), torch.randint(0, catalog.NUM_CLASSES[ds], (bs,))
    ops_step = operators(training_step(model, opt, x, y, variant, tc["rho"]))
    tiny = training_step(model, opt, x[:2], y[:2], variant, tc["rho"])
    host_s = seconds(tiny) / operators(tiny)  # dispatch, autograd and Python per operator
    sparsity.keep_outputs(model, False)
    model.eval()
    with torch.no_grad():
        ops_eval = operators(lambda: model(x))
    # One campaign trial on the config's evaluation images (batched maps as the job runs them).
    image = export_memory_image(model)
    fc = cfg["faults"]
    fault = fc["types"][0]
    ev = (torch.randint(0, 256, (fc["eval_size"], *SHAPE[ds]), dtype=torch.uint8),
          torch.randint(0, catalog.NUM_CLASSES[ds], (fc["eval_size"],)))
    trials = 4
    point = [{"fault": fault, "rate": max(fc["rates"][fault])}]
    ops_trial = operators(lambda: campaign.run(model, image, ev, point, trials=trials, mode=fc["mode"], maps=fc["maps"],
                                               base_seed=0, arch=arch, seed=0, progress=False)) / trials
    vc = cfg["vulnerability"]
    vulnerability_trials = vc["trials"] * len(campaign.vulnerability_points(image, vc["fault"], vc["layer_rate"],
                                                                            vc["bit_rate"]))
    return {"ops_step": ops_step, "host_s": host_s, "ops_eval": ops_eval, "ops_trial": ops_trial,
            "vulnerability_trials": vulnerability_trials, "model": model}


def sharpness_seconds(cfg: dict, model) -> dict:
    """One Hessian-vector product and one forward pass at the sharpness subset, timed here."""
    sc, ds = cfg["sharpness"], cfg["dataset"]["name"]
    x = torch.rand(sc["subset"], *SHAPE[ds])
    y = torch.randint(0, catalog.NUM_CLASSES[ds], (sc["subset"],))
    net, _, params = sharpness.at_quantized_weights(model)
    loss = fastgrad.make_loss(net, x, y)
    hv = hessian.hessian_operator(loss, params)
    v = {k: torch.randn_like(p) for k, p in params.items()}
    return {"hvp": seconds(lambda: hv(v), reps=3), "forward": seconds(lambda: float(loss(params)), reps=3)}


def main(path: str = "config/depth.yaml", jobs: int = 8) -> None:
    cfg = config.load(path)
    if cfg["dataset"]["name"] not in SHAPE:
        sys.exit(f"estimate.py: dataset {cfg['dataset']['name']!r} is not one of {', '.join(SHAPE)}")
    ds, tc, fc, sc = cfg["dataset"]["name"], cfg["training"], cfg["faults"], cfg["sharpness"]
    n_train = cfg["dataset"]["train_subset"] or TRAIN_SIZE[ds] - cfg["dataset"]["val_size"]
    steps = tc["epochs"] * math.ceil(n_train / tc["batch_size"])
    val_batches = tc["epochs"] * math.ceil(cfg["dataset"]["val_size"] / cfg["evaluate"]["batch_size"])
    test_batches = math.ceil((cfg["dataset"]["test_subset"] or TEST_SIZE[ds]) / cfg["evaluate"]["batch_size"])
    faulty_trials = fc["trials"] * sum(sum(r > 0 for r in fc["rates"][f]) for f in fc["types"])
    n_seeds = len(cfg["seeds"])
    hvps = 2 * sc["power_iters"] + 2 * sc["hutchinson_samples"] + sc["eps_steps"]  # a gradient counted as one
    forwards = 2 + sc["eps_steps"] + sc["fault_samples"]
    landscape_forwards = sc["landscape_1d_points"] + sc["landscape_2d_points"] ** 2  # first seed only
    print(f"{path}: {steps} training steps per model, {faulty_trials} faulty campaign trials, "
          f"{n_seeds} seeds; up to {hvps} Hessian-vector products per sharpness job")
    print(f"{'arch':9s}{'variant':10s}{'training':13s}{'ops/step':>9s}{'host us/op':>11s}"
          f"{'GPU h (5us)':>12s}{'GPU h (20us)':>13s}{'sharpness CPU h':>16s}")
    gpu = [0.0, 0.0]
    cpu = 0.0
    for arch in cfg["archs"]:
        shp = None
        for v in cfg["variants"]:
            for t in cfg["trainings"]:
                c = model_costs(cfg, arch, v, t)
                shp = shp or sharpness_seconds(cfg, c["model"])
                ops = (steps * c["ops_step"] + (val_batches + test_batches) * c["ops_eval"]
                       + faulty_trials * c["ops_trial"])
                ops = n_seeds * ops + c["vulnerability_trials"] * c["ops_trial"]  # vulnerability: first seed
                hours = [ops * (c["host_s"] + us * 1e-6) / 3600 for us in LAUNCH_US]
                sharp = (n_seeds * (hvps * shp["hvp"] + forwards * shp["forward"])
                         + landscape_forwards * shp["forward"]) / 3600
                gpu = [g + h for g, h in zip(gpu, hours)]
                cpu += sharp
                print(f"{arch:9s}{v:10s}{t:13s}{c['ops_step']:9d}{c['host_s'] * 1e6:11.1f}"
                      f"{hours[0]:12.2f}{hours[1]:13.2f}{sharp:16.2f}")
    print(f"total: GPU-side {gpu[0]:.1f}-{gpu[1]:.1f} job hours ({gpu[0] / jobs:.1f}-{gpu[1] / jobs:.1f} h wall "
          f"with {jobs} jobs sharing the GPU), sharpness on the CPU {cpu:.1f} core hours "
          f"({cpu / jobs:.1f} h wall on {jobs} cores)")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["config/depth.yaml"]), *(int(a) for a in sys.argv[2:3]))
