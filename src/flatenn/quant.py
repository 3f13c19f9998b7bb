"""Quantization-aware layers and the integer weight memory image of a model.

Weights: b-bit signed symmetric, one scale per output channel (max-abs), so the stored
integers are what an accelerator keeps in its weight memory. Activations: unsigned, with a
learnable clipping level (PACT). Rounding uses a straight-through estimator.

A layer in *deployed* mode runs on a given float weight instead of fake-quantizing its own
one (``load_memory_image``): the training-time model run on (possibly faulty) stored integers,
the reference against which the tests check ``flatenn.deployed`` (what campaigns run) and the
former campaign path the benchmarks compare with. ``q * scale`` is computed with the same float
operations in both modes, so a model rebuilt from its image gives bit-identical logits.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class RoundSTE(torch.autograd.Function):
    """round() whose gradient is the identity (straight-through)."""

    generate_vmap_rule = True  # usable under torch.func transforms

    @staticmethod
    def forward(x):
        return torch.round(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad

    @staticmethod
    def jvp(ctx, tangent):
        return tangent


round_ste = RoundSTE.apply


def weight_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel max-abs scale, shaped to broadcast against ``w``."""
    qmax = 2 ** (bits - 1) - 1
    amax = w.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-8)
    return (amax / qmax).view(-1, *([1] * (w.dim() - 1)))


def quantize_weight(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes as float with STE gradient, scale)."""
    qmax = 2 ** (bits - 1) - 1
    scale = weight_scale(w, bits)
    return torch.clamp(round_ste(w / scale), -qmax, qmax), scale


def int_dtype(bits: int) -> torch.dtype:
    return torch.int8 if bits <= 8 else torch.int16


class QuantMixin:
    """Shared by QConv2d and QLinear: fake-quant weights, deployed weights, perturbations."""

    weight_bits: int | None
    deployed: torch.Tensor | None
    perturbation: torch.Tensor | None

    def _init_quant(self, weight_bits: int | None) -> None:
        self.weight_bits = weight_bits
        self.deployed = None       # float weight used as-is (memory image, faults)
        self.perturbation = None   # added to the quantized weight (SAQ's ascent step)
        self.keep_quantized = False  # keep Q(w) of the next forward with its gradient (SAQ's exact ascent)
        self.kept: torch.Tensor | None = None

    @property
    def quantized(self) -> bool:
        return self.weight_bits is not None

    def effective_weight(self) -> torch.Tensor:
        if self.deployed is not None:
            w = self.deployed
        elif self.quantized:
            q, scale = quantize_weight(self.weight, self.weight_bits)
            w = q * scale
            if self.keep_quantized and w.requires_grad:
                w.retain_grad()  # d loss / d Q(w) itself, nonzero at codes +-qmax where the STE's clamp gives 0
                self.kept = w
        else:
            w = self.weight
        return w if self.perturbation is None else w + self.perturbation

    def memory_image(self) -> dict:
        q, scale = quantize_weight(self.weight.detach(), self.weight_bits)
        return {"q": q.to(int_dtype(self.weight_bits)), "scale": scale.float(), "bits": self.weight_bits}


class QConv2d(QuantMixin, nn.Conv2d):
    """``layout``: the memory format of its output (None: PyTorch's choice). A one-channel input
    is both row-major and channels-last, so a network that runs channels-last says so at its
    convolutions, not only at its input."""

    def __init__(self, *args, weight_bits: int | None = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_quant(weight_bits)
        self.layout: torch.memory_format | None = None

    def forward(self, x):
        y = self._conv_forward(x, self.effective_weight(), self.bias)
        return y if self.layout is None else y.contiguous(memory_format=self.layout)


class QLinear(QuantMixin, nn.Linear):
    def __init__(self, *args, weight_bits: int | None = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_quant(weight_bits)

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)


def set_layout(model: nn.Module, layout: torch.memory_format | None) -> nn.Module:
    """Run ``model``'s activations in ``layout`` from its convolutions on: channels-last where every
    layer keeps it (the ResNets: oneDNN's convolutions and BatchNorm run it without reorders, the
    quantizer kernel is elementwise), None where a layer needs row-major (LeNet-5's 2x2 pooling
    kernel). Parameters stay row-major either way, so stored weights and their memory image do not
    depend on it; the float results do (another convolution algorithm)."""
    for m in model.modules():
        if isinstance(m, QConv2d):
            m.layout = layout
    return model


def quant_layers(model: nn.Module) -> dict[str, QuantMixin]:
    """The layers whose weights live in the quantized weight memory, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantMixin) and m.quantized}


def export_memory_image(model: nn.Module) -> dict[str, dict]:
    """Per quantized layer: the integer weight tensor, its scale and bit width."""
    return {name: layer.memory_image() for name, layer in quant_layers(model).items()}


def dequantize(entry: dict, q: torch.Tensor | None = None) -> torch.Tensor:
    q = entry["q"] if q is None else q
    return q.to(entry["scale"].dtype) * entry["scale"]


def load_memory_image(model: nn.Module, image: dict[str, dict],
                      ints: dict[str, torch.Tensor] | None = None) -> None:
    """Deploy the image's weights (or the given replacement integers) into ``model``."""
    layers = quant_layers(model)
    if set(layers) != set(image):
        raise ValueError(f"image: layers {sorted(image)} do not match the model's {sorted(layers)}")
    for name, layer in layers.items():
        q = None if ints is None else ints[name]
        layer.deployed = dequantize(image[name], q).to(layer.weight.device)


def clear_deployed(model: nn.Module) -> None:
    for layer in quant_layers(model).values():
        layer.deployed = None
