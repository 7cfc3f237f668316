"""Mesh files through meshio: gmsh 2.2 and 4.1 with physical groups, vtu."""

import numpy as np
import pytest

from fem.mesh import interval, unit_square
from fem.meshio_io import read_mesh, write_mesh, write_solution

meshio = pytest.importorskip("meshio")

GMSH41 = """$MeshFormat
4.1 0 8
$EndMeshFormat
$PhysicalNames
2
1 1 "inlet"
2 2 "domain"
$EndPhysicalNames
$Entities
0 1 1 0
1 0 0 0 0 1 0 1 1 0
1 0 0 0 1 1 0 1 2 0
$EndEntities
$Nodes
1 4 1 4
2 1 0 4
1
2
3
4
0 0 0
1 0 0
1 1 0
0 1 0
$EndNodes
$Elements
2 3 1 3
1 1 1 1
1 4 1
2 1 2 2
2 1 2 3
3 1 4 3
$EndElements
"""


def test_gmsh41_with_physical_names_and_clockwise_triangle(tmp_path):
    path = tmp_path / "square.msh"
    path.write_text(GMSH41)
    mesh = read_mesh(path)
    assert (mesh.num_points, mesh.num_cells) == (4, 2)
    assert mesh.boundaries["inlet"].tolist() == [[3, 0]]
    assert mesh.boundaries["boundary"].shape == (4, 2)
    corners = mesh.points[mesh.cells]
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    assert np.all(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0)  # reoriented


@pytest.mark.parametrize("make", [lambda: unit_square(3), lambda: interval(0.0, 2.0, 5)])
def test_gmsh22_round_trip_keeps_named_boundaries(tmp_path, make):
    mesh = make().with_boundary("part", lambda *x: x[0] < 0.5)
    path = tmp_path / "mesh.msh"
    write_mesh(path, mesh)
    again = read_mesh(path)
    assert np.allclose(again.points, mesh.points)
    assert np.array_equal(again.cells, mesh.cells)
    for name, facets in mesh.boundaries.items():
        assert np.array_equal(np.sort(again.boundaries[name], axis=0), np.sort(facets, axis=0))


def test_vtu_with_point_data(tmp_path):
    mesh = unit_square(2)
    path = tmp_path / "solution.vtu"
    write_mesh(path, mesh, point_data={"u": mesh.points[:, 0]},
               cell_data={"id": np.arange(mesh.num_cells, dtype=float)})
    again = read_mesh(path)
    assert np.allclose(again.points, mesh.points) and again.num_cells == mesh.num_cells


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.msh' does not exist"):
        read_mesh(tmp_path / "missing.msh")
    bad = tmp_path / "bad.msh"
    bad.write_text("not a mesh")
    with pytest.raises(ValueError, match=r"cannot read mesh file .*bad\.msh"):
        read_mesh(bad)
    unknown = tmp_path / "mesh.unknown"
    unknown.write_text("x")
    with pytest.raises(ValueError, match="cannot read mesh file"):
        read_mesh(unknown)
    with pytest.raises(ValueError, match="point_data 'u' must have 9 rows"):
        write_mesh(tmp_path / "a.vtu", unit_square(2), point_data={"u": np.zeros(3)})
    with pytest.raises(ValueError, match=r"gmsh 4\.1 is not supported"):
        write_mesh(tmp_path / "a.msh", unit_square(2), file_format="gmsh")


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("make_mesh", [lambda: interval(0.0, 2.0, 5), lambda: unit_square(3)])
def test_written_solution_keeps_every_dof(tmp_path, make_mesh, degree):
    """P2 goes out on quadratic cells whose nodes are the DOF points: nothing is dropped."""
    from fem.element import function_space, interpolate
    from fem.meshio_io import write_solution

    space = function_space(make_mesh(), degree)
    u = interpolate(space, (lambda x: x**2) if space.mesh.dim == 1 else (lambda x, y: x * y))
    write_solution(tmp_path / "u.vtu", space, u)
    written = meshio.read(tmp_path / "u.vtu")
    (block,) = written.cells
    np.testing.assert_array_equal(written.point_data["u"], u)
    np.testing.assert_array_equal(written.points[:, : space.mesh.dim], space.dof_points)
    np.testing.assert_array_equal(block.data, space.cell_dofs)
    expected = {(1, 1): "line", (1, 2): "line3", (2, 1): "triangle", (2, 2): "triangle6"}
    assert block.type == expected[space.mesh.dim, degree]
    # the midpoint nodes sit halfway along their cell edges
    if degree == 2:
        points = written.points[:, : space.mesh.dim]
        corners = points[block.data[:, : space.mesh.dim + 1]]
        pairs = [(0, 1)] if space.mesh.dim == 1 else [(0, 1), (1, 2), (2, 0)]
        for k, (i, j) in enumerate(pairs):
            midpoint = points[block.data[:, space.mesh.dim + 1 + k]]
            np.testing.assert_allclose(midpoint, (corners[:, i] + corners[:, j]) / 2)


def test_cell_data_goes_to_the_vtu_and_is_checked(tmp_path):
    import meshio

    from fem.element import function_space

    space = function_space(unit_square(3), 2)
    ranks = np.arange(space.mesh.num_cells) % 3
    write_solution(tmp_path / "u.vtu", space, np.zeros(space.num_dofs),
                   cell_data={"rank": ranks})
    assert np.array_equal(meshio.read(tmp_path / "u.vtu").cell_data["rank"][0], ranks)
    with pytest.raises(ValueError, match=r"cell_data\['rank'\] must be integers, one per cell"):
        write_solution(tmp_path / "bad.vtu", space, np.zeros(space.num_dofs),
                       cell_data={"rank": ranks[:-1]})
