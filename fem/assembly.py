r"""Assembly of finite-element matrices and vectors into a fixed CSR sparsity pattern.

The pattern is *structural*: row :math:`i` holds column :math:`j` whenever DOFs :math:`i`
and :math:`j` share a cell, whatever the values (exact zeros are kept).  It is built once
from the cell DOFs, together with the map ``cell_positions[c, i k + j]`` = position of the
entry (``cell_dofs[c, i]``, ``cell_dofs[c, j]``) in the CSR data array.  The Numba kernels
then add each local matrix straight into ``data``; re-assembly with other coefficients
writes into the same arrays without allocating a pattern.

Forms, for trial function :math:`u = \sum_j u_j \varphi_j` and test function
:math:`\varphi_i`:

.. math::

    K_{ij} = \int_\Omega \kappa \nabla\varphi_j \cdot \nabla\varphi_i, \quad
    M_{ij} = \int_\Omega c\, \varphi_j \varphi_i, \quad
    C_{ij} = \int_\Omega (b \cdot \nabla\varphi_j)\, \varphi_i, \quad
    F_i = \int_\Omega f \varphi_i,

    R_{ij} = \int_{\Gamma} \alpha\, \varphi_j \varphi_i, \quad
    G_i = \int_{\Gamma} g\, \varphi_i .

Coefficients are numbers or vectorised callables of the coordinates ``c(x)`` / ``c(x, y)``
(with a final ``t`` argument when ``time`` is given); they are evaluated at the quadrature
points.  The velocity :math:`b` is a sequence of ``dim`` numbers or a callable returning
a tuple of ``dim`` arrays.

Examples
--------
>>> from fem.mesh import interval
>>> from fem.element import function_space
>>> space = function_space(interval(0.0, 1.0, 2), 1)
>>> assemble_stiffness(space).toarray()
array([[ 2., -2.,  0.],
       [-2.,  4., -2.],
       [ 0., -2.,  2.]])
>>> assemble_load(space, 1.0).tolist()
[0.25, 0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from numba import njit

from fem.element import FunctionSpace, LagrangeElement
from fem.quadrature import quadrature_rule

__all__ = [
    "SparsityPattern",
    "assemble_boundary_load",
    "assemble_boundary_mass",
    "assemble_convection",
    "assemble_load",
    "assemble_mass",
    "assemble_stiffness",
    "cell_quadrature_points",
    "coefficient_values",
    "sparsity_pattern",
    "vector_coefficient_values",
]


# ---------------------------------------------------------------------------------------
# Numba kernels: inputs are checked by the Python wrappers below.  Work arrays are
# allocated by the wrappers and passed in: an allocation inside a kernel compiles
# NumPy's allocator into it, which costs more compile time than the kernel's own loops.


@njit(cache=True)
def _count_pattern(cell_dofs, start, cursor, slots_of_dof, marker, indptr):
    """Rows of the pattern: ``indptr`` and, per DOF, the (cell, local index) slots holding it.

    Fills ``start`` and ``indptr`` (``num_dofs + 1`` zeros on entry) and ``slots_of_dof``
    (``num_cells * k``); ``cursor`` (``num_dofs``) and ``marker`` (``num_dofs`` times -1)
    are work space.
    """
    num_cells, k = cell_dofs.shape
    num_dofs = indptr.shape[0] - 1
    for c in range(num_cells):
        for i in range(k):
            start[cell_dofs[c, i] + 1] += 1
    for r in range(num_dofs):
        start[r + 1] += start[r]
    for r in range(num_dofs):
        cursor[r] = start[r]
    for c in range(num_cells):
        for i in range(k):
            r = cell_dofs[c, i]
            slots_of_dof[cursor[r]] = c * k + i
            cursor[r] += 1
    for r in range(num_dofs):
        count = 0
        for s in range(start[r], start[r + 1]):
            c = slots_of_dof[s] // k
            for j in range(k):
                column = cell_dofs[c, j]
                if marker[column] != r:
                    marker[column] = r
                    count += 1
        indptr[r + 1] = indptr[r] + count


@njit(cache=True)
def _fill_pattern(cell_dofs, start, slots_of_dof, indptr, indices, positions, position_of):
    """Sorted column indices of every row and the data position of every local entry.

    ``position_of``: ``num_dofs`` times -1 on entry, where ``position_of[column]`` becomes
    the data position of ``column`` in the current row.
    """
    k = cell_dofs.shape[1]
    num_dofs = indptr.shape[0] - 1
    for r in range(num_dofs):
        first = indptr[r]
        end = first
        for s in range(start[r], start[r + 1]):
            c = slots_of_dof[s] // k
            for j in range(k):
                column = cell_dofs[c, j]
                if position_of[column] < first:
                    position_of[column] = end
                    # insertion sort: rows hold a few dozen entries at most
                    t = end
                    while t > first and indices[t - 1] > column:
                        indices[t] = indices[t - 1]
                        t -= 1
                    indices[t] = column
                    end += 1
        for t in range(first, end):
            position_of[indices[t]] = t
        for s in range(start[r], start[r + 1]):
            slot = slots_of_dof[s]
            c = slot // k
            i = slot - c * k
            for j in range(k):
                positions[c, i * k + j] = position_of[cell_dofs[c, j]]


@njit(cache=True)
def _entry_positions(indptr, indices, local_dofs, positions):
    num_items, k = local_dofs.shape
    for c in range(num_items):
        for i in range(k):
            row = local_dofs[c, i]
            first = indptr[row]
            for j in range(k):
                column = local_dofs[c, j]
                lo = first
                hi = indptr[row + 1]
                while lo < hi:
                    mid = (lo + hi) // 2
                    if indices[mid] < column:
                        lo = mid + 1
                    else:
                        hi = mid
                positions[c, i * k + j] = lo


@njit(cache=True)
def _inverse_jacobian(points, cells, c, inverse):
    """Fill the inverse Jacobian of the affine map of cell ``c``; return its determinant."""
    if points.shape[1] == 1:
        length = points[cells[c, 1], 0] - points[cells[c, 0], 0]
        inverse[0, 0] = 1.0 / length
        return length
    a = cells[c, 0]
    x0 = points[a, 0]
    y0 = points[a, 1]
    j00 = points[cells[c, 1], 0] - x0
    j01 = points[cells[c, 2], 0] - x0
    j10 = points[cells[c, 1], 1] - y0
    j11 = points[cells[c, 2], 1] - y0
    determinant = j00 * j11 - j01 * j10
    inverse[0, 0] = j11 / determinant
    inverse[0, 1] = -j01 / determinant
    inverse[1, 0] = -j10 / determinant
    inverse[1, 1] = j00 / determinant
    return determinant


@njit(cache=True)
def _stiffness_kernel(points, cells, gradients, weights, kappa, positions, data, inverse,
                      physical):
    """Work space: ``inverse`` (dim, dim) and ``physical`` (n_quadrature, k, dim)."""
    num_quadrature, k, dim = gradients.shape
    vary_cell = kappa.shape[0] > 1
    vary_point = kappa.shape[1] > 1
    for c in range(cells.shape[0]):
        determinant = _inverse_jacobian(points, cells, c, inverse)
        kc = c if vary_cell else 0
        for q in range(num_quadrature):
            for i in range(k):
                for d in range(dim):
                    s = 0.0
                    for e in range(dim):
                        s += gradients[q, i, e] * inverse[e, d]
                    physical[q, i, d] = s
        for i in range(k):
            for j in range(i, k):
                s = 0.0
                for q in range(num_quadrature):
                    dot = 0.0
                    for d in range(dim):
                        dot += physical[q, i, d] * physical[q, j, d]
                    s += weights[q] * kappa[kc, q if vary_point else 0] * dot
                s *= determinant
                data[positions[c, i * k + j]] += s
                if j != i:
                    data[positions[c, j * k + i]] += s


@njit(cache=True)
def _mass_kernel(points, cells, values, weights, coefficient, positions, data, inverse):
    """Work space: ``inverse`` (dim, dim)."""
    num_quadrature, k = values.shape
    vary_cell = coefficient.shape[0] > 1
    vary_point = coefficient.shape[1] > 1
    for c in range(cells.shape[0]):
        determinant = _inverse_jacobian(points, cells, c, inverse)
        kc = c if vary_cell else 0
        for i in range(k):
            for j in range(i, k):
                s = 0.0
                for q in range(num_quadrature):
                    s += (weights[q] * coefficient[kc, q if vary_point else 0]
                          * values[q, i] * values[q, j])
                s *= determinant
                data[positions[c, i * k + j]] += s
                if j != i:
                    data[positions[c, j * k + i]] += s


@njit(cache=True)
def _convection_kernel(points, cells, values, gradients, weights, velocity, positions, data,
                       inverse, derivative):
    """Work space: ``inverse`` (dim, dim) and ``derivative`` (n_quadrature, k)."""
    num_quadrature, k, dim = gradients.shape
    vary_cell = velocity.shape[0] > 1
    vary_point = velocity.shape[1] > 1
    for c in range(cells.shape[0]):
        determinant = _inverse_jacobian(points, cells, c, inverse)
        kc = c if vary_cell else 0
        for q in range(num_quadrature):
            kq = q if vary_point else 0
            for j in range(k):
                s = 0.0
                for d in range(dim):
                    g = 0.0
                    for e in range(dim):
                        g += gradients[q, j, e] * inverse[e, d]
                    s += velocity[kc, kq, d] * g
                derivative[q, j] = s
        for i in range(k):
            for j in range(k):
                s = 0.0
                for q in range(num_quadrature):
                    s += weights[q] * values[q, i] * derivative[q, j]
                data[positions[c, i * k + j]] += s * determinant


@njit(cache=True)
def _load_kernel(points, cells, cell_dofs, values, weights, f, vector, inverse):
    """Work space: ``inverse`` (dim, dim)."""
    num_quadrature, k = values.shape
    vary_cell = f.shape[0] > 1
    vary_point = f.shape[1] > 1
    for c in range(cells.shape[0]):
        determinant = _inverse_jacobian(points, cells, c, inverse)
        kc = c if vary_cell else 0
        for i in range(k):
            s = 0.0
            for q in range(num_quadrature):
                s += weights[q] * f[kc, q if vary_point else 0] * values[q, i]
            vector[cell_dofs[c, i]] += s * determinant


@njit(cache=True)
def _facet_mass_kernel(measures, values, weights, alpha, positions, data):
    num_quadrature, k = values.shape
    vary_facet = alpha.shape[0] > 1
    vary_point = alpha.shape[1] > 1
    for f in range(measures.shape[0]):
        kf = f if vary_facet else 0
        for i in range(k):
            for j in range(k):
                s = 0.0
                for q in range(num_quadrature):
                    s += (weights[q] * alpha[kf, q if vary_point else 0]
                          * values[q, i] * values[q, j])
                data[positions[f, i * k + j]] += s * measures[f]


@njit(cache=True)
def _facet_load_kernel(measures, facet_dofs, values, weights, g, vector):
    num_quadrature, k = values.shape
    vary_facet = g.shape[0] > 1
    vary_point = g.shape[1] > 1
    for f in range(measures.shape[0]):
        kf = f if vary_facet else 0
        for i in range(k):
            s = 0.0
            for q in range(num_quadrature):
                s += weights[q] * g[kf, q if vary_point else 0] * values[q, i]
            vector[facet_dofs[f, i]] += s * measures[f]


# ---------------------------------------------------------------------------------------
# The sparsity pattern


@dataclass(frozen=True, eq=False)
class SparsityPattern:
    """Structural CSR pattern of a function space with the cell-to-CSR position map.

    Attributes
    ----------
    indptr, indices : ndarray of int32 (int64 for very large systems)
        CSR structure; columns sorted in each row; duplicates never occur.
    cell_positions : ndarray, shape (n_cells, k * k)
        Position in ``data`` of the local entry ``(i, j)`` of each cell at ``i * k + j``.
    num_dofs : int
    """

    indptr: np.ndarray
    indices: np.ndarray
    cell_positions: np.ndarray
    num_dofs: int

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indices.shape[0])

    def __repr__(self) -> str:
        return f"SparsityPattern(num_dofs={self.num_dofs}, nnz={self.nnz})"

    def matrix(self, data: np.ndarray | None = None) -> sparse.csr_array:
        """A CSR matrix on this pattern that shares ``indptr``/``indices``; zeros by default."""
        if data is None:
            data = np.zeros(self.nnz)
        matrix = sparse.csr_array((data, self.indices, self.indptr),
                                  shape=(self.num_dofs, self.num_dofs), copy=False)
        matrix.has_sorted_indices = True
        return matrix

    def positions_of(self, local_dofs: np.ndarray) -> np.ndarray:
        """Data positions of all local pairs of ``local_dofs`` (shape (n, m)) -> (n, m * m)."""
        local_dofs = np.ascontiguousarray(local_dofs, dtype=np.int64)
        positions = np.empty((local_dofs.shape[0], local_dofs.shape[1] ** 2),
                             dtype=self.cell_positions.dtype)
        _entry_positions(self.indptr, self.indices, local_dofs, positions)
        return positions

    def owns(self, matrix) -> bool:
        """Whether ``matrix`` is a CSR matrix whose structure is this pattern's arrays."""
        return (isinstance(matrix, (sparse.csr_array, sparse.csr_matrix))
                and matrix.shape == (self.num_dofs, self.num_dofs)
                and _same_memory(matrix.indices, self.indices)
                and _same_memory(matrix.indptr, self.indptr)
                and matrix.data.shape == (self.nnz,) and matrix.data.dtype == np.float64)


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.shape == b.shape and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def sparsity_pattern(space: FunctionSpace) -> SparsityPattern:
    """Build the structural CSR pattern and the cell position map of ``space`` (Numba, linear time).

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> pattern = sparsity_pattern(function_space(unit_square(1), 1))
    >>> pattern.indptr.tolist(), pattern.nnz
    ([0, 4, 7, 10, 14], 14)
    """
    _check_space(space)
    num_dofs, (num_cells, k) = space.num_dofs, space.cell_dofs.shape
    start = np.zeros(num_dofs + 1, dtype=np.int64)
    slots_of_dof = np.empty(num_cells * k, dtype=np.int64)
    indptr = np.zeros(num_dofs + 1, dtype=np.int64)
    _count_pattern(space.cell_dofs, start, np.empty(num_dofs, dtype=np.int64), slots_of_dof,
                   np.full(num_dofs, -1, dtype=np.int64), indptr)
    nnz = int(indptr[-1])
    index_type = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    indptr = indptr.astype(index_type)
    indices = np.empty(nnz, dtype=index_type)
    k = space.cell_dofs.shape[1]
    positions = np.empty((space.mesh.num_cells, k * k), dtype=index_type)
    _fill_pattern(space.cell_dofs, start, slots_of_dof, indptr, indices, positions,
                  np.full(space.num_dofs, -1, dtype=np.int64))
    del start, slots_of_dof
    for array in (indptr, indices, positions):
        array.setflags(write=False)
    return SparsityPattern(indptr, indices, positions, space.num_dofs)


