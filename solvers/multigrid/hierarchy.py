r"""Smoothed-aggregation multigrid: the set-up of a hierarchy, and the hierarchy itself.

From the finest level down, until a level has at most ``max_coarse`` unknowns: strong
connections (:mod:`.strength`, the threshold halved from one level to the next),
aggregates (:mod:`.aggregation`), the tentative and the smoothed prolongator
(:mod:`.prolongation`), and the Galerkin operator
:math:`A_{\ell+1} = P_\ell^T A_\ell P_\ell` (:mod:`.galerkin`); the coarsest level is
solved directly (:mod:`.coarse`).  :mod:`.cycle` applies the V-cycle with the smoother
of :mod:`.smoothers`.

Reference
---------
P. Vaněk, J. Mandel and M. Brezina, "Algebraic multigrid by smoothed aggregation for
second and fourth order elliptic problems", Computing 56 (1996), 179-196.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .._errors import PivotError
from .._inputs import CSR, check_matrix, linear_operator
from .._threads import threads_for_a_while
from . import aggregation, galerkin, prolongation, smoothers, strength
from .aggregation import aggregate
from .coarse import coarse_solver
from .cycle import VCYCLES, pack
from .galerkin import galerkin_product, transpose
from .prolongation import (
    relax_candidates,
    smooth_prolongator,
    spectral_radius,
    tentative_prolongator,
)
from .smoothers import (
    GAUSS_SEIDEL,
    L1_JACOBI,
    SMOOTHERS,
    gauss_seidel_blocks,
    inverse_block_diagonal,
    inverse_l1_row_sums,
)
from .strength import strong_connections

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

#: The prolongator smoothing weight over the spectral radius of D^-1 A (Vaněk et al.).
_OMEGA = 4.0 / 3.0
# Power iterations for that spectral radius.
_POWER_STEPS = 10
# Jacobi steps of prolongator smoothing below the finest level.  A second step there
# (P = (I - w D^-1 A)^2 T) keeps the CG + V-cycle counts flat from 1.6e4 to 4.2e6
# unknowns on 2D Poisson (8, 8, 8, 8, 9 at 128 ... 2048 cells a side, against 8, 9, 9,
# 9, 10 with one), for about 5% more operator complexity; on the finest level, where
# most of the work is, one step is enough.
_COARSE_SMOOTHING_STEPS = 2
# Symmetric l1 Gauss-Seidel sweeps in the Gauss-Seidel smoother's blocks (whatever the
# smoother) that improve the near-null space on the finest level.
_CANDIDATE_SWEEPS = 4
#: The strength threshold of each level over that of the level above (Vaněk et al.).
THETA_DECAY = 0.5


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """A smoothed-aggregation hierarchy, built once by :func:`amg` and reused.

    Pass it as ``M=`` to :func:`solvers.cg` or :func:`solvers.gmres` (for every system
    with the same matrix); ``H(r)`` applies one V-cycle.  ``print(H)`` shows the levels.
    The packed arrays belong to the compiled V-cycle, whose work vectors live in
    ``work``: one hierarchy serves one solve at a time.

    Attributes
    ----------
    sizes, nonzeros : tuple of int
        Unknowns and stored entries of each level's matrix, finest first.
    setup_seconds : float
        Wall time of the set-up.
    theta, sweeps, smoother, max_coarse, near_null_space : as given to :func:`amg`
        (``near_null_space`` is the number of vectors).
    """

    sizes: tuple[int, ...]
    nonzeros: tuple[int, ...]
    setup_seconds: float
    theta: float
    sweeps: int
    smoother: str
    max_coarse: int
    near_null_space: int
    pointers: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    work: np.ndarray
    layout: np.ndarray

    @property
    def n(self) -> int:
        return self.sizes[0]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def levels(self) -> int:
        return len(self.sizes)

    @property
    def operator_complexity(self) -> float:
        """Stored entries of all levels over those of the finest."""
        return sum(self.nonzeros) / self.nonzeros[0]

    @property
    def grid_complexity(self) -> float:
        """Unknowns of all levels over those of the finest."""
        return sum(self.sizes) / self.sizes[0]

    def __repr__(self) -> str:
        return (f"Hierarchy(levels={self.levels}, n={self.n}, operator_complexity="
                f"{self.operator_complexity:.3f}, grid_complexity={self.grid_complexity:.3f},"
                f" setup_seconds={self.setup_seconds:.3g})")

    def __str__(self) -> str:
        lines = [f"smoothed aggregation: {self.levels} levels, operator complexity "
                 f"{self.operator_complexity:.3f}, grid complexity {self.grid_complexity:.3f},"
                 f" setup {self.setup_seconds:.3g} s",
                 f"{'level':>5} {'unknowns':>10} {'nonzeros':>11} {'per row':>8}"]
        for level, (size, nonzeros) in enumerate(zip(self.sizes, self.nonzeros, strict=True)):
            lines.append(f"{level:>5} {size:>10} {nonzeros:>11} {nonzeros / size:>8.1f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The summary as plain JSON types."""
        return {"levels": self.levels, "sizes": list(self.sizes),
                "nonzeros": list(self.nonzeros),
                "operator_complexity": self.operator_complexity,
                "grid_complexity": self.grid_complexity, "setup_seconds": self.setup_seconds,
                "theta": self.theta, "sweeps": self.sweeps, "smoother": self.smoother,
                "max_coarse": self.max_coarse,
                "near_null_space": self.near_null_space}

    def apply(self, r) -> np.ndarray:
        """One V-cycle on ``r``: an approximation of ``A^{-1} r``."""
        r = np.ascontiguousarray(r, dtype=np.float64).reshape(-1)
        if r.size != self.n:
            raise ValueError(f"r must have length {self.n}; got {r.size}")
        z = np.empty_like(r)
        VCYCLES[SMOOTHERS[self.smoother]](self.pointers, self.indices, self.data, self.work,
                                           self.layout, 1.0, r, z)
        return z

    __call__ = apply

    def aslinearoperator(self) -> LinearOperator:
        """The V-cycle as a SciPy ``LinearOperator``."""
        return linear_operator(self.shape, matvec=self.apply, dtype=np.float64)


