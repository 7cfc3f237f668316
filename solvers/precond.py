"""Preconditioners compiled into the Krylov loops: Jacobi, SSOR, ILU(0), IC(0) and AMG.

Each is set up once (``jacobi(A)``, ``ssor(A, omega)``, ``ilu0(A)``, ``ic0(A)``) and
can be reused across solves with the same matrix; the smoothed-aggregation V-cycle of
:func:`solvers.amg` (``M="amg"``) is one kind per smoother.  All of them are applied by one
Numba kernel, :func:`apply_preconditioner`, so a CG or GMRES loop on a CSR matrix
runs without returning to Python.  A user's own ``LinearOperator`` or sparse matrix
approximating ``A^{-1}`` is accepted by the solvers too (see :func:`as_preconditioner`).

References
----------
Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM, 2003,
sections 4.1 (SSOR), 10.3 (ILU(0)) and 10.3.5 (incomplete Cholesky).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numba import njit, types, uint64
from numba.extending import overload

from ._errors import PivotError
from ._inputs import CSR, check_matrix, linear_operator, working_dtype
from ._scalar import abs2, accumulator_dtype, conj, real
from .multigrid import Hierarchy, amg
from .multigrid.cycle import VCYCLES
from .multigrid.smoothers import CHEBYSHEV, L1_JACOBI, SMOOTHERS

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

NONE, JACOBI, SSOR, ILU0, IC0, MATRIX, AMG = range(7)
# AMG has a kind per smoother of its V-cycle (AMG itself: Gauss-Seidel), so that a loop
# compiles only its own smoother's kernels.
AMG_CHEBYSHEV, AMG_L1_JACOBI = AMG + CHEBYSHEV, AMG + L1_JACOBI
#: The AMG kind of each smoother of :func:`solvers.amg`.
AMG_KINDS = {name: AMG + code for name, code in SMOOTHERS.items()}
#: Every kind of :class:`Preconditioner`.
KINDS = (NONE, JACOBI, SSOR, ILU0, IC0, MATRIX, *AMG_KINDS.values())
#: The name of each kind (the names of its compiled loops).
NAMES_BY_KIND = {NONE: "none", JACOBI: "jacobi", SSOR: "ssor", ILU0: "ilu0", IC0: "ic0",
                 MATRIX: "matrix",
                 **{kind: "amg" if kind == AMG else f"amg_{name}"
                    for name, kind in AMG_KINDS.items()}}
#: The preconditioners a solve can name (``M="ic0"``); ``"none"`` is no preconditioner.
NAMES = ("none", "jacobi", "ssor", "ilu0", "ic0", "amg")

_EMPTY_INT = np.zeros(0, dtype=np.int64)
_EMPTY_UINT = np.zeros(0, dtype=np.uint32)
_EMPTY_FLOAT = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Preconditioner:
    """A preconditioner ``M ~ A`` whose inverse the Krylov loops apply in Numba.

    Build it with :func:`jacobi`, :func:`ssor`, :func:`ilu0` or :func:`ic0`; pass it as
    ``M=`` to :func:`solvers.cg` or :func:`solvers.gmres`.  ``P(r)`` (or ``P.apply(r)``)
    returns ``M^{-1} r``.

    The arrays hold, by kind: Jacobi, the inverted diagonal in ``diag``; SSOR, the
    matrix itself and its inverted diagonal; ILU(0), the factors ``L`` (unit lower,
    implied ones) and ``U`` in the sparsity pattern of ``A``, and the inverted diagonal
    of ``U``; IC(0), the lower factor ``L`` in the pattern of ``tril(A)``, its strictly
    lower part in ``indptr, indices, data`` and its inverted diagonal in ``diag``.
    ``diag_positions[i]`` is where row ``i``'s diagonal entry is stored (for IC(0), where
    row ``i`` ends); the sweeps multiply by the inverses: a division on the chain from
    one row to the next would cost several times a multiplication.  AMG, the packed
    arrays of a :class:`solvers.Hierarchy` (``pointers, indices, data, work, layout`` in
    these five places).
    """

    name: str
    kind: int
    n: int
    indptr: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    indices: np.ndarray = field(default_factory=lambda: _EMPTY_UINT)
    data: np.ndarray = field(default_factory=lambda: _EMPTY_FLOAT)
    diag: np.ndarray = field(default_factory=lambda: _EMPTY_FLOAT)
    diag_positions: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    omega: float = 1.0

    def __repr__(self) -> str:
        extra = f", omega={self.omega:g}" if self.name == "ssor" else ""
        return f"Preconditioner({self.name!r}, n={self.n}, nnz={self.data.size}{extra})"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def dtype(self) -> np.dtype:
        """complex128 for the factors of a complex matrix, float64 otherwise."""
        return accumulator_dtype(self.data.dtype, self.diag.dtype)

    def apply(self, r) -> np.ndarray:
        """Return ``M^{-1} r``, in ``r``'s precision (complex if ``r`` or ``M`` is)."""
        r = np.asarray(r)
        dtype = working_dtype(r.dtype, *([np.complex64] if self.dtype.kind == "c" else []))
        r = np.ascontiguousarray(r, dtype=dtype).reshape(-1)
        if r.size != self.n:
            raise ValueError(f"r must have length {self.n}; got {r.size}")
        z = np.empty_like(r)
        KERNELS[self.kind](self.indptr, self.indices, self.data, self.diag,
                           self.diag_positions, self.omega, r, z)
        return z

    __call__ = apply

    def aslinearoperator(self) -> LinearOperator:
        """``M^{-1}`` as a SciPy ``LinearOperator`` (e.g. for ``scipy.sparse.linalg.cg``)."""
        return linear_operator(self.shape, matvec=self.apply, dtype=self.dtype)


