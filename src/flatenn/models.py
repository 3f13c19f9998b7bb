"""LeNet-5 and CIFAR-style ResNets (8, 20) built from quantized layers; ``build`` looks any
registered architecture up by name (flatenn.registry)."""
from __future__ import annotations

import json

import torch
from torch import nn

from flatenn import registry
from flatenn.kernels import MaxPool2d
from flatenn.quant import QConv2d, QLinear, set_layout
from flatenn.sparsity import QAct


class Net(nn.Module):
    """Scales uint8 images to [0, 1] (exact 8-bit inputs), then runs ``body``."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        return self.body(x)


def _edge_bits(qcfg: dict) -> int | None:
    return qcfg["weight_bits"] if qcfg.get("quantize_first_last", True) else None


def lenet5(in_shape, num_classes: int, qcfg: dict) -> Net:
    c, h, w = in_shape
    wb, ab = qcfg["weight_bits"], qcfg["act_bits"]
    act = lambda: QAct(ab)  # noqa: E731
    pad2 = 0 if min(h, w) >= 12 else 2  # small inputs (8x8 digits) keep a 2x2 map
    feat_h, feat_w = (h // 2 + 2 * pad2 - 4) // 2, (w // 2 + 2 * pad2 - 4) // 2
    if feat_h < 1 or feat_w < 1:
        raise ValueError(f"arch: lenet5 needs inputs of at least 8x8, got {h}x{w}")
    body = nn.Sequential(
        QConv2d(c, 6, 5, padding=2, bias=False, weight_bits=_edge_bits(qcfg)), nn.BatchNorm2d(6), act(),
        MaxPool2d(2),
        QConv2d(6, 16, 5, padding=pad2, bias=False, weight_bits=wb), nn.BatchNorm2d(16), act(),
        MaxPool2d(2),
        nn.Flatten(),
        QLinear(16 * feat_h * feat_w, 120, weight_bits=wb), act(),
        QLinear(120, 84, weight_bits=wb), act(),
        QLinear(84, num_classes, weight_bits=_edge_bits(qcfg)),
    )
    return Net(body)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, wb: int, ab: int):
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride, 1, bias=False, weight_bits=wb)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = QAct(ab)
        self.conv2 = QConv2d(cout, cout, 3, 1, 1, bias=False, weight_bits=wb)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(QConv2d(cin, cout, 1, stride, bias=False, weight_bits=wb),
                                          nn.BatchNorm2d(cout))
        self.act2 = QAct(ab)

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet(depth: int, in_shape, num_classes: int, qcfg: dict) -> Net:
    """CIFAR-style ResNet of ``depth`` = 6n + 2 layers: three stages of n basic blocks."""
    wb, ab = qcfg["weight_bits"], qcfg["act_bits"]
    blocks = (depth - 2) // 6
    layers: list[nn.Module] = [QConv2d(in_shape[0], 16, 3, 1, 1, bias=False, weight_bits=_edge_bits(qcfg)),
                               nn.BatchNorm2d(16), QAct(ab)]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(blocks):
            layers.append(BasicBlock(cin, cout, stride if i == 0 else 1, wb, ab))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), QLinear(64, num_classes, weight_bits=_edge_bits(qcfg))]
    return set_layout(Net(nn.Sequential(*layers)), torch.channels_last)


def build(name: str, in_shape, num_classes: int, qcfg: dict) -> Net:
    """The registered architecture ``name`` (flatenn.registry) for these inputs."""
    record = registry.architecture(name)
    if min(in_shape[1:]) < record.min_input:
        raise ValueError(f"arch: {name} needs inputs of at least {record.min_input}x{record.min_input}, "
                         f"got {in_shape[1]}x{in_shape[2]}")
    return record.build(tuple(in_shape), num_classes, qcfg)


def save(model: Net, path, *, arch: str, in_shape, num_classes: int, qcfg: dict, variant: dict,
         extra: dict | None = None) -> None:
    from flatenn.io import atomic_torch_save

    def plain(settings):  # JSON's own types only (a job's settings are a dict subclass): safe loaders take them
        return json.loads(json.dumps(settings))

    atomic_torch_save({"arch": arch, "in_shape": list(in_shape), "num_classes": num_classes,
                       "quant": plain(qcfg), "variant": plain(variant), "state_dict": model.state_dict(),
                       **(extra or {})}, path)


def load(path, dev="cpu") -> tuple[Net, dict]:
    """Rebuild a saved model (eval mode, its variant's threshold set) and return its metadata."""
    from flatenn.sparsity import set_threshold

    from flatenn.io import DataError, safe_torch_load

    meta = safe_torch_load(path, "model file", keys=("arch", "in_shape", "num_classes", "quant", "variant",
                                                      "state_dict"))
    try:
        model = build(meta["arch"], meta["in_shape"], meta["num_classes"], meta["quant"])
        model.load_state_dict(meta.pop("state_dict"))
        set_threshold(model, meta["variant"]["threshold"])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: model file does not match its architecture ({str(e).splitlines()[0][:120]})") from None
    return model.to(dev).eval(), meta
