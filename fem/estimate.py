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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fem.assembly import cell_quadrature_points, coefficient_values, vector_coefficient_values
from fem.element import FunctionSpace, dof_vector
from fem.mesh import find_edges
from fem.norms import _geometry
from fem.quadrature import quadrature_rule

__all__ = ["MARKINGS", "Estimate", "dorfler_marking", "mark", "maximum_marking",
           "residual_estimate"]


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
        Of the cell and facet rules; default :math:`2p + 2`.

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
    degree = 2 * space.degree + 2 if quadrature_degree is None else quadrature_degree
    determinants, inverses = _geometry(space)
    cell_part = _cell_residuals(space, u_h, determinants, inverses, degree, kappa=kappa,
                                reaction=reaction, velocity=velocity, f=f,
                                kappa_gradient=kappa_gradient)
    facet_part = _facet_residuals(space, u_h, inverses, degree, kappa=kappa,
                                  dirichlet=dirichlet, neumann=neumann, robin=robin)
    for values in (cell_part, facet_part):
        values.setflags(write=False)
    indicators = cell_part + facet_part
    indicators.setflags(write=False)
    return Estimate(indicators, cell_part, facet_part)


# --------------------------------------------------------------------------------------
# The cell residual h_T^2 ||f + div(kappa grad u_h) - c u_h - b . grad u_h||^2


def cell_diameters(mesh) -> np.ndarray:
    """The diameter :math:`h_T` of every cell (its length, or its longest edge)."""
    corners = mesh.points[mesh.cells]
    if mesh.dim == 1:
        return np.abs(corners[:, 1, 0] - corners[:, 0, 0])
    sides = corners - np.roll(corners, -1, axis=1)
    return np.sqrt((sides**2).sum(axis=2)).max(axis=1)


def _barycentric_gradients(space, inverses) -> np.ndarray:
    """Physical gradients of the barycentric coordinates, shape (n_cells, dim + 1, dim)."""
    dim = space.mesh.dim
    reference = np.vstack([-np.ones((1, dim)), np.eye(dim)])
    return np.einsum("ie,ced->cid", reference, inverses)


def _laplacians(space, u_h, inverses) -> np.ndarray:
    r""":math:`\Delta u_h` on every cell, shape (n_cells, 1): zero for P1, constant for P2.

    With :math:`G_i = \nabla\lambda_i`: :math:`\Delta[\lambda_i(2\lambda_i - 1)] =
    4 |G_i|^2` and :math:`\Delta[4 \lambda_i \lambda_j] = 8\, G_i \cdot G_j`.
    """
    if space.degree == 1:
        return np.zeros((space.mesh.num_cells, 1))
    gradients = _barycentric_gradients(space, inverses)
    dim = space.mesh.dim
    pairs = [(0, 1)] if dim == 1 else [(0, 1), (1, 2), (2, 0)]  # the element's edge DOFs
    local = u_h[space.cell_dofs]
    laplacian = 4.0 * np.einsum("ci,cid,cid->c", local[:, : dim + 1], gradients, gradients)
    for offset, (i, j) in enumerate(pairs):
        laplacian += 8.0 * local[:, dim + 1 + offset] * np.einsum(
            "cd,cd->c", gradients[:, i], gradients[:, j])
    return laplacian[:, None]


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


def _cell_residuals(space, u_h, determinants, inverses, degree, *, kappa, reaction, velocity,
                    f, kappa_gradient) -> np.ndarray:
    from fem.norms import _gradients, _values

    points, weights = quadrature_rule(space.element.cell_type, degree)
    dim = space.mesh.dim
    cached = []

    def points_of():
        if not cached:
            cached.append(cell_quadrature_points(space, points))
        return cached[0]

    gradient = _gradients(space, u_h, points, inverses)
    residual = coefficient_values(f, points_of, "f") + np.zeros(gradient.shape[:2])
    kappa_values = coefficient_values(kappa, points_of, "kappa")
    if space.degree > 1:
        residual += kappa_values * _laplacians(space, u_h, inverses)
    if callable(kappa):
        if kappa_gradient is None:
            kappa_derivative = _central_differences(kappa, points_of())
        else:
            kappa_derivative = vector_coefficient_values(kappa_gradient, points_of, dim,
                                                         "kappa_gradient")
        residual += (kappa_derivative * gradient).sum(axis=2)
    reaction_values = coefficient_values(reaction, points_of, "reaction")
    if np.any(reaction_values != 0.0):
        residual -= reaction_values * _values(space, u_h, points)
    if velocity is not None:
        residual -= (vector_coefficient_values(velocity, points_of, dim, "velocity")
                     * gradient).sum(axis=2)
    integral = np.abs(determinants) * (residual**2 @ weights)
    return cell_diameters(space.mesh) ** 2 * integral