def _as_csr(A, name: str = "A") -> CSR:
    matrix = check_matrix(A, name)
    if not isinstance(matrix, CSR):
        raise TypeError(f"{name} must be a sparse or dense matrix to build a preconditioner from;"
                        " a LinearOperator has no entries")
    return matrix


def _canonical(csr: CSR) -> sp.csr_array:
    """A sorted, duplicate-free copy in float64 (complex128 for a complex matrix), never
    the caller's arrays."""
    matrix = sp.csr_array(csr.matrix, dtype=accumulator_dtype(csr.data.dtype), copy=True)
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def _diagonal_positions(matrix: sp.csr_array, kind: str) -> np.ndarray:
    positions = np.full(matrix.shape[0], -1, dtype=np.int64)
    _find_diagonal(matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), positions)
    missing = np.flatnonzero(positions < 0)
    if missing.size:
        raise PivotError(f"{kind}: row {missing[0]} has no stored diagonal entry"
                         f" ({missing.size} rows lack one); {kind} needs every diagonal entry")
    return positions


# The set-up kernels take their work arrays from Python: an allocation inside compiled
# code compiles NumPy's allocator too, a noticeable part of a first run's compile time.

@njit(cache=True)
def _find_diagonal(indptr, indices, positions):
    """positions[i] = where row i's diagonal entry is stored (left alone if it has none)."""
    n = indptr.size - 1
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] == i:
                positions[i] = k


def jacobi(A) -> Preconditioner:
    """Jacobi (diagonal) preconditioner, ``M = diag(A)``.

    Raises
    ------
    PivotError
        If a diagonal entry is zero.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import cg, jacobi
    >>> A = sp.diags([-np.ones(9), 4.0 * np.arange(1, 11), -np.ones(9)], [-1, 0, 1], format="csr")
    >>> M = jacobi(A)
    >>> cg(A, A @ np.ones(10), M=M, rtol=1e-10).converged
    True
    """
    csr = _as_csr(A)
    diagonal = csr.matrix.diagonal().astype(accumulator_dtype(csr.data.dtype))
    zero = np.flatnonzero(diagonal == 0)
    if zero.size:
        raise PivotError(f"jacobi: diagonal entry {zero[0]} of A is zero ({zero.size} zeros);"
                         " Jacobi needs a nonzero diagonal")
    return Preconditioner("jacobi", JACOBI, csr.n, diag=1.0 / diagonal)


