r"""Dirichlet conditions by lifting and elimination.

Split the DOFs into free ones :math:`f` and Dirichlet ones :math:`d` with prescribed values
:math:`g`.  Writing :math:`u = u_0 + \ell` with the lifting :math:`\ell` (equal to :math:`g`
on :math:`d`, zero elsewhere), the system :math:`K u = F` restricted to the free rows becomes

.. math:: K_{ff}\, u_f = F_f - K_{fd}\, g ,

and :math:`K_{ff}` is symmetric (positive definite) whenever :math:`K` is, so CG applies.
Neumann and Robin data enter the assembled :math:`K` and :math:`F` (see
:mod:`fem.assembly`); this module only removes the Dirichlet DOFs.

Examples
--------
>>> import numpy as np
>>> from fem.mesh import interval
>>> from fem.element import function_space
>>> from fem.assembly import assemble_stiffness, assemble_load
>>> space = function_space(interval(0.0, 1.0, 4), 1)
>>> dofs, values = dirichlet_values(space, {"left": 0.0, "right": 1.0})
>>> system = eliminate_dirichlet(assemble_stiffness(space), assemble_load(space, 0.0),
...                              dofs, values)
>>> u = system.expand(np.linalg.solve(system.reduced_matrix.toarray(), system.reduced_rhs))
>>> np.allclose(u, space.dof_points[:, 0])
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from fem.element import FunctionSpace, values_at

__all__ = ["LinearSystem", "dirichlet_values", "eliminate_dirichlet"]


@dataclass(frozen=True, eq=False)
class LinearSystem:
    """An assembled system with its Dirichlet part eliminated.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        The full matrix :math:`K` (all DOFs, before elimination).
    rhs : ndarray
        The full right-hand side :math:`F`.
    free_dofs, dirichlet_dofs : ndarray of int64
        Sorted, disjoint, together all DOFs.
    lifting : ndarray
        Full vector: Dirichlet values on ``dirichlet_dofs``, zero elsewhere.
    reduced_matrix : scipy.sparse.csr_array
        :math:`K_{ff}`.
    reduced_rhs : ndarray
        :math:`F_f - K_{fd}\\, g`.
    symmetric : bool
        Whether :math:`K` is symmetric (then CG is the method of choice).
    """

    matrix: sparse.csr_array
    rhs: np.ndarray
    free_dofs: np.ndarray
    dirichlet_dofs: np.ndarray
    lifting: np.ndarray
    reduced_matrix: sparse.csr_array
    reduced_rhs: np.ndarray
    symmetric: bool

    def __repr__(self) -> str:
        return (f"LinearSystem(dofs={self.num_dofs}, free={self.free_dofs.size}, "
                f"dirichlet={self.dirichlet_dofs.size}, symmetric={self.symmetric})")

    @property
    def K(self) -> sparse.csr_array:
        """Alias of :attr:`matrix`."""
        return self.matrix

    @property
    def F(self) -> np.ndarray:
        """Alias of :attr:`rhs`."""
        return self.rhs

    @property
    def num_dofs(self) -> int:
        """Number of DOFs of the full system."""
        return self.rhs.shape[0]

    def expand(self, free_values: np.ndarray) -> np.ndarray:
        """The full DOF vector: ``free_values`` on the free DOFs, the lifting elsewhere."""
        free_values = np.asarray(free_values, dtype=np.float64)
        if free_values.shape != self.free_dofs.shape:
            raise ValueError(f"expected {self.free_dofs.shape[0]} free values, "
                             f"got shape {free_values.shape}")
        full = self.lifting.copy()
        full[self.free_dofs] = free_values
        return full

    def residual(self, u: np.ndarray) -> np.ndarray:
        """Algebraic residual :math:`(F - K u)_f` on the free DOFs for a full vector ``u``."""
        u = np.asarray(u, dtype=np.float64)
        if u.shape != (self.num_dofs,):
            raise ValueError(f"expected a vector of {self.num_dofs} DOF values, got {u.shape}")
        return (self.rhs - self.matrix @ u)[self.free_dofs]


def dirichlet_values(space: FunctionSpace, dirichlet: Mapping[str, object] | None,
                     *, time: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet DOFs and their values, taken at the DOF points.

    Parameters
    ----------
    space : FunctionSpace
    dirichlet : mapping of boundary name to value, or None
        A value is a number or a vectorised callable ``g(x)`` / ``g(x, y)`` (``g(x, t)`` /
        ``g(x, y, t)`` when ``time`` is given).  ``None`` means :math:`u = 0` on the whole
        boundary, ``{}`` no Dirichlet part.  Where parts meet, the later entry wins.

    Returns
    -------
    dofs : ndarray of int64, sorted
    values : ndarray

    Raises
    ------
    ValueError
        For an unknown boundary name or values that are not finite.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space
    >>> dirichlet_values(function_space(interval(0.0, 1.0, 2), 1), {"right": lambda x: 2 * x})
    (array([2]), array([2.]))
    """
    if dirichlet is None:
        dirichlet = {"boundary": 0.0}
    if not isinstance(dirichlet, Mapping):
        raise ValueError(f"dirichlet must be a mapping of boundary name to value, "
                         f"got {type(dirichlet).__name__}")
    values = np.full(space.num_dofs, np.nan)
    chosen = np.zeros(space.num_dofs, dtype=bool)
    for name, value in dirichlet.items():
        dofs = space.boundary_dofs(name)
        part = values_at(value, space.dof_points[dofs], f"Dirichlet data on '{name}'",
                         time=time, symbol="g")
        values[dofs] = part
        chosen[dofs] = True
    dofs = np.flatnonzero(chosen)
    return dofs, values[dofs]