# ---------------------------------------------------------------------------------------
# Coefficients at quadrature points


def cell_quadrature_points(space: FunctionSpace, reference_points: np.ndarray) -> np.ndarray:
    """Physical coordinates of reference points in every cell, shape (n_cells, n_points, dim)."""
    mesh = space.mesh
    corner = mesh.points[mesh.cells[:, 0]]
    result = np.empty((mesh.num_cells, reference_points.shape[0], mesh.dim))
    result[:] = corner[:, None, :]
    for e in range(mesh.dim):
        edge = mesh.points[mesh.cells[:, e + 1]] - corner
        result += reference_points[None, :, e, None] * edge[:, None, :]
    return result


def _arguments(points: np.ndarray, time):
    arguments = [points[..., d] for d in range(points.shape[-1])]
    if time is not None:
        arguments.append(time)
    return arguments


def _check_finite(values: np.ndarray, name: str, points: np.ndarray | None, where: str):
    if not np.all(np.isfinite(values)):
        if points is None:
            raise ValueError(f"coefficient '{name}' is not finite: {values.ravel()[0]!r}")
        flat = np.flatnonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1))
        item = int(flat[0])
        raise ValueError(
            f"coefficient '{name}' is not finite (NaN or inf) at a quadrature point of "
            f"{where} {item}, near {points[item].mean(axis=0).tolist()}")


