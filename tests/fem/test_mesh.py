"""Meshes: generators, refinement, named boundaries and validation."""

import numpy as np
import pytest

from fem.mesh import Mesh, interval, l_shape, rectangle, unit_square


def cell_measures(mesh):
    corners = mesh.points[mesh.cells]
    if mesh.dim == 1:
        return corners[:, 1, 0] - corners[:, 0, 0]
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 2] - corners[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def facet_length(mesh, name):
    facets = mesh.points[mesh.boundaries[name]]
    return np.linalg.norm(facets[:, 1] - facets[:, 0], axis=1).sum()


def test_rectangle_counts_area_and_orientation():
    mesh = rectangle(-1.0, 2.0, 0.0, 0.5, 6, 2)
    assert (mesh.num_points, mesh.num_cells, mesh.dim) == (21, 24, 2)
    measures = cell_measures(mesh)
    assert np.all(measures > 0)
    assert np.isclose(measures.sum(), 1.5)
    assert np.isclose(mesh.h, np.hypot(0.5, 0.25))
    for name, length in [("left", 0.5), ("right", 0.5), ("bottom", 3.0), ("top", 3.0),
                         ("boundary", 7.0)]:
        assert np.isclose(facet_length(mesh, name), length)
    assert np.allclose(mesh.points[mesh.boundaries["left"]][..., 0], -1.0)
    assert np.allclose(mesh.points[mesh.boundaries["top"]][..., 1], 0.5)


def test_boundary_part_is_computed_and_counterclockwise():
    mesh = Mesh(unit_square(3).points, unit_square(3).cells)  # no names given
    facets = mesh.boundaries["boundary"]
    assert facets.shape == (12, 2)
    # counterclockwise traversal: the outward normal (dy, -dx) points away from the centre
    start, end = mesh.points[facets[:, 0]], mesh.points[facets[:, 1]]
    normal = np.column_stack([end[:, 1] - start[:, 1], start[:, 0] - end[:, 0]])
    assert np.all(np.einsum("ij,ij->i", normal, 0.5 * (start + end) - 0.5) > 0)


def test_interval_uniform_and_from_points():
    mesh = interval(1.0, 3.0, 4)
    assert np.allclose(mesh.points[:, 0], [1.0, 1.5, 2.0, 2.5, 3.0])
    assert mesh.boundaries["left"].tolist() == [[0]]
    assert mesh.boundaries["right"].tolist() == [[4]]
    graded = interval(points=[0.0, 0.1, 0.3, 1.0])
    assert graded.num_cells == 3 and np.isclose(graded.h, 0.7)
    with pytest.raises(ValueError, match="increase strictly; cell 1"):
        interval(points=[0.0, 0.5, 0.5, 1.0])


def test_l_shape_area_and_boundary_length():
    mesh = l_shape(3)
    assert mesh.num_cells == 6 * 9
    assert np.isclose(cell_measures(mesh).sum(), 3.0)
    assert np.isclose(facet_length(mesh, "boundary"), 8.0)
    assert np.all(cell_measures(mesh) > 0)


@pytest.mark.parametrize("make", [lambda: interval(0.0, 1.0, 3), lambda: unit_square(3),
                                  lambda: l_shape(2)])
def test_refinement_preserves_measure_halves_h_and_refines_boundaries(make):
    mesh = make()
    fine = mesh.refined()
    assert fine.num_cells == mesh.num_cells * 2**mesh.dim
    assert np.isclose(cell_measures(fine).sum(), cell_measures(mesh).sum())
    assert np.all(cell_measures(fine) > 0)
    assert np.isclose(fine.h, mesh.h / 2)
    assert np.array_equal(fine.points[: mesh.num_points], mesh.points)  # old vertices kept
    for name, facets in mesh.boundaries.items():
        assert fine.boundaries[name].shape[0] == facets.shape[0] * (2 if mesh.dim == 2 else 1)
        if mesh.dim == 2:
            assert np.isclose(facet_length(fine, name), facet_length(mesh, name))


def test_refined_square_equals_direct_build_as_a_point_set():
    fine = unit_square(4).refined()
    direct = unit_square(8)
    order = np.lexsort(fine.points.T)
    assert np.allclose(fine.points[order], direct.points[np.lexsort(direct.points.T)])
    assert fine.num_cells == direct.num_cells
    assert fine.boundaries["boundary"].shape == direct.boundaries["boundary"].shape


def test_with_boundary_selects_facets_by_midpoint_and_survives_refinement():
    mesh = unit_square(4).with_boundary("inflow", lambda x, y: (x < 0.5) & (y < 1e-12))
    assert mesh.boundaries["inflow"].shape == (2, 2)
    assert np.allclose(mesh.points[mesh.boundaries["inflow"]][..., 1], 0.0)
    assert mesh.refined().boundaries["inflow"].shape == (4, 2)
    line = interval(0.0, 1.0, 4).with_boundary("end", lambda x: x > 0.5)
    assert line.boundaries["end"].tolist() == [[4]]


def test_mesh_is_immutable():
    mesh = unit_square(2)
    with pytest.raises(ValueError):
        mesh.points[0, 0] = 5.0
    with pytest.raises(AttributeError):
        mesh.points = np.zeros((3, 2))


def test_edges_are_numbered_once_and_read_only():
    mesh = l_shape(2)
    edges, cell_edges = mesh.edges
    assert mesh.edges[0] is edges and mesh.edges[1] is cell_edges
    for array in (edges, cell_edges):
        with pytest.raises(ValueError, match="read-only"):
            array[0, 0] = 1
    with pytest.raises(ValueError, match="triangle meshes only"):
        interval(0.0, 1.0, 2).edges  # noqa: B018


def test_inverted_triangle_names_the_cell():
    mesh = unit_square(2)
    cells = mesh.cells.copy()
    cells[5] = cells[5][[0, 2, 1]]
    with pytest.raises(ValueError, match="cell 5 is inverted"):
        Mesh(mesh.points, cells)


def test_degenerate_triangle_names_the_cell():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="cell 1 is degenerate"):
        Mesh(points, np.array([[0, 1, 2], [0, 1, 3]]))


