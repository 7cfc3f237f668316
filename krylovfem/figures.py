"""Figures of a run: residual histories, the solution and its error, rates, heat iterations.

Each ``*_figure`` function builds a :class:`matplotlib.figure.Figure` on the Agg canvas
(pyplot's global state is never touched) and returns it with ``data``, a JSON-ready
dict of exactly the numbers drawn.  :func:`save_figure` stores that dict inside the
PNG (a text chunk named ``krylovfem``) and :func:`read_figure_data` reads it back, so
a picture can be checked against the record it was drawn from.  The drawing itself
is :func:`solvers.plot.plot_residuals`, :func:`fem.plot.plot_function` and
:func:`fem.plot.plot_rates`.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fem.element import interpolate, values_at
from fem.plot import line_samples, plot_function, plot_rates, plot_triangulation, reference_slope
from solvers.plot import plot_residuals, residual_plot_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "FIGURE_DATA_KEY", "adapt_figures", "compare_figures", "convergence_figure",
           "error_figure", "estimator_figure", "iterations_figure", "preload", "rates_figure",
           "read_figure_data", "residual_figure", "run_figures", "save_figure",
           "solution_figure", "study_figures"]

FIGURE_DATA_KEY = "krylovfem"


#: Margins of a figure in inches (left, right, bottom, top): room for the tick labels and
#: the axis label on the left, the axis label below, the title above.
_MARGINS = (0.9, 0.3, 0.6, 0.45)
#: A 2D domain's: its colorbar (with tick labels, label and offset) goes on the right.
_DOMAIN_MARGINS = (0.75, 1.25, 0.6, 0.45)


def preload() -> None:
    """Import the parts of matplotlib that the figures draw with.

    Imported here, on first use, and not when this module is: matplotlib's import is a
    quarter of a second, which a run drawing its figures in a second process
    (:mod:`krylovfem.drawing`) spends there, beside the solve.
    """
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.ticker  # noqa: F401


def _new_figure(width: float = 6.4, height: float = 4.4,
                margins: tuple[float, float, float, float] = _MARGINS) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # fixed margins, not a layout engine: constrained layout draws every figure a second
    # time, to measure its texts, and that was half the time of writing a figure
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    left, right, bottom, top = margins
    figure.subplots_adjust(left=left / width, right=1.0 - right / width,
                           bottom=bottom / height, top=1.0 - top / height)
    return figure


#: Pixels per inch of the PNG files.
DPI = 120


def save_figure(figure: Figure, path, data: dict) -> Path:
    """Write ``figure`` as PNG with ``data`` as JSON in the text chunk ``krylovfem``.

    The figure is drawn on its Agg canvas at :data:`DPI` (once; twice with a layout
    engine, as :meth:`~matplotlib.figure.Figure.savefig` does, the same pixels) and the
    pixels are encoded by :func:`_png` (RGB, or RGBA where the canvas is not opaque).  Written to a
    temporary file beside ``path`` and renamed, so ``path`` is never half written.
    """
    path = Path(path)
    text = json.dumps(data, allow_nan=False)
    dpi = figure.dpi
    figure.dpi = DPI
    try:
        if figure.get_layout_engine() is not None:
            # as savefig does: a layout measures the texts of a first draw
            figure.draw_without_rendering()
        # fixed margins keep the labels inside the canvas with one draw (a "tight" bounding
        # box would need two)
        figure.canvas.draw()
        encoded = _png(np.asarray(figure.canvas.buffer_rgba()), {FIGURE_DATA_KEY: text}, DPI)
    finally:
        figure.dpi = dpi
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        temporary.write_bytes(encoded)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _png(pixels: np.ndarray, texts: Mapping[str, str], dpi: float) -> bytes:
    """PNG bytes of ``pixels`` (height, width, 4) RGBA, with ``texts`` in iTXt chunks.

    Each row unfiltered (filter type 0) and the whole compressed at zlib level 1: of the
    PNG filters, only the row differences ("up") make these figures smaller (a third, on
    colour fields), at twice the encoding time; a figure of flat colours and lines
    compresses as well without.  PIL's encoder, which tries every filter on every row,
    took 20 to 50 ms a figure of a run, this one 2 to 20 ms.  Reference: the PNG
    specification, ISO/IEC 15948:2004 (W3C Recommendation, 2003), chunks IHDR, pHYs, iTXt,
    IDAT, IEND.
    """
    height, width = pixels.shape[:2]
    opaque = bool((pixels[:, :, 3] == 255).all())
    channels = 3 if opaque else 4
    rows = np.zeros((height, 1 + channels * width), dtype=np.uint8)  # column 0: filter 0
    rows[:, 1:] = pixels[:, :, :channels].reshape(height, channels * width)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    colour_type = 2 if opaque else 6  # truecolour, truecolour with alpha
    per_metre = round(dpi / 0.0254)
    parts = [b"\x89PNG\r\n\x1a\n",
             chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)),
             chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))]
    # keyword, no compression, no language tag, no translated keyword, then UTF-8 text
    parts += [chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))
              for key, value in texts.items()]
    parts += [chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)), chunk(b"IEND", b"")]
    return b"".join(parts)


def read_figure_data(path) -> dict:
    """The plotted numbers that :func:`save_figure` stored in a PNG."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[FIGURE_DATA_KEY])


