"""``krylovfem adapt``: the loop's record against the library, the stopping rules, bad input."""

import json

import numpy as np
import pytest

from fem.element import function_space
from fem.estimate import residual_estimate
from fem.mesh import Mesh
from krylovfem.build import estimator_data
from krylovfem.casefile import load_case
from krylovfem.figures import read_figure_data

from .conftest import CASES, ctrl_c, ctrl_c_in_the_solve, interrupting

STEP_KEYS = {"step", "dofs", "cells", "h", "estimate", "errors", "effectivity", "iterations",
             "converged", "reason", "marked", "times"}


@pytest.fixture(scope="module")
def l_shape_record(tmp_path_factory):
    from .conftest import run_cli

    directory = tmp_path_factory.mktemp("adapt")
    completed = run_cli("adapt", CASES / "l-shape.toml", "--steps", 7, "--out", directory)
    assert completed.status == 0, completed.stderr
    return directory, json.loads((directory / "adapt.json").read_text()), completed.stdout


def test_the_record_lists_every_step_and_file(l_shape_record):
    directory, record, stdout = l_shape_record
    assert record["schema"] == "krylovfem.adapt" and record["stop"] == "steps"
    # --steps 7 overrides the case's [adapt] steps; the rest comes from the file
    assert record["adapt"] == {"steps": 7, "theta": 0.5, "marking": "dorfler", "target": None,
                               "max_dofs": 20000}
    steps = record["steps"]
    assert [step["step"] for step in steps] == list(range(7))
    assert all(step.keys() == STEP_KEYS for step in steps + record["uniform"])
    assert all(step["times"].keys() == {"assemble", "compile", "solve", "estimate", "mark",
                                        "refine"} for step in steps)
    dofs = [step["dofs"] for step in steps]
    assert dofs == sorted(set(dofs))  # every step refines
    assert all(step["marked"] > 0 for step in steps[:-1]) and steps[-1]["marked"] is None
    assert [step["dofs"] for step in record["uniform"]] == [225, 833]
    assert record["uniform"][0]["estimate"] == pytest.approx(steps[0]["estimate"], rel=1e-12)
    assert sorted(record["files"]) == sorted(path.name for path in directory.iterdir())
    assert {"convergence.png", "mesh.png", "solution.png", "solution.vtu"} <= set(
        record["files"])
    assert f"step  6: dofs {dofs[-1]:>8}" in stdout


def test_estimate_and_errors_fall_with_a_steady_effectivity(l_shape_record):
    _, record, _ = l_shape_record
    steps = record["steps"]
    estimates = np.array([step["estimate"] for step in steps])
    errors = np.array([step["errors"]["h1"] for step in steps])
    assert np.all(np.diff(estimates) < 0) and np.all(np.diff(errors) < 0)
    effectivity = np.array([step["effectivity"] for step in steps])
    assert np.allclose(effectivity, estimates / errors)
    assert effectivity.max() / effectivity.min() < 1.5


def test_the_final_estimate_is_the_libraries_on_the_recorded_mesh(l_shape_record):
    directory, record, _ = l_shape_record
    stored = np.load(directory / "solution.npz")
    case = load_case(CASES / "l-shape.toml")
    space = function_space(Mesh(stored["points"], stored["cells"]), 1)
    assert np.array_equal(space.cell_dofs, stored["cell_dofs"])
    estimate = residual_estimate(space, stored["u"], **estimator_data(case))
    assert np.allclose(estimate.indicators, stored["indicators"], rtol=1e-12, atol=0)
    assert estimate.total == pytest.approx(record["steps"][-1]["estimate"], rel=1e-12)
    assert space.num_dofs == record["steps"][-1]["dofs"]


def test_the_convergence_figure_shows_the_recorded_numbers(l_shape_record):
    directory, record, _ = l_shape_record
    data = read_figure_data(directory / "convergence.png")
    assert data["adaptive"]["dofs"] == [step["dofs"] for step in record["steps"]]
    assert data["adaptive"]["h1"] == [step["errors"]["h1"] for step in record["steps"]]
    assert data["uniform"]["estimate"] == [step["estimate"] for step in record["uniform"]]
    assert data["reference"]["order"] == 0.5
    assert read_figure_data(directory / "mesh.png")["cells"] == record["steps"][-1]["cells"]


def test_interior_layer_stops_at_the_dof_budget(tmp_path, cli):
    completed = cli("adapt", CASES / "interior-layer.toml", "--steps", 30, "--max-dofs", 1500,
                    "--marking", "maximum", "--out", tmp_path / "layer", "--quiet",
                    "--set", "output.plots=false")
    assert completed.status == 0, completed.stderr
    record = json.loads((tmp_path / "layer" / "adapt.json").read_text())
    assert record["stop"] == "max_dofs"
    dofs = [step["dofs"] for step in record["steps"]]
    assert max(dofs) <= 1500
    errors = [step["errors"]["h1"] for step in record["steps"]]
    uniform = record["uniform"][-1]
    # at fewer unknowns than the finest uniform mesh, the front is resolved better
    assert dofs[-1] <= 1500 and errors[-1] < 0.6 * uniform["errors"]["h1"]


