"""The Python front of the distributed methods: checks on every rank, the preconditioner
of the local block, and the result, as ``solvers._common`` does for one process."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import precond
from .._common import iterations_per_pause, zero_rhs_result
from .._inputs import (
    callable_or_none,
    check_matrix,
    check_positive_int,
    check_tolerances,
    check_vector,
)
from ..interrupts import deferred_sigint, take_kept
from ..precond import Preconditioner
from ..result import Reason, SolveResult, tolerance
from . import _kernels
from ._agree import agree, checked
from ._mpi import abort
from .matrix import DistributedMatrix

#: Preconditioners of a distributed solve: Jacobi is the global one; SSOR, ILU(0) and
#: IC(0) are applied to each rank's diagonal block (block Jacobi).
NAMES = ("none", "jacobi", "ssor", "ilu0", "ic0")
#: Kinds applied to the local diagonal block only, named ``block-<name>`` in results.
_BLOCK_KINDS = frozenset({precond.SSOR, precond.ILU0, precond.IC0})
#: The preconditioner kinds of the distributed loops (one loop each).
KINDS = (precond.NONE, precond.JACOBI, precond.SSOR, precond.ILU0, precond.IC0)
#: A loop returns this code when an MPI call reported an error.
CODE_MPI_FAILED = -3


@dataclass(frozen=True, eq=False)
class DistributedResult(SolveResult):
    """A :class:`~solvers.SolveResult` of a distributed solve; ``x`` is this rank's part.

    ``communication_time`` is the seconds this rank spent in MPI calls during the solve
    (halo waits and global sums; the interior product overlaps the halo and is not
    counted).
    """

    communication_time: float = 0.0
    ranks: int = 1


@dataclass
class DistributedProblem:
    """A checked distributed solve: the fields :func:`solvers._common.finish` reads, and
    the halo buffers; ``x`` has room for the ghost entries after the owned ones."""

    A: DistributedMatrix
    b: np.ndarray
    x_ext: np.ndarray
    M: Preconditioner
    rtol: float
    atol: float
    dtol: float
    maxiter: int
    tolerance: float
    rhs_norm: float
    converged_reason: Reason
    callback: object
    monitor: object
    started: float
    plan: _kernels.Halo
    timers: np.ndarray

    @property
    def x(self) -> np.ndarray:
        return self.x_ext[: self.A.n_local]

    @property
    def n(self) -> int:
        return self.b.size

    @property
    def preconditioner_name(self) -> str:
        if self.M.kind in _BLOCK_KINDS:
            return f"block-{self.M.name}"
        return self.M.name

    def global_sum(self, *values: float) -> np.ndarray:
        local = np.array(values, dtype=np.float64)
        total = np.empty_like(local)
        link = self.A.link
        status = _kernels.global_sum(local, total, local.size, link.calls, link.handles,
                                     self.timers)
        raise_failed(self, status)
        return total

    def true_residual_norm(self) -> float:
        A, link = self.A, self.A.link
        r = np.empty(self.n)
        rr, status = _kernels.residual(A.indptr, A.indices, A.data, self.x_ext, self.b, r,
                                       self.plan, link.calls, link.handles, self.timers)
        raise_failed(self, status)
        return float(np.sqrt(self.global_sum(rr)[0]))


def report_or_abort(problem: DistributedProblem, report, *arguments) -> None:
    """``report(problem, *arguments)``: the monitor and callback of a rank, between two
    loop calls.  The other ranks do not wait for them: if one raises, they are already
    in the next global sum, and would wait for this rank for ever; so the job ends.
    """
    try:
        report(problem, *arguments)
    except BaseException as error:
        rank = problem.A.rank
        print(f"rank {rank}: the monitor or callback raised {type(error).__name__}: {error};"
              " ending every rank", file=sys.stderr, flush=True)
        abort(problem.A.comm, 1)


def pause_iterations(problem: DistributedProblem, per_iteration: int = 0) -> int:
    """Iterations of one loop call, the same on every rank (collective): the fewest that
    any rank's work asks for, since the ranks' collective calls must stay in step."""
    from mpi4py import MPI

    return int(problem.A.comm.allreduce(iterations_per_pause(problem, per_iteration),
                                        op=MPI.MIN))


class Interrupts:
    """Ctrl-C in a distributed solve: every rank stops at the same pause.

    ``mpiexec`` passes a Ctrl-C on to every rank, but not at the same instant; a rank that
    stopped alone would leave the others waiting in their next global sum.  Within this
    block a SIGINT raises nothing (:func:`solvers.interrupts.deferred_sigint`: it is
    kept, as is a Ctrl-C that Numba's compiler swallowed), and :meth:`requested`, called
    by every rank at each pause, tells all of them whether any rank had one.
    """

    def __init__(self, comm):
        self.comm, self.flag = comm, False
        self.block = deferred_sigint()

    def __enter__(self) -> Interrupts:
        self.block.__enter__()
        return self

    def __exit__(self, *exception) -> None:
        self.block.__exit__(*exception)

    def requested(self) -> bool:
        """Collective: whether any rank was interrupted."""
        from mpi4py import MPI

        self.flag = take_kept() or self.flag
        return bool(self.comm.allreduce(int(self.flag), op=MPI.MAX))


def raise_failed(problem: DistributedProblem, status: int) -> None:
    """An MPI call failed: the communicator cannot be trusted, so end every rank."""
    if status != 0:
        abort(problem.A.comm, 1)  # the other ranks may be inside a collective call


def prepare(A: DistributedMatrix, b, x0, rtol, atol, dtol, maxiter, M, callback,
            monitor) -> DistributedProblem:
    """Check every argument on every rank; an error on any rank is raised on all."""
    started = time.perf_counter()
    checks, problem = checked(lambda: _check(A, b, x0, rtol, atol, dtol, maxiter, callback,
                                             monitor))
    agree(A.comm, problem)
    preconditioner, problem = checked(lambda: _local_preconditioner(M, A))
    agree(A.comm, problem)
    b, x_ext, (rtol, atol, dtol), maxiter, callback, monitor = checks
    link = A.link
    solve = DistributedProblem(A, b, x_ext, preconditioner, rtol, atol, dtol, maxiter, 0.0,
                               0.0, Reason.CONVERGED_RTOL, callback, monitor, started,
                               _kernels.halo(A, link), np.zeros(1))
    solve.rhs_norm = float(np.sqrt(solve.global_sum(float(b @ b))[0]))
    solve.tolerance, solve.converged_reason = tolerance(solve.rhs_norm, rtol, atol)
    return solve


def _check(A, b, x0, rtol, atol, dtol, maxiter, callback, monitor):
    n_local = A.n_local
    b = check_vector(b, n_local, "b (this rank's part)", np.float64)
    x_ext = np.zeros(n_local + A.ghosts.size)
    if x0 is not None:
        x_ext[:n_local] = check_vector(x0, n_local, "x0 (this rank's part)", np.float64)
    return (b, x_ext, check_tolerances(rtol, atol, dtol),
            check_positive_int(maxiter, "maxiter", 10 * A.n),
            callable_or_none(callback), callable_or_none(monitor, "monitor"))


def _local_preconditioner(M, A: DistributedMatrix) -> Preconditioner:
    """The preconditioner of ``A``'s local diagonal block (Jacobi: the global one)."""
    n_local = A.n_local
    if M is None or (isinstance(M, str) and M.lower() == "none"):
        return Preconditioner("none", precond.NONE, n_local)
    if isinstance(M, str):
        if M.lower() not in NAMES:
            allowed = ", ".join(repr(name) for name in NAMES)
            raise ValueError(f"M: {M!r} is not a preconditioner of distributed solves; "
                             f"allowed: {allowed}, or a Preconditioner of the local block")
        return precond.as_preconditioner(M.lower(), check_matrix(A.local_block), n_local)
    if isinstance(M, Preconditioner) and M.kind in KINDS:
        if M.n != n_local:
            raise ValueError(f"M was built for n = {M.n}; this rank owns {n_local} rows "
                             "(build it from A.local_block)")
        return M
    raise TypeError(f"M must be None, one of {NAMES} or a Preconditioner of the local block "
                    f"(jacobi, ssor, ilu0, ic0); got {type(M).__name__}")


def distributed_result(problem: DistributedProblem, result: SolveResult) -> DistributedResult:
    """The serial method's result (from ``solvers.cg._result`` or ``solvers.gmres._result``,
    which :func:`solvers._common.finish` built with the global true residual) on every
    rank, with ``x`` the rank's own part and the time spent communicating."""
    fields = {name: getattr(result, name) for name in result.__dataclass_fields__}
    fields["x"] = problem.x.copy()
    return DistributedResult(**fields, communication_time=float(problem.timers[0]),
                             ranks=problem.A.ranges.size - 1)


def check_status(problem: DistributedProblem, code: int) -> None:
    """End every rank if the loop met a failed MPI call."""
    if code == CODE_MPI_FAILED:
        raise_failed(problem, 1)


def zero_rhs(problem: DistributedProblem, method: str) -> DistributedResult:
    """``b = 0`` on every rank: ``x = 0`` is the solution."""
    return distributed_result(problem, zero_rhs_result(problem, method))
