r"""Finite elements over MPI: the free DOFs partitioned by METIS, each rank assembling its rows.

Every rank holds the mesh and the space (as every rank of a case builds them); the work
that grows with the problem, assembly and the solve, is split:

1. the graph of the free DOFs (two DOFs adjacent when they share a cell) is cut into
   P parts by METIS (``pymetis``), on rank 0, and the parts are sent to all ranks;
2. the free DOFs are renumbered part by part, so that rank ``q`` owns a contiguous range
   of the distributed unknowns (the layout of :mod:`solvers.distributed`);
3. each rank assembles the cells that touch one of its DOFs, and only those: its rows
   of :math:`K` and :math:`F` are then complete (every cell that contributes to a row
   holds the row's DOF), Neumann and Robin terms included, since a boundary facet of an
   owned DOF lies on such a cell;
4. the Dirichlet DOFs are eliminated from those rows, :math:`F_f - K_{fd} g` with the
   lifting's columns, which the same cells give;
5. the rows, with their columns in the distributed numbering, become a
   :class:`solvers.distributed.DistributedMatrix`.

Norms are sums over cells: each cell is counted by one rank (the owner of its first
free DOF, or rank 0 for a cell without one), and the squares are added over the ranks.

Examples
--------
Run under ``mpiexec -n P`` (it also runs alone)::

    from mpi4py import MPI
    import solvers
    from fem import function_space, unit_square
    from fem.distributed import assemble_distributed, l2_error

    space = function_space(unit_square(64), 1)
    system = assemble_distributed(space, MPI.COMM_WORLD, f=1.0)
    result = solvers.cg(system.matrix, system.rhs, rtol=1e-10, M="jacobi")
    u = system.expand(result.x)            # every DOF's value, on every rank
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fem.assembly import sparsity_pattern
from fem.boundary import dirichlet_values
from fem.element import FunctionSpace
from fem.mesh import Mesh
from fem.norms import h1_error as _h1_error
from fem.norms import l2_error as _l2_error
from fem.problems import _check_boundary_data, _check_robin, _load, _operator

__all__ = ["DistributedSystem", "Partition", "assemble_distributed", "cell_ranks", "h1_error",
           "l2_error", "partition_dofs"]


@dataclass(frozen=True)
class Partition:
    """Which rank owns which free DOF, and the distributed numbering.

    Attributes
    ----------
    free_dofs : ndarray of int64
        The free DOFs of the space, sorted (as :class:`fem.boundary.LinearSystem` has them).
    order : ndarray of int64
        ``order[j]``: the position in ``free_dofs`` of distributed unknown ``j``; rank
        ``q`` owns ``j`` in ``ranges[q] .. ranges[q+1]-1``.
    ranges : ndarray of int64, shape (P + 1,)
    parts : ndarray of int64
        The rank of each free DOF (in the order of ``free_dofs``).
    """

    free_dofs: np.ndarray
    order: np.ndarray
    ranges: np.ndarray
    parts: np.ndarray

    def owned(self, rank: int) -> np.ndarray:
        """The DOFs (of the space) of ``rank``'s rows, in row order."""
        return self.free_dofs[self.order[self.ranges[rank]:self.ranges[rank + 1]]]

    @property
    def position(self) -> np.ndarray:
        """The distributed index of each free DOF (the inverse of ``order``)."""
        position = np.empty_like(self.order)
        position[self.order] = np.arange(self.order.size)
        return position


@dataclass(frozen=True, eq=False)
class DistributedSystem:
    """One rank's part of the assembled system, and the way back to full DOF vectors.

    Attributes
    ----------
    matrix : solvers.distributed.DistributedMatrix
        :math:`K_{ff}` in the distributed numbering; this rank holds its rows.
    rhs : ndarray
        This rank's part of :math:`F_f - K_{fd} g`.
    partition : Partition
    dirichlet_dofs, dirichlet_values : ndarray
    num_dofs : int
    comm : mpi4py communicator
    """

    matrix: object
    rhs: np.ndarray
    partition: Partition
    dirichlet_dofs: np.ndarray
    dirichlet_values: np.ndarray
    num_dofs: int
    comm: object

    @property
    def owned_dofs(self) -> np.ndarray:
        """The DOFs (of the space) of this rank's rows, in row order."""
        return self.partition.owned(self.comm.Get_rank())

    def expand(self, local_values: np.ndarray) -> np.ndarray:
        """The full DOF vector, on every rank: each rank's free values and the lifting."""
        lifting = np.zeros(self.num_dofs)
        lifting[self.dirichlet_dofs] = self.dirichlet_values
        return expanded(self.partition, self.matrix, local_values, lifting)


