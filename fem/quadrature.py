r"""Gauss quadrature rules on the reference interval :math:`[0, 1]` and triangle.

The reference triangle is :math:`\hat T = \{(\xi, \eta) : \xi, \eta \ge 0,\ \xi + \eta \le 1\}`
with area :math:`1/2`; weights sum to the measure of the reference cell, so that

.. math:: \int_{\hat T} g \, d\hat x \approx \sum_q w_q \, g(\hat x_q).

A rule of degree :math:`d` integrates every polynomial of total degree :math:`\le d`
exactly.  Symmetric rules (Strang–Fix / Dunavant) serve degrees up to 5; above that the
collapsed Gauss–Jacobi (Duffy) product rule gives any degree.

Examples
--------
>>> from fem.quadrature import quadrature_rule
>>> points, weights = quadrature_rule("triangle", 2)
>>> points.shape, float(weights.sum())
((3, 2), 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = ["QuadratureRule", "quadrature_rule"]


@dataclass(frozen=True, eq=False)
class QuadratureRule:
    """Reference points (n_points, dim) and weights (n_points,) of a rule exact to ``degree``."""

    points: np.ndarray
    weights: np.ndarray
    degree: int

    def __iter__(self):
        return iter((self.points, self.weights))


def _symmetric_triangle_rule(degree: int):
    """Symmetric rules with orbits of barycentric points; weights relative to area 1."""
    if degree <= 1:
        orbits = [((1 / 3, 1 / 3, 1 / 3), 1.0)]
    elif degree == 2:
        orbits = [((2 / 3, 1 / 6, 1 / 6), 1 / 3)]
    elif degree <= 4:
        orbits = [
            ((0.108103018168070, 0.445948490915965, 0.445948490915965), 0.223381589678011),
            ((0.816847572980459, 0.091576213509771, 0.091576213509771), 0.109951743655322),
        ]
    else:
        a = (6.0 - np.sqrt(15.0)) / 21.0
        b = (6.0 + np.sqrt(15.0)) / 21.0
        orbits = [
            ((1 / 3, 1 / 3, 1 / 3), 9.0 / 40.0),
            ((1.0 - 2.0 * a, a, a), (155.0 - np.sqrt(15.0)) / 1200.0),
            ((1.0 - 2.0 * b, b, b), (155.0 + np.sqrt(15.0)) / 1200.0),
        ]
    points = []
    weights = []
    for (l0, l1, l2), weight in orbits:
        if l1 == l2 == l0:
            permutations = [(l0, l1, l2)]
        else:
            permutations = [(l0, l1, l2), (l1, l0, l2), (l1, l2, l0)]
        for _, xi, eta in permutations:
            points.append((xi, eta))
            weights.append(0.5 * weight)
    return np.array(points), np.array(weights)


def _collapsed_triangle_rule(degree: int):
    r"""Duffy map :math:`\xi = s (1 - t)`, :math:`\eta = t` with Gauss–Jacobi in :math:`t`."""
    from scipy.special import roots_jacobi  # scipy.special only where a rule needs it

    n = degree // 2 + 1
    s, ws = np.polynomial.legendre.leggauss(n)
    s = 0.5 * (s + 1.0)
    ws = 0.5 * ws
    # Jacobi weight (1 - u)^1 on [-1, 1] absorbs the Jacobian (1 - t) of the collapse
    u, wu = roots_jacobi(n, 1.0, 0.0)
    t = 0.5 * (u + 1.0)
    wt = 0.25 * wu
    xi = (s[:, None] * (1.0 - t[None, :])).ravel()
    eta = np.broadcast_to(t[None, :], (n, n)).ravel()
    weights = (ws[:, None] * wt[None, :]).ravel()
    return np.column_stack([xi, eta]), weights


@cache
def _rule(cell_type: str, degree: int) -> QuadratureRule:
    if cell_type == "interval":
        n = max(1, (degree + 2) // 2)
        x, w = np.polynomial.legendre.leggauss(n)
        points, weights = (0.5 * (x + 1.0))[:, None], 0.5 * w
    elif degree <= 5:
        points, weights = _symmetric_triangle_rule(degree)
    else:
        points, weights = _collapsed_triangle_rule(degree)
    points = np.ascontiguousarray(points, dtype=np.float64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    points.setflags(write=False)
    weights.setflags(write=False)
    return QuadratureRule(points, weights, degree)


def quadrature_rule(cell_type: str, degree: int) -> QuadratureRule:
    r"""A Gauss rule on the reference interval or triangle, exact to ``degree``.

    Parameters
    ----------
    cell_type : {"interval", "triangle"}
    degree : int
        Polynomials of total degree :math:`\le` ``degree`` are integrated exactly.

    Returns
    -------
    QuadratureRule
        Unpacks as ``points, weights``; ``points`` has shape (n, 1) or (n, 2).

    Examples
    --------
    >>> points, weights = quadrature_rule("interval", 3)
    >>> round(float(weights @ points[:, 0] ** 3), 15)
    0.25
    """
    if cell_type not in ("interval", "triangle"):
        raise ValueError(f"unknown cell type {cell_type!r}; expected 'interval' or 'triangle'")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"quadrature degree must be a non-negative integer, got {degree!r}")
    return _rule(cell_type, int(degree))
