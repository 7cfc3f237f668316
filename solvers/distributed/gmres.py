r"""Distributed restarted GMRES with right preconditioning.

The cycles of :mod:`solvers.gmres` on a :class:`DistributedMatrix`: each rank holds its
rows of the Arnoldi basis :math:`V`; the product exchanges the halo of the (preconditioned)
basis vector; classical Gram-Schmidt sums the local projections :math:`V_j^T w` and
:math:`\|w\|^2` over the ranks in one call, and the second pass's coefficients with the
new norm in another (a third only when the "twice is enough" test asks for the second
pass).  The small Hessenberg least-squares problem is solved on every rank alike, from
the same global sums, so every rank takes the same decisions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import _csr, _gram_schmidt, precond
from .._common import FIRST_HISTORY, delivered
from .._inputs import check_positive_int
from ..gmres import (
    _APPLIES,
    _DONE,
    _GO_ON,
    _INNER_TOL,
    _MATVECS,
    _PAUSED,
    _R0,
    _REORTHOGONALIZE,
    _TRUE,
    CALLBACK_TYPES,
    _reserve_cycle,
    _start_cycle,
    _update_solution,
    _workspace,
    end_cycle,
    rotate_column,
)
from ..gmres import _report as report
from ..gmres import _result as serial_result
from ..precond import NONE, apply_preconditioner
from ..result import CODE_CONVERGED, CODE_DTOL, CODE_INTERRUPTED, CODE_NAN
from . import _kernels
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


@njit(cache=True)
def _orthogonalize(V, j, w, h, coefficients, sums, calls, handles, timers):
    """Classical Gram-Schmidt of ``w`` against ``V[:j+1]`` over all ranks, with the
    conditional second pass; fills ``h[:j+1]`` and returns ``(||w||, ||A v||, status)``."""
    count = j + 1
    half = sums.size // 2
    local, total = sums[:half], sums[half:]
    local[count] = _gram_schmidt.project(V, count, w, local, None)
    status = _kernels.global_sum(local, total, count + 1, calls, handles, timers)
    ww = total[count]
    for i in range(count):
        h[i] = total[i]
        coefficients[i] = total[i]
    # Subtracting leaves this rank's part of the second pass's coefficients.
    local[count] = _gram_schmidt.subtract_project(V, count, coefficients, w, None)
    for i in range(count):
        local[i] = coefficients[i]
    status |= _kernels.global_sum(local, total, count + 1, calls, handles, timers)
    norm = math.sqrt(total[count])
    if norm < _REORTHOGONALIZE * math.sqrt(ww):
        for i in range(count):
            coefficients[i] = total[i]
        local[0] = _gram_schmidt.subtract(V, count, coefficients, w, None)
        status |= _kernels.global_sum(local, total, 1, calls, handles, timers)
        norm = math.sqrt(total[0])
        for i in range(count):
            h[i] += coefficients[i]
    return norm, math.sqrt(ww), status


def _make_loop(KIND):
    """The compiled distributed GMRES loop of preconditioner kind ``KIND``."""

    def _distributed_gmres_loop(indptr, indices, data, b, x,
                                pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                                tol, dtol, restart, maxiter, start, pause_at, history, restarts,
                                V, hessenberg, rotated, cosines, sines, g, y, w, z,
                                scalars, counters, plan, calls, handles, timers, sums):
        """Cycles from iteration ``start`` as solvers.gmres (right preconditioning);
        ``x``, ``z`` and the rows of ``V`` hold the ghost entries after the owned ones."""
        n = b.size
        xs = x[:n]
        k = start
        while True:
            rr, status = _kernels.residual(indptr, indices, data, x, b, w, plan, calls,
                                           handles, timers)
            sums[0] = rr
            status |= _kernels.global_sum(sums[:1], sums[1:2], 1, calls, handles, timers)
            if status != 0:
                return CODE_MPI_FAILED, k
            counters[_MATVECS] += 1
            true_norm = math.sqrt(sums[1])
            if not math.isfinite(true_norm):
                return CODE_NAN, k
            if true_norm <= tol:
                return CODE_CONVERGED, k
            beta = true_norm
            _csr.axpby(1.0 / beta, w, 0.0, V[0][:n], None)
            code = _start_cycle(k, beta, true_norm, tol, maxiter, history, restarts, scalars,
                                counters)
            if code != _GO_ON:
                return code, k

            g[:] = 0.0
            g[0] = beta
            steps = 0
            singular = False
            stop = _GO_ON
            for j in range(restart):
                h = hessenberg[:, j]
                coefficients = rotated[:, j]
                if KIND == NONE:
                    _, status = _kernels.matvec(indptr, indices, data, V[j], w, plan, calls,
                                                handles, timers)
                else:
                    apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag,
                                         pdiag_positions, omega, V[j][:n], z)
                    counters[_APPLIES] += 1
                    _, status = _kernels.matvec(indptr, indices, data, z, w, plan, calls,
                                                handles, timers)
                counters[_MATVECS] += 1
                norm, product_norm, more = _orthogonalize(V, j, w, h, coefficients, sums,
                                                          calls, handles, timers)
                if status | more != 0:
                    return CODE_MPI_FAILED, k
                h[j + 1] = norm
                if not math.isfinite(norm):
                    return CODE_NAN, k
                diagonal = rotate_column(h, norm, j, coefficients, cosines, sines, g)
                k += 1
                steps = j + 1
                estimate = abs(g[j + 1])
                history[k] = estimate
                counters[_DONE] = k
                happy = norm <= 1e-14 * product_norm
                if diagonal == 0.0:
                    singular = True
                    break
                if not happy:
                    _csr.axpby(1.0 / norm, w, 0.0, V[j + 1][:n], None)
                if estimate > dtol * scalars[_R0]:
                    stop = CODE_DTOL
                    break
                if happy or estimate <= scalars[_INNER_TOL] or k >= maxiter:
                    break
            if stop != CODE_DTOL:
                steps, stop = end_cycle(hessenberg, steps, singular, stop, scalars, counters)
            _update_solution(V, rotated, g, y, steps, w, z, xs, False, KIND, pindptr,
                             pindices, pdata, pdiag, pdiag_positions, omega, None, counters)
            if stop != _GO_ON:
                return stop, k
            if k >= pause_at:
                return _PAUSED, k

    _distributed_gmres_loop.__qualname__ = (
        f"_distributed_gmres_loop_{precond.NAMES_BY_KIND[KIND]}")
    return njit(cache=True)(_distributed_gmres_loop)


#: The loop of each preconditioner kind (each compiles on its first call).
LOOPS = {kind: _make_loop(kind) for kind in KINDS}


def gmres(A, b, x0=None, *, rtol=1e-5, atol=0.0, restart=30, maxiter=None, M=None,
          callback=None, callback_type=None, monitor=None, dtol=None,
          preconditioning="right"):
    r"""Distributed GMRES: :func:`solvers.gmres` on a :class:`DistributedMatrix`.

    Called by :func:`solvers.gmres` for a distributed ``A`` (collective).  The keywords
    are those of :func:`solvers.gmres`; ``b`` and ``x0`` are this rank's parts, ``M`` is
    as for :func:`solvers.distributed.cg.cg` (Jacobi, or block Jacobi), and only right
    preconditioning is offered.

    Returns
    -------
    DistributedResult
        Identical on every rank but for ``x``, this rank's part of the solution.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> import solvers
    >>> from solvers.distributed import scatter, scatter_matrix
    >>> n = 60
    >>> T = sp.diags([-1.2 * np.ones(n - 1), 2 * np.ones(n), -0.8 * np.ones(n - 1)],
    ...              [-1, 0, 1])
    >>> A = scatter_matrix(T.tocsr())
    >>> result = solvers.gmres(A, scatter(np.ones(n), A), rtol=1e-10, restart=20)
    >>> result.reason.value
    'converged_rtol'
    """
    if preconditioning != "right":
        raise ValueError(f"preconditioning: distributed GMRES offers 'right' only; got "
                         f"{preconditioning!r}")
    if callback_type not in CALLBACK_TYPES:
        allowed = ", ".join(map(repr, CALLBACK_TYPES))
        raise ValueError(f"callback_type must be one of {allowed}; got {callback_type!r}")
    problem = prepare(A, b, x0, rtol, atol, dtol, maxiter, M, callback, monitor)
    restart = min(check_positive_int(restart, "restart", 30), A.n)
    if problem.rhs_norm == 0.0:
        return zero_rhs(problem, "gmres")
    n, ghosts = problem.n, A.ghosts.size
    space = _workspace(n, restart, min(problem.maxiter, FIRST_HISTORY), np.float64)
    space["V"] = np.zeros((restart + 1, n + ghosts))
    space["z"] = np.zeros(n + ghosts)
    space["sums"] = np.zeros(2 * (restart + 2))
    compiled = LOOPS[problem.M.kind]
    # Pauses at a cycle's end, at the same iteration on every rank: each cycle for a
    # callback or monitor, else the first after about a tenth of a second of work (see
    # solvers.distributed.cg).  An iteration orthogonalises against restart / 2 basis
    # vectors on average.
    step = pause_iterations(problem, restart * n)
    start, code, k = 0, _PAUSED, 0
    with Interrupts(A.comm) as interrupts:
        while code == _PAUSED:
            pause_at = start + step
            _reserve_cycle(problem, space, restart, start, pause_at)
            code, k = compiled(*_arguments(problem, space, restart, start, pause_at))
            report_or_abort(problem, report, space["history"], start, k, callback_type)
            start = k
            if code == _PAUSED and interrupts.requested():
                code = CODE_INTERRUPTED
    check_status(problem, code)
    space["scalars"][_TRUE] = -1.0  # computed by the result, over all ranks
    return delivered(distributed_result(problem, serial_result(problem, code, k, space,
                                                               False)))


def _arguments(problem: DistributedProblem, space: dict, restart: int, start: int,
               pause_at: int) -> tuple:
    A, M, link = problem.A, problem.M, problem.A.link
    return (A.indptr, A.indices, A.data, problem.b, problem.x_ext, M.indptr, M.indices,
            M.data, M.diag, M.diag_positions, M.omega, problem.tolerance, problem.dtol,
            restart, problem.maxiter, start, pause_at, space["history"], space["restarts"],
            space["V"], space["hessenberg"], space["rotated"], space["cosines"],
            space["sines"], space["g"], space["y"], space["w"], space["z"],
            space["scalars"], space["counters"], problem.plan, link.calls, link.handles,
            problem.timers, space["sums"])

