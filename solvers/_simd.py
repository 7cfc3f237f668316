"""Vector loops emitted as LLVM IR, with the arithmetic of the scalar loops they replace.

Without fastmath LLVM keeps a reduction in program order and will not vectorise it, and
it does not pair the real and imaginary parts of complex updates.  The intrinsics here
emit the vector loops themselves, each with the very products and sums, in the very
order, of a scalar loop: the bits are the same, only the instructions are wider.  The
kernels of ``_csr.py`` and ``_gram_schmidt.py`` call them on contiguous float views.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# --- dot products in SIMD registers, with the summation order of scalar code -------------
#
# Without fastmath LLVM keeps a reduction in program order and will not vectorise it,
# even written with four partial sums.  The intrinsic below emits the vector loop
# itself: one <4 x double> accumulator per vector, lane l summing the elements
# lo + 4 b + l, a separate multiply and add (no contraction).  That is exactly the
# scalar loop with four partial sums s0..s3, so the bits are the same; only the
# instructions are wider.

LANES = 4


def _lane_sums_codegen(rows, swapped=False):
    """Code for ``acc[r][l] = sum_b A_r[lo + 4 b + l] * w[lo + 4 b + l]``, ``b < blocks``;
    ``swapped``: also, in ``rows`` more accumulators, the same sums with ``w``'s lanes
    exchanged in pairs, ``w[lo + 4 b + (l ^ 1)]`` (each ``A_r`` and ``w`` loaded once)."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        vector = ir.VectorType(double, LANES)
        i64 = ir.IntType(64)
        single = [signature.args[r].dtype == types.float32 for r in range(rows + 1)]
        pointers = [context.make_array(signature.args[r])(context, builder, value=args[r]).data
                    for r in range(rows + 1)]
        lo = context.cast(builder, args[rows + 1], signature.args[rows + 1], types.int64)
        blocks = context.cast(builder, args[rows + 2], signature.args[rows + 2], types.int64)
        zero = ir.Constant(vector, [0.0] * LANES)
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
        index = builder.add(lo, builder.mul(block, ir.Constant(i64, LANES)))

        def load(r):
            element = ir.FloatType() if single[r] else double
            address = builder.gep(pointers[r], [index], inbounds=True)
            return builder.load(
                builder.bitcast(address, ir.VectorType(element, LANES).as_pointer()),
                align=4 if single[r] else 8)

        def widened(value, r):
            return builder.fpext(value, vector) if single[r] else value

        w = load(rows)
        factors = [w]
        if swapped:  # (w0, w1, w2, w3) -> (w1, w0, w3, w2): a complex number's parts
            factors.append(builder.shuffle_vector(
                w, w, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [1, 0, 3, 2])))
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
                 for accumulator in accumulators for lane in range(LANES)]
        return context.make_tuple(builder, signature.return_type, lanes)

    return codegen


def vector_loadable(array_type):
    return (isinstance(array_type, types.Array) and array_type.ndim == 1
            and array_type.layout == "C" and array_type.dtype in (types.float32, types.float64))


@intrinsic
def lane_sums_1(typingctx, a, w, lo, blocks):
    """The four partial sums of ``a . w`` over ``blocks`` blocks of four from ``lo``.

    ``a`` and ``w``: contiguous 1-D float32/float64 arrays of at least ``lo + 4 blocks``
    elements (not checked: the callers derive ``blocks`` from their row range).
    """
    if not all(map(vector_loadable, (a, w))):
        return None
    return types.UniTuple(types.float64, LANES)(a, w, lo, blocks), _lane_sums_codegen(1)


@intrinsic
def lane_sums_4(typingctx, a, b, c, d, w, lo, blocks):
    """The partial sums of four dot products with ``w`` (as :func:`lane_sums_1`)."""
    if not all(map(vector_loadable, (a, b, c, d, w))):
        return None
    return (types.UniTuple(types.float64, 4 * LANES)(a, b, c, d, w, lo, blocks),
            _lane_sums_codegen(4))


