"""The behaviours SciPy's iterative solvers promise hold for ours too.

The systems below span what ``scipy.sparse.linalg.cg`` and ``gmres`` are used on: SPD,
indefinite, nonsymmetric, Hermitian and general complex, in single and double precision.
The intentional differences (docs/scipy.md) are tested as such: GMRES's ``maxiter``
counts inner iterations, preconditioning is on the right by default.
"""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from solvers import Reason, cg, gmres

RNG = np.random.default_rng(20261202)


def _laplacian(n):
    return sp.csr_array(sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)],
                                 [-1, 0, 1]))


def _random(n, complex_=False):
    values = RNG.random((n, n))
    return values + 1j * RNG.random((n, n)) if complex_ else values


def _systems():
    """(name, A, methods that must solve it)."""
    poisson = _laplacian(40)
    poisson2 = sp.csr_array(sp.kronsum(_laplacian(12), _laplacian(12)))
    spd = (lambda a: a @ a.T + 0.1 * np.eye(9))(_random(9))
    complex_ = _random(9, True)
    hpd = complex_ @ complex_.conj().T + 0.1 * np.eye(9)
    hermitian = _random(6, True) + _random(6, True).conj().T
    both, general = (cg, gmres), (gmres,)
    systems = [
        ("poisson1d", poisson, both),
        ("poisson2d", poisson2, both),
        ("neg-poisson1d", -poisson, general),
        ("indefinite-diagonal", np.diag([6.0, -5, 2, 7, -1, 10, 4, -3, -8, 9]), general),
        ("random", _random(5) + 2 * np.eye(5), general),
        ("random-symmetric", (lambda a: a + a.T)(_random(5)), general),
        ("spd", spd, both),
        ("complex", complex_ + 2 * np.eye(9), general),
        ("hermitian", hermitian, general),
        ("hpd", hpd, both),
        ("nonsymmetric-pd", sp.csr_array(sp.diags([2 * np.ones(10), -np.ones(9)], [0, -1])),
         general),
    ]
    cases = []
    for name, A, methods in systems:
        for single in (False, True):
            dtype = (np.complex64 if single else np.complex128) if np.iscomplexobj(A) else \
                (np.float32 if single else np.float64)
            for method in methods:
                cases.append(pytest.param(A.astype(dtype), method,
                                          id=f"{name}-{np.dtype(dtype).name}-{method.__name__}"))
    return cases


CASES = _systems()


def _rtol(A):
    return 1e-8 if A.dtype in (np.float64, np.complex128) else 1e-2


def _rhs(A):
    return np.arange(A.shape[0], dtype=A.dtype) + 1


def _assert_solved(A, x, b, rtol, atol=0.0):
    residual = np.linalg.norm(b - A @ x)
    assert residual <= atol + rtol * np.linalg.norm(b)


@pytest.mark.parametrize(("A", "solve"), CASES)
def test_solves_and_leaves_x0_alone(A, solve):
    b = _rhs(A)
    x0 = 0 * b
    x, info = solve(A, b, x0=x0, rtol=_rtol(A))
    assert np.all(x0 == 0)
    assert info == 0
    assert x.dtype == A.dtype  # single and complex precision are kept
    _assert_solved(A, x, b, _rtol(A))


@pytest.mark.parametrize(("A", "solve"), CASES)
def test_one_iteration_one_callback(A, solve):
    b = _rhs(A)
    calls = []
    _x, info = solve(A, b, x0=0 * b, rtol=1e-12, maxiter=1, callback=calls.append)
    assert len(calls) == 1
    assert info == 1


@pytest.mark.parametrize(("A", "solve"), CASES)
def test_identity_preconditioner_and_operator_forms(A, solve):
    b = _rhs(A)
    rtol = 1e-8 if A.dtype in (np.float64, np.complex128) else 1.4e-3
    identity = LinearOperator(A.shape, matvec=lambda v: v, dtype=A.dtype)
    x, info = solve(A, b, M=identity, rtol=rtol)
    assert info == 0
    _assert_solved(A, x, b, rtol)
    x, info = solve(aslinearoperator(A), b, rtol=rtol)
    assert info == 0
    _assert_solved(A, x, b, rtol)


