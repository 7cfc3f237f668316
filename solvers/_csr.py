"""Numba kernels on CSR matrices and vectors, shared by every Krylov method (GMRES's
Gram-Schmidt kernels are in ``_gram_schmidt.py``, the SIMD loops in ``_simd.py``).

The matrix is held as ``(indptr, indices, data)`` with ``indices`` viewed as
``uint32``: unsigned 32-bit column indices halve the index traffic of int64 and
let the compiler drop the sign handling of the gather.  Loop counters are
``uint64`` for the same reason: Numba wraps negative signed indices around, and
that test on every load of a short CSR row costs about a third of an SpMV.

The method loops in ``cg.py`` and ``gmres.py`` are cached by Numba with these kernels
compiled into them; ``_cache.py`` expires those entries when the package changes.

Every kernel takes real or complex entries (one Numba version per dtype): inner
products are Hermitian, :math:`x^H y`, and norms sum moduli (``_scalar.py``).  A real
matrix may multiply complex vectors, so a real ``A`` with a complex ``b`` is solved
without a complex copy of ``A``.

Reductions over vectors keep four partial sums (elements ``i mod 4``), added in a
fixed order: one running sum would wait on the adder's latency at every element.

Parallel work is split into *fixed row chunks* chosen from the matrix alone
(``row_chunks``), never from the number of threads.  Each chunk reduces its own
partial sums serially and the partials are added in chunk order, so a solve gives
the same bits on one thread or two.  Small problems get a single chunk and never
enter a parallel region, whose start-up cost would dominate; they pass ``bounds=None``
and so never compile one either (Numba's parallel compilation takes seconds).
"""

import numpy as np
from numba import njit, prange, types, uint64
from numba.extending import overload

from ._scalar import abs2, conj, empty_like_sum, real
from ._simd import complex_lane_sums_1, lane_sums_1, part_dtype, vector_loadable

# A chunk must be worth a thread start (about 1-2 microseconds here).
_ROWS_PER_CHUNK = 4096
_MAX_CHUNKS = 64


