"""The figures of a run draw exactly the numbers they are given, and say what they are."""

import json
import re

import numpy as np
import pytest
import scipy.sparse as sp

from fem.element import function_space, interpolate
from fem.mesh import interval, rectangle, unit_square
from fem.norms import RefinementStudy, fitted_rate, observed_rates
from krylovfem.figures import (
    DPI,
    error_figure,
    iterations_figure,
    rates_figure,
    read_figure_data,
    residual_figure,
    save_figure,
    solution_figure,
)
from solvers import cg, gmres


def _laplacian(m: int) -> sp.csr_array:
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return sp.csr_array(sp.kron(sp.identity(m), T) + sp.kron(T, sp.identity(m)))


def _convection(m: int) -> sp.csr_array:
    h = 1.0 / (m + 1)
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1]) * (0.01 / h**2)
    upwind = sp.diags([-np.ones(m - 1), np.ones(m)], [-1, 0]) / h
    return sp.csr_array(sp.kron(sp.identity(m), T + upwind) + sp.kron(T, sp.identity(m)))


def _history_lines(axes):
    return [line for line in axes.get_lines() if not line.get_label().startswith("_")]


def _legend(axes) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def _marks(axes, label):
    return [line for line in axes.get_lines() if line.get_label() == label]


def _scatter(axes, label):
    return [item for item in axes.collections if item.get_label() == label]


@pytest.fixture(scope="module")
def solves():
    A, N = _laplacian(10), _convection(10)
    b = np.ones(A.shape[0])
    return [cg(A, b, rtol=1e-8), cg(A, b, rtol=1e-8, M="ic0"),
            gmres(N, b, restart=7, rtol=1e-8)]


def test_residual_figure_draws_each_record(solves, tmp_path):
    records = [solve.to_dict() for solve in solves]
    figure, data = residual_figure(records, title="three solves")
    (axes,) = figure.axes
    lines = _history_lines(axes)
    assert [series["label"] for series in data["series"]] == ["cg", "cg + ic0", "gmres"]
    for line, series, record in zip(lines, data["series"], records, strict=True):
        relative = np.array(record["residual_norms"]) / record["rhs_norm"]
        np.testing.assert_array_equal(line.get_ydata(), relative)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(relative.size))
        assert series["relative_residuals"] == relative.tolist()
        assert series["iterations"] == list(range(relative.size))
        assert line.get_label() == series["legend"] == f"{series['label']} ({record['reason']})"
        assert series["tolerance"] == record["tolerance"] / record["rhs_norm"]
    # tolerances: a dotted line per solve in its colour, one legend entry
    tolerances = _marks(axes, "_tolerance")
    assert [line.get_ydata()[0] for line in tolerances] == [s["tolerance"] for s in data["series"]]
    assert [line.get_color() for line in tolerances] == [line.get_color() for line in lines]
    assert all(line.get_linestyle() == ":" for line in tolerances)
    # the true residual at the last iteration, one marker per solve
    truths = _scatter(axes, "_true_residual")
    for item, record in zip(truths, records, strict=True):
        np.testing.assert_array_equal(item.get_offsets(), [[record["iterations"],
                                      record["true_residual_norm"] / record["rhs_norm"]]])
    legend = _legend(axes)
    assert legend[:3] == [line.get_label() for line in lines]
    assert [legend.count(name) for name in ("tolerance", "restart", "true residual ||b - Ax||")] \
        == [1, 1, 1]
    assert axes.get_title() == data["title"] == "three solves"
    assert data["xlim"] is None and data["zero_floor"] is None
    path = save_figure(figure, tmp_path / "residuals.png", data)
    assert read_figure_data(path) == json.loads(json.dumps(data))
    assert not [item for item in tmp_path.iterdir() if item.name.startswith(".")]


def test_restart_marks_are_at_the_recorded_restarts(solves):
    record = solves[2].to_dict()
    assert len(record["restarts"]) > 2
    figure, data = residual_figure([record])
    (marks,) = _marks(figure.axes[0], "_restarts")
    expected = record["restarts"][1:]
    np.testing.assert_array_equal(marks.get_xdata(), expected)
    relative = np.array(record["residual_norms"]) / record["rhs_norm"]
    np.testing.assert_array_equal(marks.get_ydata(), relative[expected])
    assert data["series"][0]["restarts"] == expected


