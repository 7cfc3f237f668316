r"""Distributed preconditioned conjugate gradients.

The serial iteration of :mod:`solvers.cg` on a :class:`DistributedMatrix`: every rank
updates its own part of the vectors; ``A p`` exchanges the halo of ``p`` (overlapped
with the interior rows); the inner products are sums over the ranks.  Two global sums
per iteration: :math:`p^T A p`, then :math:`r^T r` and :math:`r^T z` together.  With
``variant="single_reduction"`` (Chronopoulos and Gear) the three inner products of an
iteration are summed in one call: see :mod:`solvers.distributed.cg_single_reduction`.

The loop is compiled once per preconditioner kind and variant, cached on disk like the
serial loops, and calls the MPI library from compiled code (see
:mod:`solvers.distributed._mpi`): no Python runs between iterations.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import _csr, precond
from .._common import FIRST_HISTORY, delivered, reserve
from ..cg import _APPLIES, _DONE, _MATVECS, _R0, _RZ, _TRUE
from ..cg import _result as serial_result
from ..precond import JACOBI, NONE, apply_preconditioner
from ..result import (
    CODE_DTOL,
    CODE_INDEFINITE_MATRIX,
    CODE_INTERRUPTED,
    CODE_MAX_ITERATIONS,
    CODE_NAN,
)
from . import _kernels
from ._cg_steps import _PAUSED, replaced, rz_code, start_code, sum_rr_rz
from ._front import (
    CODE_MPI_FAILED,
    KINDS,
    DistributedProblem,
    Interrupts,
    check_status,
    distributed_result,
    pause_iterations,
    prepare,
    report_or_abort,
    zero_rhs,
)
from .cg_single_reduction import make_loop as make_single_reduction_loop

#: The variants of CG: the classical two global sums per iteration, or one.
VARIANTS = ("classic", "single_reduction")


def _make_loop(KIND):
    """The compiled distributed PCG loop of preconditioner kind ``KIND``."""

    def _distributed_cg_loop(indptr, indices, data, b, x, r, p, q, z,
                             pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                             tol, dtol, start, stop, maxiter, history, alphas, betas, scalars,
                             counters, plan, calls, handles, timers, sums):
        """Iterations ``start .. stop-1``; returns ``(code, iterations)`` as solvers.cg.

        ``x`` and ``p`` hold the ghost entries after the ``n`` owned ones; ``sums`` is
        the scratch of the global sums (three local values, then their totals).
        """
        n = b.size
        xs, ps = x[:n], p[:n]
        dinv = pdiag if KIND == JACOBI else pdiag[:0]
        zbuf = z[:0] if (KIND == NONE or KIND == JACOBI) else z
        local, total = sums[:3], sums[3:]
        if start == 0:
            rr, status = _kernels.residual(indptr, indices, data, x, b, r, plan, calls,
                                           handles, timers)
            counters[_MATVECS] += 1
            apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                 omega, r, z)
            if status | sum_rr_rz(rr, r, z, sums, calls, handles, timers) != 0:
                return CODE_MPI_FAILED, 0
            code = start_code(total, tol, history, scalars)
            if code >= 0:
                return code, 0
            counters[_APPLIES] += 1
            code = rz_code(total[1], KIND)
            if code >= 0:
                return code, 0
            scalars[_RZ] = total[1]
            for i in range(n):
                p[i] = z[i]

        rz = scalars[_RZ]
        for k in range(start, stop):
            local[0], status = _kernels.matvec(indptr, indices, data, p, q, plan, calls,
                                               handles, timers)
            status |= _kernels.global_sum(local, total, 1, calls, handles, timers)
            if status != 0:
                return CODE_MPI_FAILED, k
            counters[_MATVECS] += 1
            pq = total[0]
            if not math.isfinite(pq):
                return CODE_NAN, k
            if pq <= 0.0:
                return CODE_INDEFINITE_MATRIX, k
            alpha = rz / pq
            alphas[k] = alpha
            rr, rz_local = _csr.cg_update(alpha, ps, q, xs, r, dinv, None)
            if not (KIND == NONE or KIND == JACOBI):
                apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                     omega, r, z)
                rz_local = _csr.dot(r, z, None)
            local[0], local[1] = rr, rz_local
            if _kernels.global_sum(local, total, 2, calls, handles, timers) != 0:
                return CODE_MPI_FAILED, k
            norm = math.sqrt(total[0])
            rz_new = total[1]
            history[k + 1] = norm
            counters[_DONE] = k + 1
            if not math.isfinite(norm):
                return CODE_NAN, k + 1
            beta = -1.0
            if norm <= tol:
                # Verify on b - A x (which also replaces r), as the serial loop does.
                rr, status = _kernels.residual(indptr, indices, data, x, b, r, plan, calls,
                                               handles, timers)
                counters[_MATVECS] += 1
                apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                     omega, r, z)
                if status | sum_rr_rz(rr, r, z, sums, calls, handles, timers) != 0:
                    return CODE_MPI_FAILED, k + 1
                code = replaced(norm, tol, math.sqrt(total[0]), k + 1, history, scalars,
                                counters)
                if code >= 0:
                    return code, k + 1
                rz_new = total[1]
                beta = 0.0  # restart the directions from the true residual
            if norm > dtol * scalars[_R0]:
                return CODE_DTOL, k + 1
            if KIND != NONE:
                counters[_APPLIES] += 1
            code = rz_code(rz_new, KIND)
            if code >= 0:
                return code, k + 1
            if beta != 0.0:
                beta = rz_new / rz
            betas[k] = beta
            rz = rz_new
            scalars[_RZ] = rz
            _csr.cg_direction(beta, r, zbuf, dinv, ps, None)
        if stop < maxiter:
            return _PAUSED, stop
        return CODE_MAX_ITERATIONS, maxiter

    _distributed_cg_loop.__qualname__ = f"_distributed_cg_loop_{precond.NAMES_BY_KIND[KIND]}"
    return njit(cache=True)(_distributed_cg_loop)


#: The loop of each preconditioner kind and variant (each compiles on its first call).
LOOPS = {**{(kind, "classic"): _make_loop(kind) for kind in KINDS},
         **{(kind, "single_reduction"): make_single_reduction_loop(kind) for kind in KINDS}}


def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
       monitor=None, dtol=None, variant="classic"):
    r"""Distributed CG: :func:`solvers.cg` on a :class:`DistributedMatrix`.

    Called by :func:`solvers.cg` for a distributed ``A`` (collective: every rank calls it).

    Parameters
    ----------
    A : DistributedMatrix
    b, x0 : ndarray, shape (A.n_local,)
        This rank's parts of the right-hand side and starting guess.
    rtol, atol, maxiter, callback, monitor, dtol
        As :func:`solvers.cg`; ``maxiter`` defaults to ``10 A.n``; ``callback`` gets
        this rank's part of the iterate.
    M : None, "jacobi", "ssor", "ilu0", "ic0" or Preconditioner
        Jacobi is the global Jacobi preconditioner (the serial iterates); the others are
        block Jacobi: the factorisation of each rank's diagonal block, so the iteration
        counts grow with the number of ranks.  A :class:`~solvers.Preconditioner` built
        from ``A.local_block`` is taken as the rank's block.
    variant : {"classic", "single_reduction"}
        ``"single_reduction"``: Chronopoulos and Gear's CG, one global sum per
        iteration instead of two (the same iterates in exact arithmetic).

    Returns
    -------
    DistributedResult
        The :class:`~solvers.SolveResult` of the solve, identical on every rank but for
        ``x``, this rank's part of the solution (:func:`solvers.distributed.gather`).

    References
    ----------
    A. T. Chronopoulos and C. W. Gear, "s-step iterative methods for symmetric linear
    systems", J. Comput. Appl. Math. 25 (1989).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> import solvers
    >>> from solvers.distributed import scatter, scatter_matrix
    >>> n = 40
    >>> L = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    >>> A = scatter_matrix(L.tocsr())
    >>> b = scatter(np.ones(n), A)
    >>> result = solvers.cg(A, b, rtol=1e-10, variant="single_reduction")
    >>> result.reason.value, result.iterations
    ('converged_rtol', 20)
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    problem = prepare(A, b, x0, rtol, atol, dtol, maxiter, M, callback, monitor)
    if problem.rhs_norm == 0.0:
        return zero_rhs(problem, "cg")
    work = _workspace(problem, variant)
    compiled = LOOPS[problem.M.kind, variant]
    # Pauses at every iteration for a callback or monitor (they run locally, between
    # iterations), else after about a tenth of a second of work, at the same iteration
    # on every rank, to hear of a Ctrl-C on any of them.
    step = pause_iterations(problem)
    start, code, k = 0, _PAUSED, 0
    with Interrupts(A.comm) as interrupts:
        while code == _PAUSED:
            stop = min(start + step, problem.maxiter)
            reserve(work, ("history",), stop + 1, problem.maxiter + 1)
            reserve(work, ("alphas", "betas"), stop, problem.maxiter)
            code, k = compiled(*_arguments(problem, work, start, stop))
            report_or_abort(problem, _report, work["history"], 0 if start == 0 else start + 1,
                            k)
            start = stop
            if code == _PAUSED and interrupts.requested():
                code = CODE_INTERRUPTED
    return delivered(_result(problem, code, k, work))


