r"""The a-posteriori residual estimator and the marking of cells for refinement.

For a discrete solution :math:`u_h` of
:math:`-\nabla\cdot(\kappa\nabla u) + b\cdot\nabla u + c u = f` (the problem of
:mod:`fem.problems`), the indicator of a cell :math:`T` is

.. math::

    \eta_T^2 = h_T^2 \, \| f + \nabla\cdot(\kappa\nabla u_h) - c\, u_h
               - b\cdot\nabla u_h \|_{L^2(T)}^2
             + \tfrac12 \sum_{E \subset \partial T \setminus \partial\Omega}
               h_E \, \| [\kappa \nabla u_h \cdot n] \|_{L^2(E)}^2
             + \sum_{E \subset \partial T \cap (\Gamma_N \cup \Gamma_R)}
               h_E \, \| g - \alpha u_h - \kappa \nabla u_h \cdot n \|_{L^2(E)}^2 ,

with :math:`h_T` the diameter of :math:`T`, :math:`h_E` the length of the edge,
:math:`[\kappa\nabla u_h\cdot n] = \kappa\nabla u_h^+\cdot n^+ + \kappa\nabla u_h^-\cdot n^-`
the jump of the normal flux, :math:`\alpha = 0` on Neumann parts, and boundary facets in
no part of ``dirichlet``, ``neumann`` or ``robin`` treated as :math:`g = 0` (the natural
condition the weak form imposes there).  In 1D a facet is a point: its
:math:`\|\cdot\|_{L^2(E)}` is the absolute value and :math:`h_E` is the length of the
cell.  The estimate :math:`\eta = (\sum_T \eta_T^2)^{1/2}` bounds the energy error from
above and below up to constants and data oscillation (Verfürth, *A Posteriori Error
Estimation Techniques for Finite Element Methods*, 2013, ch. 1).

Marking picks the cells to refine: :func:`dorfler_marking` the fewest cells that hold a
fraction :math:`\theta` of :math:`\eta^2` (Dörfler, SIAM J. Numer. Anal. 33, 1996), and
:func:`maximum_marking` the cells with :math:`\eta_T^2 \ge \theta \max_T \eta_T^2`.

Examples
--------
>>> import numpy as np
>>> from fem.mesh import unit_square
>>> from fem.element import function_space
>>> from fem.problems import solve_stationary
>>> space = function_space(unit_square(8), 1)
>>> solution = solve_stationary(space, f=1.0, rtol=1e-12)
>>> estimate = residual_estimate(space, solution.u, f=1.0)
>>> estimate.indicators.shape, bool(estimate.total > 0)
((128,), True)
>>> int(dorfler_marking(estimate.indicators, 0.5).sum()) < 128
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numba import njit

from fem.assembly import (
    _inverse_jacobian,
    cell_quadrature_points,
    coefficient_values,
    vector_coefficient_values,
)
from fem.element import FunctionSpace, dof_vector
from fem.mesh import find_edges
from fem.quadrature import quadrature_rule

__all__ = ["MARKINGS", "Estimate", "check_theta", "dorfler_marking", "mark",
           "maximum_marking", "residual_estimate"]


@dataclass(frozen=True, eq=False)
class Estimate:
    r"""The result of :func:`residual_estimate`.

    Attributes
    ----------
    indicators : ndarray, shape (n_cells,)
        :math:`\eta_T^2` of each cell (squares, so that they add up).
    cell_residuals : ndarray, shape (n_cells,)
        The part :math:`h_T^2 \|R_T\|^2` of each indicator.
    facet_residuals : ndarray, shape (n_cells,)
        The jump and boundary parts of each indicator.
    """

    indicators: np.ndarray
    cell_residuals: np.ndarray
    facet_residuals: np.ndarray

    @property
    def total(self) -> float:
        r"""The estimate :math:`\eta = (\sum_T \eta_T^2)^{1/2}`."""
        return float(np.sqrt(self.indicators.sum()))


def residual_estimate(space: FunctionSpace, u_h, *, kappa=1.0, reaction=0.0, velocity=None,
                      f=0.0, dirichlet=None, neumann=None, robin=None, kappa_gradient=None,
                      quadrature_degree: int | None = None) -> Estimate:
    r"""The residual indicators :math:`\eta_T^2` of ``u_h`` (see the module for the formula).

    Parameters
    ----------
    space : FunctionSpace
        P1 or P2 on intervals or triangles.
    u_h : ndarray, shape (num_dofs,)
        The discrete solution (Dirichlet values included).
    kappa, reaction, velocity, f, dirichlet, neumann, robin
        The problem's data, as :func:`fem.problems.solve_stationary` takes them
        (``dirichlet=None``: the whole boundary is Dirichlet).
    kappa_gradient : sequence of float or callable, optional
        :math:`\nabla\kappa` for a variable ``kappa`` (a tuple of ``dim`` arrays, as
        ``velocity``), which enters :math:`\nabla\cdot(\kappa\nabla u_h) = \kappa\Delta u_h
        + \nabla\kappa\cdot\nabla u_h`.  When omitted for a callable ``kappa``, central
        differences of ``kappa`` with step :math:`10^{-6}(1 + |x|)` stand in for it.
    quadrature_degree : int, optional
        Of the cell and facet rules; default :math:`2p` (exact for the squared residual
        of constant data).

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        For a vector of the wrong size, an unknown boundary name, malformed data.

    Examples
    --------
    A function of the space solves its own problem exactly, so it has no residual:

    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space, interpolate
    >>> space = function_space(unit_square(4), 2)
    >>> u = interpolate(space, lambda x, y: x * x + y)
    >>> estimate = residual_estimate(space, u, f=-2.0, dirichlet={"boundary": 0.0})
    >>> estimate.total < 1e-12
    True
    """
    u_h = dof_vector(space, u_h)
    degree = 2 * space.degree if quadrature_degree is None else quadrature_degree
    cell_part = _cell_residuals(space, u_h, degree, kappa=kappa,
                                reaction=reaction, velocity=velocity, f=f,
                                kappa_gradient=kappa_gradient)
    facet_part = _facet_residuals(space, u_h, degree, kappa=kappa,
                                  dirichlet=dirichlet, neumann=neumann, robin=robin)
    for values in (cell_part, facet_part):
        values.setflags(write=False)
    indicators = cell_part + facet_part
    indicators.setflags(write=False)
    return Estimate(indicators, cell_part, facet_part)


# --------------------------------------------------------------------------------------
# Numba kernels: inputs are checked by the Python functions below; coefficient arrays
# are (1, 1) for a constant or (n, q) per cell (facet) and quadrature point.


@njit(cache=True)
def _cell_kernel(points, cells, cell_dofs, u, values, gradients, weights, second_order,
                 first_order, f, kappa, kappa_gradient, reaction, velocity, out, inverse,
                 physical):
    r"""``out[c] = h_T^2 ||f + div(kappa grad u_h) - c u_h - b . grad u_h||^2_T``.

    ``first_order``: whether :math:`(\nabla\kappa - b)\cdot\nabla u_h` enters.
    ``second_order``: P2, whose Laplacian is constant per cell:
    :math:`4 \sum_i u_i |G_i|^2 + 8 \sum_{(i, j)} u_{ij} G_i \cdot G_j` with
    :math:`G_i = \nabla\lambda_i`.  Work space: ``inverse`` (dim, dim), ``physical``
    (dim + 1, dim).
    """
    num_quadrature, k, dim = gradients.shape
    for c in range(cells.shape[0]):
        determinant = _inverse_jacobian(points, cells, c, inverse)
        diameter = 0.0
        for i in range(dim + 1):
            for j in range(i + 1, dim + 1):
                s = 0.0
                for d in range(dim):
                    t = points[cells[c, i], d] - points[cells[c, j], d]
                    s += t * t
                diameter = max(diameter, s)
        laplacian = 0.0
        if second_order:
            for d in range(dim):
                physical[0, d] = 0.0
                for e in range(dim):
                    physical[e + 1, d] = inverse[e, d]
                    physical[0, d] -= inverse[e, d]
            for i in range(dim + 1):
                s = 0.0
                for d in range(dim):
                    s += physical[i, d] * physical[i, d]
                laplacian += 4.0 * u[cell_dofs[c, i]] * s
            for m in range(k - dim - 1):
                i = m
                j = (m + 1) % (dim + 1)
                s = 0.0
                for d in range(dim):
                    s += physical[i, d] * physical[j, d]
                laplacian += 8.0 * u[cell_dofs[c, dim + 1 + m]] * s
        integral = 0.0
        for q in range(num_quadrature):
            value = 0.0
            for i in range(k):
                value += u[cell_dofs[c, i]] * values[q, i]
            residual = _at(f, c, q) + _at(kappa, c, q) * laplacian - _at(reaction, c, q) * value
            for d in range(dim if first_order else 0):
                derivative = 0.0
                for i in range(k):
                    g = 0.0
                    for e in range(dim):
                        g += gradients[q, i, e] * inverse[e, d]
                    derivative += u[cell_dofs[c, i]] * g
                residual += (_at3(kappa_gradient, c, q, d) - _at3(velocity, c, q, d)) \
                    * derivative
            integral += weights[q] * residual * residual
        out[c] = diameter * abs(determinant) * integral


@njit(cache=True)
def _at(values, c, q):
    return values[c if values.shape[0] > 1 else 0, q if values.shape[1] > 1 else 0]


@njit(cache=True)
def _at3(values, c, q, d):
    return values[c if values.shape[0] > 1 else 0, q if values.shape[1] > 1 else 0, d]


@njit(cache=True)
def _facet_kernel(points, cells, cell_dofs, u, facet_of, value_tables, gradient_tables,
                  kappa, linear, flux, trace, count, inverse, local, reference):
    r"""Outward fluxes :math:`\kappa\nabla u_h\cdot n` summed per facet, and traces of u_h.

    ``value_tables[k, o, q, i]`` and ``gradient_tables[k, o, q, i, e]``: the basis at
    the points of local facet ``k`` in direction ``o`` (0 forward, 1 backward: a cell
    whose edge runs from its higher vertex to its lower), so that point ``q`` is the
    same physical point seen from both cells of a facet.  ``linear``: the gradient of
    u_h is constant in each cell (P1), taken once per cell from the first table.  Adds
    to ``flux`` (n_facets, q) and ``count`` (cells per facet) and writes ``trace``
    (n_facets, q; skipped when it has no rows).  Work space: ``inverse`` (dim, dim),
    ``local`` (k: u_h's coefficients in the cell), ``reference`` (dim).
    """
    num_quadrature = gradient_tables.shape[2]
    k = gradient_tables.shape[3]
    dim = gradient_tables.shape[4]
    normal = np.zeros(2)
    mapped = np.zeros(2)
    traces = trace.shape[0] > 0
    for c in range(cells.shape[0]):
        _inverse_jacobian(points, cells, c, inverse)
        for i in range(k):
            local[i] = u[cell_dofs[c, i]]
        if linear:
            for e in range(dim):
                s = 0.0
                for i in range(k):
                    s += local[i] * gradient_tables[0, 0, 0, i, e]
                reference[e] = s
        for f in range(facet_of.shape[1]):
            facet = facet_of[c, f]
            count[facet] += 1
            o = 0
            if dim == 1:
                normal[0] = -1.0 if f == 0 else 1.0
            else:
                a = cells[c, f]
                b = cells[c, f + 1 if f < 2 else 0]
                if a > b:
                    o = 1
                tx = points[b, 0] - points[a, 0]
                ty = points[b, 1] - points[a, 1]
                length = np.sqrt(tx * tx + ty * ty)
                normal[0] = ty / length
                normal[1] = -tx / length
            # grad u . n = sum_i u_i (G_i J^-1) . n = sum_i u_i G_i . (J^-1 n)
            for e in range(dim):
                s = 0.0
                for d in range(dim):
                    s += inverse[e, d] * normal[d]
                mapped[e] = s
            derivative = 0.0
            if linear:
                for e in range(dim):
                    derivative += reference[e] * mapped[e]
            for q in range(num_quadrature):
                if not linear:
                    derivative = 0.0
                    for i in range(k):
                        g = 0.0
                        for e in range(dim):
                            g += gradient_tables[f, o, q, i, e] * mapped[e]
                        derivative += local[i] * g
                flux[facet, q] += _at(kappa, facet, q) * derivative
                if traces:
                    value = 0.0
                    for i in range(k):
                        value += local[i] * value_tables[f, o, q, i]
                    trace[facet, q] = value


@njit(cache=True)
def _gather_kernel(points, cells, facet_of, residual, weights, count, natural, out):
    r"""``out[c] = sum_k h_E |E| w_E ||residual||^2_E`` over the facets ``facet_of[c]``.

    :math:`\|\cdot\|^2_E` by the rule ``weights`` on the reference facet (so the
    factor :math:`|E|`, and :math:`h_E = |E|`; 1D: :math:`h_T`), :math:`w_E` 1/2 inside
    (``count`` 2), 1 on a ``natural`` boundary facet and 0 on the others.
    """
    dim = points.shape[1]
    for c in range(cells.shape[0]):
        s = 0.0
        for f in range(facet_of.shape[1]):
            facet = facet_of[c, f]
            if count[facet] == 2:
                share = 0.5
            elif natural[facet]:
                share = 1.0
            else:
                continue
            if dim == 1:
                scale = abs(points[cells[c, 1], 0] - points[cells[c, 0], 0])
            else:
                a = cells[c, f]
                b = cells[c, f + 1 if f < 2 else 0]
                tx = points[b, 0] - points[a, 0]
                ty = points[b, 1] - points[a, 1]
                scale = tx * tx + ty * ty
            integral = 0.0
            for q in range(weights.shape[0]):
                integral += weights[q] * residual[facet, q] * residual[facet, q]
            s += share * scale * integral
        out[c] = s


# --------------------------------------------------------------------------------------
# The cell residual h_T^2 ||f + div(kappa grad u_h) - c u_h - b . grad u_h||^2


def _central_differences(kappa, points: np.ndarray) -> np.ndarray:
    """Central-difference gradient of a callable at ``points`` (n, q, dim)."""
    gradient = np.empty(points.shape)
    for d in range(points.shape[2]):
        step = 1e-6 * (1.0 + np.abs(points[..., d]))
        forward, backward = points.copy(), points.copy()
        forward[..., d] += step
        backward[..., d] -= step
        difference = (np.asarray(kappa(*np.moveaxis(forward, 2, 0)), dtype=np.float64)
                      - np.asarray(kappa(*np.moveaxis(backward, 2, 0)), dtype=np.float64))
        gradient[..., d] = difference / (2.0 * step)
    return gradient


def _cell_residuals(space, u_h, degree, *, kappa, reaction, velocity, f,
                    kappa_gradient) -> np.ndarray:
    points, weights = quadrature_rule(space.element.cell_type, degree)
    dim = space.mesh.dim
    cached = []

    def points_of():
        if not cached:
            cached.append(cell_quadrature_points(space, points))
        return cached[0]

    zero = np.zeros((1, 1, dim))
    if not callable(kappa):
        kappa_derivative = zero
    elif kappa_gradient is None:
        kappa_derivative = _central_differences(kappa, points_of())
    else:
        kappa_derivative = vector_coefficient_values(kappa_gradient, points_of, dim,
                                                     "kappa_gradient")
    velocity_values = zero if velocity is None else vector_coefficient_values(
        velocity, points_of, dim, "velocity")
    mesh = space.mesh
    out = np.empty(mesh.num_cells)
    _cell_kernel(mesh.points, mesh.cells, space.cell_dofs, u_h, space.element.values(points),
                 space.element.gradients(points), weights, space.degree > 1,
                 callable(kappa) or velocity is not None, coefficient_values(f, points_of, "f"),
                 coefficient_values(kappa, points_of, "kappa"), kappa_derivative,
                 coefficient_values(reaction, points_of, "reaction"), velocity_values, out,
                 np.empty((dim, dim)), np.empty((dim + 1, dim)))
    return out


# --------------------------------------------------------------------------------------
# The facet residuals: flux jumps inside, boundary data on Neumann and Robin parts


@dataclass(frozen=True)
class _Facets:
    """Every (cell, local facet) pair and the facets' quadrature.

    ``of_cell[c, k]`` is the facet of local facet ``k`` of cell ``c``; ``reference[o, k]``
    its quadrature points in the reference cell, traversed from the facet's first to its
    second vertex (``o = 0``) or back (``o = 1``); ``points(ids)`` the physical points of
    facets ``ids`` (k, q, dim).
    """

    vertices: np.ndarray
    of_cell: np.ndarray
    reference: np.ndarray
    points: Callable
    weights: np.ndarray


def _facets(space, degree) -> _Facets:
    mesh = space.mesh
    if mesh.dim == 1:
        reference = np.array([[[[0.0]], [[1.0]]]] * 2)  # (o, facet, q, dim)
        return _Facets(np.arange(mesh.num_points)[:, None], mesh.cells, reference,
                       lambda ids=slice(None): mesh.points[ids, None, :], np.ones(1))
    edges, cell_edges = mesh.edges
    rule, weights = quadrature_rule("interval", degree)
    t = rule[:, 0]
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    start, end = corners, np.roll(corners, -1, axis=0)
    reference = np.stack([start[:, None, :] + t[None, :, None] * (end - start)[:, None, :],
                          end[:, None, :] - t[None, :, None] * (end - start)[:, None, :]])

    def points(ids=slice(None)):
        first, second = mesh.points[edges[ids, 0]], mesh.points[edges[ids, 1]]
        return first[:, None, :] + t[None, :, None] * (second - first)[:, None, :]

    return _Facets(edges, cell_edges, reference, points, weights)


def _boundary_facets(space, facets, name) -> np.ndarray:
    boundary = space.mesh.boundary_facets(name)
    if space.mesh.dim == 1:
        return boundary[:, 0]
    found = find_edges(facets.vertices, boundary)
    if np.any(found < 0):
        bad = boundary[int(np.flatnonzero(found < 0)[0])].tolist()
        raise ValueError(f"boundary facet {bad} of '{name}' is not an edge of the mesh")
    return found


def _mapping(data, label) -> dict:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{label} must be a mapping of boundary name to data, "
                         f"got {type(data).__name__}")
    return dict(data)


def _fluxes(space, u_h, facets, kappa, traces: bool):
    """Summed outward fluxes and (with ``traces``) traces of ``u_h``, both (n_facets, q),
    and the number of cells of each facet."""
    element, mesh = space.element, space.mesh
    shape = facets.reference.shape  # (o, facet, q, dim)
    flat = facets.reference.reshape(-1, mesh.dim)
    value_tables = element.values(flat).reshape(*shape[:3], -1).transpose(1, 0, 2, 3)
    gradient_tables = element.gradients(flat).reshape(*shape[:3], -1, mesh.dim)
    gradient_tables = gradient_tables.transpose(1, 0, 2, 3, 4)
    kappa_values = coefficient_values(kappa, facets.points, "kappa", where="facet")
    num_facets, num_quadrature = facets.vertices.shape[0], facets.weights.size
    flux = np.zeros((num_facets, num_quadrature))
    trace = np.zeros((num_facets if traces else 0, num_quadrature))
    count = np.zeros(num_facets, dtype=np.int64)
    _facet_kernel(mesh.points, mesh.cells, space.cell_dofs, u_h, facets.of_cell,
                  np.ascontiguousarray(value_tables), np.ascontiguousarray(gradient_tables),
                  kappa_values, space.degree == 1, flux, trace, count,
                  np.empty((mesh.dim, mesh.dim)), np.empty(element.num_local_dofs),
                  np.empty(mesh.dim))
    return flux, trace, count


def _facet_residuals(space, u_h, degree, *, kappa, dirichlet, neumann, robin) -> np.ndarray:
    facets = _facets(space, degree)
    robin = _mapping(robin, "robin")
    flux, trace, count = _fluxes(space, u_h, facets, kappa, traces=bool(robin))
    # inside, the two outward fluxes add up to the jump; on the boundary the data enter,
    # here as flux + alpha u_h - g, the residual's negative (only its square counts)
    residual = flux
    natural = count == 1
    dirichlet = {"boundary": 0.0} if dirichlet is None else _mapping(dirichlet, "dirichlet")
    for name in dirichlet:
        natural[_boundary_facets(space, facets, name)] = False
    for kind, data in (("neumann", _mapping(neumann, "neumann")),
                       ("robin", robin)):
        for name, value in data.items():
            ids = _boundary_facets(space, facets, name)
            ids = ids[natural[ids]]

            def points_of(ids=ids):
                return facets.points(ids)

            if kind == "robin":
                if not (isinstance(value, (tuple, list)) and len(value) == 2):
                    raise ValueError(f"robin data on '{name}' must be a pair (alpha, g)")
                alpha, g = value
                residual[ids] += coefficient_values(alpha, points_of, "alpha",
                                                    where="facet") * trace[ids]
            else:
                g = value
            residual[ids] -= coefficient_values(g, points_of, "g", where="facet")
    out = np.empty(space.mesh.num_cells)
    _gather_kernel(space.mesh.points, space.mesh.cells, facets.of_cell, residual,
                   facets.weights, count, natural, out)
    return out


# --------------------------------------------------------------------------------------
# Marking


def _indicators(indicators) -> np.ndarray:
    values = np.asarray(indicators, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"indicators must be a non-empty 1D array, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("indicators must be finite and non-negative (squares eta_T^2)")
    return values


def check_theta(theta) -> float:
    """``theta`` as a float, or a ValueError unless it is a number in (0, 1]."""
    if isinstance(theta, bool) or not isinstance(theta, (int, float, np.floating)) \
            or not 0.0 < float(theta) <= 1.0:
        raise ValueError(f"theta must be a number in (0, 1], got {theta!r}")
    return float(theta)


def dorfler_marking(indicators, theta: float = 0.5) -> np.ndarray:
    r"""Bulk marking: the fewest cells :math:`\mathcal M` with
    :math:`\sum_{T \in \mathcal M} \eta_T^2 \ge \theta \sum_T \eta_T^2`.

    The largest indicators are taken first (a sort, :math:`O(n \log n)`).

    Parameters
    ----------
    indicators : array_like, shape (n_cells,)
        :math:`\eta_T^2`.
    theta : float in (0, 1]
        The bulk fraction; 1 marks every cell with a non-zero indicator.

    Returns
    -------
    ndarray of bool, shape (n_cells,)

    Examples
    --------
    >>> dorfler_marking([1.0, 4.0, 2.0, 3.0], 0.5).tolist()
    [False, True, False, True]
    """
    values = _indicators(indicators)
    theta = check_theta(theta)
    order = np.argsort(values, kind="stable")[::-1]
    running = np.cumsum(values[order])
    # the first k whose partial sum reaches the bulk (within rounding of the sum)
    count = int(np.searchsorted(running, theta * running[-1] * (1.0 - 1e-14))) + 1
    marked = np.zeros(values.size, dtype=bool)
    marked[order[:min(count, values.size)]] = True
    return marked


def maximum_marking(indicators, theta: float = 0.5) -> np.ndarray:
    r"""The cells with :math:`\eta_T^2 \ge \theta \max_T \eta_T^2`.

    Examples
    --------
    >>> maximum_marking([1.0, 4.0, 2.0, 3.0], 0.5).tolist()
    [False, True, True, True]
    """
    values = _indicators(indicators)
    return values >= check_theta(theta) * values.max()


#: The marking strategies by name.
MARKINGS = {"dorfler": dorfler_marking, "maximum": maximum_marking}


def mark(indicators, theta: float = 0.5, strategy: str = "dorfler") -> np.ndarray:
    """Mark cells by ``strategy`` (a name of :data:`MARKINGS`) with parameter ``theta``."""
    if strategy not in MARKINGS:
        raise ValueError(f"marking must be one of {sorted(MARKINGS)}, got {strategy!r}")
    return MARKINGS[strategy](indicators, theta)
