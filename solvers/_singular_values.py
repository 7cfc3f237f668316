r"""The largest and the smallest singular value of a small dense matrix, values only.

GMRES folds those of every cycle's Hessenberg matrix into its condition estimate.  Numba's
``np.linalg.svd`` has no values-only form: it computes both sets of singular vectors too,
about 100 us for a 31 x 30 matrix here, some 8 % of a GMRES(30) cycle at n = 1e4 on two
threads.  The two values alone take about half of that (55 us):

1. Householder bidiagonalization (Golub and Kahan): unitary reflections from the left and
   the right reduce the ``rows x cols`` matrix (``rows >= cols``) to an upper bidiagonal
   ``B``.  Only the moduli of its entries matter (a unitary diagonal scaling makes them
   real and non-negative without changing a singular value), so the reflections are
   applied to the rest of the matrix and only ``|d_k|``, ``|e_k|`` are kept.
2. The eigenvalues of the Golub-Kahan matrix :math:`T`, symmetric tridiagonal of order
   ``2 cols`` with a zero diagonal and off-diagonal :math:`d_0, e_0, d_1, \dots, d_{c-1}`,
   are :math:`\pm\sigma_i(B)`: :math:`\sigma_{\max}` is its largest and
   :math:`\sigma_{\min}` its ``cols``-th smallest (0-based).  Both are found by bisection
   on Sylvester's inertia (the signs of the pivots of :math:`T - x I`), the two searches
   interleaved so that their divisions overlap.

Accuracy: the reduction is backward stable, so each computed value is within a small
multiple of :math:`\varepsilon \|A\|_2` of the exact one, as LAPACK's SVD of a dense
matrix is; bisection stops at a relative width of :data:`RELATIVE_WIDTH`.  The matrix is
scaled by its largest modulus first, so no square overflows.

References: G. H. Golub and W. Kahan, "Calculating the singular values and pseudo-inverse
of a matrix", SIAM J. Numer. Anal. B 2 (1965) 205-224; J. Demmel and W. Kahan, "Accurate
singular values of bidiagonal matrices", SIAM J. Sci. Stat. Comput. 11 (1990) 873-912;
G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., sections 5.4.8 and 8.4.1.
"""

import math

import numpy as np
from numba import njit

from ._scalar import abs2, conj

#: Bisection stops when the bracket is this narrow relative to the value (about 12 digits).
RELATIVE_WIDTH = 2.0**-40


@njit(cache=True, nogil=True)
def extreme_singular_values(matrix, rows, cols):
    """``(sigma_max, sigma_min)`` of ``matrix[:rows, :cols]`` (``rows >= cols >= 1``);
    NaNs when an entry is not finite.  ``matrix`` is not modified."""
    scale = 0.0
    for i in range(rows):
        for j in range(cols):
            size = abs(matrix[i, j])
            if not math.isfinite(size):
                return np.nan, np.nan
            scale = max(scale, size)
    if scale == 0.0:
        return 0.0, 0.0
    work = np.empty((rows, cols), dtype=matrix.dtype)
    for i in range(rows):
        for j in range(cols):
            work[i, j] = matrix[i, j] / scale
    couplings = _bidiagonal_moduli(work, rows, cols)
    largest, smallest = _bisect_extremes(couplings, cols)
    return scale * largest, scale * smallest


@njit(cache=True, nogil=True)
def _bidiagonal_moduli(work, rows, cols):
    """The off-diagonal of the Golub-Kahan matrix, ``d_0, e_0, d_1, ..., d_{cols-1}``: the
    moduli of the bidiagonal that Householder reflections make of ``work`` (overwritten)."""
    couplings = np.zeros(2 * cols - 1)
    products = np.empty(cols, dtype=work.dtype)  # scratch of the column reflections
    for k in range(cols):
        couplings[2 * k] = _reflect_column(work, rows, cols, k, products)
        if k + 1 < cols:
            couplings[2 * k + 1] = _reflect_row(work, rows, cols, k)
    return couplings


@njit(cache=True, nogil=True, inline="always")
def _reflector(work_entry, norm):
    """``(phase, tau)`` of the reflection :math:`I - \\tau v v^H` that maps a vector of
    norm ``norm`` and first entry ``work_entry`` to a multiple of the first unit vector:
    ``v`` is the vector with ``phase * norm`` added to its first entry."""
    first = abs(work_entry)
    phase = work_entry / first if first > 0.0 else work_entry * 0.0 + 1.0
    return phase, 1.0 / (norm * (norm + first))