def residual_figure(records: Sequence[Mapping], *, labels: Sequence[str] | None = None,
                    title: str = "", xmax: float | None = None) -> tuple[Figure, dict]:
    r"""Relative residual histories :math:`\|r_k\|_2 / \|b\|_2` of several solves.

    ``records`` are shaped like :meth:`solvers.SolveResult.to_dict` (only
    ``residual_norms`` is required).  ``data`` is
    :func:`solvers.plot.residual_plot_data`: per series ``label``, ``legend``,
    ``iterations``, ``relative_residuals``, ``tolerance``, ``restarts``,
    ``true_residual``, ``zeros``, ``norm``, ``reason``, ``converged``; and
    ``zero_floor``, ``xlim``, ``clipped``, ``title``.
    """
    records = list(records)
    figure = _new_figure(7.6 if len(records) > 1 else 6.8, 4.2)
    axes = figure.add_subplot()
    plot_residuals(records, labels=labels, ax=axes, xmax=xmax)
    legend = axes.get_legend()
    if legend is not None and legend.get_bbox_to_anchor() is not axes.bbox:
        # a long legend sits right of the axes, as wide as its longest entry
        figure.set_layout_engine("constrained")
    data = residual_plot_data(records, labels, xmax=xmax)
    if title:
        axes.set_title(title)
    return figure, {**data, "title": title}


def _domain_figure(space) -> Figure:
    if space.mesh.dim == 1:
        return _new_figure(6.4, 4.0)
    extent = np.ptp(space.mesh.points, axis=0)
    ratio = extent[1] / max(extent[0], 1e-300)
    return _new_figure(6.4, float(np.clip(4.6 * ratio + 1.2, 2.3, 5.4)), _DOMAIN_MARGINS)


def _with_time(title: str, time: float | None) -> str:
    if time is None:
        return title
    return f"{title}, t = {time:.4g}" if title else f"t = {time:.4g}"


def _at_time(exact, time):
    """``exact`` as a callable of the coordinates only (``t`` bound when given)."""
    if exact is None or time is None or not callable(exact):
        return exact
    return lambda *coordinates: exact(*coordinates, time)


def solution_figure(space, u, *, title: str = "", exact=None,
                    time: float | None = None) -> tuple[Figure, dict]:
    """The discrete solution: a line in 1D (with ``exact`` dashed over it), a surface in 2D.

    ``exact`` is a vectorised callable of the coordinates (and of ``t`` last, when
    ``time`` is given); 1D only.  ``data``: ``values`` (the DOF values drawn),
    ``min``, ``max``, ``time``; 1D also ``x`` and ``u_h`` (the samples drawn) and
    ``exact`` (the exact values at those ``x``, when given); 2D also ``triangles``
    (how many were drawn: four per cell for P2).
    """
    u = np.asarray(u, dtype=np.float64)
    figure = _domain_figure(space)
    axes = figure.add_subplot()
    exact = _at_time(exact, time)
    plot_function(space, u, axes, exact=exact)
    data = {"values": u.tolist(), "min": float(u.min()), "max": float(u.max()), "time": time}
    if space.mesh.dim == 1:
        x, samples = line_samples(space, u)
        data |= {"x": x.tolist(), "u_h": samples.tolist()}
        if exact is not None:
            data["exact"] = values_at(exact, x[:, None], "exact", symbol="u").tolist()
    else:
        data["triangles"] = int(plot_triangulation(space)[1].shape[0])
    axes.set_title(_with_time(title or "uₕ", time))
    return figure, data


