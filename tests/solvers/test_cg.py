"""CG against SciPy's direct and iterative solvers, and the facts its result reports."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from solvers import Reason, cg, ic0


@pytest.mark.parametrize("M", [None, "jacobi", "ssor", "ilu0", "ic0"])
def test_solution_agrees_with_spsolve(model, M, rng):
    A = model.laplacian_2d(20)
    b = rng.standard_normal(A.shape[0])
    result = cg(A, b, rtol=1e-12, M=M)
    reference = sla.spsolve(A.tocsc(), b)
    assert result.converged and result.reason is Reason.CONVERGED_RTOL
    # cond(A) ~ 180: the error is bounded by cond * rtol relative to the solution
    assert np.linalg.norm(result.x - reference) <= 1e-9 * np.linalg.norm(reference)
    assert result.true_residual_norm <= 1e-12 * np.linalg.norm(b)


@pytest.mark.parametrize("m", [10, 30, 60])
@pytest.mark.parametrize("jacobi", [False, True])
def test_iterations_match_scipy_cg(model, m, jacobi):
    scale = sp.diags(np.sqrt(1.0 + np.arange(m * m) % 3))  # SPD with a non-constant diagonal
    A = sp.csr_array(scale @ model.laplacian_2d(m) @ scale)
    b = A @ np.ones(m * m)
    M_scipy = sp.diags(1.0 / A.diagonal()) if jacobi else None
    count = [0]
    x_scipy, info = sla.cg(A, b, rtol=1e-8, M=M_scipy, callback=lambda xk: count.__setitem__(
        0, count[0] + 1))
    result = cg(A, b, rtol=1e-8, M="jacobi" if jacobi else None)
    assert info == 0 and result.converged
    assert abs(result.iterations - count[0]) <= 1
    assert np.allclose(result.x, x_scipy, rtol=0, atol=1e-6)


def test_history_and_counts(model):
    A = model.laplacian_1d(50)
    b = np.ones(50)
    x0 = np.full(50, 0.5)
    result = cg(A, b, x0, rtol=1e-10)
    history = result.residual_norms
    assert history.shape == (result.iterations + 1,)
    assert history[0] == pytest.approx(np.linalg.norm(b - A @ x0), rel=1e-14)
    assert history[-1] <= result.tolerance
    assert result.tolerance == pytest.approx(1e-10 * np.linalg.norm(b))
    assert result.true_residual_norm == pytest.approx(np.linalg.norm(b - A @ result.x), rel=1e-12)
    # one product per iteration, one for r_0 (x0 is not zero), and one to verify
    # convergence, whose residual is the one reported
    assert result.matvecs == result.iterations + 2
    x, info = result
    assert info == 0 and x is result.x


def test_inputs_are_not_modified(model, rng):
    A = model.laplacian_2d(8)
    data_before = A.data.copy()
    b = rng.standard_normal(64)
    x0 = rng.standard_normal(64)
    b_before, x0_before = b.copy(), x0.copy()
    cg(A, b, x0, M="ic0")
    assert np.array_equal(A.data, data_before)
    assert np.array_equal(b, b_before) and np.array_equal(x0, x0_before)


def test_rerun_is_bit_identical(model, rng):
    A = model.laplacian_2d(150)  # several row chunks: the parallel kernels take part
    b = rng.standard_normal(A.shape[0])
    first = cg(A, b, rtol=1e-8, M="jacobi")
    second = cg(A, b, rtol=1e-8, M="jacobi")
    assert first.reason == second.reason and first.iterations == second.iterations
    assert np.array_equal(first.residual_norms, second.residual_norms)
    assert np.array_equal(first.x, second.x)


def test_operator_path_follows_the_compiled_one(model, rng):
    A = model.laplacian_2d(12)
    b = rng.standard_normal(A.shape[0])
    compiled = cg(A, b, rtol=1e-10, M="ic0")
    operator = cg(sla.aslinearoperator(A), b, rtol=1e-10, M=ic0(A).aslinearoperator())
    assert operator.preconditioner == "operator" and compiled.preconditioner == "ic0"
    assert operator.iterations == compiled.iterations
    assert np.allclose(operator.residual_norms, compiled.residual_norms, rtol=1e-8,
                       atol=1e-12 * compiled.residual_norms[0])


def test_dense_and_float32_input(model):
    A = model.laplacian_1d(30)
    dense = cg(A.toarray(), np.ones(30), rtol=1e-10)
    assert dense.converged and dense.iterations == cg(A, np.ones(30), rtol=1e-10).iterations
    single = cg(A.astype(np.float32), np.ones(30, dtype=np.float32), rtol=1e-5)
    assert single.x.dtype == np.float32 and single.converged


def test_callback_and_monitor(model):
    A = model.laplacian_1d(40)
    b = np.ones(40)
    iterates, monitored = [], []
    result = cg(A, b, rtol=1e-10, callback=iterates.append,
                monitor=lambda k, norm: monitored.append((k, norm)))
    assert len(iterates) == result.iterations
    assert [k for k, _ in monitored] == list(range(result.iterations + 1))
    assert np.array_equal([norm for _, norm in monitored], result.residual_norms)
    assert np.array_equal(iterates[-1], result.x)
    # each iterate's true residual matches the recorded one (no drift on so small a problem)
    for k in (1, 5, 10):
        assert np.linalg.norm(b - A @ iterates[k - 1]) == pytest.approx(
            result.residual_norms[k], rel=1e-8)


def test_zero_rhs_returns_zero_at_once(model):
    result = cg(model.laplacian_1d(10), np.zeros(10), x0=np.ones(10))
    assert result.converged and result.iterations == 0
    assert np.array_equal(result.x, np.zeros(10))


@pytest.mark.parametrize("n", [100, 400])
def test_condition_estimate_within_10_percent_of_eigsh(model, n):
    A = model.laplacian_1d(n)
    result = cg(A, np.ones(n), rtol=1e-10)
    largest = sla.eigsh(A, k=1, which="LA", return_eigenvectors=False)[0]
    smallest = sla.eigsh(A, k=1, sigma=0, which="LM", return_eigenvectors=False)[0]
    assert result.condition_estimate == pytest.approx(largest / smallest, rel=0.10)


def test_condition_estimate_on_2d_laplacian_with_closed_form(model):
    m = 40
    result = cg(model.laplacian_2d(m), np.ones(m * m), rtol=1e-10)
    h = 1.0 / (m + 1)
    exact = 1.0 / np.tan(np.pi * h / 2) ** 2  # cot^2(pi h / 2)
    assert result.condition_estimate == pytest.approx(exact, rel=0.10)
    lambda_min, lambda_max = result.eigenvalue_estimates
    # Ritz values lie inside the spectrum [4 - 4 cos(pi h), 4 + 4 cos(pi h)]
    assert lambda_max <= 4 + 4 * np.cos(np.pi * h)
    assert lambda_min >= (4 - 4 * np.cos(np.pi * h)) * (1 - 1e-8)


def test_never_claims_convergence_the_true_residual_denies(model):
    # SciPy's cg reports info=0 here while ||b - A x|| is far above rtol ||b||.
    n = 4000
    A = model.laplacian_1d(n)
    b = A @ np.ones(n)
    result = cg(A, b, rtol=1e-13, maxiter=20 * n)
    bound = 1e-13 * np.linalg.norm(b)
    assert result.true_residual_norm == pytest.approx(np.linalg.norm(b - A @ result.x), rel=1e-6)
    if result.converged:
        assert result.true_residual_norm <= bound
    else:
        assert result.reason in (Reason.DIVERGED_STAGNATION, Reason.DIVERGED_MAX_ITERATIONS)
    assert result.residual_replacements >= 1  # the recursive residual did drift


def test_ritz_values_by_bisection_match_a_dense_eigensolve(rng):
    from solvers.cg import _tridiagonal_extremes

    for m in (2, 7, 60):
        diagonal, off_diagonal = rng.uniform(1, 5, m), rng.uniform(-1, 1, m - 1)
        dense = np.diag(diagonal) + np.diag(off_diagonal, 1) + np.diag(off_diagonal, -1)
        exact = np.linalg.eigvalsh(dense)
        smallest, largest = _tridiagonal_extremes(diagonal, off_diagonal)
        assert smallest == pytest.approx(exact[0], rel=1e-9)
        assert largest == pytest.approx(exact[-1], rel=1e-9)


def test_cached_loops_are_stamped_with_every_kernel_file():
    # A loop cached with an old kernel compiled in must expire when that kernel changes.
    import importlib

    cache = importlib.import_module("solvers._cache")
    loop = importlib.import_module("solvers.cg")._cg_loop  # the package's `cg` is the function
    locator = loop._cache._impl.locator
    assert isinstance(locator, cache._PackageStamp)
    assert locator.get_source_stamp() == cache._package_hash()


@pytest.mark.parametrize("rtol", [1e-12, 1e-14])
def test_condition_estimate_survives_residual_replacements(rtol):
    # A replacement restarts the Lanczos process; the estimate must still use the
    # segments before it (the last one alone may hold a single iteration).
    n = 300
    A = sp.csr_array(sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]))
    exact = (np.sin(n * np.pi / (2 * (n + 1))) / np.sin(np.pi / (2 * (n + 1)))) ** 2
    result = cg(A, np.random.default_rng(1).standard_normal(n), rtol=rtol)
    assert result.residual_replacements >= 1
    assert result.condition_estimate == pytest.approx(exact, rel=1e-3)