def coefficient_values(coefficient, points_of, name: str, *, time=None,
                       where: str = "cell") -> np.ndarray:
    """A scalar coefficient at quadrature points: shape (n, n_points), or (1, 1) for a constant.

    Parameters
    ----------
    coefficient : float or callable
        ``c(x)``, ``c(x, y)``; with ``time`` given, ``c(x, t)`` / ``c(x, y, t)``.
    points_of : callable
        Returns the quadrature points, shape (n, n_points, dim); only called for callables.
    name : str
        Used in error messages.

    Raises
    ------
    ValueError
        If the coefficient is neither a number nor a callable, returns the wrong shape or
        is not finite (NaN/inf) somewhere.
    """
    if callable(coefficient):
        points = points_of()
        try:
            values = np.asarray(coefficient(*_arguments(points, time)), dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"coefficient '{name}' could not be evaluated: {error}") from error
        try:
            values = np.ascontiguousarray(np.broadcast_to(values, points.shape[:2]))
        except ValueError:
            raise ValueError(f"coefficient '{name}' returned shape {values.shape}, expected "
                             f"{points.shape[:2]} (or a scalar)") from None
        _check_finite(values, name, points, where)
        return values
    if isinstance(coefficient, (bool, str)) or np.ndim(coefficient) != 0:
        raise ValueError(f"coefficient '{name}' must be a number or a callable, "
                         f"got {type(coefficient).__name__}")
    try:
        value = float(coefficient)
    except (TypeError, ValueError):
        raise ValueError(f"coefficient '{name}' must be a number or a callable, "
                         f"got {type(coefficient).__name__}") from None
    values = np.full((1, 1), value)
    _check_finite(values, name, None, where)
    return values