def _dof_graph(space: FunctionSpace, free_dofs: np.ndarray) -> sp.csr_array:
    """Adjacency of the free DOFs (sharing a cell), without the diagonal."""
    pattern = sparsity_pattern(space)
    graph = sp.csr_array((np.ones(pattern.indices.size), pattern.indices, pattern.indptr),
                         shape=(space.num_dofs, space.num_dofs))
    graph = graph[free_dofs][:, free_dofs].tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    graph.sort_indices()
    return graph


def partition_dofs(space: FunctionSpace, free_dofs: np.ndarray, comm) -> Partition:
    """Cut the free DOFs into ``comm.Get_size()`` parts with METIS (collective)."""
    size, rank = comm.Get_size(), comm.Get_rank()
    parts = None
    failure = None
    if rank == 0:
        try:
            parts = _metis_parts(space, free_dofs, size)
        except Exception as error:  # every rank must hear of it, or the others wait
            failure = f"{type(error).__name__}: {error}"
    failure, parts = comm.bcast((failure, parts), root=0)
    if failure is not None:
        raise ValueError(f"partitioning the free DOFs failed on rank 0: {failure}")
    counts = np.bincount(parts, minlength=size)
    if np.any(counts == 0):
        empty = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"{size} ranks for {free_dofs.size} free DOFs: rank {empty} would "
                         "own none; use fewer ranks or a finer mesh")
    order = np.argsort(parts, kind="stable").astype(np.int64)
    ranges = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Partition(free_dofs, order, ranges, parts)


def _metis_parts(space, free_dofs, size: int) -> np.ndarray:
    if size == 1:
        return np.zeros(free_dofs.size, dtype=np.int64)
    if free_dofs.size < size:
        return np.minimum(np.arange(free_dofs.size), size - 1).astype(np.int64)
    import pymetis

    graph = _dof_graph(space, free_dofs)
    _, membership = pymetis.part_graph(size, **metis_graph(graph))
    return np.asarray(membership, dtype=np.int64)


def metis_graph(adjacency: sp.csr_array) -> dict:
    """The keyword that gives pymetis the graph: one ``CSRAdjacency`` where pymetis has it
    (2025.2 on; its ``xadj``/``adjncy`` keywords are deprecated there), else those."""
    import pymetis

    if hasattr(pymetis, "CSRAdjacency"):
        return {"adjacency": pymetis.CSRAdjacency(adjacency.indptr, adjacency.indices)}
    return {"xadj": adjacency.indptr, "adjncy": adjacency.indices}


def _local_space(space: FunctionSpace, cells: np.ndarray) -> FunctionSpace:
    """The space restricted to ``cells``, with the global DOF numbering kept, and the
    boundary parts cut to the facets of those cells (the cut itself is no boundary)."""
    mesh = space.mesh
    local = mesh.cells[cells]
    if mesh.dim == 1:
        present = np.zeros(mesh.num_points, dtype=bool)
        present[local.ravel()] = True
        boundaries = {name: facets[present[facets[:, 0]]]
                      for name, facets in mesh.boundaries.items()}
    else:
        def codes(pairs):  # one integer per unordered vertex pair
            ordered = np.sort(pairs, axis=1).astype(np.int64)
            return ordered[:, 0] * mesh.num_points + ordered[:, 1]

        present = codes(np.concatenate([local[:, [0, 1]], local[:, [1, 2]], local[:, [2, 0]]]))
        boundaries = {name: facets[np.isin(codes(facets), present)]
                      for name, facets in mesh.boundaries.items()}
    sub_mesh = Mesh(mesh.points, local, boundaries)
    return FunctionSpace(sub_mesh, space.element, space.cell_dofs[cells], space.dof_points,
                         space.edges)


def assemble_distributed(space: FunctionSpace, comm=None, *, kappa=1.0, reaction=0.0,
                         velocity=None, f=0.0, dirichlet=None, neumann=None,
                         robin=None) -> DistributedSystem:
    """Assemble the stationary problem of :func:`fem.problems.assemble_system` over MPI.

    Collective: every rank calls it with the same space and data.  Each rank assembles
    only the cells of its own DOFs (see the module text).

    Returns
    -------
    DistributedSystem
        Its ``matrix`` and ``rhs`` go to :func:`solvers.cg` / :func:`solvers.gmres`.
    """
    from mpi4py import MPI

    from solvers.distributed import agree, checked, from_rows

    comm = MPI.COMM_WORLD if comm is None else comm
    rank = comm.Get_rank()
    neumann = _check_boundary_data(space, neumann, "neumann")
    robin = _check_robin(space, robin)
    dirichlet_dofs, lifting_values = dirichlet_values(space, dirichlet)
    free = np.ones(space.num_dofs, dtype=bool)
    free[dirichlet_dofs] = False
    free_dofs = np.flatnonzero(free)
    partition = partition_dofs(space, free_dofs, comm)
    # data that fail at a quadrature point may fail on one rank's cells only
    assembled, problem = checked(lambda: _assembled_rows(
        space, partition, rank, lifting_values, dirichlet_dofs, kappa=kappa,
        reaction=reaction, velocity=velocity, f=f, neumann=neumann, robin=robin))
    agree(comm, problem)
    rows, local_rhs = assembled
    return DistributedSystem(from_rows(rows, comm), local_rhs, partition, dirichlet_dofs,
                             lifting_values, space.num_dofs, comm)


