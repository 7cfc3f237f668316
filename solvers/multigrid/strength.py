r"""Strength of connection: which off-diagonal entries couple two unknowns strongly.

Unknowns ``i`` and ``j`` are strongly connected when

.. math:: |a_{ij}| \ge \theta \sqrt{|a_{ii}\, a_{jj}|}, \qquad a_{ij} \ne 0,\ i \ne j,

the symmetric measure of Vaněk, Mandel and Brezina (1996).  With ``theta = 0`` every
stored nonzero off-diagonal entry is strong.  Only the pattern is kept: aggregation
needs nothing else.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _count_strong(indptr, indices, data, diagonal, theta, counts):
    n = indptr.size - 1
    for i in range(n):
        c = 0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            value = data[k]
            if j != i and value != 0.0 and \
                    abs(value) >= theta * np.sqrt(abs(diagonal[i] * diagonal[j])):
                c += 1
        counts[i + 1] = c


@njit(cache=True)
def _fill_strong(indptr, indices, data, diagonal, theta, strong_indptr, strong_indices):
    n = indptr.size - 1
    for i in range(n):
        position = strong_indptr[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            value = data[k]
            if j != i and value != 0.0 and \
                    abs(value) >= theta * np.sqrt(abs(diagonal[i] * diagonal[j])):
                strong_indices[position] = j
                position += 1


def strong_connections(indptr, indices, data, diagonal, theta: float):
    """The pattern ``(indptr, indices)`` of the strong connections of a CSR matrix.

    Examples
    --------
    >>> import numpy as np
    >>> indptr, indices = np.array([0, 2, 5, 7]), np.array([0, 1, 0, 1, 2, 1, 2])
    >>> data = np.array([2.0, -1.0, -1.0, 2.0, -1e-3, -1.0, 2.0])
    >>> strong_connections(indptr, indices, data, np.array([2.0, 2.0, 2.0]), 0.25)[1].tolist()
    [1, 0, 1]
    """
    counts = np.zeros(indptr.size, dtype=np.int64)
    _count_strong(indptr, indices, data, diagonal, theta, counts)
    strong_indptr = np.cumsum(counts)
    strong_indices = np.empty(strong_indptr[-1], dtype=np.int32)
    _fill_strong(indptr, indices, data, diagonal, theta, strong_indptr, strong_indices)
    return strong_indptr, strong_indices
