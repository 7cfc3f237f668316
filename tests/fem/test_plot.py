"""fem.plot draws exactly the discrete functions and studies it is given."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fem
from fem.element import function_space, interpolate
from fem.mesh import interval, rectangle, unit_square
from fem.norms import RefinementStudy, fitted_rate, observed_rates
from fem.plot import (
    line_samples,
    plot_function,
    plot_rates,
    plot_triangulation,
    reference_slope,
)


def _smooth(x, y):
    return np.sin(3 * x) * np.cos(2 * y) + x * y


def test_fem_imports_without_matplotlib():
    program = ("import sys, json, fem\n"
               "names = fem.plot_function, fem.plot_rates\n"
               "print(json.dumps('matplotlib' in sys.modules))\n")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True,
                               text=True, check=True, timeout=120)
    assert json.loads(completed.stdout.splitlines()[-1]) is False
    assert {"plot_function", "plot_rates"} <= set(fem.__all__)


def test_p1_picture_is_the_mesh_with_the_dof_values():
    space = function_space(unit_square(4), 1)
    u = interpolate(space, _smooth)
    image = plot_function(space, u)
    np.testing.assert_array_equal(image.get_array(), u)
    np.testing.assert_array_equal(image._triangulation.triangles, space.mesh.cells)
    np.testing.assert_array_equal(image._triangulation.x, space.mesh.points[:, 0])


def test_p2_picture_refines_each_cell_into_four_through_the_midpoints():
    space = function_space(unit_square(3), 2)
    u = interpolate(space, _smooth)
    points, triangles = plot_triangulation(space)
    assert triangles.shape == (4 * space.mesh.num_cells, 3)
    assert np.array_equal(points, space.dof_points)
    assert np.array_equal(np.unique(triangles), np.arange(space.num_dofs))  # every DOF drawn
    # the four triangles tile the cell: their areas add up to the mesh's area
    corners = points[triangles]
    a, b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    areas = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    assert areas.sum() == pytest.approx(1.0, rel=1e-13)
    image = plot_function(space, u)
    drawn = image._triangulation
    assert drawn.triangles.shape[0] == 4 * space.mesh.num_cells
    np.testing.assert_array_equal(image.get_array(), u)  # node values are the DOF values
    np.testing.assert_array_equal(np.column_stack([drawn.x, drawn.y]), space.dof_points)


def test_colorbar_is_as_high_as_a_wide_domain():
    space = function_space(rectangle(0.0, 4.0, 0.0, 1.0, 16, 4), 1)
    image = plot_function(space, interpolate(space, _smooth))
    axes, bar = image.axes, image.colorbar.ax
    axes.figure.canvas.draw()
    box, bar_box = axes.get_position(), bar.get_position()
    assert bar_box.y0 == pytest.approx(box.y0, abs=1e-9)
    assert bar_box.height == pytest.approx(box.height, abs=1e-9)
    assert bar_box.x0 > box.x1  # beside the domain, not over it


def test_1d_p2_line_goes_through_the_basis_and_overlays_the_exact_solution():
    space = function_space(interval(0.0, 1.0, 3), 2)
    u = interpolate(space, lambda x: np.cos(2 * x))
    line = plot_function(space, u, exact=lambda x: np.cos(2 * x))
    x, values = line_samples(space, u)
    np.testing.assert_array_equal(line.get_xdata(), x)
    np.testing.assert_array_equal(line.get_ydata(), values)
    assert x.size == 3 * 8 + 1 and np.all(np.diff(x) > 0)
    # at the DOF points the samples are the DOF values, between them the quadratic
    at_dofs = np.isin(x, space.dof_points[:, 0])
    order = np.argsort(space.dof_points[:, 0])
    np.testing.assert_allclose(values[at_dofs], u[order], atol=1e-15)
    cell = space.cell_dofs[0]  # left end, right end, midpoint
    quadratic = np.polyfit(space.dof_points[cell, 0], u[cell], 2)
    first = x <= space.dof_points[cell[1], 0]
    np.testing.assert_allclose(values[first], np.polyval(quadratic, x[first]), atol=1e-14)
    labels = {item.get_label(): item for item in line.axes.get_lines()}
    exact = labels["exact $u$"]
    np.testing.assert_allclose(exact.get_ydata(), np.cos(2 * exact.get_xdata()), rtol=1e-15)
    assert [text.get_text() for text in line.axes.get_legend().get_texts()] == [
        "$u_h$", "DOF values", "exact $u$"]


def _study():
    h = np.array([0.5, 0.25, 0.125, 0.0625])
    errors = {"l2": 0.3 * h**2, "h1": 1.1 * h**1.02}
    return RefinementStudy(h, np.array([9, 25, 81, 289]), errors,
                           {name: observed_rates(h, e) for name, e in errors.items()},
                           {name: fitted_rate(h, e) for name, e in errors.items()},
                           iterations=np.array([2, 5, 11, 23]))


def test_rates_plot_draws_the_errors_and_the_reference_slopes():
    study = _study()
    ax = plot_rates(study, expected={"l2": 2, "h1": 1})
    lines = {line.get_label(): line for line in ax.get_lines()}
    l2 = next(line for name, line in lines.items() if "L^2" in name)
    h1 = next(line for name, line in lines.items() if "H^1" in name)
    assert "fitted rate 2.00" in l2.get_label() and "fitted rate 1.02" in h1.get_label()
    np.testing.assert_array_equal(l2.get_xdata(), study.h)
    np.testing.assert_array_equal(l2.get_ydata(), study.errors["l2"])
    np.testing.assert_array_equal(h1.get_ydata(), study.errors["h1"])
    slope = lines["$h^{2}$ (expected)"]
    np.testing.assert_allclose(slope.get_ydata(), reference_slope(study.h, study.errors["l2"], 2))
    observed = np.diff(np.log(slope.get_ydata())) / np.diff(np.log(study.h))
    np.testing.assert_allclose(observed, 2.0, rtol=1e-12)
    assert slope.get_color() == l2.get_color() and slope.get_linestyle() == "--"
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.xaxis_inverted()
    np.testing.assert_allclose(ax.get_xticks(), study.h)
