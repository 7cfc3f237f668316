r"""The V-cycle, one Numba kernel over the whole hierarchy packed into five arrays.

On level :math:`\ell` with matrix :math:`A_\ell`, prolongator :math:`P_\ell` and
right-hand side :math:`b_\ell`, the cycle computes :math:`x_\ell \approx A_\ell^{-1} b_\ell`:

1. pre-smoothing from :math:`x_\ell = 0` (:mod:`.smoothers`: ``sweeps`` forward
   Gauss-Seidel sweeps, or a Chebyshev polynomial of degree ``sweeps``, or ``sweeps``
   l1-Jacobi steps);
2. :math:`b_{\ell+1} = P_\ell^T (b_\ell - A_\ell x_\ell)`, the cycle on level
   :math:`\ell + 1` (on the coarsest level, solves with its sparse LU factors);
   :math:`P_\ell^T` is stored (the Galerkin product forms it anyway), so that the
   restriction, as every other step, runs rows in parallel;
3. :math:`x_\ell \mathrel{+}= P_\ell x_{\ell+1}`, then post-smoothing: ``sweeps``
   backward Gauss-Seidel sweeps, or the same polynomial or steps as before.

Post-smoothing is the adjoint of pre-smoothing (in the energy inner product) and the
coarse solve is exact (symmetric to rounding), so for symmetric positive definite
:math:`A` the cycle is a symmetric positive definite operator and CG may use it (each
smoother converges in the energy norm of any such matrix).

The packed arrays, as the Krylov loops pass a preconditioner: ``pointers`` (the row
pointers of every :math:`A_\ell`, :math:`P_\ell`, :math:`P_\ell^T` and of the coarse
factors, each starting at 0, the Gauss-Seidel blocks and the coarse permutations),
``indices`` and ``data`` (their columns and values), ``work`` (the inverted diagonals
(of :math:`D`, of the l1 Gauss-Seidel blocks, or the l1 row sums), the Chebyshev bounds, the
smoothers' work vectors, and :math:`x_\ell, b_\ell` of the levels below the finest: the
cycle's only mutable state) and ``layout``, the offsets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .coarse import LU, PSEUDO_INVERSE, CoarseSolver
from .smoothers import (
    CHEBYSHEV,
    GAUSS_SEIDEL,
    SMOOTHERS,
    block_sweeps,
    chebyshev,
    l1_jacobi,
    multiply,
    residual,
)

# layout: a header, then FIELDS entries per level
(LEVELS, SWEEPS, COARSE_KIND, DENSE, L_POINTERS, L_OFFSET, U_POINTERS, U_OFFSET, ROW_ORDER,
 COLUMN_ORDER, TEMPORARY, HEADER) = range(12)
(N, A_POINTERS, A_OFFSET, P_POINTERS, P_OFFSET, DIAGONAL, X, B, BOUNDS, RESIDUAL, DIRECTION,
 BLOCKS, BLOCK_COUNT, R_POINTERS, R_OFFSET, FIELDS) = range(16)


def pack(operators: list, prolongators: list, restrictors: list, inverse_diagonals: list,
         blocks: list, coarse: CoarseSolver, sweeps: int, smoother: int, uppers,
         eigenvalue_ratio: float):
    """The five arrays of the cycle from the levels' CSR triples (finest first).

    ``operators`` holds every level's matrix, the coarsest last (only its size is
    used: ``coarse`` solves on it); ``prolongators``, ``restrictors`` (their transposes),
    ``inverse_diagonals`` (of :math:`D`, of the l1 Gauss-Seidel blocks, or of :math:`D_1`
    for l1-Jacobi), for Gauss-Seidel ``blocks`` (the row bounds of its blocks) and, for
    Chebyshev, ``uppers`` (the upper bounds of the spectra of :math:`D^{-1}A`, the lower
    ones ``eigenvalue_ratio`` times smaller) one fewer.

    The lists are emptied: the arrays of each kind are let go as soon as they are copied,
    largest kind first, so that the next kind's array takes memory just freed instead of
    fresh pages (which the kernel may stall on, compacting memory for huge pages), and
    the set-up's peak is lower; the work vectors are zeros that are never copied.
    """
    levels = len(operators)
    layout = np.zeros(HEADER + FIELDS * levels, dtype=np.int64)
    layout[LEVELS], layout[SWEEPS], layout[COARSE_KIND] = levels, sweeps, coarse.kind
    pieces = {"pointers": [], "entries": [], "data": [], "work": []}
    used = dict.fromkeys(pieces, 0)

    def put(array, kind, where):
        layout[where] = used[kind]
        pieces[kind].append((used[kind], array))
        used[kind] += array.size

    def zeros(size, where):
        layout[where] = used["work"]
        used["work"] += size

    def put_matrix(triple, where_pointers, where_offset):
        put(triple[0], "pointers", where_pointers)
        put(triple[1], "entries", where_offset)
        pieces["data"].append((used["data"], triple[2]))
        used["data"] += triple[2].size

    for level in range(levels):
        base = HEADER + FIELDS * level
        n = operators[level][0].size - 1
        layout[base + N] = n
        if level < levels - 1:
            put_matrix(operators[level], base + A_POINTERS, base + A_OFFSET)
            put_matrix(prolongators[level], base + P_POINTERS, base + P_OFFSET)
            put_matrix(restrictors[level], base + R_POINTERS, base + R_OFFSET)
            put(inverse_diagonals[level], "work", base + DIAGONAL)
            zeros(n, base + RESIDUAL)
            if smoother == GAUSS_SEIDEL:
                put(blocks[level], "pointers", base + BLOCKS)
                layout[base + BLOCK_COUNT] = blocks[level].size - 1
            else:
                zeros(n, base + DIRECTION)
            if smoother == CHEBYSHEV:
                put(np.array([float(uppers[level]) / eigenvalue_ratio, float(uppers[level])]),
                    "work", base + BOUNDS)
        if level > 0:
            zeros(n, base + X)
            zeros(n, base + B)
    if coarse.kind == LU:
        put_matrix(coarse.lower, L_POINTERS, L_OFFSET)
        put_matrix(coarse.upper, U_POINTERS, U_OFFSET)
        put(coarse.row_order, "pointers", ROW_ORDER)
        put(coarse.column_order, "pointers", COLUMN_ORDER)
    else:
        layout[DENSE] = used["data"]
        pieces["data"].append((used["data"], coarse.dense))
        used["data"] += coarse.dense.size
    zeros(operators[-1][0].size - 1, TEMPORARY)
    for arrays in (operators, prolongators, restrictors, inverse_diagonals, blocks):
        arrays.clear()

    def joined(kind, dtype):
        whole = np.zeros(used[kind], dtype)
        for offset, array in pieces.pop(kind):
            whole[offset:offset + array.size] = array
        return whole

    kinds = {"data": np.float64, "entries": np.uint32, "pointers": np.int64,
             "work": np.float64}
    packed = {kind: joined(kind, dtype) for kind, dtype in kinds.items()}
    return (packed["pointers"], packed["entries"], packed["data"], packed["work"], layout)


@njit(cache=True, nogil=True)
def _triangular_solve(indptr, indices, data, y, lower):
    """y = T^{-1} y for a triangular CSR matrix T (lower or upper), diagonal stored."""
    n = y.size
    for step in range(n):
        i = step if lower else n - 1 - step
        s = y[i]
        pivot = 1.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j == i:
                pivot = data[k]
            else:
                s -= data[k] * y[j]
        y[i] = s / pivot


@njit(cache=True, nogil=True)
def _coarse_solve(pointers, indices, data, work, layout, b, x):
    """x = C^{-1} b on the coarsest level (see :mod:`.coarse`)."""
    n = b.size
    if layout[COARSE_KIND] == PSEUDO_INVERSE:
        dense = data[layout[DENSE]:layout[DENSE] + n * n]
        for i in range(n):
            s = 0.0
            for j in range(n):
                s += dense[i * n + j] * b[j]
            x[i] = s
        return
    y = work[layout[TEMPORARY]:layout[TEMPORARY] + n]
    row_order = pointers[layout[ROW_ORDER]:layout[ROW_ORDER] + n]
    column_order = pointers[layout[COLUMN_ORDER]:layout[COLUMN_ORDER] + n]
    for i in range(n):
        y[i] = b[row_order[i]]
    for field_pointers, field_offset, lower in ((L_POINTERS, L_OFFSET, True),
                                                (U_POINTERS, U_OFFSET, False)):
        first, offset = layout[field_pointers], layout[field_offset]
        indptr = pointers[first:first + n + 1]
        entries = indptr[n]
        _triangular_solve(indptr, indices[offset:offset + entries],
                          data[offset:offset + entries], y, lower)
    for i in range(n):
        x[i] = y[column_order[i]]


@njit(cache=True, nogil=True, inline="always")
def _views(pointers, indices, data, layout, base, field_pointers, field_offset, rows):
    """A level's CSR matrix (A or P) as views of the packed arrays."""
    first, offset = layout[base + field_pointers], layout[base + field_offset]
    indptr = pointers[first:first + rows + 1]
    entries = indptr[rows]
    return indptr, indices[offset:offset + entries], data[offset:offset + entries]


