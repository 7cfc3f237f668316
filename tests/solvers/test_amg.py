"""Smoothed-aggregation multigrid: the cycle as an operator, CG and GMRES with it, and
iteration counts against PyAMG's smoothed aggregation on the same matrices."""

import json
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator, eigsh

import fem
from fem.problems import assemble_system
from solvers import Hierarchy, PivotError, Reason, amg, cg, gmres, preconditioner, read_matrix
from solvers._csr import row_chunks
from solvers.multigrid import cycle, galerkin, smoothers
from solvers.multigrid.galerkin import galerkin_product
from solvers.multigrid.prolongation import spectral_radius, tentative_prolongator

MATRICES = Path(__file__).resolve().parents[1] / "data" / "matrices"
# The symmetric positive definite matrices of tests/data/matrices (SOURCES.md, section 1).
SPD_MATRICES = ("bcsstk01.rsa", "bcsstk03.mtx", "LUNDA.mtx", "lund_b.mtx", "plat362.mtx",
                "nos5.mtx", "494_bus.mtx", "662_bus.mtx", "gr_30_30.mtx", "1138_bus.mtx",
                "bcsstk13.mtx", "Chem97ZtZ.mtx")


def poisson(cells: int, degree: int = 1, kappa=1.0):
    """The Dirichlet Poisson system of fem on the unit square (free DOFs only)."""
    space = fem.function_space(fem.unit_square(cells), degree)
    system = assemble_system(space, kappa=kappa, f=1.0, dirichlet={"boundary": 0.0})
    return system.reduced_matrix, system.reduced_rhs


def jump(x, y):
    """A coefficient jumping by 1e6 across the lines x = 1/2 and y = 1/2."""
    return np.where((x > 0.5) & (y > 0.5), 1e6, 1.0)


def pyamg_iterations(A, b, rtol=1e-8):
    """CG iterations of PyAMG's smoothed aggregation with its defaults (its spectral radius
    estimate starts from a random vector: seeded)."""
    pyamg = pytest.importorskip("pyamg", reason="PyAMG is the reference (test extra)")
    np.random.seed(0)  # noqa: NPY002 (PyAMG draws from NumPy's global generator)
    hierarchy = pyamg.smoothed_aggregation_solver(sp.csr_matrix(A))
    residuals = []
    hierarchy.solve(b, tol=rtol, accel="cg", residuals=residuals, maxiter=5000)
    assert residuals[-1] <= rtol * np.linalg.norm(b) * 1.01
    return len(residuals) - 1


def dense_cycle(hierarchy: Hierarchy) -> np.ndarray:
    return np.column_stack([hierarchy(column) for column in np.eye(hierarchy.n)])


SMOOTHERS = ("gauss_seidel", "chebyshev", "l1_jacobi")


@pytest.mark.parametrize("smoother", SMOOTHERS)
@pytest.mark.parametrize("system", ["laplacian", "p2", "jump"])
def test_the_cycle_is_a_symmetric_positive_definite_operator(system, smoother, model):
    A = {"laplacian": lambda: model.laplacian_2d(14),
         "p2": lambda: poisson(10, 2)[0],
         "jump": lambda: poisson(12, 1, jump)[0]}[system]()
    hierarchy = amg(A, max_coarse=4, smoother=smoother)
    assert hierarchy.levels >= 3
    assert_symmetric_positive_contraction(hierarchy, A)


@pytest.mark.parametrize("system", ["laplacian", "p2", "jump"])
def test_the_cycle_with_gauss_seidel_blocks_is_a_symmetric_positive_definite_operator(
        system, model, monkeypatch):
    # several blocks of 196, 361 and 121 rows; P2 has positive off-diagonal entries (not an
    # M-matrix), where the l1 weights are what keeps hybrid Gauss-Seidel convergent
    monkeypatch.setattr(smoothers, "BLOCK_ROWS", 24)
    A = {"laplacian": lambda: model.laplacian_2d(14),
         "p2": lambda: poisson(10, 2)[0],
         "jump": lambda: poisson(12, 1, jump)[0]}[system]()
    hierarchy = amg(A, max_coarse=4)
    assert fine_blocks(hierarchy) >= 4
    assert_symmetric_positive_contraction(hierarchy, A)


