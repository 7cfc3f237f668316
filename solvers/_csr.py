"""Numba kernels on CSR matrices and vectors, shared by every Krylov method.

The matrix is held as ``(indptr, indices, data)`` with ``indices`` viewed as
``uint32``: unsigned 32-bit column indices halve the index traffic of int64 and
let the compiler drop the sign handling of the gather.  Loop counters are
``uint64`` for the same reason: Numba wraps negative signed indices around, and
that test on every load of a short CSR row costs about a third of an SpMV.

The method loops in ``cg.py`` and ``gmres.py`` are cached by Numba with these kernels
compiled into them; ``_cache.py`` expires those entries when this file changes.

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
from llvmlite import ir
from numba import njit, prange, types, uint64
from numba.extending import intrinsic, overload

from ._scalar import abs2, conj, real, zeros_like_sum

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


# --- dot products in SIMD registers, with the summation order of scalar code -------------
#
# Without fastmath LLVM keeps a reduction in program order and will not vectorise it,
# even written with four partial sums.  The intrinsic below emits the vector loop
# itself: one <4 x double> accumulator per vector, lane l summing the elements
# lo + 4 b + l, a separate multiply and add (no contraction).  That is exactly the
# scalar loop with four partial sums s0..s3, so the bits are the same; only the
# instructions are wider.

_LANES = 4


def _lane_sums_codegen(rows, swapped=False):
    """Code for ``acc[r][l] = sum_b A_r[lo + 4 b + l] * w[lo + 4 b + l]``, ``b < blocks``;
    ``swapped``: also, in ``rows`` more accumulators, the same sums with ``w``'s lanes
    exchanged in pairs, ``w[lo + 4 b + (l ^ 1)]`` (each ``A_r`` and ``w`` loaded once)."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        vector = ir.VectorType(double, _LANES)
        i64 = ir.IntType(64)
        single = [signature.args[r].dtype == types.float32 for r in range(rows + 1)]
        pointers = [context.make_array(signature.args[r])(context, builder, value=args[r]).data
                    for r in range(rows + 1)]
        lo = context.cast(builder, args[rows + 1], signature.args[rows + 1], types.int64)
        blocks = context.cast(builder, args[rows + 2], signature.args[rows + 2], types.int64)
        zero = ir.Constant(vector, [0.0] * _LANES)
        entry = builder.basic_block
        header = builder.append_basic_block("lanes.header")
        body = builder.append_basic_block("lanes.body")
        done = builder.append_basic_block("lanes.done")
        builder.branch(header)

        builder.position_at_end(header)
        block = builder.phi(i64)
        block.add_incoming(ir.Constant(i64, 0), entry)
        accumulators = []
        for _ in range(2 * rows if swapped else rows):
            phi = builder.phi(vector)
            phi.add_incoming(zero, entry)
            accumulators.append(phi)
        builder.cbranch(builder.icmp_signed("<", block, blocks), body, done)

        builder.position_at_end(body)
        index = builder.add(lo, builder.mul(block, ir.Constant(i64, _LANES)))

        def load(r):
            element = ir.FloatType() if single[r] else double
            address = builder.gep(pointers[r], [index], inbounds=True)
            return builder.load(
                builder.bitcast(address, ir.VectorType(element, _LANES).as_pointer()),
                align=4 if single[r] else 8)

        def widened(value, r):
            return builder.fpext(value, vector) if single[r] else value

        w = load(rows)
        factors = [w]
        if swapped:  # (w0, w1, w2, w3) -> (w1, w0, w3, w2): a complex number's parts
            factors.append(builder.shuffle_vector(
                w, w, ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [1, 0, 3, 2])))
        for r in range(rows):
            a = load(r)
            for which, factor in enumerate(factors):
                # Numba's scalar rules: float32 * float32 is rounded to float32, any
                # other product is taken in float64; the sum is float64.
                if single[r] and single[rows]:
                    product = widened(builder.fmul(a, factor), r)
                else:
                    product = builder.fmul(widened(a, r), widened(factor, rows))
                accumulator = accumulators[which * rows + r]
                accumulator.add_incoming(builder.fadd(accumulator, product), body)
        block.add_incoming(builder.add(block, ir.Constant(i64, 1)), body)
        builder.branch(header)

        builder.position_at_end(done)
        lanes = [builder.extract_element(accumulator, ir.Constant(ir.IntType(32), lane))
                 for accumulator in accumulators for lane in range(_LANES)]
        return context.make_tuple(builder, signature.return_type, lanes)

    return codegen


