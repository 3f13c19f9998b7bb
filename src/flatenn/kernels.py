"""Compiled CPU kernels: the activation quantizer, 2x2 max pooling, per-channel scaling.

On LeNet-5 these two are memory-bound chains of elementwise passes over the largest activation
(FatPact: a dozen; ATen's NCHW max pooling runs 7x slower than one pass). ``_kernels.c`` does each
in one pass and gives bit for bit the numbers of the PyTorch code it replaces (tests/test_kernels.py),
so trained models do not change. The extension is built by ``pip install`` where a C compiler is
present; without it, on a GPU, under torch.func transforms or with ``FLATENN_KERNELS=0``, the
PyTorch code runs instead.
"""
from __future__ import annotations

import contextlib
import os

import torch
from torch import nn

try:
    from flatenn import _kernels
except ImportError:  # no compiler at install time: the PyTorch code runs
    _kernels = None

_enabled = _kernels is not None and os.environ.get("FLATENN_KERNELS", "1") != "0"


def available() -> bool:
    """Whether the compiled kernels are built and switched on."""
    return _enabled


@contextlib.contextmanager
def disabled():
    """Run the PyTorch code instead while the block runs (benchmarks, tests)."""
    global _enabled
    saved, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = saved


def _usable(x: torch.Tensor) -> bool:
    return (_enabled and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch._C._functorch.is_functorch_wrapped_tensor(x))


def dense(x: torch.Tensor) -> bool:
    """Whether ``x`` fills its memory without gaps in the row-major or the channels-last order (an
    elementwise kernel may read either, where every tensor it is given has the same strides)."""
    return x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))


def flat(x: torch.Tensor) -> torch.Tensor:
    """A 1-D view of a dense tensor in its memory order (no copy)."""
    return x.view(-1) if x.is_contiguous() else x.permute(0, 2, 3, 1).reshape(-1)


def _require(entry: str, numel: int, dtype: torch.dtype = torch.float32, layout_of: torch.Tensor | None = None,
             **tensors: torch.Tensor) -> None:
    """Every tensor whose address goes to C: on the CPU, of ``dtype``, contiguous (or, for an
    elementwise kernel, ``layout_of``'s dense layout: the same strides) and of exactly ``numel``
    values; else ValueError, before any memory is touched."""
    for name, t in tensors.items():
        if t.device.type != "cpu":
            raise ValueError(f"kernels.{entry}: {name} is on {t.device}; the compiled kernel reads CPU memory")
        if t.dtype != dtype:
            raise ValueError(f"kernels.{entry}: {name} is {t.dtype}, the kernel reads {dtype}")
        if layout_of is None and not t.is_contiguous():
            raise ValueError(f"kernels.{entry}: {name} is not contiguous")
        if layout_of is not None and not (dense(t) and t.stride() == layout_of.stride()):
            raise ValueError(f"kernels.{entry}: {name} is not dense in the layout of the others")
        if t.numel() != numel:
            raise ValueError(f"kernels.{entry}: {name} has {t.numel()} values, the kernel reads {numel}")


LANES = 8  # _kernels.c's LANES


def lane_sum(t: torch.Tensor) -> torch.Tensor:
    """The compiled kernels' sum of a dense tensor's values, in PyTorch: in double, value i (in
    memory order) to lane i % 8, each lane in order from +0.0 (torch.cumsum), the lanes 0 to 7;
    a float64 0-dim tensor. Every value a float32 or a product of two, only the additions round, so
    the kernel and this give the same bits (tests/test_kernels.py)."""
    v = flat(t).double()
    if v.numel() == 0:
        return v.new_zeros(())
    v = torch.cat([v, v.new_full(((-v.numel()) % LANES,), -0.0)])  # -0.0 adds nothing, not even a sign
    lanes = torch.cumsum(v.view(-1, LANES), dim=0)[-1]
    total = lanes[0]
    for j in range(1, LANES):
        total = total + lanes[j]
    return total


def fat_pact(x: torch.Tensor, clip: torch.Tensor, threshold: float, levels: int, want_sum: bool = False,
             masks: bool = True):
    """(y, d/dx mask, d/dclip, sum of y) of sparsity.fat_pact_reference (the masks None without
    ``masks``; the sum, a float32 0-dim tensor, lane_sum's, or 0 without ``want_sum``), or None
    where the kernel does not apply."""
    if not (_usable(x) and clip.device.type == "cpu" and clip.dtype == torch.float32):
        return None
    x = x if dense(x) else x.contiguous()  # elementwise: channels-last stays channels-last
    step = clip / levels  # the PyTorch code's step, to the bit
    y = torch.empty_like(x)
    passed, dclip = (torch.empty_like(x), torch.empty_like(x)) if masks else (None, None)
    _require("fat_pact", x.numel(), layout_of=x, x=x, y=y, **({"passed": passed, "dclip": dclip} if masks else {}))
    total = _kernels.fat_pact(x.data_ptr(), y.data_ptr(), passed.data_ptr() if masks else 0,
                              dclip.data_ptr() if masks else 0, x.numel(), threshold, float(clip), float(step),
                              float(levels), want_sum)
    return y, passed, dclip, torch.tensor(total, dtype=torch.float64).float()


