"""The training loop: conventional QAT and SAQ from one code path, checkpoint + resume.

SAQ (sharpness-aware quantization): the gradient g is taken at the quantized weights Q(w)
together with the BN and bias parameters, they are moved to Q(w) + eps, the gradient there
drives the optimizer step, and the ascent is undone before that step. The perturbed pass leaves
BatchNorm running statistics alone: they describe the model at Q(w). ``direction`` "exact"
takes g with respect to Q(w) itself (as the official code does); "ste" the straight-through
gradient of the latent weights, which the clamp makes zero at codes +-qmax. ``convention``
"normalized" measures rho on each channel's quantized weights divided by their max-abs
(codes / qmax, in [-1, 1], as the official code's normalized weights), "raw" on the weights as
they are (eps = rho g / ||g||; the stored studies' step). docs/methods.md lists the departures.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from flatenn import evaluation, sparsity
from flatenn.io import atomic_torch_save
from flatenn.quant import quant_layers, weight_scale

log = logging.getLogger("flatenn.train")


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Data order of an epoch depends on (seed, epoch) only, so a resumed run sees the same."""
    return torch.Generator().manual_seed(1_000_003 * seed + epoch)


def augment_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop from a zero-padded image and a horizontal flip, per image, vectorized."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    cols = dx[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    rows = dy[:, None] + torch.arange(h)
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def saq_parameters(model: nn.Module) -> tuple[list, list[nn.Parameter]]:
    """What SAQ perturbs: the quantized layers (at Q(w)) and all BN and bias parameters."""
    layers = list(quant_layers(model).values())
    layer_weights = {id(layer.weight) for layer in layers}
    others = [p for n, p in model.named_parameters()
              if id(p) not in layer_weights and not n.endswith(".clip")]
    return layers, others


def loss_fn(model: nn.Module, x, y, alpha: float, penalty: str) -> torch.Tensor:
    loss = F.cross_entropy(model(x), y)
    if alpha > 0:
        loss = loss + alpha * sparsity.penalty(model, penalty)
    return loss


class NonFiniteLoss(ValueError):
    """Training diverged; the message names the epoch and step."""


@contextlib.contextmanager
def frozen_bn_statistics(model: nn.Module):
    """Run passes in train mode (batch statistics) without moving the BN running buffers."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: b.clone() for k, b in m.named_buffers(recurse=False)} for m in bns]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, buf in zip(bns, saved):
                for k, b in m.named_buffers(recurse=False):
                    b.copy_(buf[k])


DIRECTIONS, CONVENTIONS = ("exact", "ste"), ("normalized", "raw")


def ascent(layers, others, rho: float, direction: str = "exact", convention: str = "normalized") -> tuple[list, float]:
    """SAQ's ascent after a backward pass at Q(w): (per layer the move eps of its quantized
    weight, the mean move per weight in quantization steps). ``others`` (BN and bias parameters)
    are moved in place by the same global normalization; in the "normalized" convention the
    layers' gradients are taken on Q(w) / amax (per output channel), so eps = rho amax^2 g / N."""
    if direction not in DIRECTIONS or convention not in CONVENTIONS:
        raise ValueError(f"saq: direction must be one of {DIRECTIONS} and convention one of {CONVENTIONS}")
    grads = [(layer.kept.grad if direction == "exact" else layer.weight.grad) for layer in layers]
    if any(g is None for g in grads):
        raise ValueError("saq: a quantized layer has no gradient at Q(w) (was its forward run with keep_quantized?)")
    with torch.no_grad():
        steps = [weight_scale(layer.weight, layer.weight_bits) for layer in layers]
        # per channel the unit rho is measured in: the channel's max-abs, amax = scale x qmax (normalized)
        unit = [s * (2 ** (layer.weight_bits - 1) - 1) for s, layer in zip(steps, layers)] \
            if convention == "normalized" else [None] * len(layers)
        scaled = [g if u is None else g * u for g, u in zip(grads, unit)]
        rest = [p.grad for p in others if p.grad is not None]
        norm = torch.sqrt(sum((g * g).sum() for g in scaled + rest)) + 1e-12
        eps = [(rho / norm) * (g if u is None else u * g) for g, u in zip(scaled, unit)]
        for p in others:
            if p.grad is not None:
                p.add_(p.grad, alpha=rho / float(norm))
        moved = float(sum((e.abs() / s).sum() for e, s in zip(eps, steps)))
    return eps, moved / max(sum(e.numel() for e in eps), 1)



