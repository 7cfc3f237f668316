r"""Lagrange P1 and P2 elements on intervals and triangles, and the function space on a mesh.

Reference cells: :math:`[0, 1]` and the triangle with vertices :math:`(0,0), (1,0), (0,1)`.
With barycentric coordinates :math:`\lambda_0 = 1 - \xi - \eta,\ \lambda_1 = \xi,\
\lambda_2 = \eta` (in 1D :math:`\lambda_0 = 1 - \xi,\ \lambda_1 = \xi`) the basis is

* P1: :math:`\varphi_i = \lambda_i`;
* P2: vertex functions :math:`\varphi_i = \lambda_i (2 \lambda_i - 1)` and edge functions
  :math:`4 \lambda_i \lambda_j`; on a triangle edge :math:`k` joins local vertices
  :math:`k` and :math:`(k + 1) \bmod 3`.

Global numbering: vertex DOFs carry the vertex index; P2 edge DOFs follow, numbered by
edge (2D) or by cell (1D).

Examples
--------
>>> from fem.mesh import unit_square
>>> space = function_space(unit_square(2), 2)
>>> space.num_dofs, space.cell_dofs.shape
(25, (8, 6))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from fem.mesh import Mesh, find_edges

__all__ = ["FunctionSpace", "LagrangeElement", "function_space", "interpolate"]


@dataclass(frozen=True)
class LagrangeElement:
    """Lagrange element of ``degree`` 1 or 2 on the reference ``cell_type``."""

    cell_type: str
    degree: int

    def __post_init__(self):
        if self.cell_type not in ("interval", "triangle"):
            raise ValueError(f"unknown cell type {self.cell_type!r}")
        if self.degree not in (1, 2):
            raise ValueError(f"Lagrange degree must be 1 or 2, got {self.degree!r}")

    @property
    def dim(self) -> int:
        """Dimension of the reference cell."""
        return 1 if self.cell_type == "interval" else 2

    @property
    def num_local_dofs(self) -> int:
        """Number of basis functions on one cell."""
        return (self.degree + 1) if self.dim == 1 else (3 if self.degree == 1 else 6)

    @property
    def reference_dof_points(self) -> np.ndarray:
        """Nodes of the basis on the reference cell, shape (num_local_dofs, dim)."""
        if self.dim == 1:
            return np.array([[0.0], [1.0], [0.5]])[: self.num_local_dofs]
        return np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0],
                         [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]])[: self.num_local_dofs]

    def _barycentric(self, reference_points):
        x = np.asarray(reference_points, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"reference points must have shape (n, {self.dim}), got {x.shape}")
        if self.dim == 1:
            lam = np.stack([1.0 - x[:, 0], x[:, 0]])
            grad = np.array([[-1.0], [1.0]])
        else:
            lam = np.stack([1.0 - x[:, 0] - x[:, 1], x[:, 0], x[:, 1]])
            grad = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
        return lam, grad

    def _edges(self):
        return [(0, 1)] if self.dim == 1 else [(0, 1), (1, 2), (2, 0)]

    def values(self, reference_points) -> np.ndarray:
        """Basis values at reference points, shape (n_points, num_local_dofs)."""
        lam, _ = self._barycentric(reference_points)
        if self.degree == 1:
            return np.ascontiguousarray(lam.T)
        vertex = [lam[i] * (2.0 * lam[i] - 1.0) for i in range(self.dim + 1)]
        edge = [4.0 * lam[i] * lam[j] for i, j in self._edges()]
        return np.ascontiguousarray(np.stack(vertex + edge, axis=1))

    def gradients(self, reference_points) -> np.ndarray:
        """Reference gradients at reference points, shape (n_points, num_local_dofs, dim)."""
        lam, grad = self._barycentric(reference_points)
        n = lam.shape[1]
        if self.degree == 1:
            return np.ascontiguousarray(np.broadcast_to(grad, (n, *grad.shape)))
        parts = [(4.0 * lam[i] - 1.0)[:, None] * grad[i] for i in range(self.dim + 1)]
        parts += [4.0 * (lam[j][:, None] * grad[i] + lam[i][:, None] * grad[j])
                  for i, j in self._edges()]
        return np.ascontiguousarray(np.stack(parts, axis=1))


@dataclass(frozen=True, eq=False)
class FunctionSpace:
    """Continuous Lagrange finite-element space on a mesh; build it with :func:`function_space`.

    Attributes
    ----------
    mesh : Mesh
    element : LagrangeElement
    cell_dofs : ndarray of int64, shape (n_cells, num_local_dofs)
        Global DOF of each local basis function.
    dof_points : ndarray, shape (num_dofs, dim)
        Node of each global DOF (values of a function are its values there).
    edges : ndarray of int64, shape (n_edges, 2), or None
        P2 on triangles only: vertex pairs of the edges; edge ``e`` carries DOF
        ``num_points + e``.
    """

    mesh: Mesh
    element: LagrangeElement
    cell_dofs: np.ndarray
    dof_points: np.ndarray
    edges: np.ndarray | None = None

    @property
    def degree(self) -> int:
        """Polynomial degree of the element."""
        return self.element.degree

    @property
    def num_dofs(self) -> int:
        """Number of global degrees of freedom."""
        return self.dof_points.shape[0]

    def __repr__(self) -> str:
        return (f"FunctionSpace(P{self.degree}, dofs={self.num_dofs}, mesh of "
                f"{self.mesh.num_cells} cells in {self.mesh.dim}D)")

    def _names(self, names) -> list[str]:
        if isinstance(names, str):
            names = [names]
        names = list(names)
        for name in names:
            self.mesh.boundary_facets(name)  # raises for an unknown name
        return names

    def facet_dofs(self, names: str | Iterable[str]) -> np.ndarray:
        """DOFs of each facet of the named boundary parts, in facet-local order.

        Shape (k, 1) in 1D; (k, 2) for P1 and (k, 3) for P2 on triangles, ordered as the
        reference interval basis (first vertex, second vertex, midpoint).
        """
        names = self._names(names)
        facets = [self.mesh.boundaries[name] for name in names]
        facets = np.concatenate(facets) if facets else np.zeros((0, self.mesh.dim), np.int64)
        if self.mesh.dim == 1 or self.degree == 1:
            return facets
        edge = find_edges(self.edges, facets)
        if np.any(edge < 0):
            bad = facets[int(np.flatnonzero(edge < 0)[0])].tolist()
            raise ValueError(f"boundary facet {bad} of {names} is not an edge of the mesh")
        return np.column_stack([facets, self.mesh.num_points + edge])

    def boundary_dofs(self, names: str | Iterable[str] = "boundary") -> np.ndarray:
        """Sorted DOFs lying on the named boundary part(s).

        Raises
        ------
        ValueError
            For an unknown boundary name (the message lists the known names).

        Examples
        --------
        >>> from fem.mesh import interval
        >>> function_space(interval(0.0, 1.0, 4), 2).boundary_dofs(["left", "right"]).tolist()
        [0, 4]
        """
        return np.unique(self.facet_dofs(names))


def function_space(mesh: Mesh, degree: int) -> FunctionSpace:
    """The continuous Lagrange space of ``degree`` 1 or 2 on ``mesh``.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> space = function_space(interval(0.0, 1.0, 2), 2)
    >>> space.dof_points[:, 0].tolist(), space.cell_dofs.tolist()
    ([0.0, 0.5, 1.0, 0.25, 0.75], [[0, 1, 3], [1, 2, 4]])
    """
    if not isinstance(mesh, Mesh):
        raise ValueError(f"function_space needs a Mesh, got {type(mesh).__name__}")
    if degree not in (1, 2) or isinstance(degree, bool):
        raise ValueError(f"degree must be 1 or 2, got {degree!r}")
    cell_type = "interval" if mesh.dim == 1 else "triangle"
    element = LagrangeElement(cell_type, int(degree))
    edges = None
    if degree == 1:
        cell_dofs = mesh.cells
        dof_points = mesh.points
    elif mesh.dim == 1:
        extra = mesh.num_points + np.arange(mesh.num_cells, dtype=np.int64)
        cell_dofs = np.column_stack([mesh.cells, extra])
        midpoints = 0.5 * (mesh.points[mesh.cells[:, 0]] + mesh.points[mesh.cells[:, 1]])
        dof_points = np.concatenate([mesh.points, midpoints])
    else:
        edges, cell_edges = mesh.edges
        cell_dofs = np.column_stack([mesh.cells, mesh.num_points + cell_edges])
        midpoints = 0.5 * (mesh.points[edges[:, 0]] + mesh.points[edges[:, 1]])
        dof_points = np.concatenate([mesh.points, midpoints])
    cell_dofs = np.ascontiguousarray(cell_dofs, dtype=np.int64)
    dof_points = np.ascontiguousarray(dof_points)
    cell_dofs.setflags(write=False)
    dof_points.setflags(write=False)
    return FunctionSpace(mesh, element, cell_dofs, dof_points, edges)


def dof_vector(space: FunctionSpace, values, name: str = "u_h", *,
               finite: bool = True) -> np.ndarray:
    """``values`` as a float64 vector of ``space``'s DOFs, checked once for every user.

    Raises
    ------
    ValueError
        For something that is not a space, a vector of the wrong shape, or (with
        ``finite``) NaN or infinite values; the message names ``name``.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> dof_vector(function_space(interval(0.0, 1.0, 2), 1), [0, 1, 2]).tolist()
    [0.0, 1.0, 2.0]
    """
    if not isinstance(space, FunctionSpace):
        raise ValueError(f"expected a FunctionSpace, got {type(space).__name__}")
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (space.num_dofs,):
        raise ValueError(f"{name} must have shape ({space.num_dofs},), got {values.shape}")
    if finite and not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or inf")
    return values


def interpolate(space: FunctionSpace, function, time: float | None = None) -> np.ndarray:
    """Nodal interpolant: the values of ``function`` at the DOF points.

    ``function`` is a number or a vectorised callable ``f(x)`` / ``f(x, y)`` (with a final
    ``t`` argument when ``time`` is given).

    Examples
    --------
    >>> from fem.mesh import interval
    >>> interpolate(function_space(interval(0.0, 1.0, 2), 1), lambda x: x**2).tolist()
    [0.0, 0.25, 1.0]
    """
    return values_at(function, space.dof_points, "function", time=time)


def values_at(function, points: np.ndarray, label: str, *, time: float | None = None,
              symbol: str = "f") -> np.ndarray:
    """A number or vectorised callable of the coordinates (and ``t``) at ``points``.

    Parameters
    ----------
    function : float or callable
        ``f(x)`` / ``f(x, y)``, with a final ``t`` when ``time`` is given.
    points : ndarray, shape (n, dim)
    label, symbol : str
        How errors name the data (``"Dirichlet data on 'left'"``) and the function in
        its signature (``g(x, y, t)``).

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    ValueError
        If ``function`` is neither a number nor a callable, cannot be called with the
        coordinates, returns the wrong shape, or is not finite at some point (named).
    """
    n, dim = points.shape
    if callable(function):
        arguments = list(points.T) + ([time] if time is not None else [])
        try:
            values = np.asarray(function(*arguments), dtype=np.float64)
        except TypeError as error:
            signature = ", ".join(("x", "y")[:dim] + (("t",) if time is not None else ()))
            raise ValueError(f"{label} could not be evaluated as {symbol}({signature}): "
                             f"{error}") from error
        try:
            values = np.broadcast_to(values, (n,)).copy()
        except ValueError:
            raise ValueError(f"{label} returned shape {values.shape}, expected "
                             f"{(n,)}") from None
    elif isinstance(function, (bool, str)) or np.ndim(function) != 0:
        raise ValueError(f"{label} must be a number or a callable, "
                         f"got {type(function).__name__}")
    else:
        values = np.full(n, float(function))
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"{label} is not finite at {points[bad].tolist()}")
    return values
