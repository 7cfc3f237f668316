"""Preconditioners against their definitions and against dense factorizations."""

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from solvers import cg, gmres, ic0, ilu0, jacobi, preconditioner, ssor


def _inverse_as_matrix(preconditioner, n):
    return np.column_stack([preconditioner(column) for column in np.eye(n)])


def test_ilu0_and_ic0_are_exact_without_fill(model):
    # A tridiagonal matrix has no fill-in: ILU(0) = LU and IC(0) = Cholesky.
    A = model.laplacian_1d(12) + sp.diags(np.linspace(0, 1, 12))
    dense = A.toarray()
    assert np.allclose(_inverse_as_matrix(ilu0(A), 12), np.linalg.inv(dense), rtol=1e-12)
    factor = ic0(A)
    assert np.allclose(1.0 / factor.diag, np.diag(la.cholesky(dense, lower=True)), rtol=1e-13)
    assert cg(A, np.ones(12), M=factor, rtol=1e-12).iterations == 1


def test_ic0_keeps_the_pattern_and_matches_its_defining_identity(model):
    # IC(0): (L L^T)_ij = A_ij on the pattern of A.
    A = model.laplacian_2d(6)
    factor = ic0(A)
    strictly_lower = sp.csr_array((factor.data, factor.indices.astype(np.int64),
                                   factor.indptr), shape=A.shape).toarray()
    assert np.array_equal(strictly_lower != 0, np.tril(A.toarray() != 0, -1))
    L = strictly_lower + np.diag(1.0 / factor.diag)
    product = L @ L.T
    pattern = A.toarray() != 0
    assert np.allclose(product[pattern], A.toarray()[pattern], rtol=1e-13)


def test_ilu0_matches_its_defining_identity(model):
    A = model.convection_diffusion_2d(6)
    factor = ilu0(A)
    LU = sp.csr_array((factor.data, factor.indices.astype(np.int64), factor.indptr),
                      shape=A.shape).toarray()
    L = np.tril(LU, -1) + np.eye(A.shape[0])
    U = np.triu(LU)
    pattern = A.toarray() != 0
    assert np.allclose((L @ U)[pattern], A.toarray()[pattern], rtol=1e-12)


@pytest.mark.parametrize("omega", [0.5, 1.0, 1.5])
def test_ssor_is_symmetric_positive_definite_and_matches_its_formula(model, omega):
    A = model.laplacian_2d(5)
    dense = A.toarray()
    D = np.diag(np.diag(dense))
    L = np.tril(dense, -1)
    M = (D + omega * L) @ np.linalg.inv(D) @ (D + omega * L.T) / (omega * (2 - omega))
    inverse = _inverse_as_matrix(ssor(A, omega), 25)
    assert np.allclose(inverse, np.linalg.inv(M), rtol=1e-12)
    assert np.allclose(inverse, inverse.T, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(inverse) > 0)


def test_jacobi_equals_scaling(model):
    A = model.laplacian_2d(10) * 3.0
    plain = cg(A, np.ones(100), rtol=1e-10)
    scaled = cg(A, np.ones(100), rtol=1e-10, M="jacobi")
    assert plain.iterations == scaled.iterations  # a constant diagonal changes nothing
    assert np.allclose(jacobi(A)(np.ones(100)), np.full(100, 1 / 12))


def test_preconditioners_reduce_iterations_and_are_reusable(model):
    A = model.laplacian_2d(30)
    b = np.ones(900)
    plain = cg(A, b, rtol=1e-8).iterations
    factor = ic0(A)
    first = cg(A, b, rtol=1e-8, M=factor)
    second = cg(A, 2 * b, rtol=1e-8, M=factor)
    # IC(0) keeps the O(h^-1) growth of CG iterations but lowers the constant (~2x here)
    assert first.iterations < 0.6 * plain and second.iterations == first.iterations
    assert first.preconditioner == "ic0" and first.precond_applies >= first.iterations


def test_our_preconditioner_in_scipy_and_a_scipy_operator_in_ours(model):
    A = model.convection_diffusion_2d(15)
    b = np.ones(A.shape[0])
    x, info = sla.gmres(A, b, M=ilu0(A).aslinearoperator(), rtol=1e-10)
    assert info == 0
    superlu = sla.spilu(A.tocsc(), drop_tol=1e-4)
    result = gmres(A, b, M=sla.LinearOperator(A.shape, superlu.solve), rtol=1e-10)
    assert result.converged and result.preconditioner == "operator"
    assert np.allclose(result.x, x, rtol=1e-6)


def test_pyamg_hierarchy_as_preconditioner(model):
    pyamg = pytest.importorskip("pyamg", reason="PyAMG is a test reference (the test extra)")
    A = sp.csr_matrix(model.laplacian_2d(40))
    hierarchy = pyamg.ruge_stuben_solver(A)
    result = cg(A, np.ones(1600), M=hierarchy.aspreconditioner(), rtol=1e-10)
    assert result.converged and result.iterations < 20


def test_named_amg_and_a_prebuilt_preconditioner(model):
    A = model.laplacian_2d(40)
    b = np.ones(1600)
    by_name = cg(A, b, M="amg", rtol=1e-10)
    prebuilt = preconditioner("amg", A)
    assert by_name.converged and by_name.iterations < 20
    assert cg(A, b, M=prebuilt, rtol=1e-10).iterations == by_name.iterations
    assert preconditioner("ic0", A).name == "ic0" and preconditioner(None, A).name == "none"