@pytest.mark.parametrize(("A", "solve"), CASES)
def test_x0_mb(A, solve):
    b = _rhs(A)
    rtol = 1e-8 if A.dtype in (np.float64, np.complex128) else 1.5e-3
    x0 = "Mb"
    x, info = solve(A, b, x0=x0, rtol=rtol)
    assert x0 == "Mb" and info == 0
    _assert_solved(A, x, b, rtol)


def test_x0_mb_starts_from_the_preconditioned_rhs():
    A = _laplacian(30)
    b = np.ones(30)
    history = cg(A, b, x0="Mb", M="jacobi", maxiter=1).residual_norms
    assert history[0] == pytest.approx(np.linalg.norm(b - A @ (b / 2)))


@pytest.mark.parametrize("solve", [cg, gmres])
def test_exact_inverse_preconditioner_needs_scipys_products_at_most(solve):
    # SciPy's count here is at most 3; ours may add only the one true-residual check
    # that its convergence guarantee needs, and with x0 = 0 it needs none for r_0.
    A = _laplacian(40).toarray()
    products = []

    def matvec(v):
        products.append(1)
        return A @ v

    operator = LinearOperator(A.shape, matvec=matvec, dtype=float)
    inverse = LinearOperator(A.shape, matvec=lambda v: np.linalg.solve(A, v), dtype=float)
    b = np.arange(40.0)
    result = solve(operator, b, M=inverse, rtol=1e-8)
    assert result.info == 0
    assert len(products) <= 3
    assert result.matvecs == len(products)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_products_counted_against_scipy(solve, model):
    # SciPy's cg makes one product per iteration plus one for r_0 (none when x0 = 0 in
    # recent versions); ours adds at most one: the true residual that confirms convergence.
    A = model.laplacian_1d(60)
    b = np.ones(60)
    products = []
    operator = LinearOperator(A.shape, matvec=lambda v: (products.append(1), A @ v)[1],
                              dtype=float)
    result = solve(operator, b, rtol=1e-10)
    assert result.converged
    assert result.matvecs == len(products)
    cycles = max(1, len(result.restarts))
    assert len(products) <= result.iterations + cycles  # GMRES: one r per cycle


@pytest.mark.parametrize("solve", [cg, gmres])
def test_tolerances_with_badly_scaled_preconditioners(solve):
    A = RNG.uniform(size=(10, 10))
    A = A @ A.T + 10 * np.eye(10)
    b = 1e3 * RNG.uniform(size=10)
    M0 = RNG.standard_normal((10, 10))
    M0 = M0 @ M0.T + 1e-3 * np.eye(10)
    tolerances = np.r_[0, np.logspace(-9, 2, 7), np.inf]
    for M, rtol, atol in itertools.product([None, 1e-6 * M0, 1e6 * M0], tolerances,
                                           tolerances):
        if rtol == 0 and atol == 0:
            continue
        x, info = solve(A, b, M=M, rtol=rtol, atol=atol, maxiter=1000)
        assert info == 0, (rtol, atol)
        _assert_solved(A, x, b, rtol, atol)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_infinite_tolerance_returns_at_once(solve):
    A = _laplacian(10)
    result = solve(A, np.ones(10), rtol=np.inf)
    assert result.info == 0 and result.iterations == 0 and result.matvecs == 0


