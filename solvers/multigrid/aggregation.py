"""Aggregation: the unknowns grouped into disjoint aggregates, one coarse unknown each.

The greedy three-pass algorithm of Vaněk, Mandel and Brezina (1996), on the graph of
strong connections:

1. every unknown whose strong neighbours are all still free starts an aggregate made of
   itself and those neighbours;
2. every unknown left over joins the aggregate of a strong neighbour from pass 1;
3. what is left after that forms aggregates with its free strong neighbours.

An unknown with no strong connection at all (a decoupled row, such as a Dirichlet row
kept in the system) belongs to no aggregate: smoothing alone treats it.

Reference
---------
P. Vaněk, J. Mandel and M. Brezina, "Algebraic multigrid by smoothed aggregation for
second and fourth order elliptic problems", Computing 56 (1996), 179-196.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: The aggregate of an unknown that belongs to none.
UNAGGREGATED = -1
_FREE = -2


@njit(cache=True)
def _aggregate(indptr, indices, aggregate, first_pass):
    """Fill ``aggregate`` (n entries of _FREE on entry); returns the number of aggregates.

    ``first_pass``: n booleans (False on entry), set for the unknowns placed in pass 1.
    """
    n = indptr.size - 1
    count = 0
    for i in range(n):
        if indptr[i] == indptr[i + 1]:
            aggregate[i] = UNAGGREGATED
    for i in range(n):
        if aggregate[i] != _FREE:
            continue
        free = True
        for k in range(indptr[i], indptr[i + 1]):
            if aggregate[indices[k]] != _FREE:
                free = False
                break
        if free:
            aggregate[i] = count
            first_pass[i] = True
            for k in range(indptr[i], indptr[i + 1]):
                aggregate[indices[k]] = count
                first_pass[indices[k]] = True
            count += 1
    for i in range(n):
        if aggregate[i] != _FREE:
            continue
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if first_pass[j]:
                aggregate[i] = aggregate[j]
                break
    for i in range(n):
        if aggregate[i] != _FREE:
            continue
        aggregate[i] = count
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if aggregate[j] == _FREE:
                aggregate[j] = count
        count += 1
    return count


def aggregate(strong_indptr, strong_indices):
    """``(aggregate, count)``: each unknown's aggregate (or ``UNAGGREGATED``) and their number.

    Examples
    --------
    >>> import numpy as np
    >>> indptr = np.array([0, 1, 3, 5, 7, 8])        # a path 0 - 1 - 2 - 3 - 4
    >>> indices = np.array([1, 0, 2, 1, 3, 2, 4, 3])
    >>> aggregate(indptr, indices)
    (array([0, 0, 1, 1, 1]), 2)
    """
    n = strong_indptr.size - 1
    aggregates = np.full(n, _FREE, dtype=np.int64)
    count = _aggregate(strong_indptr, strong_indices, aggregates, np.zeros(n, dtype=np.bool_))
    return aggregates, int(count)
