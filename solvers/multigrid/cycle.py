r"""The V-cycle, one Numba kernel over the whole hierarchy packed into five arrays.

On level :math:`\ell` with matrix :math:`A_\ell`, prolongator :math:`P_\ell` and
right-hand side :math:`b_\ell`, the cycle computes :math:`x_\ell \approx A_\ell^{-1} b_\ell`:

1. ``sweeps`` forward Gauss-Seidel sweeps from :math:`x_\ell = 0`;
2. :math:`b_{\ell+1} = P_\ell^T (b_\ell - A_\ell x_\ell)`, the cycle on level
   :math:`\ell + 1` (a dense product with the inverse on the coarsest level);
3. :math:`x_\ell \mathrel{+}= P_\ell x_{\ell+1}`, then ``sweeps`` backward sweeps.

The backward sweep is the adjoint of the forward one and the coarse solve is
symmetric, so for symmetric positive definite :math:`A` the cycle is a symmetric
positive definite operator and CG may use it (Gauss-Seidel converges in the energy
norm of any such matrix).

The packed arrays, as the Krylov loops pass a preconditioner: ``pointers`` (the row
pointers of every :math:`A_\ell` and :math:`P_\ell`, each starting at 0), ``indices``
and ``data`` (their columns and values, and the dense coarse inverse at the end of
``data``), ``work`` (the inverted diagonals, then :math:`x_\ell, b_\ell` of the levels
below the finest: the cycle's only mutable state) and ``layout``, the offsets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# layout: a header, then FIELDS entries per level
LEVELS, SWEEPS, COARSE, HEADER = 0, 1, 2, 4
N, A_POINTERS, A_OFFSET, P_POINTERS, P_OFFSET, DIAGONAL, X, B, FIELDS = range(9)


def pack(operators, prolongators, inverse_diagonals, coarse_inverse, sweeps: int):
    """The five arrays of the cycle from the levels' CSR triples (finest first).

    ``operators`` holds every level's matrix, the coarsest last (only its size is
    used); ``prolongators`` and ``inverse_diagonals`` one fewer.
    """
    levels = len(operators)
    layout = np.zeros(HEADER + FIELDS * levels, dtype=np.int64)
    layout[LEVELS], layout[SWEEPS] = levels, sweeps
    pointers, indices, data, work = [], [], [], []
    used = {"pointers": 0, "entries": 0, "work": 0}

    def place(triple, field_pointers, field_offset, base):
        layout[base + field_pointers] = used["pointers"]
        layout[base + field_offset] = used["entries"]
        pointers.append(triple[0])
        indices.append(triple[1])
        data.append(triple[2])
        used["pointers"] += triple[0].size
        used["entries"] += triple[1].size

    for level, operator in enumerate(operators):
        base = HEADER + FIELDS * level
        layout[base + N] = operator[0].size - 1
        if level < levels - 1:
            place(operator, A_POINTERS, A_OFFSET, base)
            place(prolongators[level], P_POINTERS, P_OFFSET, base)
            layout[base + DIAGONAL] = used["work"]
            work.append(inverse_diagonals[level])
            used["work"] += inverse_diagonals[level].size
    layout[COARSE] = used["entries"]
    data.append(coarse_inverse.ravel())
    indices.append(np.zeros(0, dtype=np.uint32))
    for level in range(1, levels):
        base = HEADER + FIELDS * level
        n = layout[base + N]
        layout[base + X], layout[base + B] = used["work"], used["work"] + n
        work.append(np.zeros(2 * n))
        used["work"] += 2 * n
    return (np.concatenate(pointers or [np.zeros(0, np.int64)]).astype(np.int64),
            np.concatenate(indices).astype(np.uint32), np.concatenate(data),
            np.concatenate(work) if work else np.zeros(0), layout)


@njit(cache=True, nogil=True)
def _forward_sweeps(pointers, indices, data, base_pointers, offset, diagonal, n, sweeps, b, x):
    """x = 0, then ``sweeps`` forward Gauss-Seidel sweeps on A x = b."""
    for i in range(n):
        x[i] = 0.0
    for _ in range(sweeps):
        for i in range(n):
            s = b[i]
            for k in range(pointers[base_pointers + i] + offset,
                           pointers[base_pointers + i + 1] + offset):
                s -= data[k] * x[indices[k]]
            x[i] += diagonal[i] * s


@njit(cache=True, nogil=True)
def _restrict_residual(pointers, indices, data, a_pointers, a_offset, p_pointers, p_offset, n,
                       b, x, coarse_b, coarse_n):
    """coarse_b = P^T (b - A x)."""
    for c in range(coarse_n):
        coarse_b[c] = 0.0
    for i in range(n):
        s = b[i]
        for k in range(pointers[a_pointers + i] + a_offset,
                       pointers[a_pointers + i + 1] + a_offset):
            s -= data[k] * x[indices[k]]
        for k in range(pointers[p_pointers + i] + p_offset,
                       pointers[p_pointers + i + 1] + p_offset):
            coarse_b[indices[k]] += data[k] * s


@njit(cache=True, nogil=True)
def _correct_backward(pointers, indices, data, a_pointers, a_offset, p_pointers, p_offset,
                      diagonal, n, sweeps, b, x, coarse_x):
    """x += P coarse_x, then ``sweeps`` backward Gauss-Seidel sweeps on A x = b."""
    for i in range(n):
        s = 0.0
        for k in range(pointers[p_pointers + i] + p_offset,
                       pointers[p_pointers + i + 1] + p_offset):
            s += data[k] * coarse_x[indices[k]]
        x[i] += s
    for _ in range(sweeps):
        for i in range(n - 1, -1, -1):
            s = b[i]
            for k in range(pointers[a_pointers + i] + a_offset,
                           pointers[a_pointers + i + 1] + a_offset):
                s -= data[k] * x[indices[k]]
            x[i] += diagonal[i] * s


@njit(cache=True, nogil=True)
def _dense_solve(inverse, offset, n, b, x):
    for i in range(n):
        s = 0.0
        row = offset + i * n
        for j in range(n):
            s += inverse[row + j] * b[j]
        x[i] = s


@njit(cache=True, nogil=True, inline="always")
def _down(pointers, indices, data, work, layout, level, sweeps, b, x):
    """Pre-smoothing on ``level`` and the restricted residual, in the next level's b."""
    base = HEADER + FIELDS * level
    below = base + FIELDS
    n, coarse_n = layout[base + N], layout[below + N]
    diagonal = work[layout[base + DIAGONAL]:layout[base + DIAGONAL] + n]
    _forward_sweeps(pointers, indices, data, layout[base + A_POINTERS], layout[base + A_OFFSET],
                    diagonal, n, sweeps, b, x)
    _restrict_residual(pointers, indices, data, layout[base + A_POINTERS],
                       layout[base + A_OFFSET], layout[base + P_POINTERS],
                       layout[base + P_OFFSET], n, b, x,
                       work[layout[below + B]:layout[below + B] + coarse_n], coarse_n)


