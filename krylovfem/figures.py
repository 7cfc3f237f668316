"""Figures of a run: residual histories, the solution, and convergence rates.

Each function builds and returns a :class:`matplotlib.figure.Figure` without
touching pyplot's global state (the Agg canvas is attached directly), together
with the plotted numbers as a plain dict.  :func:`fem.record.save_figure`
stores that dict inside the PNG (a ``tEXt`` chunk named ``krylovfem``), so a
figure can be checked against the record it was drawn from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from matplotlib.tri import Triangulation

from solvers import plot_residuals

__all__ = ["plot_rates", "plot_residual_histories", "plot_solution"]


def _new_figure(width: float = 6.4, height: float = 4.4) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_residual_histories(histories: Sequence[tuple[str, Sequence[float], float]], *,
                            title: str = "") -> tuple[Figure, dict]:
    r"""Relative residuals :math:`\|r_k\|_2 / \|b\|_2` against the iteration ``k``.

    Parameters
    ----------
    histories : sequence of (label, residual_norms, rhs_norm)
        One line per solve; ``residual_norms[k]`` for ``k = 0, 1, ...``.
    title : str
        Figure title.

    Returns
    -------
    figure : Figure
    data : dict
        ``{"series": [{"label", "iterations", "relative_residuals"}]}`` as plotted.
    """
    figure = _new_figure()
    axes = figure.add_subplot()
    records = [{"residual_norms": norms, "rhs_norm": rhs_norm} for _, norms, rhs_norm in histories]
    plot_residuals(records, labels=[label for label, _, _ in histories], ax=axes)
    series = []
    for (label, norms, rhs_norm) in histories:
        relative = np.asarray(norms, dtype=np.float64) / (rhs_norm if rhs_norm > 0 else 1.0)
        series.append({"label": label, "iterations": list(range(relative.size)),
                       "relative_residuals": relative.tolist()})
    if title:
        axes.set_title(title)
    return figure, {"series": series}


def plot_solution(mesh, vertex_values: np.ndarray, *, title: str = "") -> tuple[Figure, dict]:
    """The discrete solution at the mesh vertices (a line in 1D, a coloured surface in 2D).

    Parameters
    ----------
    mesh : fem.mesh.Mesh
    vertex_values : ndarray, shape (num_points,)
        Values at the vertices (for P2 the vertex DOFs; the picture is the P1 interpolant).
    title : str

    Returns
    -------
    figure : Figure
    data : dict
        ``{"min", "max"}`` of the plotted values.
    """
    values = np.asarray(vertex_values, dtype=np.float64)
    figure = _new_figure()
    axes = figure.add_subplot()
    if mesh.dim == 1:
        order = np.argsort(mesh.points[:, 0])
        axes.plot(mesh.points[order, 0], values[order], marker="." if values.size < 80 else None)
        axes.set_xlabel("x")
        axes.set_ylabel("u_h")
        axes.grid(True, alpha=0.3)
    else:
        triangulation = Triangulation(mesh.points[:, 0], mesh.points[:, 1], mesh.cells)
        image = axes.tripcolor(triangulation, values, shading="gouraud", cmap="viridis")
        figure.colorbar(image, ax=axes, label="u_h")
        axes.set_aspect("equal")
        axes.set_xlabel("x")
        axes.set_ylabel("y")
    if title:
        axes.set_title(title)
    return figure, {"min": float(values.min()), "max": float(values.max())}


def plot_rates(levels: Sequence[dict], rates: dict, *, title: str = "") -> tuple[Figure, dict]:
    r"""Errors against :math:`h` (log-log, with fitted rates) and iterations against DOFs.

    Parameters
    ----------
    levels : sequence of dict
        Per level ``h``, ``dofs``, ``iterations`` and the errors ``l2``, ``h1`` (or None).
    rates : dict
        Fitted rates by error name (``{"l2": 2.0, "h1": 1.0}``), shown in the legend.
    title : str

    Returns
    -------
    figure : Figure
    data : dict
        ``{"h", "dofs", "iterations", "errors": {name: [...]}}`` as plotted.
    """
    figure = _new_figure(10.0, 4.2)
    error_axes, iteration_axes = figure.subplots(1, 2)
    h = np.array([level["h"] for level in levels], dtype=np.float64)
    dofs = np.array([level["dofs"] for level in levels], dtype=np.float64)
    iterations = [level["iterations"] for level in levels]
    errors = {}
    for name, label in (("l2", r"$\|u - u_h\|_{L^2}$"), ("h1", r"$|u - u_h|_{H^1}$")):
        values = [level.get(name) for level in levels]
        if any(value is None for value in values):
            continue
        errors[name] = [float(value) for value in values]
        rate = rates.get(name)
        suffix = f", rate {rate:.2f}" if rate is not None else ""
        error_axes.loglog(h, errors[name], marker="o", label=label + suffix)
    # ticks at the levels themselves: a log axis spanning less than two decades
    # otherwise shows one label or a crowd of overlapping minor ones
    error_axes.xaxis.set_minor_formatter(NullFormatter())
    error_axes.set_xticks(h, labels=[f"{value:.3g}" for value in h])
    error_axes.set_xlabel("h (largest cell diameter)")
    error_axes.set_ylabel("error")
    error_axes.invert_xaxis()
    error_axes.grid(True, which="both", alpha=0.3)
    if errors:
        error_axes.legend(fontsize="small")
    iteration_axes.semilogx(dofs, iterations, marker="s")
    iteration_axes.set_xlabel("degrees of freedom")
    iteration_axes.set_ylabel("iterations")
    iteration_axes.grid(True, which="both", alpha=0.3)
    if title:
        figure.suptitle(title)
    data = {"h": h.tolist(), "dofs": dofs.astype(int).tolist(), "iterations": iterations,
            "errors": errors}
    return figure, data