def _workspace(problem: DistributedProblem, variant: str) -> dict:
    n, ghosts = problem.n, problem.A.ghosts.size
    iterations = min(FIRST_HISTORY, problem.maxiter)
    work = {"r": np.empty(n), "p": np.zeros(n + ghosts), "q": np.zeros(n),
            "z": np.zeros(n + ghosts), "history": np.full(iterations + 1, np.nan),
            "alphas": np.zeros(iterations), "betas": np.zeros(iterations),
            "scalars": np.zeros(7), "counters": np.zeros(5, dtype=np.int64),
            "sums": np.zeros(6)}
    if variant == "single_reduction":
        work["w"] = np.empty(n)
    return work


def _arguments(problem: DistributedProblem, work: dict, start: int, stop: int) -> tuple:
    A, M, link = problem.A, problem.M, problem.A.link
    extra = (work["w"],) if "w" in work else ()
    return (A.indptr, A.indices, A.data, problem.b, problem.x_ext, work["r"], work["p"],
            work["q"], work["z"], *extra, M.indptr, M.indices, M.data, M.diag,
            M.diag_positions, M.omega, problem.tolerance, problem.dtol, start, stop,
            problem.maxiter, work["history"], work["alphas"], work["betas"], work["scalars"],
            work["counters"], problem.plan, link.calls, link.handles, problem.timers,
            work["sums"])


def _report(problem: DistributedProblem, history, first: int, last: int) -> None:
    if problem.monitor is not None:
        for j in range(first, last + 1):
            problem.monitor(j, float(history[j]))
    if problem.callback is not None and last > 0 and last >= first:
        problem.callback(problem.x.copy())


def _result(problem: DistributedProblem, code: int, k: int, work: dict):
    check_status(problem, code)
    work["scalars"][_TRUE] = -1.0  # computed by the result, over all ranks
    return distributed_result(problem, serial_result(problem, code, k, work))
