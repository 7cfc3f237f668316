"""The coarsest level: its inverse, formed densely once, applied as a dense product.

A symmetric matrix (to rounding) is inverted through its Cholesky factor; one that is
only semidefinite (a singular problem, such as pure Neumann conditions) gets its
pseudo-inverse, with which CG still converges on a consistent right-hand side; an
indefinite one is an error.  A nonsymmetric matrix is inverted through LU.
"""

from __future__ import annotations

import numpy as np

from .._errors import PivotError

# Relative asymmetry below which the coarsest matrix counts as symmetric (rounding of P^T A P).
_SYMMETRIC = 1e-10
# Eigenvalues below this share of the largest are taken as zero (a null space).
_NULL = 1e-12


def coarse_inverse(matrix: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(inverse, symmetric)`` of the dense coarsest matrix.

    Raises
    ------
    PivotError
        If the symmetric matrix is indefinite or the nonsymmetric one singular.

    Examples
    --------
    >>> import numpy as np
    >>> inverse, symmetric = coarse_inverse(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    >>> np.round(inverse * 3, 12).tolist(), symmetric
    ([[2.0, 1.0], [1.0, 2.0]], True)
    """
    scale = float(np.abs(matrix).max()) if matrix.size else 0.0
    if scale == 0.0 or not np.isfinite(scale):
        raise PivotError(f"amg: the coarsest matrix ({matrix.shape[0]} unknowns) is zero or "
                         "not finite; the coarse solve breaks down")
    symmetric = bool(np.abs(matrix - matrix.T).max() <= _SYMMETRIC * scale)
    if symmetric:
        matrix = 0.5 * (matrix + matrix.T)
        try:
            factor = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            return _pseudo_inverse(matrix), True
        inverse = np.linalg.inv(factor)
        return inverse.T @ inverse, True
    try:
        inverse = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        raise PivotError(f"amg: the coarsest matrix ({matrix.shape[0]} unknowns) is singular;"
                         " the coarse solve breaks down") from None
    return inverse, False


def _pseudo_inverse(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    largest = float(np.abs(values).max())
    if values[0] < -_NULL * largest * matrix.shape[0]:
        raise PivotError(f"amg: the coarsest matrix ({matrix.shape[0]} unknowns) is indefinite"
                         f" (eigenvalue {values[0]:.3g}); A is not positive definite")
    kept = values > _NULL * largest * matrix.shape[0]
    return (vectors[:, kept] / values[kept]) @ vectors[:, kept].T