def row_chunks(indptr, rows_per_chunk=_ROWS_PER_CHUNK):
    """Chunk boundaries that split the rows into pieces of about equal work.

    Parameters
    ----------
    indptr : ndarray of int
        CSR row pointer of an ``n x n`` matrix.
    rows_per_chunk : int
        Smallest chunk worth a thread; methods with more work per row (GMRES's
        Gram-Schmidt) pass a smaller one.

    Returns
    -------
    ndarray of int64
        ``bounds`` with ``bounds[0] = 0``, ``bounds[-1] = n``; chunk ``c`` is rows
        ``bounds[c]:bounds[c+1]``.  Work per row counts its nonzeros plus a constant
        for the vector updates.
    """
    n = indptr.size - 1
    chunks = int(min(_MAX_CHUNKS, max(1, n // rows_per_chunk)))
    if chunks == 1:
        return np.array([0, n], dtype=np.int64)
    work = indptr.astype(np.float64) + 4.0 * np.arange(n + 1)
    targets = np.linspace(0.0, work[-1], chunks + 1)
    bounds = np.searchsorted(work, targets).astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.unique(bounds)



def chunk_bounds(indptr, rows_per_chunk=_ROWS_PER_CHUNK):
    """:func:`row_chunks` as the drivers below take it: ``None`` when there is one chunk.

    ``None`` selects the serial code when a loop is compiled, so a small problem
    never compiles (nor enters) a parallel region.
    """
    bounds = row_chunks(indptr, rows_per_chunk)
    return None if bounds.size <= 2 else bounds


# --- serial pieces over a row range ------------------------------------------------

# The SpMV loops carry the position ``k`` from one row to the next: one load of
# ``indptr`` per row instead of two, and a row of a stencil matrix (5 entries) is
# one block of four products and one left over.  The products of a row are still
# added one after another, in storage order.
# The row loop is written out in each kernel on purpose: a shared helper returning
# (sum, k) measured 2.5x slower here, as Numba did not keep k in a register across it.

@njit(cache=True, nogil=True)
def _spmv_rows(indptr, indices, data, x, y, lo, hi):
    """y[lo:hi] = A[lo:hi] @ x; returns Re(sum_i conj(x_i) y_i) over the range."""
    dot = 0.0
    k = uint64(indptr[lo])
    for i in range(uint64(lo), uint64(hi)):
        end = uint64(indptr[i + uint64(1)])
        s = 0.0
        while k + uint64(4) <= end:
            s += data[k] * x[indices[k]]
            s += data[k + uint64(1)] * x[indices[k + uint64(1)]]
            s += data[k + uint64(2)] * x[indices[k + uint64(2)]]
            s += data[k + uint64(3)] * x[indices[k + uint64(3)]]
            k += uint64(4)
        while k < end:
            s += data[k] * x[indices[k]]
            k += uint64(1)
        y[i] = s
        dot += real(conj(x[i]) * s)
    return dot


@njit(cache=True, nogil=True)
def _residual_rows(indptr, indices, data, x, b, r, lo, hi):
    """r[lo:hi] = b - A x over the range; returns the partial sum of |r_i|^2."""
    rr = 0.0
    k = uint64(indptr[lo])
    for i in range(uint64(lo), uint64(hi)):
        end = uint64(indptr[i + uint64(1)])
        s = 0.0
        while k + uint64(4) <= end:
            s += data[k] * x[indices[k]]
            s += data[k + uint64(1)] * x[indices[k + uint64(1)]]
            s += data[k + uint64(2)] * x[indices[k + uint64(2)]]
            s += data[k + uint64(3)] * x[indices[k + uint64(3)]]
            k += uint64(4)
        while k < end:
            s += data[k] * x[indices[k]]
            k += uint64(1)
        s = b[i] - s
        r[i] = s
        rr += abs2(s)
    return rr


@njit(cache=True, nogil=True)
def _cg_update_rows(alpha, p, q, x, r, dinv, lo, hi):
    """x += alpha p, r -= alpha q over the range.

    Returns the partial sums of ``r^H r`` and ``Re(r^H z)`` with ``z = dinv * r``
    (Jacobi) when ``dinv`` is non-empty, else ``r^H z = r^H r``.
    """
    jacobi = dinv.size > 0
    rr0 = rr1 = rr2 = rr3 = 0.0
    rz0 = rz1 = rz2 = rz3 = 0.0
    blocks = (hi - lo) // 4
    for block in range(blocks):
        i = uint64(lo + 4 * block)
        i1, i2, i3 = i + uint64(1), i + uint64(2), i + uint64(3)
        r0 = r[i] - alpha * q[i]
        r1 = r[i1] - alpha * q[i1]
        r2 = r[i2] - alpha * q[i2]
        r3 = r[i3] - alpha * q[i3]
        x[i] += alpha * p[i]
        x[i1] += alpha * p[i1]
        x[i2] += alpha * p[i2]
        x[i3] += alpha * p[i3]
        r[i], r[i1], r[i2], r[i3] = r0, r1, r2, r3
        rr0 += abs2(r0)
        rr1 += abs2(r1)
        rr2 += abs2(r2)
        rr3 += abs2(r3)
        if jacobi:
            rz0 += real(abs2(r0) * dinv[i])
            rz1 += real(abs2(r1) * dinv[i1])
            rz2 += real(abs2(r2) * dinv[i2])
            rz3 += real(abs2(r3) * dinv[i3])
    for i in range(uint64(lo + 4 * blocks), uint64(hi)):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr0 += abs2(ri)
        if jacobi:
            rz0 += real(abs2(ri) * dinv[i])
    rr = (rr0 + rr1) + (rr2 + rr3)
    rz = (rz0 + rz1) + (rz2 + rz3) if jacobi else rr
    return rr, rz


@njit(cache=True, nogil=True)
def _cg_direction_rows(beta, r, z, dinv, p, lo, hi):
    """p = z + beta p; z is r (no preconditioner), dinv * r (Jacobi) or z itself."""
    if z.size > 0:
        for i in range(uint64(lo), uint64(hi)):
            p[i] = z[i] + beta * p[i]
    elif dinv.size > 0:
        for i in range(uint64(lo), uint64(hi)):
            p[i] = dinv[i] * r[i] + beta * p[i]
    else:
        for i in range(uint64(lo), uint64(hi)):
            p[i] = r[i] + beta * p[i]


# Complex entries: x^H y = sum (xr yr + xi yi) + i sum (xr yi - xi yr).  Viewed as float64
# arrays of interleaved parts, the real part is the real dot product of the views and the
# imaginary part the dot product of x's view with y's, its parts exchanged in pairs, with
# the odd lanes (xi yr) subtracted: both in SIMD registers, in one pass.  Lane l of the
# views sums the parts of elements lo + 2 b + l // 2.


def _complex_vectors(*arrays) -> bool:
    return all(isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
               and array.dtype == types.complex128 for array in arrays)


@njit(cache=True, nogil=True, inline="always")
def _complex_sum(x, y, lo, hi, re, im):
    """``x[lo:hi]^H y[lo:hi]`` from the sums of its pairs ``re``, ``im`` (the views' lane
    sums) and its last element when the count is odd."""
    if (hi - lo) % 2:
        i = hi - 1
        re += x[i].real * y[i].real + x[i].imag * y[i].imag
        im += x[i].real * y[i].imag - x[i].imag * y[i].real
    return complex(re, im)


def _dot_rows(x, y, lo, hi):
    """x[lo:hi]^H y[lo:hi] as four partial sums (elements ``i - lo mod 4``), then
    ``(s0 + s1) + (s2 + s3)``; in SIMD registers for real entries.  Complex128 entries:
    the four lanes of their float64 views (see above), ``(r0 + r1) + (r2 + r3)`` and
    ``(i0 - i1) + (i2 - i3)``, then the last element of an odd count."""


@overload(_dot_rows, jit_options={"cache": True, "nogil": True})
def _dot_rows_typed(x, y, lo, hi):
    if vector_loadable(x) and vector_loadable(y):
        def real_dot(x, y, lo, hi):
            blocks = (hi - lo) // 4
            s0, s1, s2, s3 = lane_sums_1(x, y, lo, blocks)
            for i in range(uint64(lo + 4 * blocks), uint64(hi)):
                s0 += x[i] * y[i]
            return (s0 + s1) + (s2 + s3)
        return real_dot
    if _complex_vectors(x, y):
        def viewed_dot(x, y, lo, hi):
            xf, yf = x.view(np.float64), y.view(np.float64)
            pairs = (hi - lo) // 2
            r0, r1, r2, r3, i0, i1, i2, i3 = complex_lane_sums_1(xf, yf, 2 * lo, pairs)
            return _complex_sum(x, y, lo, hi, (r0 + r1) + (r2 + r3), (i0 - i1) + (i2 - i3))
        return viewed_dot

    def complex_dot(x, y, lo, hi):
        s0 = s1 = s2 = s3 = 0j
        blocks = (hi - lo) // 4
        for block in range(blocks):
            i = uint64(lo + 4 * block)
            s0 += conj(x[i]) * y[i]
            s1 += conj(x[i + uint64(1)]) * y[i + uint64(1)]
            s2 += conj(x[i + uint64(2)]) * y[i + uint64(2)]
            s3 += conj(x[i + uint64(3)]) * y[i + uint64(3)]
        for i in range(uint64(lo + 4 * blocks), uint64(hi)):
            s0 += conj(x[i]) * y[i]
        return (s0 + s1) + (s2 + s3)
    return complex_dot


# Updates with real coefficients are real updates of the views: ``alpha (ur, ui)`` is
# ``(alpha ur, alpha ui)``, two elements of a real kernel.  Numba's ``alpha * u`` would
# multiply by ``alpha + 0i``: the same numbers, but for the sign of zero parts and for
# infinite ones.  The sums of squares these kernels return are then those of the views'
# parts: four partial sums over the parts (lane ``j mod 4`` of part ``j`` from ``2 lo``).


def _real_factors(*values) -> bool:
    return all(isinstance(value, types.Float) for value in values)


def _axpby_range(alpha, u, beta, y, lo, hi):
    """:func:`_axpby_rows`; for complex vectors and real factors, on their views."""


@overload(_axpby_range, inline="always")
def _axpby_range_typed(alpha, u, beta, y, lo, hi):
    part, y_part = part_dtype(u), part_dtype(y)
    if part is None or y_part is None or not _real_factors(alpha, beta):
        return lambda alpha, u, beta, y, lo, hi: _axpby_rows(alpha, u, beta, y, lo, hi)
    return lambda alpha, u, beta, y, lo, hi: _axpby_rows(
        alpha, u.view(part), beta, y.view(y_part), 2 * lo, 2 * hi)


def _cg_update_range(alpha, p, q, x, r, dinv, lo, hi):
    """:func:`_cg_update_rows`; for complex vectors, a real ``alpha`` and no Jacobi, on
    their views (``r^H r`` then sums the squares of the parts, as above)."""


@overload(_cg_update_range, inline="always")
def _cg_update_range_typed(alpha, p, q, x, r, dinv, lo, hi):
    parts = tuple(map(part_dtype, (p, q, x, r)))
    if None in parts or not _real_factors(alpha):
        return lambda alpha, p, q, x, r, dinv, lo, hi: _cg_update_rows(alpha, p, q, x, r,
                                                                       dinv, lo, hi)
    pp, qp, xp, rp = parts

    def viewed(alpha, p, q, x, r, dinv, lo, hi):
        if dinv.size > 0:
            return _cg_update_rows(alpha, p, q, x, r, dinv, lo, hi)
        return _cg_update_rows(alpha, p.view(pp), q.view(qp), x.view(xp), r.view(rp),
                               dinv, 2 * lo, 2 * hi)
    return viewed


def _cg_direction_range(beta, r, z, dinv, p, lo, hi):
    """:func:`_cg_direction_rows`; for complex vectors, a real ``beta`` and no Jacobi, on
    their views."""


@overload(_cg_direction_range, inline="always")
def _cg_direction_range_typed(beta, r, z, dinv, p, lo, hi):
    parts = tuple(map(part_dtype, (r, z, p)))
    if None in parts or not _real_factors(beta):
        return lambda beta, r, z, dinv, p, lo, hi: _cg_direction_rows(beta, r, z, dinv, p,
                                                                      lo, hi)
    rp, zp, pp = parts

    def viewed(beta, r, z, dinv, p, lo, hi):
        if dinv.size > 0:
            _cg_direction_rows(beta, r, z, dinv, p, lo, hi)
        else:
            rf = r.view(rp)  # its empty slice: no Jacobi, in the views' dtype
            _cg_direction_rows(beta, rf, z.view(zp), rf[:0], p.view(pp), 2 * lo, 2 * hi)
    return viewed


# --- drivers: the whole range serially, or prange over fixed chunks --------------------
#
# Each public driver takes ``bounds``: ``None`` for one chunk (see :func:`chunk_bounds`),
# the array of :func:`row_chunks` otherwise.  The drivers are inlined into their callers
# (``inline="always"``), where Numba decides ``bounds is None`` from the argument's type
# and prunes the other branch: a loop called with ``None`` never compiles the
# ``parallel=True`` functions ``_*_chunks``, whose compilation costs seconds, and the
# drivers themselves cost no compilation of their own.  Both paths give the same bits on
# one chunk: the chunked versions run the same serial piece over ``0 .. n`` then.


@njit(cache=True, nogil=True, inline="always")
def spmv_dot(indptr, indices, data, x, y, bounds):
    """y = A x and return x . y (the fused product CG needs for p . A p)."""
    if bounds is None:
        return _spmv_rows(indptr, indices, data, x, y, 0, indptr.size - 1)
    return _spmv_dot_chunks(indptr, indices, data, x, y, bounds)


@njit(cache=True, parallel=True)
def _spmv_dot_chunks(indptr, indices, data, x, y, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        return _spmv_rows(indptr, indices, data, x, y, 0, bounds[1])
    partial = np.empty(chunks)
    for c in prange(chunks):
        partial[c] = _spmv_rows(indptr, indices, data, x, y, bounds[c], bounds[c + 1])
    total = 0.0
    for c in range(chunks):
        total += partial[c]
    return total


@njit(cache=True, nogil=True, inline="always")
def residual(indptr, indices, data, x, b, r, bounds):
    """r = b - A x and return ||r||_2^2."""
    if bounds is None:
        return _residual_rows(indptr, indices, data, x, b, r, 0, indptr.size - 1)
    return _residual_chunks(indptr, indices, data, x, b, r, bounds)


@njit(cache=True, parallel=True)
def _residual_chunks(indptr, indices, data, x, b, r, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        return _residual_rows(indptr, indices, data, x, b, r, 0, bounds[1])
    partial = np.empty(chunks)
    for c in prange(chunks):
        partial[c] = _residual_rows(indptr, indices, data, x, b, r, bounds[c], bounds[c + 1])
    total = 0.0
    for c in range(chunks):
        total += partial[c]
    return total


@njit(cache=True, nogil=True, inline="always")
def cg_update(alpha, p, q, x, r, dinv, bounds):
    """x += alpha p; r -= alpha q; return (r.r, r.z) with Jacobi's z fused in."""
    if bounds is None:
        return _cg_update_range(alpha, p, q, x, r, dinv, 0, r.size)
    return _cg_update_chunks(alpha, p, q, x, r, dinv, bounds)


@njit(cache=True, parallel=True)
def _cg_update_chunks(alpha, p, q, x, r, dinv, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        return _cg_update_range(alpha, p, q, x, r, dinv, 0, bounds[1])
    partial = np.empty((chunks, 2))
    for c in prange(chunks):
        rr, rz = _cg_update_range(alpha, p, q, x, r, dinv, bounds[c], bounds[c + 1])
        partial[c, 0] = rr
        partial[c, 1] = rz
    rr = 0.0
    rz = 0.0
    for c in range(chunks):
        rr += partial[c, 0]
        rz += partial[c, 1]
    return rr, rz


@njit(cache=True, nogil=True, inline="always")
def cg_direction(beta, r, z, dinv, p, bounds):
    """p = z + beta p, where z is implied by r for no preconditioner or Jacobi."""
    if bounds is None:
        _cg_direction_range(beta, r, z, dinv, p, 0, p.size)
    else:
        _cg_direction_chunks(beta, r, z, dinv, p, bounds)


@njit(cache=True, parallel=True)
def _cg_direction_chunks(beta, r, z, dinv, p, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        _cg_direction_range(beta, r, z, dinv, p, 0, bounds[1])
        return
    for c in prange(chunks):
        _cg_direction_range(beta, r, z, dinv, p, bounds[c], bounds[c + 1])


@njit(cache=True, nogil=True, inline="always")
def dot(x, y, bounds):
    """x^H y with the same chunked, order-fixed summation as the fused kernels."""
    if bounds is None:
        return _dot_rows(x, y, 0, x.size)
    return _dot_chunks(x, y, bounds)


@njit(cache=True, parallel=True)
def _dot_chunks(x, y, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        return _dot_rows(x, y, 0, bounds[1])
    partial = empty_like_sum(x, chunks)
    for c in prange(chunks):
        partial[c] = _dot_rows(x, y, bounds[c], bounds[c + 1])
    total = 0.0
    for c in range(chunks):
        total += partial[c]
    return total


@njit(cache=True, nogil=True)
def _axpby_rows(alpha, u, beta, y, lo, hi):
    if beta == 0.0:  # y may hold garbage (even NaN) that 0 * y would keep
        for m in range(uint64(lo), uint64(hi)):
            y[m] = alpha * u[m]
    else:
        for m in range(uint64(lo), uint64(hi)):
            y[m] = alpha * u[m] + beta * y[m]


@njit(cache=True, nogil=True, inline="always")
def axpby(alpha, u, beta, y, bounds):
    """y = alpha u + beta y (``beta = 0`` overwrites y)."""
    if bounds is None:
        _axpby_range(alpha, u, beta, y, 0, y.size)
    else:
        _axpby_chunks(alpha, u, beta, y, bounds)


@njit(cache=True, parallel=True)
def _axpby_chunks(alpha, u, beta, y, bounds):
    chunks = bounds.size - 1
    if chunks == 1:
        _axpby_range(alpha, u, beta, y, 0, bounds[1])
        return
    for c in prange(chunks):
        _axpby_range(alpha, u, beta, y, bounds[c], bounds[c + 1])