def saq_step(model, x, y, alpha, penalty, rho, direction: str = "exact", convention: str = "normalized"):
    """First pass at Q(w), ascent to Q(w) + eps, gradient there; leaves grads for the step.
    Returns (loss, mean move per weight in quantization steps)."""
    layers, others = saq_parameters(model)
    for layer in layers:
        layer.keep_quantized = direction == "exact"
    try:
        loss = loss_fn(model, x, y, alpha, penalty)
        loss.backward()
    finally:
        for layer in layers:
            layer.keep_quantized = False
    saved = [p.detach().clone() for p in others]
    eps, moved = ascent(layers, others, rho, direction, convention)
    for layer, e in zip(layers, eps):
        layer.perturbation, layer.kept = e, None
    model.zero_grad(set_to_none=True)
    with frozen_bn_statistics(model):
        loss_fn(model, x, y, alpha, penalty).backward()
    with torch.no_grad():
        for layer in layers:
            layer.perturbation = None
        for p, s in zip(others, saved):
            p.copy_(s)
    return loss, moved


def gradients(model, x, y, alpha, penalty, rho, direction: str = "exact", convention: str = "normalized"):
    """One batch's loss, its gradients left in .grad for the optimizer: SAQ's when rho > 0,
    conventional QAT's (plain backward) at rho 0."""
    if rho > 0:
        return saq_step(model, x, y, alpha, penalty, rho, direction, convention)[0]
    loss = loss_fn(model, x, y, alpha, penalty)
    loss.backward()
    return loss


# 2: NesterovSGD's momentum buffers (1: torch.optim.SGD's and LambdaLR's states).
CHECKPOINT_FORMAT = 2


class NesterovSGD:
    """SGD with Nesterov momentum (no dampening) and L2 weight decay, in the arithmetic of
    torch.optim.SGD's per-tensor path (the same floats: test). Any torch.optim optimizer imports
    torch._dynamo when it is built: 2 s of every training job."""

    def __init__(self, params, *, momentum: float, weight_decay: float):
        self.params = list(params)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:  # a parameter the loss did not reach keeps its value and momentum
                continue
            grad = p.grad.add(p, alpha=self.weight_decay) if self.weight_decay != 0 else p.grad
            if self.buffers[i] is None:
                self.buffers[i] = grad.detach().clone()
            else:
                self.buffers[i].mul_(self.momentum).add_(grad, alpha=1)
            p.add_(grad.add(self.buffers[i], alpha=self.momentum), alpha=-lr)

    def state_dict(self) -> dict:
        return {"momentum_buffers": self.buffers}

    def load_state_dict(self, state: dict) -> None:
        if len(state["momentum_buffers"]) != len(self.params):
            raise ValueError("optimizer state: its number of parameters differs from the model's")
        self.buffers = list(state["momentum_buffers"])