def ssor(A, omega: float = 1.0) -> Preconditioner:
    r"""Symmetric successive over-relaxation.

    .. math:: M = \frac{1}{\omega(2-\omega)} (D + \omega L) D^{-1} (D + \omega U),

    with ``A = L + D + U``; symmetric positive definite when ``A`` is, for
    ``0 < omega < 2``.  ``omega = 1`` is symmetric Gauss-Seidel.
    """
    if not (np.isscalar(omega) and 0 < omega < 2):
        raise ValueError(f"omega must lie in (0, 2); got {omega!r}")
    csr = _as_csr(A)
    matrix = _canonical(csr)
    diagonal = matrix.diagonal()
    zero = np.flatnonzero(diagonal == 0)
    if zero.size:
        raise PivotError(f"ssor: diagonal entry {zero[0]} of A is zero; SSOR divides by it")
    return Preconditioner("ssor", SSOR, csr.n, matrix.indptr.astype(np.int64),
                          matrix.indices.astype(np.uint32), matrix.data, 1.0 / diagonal,
                          _diagonal_positions(matrix, "ssor"), omega=float(omega))


def ilu0(A) -> Preconditioner:
    """Incomplete LU factorization with no fill-in, ``M = L U`` in the pattern of ``A``.

    Raises
    ------
    PivotError
        If a pivot is zero (the error names the row).
    """
    csr = _as_csr(A)
    matrix = _canonical(csr)
    indptr, indices = matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)
    positions = _diagonal_positions(matrix, "ilu0")
    data = matrix.data.copy()
    bad_row = _ilu0_factor(indptr, indices, data, positions, np.full(csr.n, -1, dtype=np.int64))
    if bad_row >= 0:
        raise PivotError(f"ilu0: zero pivot in row {bad_row}; try jacobi, or reorder A")
    return Preconditioner("ilu0", ILU0, csr.n, indptr, indices.astype(np.uint32), data,
                          1.0 / data[positions], positions)


def ic0(A) -> Preconditioner:
    """Incomplete Cholesky factorization with no fill-in, ``M = L L^H``, ``L`` in ``tril(A)``.

    Only the lower triangle of ``A`` is read; ``A`` is taken to be symmetric (Hermitian,
    for a complex ``A``: the imaginary parts of its diagonal are ignored).

    Raises
    ------
    PivotError
        If a pivot is zero or negative (``A`` is not positive definite, or IC(0)
        breaks down on it); the error names the row.
    """
    csr = _as_csr(A)
    lower = sp.csr_array(sp.tril(_canonical(csr), format="csr"))
    lower.sort_indices()
    indptr, indices = lower.indptr.astype(np.int64), lower.indices.astype(np.int64)
    positions = _diagonal_positions(lower, "ic0")
    data = lower.data.copy()
    bad_row = _ic0_factor(indptr, indices, data, np.full(csr.n, -1, dtype=np.int64))
    if bad_row >= 0:
        raise PivotError(f"ic0: non-positive pivot in row {bad_row}; A is not positive definite"
                         " or IC(0) breaks down on it (try jacobi or ssor)")
    # The sweeps read L without its diagonal (they multiply by the inverses): storing the
    # strictly lower part alone takes a quarter of the entries, and of the memory traffic,
    # off each sweep of a 2D Poisson matrix.
    strictly_lower = np.ones(data.size, dtype=np.bool_)
    strictly_lower[positions] = False
    indptr = indptr - np.arange(csr.n + 1)  # one entry, the diagonal, off each row
    return Preconditioner("ic0", IC0, csr.n, indptr, indices[strictly_lower].astype(np.uint32),
                          data[strictly_lower], 1.0 / data[positions], indptr[1:].copy())


@njit(cache=True)
def _ilu0_factor(indptr, indices, data, diag_positions, where):
    """IKJ ILU(0) in place on sorted CSR; returns the row of a zero pivot or -1.

    ``where``: n entries of -1 (work space, restored on a normal return).
    """
    n = indptr.size - 1
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            where[indices[k]] = k
        for kk in range(indptr[i], diag_positions[i]):
            k = indices[kk]
            pivot = data[diag_positions[k]]
            if pivot == 0.0:
                return k
            factor = data[kk] / pivot
            data[kk] = factor
            for kj in range(diag_positions[k] + 1, indptr[k + 1]):
                target = where[indices[kj]]
                if target >= 0:
                    data[target] -= factor * data[kj]
        for k in range(indptr[i], indptr[i + 1]):
            where[indices[k]] = -1
        if data[diag_positions[i]] == 0.0:
            return i
    return -1


