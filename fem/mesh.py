"""Simplicial meshes: the immutable :class:`Mesh`, its generators and uniform refinement.

A mesh is a set of points and a list of cells (intervals in 1D, counterclockwise
triangles in 2D) together with named parts of its boundary.  Every mesh carries the
part ``"boundary"`` (all boundary facets); generators add ``left``/``right`` (intervals)
and ``left``/``right``/``bottom``/``top`` (rectangles).

Examples
--------
>>> from fem.mesh import unit_square
>>> mesh = unit_square(4)
>>> mesh.num_points, mesh.num_cells, sorted(mesh.boundaries)
(25, 32, ['bottom', 'boundary', 'left', 'right', 'top'])
>>> mesh.refined().num_cells
128
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import njit

__all__ = ["Mesh", "interval", "l_shape", "rectangle", "unit_square"]

# Relative size below which a cell counts as degenerate (measure / diameter**dim).
_DEGENERACY_TOLERANCE = 1e-12

# Local edges of a triangle: edge k joins local vertices k and (k + 1) mod 3.
_TRIANGLE_EDGES = np.array([[0, 1], [1, 2], [2, 0]], dtype=np.int64)


def _first_bad_cell(points, cells, tolerance):
    """Index of the first cell with non-positive or tiny measure, with its signed measure.

    Returns ``(-1, 0.0)`` when every cell is fine.  A triangle is tiny when twice its
    area is at most ``tolerance`` times its longest edge squared.  Plain NumPy: it runs
    once per mesh, and a kernel would cost every first run its compilation.
    """
    corners = _corners(points, cells)
    if points.shape[1] == 1:
        measures = corners[1][0] - corners[0][0]
        bad = measures <= 0.0
    else:
        (x0, y0), (x1, y1), (x2, y2) = corners
        twice_area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        measures = 0.5 * twice_area
        bad = twice_area <= tolerance * _longest_edge_squared(corners)
    if not bad.any():
        return -1, 0.0
    cell = int(np.argmax(bad))
    return cell, float(measures[cell])


def _corners(points, cells) -> list[list[np.ndarray]]:
    """``corners[k][d]``: coordinate ``d`` of each cell's local vertex ``k``, (n_cells,).

    Contiguous vectors: NumPy is several times slower on the short strided axes of a
    (cells, k, dim) array.
    """
    coordinates = [np.ascontiguousarray(points[:, d]) for d in range(points.shape[1])]
    return [[x[np.ascontiguousarray(cells[:, k])] for x in coordinates]
            for k in range(cells.shape[1])]


def _longest_edge_squared(corners: list[list[np.ndarray]]) -> np.ndarray:
    """The squared length of each cell's longest edge (of its longest vertex pair)."""
    longest = np.zeros(corners[0][0].shape[0])
    for i in range(len(corners)):
        for j in range(i + 1, len(corners)):
            squared = sum((a - b) ** 2 for a, b in zip(corners[i], corners[j], strict=True))
            np.maximum(longest, squared, out=longest)
    return longest


def _max_cell_diameter(points, cells):
    return np.sqrt(_longest_edge_squared(_corners(points, cells)).max())