@pytest.mark.parametrize("solve", [cg, gmres])
def test_zero_rhs(solve):
    A = RNG.random((10, 10))
    A = A @ A.T + 10 * np.eye(10)
    b = np.zeros(10)
    for rtol in np.logspace(-10, 2, 7):
        for keywords in ({}, {"x0": np.ones(10)}, {"atol": rtol}, {"atol": 0.0}):
            x, info = solve(A, b, rtol=rtol, **keywords)
            assert info == 0
            assert np.all(x == 0)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_x0_that_solves_the_problem(solve):
    rhs = np.array([-1.0, -1.0])
    x, info = solve(np.eye(2), rhs, x0=rhs)
    assert info == 0 and np.array_equal(x, rhs)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_x0_working(solve):
    A = RNG.random((10, 10))
    A = A @ A.T
    b, x0 = RNG.random(10), RNG.random(10)
    for start in (None, x0):
        x, info = solve(A, b, x0=start, rtol=1e-6, atol=0.0, maxiter=10_000)
        assert info == 0
        _assert_solved(A, x, b, 1e-6)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_arguments_after_x0_are_keywords(solve):
    with pytest.raises(TypeError):
        solve(np.eye(3), np.ones(3), None, 1e-5)


@pytest.mark.parametrize("solve", [cg, gmres])
@pytest.mark.parametrize("atol", ["legacy", None, -1, np.nan])
def test_invalid_atol(solve, atol):
    with pytest.raises(ValueError, match="atol must be a number >= 0"):
        solve(np.eye(3), np.ones(3), atol=atol)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_maxiter_zero_is_refused(solve):
    with pytest.raises(ValueError, match="maxiter must be an integer not less than 1"):
        solve(np.eye(3), np.ones(3), maxiter=0)


@pytest.mark.parametrize("solve", [cg, gmres])
def test_operators_of_more_than_two_dimensions_are_refused(solve):
    operator = LinearOperator((2, 2), matvec=lambda v: v)
    operator.shape = (2, 2, 2)
    with pytest.raises(ValueError, match="expected 2-D"):
        solve(operator, np.ones(2))


def test_result_is_scipys_pair():
    result = cg(_laplacian(10), np.ones(10))
    assert len(result) == 2
    assert result[0] is result.x and result[1] == result.info == 0
    assert result[-1] == 0 and result[:1] == (result.x,)
    x, _info = result
    assert x is result.x
    assert isinstance(result.iterations, int)  # the attributes stay


@pytest.mark.parametrize("solve", [cg, gmres])
def test_psolve_of_an_operator_preconditions_when_m_is_none(solve):
    A = sp.csr_array(sp.diags(np.linspace(1, 1000, 200)))
    applied = []

    class Operator(LinearOperator):
        def __init__(self):
            super().__init__(float, A.shape)

        def _matvec(self, v):
            return A @ v

        def psolve(self, r):
            applied.append(1)
            return r / A.diagonal()

    result = solve(Operator(), np.ones(200), rtol=1e-10)
    assert result.converged and result.iterations == 1 and applied
    assert cg(A, np.ones(200), rtol=1e-10).iterations > 1  # without it, many more


