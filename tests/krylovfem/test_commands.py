"""The commands study, compare and plot; --monitor, --set, --quiet; exit status 1; atomicity."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import krylovfem.figures
import krylovfem.record
import solvers
from fem.norms import fitted_rate, observed_rates
from krylovfem.casefile import load_case
from krylovfem.figures import read_figure_data
from krylovfem.run import system_for_compare

CASES = Path(__file__).resolve().parents[2] / "cases"
POISSON = CASES / "poisson-2d.toml"


# --------------------------------------------------------------------------------------
# run: the printed summary, --monitor, --set, --quiet, exit status 1
# --------------------------------------------------------------------------------------
def test_run_prints_a_summary_that_matches_the_record(tmp_path, cli):
    completed = cli("run", POISSON, "--out", tmp_path, "--set", "mesh.n=8")
    assert completed.status == 0
    record = json.loads((tmp_path / "summary.json").read_text())
    text = completed.stdout
    assert f"dofs        {record['dofs']}" in text
    assert f"iterations  {record['iterations']}" in text
    assert f"reason      {record['reason']}" in text
    assert f"L2 {record['errors']['l2']:.3e}" in text
    assert f"H1 {record['errors']['h1']:.3e}" in text
    assert "assemble" in text and "solve" in text and "total" in text
    assert completed.stderr == ""


def test_monitor_prints_every_residual_of_the_history(tmp_path, cli):
    completed = cli("run", POISSON, "--out", tmp_path, "--set", "mesh.n=8", "--monitor")
    record = json.loads((tmp_path / "summary.json").read_text())
    lines = [line for line in completed.stdout.splitlines() if "KSP Residual norm" in line]
    assert len(lines) == record["iterations"] + 1
    for k, (line, norm) in enumerate(zip(lines, record["solve"]["residual_norms"],
                                         strict=True)):
        iteration, value = re.fullmatch(r"\s*(\d+) KSP Residual norm (\S+)", line).groups()
        assert int(iteration) == k
        assert float(value) == pytest.approx(norm, rel=1e-11)


def test_monitor_every_kth_iteration(tmp_path, cli):
    completed = cli("run", POISSON, "--out", tmp_path, "--set", "mesh.n=8", "--monitor", "5")
    record = json.loads((tmp_path / "summary.json").read_text())
    printed = [int(line.split()[0]) for line in completed.stdout.splitlines()
               if "KSP Residual norm" in line]
    last = record["iterations"]
    assert last % 5 != 0  # so that the last line is one the K-th rule would skip
    assert printed == [*range(0, last + 1, 5), last]


def test_set_overrides_the_case_file(tmp_path, cli):
    completed = cli("run", POISSON, "--out", tmp_path, "--quiet", "--set", "mesh.n=6",
                    "--set", "mesh.element=P2", "--set", "solver.preconditioner=none",
                    "--set", "problem.kappa=1 + 0*x")
    assert completed.status == 0
    assert completed.stdout == ""
    record = json.loads((tmp_path / "summary.json").read_text())
    assert record["dofs"] == 13 * 13  # P2 on 6 x 6 squares
    assert record["element"] == "P2"
    assert record["case"]["resolved"]["solver"]["preconditioner"] == "none"
    assert record["case"]["resolved"]["problem"]["kappa"] == "1 + 0*x"
    assert record["case"]["overrides"] == ["mesh.n=6", "mesh.element=P2",
                                           "solver.preconditioner=none", "problem.kappa=1 + 0*x"]


def test_a_case_runs_with_the_multigrid_preconditioner(tmp_path, cli):
    completed = cli("run", POISSON, "--out", tmp_path, "--set", "mesh.n=128",
                    "--set", "solver.preconditioner=amg", "--set", "output.plots=false")
    assert completed.status == 0
    record = json.loads((tmp_path / "summary.json").read_text())
    assert record["case"]["resolved"]["solver"]["preconditioner"] == "amg"
    assert record["reason"] == "converged_rtol" and record["iterations"] < 15
    # the hierarchy the solve used is printed and recorded, from the free unknowns down
    hierarchy = record["preconditioner"]
    assert hierarchy["levels"] >= 2 and hierarchy["sizes"][0] == record["free_dofs"]
    assert hierarchy["sizes"] == sorted(hierarchy["sizes"], reverse=True)
    amg_lines = [line for line in completed.stdout.splitlines() if line.startswith("amg ")]
    assert len(amg_lines) == 1 and f"{hierarchy['levels']} levels" in amg_lines[0]
    plain = tmp_path / "plain"
    assert cli("run", POISSON, "--out", plain, "--quiet", "--set", "mesh.n=8").status == 0
    assert json.loads((plain / "summary.json").read_text())["preconditioner"] is None


def test_no_convergence_gives_exit_status_1_and_a_full_record(tmp_path, cli):
    completed = cli("run", POISSON, "--out", tmp_path, "--set", "solver.maxiter=3",
                    "--set", "solver.preconditioner=none")
    assert completed.status == 1
    assert "did not converge (diverged_max_iterations)" in completed.stderr
    assert "Traceback" not in completed.stderr
    record = json.loads((tmp_path / "summary.json").read_text())
    assert record["converged"] is False
    assert record["reason"] == "diverged_max_iterations"
    assert record["iterations"] == 3
    assert len(record["solve"]["residual_norms"]) == 4
    assert (tmp_path / "residuals.png").is_file()


def test_default_output_directory_is_results_name(tmp_path, cli, monkeypatch):
    """The case file's run in results/<name>; a run with --set in a folder of its own."""
    monkeypatch.chdir(tmp_path)
    small = CASES / "poisson-1d.toml"
    assert cli("run", small, "--quiet").status == 0
    assert cli("run", small, "--quiet", "--set", "mesh.n=4", "--set", "problem.f=1+x").status == 0
    base = json.loads((tmp_path / "results" / "poisson-1d" / "summary.json").read_text())
    varied = tmp_path / "results" / "poisson-1d--mesh.n=4--problem.f=1+x"
    assert json.loads((varied / "summary.json").read_text())["dofs"] == 5
    assert base["case"]["overrides"] == [] and base["dofs"] != 5