def error_figure(space, u, exact, *, title: str = "",
                 time: float | None = None) -> tuple[Figure, dict]:
    """The error ``u_h - u``, drawn like the solution, its max-norm in the title.

    1D: at nine points per cell (:func:`fem.plot.line_samples`), so the error between
    the nodes shows, for P1 too; 2D: at the DOFs, on the same triangulation as the solution, with a
    colour scale symmetric about zero.  ``data``: ``max_abs``, ``time``, and ``x``,
    ``error`` (1D) or ``values`` (2D, the error at each DOF).
    """
    u = np.asarray(u, dtype=np.float64)
    exact = _at_time(exact, time)
    figure = _domain_figure(space)
    axes = figure.add_subplot()
    if space.mesh.dim == 1:
        x, samples = line_samples(space, u, per_cell=9)  # P1 too: the error is not linear
        error = samples - values_at(exact, x[:, None], "exact", symbol="u")
        axes.plot(x, error, label="$u_h - u$")
        axes.axhline(0.0, color="0.5", linewidth=0.8)
        axes.set_xlabel("$x$")
        axes.set_ylabel("$u_h - u$")
        axes.grid(True, alpha=0.3)
        axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)
        data = {"x": x.tolist(), "error": error.tolist()}
        where = ""
    else:
        error = u - interpolate(space, exact)
        plot_function(space, error, axes, label="u_h - u", cmap="RdBu_r", centered=True)
        data = {"values": error.tolist()}
        where = " at the DOFs"
    largest = float(np.max(np.abs(error)))
    heading = f"max|uₕ − u| = {largest:.3e}{where}"
    axes.set_title(_with_time(f"{title}: {heading}" if title else heading, time))
    return figure, {**data, "max_abs": largest, "time": time}


def rates_figure(study, *, expected: dict | None = None, solver_label: str = "",
                 title: str = "") -> tuple[Figure, dict]:
    """Errors against ``h`` (fitted rates, reference slopes) beside iterations against DOFs.

    ``data``: ``h``, ``dofs``, ``errors`` and ``fitted_rates`` by name, ``reference``
    (by name: ``order`` and the ``values`` of the dashed ``h^p`` line),
    ``iterations`` (or None), ``solver``.
    """
    from matplotlib.ticker import MaxNLocator

    figure = _new_figure(10.4, 4.3)
    # the legend goes below both panels, where only a layout engine makes room for it
    figure.set_layout_engine("constrained")
    error_axes, iteration_axes = figure.subplots(1, 2)
    plot_rates(study, error_axes, expected=expected)
    if error_axes.get_legend() is not None:  # below the panels, where it covers no curve
        error_axes.get_legend().remove()
        handles, names = error_axes.get_legend_handles_labels()
        figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 4),
                      fontsize="small")
    h = np.asarray(study.h, dtype=np.float64)
    errors = {name: [float(v) for v in values] for name, values in study.errors.items()}
    reference = {name: {"order": float(order),
                        "values": reference_slope(h, errors[name], order).tolist()}
                 for name, order in (expected or {}).items() if name in errors}
    dofs = [int(n) for n in study.dofs]
    iterations = None if study.iterations is None else [int(k) for k in study.iterations]
    if iterations is not None:
        iteration_axes.semilogx(dofs, iterations, marker="s", color="0.25")
        iteration_axes.set_ylim(bottom=0, top=max(max(iterations) * 1.15, 1))
        iteration_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        iteration_axes.text(0.5, 0.5, "iterations not recorded", ha="center",
                            transform=iteration_axes.transAxes)
    iteration_axes.set_title(f"iterations of {solver_label}" if solver_label else "iterations",
                             fontsize="medium")
    iteration_axes.set_xlabel("degrees of freedom")
    iteration_axes.set_ylabel("iterations to the tolerance")
    iteration_axes.grid(True, which="both", alpha=0.3)
    error_axes.set_title("discretisation error", fontsize="medium")
    if title:
        figure.suptitle(title)
    fitted = {name: float(rate) if np.isfinite(rate) else None
              for name, rate in study.fitted_rates.items()}
    return figure, {"h": h.tolist(), "dofs": dofs, "errors": errors, "fitted_rates": fitted,
                    "reference": reference, "iterations": iterations, "solver": solver_label}


