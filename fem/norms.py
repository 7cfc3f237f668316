r"""Error norms, residual norms and refinement studies.

For a discrete function :math:`u_h = \sum_j u_j \varphi_j` and an exact solution :math:`u`:

.. math::

    \|u - u_h\|_{L^2} = \Big(\int_\Omega (u - u_h)^2\Big)^{1/2},\qquad
    |u - u_h|_{H^1} = \Big(\int_\Omega |\nabla u - \nabla u_h|^2\Big)^{1/2},

    \|u - u_h\|_E = \Big(\int_\Omega \kappa |\nabla (u - u_h)|^2 + c\,(u - u_h)^2\Big)^{1/2},

integrated cell by cell with a Gauss rule of degree :math:`2p + 2` by default.  The
algebraic residual of a system is :math:`\|F - K u_h\|_2` over the free DOFs, and a
refinement study reports observed rates
:math:`\log(e_{k-1}/e_k) / \log(h_{k-1}/h_k)`.

Examples
--------
>>> import numpy as np
>>> from fem.mesh import interval
>>> from fem.element import function_space, interpolate
>>> space = function_space(interval(0.0, 1.0, 4), 2)
>>> u_h = interpolate(space, lambda x: x**2)
>>> l2_error(space, u_h, lambda x: x**2) < 1e-15
True
>>> round(l2_norm(space, u_h) ** 2, 12)  # integral of x^4
0.2
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fem.assembly import cell_quadrature_points, coefficient_values, vector_coefficient_values
from fem.boundary import LinearSystem
from fem.element import FunctionSpace, dof_vector, function_space
from fem.mesh import Mesh
from fem.quadrature import quadrature_rule

__all__ = [
    "RefinementStudy",
    "energy_error",
    "energy_norm",
    "fitted_rate",
    "h1_error",
    "l2_error",
    "l2_norm",
    "observed_rates",
    "refinement_study",
    "residual_norm",
]


def _geometry(space: FunctionSpace):
    """Jacobian determinants (n_cells,) and inverses (n_cells, dim, dim) of the cell maps."""
    mesh = space.mesh
    corner = mesh.points[mesh.cells[:, 0]]
    jacobians = np.stack([mesh.points[mesh.cells[:, e + 1]] - corner for e in range(mesh.dim)],
                         axis=2)
    return np.linalg.det(jacobians), np.linalg.inv(jacobians)


def _rule(space: FunctionSpace, quadrature_degree):
    degree = 2 * space.degree + 2 if quadrature_degree is None else quadrature_degree
    return quadrature_rule(space.element.cell_type, degree)


def _values(space, u_h, points):
    return u_h[space.cell_dofs] @ space.element.values(points).T


def _gradients(space, u_h, points, inverses):
    reference = np.einsum("ci,qie->cqe", u_h[space.cell_dofs], space.element.gradients(points))
    return np.einsum("cqe,ced->cqd", reference, inverses)


def _integrate(determinants, weights, integrand) -> float:
    return float(np.einsum("c,q,cq->", np.abs(determinants), weights, integrand))


def l2_error(space: FunctionSpace, u_h, exact, *, quadrature_degree: int | None = None,
             time: float | None = None) -> float:
    r"""The :math:`L^2` error :math:`\|u - u_h\|_{L^2(\Omega)}`.

    ``exact`` is a number or a vectorised callable ``u(x)`` / ``u(x, y)`` (with ``t`` when
    ``time`` is given).

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> space = function_space(unit_square(2), 1)
    >>> round(l2_error(space, np.zeros(space.num_dofs), 1.0), 14)
    1.0
    """
    u_h = dof_vector(space, u_h)
    points, weights = _rule(space, quadrature_degree)
    determinants, _ = _geometry(space)
    exact_values = coefficient_values(exact, lambda: cell_quadrature_points(space, points),
                                      "exact", time=time)
    difference = exact_values - _values(space, u_h, points)
    return float(np.sqrt(_integrate(determinants, weights, difference**2)))


def h1_error(space: FunctionSpace, u_h, exact_gradient, *, quadrature_degree: int | None = None,
             time: float | None = None) -> float:
    r"""The :math:`H^1` seminorm error :math:`\|\nabla u - \nabla u_h\|_{L^2(\Omega)}`.

    ``exact_gradient`` returns a tuple of ``dim`` arrays (in 1D a single array is accepted),
    or is a sequence of ``dim`` numbers.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space, interpolate
    >>> space = function_space(interval(0.0, 1.0, 3), 1)
    >>> u_h = interpolate(space, lambda x: 3 * x)
    >>> h1_error(space, u_h, lambda x: 3 + 0 * x) < 1e-14
    True
    """
    u_h = dof_vector(space, u_h)
    points, weights = _rule(space, quadrature_degree)
    determinants, inverses = _geometry(space)
    exact_values = vector_coefficient_values(
        exact_gradient, lambda: cell_quadrature_points(space, points), space.mesh.dim,
        "exact_gradient", time=time)
    difference = exact_values - _gradients(space, u_h, points, inverses)
    return float(np.sqrt(_integrate(determinants, weights, (difference**2).sum(axis=2))))


def energy_error(space: FunctionSpace, u_h, exact_gradient, *, kappa=1.0, reaction=0.0,
                 exact=None, quadrature_degree: int | None = None) -> float:
    r"""Energy-norm error :math:`(\int \kappa |\nabla e|^2 + c e^2)^{1/2}`, :math:`e = u - u_h`.

    ``exact`` is needed only when ``reaction`` is not zero.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space
    >>> space = function_space(interval(0.0, 1.0, 2), 1)
    >>> round(energy_error(space, np.zeros(3), lambda x: 1 + 0 * x, kappa=4.0), 14)
    2.0
    """
    u_h = dof_vector(space, u_h)
    points, weights = _rule(space, quadrature_degree)
    determinants, inverses = _geometry(space)

    def points_of():
        return cell_quadrature_points(space, points)

    gradient = vector_coefficient_values(exact_gradient, points_of, space.mesh.dim,
                                         "exact_gradient")
    difference = gradient - _gradients(space, u_h, points, inverses)
    integrand = coefficient_values(kappa, points_of, "kappa") * (difference**2).sum(axis=2)
    reaction_values = coefficient_values(reaction, points_of, "reaction")
    if np.any(reaction_values != 0.0):
        if exact is None:
            raise ValueError("energy_error with a reaction term needs the exact solution")
        error = coefficient_values(exact, points_of, "exact") - _values(space, u_h, points)
        integrand = integrand + reaction_values * error**2
    return float(np.sqrt(_integrate(determinants, weights, integrand)))


def energy_norm(matrix, u) -> float:
    r"""The discrete energy norm :math:`\sqrt{u^T K u}` of a vector for an SPD matrix.

    Examples
    --------
    >>> energy_norm(np.array([[2.0, 0.0], [0.0, 8.0]]), np.array([1.0, 1.0]))
    3.1622776601683795
    """
    u = np.asarray(u, dtype=np.float64)
    value = float(u @ (matrix @ u))
    if value < 0.0:
        raise ValueError(f"u^T K u = {value:.3g} < 0: the matrix is not positive definite")
    return float(np.sqrt(value))


def l2_norm(space: FunctionSpace, u_h, *, quadrature_degree: int | None = None) -> float:
    r"""The :math:`L^2` norm :math:`\|u_h\|_{L^2(\Omega)}` of a discrete function."""
    u_h = dof_vector(space, u_h)
    points, weights = _rule(space, quadrature_degree)
    determinants, _ = _geometry(space)
    return float(np.sqrt(_integrate(determinants, weights, _values(space, u_h, points) ** 2)))


def residual_norm(system: LinearSystem, u_h) -> float:
    r"""The algebraic residual :math:`\|F - K u_h\|_2` restricted to the free DOFs.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space
    >>> from fem.problems import solve_stationary
    >>> solution = solve_stationary(function_space(interval(0.0, 1.0, 8), 1), f=1.0, rtol=1e-12)
    >>> residual_norm(solution.system, solution.u) < 1e-12
    True
    """
    if not isinstance(system, LinearSystem):
        raise ValueError(f"expected a LinearSystem, got {type(system).__name__}")
    return float(np.linalg.norm(system.residual(u_h)))


def _check_levels(h, errors) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(h, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if h.shape != errors.shape or h.ndim != 1:
        raise ValueError(f"h and errors must be 1D arrays of the same length, got shapes "
                         f"{h.shape} and {errors.shape}")
    return h, errors


def observed_rates(h, errors) -> np.ndarray:
    r"""Observed orders between successive levels, one fewer than there are levels.

    With :math:`e_k \approx C h_k^p`, the rate between levels :math:`k-1` and :math:`k` is

    .. math:: p_k = \frac{\log(e_{k-1}/e_k)}{\log(h_{k-1}/h_k)},

    NaN where an error is zero or two sizes are equal.

    Examples
    --------
    >>> observed_rates([0.5, 0.25, 0.125], [1.0, 0.25, 0.0625]).tolist()
    [2.0, 2.0]
    """
    h, errors = _check_levels(h, errors)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.log(errors[:-1] / errors[1:]) / np.log(h[:-1] / h[1:])
    return np.where(np.isfinite(rates), rates, np.nan)


def fitted_rate(h, errors) -> float:
    r"""The order :math:`p` of the least-squares line :math:`\log e = \log C + p \log h`.

    Levels with a zero error are left out; NaN when fewer than two sizes remain.  Over
    several levels it is steadier than any one of the :func:`observed_rates`.

    Examples
    --------
    >>> round(fitted_rate([0.5, 0.25, 0.125], [4.0, 1.0, 0.25]), 12)
    2.0
    """
    h, errors = _check_levels(h, errors)
    usable = (errors > 0) & np.isfinite(errors) & (h > 0)
    if np.unique(h[usable]).size < 2:
        return float("nan")
    return float(np.polyfit(np.log(h[usable]), np.log(errors[usable]), 1)[0])


@dataclass(frozen=True, eq=False)
class RefinementStudy:
    """Result of :func:`refinement_study`.

    Attributes
    ----------
    h : ndarray
        Mesh sizes, coarse to fine.
    dofs : ndarray of int
        Number of DOFs per level.
    errors : dict of str to ndarray
        ``"l2"`` and/or ``"h1"`` errors per level.
    rates : dict of str to ndarray
        Observed rates between consecutive levels (:func:`observed_rates`).
    fitted_rates : dict of str to float
        The least-squares rate over all levels (:func:`fitted_rate`).
    results : list
        What ``solve`` returned on each level.
    iterations : ndarray of int or None
        Krylov iterations per level, when every result tells them (a
        :class:`~fem.problems.StationarySolution`, or anything with ``iterations``).
    """

    h: np.ndarray
    dofs: np.ndarray
    errors: dict
    rates: dict
    fitted_rates: dict
    results: list = field(default_factory=list)
    iterations: np.ndarray | None = None


def _iterations_of(result) -> int | None:
    solve = getattr(result, "result", result)
    iterations = getattr(solve, "iterations", None)
    return None if iterations is None else int(iterations)


def refinement_study(mesh: Mesh, degree: int, solve: Callable, *, levels: int = 4,
                     exact=None, exact_gradient=None,
                     callback: Callable | None = None) -> RefinementStudy:
    r"""Solve on ``levels`` uniformly refined meshes and measure errors and observed rates.

    Level 0 is ``mesh``; each further level is the previous one refined uniformly
    (:meth:`~fem.mesh.Mesh.refined`), so ``h`` halves from level to level.

    Parameters
    ----------
    mesh : Mesh
        The coarsest mesh.
    degree : int
        Element degree (1 or 2).
    solve : callable
        ``solve(space)`` returns the DOF vector, or an object with attribute ``u`` (such as
        a :class:`~fem.problems.StationarySolution`).
    levels : int
        Number of meshes (at least 1; rates need 2).
    exact, exact_gradient : callable, optional
        Exact solution and its gradient; give at least one.
    callback : callable, optional
        ``callback(study)`` after each level, with the :class:`RefinementStudy` of the
        levels done so far (to report progress).

    Returns
    -------
    RefinementStudy

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.problems import solve_stationary
    >>> study = refinement_study(
    ...     interval(0.0, 1.0, 4), 1,
    ...     lambda space: solve_stationary(space, f=lambda x: np.pi**2 * np.sin(np.pi * x),
    ...                                    rtol=1e-12),
    ...     levels=3, exact=lambda x: np.sin(np.pi * x))
    >>> [round(float(rate), 1) for rate in study.rates["l2"]], round(study.fitted_rates["l2"], 1)
    ([2.0, 2.0], 2.0)
    """
    if not isinstance(mesh, Mesh):
        raise ValueError(f"expected a Mesh, got {type(mesh).__name__}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    if exact is None and exact_gradient is None:
        raise ValueError("give exact and/or exact_gradient")
    sizes, dofs, results = [], [], []
    errors = {name: [] for name, given in (("l2", exact), ("h1", exact_gradient))
              if given is not None}
    study = None
    for level in range(levels):
        if level:
            mesh = mesh.refined()
        space = function_space(mesh, degree)
        result = solve(space)
        u_h = getattr(result, "u", result)
        sizes.append(mesh.h)
        dofs.append(space.num_dofs)
        results.append(result)
        if exact is not None:
            errors["l2"].append(l2_error(space, u_h, exact))
        if exact_gradient is not None:
            errors["h1"].append(h1_error(space, u_h, exact_gradient))
        study = _study(sizes, dofs, errors, results)
        if callback is not None:
            callback(study)
    return study


def _study(sizes, dofs, errors, results) -> RefinementStudy:
    h = np.array(sizes, dtype=np.float64)
    errors = {name: np.array(values, dtype=np.float64) for name, values in errors.items()}
    rates = {name: observed_rates(h, values) for name, values in errors.items()}
    fitted = {name: fitted_rate(h, values) for name, values in errors.items()}
    iterations = [_iterations_of(result) for result in results]
    iterations = None if None in iterations else np.array(iterations, dtype=np.int64)
    return RefinementStudy(h, np.array(dofs), errors, rates, fitted, list(results), iterations)