def fine_blocks(hierarchy: Hierarchy) -> int:
    """The Gauss-Seidel blocks of the finest level."""
    return int(hierarchy.layout[cycle.HEADER + cycle.BLOCK_COUNT])


def assert_symmetric_positive_contraction(hierarchy: Hierarchy, A) -> None:
    V = dense_cycle(hierarchy)
    assert np.abs(V - V.T).max() <= 1e-12 * np.abs(V).max()
    eigenvalues = np.linalg.eigvalsh(0.5 * (V + V.T))
    assert eigenvalues[0] > 1e-8 * eigenvalues[-1]
    # a good preconditioner: the spectrum of V A lies in (0, 1] (the cycle is a contraction)
    spectrum = np.linalg.eigvals(V @ A.toarray()).real
    assert spectrum.min() > 0.0 and spectrum.max() <= 1.0 + 1e-10


def test_one_level_is_the_direct_solve(model):
    A = model.laplacian_2d(10)
    hierarchy = amg(A)
    assert hierarchy.levels == 1
    b = np.arange(100.0)
    assert np.allclose(A @ hierarchy(b), b, rtol=0, atol=1e-10 * np.linalg.norm(b))


def test_galerkin_operators_and_the_interpolated_near_null_space(rng):
    aggregates = np.array([0, 0, 1, 2, 1, 2, 2, -1])  # unknown 7 belongs to none
    B = rng.standard_normal((8, 2))
    B[4] = B[2] + 1.0  # aggregate 1 has two unknowns: rank 2
    indptr, indices, data, coarse_B = tentative_prolongator(aggregates, 3, B)
    T = sp.csr_array((data, indices, indptr), shape=(8, 6)).toarray()
    assert np.allclose(T.T @ T, np.eye(6))
    assert np.allclose(T @ coarse_B, np.where(aggregates[:, None] >= 0, B, 0.0))
    A = sp.random_array((8, 8), density=0.4, format="csr", rng=3) + sp.eye_array(8)
    P = sp.csr_array(T)
    product = galerkin_product((A.indptr, A.indices.astype(np.int32), A.data),
                               (P.indptr, P.indices.astype(np.int32), P.data), 6)
    coarse = sp.csr_array((product[2], product[1], product[0]), shape=(6, 6))
    assert np.allclose(coarse.toarray(), T.T @ A.toarray() @ T)


def on_one_thread_and_all(function) -> list:
    """``[function()`` on one thread, ``function()`` on all of Numba's threads``]``."""
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            results.append(function())
    finally:
        numba.set_num_threads(before)
    return results


def test_the_spectral_radius_estimate_has_the_same_bits_on_any_number_of_threads(model):
    # 40000 rows: nine row chunks, whose sums two threads could split (and here would
    # round differently from one)
    A = sp.csr_array(model.laplacian_2d(200))
    triple = (A.indptr.astype(np.int64), A.indices.astype(np.int32), A.data)
    assert row_chunks(triple[0]).size - 1 == 9
    inverse_diagonal = 1.0 / A.diagonal()
    estimates = on_one_thread_and_all(lambda: spectral_radius(*triple, inverse_diagonal, 10))
    assert estimates[0] == estimates[1]
    # a power-iteration estimate from below, close to the radius from the eigenvalues
    # of the symmetric D^-1/2 A D^-1/2 (the same spectrum as D^-1 A)
    scaled = sp.diags_array(np.sqrt(inverse_diagonal)) @ A @ sp.diags_array(
        np.sqrt(inverse_diagonal))
    exact = float(eigsh(scaled, k=1, which="LA", return_eigenvectors=False)[0])
    assert 0.9 * exact < estimates[0] <= exact * (1 + 1e-12)
    assert estimates[0] < spectral_radius(*triple, inverse_diagonal, 200) <= exact * (1 + 1e-12)


