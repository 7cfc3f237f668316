"""What a solve returns: the solution, why it stopped, and the whole residual history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Reason(enum.StrEnum):
    """Why an iteration stopped.

    Only ``CONVERGED_*`` reasons mean success, and they are given only after the
    true residual ``||b - A x||_2`` of the returned ``x`` has been recomputed and
    found within the tolerance.
    """

    CONVERGED_RTOL = "converged_rtol"
    """``||b - A x|| <= rtol ||b||`` (the relative bound was the larger one)."""
    CONVERGED_ATOL = "converged_atol"
    """``||b - A x|| <= atol`` (the absolute bound was the larger one)."""
    DIVERGED_MAX_ITERATIONS = "diverged_max_iterations"
    """``maxiter`` iterations were done without meeting the tolerance."""
    DIVERGED_DTOL = "diverged_dtol"
    """The residual grew beyond ``dtol`` times the initial residual."""
    DIVERGED_BREAKDOWN = "diverged_breakdown"
    """A division by zero in the recurrence (e.g. a singular Hessenberg matrix)."""
    DIVERGED_INDEFINITE_MATRIX = "diverged_indefinite_matrix"
    """CG met a direction with ``p . A p <= 0``: ``A`` is not positive definite."""
    DIVERGED_INDEFINITE_PRECONDITIONER = "diverged_indefinite_preconditioner"
    """CG met ``r . M^{-1} r <= 0``: the preconditioner is not positive definite."""
    DIVERGED_NAN = "diverged_nan"
    """A NaN or infinity appeared in the iteration."""
    DIVERGED_STAGNATION = "diverged_stagnation"
    """The iteration stopped making progress (see the method's notes)."""
    INTERRUPTED = "interrupted"
    """The user stopped the solve (Ctrl-C); raised as :class:`SolveInterrupted`."""

    def __str__(self) -> str:
        return self.value

    @property
    def converged(self) -> bool:
        return self in (Reason.CONVERGED_RTOL, Reason.CONVERGED_ATOL)

    @property
    def reached_limit(self) -> bool:
        """A stop that SciPy, which has no such tests, would have run on to ``maxiter``
        from: the iteration limit itself, stagnation and ``dtol``."""
        return self in (Reason.DIVERGED_MAX_ITERATIONS, Reason.DIVERGED_STAGNATION,
                        Reason.DIVERGED_DTOL, Reason.INTERRUPTED)


# Codes used inside the Numba loops, which cannot return an enum.
REASON_CODES = (
    Reason.CONVERGED_RTOL,  # 0: converged; rtol or atol is decided by tolerance()
    Reason.DIVERGED_MAX_ITERATIONS,  # 1
    Reason.DIVERGED_DTOL,  # 2
    Reason.DIVERGED_BREAKDOWN,  # 3
    Reason.DIVERGED_INDEFINITE_MATRIX,  # 4
    Reason.DIVERGED_INDEFINITE_PRECONDITIONER,  # 5
    Reason.DIVERGED_NAN,  # 6
    Reason.DIVERGED_STAGNATION,  # 7
    Reason.INTERRUPTED,  # 8: given in Python, between two calls of a loop
)
CODE_CONVERGED, CODE_MAX_ITERATIONS, CODE_DTOL, CODE_BREAKDOWN = 0, 1, 2, 3
CODE_INDEFINITE_MATRIX, CODE_INDEFINITE_PRECONDITIONER, CODE_NAN, CODE_STAGNATION = 4, 5, 6, 7
CODE_INTERRUPTED = 8


class SolveInterrupted(KeyboardInterrupt):
    """Ctrl-C during a solve, with what the solve had reached.

    A ``KeyboardInterrupt``, so that code which does not look for it stops as it would
    on any Ctrl-C; code that does finds the partial :class:`SolveResult` (reason
    ``interrupted``, the history so far, ``x`` the last iterate) in :attr:`result`.
    """

    def __init__(self, result: SolveResult):
        super().__init__(f"solve interrupted after {result.iterations} iterations")
        self.result = result


def tolerance(rhs_norm: float, rtol: float, atol: float) -> tuple[float, Reason]:
    """The stopping bound ``max(rtol ||b||, atol)`` and the reason it stands for."""
    relative = rtol * rhs_norm
    if relative >= atol:
        return relative, Reason.CONVERGED_RTOL
    return atol, Reason.CONVERGED_ATOL


@dataclass(frozen=True, eq=False)
class SolveResult:
    """The outcome of one Krylov solve.

    It behaves as SciPy's ``(x, info)`` pair: ``x, info = cg(A, b)``, ``result[0]``,
    ``result[1]`` and ``len(result) == 2`` work, with every attribute below besides.

    Attributes
    ----------
    x : ndarray
        The approximate solution.
    converged : bool
        True only if the recomputed ``||b - A x||_2 <= max(rtol ||b||_2, atol)``.
    reason : Reason
        Why the iteration stopped.
    iterations : int
        Iterations done (inner iterations for GMRES).
    residual_norms : ndarray
        ``||r_k||_2`` for ``k = 0, ..., iterations``; ``k = 0`` is ``||b - A x0||``.
        CG records its recursively updated residual; GMRES the Arnoldi estimate, which
        with right preconditioning is the norm of the true, unpreconditioned residual
        (with left preconditioning it is the norm of ``M^{-1} r``).
    true_residual_norm : float
        ``||b - A x||_2`` recomputed from the returned ``x``.
    rhs_norm : float
        ``||b||_2``.
    tolerance : float
        The bound actually used, ``max(rtol ||b||, atol)``.
    method, preconditioner : str
        Names of the method and of the preconditioner (``"none"`` if there was none).
    matvecs, precond_applies : int
        Products with ``A`` and applications of the preconditioner.
    solve_time : float
        Wall-clock seconds spent in the solve (validation included).
    condition_estimate : float
        An *estimate* of the 2-norm condition number of the (preconditioned) operator,
        from the Lanczos coefficients of CG or the Hessenberg matrices of all of GMRES's
        cycles (a lower bound for GMRES); NaN when too few iterations were done to say
        anything.
    eigenvalue_estimates : tuple of float
        CG only: the extreme Ritz values ``(lambda_min, lambda_max)``; NaNs otherwise.
    restarts : ndarray of int
        GMRES: the iteration indices at which cycles began (``[0, restart, ...]``).
    residual_replacements : int
        How often the recursive residual was replaced by the true one because the two
        disagreed at the tolerance.
    residual_norm_type : {"unpreconditioned", "preconditioned"}
        What ``residual_norms`` measure (PETSc's ``KSPNormType``): ``||r_k||_2``, or
        ``||M^{-1} r_k||_2`` for left-preconditioned GMRES.
    """

    x: np.ndarray
    converged: bool
    reason: Reason
    iterations: int
    residual_norms: np.ndarray
    true_residual_norm: float
    rhs_norm: float
    tolerance: float
    rtol: float
    atol: float
    method: str
    preconditioner: str
    matvecs: int
    precond_applies: int
    solve_time: float
    condition_estimate: float = float("nan")
    eigenvalue_estimates: tuple[float, float] = (float("nan"), float("nan"))
    restarts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    residual_replacements: int = 0
    residual_norm_type: str = "unpreconditioned"

    @property
    def info(self) -> int:
        """SciPy's convention: 0 when converged; the iterations done (> 0) when the
        tolerance was not met and SciPy would have reported reaching ``maxiter``
        (``diverged_max_iterations``, ``diverged_stagnation``, ``diverged_dtol``); -1
        for a breakdown (``diverged_breakdown``, ``diverged_indefinite_*``,
        ``diverged_nan``)."""
        if self.converged:
            return 0
        if self.reason.reached_limit:
            return max(1, self.iterations)
        return -1

    @property
    def relative_residual(self) -> float:
        """``||b - A x|| / ||b||`` (the true residual; ``inf`` if ``b = 0``)."""
        return self.true_residual_norm / self.rhs_norm if self.rhs_norm > 0 else 0.0

    def __iter__(self):
        yield self.x
        yield self.info

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index):
        return (self.x, self.info)[index]

    def __repr__(self) -> str:
        return (
            f"SolveResult(method={self.method!r}, preconditioner={self.preconditioner!r}, "
            f"reason={self.reason.value!r}, iterations={self.iterations}, "
            f"true_residual_norm={self.true_residual_norm:.3e}, "
            f"tolerance={self.tolerance:.3e})"
        )

    def to_dict(self) -> dict:
        """A JSON-ready summary (everything but ``x``)."""
        return {
            "method": self.method,
            "preconditioner": self.preconditioner,
            "converged": bool(self.converged),
            "reason": self.reason.value,
            "iterations": int(self.iterations),
            "info": int(self.info),
            "residual_norms": [float(v) for v in self.residual_norms],
            "true_residual_norm": float(self.true_residual_norm),
            "rhs_norm": float(self.rhs_norm),
            "tolerance": float(self.tolerance),
            "rtol": float(self.rtol),
            "atol": float(self.atol),
            "matvecs": int(self.matvecs),
            "precond_applies": int(self.precond_applies),
            "solve_time": float(self.solve_time),
            "condition_estimate": _json_float(self.condition_estimate),
            "eigenvalue_estimates": [_json_float(v) for v in self.eigenvalue_estimates],
            "restarts": [int(v) for v in self.restarts],
            "residual_replacements": int(self.residual_replacements),
            "residual_norm_type": self.residual_norm_type,
        }


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
