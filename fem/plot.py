r"""Pictures of discrete functions and of refinement studies (matplotlib, loaded on first use).

* :func:`plot_function` -- a P1/P2 function: a line in 1D (P2 through its basis), a
  coloured surface in 2D (P2 on the triangulation refined at the edge midpoints, so
  that all six nodal values of each cell are drawn);
* :func:`plot_rates` -- errors of a :class:`~fem.norms.RefinementStudy` against
  :math:`h` on log-log axes with the fitted rates and reference slopes :math:`h^p`.

Each draws on the ``ax`` it is given, or on a new figure with the Agg canvas (pyplot's
global state is never touched).  The helpers :func:`plot_triangulation`,
:func:`line_samples` and :func:`reference_slope` give the numbers that are drawn.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from fem.element import FunctionSpace, dof_vector, values_at
from fem.norms import RefinementStudy
from solvers.plot import plain_text

__all__ = ["line_samples", "plot_function", "plot_rates", "plot_triangulation",
           "reference_slope"]

ERROR_LABELS = {"l2": r"$\|u - u_h\|_{L^2}$", "h1": r"$|u - u_h|_{H^1}$"}


def _axes(ax, size=(6.4, 4.4)):
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def plot_triangulation(space: FunctionSpace) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and triangles on which a 2D function of ``space`` is drawn.

    P1: the mesh.  P2: the DOF points, each cell cut into four triangles by its edge
    midpoints (local DOFs ``[v0, v1, v2, m01, m12, m20]`` give ``(v0, m01, m20)``,
    ``(m01, v1, m12)``, ``(m20, m12, v2)``, ``(m01, m12, m20)``), so the nodal values
    of ``u`` are exactly the values at the nodes.

    Returns
    -------
    points : ndarray, shape (num_dofs, 2)
    triangles : ndarray of int64, shape (num_cells, 3) for P1, (4 num_cells, 3) for P2
    """
    if space.mesh.dim != 2:
        raise ValueError(f"plot_triangulation needs a 2D space, got dim {space.mesh.dim}")
    dofs = space.cell_dofs
    if space.degree == 1:
        return space.dof_points, np.asarray(dofs, dtype=np.int64)
    corners = [(0, 3, 5), (3, 1, 4), (5, 4, 2), (3, 4, 5)]
    triangles = np.stack([dofs[:, list(corner)] for corner in corners], axis=1)
    return space.dof_points, triangles.reshape(-1, 3)


def line_samples(space: FunctionSpace, u, per_cell: int | None = None):
    """Points ``x`` (sorted) and the values of the 1D function ``u`` there.

    P1 is exact at its nodes (``per_cell`` 2); P2 is evaluated through its basis at
    ``per_cell`` (default 9) equally spaced points of each cell, the nodes included.
    """
    u = dof_vector(space, u, "u", finite=False)
    if space.mesh.dim != 1:
        raise ValueError(f"line_samples needs a 1D space, got dim {space.mesh.dim}")
    count = per_cell or (2 if space.degree == 1 else 9)
    xi = np.linspace(0.0, 1.0, count)
    ends = space.mesh.points[space.mesh.cells, 0]  # (cells, 2)
    x = ends[:, :1] + xi * (ends[:, 1:] - ends[:, :1])
    values = u[space.cell_dofs] @ space.element.values(xi[:, None]).T
    reversed_ = ends[:, 1] < ends[:, 0]
    x[reversed_], values[reversed_] = x[reversed_, ::-1], values[reversed_, ::-1]
    order = np.argsort(x[:, 0], kind="stable")
    x, values = x[order].ravel(), values[order].ravel()
    keep = np.r_[True, np.diff(x) > 0.0]  # each shared cell end once
    return x[keep], values[keep]