_INT64_MAX = int(np.iinfo(np.int64).max)


def _check_options(theta, sweeps, smoother, max_coarse, max_levels) -> None:
    if isinstance(theta, bool) or not isinstance(theta, (int, float, np.floating)) or \
            not 0.0 <= theta < 1.0:
        raise ValueError(f"theta must be a number in [0, 1); got {theta!r}")
    if not isinstance(smoother, str) or smoother not in SMOOTHERS:
        raise ValueError(f"smoother must be one of {', '.join(map(repr, SMOOTHERS))}; got "
                         f"{smoother!r}")
    for name, value, lowest in (("sweeps", sweeps, 1), ("max_coarse", max_coarse, 1),
                                ("max_levels", max_levels, 1)):
        # the compiled cycle holds them in 64 bits
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not lowest <= value <= _INT64_MAX:
            raise ValueError(f"{name} must be an integer from {lowest} to {_INT64_MAX}; got "
                             f"{value!r}")


def _near_null_space(B, n: int) -> np.ndarray:
    if B is None:
        return np.ones((n, 1))
    B = np.asarray(B, dtype=np.float64)
    if B.ndim == 1:
        B = B[:, None]
    if B.ndim != 2 or B.shape[0] != n or B.shape[1] < 1:
        raise ValueError(f"B must have shape ({n},) or ({n}, k) with k >= 1; got {B.shape}")
    if not np.all(np.isfinite(B)):
        raise ValueError("B must be finite; it has a NaN or infinite entry")
    return np.ascontiguousarray(B)


def _fine_matrix(A) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    matrix = check_matrix(A)
    if not isinstance(matrix, CSR):
        raise TypeError("A must be a sparse or dense matrix to build a multigrid hierarchy "
                        "from; a LinearOperator has no entries")
    if matrix.data.dtype.kind == "c":
        raise TypeError(f"A has dtype {matrix.data.dtype}; amg builds hierarchies of real "
                        "matrices only (for a complex A, use jacobi, ssor, ilu0 or ic0)")
    if matrix.n >= 2**31:
        raise ValueError(f"A has {matrix.n} rows; amg supports at most 2**31 - 1")
    csr = matrix.matrix
    if not csr.has_canonical_format:
        csr = sp.csr_array(csr, dtype=np.float64, copy=True)
        csr.sum_duplicates()
    # Column indices are int32 in every level (at most 2**31 - 1 columns are supported).
    return (csr.indptr.astype(np.int64), np.asarray(csr.indices, dtype=np.int32),
            np.asarray(csr.data, dtype=np.float64))


