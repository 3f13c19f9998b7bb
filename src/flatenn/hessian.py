"""Hessian linear algebra on a loss given as a function of named weight tensors.

Hessian-vector products by reverse-over-reverse differentiation (plain autograd), the largest
eigenvalue by power iteration, the trace by Hutchinson's estimator, each optionally in scaled
coordinates (D H D). Knows no metric names: ``flatenn.sharpness`` builds the metrics on these.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Params = dict[str, torch.Tensor]


def _mean_stderr(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / max(1, len(values) - 1))
    return mean, sd / math.sqrt(len(values))


def dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def norm(a: Params) -> torch.Tensor:
    return torch.sqrt(dot(a, a))


def times(a: Params, s) -> Params:
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
    v = times(v, 1 / norm(v))
    eig, it = 0.0, 0
    for it in range(1, iters + 1):
        hv = op(v)
        new = float(dot(v, hv).detach())
        length = norm(hv)
        if length == 0:
            return {"value": 0.0, "iterations": it}
        v = times(hv, 1 / length)
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
        values.append(float(dot(v, hv_)))
        for name, w in (weights or {}).items():
            weighted[name].append(float(sum((w[k] * v[k] * hv_[k]).sum() for k in v)))
    mean, stderr = _mean_stderr(values)
    return {"value": mean, "stderr": stderr, "weighted": {n: _mean_stderr(x) for n, x in weighted.items()}}