def test_inverted_and_degenerate_intervals():
    with pytest.raises(ValueError, match="cell 1 is inverted"):
        Mesh(np.array([0.0, 1.0, 2.0]), np.array([[0, 1], [2, 1]]))
    with pytest.raises(ValueError, match="cell 0 is degenerate"):
        Mesh(np.array([0.0, 0.0, 2.0]), np.array([[0, 1], [1, 2]]))


def test_connectivity_out_of_range_names_the_cell():
    mesh = unit_square(2)
    cells = mesh.cells.copy()
    cells[3, 1] = mesh.num_points
    with pytest.raises(ValueError, match="cell 3 refers to vertices"):
        Mesh(mesh.points, cells)
    cells[3, 1] = -1
    with pytest.raises(ValueError, match="cell 3"):
        Mesh(mesh.points, cells)


@pytest.mark.parametrize(
    ("points", "cells", "message"),
    [
        (np.zeros((3, 3)), np.array([[0, 1, 2]]), "points must have shape"),
        (np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[0, 1]]), "cells of a 2D"),
        (np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0, 2.0]]),
         "integer"),
        (np.array([[0.0, 0.0], [np.nan, 0.0], [0.0, 1.0]]), np.array([[0, 1, 2]]),
         "point 1 has a non-finite"),
    ],
)
def test_bad_arrays(points, cells, message):
    with pytest.raises(ValueError, match=message):
        Mesh(points, cells)


def test_bad_boundary_data():
    mesh = unit_square(2)
    with pytest.raises(ValueError, match="boundary 'side'"):
        Mesh(mesh.points, mesh.cells, {"side": np.array([[0, 99]])})
    with pytest.raises(ValueError, match="unknown boundary name 'inlet'"):
        mesh.boundary_facets("inlet")
    not_an_edge = Mesh(mesh.points, mesh.cells, {"cut": np.array([[0, 8]])})
    with pytest.raises(ValueError, match=r"boundary 'cut': facet \[0, 8\] is not an edge"):
        not_an_edge.refined()


@pytest.mark.parametrize("make", [lambda: unit_square(0), lambda: rectangle(1, 0, 0, 1, 2, 2),
                                  lambda: interval(0.0, 1.0, 0), lambda: l_shape(-1)])
def test_bad_generator_arguments(make):
    with pytest.raises(ValueError):
        make()