def _inverse_diagonal(operator, level: int) -> np.ndarray:
    diagonal = _csr_array(operator).diagonal()
    bad = np.flatnonzero(~(diagonal > 0.0))
    if bad.size:
        where = "A" if level == 0 else f"the level-{level} matrix"
        raise PivotError(f"amg: diagonal entry {bad[0]} of {where} is {diagonal[bad[0]]:g}"
                         f" ({bad.size} nonpositive); smoothed aggregation needs a positive"
                         " diagonal")
    return 1.0 / diagonal


def _csr_array(operator) -> sp.csr_array:
    indptr, indices, data = operator
    n = indptr.size - 1
    return sp.csr_array((data, indices, indptr), shape=(n, n))


def amg(A, *, B=None, theta: float = 0.08, sweeps: int = 2, smoother: str = "gauss_seidel",
        max_coarse: int = 1000, max_levels: int = 25) -> Hierarchy:
    r"""Build a smoothed-aggregation multigrid hierarchy for ``A``.

    Parameters
    ----------
    A : sparse matrix or ndarray, shape (n, n)
        With a positive diagonal; symmetric positive definite for CG.
    B : array_like, shape (n,) or (n, k), optional
        The near-null space, vectors the coarse levels must represent exactly
        (default: the constants; rigid-body modes for elasticity, say).
    theta : float
        Strength threshold in [0, 1) on the finest level, halved on each coarser one
        (Vaněk et al.): on level :math:`\ell`, ``a_ij`` couples ``i`` and ``j`` when
        :math:`|a_{ij}| \ge 2^{-\ell} \theta \sqrt{|a_{ii} a_{jj}|}`.  The weak entries
        of the coarse Galerkin matrices then stay out of the aggregates.
    sweeps : int
        Smoothing before and after the coarse correction: Gauss-Seidel sweeps (forward
        before, backward after), the degree of the Chebyshev polynomial, or l1-Jacobi
        steps.
    smoother : str
        ``"gauss_seidel"`` (in fixed blocks of rows, swept in parallel), ``"chebyshev"``
        or ``"l1_jacobi"`` (rows in parallel); all keep the cycle symmetric, and give the
        same bits on any number of threads (:mod:`solvers.multigrid.smoothers`).
    max_coarse : int
        Coarsening stops at this many unknowns or fewer (or where it stalls); that level
        is solved directly, by sparse LU.
    max_levels : int
        Largest number of levels.

    Returns
    -------
    Hierarchy

    Raises
    ------
    PivotError
        If a diagonal entry is not positive, or the coarsest matrix is singular or
        indefinite.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import amg, cg
    >>> T = sp.diags([-np.ones(149), 2 * np.ones(150), -np.ones(149)], [-1, 0, 1])
    >>> A = sp.csr_array(sp.kron(sp.eye(150), T) + sp.kron(T, sp.eye(150)))
    >>> H = amg(A)
    >>> H.levels, H.sizes
    (3, (22500, 3788, 438))
    >>> result = cg(A, np.ones(22500), M=H, rtol=1e-8)
    >>> result.converged, result.iterations < 15
    (True, True)
    >>> cg(A, np.ones(22500), M=amg(A, smoother="chebyshev", sweeps=3), rtol=1e-8).converged
    True
    """
    started = time.perf_counter()
    _check_options(theta, sweeps, smoother, max_coarse, max_levels)
    operator = _fine_matrix(A)
    candidates = _near_null_space(B, operator[0].size - 1)
    # one choice of threads for the whole set-up (it has no pieces to choose again
    # between), by the solves' rule: a busy core would hold back every parallel step
    with threads_for_a_while():
        sizes, nonzeros, packed = _levels(operator, candidates, float(theta), int(sweeps),
                                          SMOOTHERS[smoother], max_coarse, max_levels)
    return Hierarchy(sizes, nonzeros, time.perf_counter() - started, float(theta),
                     int(sweeps), smoother, int(max_coarse), candidates.shape[1], *packed)