@njit(cache=True, nogil=True)
def _reflect_column(work, rows, cols, k, products):
    """Zero ``work[k+1:, k]`` by a reflection from the left (applied to the columns after
    ``k``, with ``products`` as scratch); returns the modulus of the new ``work[k, k]``."""
    norm = 0.0
    for i in range(k, rows):
        norm += abs2(work[i, k])
    norm = math.sqrt(norm)
    if norm == 0.0:
        return 0.0
    phase, tau = _reflector(work[k, k], norm)
    work[k, k] += phase * norm  # now v, in column k
    # products[j] = tau v^H work[k:, j], summed row by row: the inner loops run along rows
    for j in range(k + 1, cols):
        products[j] = 0.0
    for i in range(k, rows):
        entry = conj(work[i, k])
        for j in range(k + 1, cols):
            products[j] += entry * work[i, j]
    for j in range(k + 1, cols):
        products[j] *= tau
    for i in range(k, rows):
        entry = work[i, k]
        for j in range(k + 1, cols):
            work[i, j] -= products[j] * entry
    return norm


@njit(cache=True, nogil=True)
def _reflect_row(work, rows, cols, k):
    """Zero ``work[k, k+2:]`` by a reflection from the right (applied to the rows after
    ``k``); returns the modulus of the new ``work[k, k+1]``."""
    norm = 0.0
    for j in range(k + 1, cols):
        norm += abs2(work[k, j])
    norm = math.sqrt(norm)
    if norm == 0.0:
        return 0.0
    # the reflection that maps conj(row) to a multiple of e_1, applied from the right:
    # row_i <- row_i - tau (row_i v) v^H with v = conj(row) + phase norm e_1
    phase, tau = _reflector(conj(work[k, k + 1]), norm)
    for j in range(k + 1, cols):
        work[k, j] = conj(work[k, j])
    work[k, k + 1] += phase * norm  # now v, in row k
    for i in range(k + 1, rows):
        product = work[i, k] * 0.0
        for j in range(k + 1, cols):
            product += work[i, j] * work[k, j]
        product *= tau
        for j in range(k + 1, cols):
            work[i, j] -= product * conj(work[k, j])
    return norm


@njit(cache=True, nogil=True, inline="always")
def _count_below(couplings, x, pivot_floor):
    """The eigenvalues of the Golub-Kahan matrix below ``x``: the negative pivots of
    :math:`T - x I` (a pivot too small to divide by is taken as ``-pivot_floor``)."""
    below = 0
    pivot = 1.0
    for i in range(couplings.size + 1):
        pivot = -x if i == 0 else -x - couplings[i - 1] * couplings[i - 1] / pivot
        if abs(pivot) < pivot_floor:
            pivot = -pivot_floor
        if pivot < 0.0:
            below += 1
    return below


@njit(cache=True, nogil=True, inline="always")
def _halve(couplings, low, high, rank, pivot_floor, absolute_width):
    """One bisection step for the eigenvalue of 0-based ``rank`` in ``(low, high]``:
    the half that holds it, and whether it is still wider than the stopping width."""
    middle = 0.5 * (low + high)
    if _count_below(couplings, middle, pivot_floor) > rank:
        high = middle
    else:
        low = middle
    return low, high, high - low > max(RELATIVE_WIDTH * high, absolute_width)


@njit(cache=True, nogil=True)
def _bisect_extremes(couplings, cols):
    """The largest and the ``cols``-th smallest eigenvalue of the Golub-Kahan matrix with
    off-diagonal ``couplings``: :math:`\\sigma_{\\max}` and :math:`\\sigma_{\\min}`."""
    bound = 0.0  # Gershgorin: every eigenvalue lies in [-bound, bound]
    for i in range(couplings.size + 1):
        left = couplings[i - 1] if i > 0 else 0.0
        right = couplings[i] if i < couplings.size else 0.0
        bound = max(bound, left + right)
    if bound == 0.0:
        return 0.0, 0.0
    pivot_floor = 1e-290 * max(1.0, bound * bound)
    absolute_width = 1e-30 * bound  # below the backward error: nothing left to resolve
    top, bottom = 2 * cols - 1, cols  # 0-based ranks of sigma_max and sigma_min
    # brackets [low, high] with count(low) <= rank < count(high)
    low_max, high_max = 0.0, bound * (1.0 + 1e-15) + absolute_width
    # sigma_min is at most the norm of any row (d_k, e_k) of the bidiagonal
    low_min, high_min = 0.0, high_max
    for k in range(cols):
        row = math.hypot(couplings[2 * k], couplings[2 * k + 1] if k + 1 < cols else 0.0)
        high_min = min(high_min, row * (1.0 + 1e-15) + absolute_width)
    searching_max = searching_min = True
    while searching_max or searching_min:  # interleaved: their divisions overlap
        if searching_max:
            low_max, high_max, searching_max = _halve(couplings, low_max, high_max, top,
                                                      pivot_floor, absolute_width)
        if searching_min:
            low_min, high_min, searching_min = _halve(couplings, low_min, high_min, bottom,
                                                      pivot_floor, absolute_width)
    return 0.5 * (low_max + high_max), 0.5 * (low_min + high_min)
