"""Krylov solvers that report the truth: CG and GMRES in Numba, with full residual histories.

>>> import numpy as np, scipy.sparse as sp
>>> from solvers import cg
>>> A = sp.diags([-np.ones(9), 2 * np.ones(10), -np.ones(9)], [-1, 0, 1], format="csr")
>>> x, info = cg(A, np.ones(10), rtol=1e-12)
>>> info
0
"""

# Sets up Numba's cache of this package (stamped, checked); must run before any kernel is defined.
from ._cache import CacheWarning
from ._inputs import check_tolerances
from .cg import cg
from .gmres import gmres
from .multigrid import Hierarchy, amg
from .plot import plot_residuals
from .precond import NAMES as PRECONDITIONERS
from .precond import (
    PivotError,
    Preconditioner,
    ic0,
    ilu0,
    jacobi,
    missing_dependency,
    preconditioner,
    ssor,
)
from .result import Reason, SolveInterrupted, SolveResult, tolerance
from .warmup import WarmUp, is_cached, warm_up

#: The Krylov methods, by the names ``solvers.cg`` and ``solvers.gmres`` carry.
METHODS = ("cg", "gmres")

__all__ = [
    "METHODS",
    "PRECONDITIONERS",
    "CacheWarning",
    "Hierarchy",
    "PivotError",
    "Preconditioner",
    "Reason",
    "SolveInterrupted",
    "SolveResult",
    "WarmUp",
    "amg",
    "cg",
    "check_tolerances",
    "gmres",
    "ic0",
    "ilu0",
    "is_cached",
    "jacobi",
    "missing_dependency",
    "plot_residuals",
    "preconditioner",
    "read_matrix",
    "read_rhs",
    "ssor",
    "tolerance",
    "warm_up",
]


def __getattr__(name):
    # solvers.io, which pulls in scipy.io, is imported on first use only
    if name in ("read_matrix", "read_rhs"):
        from . import io

        return getattr(io, name)
    raise AttributeError(f"module 'solvers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