def test_save_system_writes_what_the_solver_saw(tmp_path, cli):
    import scipy.io

    assert cli("run", POISSON, "--out", tmp_path, "--quiet", "--set", "mesh.n=4",
               "--set", "output.save_system=true", "--set", "output.plots=false").status == 0
    matrix = scipy.io.mmread(tmp_path / "system.mtx").tocsr()
    rhs = scipy.io.mmread(tmp_path / "rhs.mtx").ravel()
    record = json.loads((tmp_path / "summary.json").read_text())
    assert matrix.shape == (record["free_dofs"],) * 2
    assert np.linalg.norm(rhs) == pytest.approx(record["solve"]["rhs_norm"], rel=1e-14)
    assert not (tmp_path / "residuals.png").exists()


def test_interrupted_write_leaves_the_earlier_record_whole(tmp_path, cli, monkeypatch):
    """An interrupt while writing keeps the earlier record as it was, and no temporary."""
    out = tmp_path / "out"
    assert cli("run", POISSON, "--out", out, "--quiet", "--set", "mesh.n=4").status == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def failing_save(figure, path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(krylovfem.figures, "save_figure", failing_save)
    completed = cli("run", POISSON, "--out", out, "--set", "mesh.n=8")
    assert completed.status == 130
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_rerun_leaves_no_stale_file(tmp_path, cli):
    """A folder holds one run: pictures and systems of an earlier run do not survive."""
    assert cli("run", POISSON, "--out", tmp_path, "--quiet", "--set", "mesh.n=4",
               "--set", "output.save_system=true").status == 0
    assert (tmp_path / "system.mtx").is_file() and (tmp_path / "residuals.png").is_file()
    assert cli("run", POISSON, "--out", tmp_path, "--quiet", "--set", "mesh.n=4",
               "--set", "output.plots=false").status == 0
    record = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(record["files"])
    assert sorted(record["files"]) == ["solution.npz", "solution.vtu", "summary.json"]


def test_a_folder_that_is_not_a_record_is_never_replaced(tmp_path, cli):
    (tmp_path / "notes.txt").write_text("mine")
    completed = cli("run", POISSON, "--out", tmp_path, "--quiet", "--set", "mesh.n=4")
    assert completed.status == 2
    assert "not a krylovfem record" in completed.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_the_case_file_is_never_inside_the_folder_replaced(tmp_path, cli):
    out = tmp_path / "out"
    assert cli("run", POISSON, "--out", out, "--quiet", "--set", "mesh.n=4").status == 0
    case = out / "case.toml"
    case.write_text(POISSON.read_text())
    completed = cli("run", case, "--out", out, "--quiet", "--set", "mesh.n=4")
    assert completed.status == 2
    assert "holds the case file" in completed.stderr
    assert case.read_text() == POISSON.read_text()


# --------------------------------------------------------------------------------------
# study
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "n", "levels", "l2_rate", "h1_rate"),
    [
        ("poisson-1d", 4, 4, 2.0, 1.0),
        ("poisson-2d", 4, 4, 2.0, 1.0),
        ("poisson-2d-p2", 2, 3, 3.0, 2.0),
        # the corner singularity: u in H^(1 + 2/3 - eps) only
        ("l-shape", 2, 4, 4 / 3, 2 / 3),
    ],
)
def test_study_rates(case, n, levels, l2_rate, h1_rate, tmp_path, cli):
    completed = cli("study", CASES / f"{case}.toml", "--levels", levels, "--out", tmp_path,
                    "--set", f"mesh.n={n}")
    assert completed.status == 0, completed.stderr
    document = json.loads((tmp_path / "study.json").read_text())
    rows = document["levels"]
    assert len(rows) == levels
    h = np.array([row["h"] for row in rows])
    np.testing.assert_allclose(h[1:] / h[:-1], 0.5)
    assert all(row["converged"] for row in rows)
    for name, expected in (("l2", l2_rate), ("h1", h1_rate)):
        errors = np.array([row[name] for row in rows])
        # the fitted rate is the least-squares slope of log e against log h
        slope = np.polyfit(np.log(h), np.log(errors), 1)[0]
        assert document["rates"][name] == pytest.approx(slope, rel=1e-12)
        finest = np.log(errors[-2] / errors[-1]) / np.log(2.0)
        assert rows[-1]["rates"][name] == pytest.approx(finest, rel=1e-12)
        assert finest == pytest.approx(expected, abs=0.1)
    # the table printed gives the same rates
    fitted = re.search(r"fitted rates: L2 (\S+)\s+H1 (\S+)", completed.stdout).groups()
    assert float(fitted[0]) == pytest.approx(document["rates"]["l2"], abs=0.006)
    assert float(fitted[1]) == pytest.approx(document["rates"]["h1"], abs=0.006)
    # the figure shows the recorded numbers
    figure = read_figure_data(tmp_path / "rates.png")
    assert figure["h"] == [row["h"] for row in rows]
    assert figure["iterations"] == [row["iterations"] for row in rows]
    assert figure["errors"]["l2"] == [row["l2"] for row in rows]


