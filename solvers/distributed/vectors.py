"""Distributed vectors: each rank holds the entries of the rows it owns, as a numpy array.

``v[A.row_start:A.row_stop]`` of a global vector is this rank's part; :func:`scatter`
hands the parts out from one rank, :func:`gather` collects them.
"""

from __future__ import annotations

import numpy as np

from ._agree import agree, checked


def scatter(v, A, root: int = 0) -> np.ndarray:
    """This rank's part of the global vector ``v`` held by rank ``root`` (collective;
    the other ranks pass ``None``).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers.distributed import scatter, scatter_matrix
    >>> A = scatter_matrix(sp.eye_array(6, format="csr"))
    >>> scatter(np.arange(6.0), A).size == A.n_local
    True
    """
    comm = A.comm
    parts, problem = None, None
    if comm.Get_rank() == root:
        parts, problem = checked(lambda: _parts(v, A))
    agree(comm, comm.bcast(problem, root=root))
    return np.ascontiguousarray(comm.scatter(parts, root=root))


def _parts(v, A) -> list[np.ndarray]:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.size != A.n:
        raise ValueError(f"v must have the matrix's {A.n} entries; got {v.size}")
    return [v[A.ranges[q]:A.ranges[q + 1]] for q in range(A.ranges.size - 1)]


def gather(x, A, root: int | None = 0) -> np.ndarray | None:
    """The global vector of the parts ``x`` of every rank (collective).

    Parameters
    ----------
    x : ndarray, shape (A.n_local,)
        This rank's part.
    A : DistributedMatrix
        The matrix whose row layout ``x`` follows.
    root : int or None
        The rank that receives the vector (the others get None); None: every rank.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers.distributed import gather, scatter_matrix
    >>> A = scatter_matrix(sp.eye_array(6, format="csr"))
    >>> gather(np.arange(A.row_start, A.row_stop, dtype=float), A, root=None)
    array([0., 1., 2., 3., 4., 5.])
    """
    comm = A.comm
    x, problem = checked(lambda: _part(x, A))
    agree(comm, problem)
    counts = np.diff(A.ranges)
    if root is None:
        out = np.empty(A.n)
        comm.Allgatherv(x, [out, counts])
        return out
    out = np.empty(A.n) if comm.Get_rank() == root else None
    comm.Gatherv(x, [out, counts] if out is not None else None, root=root)
    return out


def _part(x, A) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    if x.size != A.n_local:
        raise ValueError(f"x must have this rank's {A.n_local} entries; got {x.size}")
    return x
