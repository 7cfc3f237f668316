"""plot_residuals draws exactly the histories it is given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from solvers import cg, gmres, plot_residuals


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