def test_the_galerkin_product_in_pieces_has_the_bits_of_one_piece(monkeypatch):
    A, _ = poisson(256)  # 65025 rows, 4.5e5 entries: the products split into pieces
    P = sp.random_array((A.shape[0], 2000), density=0.002, format="csr", rng=5)
    triples = [(M.indptr.astype(np.int64), M.indices.astype(np.int32), M.data)
               for M in (sp.csr_array(A), P)]
    assert galerkin._pieces(triples[0][0]).size - 1 > 1
    pieces = on_one_thread_and_all(lambda: galerkin_product(*triples, 2000))
    monkeypatch.setattr(galerkin, "_PIECES", 1)
    whole = galerkin_product(*triples, 2000)
    for piecewise in pieces:
        for got, expected in zip(piecewise, whole, strict=True):
            assert np.array_equal(got, expected)
    coarse = sp.csr_array((whole[2], whole[1], whole[0]), shape=(2000, 2000))
    assert np.allclose(coarse.toarray(), (P.T @ A @ P).toarray(), rtol=1e-12, atol=1e-12)


def test_cg_with_amg_meets_the_tolerance_on_the_true_residual():
    A, b = poisson(96)
    result = cg(A, b, M="amg", rtol=1e-10)
    assert result.converged and result.reason is Reason.CONVERGED_RTOL
    assert result.preconditioner == "amg"
    assert np.linalg.norm(b - A @ result.x) <= 1e-10 * np.linalg.norm(b)
    assert result.iterations < 20


@pytest.mark.parametrize(("cells", "degree", "kappa"),
                         [(128, 1, 1.0), (64, 2, 1.0), (128, 1, jump)], ids=["P1", "P2", "jump"])
def test_iterations_within_a_fifth_of_pyamg_on_poisson(cells, degree, kappa):
    A, b = poisson(cells, degree, kappa)
    ours = cg(A, b, M="amg", rtol=1e-8)
    assert ours.converged
    assert ours.iterations <= 1.2 * pyamg_iterations(A, b)


@pytest.mark.parametrize("name", SPD_MATRICES)
def test_iterations_within_a_fifth_of_pyamg_on_real_matrices(name):
    A = sp.csr_array(read_matrix(MATRICES / name), dtype=np.float64)
    b = A @ np.ones(A.shape[0])
    # PyAMG's default of at most 10 unknowns on the coarsest level: a multigrid solve
    # of these small matrices, not a direct one
    ours = cg(A, b, M=amg(A, max_coarse=10), rtol=1e-8, maxiter=5000)
    assert ours.converged
    assert np.linalg.norm(b - A @ ours.x) <= 1e-8 * np.linalg.norm(b)
    assert ours.iterations <= 1.2 * pyamg_iterations(A, b)


REFINEMENTS = (128, 256, 512)  # 1.6e4, 6.5e4 and 2.6e5 unknowns (larger: bench_amg.py)


def test_iterations_stay_flat_within_a_fifth_as_the_mesh_is_refined():
    hierarchies = [amg(poisson(cells)[0]) for cells in REFINEMENTS]
    counts = [cg(*poisson(cells), M=hierarchy, rtol=1e-8).iterations
              for cells, hierarchy in zip(REFINEMENTS, hierarchies, strict=True)]
    assert max(counts) <= 1.2 * min(counts), counts
    # a multigrid solve at every size, not a direct one on the smaller
    assert [hierarchy.levels for hierarchy in hierarchies] == sorted(
        hierarchy.levels for hierarchy in hierarchies) and hierarchies[0].levels >= 3


@pytest.mark.parametrize("smoother", ["chebyshev", "l1_jacobi"])
def test_the_parallel_smoothers_within_a_fifth_of_pyamg_on_poisson(smoother):
    A, b = poisson(128)
    result = cg(A, b, M=amg(A, smoother=smoother, sweeps=3), rtol=1e-8)
    assert result.converged
    assert np.linalg.norm(b - A @ result.x) <= 1e-8 * np.linalg.norm(b)
    assert result.iterations <= 1.2 * pyamg_iterations(A, b)