@njit(cache=True, nogil=True, inline="always")
def _level(pointers, indices, data, work, layout, level):
    """Views of a level's A and inverted diagonal, and the layout base below it."""
    base = HEADER + FIELDS * level
    n = layout[base + N]
    a_indptr, a_indices, a_data = _views(pointers, indices, data, layout, base, A_POINTERS,
                                         A_OFFSET, n)
    diagonal = work[layout[base + DIAGONAL]:layout[base + DIAGONAL] + n]
    return a_indptr, a_indices, a_data, diagonal, base + FIELDS


@njit(cache=True, nogil=True, inline="always")
def _smoother_work(work, layout, base, n):
    """A level's work vectors, ``r`` (the residual, and Gauss-Seidel's x at the start of a
    sweep) and ``d`` (the parallel smoothers' step), and its Chebyshev bounds."""
    r = work[layout[base + RESIDUAL]:layout[base + RESIDUAL] + n]
    d = work[layout[base + DIRECTION]:layout[base + DIRECTION] + n]
    return r, d, work[layout[base + BOUNDS]], work[layout[base + BOUNDS] + 1]


@njit(cache=True, nogil=True, inline="always")
def _blocks(pointers, layout, base):
    """A level's Gauss-Seidel blocks."""
    first = layout[base + BLOCKS]
    return pointers[first:first + layout[base + BLOCK_COUNT] + 1]