def _levels(operator, candidates, theta: float, sweeps: int, kind: int, max_coarse: int,
            max_levels: int):
    """The levels' sizes and stored entries, and the packed cycle arrays (see :func:`amg`)."""
    operators, prolongators, restrictors, smoothing_diagonals = [operator], [], [], []
    uppers, blocks = [], []
    while operator[0].size - 1 > max_coarse and len(operators) < max_levels:
        inverse_diagonal = _inverse_diagonal(operator, len(operators) - 1)
        level_blocks = gauss_seidel_blocks(operator[0])
        if kind == GAUSS_SEIDEL or len(operators) == 1:
            block_diagonal = inverse_block_diagonal(*operator, level_blocks)
        if len(operators) == 1:
            candidates = relax_candidates(*operator, block_diagonal, level_blocks, candidates,
                                          _CANDIDATE_SWEEPS)
        level_theta = theta * THETA_DECAY ** (len(operators) - 1)
        strong = strong_connections(*operator, 1.0 / inverse_diagonal, level_theta)
        aggregates, count = aggregate(*strong)
        if count == 0 or count * candidates.shape[1] >= operator[0].size - 1:
            break  # coarsening stalls: this level becomes the coarsest, solved directly
        tentative = tentative_prolongator(aggregates, count, candidates)
        columns = count * candidates.shape[1]
        rho = spectral_radius(*operator, inverse_diagonal, _POWER_STEPS)
        prolongator = tentative[:3]
        for _ in range(1 if len(operators) == 1 else _COARSE_SMOOTHING_STEPS):
            prolongator = smooth_prolongator(*operator, inverse_diagonal, _OMEGA / rho,
                                             prolongator, columns)
        blocks.append(level_blocks)
        if kind == GAUSS_SEIDEL:
            smoothing_diagonals.append(block_diagonal)
        elif kind == L1_JACOBI:
            smoothing_diagonals.append(inverse_l1_row_sums(*operator))
        else:
            smoothing_diagonals.append(inverse_diagonal)
        uppers.append(smoothers.UPPER_MARGIN * rho)
        prolongators.append(prolongator)
        restrictors.append(transpose(*prolongator, columns))
        operator = galerkin_product(operator, prolongator, columns, restrictors[-1])
        operators.append(operator)
        candidates = tentative[3]
    _inverse_diagonal(operator, len(operators) - 1)
    coarse = coarse_solver(_csr_array(operator))
    sizes = tuple(op[0].size - 1 for op in operators)
    nonzeros = tuple(int(op[0][-1]) for op in operators)
    # only the lists hold the levels' arrays now, so that pack can let each kind go
    prolongator = tentative = level_blocks = inverse_diagonal = strong = None
    packed = pack(operators, prolongators, restrictors, smoothing_diagonals, blocks, coarse,
                  sweeps, kind, uppers, smoothers.EIGENVALUE_RATIO)
    return sizes, nonzeros, packed


def setup_calls() -> list[tuple[object, tuple]]:
    """(dispatcher, arguments) of every compiled function of the set-up, with arguments
    of the types :func:`amg` passes (for ``solvers.is_cached``); calls none of them."""
    pointers, columns = np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.int32)
    reals, block = np.zeros(1), np.zeros((1, 1))
    return [
        (strength._count_strong, (pointers, columns, reals, reals, 0.0, pointers)),
        (strength._fill_strong, (pointers, columns, reals, reals, 0.0, pointers, columns)),
        (aggregation._aggregate, (pointers, columns, pointers, np.zeros(1, dtype=np.bool_))),
        (smoothers._inverse_block_diagonal, (pointers, columns, reals, pointers, reals)),
        (smoothers.block_sweeps, (pointers, columns.view(np.uint32), reals, reals, pointers, 1,
                                  reals, reals, reals, True)),
        (prolongation._orthonormalise, (pointers, pointers, block, block, block)),
        (prolongation._power_iteration, (pointers, columns, reals, reals, reals, reals, 1,
                                          pointers)),
        (galerkin._column_counts, (columns, pointers)),
        (galerkin._transpose_fill, (pointers, columns, reals, pointers, columns, reals)),
        (galerkin._product_counts, (pointers, columns, pointers, columns, 0, pointers,
                                    pointers)),
        (galerkin._product_values, (pointers, columns, reals, reals, 0.0, pointers, columns,
                                    reals, 0, pointers, pointers, columns, reals)),
    ]
