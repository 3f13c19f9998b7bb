"""Batched inference helpers shared by evaluation, campaigns and sharpness."""
from __future__ import annotations

import torch
from torch import nn

# Measured on this 2-core machine: LeNet-5 inference is fastest at batch 64 to 128.
EVAL_BATCH = 128


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH):
    """Pre-split (float images, labels) pairs: campaigns reuse them for every trial."""
    xf = to_float(x)
    return [(xf[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]


@torch.inference_mode()
def correct(model: nn.Module, batched) -> int:
    model.eval()
    return sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in batched)


def accuracy(model: nn.Module, batched) -> float:
    return correct(model, batched) / sum(len(yb) for _, yb in batched)