def test_study_level_zero_is_the_run(tmp_path, cli):
    assert cli("run", POISSON, "--out", tmp_path / "run", "--quiet", "--set", "mesh.n=4") \
        .status == 0
    assert cli("study", POISSON, "--levels", 2, "--out", tmp_path / "study", "--quiet",
               "--set", "mesh.n=4").status == 0
    run = json.loads((tmp_path / "run" / "summary.json").read_text())
    study = json.loads((tmp_path / "study" / "study.json").read_text())
    assert study["levels"][0]["l2"] == run["errors"]["l2"]
    assert study["levels"][0]["dofs"] == run["dofs"]
    assert study["levels"][0]["iterations"] == run["iterations"]


def test_heat_study_halves_dt_with_h(tmp_path, cli):
    completed = cli("study", CASES / "heat.toml", "--levels", 3, "--out", tmp_path, "--quiet",
                    "--set", "mesh.n=4", "--set", "time.dt=0.02")
    assert completed.status == 0
    rows = json.loads((tmp_path / "study.json").read_text())["levels"]
    assert [row["dt"] for row in rows] == [0.02, 0.01, 0.005]
    assert rows[-1]["rates"]["l2"] == pytest.approx(2.0, abs=0.15)


def test_observed_rates_of_an_exact_power_law():
    h = np.array([0.5, 0.25, 0.125, 0.0625])
    np.testing.assert_allclose(observed_rates(h, 3.0 * h**1.5), 1.5, rtol=1e-12)
    assert fitted_rate(h, 3.0 * h**1.5) == pytest.approx(1.5, rel=1e-12)


