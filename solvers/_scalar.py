r"""Scalar arithmetic that holds for real and complex entries alike, inside Numba.

The kernels are written once, for any floating dtype: Numba compiles one version per
dtype, and these helpers make each version the right one.  On real arguments they are
the identity (``conj``, ``real``) or the plain square (``abs2``), so a real solve runs
the very instructions it would without them; on complex arguments they give the
Hermitian inner product :math:`x^H y = \sum_i \bar x_i y_i` its conjugates and norms
their moduli.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload


def accumulator_dtype(*dtypes) -> np.dtype:
    """The dtype sums are kept in: complex128 if any of ``dtypes`` is complex, else
    float64 (float32 data is summed in float64, as the kernels' scalars are)."""
    if any(np.dtype(d).kind == "c" for d in dtypes):
        return np.dtype(np.complex128)
    return np.dtype(np.float64)


def _is_complex(value) -> bool:
    if isinstance(value, types.Array):
        value = value.dtype
    return isinstance(value, types.Complex)


def conj(z):
    """The complex conjugate of ``z`` (``z`` itself when it is real)."""
    return np.conj(z)


def real(z):
    """The real part of ``z``."""
    return np.real(z)


def abs2(z):
    """``|z|^2``: ``z * z`` for real ``z``."""
    return abs(z) ** 2


def empty_like_sum(array, shape):
    """An uninitialised array of shape ``shape`` in the dtype that sums of ``array``'s
    entries take.  Not zeros: in a parallel function Numba makes ``np.zeros`` a parallel
    loop of its own, one more region (and barrier) per call where it does not fuse."""
    return np.empty(shape, dtype=accumulator_dtype(array.dtype))


@overload(conj, inline="always")
def _conj(z):
    if _is_complex(z):
        return lambda z: z.conjugate()
    return lambda z: z


@overload(real, inline="always")
def _real(z):
    if _is_complex(z):
        return lambda z: z.real
    return lambda z: z


@overload(abs2, inline="always")
def _abs2(z):
    if _is_complex(z):
        return lambda z: z.real * z.real + z.imag * z.imag
    return lambda z: z * z


@overload(empty_like_sum, inline="always")
def _empty_like_sum(array, shape):
    dtype = np.complex128 if _is_complex(array) else np.float64
    return lambda array, shape: np.empty(shape, dtype=dtype)
