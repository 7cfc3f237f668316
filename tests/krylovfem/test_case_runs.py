"""Every case in cases/ runs, and its record agrees with the library and the mathematics.

For each case the run record (summary.json, solution.npz, solution.vtu, the PNGs) is
checked against an independent re-computation: the system is assembled again with
``fem.problems.assemble_system`` and solved directly with SciPy's ``spsolve``; the
errors are recomputed with ``fem.norms``; and the discretisation error is compared with
what the exact solution allows.
"""

import hashlib
import json
import math
from pathlib import Path

import meshio
import numpy as np
import pytest
import scipy.sparse.linalg as linalg

import solvers
from fem import norms, problems
from fem.element import function_space
from krylovfem.casefile import load_case
from krylovfem.cli import main
from krylovfem.figures import read_figure_data

CASES = Path(__file__).resolve().parents[2] / "cases"
CASE_FILES = sorted(CASES.glob("*.toml"))  # every ready-made file in cases/*.toml is run

# Largest L2 / H1 errors the discretisation may show on the mesh of each case file: a few
# times C h^(p+1) and C h^p, measured once and rounded up generously.  A wrong coefficient,
# sign or boundary condition makes the error O(1), far above these.
ERROR_BOUNDS = {
    "poisson-1d": (3e-3, 0.3),
    "poisson-2d": (3e-3, 0.2),
    "poisson-2d-p2": (2e-4, 2e-2),
    "variable-coefficient": (1e-2, 0.4),
    "l-shape": (2e-2, 0.3),
    "reaction-diffusion": (1e-3, 0.1),
    "convection-diffusion": (3e-3, 0.2),
    "heat": (5e-3, 0.1),
    "plate-mesh-file": (5e-4, 2e-2),
    # the front of width 1/60 is not resolved by the coarse starting mesh of this case
    # (errors O(1) by design); tests/krylovfem/test_adapt.py checks that adapt resolves it
    "interior-layer": (0.7, 15.0),
}

SUMMARY_KEYS = {
    "schema", "schema_version", "case", "problem", "dofs", "free_dofs", "element",
    "converged", "reason", "iterations", "solve", "relative_residual", "fem_residual_norm",
    "errors", "warnings", "failure", "timings", "versions", "files",
}
SOLVE_KEYS = set(solvers.cg(np.eye(2), np.ones(2)).to_dict())


def test_every_kind_of_case_is_shipped():
    names = {path.stem for path in CASE_FILES}
    assert set(ERROR_BOUNDS) | {"matrix-gr_30_30"} <= names
    kinds = {load_case(path).problem.type for path in CASE_FILES}
    assert kinds == {"poisson", "reaction_diffusion", "convection_diffusion", "heat", "matrix"}


@pytest.fixture(scope="module", params=CASE_FILES, ids=lambda path: path.stem)
def finished_run(request, tmp_path_factory):
    """Run one case through the command line; the case, its output directory, the record."""
    directory = tmp_path_factory.mktemp(request.param.stem)
    status = main(["run", str(request.param), "--out", str(directory), "--quiet"])
    assert status == 0
    record = json.loads((directory / "summary.json").read_text())
    return load_case(request.param), directory, record