class TestGmres:
    def test_vandermonde_with_maxiter_counting_inner_steps(self):
        # SciPy's maxiter=1 with restart=5 is one cycle of five steps: maxiter=5 here.
        A = np.vander(np.arange(10) + 1)[:, ::-1]
        b = np.zeros(10)
        b[0] = 1
        x, _ = gmres(A, b, restart=5, maxiter=5)
        assert x[0] == pytest.approx(0.359, rel=1e-2)

    def test_legacy_callback_gets_the_relative_residual(self):
        A = sp.csr_array(sp.diags([np.ones(5), -2 * np.ones(6), np.ones(5)], [-1, 0, 1]))
        b = np.ones(6)
        seen = []
        gmres(A, b, x0=np.zeros(6), rtol=1e-16, maxiter=1, callback=seen.append)
        assert seen == [pytest.approx(0.816496580927726, rel=1e-10)]
        assert isinstance(seen[0], np.floating) and seen[0].ndim == 0
        # With left preconditioning the history, and so the callback, is ||M^-1 r|| / ||b||
        seen.clear()
        gmres(A, b, M=1e-3 * np.eye(6), rtol=1e-16, maxiter=1, callback=seen.append,
              preconditioning="left")
        assert seen == [pytest.approx(1e-3 * 0.816496580927726, rel=1e-10)]

    def test_callback_types(self):
        A = RNG.random((20, 20))
        b = RNG.random(20)
        for kind in (None, "legacy", "pr_norm"):
            seen = []
            _x, info = gmres(A, b, rtol=1e-6, atol=0.0, callback=seen.append, maxiter=2,
                            restart=50, callback_type=kind)
            assert info == 2 and len(seen) == 2
            assert all(isinstance(value, float) for value in seen)
        seen = []
        _x, info = gmres(A, b, rtol=1e-6, atol=0.0, callback=seen.append, maxiter=100,
                        restart=50, callback_type="x")
        assert info == 0 and len(seen) == 1 and isinstance(seen[0], np.ndarray)

    def test_x_callback_once_per_cycle_with_falling_residuals(self):
        A = RNG.random((20, 20)) + np.eye(20)
        b = RNG.random(20)
        norms = []
        _x, info = gmres(A, b, rtol=1e-12, atol=0.0, maxiter=200, restart=10,
                        callback=lambda x: norms.append(np.linalg.norm(A @ x - b)),
                        callback_type="x")
        assert info == 200 or info == 0
        assert len(norms) == (len(gmres(A, b, rtol=1e-12, maxiter=200, restart=10).restarts))
        assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(norms))

    def test_complex_matches_real_on_a_real_system(self):
        x_real, info_real = gmres(np.eye(2), np.ones(2))
        x, info = gmres(np.eye(2).astype(complex), np.ones(2).astype(complex))
        assert np.iscomplexobj(x) and np.allclose(x, x_real) and info == info_real

    def test_tolerance_is_relative_to_b(self):
        A = RNG.random((30, 30))
        b = 1e-6 * np.ones(30)
        x, info = gmres(A, b, rtol=1e-7, restart=20)
        assert np.linalg.norm(A @ x - b) > 1e-7 or info == 0
        x, info = gmres(np.eye(2), 1e-10 * np.ones(2), rtol=1e-8, atol=0.0)
        assert np.linalg.norm(x - 1e-10) <= 1e-8 * np.linalg.norm(1e-10 * np.ones(2))

    @pytest.mark.parametrize("preconditioning", ["right", "left"])
    def test_singular_preconditioner_ends_without_nan_or_false_success(self, preconditioning):
        M = np.eye(3)
        M[2, 2] = 0
        A = np.diag([2.0, 3.0, 4.0])
        b = np.array([0.0, 1.0, 1.0])
        for form in (M, aslinearoperator(M)):
            result = gmres(A, b, x0=np.array([1.0, 0, 0]), M=form, rtol=1e-15, atol=0.0,
                           preconditioning=preconditioning)
            assert not np.isnan(result.x).any()
            assert not result.converged
            assert result.reason in (Reason.DIVERGED_BREAKDOWN, Reason.DIVERGED_STAGNATION)
            assert np.allclose(M @ (A @ result.x), M @ b)

    def test_singular_matrix_ends_without_nan_or_false_success(self):
        A = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 0]])
        b = np.array([1.0, 0, 1])
        result = gmres(A, b, rtol=1e-8, atol=0)
        assert not np.isnan(result.x).any() and not result.converged
        assert np.allclose(A @ (A @ result.x), A @ b)


@pytest.mark.parametrize(("solve", "keywords"), [
    (cg, {}), (gmres, {"preconditioning": "right"}), (gmres, {"preconditioning": "left"})])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_a_users_preconditioner_sees_the_solves_precision(solve, keywords, dtype):
    A = _laplacian(50).astype(dtype)
    seen = set()

    def apply(r):
        seen.add(r.dtype)
        return r / 2
    M = LinearOperator(A.shape, matvec=apply, dtype=dtype)
    result = solve(A, np.ones(50, dtype=dtype), M=M, rtol=1e-4, restart=10, **keywords) \
        if solve is gmres else solve(A, np.ones(50, dtype=dtype), M=M, rtol=1e-4)
    assert seen == {np.dtype(dtype)}
    assert result.x.dtype == dtype