@njit(cache=True, nogil=True, inline="always")
def _smooth(a_indptr, a_indices, a_data, diagonal, bounds, smoother, sweeps, b, x, d, zero):
    """The parallel smoothers (the same before and after the coarse correction)."""
    if smoother == CHEBYSHEV:
        chebyshev(a_indptr, a_indices, a_data, diagonal, bounds[0], bounds[1], sweeps, b, x, d,
                  zero)
    else:
        l1_jacobi(a_indptr, a_indices, a_data, diagonal, sweeps, b, x, d, zero)


@njit(cache=True, nogil=True, inline="always")
def _down(smoother, pointers, indices, data, work, layout, level, sweeps, b, x):
    """Pre-smoothing on ``level`` and the restricted residual, in the next level's b."""
    a_indptr, a_indices, a_data, diagonal, below = _level(pointers, indices, data, work,
                                                          layout, level)
    r, d, lower, upper = _smoother_work(work, layout, below - FIELDS, b.size)
    if smoother == GAUSS_SEIDEL:
        x[:] = 0.0
        block_sweeps(a_indptr, a_indices, a_data, diagonal,
                     _blocks(pointers, layout, below - FIELDS), sweeps, b, x, r, True)
    else:
        _smooth(a_indptr, a_indices, a_data, diagonal, (lower, upper), smoother, sweeps, b, x,
                d, True)
    residual(a_indptr, a_indices, a_data, b, x, r)
    coarse = layout[below + N]
    multiply(*_views(pointers, indices, data, layout, below - FIELDS, R_POINTERS, R_OFFSET,
                     coarse), r, work[layout[below + B]:layout[below + B] + coarse], False)