# --------------------------------------------------------------------------------------
# The facet residuals: flux jumps inside, boundary data on Neumann and Robin parts


@dataclass(frozen=True)
class _Facets:
    """Every (cell, local facet) pair and the facets' quadrature.

    ``of_cell[c, k]`` is the facet of local facet ``k`` of cell ``c``; ``reference[k]``
    and ``reversed_reference[k]`` its quadrature points in the reference cell, traversed
    from the facet's first to its second vertex (``reversed_`` says which cells run
    against that direction); ``points`` (n_facets, q, dim) the physical points, ``scale``
    (n_cells, k) the factor :math:`h_E \\cdot |E|` before the quadrature weights.
    """

    vertices: np.ndarray
    of_cell: np.ndarray
    reversed_: np.ndarray
    reference: np.ndarray
    reversed_reference: np.ndarray
    normals: np.ndarray
    points: np.ndarray
    weights: np.ndarray
    scale: np.ndarray


def _facets(space, degree) -> _Facets:
    mesh = space.mesh
    if mesh.dim == 1:
        of_cell = mesh.cells
        lengths = np.abs(mesh.points[mesh.cells[:, 1], 0] - mesh.points[mesh.cells[:, 0], 0])
        reference = np.array([[[0.0]], [[1.0]]])  # (facet, q, dim)
        normals = np.empty((mesh.num_cells, 2, 1))
        normals[:, 0, 0], normals[:, 1, 0] = -1.0, 1.0
        vertices = np.arange(mesh.num_points)[:, None]
        return _Facets(vertices, of_cell, np.zeros(of_cell.shape, dtype=bool), reference,
                       reference, normals, mesh.points[:, None, :], np.ones(1),
                       np.repeat(lengths[:, None], 2, axis=1))
    edges, cell_edges = mesh.edges
    rule, weights = quadrature_rule("interval", degree)
    t = rule[:, 0]
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    start, end = corners, np.roll(corners, -1, axis=0)
    reference = start[:, None, :] + t[None, :, None] * (end - start)[:, None, :]
    reversed_reference = end[:, None, :] - t[None, :, None] * (end - start)[:, None, :]
    reversed_ = mesh.cells > np.roll(mesh.cells, -1, axis=1)  # edges run low -> high
    first, second = mesh.points[edges[:, 0]], mesh.points[edges[:, 1]]
    points = first[:, None, :] + t[None, :, None] * (second - first)[:, None, :]
    lengths = np.sqrt(((second - first) ** 2).sum(axis=1))
    corners_of = mesh.points[mesh.cells]
    tangents = np.roll(corners_of, -1, axis=1) - corners_of
    # counterclockwise cells: the outward normal is the tangent turned clockwise
    normals = np.stack([tangents[..., 1], -tangents[..., 0]], axis=2)
    normals /= np.sqrt((normals**2).sum(axis=2))[..., None]
    return _Facets(edges, cell_edges, reversed_, reference, reversed_reference, normals,
                   points, weights, lengths[cell_edges] ** 2)


def _facet_values(space, u_h, facets, k, inverses, derivative: bool) -> np.ndarray:
    """``u_h`` (or its gradient) at the points of local facet ``k`` of every cell."""
    local = u_h[space.cell_dofs]
    element = space.element
    results = []
    for reference in (facets.reference[k], facets.reversed_reference[k]):
        if derivative:
            table = element.gradients(reference)  # (q, dofs, dim)
            values = np.einsum("ci,qie->cqe", local, table)
            results.append(np.matmul(values, inverses))
        else:
            results.append(local @ element.values(reference).T)
    forward, backward = results
    flip = facets.reversed_[:, k].reshape((-1,) + (1,) * (forward.ndim - 1))
    return np.where(flip, backward, forward)