# --------------------------------------------------------------------------------------
# compare and plot
# --------------------------------------------------------------------------------------
def _solver_names():
    names = ["cg:none", "cg:jacobi", "cg:ic0"]
    if hasattr(solvers, "gmres"):
        names.append("gmres:ilu0")
    return names


def test_compare_solves_one_system_with_each_solver(tmp_path, cli):
    names = _solver_names()
    # a right-hand side that is no near-eigenvector, so that CG has work to do
    settings = ["mesh.n=12", "problem.f=1 + x*y"]
    completed = cli("compare", POISSON, "--solvers", ",".join(names), "--out", tmp_path,
                    *[f"--set={setting}" for setting in settings])
    assert completed.status == 0, completed.stderr
    document = json.loads((tmp_path / "compare.json").read_text())
    rows = document["solvers"]
    assert [f"{row['method']}:{row['preconditioner']}" for row in rows] == names
    # the same system: the same right-hand side norm for every solver
    assert len({row["rhs_norm"] for row in rows}) == 1
    # each row is what the solver gives on the assembled system
    case = load_case(POISSON, settings)
    matrix, rhs = system_for_compare(case)
    assert rhs.size == document["dofs"] == 11 * 11
    for row in rows:
        solve = getattr(solvers, row["method"])
        M = None if row["preconditioner"] == "none" else row["preconditioner"]
        direct = solve(matrix, rhs, rtol=case.solver.rtol, M=M)
        assert row["iterations"] == direct.iterations
        np.testing.assert_allclose(row["residual_norms"], direct.residual_norms, rtol=1e-12)
        assert f"{row['method']:<8} {row['preconditioner']:<8} {row['iterations']:>10}" \
            in completed.stdout
    # preconditioning pays off on this system
    iterations = {row["preconditioner"]: row["iterations"] for row in rows}
    assert iterations["ic0"] < iterations["none"]
    figure = read_figure_data(tmp_path / "compare.png")
    assert [series["label"] for series in figure["series"]] == [
        f"{row['method']} + {row['preconditioner']}" if row["preconditioner"] != "none"
        else row["method"] for row in rows]
    for series, row in zip(figure["series"], rows, strict=True):
        np.testing.assert_allclose(series["relative_residuals"],
                                   np.array(row["residual_norms"]) / row["rhs_norm"])


def test_compare_on_a_matrix_case(tmp_path, cli):
    completed = cli("compare", CASES / "matrix-gr_30_30.toml", "--solvers", "cg:none,cg:ic0",
                    "--out", tmp_path, "--quiet")
    assert completed.status == 0
    rows = json.loads((tmp_path / "compare.json").read_text())["solvers"]
    assert rows[1]["iterations"] < rows[0]["iterations"]