@njit(cache=True)
def number_edges(cells, num_points):
    """Number the edges of a triangle mesh in linear time.

    Parameters
    ----------
    cells : ndarray of int64, shape (n_cells, 3)
    num_points : int

    Returns
    -------
    edges : ndarray of int64, shape (n_edges, 2)
        Vertex pairs ``(low, high)`` with ``low < high``, sorted by ``low``.
    cell_edges : ndarray of int64, shape (n_cells, 3)
        ``cell_edges[c, k]`` is the edge joining local vertices ``k`` and ``(k + 1) % 3``.
    edge_cell_count : ndarray of int64, shape (n_edges,)
        Number of cells sharing each edge (1 on the boundary).
    oriented_edges : ndarray of int64, shape (n_edges, 2)
        Each edge as the first cell containing it traverses it (counterclockwise).
    """
    num_cells = cells.shape[0]
    start = _edge_rows(cells, num_points)
    cursor = start[:-1].copy()
    higher = np.empty(3 * num_cells, dtype=np.int64)
    slot_owner = np.empty(3 * num_cells, dtype=np.int64)
    for c in range(num_cells):
        for k in range(3):
            a = cells[c, k]
            b = cells[c, (k + 1) % 3]
            low = min(a, b)
            s = cursor[low]
            cursor[low] += 1
            higher[s] = max(a, b)
            slot_owner[s] = 3 * c + k
    edges = np.empty((3 * num_cells, 2), dtype=np.int64)
    oriented = np.empty((3 * num_cells, 2), dtype=np.int64)
    count = np.zeros(3 * num_cells, dtype=np.int64)
    edge_of_slot = np.empty(3 * num_cells, dtype=np.int64)
    cell_edges = np.empty((num_cells, 3), dtype=np.int64)
    num_edges = 0
    for low in range(num_points):
        for s in range(start[low], start[low + 1]):
            high = higher[s]
            found = -1
            # rows hold a handful of entries, so a linear scan beats hashing
            for t in range(start[low], s):
                if higher[t] == high:
                    found = edge_of_slot[t]
                    break
            if found < 0:
                found = num_edges
                edges[found, 0] = low
                edges[found, 1] = high
                owner = slot_owner[s]
                c = owner // 3
                k = owner % 3
                oriented[found, 0] = cells[c, k]
                oriented[found, 1] = cells[c, (k + 1) % 3]
                num_edges += 1
            edge_of_slot[s] = found
            count[found] += 1
            cell_edges[slot_owner[s] // 3, slot_owner[s] % 3] = found
    return (edges[:num_edges].copy(), cell_edges, count[:num_edges].copy(),
            oriented[:num_edges].copy())


@njit(cache=True)
def find_edges(edges, pairs):
    """Edge index of each vertex pair; ``edges`` must be sorted by its first column.

    Returns -1 for a pair that is not an edge.
    """
    found = np.full(pairs.shape[0], -1, dtype=np.int64)
    num_edges = edges.shape[0]
    for f in range(pairs.shape[0]):
        low = min(pairs[f, 0], pairs[f, 1])
        high = max(pairs[f, 0], pairs[f, 1])
        lo = 0
        hi = num_edges
        while lo < hi:  # first edge whose low vertex is >= low
            mid = (lo + hi) // 2
            if edges[mid, 0] < low:
                lo = mid + 1
            else:
                hi = mid
        e = lo
        while e < num_edges and edges[e, 0] == low:
            if edges[e, 1] == high:
                found[f] = e
                break
            e += 1
    return found


@njit(cache=True)
def _edge_rows(cells, num_points):
    """Counting-sort row pointer of the cells' edges keyed by their lower vertex.

    Each edge is counted once per cell that has it, so row ``v`` has room for every
    occurrence of an edge ``(v, w)`` with ``v < w``.
    """
    rows = np.zeros(num_points + 1, dtype=np.int64)
    for c in range(cells.shape[0]):
        for k in range(3):
            rows[min(cells[c, k], cells[c, (k + 1) % 3]) + 1] += 1
    for v in range(num_points):
        rows[v + 1] += rows[v]
    return rows


@njit(cache=True)
def _edge_number(row_start, row_fill, slot_higher, slot_edge, low, high):
    """The number of edge (low, high) in the counting-sort table, or -1 if not there yet."""
    for s in range(row_start[low], row_fill[low]):
        if slot_higher[s] == high:
            return slot_edge[s]
    return -1


@njit(cache=True)
def _refine_triangles(points, cells, facets):
    """Red refinement in one pass: midpoints, children and halved boundary facets.

    Edges are numbered in order of first appearance while the cells are traversed, with
    a counting-sort table ``row``: the edges whose lower vertex is ``v`` sit in
    ``slot_higher/slot_edge[row_start[v]:row_fill[v]]``.  Only the pages that are written
    get touched, which keeps the cost close to that of writing the output.
    """
    num_points = points.shape[0]
    num_cells = cells.shape[0]
    row_start = _edge_rows(cells, num_points)
    row_fill = row_start[:-1].copy()
    slot_higher = np.empty(3 * num_cells, dtype=np.int32)
    slot_edge = np.empty(3 * num_cells, dtype=np.int32)
    # at most 3 n_cells edges; untouched rows of the over-allocation cost nothing
    new_points = np.empty((num_points + 3 * num_cells, 2))
    new_points[:num_points] = points
    children = np.empty((4 * num_cells, 3), dtype=np.int64)
    middle = np.empty(3, dtype=np.int64)
    num_edges = 0
    for c in range(num_cells):
        for k in range(3):
            a = cells[c, k]
            b = cells[c, (k + 1) % 3]
            low = min(a, b)
            high = max(a, b)
            edge = _edge_number(row_start, row_fill, slot_higher, slot_edge, low, high)
            if edge < 0:
                edge = num_edges
                num_edges += 1
                s = row_fill[low]
                row_fill[low] += 1
                slot_higher[s] = high
                slot_edge[s] = edge
                new_points[num_points + edge, 0] = 0.5 * (points[a, 0] + points[b, 0])
                new_points[num_points + edge, 1] = 0.5 * (points[a, 1] + points[b, 1])
            middle[k] = num_points + edge
        v0 = cells[c, 0]
        v1 = cells[c, 1]
        v2 = cells[c, 2]
        r = 4 * c
        children[r, 0] = v0
        children[r, 1] = middle[0]
        children[r, 2] = middle[2]
        children[r + 1, 0] = middle[0]
        children[r + 1, 1] = v1
        children[r + 1, 2] = middle[1]
        children[r + 2, 0] = middle[2]
        children[r + 2, 1] = middle[1]
        children[r + 2, 2] = v2
        children[r + 3, 0] = middle[0]
        children[r + 3, 1] = middle[1]
        children[r + 3, 2] = middle[2]
    halves = np.empty((2 * facets.shape[0], 2), dtype=np.int64)
    not_an_edge = -1
    for f in range(facets.shape[0]):
        a = facets[f, 0]
        b = facets[f, 1]
        edge = _edge_number(row_start, row_fill, slot_higher, slot_edge, min(a, b), max(a, b))
        if edge < 0 and not_an_edge < 0:
            not_an_edge = f
        m = num_points + edge
        halves[2 * f, 0] = a
        halves[2 * f, 1] = m
        halves[2 * f + 1, 0] = m
        halves[2 * f + 1, 1] = b
    return new_points[: num_points + num_edges], children, halves, not_an_edge


def _as_facets(array, dim: int, name: str, num_points: int) -> np.ndarray:
    facets = np.asarray(array)
    if facets.size == 0:
        return np.zeros((0, dim), dtype=np.int64)
    if not np.issubdtype(facets.dtype, np.integer):
        raise ValueError(f"boundary '{name}': facet indices must be integers, got {facets.dtype}")
    if dim == 1 and facets.ndim == 1:
        facets = facets[:, None]
    if facets.ndim != 2 or facets.shape[1] != dim:
        raise ValueError(
            f"boundary '{name}': facets must have shape (k, {dim}), got {facets.shape}")
    if facets.min() < 0 or facets.max() >= num_points:
        bad = int(np.flatnonzero((facets < 0).any(axis=1) | (facets >= num_points).any(axis=1))[0])
        raise ValueError(
            f"boundary '{name}': facet {bad} refers to point {facets[bad].tolist()}, "
            f"outside 0..{num_points - 1}")
    facets = np.array(facets, dtype=np.int64, order="C")  # a copy: frozen below, not theirs
    facets.setflags(write=False)
    return facets


@dataclass(frozen=True, eq=False)
class Mesh:
    r"""An immutable simplicial mesh in one or two dimensions.

    Parameters
    ----------
    points : array_like, shape (n_points, dim) or (n_points,) in 1D
        Vertex coordinates.
    cells : array_like of int, shape (n_cells, dim + 1)
        Vertex indices of each cell.  Intervals must run left to right and triangles
        counterclockwise, i.e. every cell :math:`T` has positive signed measure
        :math:`|T| = \det J_T / \mathrm{dim}!` with :math:`J_T = [x_1 - x_0, \dots]`.
    boundaries : mapping of str to array_like, optional
        Named boundary parts as facet vertex indices, shape (k, 1) in 1D and (k, 2) in 2D.
        The part ``"boundary"`` (all facets that belong to exactly one cell) is added
        when missing.

    Raises
    ------
    ValueError
        For arrays of the wrong shape or type, non-finite coordinates, connectivity
        outside ``0..n_points-1``, or a degenerate or inverted cell (its index is named).

    Examples
    --------
    >>> import numpy as np
    >>> mesh = Mesh(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[0, 1, 2]]))
    >>> mesh.dim, mesh.num_cells, mesh.boundaries["boundary"].shape
    (2, 1, (3, 2))
    >>> Mesh(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[0, 2, 1]]))
    Traceback (most recent call last):
    ...
    ValueError: cell 0 is inverted (clockwise, signed area -0.5); vertices [0, 2, 1]
    """

    points: np.ndarray
    cells: np.ndarray
    boundaries: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = ", ".join(self.boundaries)
        return (f"Mesh(dim={self.dim}, points={self.num_points}, cells={self.num_cells}, "
                f"h={self.h:.3g}, boundaries=[{parts}])")

    def __post_init__(self):
        points = np.asarray(self.points)
        if not np.issubdtype(points.dtype, np.number):
            raise ValueError(f"points must be numeric, got dtype {points.dtype}")
        if points.ndim == 1:
            points = points[:, None]
        if points.ndim != 2 or points.shape[1] not in (1, 2):
            raise ValueError(f"points must have shape (n_points, 1 or 2), got {points.shape}")
        # copies: the mesh freezes its arrays, and must not freeze (or share) the caller's
        points = np.array(points, dtype=np.float64, order="C")
        if not np.all(np.isfinite(points)):
            bad = int(np.flatnonzero(~np.isfinite(points).all(axis=1))[0])
            raise ValueError(f"point {bad} has a non-finite coordinate {points[bad].tolist()}")
        dim = points.shape[1]
        num_points = points.shape[0]

        cells = np.asarray(self.cells)
        if cells.size and not np.issubdtype(cells.dtype, np.integer):
            raise ValueError(f"cells must be integer vertex indices, got dtype {cells.dtype}")
        if cells.ndim != 2 or cells.shape[1] != dim + 1:
            raise ValueError(
                f"cells of a {dim}D mesh must have shape (n_cells, {dim + 1}), got {cells.shape}")
        if cells.shape[0] == 0:
            raise ValueError("a mesh needs at least one cell")
        cells = np.array(cells, dtype=np.int64, order="C")
        low = cells.min()
        high = cells.max()
        if low < 0 or high >= num_points:
            outside = (cells < 0).any(axis=1) | (cells >= num_points).any(axis=1)
            bad = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"cell {bad} refers to vertices {cells[bad].tolist()}, outside 0..{num_points - 1}")
        bad, measure = _first_bad_cell(points, cells, _DEGENERACY_TOLERANCE)
        if bad >= 0:
            kind = "an interval" if dim == 1 else "a triangle"
            if measure < 0.0:
                orientation = "right to left" if dim == 1 else "clockwise"
                what = "length" if dim == 1 else "area"
                raise ValueError(
                    f"cell {bad} is inverted ({orientation}, signed {what} {measure:.6g}); "
                    f"vertices {cells[bad].tolist()}")
            raise ValueError(
                f"cell {bad} is degenerate ({kind} of (almost) zero size {measure:.3g}); "
                f"vertices {cells[bad].tolist()}")

        boundaries = {}
        for name, facets in dict(self.boundaries).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"boundary names must be non-empty strings, got {name!r}")
            boundaries[name] = _as_facets(facets, dim, name, num_points)
        if "boundary" not in boundaries:
            boundaries["boundary"] = _as_facets(_boundary_facets(cells, num_points), dim,
                                                "boundary", num_points)
        points.setflags(write=False)
        cells.setflags(write=False)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "boundaries", boundaries)

    @property
    def dim(self) -> int:
        """Spatial dimension (1 or 2)."""
        return self.points.shape[1]

    @property
    def num_points(self) -> int:
        """Number of vertices."""
        return self.points.shape[0]

    @property
    def num_cells(self) -> int:
        """Number of cells."""
        return self.cells.shape[0]

    @cached_property
    def h(self) -> float:
        """Mesh size: the largest cell diameter :math:`\\max_T \\operatorname{diam} T`."""
        return float(_max_cell_diameter(self.points, self.cells))

    @cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Triangle meshes only: ``(edges, cell_edges)`` as returned by :func:`number_edges`.

        Read-only.  A mesh made by :func:`fem.refine.bisect` receives them from the
        refinement (the same arrays, derived from the parent's edges), any other
        numbers them on first use.

        Examples
        --------
        >>> edges, cell_edges = unit_square(1).edges
        >>> edges.tolist(), cell_edges.tolist()
        ([[0, 1], [0, 3], [0, 2], [1, 3], [2, 3]], [[0, 3, 1], [1, 4, 2]])
        """
        if self.dim != 2:
            raise ValueError("edges are defined for triangle meshes only")
        edges, cell_edges, _, _ = number_edges(self.cells, self.num_points)
        return _frozen(edges, cell_edges)

    def boundary_facets(self, name: str) -> np.ndarray:
        """Facets of the boundary part ``name``; a clear error lists the known names."""
        try:
            return self.boundaries[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown boundary name {name!r}; this mesh has {sorted(self.boundaries)}"
            ) from None

    def refined(self, marked=None) -> Mesh:
        """Uniform refinement, or local refinement of the ``marked`` cells.

        Without ``marked``: every interval into two, every triangle into four (at its
        edge midpoints).  New vertices are the edge midpoints, appended after the old
        points, so a vertex keeps its index.  The children of cell ``c`` are cells
        ``2c, 2c+1`` (1D) or ``4c..4c+3`` (2D); named boundary parts are refined with
        the mesh.

        With ``marked`` (booleans per cell, or cell indices): conforming newest-vertex
        bisection of those cells (:func:`fem.refine.bisect`, which also gives each new
        cell's parent).

        Returns
        -------
        Mesh
            A new mesh (uniformly: with half the mesh size).

        Examples
        --------
        >>> mesh = interval(0.0, 1.0, 2).refined()
        >>> mesh.points[:, 0].tolist(), mesh.cells.tolist()
        ([0.0, 0.5, 1.0, 0.25, 0.75], [[0, 3], [3, 1], [1, 4], [4, 2]])
        >>> interval(0.0, 1.0, 2).refined([False, True]).cells.tolist()
        [[0, 1], [1, 3], [3, 2]]
        """
        if marked is not None:
            from fem.refine import bisect

            return bisect(self, marked).mesh
        num_points = self.num_points
        if self.dim == 1:
            midpoints = 0.5 * (self.points[self.cells[:, 0]] + self.points[self.cells[:, 1]])
            new_index = num_points + np.arange(self.num_cells, dtype=np.int64)
            cells = np.empty((self.num_cells, 2, 2), dtype=np.int64)
            cells[:, 0, 0] = self.cells[:, 0]
            cells[:, 0, 1] = new_index
            cells[:, 1, 0] = new_index
            cells[:, 1, 1] = self.cells[:, 1]
            points = np.concatenate([self.points, midpoints])
            return Mesh(points, cells.reshape(-1, 2), dict(self.boundaries))

        names = list(self.boundaries)
        sizes = [self.boundaries[name].shape[0] for name in names]
        facets = np.concatenate([self.boundaries[name] for name in names])
        points, cells, halves, bad = _refine_triangles(self.points, self.cells, facets)
        offsets = 2 * np.concatenate([[0], np.cumsum(sizes)])
        if bad >= 0:
            name = names[int(np.searchsorted(offsets, 2 * bad, side="right")) - 1]
            raise ValueError(f"boundary '{name}': facet {facets[bad].tolist()} is not an edge "
                             f"of the mesh")
        boundaries = {name: halves[offsets[i]:offsets[i + 1]] for i, name in enumerate(names)}
        return Mesh(points, cells, boundaries)

    def with_boundary(self, name: str, predicate: Callable[..., np.ndarray]) -> Mesh:
        """A copy of the mesh with a new boundary part: the facets where ``predicate`` holds.

        Parameters
        ----------
        name : str
            Name of the new part (replaces an existing part of that name).
        predicate : callable
            ``predicate(x)`` in 1D, ``predicate(x, y)`` in 2D, vectorised, returning booleans.
            A facet belongs to the part when the predicate holds at its midpoint
            (the point itself in 1D); only facets of ``"boundary"`` are considered.

        Examples
        --------
        >>> mesh = unit_square(2).with_boundary("inflow", lambda x, y: x < 0.5)
        >>> mesh.boundaries["inflow"].shape
        (4, 2)
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"boundary names must be non-empty strings, got {name!r}")
        if not callable(predicate):
            raise ValueError(f"boundary '{name}': predicate must be callable")
        facets = self.boundaries["boundary"]
        midpoints = self.points[facets].mean(axis=1)
        selected = np.asarray(predicate(*midpoints.T))
        if selected.shape == ():
            selected = np.full(facets.shape[0], bool(selected))
        if selected.shape != (facets.shape[0],):
            raise ValueError(
                f"boundary '{name}': predicate returned shape {selected.shape}, expected "
                f"({facets.shape[0]},)")
        boundaries = dict(self.boundaries)
        boundaries[name] = facets[selected.astype(bool)]
        return Mesh(self.points, self.cells, boundaries)


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


def _with_edges(points, cells, boundaries, edges: np.ndarray, cell_edges: np.ndarray) -> Mesh:
    """``Mesh(points, cells, boundaries)`` whose :attr:`Mesh.edges` are the given ones.

    For a construction that knows the numbering already (a refinement derives its
    child's from the parent's): the arrays must equal the first two results of
    :func:`number_edges`, which is not checked here (it would cost the numbering
    saved; the tests compare them).  They are frozen, not copied.
    """
    mesh = Mesh(points, cells, boundaries)
    if cell_edges.shape != (mesh.num_cells, 3) or edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges (n, 2) and cell_edges ({mesh.num_cells}, 3) expected, got "
                         f"{edges.shape} and {cell_edges.shape}")
    # the cache of the cached_property: a frozen dataclass refuses plain assignment
    object.__setattr__(mesh, "edges", _frozen(edges, cell_edges))
    return mesh