def eliminate_dirichlet(matrix, rhs: np.ndarray, dofs: np.ndarray, values: np.ndarray,
                        *, symmetric: bool = True) -> LinearSystem:
    r"""Lift the Dirichlet values and eliminate their DOFs: :math:`K_{ff} u_f = F_f - K_{fd} g`.

    Parameters
    ----------
    matrix : scipy.sparse CSR, shape (n, n)
    rhs : ndarray, shape (n,)
    dofs : ndarray of int
        Dirichlet DOFs (sorted or not, no repeats).
    values : ndarray
        Their values.
    symmetric : bool
        Recorded in the result (the reduced matrix inherits the symmetry of ``matrix``).

    Returns
    -------
    LinearSystem
    """
    num_dofs = rhs.shape[0]
    if matrix.shape != (num_dofs, num_dofs):
        raise ValueError(f"matrix of shape {matrix.shape} does not match rhs of length {num_dofs}")
    dofs = np.asarray(dofs, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if dofs.shape != values.shape or dofs.ndim != 1:
        raise ValueError(f"Dirichlet dofs {dofs.shape} and values {values.shape} must be "
                         f"1D arrays of the same length")
    if dofs.size and (dofs.min() < 0 or dofs.max() >= num_dofs):
        raise ValueError(f"Dirichlet dofs must lie in 0..{num_dofs - 1}")
    order = np.argsort(dofs)
    dofs = dofs[order]
    values = values[order]
    if np.any(np.diff(dofs) == 0):
        raise ValueError("Dirichlet dofs must not repeat")
    lifting = np.zeros(num_dofs)
    lifting[dofs] = values
    free = np.ones(num_dofs, dtype=bool)
    free[dofs] = False
    free_dofs = np.flatnonzero(free)
    matrix = sparse.csr_array(matrix)
    reduced_rhs = (rhs - matrix @ lifting)[free_dofs]
    reduced_matrix = restrict(matrix, free_dofs)
    return LinearSystem(matrix, rhs, free_dofs, dofs, lifting, reduced_matrix,
                        reduced_rhs, bool(symmetric))


def restrict(matrix, free_dofs: np.ndarray) -> sparse.csr_array:
    """The submatrix :math:`K_{ff}` of the rows and columns ``free_dofs`` (sorted), as CSR."""
    if free_dofs.shape[0] == matrix.shape[0]:
        return sparse.csr_array(matrix)
    reduced = sparse.csr_array(matrix[free_dofs][:, free_dofs])
    reduced.sort_indices()
    return reduced
