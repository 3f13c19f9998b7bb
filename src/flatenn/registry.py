"""What users extend, as records in one place: fault models, architectures, activation-sparsity
penalties and datasets (torch-free).

The config schema's allowed names, the catalog's facts (depth), figure labels and the sharpness
metrics all read these records, so a new fault model or architecture is one ``register`` call
(in a file a config names under ``extensions``; docs/extending.md). Snakemake validates configs
with this module, so it must not import torch: builders import it when called.
"""
from __future__ import annotations

import os
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class FaultModel:
    """One fault model of the weight memory.

    ``apply(u, masks, width)``: the faulty unsigned bit patterns of the stored ``width``-bit
    patterns ``u`` where ``masks`` has the faulty cells set: a pure bitwise function of the
    operators &, |, ^, ~, <<, >>, elementwise (it runs on int64 torch tensors and NumPy arrays).
    Every faulty cell of one word is in its one mask, so the model says how cells whose effects
    overlap combine. Its results must stay inside the word (below 2**width): ``check_width``
    tries every pattern before any job runs, and a campaign stops with one line naming the model
    where one does not. ``bits(width)``: the bit positions it can hit in a ``width``-bit weight
    (None: all); its rate is the fraction of those cells that are faulty (``rate_unit``).
    ``label``: its name in figures and tables."""

    name: str
    label: str
    apply: Callable
    bits: Callable[[int], tuple[int, ...]] | None = None
    rate_unit: str = "fraction of stored weight bits"

    def eligible(self, width: int) -> tuple[int, ...]:
        """The bit positions (0 = LSB) a fault can hit in a ``width``-bit weight."""
        return tuple(range(width)) if self.bits is None else tuple(sorted(set(self.bits(width))))

    def check_width(self, width: int) -> None:
        """Every ``width``-bit pattern with each eligible cell faulty alone and with all of them
        faulty, through ``apply`` (on NumPy int64 arrays: no torch at config time): a ValueError
        naming the model where a result leaves the word."""
        import numpy as np

        u = np.arange(1 << width, dtype=np.int64)
        cells = self.eligible(width)
        for m in [1 << b for b in cells] + [sum(1 << b for b in cells)]:
            f = np.asarray(self.apply(u, np.full_like(u, m), width))
            if ((f < 0) | (f >= (1 << width))).any():
                raise ValueError(f"fault model {self.name}: apply returned a pattern outside the {width}-bit word "
                                 f"(keep its effects inside: mask with (1 << width) - 1)")


@dataclass(frozen=True)
class Architecture:
    """One network architecture.

    ``build(in_shape, num_classes, qcfg)``: a ``flatenn.models.Net`` of quantized layers (QConv2d,
    QLinear, BatchNorm2d, QAct, MaxPool2d, BasicBlock, Flatten, AdaptiveAvgPool2d(1)): the
    sequences the deployed integer network computes, checked by ``flatenn check-config``.
    ``depth``: weight layers on the main path (the x axis of the depth figures)."""

    name: str
    build: Callable
    depth: int
    min_input: int = 1  # the smallest image side it accepts (a clear error before training)
    maps_per_pass_cpu: int = 16  # fault maps one deployed pass carries on a CPU (results do not depend on it)


@dataclass(frozen=True)
class Penalty:
    """An activation-sparsity penalty (a variant's ``penalty``): ``per_layer(a)`` maps one activation
    layer's outputs, flattened to (batch, units) and >= 0, to a scalar tensor; the training loss
    adds alpha times its sum over the network's activation layers."""

    name: str
    per_layer: Callable
    # optional: the same penalty from the layer's sum and count alone, (total, count) -> scalar; the
    # quantizer then sums in its own pass and takes the gradient in its backward's (sparsity.FatPact)
    from_sum: Callable | None = None


@dataclass(frozen=True)
class DatasetSource:
    """A dataset: ``load(root, seed)`` returns (train, test) as ``flatenn.data.Split`` (uint8 images
    (N, C, H, W), int64 labels below ``num_classes``), ``shape`` is (C, H, W). ``default_root``: where
    it looks when the config gives none; ``needs_root``: a config without a root is an error."""

    name: str
    shape: tuple
    num_classes: int
    load: Callable
    default_root: str | None = None
    needs_root: bool = False


FAULTS: dict[str, FaultModel] = {}
ARCHITECTURES: dict[str, Architecture] = {}
PENALTIES: dict[str, Penalty] = {}
DATASETS: dict[str, DatasetSource] = {}


def _add(table: dict, record, kind: str):
    if not record.name.isidentifier():
        raise ValueError(f"name: {record.name!r} must be an identifier (it names files and table columns)")
    if table.get(record.name, record) != record:
        raise ValueError(f"name: {kind} {record.name!r} is already registered")
    table[record.name] = record
    return record


def register_fault(record: FaultModel) -> FaultModel:
    """Add a fault model (a name is registered once; its apply takes the word's width)."""
    import inspect

    try:
        inspect.signature(record.apply).bind(0, 0, 8)
    except (TypeError, ValueError):
        raise ValueError(f"apply: fault model {record.name!r} must take (u, masks, width)") from None
    return _add(FAULTS, record, "fault model")