def test_plot_gathers_earlier_runs(tmp_path, cli):
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("run", POISSON, "--out", first, "--quiet", "--set", "mesh.n=4").status == 0
    assert cli("run", POISSON, "--out", second, "--quiet", "--set", "mesh.n=8",
               "--set", "solver.preconditioner=none").status == 0
    figure_path = tmp_path / "figures" / "both.png"
    completed = cli("plot", first, second / "summary.json", "-o", figure_path)
    assert completed.status == 0
    series = read_figure_data(figure_path)["series"]
    assert [item["label"] for item in series] == ["poisson-2d: cg + ic0", "poisson-2d: cg"]
    # redrawn from the record, each history is what the run's own figure shows: the
    # same residuals, tolerance, restarts and true residual
    for item, directory in zip(series, (first, second), strict=True):
        solve = json.loads((directory / "summary.json").read_text())["solve"]
        np.testing.assert_allclose(item["relative_residuals"],
                                   np.array(solve["residual_norms"]) / solve["rhs_norm"])
        (drawn,) = read_figure_data(directory / "residuals.png")["series"]
        for key in ("iterations", "relative_residuals", "tolerance", "true_residual",
                    "restarts", "reason", "norm"):
            assert item[key] == drawn[key], key


def test_plot_refuses_a_file_that_is_not_a_record(tmp_path, cli):
    bogus = tmp_path / "bogus.json"
    bogus.write_text("[1, 2]")
    completed = cli("plot", bogus, "-o", tmp_path / "figure.png")
    assert completed.status == 2
    assert "not a run record" in completed.stderr
    assert not (tmp_path / "figure.png").exists()


