"""The sharpness metrics of a quantized model, always measured at its quantized weights Q(w).

The model is turned into a float model whose memory weights equal Q(w) exactly (activation
quantizers stay, with their straight-through gradient), in eval mode, and the loss is a
function of those weights only (``flatenn.fastgrad``); the Hessian algebra is
``flatenn.hessian``.

The raw Hessian is not scale-invariant: a conv filter followed by BatchNorm can be scaled by
c > 0 (with the BN statistics) without changing the function, which divides its Hessian
block by c^2. The *normalized* metrics use D H D with D the per-filter weight norm; the *fault
curvatures* use D the RMS move of each weight by one faulty cell (its channel's scale times
the bit's weight), the geometry of the faults, and decide C2 and C5 (docs/methods.md). Both
are unchanged by such a rescaling, as is fault-shaped sharpness (the integers do not move).
"""
from __future__ import annotations

import torch
from torch import nn

from flatenn import fastgrad, faults, registry
from flatenn.hessian import Params, dot, norm, times, gradient, hessian_operator, hessian_trace, top_eigenvalue
from flatenn.quant import clear_deployed, dequantize, export_memory_image, quant_layers, set_layout


def at_quantized_weights(model: nn.Module) -> tuple[nn.Module, dict, Params]:
    """Put Q(w) into the weights and switch weight fake-quant off (in place).

    Returns the model, its memory image and the weights as a parameter dict.
    """
    clear_deployed(model)  # a deployed weight would stand in for the variables below
    # row-major: the second-derivative path (FrozenBatchNorm, ColumnStem) computes in it, to the bit
    set_layout(model, None)
    image = export_memory_image(model)
    # Only the memory weights are variables; other parameters must not grow autograd graphs.
    model.requires_grad_(False)
    fastgrad.freeze_batch_norms(model)
    params = {}
    for name, layer in quant_layers(model).items():
        with torch.no_grad():
            layer.weight.copy_(dequantize(image[name]))
        layer.weight_bits = None
        params[f"{name}.weight"] = layer.weight.detach().clone()
    return model.eval(), image, params


def filter_norms(params: Params) -> Params:
    """Per output filter, the norm of its weights, broadcast to the weight's shape."""
    return {k: w.flatten(1).norm(dim=1).view(-1, *([1] * (w.dim() - 1))).expand_as(w).clone()
            for k, w in params.items()}


def fault_geometry(params: Params, image: dict, fault_types) -> dict[str, dict[str, Params]]:
    """Per fault type, how one faulty cell per weight moves the weights (faults.displacement_moments
    in weight units): {"mean": E[delta], "square": E[delta^2]}, each per unit of cell fault rate.

    At a small rate r the loss rises by r * (g . mean + 1/2 sum(square * diag H)) to first order
    (different weights' cells fail independently); both terms are unchanged when a BN-followed
    filter is rescaled (its scale moves with it), and neither injects a fault."""
    out = {}
    for fault in fault_types:
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
    radius = rho * float(norm(params))
    delta = {k: torch.zeros_like(p) for k, p in params.items()}
    best = 0.0
    for _ in range(steps):
        g = gradient(loss, {k: params[k] + delta[k] for k in params})
        delta = {k: delta[k] + (2 * radius / steps) * g[k] / (norm(g) + 1e-12) for k in params}
        n = float(norm(delta))
        if n > radius:
            delta = times(delta, radius / n)
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
    loss = fastgrad.make_loss(model, to_float(x), y)
    gen = lambda k: torch.Generator().manual_seed(seed * 7919 + k)  # noqa: E731
    hv, norms = hessian_operator(loss, params), filter_norms(params)
    # the configured fault types' curvatures (bit flips always: fault_sharpness measures them)
    geometry = fault_geometry(params, image, [f for f in registry.FAULTS if f in set(cfg["fault_types"]) | {"bitflip"}])
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
        out[f"fault_slope_{fault}"] = float(dot(grad, g["mean"]))
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