def _vector_loadable(array_type):
    return (isinstance(array_type, types.Array) and array_type.ndim == 1
            and array_type.layout == "C" and array_type.dtype in (types.float32, types.float64))


@intrinsic
def _lane_sums_1(typingctx, a, w, lo, blocks):
    """The four partial sums of ``a . w`` over ``blocks`` blocks of four from ``lo``.

    ``a`` and ``w``: contiguous 1-D float32/float64 arrays of at least ``lo + 4 blocks``
    elements (not checked: the callers derive ``blocks`` from their row range).
    """
    if not all(map(_vector_loadable, (a, w))):
        return None
    return types.UniTuple(types.float64, _LANES)(a, w, lo, blocks), _lane_sums_codegen(1)


@intrinsic
def _lane_sums_4(typingctx, a, b, c, d, w, lo, blocks):
    """The partial sums of four dot products with ``w`` (as :func:`_lane_sums_1`)."""
    if not all(map(_vector_loadable, (a, b, c, d, w))):
        return None
    return (types.UniTuple(types.float64, 4 * _LANES)(a, b, c, d, w, lo, blocks),
            _lane_sums_codegen(4))


@intrinsic
def _complex_lane_sums_1(typingctx, a, w, lo, blocks):
    """:func:`_lane_sums_1`'s four sums, then the four of ``a[i] * w[i ^ 1]``."""
    if not all(map(_vector_loadable, (a, w))):
        return None
    return (types.UniTuple(types.float64, 2 * _LANES)(a, w, lo, blocks),
            _lane_sums_codegen(1, swapped=True))


@intrinsic
def _complex_lane_sums_4(typingctx, a, b, c, d, w, lo, blocks):
    """:func:`_lane_sums_4`'s sums, then those with ``w``'s elements exchanged in pairs."""
    if not all(map(_vector_loadable, (a, b, c, d, w))):
        return None
    return (types.UniTuple(types.float64, 8 * _LANES)(a, b, c, d, w, lo, blocks),
            _lane_sums_codegen(4, swapped=True))


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
    if _vector_loadable(x) and _vector_loadable(y):
        def real_dot(x, y, lo, hi):
            blocks = (hi - lo) // 4
            s0, s1, s2, s3 = _lane_sums_1(x, y, lo, blocks)
            for i in range(uint64(lo + 4 * blocks), uint64(hi)):
                s0 += x[i] * y[i]
            return (s0 + s1) + (s2 + s3)
        return real_dot
    if _complex_vectors(x, y):
        def viewed_dot(x, y, lo, hi):
            xf, yf = x.view(np.float64), y.view(np.float64)
            pairs = (hi - lo) // 2
            r0, r1, r2, r3, i0, i1, i2, i3 = _complex_lane_sums_1(xf, yf, 2 * lo, pairs)
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


# --- complex updates in SIMD registers, with the arithmetic of scalar code ----------------
#
# ``w -= h v`` on complex entries is ``(wr, wi) -= (hr vr - hi vi, hr vi + hi vr)``.  On the
# float views ``(re, im, re, im)`` of two elements, with ``v'`` the view of ``v`` with its
# parts exchanged in pairs, ``P = (hr, hr, hr, hr)`` and ``Q = (-hi, hi, -hi, hi)``, the
# product is ``P v + Q v'``: the very products and sums of Numba's complex multiplication
# (``a + (-b)`` is ``a - b``), so the bits are those of the scalar loop, two elements per
# register.  complex64 parts are widened to float64 on loading, as the scalar code widens
# them to meet the complex128 coefficients, and rounded back on storing.