@intrinsic
def complex_lane_sums_1(typingctx, a, w, lo, blocks):
    """:func:`lane_sums_1`'s four sums, then the four of ``a[i] * w[i ^ 1]``."""
    if not all(map(vector_loadable, (a, w))):
        return None
    return (types.UniTuple(types.float64, 2 * LANES)(a, w, lo, blocks),
            _lane_sums_codegen(1, swapped=True))


@intrinsic
def complex_lane_sums_4(typingctx, a, b, c, d, w, lo, blocks):
    """:func:`lane_sums_4`'s sums, then those with ``w``'s elements exchanged in pairs."""
    if not all(map(vector_loadable, (a, b, c, d, w))):
        return None
    return (types.UniTuple(types.float64, 8 * LANES)(a, b, c, d, w, lo, blocks),
            _lane_sums_codegen(4, swapped=True))


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
        vector = ir.VectorType(double, LANES)
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
            factors.append((splat([re] * LANES), splat([minus, im, minus, im])))

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
        index = builder.add(lo, builder.mul(block, ir.Constant(i64, LANES)))

        def address(k):
            element = ir.FloatType() if single[k] else double
            return builder.bitcast(builder.gep(pointers[k], [index], inbounds=True),
                                   ir.VectorType(element, LANES).as_pointer())

        def load(k):
            value = builder.load(address(k), align=4 if single[k] else 8)
            return builder.fpext(value, vector) if single[k] else value

        total = load(0)
        for r in range(rows):
            v = load(r + 1)
            swapped = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(lane, LANES),
                                                               [1, 0, 3, 2]))
            p, q = factors[r]
            product = builder.fadd(builder.fmul(p, v), builder.fmul(q, swapped))
            total = builder.fsub(total, product) if subtract else builder.fadd(total, product)
        if single[0]:
            total = builder.fptrunc(total, ir.VectorType(ir.FloatType(), LANES))
        builder.store(total, address(0), align=4 if single[0] else 8)
        block.add_incoming(builder.add(block, ir.Constant(i64, 1)), body)
        builder.branch(header)

        builder.position_at_end(done)
        return context.get_dummy_value()

    return codegen


def _pair_update_typer(rows, subtract, arguments):
    arrays = arguments[: rows + 1]
    if not all(map(vector_loadable, arrays)):
        return None
    return types.void(*arguments), _pair_update_codegen(rows, subtract)


@intrinsic
def pairs_subtract_1(typingctx, w, a, ar, ai, lo, blocks):
    """``w[j] -= (h a)[j]`` on float views of complex vectors, ``h = ar + i ai``, over
    ``blocks`` blocks of four parts from ``lo`` (not checked, as :func:`lane_sums_1`)."""
    return _pair_update_typer(1, True, (w, a, ar, ai, lo, blocks))


@intrinsic
def pairs_subtract_4(typingctx, w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo, blocks):
    """``w = (((w - h_a a) - h_b b) - h_c c) - h_d d`` as :func:`pairs_subtract_1`."""
    return _pair_update_typer(4, True, (w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo,
                                        blocks))


@intrinsic
def pairs_add_1(typingctx, w, a, ar, ai, lo, blocks):
    """``w[j] += (h a)[j]`` as :func:`pairs_subtract_1`."""
    return _pair_update_typer(1, False, (w, a, ar, ai, lo, blocks))


@intrinsic
def pairs_add_4(typingctx, w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo, blocks):
    """``w = (((w + h_a a) + h_b b) + h_c c) + h_d d`` as :func:`pairs_subtract_1`."""
    return _pair_update_typer(4, False, (w, a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, lo,
                                         blocks))


def part_dtype(array_type):
    """The float dtype of a contiguous complex vector's (or matrix's) parts, else None."""
    if (isinstance(array_type, types.Array) and array_type.layout == "C"
            and isinstance(array_type.dtype, types.Complex)):
        return np.float32 if array_type.dtype == types.complex64 else np.float64
    return None
