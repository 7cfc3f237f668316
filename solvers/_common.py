"""The Python front shared by the methods: set-up of a solve and assembly of its result."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import _csr
from ._inputs import (
    CSR,
    callable_or_none,
    check_matrix,
    check_positive_int,
    check_tolerances,
    check_vector,
    linear_operator,
    working_dtype,
)
from .precond import Preconditioner, as_preconditioner
from .result import (
    CODE_CONVERGED,
    REASON_CODES,
    Reason,
    SolveInterrupted,
    SolveResult,
    tolerance,
)

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

#: Matrix and vector entries a compiled loop works through between two returns to
#: Python: some 20 ms on an idle core, ten times that on a busy machine, so that Ctrl-C
#: is acted on within a second, while a return (some 30 microseconds of Python) costs
#: nothing measurable.  A small system runs in one call.
ENTRIES_PER_PAUSE = 5 * 10**7
#: Entries of a history allocated before the first pause; it grows as iterations come.
FIRST_HISTORY = 1024


@dataclass
class Problem:
    """A validated solve request: everything a method loop needs, and nothing unchecked."""

    A: CSR | LinearOperator
    b: np.ndarray
    x: np.ndarray
    M: Preconditioner | LinearOperator
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
    bounds: np.ndarray | None  # row chunks; None for one (see _csr.chunk_bounds)
    x_is_zero: bool  # x0 = 0: the first residual is b, with no product with A

    @property
    def n(self) -> int:
        return self.b.size

    @property
    def compiled(self) -> bool:
        """True when the whole loop can run in Numba (CSR matrix and our preconditioner)."""
        return isinstance(self.A, CSR) and isinstance(self.M, Preconditioner)

    @property
    def preconditioner_name(self) -> str:
        return self.M.name if isinstance(self.M, Preconditioner) else "operator"

    def matvec(self, v: np.ndarray) -> np.ndarray:
        if isinstance(self.A, CSR):
            out = np.empty_like(v)
            _csr.spmv_dot(self.A.indptr, self.A.indices, self.A.data, v, out, self.bounds)
            return out
        return _returned(self.A.matvec(v), v, "A.matvec")

    def precondition(self, r: np.ndarray) -> np.ndarray:
        if isinstance(self.M, Preconditioner):
            return self.M.apply(r).astype(r.dtype, copy=False)
        return _returned(self.M.matvec(r), r, "M.matvec")

    def true_residual_norm(self) -> float:
        return float(np.linalg.norm(self.b - self.matvec(self.x)))

    def initial_residual(self) -> np.ndarray:
        """``b - A x0``: a copy of ``b`` when ``x0 = 0``, with no product."""
        return self.b.copy() if self.x_is_zero else self.b - self.matvec(self.x)


def _returned(value, argument: np.ndarray, name: str) -> np.ndarray:
    """What a user's operator returned, as a vector of ``argument``'s dtype and size."""
    value = np.asarray(value)
    if value.dtype.kind == "c" and argument.dtype.kind != "c":
        raise TypeError(f"{name} returned a complex vector for a real one; give a complex "
                        "b (or x0) to solve the system in complex arithmetic")
    value = value.astype(argument.dtype, copy=False).reshape(-1)
    if value.size != argument.size:
        raise ValueError(f"{name} returned {value.size} entries for a vector of "
                         f"{argument.size}")
    return value


def iterations_per_pause(problem: Problem, per_iteration: int = 0) -> int:
    """Iterations of one loop call: about :data:`ENTRIES_PER_PAUSE` entries of work.

    ``per_iteration``: entries a method adds to one product with ``A``, a
    preconditioner solve and a few vector updates (GMRES: its orthogonalisation).
    """
    if problem.callback is not None or problem.monitor is not None:
        return 1  # they are called at every iteration
    entries = problem.A.data.size + 8 * problem.n + per_iteration
    if isinstance(problem.M, Preconditioner):
        entries += problem.M.data.size
    return max(1, ENTRIES_PER_PAUSE // entries)


def reserve(work: dict, names: tuple[str, ...], length: int, limit: int) -> None:
    """Grow each array ``work[name]`` to at least ``length`` entries, keeping its values.

    Histories grow with the iterations done, by doubling up to ``limit`` entries, instead
    of being sized by ``maxiter`` up front (which may be far more than a solve takes, or
    than fits in memory).
    """
    for name in names:
        array = work[name]
        if array.shape[0] < length:
            grown = np.zeros(min(max(length, 2 * array.shape[0]), limit), dtype=array.dtype)
            grown[: array.shape[0]] = array
            work[name] = grown


def prepare(A, b, x0, rtol, atol, dtol, maxiter, M, callback, monitor) -> Problem:
    """Check every argument of a solve (naming any that is wrong) and set it up.

    ``x0="Mb"`` starts from ``M^{-1} b`` (SciPy's convention); with ``M=None``, an
    operator ``A`` with a ``psolve`` method is preconditioned by it, as SciPy does.
    """
    started = time.perf_counter()
    matrix = check_matrix(A)
    n = matrix.n if isinstance(matrix, CSR) else matrix.shape[0]
    from_mb = isinstance(x0, str) and x0 == "Mb"
    if isinstance(x0, str) and not from_mb:
        raise ValueError(f"x0 must be a vector, None or 'Mb'; got {x0!r}")
    dtypes = [matrix.data.dtype if isinstance(matrix, CSR) else matrix.dtype,
              np.asarray(b).dtype]
    if x0 is not None and not from_mb:
        dtypes.append(np.asarray(x0).dtype)
    dtype = working_dtype(*dtypes)
    b = check_vector(b, n, "b", dtype)
    x = np.zeros(n, dtype=dtype) if x0 is None or from_mb else check_vector(x0, n, "x0", dtype)
    rtol, atol, dtol = check_tolerances(rtol, atol, dtol)
    maxiter = check_positive_int(maxiter, "maxiter", 10 * n)
    if M is None and callable(getattr(A, "psolve", None)):
        M = linear_operator((n, n), matvec=A.psolve, dtype=dtype)
    preconditioner = as_preconditioner(M, matrix if isinstance(matrix, CSR) else None, n)
    rhs_norm = float(np.linalg.norm(b))
    bound, reason = tolerance(rhs_norm, rtol, atol)
    bounds = row_bounds(matrix)
    problem = Problem(matrix, b, x, preconditioner, rtol, atol, dtol, maxiter, bound, rhs_norm,
                      reason, callable_or_none(callback), callable_or_none(monitor, "monitor"),
                      started, bounds, x0 is None or (from_mb and rhs_norm == 0.0))
    if from_mb and rhs_norm > 0.0:
        problem.x[:] = problem.precondition(b)
        if not np.all(np.isfinite(problem.x)):
            raise ValueError("x0='Mb': M^-1 b has a NaN or infinite entry; M is unusable")
    return problem


def row_bounds(matrix, rows_per_chunk: int = _csr._ROWS_PER_CHUNK):
    """The parallel row chunks of a loop on ``matrix``: None (a serial loop) for a
    LinearOperator or a small matrix."""
    if not isinstance(matrix, CSR):
        return None
    return _csr.chunk_bounds(matrix.indptr, rows_per_chunk)


def finish(problem: Problem, method: str, code: int, iterations: int, history: np.ndarray,
           matvecs: int, precond_applies: int, true_norm: float = -1.0,
           **extra) -> SolveResult:
    """Build the result; ``converged`` is decided here.

    ``true_norm``: ``||b - A x||`` when the loop has just computed it for the ``x`` it
    returns; otherwise (negative) it is computed here, at the cost of one product.
    """
    if not true_norm >= 0.0:
        true_norm = problem.true_residual_norm()
        matvecs += 1
    reason = REASON_CODES[code]
    if code == CODE_CONVERGED:
        reason = problem.converged_reason
    if reason.converged and not true_norm <= problem.tolerance:
        # The loops only report convergence after checking the true residual; this is the
        # last guard, against a different rounding of the final product.
        reason = Reason.DIVERGED_STAGNATION
    return SolveResult(
        x=problem.x,
        converged=reason.converged,
        reason=reason,
        iterations=int(iterations),
        residual_norms=np.array(history[: iterations + 1], dtype=np.float64),
        true_residual_norm=true_norm,
        rhs_norm=problem.rhs_norm,
        tolerance=problem.tolerance,
        rtol=problem.rtol,
        atol=problem.atol,
        method=method,
        preconditioner=problem.preconditioner_name,
        matvecs=int(matvecs),
        precond_applies=int(precond_applies),
        solve_time=time.perf_counter() - problem.started,
        **extra,
    )


def delivered(result: SolveResult) -> SolveResult:
    """``result``, or raised in a :class:`SolveInterrupted` when the user stopped the
    solve: a Ctrl-C reaches the caller as an interrupt, with the solve so far."""
    if result.reason is Reason.INTERRUPTED:
        raise SolveInterrupted(result)
    return result


def zero_rhs_result(problem: Problem, method: str) -> SolveResult:
    """``b = 0``: ``x = 0`` is the exact solution, returned at once."""
    problem.x[:] = 0
    history = np.zeros(1)
    return finish(problem, method, CODE_CONVERGED, 0, history, 0, 0, true_norm=0.0)


def preconditioner_arrays(M: Preconditioner):
    """The arrays of a preconditioner in the order the Numba loops take them (the kind
    selects the loop: ``cg.LOOPS[M.kind]``, ``gmres.LOOPS[M.kind]``)."""
    return (M.indptr, M.indices, M.data, M.diag, M.diag_positions, M.omega)