def vector_coefficient_values(coefficient, points_of, dim: int, name: str, *,
                              time=None) -> np.ndarray:
    """A vector coefficient at quadrature points: shape (n, n_points, dim), or (1, 1, dim)."""
    if callable(coefficient):
        points = points_of()
        try:
            result = coefficient(*_arguments(points, time))
        except (TypeError, ValueError) as error:
            raise ValueError(f"coefficient '{name}' could not be evaluated: {error}") from error
        if dim == 1 and not isinstance(result, (tuple, list)):
            result = (result,)
        if not isinstance(result, (tuple, list)) or len(result) != dim:
            raise ValueError(f"coefficient '{name}' must return a tuple of {dim} arrays")
        values = np.empty((*points.shape[:2], dim))
        for d, component in enumerate(result):
            try:
                values[..., d] = np.asarray(component, dtype=np.float64)
            except ValueError:
                raise ValueError(f"coefficient '{name}' component {d} has the wrong shape "
                                 f"{np.shape(component)}") from None
        _check_finite(values, name, points, "cell")
        return values
    try:
        vector = np.asarray(coefficient, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"coefficient '{name}' must be a sequence of {dim} numbers or a "
                         f"callable") from None
    if vector.shape != (dim,):
        raise ValueError(f"coefficient '{name}' must have {dim} components, got {vector.size}")
    values = vector.reshape(1, 1, dim).copy()
    _check_finite(values, name, None, "cell")
    return values