def _scatter(facet_ids, values, num_facets) -> np.ndarray:
    """Sum per facet of per-cell values (n_cells, q) -> (num_facets, q)."""
    return np.stack([np.bincount(facet_ids, weights=values[:, q], minlength=num_facets)
                     for q in range(values.shape[1])], axis=1)


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


def _facet_residuals(space, u_h, inverses, degree, *, kappa, dirichlet, neumann,
                     robin) -> np.ndarray:
    mesh = space.mesh
    facets = _facets(space, degree)
    num_facets = facets.vertices.shape[0]
    count = np.bincount(facets.of_cell.ravel(), minlength=num_facets)
    kappa_values = coefficient_values(kappa, lambda: facets.points, "kappa", where="facet")
    kappa_values = np.broadcast_to(kappa_values, (num_facets, facets.weights.size))
    flux = np.zeros((num_facets, facets.weights.size))
    for k in range(facets.of_cell.shape[1]):
        ids = facets.of_cell[:, k]
        gradient = _facet_values(space, u_h, facets, k, inverses, derivative=True)
        normal_derivative = (gradient * facets.normals[:, k, None, :]).sum(axis=2)
        flux += _scatter(ids, kappa_values[ids] * normal_derivative, num_facets)
    # inside, the two outward fluxes add up to the jump; on the boundary the data enter
    residual = np.where((count == 2)[:, None], flux, 0.0)
    factor = np.where(count == 2, 0.5, 0.0)
    on_boundary = np.flatnonzero(count == 1)
    natural = np.zeros(num_facets, dtype=bool)
    natural[on_boundary] = True
    dirichlet = {"boundary": 0.0} if dirichlet is None else _mapping(dirichlet, "dirichlet")
    for name in dirichlet:
        natural[_boundary_facets(space, facets, name)] = False
    residual[natural] = -flux[natural]
    factor[natural] = 1.0
    robin = _mapping(robin, "robin")
    u_on_facets = None
    for kind, data in (("neumann", _mapping(neumann, "neumann")), ("robin", robin)):
        for name, value in data.items():
            ids = _boundary_facets(space, facets, name)
            ids = ids[natural[ids]]
            if kind == "robin":
                if not (isinstance(value, (tuple, list)) and len(value) == 2):
                    raise ValueError(f"robin data on '{name}' must be a pair (alpha, g)")
                alpha, g = value
                if u_on_facets is None:
                    u_on_facets = _boundary_values(space, u_h, facets, inverses, num_facets)
                alpha_values = coefficient_values(alpha, lambda ids=ids: facets.points[ids],
                                                  "alpha", where="facet")
                residual[ids] -= alpha_values * u_on_facets[ids]
            else:
                g = value
            residual[ids] += coefficient_values(g, lambda ids=ids: facets.points[ids], "g",
                                                where="facet")
    squares = factor * (residual**2 @ facets.weights)
    return (facets.scale * squares[facets.of_cell]).sum(axis=1)


def _boundary_values(space, u_h, facets, inverses, num_facets) -> np.ndarray:
    """``u_h`` at the points of each facet, from one of its cells."""
    values = np.zeros((num_facets, facets.weights.size))
    for k in range(facets.of_cell.shape[1]):
        values[facets.of_cell[:, k]] = _facet_values(space, u_h, facets, k, inverses,
                                                     derivative=False)
    return values


# --------------------------------------------------------------------------------------
# Marking


def _indicators(indicators) -> np.ndarray:
    values = np.asarray(indicators, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"indicators must be a non-empty 1D array, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("indicators must be finite and non-negative (squares eta_T^2)")
    return values


def _theta(theta) -> float:
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
    theta = _theta(theta)
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
    return values >= _theta(theta) * values.max()


#: The marking strategies by name.
MARKINGS = {"dorfler": dorfler_marking, "maximum": maximum_marking}


def mark(indicators, theta: float = 0.5, strategy: str = "dorfler") -> np.ndarray:
    """Mark cells by ``strategy`` (a name of :data:`MARKINGS`) with parameter ``theta``."""
    if strategy not in MARKINGS:
        raise ValueError(f"marking must be one of {sorted(MARKINGS)}, got {strategy!r}")
    return MARKINGS[strategy](indicators, theta)
