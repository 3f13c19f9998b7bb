"""Sharpness of a quantized model, always measured at its quantized weights Q(w).

The model is turned into a float model whose memory weights equal Q(w) exactly (activation
quantizers stay, with their straight-through gradient), in eval mode, and the loss is a
function of those weights only (``torch.func.functional_call``); Hessian-vector products come
from double backward through autograd.

The raw Hessian is not scale-invariant: a conv filter followed by BatchNorm can be scaled by
c > 0 (with the BN statistics) without changing the function, which divides its Hessian
block by c^2. The *normalized* metrics use D H D, with D the per-filter weight norm (the
Hessian in the coordinates w = ||w_f|| u), which such a rescaling leaves unchanged; the
claims are decided on them. Per-channel quantization keeps the integers under rescaling,
so fault-shaped sharpness is scale-invariant as it stands.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from flatenn import faults, kernels
from flatenn.deployed import VALUES_PER_CHUNK
from flatenn.quant import clear_deployed, dequantize, export_memory_image, quant_layers

Params = dict[str, torch.Tensor]


def at_quantized_weights(model: nn.Module) -> tuple[nn.Module, dict, Params]:
    """Put Q(w) into the weights and switch weight fake-quant off (in place).

    Returns the model, its memory image and the weights as a parameter dict.
    """
    clear_deployed(model)  # a deployed weight would stand in for the variables below
    image = export_memory_image(model)
    # Only the memory weights are variables; other parameters must not grow autograd graphs.
    model.requires_grad_(False)
    _freeze_batch_norms(model)
    params = {}
    for name, layer in quant_layers(model).items():
        with torch.no_grad():
            layer.weight.copy_(dequantize(image[name]))
        layer.weight_bits = None
        params[f"{name}.weight"] = layer.weight.detach().clone()
    return model.eval(), image, params


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


def _freeze_batch_norms(model: nn.Module) -> None:
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


def _mean_stderr(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / max(1, len(values) - 1))
    return mean, sd / math.sqrt(len(values))


def _dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def _norm(a: Params) -> torch.Tensor:
    return torch.sqrt(_dot(a, a))


def _scale(a: Params, s) -> Params:
    return {k: v * s for k, v in a.items()}


def _leaves(params: Params) -> Params:
    return {k: p.detach().requires_grad_(True) for k, p in params.items()}


def _grad(outputs, leaves: Params, grad_outputs=None, **kw) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(outputs, list(leaves.values()), grad_outputs, allow_unused=True,
                               materialize_grads=True, **kw)


def gradient(loss: Callable[[Params], torch.Tensor], params: Params) -> Params:
    leaves = _leaves(params)
    return dict(zip(leaves, _grad(loss(leaves), leaves)))


def hessian_operator(loss: Callable[[Params], torch.Tensor], params: Params) -> Callable[[Params], Params]:
    """v -> H v by reverse-over-reverse differentiation. The gradient's graph is built once and
    reused by every product (a product then costs one backward pass, 1.75x less). Plain autograd,
    not torch.func: the latter imports torch._dynamo, 2 s of every sharpness job."""
    leaves = _leaves(params)
    g = dict(zip(leaves, _grad(loss(leaves), leaves, create_graph=True)))
    live = [k for k in leaves if g[k].requires_grad]  # a constant gradient adds nothing to H v

    def product(v: Params) -> Params:
        if not live:
            return {k: torch.zeros_like(p) for k, p in leaves.items()}
        return dict(zip(leaves, (t.detach() for t in _grad([g[k] for k in live], leaves, [v[k] for k in live],
                                                           retain_graph=True))))

    return product


def hvp(loss: Callable[[Params], torch.Tensor], params: Params, v: Params) -> Params:
    """One Hessian-vector product."""
    return hessian_operator(loss, params)(v)


def filter_norms(params: Params) -> Params:
    """Per output filter, the norm of its weights, broadcast to the weight's shape."""
    return {k: w.flatten(1).norm(dim=1).view(-1, *([1] * (w.dim() - 1))).expand_as(w).clone()
            for k, w in params.items()}


def _scaled(hv: Callable[[Params], Params], scale: Params | None):
    """v -> H v, or v -> D H D v with D = diag(scale)."""
    if scale is None:
        return hv
    return lambda v: {k: scale[k] * t for k, t in hv({k: scale[k] * x for k, x in v.items()}).items()}


