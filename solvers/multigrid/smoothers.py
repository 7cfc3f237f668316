r"""The smoothers of the V-cycle: Gauss-Seidel in parallel blocks, Chebyshev and
l1-Jacobi (row-parallel), each symmetric so that the cycle stays a symmetric operator.

With :math:`D` the diagonal of :math:`A`:

* ``gauss_seidel``: forward sweeps before the coarse correction and backward sweeps after
  it, the adjoints of each other.  The rows are split into fixed blocks of about equal
  work (``n //`` :data:`BLOCK_ROWS` of them, at most 64; a smaller matrix is one block,
  exact Gauss-Seidel), the blocks swept in parallel: within a block a sweep uses the newest
  values, from the other blocks those of the sweep's start.  A row coupled out of its
  block gets the l1 weight of those couplings on its diagonal,
  :math:`a_{ii} + \sum_{j \notin \mathcal{B}(i)} |a_{ij}|` (hybrid l1 Gauss-Seidel,
  Baker et al. 2011), which makes the sweep converge for every symmetric positive
  definite :math:`A` however the blocks fall.  The blocks follow from the matrix alone,
  so a sweep has the same bits on any number of threads;
* ``chebyshev``: :math:`x \leftarrow x + p(D^{-1}A) D^{-1}(b - Ax)` with :math:`p` of
  degree ``sweeps - 1`` such that :math:`1 - \lambda p(\lambda)` is the Chebyshev
  polynomial of degree ``sweeps`` on :math:`[\lambda_{max}/` :data:`EIGENVALUE_RATIO`
  :math:`, \lambda_{max}]`, scaled to 1 at 0 (the three-term recurrence of Saad,
  Algorithm 12.1); :math:`\lambda_{max}` is an upper estimate of :math:`\rho(D^{-1}A)`;
* ``l1_jacobi``: ``sweeps`` steps :math:`x \leftarrow x + D_1^{-1}(b - Ax)`,
  :math:`(D_1)_{ii} = \sum_j |a_{ij}|`, which converge for every symmetric positive
  definite :math:`A` without a damping weight (Baker, Falgout, Kolev and Yang, 2011).

The last two are polynomials in :math:`D^{-1}A` (or :math:`D_1^{-1}A`) times that
diagonal: symmetric, the same before and after the coarse correction, and every row of
a step depends only on the previous iterate, so the rows run in parallel (``prange``)
and give the same bits on any number of threads.

References
----------
Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM (2003), sec. 12.3.
M. Adams, M. Brezina, J. Hu and R. Tuminaro, "Parallel multigrid smoothing: polynomial
versus Gauss-Seidel", J. Comput. Phys. 188 (2003), 593-610.
A. H. Baker, R. D. Falgout, T. V. Kolev and U. M. Yang, "Multigrid smoothers for
ultraparallel computing", SIAM J. Sci. Comput. 33 (2011), 2864-2887.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from .._csr import row_chunks

#: The smoothers by name, as :func:`solvers.amg` takes them, and their codes in the cycle.
GAUSS_SEIDEL, CHEBYSHEV, L1_JACOBI = 0, 1, 2
SMOOTHERS = {"gauss_seidel": GAUSS_SEIDEL, "chebyshev": CHEBYSHEV, "l1_jacobi": L1_JACOBI}
#: Chebyshev damps the upper part of the spectrum, [lambda_max / ratio, lambda_max]: the
#: part the coarse levels do not correct (about the coarsening ratio of 2D aggregation,
#: 6 to 9 unknowns an aggregate, times a margin).
EIGENVALUE_RATIO = 10.0
#: Margin over the power-iteration estimate of rho(D^-1 A), which lies below it.
UPPER_MARGIN = 1.1
# Rows below which a parallel region costs more than it saves (a thread start is about
# 1-2 microseconds; a row about 10 nanoseconds).
_PARALLEL_ROWS = 8192
#: Rows per Gauss-Seidel block: a matrix has ``n // BLOCK_ROWS`` blocks (at least one,
#: at most 64) of about equal work.  At 1e6 unknowns (2D Poisson P1) that is 15 blocks,
#: and CG takes the 8 iterations of serial Gauss-Seidel; with 4096 rows a block, 9.
BLOCK_ROWS = 65536


@njit(cache=True, nogil=True)
def row_sum(indptr, indices, data, x, i, s):
    """s - A[i] x (unsigned counters: Numba tests a signed index for wrap-around at every
    load, see ``solvers/_csr.py``)."""
    for k in range(uint64(indptr[i]), uint64(indptr[i + uint64(1)])):
        s -= data[k] * x[indices[k]]
    return s


@njit(cache=True, nogil=True, parallel=True)
def residual(indptr, indices, data, b, x, r):
    """r = b - A x, rows in parallel."""
    n = b.size
    if n < _PARALLEL_ROWS:
        for i in range(n):
            r[i] = row_sum(indptr, indices, data, x, uint64(i), b[i])
    else:
        for i in prange(n):
            r[i] = row_sum(indptr, indices, data, x, uint64(i), b[i])


@njit(cache=True, nogil=True, parallel=True)
def _scaled_residual_step(indptr, indices, data, scale, b, x, d, keep, weight):
    """d = keep d + weight scale (b - A x), rows in parallel."""
    n = b.size
    if n < _PARALLEL_ROWS:
        for i in range(n):
            d[i] = keep * d[i] + weight * scale[i] * row_sum(indptr, indices, data, x,
                                                              uint64(i), b[i])
    else:
        for i in prange(n):
            d[i] = keep * d[i] + weight * scale[i] * row_sum(indptr, indices, data, x,
                                                              uint64(i), b[i])


@njit(cache=True, nogil=True, parallel=True)
def _add(x, d, first):
    """x += d, or x = d when ``first`` (x unset), rows in parallel."""
    n = x.size
    if n < _PARALLEL_ROWS:
        for i in range(n):
            x[i] = d[i] if first else x[i] + d[i]
    else:
        for i in prange(n):
            x[i] = d[i] if first else x[i] + d[i]


@njit(cache=True, nogil=True, parallel=True)
def multiply(indptr, indices, data, x, y, add):
    """y = M x, or y += M x when ``add``, rows in parallel (the restriction by the stored
    P^T, and the prolongation's correction by P)."""
    n = y.size
    if n < _PARALLEL_ROWS:
        for i in range(n):
            y[i] = (y[i] if add else 0.0) - row_sum(indptr, indices, data, x, uint64(i), 0.0)
    else:
        for i in prange(n):
            y[i] = (y[i] if add else 0.0) - row_sum(indptr, indices, data, x, uint64(i), 0.0)


@njit(cache=True, nogil=True)
def chebyshev(indptr, indices, data, inverse_diagonal, lower, upper, degree, b, x, d, zero):
    """``x += p(D^-1 A) D^-1 (b - A x)``, p for the interval [lower, upper] (x = 0 on entry
    when ``zero``: no product then); ``d`` is work space of x's size."""
    centre, half_width = 0.5 * (upper + lower), 0.5 * (upper - lower)
    sigma = centre / half_width
    rho = 1.0 / sigma
    if zero:
        for i in range(b.size):
            d[i] = inverse_diagonal[i] * b[i] / centre
    else:
        _scaled_residual_step(indptr, indices, data, inverse_diagonal, b, x, d, 0.0,
                              1.0 / centre)
    for step in range(degree):
        _add(x, d, zero and step == 0)
        if step == degree - 1:
            break
        following = 1.0 / (2.0 * sigma - rho)
        _scaled_residual_step(indptr, indices, data, inverse_diagonal, b, x, d,
                              following * rho, 2.0 * following / half_width)
        rho = following


@njit(cache=True, nogil=True)
def l1_jacobi(indptr, indices, data, inverse_l1, sweeps, b, x, d, zero):
    """``sweeps`` steps x += D_1^-1 (b - A x) (x = 0 on entry when ``zero``)."""
    for step in range(sweeps):
        if zero and step == 0:
            for i in range(b.size):
                x[i] = inverse_l1[i] * b[i]
            continue
        _scaled_residual_step(indptr, indices, data, inverse_l1, b, x, d, 0.0, 1.0)
        _add(x, d, False)


def inverse_l1_row_sums(indptr, indices, data) -> np.ndarray:
    r""":math:`1 / \sum_j |a_{ij}|` of every row of a CSR matrix.

    Examples
    --------
    >>> import numpy as np
    >>> inverse_l1_row_sums(np.array([0, 2, 4]), np.array([0, 1, 0, 1]),
    ...                     np.array([2.0, -1.0, -1.0, 4.0])).tolist()
    [0.3333333333333333, 0.2]
    """
    n = indptr.size - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    return 1.0 / np.bincount(rows, weights=np.abs(data), minlength=n)


def gauss_seidel_blocks(indptr) -> np.ndarray:
    """Row bounds of the Gauss-Seidel blocks of a CSR matrix: ``n //`` :data:`BLOCK_ROWS`
    blocks (at least one, at most 64) of about equal work."""
    return row_chunks(indptr, BLOCK_ROWS)


@njit(cache=True, nogil=True, parallel=True)
def _inverse_block_diagonal(indptr, indices, data, blocks, inverse):
    for block in prange(blocks.size - 1):
        lo, hi = blocks[block], blocks[block + 1]
        for i in range(lo, hi):
            s = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if j == i:
                    s += data[k]
                elif j < lo or j >= hi:
                    s += abs(data[k])
            inverse[i] = 1.0 / s


def inverse_block_diagonal(indptr, indices, data, blocks) -> np.ndarray:
    r""":math:`1 / (a_{ii} + \sum_{j \notin \mathcal{B}(i)} |a_{ij}|)` for every row
    :math:`i` of a CSR matrix, :math:`\mathcal{B}(i)` the rows of its block: the diagonal
    of l1 Gauss-Seidel (:math:`1 / a_{ii}` where a row has no coupling out of its block).

    Examples
    --------
    >>> import numpy as np
    >>> inverse_block_diagonal(np.array([0, 2, 4]), np.array([0, 1, 0, 1]),
    ...                        np.array([2.0, -1.0, -1.0, 4.0]), np.array([0, 1, 2])).tolist()
    [0.3333333333333333, 0.2]
    """
    inverse = np.empty(indptr.size - 1)
    _inverse_block_diagonal(indptr, indices, data, np.asarray(blocks, dtype=np.int64), inverse)
    return inverse


@njit(cache=True, nogil=True, inline="always")
def _sweep_block(indptr, indices, data, diagonal, b, x, previous, lo, hi, forward):
    """One Gauss-Seidel sweep over rows lo:hi, ``previous`` standing for x outside them."""
    for step in range(hi - lo):
        i = lo + step if forward else hi - uint64(1) - step
        s = b[i]
        for k in range(uint64(indptr[i]), uint64(indptr[i + uint64(1)])):
            j = uint64(indices[k])
            s -= data[k] * (x[j] if lo <= j < hi else previous[j])
        x[i] += diagonal[i] * s


@njit(cache=True, nogil=True, parallel=True)
def block_sweeps(indptr, indices, data, diagonal, blocks, sweeps, b, x, previous, forward):
    """``sweeps`` forward (or backward) l1 Gauss-Seidel sweeps on A x = b, the blocks in
    parallel; ``previous`` is work space of x's size."""
    count = blocks.size - 1
    for _ in range(sweeps):
        if count == 1:
            _sweep_block(indptr, indices, data, diagonal, b, x, x, uint64(0),
                         uint64(b.size), forward)
            continue
        _add(previous, x, True)  # previous = x
        for block in prange(count):
            _sweep_block(indptr, indices, data, diagonal, b, x, previous,
                         uint64(blocks[block]), uint64(blocks[block + 1]), forward)
