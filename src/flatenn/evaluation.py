"""Batched inference of the training-time model (evaluation, validation during training) and the
choice of device. Campaigns run the deployed network instead (``flatenn.deployed``)."""
from __future__ import annotations

import torch
from torch import nn

# Measured on this 2-core machine: LeNet-5 inference is fastest at batch 64 to 128.
EVAL_BATCH = 128
# Images go in chunks of about this many values in the largest activation, which then stays in
# cache: the deployed network's passes and the Hessian's losses (deployed.py, fastgrad.py).
VALUES_PER_CHUNK = 1 << 20


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def device(name: str = "cpu") -> torch.device:
    """'auto' takes CUDA where there is one."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH, dev=None):
    """Pre-split (float images, labels) pairs, reused by every pass over the same images."""
    if dev is not None:
        x, y = x.to(dev), y.to(dev)
    xf = to_float(x)
    return [(xf[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]


@torch.inference_mode()
def correct(model: nn.Module, batched) -> int:
    model.eval()
    return sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in batched)


def accuracy(model: nn.Module, batched) -> float:
    return correct(model, batched) / sum(len(yb) for _, yb in batched)