def _boundary_facets(cells: np.ndarray, num_points: int) -> np.ndarray:
    if cells.shape[1] == 2:
        counts = np.bincount(cells.ravel(), minlength=num_points)
        return np.flatnonzero(counts == 1)[:, None]
    _, _, count, oriented = number_edges(cells, num_points)
    return oriented[count == 1]


def interval(a: float = 0.0, b: float = 1.0, n: int = 10, *, points=None) -> Mesh:
    """Mesh of the interval :math:`[a, b]`: ``n`` equal cells, or the given increasing ``points``.

    Boundary parts ``left`` and ``right`` (and ``boundary``, both ends).

    Examples
    --------
    >>> interval(0.0, 2.0, 4).points[:, 0].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    >>> interval(points=[0.0, 0.1, 1.0]).num_cells
    2
    """
    if points is None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"interval: n must be a positive integer, got {n!r}")
        if not (np.isfinite(a) and np.isfinite(b)) or not a < b:
            raise ValueError(f"interval: need finite a < b, got a={a!r}, b={b!r}")
        coordinates = np.linspace(a, b, int(n) + 1)
    else:
        coordinates = np.asarray(points, dtype=np.float64).ravel()
        if coordinates.size < 2:
            raise ValueError("interval: need at least two points")
        if not np.all(np.isfinite(coordinates)):
            raise ValueError("interval: points must be finite")
        steps = np.diff(coordinates)
        if np.any(steps <= 0):
            bad = int(np.flatnonzero(steps <= 0)[0])
            raise ValueError(f"interval: points must increase strictly; cell {bad} has "
                             f"{coordinates[bad]!r} >= {coordinates[bad + 1]!r}")
    count = coordinates.size - 1
    cells = np.column_stack([np.arange(count), np.arange(1, count + 1)]).astype(np.int64)
    boundaries = {"left": np.array([[0]]), "right": np.array([[count]]),
                  "boundary": np.array([[0], [count]])}
    return Mesh(coordinates[:, None], cells, boundaries)