def iterations_figure(times, iterations, *, title: str = "",
                      solver_label: str = "") -> tuple[Figure, dict]:
    """Krylov iterations of each time step against ``t`` (the step's end time).

    ``times`` is ``t_1..t_N`` or ``t_0..t_N`` (then ``t_0`` is dropped).  ``data``:
    ``t``, ``iterations``, ``total``, ``solver``.
    """
    times = np.asarray(times, dtype=np.float64)
    counts = [int(k) for k in iterations]
    if times.size == len(counts) + 1:
        times = times[1:]
    if times.size != len(counts):
        raise ValueError(f"times: {times.size} given for {len(counts)} steps")
    from matplotlib.ticker import MaxNLocator

    figure = _new_figure(6.4, 3.8)
    axes = figure.add_subplot()
    axes.plot(times, counts, marker="." if len(counts) <= 200 else None, linewidth=1.2,
              label=f"{solver_label}, {sum(counts)} iterations in all" if solver_label else "_")
    axes.set_ylim(bottom=0, top=max(max(counts, default=1) * 1.15, 1))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("time $t$")
    axes.set_ylabel("iterations per time step")
    axes.grid(True, alpha=0.3)
    if solver_label:
        axes.legend(fontsize="small", loc="lower right")
    axes.set_title(title or f"{len(counts)} steps, {sum(counts)} iterations in all")
    return figure, {"t": times.tolist(), "iterations": counts, "total": sum(counts),
                    "solver": solver_label}


def convergence_figure(steps, uniform, *, order: float, title: str = "") -> tuple[Figure, dict]:
    r"""Estimate and :math:`H^1` error against the DOFs (log-log), adaptive and uniform.

    ``steps`` and ``uniform`` are :class:`~krylovfem.adapt.AdaptStep` sequences;
    ``order`` the optimal exponent :math:`p / d`, drawn dashed as :math:`N^{-p/d}`
    (:func:`fem.plot.reference_slope`) beside the adaptive error (or estimate).
    ``data``: per sequence ``dofs``, ``estimate``, ``h1`` (or None); ``reference``
    (``order`` and ``values``).
    """
    figure = _new_figure(7.0, 4.8)
    axes = figure.add_subplot()
    data = {}
    for name, sequence, marker in (("adaptive", steps, "o"), ("uniform", uniform, "s")):
        dofs = [step.dofs for step in sequence]
        estimate = [step.estimate for step in sequence]
        h1 = [step.errors["h1"] for step in sequence] if sequence and all(
            step.errors for step in sequence) else None
        data[name] = {"dofs": dofs, "estimate": estimate, "h1": h1}
        if not sequence:
            continue
        (line,) = axes.loglog(dofs, estimate, marker=marker, linestyle="--",
                              label=f"estimate $\\eta$, {name}")
        if h1 is not None:
            axes.loglog(dofs, h1, marker=marker, color=line.get_color(),
                        label=f"$|u - u_h|_{{H^1}}$, {name}")
    adaptive = data["adaptive"]
    values = adaptive["h1"] or adaptive["estimate"]
    inverse = 1.0 / np.asarray(adaptive["dofs"], dtype=np.float64)
    slope = reference_slope(inverse, values, order)
    axes.loglog(adaptive["dofs"], slope, ":", color="0.3",
                label=f"$N^{{-{order:g}}}$ (optimal)")
    axes.set_xlabel("degrees of freedom $N$")
    axes.set_ylabel("estimate and error")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="lower left")
    if title:
        axes.set_title(title)
    data["reference"] = {"order": order, "values": slope.tolist()}
    return figure, data


