"""Bad input gets a clear error naming the argument, never a crash in a kernel."""

import numpy as np
import pytest
import scipy.sparse as sp

from solvers import PivotError, cg, gmres, ic0, ilu0, jacobi, ssor


@pytest.fixture
def system(model):
    return model.laplacian_1d(5), np.ones(5)


@pytest.mark.parametrize("solve", [cg, gmres])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda A, b: (sp.csr_array(np.ones((3, 4))), np.ones(3)), "square"),
        (lambda A, b: (A, np.ones(4)), "b must have length 5"),
        (lambda A, b: (A, np.ones((5, 2))), "b must have length 5"),
        (lambda A, b: (A, np.array([1, 2, np.nan, 4, 5])), "b has a NaN"),
        (lambda A, b: (sp.csr_array(np.diag([1.0, np.inf, 1, 1, 1])), b), "A has a NaN"),
        (lambda A, b: ("matrix", b), "A must be"),
    ],
)
def test_bad_system(system, solve, change, message):
    A, b = change(*system)
    with pytest.raises((ValueError, TypeError), match=message):
        solve(A, b)


@pytest.mark.parametrize("solve", [cg, gmres])
@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"x0": np.ones(3)}, "x0 must have length 5"),
        ({"x0": np.array([0, 0, np.inf, 0, 0])}, "x0 has a NaN"),
        ({"rtol": -1e-3}, "rtol must be a number >= 0 \\(inf allowed\\); got -0.001"),
        ({"atol": -1.0}, "atol must be"),
        ({"rtol": 0.0, "atol": 0.0}, "both 0"),
        ({"maxiter": 0}, "maxiter must be an integer not less than 1; got 0"),
        ({"maxiter": 2.5}, "maxiter must be an integer"),
        ({"M": "multigrid"}, "unknown preconditioner 'multigrid'; allowed: 'none', 'jacobi'"),
        ({"M": sp.identity(4, format="csr")}, "M must be 5 x 5"),
        ({"M": jacobi(sp.identity(3, format="csr"))}, "M was built for n = 3"),
        ({"callback": 3}, "callback must be callable"),
        ({"dtol": 0.5}, "dtol must be None or a number > 1"),
    ],
)
def test_bad_options(system, solve, keywords, message):
    with pytest.raises((ValueError, TypeError), match=message):
        solve(*system, **keywords)


def test_bad_gmres_options(system):
    with pytest.raises(ValueError, match="restart must be an integer not less than 1; got 0"):
        gmres(*system, restart=0)
    with pytest.raises(ValueError, match="preconditioning must be 'right' or 'left'"):
        gmres(*system, preconditioning="both")
    with pytest.raises(ValueError, match="callback_type"):
        gmres(*system, callback_type="residual")


def test_pivot_errors_name_the_row():
    zero_diagonal = sp.csr_array(np.array([[1.0, 2.0], [3.0, 0.0]]))
    with pytest.raises(PivotError, match="diagonal entry 1 of A is zero"):
        jacobi(zero_diagonal)
    with pytest.raises(PivotError, match="ssor"):
        ssor(zero_diagonal)
    with pytest.raises(PivotError, match="zero pivot in row 1"):
        ilu0(sp.csr_array(np.array([[1.0, 1.0], [1.0, 1.0]])))
    with pytest.raises(PivotError, match="non-positive pivot in row 1"):
        ic0(sp.csr_array(np.array([[1.0, 2.0], [2.0, 1.0]])))
    with pytest.raises(PivotError, match="row 0 has no stored diagonal"):
        ilu0(sp.csr_array(np.array([[0.0, 1.0], [1.0, 1.0]])))
    assert issubclass(PivotError, ValueError)


def test_named_preconditioner_needs_matrix_entries(system):
    from scipy.sparse.linalg import aslinearoperator

    A, b = system
    with pytest.raises(TypeError, match="needs the entries of A"):
        cg(aslinearoperator(A), b, M="jacobi")
    with pytest.raises(ValueError, match="omega must lie in"):
        ssor(A, omega=2.0)
