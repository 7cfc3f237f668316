"""GMRES against SciPy, on nonsymmetric model problems."""

import numpy as np
import pytest
import scipy.sparse.linalg as sla

from solvers import Reason, gmres, ilu0


@pytest.mark.parametrize("M", [None, "jacobi", "ilu0"])
@pytest.mark.parametrize("preconditioning", ["right", "left"])
def test_solution_agrees_with_spsolve(model, rng, M, preconditioning):
    A = model.convection_diffusion_2d(20)
    b = rng.standard_normal(A.shape[0])
    result = gmres(A, b, rtol=1e-10, M=M, preconditioning=preconditioning)
    reference = sla.spsolve(A.tocsc(), b)
    assert result.converged and result.reason is Reason.CONVERGED_RTOL
    assert result.true_residual_norm <= 1e-10 * np.linalg.norm(b)
    assert np.linalg.norm(result.x - reference) <= 1e-7 * np.linalg.norm(reference)


@pytest.mark.parametrize("restart", [10, 30])
def test_iterations_close_to_scipy(model, restart):
    A = model.convection_diffusion_2d(30)
    b = A @ np.ones(A.shape[0])
    count = [0]
    _, info = sla.gmres(A, b, rtol=1e-8, restart=restart, maxiter=1000,
                        callback=lambda norm: count.__setitem__(0, count[0] + 1),
                        callback_type="pr_norm")
    result = gmres(A, b, rtol=1e-8, restart=restart)
    assert info == 0 and result.converged
    # Same Krylov spaces; orthogonalisation and the final check differ a little.
    assert abs(result.iterations - count[0]) <= max(3, 0.02 * count[0])


def test_right_preconditioned_history_is_the_true_residual(model, rng):
    A = model.convection_diffusion_2d(15)
    b = rng.standard_normal(A.shape[0])
    norms = []

    def record(x):
        norms.append(np.linalg.norm(b - A @ x))

    result = gmres(A, b, rtol=1e-9, restart=5, M="ilu0", callback=record, callback_type="x")
    ends = [*result.restarts[1:], result.iterations]
    assert np.allclose(result.residual_norms[ends], norms, rtol=1e-6)


def test_restarts_and_maxiter_count_inner_iterations(model):
    A = model.convection_diffusion_2d(30)
    b = np.ones(A.shape[0])
    result = gmres(A, b, rtol=1e-12, restart=7, maxiter=50)
    assert result.reason is Reason.DIVERGED_MAX_ITERATIONS and result.info == 50
    assert result.iterations == 50 and result.residual_norms.size == 51
    assert list(result.restarts) == list(range(0, 50, 7))
    assert np.all(np.diff(result.residual_norms) <= 1e-12 * result.residual_norms[0])


def test_operator_path_follows_the_compiled_one(model, rng):
    A = model.convection_diffusion_2d(12)
    b = rng.standard_normal(A.shape[0])
    compiled = gmres(A, b, rtol=1e-10, restart=10, M="ilu0")
    operator = gmres(sla.aslinearoperator(A), b, rtol=1e-10, restart=10,
                     M=ilu0(A).aslinearoperator())
    assert operator.iterations == compiled.iterations
    assert np.allclose(operator.residual_norms, compiled.residual_norms, rtol=1e-6,
                       atol=1e-12 * compiled.residual_norms[0])
    assert np.allclose(operator.x, compiled.x, rtol=1e-8)


def test_pr_norm_callback_and_monitor(model):
    A = model.convection_diffusion_2d(10)
    b = np.ones(A.shape[0])
    relative, monitored = [], []
    result = gmres(A, b, rtol=1e-10, restart=8, callback=relative.append,
                   monitor=lambda k, norm: monitored.append(norm))
    assert np.allclose(relative, result.residual_norms[1:] / np.linalg.norm(b))
    assert np.array_equal(monitored, result.residual_norms)


def test_condition_estimate_for_a_normal_matrix(model):
    # A symmetric positive definite matrix: singular values are eigenvalues.
    A = model.laplacian_1d(40)
    result = gmres(A, np.ones(40), rtol=1e-12, restart=40)
    eigenvalues = np.linalg.eigvalsh(A.toarray())
    assert result.condition_estimate == pytest.approx(eigenvalues[-1] / eigenvalues[0], rel=0.10)


def test_condition_estimate_gathers_every_cycle(model):
    # Restarted, each cycle's Hessenberg matrix sees part of the spectrum: the estimate
    # takes the extreme singular values over all cycles, a lower bound of the condition
    # number that is at least any one cycle's (the first's, say).
    A = model.laplacian_1d(60)
    b = np.ones(60)
    eigenvalues = np.linalg.eigvalsh(A.toarray())
    exact = eigenvalues[-1] / eigenvalues[0]
    solve = gmres(A, b, rtol=1e-10, restart=10, maxiter=5000)
    assert solve.converged and len(solve.restarts) > 100
    first_cycle = gmres(A, b, rtol=1e-10, restart=10, maxiter=10)
    assert first_cycle.condition_estimate < solve.condition_estimate <= exact * (1 + 1e-10)
    # the same through Python's cycles, for an operator
    operator = gmres(sla.aslinearoperator(A), b, rtol=1e-10, restart=10, maxiter=5000)
    assert operator.condition_estimate == pytest.approx(solve.condition_estimate, rel=1e-6)


def test_rerun_is_bit_identical(model, rng):
    A = model.convection_diffusion_2d(80)
    b = rng.standard_normal(A.shape[0])
    first, second = gmres(A, b, rtol=1e-8), gmres(A, b, rtol=1e-8)
    assert np.array_equal(first.residual_norms, second.residual_norms)
    assert np.array_equal(first.x, second.x)


@pytest.mark.parametrize(("M", "preconditioning", "expected"), [
    (None, "left", "unpreconditioned"),
    ("jacobi", "right", "unpreconditioned"),
    ("jacobi", "left", "preconditioned"),
])
def test_history_says_which_residual_it_measures(model, M, preconditioning, expected):
    """Left preconditioning records ||M^-1 r_k||: the result and its record say so."""
    A = model.convection_diffusion_2d(10)
    b = np.ones(A.shape[0])
    result = gmres(A, b, M=M, preconditioning=preconditioning)
    assert result.residual_norm_type == expected
    assert result.to_dict()["residual_norm_type"] == expected
    if expected == "preconditioned":
        # the first entry is ||M^-1 b|| (x0 = 0), not ||b||
        inverse_diagonal = 1.0 / A.diagonal()
        assert np.isclose(result.residual_norms[0], np.linalg.norm(inverse_diagonal * b))