def _pair_update_codegen(rows, subtract):
    """Code for ``w = w -+ h_0 v_0 -+ ... -+ h_{R-1} v_{R-1}`` over ``blocks`` blocks of
    four float parts (two complex elements) from part ``lo``; the rows in order."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        vector = ir.VectorType(double, _LANES)
        lane = ir.IntType(32)
        i64 = ir.IntType(64)
        arrays = signature.args[: rows + 1]
        single = [array.dtype == types.float32 for array in arrays]
        pointers = [context.make_array(array)(context, builder, value=value).data
                    for array, value in zip(arrays, args, strict=False)]
        scalars = [context.cast(builder, value, kind, types.float64)
                   for value, kind in zip(args[rows + 1:], signature.args[rows + 1:], strict=True)]
        parts, (lo, blocks) = scalars[: 2 * rows], (
            context.cast(builder, value, kind, types.int64)
            for value, kind in zip(args[3 * rows + 1:], signature.args[3 * rows + 1:], strict=True))

        def splat(values):
            packed = ir.Constant(vector, ir.Undefined)
            for where, value in enumerate(values):
                packed = builder.insert_element(packed, value, ir.Constant(lane, where))
            return packed

        factors = []
        for r in range(rows):
            re, im = parts[2 * r], parts[2 * r + 1]
            minus = builder.fneg(im)
            factors.append((splat([re] * _LANES), splat([minus, im, minus, im])))

        entry = builder.basic_block
        header = builder.append_basic_block("pairs.header")
        body = builder.append_basic_block("pairs.body")
        done = builder.append_basic_block("pairs.done")
        builder.branch(header)
        builder.position_at_end(header)
        block = builder.phi(i64)
        block.add_incoming(ir.Constant(i64, 0), entry)
        builder.cbranch(builder.icmp_signed("<", block, blocks), body, done)

        builder.position_at_end(body)
        index = builder.add(lo, builder.mul(block, ir.Constant(i64, _LANES)))

        def address(k):
            element = ir.FloatType() if single[k] else double
            return builder.bitcast(builder.gep(pointers[k], [index], inbounds=True),
                                   ir.VectorType(element, _LANES).as_pointer())

        def load(k):
            value = builder.load(address(k), align=4 if single[k] else 8)
            return builder.fpext(value, vector) if single[k] else value

        total = load(0)
        for r in range(rows):
            v = load(r + 1)
            swapped = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(lane, _LANES),
                                                               [1, 0, 3, 2]))
            p, q = factors[r]
            product = builder.fadd(builder.fmul(p, v), builder.fmul(q, swapped))
            total = builder.fsub(total, product) if subtract else builder.fadd(total, product)
        if single[0]:
            total = builder.fptrunc(total, ir.VectorType(ir.FloatType(), _LANES))
        builder.store(total, address(0), align=4 if single[0] else 8)
        block.add_incoming(builder.add(block, ir.Constant(i64, 1)), body)
        builder.branch(header)

        builder.position_at_end(done)
        return context.get_dummy_value()

    return codegen


def _pair_update_typer(rows, subtract, arguments):
    arrays = arguments[: rows + 1]
    if not all(map(_vector_loadable, arrays)):
        return None
    return types.void(*arguments), _pair_update_codegen(rows, subtract)


@intrinsic
def _pairs_subtract_1(typingctx, w, a, ar, ai, lo, blocks):
    """``w[j] -= (h a)[j]`` on float views of complex vectors, ``h = ar + i ai``, over
    ``blocks`` blocks of four parts from ``lo`` (not checked, as :func:`_lane_sums_1`)."""
    return _pair_update_typer(1, True, (w, a, ar, ai, lo, blocks))


@intrinsic
def _pairs_subtract_4(typingctx, w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo, blocks):
    """``w = (((w - h_a a) - h_b b) - h_c c) - h_d d`` as :func:`_pairs_subtract_1`."""
    return _pair_update_typer(4, True, (w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo,
                                        blocks))


@intrinsic
def _pairs_add_1(typingctx, w, a, ar, ai, lo, blocks):
    """``w[j] += (h a)[j]`` as :func:`_pairs_subtract_1`."""
    return _pair_update_typer(1, False, (w, a, ar, ai, lo, blocks))


@intrinsic
def _pairs_add_4(typingctx, w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo, blocks):
    """``w = (((w + h_a a) + h_b b) + h_c c) + h_d d`` as :func:`_pairs_subtract_1`."""
    return _pair_update_typer(4, False, (w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo,
                                         blocks))


def _part_dtype(array_type):
    """The float dtype of a contiguous complex vector's (or matrix's) parts, else None."""
    if (isinstance(array_type, types.Array) and array_type.layout == "C"
            and isinstance(array_type.dtype, types.Complex)):
        return np.float32 if array_type.dtype == types.complex64 else np.float64
    return None


def _pairs_kernel(update_4, update_1):
    """``w (-+)= h[:count] @ V[:count, lo:hi]`` on complex vectors, in SIMD pairs: each
    element meets the rows in the order of the scalar loop (blocks of four, then one by
    one), and the last element of an odd range is left to ``tail``."""

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


_subtract_pairs = _pairs_kernel(_pairs_subtract_4, _pairs_subtract_1)
_add_pairs = _pairs_kernel(_pairs_add_4, _pairs_add_1)


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
        part, row_part = _part_dtype(w), _part_dtype(V)
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
    part, y_part = _part_dtype(u), _part_dtype(y)
    if part is None or y_part is None or not _real_factors(alpha, beta):
        return lambda alpha, u, beta, y, lo, hi: _axpby_rows(alpha, u, beta, y, lo, hi)
    return lambda alpha, u, beta, y, lo, hi: _axpby_rows(
        alpha, u.view(part), beta, y.view(y_part), 2 * lo, 2 * hi)


def _cg_update_range(alpha, p, q, x, r, dinv, lo, hi):
    """:func:`_cg_update_rows`; for complex vectors, a real ``alpha`` and no Jacobi, on
    their views (``r^H r`` then sums the squares of the parts, as above)."""


@overload(_cg_update_range, inline="always")
def _cg_update_range_typed(alpha, p, q, x, r, dinv, lo, hi):
    parts = tuple(map(_part_dtype, (p, q, x, r)))
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
    parts = tuple(map(_part_dtype, (r, z, p)))
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
    partial = zeros_like_sum(x, chunks)
    for c in prange(chunks):
        partial[c] = _dot_rows(x, y, bounds[c], bounds[c + 1])
    total = 0.0
    for c in range(chunks):
        total += partial[c]
    return total


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
    if all(map(_vector_loadable, (a, b, c, d, w))):
        return _real_dot4_rows
    if _complex_vectors(a, b, c, d, w):
        return _complex_dot4_rows
    return lambda a, b, c, d, w, lo, hi: (_dot_rows(a, w, lo, hi), _dot_rows(b, w, lo, hi),
                                          _dot_rows(c, w, lo, hi), _dot_rows(d, w, lo, hi))


def _real_dot4_rows(a, b, c, d, w, lo, hi):
    blocks = (hi - lo) // 4
    (a0, a1, a2, a3, b0, b1, b2, b3,
     c0, c1, c2, c3, d0, d1, d2, d3) = _lane_sums_4(a, b, c, d, w, lo, blocks)
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
     g0, g1, g2, g3, h0, h1, h2, h3) = _complex_lane_sums_4(af, bf, cf, df, wf, 2 * lo, pairs)
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
    partial = zeros_like_sum(V, (chunks, count + 1))
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
    partial = zeros_like_sum(V, (chunks, count + 1))
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
    partial = zeros_like_sum(V, (chunks, count + 1))
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
