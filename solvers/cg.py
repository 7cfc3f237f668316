r"""Preconditioned conjugate gradients.

For symmetric positive definite ``A`` and ``M``, CG builds iterates
:math:`x_k \in x_0 + \mathcal{K}_k(M^{-1}A, M^{-1}r_0)` that minimise the A-norm of
the error.  Per iteration:

.. math::

    \alpha_k = \frac{r_k^T z_k}{p_k^T A p_k},\quad
    x_{k+1} = x_k + \alpha_k p_k,\quad r_{k+1} = r_k - \alpha_k A p_k,\quad
    z_{k+1} = M^{-1} r_{k+1},\quad
    \beta_k = \frac{r_{k+1}^T z_{k+1}}{r_k^T z_k},\quad p_{k+1} = z_{k+1} + \beta_k p_k .

On CSR input the whole loop runs in Numba in three passes over memory per
iteration: ``q = A p`` fused with ``p.q``; the updates of ``x`` and ``r`` fused with
``r.r`` (and ``r.z`` for Jacobi); and the new direction.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numba import njit

from . import _csr, precond
from ._common import (
    FIRST_HISTORY,
    Problem,
    delivered,
    finish,
    iterations_per_pause,
    preconditioner_arrays,
    prepare,
    reserve,
    zero_rhs_result,
)
from ._scalar import abs2, real
from ._threads import thread_policy
from .distributed.dispatch import is_distributed, solve
from .interrupts import keeping_interrupts, raise_kept
from .precond import JACOBI, KINDS, NONE, apply_preconditioner
from .result import (
    CODE_BREAKDOWN,
    CODE_CONVERGED,
    CODE_DTOL,
    CODE_INDEFINITE_MATRIX,
    CODE_INDEFINITE_PRECONDITIONER,
    CODE_INTERRUPTED,
    CODE_MAX_ITERATIONS,
    CODE_NAN,
    CODE_STAGNATION,
    SolveResult,
)

_PAUSED = -1
# scalars: r.z of the current residual, ||r_0||, true residual norm at the last
# replacement, and ||b - A x|| of the x a loop call returns (-1 when not computed there)
_RZ, _R0, _LAST_TRUE, _TRUE = 0, 1, 2, 3
# counters: products with A, preconditioner applications, residual replacements
# (slot 3 is unused: the Lanczos segments are found from the betas, zero at a replacement)
_MATVECS, _APPLIES, _REPLACEMENTS = 0, 1, 2
# ... and iterations done, kept by the loop: Python raises KeyboardInterrupt as soon as
# a loop call returns, before its (code, iterations) are stored, and must still know
# how far the arrays have come
_DONE = 4


def _make_cg_loop(KIND):
    """The compiled PCG loop for preconditioner kind ``KIND`` (see ``precond.KINDS``).

    ``KIND`` is a constant of the closure: Numba prunes the branches of the other kinds
    and compiles only this kind's preconditioner kernel.  Each loop is compiled (or loaded
    from Numba's cache, which keys closures by their constants) on its first call.
    """

    def _cg_loop(indptr, indices, data, bounds, b, x, r, p, q, z,
                 pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                 tol, dtol, start, stop, maxiter, x_is_zero, history, alphas, betas, scalars,
                 counters):
        """Iterations ``start .. stop-1`` of PCG; returns ``(code, iterations)``.

        ``code`` is ``_PAUSED`` when ``stop`` was reached before ``maxiter`` (the state in
        the arrays lets a later call go on), otherwise a result code.
        """
        scalars[_TRUE] = -1.0
        # Slices keep one array type per name whatever the preconditioner, for Numba.
        # Every test of KIND is spelled out, so that Numba prunes it when compiling.
        dinv = pdiag if KIND == JACOBI else pdiag[:0]
        zbuf = z[:0] if (KIND == NONE or KIND == JACOBI) else z

        if start == 0:
            if x_is_zero:
                _csr.axpby(1.0, b, 0.0, r, bounds)
                rr = real(_csr.dot(r, r, bounds))
            else:
                rr = _csr.residual(indptr, indices, data, x, b, r, bounds)
                counters[_MATVECS] += 1
            norm = math.sqrt(rr)
            history[0] = norm
            scalars[_R0] = norm
            if not math.isfinite(norm):
                return CODE_NAN, 0
            if norm <= tol:
                scalars[_TRUE] = norm
                return CODE_CONVERGED, 0
            apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions, omega,
                                 r, z)
            counters[_APPLIES] += 1
            rz = real(_csr.dot(r, z, bounds))
            if KIND != NONE:
                if rz < 0.0:
                    return CODE_INDEFINITE_PRECONDITIONER, 0
                if rz == 0.0:
                    return CODE_BREAKDOWN, 0
            scalars[_RZ] = rz
            # An element loop: a slice assignment would compile its shape-mismatch error message.
            for i in range(p.size):
                p[i] = z[i]

        rz = scalars[_RZ]
        for k in range(start, stop):
            pq = _csr.spmv_dot(indptr, indices, data, p, q, bounds)
            counters[_MATVECS] += 1
            if not math.isfinite(pq):
                return CODE_NAN, k
            if pq <= 0.0:
                return CODE_INDEFINITE_MATRIX, k
            alpha = rz / pq
            alphas[k] = alpha
            rr, rz_new = _csr.cg_update(alpha, p, q, x, r, dinv, bounds)
            norm = math.sqrt(rr)
            history[k + 1] = norm
            counters[_DONE] = k + 1
            if not math.isfinite(norm):
                return CODE_NAN, k + 1
            if norm <= tol:
                # The recursive residual claims convergence: verify it on b - A x, which also
                # replaces r by the true residual in case the two have drifted apart.
                rr = _csr.residual(indptr, indices, data, x, b, r, bounds)
                counters[_MATVECS] += 1
                true_norm = math.sqrt(rr)
                if true_norm <= tol:
                    scalars[_TRUE] = true_norm
                    return CODE_CONVERGED, k + 1
                if counters[_REPLACEMENTS] > 0 and true_norm >= scalars[_LAST_TRUE]:
                    scalars[_TRUE] = true_norm
                    return CODE_STAGNATION, k + 1
                scalars[_LAST_TRUE] = true_norm
                counters[_REPLACEMENTS] += 1
                history[k + 1] = true_norm
                rz_new = rr
                beta = 0.0  # restart the directions from the true residual
            else:
                beta = -1.0
            if norm > dtol * scalars[_R0]:
                return CODE_DTOL, k + 1
            if not (KIND == NONE or KIND == JACOBI):
                apply_preconditioner(KIND, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                     omega, r, z)
                rz_new = real(_csr.dot(r, z, bounds))
            elif KIND == JACOBI and beta == 0.0:
                rz_new = 0.0
                for i in range(r.size):
                    rz_new += real(abs2(r[i]) * dinv[i])
            if KIND != NONE:
                counters[_APPLIES] += 1
                if not math.isfinite(rz_new):
                    return CODE_NAN, k + 1
                if rz_new < 0.0:
                    return CODE_INDEFINITE_PRECONDITIONER, k + 1
                if rz_new == 0.0:
                    return CODE_BREAKDOWN, k + 1
            if beta != 0.0:
                beta = rz_new / rz
            betas[k] = beta
            rz = rz_new
            scalars[_RZ] = rz
            _csr.cg_direction(beta, r, zbuf, dinv, p, bounds)
        if stop < maxiter:
            return _PAUSED, stop
        return CODE_MAX_ITERATIONS, maxiter

    # A cache index of its own for each kind (Numba names the files by the qualified
    # name): processes caching different kinds at once then never share an index file.
    _cg_loop.__qualname__ = f"_cg_loop_{precond.NAMES_BY_KIND[KIND]}"
    return njit(cache=True)(_cg_loop)


#: The PCG loop of each preconditioner kind.
LOOPS = {kind: _make_cg_loop(kind) for kind in KINDS}
_cg_loop = LOOPS[NONE]  # the loop without preconditioner, by its old name


@keeping_interrupts
def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
       monitor=None, dtol=None, **distributed) -> SolveResult:
    r"""Solve ``A x = b`` for symmetric positive definite ``A`` by conjugate gradients.

    A drop-in for :func:`scipy.sparse.linalg.cg` that reports more: the full L2
    residual history, why it stopped, and an estimate of the condition number.

    Parameters
    ----------
    A : sparse matrix or array, ndarray or LinearOperator, shape (n, n)
        Symmetric positive definite (Hermitian positive definite if complex).  Sparse
        and dense matrices are converted once to CSR and the iteration runs entirely in
        Numba; a ``LinearOperator`` (anything with ``matvec``) goes through a slower
        loop that calls Python each iteration.
    b : array_like, shape (n,)
        Right-hand side.
    x0 : array_like, shape (n,), or "Mb", optional
        Starting guess (default zero; ``"Mb"``: :math:`M^{-1} b`).  Never modified.
    rtol, atol : float
        Stop when :math:`\|b - A x\|_2 \le \max(\mathrm{rtol}\,\|b\|_2, \mathrm{atol})`.
    maxiter : int, optional
        Largest number of iterations (default ``10 n``).
    M : None, str, Preconditioner, sparse matrix or LinearOperator
        Preconditioner: ``"jacobi"``, ``"ssor"``, ``"ilu0"``, ``"ic0"``, ``"amg"`` (real
        ``A`` only), an object from :func:`solvers.jacobi` and friends, or an operator
        approximating :math:`A^{-1}` (SciPy's convention).  Must be symmetric (Hermitian)
        positive definite.  With None, an operator ``A`` that has a ``psolve`` method is
        preconditioned by it, as in SciPy.
    callback : callable, optional
        ``callback(xk)`` after each iteration, with a copy of the iterate.
    monitor : callable, optional
        ``monitor(k, residual_norm)`` for ``k = 0, 1, ...``, one call per iteration,
        in the manner of PETSc's ``-ksp_monitor``.
    dtol : float, optional
        Stop with ``diverged_dtol`` when :math:`\|r_k\| > \mathrm{dtol}\,\|r_0\|`
        (default: no such test; CG residuals may rise on the way down).

    Returns
    -------
    SolveResult
        Unpacks as ``x, info``.  ``converged`` is True only if the recomputed true
        residual meets the tolerance.

    Notes
    -----
    The residual updated by the recurrence drifts from ``b - A x`` in floating point.
    When the recurrence says the tolerance is met, the true residual is computed; if
    it is not within the tolerance, it replaces the recursive one and the iteration
    restarts from it.  If a replacement does not lower the true residual below the
    previous one, the attainable accuracy is reached and the solve stops with
    ``diverged_stagnation``.

    The condition estimate comes from the Lanczos tridiagonal matrix
    :math:`T_k` implied by the coefficients :math:`\alpha_j, \beta_j`
    (Golub & Van Loan, section 11.3): its extreme eigenvalues approximate those of
    :math:`M^{-1}A` from inside.

    References
    ----------
    M. R. Hestenes and E. Stiefel, "Methods of conjugate gradients for solving linear
    systems", J. Res. Nat. Bur. Standards 49 (1952).
    H. A. van der Vorst and Q. Ye, "Residual replacement strategies for Krylov
    subspace iterative methods", SIAM J. Sci. Comput. 22 (2000).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import cg
    >>> n = 100
    >>> A = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    >>> result = cg(A, np.ones(n), rtol=1e-10)
    >>> result.converged, result.reason.value, result.iterations
    (True, 'converged_rtol', 50)
    >>> x, info = result
    >>> bool(np.linalg.norm(np.ones(n) - A @ x) <= 1e-10 * np.sqrt(n))
    True
    """
    if distributed or is_distributed(A):  # a DistributedMatrix: solvers.distributed.cg
        return solve("cg", A, b, x0, distributed, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                     callback=callback, monitor=monitor, dtol=dtol)
    problem = prepare(A, b, x0, rtol, atol, dtol, maxiter, M, callback, monitor)
    if problem.rhs_norm == 0.0:
        return zero_rhs_result(problem, "cg")
    if problem.compiled:
        return _cg_compiled(problem)
    return _cg_operator(problem)


def _cg_workspace(problem: Problem, iterations: int = FIRST_HISTORY) -> dict:
    """The arrays the compiled loop works in, with room for ``iterations`` iterations
    (the driver grows the histories as the solve goes on: :func:`_common.reserve`)."""
    n, dtype = problem.n, problem.b.dtype
    iterations = min(iterations, problem.maxiter)
    r = np.empty(n, dtype)
    return {"r": r, "p": np.empty(n, dtype), "q": np.empty(n, dtype),
            "z": r if getattr(problem.M, "kind", None) == NONE else np.empty(n, dtype),
            "history": np.full(iterations + 1, np.nan), "alphas": np.zeros(iterations),
            "betas": np.zeros(iterations), "scalars": np.zeros(4),
            "counters": np.zeros(5, dtype=np.int64)}


def _cg_arguments(problem: Problem, work: dict, start: int, stop: int) -> tuple:
    """The arguments of ``LOOPS[problem.M.kind]`` for iterations ``start .. stop-1``."""
    A = problem.A
    return (A.indptr, A.indices, A.data, problem.bounds, problem.b, problem.x,
            work["r"], work["p"], work["q"], work["z"], *preconditioner_arrays(problem.M),
            problem.tolerance, problem.dtol, start, stop, problem.maxiter, problem.x_is_zero,
            work["history"],
            work["alphas"], work["betas"], work["scalars"], work["counters"])


def _cg_compiled(problem: Problem) -> SolveResult:
    """The compiled loop, called for a tenth of a second of work at a time (or one
    iteration, for a callback or monitor), so that Ctrl-C stops it at once."""
    maxiter = problem.maxiter
    step = iterations_per_pause(problem)
    work = _cg_workspace(problem, max(step, FIRST_HISTORY))
    loop = LOOPS[problem.M.kind]
    start, code, k = 0, _PAUSED, 0
    with thread_policy(problem.bounds is not None) as threads:
        try:
            while code == _PAUSED:
                stop = min(start + step, maxiter)
                reserve(work, ("history",), stop + 1, maxiter + 1)
                reserve(work, ("alphas", "betas"), stop, maxiter)
                code, k = threads.run(loop, _cg_arguments(problem, work, start, stop), start)
                raise_kept()  # a Ctrl-C that Numba's compiler swallowed
                _report(problem, work["history"], 0 if start == 0 else start + 1, k)
                start = stop
        except KeyboardInterrupt:
            code, k = CODE_INTERRUPTED, int(work["counters"][_DONE])
    return delivered(_result(problem, code, k, work))


def _report(problem: Problem, history, first: int, last: int) -> None:
    """Call the monitor for history entries ``first .. last``, the callback if x moved."""
    if problem.monitor is not None:
        for j in range(first, last + 1):
            problem.monitor(j, float(history[j]))
    if problem.callback is not None and last > 0 and last >= first:
        problem.callback(problem.x.copy())


def _result(problem, code, k, work) -> SolveResult:
    counters = work["counters"]
    lambda_min, lambda_max = _lanczos_extremes(work["alphas"][:k], work["betas"][:k])
    return finish(problem, "cg", code, k, work["history"], counters[_MATVECS],
                  counters[_APPLIES], true_norm=work["scalars"][_TRUE],
                  condition_estimate=lambda_max / lambda_min if lambda_min > 0 else np.nan,
                  eigenvalue_estimates=(lambda_min, lambda_max),
                  residual_replacements=int(counters[_REPLACEMENTS]))


def _lanczos_extremes(alphas: np.ndarray, betas: np.ndarray) -> tuple[float, float]:
    """The extreme Ritz values of the whole solve: the smallest and the largest over
    its Lanczos segments.

    A residual replacement restarts the directions (``beta = 0``), and so starts a new
    Lanczos process from a new vector.  Each segment's Ritz values lie inside the
    spectrum of :math:`M^{-1}A`, so the extremes over all segments are estimates from
    inside too, and better than any one segment's.  NaNs when no segment says anything
    (no iterations, or coefficients that are not positive).
    """
    starts = np.concatenate(([0], np.flatnonzero(betas[: alphas.size - 1] == 0.0) + 1,
                             [alphas.size]))
    smallest, largest = np.inf, -np.inf
    for first, last in itertools.pairwise(starts):
        low, high = _ritz_extremes(alphas[first:last], betas[first:last])
        if np.isfinite(low) and np.isfinite(high):
            smallest, largest = min(smallest, low), max(largest, high)
    if smallest > largest:
        return np.nan, np.nan
    return float(smallest), float(largest)


def _ritz_extremes(alphas: np.ndarray, betas: np.ndarray) -> tuple[float, float]:
    r"""Extreme eigenvalues of the Lanczos matrix of CG.

    .. math::

        T_{jj} = \frac{1}{\alpha_j} + \frac{\beta_{j-1}}{\alpha_{j-1}},\qquad
        T_{j,j+1} = \frac{\sqrt{\beta_j}}{\alpha_j}.
    """
    m = alphas.size
    if m < 2 or not np.all(alphas > 0) or not np.all(betas[: m - 1] > 0):
        if m == 1 and alphas[0] > 0:
            return 1.0 / alphas[0], 1.0 / alphas[0]
        return np.nan, np.nan
    diagonal = 1.0 / alphas
    diagonal[1:] += betas[: m - 1] / alphas[: m - 1]
    off_diagonal = np.sqrt(betas[: m - 1]) / alphas[: m - 1]
    smallest, largest = _tridiagonal_extremes(diagonal, off_diagonal)
    return float(smallest), float(largest)


def _tridiagonal_extremes(diagonal, off_diagonal):
    """Smallest and largest eigenvalue of a symmetric tridiagonal matrix.

    Bisection on Sturm counts (LAPACK ``?stebz``, Golub & Van Loan, section 8.4.1) for
    the two extreme indices only: O(m) each, and nothing to compile, which a kernel of
    our own would add to every first run.
    """
    from scipy.linalg import eigvalsh_tridiagonal

    m = diagonal.size
    if not (np.all(np.isfinite(diagonal)) and np.all(np.isfinite(off_diagonal))):
        return np.nan, np.nan
    smallest, largest = (
        eigvalsh_tridiagonal(diagonal, off_diagonal, select="i", select_range=(index, index),
                             lapack_driver="stebz")[0]
        for index in (0, m - 1))
    return smallest, largest


def _cg_operator(problem: Problem) -> SolveResult:
    """The same iteration for a LinearOperator ``A`` or ``M``, one Python step at a time."""
    work = _cg_workspace(problem)
    counters, scalars = work["counters"], work["scalars"]
    scalars[_TRUE] = -1.0
    r = problem.initial_residual()
    counters[_MATVECS] += 0 if problem.x_is_zero else 1
    work["history"][0] = r0 = float(np.linalg.norm(r))
    code, k = _cg_operator_start(problem, r0)
    if code is not None:
        if code == CODE_CONVERGED:
            scalars[_TRUE] = r0
        return _result(problem, code, k, work)
    z = problem.precondition(r)
    rz = float(np.vdot(r, z).real)
    counters[_APPLIES] += 1
    code, k = _check_rz(rz), 0
    p = z.copy()
    try:
        code, k = _cg_operator_loop(problem, work, p, r, z, rz, code, k)
    except KeyboardInterrupt:
        code, k = CODE_INTERRUPTED, work["k"]
    return delivered(_result(problem, code, k, work))


def _cg_operator_loop(problem: Problem, work: dict, p, r, z, rz, code, k):
    """The iterations of :func:`_cg_operator`; ``work["k"]`` follows the last one done."""
    x, b, tol, maxiter = problem.x, problem.b, problem.tolerance, problem.maxiter
    counters, r0, last_true = work["counters"], work["history"][0], np.inf
    work["k"] = k
    while code is None and k < maxiter:
        reserve(work, ("history",), k + 2, maxiter + 1)
        reserve(work, ("alphas", "betas"), k + 1, maxiter)
        history, alphas, betas = work["history"], work["alphas"], work["betas"]
        q = problem.matvec(p)
        counters[_MATVECS] += 1
        pq = float(np.vdot(p, q).real)
        if not np.isfinite(pq):
            code = CODE_NAN
            break
        if pq <= 0.0:
            code = CODE_INDEFINITE_MATRIX
            break
        alpha = rz / pq
        alphas[k] = alpha
        x += alpha * p
        r -= alpha * q
        k += 1
        history[k] = norm = float(np.linalg.norm(r))
        restart = False
        if not np.isfinite(norm):
            code = CODE_NAN
        elif norm <= tol:
            r = b - problem.matvec(x)
            counters[_MATVECS] += 1
            true_norm = float(np.linalg.norm(r))
            if true_norm <= tol:
                code = CODE_CONVERGED
                work["scalars"][_TRUE] = true_norm
            elif counters[_REPLACEMENTS] > 0 and true_norm >= last_true:
                code = CODE_STAGNATION
                work["scalars"][_TRUE] = true_norm
            else:
                last_true, restart = true_norm, True
                counters[_REPLACEMENTS] += 1
                history[k] = true_norm
        if code is None and norm > problem.dtol * r0:
            code = CODE_DTOL
        if code is None:
            z = problem.precondition(r)
            counters[_APPLIES] += 1
            rz_new = float(np.vdot(r, z).real)
            code = _check_rz(rz_new)
            beta = 0.0 if restart else rz_new / rz
            betas[k - 1] = beta
            rz = rz_new
            p = z + beta * p
        work["k"] = k
        _report(problem, history, k, k)
    return (CODE_MAX_ITERATIONS if code is None else code), k


def _cg_operator_start(problem: Problem, r0: float):
    _report(problem, np.array([r0]), 0, 0)
    if not np.isfinite(r0):
        return CODE_NAN, 0
    if r0 <= problem.tolerance:
        return CODE_CONVERGED, 0
    return None, 0


def _check_rz(rz: float):
    if not np.isfinite(rz):
        return CODE_NAN
    if rz < 0.0:
        return CODE_INDEFINITE_PRECONDITIONER
    if rz == 0.0:
        return CODE_BREAKDOWN
    return None
