"""Gram-Schmidt kernels of GMRES against a basis stored as the rows of ``V``.

Classical Gram-Schmidt's projections ``h = V^H w``, subtractions ``w -= V^T h`` (with the
second projection in the same pass), and the solution build ``u = V^T y``; each serial
over the whole range or in ``prange`` over the fixed row chunks of ``_csr.py``, with the
same bits either way (the chunks' partial sums are added in chunk order).  Complex
vectors are updated in SIMD pairs (``_simd.py``) with the scalar loop's arithmetic.
"""

import numpy as np
from numba import njit, prange, uint64
from numba.extending import overload

from ._csr import _complex_sum, _complex_vectors, _dot_rows, _spmv_rows
from ._scalar import empty_like_sum, real
from ._simd import (
    complex_lane_sums_4,
    lane_sums_4,
    pairs_add_1,
    pairs_add_4,
    pairs_subtract_1,
    pairs_subtract_4,
    part_dtype,
    vector_loadable,
)


def _pairs_kernel(update_4, update_1):
    """``w (-+)= h[:count] @ V[:count, lo:hi]`` on complex vectors, in SIMD pairs: each
    element meets the rows in the order of the scalar loop (blocks of four, then one by
    one); the last element of an odd range is left to the scalar loop."""

    def kernel(V, count, h, w, lo, hi, part, row_part):
        wf = w.view(part)
        start, blocks = 2 * lo, (hi - lo) // 2
        i = 0
        while i + 4 <= count:
            update_4(wf, V[i].view(row_part), V[i + 1].view(row_part),
                     V[i + 2].view(row_part), V[i + 3].view(row_part),
                     h[i].real, h[i].imag, h[i + 1].real, h[i + 1].imag,
                     h[i + 2].real, h[i + 2].imag, h[i + 3].real, h[i + 3].imag, start, blocks)
            i += 4
        while i < count:
            update_1(wf, V[i].view(row_part), h[i].real, h[i].imag, start, blocks)
            i += 1

    return njit(cache=True, nogil=True, inline="always")(kernel)


_subtract_pairs = _pairs_kernel(pairs_subtract_4, pairs_subtract_1)
_add_pairs = _pairs_kernel(pairs_add_4, pairs_add_1)


def _subtract_range(V, count, h, w, lo, hi):
    """:func:`_subtract_only_rows`, in SIMD pairs for complex vectors (same bits)."""


def _combine_range(V, count, y, u, lo, hi):
    """:func:`_combine_rows`, in SIMD pairs for complex vectors (same bits)."""


def _in_pairs(pairs, rows, clear):
    """The typed implementation of a range update ``(V, count, c, w, lo, hi)``: ``rows``
    for real vectors; for complex ones ``pairs`` (after zeroing ``w[lo:hi]`` if
    ``clear``), with ``rows`` on the last element of an odd range.

    Not inlined: the pairs' loops, inlined into a parallel function, trip the scope
    checks of Numba's parfor pass (a NumbaIRAssumptionWarning printed to the user on the
    first compile).
    """

    def typed(V, count, c, w, lo, hi):
        part, row_part = part_dtype(w), part_dtype(V)
        if part is None or row_part is None or w.ndim != 1 or V.ndim != 2:
            return lambda V, count, c, w, lo, hi: rows(V, count, c, w, lo, hi)

        def in_pairs(V, count, c, w, lo, hi):
            if clear:
                for m in range(uint64(lo), uint64(hi)):
                    w[m] = 0.0
            pairs(V, count, c, w, lo, hi, part, row_part)
            if (hi - lo) % 2:
                rows(V, count, c, w, hi - 1, hi)
        return in_pairs

    return typed


# --- Gram-Schmidt against a basis stored as the rows of V -------------------------------
#
# The basis rows are taken four at a time: one pass over a chunk of w serves four dot
# products (or four updates), so w is loaded once per four rows instead of once per row.
# Each dot product keeps the four partial sums of ``_dot_rows`` in the same order, and
# each update subtracts the rows in the same order, so the blocked kernels give the same
# bits as one row at a time.

def _dot4_rows(a, b, c, d, w, lo, hi):
    """(a^H w, b^H w, c^H w, d^H w) over rows lo:hi, each summed exactly as ``_dot_rows``."""


@overload(_dot4_rows, jit_options={"cache": True, "nogil": True})
def _dot4_rows_typed(a, b, c, d, w, lo, hi):
    if all(map(vector_loadable, (a, b, c, d, w))):
        return _real_dot4_rows
    if _complex_vectors(a, b, c, d, w):
        return _complex_dot4_rows
    return lambda a, b, c, d, w, lo, hi: (_dot_rows(a, w, lo, hi), _dot_rows(b, w, lo, hi),
                                          _dot_rows(c, w, lo, hi), _dot_rows(d, w, lo, hi))