def test_a_diverging_solve_does_not_squash_the_converged_ones():
    A = _laplacian(12)
    b = np.ones(A.shape[0])
    converged = cg(A, b, rtol=1e-8, M="ic0").to_dict()
    diverged = gmres(A, b, restart=2, maxiter=400, rtol=1e-12).to_dict()
    assert not diverged["converged"] and diverged["iterations"] > 3 * converged["iterations"]
    figure, data = residual_figure([converged, diverged])
    axes = figure.axes[0]
    left, right = axes.get_xlim()
    assert left == 0 and converged["iterations"] < right < diverged["iterations"]
    assert right == pytest.approx(1.2 * converged["iterations"], abs=2)
    assert data["xlim"] == [0.0, right]
    assert data["clipped"] == [{"index": 1, "label": "gmres",
                                "iterations": diverged["iterations"]}]
    notes = [text.get_text() for text in axes.texts]
    assert notes == [f"gmres runs on to k = {diverged['iterations']} \u2192"]
    # the whole history is still in the line, only the view is cut
    line = _history_lines(axes)[1]
    assert line.get_xdata()[-1] == diverged["iterations"]
    # asked for the full range, nothing is cut
    figure, data = residual_figure([converged, diverged], xmax=float("inf"))
    assert data["xlim"] is None and figure.axes[0].get_xlim()[1] >= diverged["iterations"]


def test_a_zero_final_residual_is_drawn_at_the_floor(solves):
    record = solves[1].to_dict()
    record["residual_norms"][-1] = 0.0
    figure, data = residual_figure([record])
    axes = figure.axes[0]
    (line,) = _history_lines(axes)
    floor = data["zero_floor"]
    positive = np.array(record["residual_norms"][:-1]) / record["rhs_norm"]
    assert 0 < floor < positive.min()
    assert line.get_ydata()[-1] == floor and np.all(np.isfinite(line.get_ydata()))
    assert data["series"][0]["relative_residuals"][-1] == 0.0
    assert data["series"][0]["zeros"] == [record["iterations"]]
    (zero,) = _scatter(axes, "_zero")
    np.testing.assert_array_equal(zero.get_offsets(), [[record["iterations"], floor]])
    assert axes.get_ylim()[0] < floor
    assert any("= 0" in text and "drawn at" in text for text in _legend(axes))


def test_a_left_preconditioned_history_says_what_it_measures():
    A = _convection(10)
    b = np.ones(A.shape[0])
    left = gmres(A, b, M="ilu0", preconditioning="left", rtol=1e-8).to_dict()
    right = gmres(A, b, M="ilu0", rtol=1e-8).to_dict()
    assert left["residual_norm_type"] == "preconditioned"
    figure, data = residual_figure([left, right])
    legend = _legend(figure.axes[0])
    assert "M^{-1} r_k" in legend[0] and "M^{-1}" not in legend[1]
    assert [series["norm"] for series in data["series"]] == ["preconditioned",
                                                             "unpreconditioned"]
    assert figure.axes[0].get_ylabel() == "‖rₖ‖₂ / ‖b‖₂ or ‖M⁻¹ rₖ‖₂ / ‖b‖₂"


def test_an_old_record_with_only_the_history_still_draws(tmp_path):
    record = {"residual_norms": [4.0, 1.0, 0.25], "rhs_norm": 4.0}
    figure, data = residual_figure([record], labels=["old run"])
    (line,) = _history_lines(figure.axes[0])
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 0.25, 0.0625])
    assert data["series"][0]["true_residual"] is None and data["series"][0]["tolerance"] is None
    assert read_figure_data(save_figure(figure, tmp_path / "old.png", data)) == data


def _wave(x, y):
    return np.sin(np.pi * x) * np.sin(np.pi * y)


@pytest.mark.parametrize("degree", [1, 2])
def test_solution_figure_2d_draws_every_dof(degree, tmp_path):
    space = function_space(unit_square(4), degree)
    u = interpolate(space, _wave)
    figure, data = solution_figure(space, u, title="poisson")
    image = figure.axes[0].collections[0]
    np.testing.assert_array_equal(image.get_array(), u)
    assert data["values"] == u.tolist()
    assert data["min"] == u.min() and data["max"] == u.max()
    assert data["triangles"] == image._triangulation.triangles.shape[0] \
        == (4 if degree == 2 else 1) * space.mesh.num_cells
    assert figure.axes[0].get_title() == "poisson"
    assert read_figure_data(save_figure(figure, tmp_path / "u.png", data)) == data


def test_solution_figure_of_heat_names_the_time():
    space = function_space(unit_square(3), 1)
    figure, data = solution_figure(space, interpolate(space, _wave), title="heat", time=0.25)
    assert figure.axes[0].get_title() == "heat, t = 0.25" and data["time"] == 0.25


