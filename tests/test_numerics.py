"""flatenn.numerics: one CPU instruction-set level for every library a job runs, or none."""
import os
import subprocess

import pytest

from conftest import PY, run
from flatenn import numerics

HASWELL = "flags\t\t: fpu sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt avx f16c avx2 bmi1 bmi2\n"
SANDY_BRIDGE = "flags\t\t: fpu sse sse2 ssse3 cx16 sse4_1 sse4_2 popcnt avx\n"
ARM = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"

# What a job's libraries report after flatenn's CLI has been imported (as every job imports it).
PROBE = ("import flatenn.cli, torch, numpy, ctypes, glob, os; "
         "from numpy._core._multiarray_umath import __cpu_features__ as f; "
         "blas = ctypes.CDLL(glob.glob(os.path.join(numpy.__path__[0], '..', 'numpy.libs', 'libscipy_openblas*.so'))[0]); "
         "blas.scipy_openblas_get_corename64_.restype = ctypes.c_char_p; "
         "print(torch.backends.cpu.get_cpu_capability(), f['X86_V4'], blas.scipy_openblas_get_corename64_().decode())")


def test_the_pinned_level_needs_avx2_and_fma():
    assert numerics.cpu_has_pinned_level(HASWELL)
    assert not numerics.cpu_has_pinned_level(SANDY_BRIDGE)
    assert not numerics.cpu_has_pinned_level(ARM)
    assert not numerics.cpu_has_pinned_level("")


def test_a_bad_mode_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("FLATENN_NUMERICS", "fast")
    with pytest.raises(ValueError, match="FLATENN_NUMERICS: must be one of pinned, native"):
        numerics.mode()
    res = run([PY, "-m", "flatenn", "runtime", "--benchmarks", "--out", "x"], check=False,
              env={"FLATENN_NUMERICS": "fast"})
    assert res.returncode != 0 and res.stderr.strip().splitlines() == [
        "flatenn: error: FLATENN_NUMERICS: must be one of pinned, native, not 'fast'"]


@pytest.mark.skipif(not numerics.cpu_has_pinned_level(), reason="this CPU lacks AVX2: nothing is pinned")
def test_pinned_jobs_run_avx2_paths_whatever_the_environment_asks():
    """Pinned, a hand-set capability is overridden (a pinned run is the same run everywhere)."""
    for env in ({}, {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Prescott"}):
        out = run([PY, "-c", PROBE], env={"FLATENN_NUMERICS": "pinned", **env}).stdout.split()
        assert out == ["AVX2", "False", "Haswell"]


def probe(code, **env):
    """stdout of ``python -c code`` in this environment without the pins (the test process
    has them: conftest applies them) and with ``env`` added."""
    base = {k: v for k, v in os.environ.items() if k not in numerics.PINS}
    return subprocess.run([PY, "-c", code], env={**base, **env}, capture_output=True, text=True,
                          check=True).stdout


def test_native_leaves_every_library_its_own_choice():
    plain = probe(PROBE.replace("flatenn.cli, ", ""))
    assert probe(PROBE, FLATENN_NUMERICS="native") == plain
    assert "numerics native, as asked" in probe(
        "import flatenn.cli; from flatenn import numerics; print(numerics.describe())", FLATENN_NUMERICS="native")


def test_the_cpu_signature_is_vendor_family_and_model():
    info = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n" * 2
    assert numerics.cpu_signature(info) == "AuthenticAMD 25 17"
    assert numerics.cpu_signature(ARM) == "unknown"