def rectangle(x0: float, x1: float, y0: float, y1: float, nx: int, ny: int) -> Mesh:
    """Triangle mesh of :math:`[x_0, x_1] \\times [y_0, y_1]` with ``nx * ny`` squares cut in two.

    Each square is split along the diagonal from its lower-left to its upper-right corner.
    Boundary parts ``left``, ``right``, ``bottom``, ``top`` and ``boundary``, oriented
    counterclockwise.

    Examples
    --------
    >>> mesh = rectangle(0.0, 2.0, 0.0, 1.0, 4, 2)
    >>> mesh.num_cells, mesh.boundaries["top"].shape
    (16, (4, 2))
    """
    for label, value in (("nx", nx), ("ny", ny)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"rectangle: {label} must be a positive integer, got {value!r}")
    if not all(np.isfinite(v) for v in (x0, x1, y0, y1)) or not (x0 < x1 and y0 < y1):
        raise ValueError(f"rectangle: need finite x0 < x1 and y0 < y1, got "
                         f"{(x0, x1, y0, y1)!r}")
    nx = int(nx)
    ny = int(ny)
    xs = np.linspace(x0, x1, nx + 1)
    ys = np.linspace(y0, y1, ny + 1)
    points = np.empty((ny + 1, nx + 1, 2))
    points[:, :, 0] = xs[None, :]
    points[:, :, 1] = ys[:, None]
    row = nx + 1
    lower_left = (np.arange(ny, dtype=np.int64)[:, None] * row
                  + np.arange(nx, dtype=np.int64)[None, :])
    cells = np.empty((ny, nx, 2, 3), dtype=np.int64)
    cells[:, :, 0, 0] = lower_left
    cells[:, :, 0, 1] = lower_left + 1
    cells[:, :, 0, 2] = lower_left + row + 1
    cells[:, :, 1, 0] = lower_left
    cells[:, :, 1, 1] = lower_left + row + 1
    cells[:, :, 1, 2] = lower_left + row
    i = np.arange(nx, dtype=np.int64)
    j = np.arange(ny, dtype=np.int64)
    bottom = np.column_stack([i, i + 1])
    right = np.column_stack([j * row + nx, (j + 1) * row + nx])
    top = np.column_stack([ny * row + i + 1, ny * row + i])[::-1]
    left = np.column_stack([(j + 1) * row, j * row])[::-1]
    boundaries = {"left": left, "right": right, "bottom": bottom, "top": top,
                  "boundary": np.concatenate([bottom, right, top, left])}
    return Mesh(points.reshape(-1, 2), cells.reshape(-1, 3), boundaries)


def unit_square(n: int) -> Mesh:
    """Triangle mesh of the unit square with ``n x n`` squares (``2 n^2`` triangles).

    Examples
    --------
    >>> unit_square(8).num_cells
    128
    """
    return rectangle(0.0, 1.0, 0.0, 1.0, n, n)


def l_shape(n: int) -> Mesh:
    """Triangle mesh of the L-shaped domain :math:`(-1, 1)^2 \\setminus [0, 1) \\times (-1, 0]`.

    ``n`` squares per unit length (``6 n^2`` triangles); the re-entrant corner is the
    origin.  Boundary part ``boundary`` only.

    Examples
    --------
    >>> l_shape(2).num_cells
    24
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"l_shape: n must be a positive integer, got {n!r}")
    square = rectangle(-1.0, 1.0, -1.0, 1.0, 2 * n, 2 * n)
    centroids = square.points[square.cells].mean(axis=1)
    keep = ~((centroids[:, 0] > 0.0) & (centroids[:, 1] < 0.0))
    cells = square.cells[keep]
    used = np.zeros(square.num_points, dtype=bool)
    used[cells.ravel()] = True
    new_index = np.cumsum(used) - 1
    return Mesh(square.points[used], new_index[cells])
