"""Checks and conversions at the public boundary, shared by every method.

Everything past these functions trusts its inputs: arrays are contiguous, of one
floating dtype (real or complex), finite, and of matching sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class CSR:
    """A square CSR matrix as the Numba kernels take it (column indices as uint32)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    matrix: sp.csr_array | sp.csr_matrix  # the caller's own CSR object when it was one

    @property
    def n(self) -> int:
        return self.indptr.size - 1


_SINGLE = (np.dtype(np.float32), np.dtype(np.complex64))


def linear_operator(shape, matvec, dtype):
    """``scipy.sparse.linalg.LinearOperator(shape, matvec=matvec, dtype=dtype)``.

    ``scipy.sparse.linalg`` is imported where an operator is made or taken, never by
    ``import solvers``: it imports ``scipy.linalg``, about a tenth of a second of every
    command's start, which a solve of a sparse matrix does not use.
    """
    from scipy.sparse.linalg import LinearOperator

    return LinearOperator(shape, matvec=matvec, dtype=dtype)


def working_dtype(*dtypes) -> np.dtype:
    """The dtype a solve works in: complex when any input is complex (a complex ``b``
    with a real ``A`` is solved as the complex system it is, never cast to real), single
    precision when every input is float32 or complex64, double otherwise."""
    dtypes = [np.dtype(d) for d in dtypes]
    single = bool(dtypes) and all(d in _SINGLE for d in dtypes)
    if any(d.kind == "c" for d in dtypes):
        return np.dtype(np.complex64 if single else np.complex128)
    return np.dtype(np.float32 if single else np.float64)


def check_matrix(A, name: str = "A"):
    """Return ``A`` as a :class:`CSR` (sparse or dense input) or a ``LinearOperator``."""
    if sp.issparse(A) or (isinstance(A, np.ndarray) and A.ndim == 2):
        shape = A.shape
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"{name} must be a square matrix; got shape {shape}")
        if not np.issubdtype(A.dtype, np.number) and A.dtype != np.bool_:
            raise TypeError(f"{name} must hold numbers; got dtype {A.dtype}")
        # CSR input is used as it is: rebuilding it would cost more than a small solve.
        matrix = A if sp.issparse(A) and A.format == "csr" else sp.csr_array(A)
        _check_structure(matrix, name)
        dtype = working_dtype(matrix.dtype)
        data = np.ascontiguousarray(matrix.data, dtype=dtype)
        if not np.all(np.isfinite(data)):
            bad = int(np.flatnonzero(~np.isfinite(data))[0])
            row = int(np.searchsorted(matrix.indptr, bad, side="right") - 1)
            raise ValueError(
                f"{name} has a NaN or infinite entry (row {row}, column {matrix.indices[bad]});"
                " all entries must be finite"
            )
        if shape[0] >= 2**32:
            raise ValueError(f"{name} has {shape[0]} rows; at most 2**32 - 1 are supported")
        if matrix.indices.dtype == np.int32:
            indices = np.ascontiguousarray(matrix.indices).view(np.uint32)
        else:
            indices = matrix.indices.astype(np.uint32)
        indptr = np.ascontiguousarray(matrix.indptr)
        if indptr.dtype not in (np.int32, np.int64):
            indptr = indptr.astype(np.int64)
        return CSR(indptr, indices, data, matrix)
    if hasattr(A, "matvec"):  # a LinearOperator, or duck-typed as SciPy accepts
        if not callable(A.matvec):
            raise TypeError(f"{name}.matvec must be callable; got "
                            f"{type(A.matvec).__name__}")
        from scipy.sparse.linalg import aslinearoperator  # see linear_operator

        try:
            operator = aslinearoperator(A)
        except (TypeError, ValueError, AttributeError) as error:
            raise TypeError(f"{name} is not a usable LinearOperator: {error}") from None
        if len(operator.shape) != 2 or operator.shape[0] != operator.shape[1]:
            raise ValueError(f"{name} must be a square operator (expected 2-D); got shape "
                             f"{operator.shape}")
        return operator
    raise TypeError(
        f"{name} must be a SciPy sparse matrix or array, a 2-D ndarray or a LinearOperator;"
        f" got {type(A).__name__}"
    )


def _check_structure(matrix, name: str) -> None:
    """The CSR arrays are consistent, or a ``ValueError``: the kernels index with them
    unchecked, and a column out of range or a decreasing ``indptr`` would read (or
    write) outside the arrays.  O(nnz), a few SpMVs' time."""
    n, nnz = matrix.shape[0], matrix.indices.size
    indptr, indices = matrix.indptr, matrix.indices
    if indptr.ndim != 1 or indptr.size != n + 1:
        raise ValueError(f"{name}.indptr has {indptr.size} entries; a CSR matrix of {n} rows "
                         f"needs {n + 1}")
    if indptr[0] != 0 or indptr[-1] != nnz or matrix.data.size != nnz:
        raise ValueError(f"{name}.indptr runs from {indptr[0]} to {indptr[-1]} over "
                         f"{nnz} column indices and {matrix.data.size} values; it must run "
                         f"from 0 to their common length")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        row = int(np.argmax(steps < 0))
        raise ValueError(f"{name}.indptr decreases at row {row} ({indptr[row]} then "
                         f"{indptr[row + 1]}); it must be nondecreasing")
    if nnz and (indices.min() < 0 or indices.max() >= n):
        bad = int(np.flatnonzero((indices < 0) | (indices >= n))[0])
        row = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise ValueError(f"{name} has column index {indices[bad]} in row {row}; column "
                         f"indices must lie in 0..{n - 1}")


def check_vector(v, n: int, name: str, dtype) -> np.ndarray:
    """A finite 1-D copy of ``v`` of length ``n`` (a copy, so callers' arrays stay untouched)."""
    if np.iscomplexobj(v) and np.dtype(dtype).kind != "c":
        raise TypeError(f"{name} is complex; the solve works in {np.dtype(dtype)} here "
                        "and would drop its imaginary part")
    try:
        array = np.array(v, dtype=dtype, copy=True)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a vector of numbers of length {n}: {error}") from None
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1 or array.size != n:
        raise ValueError(f"{name} must have length {n} to match A; got shape {np.shape(v)}")
    if not np.all(np.isfinite(array)):
        index = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} has a NaN or infinite entry at index {index}; all must be finite")
    return array


def check_tolerances(rtol, atol, dtol):
    """Validate ``rtol``, ``atol`` (numbers >= 0, ``inf`` allowed: any residual meets it,
    as in SciPy) and ``dtol`` (> 1 or None)."""
    for name, value in (("rtol", rtol), ("atol", atol)):
        number = isinstance(value, (int, float, np.integer, np.floating)) \
            and not isinstance(value, bool)
        if not number or np.isnan(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0 (inf allowed); got {value!r}")
    if rtol == 0 and atol == 0:
        raise ValueError("rtol and atol are both 0: no iterate can meet that; give one > 0")
    if dtol is not None and not (np.isscalar(dtol) and dtol > 1):
        raise ValueError(f"dtol must be None or a number > 1; got {dtol!r}")
    return float(rtol), float(atol), (np.inf if dtol is None else float(dtol))


def check_positive_int(value, name: str, default: int) -> int:
    """``value`` as an int >= 1, or ``default`` when it is None."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer not less than 1; got {value!r}")
    return int(value)


def callable_or_none(callback, name: str = "callback"):
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable or None; got {type(callback).__name__}")
    return callback