def fat_pact_backward(grad: torch.Tensor, x: torch.Tensor, clip: torch.Tensor, threshold: float, levels: int,
                      c: torch.Tensor | None):
    """(d/dx, d/dclip) of sparsity.FatPact at input ``x`` (dense) from the gradient of its output
    (``grad``, in x's layout) and of its sum (``c``, or None): with the masks of fat_pact at x,
    gt = grad (+ c), gt * passed and lane_sum(gt * dclip) as float32; None where the kernel does not
    apply."""
    if not (_usable(grad) and _usable(x) and clip.device.type == "cpu" and clip.dtype == torch.float32
            and (c is None or (c.device.type == "cpu" and c.dtype == torch.float32))):
        return None
    step = clip / levels
    dx = torch.empty_like(x)
    _require("fat_pact_backward", x.numel(), layout_of=x, grad=grad, x=x, dx=dx)
    dot = _kernels.fat_pact_backward(grad.data_ptr(), x.data_ptr(), dx.data_ptr(), x.numel(),
                                     0.0 if c is None else float(c), c is not None, threshold, float(clip),
                                     float(step), float(levels))
    return dx, torch.tensor(dot, dtype=torch.float64).float()


def scale_channels(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x * a * b with a and b per channel (shape [1, C, 1, 1]): one pass where the kernel applies.
    Where it applies, a and b must hold one float32 CPU value per channel (else ValueError)."""
    if not (_usable(x) and x.dim() >= 2):
        return x * a * b
    x = x.contiguous()
    a, b = a.reshape(-1).contiguous(), b.reshape(-1).contiguous()
    y = torch.empty_like(x)
    n, c = x.shape[0], x.shape[1]
    _require("scale_channels", x.numel(), x=x, y=y)
    _require("scale_channels", c, a=a, b=b)
    _kernels.scale_channels(x.data_ptr(), y.data_ptr(), a.data_ptr(), b.data_ptr(), n * c, c, x[0, 0].numel())
    return y


def max_pool_values(u: torch.Tensor) -> torch.Tensor | None:
    """2x2, stride-2 max pooling of a contiguous NCHW tensor with even H and W, values only
    (the deployed network's inference), or None where the kernel does not apply."""
    if not (_usable(u) and u.dim() == 4 and u.is_contiguous() and u.numel() > 0
            and u.shape[2] % 2 == 0 and u.shape[3] % 2 == 0):
        return None
    n, c, h, w = u.shape
    y = u.new_empty(n, c, h // 2, w // 2)
    _require("max_pool_values", u.numel(), u=u)
    _require("max_pool_values", n * c * (h // 2) * (w // 2), y=y)
    _kernels.max_pool_2x2_values(u.data_ptr(), y.data_ptr(), n * c, h, w)
    return y


class _MaxPool2x2(torch.autograd.Function):
    """The kernel's forward; ATen's max-pooling backward from its indices (twice differentiable)."""

    @staticmethod
    def forward(ctx, x):
        n, c, h, w = x.shape
        y = x.new_empty(n, c, h // 2, w // 2)
        indices = torch.empty(y.shape, dtype=torch.int64)
        _require("max_pool_2x2", x.numel(), x=x)
        _require("max_pool_2x2", n * c * (h // 2) * (w // 2), y=y)
        _require("max_pool_2x2", y.numel(), torch.int64, indices=indices)
        _kernels.max_pool_2x2(x.data_ptr(), y.data_ptr(), indices.data_ptr(), n * c, h, w)
        ctx.save_for_backward(x, indices)
        ctx.mark_non_differentiable(indices)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, indices = ctx.saved_tensors
        # x only gives the shape: detached, a second derivative does not fill a zero gradient for it
        return torch.ops.aten.max_pool2d_with_indices_backward(grad, x.detach(), [2, 2], [2, 2], [0, 0], [1, 1],
                                                               False, indices)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d whose 2x2, stride-2 case runs the compiled kernel (same values, indices, gradients)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plain = (self.kernel_size in (2, (2, 2)) and self.stride in (2, (2, 2)) and self.padding in (0, (0, 0))
                      and self.dilation in (1, (1, 1)) and not self.ceil_mode and not self.return_indices)

    def forward(self, x):
        if self.plain and x.dim() == 4 and _usable(x):
            return _MaxPool2x2.apply(x.contiguous())
        return super().forward(x)
