"""Residual histories of one or several solves on one semilogarithmic figure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .result import SolveResult


def plot_residuals(results, labels: Sequence[str] | None = None, ax=None, relative: bool = True):
    """Plot ``||r_k||`` (or ``||r_k|| / ||b||``) against the iteration ``k``.

    Parameters
    ----------
    results : SolveResult or sequence of SolveResult
        The solves to draw, one line each.
    labels : sequence of str, optional
        Legend entries; default ``"method + preconditioner"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made if omitted.
    relative : bool
        Divide by ``||b||`` (the default), so that the tolerance line sits at ``rtol``.

    Returns
    -------
    matplotlib.axes.Axes
        Each solve's line carries its history exactly (``line.get_ydata()``); the
        tolerance of each solve is a dotted horizontal line of the same colour, and
        GMRES restarts are marked with small circles on the line.

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

    if isinstance(results, SolveResult):
        results = [results]
    results = list(results)
    if labels is None:
        labels = [_default_label(result) for result in results]
    if len(labels) != len(results):
        raise ValueError(f"labels: {len(labels)} given for {len(results)} results")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for result, label in zip(results, labels, strict=True):
        scale = result.rhs_norm if relative and result.rhs_norm > 0 else 1.0
        history = np.asarray(result.residual_norms) / scale
        iterations = np.arange(history.size)
        (line,) = ax.semilogy(iterations, history, label=f"{label} ({result.reason.value})")
        ax.axhline(result.tolerance / scale, color=line.get_color(), linestyle=":",
                   linewidth=1.0)
        if result.restarts.size > 1:
            marks = result.restarts[1:]
            ax.semilogy(marks, history[marks], "o", color=line.get_color(), markersize=3,
                        label="_restarts")
    ax.set_xlabel("iteration k")
    ax.set_ylabel(r"$\|r_k\|_2 / \|b\|_2$" if relative else r"$\|r_k\|_2$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _default_label(result: SolveResult) -> str:
    if result.preconditioner == "none":
        return result.method
    return f"{result.method} + {result.preconditioner}"
