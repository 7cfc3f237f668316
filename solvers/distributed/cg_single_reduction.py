r"""CG with one global sum per iteration (Chronopoulos and Gear).

Classical PCG needs :math:`p_k^T A p_k` before it can update the residual, and
:math:`r_{k+1}^T z_{k+1}` after: two global sums, two latencies per iteration.  Keeping
:math:`s_k = A p_k` by the recurrence :math:`s_k = w_k + \beta_k s_{k-1}`, with
:math:`u_k = M^{-1} r_k` and :math:`w_k = A u_k`, gives the same scalar

.. math::

    \gamma_k = r_k^T u_k,\quad \delta_k = w_k^T u_k,\quad
    \beta_k = \frac{\gamma_k}{\gamma_{k-1}},\quad
    p_k^T A p_k = \delta_k - \beta_k \frac{\gamma_k}{\alpha_{k-1}},\quad
    \alpha_k = \frac{\gamma_k}{p_k^T A p_k},

from inner products that are all known at once: :math:`r^T r`, :math:`\gamma` and
:math:`\delta` are summed over the ranks in one call.  The price: one more vector
recurrence (``s``), and rounding errors that grow a little faster (the residual
replacement of the classical loop catches the drift at the tolerance).

References
----------
A. T. Chronopoulos and C. W. Gear, "s-step iterative methods for symmetric linear
systems", J. Comput. Appl. Math. 25 (1989).
"""

from __future__ import annotations

import math

from numba import njit

from .. import _csr, precond
from ..cg import _APPLIES, _DONE, _MATVECS, _R0, _RZ
from ..precond import NONE, apply_preconditioner
from ..result import (
    CODE_DTOL,
    CODE_INDEFINITE_MATRIX,
    CODE_MAX_ITERATIONS,
    CODE_NAN,
)
from . import _kernels
from ._cg_steps import (
    _ALPHA,
    _DELTA,
    _GAMMA_OLD,
    _PAUSED,
    replaced,
    rz_code,
    start_code,
)
from ._front import CODE_MPI_FAILED


@njit(cache=True)
def _update(alpha, beta, u, w, p, s, x, r):
    """p = u + beta p, s = w + beta s, x += alpha p, r -= alpha s; returns r.r."""
    rr = 0.0
    for i in range(r.size):
        pi = u[i] + beta * p[i]
        si = w[i] + beta * s[i]
        p[i] = pi
        s[i] = si
        x[i] += alpha * pi
        ri = r[i] - alpha * si
        r[i] = ri
        rr += ri * ri
    return rr


def make_loop(KIND):
    """The compiled single-reduction loop of preconditioner kind ``KIND``."""

    def _restart(indptr, indices, data, b, x, r, u, w, pindptr, pindices, pdata, pdiag,
                 pdiag_positions, omega, plan, calls, handles, timers, sums, true):
        """u = M^-1 r, w = A u, and the sums [r.r, r.u, w.u]; ``true``: r = b - A x first."""
        local, total = sums[:3], sums[3:]
        status = 0
        if true:
            rr, status = _kernels.residual(indptr, indices, data, x, b, r, plan, calls,
                                           handles, timers)
        else:
            rr = _csr.dot(r, r, None)
        apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                             r, u)
        uw, more = _kernels.matvec(indptr, indices, data, u, w, plan, calls, handles, timers)
        local[0], local[1], local[2] = rr, _csr.dot(r, u, None), uw
        status |= more | _kernels.global_sum(local, total, 3, calls, handles, timers)
        return status

    # Not inlined: Numba's inliner keeps the first closure's body it met for all kinds.
    _restart.__qualname__ = f"_single_reduction_restart_{precond.NAMES_BY_KIND[KIND]}"
    _restart = njit(cache=True)(_restart)

    def _single_reduction_cg_loop(indptr, indices, data, b, x, r, p, s, u, w,
                                  pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                                  tol, dtol, start, stop, maxiter, history, alphas, betas,
                                  scalars, counters, plan, calls, handles, timers, sums):
        """Iterations ``start .. stop-1``, with the arguments of the classical loop (``s``
        in the place of ``q``, ``u`` of ``z``) and ``w``; ``x`` and ``u`` hold ghosts."""
        n = b.size
        xs, us = x[:n], u[:n]
        total = sums[3:]
        if start == 0:
            status = _restart(indptr, indices, data, b, x, r, u, w, pindptr, pindices, pdata,
                              pdiag, pdiag_positions, omega, plan, calls, handles, timers,
                              sums, True)
            counters[_MATVECS] += 2
            if status != 0:
                return CODE_MPI_FAILED, 0
            code = start_code(total, tol, history, scalars)
            if code >= 0:
                return code, 0
            counters[_APPLIES] += 1
            code = rz_code(total[1], KIND)
            if code >= 0:
                return code, 0
            scalars[_RZ], scalars[_DELTA], scalars[_ALPHA] = total[1], total[2], 0.0
        for k in range(start, stop):
            gamma, delta, alpha_old = scalars[_RZ], scalars[_DELTA], scalars[_ALPHA]
            if alpha_old == 0.0:  # the first step, or after a residual replacement
                beta, pq = 0.0, delta
            else:
                beta = gamma / scalars[_GAMMA_OLD]
                pq = delta - beta * gamma / alpha_old
                betas[k - 1] = beta
            if not math.isfinite(pq):
                return CODE_NAN, k
            if pq <= 0.0:
                return CODE_INDEFINITE_MATRIX, k
            alpha = gamma / pq
            alphas[k] = alpha
            _update(alpha, beta, us, w, p, s, xs, r)
            status = _restart(indptr, indices, data, b, x, r, u, w, pindptr, pindices, pdata,
                              pdiag, pdiag_positions, omega, plan, calls, handles, timers,
                              sums, False)
            if status != 0:
                return CODE_MPI_FAILED, k
            counters[_MATVECS] += 1
            norm = math.sqrt(total[0])
            history[k + 1] = norm
            counters[_DONE] = k + 1
            if not math.isfinite(norm):
                return CODE_NAN, k + 1
            alpha_next = alpha
            if norm <= tol:
                status = _restart(indptr, indices, data, b, x, r, u, w, pindptr, pindices,
                                  pdata, pdiag, pdiag_positions, omega, plan, calls, handles,
                                  timers, sums, True)
                counters[_MATVECS] += 2
                if status != 0:
                    return CODE_MPI_FAILED, k + 1
                code = replaced(norm, tol, math.sqrt(total[0]), k + 1, history, scalars,
                                counters)
                if code >= 0:
                    return code, k + 1
                alpha_next = 0.0  # restart the directions from the true residual
                betas[k] = 0.0  # which also starts a new Lanczos segment
            if norm > dtol * scalars[_R0]:
                return CODE_DTOL, k + 1
            if KIND != NONE:
                counters[_APPLIES] += 1
            code = rz_code(total[1], KIND)
            if code >= 0:
                return code, k + 1
            scalars[_GAMMA_OLD] = gamma
            scalars[_RZ], scalars[_DELTA], scalars[_ALPHA] = total[1], total[2], alpha_next
        if stop < maxiter:
            return _PAUSED, stop
        return CODE_MAX_ITERATIONS, maxiter

    _single_reduction_cg_loop.__qualname__ = (
        f"_single_reduction_cg_loop_{precond.NAMES_BY_KIND[KIND]}")
    return njit(cache=True)(_single_reduction_cg_loop)
