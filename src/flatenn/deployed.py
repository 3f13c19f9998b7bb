"""The deployed network: what an accelerator computes from its weight memory, K fault maps at once.

Campaigns run this instead of the training-time model. Every quantized layer multiplies integer
activation codes (the uint8 pixels for the first layer) by the stored integer weights; BatchNorm,
the weight scale, the input step and the next quantizer's step fold into one per-channel affine map
``u = acc * a + c`` in units of the next activation step, then FATReLU, clipping and rounding give the
next codes. BatchNorm parameters and scales stay fault-free; faults hit the same integers as in the
memory image. Max pooling runs on the integer sums, before the affine map and the rounding: channels
whose factor is negative have their integers negated (exact), so every map is increasing and the
quantizer monotone, both orders give the same codes, and a quarter of the values is left to round.

K fault maps share one pass: the first layer's output channels are stacked (its input is shared),
later convolutions are grouped by map (a grouped or depthwise convolution of g groups runs as K x g
groups, its input copied per map where it is still shared), and linear layers are batched matrix
products. Where every integer sum of a layer stays below 2**24 (``exact_sums``; true for LeNet-5 at
8 bits) float32 computes it exactly in any order, so a batch of maps gives bit for bit the numbers
of one map at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from flatenn import kernels
from flatenn.evaluation import VALUES_PER_CHUNK
from flatenn.models import BasicBlock, Net
from flatenn.quant import QConv2d, QLinear, quant_layers
from flatenn.sparsity import QAct

# Maps per pass on a CPU are the architecture's record (flatenn.registry, measured there); a GPU wants
# big launches. Chunks of images keep one chunk's largest activation in cache
# (evaluation.VALUES_PER_CHUNK).
MAPS_PER_PASS = 16


@dataclass
class Layer:
    """A quantized layer with everything up to its next activation codes folded in."""
    name: str                     # key in the memory image
    kind: str                     # "conv" or "linear"
    conv: dict                    # stride, padding, groups (conv only)
    a: torch.Tensor               # per output channel: acc -> units of the output step (or logits), > 0
    c: torch.Tensor
    sign: torch.Tensor            # the stored integers are multiplied by it (exact) so that a > 0
    fan_in: int
    pool: int = 1                 # max pooling window applied before rounding
    threshold: float | None = None  # in output steps; None: no activation (logits or residual input)
    levels: int = 0               # 2**bits - 1
    fixed: torch.Tensor | None = None  # float weights of a layer kept out of the memory (not faulted)


@dataclass
class Block:
    """A ResNet basic block: two layers, a shortcut (a layer, or the identity's factor from input
    codes to output steps), and the activation after the sum."""
    first: Layer
    second: Layer
    shortcut: Layer | float
    threshold: float
    levels: int


def _bn_affine(bn: nn.BatchNorm2d | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bn is None:
        return torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    g = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return g, bn.bias.double() - bn.running_mean.double() * g


def _act_step(act: QAct) -> float:
    if act.bits is None:
        raise ValueError("deployed: activations must be quantized (act_bits) to deploy a model")
    return float(act.clip.detach()) / (2 ** act.bits - 1)


def _layer(name: str, qlayer, image: dict, in_step: float, bn, out_step: float | None,
           act: QAct | None, pool: int = 1) -> Layer:
    """acc * in_step * scale is the layer's float output; BN, then the next step, fold onto it.
    A layer outside the memory (``quantize_first_last: false``) keeps its float weights, scale 1."""
    cout = qlayer.weight.shape[0]
    fixed = None if name in image else qlayer.weight.detach().float()
    scale = image[name]["scale"] if fixed is None else torch.ones(cout)
    g, b = _bn_affine(bn, cout)
    bias = qlayer.bias.detach().double() if qlayer.bias is not None else torch.zeros(cout, dtype=torch.float64)
    a = in_step * scale.to(g.device).double().reshape(-1) * g
    c = bias * g + b
    if out_step is not None:
        a, c = a / out_step, c / out_step
    conv = ({"stride": qlayer.stride, "padding": qlayer.padding, "groups": qlayer.groups}
            if isinstance(qlayer, QConv2d) else {})
    sign = torch.where(a < 0, -1.0, 1.0)  # negated weights make every a > 0: pooling may then come first
    return Layer(name, "conv" if conv else "linear", conv, (a * sign).float(), c.float(), sign.float(),
                 qlayer.weight[0].numel(), pool, None if act is None else act.threshold / out_step,
                 0 if act is None else 2 ** act.bits - 1, fixed)


class DeployedNet:
    """The deployed form of a LeNet-5 or ResNet built by ``flatenn.models``, for its memory image."""

    def __init__(self, model: Net, image: dict):
        if set(quant_layers(model)) != set(image):
            raise ValueError(f"image: layers {sorted(image)} do not match the model's {sorted(quant_layers(model))}")
        names = {m: n for n, m in model.named_modules()}
        self.image = image
        self.device = next(model.parameters()).device
        self.stages: list = []
        mods = list(model.body)
        step = 1 / 255  # the first layer sees uint8 pixels scaled to [0, 1]
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, QConv2d) and (m.padding_mode != "zeros" or m.dilation not in (1, (1, 1))):
                raise ValueError(f"deployed: cannot deploy layer {names[m]} (a QConv2d with padding_mode="
                                 f"{m.padding_mode}, dilation={m.dilation}): the integer network pads with zeros, "
                                 "undilated")
            if isinstance(m, (QConv2d, QLinear)):
                bn = mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d) else None
                j = i + 1 + (bn is not None)
                act = mods[j] if j < len(mods) and isinstance(mods[j], QAct) else None
                pool = 1
                if act is not None and j + 1 < len(mods) and isinstance(mods[j + 1], nn.MaxPool2d):
                    pool = mods[j + 1].kernel_size
                    if mods[j + 1].stride not in (pool, (pool, pool)) or mods[j + 1].padding != 0:
                        raise ValueError("deployed: max pooling must use non-overlapping windows")
                out_step = _act_step(act) if act is not None else None
                self.stages.append(_layer(names[m], m, image, step, bn, out_step, act, pool))
                step = out_step if out_step is not None else step
                i = j + (act is not None) + (pool > 1)
            elif isinstance(m, BasicBlock):
                self.stages.append(self._compile_block(m, names, step))
                step = _act_step(m.act2)
                i += 1
            elif isinstance(m, nn.Flatten):
                self.stages.append("flatten")
                i += 1
            elif isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)):
                self.stages.append("mean")
                i += 1
            else:
                raise ValueError(f"deployed: cannot deploy layer {names[m]} (a {type(m).__name__}) here: the integer "
                                 "network computes quantized conv/linear layers with BatchNorm, FATReLU activations "
                                 "and max pooling, ResNet basic blocks, flatten and global average pooling")

    def _compile_block(self, blk: BasicBlock, names: dict, step: float) -> Block:
        s1, s2 = _act_step(blk.act1), _act_step(blk.act2)
        first = _layer(names[blk.conv1], blk.conv1, self.image, step, blk.bn1, s1, blk.act1)
        second = _layer(names[blk.conv2], blk.conv2, self.image, s1, blk.bn2, s2, None)
        if len(blk.shortcut):
            conv, bn = blk.shortcut
            shortcut = _layer(names[conv], conv, self.image, step, bn, s2, None)
        else:
            shortcut = step / s2  # identity: input codes in units of the output step
        return Block(first, second, shortcut, blk.act2.threshold / s2, 2 ** blk.act2.bits - 1)

    def layers(self) -> list[Layer]:
        """The weight layers, in any order."""
        return ([s for s in self.stages if isinstance(s, Layer)]
                + [x for s in self.stages if isinstance(s, Block) for x in (s.first, s.second, s.shortcut)
                   if isinstance(x, Layer)])

    def exact_sums(self) -> bool:
        """Whether every layer's integer sums provably stay below 2**24 (float32 exact in any order)."""
        wmax = 2 ** (next(iter(self.image.values()))["bits"] - 1)
        return (all(layer.fixed is None and 255 * wmax * layer.fan_in < 2 ** 24 for layer in self.layers())
                and "mean" not in self.stages)

    # -- the pass -------------------------------------------------------------------------------------
    def stack(self, ints: list[dict[str, torch.Tensor]]) -> dict[str, tuple]:
        """Per layer, for the K maps: (weights, a, c). The integer weights as one float tensor with
        output channels map-major, signs applied, channels-last for convolutions; the affine map's
        factors repeated K times for convolutions (linear layers broadcast them over maps)."""
        k, out = len(ints), {}
        for layer in self.layers():
            w = (torch.cat([m[layer.name] for m in ints]).to(self.device, torch.float32) if layer.fixed is None
                 else layer.fixed.repeat(k, *[1] * (layer.fixed.dim() - 1)))
            w = w * layer.sign.repeat(k).view(-1, *[1] * (w.dim() - 1))
            if w.dim() == 4:
                out[layer.name] = (w.contiguous(memory_format=torch.channels_last),
                                   layer.a.repeat(k).view(1, -1, 1, 1), layer.c.repeat(k).view(1, -1, 1, 1))
            else:
                out[layer.name] = (w, layer.a, layer.c)
        return out

    @staticmethod
    def _sums(layer: Layer, x: torch.Tensor, w: torch.Tensor, k: int, shared: bool) -> torch.Tensor:
        """Integer sums of one layer for k maps: conv activations are (N, k*C, H, W), linear ones
        (N, k, F); a ``shared`` input (N, ...) is the same for every map."""
        if layer.kind == "conv":
            groups = layer.conv["groups"]
            if shared and groups > 1:  # map-major channels need the input once per map to group by it
                x, shared = x.repeat(1, k, 1, 1), False
            return F.conv2d(x, w, None, layer.conv["stride"], layer.conv["padding"], 1, groups if shared else k * groups)
        if shared:
            return (x @ w.t()).view(x.shape[0], k, -1)
        return torch.einsum("nkf,kof->nko", x, w.view(k, -1, w.shape[-1]))

    @staticmethod
    def _codes(u: torch.Tensor, threshold: float, levels: int) -> torch.Tensor:
        """FATReLU, clipping and rounding on values in units of the output step."""
        return F.threshold(u, threshold, 0.0).round_().clamp_max_(levels)

    @staticmethod
    def _pool(u: torch.Tensor, p: int) -> torch.Tensor:
        if p == 2 and u.shape[-1] % 2 == 0 and u.shape[-2] % 2 == 0:  # 3-4x faster than max_pool2d on NCHW
            pooled = kernels.max_pool_values(u)  # the same values in one pass (contiguous NCHW)
            if pooled is not None:
                return pooled
            return torch.maximum(torch.maximum(u[..., 0::2, 0::2], u[..., 0::2, 1::2]),
                                 torch.maximum(u[..., 1::2, 0::2], u[..., 1::2, 1::2]))
        return F.max_pool2d(u, p)

    def _layer_pass(self, layer: Layer, h: torch.Tensor, w: dict, k: int, shared: bool) -> torch.Tensor:
        weights, a, c = w[layer.name]
        return torch.addcmul(c, self._sums(layer, h, weights, k, shared), a)

    def _block_pass(self, block: Block, h: torch.Tensor, w: dict, k: int) -> torch.Tensor:
        first, sc = block.first, block.shortcut
        mid = self._codes(self._layer_pass(first, h, w, k, False), first.threshold, first.levels)
        u = self._layer_pass(block.second, mid, w, k, False)
        u = u + (h * sc if isinstance(sc, float) else self._layer_pass(sc, h, w, k, False))
        return self._codes(u, block.threshold, block.levels)

    def logits(self, x: torch.Tensor, w: dict[str, tuple], k: int) -> torch.Tensor:
        """(N, k, classes) logits of the uint8 images ``x`` under k weight sets stacked by ``stack``."""
        if x.dtype != torch.uint8:
            raise ValueError("deployed: images must be uint8 (the first layer multiplies integer pixels)")
        h = x.float().contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x.float()
        shared = True  # the input is the same for every map until a layer has run
        for stage in self.stages:
            if stage == "flatten":
                h = h.reshape(h.shape[0], -1) if shared else h.reshape(h.shape[0], k, -1)
            elif stage == "mean":
                h = h.mean((2, 3))
                h = h if shared else h.view(h.shape[0], k, -1)
            elif isinstance(stage, Layer):
                weights, a, c = w[stage.name]
                acc = self._sums(stage, h, weights, k, shared)
                shared = False
                if stage.pool > 1:  # on the integer sums: every a > 0, so the affine map is increasing
                    acc = self._pool(acc, stage.pool)
                u = torch.addcmul(c, acc, a)
                h = u if stage.threshold is None else self._codes(u, stage.threshold, stage.levels)
            else:
                if shared:
                    h = h.repeat(1, k, 1, 1)
                h = self._block_pass(stage, h, w, k)
                shared = False
        return h

    def maps_per_pass(self, cpu: int = MAPS_PER_PASS) -> int:
        """How many fault maps one pass should carry: ``cpu`` (the architecture's measured choice,
        flatenn.registry) on a CPU, MAPS_PER_PASS on a GPU."""
        return cpu if self.device.type == "cpu" else MAPS_PER_PASS

    @torch.inference_mode()
    def correct(self, x: torch.Tensor, y: torch.Tensor, ints: list[dict[str, torch.Tensor]]) -> list[int]:
        """Correctly classified images among (uint8 ``x``, labels ``y``) under each of the K weight sets,
        in chunks of images sized so that a chunk's activations stay in cache."""
        k, w = len(ints), self.stack(ints)
        limit = VALUES_PER_CHUNK if x.device.type == "cpu" else 64 * VALUES_PER_CHUNK  # a GPU wants big launches
        chunk = max(1, limit // max(1, k * self._values_per_image(x)))
        hits = torch.zeros(k, dtype=torch.int64, device=y.device)
        for i in range(0, len(y), chunk):
            hits += (self.logits(x[i:i + chunk], w, k).argmax(-1) == y[i:i + chunk, None]).sum(0)
        return hits.tolist()

    def _values_per_image(self, x: torch.Tensor) -> int:
        """Values of the first layer's output per image and map (the largest activation)."""
        first = next(s for s in self.stages if isinstance(s, Layer))
        return int(x[0].numel() * first.a.numel() / max(1, x.shape[1]))


def check_architecture(arch: str, in_shape, num_classes: int, qcfg: dict, images: int = 64) -> tuple[float, bool]:
    """Build a registered architecture for these inputs, with BatchNorm statistics and signs away
    from their defaults and a FATReLU threshold, deploy it, and compare the deployed network's
    predictions on random images with the training-time model's: (the share that differ, 0 up to
    rounding ties; whether every integer sum provably stays exact in float32). A layer the
    integer network cannot compute is a ValueError naming it."""
    from flatenn import models
    from flatenn.quant import export_memory_image
    from flatenn.sparsity import act_layers, set_threshold

    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = models.build(arch, in_shape, num_classes, qcfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.weight.uniform_(-1.0, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
        for a in act_layers(model):
            a.clip.fill_(2.0)
    set_threshold(model, 0.1)
    model.eval()
    image = export_memory_image(model)
    net = DeployedNet(model, image)
    x = torch.randint(0, 256, (images, *in_shape), dtype=torch.uint8, generator=gen)
    with torch.inference_mode():
        ours = net.logits(x, net.stack([{n: e["q"] for n, e in image.items()}]), 1)[:, 0].argmax(-1)
        theirs = model(x).argmax(1)
    return float((ours != theirs).float().mean()), net.exact_sums()


def check_deployable(archs, dataset: str, qcfg: dict) -> dict[str, bool]:
    """``check_architecture`` for each of ``archs`` on ``dataset``'s images: a ValueError in one
    line naming the architecture and the layer it cannot deploy, or the share that disagree;
    else, per architecture, whether its integer sums stay exact in float32."""
    exact = {}
    from flatenn.catalog import NUM_CLASSES, SHAPES

    for arch in archs:
        try:
            differ, exact[arch] = check_architecture(arch, SHAPES[dataset], NUM_CLASSES[dataset], qcfg)
        except ValueError as e:
            raise ValueError(f"archs: {arch}: {str(e).splitlines()[0]}") from None
        except Exception as e:  # a user's layer that fails inside torch: its error, in one line
            raise ValueError(f"archs: {arch}: does not build and deploy ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
        if differ > 0.05:
            raise ValueError(f"archs: {arch}: the deployed network disagrees with the training-time model on "
                             f"{differ:.0%} of random images")
    return exact
