"""Former implementations kept as references for side-by-side benchmarks (not used by the workflow)."""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vjp

from flatenn import faults, kernels, sparsity
from flatenn.quant import round_ste


def former_qact_forward(self, x):
    """QAct.forward before the fused FatPact node: an autograd chain of a dozen elementwise ops."""
    y = torch.relu(x) if self.threshold <= 0 else x * (x > self.threshold)
    if self.bits is not None:
        y = torch.minimum(y, self.clip)
        step = self.clip / (2 ** self.bits - 1)
        y = round_ste(y / step) * step
    if self.keep_output:
        self.last = y
    return y


def former_penalty(model, kind: str = "l1"):
    """The L1 penalty before it dropped abs() on non-negative activations."""
    if kind != "l1":
        return current_penalty(model, kind)
    return sum(m.last.flatten(1).abs().mean() for m in sparsity.act_layers(model))


current_penalty = sparsity.penalty


@contextlib.contextmanager
def former_quantizer(on: bool = True):
    """Swap the former activation quantizer and penalty in, and the compiled kernels out (ATen's
    max pooling), while the block runs."""
    saved = sparsity.QAct.forward, sparsity.penalty
    if on:
        sparsity.QAct.forward, sparsity.penalty = former_qact_forward, former_penalty
    try:
        with kernels.disabled() if on else contextlib.nullcontext():
            yield
    finally:
        sparsity.QAct.forward, sparsity.penalty = saved


@contextlib.contextmanager
def former_batch_norm():
    """sharpness.at_quantized_weights as it was: ATen's BatchNorm left in (no FrozenBatchNorm)."""
    from flatenn import fastgrad

    saved = fastgrad.freeze_batch_norms
    fastgrad.freeze_batch_norms = lambda model: None
    try:
        yield
    finally:
        fastgrad.freeze_batch_norms = saved


def former_make_loss(model, x, y):
    """The sharpness loss before the stem convolution read precomputed image columns."""
    return lambda params: F.cross_entropy(functional_call(model, params, (x,)), y)


def former_hvp(loss, params, v):
    """One Hessian-vector product as it was: torch.func's vjp of grad, a fresh gradient graph each."""
    return vjp(grad(loss), params)[1](v)[0]


def former_sample_cells(n: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """faults.sample_cells as it was: every round re-sorts all draws so far (torch.unique)."""
    if count > n // 4:
        return torch.randperm(n, generator=generator)[:count].sort().values
    chosen = torch.randint(0, n, (count,), generator=generator).unique()
    while len(chosen) < count:
        draw = torch.randint(0, n, (count - len(chosen),), generator=generator)
        chosen = torch.cat([chosen, draw]).unique()
    return chosen


@contextlib.contextmanager
def former_campaign():
    """A campaign trial as it was: the former map sampler, and no compiled kernels (torch.maximum
    pooling in the deployed pass) while the block runs."""
    saved, faults.sample_cells = faults.sample_cells, former_sample_cells
    try:
        with kernels.disabled():
            yield
    finally:
        faults.sample_cells = saved