def _real_dot4_rows(a, b, c, d, w, lo, hi):
    blocks = (hi - lo) // 4
    (a0, a1, a2, a3, b0, b1, b2, b3,
     c0, c1, c2, c3, d0, d1, d2, d3) = lane_sums_4(a, b, c, d, w, lo, blocks)
    for i in range(uint64(lo + 4 * blocks), uint64(hi)):
        wi = w[i]
        a0 += a[i] * wi
        b0 += b[i] * wi
        c0 += c[i] * wi
        d0 += d[i] * wi
    return ((a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3), (c0 + c1) + (c2 + c3),
            (d0 + d1) + (d2 + d3))


def _complex_dot4_rows(a, b, c, d, w, lo, hi):
    """The four products of ``_dot_rows``'s complex128 path, reading ``w`` once."""
    af, bf, cf, df, wf = (a.view(np.float64), b.view(np.float64), c.view(np.float64),
                          d.view(np.float64), w.view(np.float64))
    pairs = (hi - lo) // 2
    (a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3,
     e0, e1, e2, e3, f0, f1, f2, f3,
     g0, g1, g2, g3, h0, h1, h2, h3) = complex_lane_sums_4(af, bf, cf, df, wf, 2 * lo, pairs)
    return (_complex_sum(a, w, lo, hi, (a0 + a1) + (a2 + a3), (e0 - e1) + (e2 - e3)),
            _complex_sum(b, w, lo, hi, (b0 + b1) + (b2 + b3), (f0 - f1) + (f2 - f3)),
            _complex_sum(c, w, lo, hi, (c0 + c1) + (c2 + c3), (g0 - g1) + (g2 - g3)),
            _complex_sum(d, w, lo, hi, (d0 + d1) + (d2 + d3), (h0 - h1) + (h2 - h3)))


@njit(cache=True, nogil=True)
def _project_rows(V, count, w, h, lo, hi):
    """h[:count] = conj(V[:count, lo:hi]) @ w[lo:hi]; returns the partial ||w||^2."""
    i = 0
    while i + 4 <= count:
        h[i], h[i + 1], h[i + 2], h[i + 3] = _dot4_rows(V[i], V[i + 1], V[i + 2], V[i + 3],
                                                        w, lo, hi)
        i += 4
    while i < count:
        h[i] = _dot_rows(V[i], w, lo, hi)
        i += 1
    return real(_dot_rows(w, w, lo, hi))


@njit(cache=True, nogil=True)
def _subtract_rows(V, count, h, w, lo, hi):
    """w[lo:hi] -= h[:count] @ V[:count, lo:hi]; returns the partial ||w||^2."""
    _subtract_range(V, count, h, w, lo, hi)
    return real(_dot_rows(w, w, lo, hi))


@njit(cache=True, nogil=True)
def _subtract_only_rows(V, count, h, w, lo, hi):
    i = 0
    while i + 4 <= count:
        h0, h1, h2, h3 = h[i], h[i + 1], h[i + 2], h[i + 3]
        a, b, c, d = V[i], V[i + 1], V[i + 2], V[i + 3]
        for m in range(uint64(lo), uint64(hi)):
            w[m] = (((w[m] - h0 * a[m]) - h1 * b[m]) - h2 * c[m]) - h3 * d[m]
        i += 4
    while i < count:
        hi_ = h[i]
        row = V[i]
        for m in range(uint64(lo), uint64(hi)):
            w[m] -= hi_ * row[m]
        i += 1


@njit(cache=True, nogil=True, inline="always")
def project(V, count, w, h, bounds):
    """h = conj(V[:count]) w (classical Gram-Schmidt coefficients); returns ||w||^2."""
    if bounds is None:
        return _project_rows(V, count, w, h, 0, w.size)
    return _project_chunks(V, count, w, h, bounds)