@pytest.mark.parametrize("smoother", SMOOTHERS)
def test_every_smoother_gives_the_same_bits_on_one_thread_or_two(smoother, monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread here: nothing to compare")
    monkeypatch.setattr(smoothers, "BLOCK_ROWS", 4096)
    A, b = poisson(128)  # 16129 rows: the finest level runs in parallel regions
    hierarchy = amg(A, smoother=smoother)
    assert fine_blocks(hierarchy) == (3 if smoother == "gauss_seidel" else 0)
    one, two = on_one_thread_and_all(lambda: hierarchy(b))
    assert np.array_equal(one, two)
    others = [amg(A, smoother=other)(b) for other in SMOOTHERS if other != smoother]
    assert not any(np.array_equal(one, other) for other in others)  # each its own


@pytest.mark.parametrize("kappa", [1.0, jump], ids=["P1", "jump"])
def test_gauss_seidel_in_many_blocks_within_a_fifth_of_pyamg(kappa, monkeypatch):
    monkeypatch.setattr(smoothers, "BLOCK_ROWS", 1024)
    A, b = poisson(128, 1, kappa)
    hierarchy = amg(A)
    assert fine_blocks(hierarchy) == 15
    result = cg(A, b, M=hierarchy, rtol=1e-8)
    assert result.converged
    assert result.iterations <= 1.2 * pyamg_iterations(A, b)


def test_one_hierarchy_serves_many_right_hand_sides_unchanged(rng):
    A, _ = poisson(64)
    hierarchy = amg(A)
    first, second = rng.standard_normal((2, A.shape[0]))
    cg(A, first, M=hierarchy, rtol=1e-10)
    reused = cg(A, second, M=hierarchy, rtol=1e-10)
    fresh = cg(A, second, M=amg(A), rtol=1e-10)
    assert reused.converged and np.array_equal(reused.x, fresh.x)
    by_name = preconditioner("amg", A)
    assert by_name.name == "amg" and cg(A, second, M=by_name, rtol=1e-10).iterations == \
        reused.iterations


def test_every_heat_step_reuses_one_hierarchy():
    space = fem.function_space(fem.unit_square(128), 1)  # more unknowns than max_coarse
    solution = fem.solve_heat(space, f=1.0, t_end=0.05, dt=0.01, dirichlet={"boundary": 0.0},
                              M="amg", rtol=1e-10)
    assert len(solution.steps) == 5
    assert all(step.converged and step.preconditioner == "amg" for step in solution.steps)


def test_the_user_near_null_space(model):
    A = model.laplacian_2d(40)
    b = np.ones(1600)
    default = cg(A, b, M=amg(A, max_coarse=50), rtol=1e-8)
    constants = cg(A, b, M=amg(A, B=np.ones(1600), max_coarse=50), rtol=1e-8)
    assert constants.iterations == default.iterations
    x = np.tile(np.arange(40.0), 40)
    two = amg(A, B=np.column_stack([np.ones(1600), x]), max_coarse=50)
    # the same aggregates, two coarse unknowns each
    assert two.near_null_space == 2 and two.sizes[1] == 2 * amg(A, max_coarse=50).sizes[1]
    assert cg(A, b, M=two, rtol=1e-8).converged
    with pytest.raises(ValueError, match="linearly dependent"):
        amg(A, B=np.column_stack([np.ones(1600), 2 * np.ones(1600)]), max_coarse=50)


def test_gmres_with_amg_on_convection_diffusion(model):
    A = model.convection_diffusion_2d(64, epsilon=0.05)
    b = np.ones(A.shape[0])
    plain = gmres(A, b, rtol=1e-8, restart=30, maxiter=3000)
    for side in ("right", "left"):
        result = gmres(A, b, M="amg", rtol=1e-8, restart=30, preconditioning=side)
        assert result.converged, side
        assert np.linalg.norm(b - A @ result.x) <= 1e-8 * np.linalg.norm(b)
        assert result.iterations < plain.iterations / 5


def test_a_float32_system_runs_with_amg(model):
    A = model.laplacian_2d(30).astype(np.float32)
    result = cg(A, np.ones(900, dtype=np.float32), M=amg(A, max_coarse=20), rtol=1e-5)
    assert result.converged and result.x.dtype == np.float32


def test_summary_repr_and_record(model):
    A = model.laplacian_2d(50)
    hierarchy = amg(A, max_coarse=40)
    assert "\n" not in repr(hierarchy) and repr(hierarchy).startswith("Hierarchy(levels=")
    record = json.loads(json.dumps(hierarchy.to_dict()))
    assert record["sizes"][0] == 2500 and record["nonzeros"][0] == A.nnz
    assert record["levels"] == len(record["sizes"]) == hierarchy.levels >= 3
    assert record["operator_complexity"] == pytest.approx(sum(record["nonzeros"]) / A.nnz)
    assert record["grid_complexity"] == pytest.approx(sum(record["sizes"]) / 2500)
    text = str(hierarchy)
    assert len(text.splitlines()) == 2 + hierarchy.levels and "operator complexity" in text


def test_a_singular_neumann_problem_gets_a_pseudo_inverse_on_the_coarsest_level(model):
    T = model.laplacian_1d(30).tolil()
    T[0, 0] = T[29, 29] = 1.0  # Neumann ends: the constants span the null space
    A = sp.csr_array(sp.kron(sp.eye(30), T) + sp.kron(T, sp.eye(30)))
    b = np.sin(np.arange(900.0))
    b -= b.mean()  # consistent
    result = cg(A, b, M=amg(A, max_coarse=50), rtol=1e-8)
    assert result.converged and result.iterations < 30


def test_a_hierarchy_for_another_size_is_refused(model):
    with pytest.raises(ValueError, match="n = 100"):
        cg(model.laplacian_2d(11), np.ones(121), M=amg(model.laplacian_2d(10)))


@pytest.mark.parametrize("diagonal", [0.0, -1.0])
def test_a_nonpositive_diagonal_is_a_pivot_error(diagonal, model):
    A = model.laplacian_2d(10).tolil()
    A[17, 17] = diagonal
    with pytest.raises(PivotError, match="diagonal entry 17"):
        amg(sp.csr_array(A))
    with pytest.raises(PivotError):
        cg(sp.csr_array(A), np.ones(100), M="amg")


def test_an_indefinite_matrix_never_converges_with_nan(model):
    A = (model.laplacian_2d(30) - 0.5 * sp.eye_array(900)).tocsr()
    try:
        result = cg(A, np.ones(900), M=amg(A, max_coarse=20), rtol=1e-8, maxiter=300)
    except PivotError:
        return
    assert np.all(np.isfinite(result.x))
    if result.converged:
        assert np.linalg.norm(np.ones(900) - A @ result.x) <= 1e-8 * 30


@pytest.mark.parametrize(("options", "message"), [
    ({"theta": 1.5}, "theta"), ({"sweeps": 0}, "sweeps"), ({"max_coarse": 0}, "max_coarse"),
    ({"smoother": "jacobi"}, "smoother must be one of 'gauss_seidel', 'chebyshev', "
     "'l1_jacobi'; got 'jacobi'"), ({"smoother": None}, "smoother"),
    ({"max_levels": 1.5}, "max_levels"), ({"B": np.ones((7, 1))}, "B must have shape"),
    ({"B": np.full(100, np.nan)}, "B must be finite")])
def test_bad_options_name_the_argument(options, message, model):
    with pytest.raises(ValueError, match=message):
        amg(model.laplacian_2d(10), **options)


def test_a_linear_operator_has_no_entries_to_coarsen(model):
    with pytest.raises(TypeError, match="LinearOperator"):
        amg(aslinearoperator(model.laplacian_2d(10)))
