"""Residual histories of one or several solves on one semilogarithmic figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .result import SolveResult


def plot_residuals(results, labels: Sequence[str] | None = None, ax=None, relative: bool = True):
    """Plot ``||r_k||`` (or ``||r_k|| / ||b||``) against the iteration ``k``.

    Parameters
    ----------
    results : SolveResult, mapping, or a sequence of them
        The solves to draw, one line each.  A mapping is a saved record such as
        ``SolveResult.to_dict()``: it needs ``residual_norms`` and ``rhs_norm``, and
        may give ``tolerance``, ``restarts``, ``reason``, ``method``, ``preconditioner``.
    labels : sequence of str, optional
        Legend entries; default ``"method + preconditioner"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made if omitted.
    relative : bool
        Divide by ``||b||`` (the default), so that the tolerance line sits at ``rtol``.

    Returns
    -------
    matplotlib.axes.Axes
        Each solve's line carries its history exactly (``line.get_ydata()``; zeros,
        which a log axis cannot show, become NaN there); the tolerance of each solve
        is a dotted horizontal line of the same colour, and GMRES restarts are small
        circles on the line.  Line styles alternate so that coinciding histories
        (Jacobi on a constant diagonal, say) stay visible.

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
    import matplotlib.pyplot as plt

    if isinstance(results, (SolveResult, Mapping)):
        results = [results]
    histories = [_history(result) for result in results]
    if labels is None:
        labels = [history["label"] for history in histories]
    if len(labels) != len(histories):
        raise ValueError(f"labels: {len(labels)} given for {len(histories)} results")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for index, (history, label) in enumerate(zip(histories, labels, strict=True)):
        scale = history["rhs_norm"] if relative and history["rhs_norm"] > 0 else 1.0
        norms = history["residual_norms"] / scale
        shown = np.where(norms > 0, norms, np.nan)
        if history["reason"]:
            label = f"{label} ({history['reason']})"
        (line,) = ax.semilogy(np.arange(norms.size), shown, label=label,
                              linestyle=_STYLES[index % len(_STYLES)],
                              marker="." if norms.size < 60 else None)
        if np.isfinite(history["tolerance"]):
            ax.axhline(history["tolerance"] / scale, color=line.get_color(), linestyle=":",
                       linewidth=1.0)
        marks = history["restarts"][1:]
        if marks.size:
            ax.semilogy(marks, shown[marks], "o", color=line.get_color(), markersize=3,
                        label="_restarts")
    ax.set_xlabel("iteration k")
    ax.set_ylabel(r"$\|r_k\|_2 / \|b\|_2$" if relative else r"$\|r_k\|_2$")
    ax.grid(True, which="major", alpha=0.3)
    if histories:
        ax.legend(fontsize="small")
    return ax


_STYLES = ("-", "--", "-.", ":")


def _history(result) -> dict:
    """What a plot needs from a SolveResult or a saved record of one."""
    if isinstance(result, SolveResult):
        result = {"residual_norms": result.residual_norms, "rhs_norm": result.rhs_norm,
                  "tolerance": result.tolerance, "restarts": result.restarts,
                  "reason": result.reason.value, "method": result.method,
                  "preconditioner": result.preconditioner}
    if not isinstance(result, Mapping) or "residual_norms" not in result:
        raise TypeError("results: each must be a SolveResult or a mapping with "
                        f"'residual_norms' and 'rhs_norm'; got {type(result).__name__}")
    method = result.get("method", "")
    preconditioner = result.get("preconditioner", "none")
    tolerance = result.get("tolerance")
    return {
        "residual_norms": np.asarray(result["residual_norms"], dtype=np.float64),
        "rhs_norm": float(result.get("rhs_norm", 1.0)),
        "tolerance": float("nan") if tolerance is None else float(tolerance),
        "restarts": np.asarray(result.get("restarts", ()), dtype=np.int64),
        "reason": str(result.get("reason", "")),
        "label": method if preconditioner in ("none", "", None) else
        f"{method} + {preconditioner}",
    }
