"""One instruction-set level for every library that picks its float kernels by the CPU.

PyTorch's own kernels (ATen), oneDNN's convolutions, MKL's matrix products, NumPy's float64
exp/log and its BLAS (OpenBLAS) each choose a code path from the CPU they run on, and the paths
round differently: the same seeds give other tables on an AVX2 machine than on an AVX-512 one. Pinned, each library
takes its AVX2 (x86-64-v3) path on every x86-64 CPU that has one, so machines of either kind
give the same numbers. What stays machine-bound is in docs/methods.md (reproducibility).

The variables are read once, when each library starts, so they are set when ``flatenn`` is
imported, before torch or numpy (``flatenn/__init__.py``). ``FLATENN_NUMERICS=native`` (the
config's ``numerics: native``) leaves every library at its own choice. This module must not
import torch or numpy.
"""
from __future__ import annotations

import os
import platform

MODES = ("pinned", "native")
LEVEL = "x86-64-v3 (AVX2, FMA)"
PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",        # PyTorch's vectorized kernels: elementwise, reductions, softmax
    "ONEDNN_MAX_CPU_ISA": "AVX2",         # convolutions (oneDNN's JIT kernels)
    # linear layers: MKL honors no branch but COMPATIBLE (SSE2) on AMD CPUs; asked for AVX2 there it
    # silently runs its own dispatch (MKL_VERBOSE: "CNR:AUTO"), so AVX2 would differ by vendor.
    "MKL_CBWR": "COMPATIBLE,STRICT",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4,AVX512_ICL,AVX512_SPR",  # NumPy's AVX-512 float64 exp/log/power
    # NumPy's BLAS (correlations, covariances in the claims): OpenBLAS picks its kernels by the CPU
    # (SkylakeX on an AMD family 25 model 17, Haswell on family 26 model 2), and they round differently.
    "OPENBLAS_CORETYPE": "Haswell",
}
_REQUIRED_FLAGS = {"avx", "avx2", "fma", "f16c"}  # what every library's AVX2 path executes


def cpu_has_pinned_level(cpuinfo: str | None = None) -> bool:
    """Whether this CPU runs the pinned level: x86-64 with AVX2 and FMA (read from Linux's
    /proc/cpuinfo; elsewhere unknown, so False)."""
    if cpuinfo is None:
        if platform.machine().lower() not in ("x86_64", "amd64"):
            return False
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return _REQUIRED_FLAGS <= set(line.partition(":")[2].split())
    return False


def cpu_signature(cpuinfo: str | None = None) -> str:
    """Vendor, family and model of this CPU (Linux's /proc/cpuinfo), e.g. "GenuineIntel 6 207";
    "unknown" elsewhere. The stored checksums name the CPUs they were verified on."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return "unknown"
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    parts = [fields.get(k) for k in ("vendor_id", "cpu family", "model")]
    return " ".join(parts) if all(parts) else "unknown"


def mode() -> str:
    """The requested mode, ``FLATENN_NUMERICS`` (default pinned)."""
    value = os.environ.get("FLATENN_NUMERICS", "pinned")
    if value not in MODES:
        raise ValueError(f"FLATENN_NUMERICS: must be one of {', '.join(MODES)}, not {value!r}")
    return value


def pinned() -> bool:
    """Whether this process runs pinned: asked for, and the CPU has the level."""
    return mode() == "pinned" and cpu_has_pinned_level()


def apply() -> None:
    """Set the pins in this process's environment (and so its children's), where they hold.
    They override a capability set by hand: a pinned run is the same run everywhere."""
    if pinned():
        os.environ.update(PINS)


def describe() -> str:
    """One line for a job's log: what fixes this process's float results."""
    if pinned():
        return f"numerics pinned to {LEVEL}: " + ", ".join(f"{k}={v}" for k, v in PINS.items())
    why = "as asked (FLATENN_NUMERICS=native)" if mode() == "native" else "this CPU lacks the pinned level"
    return f"numerics native, {why}: results hold on this machine only"
