r"""The Galerkin coarse operator :math:`A_c = P^T A P` by two sparse products.

Both products run row by row with a dense map from a column to its slot in the row
being formed (Gustavson's algorithm): one pass counts each row's nonzeros, a second
fills them.  The rows are split into pieces of about equal work, run in parallel, each
with a map of its own; a row is formed by the same steps whatever the piece, so the
product has the same bits on any number of threads.

Reference
---------
F. G. Gustavson, "Two fast algorithms for sparse matrices: multiplication and permuted
transposition", ACM Trans. Math. Software 4 (1978), 250-269.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Most pieces a product's rows are split into: each piece fills a column map of the
#: product's width, so they are few and large.
_PIECES = 16
#: Stored entries of the left factor per piece, at least (a smaller product is one piece).
_PIECE_ENTRIES = 1 << 16


@njit(cache=True)
def _column_counts(indices, counts):
    for k in range(indices.size):
        counts[indices[k] + 1] += 1


@njit(cache=True)
def _transpose_fill(indptr, indices, data, cursor, t_indices, t_data):
    n = indptr.size - 1
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            position = cursor[j]
            t_indices[position] = i
            t_data[position] = data[k]
            cursor[j] = position + 1


def transpose(indptr, indices, data, columns: int):
    """``(indptr, indices, data)`` of the transpose of a CSR matrix with ``columns`` columns."""
    counts = np.zeros(columns + 1, dtype=np.int64)
    _column_counts(indices, counts)
    t_indptr = np.cumsum(counts)
    t_indices = np.empty(indices.size, dtype=np.int32)
    t_data = np.empty(indices.size)
    _transpose_fill(indptr, indices, data, t_indptr[:-1].copy(), t_indices, t_data)
    return t_indptr, t_indices, t_data


def _pieces(a_indptr) -> np.ndarray:
    """Row bounds of the pieces of a product with left factor ``a``: about equal numbers
    of its stored entries each."""
    rows, entries = a_indptr.size - 1, int(a_indptr[-1])
    count = max(1, min(_PIECES, entries // _PIECE_ENTRIES))
    inner = np.searchsorted(a_indptr, np.linspace(0, entries, count + 1)[1:-1])
    return np.concatenate(([0], inner, [rows])).astype(np.int64)


@njit(cache=True, parallel=True)
def _product_counts(a_indptr, a_indices, b_indptr, b_indices, columns, pieces, counts):
    for piece in prange(pieces.size - 1):
        where = np.full(columns, -1, np.int64)
        _count_rows(a_indptr, a_indices, b_indptr, b_indices, where, counts, pieces[piece],
                    pieces[piece + 1])


@njit(cache=True, nogil=True)
def _count_rows(a_indptr, a_indices, b_indptr, b_indices, where, counts, lo, hi):
    for i in range(lo, hi):
        c = 0
        for ka in range(a_indptr[i], a_indptr[i + 1]):
            j = a_indices[ka]
            for kb in range(b_indptr[j], b_indptr[j + 1]):
                column = b_indices[kb]
                if where[column] != i:
                    where[column] = i
                    c += 1
        counts[i + 1] = c


@njit(cache=True, parallel=True)
def _product_values(a_indptr, a_indices, a_data, scale, shift, b_indptr, b_indices, b_data,
                    columns, pieces, c_indptr, c_indices, c_data):
    """C = (shift I + diag(scale) A) B, in the pattern counted (A's diagonal stored when
    ``shift`` is not 0)."""
    for piece in prange(pieces.size - 1):
        where = np.full(columns, -1, np.int64)
        _fill_rows(a_indptr, a_indices, a_data, scale, shift, b_indptr, b_indices, b_data,
                   where, c_indptr, c_indices, c_data, pieces[piece], pieces[piece + 1])


@njit(cache=True, nogil=True)
def _fill_rows(a_indptr, a_indices, a_data, scale, shift, b_indptr, b_indices, b_data,
               where, c_indptr, c_indices, c_data, lo, hi):
    """Rows ``lo:hi`` of the product; ``where`` (-1s) maps a column to its slot in the row
    being formed."""
    for i in range(lo, hi):
        start = c_indptr[i]
        end = start
        for ka in range(a_indptr[i], a_indptr[i + 1]):
            j = a_indices[ka]
            value = scale[i] * a_data[ka] + (shift if j == i else 0.0)
            for kb in range(b_indptr[j], b_indptr[j + 1]):
                column = b_indices[kb]
                if where[column] < start:
                    where[column] = end
                    c_indices[end] = column
                    c_data[end] = 0.0
                    end += 1
                c_data[where[column]] += value * b_data[kb]


def product(a, b, columns: int, scale=None, shift: float = 0.0):
    """``(indptr, indices, data)`` of :math:`(s I + \\mathrm{diag}(d) A) B` for CSR matrices
    ``a`` and ``b`` given as triples, ``b`` having ``columns`` columns: ``scale`` ``d``
    (default ones) and ``shift`` ``s`` (default 0; if not 0, ``a`` stores its diagonal)."""
    a_indptr, a_indices, a_data = a
    b_indptr, b_indices, b_data = b
    counts = np.zeros(a_indptr.size, dtype=np.int64)
    pieces = _pieces(a_indptr)
    _product_counts(a_indptr, a_indices, b_indptr, b_indices, columns, pieces, counts)
    c_indptr = np.cumsum(counts)
    c_indices = np.empty(c_indptr[-1], dtype=np.int32)
    c_data = np.empty(c_indptr[-1])
    if scale is None:
        scale = np.ones(a_indptr.size - 1)
    _product_values(a_indptr, a_indices, a_data, scale, float(shift), b_indptr, b_indices,
                    b_data, columns, pieces, c_indptr, c_indices, c_data)
    return c_indptr, c_indices, c_data


def galerkin_product(A, P, coarse: int, R=None):
    r""":math:`P^T A P` for CSR triples ``A`` (n x n) and ``P`` (n x coarse), and ``R``
    (:math:`P^T`, :func:`transpose` of ``P``) when already formed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.random_array((6, 6), density=0.5, format="csr", rng=1) + sp.eye_array(6)
    >>> P = sp.random_array((6, 2), density=0.6, format="csr", rng=2)
    >>> indptr, indices, data = galerkin_product((A.indptr, A.indices, A.data),
    ...                                        (P.indptr, P.indices, P.data), 2)
    >>> Ac = sp.csr_array((data, indices, indptr), shape=(2, 2))
    >>> bool(np.allclose(Ac.toarray(), (P.T @ A @ P).toarray()))
    True
    """
    n = A[0].size - 1
    AP = product(A, P, coarse)
    if not n:
        return AP
    return product(transpose(*P, coarse) if R is None else R, AP, coarse)