def top_eigenvalue(loss, params: Params, *, iters: int, tol: float, generator: torch.Generator,
                   scale: Params | None = None, hv: Callable[[Params], Params] | None = None) -> dict:
    """Largest-magnitude eigenvalue of H (or of D H D) by power iteration on Hessian-vector products
    (``hv``: a ``hessian_operator`` of (loss, params) to reuse)."""
    op = _scaled(hv or hessian_operator(loss, params), scale)
    v = {k: torch.randn(p.shape, generator=generator, dtype=p.dtype) for k, p in params.items()}
    v = _scale(v, 1 / _norm(v))
    eig, it = 0.0, 0
    for it in range(1, iters + 1):
        hv = op(v)
        new = float(_dot(v, hv).detach())
        norm = _norm(hv)
        if norm == 0:
            return {"value": 0.0, "iterations": it}
        v = _scale(hv, 1 / norm)
        if it > 1 and abs(new - eig) <= tol * max(abs(new), 1e-12):
            eig = new
            break
        eig = new
    return {"value": eig, "iterations": it}


def hessian_trace(loss, params: Params, *, samples: int, generator: torch.Generator,
                  scale: Params | None = None, hv: Callable[[Params], Params] | None = None,
                  weights: dict[str, Params] | None = None) -> dict:
    """Hutchinson's estimator with Rademacher vectors: E[v^T H v] = tr(H) (or tr(D H D)). The
    D H D form keeps every sample scale-invariant (E[v * H v] weighted by D^2 would not be).

    ``weights``: named per-weight weightings W, each estimated from the same products as
    sum(W * v * H v), whose mean is sum(W * diag H) (the fault curvatures: no extra product)."""
    op = _scaled(hv or hessian_operator(loss, params), scale)
    values, weighted = [], {name: [] for name in weights or {}}
    for _ in range(samples):
        v = {k: torch.randint(0, 2, p.shape, generator=generator).to(p.dtype) * 2 - 1 for k, p in params.items()}
        hv_ = op(v)
        values.append(float(_dot(v, hv_)))
        for name, w in (weights or {}).items():
            weighted[name].append(float(sum((w[k] * v[k] * hv_[k]).sum() for k in v)))
    mean, stderr = _mean_stderr(values)
    return {"value": mean, "stderr": stderr, "weighted": {n: _mean_stderr(x) for n, x in weighted.items()}}


def fault_geometry(params: Params, image: dict) -> dict[str, dict[str, Params]]:
    """Per fault type, how one faulty cell per weight moves the weights (faults.displacement_moments
    in weight units): {"mean": E[delta], "square": E[delta^2]}, each per unit of cell fault rate.

    At a small rate r the loss rises by r * (g . mean + 1/2 sum(square * diag H)) to first order
    (different weights' cells fail independently); both terms are unchanged when a BN-followed
    filter is rescaled (its scale moves with it), and neither injects a fault."""
    out = {}
    for fault in faults.FAULTS:
        mean, square = {}, {}
        for name, e in image.items():
            m, sq = faults.displacement_moments(e["q"], fault, bits=e["bits"])
            scale = e["scale"].to(torch.float64)
            mean[f"{name}.weight"] = (m * scale).to(params[f"{name}.weight"].dtype)
            square[f"{name}.weight"] = (sq * scale * scale).to(params[f"{name}.weight"].dtype)
        out[fault] = {"mean": mean, "square": square}
    return out


def eps_sharpness(loss, params: Params, *, rho: float, steps: int) -> dict:
    """Largest loss increase found within the L2 ball of radius rho * ||w|| by normalized ascent."""
    base = float(loss(params))
    radius = rho * float(_norm(params))
    delta = {k: torch.zeros_like(p) for k, p in params.items()}
    best = 0.0
    for _ in range(steps):
        g = gradient(loss, {k: params[k] + delta[k] for k in params})
        delta = {k: delta[k] + (2 * radius / steps) * g[k] / (_norm(g) + 1e-12) for k in params}
        n = float(_norm(delta))
        if n > radius:
            delta = _scale(delta, radius / n)
        with torch.no_grad():
            best = max(best, float(loss({k: params[k] + delta[k] for k in params})) - base)
    return {"value": best, "radius": radius}


def fault_sharpness(loss, params: Params, image: dict, *, rate: float, samples: int, seed: int) -> dict:
    """Mean loss increase under random bit-flips of the stored weights at ``rate``."""
    with torch.no_grad():
        base = float(loss(params))
        increases = []
        for s in range(samples):
            gen = torch.Generator().manual_seed(seed + s)
            faulty = {f"{n}.weight": dequantize(e, faults.inject(e["q"], "bitflip", rate, bits=e["bits"],
                                                                 generator=gen))
                      for n, e in image.items()}
            increases.append(float(loss(faulty)) - base)
    return {"value": sum(increases) / len(increases)}


