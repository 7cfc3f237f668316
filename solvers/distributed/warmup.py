"""Compile, or load from Numba's cache, the loops of a distributed solve before it runs.

The distributed loops are compiled per method, preconditioner kind and CG variant, on
every rank; what they compile depends on those and on the (fixed) types of the arrays,
not on the sizes.  :func:`warm_up` solves a small distributed system of the same kind
(two rows on each rank, coupled to the neighbouring ranks so that the halo exchange
runs), so that the real solve that follows spends no time in Numba and an application
can time the compilation apart from the solve.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..warmup import WarmUp, timed

__all__ = ["warm_up"]


def warm_up(method: str, preconditioner: str | None = "none", *, comm=None,
            variant: str = "classic", on_compile=None) -> WarmUp:
    """Compile or load the kernels of a distributed ``method`` solve (collective).

    Parameters
    ----------
    method : {"cg", "gmres"}
    preconditioner : str or None
        ``"none"``, ``"jacobi"``, or a block preconditioner (``"ssor"``, ``"ilu0"``,
        ``"ic0"``).
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    variant : {"classic", "single_reduction"}
        CG's variant.
    on_compile : callable, optional
        Called once on this rank when Numba starts compiling a first kernel.

    Returns
    -------
    solvers.WarmUp
        This rank's seconds, and whether it compiled anything.

    Examples
    --------
    >>> from solvers.distributed.warmup import warm_up
    >>> warm_up("cg", "jacobi").seconds >= 0.0
    True
    """
    from mpi4py import MPI

    import solvers

    from .matrix import from_rows

    comm = MPI.COMM_WORLD if comm is None else comm
    if method not in ("cg", "gmres"):
        raise ValueError(f"method must be 'cg' or 'gmres'; got {method!r}")
    size, rank = comm.Get_size(), comm.Get_rank()
    n = 2 * size
    first = 2 * rank
    rows = sp.lil_array((2, n))
    for i in range(first, first + 2):  # the 1D Laplacian: a halo on every inner rank
        rows[i - first, i] = 2.0
        if i > 0:
            rows[i - first, i - 1] = -1.0
        if i < n - 1:
            rows[i - first, i + 1] = -1.0

    def sample():
        A = from_rows(rows.tocsr(), comm)
        b = np.ones(2)
        if method == "cg":
            solvers.cg(A, b, M=preconditioner, maxiter=2, variant=variant)
        else:
            solvers.gmres(A, b, M=preconditioner, maxiter=2, restart=2)

    return timed(sample, on_compile)