def is_constant(coefficient) -> bool:
    """Whether a coefficient is a number (not a callable)."""
    return not callable(coefficient)


# ---------------------------------------------------------------------------------------
# Python wrappers


def _check_space(space):
    if not isinstance(space, FunctionSpace):
        raise ValueError(f"expected a FunctionSpace, got {type(space).__name__}")


def _default_degree(space, base: int, constant: bool, quadrature_degree):
    if quadrature_degree is not None:
        if (isinstance(quadrature_degree, bool) or not isinstance(quadrature_degree, int)
                or quadrature_degree < 0):
            raise ValueError(f"quadrature_degree must be a non-negative integer, "
                             f"got {quadrature_degree!r}")
        return quadrature_degree
    # a smooth variable coefficient gets p + 1 extra degrees so that quadrature
    # errors stay below the discretisation error
    return base if constant else base + space.degree + 1


def _target_matrix(space, pattern, out, accumulate):
    if pattern is None:
        if out is not None:
            raise ValueError("pass the pattern that 'out' was built on")
        pattern = sparsity_pattern(space)
    elif not isinstance(pattern, SparsityPattern) or pattern.num_dofs != space.num_dofs \
            or pattern.cell_positions.shape[0] != space.mesh.num_cells:
        raise ValueError("pattern does not belong to this function space")
    if out is None:
        return pattern, pattern.matrix()
    if not pattern.owns(out):
        raise ValueError("'out' must be a float64 CSR matrix built on the given pattern "
                         "(pattern.matrix())")
    if not accumulate:
        out.data[:] = 0.0
    return pattern, out