def filter_normalized_direction(params: Params, generator: torch.Generator) -> Params:
    """A Gaussian direction whose every filter (output unit) has its weight filter's norm."""
    out = {}
    for k, w in params.items():
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        w_norm = w.flatten(1).norm(dim=1)
        out[k] = d * (w_norm / d_norm).view(-1, *([1] * (w.dim() - 1)))
    return out


@torch.no_grad()
def landscape(loss, params: Params, directions: list[Params], coords: torch.Tensor) -> torch.Tensor:
    """Loss at params + sum_i c_i d_i for each row c of ``coords`` (shape [points, len(directions)])."""
    out = torch.empty(len(coords), dtype=torch.float64)
    for i, c in enumerate(coords):
        shifted = {k: params[k] + sum(float(ci) * d[k] for ci, d in zip(c, directions)) for k in params}
        out[i] = float(loss(shifted))
    return out


def training_subset(ds, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed seeded subset of the training set, the same for every model."""
    n = min(size, len(ds.train))
    idx = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(seed))[:n]
    return ds.train.x[idx], ds.train.y[idx]


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: dict, *, seed: int) -> dict:
    """All sharpness metrics and landscapes of one model on a fixed subset (x uint8 or float)."""
    from flatenn.evaluation import to_float

    model, image, params = at_quantized_weights(model)
    loss = make_loss(model, to_float(x), y)
    gen = lambda k: torch.Generator().manual_seed(seed * 7919 + k)  # noqa: E731
    hv, norms = hessian_operator(loss, params), filter_norms(params)
    geometry = fault_geometry(params, image)
    eig = top_eigenvalue(loss, params, iters=cfg["power_iters"], tol=cfg["tol"], generator=gen(1), hv=hv)
    eig_n = top_eigenvalue(loss, params, iters=cfg["power_iters"], tol=cfg["tol"], generator=gen(1), scale=norms,
                           hv=hv)
    trace = hessian_trace(loss, params, samples=cfg["hutchinson_samples"], generator=gen(2), hv=hv,
                          weights={f: g["square"] for f, g in geometry.items()})
    trace_n = hessian_trace(loss, params, samples=cfg["hutchinson_samples"], generator=gen(2), scale=norms, hv=hv)
    del hv  # frees the gradient's graph
    grad = gradient(loss, params)
    eps = eps_sharpness(loss, params, rho=cfg["eps_rho"], steps=cfg["eps_steps"])
    fsh = fault_sharpness(loss, params, image, rate=cfg["fault_rate"], samples=cfg["fault_samples"], seed=seed)
    out = {
        "loss": float(loss(params)),
        "hessian_top_eig": eig["value"], "power_iterations": eig["iterations"],
        "hessian_trace": trace["value"], "hessian_trace_stderr": trace["stderr"],
        "hessian_top_eig_normalized": eig_n["value"], "hessian_trace_normalized": trace_n["value"],
        "eps_sharpness": eps["value"], "eps_radius": eps["radius"],
        "fault_sharpness": fsh["value"],
    }
    for fault, g in geometry.items():  # per unit of cell fault rate
        curvature, stderr = trace["weighted"][fault]
        out[f"fault_curvature_{fault}"] = curvature
        out[f"fault_curvature_{fault}_stderr"] = stderr
        out[f"fault_slope_{fault}"] = float(_dot(grad, g["mean"]))
    # The quadratic prediction of the measured bit-flip loss rise (fault_sharpness), at its rate.
    out["fault_sharpness_predicted"] = cfg["fault_rate"] * (out["fault_slope_bitflip"]
                                                           + out["fault_curvature_bitflip"] / 2)
    if cfg.get("landscapes", True):
        r, n1, n2 = cfg["landscape_range"], cfg["landscape_1d_points"], cfg["landscape_2d_points"]
        d1, d2 = filter_normalized_direction(params, gen(3)), filter_normalized_direction(params, gen(4))
        a1 = torch.linspace(-r, r, n1, dtype=torch.float64)
        a2 = torch.linspace(-r, r, n2, dtype=torch.float64)
        grid = torch.cartesian_prod(a2, a2)
        out["landscape_1d"] = {"alpha": a1.tolist(), "loss": landscape(loss, params, [d1], a1[:, None]).tolist()}
        out["landscape_2d"] = {"alpha": a2.tolist(),
                               "loss": landscape(loss, params, [d1, d2], grid).view(n2, n2).tolist()}
    return out
