"""Complex systems: Hermitian positive definite for CG, general for GMRES, against spsolve.

A complex solve must keep the user's dtype (complex64 stays complex64), meet the
tolerance on the true residual of the system as given (a real A with a complex b
included), and give the same bits when run again.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.linalg import aslinearoperator

from solvers import Reason, cg, gmres, ic0, jacobi

RNG = np.random.default_rng(7)
N = 20  # grid side: n = 400


def _laplacian_2d(side):
    T = sp.diags([-np.ones(side - 1), 2 * np.ones(side), -np.ones(side - 1)], [-1, 0, 1])
    return sp.csr_array(sp.kron(sp.eye(side), T) + sp.kron(T, sp.eye(side)))


def _hermitian_pd():
    """The Laplacian plus a Hermitian imaginary part, shifted to stay positive definite."""
    L = _laplacian_2d(N)
    S = sp.random_array(L.shape, density=0.01, rng=RNG)
    H = sp.csr_array(L + 0.3j * (S - S.T) + 0.5 * sp.eye(L.shape[0]))
    assert abs(H - H.conj().T).max() == 0
    assert np.linalg.eigvalsh(H.toarray()).min() > 0
    return H


def _general():
    """A complex convection-diffusion-like matrix: non-Hermitian, nonsymmetric."""
    L = _laplacian_2d(N)
    n = L.shape[0]
    return sp.csr_array(L + sp.diags(0.5j * RNG.standard_normal(n))
                        + sp.diags([0.3 * np.ones(n - 1)], [1]))


HPD = _hermitian_pd()
GENERAL = _general()
B = RNG.standard_normal(N * N) + 1j * RNG.standard_normal(N * N)


def _relative_error(A, x, b):
    exact = spla.spsolve(sp.csc_array(A), b)
    return np.linalg.norm(x - exact) / np.linalg.norm(exact)


@pytest.mark.parametrize("M", [None, "jacobi", "ssor", "ilu0", "ic0"])
@pytest.mark.parametrize("form", ["csr", "operator"])
def test_cg_on_hermitian_positive_definite(M, form):
    A = HPD if form == "csr" else aslinearoperator(HPD)
    if form == "operator" and M is not None:
        M = {"jacobi": jacobi, "ic0": ic0}.get(M, lambda A: None)(HPD)
    result = cg(A, B, rtol=1e-10, M=M)
    assert result.converged and result.x.dtype == np.complex128
    assert np.linalg.norm(B - HPD @ result.x) <= 1e-10 * np.linalg.norm(B)
    assert _relative_error(HPD, result.x, B) < 1e-7


@pytest.mark.parametrize("M", [None, "jacobi", "ssor", "ilu0"])
@pytest.mark.parametrize("preconditioning", ["right", "left"])
@pytest.mark.parametrize("form", ["csr", "operator"])
def test_gmres_on_general_complex(M, preconditioning, form):
    A = GENERAL if form == "csr" else aslinearoperator(GENERAL)
    if form == "operator" and M is not None:
        M = jacobi(GENERAL) if M == "jacobi" else None
    result = gmres(A, B, rtol=1e-10, M=M, restart=20, preconditioning=preconditioning)
    assert result.converged and result.x.dtype == np.complex128
    assert result.true_residual_norm == pytest.approx(np.linalg.norm(B - GENERAL @ result.x),
                                                      rel=1e-6)
    assert _relative_error(GENERAL, result.x, B) < 1e-7


def test_the_same_iterations_as_scipy():
    # Same method, same arithmetic up to rounding: the counts agree within a step or two.
    ours = cg(HPD, B, rtol=1e-8)
    steps = []
    spla.cg(HPD, B, rtol=1e-8, callback=lambda x: steps.append(1))
    assert abs(ours.iterations - len(steps)) <= 2
    ours = gmres(GENERAL, B, rtol=1e-8, restart=400)
    theirs = []
    spla.gmres(GENERAL, B, rtol=1e-8, restart=400, callback=theirs.append,
               callback_type="pr_norm")
    assert abs(ours.iterations - len(theirs)) <= 2


@pytest.mark.parametrize("solve", [cg, gmres])
def test_real_matrix_with_complex_rhs_is_solved_as_complex(solve):
    L = _laplacian_2d(N)
    result = solve(L, B, rtol=1e-10)
    assert result.converged and result.x.dtype == np.complex128
    # the user's true residual, imaginary part included
    assert np.linalg.norm(B - L @ result.x) <= 1e-10 * np.linalg.norm(B)
    real = solve(L, B.real, rtol=1e-12).x
    imaginary = solve(L, B.imag, rtol=1e-12).x
    assert np.allclose(result.x, real + 1j * imaginary, atol=1e-8)


def test_complex_x0_makes_the_solve_complex():
    L = _laplacian_2d(N)
    b = np.ones(N * N)
    result = cg(L, b, x0=1j * np.ones(N * N), rtol=1e-10)
    assert result.x.dtype == np.complex128 and result.converged
    assert np.allclose(result.x.imag, 0, atol=1e-8)


@pytest.mark.parametrize(("solve", "A"), [(cg, HPD), (gmres, GENERAL)])
def test_complex64_stays_complex64(solve, A):
    result = solve(A.astype(np.complex64), B.astype(np.complex64), rtol=1e-4)
    assert result.x.dtype == np.complex64 and result.converged
    assert np.linalg.norm(B - A @ result.x) <= 2e-4 * np.linalg.norm(B)


@pytest.mark.parametrize(("solve", "A"), [(cg, HPD), (gmres, GENERAL)])
def test_complex_reruns_are_bit_identical(solve, A):
    first, second = (solve(A, B, rtol=1e-10, M="jacobi") for _ in range(2))
    assert np.array_equal(first.x, second.x)
    assert np.array_equal(first.residual_norms, second.residual_norms)


def test_hermitian_indefinite_is_named():
    H = sp.csr_array(HPD - 4.0 * sp.eye(HPD.shape[0]))  # eigenvalues on both sides of 0
    result = cg(H, B, rtol=1e-10)
    assert result.reason is Reason.DIVERGED_INDEFINITE_MATRIX and result.info == -1


def test_ic0_of_a_hermitian_matrix_factors_it_as_l_l_conjugate_transpose():
    # On a tridiagonal matrix the Cholesky factor has the pattern of the lower triangle,
    # so IC(0) is the exact factorization and applies A^{-1}.
    T = sp.csr_array(sp.diags([np.full(9, 1 - 1j), np.full(10, 4.0), np.full(9, 1 + 1j)],
                              [-1, 0, 1]))
    rhs = np.arange(10.0) + 1j
    assert np.allclose(ic0(T)(rhs), np.linalg.solve(T.toarray(), rhs), rtol=1e-13)


def test_amg_takes_a_complex_rhs_of_a_real_matrix_but_refuses_a_complex_matrix():
    L = _laplacian_2d(N)
    result = cg(L, B, M="amg", rtol=1e-10)
    assert result.converged and result.x.dtype == np.complex128
    with pytest.raises(TypeError, match="amg builds hierarchies of real matrices only"):
        cg(HPD, B, M="amg")


def test_condition_estimate_of_a_complex_solve():
    # A Hermitian matrix unitarily similar to the 1-D Laplacian has its spectrum.
    n = 100
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).toarray()
    D = np.diag(np.exp(1j * np.linspace(0, 3, n)))
    H = sp.csr_array(D @ T @ D.conj().T)
    exact = (np.sin(n * np.pi / (2 * (n + 1))) / np.sin(np.pi / (2 * (n + 1)))) ** 2
    result = cg(H, np.ones(n) + 1j, rtol=1e-12)
    assert result.condition_estimate == pytest.approx(exact, rel=1e-3)


def test_hermitian_indefinite_preconditioner_is_named():
    negative = sp.csr_array(-sp.eye(HPD.shape[0], dtype=complex))  # M^{-1} = -I
    result = cg(HPD, B, M=negative, rtol=1e-10)
    assert result.reason is Reason.DIVERGED_INDEFINITE_PRECONDITIONER and result.info == -1


def test_a_first_compile_of_the_chunked_complex_gmres_prints_nothing(tmp_path):
    # The complex Gram-Schmidt pairs inside parallel functions once printed Numba's
    # NumbaIRAssumptionWarning on every first compile: a user's stderr stays clean.
    script = ("import numpy as np, scipy.sparse as sp, solvers\n"
              "n = 20000\n"
              "A = sp.diags([-1.0, 2.5, -1.2], [-1, 0, 1], shape=(n, n), format='csr')\n"
              "b = np.ones(n) * (1 + 1j)\n"
              "assert solvers.gmres(A.astype(complex), b, restart=30).converged\n")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True,
                               text=True, cwd=tmp_path, timeout=600,
                               env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