def _target_vector(space, out, accumulate):
    if out is None:
        return np.zeros(space.num_dofs)
    if not (isinstance(out, np.ndarray) and out.shape == (space.num_dofs,)
            and out.dtype == np.float64 and out.flags.c_contiguous):
        raise ValueError(f"'out' must be a contiguous float64 array of shape ({space.num_dofs},)")
    if not accumulate:
        out[:] = 0.0
    return out


def assemble_stiffness(space: FunctionSpace, kappa=1.0, *, pattern: SparsityPattern | None = None,
                       out=None, accumulate: bool = False, quadrature_degree: int | None = None,
                       time: float | None = None) -> sparse.csr_array:
    r"""Stiffness matrix :math:`K_{ij} = \int_\Omega \kappa \nabla\varphi_j \cdot \nabla\varphi_i`.

    Parameters
    ----------
    space : FunctionSpace
    kappa : float or callable
        Diffusion coefficient, evaluated at the quadrature points.
    pattern : SparsityPattern, optional
        Reuse a pattern (built when omitted).
    out : scipy.sparse.csr_array, optional
        A matrix on ``pattern`` to write into (re-assembly without allocation).
    accumulate : bool
        Add to ``out`` instead of overwriting it.
    quadrature_degree : int, optional
        Default :math:`2(p - 1)` for constant ``kappa``, :math:`3p - 1` otherwise.

    Returns
    -------
    scipy.sparse.csr_array
        Shares ``indptr`` and ``indices`` with the pattern.

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> space = function_space(unit_square(4), 1)
    >>> K = assemble_stiffness(space, lambda x, y: 1.0 + x)
    >>> bool(abs(K @ np.ones(space.num_dofs)).max() < 1e-14)  # constants are in the kernel
    True
    """
    _check_space(space)
    degree = _default_degree(space, 2 * (space.degree - 1), is_constant(kappa), quadrature_degree)
    points, weights = quadrature_rule(space.element.cell_type, degree)
    values = coefficient_values(kappa, lambda: cell_quadrature_points(space, points), "kappa",
                                time=time)
    pattern, matrix = _target_matrix(space, pattern, out, accumulate)
    gradients = space.element.gradients(points)
    num_quadrature, k, dim = gradients.shape
    _stiffness_kernel(space.mesh.points, space.mesh.cells, gradients, weights, values,
                      pattern.cell_positions, matrix.data, np.empty((dim, dim)),
                      np.empty((num_quadrature, k, dim)))
    return matrix