@njit(cache=True, nogil=True, inline="always")
def _up(pointers, indices, data, work, layout, level, sweeps, b, x):
    """The correction from the next level's x on ``level``, and post-smoothing."""
    base = HEADER + FIELDS * level
    below = base + FIELDS
    n, coarse_n = layout[base + N], layout[below + N]
    diagonal = work[layout[base + DIAGONAL]:layout[base + DIAGONAL] + n]
    _correct_backward(pointers, indices, data, layout[base + A_POINTERS],
                      layout[base + A_OFFSET], layout[base + P_POINTERS],
                      layout[base + P_OFFSET], diagonal, n, sweeps, b, x,
                      work[layout[below + X]:layout[below + X] + coarse_n])


@njit(cache=True, nogil=True, inline="always")
def _level_vectors(work, layout, level):
    base = HEADER + FIELDS * level
    n = layout[base + N]
    return (work[layout[base + B]:layout[base + B] + n],
            work[layout[base + X]:layout[base + X] + n])


@njit(cache=True, nogil=True)
def vcycle(pointers, indices, data, work, layout, omega, r, z):
    """z = V-cycle applied to r (the signature of every preconditioner kernel; ``omega``
    is unused).  The finest level works in ``r`` and ``z`` themselves."""
    levels = layout[LEVELS]
    sweeps = layout[SWEEPS]
    if levels == 1:
        _dense_solve(data, layout[COARSE], layout[HEADER + N], r, z)
        return
    _down(pointers, indices, data, work, layout, 0, sweeps, r, z)
    for level in range(1, levels - 1):
        b, x = _level_vectors(work, layout, level)
        _down(pointers, indices, data, work, layout, level, sweeps, b, x)
    b, x = _level_vectors(work, layout, levels - 1)
    _dense_solve(data, layout[COARSE], layout[HEADER + FIELDS * (levels - 1) + N], b, x)
    for level in range(levels - 2, 0, -1):
        b, x = _level_vectors(work, layout, level)
        _up(pointers, indices, data, work, layout, level, sweeps, b, x)
    _up(pointers, indices, data, work, layout, 0, sweeps, r, z)


def empty_layout() -> np.ndarray:
    """The layout of a stand-in hierarchy (one level of size 0), with the right types."""
    layout = np.zeros(HEADER + FIELDS, dtype=np.int64)
    layout[LEVELS] = 1
    return layout
