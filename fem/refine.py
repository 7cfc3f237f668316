r"""Local refinement: newest-vertex bisection of triangles, bisection of intervals.

Newest-vertex bisection keeps in each triangle :math:`(v_0, v_1, v_2)` a *refinement
edge*, here always :math:`(v_0, v_1)`, opposite the newest vertex :math:`v_2`.  Bisecting
it at its midpoint :math:`m` gives the children :math:`(v_2, v_0, m)` and
:math:`(v_1, v_2, m)`: counterclockwise again, with :math:`m` as their newest vertex.
A marked cell has all three edges marked (three bisections, four children); the
closure then marks the refinement edge of every cell with a marked edge until none is
missing, so that each cell is cut into 1, 2, 3 or 4 children and the mesh stays
conforming.  All descendants of a triangle fall into at most four similarity classes
(Sewell 1972; Mitchell 1991), so the angles stay bounded below.  Edges chosen as
refinement edges by :func:`longest_edge_first` make the labelling of a mesh of
right-angled triangles (those of :func:`fem.mesh.rectangle`) produce right isosceles
children only.

Intervals are simply halved.  New vertices follow the old ones, whose indices stay;
the children of a cell are consecutive and in the order of their parents.

Examples
--------
>>> import numpy as np
>>> from fem.mesh import unit_square
>>> mesh = longest_edge_first(unit_square(2))
>>> marked = np.zeros(mesh.num_cells, dtype=bool)
>>> marked[0] = True
>>> refinement = bisect(mesh, marked)
>>> refinement.mesh.num_cells, refinement.parents[:6].tolist()
(15, [0, 0, 0, 0, 1, 1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from fem.assembly import _inverse_jacobian
from fem.element import FunctionSpace, dof_vector
from fem.mesh import Mesh, _with_edges, find_edges

__all__ = ["Refinement", "bisect", "longest_edge_first", "prolongate"]


@dataclass(frozen=True, eq=False)
class Refinement:
    """A refined mesh and, for each of its cells, the cell of the coarse mesh it lies in."""

    coarse: Mesh
    mesh: Mesh
    parents: np.ndarray


def _marked_cells(mesh: Mesh, marked) -> np.ndarray:
    marked = np.asarray(marked)
    if marked.dtype != bool:
        if not np.issubdtype(marked.dtype, np.integer):
            raise ValueError(f"marked must be booleans per cell or cell indices, got dtype "
                             f"{marked.dtype}")
        if marked.size and (marked.min() < 0 or marked.max() >= mesh.num_cells):
            raise ValueError(f"marked cell indices must lie in 0..{mesh.num_cells - 1}")
        flags = np.zeros(mesh.num_cells, dtype=bool)
        flags[marked.ravel()] = True
        return flags
    if marked.shape != (mesh.num_cells,):
        raise ValueError(f"marked must have shape ({mesh.num_cells},), got {marked.shape}")
    return marked


def bisect(mesh: Mesh, marked) -> Refinement:
    """Refine the ``marked`` cells (and, on triangles, what conformity needs).

    Parameters
    ----------
    mesh : Mesh
    marked : array_like of bool, shape (n_cells,), or of cell indices

    Returns
    -------
    Refinement
        The new mesh, with every named boundary part carried to its halves (and, on
        triangles, its :attr:`~fem.mesh.Mesh.edges` already numbered: derived from the
        parent's, whose numbering the refinement uses), and the parent of each new cell.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> refinement = bisect(interval(0.0, 1.0, 2), [True, False])
    >>> refinement.mesh.points[:, 0].tolist(), refinement.mesh.cells.tolist()
    ([0.0, 0.5, 1.0, 0.25], [[0, 3], [3, 1], [1, 2]])
    """
    if not isinstance(mesh, Mesh):
        raise ValueError(f"expected a Mesh, got {type(mesh).__name__}")
    marked = _marked_cells(mesh, marked)
    if mesh.dim == 1:
        return _bisect_intervals(mesh, marked)
    return _bisect_triangles(mesh, marked)


def _bisect_intervals(mesh: Mesh, marked: np.ndarray) -> Refinement:
    cells = mesh.cells
    chosen = np.flatnonzero(marked)
    middle = np.full(mesh.num_cells, -1, dtype=np.int64)
    middle[chosen] = mesh.num_points + np.arange(chosen.size)
    points = np.concatenate([mesh.points, mesh.points[cells[chosen]].mean(axis=1)])
    children = 1 + marked.astype(np.int64)
    parents = np.repeat(np.arange(mesh.num_cells), children)
    first = np.concatenate([[0], np.cumsum(children)[:-1]])
    new_cells = np.empty((parents.size, 2), dtype=np.int64)
    new_cells[first] = cells
    new_cells[first[chosen], 1] = middle[chosen]
    new_cells[first[chosen] + 1] = np.column_stack([middle[chosen], cells[chosen, 1]])
    return Refinement(mesh, Mesh(points, new_cells, dict(mesh.boundaries)), parents)


@njit(cache=True)
def _closure(cell_edges, marked_edges):
    """Mark the refinement edge (local edge 0) of every cell that has a marked edge.

    Sweeps over the cells until one marks nothing: the result is the least set that
    contains the given marks and is closed, whatever the order of the marking.
    """
    changed = True
    while changed:
        changed = False
        for c in range(cell_edges.shape[0]):
            if not marked_edges[cell_edges[c, 0]] and (marked_edges[cell_edges[c, 1]]
                                                       or marked_edges[cell_edges[c, 2]]):
                marked_edges[cell_edges[c, 0]] = True
                changed = True


def _bisect_triangles(mesh: Mesh, marked: np.ndarray) -> Refinement:
    edges, cell_edges = mesh.edges
    marked_edges = np.zeros(edges.shape[0], dtype=bool)
    marked_edges[cell_edges[marked].ravel()] = True
    _closure(cell_edges, marked_edges)
    new_vertex = np.full(edges.shape[0], -1, dtype=np.int64)
    split = np.flatnonzero(marked_edges)
    new_vertex[split] = mesh.num_points + np.arange(split.size)
    # not .mean(axis=1) of an (n, 2, 2) gather: NumPy reduces short axes slowly
    midpoints = 0.5 * (mesh.points[edges[split, 0]] + mesh.points[edges[split, 1]])
    points = np.concatenate([mesh.points, midpoints])
    cells, parents, child_edges, child_cell_edges = _children(
        mesh.cells, edges, cell_edges, new_vertex, points.shape[0])
    boundaries = {name: _split_facets(facets, edges, new_vertex)
                  for name, facets in mesh.boundaries.items()}
    child = _with_edges(points, cells, boundaries, child_edges, child_cell_edges)
    return Refinement(mesh, child, parents)


def _children(cells: np.ndarray, edges: np.ndarray, cell_edges: np.ndarray,
              new_vertex: np.ndarray, num_points: int):
    """Children, parents and the children's edges as :func:`fem.mesh.number_edges`
    numbers them, given the new vertex on each parent edge (or -1) and the number of
    points of the child.

    After the closure a cell with a split edge has its refinement edge (local edge 0)
    split at :math:`m_0`; its first child :math:`(v_2, v_0, m_0)` has the old edge 2 as
    its refinement edge, the second :math:`(v_1, v_2, m_0)` the old edge 1, and each is
    bisected again where that edge is split.  The children's edges are the parent
    edges, each split one as its two halves, and the edges inside the parents: the
    bisector :math:`(v_2, m_0)` and one more per further bisection.  None of them needs
    a search (so no vertex pair is looked up, as number_edges must); one pass over the
    children puts them in its order.
    """
    num_cells = cells.shape[0]
    pieces = np.where(new_vertex >= 0, 2, 1)
    first_edge = np.concatenate([[0], np.cumsum(pieces)])
    split = new_vertex[cell_edges] >= 0
    count = np.where(split[:, 0], 2 + split[:, 1] + split[:, 2], 1)
    first_child = np.concatenate([[0], np.cumsum(count)])
    # a cell with c children holds c - 1 edges inside it
    first_inner = first_edge[-1] + first_child[:-1] - np.arange(num_cells)
    num_children = int(first_child[-1])
    num_edges = int(first_edge[-1]) + num_children - num_cells
    children = np.empty((num_children, 3), dtype=np.int64)
    child_cell_edges = np.empty((num_children, 3), dtype=np.int64)
    unsorted = np.empty((num_edges, 2), dtype=np.int64)
    _children_kernel(cells, edges, cell_edges, new_vertex, first_edge, first_child,
                     first_inner, children, child_cell_edges, unsorted)
    child_edges = np.empty_like(unsorted)
    _number_by_first_use(unsorted, np.zeros(num_points + 1, dtype=np.int64),
                         np.full(num_edges, -1, dtype=np.int64), child_edges, child_cell_edges)
    parents = np.repeat(np.arange(num_cells), count)
    return children, parents, child_edges, child_cell_edges


@njit(cache=True)
def _piece(edges, new_vertex, first_edge, e, v):
    """The child edge of parent edge ``e`` that ends at its vertex ``v``."""
    if new_vertex[e] >= 0 and v != edges[e, 0]:
        return first_edge[e] + 1
    return first_edge[e]


@njit(cache=True)
def _put(children, child_cell_edges, r, vertices, edges_of):
    for k in range(3):
        children[r, k] = vertices[k]
        child_cell_edges[r, k] = edges_of[k]


@njit(cache=True)
def _edge(child_edges, i, a, b):
    child_edges[i, 0] = min(a, b)
    child_edges[i, 1] = max(a, b)


@njit(cache=True)
def _children_kernel(cells, edges, cell_edges, new_vertex, first_edge, first_child,
                     first_inner, children, child_cell_edges, child_edges):
    """Fill ``children`` and ``child_cell_edges`` (rows ``first_child[c]..`` for cell
    ``c``) and ``child_edges``, unsorted: the pieces of parent edge ``e`` at
    ``first_edge[e]`` (the half at its lower vertex first), the edges inside cell ``c``
    from ``first_inner[c]``."""
    for e in range(edges.shape[0]):
        t = first_edge[e]
        m = new_vertex[e]
        if m < 0:
            _edge(child_edges, t, edges[e, 0], edges[e, 1])
        else:
            _edge(child_edges, t, edges[e, 0], m)
            _edge(child_edges, t + 1, edges[e, 1], m)
    for c in range(cells.shape[0]):
        v0, v1, v2 = cells[c, 0], cells[c, 1], cells[c, 2]
        e0, e1, e2 = cell_edges[c, 0], cell_edges[c, 1], cell_edges[c, 2]
        r = first_child[c]
        m0 = new_vertex[e0]
        if m0 < 0:
            _put(children, child_cell_edges, r, (v0, v1, v2),
                 (first_edge[e0], first_edge[e1], first_edge[e2]))
            continue
        bisector = first_inner[c]
        _edge(child_edges, bisector, v2, m0)
        inner = bisector + 1
        at_v0 = _piece(edges, new_vertex, first_edge, e0, v0)
        at_v1 = _piece(edges, new_vertex, first_edge, e0, v1)
        m2 = new_vertex[e2]
        if m2 < 0:
            _put(children, child_cell_edges, r, (v2, v0, m0),
                 (first_edge[e2], at_v0, bisector))
            r += 1
        else:  # (v2, v0, m0) bisected at m2
            _edge(child_edges, inner, m0, m2)
            _put(children, child_cell_edges, r, (m0, v2, m2),
                 (bisector, _piece(edges, new_vertex, first_edge, e2, v2), inner))
            _put(children, child_cell_edges, r + 1, (v0, m0, m2),
                 (at_v0, inner, _piece(edges, new_vertex, first_edge, e2, v0)))
            r += 2
            inner += 1
        m1 = new_vertex[e1]
        if m1 < 0:
            _put(children, child_cell_edges, r, (v1, v2, m0),
                 (first_edge[e1], bisector, at_v1))
        else:  # (v1, v2, m0) bisected at m1
            _edge(child_edges, inner, m0, m1)
            _put(children, child_cell_edges, r, (m0, v1, m1),
                 (at_v1, _piece(edges, new_vertex, first_edge, e1, v1), inner))
            _put(children, child_cell_edges, r + 1, (v2, m0, m1),
                 (bisector, inner, _piece(edges, new_vertex, first_edge, e1, v2)))


@njit(cache=True)
def _number_by_first_use(unsorted, rows, position, out, cell_edges):
    """Renumber the edges ``unsorted`` into ``out`` in the order of :func:`number_edges`:
    by lower vertex, and among the edges of one lower vertex by the first (cell, local
    edge) that has them; ``cell_edges`` is renumbered to match.  Work space: ``rows``
    (n_points + 1 zeros), ``position`` (n_edges times -1)."""
    for e in range(unsorted.shape[0]):
        rows[unsorted[e, 0] + 1] += 1
    for v in range(rows.shape[0] - 1):
        rows[v + 1] += rows[v]
    for c in range(cell_edges.shape[0]):
        for k in range(3):
            e = cell_edges[c, k]
            if position[e] < 0:
                low = unsorted[e, 0]
                position[e] = rows[low]
                rows[low] += 1
                out[position[e], 0] = low
                out[position[e], 1] = unsorted[e, 1]
            cell_edges[c, k] = position[e]


def _split_facets(facets: np.ndarray, edges: np.ndarray, new_vertex: np.ndarray) -> np.ndarray:
    """Boundary facets with each split edge replaced by its two halves, in place and order."""
    if facets.shape[0] == 0:
        return facets
    edge = find_edges(edges, facets)
    if np.any(edge < 0):
        bad = facets[int(np.flatnonzero(edge < 0)[0])].tolist()
        raise ValueError(f"boundary facet {bad} is not an edge of the mesh")
    middle = new_vertex[edge]
    split = middle >= 0
    count = 1 + split.astype(np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    result = np.empty((int(count.sum()), 2), dtype=np.int64)
    result[first] = facets
    result[first[split], 1] = middle[split]
    result[first[split] + 1] = np.column_stack([middle[split], facets[split, 1]])
    return result


def longest_edge_first(mesh: Mesh) -> Mesh:
    """The same mesh with every triangle's vertices rotated so that its longest edge is
    its refinement edge :math:`(v_0, v_1)` (the first longest, for ties).

    Rotation keeps the orientation, the points and the boundary parts; intervals are
    returned as they are.

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> unit_square(1).cells.tolist(), longest_edge_first(unit_square(1)).cells.tolist()
    ([[0, 1, 3], [0, 3, 2]], [[3, 0, 1], [0, 3, 2]])
    """
    if mesh.dim == 1:
        return mesh
    corners = mesh.points[mesh.cells]
    lengths = ((np.roll(corners, -1, axis=1) - corners) ** 2).sum(axis=2)
    # a tolerance so that equal lengths computed in different orders count as equal
    longest = np.argmax(lengths >= lengths.max(axis=1, keepdims=True) * (1 - 1e-12), axis=1)
    order = (longest[:, None] + np.arange(3)[None, :]) % 3
    cells = np.take_along_axis(mesh.cells, order, axis=1)
    return Mesh(mesh.points, cells, dict(mesh.boundaries))


@njit(cache=True)
def _prolongate_kernel(coarse_points, coarse_cells, coarse_dofs, parents, u, dof_points,
                       fine_dofs, degree, out, inverse, barycentric):
    """``out[fine_dofs[c, i]]`` = the coarse function at that DOF's point, in cell
    ``parents[c]``.  Work space: ``inverse`` (dim, dim), ``barycentric`` (dim + 1)."""
    dim = coarse_points.shape[1]
    for c in range(fine_dofs.shape[0]):
        p = parents[c]
        _inverse_jacobian(coarse_points, coarse_cells, p, inverse)
        origin = coarse_cells[p, 0]
        for i in range(fine_dofs.shape[1]):
            dof = fine_dofs[c, i]
            barycentric[0] = 1.0
            for e in range(dim):
                s = 0.0
                for d in range(dim):
                    s += inverse[e, d] * (dof_points[dof, d] - coarse_points[origin, d])
                barycentric[e + 1] = s
                barycentric[0] -= s
            value = 0.0
            if degree == 1:
                for j in range(dim + 1):
                    value += u[coarse_dofs[p, j]] * barycentric[j]
            else:
                for j in range(dim + 1):
                    value += u[coarse_dofs[p, j]] * barycentric[j] * (2.0 * barycentric[j] - 1.0)
                for m in range(coarse_dofs.shape[1] - dim - 1):
                    a = m
                    b = (m + 1) % (dim + 1)
                    value += u[coarse_dofs[p, dim + 1 + m]] * 4.0 * barycentric[a] * barycentric[b]
            out[dof] = value


def prolongate(coarse_space: FunctionSpace, u, space: FunctionSpace,
               parents: np.ndarray) -> np.ndarray:
    """The function ``u`` of ``coarse_space`` as a vector of the finer, nested ``space``.

    Each DOF of ``space`` takes the value of ``u`` at its point, evaluated in the
    parent cell; since the spaces are nested this is exact.

    Parameters
    ----------
    coarse_space, space : FunctionSpace
        Of the same degree; ``space`` on a refinement of ``coarse_space``'s mesh.
    u : ndarray, shape (coarse_space.num_dofs,)
    parents : ndarray of int, shape (space.mesh.num_cells,)
        :attr:`Refinement.parents`.

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space, interpolate
    >>> coarse = function_space(unit_square(2), 2)
    >>> refinement = bisect(coarse.mesh, [True] + [False] * 7)
    >>> fine = function_space(refinement.mesh, 2)
    >>> u = prolongate(coarse, interpolate(coarse, lambda x, y: x * y), fine,
    ...                refinement.parents)
    >>> bool(np.allclose(u, interpolate(fine, lambda x, y: x * y)))
    True
    """
    u = dof_vector(coarse_space, u)
    parents = np.asarray(parents, dtype=np.int64)
    if parents.shape != (space.mesh.num_cells,):
        raise ValueError(f"parents must have shape ({space.mesh.num_cells},), got "
                         f"{parents.shape}")
    if parents.size and (parents.min() < 0 or parents.max() >= coarse_space.mesh.num_cells):
        raise ValueError(f"parents must lie in 0..{coarse_space.mesh.num_cells - 1}")
    if coarse_space.degree != space.degree:
        raise ValueError(f"the spaces differ in degree: P{coarse_space.degree} and "
                         f"P{space.degree}")
    coarse = coarse_space.mesh
    result = np.empty(space.num_dofs)
    _prolongate_kernel(coarse.points, coarse.cells, coarse_space.cell_dofs, parents, u,
                       space.dof_points, space.cell_dofs, space.degree, result,
                       np.empty((coarse.dim, coarse.dim)), np.empty(coarse.dim + 1))
    return result
