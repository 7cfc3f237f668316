"""The systems the solver benchmarks time, and their settings; NumPy and SciPy only, so a
benchmark can build them before it chooses which tree's ``solvers`` to import."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

RTOL = 1e-8
RESTART = 30


def laplacian_2d(m: int) -> sp.csr_array:
    """5-point Laplacian on an ``m x m`` interior grid (unscaled: 4 on the diagonal)."""
    one = sp.diags_array([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1])
    eye = sp.eye_array(m)
    return sp.csr_array(sp.kron(eye, one) + sp.kron(one, eye))


def convection_diffusion_2d(m: int, peclet: float = 1.0) -> sp.csr_array:
    r"""Upwind finite differences of :math:`-\Delta u + v\cdot\nabla u` on the unit square.

    Velocity :math:`v = (1, 1/2)\,|v|`; ``peclet`` is the mesh Peclet number
    :math:`|v| h / 2`, so the operator keeps the same character on every grid.  Scaled
    by :math:`h^2`: diagonal ``4 + 2 h (v_x + v_y)``, upwind neighbours ``-1 - h v``.
    """
    h = 1.0 / (m + 1)
    speed = 2.0 * peclet / h
    vx, vy = speed, 0.5 * speed
    eye = sp.eye_array(m)
    diffusion = sp.diags_array([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)],
                               offsets=[-1, 0, 1])
    # backward difference for a positive velocity: (u_i - u_{i-1}) * h v
    upwind = sp.diags_array([-np.ones(m - 1), np.ones(m)], offsets=[-1, 0])
    operator = (sp.kron(eye, diffusion + h * vx * upwind)
                + sp.kron(diffusion + h * vy * upwind, eye))
    return sp.csr_array(operator)
