"""plot_residuals draws exactly the histories it is given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from solvers import cg, gmres, plot_residuals
from solvers.plot import TRUE_RESIDUAL_LABEL, residual_plot_data


def test_plot_residuals_renders_the_histories(model, tmp_path):
    A = model.convection_diffusion_2d(12)
    b = np.ones(A.shape[0])
    results = [gmres(A, b, restart=10, rtol=1e-8), gmres(A, b, restart=10, rtol=1e-8, M="ilu0")]
    spd = cg(model.laplacian_2d(12), b, rtol=1e-8)
    ax = plot_residuals([*results, spd], labels=["gmres", "gmres+ilu0", "cg"])
    lines = [line for line in ax.get_lines() if line.get_label()[:1] not in ("_",)]
    assert [line.get_label().split(" ")[0] for line in lines] == ["gmres", "gmres+ilu0", "cg"]
    for line, result in zip(lines, [*results, spd], strict=True):
        assert np.array_equal(line.get_ydata(), result.residual_norms / result.rhs_norm)
        assert np.array_equal(line.get_xdata(), np.arange(result.iterations + 1))
    path = tmp_path / "residuals.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_restart_marks_sit_on_the_line(model):
    A = model.convection_diffusion_2d(12)
    result = gmres(A, np.ones(A.shape[0]), restart=5, rtol=1e-8)
    ax = plot_residuals(result, relative=False)
    marks = [line for line in ax.get_lines() if line.get_label() == "_restarts"]
    assert len(marks) == 1
    assert np.array_equal(marks[0].get_xdata(), result.restarts[1:])
    assert np.array_equal(marks[0].get_ydata(), result.residual_norms[result.restarts[1:]])


def test_legend_names_tolerance_restart_and_true_residual_once(model):
    A = model.convection_diffusion_2d(10)
    b = np.ones(A.shape[0])
    results = [gmres(A, b, restart=5, rtol=1e-8), gmres(A, b, restart=5, rtol=1e-8, M="ilu0",
                                                         preconditioning="left")]
    ax = plot_residuals(results)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert [legend.count(name) for name in ("tolerance", "restart", TRUE_RESIDUAL_LABEL)] \
        == [1, 1, 1]
    assert "M^{-1} r_k" not in legend[0] and "M^{-1} r_k" in legend[1]
    truths = [item for item in ax.collections if item.get_label() == "_true_residual"]
    for item, result in zip(truths, results, strict=True):
        np.testing.assert_array_equal(
            item.get_offsets(), [[result.iterations, result.true_residual_norm / result.rhs_norm]])


def test_zeros_are_drawn_at_a_floor_and_xmax_cuts_the_view(model):
    result = cg(model.laplacian_1d(20), np.ones(20), rtol=1e-8)
    record = result.to_dict()
    record["residual_norms"][-1] = 0.0
    ax = plot_residuals(record, xmax=5)
    (line,) = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    data = residual_plot_data(record)
    assert line.get_ydata()[-1] == data["zero_floor"] > 0
    np.testing.assert_array_equal(line.get_ydata()[:-1],
                                  np.array(record["residual_norms"][:-1]) / record["rhs_norm"])
    assert ax.get_xlim() == (0.0, 5.0)
    assert ax.get_ylim()[0] < data["zero_floor"]
