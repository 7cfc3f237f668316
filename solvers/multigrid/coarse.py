r"""The coarsest level, solved directly by sparse LU factors computed once.

SuperLU (through SciPy) factors :math:`P_r C P_c = L U`, with a fill-reducing ordering
of :math:`C + C^T` and the diagonal pivots kept where possible (the symmetric mode, for
the symmetric matrices multigrid mostly meets); the cycle then solves with ``L`` and
``U`` in Numba.  A matrix that SuperLU finds singular, as the coarsest matrix of a
problem without Dirichlet conditions is, gets a dense pseudo-inverse when it is
symmetric positive semidefinite (CG then still converges on a consistent right-hand
side); otherwise the coarse solve breaks down, a :class:`~solvers.PivotError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._errors import PivotError

#: How the coarsest level is solved: sparse LU factors, or a dense pseudo-inverse.
LU, PSEUDO_INVERSE = 0, 1
# Relative asymmetry below which the coarsest matrix counts as symmetric (rounding of P^T A P).
_SYMMETRIC = 1e-10
# Eigenvalues below this share of the largest (times n) are taken as zero: a null space.
_NULL = 1e-12
# Largest singular coarsest level given a dense pseudo-inverse.
_DENSE_LIMIT = 5000


@dataclass(frozen=True)
class CoarseSolver:
    """``kind`` LU: ``lower`` and ``upper`` as CSR triples and the permutations, with
    ``x = (U^{-1} L^{-1} b[row_order])[column_order]``; ``kind`` PSEUDO_INVERSE: ``dense``
    (row-major)."""

    kind: int
    lower: tuple = ()
    upper: tuple = ()
    row_order: np.ndarray | None = None
    column_order: np.ndarray | None = None
    dense: np.ndarray | None = None


def _triple(matrix) -> tuple:
    matrix = sp.csr_array(matrix)
    matrix.sort_indices()
    return (matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32),
            matrix.data.astype(np.float64))


def coarse_solver(matrix: sp.csr_array) -> CoarseSolver:
    """Factor the coarsest matrix.

    Raises
    ------
    PivotError
        If it is singular and not symmetric positive semidefinite, or not finite.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> solver = coarse_solver(sp.csr_array(np.array([[4.0, 2.0], [2.0, 5.0]])))
    >>> solver.kind == LU, solver.lower[2].size, solver.upper[2].size   # L: unit diagonal stored
    (True, 3, 3)
    >>> coarse_solver(sp.csr_array(np.array([[1.0, -1.0], [-1.0, 1.0]]))).kind == PSEUDO_INVERSE
    True
    """
    n = matrix.shape[0]
    if not np.all(np.isfinite(matrix.data)):
        raise PivotError(f"amg: the coarsest matrix ({n} unknowns) is not finite")
    try:
        from scipy.sparse.linalg import splu  # see solvers._inputs.linear_operator

        factors = splu(sp.csc_array(matrix), permc_spec="MMD_AT_PLUS_A",
                       diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except RuntimeError:  # SuperLU: "Factor is exactly singular"
        return CoarseSolver(PSEUDO_INVERSE, dense=_pseudo_inverse(matrix).ravel())
    row_order = np.empty(n, dtype=np.int64)
    row_order[factors.perm_r] = np.arange(n)
    return CoarseSolver(LU, _triple(factors.L), _triple(factors.U), row_order,
                        factors.perm_c.astype(np.int64))


def _pseudo_inverse(matrix: sp.csr_array) -> np.ndarray:
    n = matrix.shape[0]
    if n > _DENSE_LIMIT:
        raise PivotError(f"amg: the coarsest matrix ({n} unknowns) is singular; the coarse "
                         "solve breaks down")
    dense = matrix.toarray()
    scale = float(np.abs(dense).max()) if dense.size else 0.0
    if not scale > 0.0 or np.abs(dense - dense.T).max() > _SYMMETRIC * scale:
        raise PivotError(f"amg: the coarsest matrix ({n} unknowns) is singular and not "
                         "symmetric; the coarse solve breaks down")
    values, vectors = np.linalg.eigh(0.5 * (dense + dense.T))
    largest = float(np.abs(values).max())
    if values[0] < -_NULL * largest * n:
        raise PivotError(f"amg: the coarsest matrix ({n} unknowns) is singular and indefinite"
                         f" (eigenvalue {values[0]:.3g}); the coarse solve breaks down")
    kept = values > _NULL * largest * n
    return (vectors[:, kept] / values[kept]) @ vectors[:, kept].T
