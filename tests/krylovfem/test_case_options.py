"""``[adapt]`` and ``[solver.amg]`` in case files: what they set, what they refuse.

The AMG options are checked against a hierarchy built directly by ``solvers.amg`` with
the same keywords; the adaptive settings against the loop's record.
"""

import json
import re

import numpy as np
import pytest

import solvers
from fem.element import function_space
from fem.problems import assemble_system
from krylovfem.build import coefficients
from krylovfem.casefile import load_case

from .conftest import CASES

POISSON_1D = """\
[mesh]
domain = "interval"
n = 4
[problem]
type = "poisson"
f = "pi^2*sin(pi*x)"
exact = "sin(pi*x)"
[output]
plots = false
"""

POISSON_2D_AMG = """\
[mesh]
domain = "unit_square"
n = 24
[problem]
type = "poisson"
f = "2*pi^2*sin(pi*x)*sin(pi*y)"
exact = "sin(pi*x)*sin(pi*y)"
[solver]
preconditioner = "amg"
[solver.amg]
theta = 0.05
sweeps = 1
max_coarse = 40
[output]
plots = false
"""


def _case(tmp_path, text: str, name: str = "case.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_line_refusal(completed, words: str, out) -> None:
    assert completed.status == 2, completed.stderr
    assert words in completed.stderr, completed.stderr
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert not out.exists()


# --------------------------------------------------------------------------------------
# [adapt]
# --------------------------------------------------------------------------------------
def test_the_adapt_section_drives_the_loop_and_options_override_it(tmp_path, cli):
    case = _case(tmp_path, POISSON_1D + '[adapt]\nsteps = 3\nmarking = "maximum"\n'
                                        'theta = 0.7\n')
    assert cli("adapt", case, "--out", tmp_path / "file", "--quiet").status == 0
    record = json.loads((tmp_path / "file" / "adapt.json").read_text())
    assert record["adapt"] == {"steps": 3, "theta": 0.7, "marking": "maximum", "target": None,
                               "max_dofs": None}
    assert len(record["steps"]) == 3 and record["stop"] == "steps"
    assert record["case"]["resolved"]["adapt"] == record["adapt"]
    # each option replaces its key only; the output folder is the same
    assert cli("adapt", case, "--steps", 2, "--theta", 1, "--out", tmp_path / "options",
               "--quiet").status == 0
    record = json.loads((tmp_path / "options" / "adapt.json").read_text())
    assert record["adapt"] == {"steps": 2, "theta": 1.0, "marking": "maximum", "target": None,
                               "max_dofs": None}
    assert len(record["steps"]) == 2
    # maximum marking with theta = 1 marks only the cells of the largest indicator
    assert record["steps"][0]["marked"] < record["steps"][0]["cells"]


def test_run_ignores_the_adapt_section_but_records_it(tmp_path, cli):
    case = _case(tmp_path, POISSON_1D + "[adapt]\nsteps = 3\n")
    assert cli("run", case, "--out", tmp_path / "run", "--quiet").status == 0
    record = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert record["case"]["resolved"]["adapt"]["steps"] == 3
    assert record["dofs"] == 5  # the case's own mesh, not refined


def test_the_ready_cases_that_adapt_carry_their_settings():
    for name in ("l-shape", "interior-layer"):
        case = load_case(CASES / f"{name}.toml")
        assert case.adapt.max_dofs is not None and case.adapt.steps > 10, name
    assert load_case(CASES / "interior-layer.toml").adapt.marking == "maximum"


@pytest.mark.parametrize(("setting", "words"), [
    ("steps = 0", "case.toml: [adapt] steps = 0: out of range; allowed: an integer >= 1"),
    ('steps = "3"', "[adapt] steps = '3': expected an integer >= 1, given a string"),
    ("theta = 1.5", "[adapt] theta = 1.5: theta must be a number in (0, 1], got 1.5"),
    ("theta = 0", "[adapt] theta = 0: theta must be a number in (0, 1], got 0.0"),
    ('marking = "largest"', "[adapt] marking = 'largest': unknown; allowed: dorfler | maximum"),
    ("target = -1.0", "[adapt] target = -1.0: out of range; allowed: a number > 0"),
    ("max_dofs = 3", "[adapt] max_dofs = 3: below the 5 DOFs of the case's mesh; allowed: >= 5"),
    ("step = 3", "[adapt] unknown key 'step' (did you mean 'steps'?)"),
])
def test_a_bad_adapt_section_is_one_line_and_writes_nothing(setting, words, tmp_path, cli):
    case = _case(tmp_path, POISSON_1D + f"[adapt]\n{setting}\n")
    for command in ("adapt", "run"):  # the section is checked whichever command reads it
        _one_line_refusal(cli(command, case, "--out", tmp_path / "never"), words,
                          tmp_path / "never")


@pytest.mark.parametrize(("case", "words"), [
    ("heat.toml", 'section [adapt] is not used by type = "heat"'),
    ("matrix-gr_30_30.toml", 'section [adapt] is not used by type = "matrix"'),
])
def test_the_adapt_section_is_refused_where_adapt_cannot_run(case, words, tmp_path, cli):
    text = (CASES / case).read_text() + "\n[adapt]\nsteps = 2\n"
    path = _case(tmp_path, text, case)
    if case == "matrix-gr_30_30.toml":
        (tmp_path / "gr_30_30.mtx").write_bytes((CASES / "gr_30_30.mtx").read_bytes())
    _one_line_refusal(cli("run", path, "--out", tmp_path / "never"), words, tmp_path / "never")


# --------------------------------------------------------------------------------------
# [solver.amg]
# --------------------------------------------------------------------------------------
def _direct_hierarchy(path, **options):
    """The hierarchy solvers.amg builds with ``options`` for the case's own system."""
    case = load_case(path)
    system = assemble_system(function_space(case.mesh, 1), **coefficients(case))
    return system, solvers.amg(system.reduced_matrix, **options)


def test_amg_options_reach_the_hierarchy_and_the_record(tmp_path, cli):
    path = _case(tmp_path, POISSON_2D_AMG)
    assert cli("run", path, "--out", tmp_path / "run", "--quiet").status == 0
    record = json.loads((tmp_path / "run" / "summary.json").read_text())
    options = {"theta": 0.05, "sweeps": 1, "smoother": "gauss_seidel", "max_coarse": 40,
               "max_levels": 25}
    assert record["case"]["resolved"]["solver"]["amg"] == options
    _, direct = _direct_hierarchy(path, theta=0.05, sweeps=1, max_coarse=40)
    _, default = _direct_hierarchy(path)
    hierarchy = record["preconditioner"]
    assert hierarchy["sizes"] == list(direct.sizes) and hierarchy["sweeps"] == 1
    assert hierarchy["theta"] == 0.05 and hierarchy["max_coarse"] == 40
    assert len(direct.sizes) > len(default.sizes)  # the options change the hierarchy
    # --set reaches a sub-table key like any other
    assert cli("run", path, "--out", tmp_path / "set", "--quiet",
               "--set", "solver.amg.max_levels=2").status == 0
    record = json.loads((tmp_path / "set" / "summary.json").read_text())
    assert record["preconditioner"]["levels"] == 2


def test_the_amg_smoother_is_a_choice_of_the_case_file(tmp_path, cli):
    path = _case(tmp_path, POISSON_2D_AMG)
    assert cli("run", path, "--out", tmp_path / "run", "--quiet",
               "--set", "solver.amg.smoother=chebyshev").status == 0
    record = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert record["preconditioner"]["smoother"] == "chebyshev"
    system, direct = _direct_hierarchy(path, theta=0.05, sweeps=1, max_coarse=40,
                                       smoother="chebyshev")
    expected = solvers.cg(system.reduced_matrix, system.reduced_rhs, M=direct, rtol=1e-8)
    assert record["iterations"] == expected.iterations
    _one_line_refusal(cli("run", path, "--out", tmp_path / "never",
                          "--set", "solver.amg.smoother=chebychev"),
                      "[solver.amg] smoother (from --set) = 'chebychev': unknown (did you mean "
                      "'chebyshev'?); allowed: gauss_seidel | chebyshev | l1_jacobi",
                      tmp_path / "never")


def test_compare_study_and_adapt_use_the_amg_options(tmp_path, cli):
    path = _case(tmp_path, POISSON_2D_AMG)
    assert cli("compare", path, "--solvers", "cg:amg,cg:none", "--out", tmp_path / "compare",
               "--quiet").status == 0
    compared = json.loads((tmp_path / "compare" / "compare.json").read_text())["solvers"][0]
    system, direct = _direct_hierarchy(path, theta=0.05, sweeps=1, max_coarse=40)
    expected = solvers.cg(system.reduced_matrix, system.reduced_rhs, M=direct, rtol=1e-8)
    assert compared["iterations"] == expected.iterations
    assert compared["hierarchy"]["sizes"] == list(direct.sizes)
    assert np.allclose(compared["residual_norms"], expected.residual_norms, rtol=1e-10)

    assert cli("study", path, "--levels", 2, "--out", tmp_path / "study", "--quiet").status == 0
    study = json.loads((tmp_path / "study" / "study.json").read_text())
    assert study["solver"]["amg"]["max_coarse"] == 40

    assert cli("adapt", path, "--steps", 2, "--out", tmp_path / "adapt", "--quiet").status == 0
    step = json.loads((tmp_path / "adapt" / "step-01" / "summary.json").read_text())
    assert step["preconditioner"]["max_coarse"] == 40 and step["preconditioner"]["levels"] > 1


@pytest.mark.parametrize(("settings", "words"), [
    (["solver.amg.theta=1"], "case.toml: [solver.amg] theta (from --set) = 1: theta must "
                             "be a number in [0, 1); got 1.0"),
    (["solver.amg.sweeps=0"], "[solver.amg] sweeps (from --set) = 0: sweeps must be an "
                              "integer from 1 to 9223372036854775807; got 0"),
    (["solver.amg.sweeps=1.5"], "[solver.amg] sweeps (from --set) = 1.5: expected an "
                                "integer, given a number"),
    (["solver.amg.max_coarse=true"], "[solver.amg] max_coarse (from --set) = True: expected "
                                     "an integer"),
    (["solver.amg.smoothing=\"jacobi\""], "[solver.amg] unknown key 'smoothing' (did you "
                                          "mean 'smoother'?); allowed: theta, sweeps, "
                                          "smoother, max_coarse, max_levels"),
    (["solver.amg.smoother=\"jacobi\""], "[solver.amg] smoother (from --set) = 'jacobi': "
                                         "unknown (did you mean 'l1_jacobi'?); allowed: "
                                         "gauss_seidel | chebyshev | l1_jacobi"),
    (["solver.amg=3"], "[solver] amg (from --set) = 3: expected a table [solver.amg]"),
    (["solver.preconditioner=ic0"], "[solver.amg] is used only with preconditioner = \"amg\"; "
                                    "given preconditioner = \"ic0\""),
])
def test_bad_amg_options_are_one_line_and_write_nothing(settings, words, tmp_path, cli):
    path = _case(tmp_path, POISSON_2D_AMG)
    overrides = [item for setting in settings for item in ("--set", setting)]
    for command in ("run", "compare", "study", "adapt"):
        _one_line_refusal(cli(command, path, "--out", tmp_path / "never", *overrides), words,
                          tmp_path / "never")


def test_a_heat_run_builds_its_hierarchy_with_the_amg_options(tmp_path, cli):
    text = (CASES / "heat.toml").read_text() + '\n[solver.amg]\nsweeps = 1\nmax_coarse = 100\n'
    path = _case(tmp_path, text.replace('preconditioner = "', 'preconditioner = "amg" #"'))
    completed = cli("run", path, "--out", tmp_path / "out", "--set", "mesh.n=32")
    assert completed.status == 0, completed.stderr
    record = json.loads((tmp_path / "out" / "summary.json").read_text())
    hierarchy = record["preconditioner"]
    assert hierarchy["sweeps"] == 1 and hierarchy["sizes"][-1] <= 100
    assert len(hierarchy["sizes"]) >= 2  # one hierarchy, built for the step matrix
    assert all(step["converged"] for step in record["steps"])
    assert record["case"]["resolved"]["solver"]["amg"]["max_coarse"] == 100


def test_set_reaches_the_adapt_section_and_says_so(tmp_path, cli):
    case = _case(tmp_path, POISSON_1D + "[adapt]\nsteps = 3\n")
    _one_line_refusal(cli("adapt", case, "--set", "adapt.theta=2", "--out", tmp_path / "never"),
                      "case.toml: [adapt] theta (from --set) = 2: theta must be a number in "
                      "(0, 1], got 2.0", tmp_path / "never")
    assert cli("adapt", case, "--set", "adapt.steps=2", "--out", tmp_path / "set",
               "--quiet").status == 0
    assert len(json.loads((tmp_path / "set" / "adapt.json").read_text())["steps"]) == 2


def test_run_adapt_checks_settings_given_in_python(tmp_path):
    from krylovfem.adapt import run_adapt
    from krylovfem.casefile import CaseError, parse_case_text
    from krylovfem.settings import AdaptSettings

    case = parse_case_text(POISSON_1D, name="demo", source="demo.toml")
    for settings, words in ((AdaptSettings(theta=2.0), "[adapt] theta = 2.0: theta must be"),
                            (AdaptSettings(steps=0), "[adapt] steps = 0: out of range"),
                            (AdaptSettings(max_dofs=2), "below the 5 DOFs")):
        with pytest.raises(CaseError, match=re.escape(words)):
            run_adapt(case, settings)
    result = run_adapt(case, AdaptSettings(steps=2, marking="maximum"))
    assert len(result.steps) == 2 and result.settings.marking == "maximum"


def test_an_adapt_option_on_a_heat_case_is_named_in_the_refusal(tmp_path, cli):
    _one_line_refusal(cli("adapt", CASES / "heat.toml", "--steps", 3, "--theta", 0.3,
                          "--out", tmp_path / "never"),
                      'heat.toml: section [adapt] (set by --steps, --theta) is not used by '
                      'type = "heat"', tmp_path / "never")
