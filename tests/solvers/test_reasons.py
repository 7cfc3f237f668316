"""Every stop reason, each produced by a system built to cause it."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.sparse.linalg import LinearOperator

from solvers import Reason, cg, gmres


def test_converged_rtol_and_atol(model):
    A, b = model.laplacian_1d(20), np.ones(20)
    assert cg(A, b, rtol=1e-8).reason is Reason.CONVERGED_RTOL
    atol_result = gmres(A, b, rtol=0.0, atol=1e-9)
    assert atol_result.reason is Reason.CONVERGED_ATOL
    assert atol_result.true_residual_norm <= 1e-9


def test_max_iterations(model):
    A, b = model.laplacian_2d(20), np.ones(400)
    for result in (cg(A, b, maxiter=3), gmres(A, b, maxiter=3)):
        assert result.reason is Reason.DIVERGED_MAX_ITERATIONS
        assert not result.converged and result.info == 3 and result.iterations == 3


def test_indefinite_matrix_in_cg():
    A = sp.csr_array(np.diag([1.0, -1.0]))
    result = cg(A, np.array([1.0, 1.0]))  # p0 = b and b.A b = 0
    assert result.reason is Reason.DIVERGED_INDEFINITE_MATRIX and result.info == -1


def test_indefinite_preconditioner_in_cg(model):
    A = model.laplacian_1d(10)
    negative = sp.csr_array(-sp.identity(10))  # M^-1 = -I: r.z < 0
    for M in (negative, sla.aslinearoperator(negative)):
        result = cg(A, np.ones(10), M=M)
        assert result.reason is Reason.DIVERGED_INDEFINITE_PRECONDITIONER


def test_breakdown_in_gmres_on_singular_matrix():
    # A e1 = 0: the Krylov space of b = e1 is invariant and A is singular on it.
    A = sp.csr_array(np.array([[0.0, 1.0], [0.0, 0.0]]))
    result = gmres(A, np.array([1.0, 0.0]))
    assert result.reason is Reason.DIVERGED_BREAKDOWN and not result.converged


def test_breakdown_in_cg_with_singular_preconditioner(model):
    # M^-1 annihilates the residual direction: r.z = 0 with r != 0.
    A = model.laplacian_1d(4)
    M = sp.csr_array(np.diag([0.0, 0.0, 0.0, 0.0]))
    assert cg(A, np.ones(4), M=M).reason is Reason.DIVERGED_BREAKDOWN


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_nan_from_overflow():
    A = sp.csr_array(np.diag([1e300, 1e-300]))
    b = np.array([1e300, 1.0])
    result = cg(A, b, rtol=1e-12)
    assert result.reason is Reason.DIVERGED_NAN and not result.converged


def test_dtol():
    # CG's residual is not monotone: here r_1 = (1e-3 - 500 * 1e-3, 1 - 0.5), 500x ||r_0||.
    A = sp.csr_array(np.diag([1.0, 1e-6]))
    b = np.array([1e-3, 1.0])
    rising = cg(A, b, dtol=100.0)
    assert rising.reason is Reason.DIVERGED_DTOL and rising.iterations == 1
    assert rising.residual_norms[1] > 100.0 * rising.residual_norms[0]
    assert cg(A, b).converged  # without dtol it goes on and converges


def test_stagnation_in_restarted_gmres():
    # Cyclic shift with b = e1: every GMRES(m < n) cycle leaves the residual unchanged.
    n = 12
    shift = sp.csr_array((np.ones(n), (np.arange(n), (np.arange(n) + 1) % n)), shape=(n, n))
    b = np.zeros(n)
    b[0] = 1.0
    result = gmres(shift, b, restart=4, maxiter=1000)
    assert result.reason is Reason.DIVERGED_STAGNATION
    assert result.iterations == 3 * 4  # three cycles without progress, then it stops
    assert gmres(shift, b, restart=n).converged  # a full cycle solves it


def test_stagnation_in_cg_at_attainable_accuracy(model):
    n = 2000
    A = model.laplacian_1d(n)
    result = cg(A, A @ np.ones(n), rtol=1e-16, maxiter=50 * n)
    assert result.reason is Reason.DIVERGED_STAGNATION
    assert result.residual_replacements >= 1 and not result.converged


@pytest.mark.parametrize("reason", list(Reason))
def test_reason_values_are_the_documented_strings(reason):
    assert reason.value == reason.name.lower()
    assert str(reason) == reason.value


def _nan_after(calls):
    """A user's preconditioner that returns NaNs from its ``calls``-th application on."""
    seen = []

    def apply(r):
        seen.append(1)
        return np.full_like(r, np.nan) if len(seen) >= calls else r
    return LinearOperator((40, 40), matvec=apply, dtype=float)


@pytest.mark.parametrize("calls", [1, 3])
@pytest.mark.parametrize(("solve", "keywords"), [
    (cg, {}), (gmres, {"preconditioning": "right"}), (gmres, {"preconditioning": "left"})])
def test_nan_from_a_users_preconditioner_is_named(solve, keywords, calls, model):
    A = model.laplacian_1d(40)
    result = solve(A, np.ones(40), M=_nan_after(calls), rtol=1e-10, **keywords)
    assert result.reason is Reason.DIVERGED_NAN and result.info == -1
    assert np.all(np.isfinite(result.x))


@pytest.mark.parametrize("preconditioning", ["right", "left"])
def test_zero_from_a_users_preconditioner_is_a_breakdown(preconditioning, model):
    A = model.laplacian_1d(40)
    zero = LinearOperator((40, 40), matvec=np.zeros_like, dtype=float)
    for solve, extra in ((gmres, {"preconditioning": preconditioning}), (cg, {})):
        result = solve(A, np.ones(40), M=zero, **extra)
        assert result.reason is Reason.DIVERGED_BREAKDOWN and not result.converged
        assert np.all(np.isfinite(result.x))