def test_solution_figure_1d_overlays_the_exact_solution():
    space = function_space(interval(0.0, 1.0, 4), 2)
    u = interpolate(space, lambda x: x * (1 - x)) + 0.01
    figure, data = solution_figure(space, u, exact=lambda x, t: x * (1 - x) * t, time=2.0)
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["$u_h$"].get_xdata(), data["x"])
    np.testing.assert_array_equal(lines["$u_h$"].get_ydata(), data["u_h"])
    x = np.array(data["x"])
    np.testing.assert_allclose(data["u_h"], x * (1 - x) + 0.01, atol=1e-15)  # P2 is exact
    np.testing.assert_allclose(data["exact"], 2 * x * (1 - x), rtol=1e-15)
    exact = lines["exact $u$"]
    np.testing.assert_allclose(exact.get_ydata(), 2 * exact.get_xdata() * (1 - exact.get_xdata()))


def test_error_figure_draws_u_h_minus_u_with_its_max_norm():
    space = function_space(unit_square(4), 2)
    u = interpolate(space, _wave) + 1e-3 * interpolate(space, lambda x, y: x)
    figure, data = error_figure(space, u, _wave, title="poisson")
    image = figure.axes[0].collections[0]
    error = u - interpolate(space, _wave)
    np.testing.assert_array_equal(image.get_array(), error)
    assert data["values"] == error.tolist() and data["max_abs"] == np.abs(error).max()
    assert f"{np.abs(error).max():.3e}" in figure.axes[0].get_title()
    low, high = image.get_clim()
    assert low == -high  # centred on zero
    one = function_space(interval(0.0, 1.0, 3), 1)
    figure, data = error_figure(one, np.zeros(one.num_dofs), lambda x, t: t * x * (1 - x),
                                time=4.0)
    (line,) = [item for item in figure.axes[0].get_lines() if item.get_label() == "$u_h - u$"]
    x = np.array(data["x"])
    np.testing.assert_allclose(line.get_ydata(), -4.0 * x * (1 - x), rtol=1e-15)
    assert data["max_abs"] == pytest.approx(1.0, abs=0.03)  # between the nodes too


def _study():
    h = np.array([0.5, 0.25, 0.125])
    errors = {"l2": 0.2 * h**2, "h1": 0.9 * h}
    return RefinementStudy(h, np.array([9, 25, 81]), errors,
                           {name: observed_rates(h, e) for name, e in errors.items()},
                           {name: fitted_rate(h, e) for name, e in errors.items()},
                           iterations=np.array([1, 4, 9]))


def test_rates_figure_draws_errors_and_iterations(tmp_path):
    study = _study()
    figure, data = rates_figure(study, expected={"l2": 2, "h1": 1}, solver_label="cg + ic0",
                                title="poisson: P1")
    error_axes, iteration_axes = figure.axes[:2]
    lines = error_axes.get_lines()
    drawn = {line.get_label(): line for line in lines}
    for name, values in data["errors"].items():
        (line,) = [item for key, item in drawn.items() if "fitted" in key and
                   ("L^2" if name == "l2" else "H^1") in key]
        np.testing.assert_array_equal(line.get_xdata(), data["h"])
        np.testing.assert_array_equal(line.get_ydata(), study.errors[name])
        assert values == study.errors[name].tolist()
        reference = drawn[f"$h^{{{data['reference'][name]['order']:g}}}$ (expected)"]
        np.testing.assert_array_equal(reference.get_ydata(), data["reference"][name]["values"])
    assert data["fitted_rates"] == pytest.approx({"l2": 2.0, "h1": 1.0}, rel=1e-12)
    (iterations,) = iteration_axes.get_lines()
    np.testing.assert_array_equal(iterations.get_xdata(), [9, 25, 81])
    np.testing.assert_array_equal(iterations.get_ydata(), [1, 4, 9])
    assert data["dofs"] == [9, 25, 81] and data["iterations"] == [1, 4, 9]
    assert "cg + ic0" in iteration_axes.get_title()
    (legend,) = figure.legends  # below the panels, covering no curve
    assert any("fitted rate 2.00" in text.get_text() for text in legend.get_texts())
    assert read_figure_data(save_figure(figure, tmp_path / "rates.png", data)) == data


def test_iterations_figure_per_time_step():
    times = np.linspace(0.0, 1.0, 5)
    figure, data = iterations_figure(times, [7, 6, 6, 5], solver_label="cg + jacobi")
    (line,) = figure.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), times[1:])
    np.testing.assert_array_equal(line.get_ydata(), [7, 6, 6, 5])
    assert data == {"t": times[1:].tolist(), "iterations": [7, 6, 6, 5], "total": 24,
                    "solver": "cg + jacobi"}
    assert "cg + jacobi" in _legend(figure.axes[0])[0]
    with pytest.raises(ValueError, match="times"):
        iterations_figure(times[:2], [1, 2, 3])


