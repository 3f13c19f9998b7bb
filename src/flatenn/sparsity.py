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
    fused = kernels.fat_pact(x, clip, threshold, levels)
    if fused is not None:
        return fused[0]
    _, _, q, step = _fat_pact(x, clip, threshold, levels)
    return q * step


class FatPact(torch.autograd.Function):
    """FATReLU, PACT clipping and rounding in one autograd node.

    The same gradients as composing ``x * (x > t)``, ``minimum(., clip)`` and a straight-through
    ``round(. / step) * step`` with ``step = clip / levels``: d/dx = 1 where t < x < clip, and
    d/dclip = [x > clip] + (round(v) - v) / levels with v = min(y, clip) / step. One node saves
    two tensors instead of a chain of a dozen, which is most of a LeNet-5 training step's time.
    Forward returns (y, d/dx as a 0/1 mask, d/dclip) so that torch.func transforms (the sharpness
    measures) can use it; the last two are not differentiable.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, clip, threshold: float, levels: int):
        fused = kernels.fat_pact(x, clip, threshold, levels)  # the same numbers in one pass (CPU)
        if fused is not None:
            return fused
        y, v, q, step = _fat_pact(x, clip, threshold, levels)
        # masks as 0/1 floats written by the comparisons: bool results, and products with them, ran 3-4x slower
        clipped = torch.gt(y, clip, out=torch.empty_like(y))
        # [x > t] and not clipped, in place: [x > t] - clipped is -1 only where both are 0 and 1 (clip < 0)
        passed = torch.gt(x, threshold, out=torch.empty_like(x)).sub_(clipped).clamp_min_(0)
        return q * step, passed, (q - v).div_(levels).add_(clipped)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, passed, dclip = output
        ctx.mark_non_differentiable(passed, dclip)
        # the masks get no gradient: autograd would otherwise fill two zero tensors of x's size per backward
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(passed, dclip)
        ctx.save_for_forward(passed, dclip)

    @staticmethod
    def backward(ctx, grad, _passed, _dclip):
        if grad is None:
            return None, None, None, None
        passed, dclip = ctx.saved_tensors
        # grad * mask, not where(mask, grad, 0): where() ran 5x slower here (1 thread);
        # dot() skips the product tensor of grad * dclip
        same = kernels.dense(grad) and grad.stride() == dclip.stride()
        return (grad * passed, torch.dot(kernels.flat(grad), kernels.flat(dclip)) if same else (grad * dclip).sum(),
                None, None)

    @staticmethod
    def jvp(ctx, x_t, clip_t, _threshold, _levels):
        passed, dclip = ctx.saved_tensors
        out = x_t * passed
        return (out if clip_t is None else out + clip_t * dclip), None, None


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

    def forward(self, x):
        t = max(0.0, float(self.threshold))
        if self.bits is not None and not torch.is_grad_enabled():  # values only: no masks to save
            y = _fat_pact_values(x, self.clip, t, 2 ** self.bits - 1)
        elif self.bits is not None:
            y = FatPact.apply(x, self.clip, t, 2 ** self.bits - 1)[0]
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
        m.last = None


def penalty(model: nn.Module, kind: str = "l1") -> torch.Tensor:
    """Sum over activation layers of the registered penalty ``kind`` (the mean L1 norm, the
    normalized Hoyer measure, or a user's: flatenn.registry.Penalty)."""
    per_layer = registry.penalty(kind).per_layer  # flatenn.registry: l1, hoyer and any registered
    total = 0.0
    for m in act_layers(model):
        total = total + per_layer(per_sample(m.last))
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