def plot_function(space: FunctionSpace, u, ax=None, *, exact=None, label: str = "u_h",
                  cmap: str = "viridis", centered: bool = False, colorbar: bool = True):
    """Draw a P1/P2 function: a line in 1D, a coloured triangulation in 2D.

    Parameters
    ----------
    space : FunctionSpace
    u : ndarray, shape (num_dofs,)
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure (Agg canvas) if omitted.
    exact : callable, optional
        1D: a vectorised ``u(x)`` drawn dashed over ``u_h`` (on 400 points and the
        sample points).  Ignored in 2D.
    label : str
        Legend entry (1D) or colorbar label (2D).
    cmap, centered : str, bool
        2D colour map; ``centered`` makes the colour range symmetric about zero (for
        errors).
    colorbar : bool
        2D: a colorbar as high as the drawn domain, just right of it.

    Returns
    -------
    1D: the :class:`~matplotlib.lines.Line2D` of ``u_h``; 2D: the
    :class:`~matplotlib.collections.TriMesh` of ``tripcolor`` (``.colorbar`` is its
    colorbar).  ``artist.axes`` is the Axes.
    """
    u = dof_vector(space, u, "u", finite=False)
    ax = _axes(ax)
    if space.mesh.dim == 1:
        x, values = line_samples(space, u)
        (line,) = ax.plot(x, values, label=_math(label),
                          linewidth=1.6)
        if space.num_dofs <= 80:
            nodes = np.argsort(space.dof_points[:, 0], kind="stable")
            ax.plot(space.dof_points[nodes, 0], u[nodes], ".", color=line.get_color(),
                    markersize=5, label="DOF values")
        if exact is not None:
            fine = np.union1d(np.linspace(x[0], x[-1], 400), x)
            ax.plot(fine, values_at(exact, fine[:, None], "exact", symbol="u"), "--",
                    color="0.15", linewidth=1.1, label="exact $u$", zorder=3)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$u$")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        return line
    from matplotlib.tri import Triangulation

    points, triangles = plot_triangulation(space)
    limits = {}
    if centered:
        bound = float(np.max(np.abs(u))) or 1.0
        limits = {"vmin": -bound, "vmax": bound}
    image = ax.tripcolor(Triangulation(points[:, 0], points[:, 1], triangles), u,
                         shading="gouraud", cmap=cmap, **limits)
    low, high = space.mesh.points.min(axis=0), space.mesh.points.max(axis=0)
    ax.set_xlim(low[0], high[0])  # no blank margin around the domain
    ax.set_ylim(low[1], high[1])
    ax.set_aspect("equal")
    # plain italic text rather than mathtext: the same letters, without the math parser
    ax.set_xlabel("x", fontstyle="italic")
    ax.set_ylabel("y", fontstyle="italic")
    if colorbar:
        ratio = min(1.0, (high[1] - low[1]) / max(high[0] - low[0], 1e-300))
        # in axes fractions, so the bar is exactly as high as the drawn (equal-aspect) box
        bar = ax.inset_axes([1.0 + 0.04 * ratio, 0.0, 0.05 * ratio, 1.0])
        ticks = _plain_scalar_formatter_class()(useMathText=True)
        ticks.set_powerlimits((-2, 3))  # 2e-4 as 2 with x10^-4 on top, not 0.0002
        ax.figure.colorbar(image, cax=bar, label=_plain_symbols(label), format=ticks)
    return image


@functools.cache
def _plain_scalar_formatter_class():
    from matplotlib.ticker import ScalarFormatter

    class PlainScalarFormatter(ScalarFormatter):
        """:class:`~matplotlib.ticker.ScalarFormatter` with its ``x10^-4`` offset, in
        plain text (:func:`solvers.plot.plain_text`)."""

        def __call__(self, x, pos=None):
            return plain_text(super().__call__(x, pos))

        def get_offset(self):
            return plain_text(super().get_offset())

    return PlainScalarFormatter


_SUBSCRIPTS = dict(zip("0123456789aehklmnopstx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕₖₗₘₙₒₚₛₜₓ", strict=True))


def _plain_symbols(label: str) -> str:
    """``u_h - u`` as ``uₕ − u`` (plain text, no mathtext); one with other markup as math."""
    # only single-letter subscripts that have a Unicode form, else mathtext as before
    if "$" in label or "^" in label or re.search(r"_(?![a-z0-9]\b)", label):
        return _math(label)
    plain = re.sub(r"_([a-z0-9])\b", lambda match: _SUBSCRIPTS.get(match.group(1), "_"), label)
    return _math(label) if "_" in plain else plain.replace(" - ", " − ")


def _math(label: str) -> str:
    """``u_h`` as math (``$u_h$``); plain words and labels with ``$`` as they are."""
    return f"${label}$" if ("_" in label or "^" in label) and "$" not in label else label


def reference_slope(h, errors, order: float) -> np.ndarray:
    """``C h^order`` through the finest level, moved down by half a decade.

    Drawn beside the data rather than on it, it shows the expected slope.
    """
    h, errors = np.asarray(h, dtype=np.float64), np.asarray(errors, dtype=np.float64)
    finest = int(np.argmin(h))
    return errors[finest] / np.sqrt(10.0) * (h / h[finest]) ** order


def plot_rates(study: RefinementStudy, ax=None, *, expected: dict | None = None):
    """Errors of ``study`` against ``h`` (log-log), fitted rates in the legend.

    Parameters
    ----------
    study : RefinementStudy
    ax : matplotlib.axes.Axes, optional
    expected : dict, optional
        Expected orders by error name (``{"l2": 2, "h1": 1}``): each drawn as a dashed
        line ``h^p`` (:func:`reference_slope`) in the colour of its error.

    Returns
    -------
    matplotlib.axes.Axes
        ``h`` decreases to the right (refinement); ticks sit at the levels' ``h``.
    """
    from matplotlib.ticker import NullFormatter

    ax = _axes(ax)
    expected = expected or {}
    h = np.asarray(study.h, dtype=np.float64)
    for name, errors in study.errors.items():
        rate = study.fitted_rates.get(name, float("nan"))
        text = ERROR_LABELS.get(name, name)
        if np.isfinite(rate):
            text += f", fitted rate {rate:.2f}"
        (line,) = ax.loglog(h, errors, marker="o", label=text)
        if name in expected:
            order = expected[name]
            ax.loglog(h, reference_slope(h, errors, order), "--", color=line.get_color(),
                      linewidth=1.0, label=f"$h^{{{order:g}}}$ (expected)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(h, labels=[f"{value:.3g}" for value in h],
                  rotation=30 if h.size > 5 else 0)
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.set_xlabel("mesh size $h$ (largest cell diameter)")
    ax.set_ylabel("error")
    ax.grid(True, which="both", alpha=0.3)
    if study.errors:
        # errors fall to the right (h decreases), so the lower left stays empty
        ax.legend(fontsize="small", loc="lower left")
    return ax