@njit(cache=True)
def _ic0_factor(indptr, indices, data, where):
    """Row-wise IC(0) in place on sorted lower-triangular CSR (diagonal last in each row):
    ``L_ik = (a_ik - sum_j L_ij conj(L_kj)) / L_kk``, ``L_ii = sqrt(a_ii - sum_j |L_ij|^2)``.

    ``where``: n entries of -1 (work space).
    """
    n = indptr.size - 1
    for i in range(n):
        start, end = indptr[i], indptr[i + 1]
        for k in range(start, end):
            where[indices[k]] = k
        for kk in range(start, end - 1):
            k = indices[kk]
            s = data[kk]
            for kj in range(indptr[k], indptr[k + 1] - 1):
                target = where[indices[kj]]
                if target >= 0:
                    s -= data[target] * conj(data[kj])
            data[kk] = s / data[indptr[k + 1] - 1]
        s = real(data[end - 1])
        for kk in range(start, end - 1):
            s -= abs2(data[kk])
        if not s > 0.0:
            return i
        data[end - 1] = np.sqrt(s)
        for k in range(start, end):
            where[indices[k]] = -1
    return -1


# --- application: one kernel per kind -------------------------------------------------
#
# Every kind has its own kernel with the same arguments, so a Krylov loop compiled for one
# kind compiles that kernel alone: the loops are built per kind (``cg.py``, ``gmres.py``)
# and call :func:`apply_preconditioner` with the kind as a compile-time constant, which
# Numba's branch pruning reduces to the one call.

@njit(cache=True, nogil=True)
def _apply_none(indptr, indices, data, diag, diag_positions, omega, r, z):
    for i in range(r.size):
        z[i] = r[i]


@njit(cache=True, nogil=True)
def _apply_jacobi(indptr, indices, data, diag, diag_positions, omega, r, z):
    for i in range(r.size):
        z[i] = diag[i] * r[i]


@njit(cache=True, nogil=True)
def _apply_matrix(indptr, indices, data, diag, diag_positions, omega, r, z):
    for i in range(r.size):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * r[indices[k]]
        z[i] = s


# The sweeps index with unsigned counters, as the CSR kernels do (``_csr.py``): Numba
# wraps negative signed indices, a test on every load of a short row.

@njit(cache=True, nogil=True)
def _apply_ssor(indptr, indices, data, diag, diag_positions, omega, r, z):
    # (D + wL) y = w(2-w) r; (D + wU) z = D y, both in z; ``diag`` holds D^-1, and the
    # product D y is taken row by row in the second sweep (from A's own diagonal).
    n = uint64(r.size)
    scale = omega * (2.0 - omega)
    for i in range(n):
        s = 0.0
        for k in range(uint64(indptr[i]), uint64(diag_positions[i])):
            s += data[k] * z[indices[k]]
        z[i] = (scale * r[i] - omega * s) * diag[i]
    for i in range(r.size - 1, -1, -1):
        position = uint64(diag_positions[i])
        s = 0.0
        for k in range(position + uint64(1), uint64(indptr[i + 1])):
            s += data[k] * z[indices[k]]
        z[i] = (z[i] * data[position] - omega * s) * diag[i]


@njit(cache=True, nogil=True)
def _apply_ilu0(indptr, indices, data, diag, diag_positions, omega, r, z):
    n = uint64(r.size)
    for i in range(n):
        s = r[i]
        for k in range(uint64(indptr[i]), uint64(diag_positions[i])):
            s -= data[k] * z[indices[k]]
        z[i] = s
    for i in range(r.size - 1, -1, -1):
        s = z[i]
        for k in range(uint64(diag_positions[i]) + uint64(1), uint64(indptr[i + 1])):
            s -= data[k] * z[indices[k]]
        z[i] = s * diag[i]


@njit(cache=True, nogil=True)
def _apply_ic0(indptr, indices, data, diag, diag_positions, omega, r, z):
    # L y = r by rows, then L^H z = y by columns of L (the rows of L^H are not stored).
    n = uint64(r.size)
    for i in range(n):
        s = r[i]
        for k in range(uint64(indptr[i]), uint64(diag_positions[i])):
            s -= data[k] * z[indices[k]]
        z[i] = s * diag[i]
    for i in range(r.size - 1, -1, -1):
        zi = z[i] * conj(diag[i])
        z[i] = zi
        for k in range(uint64(indptr[i]), uint64(diag_positions[i])):
            z[indices[k]] -= conj(data[k]) * zi