def _assembled_rows(space, partition: Partition, rank: int, lifting_values, dirichlet_dofs,
                    *, kappa, reaction, velocity, f, neumann, robin):
    """This rank's rows of :math:`K_{ff}` (distributed columns) and of the load."""
    local, owned = local_part(space, partition, rank)
    matrix = _operator(local, sparsity_pattern(local), kappa=kappa, reaction=reaction,
                       velocity=velocity, robin=robin)
    rhs = _load(local, f=f, neumann=neumann, robin=robin)
    rows = matrix[owned]
    lifting = np.zeros(space.num_dofs)
    lifting[dirichlet_dofs] = lifting_values
    return distributed_columns(rows, partition, space.num_dofs), rhs[owned] - rows @ lifting


def local_part(space: FunctionSpace, partition: Partition,
               rank: int) -> tuple[FunctionSpace, np.ndarray]:
    """The space on the cells that touch a DOF of ``rank`` (its rows are complete there)
    and those DOFs, in the rank's row order."""
    owned = partition.owned(rank)
    mine = np.zeros(space.num_dofs, dtype=bool)
    mine[owned] = True
    cells = np.flatnonzero(mine[space.cell_dofs].any(axis=1))
    return _local_space(space, cells), owned


def distributed_columns(rows, partition: Partition, num_dofs: int) -> sp.csr_array:
    """Rows whose columns are DOFs of the space, with the columns renumbered into the
    distributed numbering of the free DOFs (the Dirichlet columns dropped)."""
    column_of = np.full(num_dofs, -1, dtype=np.int64)
    column_of[partition.free_dofs] = partition.position
    rows = sp.coo_array(rows)
    keep = column_of[rows.col] >= 0
    distributed = sp.csr_array((rows.data[keep], (rows.row[keep], column_of[rows.col[keep]])),
                               shape=(rows.shape[0], partition.free_dofs.size))
    distributed.sum_duplicates()
    return distributed


def expanded(partition: Partition, matrix, local_values: np.ndarray,
             lifting: np.ndarray) -> np.ndarray:
    """The full DOF vector on every rank: ``lifting`` (the Dirichlet values; the free
    entries are overwritten) with each rank's free values (collective)."""
    from solvers.distributed import gather

    full = np.array(lifting, dtype=np.float64)
    full[partition.free_dofs[partition.order]] = gather(
        np.asarray(local_values, dtype=np.float64), matrix, root=None)
    return full


def cell_ranks(partition: Partition, space: FunctionSpace) -> np.ndarray:
    """The rank of each cell: the owner of its first free DOF (rank 0 for a cell with
    none).  Each cell is counted by this one rank in sums over cells; drawn, it shows
    the partition."""
    owner = np.zeros(space.num_dofs, dtype=np.int64)
    owner[partition.free_dofs] = partition.parts
    has_free = np.zeros(space.num_dofs, dtype=bool)
    has_free[partition.free_dofs] = True
    cell_free = has_free[space.cell_dofs]
    first_free = np.argmax(cell_free, axis=1)
    return np.where(cell_free.any(axis=1),
                    owner[space.cell_dofs[np.arange(space.mesh.num_cells), first_free]], 0)


def _counted_cells(system: DistributedSystem, space: FunctionSpace) -> np.ndarray:
    """The cells this rank counts in a sum over cells: each cell on exactly one rank."""
    return np.flatnonzero(cell_ranks(system.partition, space) == system.comm.Get_rank())


def _summed(system, space, u, norm, *arguments, **keywords) -> float:
    from solvers.distributed import agree, checked

    cells = _counted_cells(system, space)

    def part() -> float:
        if not cells.size:
            return 0.0
        return norm(_local_space(space, cells), u, *arguments, **keywords) ** 2

    # an exact solution that fails at a quadrature point may fail on one rank only
    square, problem = checked(part)
    agree(system.comm, problem)
    return float(np.sqrt(system.comm.allreduce(square)))


def l2_error(system: DistributedSystem, space: FunctionSpace, u, exact, **keywords) -> float:
    """:func:`fem.norms.l2_error` as a sum over the ranks' cells (collective); ``u`` is the
    full DOF vector (:meth:`DistributedSystem.expand`)."""
    return _summed(system, space, u, _l2_error, exact, **keywords)


def h1_error(system: DistributedSystem, space: FunctionSpace, u, exact_gradient,
             **keywords) -> float:
    """:func:`fem.norms.h1_error` as a sum over the ranks' cells (collective)."""
    return _summed(system, space, u, _h1_error, exact_gradient, **keywords)
