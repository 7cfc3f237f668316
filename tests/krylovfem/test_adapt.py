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

from .conftest import CASES

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
                    "--marking", "maximum", "--out", tmp_path / "layer", "--quiet")
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