def register_architecture(record: Architecture) -> Architecture:
    """Add an architecture (a name is registered once)."""
    return _add(ARCHITECTURES, record, "architecture")


def register_penalty(record: Penalty) -> Penalty:
    """Add an activation-sparsity penalty (a name is registered once)."""
    return _add(PENALTIES, record, "penalty")


def register_dataset(record: DatasetSource) -> DatasetSource:
    """Add a dataset (a name is registered once)."""
    return _add(DATASETS, record, "dataset")


def _get(table: dict, name, message: str):
    """``table[name]``; anything else is a ValueError: ``message`` with {name!r} and {names}."""
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(message.format(name=repr(name), names=", ".join(table))) from None


def penalty(name: str) -> Penalty:
    """The registered penalty ``name``; anything else is a ValueError naming it."""
    return _get(PENALTIES, name, "penalty: unknown kind {name} (one of {names})")


def dataset(name: str) -> DatasetSource:
    """The registered dataset ``name``; anything else is a ValueError naming it."""
    return _get(DATASETS, name, "dataset.name: unknown dataset {name} (known: {names})")


def fault(name: str) -> FaultModel:
    """The registered fault model ``name``; anything else is a ValueError naming it."""
    return _get(FAULTS, name, "fault: unknown fault {name} (one of {names})")


def architecture(name: str) -> Architecture:
    """The registered architecture ``name``; anything else is a ValueError naming it."""
    return _get(ARCHITECTURES, name, "arch: unknown architecture {name} (known: {names})")


ENV = "FLATENN_EXTENSIONS"  # the workflow passes its extension files to every job through this


def load_extensions(paths=None) -> list[str]:
    """Run each extension file once (``paths``, else the files named in $FLATENN_EXTENSIONS),
    registering its records; returns their absolute paths. A missing file is a one-line error."""
    if paths is None:
        paths = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    done = []
    for p in paths:
        path = Path(p).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"extensions: no extension file at {p}")
        if str(path) not in _LOADED:
            runpy.run_path(str(path), run_name=f"flatenn_extension_{path.stem}")
            _LOADED.add(str(path))
        done.append(str(path))
    return done


_LOADED: set[str] = set()


# ---------------------------------------------------------------- the built-in records

register_fault(FaultModel("bitflip", "bit-flip", lambda u, m, width: u ^ m))
register_fault(FaultModel("sa0", "stuck-at-0", lambda u, m, width: u & ~m))  # a stuck cell forces its bit
register_fault(FaultModel("sa1", "stuck-at-1", lambda u, m, width: u | m))


@dataclass(frozen=True)
class Later:
    """A built-in's code, named, not imported: ``module.function(*bound, *args)`` when called. The
    registry is torch-free and imports no module that reads it (models, data), so the built-ins
    name their builders and loaders and bind them on first use."""

    module: str
    function: str
    bound: tuple = ()

    def __call__(self, *args, **kwargs):
        import importlib

        return getattr(importlib.import_module(self.module), self.function)(*self.bound, *args, **kwargs)


_lenet5 = Later("flatenn.models", "lenet5")


def _resnet(depth: int) -> Later:
    return Later("flatenn.models", "resnet", (depth,))


# Maps per pass, measured on the 2-core machine, 1 thread: LeNet-5 trials cost 0.21-0.33 of a
# training-time clean pass at 8 to 32 maps per pass, 0.43 with one map. ResNets gain little and lose
# at 16 (ms per map, 1,000 28x28 images, 1/2/4/8/16 maps: ResNet-20 1069/904/874/1138/1296,
# ResNet-8 351/320/343/403/393): they take 4. `make bench` measures a new architecture's.
register_architecture(Architecture("lenet5", _lenet5, depth=5, min_input=8))
register_architecture(Architecture("resnet8", _resnet(8), depth=8, maps_per_pass_cpu=4))
register_architecture(Architecture("resnet20", _resnet(20), depth=20, maps_per_pass_cpu=4))

# Activations are >= 0 (ReLU or FATReLU), so the L1 norm is their sum: no abs() to run; the mean as
# sum / count (the same float): mean()'s backward writes out the expanded gradient.
register_penalty(Penalty("l1", lambda a: a.sum() / a.numel(), from_sum=lambda total, count: total / count))
# (||a||_1 / ||a||_2)^2 / dim lies in (0, 1]; small means sparse.
register_penalty(Penalty("hoyer", lambda a: (a.sum(1).pow(2) / a.pow(2).sum(1).clamp_min(1e-12)).mean() / a.shape[1]))


def _data(loader: str) -> Later:
    return Later("flatenn.data", loader)


register_dataset(DatasetSource("fashion_mnist", (1, 28, 28), 10, _data("fashion_mnist_source"),
                               default_root="/usr/share/datasets/fashion-mnist"))  # Debian's dataset-fashion-mnist
register_dataset(DatasetSource("digits", (1, 8, 8), 10, _data("digits_source")))  # scikit-learn's, no root
register_dataset(DatasetSource("cifar10", (3, 32, 32), 10, _data("cifar10_source"), needs_root=True))
BUILT_IN = frozenset(FAULTS) | frozenset(ARCHITECTURES)  # tested by the test suite; the rest are checked at start
