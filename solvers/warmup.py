"""Compile, or load from Numba's on-disk cache, the kernels a solve needs, before solving.

A first solve in a fresh process spends most of its time in Numba: compiling the method
loop for the preconditioner at hand (seconds), or loading it from the on-disk cache left
by an earlier run (milliseconds).  :func:`is_cached` tells which of the two a solve will
do, without doing either; :func:`warm_up` does it, so that an application can say
"compiling kernels (first run only)" and time the compilation apart from the solve.

What a solve compiles depends on the method, the preconditioner's kind, the working
precision, the integer type of the CSR indices, and whether the system is large enough
to be split into parallel row chunks (8192 rows or more for CG; for GMRES fewer, as
``rows_per_chunk`` in ``solvers/gmres.py`` says).  Pass the matrix as ``A`` to have all
of these taken from it; without it, a single-chunk system with 32-bit indices is assumed,
which is what the finite-element systems of up to a few thousand unknowns give.

Both functions go through the solvers' own set-up (the same checks, the same argument
arrays), on a small generated system with the same properties as the real one.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba.core import event

from . import _csr, precond
from ._common import prepare, row_bounds
from ._inputs import CSR, check_matrix, working_dtype
from .cg import LOOPS as _CG_LOOPS
from .cg import _cg_arguments, _cg_workspace
from .cg import cg as _cg
from .gmres import LOOPS as _GMRES_LOOPS
from .gmres import _givens, _gmres_arguments, _start_cycle, _workspace, rows_per_chunk
from .gmres import gmres as _gmres
from .multigrid import amg
from .multigrid.hierarchy import setup_calls

__all__ = ["WarmUp", "is_cached", "warm_up"]

_KINDS = {name: kind for kind, name in precond.NAMES_BY_KIND.items()}
_DEFAULT_SMOOTHER = inspect.signature(amg).parameters["smoother"].default
_METHODS = ("cg", "gmres")


@dataclass(frozen=True)
class WarmUp:
    """What :func:`warm_up` did.

    Attributes
    ----------
    seconds : float
        Wall time spent compiling or loading the kernels.
    compiled : bool
        True when at least one function had to be compiled; False when everything was
        loaded from Numba's on-disk cache (or was already in memory).
    """

    seconds: float
    compiled: bool


@dataclass(frozen=True)
class _Setting:
    method: str
    preconditioner: str
    dtype: np.dtype  # of the matrix data and of b in the sample system
    index_dtype: np.dtype
    chunked: bool
    restart: int
    smoother: str  # of the AMG V-cycle

    @property
    def kind(self) -> int:
        if self.preconditioner == "amg":
            return precond.AMG_KINDS[self.smoother]
        return _KINDS[self.preconditioner]


def _setting(method, dtype, preconditioner, A, restart, smoother) -> _Setting:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}; "
                         f"got {method!r}")
    name = "none" if preconditioner is None else str(preconditioner).lower()
    if name not in precond.NAMES:
        raise ValueError(f"preconditioner must be one of {', '.join(map(repr, precond.NAMES))}"
                         f" or None; got {preconditioner!r}")
    if isinstance(restart, bool) or not isinstance(restart, (int, np.integer)) or restart < 1:
        raise ValueError(f"restart must be an integer >= 1; got {restart!r}")
    if smoother is not None and smoother not in precond.AMG_KINDS:
        raise ValueError(f"smoother must be one of {', '.join(map(repr, precond.AMG_KINDS))}"
                         f" or None; got {smoother!r}")
    smoother = _DEFAULT_SMOOTHER if smoother is None else smoother
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    if A is None:
        return _Setting(method, name, dtype, np.dtype(np.int32), False, int(restart), smoother)
    matrix = check_matrix(A)
    if not isinstance(matrix, CSR):
        raise TypeError("A must be a sparse or dense matrix (a LinearOperator runs no "
                        "compiled loop)")
    if method == "cg":
        rows = _csr._ROWS_PER_CHUNK
    else:
        rows = rows_per_chunk(min(int(restart), matrix.n))
    setting = _Setting(method, name, working_dtype(matrix.data.dtype, dtype),
                       np.dtype(matrix.indptr.dtype), False, int(restart), smoother)
    return dataclasses.replace(setting, chunked=row_bounds(matrix, rows) is not None)


def _sample_matrix(setting: _Setting) -> sp.csr_array:
    """A diagonally dominant five-band matrix (symmetric positive definite) on which no
    preconditioner is exact, so two iterations run and CG's Ritz values are computed;
    as large as the chunking needs."""
    if not setting.chunked:
        n = 16
    elif setting.method == "cg":
        n = 2 * _csr._ROWS_PER_CHUNK
    else:
        n = 2 * rows_per_chunk(setting.restart)
    bands = [-np.ones(n - 4), -np.ones(n - 1), 4.5 * np.ones(n), -np.ones(n - 1), -np.ones(n - 4)]
    matrix = sp.csr_array(sp.diags_array(bands, offsets=[-4, -1, 0, 1, 4], format="csr",
                                         dtype=setting.dtype))
    if matrix.indptr.dtype != setting.index_dtype:
        matrix.indptr = matrix.indptr.astype(setting.index_dtype)
        matrix.indices = matrix.indices.astype(setting.index_dtype)
    return matrix


def _sample_solve(setting: _Setting) -> None:
    A = _sample_matrix(setting)
    n = A.shape[0]
    b = np.ones(n, dtype=setting.dtype)
    # A hierarchy of more than one level, so that the whole cycle is compiled.
    M = setting.preconditioner
    if M == "amg":
        M = amg(A, max_coarse=4, smoother=setting.smoother)
    if setting.method == "cg":
        _cg(A, b, rtol=1e-12, maxiter=2, M=M)
    else:
        _gmres(A, b, rtol=1e-12, maxiter=2, restart=setting.restart, M=M)


def _planned_calls(setting: _Setting) -> list[tuple[object, tuple]]:
    """(dispatcher, arguments) of every compiled function the solve calls from Python.

    Built without calling any of them: the preconditioner is a stand-in with arrays of
    the same types as a real one of its kind.
    """
    A = _sample_matrix(setting)
    n = A.shape[0]
    b = np.ones(n, dtype=setting.dtype)
    M = precond.Preconditioner(setting.preconditioner, setting.kind, n)
    problem = prepare(A, b, None, 1e-6, 0.0, None, 2, M, None, None)
    restart = min(setting.restart, n)
    if setting.method == "gmres" and problem.compiled:
        problem.bounds = row_bounds(problem.A, rows_per_chunk(restart))
    x = problem.x
    calls = [(_csr.spmv_dot, (problem.A.indptr, problem.A.indices, problem.A.data, x,
                              np.empty_like(x), problem.bounds))]
    if setting.method == "cg":
        if problem.compiled:
            work = _cg_workspace(problem)
            calls.append((_CG_LOOPS[problem.M.kind], _cg_arguments(problem, work, 0, 2)))
    else:
        space = _workspace(n, restart, 2, problem.b.dtype)
        if problem.compiled:
            calls.append((_GMRES_LOOPS[problem.M.kind],
                          _gmres_arguments(problem, space, restart, False, 0, 1)))
        else:
            calls.append((_start_cycle, (0, 1.0, 1.0, 1.0, 2, space["history"],
                                         space["restarts"], space["scalars"],
                                         space["counters"])))
            calls.append((_givens, (1.0, 1.0)))
    integers, reals = np.zeros(n + 1, dtype=np.int64), np.zeros(1)
    if setting.preconditioner in ("ilu0", "ic0"):
        calls.append((precond._find_diagonal, (integers, integers, integers)))
    if setting.preconditioner == "ilu0":
        calls.append((precond._ilu0_factor, (integers, integers, reals, integers, integers)))
    if setting.preconditioner == "ic0":
        calls.append((precond._ic0_factor, (integers, integers, reals, integers)))
    if setting.preconditioner == "amg":
        calls.extend(setup_calls())
    return calls


def _available(dispatcher, arguments) -> bool:
    """Whether calling ``dispatcher(*arguments)`` would compile nothing: the overload is in
    memory, or in Numba's on-disk index with the current source stamp."""
    signature = tuple(dispatcher.typeof_pyval(argument) for argument in arguments)
    if signature in dispatcher.overloads:
        return True
    try:
        cache = dispatcher._cache
        key = cache._index_key(signature, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # a Numba without these internals: say "not known to be cached"
        return False


def is_cached(method: str, dtype=np.float64, preconditioner: str | None = "none", *,
              A=None, restart: int = 30, smoother: str | None = None) -> bool:
    """Whether a solve would find its compiled kernels in Numba's cache (or in memory).

    Compiles and loads nothing.  True means that :func:`warm_up` (or the solve itself)
    only loads machine code from disk, in milliseconds; False means it compiles, which
    takes seconds on a first run.

    Parameters
    ----------
    method : {"cg", "gmres"}
    dtype : dtype
        Precision of the right-hand side (and of ``A`` when ``A`` is omitted): float64 or
        float32.  The solve runs in float32 only when ``A`` and ``b`` both are.
    preconditioner : str or None
        A name of :data:`solvers.PRECONDITIONERS` (``"none"``, ``"jacobi"``, ``"ssor"``,
        ``"ilu0"``, ``"ic0"``, ``"amg"``); None is ``"none"``.
    A : sparse matrix or ndarray, optional
        The matrix to be solved: its index type, precision and size (parallel chunks or
        not) select the compiled variant.  Without it: 32-bit indices, one chunk.
    restart : int
        GMRES's restart length (it sets GMRES's chunk size); ignored for CG.
    smoother : str, optional
        The smoother of ``"amg"``'s V-cycle, as :func:`solvers.amg` takes it (each has
        its own compiled loops); None, its default.  Ignored for other preconditioners.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import is_cached, warm_up
    >>> _ = warm_up("cg", np.float64, "jacobi")
    >>> is_cached("cg", np.float64, "jacobi")
    True
    """
    setting = _setting(method, dtype, preconditioner, A, restart, smoother)
    return all(_available(dispatcher, arguments)
               for dispatcher, arguments in _planned_calls(setting))


def warm_up(method: str, dtype=np.float64, preconditioner: str | None = "none", *, A=None,
            restart: int = 30, smoother: str | None = None, on_compile=None) -> WarmUp:
    """Compile, or load from Numba's on-disk cache, every kernel a solve will need.

    Runs a two-iteration solve of a small system with the same properties as the one
    described (same method, preconditioner kind, precision, index type and chunking),
    so the real solve that follows spends no time in Numba (for ``"amg"``, the set-up of
    the hierarchy too).

    Parameters
    ----------
    method, dtype, preconditioner, A, restart, smoother
        As for :func:`is_cached`.
    on_compile : callable, optional
        Called with no argument when Numba starts compiling a first kernel (never when
        every kernel comes from the cache): the moment to say "compiling".

    Returns
    -------
    WarmUp
        ``seconds`` spent, and ``compiled``: whether anything had to be compiled rather
        than loaded from the cache.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import warm_up
    >>> first = warm_up("cg", np.float64, "ic0")   # compiles, or loads from the cache
    >>> warm_up("cg", np.float64, "ic0").compiled  # in memory now
    False
    """
    setting = _setting(method, dtype, preconditioner, A, restart, smoother)
    return timed(lambda: _sample_solve(setting), on_compile)


def timed(sample, on_compile=None) -> WarmUp:
    """Run ``sample()`` and say what Numba did meanwhile: a :class:`WarmUp`.

    ``on_compile()`` is called once, when Numba starts compiling a first function (a
    cache load does not count), so that an application prints "compiling" exactly
    when it is true.
    """
    compiles = []

    class _Counter(event.Listener):
        def on_start(self, _event):
            if not compiles and on_compile is not None:
                on_compile()
            compiles.append(1)

        def on_end(self, _event):
            pass

    started = time.perf_counter()
    with event.install_listener("numba:compile", _Counter()):
        sample()
    return WarmUp(seconds=time.perf_counter() - started, compiled=bool(compiles))
