"""Quadrature rules, Lagrange bases and DOF maps."""

from math import factorial

import numpy as np
import pytest

from fem.element import LagrangeElement, function_space, interpolate
from fem.mesh import Mesh, interval, unit_square
from fem.quadrature import quadrature_rule


@pytest.mark.parametrize("degree", range(0, 11))
def test_triangle_rules_integrate_monomials_exactly(degree):
    points, weights = quadrature_rule("triangle", degree)
    for i in range(degree + 1):
        for j in range(degree + 1 - i):
            exact = factorial(i) * factorial(j) / factorial(i + j + 2)
            assert weights @ (points[:, 0] ** i * points[:, 1] ** j) == pytest.approx(
                exact, rel=1e-13, abs=1e-16)
    assert np.all(weights > 0)


@pytest.mark.parametrize("degree", range(0, 11))
def test_interval_rules_integrate_monomials_exactly(degree):
    points, weights = quadrature_rule("interval", degree)
    for i in range(degree + 1):
        assert weights @ points[:, 0] ** i == pytest.approx(1 / (i + 1), rel=1e-14)


def test_rule_of_degree_five_is_not_exact_for_degree_seven():
    points, weights = quadrature_rule("triangle", 5)
    exact = factorial(7) * factorial(0) / factorial(9)
    assert abs(weights @ points[:, 0] ** 7 - exact) > 1e-8


def test_bad_quadrature_requests():
    with pytest.raises(ValueError, match="unknown cell type"):
        quadrature_rule("quad", 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        quadrature_rule("triangle", -1)


@pytest.mark.parametrize("cell_type", ["interval", "triangle"])
@pytest.mark.parametrize("degree", [1, 2])
def test_basis_is_nodal_and_a_partition_of_unity(cell_type, degree):
    element = LagrangeElement(cell_type, degree)
    nodes = element.reference_dof_points
    assert np.allclose(element.values(nodes), np.eye(element.num_local_dofs))
    points, _ = quadrature_rule(cell_type, 4)
    assert np.allclose(element.values(points).sum(axis=1), 1.0)
    assert np.allclose(element.gradients(points).sum(axis=1), 0.0)


@pytest.mark.parametrize("cell_type", ["interval", "triangle"])
@pytest.mark.parametrize("degree", [1, 2])
def test_gradients_match_finite_differences(cell_type, degree):
    element = LagrangeElement(cell_type, degree)
    points = np.array([[0.2, 0.3]])[:, : element.dim]
    step = 1e-6
    for d in range(element.dim):
        shift = np.zeros_like(points)
        shift[0, d] = step
        difference = (element.values(points + shift) - element.values(points - shift)) / (2 * step)
        assert np.allclose(element.gradients(points)[:, :, d], difference, atol=1e-8)


def test_p2_space_counts_and_dof_points():
    mesh = unit_square(3)
    space = function_space(mesh, 2)
    edges = mesh.num_points + mesh.num_cells - 1  # Euler: V - E + F = 1
    assert space.num_dofs == mesh.num_points + edges
    # every local DOF point is where the reference node maps to
    corners = mesh.points[mesh.cells]
    nodes = LagrangeElement("triangle", 2).reference_dof_points
    mapped = corners[:, :1] + np.einsum("ne,ced->cnd", nodes, corners[:, 1:] - corners[:, :1])
    assert np.allclose(space.dof_points[space.cell_dofs], mapped)
    # neighbouring cells share the DOF on their common edge
    assert np.unique(space.cell_dofs).size == space.num_dofs


def test_boundary_dofs_of_p2_square():
    space = function_space(unit_square(4), 2)
    left = space.boundary_dofs("left")
    assert left.size == 9 and np.allclose(space.dof_points[left, 0], 0.0)
    everything = space.boundary_dofs()
    on_boundary = np.isclose(space.dof_points, 0.0) | np.isclose(space.dof_points, 1.0)
    assert np.array_equal(everything, np.flatnonzero(on_boundary.any(axis=1)))
    both = space.boundary_dofs(["left", "bottom"])
    assert both.size == 17
    with pytest.raises(ValueError, match="unknown boundary name 'wall'"):
        space.boundary_dofs("wall")


def test_interval_p2_numbering_and_interpolation():
    space = function_space(interval(0.0, 1.0, 3), 2)
    assert space.num_dofs == 7
    values = interpolate(space, lambda x: x**2)
    assert np.allclose(values, space.dof_points[:, 0] ** 2)
    with pytest.raises(ValueError, match="not finite"):
        interpolate(space, lambda x: np.where(x > 0.5, np.nan, x))


def test_p2_boundary_dofs_reject_a_facet_that_is_not_an_edge():
    mesh = unit_square(2)
    space = function_space(Mesh(mesh.points, mesh.cells, {"cut": np.array([[0, 8]])}), 2)
    with pytest.raises(ValueError, match="not an edge"):
        space.boundary_dofs("cut")


def test_bad_degree():
    with pytest.raises(ValueError, match="degree must be 1 or 2"):
        function_space(unit_square(2), 3)
    with pytest.raises(ValueError, match="needs a Mesh"):
        function_space("mesh", 1)