def train(model: nn.Module, ds, *, tcfg: dict, variant: dict, rho: float, seed: int,
          checkpoint: Path | None = None, key: str = "", progress: bool | None = None, augment: bool = False,
          dev: torch.device | str = "cpu") -> dict:
    """Train ``model`` in place; returns the history. ``rho`` = 0 means conventional QAT."""
    epochs, bs = tcfg["epochs"], tcfg["batch_size"]
    n = len(ds.train)
    steps_per_epoch = math.ceil(n / bs)
    total_steps = epochs * steps_per_epoch
    opt = NesterovSGD(model.parameters(), momentum=tcfg["momentum"], weight_decay=tcfg["weight_decay"])
    warmup = tcfg.get("warmup_steps", 0)

    def lr(step: int) -> float:  # linear warm-up, then cosine decay to 0 at the last step
        return tcfg["lr"] * (min(1.0, (step + 1) / max(1, warmup)) * 0.5 * (
            1 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    history, start_epoch = [], 0
    model.to(dev)
    state = None
    if checkpoint and checkpoint.exists():
        from flatenn.io import safe_torch_load

        state = safe_torch_load(checkpoint, "training checkpoint", map_location=dev, keys=("key",))
    if state is not None and (state.get("key"), state.get("format", 1)) != (key, CHECKPOINT_FORMAT):
        log.info("ignoring checkpoint %s: it belongs to another configuration or code version", checkpoint)
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, start_epoch = state["history"], state["epoch"]
        log.info("resumed from %s after epoch %d", checkpoint, start_epoch)

    threshold, alpha_max = variant["threshold"], variant["alpha"]
    ramp_steps = max(1, round(tcfg["ramp_epochs"] * steps_per_epoch))
    val = evaluation.batches(ds.val.x, ds.val.y, dev=dev)
    x_all = ds.train.x
    sparsity.keep_outputs(model, alpha_max > 0)
    for epoch in range(start_epoch, epochs):
        model.train()
        gen = epoch_generator(seed, epoch)
        perm = torch.randperm(n, generator=gen)
        t0, seen, loss_sum, move_sum = time.perf_counter(), 0, 0.0, 0.0
        # progress=None: a bar on a terminal only; the log gets one line per epoch.
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=None if progress is None else not progress)
        for i in bar:
            step = epoch * steps_per_epoch + i
            ramp = min(1.0, (step + 1) / ramp_steps)  # a full threshold from step 0 kills units
            sparsity.set_threshold(model, threshold * ramp)
            alpha = alpha_max * ramp
            idx = perm[i * bs:(i + 1) * bs]
            x, y = evaluation.to_float(x_all[idx].to(dev)), ds.train.y[idx].to(dev)
            if augment:  # drawn on the CPU generator, so CPU and GPU runs see the same crops
                x = augment_crop_flip(x.cpu(), gen).to(dev)
            opt.zero_grad()
            if rho > 0:  # SAQ: how far its ascent moved a weight, in quantization steps, for the log
                loss, moved = saq_step(model, x, y, alpha, variant["penalty"], rho, tcfg.get("saq_direction", "exact"),
                                       tcfg.get("rho_convention", "normalized"))
                move_sum += moved
            else:
                loss = gradients(model, x, y, alpha, variant["penalty"], rho)
            if not torch.isfinite(loss):  # stop before a bad step reaches weights or checkpoint
                raise NonFiniteLoss(f"training diverged: loss {float(loss.detach())} at epoch {epoch + 1}, "
                                    f"step {i + 1} (lower training.lr?)")
            opt.step(lr(step))
            seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
        elapsed = time.perf_counter() - t0
        sparsity.keep_outputs(model, False)
        val_acc = evaluation.accuracy(model, val) if len(ds.val) else float("nan")
        sparsity.keep_outputs(model, alpha_max > 0)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "val_accuracy": val_acc,
                        "images_per_s": seen / elapsed, "seconds": elapsed,
                        **({"saq_move_steps": move_sum / steps_per_epoch} if rho > 0 else {})})
        log.info("epoch %d/%d loss %.4f val_acc %.4f %.0f img/s", epoch + 1, epochs,
                 loss_sum / seen, val_acc, seen / elapsed)
        if checkpoint is not None:
            atomic_torch_save({"format": CHECKPOINT_FORMAT, "key": key, "epoch": epoch + 1, "history": history,
                               "model": model.state_dict(), "optimizer": opt.state_dict()}, checkpoint)
    sparsity.keep_outputs(model, False)
    sparsity.set_threshold(model, threshold)
    return {"history": history}


def fit(settings: dict, ds, *, arch: str, seed: int, checkpoint: Path | None = None,
        dev: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Build ``arch`` and train it as ``settings`` (config.job_settings(..., "train")) says.

    The checkpoint belongs to this exact job: another configuration starts afresh."""
    from flatenn import models

    torch.manual_seed(seed)
    model = models.build(arch, ds.shape, ds.num_classes, settings["quant"])
    key = json.dumps([settings, arch, seed], sort_keys=True)
    tcfg = settings["training"]
    result = train(model, ds, tcfg=tcfg, variant=settings["variant"], rho=tcfg["rho"], seed=seed,
                   checkpoint=checkpoint, key=key, augment=tcfg["augment"], dev=dev)
    return model, result