def _amg_kernels(smoother: str):
    """The V-cycle with ``smoother`` for vectors of any dtype (the hierarchy is real and
    float64): the function the loops call, and its kernel for calls from Python."""
    vcycle = VCYCLES[SMOOTHERS[smoother]]

    def named(function):
        # a cache index of its own for each smoother's functions, as for the loops
        function.__qualname__ = f"_apply_amg_{smoother}_{function.__name__}"
        return function

    def apply(indptr, indices, data, diag, diag_positions, omega, r, z):
        """z = V-cycle applied to r."""

    @overload(apply, jit_options={"cache": True, "nogil": True})
    def typed(indptr, indices, data, diag, diag_positions, omega, r, z):
        if r.dtype == types.float64 and z.dtype == types.float64:
            return named(lambda indptr, indices, data, diag, diag_positions, omega, r, z:
                         vcycle(indptr, indices, data, diag, diag_positions, omega, r, z))
        if isinstance(r.dtype, types.Complex):
            def complex_cycle(indptr, indices, data, diag, diag_positions, omega, r, z):
                # A real operator: M^{-1} (u + i v) = M^{-1} u + i M^{-1} v.
                part, image = np.empty(r.size), np.empty(r.size)
                for i in range(r.size):
                    part[i] = r[i].real
                vcycle(indptr, indices, data, diag, diag_positions, omega, part, image)
                for i in range(r.size):
                    z[i] = image[i]
                    part[i] = r[i].imag
                vcycle(indptr, indices, data, diag, diag_positions, omega, part, image)
                for i in range(r.size):
                    z[i] += 1j * image[i]
            return named(complex_cycle)

        def single_cycle(indptr, indices, data, diag, diag_positions, omega, r, z):
            part, image = np.empty(r.size), np.empty(r.size)
            for i in range(r.size):
                part[i] = r[i]
            vcycle(indptr, indices, data, diag, diag_positions, omega, part, image)
            for i in range(r.size):
                z[i] = image[i]
        return named(single_cycle)

    def kernel(indptr, indices, data, diag, diag_positions, omega, r, z):
        apply(indptr, indices, data, diag, diag_positions, omega, r, z)

    return apply, njit(cache=True, nogil=True)(named(kernel))


_apply_amg, _apply_amg_kernel = _amg_kernels("gauss_seidel")
_apply_amg_chebyshev, _apply_amg_chebyshev_kernel = _amg_kernels("chebyshev")
_apply_amg_l1_jacobi, _apply_amg_l1_jacobi_kernel = _amg_kernels("l1_jacobi")


#: The kernel of each kind, for calls from Python.
KERNELS = {NONE: _apply_none, JACOBI: _apply_jacobi, MATRIX: _apply_matrix, SSOR: _apply_ssor,
           ILU0: _apply_ilu0, IC0: _apply_ic0, AMG: _apply_amg_kernel,
           AMG_CHEBYSHEV: _apply_amg_chebyshev_kernel, AMG_L1_JACOBI: _apply_amg_l1_jacobi_kernel}


