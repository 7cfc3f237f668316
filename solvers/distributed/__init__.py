"""Distributed CG and GMRES over MPI: row-partitioned matrices and vectors.

Build a :class:`DistributedMatrix` on every rank, from each rank's own rows
(:func:`from_rows`) or from a global matrix on rank 0 (:func:`scatter_matrix`), and
pass it to :func:`solvers.cg` or :func:`solvers.gmres` with this rank's part of ``b``.
The result is the serial :class:`~solvers.SolveResult` (the global residual history,
reason and true residual, the same on every rank) with ``x`` this rank's part;
:func:`gather` assembles it.

mpi4py is imported only when a distributed object is built: ``solvers`` and this
package import without it.  :func:`agree` (with :func:`checked`) is the collective step
that turns an error found on some ranks into the same error on all of them, for
applications whose own steps may fail on one rank, and :func:`abort` ends the job from a
rank that cannot reach the others' next collective call; ``solvers.distributed.warmup.warm_up``
compiles a solve's loops before it runs (a module of its own: it imports the serial
solvers, which import this package).
"""

from ._agree import agree, checked
from ._mpi import abort
from .matrix import DistributedMatrix, balanced_ranges, from_rows, scatter_matrix
from .vectors import gather, scatter

__all__ = ["DistributedMatrix", "abort", "agree", "balanced_ranges", "checked", "from_rows",
           "gather", "scatter", "scatter_matrix"]
