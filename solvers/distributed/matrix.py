r"""A row-partitioned CSR matrix: each rank owns a contiguous range of rows.

Rank ``q`` owns the global rows ``ranges[q] <= i < ranges[q + 1]`` (PETSc's layout) and
stores them as a local CSR matrix whose columns are renumbered: the columns it owns are
``0 .. n_local - 1`` (global ``i`` is local ``i - row_start``), and the others it needs,
its *ghosts*, follow as ``n_local ..``, sorted by global index (hence by the rank that
owns them).  A product :math:`y = A x` then needs the ghost entries of ``x`` from their
owners: the *halo exchange*, whose plan (who sends which entries to whom) is built
once here, with the matrix.

Rows that touch no ghost column (the *interior*) are multiplied while the halo is in
flight; the others (the *boundary*) once it has arrived.  Both are kept as runs of
consecutive rows, so that the serial CSR kernel does the work on each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ._agree import agree, checked
from ._mpi import Link, link


@dataclass(frozen=True, eq=False)
class DistributedMatrix:
    """This rank's rows of a square matrix partitioned by rows over a communicator.

    Build it with :func:`from_rows` (each rank gives its own rows) or
    :func:`scatter_matrix` (rank 0 gives the whole matrix); pass it to
    :func:`solvers.cg` or :func:`solvers.gmres` with ``b`` (and ``x0``) as this rank's
    part, ``b[row_start:row_stop]`` of the global vector.

    Attributes
    ----------
    n : int
        Global number of rows (and columns).
    ranges : ndarray of int64, shape (P + 1,)
        Rank ``q`` owns the rows ``ranges[q] .. ranges[q + 1] - 1``.
    indptr, indices, data : ndarray
        The owned rows in CSR form with local column numbers (ghosts from ``n_local``).
    ghosts : ndarray of int64
        Global numbers of the ghost columns, ascending.
    recv_ranks, recv_offsets : ndarray of int64
        Neighbour ``recv_ranks[m]`` sends the ghosts ``recv_offsets[m] .. recv_offsets[m+1]-1``.
    send_ranks, send_offsets, send_indices : ndarray of int64
        Neighbour ``send_ranks[m]`` receives the owned entries
        ``send_indices[send_offsets[m] .. send_offsets[m+1]-1]`` (local numbers).
    interior, boundary : ndarray of int64, shape (runs, 2)
        Runs ``[lo, hi)`` of local rows without, and with, ghost columns.
    """

    link: Link
    n: int
    ranges: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    ghosts: np.ndarray
    recv_ranks: np.ndarray
    recv_offsets: np.ndarray
    send_ranks: np.ndarray
    send_offsets: np.ndarray
    send_indices: np.ndarray
    interior: np.ndarray
    boundary: np.ndarray

    @property
    def comm(self):
        return self.link.comm

    @property
    def rank(self) -> int:
        return self.link.rank

    @property
    def row_start(self) -> int:
        return int(self.ranges[self.rank])

    @property
    def row_stop(self) -> int:
        return int(self.ranges[self.rank + 1])

    @property
    def n_local(self) -> int:
        return self.indptr.size - 1

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @cached_property
    def local_block(self) -> sp.csr_array:
        """The square block of the owned rows and columns (block Jacobi factorises it;
        kept once built, for the next solve)."""
        n_local = self.n_local
        rows = sp.csr_array((self.data, self.indices, self.indptr),
                            shape=(n_local, n_local + self.ghosts.size))
        return sp.csr_array(rows[:, :n_local])

    def __repr__(self) -> str:
        return (f"DistributedMatrix(n={self.n}, rank={self.rank} of {self.ranges.size - 1}, "
                f"rows {self.row_start}..{self.row_stop - 1}, ghosts={self.ghosts.size}, "
                f"neighbours={self.recv_ranks.size})")


def from_rows(rows, comm=None) -> DistributedMatrix:
    r"""The distributed matrix of which each rank holds its own rows (global columns).

    Collective: every rank of ``comm`` calls it with its block of rows; the blocks are
    stacked in rank order (rank 0 first), so each rank owns a contiguous range of rows.

    Parameters
    ----------
    rows : sparse matrix, shape (n_local, n)
        This rank's rows, with global column indices; ``n`` is the sum of every rank's
        ``n_local``.  Each rank needs at least one row.
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.

    Returns
    -------
    DistributedMatrix

    Raises
    ------
    ValueError, TypeError
        On every rank, if any rank's rows are wrong (naming the rank).

    Examples
    --------
    The 1D Laplacian with ``n = 4 P`` rows, four on each rank, built without ever
    forming the global matrix (run under ``mpiexec -n P``; here it also runs alone):

    >>> import numpy as np, scipy.sparse as sp
    >>> from mpi4py import MPI
    >>> import solvers
    >>> from solvers.distributed import from_rows, gather
    >>> comm = MPI.COMM_WORLD
    >>> size, rank = comm.Get_size(), comm.Get_rank()
    >>> n, first = 4 * size, 4 * rank
    >>> rows = sp.lil_array((4, n))
    >>> for i in range(first, first + 4):
    ...     rows[i - first, i] = 2.0
    ...     if i > 0:
    ...         rows[i - first, i - 1] = -1.0
    ...     if i < n - 1:
    ...         rows[i - first, i + 1] = -1.0
    >>> A = from_rows(rows.tocsr(), comm)
    >>> result = solvers.cg(A, np.ones(4), rtol=1e-12, M="jacobi")
    >>> result.reason.value
    'converged_rtol'
    >>> x = gather(result.x, A, root=None)  # the global solution, on every rank
    >>> points = np.arange(1, n + 1)
    >>> bool(np.allclose(x, points * (n + 1 - points) / 2))  # -u'' = 1, exactly
    True
    """
    channel = link(comm)
    matrix, problem = checked(lambda: _local_rows(rows))
    agree(channel.comm, problem)
    counts = np.array(channel.comm.allgather(matrix.shape[0]), dtype=np.int64)
    columns = channel.comm.allgather(matrix.shape[1])
    n = int(counts.sum())
    agree(channel.comm, _check_layout(counts, columns, channel.rank))
    ranges = np.concatenate(([0], np.cumsum(counts)))
    return _partitioned(channel, n, ranges, matrix)


def _local_rows(rows) -> sp.csr_array:
    if not sp.issparse(rows):
        raise TypeError(f"rows must be a scipy sparse matrix; got {type(rows).__name__}")
    if np.iscomplexobj(rows):
        raise TypeError(f"rows must be real; got dtype {rows.dtype}")
    matrix = sp.csr_array(rows, dtype=np.float64)
    matrix.sum_duplicates()
    if not np.all(np.isfinite(matrix.data)):
        raise ValueError("rows has a NaN or infinite entry; all entries must be finite")
    return matrix


def _check_layout(counts: np.ndarray, columns: list[int], rank: int) -> ValueError | None:
    """The one error of a layout that does not make a square matrix, or None."""
    empty = [q for q, count in enumerate(counts) if count == 0]
    if empty:
        return ValueError(
            f"rows: rank(s) {empty} have no rows; every one of the {counts.size} ranks needs "
            f"at least one row (the matrix has {int(counts.sum())}; use fewer ranks)")
    n = int(counts.sum())
    if columns[rank] != n:
        return ValueError(f"rows on rank {rank} has {columns[rank]} columns; the ranks hold "
                          f"{n} rows in all, and the matrix must be square ({n} columns)")
    return None


def _partitioned(channel: Link, n: int, ranges: np.ndarray, matrix) -> DistributedMatrix:
    """Renumber the columns, build the halo plan and the interior/boundary runs."""
    rank = channel.rank
    start, stop = int(ranges[rank]), int(ranges[rank + 1])
    n_local = stop - start
    columns = matrix.indices.astype(np.int64)
    owned = (columns >= start) & (columns < stop)
    ghosts = np.unique(columns[~owned])
    local = np.where(owned, columns - start, n_local + np.searchsorted(ghosts, columns))
    owners = np.searchsorted(ranges, ghosts, side="right") - 1
    recv_ranks, recv_counts = np.unique(owners, return_counts=True)
    recv_offsets = np.concatenate(([0], np.cumsum(recv_counts)))
    wanted = [np.zeros(0, dtype=np.int64)] * channel.size
    for m, q in enumerate(recv_ranks):
        wanted[q] = ghosts[recv_offsets[m]:recv_offsets[m + 1]]
    asked = channel.comm.alltoall(wanted)
    send_ranks = np.array([q for q, ids in enumerate(asked) if ids.size], dtype=np.int64)
    send_lists = [asked[q] - start for q in send_ranks]
    send_offsets = np.concatenate(([0], np.cumsum([ids.size for ids in send_lists])))
    send_indices = (np.concatenate(send_lists) if send_lists else np.zeros(0)).astype(np.int64)
    indptr = matrix.indptr.astype(np.int64)
    ghost_entries = np.concatenate(([0], np.cumsum(~owned)))  # before each entry
    touches_ghost = np.diff(ghost_entries[indptr]) > 0
    return DistributedMatrix(
        channel, n, ranges.astype(np.int64), indptr, local.astype(np.uint32),
        np.ascontiguousarray(matrix.data), ghosts, recv_ranks.astype(np.int64),
        recv_offsets.astype(np.int64), send_ranks, send_offsets.astype(np.int64), send_indices,
        _runs(~touches_ghost), _runs(touches_ghost))


def _runs(selected: np.ndarray) -> np.ndarray:
    """The runs ``[lo, hi)`` of consecutive True entries, shape (runs, 2)."""
    padded = np.concatenate(([False], selected, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges.reshape(-1, 2).astype(np.int64)


def balanced_ranges(n: int, size: int) -> np.ndarray:
    """Contiguous row ranges of near-equal length (the first ``n % size`` one row longer)."""
    counts = np.full(size, n // size, dtype=np.int64)
    counts[: n % size] += 1
    return np.concatenate(([0], np.cumsum(counts)))


def scatter_matrix(A, comm=None, root: int = 0) -> DistributedMatrix:
    """The distributed matrix of a global sparse matrix held by rank ``root``.

    Collective.  The rows are split into contiguous ranges of near-equal length
    (:func:`balanced_ranges`) and each range is sent to its rank; the other ranks pass
    ``A=None``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from mpi4py import MPI
    >>> from solvers.distributed import scatter_matrix
    >>> comm = MPI.COMM_WORLD
    >>> n = 12
    >>> L = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    >>> A = scatter_matrix(L.tocsr() if comm.Get_rank() == 0 else None, comm)
    >>> A.n, A.ranges[-1]
    (12, np.int64(12))
    """
    channel = link(comm)
    blocks, problem = None, None
    if channel.rank == root:
        blocks, problem = checked(lambda: _split(A, channel.size))
    agree(channel.comm, channel.comm.bcast(problem, root=root))
    rows = channel.comm.scatter(blocks, root=root)
    return from_rows(rows, channel.comm)


def _split(A, size: int) -> list[sp.csr_array]:
    if not sp.issparse(A):
        raise TypeError(f"A must be a scipy sparse matrix on the root rank; got "
                        f"{type(A).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square; got shape {A.shape}")
    if A.shape[0] < size:
        raise ValueError(f"A has {A.shape[0]} rows, fewer than the {size} ranks; every rank "
                         "needs at least one row (use fewer ranks)")
    matrix = sp.csr_array(A)
    ranges = balanced_ranges(A.shape[0], size)
    return [matrix[ranges[q]:ranges[q + 1]] for q in range(size)]

