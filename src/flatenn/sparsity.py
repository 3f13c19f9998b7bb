"""Activation sparsity: FATReLU + unsigned activation quantizer, penalties and the meter."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flatenn import kernels, registry


def _fat_pact(x, clip, threshold: float, levels: int):
    """(y, v, q, step): FATReLU output y (ReLU at threshold 0), v = min(y, clip) / step, q = round(v)."""
    y = F.threshold(x, threshold, 0.0)
    step = clip / levels
    v = torch.minimum(y, clip).div_(step)
    return y, v, torch.round(v), step


def _fat_pact_values(x, clip, threshold: float, levels: int):
    """FatPact's output alone (no masks to keep): the kernel's one pass, or the PyTorch code's values."""
    fused = kernels.fat_pact(x, clip, threshold, levels, masks=False)
    if fused is not None:
        return fused[0]
    _, _, q, step = _fat_pact(x, clip, threshold, levels)
    return q * step


def fat_pact_reference(x, clip, threshold: float, levels: int, want_sum: bool = False):
    """What kernels.fat_pact computes, in PyTorch: (y, d/dx as a 0/1 mask, d/dclip, the lane sum of y
    with ``want_sum``, else 0), x taken in the kernel's layout so that the sum runs in its order."""
    x = x if kernels.dense(x) else x.contiguous()
    y, v, q, step = _fat_pact(x, clip, threshold, levels)
    # masks as 0/1 floats written by the comparisons: bool results, and products with them, ran 3-4x slower
    clipped = torch.gt(y, clip, out=torch.empty_like(y))
    # [x > t] and not clipped, in place: [x > t] - clipped is -1 only where both are 0 and 1 (clip < 0)
    passed = torch.gt(x, threshold, out=torch.empty_like(x)).sub_(clipped).clamp_min_(0)
    out = q * step
    total = kernels.lane_sum(out).float() if want_sum else out.new_zeros(())
    return out, passed, (q - v).div_(levels).add_(clipped), total


