r"""Prolongators: the tentative one from the aggregates, and its Jacobi smoothing.

The tentative prolongator :math:`T` interpolates the near-null space :math:`B` (an
``n x k`` block: the constants by default) exactly: on each aggregate the rows of
:math:`B` are factored :math:`B_a = Q_a R_a` (thin QR), :math:`T` holds the
:math:`Q_a` and the coarse near-null space is :math:`B_c = [R_a]_a`, so that
:math:`T B_c = B` with orthonormal columns of :math:`T`.

The prolongator is :math:`T` smoothed by one damped Jacobi step,

.. math:: P = \left(I - \frac{\omega}{\rho(D^{-1}A)} D^{-1} A\right) T,
          \qquad \omega = \tfrac43,

with :math:`\rho(D^{-1}A)` estimated by a few power iterations.

Reference
---------
P. Vaněk, J. Mandel and M. Brezina, "Algebraic multigrid by smoothed aggregation for
second and fourth order elliptic problems", Computing 56 (1996), 179-196.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._csr import _spmv_rows, axpby, row_chunks
from .galerkin import product
from .smoothers import block_sweeps

# A column of B whose norm on an aggregate falls below this share of its norm before
# orthogonalisation is linearly dependent on the others there.
_DEPENDENT = 1e-10


@njit(cache=True)
def _orthonormalise(members, starts, B, values, coarse_B):
    """Thin QR of B on every aggregate by modified Gram-Schmidt.

    ``values`` (n x k, zeros) receives the rows of Q by unknown, ``coarse_B``
    (count k x k, zeros) the blocks R.  Returns the first aggregate on which the
    columns of B are linearly dependent, or -1.
    """
    count = starts.size - 1
    k = B.shape[1]
    dependent = -1
    for a in range(count):
        lo, hi = starts[a], starts[a + 1]
        for c in range(k):
            original = 0.0
            for m in range(lo, hi):
                i = members[m]
                values[i, c] = B[i, c]
                original += B[i, c] * B[i, c]
            for previous in range(c):
                dot = 0.0
                for m in range(lo, hi):
                    i = members[m]
                    dot += values[i, previous] * values[i, c]
                coarse_B[a * k + previous, c] = dot
                for m in range(lo, hi):
                    i = members[m]
                    values[i, c] -= dot * values[i, previous]
            norm = 0.0
            for m in range(lo, hi):
                i = members[m]
                norm += values[i, c] * values[i, c]
            if not norm > _DEPENDENT * _DEPENDENT * original:
                if dependent < 0:
                    dependent = a
                continue
            norm = np.sqrt(norm)
            coarse_B[a * k + c, c] = norm
            for m in range(lo, hi):
                i = members[m]
                values[i, c] /= norm
    return dependent


def tentative_prolongator(aggregates, count: int, B):
    """``(indptr, indices, data, coarse_B)`` of :math:`T` (CSR, n x count k) and :math:`B_c`.

    Raises
    ------
    ValueError
        If the columns of ``B`` are linearly dependent on an aggregate.

    Examples
    --------
    >>> import numpy as np
    >>> indptr, indices, data, coarse = tentative_prolongator(
    ...     np.array([0, 0, 1, 1, 1]), 2, np.ones((5, 1)))
    >>> indices.tolist(), np.round(6 * data ** 2, 12).tolist()
    ([0, 0, 1, 1, 1], [3.0, 3.0, 2.0, 2.0, 2.0])
    >>> np.round(coarse ** 2, 12).ravel().tolist()   # the aggregates' sizes
    [2.0, 3.0]
    """
    n, k = B.shape
    members = np.argsort(aggregates, kind="stable")
    sizes = np.bincount(aggregates + 1, minlength=count + 1)  # slot 0: unaggregated
    starts = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes[1:], out=starts[1:])
    members = members[sizes[0]:]
    values = np.zeros((n, k))
    coarse_B = np.zeros((count * k, k))
    dependent = _orthonormalise(members, starts, np.ascontiguousarray(B, dtype=np.float64),
                                values, coarse_B)
    if dependent >= 0:
        raise ValueError(f"B: the near-null-space vectors are linearly dependent on aggregate"
                         f" {dependent} ({starts[dependent + 1] - starts[dependent]} unknowns);"
                         " give linearly independent vectors, or fewer of them")
    aggregated = aggregates >= 0
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(aggregated * k, out=indptr[1:])
    columns = aggregates[aggregated, None] * k + np.arange(k)
    return indptr, columns.ravel().astype(np.int32), values[aggregated].ravel(), coarse_B


def relax_candidates(indptr, indices, data, inverse_diagonal, blocks, B,
                     sweeps: int) -> np.ndarray:
    """The near-null space smoothed by ``sweeps`` symmetric l1 Gauss-Seidel sweeps on
    :math:`A x = 0` (:func:`.smoothers.block_sweeps`, with its ``inverse_diagonal`` and
    ``blocks``): what smoothing leaves of it is what the coarse levels must represent
    (a copy; ``B`` is not changed).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_array(sp.diags([-np.ones(9), 2 * np.ones(10), -np.ones(9)], [-1, 0, 1]))
    >>> B = relax_candidates(A.indptr, A.indices, A.data, 0.5 * np.ones(10), np.array([0, 10]),
    ...                      np.ones((10, 1)), 4)
    >>> bool(B[0, 0] < B[5, 0])   # pulled down next to the Dirichlet ends
    True
    """
    relaxed = np.array(B, dtype=np.float64, order="F")  # each column contiguous
    n = relaxed.shape[0]
    zero, previous = np.zeros(n), np.empty(n)
    # the cycle's index types (the levels' int32 columns, seen as uint32)
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int32).view(np.uint32)
    blocks = np.asarray(blocks, dtype=np.int64)
    for column in relaxed.T:
        for _ in range(sweeps):
            for forward in (True, False):
                block_sweeps(indptr, indices, data, inverse_diagonal, blocks, 1, zero, column,
                             previous, forward)
    return np.ascontiguousarray(relaxed)


@njit(cache=True)
def _scaled_product_rows(indptr, indices, data, inverse_diagonal, v, w, lo, hi):
    """``w = D^-1 A v`` on rows ``lo:hi``; returns the squares of v and of w summed there."""
    _spmv_rows(indptr, indices, data, v, w, lo, hi)
    norm_v = 0.0
    norm_w = 0.0
    for i in range(lo, hi):
        s = w[i] * inverse_diagonal[i]
        w[i] = s
        norm_v += v[i] * v[i]
        norm_w += s * s
    return norm_v, norm_w


@njit(cache=True, parallel=True)
def _power_iteration(indptr, indices, data, inverse_diagonal, v, w, steps, bounds):
    """Estimate of the spectral radius of D^-1 A by ``steps`` power iterations from ``v``.

    The row chunks ``bounds`` run in parallel and their sums are added in chunk order,
    so that the estimate has the same bits on any number of threads.
    """
    chunks = bounds.size - 1
    norms_v = np.empty(chunks)
    norms_w = np.empty(chunks)
    estimate = 0.0
    for _ in range(steps):
        for c in prange(chunks):
            norms_v[c], norms_w[c] = _scaled_product_rows(
                indptr, indices, data, inverse_diagonal, v, w, bounds[c], bounds[c + 1])
        norm_v = 0.0
        norm_w = 0.0
        for c in range(chunks):  # in chunk order, on one thread (an array's .sum() here
            norm_v += norms_v[c]  # would be a parallel reduction: parallel=True makes it one)
            norm_w += norms_w[c]
        if norm_w == 0.0:
            return 0.0
        estimate = np.sqrt(norm_w / norm_v)
        axpby(1.0 / np.sqrt(norm_w), w, 0.0, v, bounds)
    return estimate


def spectral_radius(indptr, indices, data, inverse_diagonal, steps: int = 10) -> float:
    r"""Power-iteration estimate of :math:`\rho(D^{-1} A)`, from a fixed random start.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_array(sp.diags([-np.ones(99), 2 * np.ones(100), -np.ones(99)], [-1, 0, 1]))
    >>> 1.9 < spectral_radius(A.indptr, A.indices, A.data, 0.5 * np.ones(100), 50) <= 2.0
    True
    """
    n = indptr.size - 1
    start = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    return float(_power_iteration(indptr, indices, data, inverse_diagonal, start,
                                  np.empty(n), steps, row_chunks(indptr)))


def smooth_prolongator(indptr, indices, data, inverse_diagonal, weight: float, tentative,
                       columns: int):
    r"""``(indptr, indices, data)`` of :math:`P = (I - w D^{-1} A) T` (CSR, n x columns)."""
    return product((indptr, indices, data), tentative, columns, -weight * inverse_diagonal,
                   1.0)