@njit(cache=True, nogil=True, inline="always")
def _up(smoother, pointers, indices, data, work, layout, level, sweeps, b, x):
    """The correction from the next level's x on ``level``, and post-smoothing."""
    a_indptr, a_indices, a_data, diagonal, below = _level(pointers, indices, data, work,
                                                          layout, level)
    r, d, lower, upper = _smoother_work(work, layout, below - FIELDS, b.size)
    multiply(*_views(pointers, indices, data, layout, below - FIELDS, P_POINTERS, P_OFFSET,
                     b.size), work[layout[below + X]:layout[below + X] + layout[below + N]], x,
             True)
    if smoother == GAUSS_SEIDEL:
        block_sweeps(a_indptr, a_indices, a_data, diagonal,
                     _blocks(pointers, layout, below - FIELDS), sweeps, b, x, r, False)
    else:
        _smooth(a_indptr, a_indices, a_data, diagonal, (lower, upper), smoother, sweeps, b, x,
                d, False)


@njit(cache=True, nogil=True, inline="always")
def _level_vectors(work, layout, level):
    base = HEADER + FIELDS * level
    n = layout[base + N]
    return (work[layout[base + B]:layout[base + B] + n],
            work[layout[base + X]:layout[base + X] + n])


def _make_vcycle(SMOOTHER_CODE):
    """The V-cycle with the smoother ``SMOOTHER_CODE`` (:data:`.smoothers.SMOOTHERS`).

    ``SMOOTHER_CODE`` is a constant of the closure: Numba prunes the other smoothers' branches
    of the inlined level steps, so a cycle compiles only its own smoother's kernels.
    """

    def vcycle(pointers, indices, data, work, layout, omega, r, z):
        """z = V-cycle applied to r (the signature of every preconditioner kernel;
        ``omega`` is unused).  The finest level works in ``r`` and ``z`` themselves."""
        levels = layout[LEVELS]
        sweeps = layout[SWEEPS]
        if levels == 1:
            _coarse_solve(pointers, indices, data, work, layout, r, z)
            return
        _down(SMOOTHER_CODE, pointers, indices, data, work, layout, 0, sweeps, r, z)
        for level in range(1, levels - 1):
            b, x = _level_vectors(work, layout, level)
            _down(SMOOTHER_CODE, pointers, indices, data, work, layout, level, sweeps, b, x)
        b, x = _level_vectors(work, layout, levels - 1)
        _coarse_solve(pointers, indices, data, work, layout, b, x)
        for level in range(levels - 2, 0, -1):
            b, x = _level_vectors(work, layout, level)
            _up(SMOOTHER_CODE, pointers, indices, data, work, layout, level, sweeps, b, x)
        _up(SMOOTHER_CODE, pointers, indices, data, work, layout, 0, sweeps, r, z)

    name = next(name for name, code in SMOOTHERS.items() if code == SMOOTHER_CODE)
    vcycle.__qualname__ = f"vcycle_{name}"  # a cache index of its own, as the loops
    return njit(cache=True, nogil=True)(vcycle)


#: The V-cycle of each smoother, by its code.
VCYCLES = {code: _make_vcycle(code) for code in SMOOTHERS.values()}


def empty_layout() -> np.ndarray:
    """The layout of a stand-in hierarchy (one level of size 0), with the right types."""
    layout = np.zeros(HEADER + FIELDS, dtype=np.int64)
    layout[LEVELS] = 1
    return layout