def estimator_figure(space, indicators, *, title: str = "") -> tuple[Figure, dict]:
    r"""The mesh coloured by :math:`\log_{10} \eta_T` (2D), or :math:`\eta_T` per cell (1D).

    ``data``: ``cells``, ``min`` and ``max`` of :math:`\eta_T`.
    """
    from matplotlib.colors import LogNorm

    eta = np.sqrt(np.asarray(indicators, dtype=np.float64))
    positive = eta[eta > 0]
    floor = float(positive.min()) if positive.size else 1.0
    shown = np.maximum(eta, floor)
    figure = _domain_figure(space)
    axes = figure.add_subplot()
    mesh = space.mesh
    if mesh.dim == 1:
        ends = mesh.points[mesh.cells, 0]
        order = np.argsort(ends[:, 0])
        axes.stairs(shown[order], np.append(ends[order, 0], ends[order[-1], 1]))
        axes.set_yscale("log")
        axes.set_xlabel("$x$")
        axes.set_ylabel(r"$\eta_T$")
        axes.grid(True, alpha=0.3)
    else:
        from matplotlib.tri import Triangulation

        # the colorbar takes its room from the axes, which keep the domain's aspect: only a
        # layout engine puts the two side by side, of one height
        figure.set_layout_engine("constrained")
        triangulation = Triangulation(mesh.points[:, 0], mesh.points[:, 1], mesh.cells)
        image = axes.tripcolor(triangulation, facecolors=shown, cmap="magma",
                               norm=LogNorm(vmin=floor, vmax=max(float(shown.max()), floor)),
                               # past a few thousand cells the edges would hide the colours
                               edgecolors="0.6" if mesh.num_cells <= 4000 else "face",
                               linewidth=0.3)
        axes.set_aspect("equal")
        axes.set_xlabel("x", fontstyle="italic")
        axes.set_ylabel("y", fontstyle="italic")
        figure.colorbar(image, ax=axes, label=r"$\eta_T$")
    axes.set_title(title or f"{mesh.num_cells} cells")
    return figure, {"cells": int(mesh.num_cells), "min": float(eta.min()),
                    "max": float(eta.max())}


# --------------------------------------------------------------------------------------
# The figures of a record folder (krylovfem.record): name -> writer(path)
# --------------------------------------------------------------------------------------
def _writer(build):
    def write(path) -> None:
        figure, data = build()
        save_figure(figure, path, data)

    return write


def _solver_label(solve) -> str:
    from krylovfem.report import solver_label

    return solver_label(solve.method, solve.preconditioner)


def run_figures(run) -> dict:
    """``residuals.png``, and ``solution.png``, ``error.png`` (exact known) and
    ``iterations.png`` (heat) where they apply."""
    from krylovfem.build import exact_solution

    case, writers = run.case, {}
    time = None if run.times is None else float(run.times[-1])
    if run.final is not None:
        writers["residuals.png"] = _writer(lambda: residual_figure(
            [run.final.to_dict()], title=_with_time(f"{case.name}: {run.dofs} DOFs", time)))
    if run.space is not None and run.final is not None:
        exact, _ = exact_solution(case, time)
        writers["solution.png"] = _writer(lambda: solution_figure(
            run.space, run.u, title=f"{case.name}: uₕ", exact=exact, time=time))
        if exact is not None:
            writers["error.png"] = _writer(lambda: error_figure(
                run.space, run.u, exact, title=case.name, time=time))
    if run.times is not None and run.solves:
        writers["iterations.png"] = _writer(lambda: iterations_figure(
            run.times, [solve.iterations for solve in run.solves], title=case.name,
            solver_label=_solver_label(run.final)))
    return writers


def study_figures(result) -> dict:
    """``rates.png`` of a study, with the orders expected of a stationary problem."""
    case = result.case
    degree = int(str(case.mesh_settings.element).lstrip("Pp") or 1)
    expected = None if case.time is not None else {"l2": degree + 1, "h1": degree}
    label = _solver_label(result.runs[0].final) if result.runs and result.runs[0].final else ""
    return {"rates.png": _writer(lambda: rates_figure(
        result.study, expected=expected, solver_label=label,
        title=f"{case.name}: {case.mesh_settings.element}"))}


def compare_figures(result) -> dict:
    """``compare.png``: every solver's residual history on the one system."""
    return {"compare.png": _writer(lambda: residual_figure(
        [solve.to_dict() for solve in result.solves],
        title=f"{result.case.name}: {result.dofs} unknowns"))}


def adapt_figures(result) -> dict:
    """``convergence.png`` (estimate and error against DOFs, adaptive and uniform),
    ``mesh.png`` (the final mesh coloured by the estimator) and ``solution.png``."""
    from krylovfem.build import exact_solution

    case = result.case
    degree = case.mesh_settings.degree
    exact, _ = exact_solution(case)
    last = result.steps[-1]
    return {
        "convergence.png": _writer(lambda: convergence_figure(
            result.steps, result.uniform, order=degree / case.dim,
            title=f"{case.name}: {case.mesh_settings.element}, {result.settings.marking} "
                  f"marking, theta {result.settings.theta:g}")),
        "mesh.png": _writer(lambda: estimator_figure(
            result.space, result.indicators,
            title=f"{case.name}: step {last.step}, {last.dofs} DOFs")),
        "solution.png": _writer(lambda: solution_figure(
            result.space, result.u, title=f"{case.name}: uₕ", exact=exact)),
    }