def test_record_has_every_key(finished_run):
    case, directory, record = finished_run
    assert record.keys() >= SUMMARY_KEYS
    assert record["schema"] == "krylovfem.run" and record["schema_version"] == 1
    assert record["case"]["name"] == case.name
    source = CASES / f"{case.name}.toml"
    assert record["case"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["case"]["overrides"] == []
    # everything the solver knows, and only what applies: no restart length for CG
    assert record["solve"].keys() == SOLVE_KEYS
    solver = record["case"]["resolved"]["solver"]
    expected = {"method", "preconditioner", "rtol", "atol", "maxiter"}
    assert solver.keys() == expected | ({"restart"} if case.solver.method == "gmres" else set())
    assert solver["method"] == case.solver.method == record["solve"]["method"]
    assert record["timings"].keys() == {"setup", "compile", "solve", "total"}
    assert record["versions"].keys() >= {"krylovfem", "numpy", "scipy", "numba"}
    assert record["converged"] is True
    assert record["reason"].startswith("converged")
    assert all((directory / name).is_file() for name in record["files"])
    # nothing but the record itself: no temporary file is left behind
    assert sorted(path.name for path in directory.iterdir()) == sorted(record["files"])


def test_residual_history_is_the_solvers(finished_run):
    case, _, record = finished_run
    solve = record["solve"]
    history = np.array(solve["residual_norms"])
    if case.problem.type == "heat":
        assert history.size == record["steps"][-1]["iterations"] + 1
        assert record["iterations"] == sum(step["iterations"] for step in record["steps"])
    else:
        assert history.size == record["iterations"] + 1 == solve["iterations"] + 1
        # x0 = 0, so the first residual is the right-hand side
        assert history[0] == pytest.approx(solve["rhs_norm"], rel=1e-12)
    assert solve["true_residual_norm"] <= case.solver.rtol * solve["rhs_norm"]


def _coefficients(case, dim):
    problem = case.problem
    velocity = None
    if problem.velocity is not None:
        components = problem.velocity

        def velocity(*xy):
            return tuple(component(*xy) for component in components)

    boundary = case.boundary
    return {
        "kappa": problem.kappa.coefficient(dim),
        "reaction": problem.reaction.coefficient(dim),
        "velocity": velocity,
        "f": problem.f.coefficient(dim),
        "dirichlet": {name: value.coefficient(dim) for name, value in boundary.dirichlet.items()},
        "neumann": {name: value.coefficient(dim) for name, value in boundary.neumann.items()},
        "robin": {name: (alpha.coefficient(dim), g.coefficient(dim))
                  for name, (alpha, g) in boundary.robin.items()},
    }


def _reference_stationary(case):
    """Assemble again and solve with a sparse direct solver."""
    space = function_space(case.mesh, case.mesh_settings.degree)
    system = problems.assemble_system(space, **_coefficients(case, case.dim))
    free_values = linalg.spsolve(system.reduced_matrix.tocsc(), system.reduced_rhs)
    return space, system, system.expand(free_values)


def _exact_and_gradient(case, time=None):
    exact = case.problem.exact if time is None else case.problem.exact.at_time(time)
    gradient = exact.gradient[: case.dim]
    return exact, (lambda *xy: tuple(part(*xy) for part in gradient))


def test_solution_matches_an_independent_solve(finished_run):
    case, directory, record = finished_run
    saved = np.load(directory / "solution.npz")
    u = saved["u"]
    if case.problem.type == "matrix":
        from solvers.io import read_matrix

        matrix = read_matrix(case.system.matrix)
        rhs = matrix @ np.ones(matrix.shape[0])
        reference = linalg.spsolve(matrix.tocsc(), rhs)
        np.testing.assert_allclose(reference, 1.0, rtol=1e-9)
        np.testing.assert_allclose(u, reference, rtol=1e-7)
        assert record["errors"]["l2"] == pytest.approx(np.linalg.norm(u - 1.0), rel=1e-9)
        return
    if case.problem.type == "heat":
        space = function_space(case.mesh, case.mesh_settings.degree)
        coefficients = {key: value for key, value in _coefficients(case, case.dim).items()
                        if key not in ("velocity", "reaction", "f")}
        coefficients = {key: value for key, value in coefficients.items() if key != "kappa"}
        dim = case.dim
        boundary = {name: value.coefficient(dim, time_dependent=True)
                    for name, value in case.boundary.dirichlet.items()}
        heat = problems.solve_heat(
            space, kappa=case.problem.kappa.coefficient(dim),
            f=case.problem.f.coefficient(dim, time_dependent=True),
            initial=case.time.initial.coefficient(dim), t_end=case.time.t_end,
            dt=case.time.dt, scheme=case.time.scheme, dirichlet=boundary, rtol=1e-13)
        np.testing.assert_allclose(u, heat.u, atol=1e-8 * np.abs(heat.u).max())
        steps = record["steps"]
        assert len(steps) == math.ceil(case.time.t_end / case.time.dt - 1e-9)
        np.testing.assert_allclose([step["t"] for step in steps], heat.times[1:], rtol=1e-12)
        assert all(step["reason"].startswith("converged") for step in steps)
        exact, gradient = _exact_and_gradient(case, case.time.t_end)
        assert record["errors"]["l2"] == pytest.approx(norms.l2_error(space, u, exact), rel=1e-9)
        assert record["errors"]["h1"] == pytest.approx(norms.h1_error(space, u, gradient),
                                                       rel=1e-9)
        return
    space, system, reference = _reference_stationary(case)
    assert record["dofs"] == space.num_dofs == u.size
    scale = np.abs(reference).max()
    np.testing.assert_allclose(u, reference, atol=1e-7 * scale)
    free = system.free_dofs
    residual = np.linalg.norm(system.reduced_rhs - system.reduced_matrix @ u[free])
    assert record["fem_residual_norm"] == pytest.approx(residual, rel=1e-6, abs=1e-14)
    exact, gradient = _exact_and_gradient(case)
    assert record["errors"]["l2"] == pytest.approx(norms.l2_error(space, u, exact), rel=1e-9)
    assert record["errors"]["h1"] == pytest.approx(norms.h1_error(space, u, gradient), rel=1e-9)


def test_discretisation_error_is_small(finished_run):
    case, _, record = finished_run
    if case.problem.type == "matrix":
        assert record["errors"]["max"] < 1e-6
        return
    l2_bound, h1_bound = ERROR_BOUNDS[case.name]
    assert record["errors"]["l2"] < l2_bound
    assert record["errors"]["h1"] < h1_bound


def test_plots_show_the_recorded_data(finished_run):
    """Each figure of the folder carries exactly the numbers of the record and solution."""
    case, directory, record = finished_run
    solve = record["solve"]
    (series,) = read_figure_data(directory / "residuals.png")["series"]
    np.testing.assert_allclose(series["relative_residuals"],
                               np.array(solve["residual_norms"]) / solve["rhs_norm"],
                               rtol=1e-15)
    assert series["iterations"] == list(range(len(solve["residual_norms"])))
    assert series["tolerance"] == pytest.approx(solve["tolerance"] / solve["rhs_norm"])
    assert series["true_residual"] == {
        "iteration": solve["iterations"],
        "value": pytest.approx(solve["true_residual_norm"] / solve["rhs_norm"])}
    assert series["restarts"] == solve["restarts"][1:] or series["restarts"] == solve["restarts"]
    if case.problem.type == "matrix":
        assert not (directory / "solution.png").exists()
        return
    u = np.load(directory / "solution.npz")["u"]
    picture = read_figure_data(directory / "solution.png")
    assert picture["values"] == u.tolist()
    assert (picture["min"], picture["max"]) == (u.min(), u.max())
    assert (directory / "error.png").is_file() == (case.problem.exact is not None)
    if case.problem.type == "heat":
        assert picture["time"] == record["time"]["t_end"]
        steps = read_figure_data(directory / "iterations.png")
        assert steps["iterations"] == [step["iterations"] for step in record["steps"]]
        assert steps["t"] == [step["t"] for step in record["steps"]]
    else:
        assert not (directory / "iterations.png").exists()


def test_vtu_holds_every_dof(finished_run):
    """P1 on the mesh; P2 on quadratic cells whose nodes are the DOF points."""
    case, directory, _ = finished_run
    if case.problem.type == "matrix":
        assert not (directory / "solution.vtu").exists()
        return
    saved = np.load(directory / "solution.npz")
    mesh = meshio.read(directory / "solution.vtu")
    np.testing.assert_allclose(mesh.points[: case.mesh.num_points, : case.dim],
                               case.mesh.points)
    np.testing.assert_allclose(mesh.points[:, : case.dim], saved["dof_points"])
    np.testing.assert_array_equal(mesh.point_data["u"], saved["u"])
    np.testing.assert_array_equal(mesh.cells[0].data, saved["cell_dofs"])
    np.testing.assert_array_equal(saved["cells"], case.mesh.cells)


def test_a_complex_hermitian_matrix_case(tmp_path, cli, hermitian_case):
    case = hermitian_case
    completed = cli("run", case, "--out", tmp_path / "out")
    assert completed.status == 0, completed.stderr
    assert "warning" not in completed.stdout  # Hermitian: no warning that CG is misused
    record = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert record["reason"] == "converged_rtol"
    assert record["errors"]["relative_l2"] < 1e-8  # against x = ones
    u = np.load(tmp_path / "out" / "solution.npz")["u"]
    assert u.dtype == np.complex128 and np.allclose(u, 1.0, atol=1e-8)


def test_a_real_matrix_with_a_complex_right_hand_side_is_solved_as_complex(tmp_path, cli):
    from scipy.sparse.linalg import spsolve

    (tmp_path / "a.mtx").write_text("%%MatrixMarket matrix coordinate real symmetric\n"
                                    "3 3 5\n1 1 4\n2 1 -1\n2 2 4\n3 2 -1\n3 3 4\n")
    (tmp_path / "b.mtx").write_text("%%MatrixMarket matrix array complex general\n3 1\n"
                                    "1 1\n0 -2\n3 0\n")
    case = tmp_path / "case.toml"
    case.write_text('[problem]\ntype = "matrix"\n[system]\nmatrix = "a.mtx"\nrhs = "b.mtx"\n'
                    '[solver]\nrtol = 1e-12\n')
    completed = cli("run", case, "--out", tmp_path / "out")
    assert completed.status == 0, completed.stderr
    u = np.load(tmp_path / "out" / "solution.npz")["u"]
    A = solvers.read_matrix(tmp_path / "a.mtx")
    assert u.dtype == np.complex128
    assert np.allclose(u, spsolve(A.tocsc(), np.array([1 + 1j, -2j, 3])), rtol=1e-10)
