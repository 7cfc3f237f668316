"""A Ctrl-C in ``study`` or ``compare`` keeps the parts done: their records, and a summary
of them marked interrupted (exit 130); before a first part is done nothing is written."""

import json

import pytest

import krylovfem.run
from fem.norms import fitted_rate

from .conftest import CASES, ctrl_c, ctrl_c_in_the_solve, interrupting

POISSON = CASES / "poisson-2d.toml"
QUICK = ("--quiet", "--set", "mesh.n=4", "--set", "output.plots=false")


def _listing(folder):
    return sorted(path.name for path in folder.iterdir())


def test_a_study_records_each_level_as_run_does(tmp_path, cli):
    assert cli("run", POISSON, "--out", tmp_path / "run", *QUICK).status == 0
    assert cli("study", POISSON, "--levels", 3, "--out", tmp_path / "study", *QUICK).status == 0
    study = json.loads((tmp_path / "study" / "study.json").read_text())
    assert study["interrupted"] is False and study["levels_requested"] == 3
    assert study["level_records"] == ["level-00", "level-01", "level-02"]
    assert _listing(tmp_path / "study") == sorted(study["files"])
    run = json.loads((tmp_path / "run" / "summary.json").read_text())
    level = json.loads((tmp_path / "study" / "level-00" / "summary.json").read_text())
    assert level["errors"] == run["errors"] and level["iterations"] == run["iterations"]
    for row, folder in zip(study["levels"], study["level_records"], strict=True):
        summary = json.loads((tmp_path / "study" / folder / "summary.json").read_text())
        assert summary["dofs"] == row["dofs"] and summary["errors"]["l2"] == row["l2"]
        assert sorted(summary["files"]) == ["solution.npz", "solution.vtu", "summary.json"]
        assert _listing(tmp_path / "study" / folder) == sorted(summary["files"])


def test_a_study_level_record_holds_no_figures_even_with_plots(tmp_path, cli):
    assert cli("study", POISSON, "--levels", 2, "--out", tmp_path, "--quiet",
               "--set", "mesh.n=4").status == 0
    assert _listing(tmp_path / "level-01") == ["solution.npz", "solution.vtu", "summary.json"]
    assert "rates.png" in _listing(tmp_path)


@pytest.mark.parametrize(("how", "records"), [(ctrl_c, 2), (ctrl_c_in_the_solve, 3)],
                         ids=["between-levels", "in-a-solve"])
def test_ctrl_c_in_a_study_keeps_the_levels_done(how, records, tmp_path, cli, monkeypatch):
    interrupting(monkeypatch, 3, how)
    out = tmp_path / "out"
    completed = cli("study", POISSON, "--levels", 4, "--out", out, *QUICK)
    assert completed.status == 130
    assert completed.stderr == (f"krylovfem: interrupted after 2 of 4 levels; those done are "
                                f"in {out}\n")
    study = json.loads((out / "study.json").read_text())
    assert study["interrupted"] is True and study["levels_requested"] == 4
    assert [row["level"] for row in study["levels"]] == [0, 1]
    assert study["level_records"] == [f"level-{level:02d}" for level in range(records)]
    assert _listing(out) == sorted(study["files"])
    # the rates are those of the two levels done, and said so: not of four
    h = [row["h"] for row in study["levels"]]
    errors = [row["l2"] for row in study["levels"]]
    assert study["rates"]["l2"] == pytest.approx(fitted_rate(h, errors), rel=1e-12)
    assert study["converged"] is True  # of the levels done; the status says interrupted
    if records == 3:
        summary = json.loads((out / "level-02" / "summary.json").read_text())
        assert summary["reason"] == "interrupted"
    assert _listing(tmp_path) == ["out"]


def test_a_heat_study_interrupted_keeps_its_time_steps_per_level(tmp_path, cli, monkeypatch):
    interrupting(monkeypatch, 2, ctrl_c)
    out = tmp_path / "out"
    completed = cli("study", CASES / "heat.toml", "--levels", 3, "--out", out, "--quiet",
                    "--set", "mesh.n=4", "--set", "time.dt=0.02", "--set", "output.plots=false")
    assert completed.status == 130
    study = json.loads((out / "study.json").read_text())
    assert [row["dt"] for row in study["levels"]] == [0.02]
    assert study["level_records"] == ["level-00"]


@pytest.mark.parametrize("command", [("study", "--levels", 3),
                                     ("compare", "--solvers", "cg,cg:jacobi")])
def test_ctrl_c_before_a_first_part_is_done_writes_nothing(command, tmp_path, cli,
                                                           monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(krylovfem.run, "run_case", lambda *args, **kwargs: ctrl_c(None))
    monkeypatch.setattr(krylovfem.run, "_solve", lambda *args, **kwargs: ctrl_c(None))
    completed = cli(command[0], POISSON, *command[1:], "--out", out, *QUICK)
    assert completed.status == 130 and completed.stderr == "krylovfem: interrupted\n"
    assert _listing(tmp_path) == []


def test_ctrl_c_in_a_comparison_keeps_the_solves_done(tmp_path, cli, monkeypatch):
    real, calls = krylovfem.run._solve, [0]

    def solve(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(krylovfem.run, "_solve", solve)
    out = tmp_path / "out"
    completed = cli("compare", POISSON, "--solvers", "cg,cg:jacobi,cg:ic0,gmres:ilu0",
                    "--out", out, *QUICK)
    assert completed.status == 130
    assert completed.stderr == (f"krylovfem: interrupted after 2 of 4 solvers; those done "
                                f"are in {out}\n")
    record = json.loads((out / "compare.json").read_text())
    assert record["interrupted"] is True and record["not_run"] == ["cg:ic0", "gmres:ilu0"]
    assert [(solve["method"], solve["preconditioner"]) for solve in record["solvers"]] == [
        ("cg", "none"), ("cg", "jacobi")]
    # the solves kept are whole: each converged to the case's tolerance
    assert all(solve["converged"] for solve in record["solvers"])
    assert all(solve["true_residual_norm"] <= 1e-10 * solve["rhs_norm"]
               for solve in record["solvers"])