def assemble_mass(space: FunctionSpace, coefficient=1.0, *, pattern: SparsityPattern | None = None,
                  out=None, accumulate: bool = False, quadrature_degree: int | None = None,
                  time: float | None = None) -> sparse.csr_array:
    r"""Mass (reaction) matrix :math:`M_{ij} = \int_\Omega c\, \varphi_j \varphi_i`.

    Same keywords as :func:`assemble_stiffness`; default quadrature degree :math:`2p`
    (constant ``c``) or :math:`3p + 1`.

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> space = function_space(unit_square(3), 2)
    >>> M = assemble_mass(space)
    >>> round(float(np.ones(space.num_dofs) @ M @ np.ones(space.num_dofs)), 12)
    1.0
    """
    _check_space(space)
    degree = _default_degree(space, 2 * space.degree, is_constant(coefficient), quadrature_degree)
    points, weights = quadrature_rule(space.element.cell_type, degree)
    values = coefficient_values(coefficient, lambda: cell_quadrature_points(space, points),
                                "reaction", time=time)
    pattern, matrix = _target_matrix(space, pattern, out, accumulate)
    dim = space.mesh.points.shape[1]
    _mass_kernel(space.mesh.points, space.mesh.cells, space.element.values(points), weights,
                 values, pattern.cell_positions, matrix.data, np.empty((dim, dim)))
    return matrix


def assemble_convection(space: FunctionSpace, velocity, *, pattern: SparsityPattern | None = None,
                        out=None, accumulate: bool = False,
                        quadrature_degree: int | None = None,
                        time: float | None = None) -> sparse.csr_array:
    r"""Convection matrix :math:`C_{ij} = \int_\Omega (b \cdot \nabla\varphi_j)\, \varphi_i`.

    ``velocity`` is a sequence of ``dim`` numbers or a callable returning a tuple of
    ``dim`` arrays.  The matrix is not symmetric.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space
    >>> space = function_space(interval(0.0, 1.0, 4), 1)
    >>> C = assemble_convection(space, [1.0])
    >>> float((C @ space.dof_points[:, 0]).sum())  # integral of b * d(x)/dx over [0, 1]
    1.0
    """
    _check_space(space)
    degree = _default_degree(space, 2 * space.degree - 1, is_constant(velocity),
                             quadrature_degree)
    points, weights = quadrature_rule(space.element.cell_type, degree)
    values = vector_coefficient_values(velocity, lambda: cell_quadrature_points(space, points),
                                       space.mesh.dim, "velocity", time=time)
    pattern, matrix = _target_matrix(space, pattern, out, accumulate)
    gradients = space.element.gradients(points)
    num_quadrature, k, dim = gradients.shape
    _convection_kernel(space.mesh.points, space.mesh.cells, space.element.values(points),
                       gradients, weights, values, pattern.cell_positions, matrix.data,
                       np.empty((dim, dim)), np.empty((num_quadrature, k)))
    return matrix


def assemble_load(space: FunctionSpace, f=1.0, *, out: np.ndarray | None = None,
                  accumulate: bool = False, quadrature_degree: int | None = None,
                  time: float | None = None) -> np.ndarray:
    r"""Load vector :math:`F_i = \int_\Omega f \varphi_i`.

    Default quadrature degree :math:`p` (constant ``f``) or :math:`2p + 1`.

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> round(float(assemble_load(function_space(unit_square(4), 2), lambda x, y: x).sum()), 14)
    0.5
    """
    _check_space(space)
    degree = _default_degree(space, space.degree, is_constant(f), quadrature_degree)
    points, weights = quadrature_rule(space.element.cell_type, degree)
    values = coefficient_values(f, lambda: cell_quadrature_points(space, points), "f", time=time)
    vector = _target_vector(space, out, accumulate)
    dim = space.mesh.points.shape[1]
    _load_kernel(space.mesh.points, space.mesh.cells, space.cell_dofs,
                 space.element.values(points), weights, values, vector, np.empty((dim, dim)))
    return vector