# --------------------------------------------------------------------------------------
# Drawn without a layout engine and without mathtext: every text inside the canvas
# --------------------------------------------------------------------------------------
def _run_like_figures(solves):
    square = function_space(unit_square(8), 2)
    wide = function_space(rectangle(0.0, 3.0, 0.0, 1.0, 6, 2), 1)
    line = function_space(interval(0.0, 1.0, 6), 1)
    u, u_wide, u_line = (interpolate(space, _wave if space.mesh.dim == 2 else np.sin)
                         for space in (square, wide, line))
    small = 1e-4 * u  # colour ticks with an offset, x10^-4 above the bar
    return {
        "residuals": residual_figure([solves[1].to_dict()], title="poisson-2d: 1089 DOFs")[0],
        "three residuals": residual_figure([s.to_dict() for s in solves], title="three")[0],
        "solution": solution_figure(square, u, title="poisson-2d: uₕ")[0],
        "error": error_figure(square, u + small, _wave, title="poisson-2d")[0],
        "wide solution": solution_figure(wide, u_wide, title="wide")[0],
        "1D solution": solution_figure(line, u_line, title="line", exact=np.sin)[0],
        "1D error": error_figure(line, u_line + 1e-3, np.sin, title="line")[0],
        "iterations": iterations_figure(np.linspace(0, 1, 5), [7, 6, 6, 5], title="heat",
                                        solver_label="cg + jacobi")[0],
    }


def test_every_text_of_a_figure_is_inside_its_canvas(solves):
    for name, figure in _run_like_figures(solves).items():
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        drawn, canvas = figure.get_tightbbox(renderer), figure.bbox_inches  # inches
        assert (drawn.x0 >= -1e-9 and drawn.y0 >= -1e-9 and drawn.x1 <= canvas.x1 + 1e-9
                and drawn.y1 <= canvas.y1 + 1e-9), (name, drawn.extents, canvas.extents)
        axes = figure.axes[0]
        assert axes.title.get_window_extent(renderer).y0 >= axes.bbox.y1 - 0.5, name


def test_the_figures_of_a_run_need_no_mathtext(solves):
    """Tick labels, titles and axis labels are plain text (mathtext's parser is slow to
    start) and still say the same: the residual axis is labelled in powers of ten."""
    figures = _run_like_figures(solves)
    for name in ("residuals", "solution", "error", "wide solution"):
        figure = figures[name]
        figure.canvas.draw()
        every_axes = [*figure.axes, *(child for axes in figure.axes for child in axes.child_axes)]
        texts = [text.get_text() for axes in every_axes for text in
                 [axes.title, axes.xaxis.label, axes.yaxis.label, axes.yaxis.get_offset_text(),
                  *axes.get_xticklabels(), *axes.get_yticklabels()]]
        assert not [text for text in texts if "$" in text], name
    axes = figures["residuals"].axes[0]
    for tick, text in zip(axes.get_yticks(), axes.get_yticklabels(), strict=True):
        exponent = round(np.log10(tick))
        assert abs(np.log10(tick) - exponent) < 1e-9
        assert text.get_text() == "10" + str(exponent).translate(
            str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))
    (bar,) = [axes for axes in figures["error"].axes[0].child_axes
              if axes.get_ylabel() == "uₕ − u"]
    assert re.fullmatch("×10⁻[⁴⁵]", bar.yaxis.get_offset_text().get_text())
    assert figures["solution"].axes[0].get_xlabel() == "x"


def test_a_saved_figure_has_the_pixels_matplotlib_would_write(solves, tmp_path):
    """save_figure's own PNG encoder against matplotlib's savefig through PIL: the same
    pixels at the same resolution, whether the canvas is opaque (RGB) or not (RGBA)."""
    from PIL import Image

    figures = _run_like_figures(solves)
    transparent = residual_figure([solves[0].to_dict()])[0]
    transparent.patch.set_alpha(0.0)
    for name, figure in [*figures.items(), ("transparent", transparent)]:
        data = {"name": name, "symbol": "uₕ"}
        ours = save_figure(figure, tmp_path / "ours.png", data)
        figure.savefig(tmp_path / "theirs.png", format="png", dpi=DPI)
        with Image.open(ours) as mine, Image.open(tmp_path / "theirs.png") as theirs:
            assert mine.size == theirs.size and mine.mode == ("RGBA" if name == "transparent"
                                                             else "RGB"), name
            assert np.array_equal(np.asarray(mine.convert("RGBA")), np.asarray(theirs)), name
            assert mine.info["dpi"] == theirs.info["dpi"] == pytest.approx((DPI, DPI), rel=1e-3)
        assert read_figure_data(ours) == data
