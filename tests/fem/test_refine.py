"""Newest-vertex bisection: conformity, shape regularity, boundary parts, areas, nesting."""

import numpy as np
import pytest

import fem.mesh
from fem.element import function_space, interpolate
from fem.mesh import Mesh, find_edges, interval, l_shape, number_edges, rectangle, unit_square
from fem.problems import solve_stationary
from fem.refine import bisect, longest_edge_first, prolongate


def areas(mesh):
    corners = mesh.points[mesh.cells]
    first, second = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    return 0.5 * (first[:, 0] * second[:, 1] - first[:, 1] * second[:, 0])


def smallest_angle(points):
    """Smallest angle (degrees) of triangles given as corner arrays (n, 3, 2)."""
    smallest = np.inf
    for k in range(3):
        u = points[:, (k + 1) % 3] - points[:, k]
        v = points[:, (k + 2) % 3] - points[:, k]
        cosine = (u * v).sum(axis=1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        smallest = min(smallest, float(np.degrees(np.arccos(np.clip(cosine, -1, 1))).min()))
    return smallest


def bisection_family_minimum(mesh, generations=8):
    """Smallest angle among all descendants of the mesh's triangles under bisection.

    Written out here from the definition (a triangle (a, b, c) is cut at the midpoint
    m of (a, b) into (c, a, m) and (b, c, m)), independently of fem.refine.
    """
    triangles = mesh.points[mesh.cells]
    smallest = smallest_angle(triangles)
    for _ in range(generations):
        a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
        m = 0.5 * (a + b)
        triangles = np.concatenate([np.stack([c, a, m], axis=1), np.stack([b, c, m], axis=1)])
        smallest = min(smallest, smallest_angle(triangles))
    return smallest


def random_refinements(mesh, steps, seed=0, fraction=0.1):
    rng = np.random.default_rng(seed)
    meshes = [mesh]
    for _ in range(steps):
        marked = rng.random(mesh.num_cells) < fraction
        mesh = mesh.refined(marked)
        meshes.append(mesh)
    return meshes


def corner_refinements(mesh, steps):
    """Refine the cells touching the origin, as an estimator does at a singularity."""
    meshes = [mesh]
    for _ in range(steps):
        touching = (np.linalg.norm(mesh.points[mesh.cells], axis=2) < 1e-12).any(axis=1)
        mesh = mesh.refined(touching)
        meshes.append(mesh)
    return meshes


MESHES = {
    "square": lambda: unit_square(3),
    "square, longest edge first": lambda: longest_edge_first(unit_square(3)),
    "l-shape, longest edge first": lambda: longest_edge_first(l_shape(2)),
    "stretched rectangle": lambda: rectangle(0.0, 3.0, 0.0, 1.0, 4, 3),
}


@pytest.fixture(scope="module", params=list(MESHES), ids=list(MESHES))
def family(request):
    mesh = MESHES[request.param]()
    return mesh, random_refinements(mesh, 6) + corner_refinements(mesh, 8)[1:]


def test_every_interior_edge_is_shared_by_two_cells(family):
    _, meshes = family
    for mesh in meshes:
        edges, _, count, _ = number_edges(mesh.cells, mesh.num_points)
        assert count.max() == 2
        # the edges with one cell are exactly the boundary: no hanging vertex inside
        outer = {tuple(edge) for edge in edges[count == 1]}
        assert outer == {tuple(sorted(facet)) for facet in mesh.boundaries["boundary"]}


def assert_same_edges(mesh, edges, cell_edges):
    """The numbering is the one number_edges finds on the mesh's cells, and edge k of
    each cell joins its local vertices k and k + 1, as (low, high)."""
    fresh, fresh_cell_edges, _, _ = number_edges(mesh.cells, mesh.num_points)
    assert edges.dtype == cell_edges.dtype == np.int64
    assert np.array_equal(edges, fresh) and np.array_equal(cell_edges, fresh_cell_edges)
    # independently of number_edges: the pairs as sets, the cells' edges, the order
    assert (edges[:, 0] < edges[:, 1]).all() and (np.diff(edges[:, 0]) >= 0).all()
    ends = np.stack([mesh.cells, np.roll(mesh.cells, -1, axis=1)], axis=2)
    pairs = {tuple(pair) for pair in np.sort(ends, axis=2).reshape(-1, 2).tolist()}
    assert {tuple(edge) for edge in edges.tolist()} == pairs and len(pairs) == len(edges)
    assert np.array_equal(edges[cell_edges], np.sort(ends, axis=2))
    assert np.array_equal(find_edges(edges, ends.reshape(-1, 2)), cell_edges.ravel())


def test_a_refinement_hands_its_child_the_edges_a_fresh_numbering_finds(family):
    _, meshes = family
    for mesh in meshes[1:]:
        assert "edges" in vars(mesh)  # handed over by the refinement, not numbered again
        edges, cell_edges = mesh.edges
        assert not edges.flags.writeable and not cell_edges.flags.writeable
        assert_same_edges(mesh, edges, cell_edges)


@pytest.mark.parametrize("seed", range(4))
def test_handed_over_edges_on_heavier_random_refinements(seed):
    mesh = longest_edge_first(l_shape(2))
    for refined in random_refinements(mesh, 5, seed=seed, fraction=0.4):
        assert_same_edges(refined, *refined.edges)
        # so a P2 space numbers its DOFs as on the same mesh built afresh
        fresh = Mesh(refined.points, refined.cells, refined.boundaries)
        assert "edges" not in vars(fresh)
        assert np.array_equal(function_space(refined, 2).cell_dofs,
                              function_space(fresh, 2).cell_dofs)


def test_the_adaptive_loop_numbers_the_edges_of_its_first_mesh_only(monkeypatch):
    mesh = longest_edge_first(l_shape(2))
    mesh.edges  # noqa: B018 (numbered here, before number_edges is taken away)

    def refused(*arguments):
        raise AssertionError("number_edges called again")

    monkeypatch.setattr(fem.mesh, "number_edges", refused)
    for refined in corner_refinements(mesh, 4)[1:] + random_refinements(mesh, 3)[1:]:
        space = function_space(refined, 2)
        assert space.num_dofs == refined.num_points + refined.edges[0].shape[0]


def test_no_angle_below_the_bisection_family_minimum(family):
    initial, meshes = family
    floor = bisection_family_minimum(initial)
    assert floor > 10.0  # the family is shape regular
    for mesh in meshes[1:]:
        assert smallest_angle(mesh.points[mesh.cells]) >= floor - 1e-9


def test_right_triangles_labelled_by_their_longest_edge_stay_right_isosceles():
    mesh = longest_edge_first(unit_square(2))
    for refined in random_refinements(mesh, 5) + corner_refinements(mesh, 5):
        assert smallest_angle(refined.points[refined.cells]) == pytest.approx(45.0)


def test_areas_add_up_to_the_domain_and_every_cell_is_counterclockwise(family):
    initial, meshes = family
    total = areas(initial).sum()
    for mesh in meshes:
        assert (areas(mesh) > 0).all()
        assert areas(mesh).sum() == pytest.approx(total, rel=1e-13)


def test_boundary_parts_are_carried_to_the_halves(family):
    initial, meshes = family
    for mesh in meshes:
        assert list(mesh.boundaries) == list(initial.boundaries)
        for name, coarse in initial.boundaries.items():
            fine = mesh.boundaries[name]
            length = np.linalg.norm(np.diff(mesh.points[fine], axis=1)[:, 0], axis=1).sum()
            expected = np.linalg.norm(np.diff(initial.points[coarse], axis=1)[:, 0],
                                      axis=1).sum()
            assert length == pytest.approx(expected, rel=1e-13)
            # every half lies on a facet of the same part, in the same direction
            start, end = mesh.points[fine[:, 0]], mesh.points[fine[:, 1]]
            a, b = initial.points[coarse[:, 0]], initial.points[coarse[:, 1]]
            along = b - a
            for point in (start, end, 0.5 * (start + end)):
                offset = point[:, None, :] - a[None, :, :]
                cross = offset[..., 0] * along[None, :, 1] - offset[..., 1] * along[None, :, 0]
                t = (offset * along[None]).sum(axis=2) / (along**2).sum(axis=1)[None]
                on_segment = (np.abs(cross) < 1e-12) & (t > -1e-12) & (t < 1 + 1e-12)
                assert on_segment.any(axis=1).all()
            direction = end - start
            assert (np.einsum("fd,gd->fg", direction, along).max(axis=1) > 0).all()


def test_children_follow_their_parents_and_old_vertices_keep_their_index():
    mesh = longest_edge_first(l_shape(2))
    marked = np.zeros(mesh.num_cells, dtype=bool)
    marked[[0, 5]] = True
    refinement = bisect(mesh, marked)
    assert np.all(np.diff(refinement.parents) >= 0)
    assert np.array_equal(refinement.mesh.points[: mesh.num_points], mesh.points)
    assert np.bincount(refinement.parents)[[0, 5]].tolist() == [4, 4]
    inside = refinement.mesh.points[refinement.mesh.cells].mean(axis=1)
    parent_corners = mesh.points[mesh.cells[refinement.parents]]
    # the centroid of each child lies in its parent: barycentric coordinates >= 0
    first = parent_corners[:, 1] - parent_corners[:, 0]
    second = parent_corners[:, 2] - parent_corners[:, 0]
    jacobians = np.stack([first, second], axis=2)
    local = np.linalg.solve(jacobians, (inside - parent_corners[:, 0])[..., None])[..., 0]
    assert (local >= -1e-12).all() and (local.sum(axis=1) <= 1 + 1e-12).all()


def test_marking_by_indices_equals_marking_by_flags():
    mesh = unit_square(3)
    flags = np.zeros(mesh.num_cells, dtype=bool)
    flags[[1, 7]] = True
    assert np.array_equal(mesh.refined(flags).cells, mesh.refined(np.array([1, 7])).cells)
    assert mesh.refined(np.zeros(mesh.num_cells, dtype=bool)).num_cells == mesh.num_cells


def test_intervals_are_halved_where_marked():
    mesh = interval(0.0, 2.0, 4)
    refined = mesh.refined(np.array([True, False, False, True]))
    lengths = np.diff(refined.points[refined.cells][..., 0], axis=1)[:, 0]
    assert lengths.tolist() == [0.25, 0.25, 0.5, 0.5, 0.25, 0.25]
    assert refined.boundaries["left"].tolist() == [[0]]
    assert refined.boundaries["right"].tolist() == [[4]]


@pytest.mark.parametrize("make", [lambda: longest_edge_first(l_shape(1)),
                                  lambda: unit_square(2)], ids=["l-shape", "square"])
def test_p2_on_bisected_meshes_passes_the_patch_test(make):
    mesh = corner_refinements(make(), 3)[-1]
    mesh = random_refinements(mesh, 2, seed=3, fraction=0.3)[-1]
    space = function_space(mesh, 2)

    def exact(x, y):
        return 1.0 + x - 2.0 * y + x * x - 3.0 * x * y + 0.5 * y * y

    solution = solve_stationary(space, f=-3.0, dirichlet={"boundary": exact}, rtol=1e-13)
    assert np.abs(solution.u - interpolate(space, exact)).max() < 1e-10


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("make", [lambda: longest_edge_first(unit_square(2)),
                                  lambda: interval(0.0, 1.0, 3)], ids=["square", "interval"])
def test_prolongation_is_exact_on_nested_spaces(degree, make):
    mesh = make()
    rng = np.random.default_rng(1)
    coarse = function_space(mesh, degree)
    for _ in range(3):
        refinement = bisect(coarse.mesh, rng.random(coarse.mesh.num_cells) < 0.5)
        fine = function_space(refinement.mesh, degree)
        u = rng.standard_normal(coarse.num_dofs)
        moved = prolongate(coarse, u, fine, refinement.parents)
        # the same function: equal at random points of every fine cell
        points = rng.random((fine.mesh.num_cells, mesh.dim))
        if mesh.dim == 2:
            points = np.where(points.sum(axis=1, keepdims=True) > 1, 1 - points, points)
        fine_values = np.einsum("ci,ci->c", moved[fine.cell_dofs],
                                np.stack([fine.element.values(p[None])[0] for p in points]))
        corner = fine.mesh.points[fine.mesh.cells[:, 0]]
        jacobian = np.stack([fine.mesh.points[fine.mesh.cells[:, e + 1]] - corner
                             for e in range(mesh.dim)], axis=2)
        physical = corner + np.einsum("cde,ce->cd", jacobian, points)
        parent = coarse.mesh.cells[refinement.parents]
        corner = coarse.mesh.points[parent[:, 0]]
        jacobian = np.stack([coarse.mesh.points[parent[:, e + 1]] - corner
                             for e in range(mesh.dim)], axis=2)
        local = np.linalg.solve(jacobian, (physical - corner)[..., None])[..., 0]
        coarse_values = np.einsum("ci,ci->c", u[coarse.cell_dofs[refinement.parents]],
                                  np.stack([coarse.element.values(p[None])[0] for p in local]))
        assert np.allclose(fine_values, coarse_values, atol=1e-12)
        coarse = fine


def test_bad_marks_are_refused_with_the_allowed_shape():
    mesh = unit_square(2)
    with pytest.raises(ValueError, match=r"marked must have shape \(8,\)"):
        bisect(mesh, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match=r"0\.\.7"):
        bisect(mesh, [9])
    with pytest.raises(ValueError, match="booleans per cell or cell indices"):
        bisect(mesh, [0.5])
    with pytest.raises(ValueError, match="expected a Mesh"):
        bisect("mesh", [0])
    space = function_space(mesh, 1)
    with pytest.raises(ValueError, match="parents must have shape"):
        prolongate(space, np.zeros(space.num_dofs), space, np.zeros(3, dtype=np.int64))
