"""A validated case turned into what the libraries take: coefficients, data, systems.

Nothing here solves or writes: each function maps part of a :class:`~krylovfem.settings.Case`
onto the arguments of :mod:`fem.problems`, :mod:`fem.norms` or :mod:`solvers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from krylovfem.casefile import check_solver_memory
from krylovfem.expr import ExpressionError
from krylovfem.section import CaseError
from krylovfem.settings import Case, SolverSettings

__all__ = ["bad_expression", "boundary_data", "coefficients", "estimator_data", "exact_solution",
           "read_system", "solver_options"]


def solver_options(settings: SolverSettings) -> dict[str, Any]:
    """Keywords of :func:`fem.problems.solve_linear_system` (and of the problem solvers)."""
    return {"M": settings.preconditioner, "rtol": settings.rtol, "atol": settings.atol,
            "maxiter": settings.maxiter, "restart": settings.restart}


def boundary_data(case: Case, *, time_dependent: bool = False) -> dict[str, dict]:
    """``dirichlet``, ``neumann`` and ``robin`` as :mod:`fem.problems` takes them."""
    boundary, dim = case.boundary, case.dim

    def form(expression):
        return expression.coefficient(dim, time_dependent=time_dependent)

    return {
        "dirichlet": {part: form(value) for part, value in boundary.dirichlet.items()},
        "neumann": {part: form(value) for part, value in boundary.neumann.items()},
        # alpha enters the matrix, which is assembled once: it never depends on t
        "robin": {part: (alpha.coefficient(dim), form(g))
                  for part, (alpha, g) in boundary.robin.items()},
    }


def _velocity(case: Case):
    """Numbers when constant (the assembler's fast path), else a callable giving a tuple."""
    components = case.problem.velocity
    if components is None:
        return None
    if all(component.is_constant for component in components):
        return [component.constant_value for component in components]

    def velocity(*coordinates):
        return tuple(component(*coordinates) for component in components)

    return velocity


def coefficients(case: Case) -> dict[str, Any]:
    """The stationary problem's data, as :func:`fem.problems.assemble_system` takes them."""
    problem, dim = case.problem, case.dim
    return {"kappa": problem.kappa.coefficient(dim),
            "reaction": problem.reaction.coefficient(dim),
            "velocity": _velocity(case),
            "f": problem.f.coefficient(dim),
            **boundary_data(case)}


def estimator_data(case: Case) -> dict[str, Any]:
    """:func:`coefficients` and the symbolic gradient of kappa, as
    :func:`fem.estimate.residual_estimate` takes them."""
    data = coefficients(case)
    kappa = case.problem.kappa
    if not kappa.is_constant:
        gradient = kappa.gradient[: case.dim]
        data["kappa_gradient"] = lambda *coordinates: tuple(part(*coordinates)
                                                            for part in gradient)
    return data


def heat_data(case: Case) -> dict[str, Any]:
    """The heat equation's data, as :func:`fem.problems.solve_heat` takes them."""
    problem, dim, timing = case.problem, case.dim, case.time
    return {"kappa": problem.kappa.coefficient(dim),
            "f": problem.f.coefficient(dim, time_dependent=True),
            "initial": timing.initial.coefficient(dim),
            "t_end": timing.t_end, "scheme": timing.scheme,
            **boundary_data(case, time_dependent=True)}


def exact_solution(case: Case, time: float | None = None):
    """The exact solution and its gradient as callables of the coordinates (or Nones)."""
    exact = case.problem.exact
    if exact is None:
        return None, None
    if time is not None:
        exact = exact.at_time(time)
    gradient = exact.gradient[: case.dim]

    def value(*coordinates):
        return exact(*coordinates)

    def exact_gradient(*coordinates):
        return tuple(part(*coordinates) for part in gradient)

    return value, exact_gradient


def read_system(case: Case):
    """The matrix and right-hand side of a ``matrix`` case, and whether ``x = 1`` is exact.

    Without ``[system] rhs`` the right-hand side is ``A @ ones``, so the exact
    solution is the vector of ones.
    """
    from solvers import read_matrix, read_rhs

    settings = case.system
    try:
        matrix = read_matrix(settings.matrix)
    except (OSError, ValueError) as error:
        raise CaseError(f"{case.source}: [system] matrix: {first_line(error)}") from None
    _check_finite(case, "matrix", settings.matrix.name, matrix.data)
    if matrix.shape[0] == 0:
        raise CaseError(f"{case.source}: [system] matrix: {settings.matrix.name} is empty "
                        f"(0 rows); a system needs at least one unknown")
    if matrix.shape[0] != matrix.shape[1]:
        raise CaseError(f"{case.source}: [system] matrix: {settings.matrix.name} is "
                        f"{matrix.shape[0]} x {matrix.shape[1]}; a square matrix is needed")
    check_solver_memory(case.source, case.solver, matrix.shape[0])
    if settings.rhs is None:
        return matrix, matrix @ np.ones(matrix.shape[0]), True
    try:
        rhs = np.asarray(read_rhs(settings.rhs))
    except (OSError, ValueError) as error:
        raise CaseError(f"{case.source}: [system] rhs: {first_line(error)}") from None
    name = settings.rhs.name
    if rhs.ndim == 2 and rhs.shape[1] != 1:
        # only the first column would be solved for
        raise CaseError(f"{case.source}: [system] rhs: {name} is {rhs.shape[0]} x "
                        f"{rhs.shape[1]}; allowed: one column (the vector b)")
    rhs = rhs.reshape(-1)
    # a complex b with a real A is solved as complex, never cast (the solvers' rule)
    rhs = rhs.astype(np.result_type(rhs.dtype, matrix.dtype, np.float64))
    _check_finite(case, "rhs", settings.rhs.name, rhs)
    if rhs.shape != (matrix.shape[0],):
        raise CaseError(f"{case.source}: [system] rhs: {rhs.size} entries for a matrix of "
                        f"order {matrix.shape[0]}")
    return matrix, rhs, False


def _check_finite(case: Case, key: str, name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise CaseError(f"{case.source}: [system] {key}: {name} has {bad.size} NaN or "
                        f"infinite entries (first: {values[bad[0]]}); all must be finite")


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def bad_expression(case: Case, error: BaseException) -> CaseError | None:
    """A case error when ``error`` comes from the case's data where they are used.

    Coefficients are checked at vertices and midpoints when the case is read; one that
    fails only at a quadrature point surfaces inside assembly, wrapped in the
    assembler's ``ValueError``, and finite data whose products overflow make a
    :class:`fem.problems.NonFiniteSystem`.  That is bad input, not a failure of the
    library.
    """
    from fem.problems import NonFiniteSystem

    if isinstance(error, NonFiniteSystem):
        return CaseError(f"{case.source}: [problem] or [boundary]: {error}")
    cause = error
    while cause is not None and not isinstance(cause, ExpressionError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    return CaseError(f"{case.source}: {' '.join(str(cause).split())} (at a quadrature point)")
