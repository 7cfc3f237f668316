r"""Restarted GMRES with right (default) or left preconditioning.

Each cycle of ``restart`` steps builds an orthonormal basis :math:`V_{m+1}` of the
Krylov space by Arnoldi, :math:`A M^{-1} V_m = V_{m+1} \bar H_m` (right
preconditioning), and picks :math:`x = x_0 + M^{-1} V_m y` with :math:`y` minimising
:math:`\| \beta e_1 - \bar H_m y \|_2`, :math:`\beta = \|r_0\|`.  Givens rotations
keep :math:`\bar H_m` triangular as it grows, so the residual norm of every step is
known without forming ``x``: it is the last entry of the rotated right-hand side.

The basis is orthogonalised by classical Gram-Schmidt with one conditional second
pass (the "twice is enough" test of Daniel, Gragg, Kaufman and Stewart): two passes
over memory per step instead of the ``j`` of modified Gram-Schmidt, and as accurate.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _csr, _gram_schmidt, precond
from ._common import (
    FIRST_HISTORY,
    Problem,
    delivered,
    finish,
    iterations_per_pause,
    preconditioner_arrays,
    prepare,
    reserve,
    row_bounds,
    zero_rhs_result,
)
from ._inputs import check_positive_int
from ._scalar import accumulator_dtype, conj, real
from ._singular_values import extreme_singular_values
from ._threads import thread_policy
from .distributed.dispatch import is_distributed, solve
from .interrupts import keeping_interrupts, raise_kept
from .precond import KINDS, NONE, apply_preconditioner
from .result import (
    CODE_BREAKDOWN,
    CODE_CONVERGED,
    CODE_DTOL,
    CODE_INTERRUPTED,
    CODE_MAX_ITERATIONS,
    CODE_NAN,
    CODE_STAGNATION,
    SolveResult,
)

_PAUSED = -1
_GO_ON = -2
# A second Gram-Schmidt pass when the first removed more than this share of ||w||.
_REORTHOGONALIZE = 1.0 / math.sqrt(2.0)
# A cycle that lowers the best residual so far by less than this (relative) made no
# progress; after _PATIENCE such cycles in a row the solve stops.  Exactly no progress
# would repeat forever (the next cycle starts from the same residual); near the attainable
# accuracy the true residual wobbles from cycle to cycle, hence the patience.
_STAGNATION = 1e-13
_PATIENCE = 3
# scalars: ||r_0||, inner tolerance (the bound scaled to the norm the history measures),
# smallest residual norm at the start of a cycle, and ||b - A x|| of the x a loop call
# returns (-1 when it was not computed there), and the largest and smallest singular
# values of any cycle's Hessenberg matrix (0 and infinity before the first cycle ends)
_R0, _INNER_TOL, _BEST_START, _TRUE, _SIGMA_MAX, _SIGMA_MIN = 0, 1, 2, 3, 4, 5
# counters: products with A, preconditioner applications, cycles done, steps in the last
# cycle, and cycles since the residual last improved
_MATVECS, _APPLIES, _CYCLES, _LAST_STEPS, _STALLED = 0, 1, 2, 3, 4
# ... and iterations done, kept by the loop (as in cg.py: a Ctrl-C arriving as a loop
# call returns loses its return value)
_DONE = 5


@njit(cache=True, nogil=True)
def _givens(a, b):
    """(c, s, r) with [conj(c) conj(s); -s c] [a; b] = [r; 0], a unitary rotation.

    For real ``a, b`` it is the plane rotation [c s; -s c]; for complex ones
    ``c = a / r``, ``s = b / r`` with ``r = sqrt(|a|^2 + |b|^2)``.
    """
    if b == 0.0:
        return 1.0, 0.0, a
    if a == 0.0:
        return 0.0, 1.0, b
    r = math.hypot(abs(a), abs(b))
    return a / r, b / r, r


@njit(cache=True, nogil=True, inline="always")
def rotate_column(h, norm, j, coefficients, cosines, sines, g):
    """Column ``j`` of the Hessenberg matrix (``h[:j+1]`` and ``norm`` below them) into
    ``coefficients``, rotated by the earlier rotations; then its own rotation, applied to
    ``g`` too.  Returns the new diagonal entry of R (zero: R is singular)."""
    for i in range(j + 1):
        coefficients[i] = h[i]
    coefficients[j + 1] = norm
    for i in range(j):
        a, c = coefficients[i], coefficients[i + 1]
        coefficients[i] = conj(cosines[i]) * a + conj(sines[i]) * c
        coefficients[i + 1] = -sines[i] * a + cosines[i] * c
    cos_j, sin_j, diagonal = _givens(coefficients[j], coefficients[j + 1])
    cosines[j], sines[j] = cos_j, sin_j
    coefficients[j], coefficients[j + 1] = diagonal, 0.0
    g[j + 1] = -sin_j * g[j]
    g[j] = conj(cos_j) * g[j]
    return diagonal


@njit(cache=True, nogil=True, inline="always")
def end_cycle(hessenberg, steps, singular, stop, scalars, counters):
    """The bookkeeping at a cycle's end: its Hessenberg matrix's extreme singular values
    folded into the solve's, and one step fewer with ``diverged_breakdown`` when R turned
    singular.  Returns ``(steps, stop)``."""
    counters[_LAST_STEPS] = steps
    fold_singular_values(hessenberg, steps, scalars)
    if singular:
        return steps - 1, CODE_BREAKDOWN
    return steps, stop


@njit(cache=True, nogil=True)
def fold_singular_values(hessenberg, steps, scalars):
    r"""The extreme singular values of a cycle's :math:`\bar H` (``steps + 1`` by
    ``steps``) folded into ``scalars[_SIGMA_MAX]`` and ``scalars[_SIGMA_MIN]``.

    Each cycle's Arnoldi relation :math:`A V_m = V_{m+1} \bar H_m` (orthonormal ``V``)
    puts the singular values of :math:`\bar H_m` within those of the operator, so the
    largest and smallest over all cycles bracket the operator's more tightly than any
    one cycle does, and their ratio stays a lower bound of its condition number.
    """
    if steps == 0:
        return
    largest, smallest = extreme_singular_values(hessenberg, steps + 1, steps)
    if math.isnan(largest):  # an entry that is not finite: the cycle says nothing
        return
    scalars[_SIGMA_MAX] = max(scalars[_SIGMA_MAX], largest)
    scalars[_SIGMA_MIN] = min(scalars[_SIGMA_MIN], smallest)


@njit(cache=True)
def _start_code(beta):
    """The stop code when ``||M^-1 r|| = beta`` cannot start a cycle (``r != 0``): a
    preconditioner that maps the residual to zero (singular ``M``) or to NaN."""
    if not math.isfinite(beta):
        return CODE_NAN
    if beta == 0.0:
        return CODE_BREAKDOWN
    return _GO_ON


@njit(cache=True)
def _start_cycle(k, beta, true_norm, tol, maxiter, history, restarts, scalars, counters):
    """Bookkeeping where a cycle starts from residual norm ``beta``; a stop code or _GO_ON.

    Shared by the compiled loop and the LinearOperator path, which calls it from Python.
    """
    if k == 0:
        history[0] = beta
        scalars[_R0] = beta
        scalars[_BEST_START] = beta
        # Left preconditioning monitors ||M^-1 r||: scale the bound to that norm.
        scalars[_INNER_TOL] = tol * beta / true_norm
    elif counters[_CYCLES] > 0:
        if beta < scalars[_BEST_START] * (1.0 - _STAGNATION):
            scalars[_BEST_START] = beta
            counters[_STALLED] = 0
        else:
            counters[_STALLED] += 1
            if counters[_STALLED] >= _PATIENCE:
                return CODE_STAGNATION
        if history[k] <= scalars[_INNER_TOL]:
            # The estimate met the bound and the true residual did not: aim lower.
            scalars[_INNER_TOL] *= tol / true_norm
    if k >= maxiter:
        return CODE_MAX_ITERATIONS
    restarts[counters[_CYCLES]] = k
    counters[_CYCLES] += 1
    return _GO_ON


def _make_gmres_loop(KIND):
    """The compiled GMRES loop for preconditioner kind ``KIND`` (see ``precond.KINDS``).

    ``KIND`` is a constant of the closure, as in ``cg._make_cg_loop``: only this kind's
    preconditioner kernel is compiled, on the loop's first call.
    """

    def _gmres_loop(indptr, indices, data, bounds, b, x,
                    pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                    left, tol, dtol, restart, maxiter, start, pause_at, x_is_zero, history,
                    restarts, V, hessenberg, rotated, cosines, sines, g, y, w, z, scalars,
                    counters):
        """GMRES cycles from iteration ``start``; returns ``(code, iterations)``.

        It returns ``_PAUSED`` at the end of the first cycle that reaches iteration
        ``pause_at``, the state being kept in the arrays (``x`` above all), so that Python
        can run between cycles: a callback, a check for Ctrl-C, a longer history.
        """
        k = start
        scalars[_TRUE] = -1.0
        while True:
            # The true residual starts each cycle, so a cycle's claims are always checked.
            if k == 0 and x_is_zero:
                _csr.axpby(1.0, b, 0.0, w, bounds)
                rr = real(_csr.dot(w, w, bounds))
            else:
                rr = _csr.residual(indptr, indices, data, x, b, w, bounds)
                counters[_MATVECS] += 1
            true_norm = math.sqrt(rr)
            scalars[_TRUE] = true_norm
            if not math.isfinite(true_norm):
                return CODE_NAN, k
            if true_norm <= tol:
                return CODE_CONVERGED, k
            if left and KIND != NONE:
                apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                     omega, w, z)
                counters[_APPLIES] += 1
                beta = math.sqrt(real(_csr.dot(z, z, bounds)))
                code = _start_code(beta)
                if code != _GO_ON:
                    return code, k
                _csr.axpby(1.0 / beta, z, 0.0, V[0], bounds)
            else:
                beta = true_norm
                _csr.axpby(1.0 / beta, w, 0.0, V[0], bounds)
            code = _start_cycle(k, beta, true_norm, tol, maxiter, history, restarts, scalars,
                                counters)
            if code != _GO_ON:
                return code, k
            scalars[_TRUE] = -1.0  # x moves in this cycle

            g[:] = 0.0
            g[0] = beta
            steps = 0
            singular = False
            stop = _GO_ON
            for j in range(restart):
                h = hessenberg[:, j]
                coefficients = rotated[:, j]
                # The product and the first projection share one pass over w.
                if KIND == NONE:
                    ww = _gram_schmidt.spmv_project(indptr, indices, data, V[j], V, j + 1, w,
                                                    coefficients, bounds)
                elif left:
                    _csr.spmv_dot(indptr, indices, data, V[j], z, bounds)
                    apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                         omega, z, w)
                    counters[_APPLIES] += 1
                    ww = _gram_schmidt.project(V, j + 1, w, coefficients, bounds)
                else:
                    apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                         omega, V[j], z)
                    ww = _gram_schmidt.spmv_project(indptr, indices, data, z, V, j + 1, w,
                                                    coefficients, bounds)
                    counters[_APPLIES] += 1
                counters[_MATVECS] += 1
                for i in range(j + 1):
                    h[i] = coefficients[i]
                # Subtracting leaves the coefficients of a second pass in `coefficients`.
                norm = math.sqrt(_gram_schmidt.subtract_project(V, j + 1, coefficients, w, bounds))
                if norm < _REORTHOGONALIZE * math.sqrt(ww):
                    norm = math.sqrt(_gram_schmidt.subtract(V, j + 1, coefficients, w, bounds))
                    for i in range(j + 1):
                        h[i] += coefficients[i]
                h[j + 1] = norm
                if not math.isfinite(norm):
                    return CODE_NAN, k
                diagonal = rotate_column(h, norm, j, coefficients, cosines, sines, g)
                k += 1
                steps = j + 1
                estimate = abs(g[j + 1])
                history[k] = estimate
                counters[_DONE] = k
                # An invariant subspace: the step is exact if R is nonsingular, else stuck.
                happy = norm <= 1e-14 * math.sqrt(ww)
                if diagonal == 0.0:
                    singular = True
                    break
                if not happy:
                    _csr.axpby(1.0 / norm, w, 0.0, V[j + 1], bounds)
                if estimate > dtol * scalars[_R0]:
                    stop = CODE_DTOL
                    break
                if happy or estimate <= scalars[_INNER_TOL] or k >= maxiter:
                    break
            if stop != CODE_DTOL:  # a divergence stops before this bookkeeping
                steps, stop = end_cycle(hessenberg, steps, singular, stop, scalars, counters)
            # One call site: the update (and the preconditioner in it) is inlined once.
            _update_solution(V, rotated, g, y, steps, w, z, x, left, KIND, pindptr, pindices,
                             pdata, pdiag, pdiag_positions, omega, bounds, counters)
            if stop != _GO_ON:
                return stop, k
            if k >= pause_at:
                return _PAUSED, k

    # A cache index of its own for each kind (Numba names the files by the qualified
    # name): processes caching different kinds at once then never share an index file.
    _gmres_loop.__qualname__ = f"_gmres_loop_{precond.NAMES_BY_KIND[KIND]}"
    return njit(cache=True)(_gmres_loop)


@njit(cache=True, inline="always")
def _update_solution(V, rotated, g, y, steps, w, z, x, left, kind, pindptr, pindices, pdata,
                     pdiag, pdiag_positions, omega, bounds, counters):
    """x += V y (left) or x += M^{-1} V y (right), with R y = g by back substitution.

    Inlined into the loop, where ``kind`` is a constant: only that kind's kernel is compiled.
    """
    if steps <= 0:
        return
    for i in range(steps - 1, -1, -1):
        s = g[i]
        for m in range(i + 1, steps):
            s -= rotated[i, m] * y[m]
        y[i] = s / rotated[i, i]
    _gram_schmidt.combine(V, steps, y, w, bounds)
    if left or kind == NONE:
        _csr.axpby(1.0, w, 1.0, x, bounds)
    else:
        apply_preconditioner(kind, pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                             w, z)
        counters[_APPLIES] += 1
        _csr.axpby(1.0, z, 1.0, x, bounds)


#: The GMRES loop of each preconditioner kind.
LOOPS = {kind: _make_gmres_loop(kind) for kind in KINDS}
_gmres_loop = LOOPS[NONE]  # the loop without preconditioner, by its old name


@keeping_interrupts
def gmres(A, b, x0=None, *, rtol=1e-5, atol=0.0, restart=30, maxiter=None, M=None,
          callback=None, callback_type=None, monitor=None, dtol=None,
          preconditioning="right", **distributed) -> SolveResult:
    r"""Solve ``A x = b`` by restarted GMRES(``restart``).

    A drop-in for :func:`scipy.sparse.linalg.gmres` that reports the whole residual
    history, why it stopped, and a condition estimate; ``maxiter`` counts inner
    iterations (SciPy counts cycles).

    Parameters
    ----------
    A : sparse matrix or array, ndarray or LinearOperator, shape (n, n)
        Any nonsingular matrix, real or complex.  Sparse and dense input runs entirely in Numba; a
        ``LinearOperator`` goes through a slower loop that calls Python per step.
    b : array_like, shape (n,)
        Right-hand side.
    x0 : array_like, shape (n,), or "Mb", optional
        Starting guess (default zero; ``"Mb"``: :math:`M^{-1} b`); never modified.
    rtol, atol : float
        Stop when :math:`\|b - A x\|_2 \le \max(\mathrm{rtol}\,\|b\|_2, \mathrm{atol})`,
        checked on the recomputed true residual.
    restart : int
        Steps per cycle (the Krylov space dimension before a restart).
    maxiter : int, optional
        Largest number of inner iterations in all (default ``10 n``).
    M : None, str, Preconditioner, sparse matrix or LinearOperator
        Preconditioner: ``"jacobi"``, ``"ssor"``, ``"ilu0"``, ``"ic0"``, ``"amg"`` (real
        ``A`` only), an object from :func:`solvers.ilu0` and friends, or an operator
        approximating :math:`A^{-1}`.  With None, an operator ``A`` that has a ``psolve``
        method is preconditioned by it (SciPy's convention).
    callback : callable, optional
        With ``callback_type`` None, ``"legacy"`` or ``"pr_norm"``,
        ``callback(residual_norm / ||b||)`` (a NumPy float) once per inner iteration;
        with ``"x"``, ``callback(x)`` once per cycle.  Called after each cycle for the
        steps of that cycle.
    callback_type : {None, "legacy", "pr_norm", "x"}
        SciPy's argument.  ``maxiter`` counts inner iterations whatever it is: SciPy
        counts them so only for ``"legacy"`` (and None), and counts cycles otherwise.
    monitor : callable, optional
        ``monitor(k, residual_norm)`` for every history entry, after each cycle.
    dtol : float, optional
        Stop with ``diverged_dtol`` when the residual exceeds ``dtol`` times the initial one.
    preconditioning : {"right", "left"}
        Right preconditioning (default) minimises the true residual, so the history is
        that of ``||b - A x_k||``; left minimises ``||M^{-1}(b - A x_k)||``, which is what
        the history then shows.  Either way convergence is judged on the true residual.

    Returns
    -------
    SolveResult
        ``residual_norms`` has one entry per inner iteration; ``restarts`` lists the
        iterations at which cycles began; ``condition_estimate`` is the ratio of the
        largest to the smallest singular value of the Hessenberg matrices of all cycles,
        a lower bound of the condition number of the preconditioned operator.

    Notes
    -----
    Stops with ``diverged_stagnation`` when three cycles in a row fail to lower the
    smallest residual seen at a restart by a relative ``1e-13``: a cycle that makes no
    progress at all would repeat itself forever, and near the attainable accuracy the
    true residual only wobbles.  A Hessenberg matrix
    that turns singular (an invariant subspace on which the residual cannot be reduced,
    as for singular ``A`` with ``b`` outside its range) gives ``diverged_breakdown``.

    References
    ----------
    Y. Saad and M. H. Schultz, "GMRES: a generalized minimal residual algorithm for
    solving nonsymmetric linear systems", SIAM J. Sci. Stat. Comput. 7 (1986).
    J. W. Daniel, W. B. Gragg, L. Kaufman and G. W. Stewart, "Reorthogonalization and
    stable algorithms for updating the Gram-Schmidt QR factorization", Math. Comp. 30
    (1976).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import gmres
    >>> n = 200
    >>> A = sp.diags([-1.2 * np.ones(n - 1), 2 * np.ones(n), -0.8 * np.ones(n - 1)],
    ...              [-1, 0, 1], format="csr")
    >>> result = gmres(A, np.ones(n), rtol=1e-10, restart=20, M="ilu0")
    >>> result.converged, result.reason.value
    (True, 'converged_rtol')
    >>> bool(result.true_residual_norm <= 1e-10 * np.sqrt(n))
    True
    """
    if distributed or is_distributed(A):  # a DistributedMatrix: solvers.distributed.gmres
        return solve("gmres", A, b, x0, distributed, rtol=rtol, atol=atol, restart=restart,
                     maxiter=maxiter, M=M, callback=callback, callback_type=callback_type,
                     monitor=monitor, dtol=dtol, preconditioning=preconditioning)
    problem = prepare(A, b, x0, rtol, atol, dtol, maxiter, M, callback, monitor)
    restart = min(check_positive_int(restart, "restart", 30), problem.n)
    if callback_type not in CALLBACK_TYPES:
        allowed = ", ".join(map(repr, CALLBACK_TYPES))
        raise ValueError(f"callback_type must be one of {allowed}; got {callback_type!r}")
    if preconditioning not in ("right", "left"):
        raise ValueError(f"preconditioning must be 'right' or 'left'; got {preconditioning!r}")
    if problem.rhs_norm == 0.0:
        return zero_rhs_result(problem, "gmres")
    left = preconditioning == "left"
    if problem.compiled:
        problem.bounds = row_bounds(problem.A, rows_per_chunk(restart))
    run = _gmres_compiled if problem.compiled else _gmres_operator
    return run(problem, restart, left, callback_type)


#: SciPy's ``callback_type`` values.  ``maxiter`` counts inner iterations whichever is
#: given, so ``None`` and ``"legacy"`` (SciPy's own inner-iteration counting) mean the
#: same as ``"pr_norm"`` here.
CALLBACK_TYPES = (None, "legacy", "pr_norm", "x")


def rows_per_chunk(restart: int) -> int:
    """Rows per parallel chunk of GMRES(``restart``): Gram-Schmidt does about ``restart``
    times the work of an SpMV per row, so the rows are split finer than for CG."""
    return max(1024, 65536 // restart)


def _workspace(n: int, restart: int, iterations: int, dtype):
    """The arrays of the cycles, with history room for ``iterations`` iterations (the
    drivers grow it as the solve goes on: :func:`_common.reserve`).  The small arrays
    (Hessenberg matrix, rotations) are complex for a complex solve."""
    small = accumulator_dtype(dtype)
    return {
        "history": np.full(iterations + 1, np.nan),
        "restarts": np.zeros(iterations + 1, dtype=np.int64),
        "V": np.empty((restart + 1, n), dtype=dtype),
        "hessenberg": np.zeros((restart + 1, restart), dtype=small),
        "rotated": np.zeros((restart + 1, restart), dtype=small),
        "cosines": np.zeros(restart, dtype=small),
        "sines": np.zeros(restart, dtype=small),
        "g": np.zeros(restart + 1, dtype=small),
        "y": np.zeros(restart, dtype=small),
        "w": np.empty(n, dtype=dtype),
        "z": np.empty(n, dtype=dtype),
        "scalars": np.array([0.0, 0.0, 0.0, 0.0, 0.0, np.inf]),
        "counters": np.zeros(6, dtype=np.int64),
    }


def _reserve_cycle(problem: Problem, space: dict, restart: int, start: int, pause_at: int):
    """Room in the histories for cycles from ``start`` until one passes ``pause_at``."""
    needed = min(max(pause_at, start) + restart, problem.maxiter) + 1
    reserve(space, ("history", "restarts"), needed, problem.maxiter + 1)


def _gmres_arguments(problem: Problem, space: dict, restart: int, left: bool, start: int,
                     pause_at: int) -> tuple:
    """The arguments of ``LOOPS[problem.M.kind]`` for cycles from iteration ``start``."""
    A = problem.A
    return (A.indptr, A.indices, A.data, problem.bounds, problem.b, problem.x,
            *preconditioner_arrays(problem.M), left, problem.tolerance, problem.dtol, restart,
            problem.maxiter, start, pause_at, problem.x_is_zero, space["history"],
            space["restarts"], space["V"],
            space["hessenberg"], space["rotated"], space["cosines"],
            space["sines"], space["g"], space["y"], space["w"], space["z"], space["scalars"],
            space["counters"])


def _gmres_compiled(problem: Problem, restart: int, left: bool, callback_type: str):
    """The compiled cycles, returning to Python after about a tenth of a second of work
    (or every cycle, for a callback or monitor), so that Ctrl-C stops them at a cycle's
    end."""
    # an iteration orthogonalises against restart / 2 basis vectors on average, and
    # shares the product with A that starts each cycle
    step = iterations_per_pause(problem, restart * problem.n + problem.A.data.size // restart)
    space = _workspace(problem.n, restart, min(problem.maxiter, FIRST_HISTORY),
                       problem.b.dtype)
    loop = LOOPS[problem.M.kind]
    start, code, k = 0, _PAUSED, 0
    with thread_policy(problem.bounds is not None) as threads:
        try:
            while code == _PAUSED:
                pause_at = start + step
                _reserve_cycle(problem, space, restart, start, pause_at)
                arguments = _gmres_arguments(problem, space, restart, left, start, pause_at)
                code, k = threads.run(loop, arguments, start)
                raise_kept()  # a Ctrl-C that Numba's compiler swallowed
                _report(problem, space["history"], start, k, callback_type)
                start = k
        except KeyboardInterrupt:
            code, k = CODE_INTERRUPTED, int(space["counters"][_DONE])
    return delivered(_result(problem, code, k, space, left))


def _report(problem: Problem, history, start: int, k: int, callback_type: str) -> None:
    first = 0 if start == 0 else start + 1
    if problem.monitor is not None:
        for j in range(first, k + 1):
            problem.monitor(j, float(history[j]))
    if problem.callback is None:
        return
    if callback_type == "x":
        if k > start:
            problem.callback(problem.x.copy())
    else:
        for j in range(max(first, 1), k + 1):
            problem.callback(history[j] / problem.rhs_norm)


def _result(problem: Problem, code: int, k: int, space, left: bool) -> SolveResult:
    counters = space["counters"]
    cycles = int(counters[_CYCLES])
    largest, smallest = space["scalars"][_SIGMA_MAX], space["scalars"][_SIGMA_MIN]
    condition = float(largest / smallest) if 0.0 < smallest < np.inf else np.nan
    return finish(problem, "gmres", code, k, space["history"], counters[_MATVECS],
                  counters[_APPLIES], true_norm=space["scalars"][_TRUE],
                  condition_estimate=condition,
                  restarts=space["restarts"][:cycles].copy(),
                  residual_norm_type=_norm_type(problem, left))


def _norm_type(problem: Problem, left: bool) -> str:
    """Which residual the history measures: ``M^{-1} r`` only under left preconditioning."""
    unpreconditioned = not left or problem.preconditioner_name == "none"
    return "unpreconditioned" if unpreconditioned else "preconditioned"


def _gmres_operator(problem: Problem, restart: int, left: bool, callback_type: str):
    """The same cycles for a LinearOperator ``A`` or ``M``, with NumPy per step."""
    space = _workspace(problem.n, restart, min(problem.maxiter, FIRST_HISTORY),
                       problem.b.dtype)
    k = 0
    try:
        code, k = _operator_cycles(problem, space, restart, left, callback_type)
    except KeyboardInterrupt:
        code, k = CODE_INTERRUPTED, space["k"]
    return delivered(_result(problem, code, k, space, left))


def _operator_cycles(problem, space, restart, left, callback_type):
    """The cycles of :func:`_gmres_operator`; ``space["k"]`` follows the last one done."""
    tol, maxiter, x = problem.tolerance, problem.maxiter, problem.x
    counters, scalars = space["counters"], space["scalars"]
    k, code = 0, None
    space["k"] = 0
    while code is None:
        _reserve_cycle(problem, space, restart, k, k)
        history, V = space["history"], space["V"]
        if k == 0:
            r = problem.initial_residual()
            counters[_MATVECS] += 0 if problem.x_is_zero else 1
        else:
            r = problem.b - problem.matvec(x)
            counters[_MATVECS] += 1
        true_norm = float(np.linalg.norm(r))
        scalars[_TRUE] = true_norm
        if not np.isfinite(true_norm):
            code = CODE_NAN
            break
        if true_norm <= tol:
            code = CODE_CONVERGED
            break
        if left:
            r = problem.precondition(r)
            counters[_APPLIES] += 1
        beta = float(np.linalg.norm(r))
        code = _start_code(beta) if left else _GO_ON
        if code == _GO_ON:
            code = _start_cycle(k, beta, true_norm, tol, maxiter, history, space["restarts"],
                                scalars, counters)
        if code != _GO_ON:
            break
        scalars[_TRUE] = -1.0
        start = k
        V[0] = r / beta
        steps, code = _operator_cycle(problem, space, restart, left, beta, k)
        k += steps
        counters[_LAST_STEPS] = steps
        fold_singular_values(space["hessenberg"], steps, scalars)
        space["k"] = k
        _report(problem, history, start, k, callback_type)
    return code, k


def _operator_cycle(problem, space, restart, left, beta, k0):
    """One Arnoldi cycle in NumPy; updates x and returns (steps, code or None)."""
    V, hessenberg, history = space["V"], space["hessenberg"], space["history"]
    counters, scalars = space["counters"], space["scalars"]
    g = np.zeros(restart + 1, dtype=hessenberg.dtype)
    g[0] = beta
    rotations = []
    R = np.zeros((restart + 1, restart), dtype=hessenberg.dtype)
    code, steps = None, 0
    for j in range(restart):
        if left:
            w = problem.precondition(problem.matvec(V[j]))
        else:
            w = problem.matvec(problem.precondition(V[j]))
        counters[_MATVECS] += 1
        counters[_APPLIES] += 1
        ww = float(np.vdot(w, w).real)
        h = V[: j + 1].conj() @ w
        w = w - V[: j + 1].T @ h
        norm = float(np.linalg.norm(w))
        if norm < _REORTHOGONALIZE * np.sqrt(ww):
            correction = V[: j + 1].conj() @ w
            w -= V[: j + 1].T @ correction
            h += correction
            norm = float(np.linalg.norm(w))
        hessenberg[: j + 1, j], hessenberg[j + 1, j] = h, norm
        if not np.isfinite(norm):
            return j, CODE_NAN
        column = np.append(h, norm)
        for i, (c, s) in enumerate(rotations):
            column[i], column[i + 1] = (np.conj(c) * column[i] + np.conj(s) * column[i + 1],
                                        -s * column[i] + c * column[i + 1])
        c, s, diagonal = _givens(column[j], column[j + 1])
        rotations.append((c, s))
        column[j], column[j + 1] = diagonal, 0.0
        R[: j + 2, j] = column
        g[j + 1], g[j] = -s * g[j], np.conj(c) * g[j]
        steps = j + 1
        estimate = abs(g[j + 1])
        history[k0 + steps] = estimate
        if diagonal == 0.0:
            steps_used, code = j, CODE_BREAKDOWN
            break
        happy = norm <= 1e-14 * np.sqrt(ww)
        if not happy:
            V[j + 1] = w / norm
        if estimate > problem.dtol * scalars[_R0]:
            code = CODE_DTOL
            break
        if happy or estimate <= scalars[_INNER_TOL] or k0 + steps >= problem.maxiter:
            break
    steps_used = steps - 1 if code == CODE_BREAKDOWN else steps
    if steps_used > 0:
        y = np.linalg.solve(np.triu(R[:steps_used, :steps_used]), g[:steps_used])
        update = (V[:steps_used].T @ y).astype(V.dtype, copy=False)
        if not left:
            update = problem.precondition(update)
            counters[_APPLIES] += 1
        problem.x += update
    return steps, code