class FatPact(torch.autograd.Function):
    """FATReLU, PACT clipping and rounding in one autograd node.

    The same gradients as composing ``x * (x > t)``, ``minimum(., clip)`` and a straight-through
    ``round(. / step) * step`` with ``step = clip / levels``: d/dx = 1 where t < x < clip, and
    d/dclip = [x > clip] + (round(v) - v) / levels with v = min(y, clip) / step. One node keeps
    only its input and computes both derivatives again in its backward, which is cheaper than
    writing and reading them (a ResNet's step is bound by memory). Forward returns (y, the sum of
    y): with ``want_sum`` (else 0) a sum-based penalty reads it (registry.Penalty.from_sum), and
    its gradient then reaches x inside the backward's one pass, not as a tensor of y's size. Sums
    are kernels.lane_sum's, with or without the compiled kernels.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, clip, threshold: float, levels: int, want_sum: bool = False):
        fused = kernels.fat_pact(x, clip, threshold, levels, want_sum, masks=False)  # one pass (CPU)
        if fused is not None:
            return fused[0], fused[3]
        y, _, _, total = fat_pact_reference(x, clip, threshold, levels, want_sum)
        return y, total

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, clip, threshold, levels, _ = inputs
        ctx.threshold, ctx.levels = threshold, levels
        ctx.set_materialize_grads(False)
        x = x if kernels.dense(x) else x.contiguous()  # the layout forward computed in
        ctx.save_for_backward(x, clip)
        ctx.save_for_forward(x, clip)

    @staticmethod
    def backward(ctx, grad, grad_sum):
        x, clip = ctx.saved_tensors
        if grad is None:
            if grad_sum is None:
                return None, None, None, None, None
            grad = torch.zeros_like(x)
        elif grad.stride() != x.stride():
            # in x's layout: a row-major gradient (a mean's backward) would send BatchNorm's backward
            # down its slow mixed-layout path, and the sums below run in x's memory order
            grad = torch.empty_like(x).copy_(grad)
        # the kernel's numbers carry no graph: not where a second derivative is taken (Hessian products)
        fused = None if torch.is_grad_enabled() else kernels.fat_pact_backward(
            grad, x, clip, ctx.threshold, ctx.levels, grad_sum)
        if fused is not None:
            return fused[0], fused[1], None, None, None
        _, passed, dclip, _ = fat_pact_reference(x, clip, ctx.threshold, ctx.levels)
        total = grad if grad_sum is None else grad + grad_sum
        return total * passed, kernels.lane_sum(total.double() * dclip.double()).float(), None, None, None

    @staticmethod
    def jvp(ctx, x_t, clip_t, _threshold, _levels, _want_sum):
        x, clip = ctx.saved_tensors
        _, passed, dclip, _ = fat_pact_reference(x, clip, ctx.threshold, ctx.levels)
        out = x_t * passed
        out = out if clip_t is None else out + clip_t * dclip
        return out, out.sum()


class QAct(nn.Module):
    """FATReLU (zero below ``threshold``) followed by PACT activation quantization.

    ``threshold`` is a plain attribute so the trainer can ramp it in; the clipping level
    ``clip`` is learned. When ``keep_output`` is set the last output is kept for the penalty.
    """

    def __init__(self, bits: int | None = 8, threshold: float = 0.0, clip_init: float = 6.0):
        super().__init__()
        self.bits = bits
        self.threshold = threshold
        self.clip = nn.Parameter(torch.tensor(float(clip_init)))
        self.keep_output = False
        self.last: torch.Tensor | None = None
        self.last_sum: torch.Tensor | None = None  # the sum of ``last``, from the quantizer's own pass

    def forward(self, x):
        t = max(0.0, float(self.threshold))
        if self.bits is not None and not torch.is_grad_enabled():  # values only: no masks to save
            y = _fat_pact_values(x, self.clip, t, 2 ** self.bits - 1)
        elif self.bits is not None:
            y, total = FatPact.apply(x, self.clip, t, 2 ** self.bits - 1, self.keep_output)
            self.last_sum = total if self.keep_output else None
        else:
            y = torch.relu(x) if self.threshold <= 0 else x * (x > self.threshold)
        if self.keep_output:
            self.last = y
        return y

    def extra_repr(self) -> str:
        return f"bits={self.bits}, threshold={self.threshold}"


def act_layers(model: nn.Module) -> list[QAct]:
    return [m for m in model.modules() if isinstance(m, QAct)]


def set_threshold(model: nn.Module, threshold: float) -> None:
    for m in act_layers(model):
        m.threshold = threshold


def keep_outputs(model: nn.Module, on: bool) -> None:
    for m in act_layers(model):
        m.keep_output = on
        m.last = m.last_sum = None


def penalty(model: nn.Module, kind: str = "l1") -> torch.Tensor:
    """Sum over activation layers of the registered penalty ``kind`` (the mean L1 norm, the
    normalized Hoyer measure, or a user's: flatenn.registry.Penalty)."""
    record = registry.penalty(kind)  # flatenn.registry: l1, hoyer and any registered
    total = 0.0
    for m in act_layers(model):
        if record.from_sum is not None and m.last_sum is not None:  # the quantizer summed the layer already
            total = total + record.from_sum(m.last_sum, m.last.numel())
        else:
            total = total + record.per_layer(per_sample(m.last))
    return total


def per_sample(y: torch.Tensor) -> torch.Tensor:
    """Each sample's activations as one row, in memory order: a view, never a copy (a channels-last
    tensor is flattened as N, H, W, C; a penalty sums over a row, so the order does not matter)."""
    if y.dim() == 4 and not y.is_contiguous() and y.is_contiguous(memory_format=torch.channels_last):
        return y.permute(0, 2, 3, 1).flatten(1)
    return y.flatten(1)


@torch.no_grad()
def measure(model: nn.Module, batches) -> dict:
    """Fraction of zero activations after quantization, per layer and overall."""
    zeros, totals = {}, {}
    names = {m: n for n, m in model.named_modules() if isinstance(m, QAct)}

    def hook(module, _inp, out):
        n = names[module]
        zeros[n] = zeros.get(n, 0) + int((out == 0).sum())
        totals[n] = totals.get(n, 0) + out.numel()

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        for x, _ in batches:
            model(x)
    finally:
        for h in handles:
            h.remove()
    per_layer = {n: zeros[n] / totals[n] for n in zeros}
    overall = sum(zeros.values()) / max(1, sum(totals.values()))
    return {"overall": overall, "per_layer": per_layer}