def test_a_target_estimate_ends_the_loop(tmp_path, cli):
    completed = cli("adapt", CASES / "poisson-1d.toml", "--steps", 40, "--target", 0.05,
                    "--out", tmp_path / "target", "--quiet", "--set", "output.plots=false")
    assert completed.status == 0, completed.stderr
    record = json.loads((tmp_path / "target" / "adapt.json").read_text())
    assert record["stop"] == "target"
    assert record["steps"][-1]["estimate"] <= 0.05 < record["steps"][-2]["estimate"]


@pytest.mark.parametrize(("arguments", "words"), [
    (["--theta", "0"], "l-shape.toml: [adapt] theta (from --theta) = 0.0: theta must be a "
                       "number in (0, 1], got 0.0"),
    (["--theta", "1.5"], "[adapt] theta (from --theta) = 1.5: theta must be a number in (0, 1]"),
    (["--theta", "half"], "invalid float value: 'half'"),
    (["--steps", "0"], "[adapt] steps (from --steps) = 0: out of range; allowed: an integer "
                       ">= 1"),
    (["--max-dofs", "100"], "[adapt] max_dofs (from --max-dofs) = 100: below the 225 DOFs of "
                            "the case's mesh; allowed: >= 225"),
    (["--marking", "largest"], "invalid choice: 'largest'"),
    (["--target", "-1"], "[adapt] target (from --target) = -1.0: out of range; allowed: a "
                         "number > 0"),
    (["--target", "inf"], "[adapt] target (from --target) = inf: out of range"),
])
def test_bad_settings_are_one_line_and_write_nothing(arguments, words, tmp_path, cli):
    out = tmp_path / "never"
    completed = cli("adapt", CASES / "l-shape.toml", *arguments, "--out", out)
    assert completed.status == 2
    assert words in completed.stderr and completed.stderr.count("\n") == 1
    assert completed.stdout == "" and not out.exists()


@pytest.mark.parametrize(("case", "words"), [
    ("matrix-gr_30_30.toml", "adapt needs a mesh and an equation; a matrix case"),
    ("heat.toml", "adapt needs a stationary problem"),
])
def test_cases_without_an_estimator_are_refused(case, words, tmp_path, cli):
    out = tmp_path / "never"
    completed = cli("adapt", CASES / case, "--out", out)
    assert completed.status == 2
    assert words in completed.stderr and completed.stderr.count("\n") == 1
    assert not out.exists()


# --------------------------------------------------------------------------------------
# A record per step; interrupts, faults and breakdowns
# --------------------------------------------------------------------------------------
def test_every_step_has_the_run_record_that_run_writes(l_shape_record):
    directory, record, _ = l_shape_record
    folders = [f"step-{step:02d}" for step in range(7)]
    assert record["step_records"] == folders and set(folders) <= set(record["files"])
    for step, folder in zip(record["steps"], folders, strict=True):
        summary = json.loads((directory / folder / "summary.json").read_text())
        assert summary["schema"] == "krylovfem.run"
        assert summary["dofs"] == step["dofs"] and summary["iterations"] == step["iterations"]
        assert summary["errors"]["h1"] == pytest.approx(step["errors"]["h1"], rel=1e-12)
        assert sorted(summary["files"]) == sorted(path.name for path in
                                                  (directory / folder).iterdir())
        assert {"solution.npz", "solution.vtu", "residuals.png"} <= set(summary["files"])
    last = np.load(directory / folders[-1] / "solution.npz")
    assert np.array_equal(last["u"], np.load(directory / "solution.npz")["u"])


QUICK = ("--quiet", "--set", "output.plots=false")


@pytest.mark.parametrize(("how", "folders"), [(ctrl_c, 2), (ctrl_c_in_the_solve, 3)],
                         ids=["between-solves", "in-a-solve"])