@njit(cache=True, parallel=True)
def _project_chunks(V, count, w, h, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        return _project_rows(V, count, w, h, 0, bounds[1])
    partial = empty_like_sum(V, (chunks, count + 1))
    for c in prange(chunks):
        partial[c, count] = _project_rows(V, count, w, partial[c], bounds[c], bounds[c + 1])
    return _sum_partials(partial, count, h)


@njit(cache=True, nogil=True)
def _sum_partials(partial, count, h):
    """h[i] = sum over chunks of partial[c, i] in chunk order; returns the last column's."""
    chunks = partial.shape[0]
    ww = 0.0
    for i in range(count + 1):
        total = partial[0, i]
        for c in range(1, chunks):
            total += partial[c, i]
        if i < count:
            h[i] = total
        else:
            ww = real(total)
    return ww


@njit(cache=True, nogil=True, inline="always")
def spmv_project(indptr, indices, data, x, V, count, w, h, bounds):
    """w = A x, then h = V[:count] w; returns ||w||^2.

    The same bits as :func:`spmv_dot` followed by :func:`project` on the same chunks,
    in one pass: each chunk of ``w`` is projected while it is still in cache, and one
    parallel region replaces two.
    """
    if bounds is None:
        _spmv_rows(indptr, indices, data, x, w, 0, indptr.size - 1)
        return _project_rows(V, count, w, h, 0, indptr.size - 1)
    return _spmv_project_chunks(indptr, indices, data, x, V, count, w, h, bounds)


@njit(cache=True, parallel=True)
def _spmv_project_chunks(indptr, indices, data, x, V, count, w, h, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        _spmv_rows(indptr, indices, data, x, w, 0, bounds[1])
        return _project_rows(V, count, w, h, 0, bounds[1])
    partial = empty_like_sum(V, (chunks, count + 1))
    for c in prange(chunks):
        lo, hi = bounds[c], bounds[c + 1]
        _spmv_rows(indptr, indices, data, x, w, lo, hi)
        partial[c, count] = _project_rows(V, count, w, partial[c], lo, hi)
    return _sum_partials(partial, count, h)


@njit(cache=True, nogil=True, inline="always")
def subtract(V, count, h, w, bounds):
    """w -= V[:count]^T h; returns the new ||w||^2."""
    if bounds is None:
        return _subtract_rows(V, count, h, w, 0, w.size)
    return _subtract_chunks(V, count, h, w, bounds)


@njit(cache=True, parallel=True)
def _subtract_chunks(V, count, h, w, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        return _subtract_rows(V, count, h, w, 0, bounds[1])
    partial = np.empty(chunks)
    for c in prange(chunks):
        partial[c] = _subtract_rows(V, count, h, w, bounds[c], bounds[c + 1])
    total = 0.0
    for c in range(chunks):
        total += partial[c]
    return total


@njit(cache=True, nogil=True, inline="always")
def subtract_project(V, count, h, w, bounds):
    """w -= V[:count]^T h, then h = V[:count] w (overwritten); returns the new ||w||^2.

    The same bits as :func:`subtract` followed by :func:`project`, in one pass: the
    second projection of classical Gram-Schmidt reads each chunk of ``V`` and ``w``
    right after the first subtraction, from cache.  ``h`` is read for every chunk before
    any new coefficient is stored (the chunks' partial sums are added up at the end).
    """
    if bounds is None:
        _subtract_range(V, count, h, w, 0, w.size)
        return _project_rows(V, count, w, h, 0, w.size)
    return _subtract_project_chunks(V, count, h, w, bounds)


@njit(cache=True, parallel=True)
def _subtract_project_chunks(V, count, h, w, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        _subtract_range(V, count, h, w, 0, bounds[1])
        return _project_rows(V, count, w, h, 0, bounds[1])
    partial = empty_like_sum(V, (chunks, count + 1))
    for c in prange(chunks):
        lo, hi = bounds[c], bounds[c + 1]
        _subtract_range(V, count, h, w, lo, hi)
        partial[c, count] = _project_rows(V, count, w, partial[c], lo, hi)
    return _sum_partials(partial, count, h)


@njit(cache=True, nogil=True)
def _combine_rows(V, count, y, u, lo, hi):
    for m in range(uint64(lo), uint64(hi)):
        u[m] = 0.0
    i = 0
    while i + 4 <= count:
        y0, y1, y2, y3 = y[i], y[i + 1], y[i + 2], y[i + 3]
        a, b, c, d = V[i], V[i + 1], V[i + 2], V[i + 3]
        for m in range(uint64(lo), uint64(hi)):
            u[m] = (((u[m] + y0 * a[m]) + y1 * b[m]) + y2 * c[m]) + y3 * d[m]
        i += 4
    while i < count:
        yi = y[i]
        row = V[i]
        for m in range(uint64(lo), uint64(hi)):
            u[m] += yi * row[m]
        i += 1


# Registered once both scalar loops are defined: each implementation calls its own.
overload(_subtract_range, jit_options={"cache": True, "nogil": True})(
    _in_pairs(_subtract_pairs, _subtract_only_rows, clear=False))
overload(_combine_range, jit_options={"cache": True, "nogil": True})(
    _in_pairs(_add_pairs, _combine_rows, clear=True))


@njit(cache=True, nogil=True, inline="always")
def combine(V, count, y, u, bounds):
    """u = V[:count]^T y."""
    if bounds is None:
        _combine_range(V, count, y, u, 0, u.size)
    else:
        _combine_chunks(V, count, y, u, bounds)


@njit(cache=True, parallel=True)
def _combine_chunks(V, count, y, u, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        _combine_range(V, count, y, u, 0, bounds[1])
        return
    for c in prange(chunks):
        _combine_range(V, count, y, u, bounds[c], bounds[c + 1])
