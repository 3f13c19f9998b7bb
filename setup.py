"""The optional C extension of flatenn.kernels; everything else is in pyproject.toml.

Without a C compiler the build skips it and the PyTorch code runs, with the same numbers. No FMA
contraction (-ffp-contract=off), so every float operation rounds as PyTorch's does."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("flatenn._kernels", ["src/flatenn/_kernels.c"], optional=True,
                             extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"])])
