"""Residual histories of one or several solves on one semilogarithmic figure."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from .result import SolveResult

__all__ = ["plain_log_formatter", "plain_text", "plot_residuals", "residual_plot_data"]

_STYLES = ("-", "--", "-.", ":")
_WIDTHS = (2.4, 1.8, 1.5)  # an earlier line shows round a later one on top of it
_PRECONDITIONED = r"$\|M^{-1} r_k\|$"
TRUE_RESIDUAL_LABEL = "true residual ||b - Ax||"


def plot_residuals(results, labels: Sequence[str] | None = None, ax=None, relative: bool = True,
                   *, xmax: float | None = None):
    """Plot ``||r_k||`` (or ``||r_k|| / ||b||``) against the iteration ``k``.

    Parameters
    ----------
    results : SolveResult, mapping, or a sequence of them
        The solves to draw, one line each.  A mapping is a saved record such as
        ``SolveResult.to_dict()``: it needs ``residual_norms`` and may give
        ``rhs_norm``, ``tolerance``, ``restarts``, ``reason``, ``method``,
        ``preconditioner``, ``true_residual_norm`` and ``residual_norm_type``.
    labels : sequence of str, optional
        Legend entries; default ``"method + preconditioner"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made (through pyplot) if omitted.
    relative : bool
        Divide by ``||b||`` (the default), so that the tolerance line sits at ``rtol``.
    xmax : float, optional
        Right end of the iteration axis.  By default, when a solve that did not
        converge ran more than three times as long as the longest converged one, the
        axis stops at about 1.2 times the longest converged history and a note in the
        curve's colour says how far the cut curve goes on; ``math.inf`` never cuts.

    Returns
    -------
    matplotlib.axes.Axes
        Each solve's line carries its history exactly (``line.get_ydata()``) except
        that exact zeros, which a log axis cannot show, are drawn at a floor a decade
        below the smallest positive value shown, with a triangle marker (legend:
        "||r_k|| = 0, drawn at <floor>").  Per solve: the tolerance is a dotted
        horizontal line of the same colour, GMRES restarts are small circles on the
        line, and the recomputed true residual ``||b - A x||`` is a hollow diamond at
        the last iteration.  A left-preconditioned GMRES history is marked
        ``||M^-1 r_k||`` in its legend entry.  Line styles alternate so that
        coinciding histories stay visible.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import cg, plot_residuals
    >>> A = sp.diags([-np.ones(49), 2 * np.ones(50), -np.ones(49)], [-1, 0, 1], format="csr")
    >>> ax = plot_residuals([cg(A, np.ones(50)), cg(A, np.ones(50), M="ic0")])
    >>> len(ax.get_lines())
    4
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    plot = residual_plot_data(results, labels, relative=relative, xmax=xmax)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    floor = plot["zero_floor"]
    proxies, colors = {}, []
    for index, series in enumerate(plot["series"]):
        x = np.asarray(series["iterations"])
        shown = _shown(series["relative_residuals"], floor)
        (line,) = ax.semilogy(x, shown, label=series["legend"],
                              linestyle=_STYLES[index % len(_STYLES)],
                              marker="." if x.size < 60 else None,
                              linewidth=_WIDTHS[min(index, len(_WIDTHS) - 1)])
        color = line.get_color()
        colors.append(color)
        if series["tolerance"] is not None:
            ax.axhline(series["tolerance"], color=color, linestyle=":", linewidth=1.0,
                       label="_tolerance")
            proxies["tolerance"] = Line2D([], [], color="0.4", linestyle=":", linewidth=1.0)
        marks = np.asarray(series["restarts"], dtype=np.int64)
        if marks.size:
            ax.semilogy(marks, shown[marks], "o", color=color, markersize=6.5,
                        markerfacecolor="none", markeredgewidth=1.0, label="_restarts")
            proxies["restart"] = Line2D([], [], color="0.3", marker="o", markersize=6.5,
                                        markerfacecolor="none", linestyle="none")
        if series["zeros"]:
            ax.scatter(series["zeros"], np.full(len(series["zeros"]), floor), marker="v", s=30,
                       color=color, zorder=5, label="_zero")
        true = series["true_residual"]
        if true is not None:
            value = floor if true["value"] == 0.0 else true["value"]
            ax.scatter([true["iteration"]], [value], marker="D", s=42, facecolors="none",
                       edgecolors=color, linewidths=1.4, zorder=4, label="_true_residual")
            proxies[TRUE_RESIDUAL_LABEL] = Line2D([], [], color="0.2", marker="D",
                                                  markerfacecolor="none", linestyle="none")
    if floor is not None:
        proxies[f"‖rₖ‖ = 0, drawn at {floor:.0e}"] = Line2D(
            [], [], color="0.2", marker="v", linestyle="none")
        ax.set_ylim(bottom=floor / 3.0)
    if plot["xlim"] is not None:
        ax.set_xlim(plot["xlim"])
        for row, cut in enumerate(plot["clipped"]):
            ax.annotate(f"{cut['label']} runs on to k = {cut['iterations']} \u2192",
                        xy=(0.99, 0.97 - 0.07 * row), xycoords="axes fraction", ha="right",
                        va="top", fontsize="small", color=colors[cut["index"]])
    else:
        ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(plain_log_formatter())
    ax.yaxis.set_minor_formatter(plain_log_formatter(labelOnlyBase=False))
    ax.set_xlabel("iteration k")
    ax.set_ylabel(_ylabel(plot))
    ax.grid(True, which="major", alpha=0.3)
    if plot["series"]:
        handles, names = ax.get_legend_handles_labels()
        handles += list(proxies.values())
        names += list(proxies)
        if len(names) > 4:
            ax.legend(handles, names, fontsize="small", loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        else:
            ax.legend(handles, names, fontsize="small")
    return ax


def residual_plot_data(results, labels: Sequence[str] | None = None, *, relative: bool = True,
                       xmax: float | None = None) -> dict:
    """The numbers :func:`plot_residuals` draws, as a JSON-ready dict.

    Returns
    -------
    dict
        ``series``: per solve ``label`` (as given or ``method + preconditioner``),
        ``legend`` (the legend entry), ``iterations`` (``0..k``),
        ``relative_residuals`` (the history divided by ``||b||`` when ``relative``;
        None where not finite), ``tolerance`` (same scale, or None), ``restarts``
        (cycle starts after the first), ``true_residual`` (``{"iteration",
        "value"}`` or None), ``zeros`` (indices of exact zeros), ``norm``
        (``"unpreconditioned"`` or ``"preconditioned"``), ``reason``, ``converged``;
        ``relative``; ``zero_floor`` (where zeros are drawn, or None); ``xlim``
        (``[0, xmax]`` when the iteration axis is cut, else None); ``clipped`` (the
        cut curves: ``index``, ``label``, ``iterations``).
    """
    if isinstance(results, (SolveResult, Mapping)):
        results = [results]
    histories = [_history(result) for result in results]
    if labels is None:
        labels = [history["label"] for history in histories]
    if len(labels) != len(histories):
        raise ValueError(f"labels: {len(labels)} given for {len(histories)} results")
    series = []
    for history, label in zip(histories, labels, strict=True):
        scale = history["rhs_norm"] if relative and history["rhs_norm"] > 0 else 1.0
        norms = history["residual_norms"] / scale
        legend = str(label)
        if history["norm"] == "preconditioned":
            legend += f", {_PRECONDITIONED}"
        if history["reason"]:
            legend += f" ({history['reason']})"
        true = history["true_residual_norm"]
        series.append({
            "label": str(label), "legend": legend, "iterations": list(range(norms.size)),
            "relative_residuals": [float(v) if math.isfinite(v) else None for v in norms],
            "tolerance": history["tolerance"] / scale
            if math.isfinite(history["tolerance"]) else None,
            "restarts": [int(k) for k in history["restarts"][1:] if 0 <= k < norms.size],
            "true_residual": {"iteration": norms.size - 1, "value": true / scale}
            if math.isfinite(true) and norms.size else None,
            "zeros": [int(k) for k in np.flatnonzero(norms == 0.0)],
            "norm": history["norm"], "reason": history["reason"],
            "converged": history["converged"]})
    return {"relative": bool(relative), "series": series, "zero_floor": _floor(series),
            **_clip(series, xmax)}


def _floor(series) -> float | None:
    """Where exact zeros are drawn: a decade below the smallest positive value shown."""
    true_zero = any(s["true_residual"] and s["true_residual"]["value"] == 0.0 for s in series)
    if not true_zero and not any(s["zeros"] for s in series):
        return None
    positive = [v for s in series for v in s["relative_residuals"] if v]
    positive += [s["tolerance"] for s in series if s["tolerance"]]
    positive += [s["true_residual"]["value"] for s in series
                 if s["true_residual"] and s["true_residual"]["value"]]
    smallest = min((v for v in positive if v > 0), default=1.0)
    return float(10.0 ** (math.floor(math.log10(smallest)) - 1))


def _clip(series, xmax) -> dict:
    if xmax is not None:
        if math.isinf(xmax):
            return {"xlim": None, "clipped": []}
        right = float(xmax)
    else:
        converged = [len(s["iterations"]) - 1 for s in series if s["converged"] is True]
        failed = [len(s["iterations"]) - 1 for s in series if s["converged"] is False]
        if not converged or not failed or max(failed) <= 3 * max(max(converged), 1):
            return {"xlim": None, "clipped": []}
        right = float(max(math.ceil(1.2 * max(converged)), max(converged) + 2))
    clipped = [{"index": index, "label": s["label"], "iterations": len(s["iterations"]) - 1}
               for index, s in enumerate(series) if len(s["iterations"]) - 1 > right]
    return {"xlim": [0.0, right], "clipped": clipped}


def _shown(values, floor) -> np.ndarray:
    shown = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.where(shown == 0.0, np.nan if floor is None else floor, shown)


def _ylabel(plot) -> str:
    # plain text (U+2016 double bar, subscripts), which draws without the mathtext parser
    kinds = {s["norm"] for s in plot["series"]}
    residual, preconditioned = "‖rₖ‖₂", "‖M⁻¹ rₖ‖₂"
    scale = " / ‖b‖₂" if plot["relative"] else ""
    text = (preconditioned if kinds == {"preconditioned"} else residual) + scale
    if len(kinds) > 1:
        text += f" or {preconditioned}{scale}"
    return text


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def plain_text(label: str) -> str:
    r"""A tick label of matplotlib's formatters as plain text, when it is a simple one.

    The log and scientific formatters write their labels in mathtext
    (``$\mathdefault{10^{-4}}$``, ``$\mathdefault{2\times10^{-1}}$``), and the first
    mathtext of a process sets up a parser (tens of milliseconds).  The same label in
    Unicode (``10⁻⁴``, ``2×10⁻¹``; DejaVu Sans has every glyph) draws as ordinary text.
    A label with any other markup is returned as it is.

    Examples
    --------
    >>> plain_text(r"$\mathdefault{10^{-12}}$"), plain_text(r"$\mathdefault{2\times10^{3}}$")
    ('10⁻¹²', '2×10³')
    >>> plain_text(r"$\sqrt{2}$")
    '$\\sqrt{2}$'
    """
    match = re.fullmatch(r"\$(.*)\$", label)
    if match is None:
        return label
    text = re.sub(r"\\mathdefault\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", r"\1", match.group(1))
    text = text.replace("\\times", "×").replace("-", "−")
    text = re.sub(r"\^\{(−?\d+)\}",
                  lambda power: power.group(1).replace("−", "-").translate(_SUPERSCRIPTS), text)
    return label if re.search(r"[\\^${}_]", text) else text


@functools.cache
def _plain_log_formatter_class():
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        """:class:`~matplotlib.ticker.LogFormatterSciNotation` in plain text."""

        def __call__(self, x, pos=None):
            return plain_text(super().__call__(x, pos))

    return PlainLogFormatter


def plain_log_formatter(**options):
    """The tick formatter of a log axis (``10⁻⁴``, ``2×10⁻¹``) with no mathtext.

    ``options`` go to :class:`matplotlib.ticker.LogFormatterSciNotation`, whose labels
    (which ticks are labelled, and how) it keeps; only the markup is :func:`plain_text`.

    Examples
    --------
    >>> formatter = plain_log_formatter()
    >>> formatter(1e-8), formatter(1.0), formatter(100.0)
    ('10⁻⁸', '10⁰', '10²')
    """
    return _plain_log_formatter_class()(**options)


def _history(result) -> dict:
    """What a plot needs from a SolveResult or a saved record of one."""
    if isinstance(result, SolveResult):
        result = result.to_dict()
    if not isinstance(result, Mapping) or "residual_norms" not in result:
        raise TypeError("results: each must be a SolveResult or a mapping with "
                        f"'residual_norms' and 'rhs_norm'; got {type(result).__name__}")
    method = result.get("method", "")
    preconditioner = result.get("preconditioner", "none")
    reason = str(result.get("reason") or "")
    converged = result.get("converged")
    if converged is None and reason:
        converged = reason.startswith("converged")
    tolerance, true = result.get("tolerance"), result.get("true_residual_norm")
    return {
        "residual_norms": np.asarray(result["residual_norms"], dtype=np.float64),
        "rhs_norm": float(result.get("rhs_norm", 1.0)),
        "tolerance": float("nan") if tolerance is None else float(tolerance),
        "restarts": np.asarray(result.get("restarts", ()), dtype=np.int64),
        "reason": reason,
        "converged": None if converged is None else bool(converged),
        "true_residual_norm": float("nan") if true is None else float(true),
        "norm": str(result.get("residual_norm_type") or "unpreconditioned"),
        "label": method if preconditioner in ("none", "", None) else
        f"{method} + {preconditioner}",
    }