def test_ctrl_c_keeps_the_steps_done(how, folders, tmp_path, cli, monkeypatch):
    interrupting(monkeypatch, 3, how)
    out = tmp_path / "out"
    completed = cli("adapt", CASES / "l-shape.toml", "--steps", 6, "--out", out, *QUICK)
    assert completed.status == 130
    assert completed.stderr == (f"krylovfem: interrupted after 2 adaptive steps; those done "
                                f"are in {out}\n")
    record = json.loads((out / "adapt.json").read_text())
    assert record["interrupted"] is True and record["stop"] == "interrupted"
    assert [step["step"] for step in record["steps"]] == [0, 1]
    assert record["uniform"] == []
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(record["files"])
    assert record["step_records"] == [f"step-{step:02d}" for step in range(folders)]
    if folders == 3:  # the interrupted solve is recorded as run records it
        summary = json.loads((out / "step-02" / "summary.json").read_text())
        assert summary["reason"] == "interrupted" and summary["converged"] is False
    # the solution kept is the last step's that was estimated
    stored = np.load(out / "solution.npz")
    assert stored["u"].size == record["steps"][-1]["dofs"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_ctrl_c_during_the_uniform_levels_keeps_every_adaptive_step(tmp_path, cli,
                                                                    monkeypatch):
    interrupting(monkeypatch, 4, ctrl_c)  # 3 adaptive solves, then the first uniform one
    out = tmp_path / "out"
    completed = cli("adapt", CASES / "l-shape.toml", "--steps", 3, "--out", out, *QUICK)
    assert completed.status == 130
    record = json.loads((out / "adapt.json").read_text())
    assert record["interrupted"] is True and record["stop"] == "steps"
    assert len(record["steps"]) == 3 and record["uniform"] == []


def test_ctrl_c_before_the_first_solve_ends_writes_nothing(tmp_path, cli, monkeypatch):
    out = tmp_path / "out"
    assert cli("adapt", CASES / "l-shape.toml", "--steps", 2, "--out", out, *QUICK).status == 0
    before = {path.name for path in out.iterdir()}
    interrupting(monkeypatch, 1, ctrl_c)
    completed = cli("adapt", CASES / "l-shape.toml", "--steps", 5, "--out", out, *QUICK)
    assert completed.status == 130 and completed.stderr == "krylovfem: interrupted\n"
    assert {path.name for path in out.iterdir()} == before  # the earlier record stays
    assert json.loads((out / "adapt.json").read_text())["adapt"]["steps"] == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_full_disk_in_a_step_record_keeps_the_earlier_record(tmp_path, cli, monkeypatch):
    import errno
    import os

    out = tmp_path / "out"
    assert cli("adapt", CASES / "l-shape.toml", "--steps", 2, "--out", out, *QUICK).status == 0
    before = {path.relative_to(out): path.read_bytes() for path in out.rglob("*.json")}
    real, calls = np.savez_compressed, [0]

    def full_on_the_third(*args, **kwargs):  # step-00, step-01, then step-02 fails
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "savez_compressed", full_on_the_third)
    completed = cli("adapt", CASES / "l-shape.toml", "--steps", 4, "--out", out, *QUICK)
    assert completed.status == 3
    assert "No space left on device" in completed.stderr
    assert completed.stderr.count("\n") == 1
    assert {path.relative_to(out): path.read_bytes() for path in out.rglob("*.json")} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_breakdown_in_the_first_step_exits_as_run_does(tmp_path, cli):
    """kappa < 0: IC(0) meets a negative pivot; run and adapt both record it and exit 1."""
    breakdown = ("--set", "problem.kappa=-1", *QUICK)
    ran = cli("run", CASES / "l-shape.toml", "--out", tmp_path / "run", *breakdown)
    adapted = cli("adapt", CASES / "l-shape.toml", "--out", tmp_path / "adapt", *breakdown)
    assert ran.status == adapted.status == 1
    assert "did not converge (diverged_breakdown)" in adapted.stderr
    record = json.loads((tmp_path / "adapt" / "adapt.json").read_text())
    assert record["stop"] == "failure" and record["steps"] == [] and record["uniform"] == []
    assert "non-positive pivot" in record["failure"]
    step = json.loads((tmp_path / "adapt" / "step-00" / "summary.json").read_text())
    run = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert step["failure"] == run["failure"] and step["reason"] == "diverged_breakdown"
    assert sorted(path.name for path in (tmp_path / "adapt").iterdir()) == ["adapt.json",
                                                                            "step-00"]


def test_a_real_ctrl_c_keeps_the_steps_done(tmp_path, start_command):
    """SIGINT to a real adaptive loop (GMRES(1): slow solves): exit 130, the steps done."""
    import signal
    import time

    out = tmp_path / "out"
    process = start_command(
        "adapt", CASES / "l-shape.toml", "--out", out, "--steps", "30", "--max-dofs",
        "10000000", "--set", "solver.method=gmres", "--set", "solver.restart=1",
        "--set", "solver.preconditioner=none", "--set", "solver.rtol=1e-13",
        "--set", "solver.maxiter=10000000", "--set", "output.plots=false")
    for line in process.stdout:
        if line.startswith("step  2:"):
            break
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.startswith("krylovfem: interrupted after ") and stderr.count("\n") == 1
    record = json.loads((out / "adapt.json").read_text())
    assert record["interrupted"] is True and record["stop"] == "interrupted"
    assert len(record["steps"]) >= 3
    assert f"interrupted after {len(record['steps'])} adaptive steps" in stderr
    for folder in record["step_records"]:
        assert (out / folder / "summary.json").is_file()
    assert len(record["step_records"]) in (len(record["steps"]), len(record["steps"]) + 1)
