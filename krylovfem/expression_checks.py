"""Every expression of a case evaluated where it will be used, before anything runs."""

from __future__ import annotations

import numpy as np

from krylovfem.expr import Expression, ExpressionError
from krylovfem.section import CaseError
from krylovfem.settings import Case


def _evaluation_points(mesh) -> np.ndarray:
    """Vertices and cell midpoints: where a NaN or Inf would first show up."""
    midpoints = mesh.points[mesh.cells].mean(axis=1)
    return np.vstack([mesh.points, midpoints])


def _evaluate_on(source: str, key: str, expression: Expression, points: np.ndarray,
                 times: tuple[float, ...]) -> None:
    coordinates = [points[:, 0], points[:, 1] if points.shape[1] > 1 else None]
    for time in times:
        try:
            expression(*coordinates, time)
        except ExpressionError as error:
            at_time = f" at t = {time:g}" if "t" in expression.variables else ""
            named = "" if expression.where else f"{key}: "  # else the error names it
            raise CaseError(f"{source}: {named}{error}{at_time} on the mesh") from None


def check_expressions_on_mesh(case: Case) -> None:
    """Evaluate every expression where it will be used; NaN, Inf or overflow is an error.

    Coefficients are checked at the vertices and cell midpoints, boundary data
    on the vertices of its part, time-dependent data at ``t = 0`` and
    ``t = t_end``.
    """
    mesh = case.mesh
    source = case.source
    points = _evaluation_points(mesh)
    times = (0.0, case.time.t_end) if case.time else (0.0,)
    problem = case.problem
    named = {"kappa": problem.kappa, "reaction": problem.reaction, "f": problem.f,
             "exact": problem.exact}
    for index, component in enumerate(problem.velocity or ()):
        named[f"velocity[{index}]"] = component
    if case.time is not None:
        named["initial"] = case.time.initial
    for key, expression in named.items():
        if expression is not None:
            section = "time" if key == "initial" else "problem"
            _evaluate_on(source, f"[{section}] {key}", expression, points, times)
    if problem.exact is not None:
        # the gradient only at cell midpoints: at a re-entrant corner vertex it is
        # rightly infinite, and the H1 error never evaluates it there
        midpoints = points[mesh.num_points:]
        for axis, derivative in zip("xy"[: mesh.dim], problem.exact.gradient, strict=False):
            _evaluate_on(source, f"[problem] exact (d/d{axis})", derivative, midpoints, times)
    _check_boundary_expressions(case, times)


def _check_boundary_expressions(case: Case, times: tuple[float, ...]) -> None:
    mesh = case.mesh
    boundary = case.boundary
    entries = [("dirichlet", part, value) for part, value in boundary.dirichlet.items()]
    entries += [("neumann", part, value) for part, value in boundary.neumann.items()]
    for part, (alpha, g) in boundary.robin.items():
        entries += [("robin", part, alpha), ("robin", part, g)]
    for kind, part, expression in entries:
        vertices = np.unique(mesh.boundaries[part])
        _evaluate_on(case.source, f"[boundary] {kind}.{part}", expression,
                     mesh.points[vertices], times)