# --------------------------------------------------------------------------------------
# The installed console script, in a process of its own
# --------------------------------------------------------------------------------------
def test_console_script_exit_statuses(tmp_path):
    command = [sys.executable, "-c", "import sys; from krylovfem.cli import main; sys.exit(main())"]
    good = subprocess.run([*command, "run", str(POISSON), "--out", str(tmp_path / "good"),
                           "--set", "mesh.n=4", "--quiet"], capture_output=True, text=True,
                          timeout=120)
    assert good.returncode == 0, good.stderr
    bad_case = tmp_path / "bad.toml"
    bad_case.write_text('[problem]\ntype = "poisson"\n[mesh]\ndomain = "unit_square"\n'
                        'n = 4\n[solver]\nrtol = "small"\n')
    bad = subprocess.run([*command, "run", str(bad_case), "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "[solver] rtol = 'small'" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_matrix_case_with_a_right_hand_side_file(tmp_path, cli):
    import shutil

    import scipy.io
    import scipy.sparse.linalg as linalg

    shutil.copy(CASES / "gr_30_30.mtx", tmp_path / "gr_30_30.mtx")
    rhs = np.cos(np.arange(900.0))
    scipy.io.mmwrite(tmp_path / "rhs.mtx", rhs.reshape(-1, 1))
    case = tmp_path / "case.toml"
    case.write_text('[problem]\ntype = "matrix"\n[system]\nmatrix = "gr_30_30.mtx"\n'
                    'rhs = "rhs.mtx"\n[solver]\nmethod = "gmres"\npreconditioner = "ilu0"\n'
                    'rtol = 1e-10\n')
    assert cli("run", case, "--out", tmp_path / "out", "--quiet").status == 0
    record = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert record["errors"] is None  # no exact solution is known for a given b
    assert record["solve"]["rhs_norm"] == pytest.approx(np.linalg.norm(rhs), rel=1e-14)
    matrix = solvers.read_matrix(tmp_path / "gr_30_30.mtx")
    x = np.load(tmp_path / "out" / "solution.npz")["u"]
    np.testing.assert_allclose(x, linalg.spsolve(matrix.tocsc(), rhs), rtol=1e-7, atol=1e-9)


def test_heat_run_reports_its_time_steps(tmp_path, cli):
    completed = cli("run", CASES / "heat.toml", "--out", tmp_path, "--monitor")
    assert completed.status == 0
    steps = [line for line in completed.stdout.splitlines() if line.startswith("step")]
    assert len(steps) == 20
    assert steps[-1].startswith("step     20/20  t = 0.1")


# --------------------------------------------------------------------------------------
# Warnings, breakdowns, progress and the small items of the command line
# --------------------------------------------------------------------------------------
def test_an_incomplete_factorization_that_breaks_down_is_a_reason_not_a_crash(tmp_path, cli):
    """kappa < 0 makes the matrix negative definite: IC(0) meets a negative pivot."""
    completed = cli("run", POISSON, "--out", tmp_path, "--set", "mesh.n=4",
                    "--set", "problem.kappa=-1")
    assert completed.status == 1
    assert "Traceback" not in completed.stderr
    assert "did not converge (diverged_breakdown)" in completed.stderr
    record = json.loads((tmp_path / "summary.json").read_text())
    assert record["converged"] is False and record["reason"] == "diverged_breakdown"
    assert "non-positive pivot in row 0" in record["failure"]
    assert record["solve"] is None
    # no picture of a solution that was never computed
    assert not (tmp_path / "solution.png").exists()


def test_cg_on_a_nonsymmetric_system_is_warned_of(tmp_path, cli):
    completed = cli("run", CASES / "convection-diffusion.toml", "--out", tmp_path,
                    "--set", "mesh.n=6", "--set", "solver.method=cg",
                    "--set", "solver.preconditioner=none")
    warnings = json.loads((tmp_path / "summary.json").read_text())["warnings"]
    assert len(warnings) == 1 and "not symmetric" in warnings[0]
    assert f"warning     {warnings[0]}" in completed.stdout
    # the symmetric case files give no warning
    assert cli("run", POISSON, "--out", tmp_path / "quiet", "--quiet",
               "--set", "mesh.n=4").status == 0
    assert json.loads((tmp_path / "quiet" / "summary.json").read_text())["warnings"] == []


def test_a_pure_neumann_problem_is_warned_of(tmp_path, cli):
    case = tmp_path / "neumann.toml"
    case.write_text('[mesh]\ndomain = "unit_square"\nn = 4\n[problem]\ntype = "poisson"\n'
                    'f = "cos(pi*x)"\n[boundary]\nneumann = { boundary = "0" }\n')
    completed = cli("run", case, "--out", tmp_path / "out")
    assert completed.status == 0
    (warning,) = json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"]
    assert "singular" in warning and warning in completed.stdout


def test_progress_comes_before_the_solve(tmp_path, cli):
    """The case, mesh, unknowns and solver lines come first, the monitor lines after."""
    lines = cli("run", POISSON, "--out", tmp_path, "--set", "mesh.n=4",
                "--monitor").stdout.splitlines()
    labels = [line.split()[0] for line in lines]
    first_iteration = next(i for i, line in enumerate(lines) if "KSP Residual norm" in line)
    assert labels[:4] == ["case", "mesh", "solver", "dofs"]
    assert first_iteration >= 4
    assert labels.index("iterations") > first_iteration


def test_version_and_module_entry_point(tmp_path):
    import krylovfem

    for command in (["krylovfem"], [sys.executable, "-m", "krylovfem"]):
        completed = subprocess.run([*command, "--version"], capture_output=True, text=True,
                                   timeout=120, check=True)
        assert completed.stdout.strip() == f"krylovfem {krylovfem.__version__}"


def test_study_and_compare_have_folders_of_their_own_and_list_their_files(tmp_path, cli,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = CASES / "poisson-1d.toml"
    assert cli("run", small, "--quiet").status == 0
    study = cli("study", small, "--levels", 2)
    compare = cli("compare", small, "--solvers", "cg,cg:jacobi")
    assert study.status == compare.status == 0
    results = tmp_path / "results"
    assert sorted(path.name for path in results.iterdir()) == [
        "poisson-1d", "poisson-1d.compare", "poisson-1d.study"]
    for completed, folder, names in ((study, "poisson-1d.study", ["study.json", "rates.png"]),
                                     (compare, "poisson-1d.compare",
                                      ["compare.json", "compare.png"])):
        for name in names:
            assert str(Path("results") / folder / name) in completed.stdout
    # the run's own record is untouched by both
    assert (results / "poisson-1d" / "summary.json").is_file()
