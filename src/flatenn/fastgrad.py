"""Fast, exact autograd for second derivatives of a model's loss in its weights.

The same function of the weights, cheaper to differentiate twice: BatchNorm at its running
statistics as per-channel products (FrozenBatchNorm), the stem convolution as one matrix product
over its fixed input's columns (ColumnStem), and images in chunks whose largest activation stays
in cache. Loss, gradients and Hessian-vector products are identical to the bit (tests).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from flatenn import kernels
from flatenn.evaluation import VALUES_PER_CHUNK

Params = dict[str, torch.Tensor]


class _FrozenBatchNormGrad(torch.autograd.Function):
    """g -> g * invstd * weight, ATen's eval-mode BatchNorm backward; its own backward is ATen's
    double backward, gg * (var + eps)^-1/2 * weight (the same floats: test)."""

    @staticmethod
    def forward(ctx, g, bn):
        ctx.bn = bn
        return kernels.scale_channels(g, bn.invstd, bn.weight_4d)

    @staticmethod
    def backward(ctx, gg):
        return kernels.scale_channels(gg, ctx.bn.rsqrt_var, ctx.bn.weight_4d), None


class _FrozenBatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bn):
        ctx.bn = bn
        b = bn.bn
        return F.batch_norm(x, b.running_mean, b.running_var, b.weight, b.bias, False, 0.0, b.eps)

    @staticmethod
    def backward(ctx, g):
        return _FrozenBatchNormGrad.apply(g, ctx.bn), None


class FrozenBatchNorm(nn.Module):
    """An eval-mode BatchNorm2d with fixed parameters: ATen's forward, and its first and second
    derivatives in the input as per-channel products. ATen's double backward computes the general
    training-mode terms on every value: a fifth of a LeNet-5 Hessian-vector product."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.bn = bn
        with torch.no_grad():  # as ATen computes them: 1 / sqrt in double, and pow(-0.5) in float
            self.invstd = (1 / torch.sqrt(bn.running_var.double() + bn.eps)).float().view(1, -1, 1, 1)
            self.rsqrt_var = (bn.running_var + bn.eps).pow(-0.5).view(1, -1, 1, 1)
            self.weight_4d = bn.weight.detach().view(1, -1, 1, 1).clone()

    def forward(self, x):
        return _FrozenBatchNormFn.apply(x, self)


def freeze_batch_norms(model: nn.Module) -> None:
    """Replace every BatchNorm2d (eval mode, parameters not variables) by a FrozenBatchNorm."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d and child.affine and child.track_running_stats:
                setattr(parent, name, FrozenBatchNorm(child))


def _stem(model: nn.Module) -> nn.Module | None:
    """The first layer of a ``models.Net`` (a convolution on the images in every architecture)."""
    return model.body[0] if isinstance(getattr(model, "body", None), nn.Sequential) else None


def _largest_activation(model: nn.Module, x1: torch.Tensor) -> int:
    """Values in the stem's output for one image (the largest activation of LeNet-5 and the ResNets)."""
    return max(1, (_stem(model) or model)(x1).numel())


class ColumnStem(nn.Module):
    """The stem convolution as one matrix product over its fixed input's columns (im2col).

    The same function of the weights, cheaper to differentiate twice: PyTorch's convolution
    double-backward also computes a gradient for the input images, which no Hessian needs
    (measured: a third of a LeNet-5 Hessian-vector product)."""

    def __init__(self, conv: nn.Conv2d, out_hw: tuple[int, int]):
        super().__init__()
        self.weight, self.bias, self.out_hw = conv.weight, conv.bias, out_hw

    def forward(self, cols: torch.Tensor) -> torch.Tensor:  # cols: [C*k*k, N*H*W]
        w = self.weight.flatten(1)
        n = cols.shape[1] // (self.out_hw[0] * self.out_hw[1])
        out = (w @ cols).view(len(w), n, *self.out_hw).transpose(0, 1).contiguous()
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


def _column_form(model: nn.Module, x: torch.Tensor):
    """(model whose stem reads columns, the columns of x), or (model, x) where that does not apply.
    Parameter names stay those of ``model``."""
    stem = _stem(model)
    if not (isinstance(stem, nn.Conv2d) and stem.groups == 1 and stem.padding_mode == "zeros"
            and getattr(stem, "deployed", None) is None and getattr(stem, "perturbation", None) is None
            and not getattr(stem, "quantized", False)):
        return model, x
    with torch.no_grad():
        out = stem(x[:1]).shape[-2:]
    cols = F.unfold(x, stem.kernel_size, stem.dilation, stem.padding, stem.stride)  # [N, C*k*k, L]
    column_model = type(model)(nn.Sequential(ColumnStem(stem, tuple(out)), *list(model.body)[1:]))
    return column_model, cols.transpose(0, 1).flatten(1)


def make_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
              chunk: int | None = None) -> Callable[[Params], torch.Tensor]:
    """Mean cross-entropy over float images x with labels y, as a function of the given weights.

    Images go in chunks whose largest activation (the stem's output) stays in cache, as in the
    deployed network: measured on LeNet-5, 1,000 images, a loss costs 1.9x less and a
    Hessian-vector product 1.2x less in chunks of 250 than in one of 1,000."""
    if chunk is None:
        with torch.no_grad():
            chunk = max(1, VALUES_PER_CHUNK // _largest_activation(model, x[:1]))
    chunks = []
    for i in range(0, len(y), chunk):
        net, xb = _column_form(model, x[i:i + chunk])
        chunks.append((net, xb, y[i:i + chunk]))

    def loss(params: Params) -> torch.Tensor:
        total = 0.0
        for net, xb, yb in chunks:
            total = total + F.cross_entropy(functional_call(net, params, (xb,)), yb, reduction="sum")
        return total / len(y)

    return loss


