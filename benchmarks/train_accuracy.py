"""Accuracy check of a training speedup: the same LeNet-5 jobs with the former activation quantizer
(an autograd chain, kept in benchmarks/reference.py) and the current one (one fused node).

    .venv/bin/python benchmarks/train_accuracy.py [variant ...]    # default: standard as_high

Fashion-MNIST, the default config's training settings, seed 0, conventional; prints test accuracy,
sparsity and img/s of each, side by side. About 2 x 2 x 5 epochs of LeNet-5 (minutes).
"""
from __future__ import annotations

import sys

import torch
import yaml

from flatenn import data, evaluation, models, sparsity, train

sys.path.insert(0, __import__("os").path.dirname(__file__))
import reference  # noqa: E402

torch.set_num_threads(1)
cfg = yaml.safe_load(open("config/default.yaml"))
ds = data.load("fashion_mnist", root=cfg["dataset"]["root"], val_size=cfg["dataset"]["val_size"])
test = evaluation.batches(ds.test.x, ds.test.y)
for variant in sys.argv[1:] or ["standard", "as_high"]:
    for impl in ("former", "current"):
        torch.manual_seed(0)
        m = models.build("lenet5", ds.shape, 10, cfg["quant"])
        with reference.former_quantizer(impl == "former"):
            hist = train.train(m, ds, tcfg=cfg["training"], variant=cfg["variants"][variant], rho=0.0, seed=0,
                               progress=False)["history"]
        m.eval()
        print(f"{variant:<9} {impl:<8} test accuracy {evaluation.accuracy(m, test):.4f} sparsity "
              f"{sparsity.measure(m, test)['overall']:.3f} {sum(h['images_per_s'] for h in hist) / len(hist):.0f} img/s",
              flush=True)
