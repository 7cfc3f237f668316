"""Property tests: on random systems a result never claims more than is true."""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

from solvers import Reason, cg, gmres

sizes = st.integers(min_value=2, max_value=60)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
tolerances = st.sampled_from([1e-4, 1e-8, 1e-11])


def _random_sparse(n, seed, density=0.2):
    rng = np.random.default_rng(seed)
    return sp.random_array((n, n), density=density, rng=rng, format="csr"), rng


@settings(max_examples=40, deadline=None)
@given(n=sizes, seed=seeds, rtol=tolerances, M=st.sampled_from([None, "jacobi", "ic0", "ssor"]))
def test_cg_on_random_spd(n, seed, rtol, M):
    B, rng = _random_sparse(n, seed)
    A = sp.csr_array(B @ B.T + sp.identity(n))  # SPD, cond modest
    b = rng.standard_normal(n)
    result = cg(A, b, rtol=rtol, M=M, maxiter=20 * n)
    assert result.true_residual_norm == np.linalg.norm(b - A @ result.x) or np.isclose(
        result.true_residual_norm, np.linalg.norm(b - A @ result.x), rtol=1e-10)
    if result.converged:
        assert result.true_residual_norm <= max(rtol * np.linalg.norm(b), 0.0)
        reference = sla.spsolve(A.tocsc(), b)
        condition = np.linalg.cond(A.toarray())
        error = np.linalg.norm(result.x - reference) / np.linalg.norm(reference)
        assert error <= 10 * condition * rtol
    else:
        assert result.reason is not Reason.CONVERGED_RTOL


@settings(max_examples=40, deadline=None)
@given(n=sizes, seed=seeds, rtol=tolerances, restart=st.integers(1, 20),
       M=st.sampled_from([None, "jacobi", "ilu0"]),
       preconditioning=st.sampled_from(["right", "left"]))
def test_gmres_on_random_nonsymmetric(n, seed, rtol, restart, M, preconditioning):
    B, rng = _random_sparse(n, seed)
    A = sp.csr_array(B + sp.diags(np.abs(B).sum(axis=1) + 1.0))  # diagonally dominant
    b = rng.standard_normal(n)
    result = gmres(A, b, rtol=rtol, restart=restart, M=M, preconditioning=preconditioning,
                   maxiter=50 * n)
    if result.converged:
        assert result.true_residual_norm <= rtol * np.linalg.norm(b)
    # Diagonally dominant systems converge for every restart length.
    assert result.converged, result
    assert np.all(np.isfinite(result.residual_norms))
    assert result.residual_norms.size == result.iterations + 1


def _complex_sparse(n, seed):
    B, rng = _random_sparse(n, seed)
    imaginary = sp.random_array((n, n), density=0.2, rng=rng, format="csr")
    return sp.csr_array(B + 1j * imaginary), rng


@settings(max_examples=30, deadline=None)
@given(n=sizes, seed=seeds, rtol=tolerances, M=st.sampled_from([None, "jacobi", "ic0", "ssor"]))
def test_cg_on_random_hermitian_positive_definite(n, seed, rtol, M):
    B, rng = _complex_sparse(n, seed)
    A = sp.csr_array(B @ B.conj().T + sp.identity(n))  # HPD, cond modest
    b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    result = cg(A, b, rtol=rtol, M=M, maxiter=20 * n)
    assert result.x.dtype == np.complex128
    assert np.isclose(result.true_residual_norm, np.linalg.norm(b - A @ result.x), rtol=1e-10)
    # Well conditioned and Hermitian positive definite: CG must get there.
    assert result.converged, result
    assert result.true_residual_norm <= rtol * np.linalg.norm(b)
    reference = sla.spsolve(A.tocsc(), b)
    error = np.linalg.norm(result.x - reference) / np.linalg.norm(reference)
    assert error <= 10 * np.linalg.cond(A.toarray()) * rtol


@settings(max_examples=30, deadline=None)
@given(n=sizes, seed=seeds, rtol=tolerances, restart=st.integers(1, 20),
       M=st.sampled_from([None, "jacobi", "ilu0"]),
       preconditioning=st.sampled_from(["right", "left"]))
def test_gmres_on_random_complex(n, seed, rtol, restart, M, preconditioning):
    B, rng = _complex_sparse(n, seed)
    A = sp.csr_array(B + sp.diags(np.abs(B).sum(axis=1) + 1.0))  # diagonally dominant
    b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    result = gmres(A, b, rtol=rtol, restart=restart, M=M, preconditioning=preconditioning,
                   maxiter=50 * n)
    assert result.converged, result
    assert result.true_residual_norm <= rtol * np.linalg.norm(b)
    assert np.isclose(result.true_residual_norm, np.linalg.norm(b - A @ result.x), rtol=1e-10)