def _facet_setup(space, names, degree):
    """Facet DOFs, measures, basis values, weights and a point generator for boundary forms."""
    facet_dofs = space.facet_dofs(names)
    if space.mesh.dim == 1:
        points = space.mesh.points[facet_dofs[:, 0]][:, None, :]
        return facet_dofs, np.ones(facet_dofs.shape[0]), np.ones((1, 1)), np.ones(1), \
            (lambda: points)
    rule_points, weights = quadrature_rule("interval", degree)
    start = space.mesh.points[facet_dofs[:, 0]]
    tangent = space.mesh.points[facet_dofs[:, 1]] - start
    measures = np.sqrt((tangent**2).sum(axis=1))
    values = LagrangeElement("interval", space.degree).values(rule_points)

    def points_of():
        return start[:, None, :] + rule_points[None, :, 0, None] * tangent[:, None, :]

    return facet_dofs, measures, values, weights, points_of


def _boundary_names(names) -> list[str]:
    if isinstance(names, str):
        return [names]
    if not isinstance(names, Iterable):
        raise ValueError(f"boundary names must be a string or a list of strings, got {names!r}")
    return list(names)


def assemble_boundary_mass(space: FunctionSpace, names, alpha=1.0, *,
                           pattern: SparsityPattern | None = None, out=None,
                           accumulate: bool = False, quadrature_degree: int | None = None,
                           time: float | None = None) -> sparse.csr_array:
    r"""Boundary mass (Robin) matrix :math:`R_{ij} = \int_{\Gamma} \alpha\, \varphi_j \varphi_i`.

    ``names`` is a boundary name or a list of names; :math:`\Gamma` is their union (in 1D
    the integral is the value at the end points).

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> space = function_space(unit_square(2), 1)
    >>> R = assemble_boundary_mass(space, "left", 2.0)
    >>> float(R.sum())  # alpha times the length of the left side
    2.0
    """
    _check_space(space)
    facet_dofs, measures, values, weights, points_of = _facet_setup(
        space, _boundary_names(names),
        _default_degree(space, 2 * space.degree, is_constant(alpha), quadrature_degree))
    alpha_values = coefficient_values(alpha, points_of, "alpha", time=time, where="facet")
    pattern, matrix = _target_matrix(space, pattern, out, accumulate)
    positions = pattern.positions_of(facet_dofs)
    _facet_mass_kernel(measures, values, weights, alpha_values, positions, matrix.data)
    return matrix


def assemble_boundary_load(space: FunctionSpace, names, g, *, out: np.ndarray | None = None,
                           accumulate: bool = False, quadrature_degree: int | None = None,
                           time: float | None = None) -> np.ndarray:
    r"""Boundary load (Neumann/Robin data) :math:`G_i = \int_{\Gamma} g\, \varphi_i`.

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space
    >>> assemble_boundary_load(function_space(interval(0.0, 1.0, 2), 1), "right", 3.0).tolist()
    [0.0, 0.0, 3.0]
    """
    _check_space(space)
    facet_dofs, measures, values, weights, points_of = _facet_setup(
        space, _boundary_names(names),
        _default_degree(space, space.degree, is_constant(g), quadrature_degree))
    g_values = coefficient_values(g, points_of, "g", time=time, where="facet")
    vector = _target_vector(space, out, accumulate)
    _facet_load_kernel(measures, facet_dofs, values, weights, g_values, vector)
    return vector
