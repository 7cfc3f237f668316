"""What the two distributed CG loops share: the state layout and the small steps.

The scalars and counters are those of :mod:`solvers.cg`, whose result is built from
them (the true residual of the returned x, ``_TRUE``, is left to that result: -1); the
single-reduction loop keeps three more scalars.
"""

from __future__ import annotations

import math

from numba import njit

from .. import _csr
from ..cg import _LAST_TRUE, _R0, _REPLACEMENTS
from ..precond import NONE
from ..result import (
    CODE_BREAKDOWN,
    CODE_CONVERGED,
    CODE_INDEFINITE_PRECONDITIONER,
    CODE_NAN,
    CODE_STAGNATION,
)
from . import _kernels

_PAUSED = -1
# the alpha of the last step (single reduction: 0 when the directions restart), and
# delta = w.u of the current residual and gamma = r.u of the one before
_ALPHA, _DELTA, _GAMMA_OLD = 4, 5, 6


@njit(cache=True, inline="always")
def rz_code(rz, KIND):
    """The stop code of a preconditioned ``r.z`` (-1: go on); ``KIND`` a constant."""
    if not math.isfinite(rz):
        return CODE_NAN
    if KIND != NONE:
        if rz < 0.0:
            return CODE_INDEFINITE_PRECONDITIONER
        if rz == 0.0:
            return CODE_BREAKDOWN
    return -1


@njit(cache=True, inline="always")
def replaced(norm, tol, true_norm, k, history, scalars, counters):
    """The convergence test of the recursive residual ``norm`` (already below ``tol``)
    against the true one: the stop code, or -1 after a residual replacement."""
    if true_norm <= tol:
        return CODE_CONVERGED
    if counters[_REPLACEMENTS] > 0 and true_norm >= scalars[_LAST_TRUE]:
        return CODE_STAGNATION
    scalars[_LAST_TRUE] = true_norm
    counters[_REPLACEMENTS] += 1
    history[k] = true_norm
    return -1


@njit(cache=True)
def start_code(total, tol, history, scalars):
    """Record ``||r_0|| = sqrt(total[0])``; its stop code (-1: go on)."""
    norm = math.sqrt(total[0])
    history[0] = norm
    scalars[_R0] = norm
    if not math.isfinite(norm):
        return CODE_NAN
    if norm <= tol:
        return CODE_CONVERGED
    return -1


@njit(cache=True)
def sum_rr_rz(rr, r, z, sums, calls, handles, timers):
    """``sums[3:5]`` = the global ``r.r`` (this rank's ``rr``) and ``r.z``; the status."""
    sums[0], sums[1] = rr, _csr.dot(r, z, None)
    return _kernels.global_sum(sums[:3], sums[3:], 2, calls, handles, timers)