@njit(cache=True, nogil=True, inline="always")
def apply_preconditioner(kind, indptr, indices, data, diag, diag_positions, omega, r, z):
    """z = M^{-1} r for any kind of :class:`Preconditioner` (``r`` and ``z`` distinct).

    Inlined where it is called: with ``kind`` a constant there, only that kind's kernel
    is compiled; with ``kind`` a variable, all of them are.
    """
    if kind == NONE:
        _apply_none(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == JACOBI:
        _apply_jacobi(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == MATRIX:
        _apply_matrix(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == SSOR:
        _apply_ssor(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == ILU0:
        _apply_ilu0(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == IC0:
        _apply_ic0(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == AMG:
        _apply_amg(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == AMG_CHEBYSHEV:
        _apply_amg_chebyshev(indptr, indices, data, diag, diag_positions, omega, r, z)
    elif kind == AMG_L1_JACOBI:
        _apply_amg_l1_jacobi(indptr, indices, data, diag, diag_positions, omega, r, z)


def preconditioner(M, A):
    """Build, once, the preconditioner a solver would build from ``M`` for matrix ``A``.

    Reuse the result across solves with the same matrix (time steps, say) instead of
    passing a name, which would set the preconditioner up anew at every call.

    Parameters
    ----------
    M : None, str, Preconditioner, Hierarchy, sparse matrix or LinearOperator
        ``"none"``, ``"jacobi"``, ``"ssor"``, ``"ilu0"``, ``"ic0"`` or ``"amg"`` (the
        smoothed-aggregation V-cycle of :func:`solvers.amg` with its defaults); anything
        else is checked and returned as the solvers would take it.
    A : sparse matrix, ndarray or LinearOperator

    Returns
    -------
    Preconditioner or LinearOperator

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import cg, preconditioner
    >>> A = sp.diags([-np.ones(9), 2 * np.ones(10), -np.ones(9)], [-1, 0, 1], format="csr")
    >>> M = preconditioner("ic0", A)
    >>> [cg(A, b, M=M).iterations for b in (np.ones(10), np.arange(10.0))]
    [1, 1]
    """
    matrix = check_matrix(A)
    n = matrix.n if isinstance(matrix, CSR) else matrix.shape[0]
    return as_preconditioner(M, matrix if isinstance(matrix, CSR) else None, n)


def missing_dependency(name: str) -> str | None:
    """What the named preconditioner needs and is not installed, or None when it can run.

    Every preconditioner of :data:`NAMES` is built into the package, so this is None for
    each of them; callers ask before building one, so that an optional dependency can
    come back without changing them.

    Examples
    --------
    >>> missing_dependency("amg") is None
    True
    """
    return None


def _from_hierarchy(hierarchy: Hierarchy) -> Preconditioner:
    return Preconditioner("amg", AMG_KINDS[hierarchy.smoother], hierarchy.n,
                          hierarchy.pointers, hierarchy.indices, hierarchy.data, hierarchy.work,
                          hierarchy.layout)


def as_preconditioner(M, A_csr: CSR | None, n: int):
    """Turn the ``M`` argument of a solver into a :class:`Preconditioner` or LinearOperator.

    The names ``"jacobi"``, ``"ssor"``, ``"ilu0"``, ``"ic0"``, ``"amg"`` need ``A`` as
    a matrix; a :class:`~solvers.Hierarchy` is applied as its V-cycle; a sparse
    matrix or dense array is taken as ``M^{-1}``
    itself (SciPy's convention) and applied in Numba; anything else with ``matvec``
    is applied through Python.
    """
    if M is None:
        return Preconditioner("none", NONE, n)
    if isinstance(M, str):
        key = M.lower()
        if key not in NAMES:
            allowed = ", ".join(repr(k) for k in NAMES)
            raise ValueError(f"M: unknown preconditioner {M!r}; allowed: {allowed}, an object"
                             " from solvers.jacobi/ssor/ilu0/ic0, or a LinearOperator")
        if key == "none":
            return Preconditioner("none", NONE, n)
        if A_csr is None:
            raise TypeError(f"M={M!r} needs the entries of A; A is a LinearOperator here")
        if key == "amg":
            return _from_hierarchy(amg(A_csr.matrix))
        builders = {"jacobi": jacobi, "ssor": ssor, "ilu0": ilu0, "ic0": ic0}
        return builders[key](A_csr.matrix)
    if isinstance(M, Hierarchy):
        if M.n != n:
            raise ValueError(f"M is a hierarchy built for n = {M.n}; A has n = {n}")
        return _from_hierarchy(M)
    if isinstance(M, Preconditioner):
        if M.n != n:
            raise ValueError(f"M was built for n = {M.n}; A has n = {n}")
        return M
    if sp.issparse(M) or (isinstance(M, np.ndarray) and M.ndim == 2):
        matrix = check_matrix(M, "M")
        if matrix.n != n:
            raise ValueError(f"M must be {n} x {n} to match A; got {matrix.matrix.shape}")
        return Preconditioner("matrix", MATRIX, n, matrix.indptr.astype(np.int64),
                              matrix.indices,
                              matrix.data.astype(accumulator_dtype(matrix.data.dtype)))
    operator = check_matrix(M, "M")
    if operator.shape[0] != n:
        raise ValueError(f"M must be {n} x {n} to match A; got {operator.shape}")
    return operator
