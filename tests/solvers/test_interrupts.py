"""Ctrl-C during a solve, and histories that grow with the iterations.

The compiled loops return to Python every few hundredths of a second of work, so a
SIGINT stops a long solve at once; the solve so far comes back in
:class:`solvers.SolveInterrupted`.
"""

import os
import signal
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

from solvers import Reason, SolveInterrupted, cg, gmres


def _laplacian(m: int) -> sp.csr_array:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def _check_partial(result, A, b):
    assert result.reason is Reason.INTERRUPTED and not result.converged
    k = result.iterations
    assert k > 0 and result.residual_norms.shape == (k + 1,)
    assert np.all(np.isfinite(result.residual_norms))
    # x is the iterate the history ends at: its true residual is the one recorded
    assert result.true_residual_norm == pytest.approx(np.linalg.norm(b - A @ result.x))


@pytest.mark.parametrize(("method", "options"), [(cg, {}), (gmres, {"restart": 1})])
def test_sigint_stops_a_long_compiled_solve(method, options):
    """A signal reaches a compiled solve of minutes (how soon is a benchmark's business:
    benchmarks/bench_interrupt.py) and the solve so far comes back."""
    n = 100_000  # a 1D Laplacian: CG needs about n iterations, GMRES(1) far more
    A = sp.csr_array(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)))
    b = np.ones(n)
    method(A, b, maxiter=3, **options)  # compiled (or loaded) before the signal
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(SolveInterrupted) as raised:
            # a minute or so of work at most: a lost signal fails the test, not hangs it
            method(A, b, rtol=1e-12, maxiter=300_000, **options)
    finally:
        timer.cancel()
    assert isinstance(raised.value, KeyboardInterrupt)
    _check_partial(raised.value.result, A, b)


@pytest.mark.parametrize("method", [cg, gmres])
@pytest.mark.parametrize("operator", [False, True])
def test_an_interrupt_in_a_callback_returns_the_solve_so_far(method, operator):
    A = _laplacian(20)
    b = np.ones(A.shape[0])
    calls = []

    def callback(_):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt

    matrix = aslinearoperator(A) if operator else A
    with pytest.raises(SolveInterrupted) as raised:
        method(matrix, b, rtol=1e-12, callback=callback)
    result = raised.value.result
    _check_partial(result, A, b)
    assert result.iterations >= 7 if method is cg else result.iterations >= 1


@pytest.mark.parametrize("method", [cg, gmres])
def test_history_grows_instead_of_being_sized_by_maxiter(method):
    """maxiter = 10**12 would be 8 TB of history up front; it costs nothing now."""
    A = _laplacian(30)
    b = np.ones(A.shape[0])
    result = method(A, b, rtol=1e-10, maxiter=10**12)
    assert result.converged
    reference = method(A, b, rtol=1e-10)
    assert result.iterations == reference.iterations
    np.testing.assert_array_equal(result.residual_norms, reference.residual_norms)
    # a long solve (a 1D Laplacian of 2000 unknowns) crosses growths of the history
    line = sp.csr_array(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(2000, 2000)))
    options = {"restart": 1} if method is gmres else {}
    rhs = np.random.default_rng(7).standard_normal(2000)  # every eigenvector in it
    long = method(line, rhs, rtol=1e-10, maxiter=3000, **options)
    assert long.iterations > 1024
    assert long.residual_norms.shape == (long.iterations + 1,)
    assert np.all(np.isfinite(long.residual_norms))


class _Swallowed:
    """Raises KeyboardInterrupt where it cannot propagate (a finaliser), so that it goes
    to ``sys.unraisablehook``, as one raised inside LLVM's ctypes callbacks while Numba
    compiles does."""

    def __del__(self):
        raise KeyboardInterrupt


@pytest.mark.parametrize(("method", "loops", "options"),
                         [(cg, "solvers.cg", {}), (gmres, "solvers.gmres", {"restart": 1})])
def test_a_ctrl_c_swallowed_while_compiling_stops_the_solve(method, loops, options,
                                                            monkeypatch, capsys):
    import importlib

    module = importlib.import_module(loops)
    n = 100_000
    A = sp.csr_array(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)))
    b = np.ones(n)
    real = dict(module.LOOPS)

    def compiling(loop):
        def first_call(*arguments):
            _Swallowed()  # the Ctrl-C, lost to the unraisable hook during the "compile"
            return loop(*arguments)

        return first_call

    monkeypatch.setattr(module, "LOOPS", {kind: compiling(loop) for kind, loop in real.items()})
    before = sys.unraisablehook
    with pytest.raises(SolveInterrupted) as raised:
        method(A, b, rtol=1e-12, maxiter=10**9, **options)
    _check_partial(raised.value.result, A, b)
    # stopped after the first piece of the loop, long before maxiter; nothing printed
    assert raised.value.result.iterations < 10**6
    assert "Exception ignored" not in capsys.readouterr().err
    assert sys.unraisablehook is before  # the caller's hook again, after the solve
