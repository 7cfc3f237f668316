"""Bad input: exit status 2, one line on stderr naming file and key, nothing written.

Every item of the issue's "Bad input" list has a test here; none of them may run code
from the file (the attack strings would leave a marker file if they did).
"""

from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[2] / "cases"

VALID = """\
[mesh]
domain = "unit_square"
n = 4
element = "P1"

[problem]
type = "poisson"
f = "2*pi^2*sin(pi*x)*sin(pi*y)"
exact = "sin(pi*x)*sin(pi*y)"

[solver]
method = "cg"
preconditioner = "jacobi"
rtol = 1e-8
"""

MARKER = "/tmp/krylovfem-attack-marker"


def _replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


# name -> (case-file text, words the message must contain)
BAD_FILES = {
    "toml syntax error": (_replace('n = 4', 'n = = 4'), ["TOML syntax error", "line 3"]),
    "unclosed string": (_replace('type = "poisson"', 'type = "poisson'), ["line 7"]),
    "empty file": ("", ["empty"]),
    "whitespace only": ("\n  \n", ["empty"]),
    "unknown section": (VALID + "\n[solvers]\nrtol = 1e-8\n",
                        ["unknown key or section 'solvers'", "did you mean 'solver'"]),
    "unknown key": (_replace("rtol = 1e-8", "rtoll = 1e-8"),
                    ["[solver]", "unknown key 'rtoll'", "did you mean 'rtol'"]),
    "unknown top-level key": ("title = 'x'\n" + VALID, ["unknown key or section 'title'"]),
    "wrong type rtol": (_replace("rtol = 1e-8", 'rtol = "small"'),
                        ["[solver] rtol = 'small'", "a number >= 0", "given a string"]),
    "wrong type n": (_replace("n = 4", 'n = "four"'), ["[mesh] n", "an integer >= 1"]),
    "wrong type plots": (VALID + "[output]\nplots = 1\n", ["[output] plots", "true or false"]),
    "n zero": (_replace("n = 4", "n = 0"), ["[mesh] n = 0", "out of range", ">= 1"]),
    "n too large": (_replace("n = 4", "n = 5000"), ["[mesh] n = 5000", "at most 4,000,000 cells"]),
    "n negative": (_replace("n = 4", "n = -3"), ["[mesh] n = -3", "out of range"]),
    "rtol negative": (_replace("rtol = 1e-8", "rtol = -1e-8"), ["[solver] rtol", "out of range"]),
    "rtol nan": (_replace("rtol = 1e-8", "rtol = nan"), ["[solver] rtol", "out of range"]),
    "maxiter zero": (_replace("rtol = 1e-8", "maxiter = 0"), ["[solver] maxiter", ">= 1"]),
    "unknown element": (_replace('element = "P1"', 'element = "P3"'),
                        ["[mesh] element = 'P3'", "P1 | P2"]),
    "unknown method": (_replace('method = "cg"', 'method = "bicgstab"'),
                       ["[solver] method = 'bicgstab'", "cg | gmres"]),
    "unknown preconditioner": (_replace('"jacobi"', '"jacoby"'),
                               ["preconditioner = 'jacoby'", "did you mean 'jacobi'", "ic0"]),
    "unknown domain": (_replace('"unit_square"', '"unit_circle"'),
                       ["[mesh] domain = 'unit_circle'", "interval | unit_square"]),
    "unknown problem type": (_replace('type = "poisson"', 'type = "stokes"'),
                             ["[problem] type = 'stokes'", "poisson |"]),
    "missing mesh file": (_replace('domain = "unit_square"\nn = 4', 'file = "no-such.msh"'),
                          ["[mesh] file", "no such mesh file", "no-such.msh"]),
    "missing matrix file": ('[problem]\ntype = "matrix"\n[system]\nmatrix = "absent.mtx"\n',
                            ["[system] matrix", "no such matrix file", "absent.mtx"]),
    "unknown name in expression": (_replace('f = "2*pi^2', 'f = "2*q^2'),
                                   ["[problem] f", "unknown name 'q'"]),
    "unknown function": (_replace('exact = "sin(pi*x)*sin(pi*y)"', 'exact = "sine(pi*x)"'),
                         ["[problem] exact", "unknown function 'sine'", "did you mean 'sin'"]),
    "attribute access": (_replace('f = "2*pi^2', 'f = "x.__class__ + 2*pi^2'),
                         ["[problem] f", "attribute access"]),
    "import attack": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"',
                               f"f = \"__import__('os').system('touch {MARKER}')\""),
                      ["[problem] f", "not allowed"]),
    "call of non-whitelisted": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"',
                                         "f = \"open('/etc/passwd')\""),
                                ["unknown function 'open'"]),
    "lambda": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"', 'f = "(lambda: 1)()"'),
               ["[problem] f", "not allowed"]),
    "bare lambda": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"', 'f = "lambda: 1"'),
                    ["lambda is not allowed"]),
    "unbalanced parentheses": (_replace('f = "2*pi^2*sin(pi*x)', 'f = "2*pi^2*sin((pi*x)'),
                               ["[problem] f", "unbalanced parentheses"]),
    "overflow": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"', 'f = "exp(1000*(x + 1))"'),
                 ["[problem] f", "overflow"]),
    "nan on the mesh": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"', 'f = "log(x - 0.6)"'),
                        ["[problem] f", "invalid value"]),
    "division by zero": (_replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"', 'f = "1/x"'),
                         ["[problem] f", "division by zero"]),
    "time in a stationary problem": (_replace('f = "2*pi^2', 'f = "t + 2*pi^2'),
                                     ["'t' is not a variable here"]),
    "y in 1D": ('[mesh]\ndomain = "interval"\n[problem]\ntype = "poisson"\nf = "y"\n',
                ["'y' is not a variable here"]),
    "unknown boundary part": (VALID + '[boundary]\ndirichlet = { lft = "0" }\n',
                              ["[boundary] dirichlet.lft", "did you mean 'left'"]),
    "exact without exact": (_replace('exact = "sin(pi*x)*sin(pi*y)"\n', "")
                            + '[boundary]\ndirichlet = { boundary = "exact" }\n',
                            ['"exact" needs [problem] exact']),
    "exact as a flux": (VALID + '[boundary]\nneumann = { top = "exact" }\n',
                        ["[boundary] neumann.top", "allowed only in dirichlet"]),
    "robin alpha in time": (_replace('"poisson"', '"heat"')
                            + '[time]\nt_end = 1.0\ndt = 0.5\n'
                            + '[boundary]\nrobin = { top = ["1 + t", "0"] }\n',
                            ["[boundary] robin.top", "'t' is not a variable here"]),
    "robin not a pair": (VALID + '[boundary]\nrobin = { top = "1" }\n', ["[alpha, g]"]),
    "velocity for poisson": (_replace('type = "poisson"',
                                      'type = "poisson"\nvelocity = ["1", "0"]'),
                             ["velocity is not used by type = \"poisson\""]),
    "convection without velocity": (_replace('"poisson"', '"convection_diffusion"'),
                                    ["velocity", "missing"]),
    "heat without time": (_replace('"poisson"', '"heat"'), ["missing section [time]"]),
    "dt zero": (_replace('"poisson"', '"heat"') + "[time]\nt_end = 1.0\ndt = 0.0\n",
                ["[time] dt = 0.0", "out of range", "> 0"]),
    "dt negative": (_replace('"poisson"', '"heat"') + "[time]\nt_end = 1.0\ndt = -0.1\n",
                    ["[time] dt = -0.1", "out of range"]),
    "time for poisson": (VALID + "[time]\nt_end = 1.0\ndt = 0.1\n",
                         ["[time] is not used by type = \"poisson\""]),
    "missing problem": ('[mesh]\ndomain = "interval"\n', ["missing section [problem]"]),
    "bounds on unit square": (_replace("n = 4", "n = 4\nbounds = [0.0, 1.0]"),
                              ["[mesh] bounds", "only interval and rectangle"]),
    "bounds decreasing": ('[mesh]\ndomain = "interval"\nbounds = [1.0, 0.0]\n'
                          '[problem]\ntype = "poisson"\n', ["[mesh] bounds", "a < b"]),
    "section as value": ('problem = 3\n', ["problem must be a section"]),
    "arrays nested 5000 deep": (VALID + "[output]\ndir = " + "[" * 5000 + "]" * 5000 + "\n",
                                ["nested too deeply"]),
    "coefficient overflowing in assembly": (
        _replace('f = "2*pi^2*sin(pi*x)*sin(pi*y)"', 'f = "1"\nkappa = "1e308"'),
        ["[problem]", "matrix has", "NaN or infinite", "kappa"]),
    "cells too small for floating point": (
        '[mesh]\ndomain = "rectangle"\nbounds = [0, 1e-300, 0, 1e-300]\n'
        '[problem]\ntype = "poisson"\n', ["[mesh] bounds", "no valid mesh", "degenerate"]),
    "gmres basis beyond memory": (
        _replace("n = 4", "n = 340").replace('method = "cg"', 'method = "gmres"\nrestart = 10000'),
        ["[solver] restart = 10000", "GiB", "at most 8 GiB"]),
    "bounds whose span overflows": (
        '[mesh]\ndomain = "rectangle"\nbounds = [-1e308, 1e308, 0, 1]\n'
        '[problem]\ntype = "poisson"\n',
        ["[mesh] bounds", "out of range", "b - a is at most"]),
    "name with a slash": ('name = "../elsewhere"\n' + VALID, ["name = '../elsewhere'",
                                                              "not usable as a folder name"]),
    "name with a nul": ('name = "a\\u0000b"\n' + VALID, ["name = 'a\\x00b'", "control"]),
    "name dot dot": ('name = ".."\n' + VALID, ["name = '..'", "not . or .."]),
    "name too long": ('name = "' + "n" * 101 + '"\n' + VALID, ["at most 100 bytes"]),
    "output dir with a nul": (VALID + '[output]\ndir = "out\\u0000put"\n',
                              ["[output] dir", "NUL character"]),
    "mesh file with a nul": (_replace('domain = "unit_square"\nn = 4', 'file = "m\\u0000.msh"'),
                             ["[mesh] file", "NUL character"]),
    "amg sweeps beyond 64 bits": (_replace('"jacobi"', '"amg"')
                                  + "[solver.amg]\nsweeps = 100000000000000000000\n",
                                  ["[solver.amg] sweeps = 100000000000000000000", "<= 100"]),
    "amg sweeps for hours": (_replace('"jacobi"', '"amg"') + "[solver.amg]\nsweeps = 1000000000\n",
                             ["[solver.amg] sweeps = 1000000000", "out of range", "<= 100"]),
    "heat beyond an hour of steps": (
        _replace("n = 4", "n = 100").replace('"poisson"', '"heat"').replace("exact", "# exact")
        + "[time]\nt_end = 1.0\ndt = 1e-6\ninitial = \"0\"\n",  # 2e10
        ["[time] dt", "cell-steps", "at most 1e+10"]),
}


# What a run prints before it builds anything (known from the case file alone): data that
# fail only where they are used (a matrix file, a coefficient at a quadrature point) are
# refused after these lines, and before any solve.
PROGRESS_LABELS = ("case ", "mesh ", "solver ", "time ", "matrix ", "dofs ")


def _check_refused(completed, out: Path, *words: str):
    assert completed.status == 2, completed.stderr
    assert all(line.startswith(PROGRESS_LABELS) for line in completed.stdout.splitlines()), \
        completed.stdout
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not out.exists(), "nothing may be written on bad input"


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_case_file(name, tmp_path, cli):
    text, words = BAD_FILES[name]
    case = tmp_path / "bad.toml"
    case.write_text(text)
    out = tmp_path / "out"
    completed = cli("run", case, "--out", out)
    _check_refused(completed, out, "bad.toml", *words)
    assert not Path(MARKER).exists()


def test_binary_file(tmp_path, cli):
    case = tmp_path / "binary.toml"
    case.write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out), out, "binary.toml", "binary")


def test_non_utf8_file(tmp_path, cli):
    case = tmp_path / "latin.toml"
    case.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out), out, "latin.toml", "not UTF-8")


def test_missing_case_file(tmp_path, cli):
    out = tmp_path / "out"
    _check_refused(cli("run", tmp_path / "absent.toml", "--out", out), out, "absent.toml",
                   "no such case file")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("solver.rtol=small", ["[solver] rtol (from --set) = 'small'", "a number"]),
        ("mesh.n=0", ["[mesh] n (from --set) = 0", "out of range"]),
        ("solvr.rtol=1", ["unknown key or section 'solvr'", "did you mean 'solver'"]),
        ("solver.rtl=1", ["unknown key 'rtl'"]),
        ("problem.f=import os", ["[problem] f (from --set)", "syntax error"]),
        ("no-equals-sign", ["expected section.key=value"]),
        ("problem.f=" + "[" * 5000 + "]" * 5000, ["--set 'problem.f=[[[", "nested too deeply"]),
    ],
)
def test_bad_override(override, words, tmp_path, cli):
    case = tmp_path / "case.toml"
    case.write_text(VALID)
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out, "--set", override), out, *words)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ((), ["krylovfem:", "required"]),
        (("solve", "x.toml"), ["invalid choice: 'solve'"]),
        (("run",), ["required: case"]),
        (("study", "{case}", "--levels", "0"), ["--levels", "positive integer"]),
        (("run", "{case}", "--monitor", "-2"), ["--monitor"]),
        (("compare", "{case}", "--solvers", "cg:jacobi,minres:none"), ["unknown method 'minres'"]),
        (("compare", "{case}", "--solvers", "cg:ilu1"), ["unknown preconditioner 'ilu1'"]),
        (("plot", "{out}/nothing-here", "-o", "{out}/figure.png"), ["no run record here"]),
        (("run", "{case}", "--bogus"), ["unrecognized arguments: --bogus"]),
        (("study", "{case}", "--levels", "11"), ["finest mesh would have", "cells"]),
    ],
)
def test_bad_usage(arguments, words, tmp_path, cli):
    case = tmp_path / "case.toml"
    case.write_text(VALID)
    out = tmp_path / "out"
    arguments = [a.format(case=case, out=out) for a in arguments]
    _check_refused(cli(*arguments, "--out", out) if arguments[:1] == ["run"] and
                   "--bogus" not in arguments else cli(*arguments), out, *words)


def test_study_without_exact_solution(tmp_path, cli):
    case = tmp_path / "case.toml"
    case.write_text(VALID.replace('exact = "sin(pi*x)*sin(pi*y)"\n', ""))
    out = tmp_path / "out"
    _check_refused(cli("study", case, "--levels", "2", "--out", out), out,
                   "study needs [problem] exact")


def test_output_directory_is_a_file(tmp_path, cli):
    case = tmp_path / "case.toml"
    case.write_text(VALID)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    completed = cli("run", case, "--out", blocker / "out")
    assert completed.status == 2
    assert "is a file" in completed.stderr
    assert blocker.read_text() == ""


def test_malformed_matrix_file(tmp_path, cli):
    (tmp_path / "broken.mtx").write_text("%%MatrixMarket matrix coordinate real general\n"
                                         "3 3 2\n1 1 1.0\n")
    case = tmp_path / "case.toml"
    case.write_text('[problem]\ntype = "matrix"\n[system]\nmatrix = "broken.mtx"\n')
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out), out, "case.toml: [system] matrix:",
                   "broken.mtx")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("nan.mtx", "%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 nan\n2 2 1\n",
         ["[system] matrix: nan.mtx has 1 NaN or infinite entries"]),
        ("empty.mtx", "%%MatrixMarket matrix coordinate real general\n0 0 0\n",
         ["[system] matrix: empty.mtx is empty"]),
        # a few hundred bytes of gzip that would inflate to 5 MB of blanks
        ("bomb.mtx.gz", None, ["[system] matrix", "decompresses to more than", "refused"]),
    ],
)
def test_matrix_file_refused_before_the_solve(name, content, words, tmp_path, cli):
    import gzip

    header = b"%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1\n2 2 1\n"
    data = content.encode() if content else gzip.compress(header + b"%" + b" " * 5_000_000)
    (tmp_path / name).write_bytes(data)
    case = tmp_path / "case.toml"
    case.write_text(f'[problem]\ntype = "matrix"\n[system]\nmatrix = "{name}"\n')
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out), out, "case.toml", *words)


def test_rhs_of_the_wrong_length(tmp_path, cli):
    import shutil

    shutil.copy(CASES / "gr_30_30.mtx", tmp_path / "gr_30_30.mtx")
    (tmp_path / "rhs.mtx").write_text("%%MatrixMarket matrix array real general\n2 1\n1.0\n2.0\n")
    case = tmp_path / "case.toml"
    case.write_text('[problem]\ntype = "matrix"\n[system]\nmatrix = "gr_30_30.mtx"\n'
                    'rhs = "rhs.mtx"\n')
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out), out, "[system] rhs", "2 entries", "900")


def test_rhs_of_several_columns(tmp_path, cli):
    """Only the first column was solved for, the others dropped without a word."""
    (tmp_path / "a.mtx").write_text("%%MatrixMarket matrix coordinate real general\n"
                                    "2 2 2\n1 1 2\n2 2 2\n")
    (tmp_path / "b.mtx").write_text("%%MatrixMarket matrix array real general\n2 2\n"
                                    "1\n2\n3\n4\n")
    case = tmp_path / "case.toml"
    case.write_text('[problem]\ntype = "matrix"\n[system]\nmatrix = "a.mtx"\nrhs = "b.mtx"\n')
    out = tmp_path / "out"
    _check_refused(cli("run", case, "--out", out), out, "case.toml: [system] rhs",
                   "b.mtx is 2 x 2", "one column")


def test_mesh_file_with_a_point_of_no_cell_is_solved(tmp_path, cli):
    """A point no triangle uses (a gmsh geometry point, say) would be an unknown of no
    equation: it is dropped, and the square of two triangles solves as without it."""
    nodes = ["1 0 0 0", "2 1 0 0", "3 1 1 0", "4 0 1 0", "5 5 5 0"]
    (tmp_path / "m.msh").write_text(
        "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n5\n" + "\n".join(nodes)
        + "\n$EndNodes\n$Elements\n2\n1 2 2 1 1 1 2 3\n2 2 2 1 1 1 3 4\n$EndElements\n")
    case = tmp_path / "case.toml"
    # u = 1 solves -lap u = 0 with du/dn + u = 1, exactly in P1
    case.write_text('[mesh]\nfile = "m.msh"\n[problem]\ntype = "poisson"\nf = "0"\n'
                    '[boundary]\nrobin = { boundary = ["1", "1"] }\n[output]\nplots = false\n')
    completed = cli("run", case, "--out", tmp_path / "out")
    assert completed.status == 0, completed.stderr
    assert "4 points, 2 cells" in completed.stdout
    import numpy as np

    solution = np.load(tmp_path / "out" / "solution.npz")
    np.testing.assert_allclose(solution["u"], np.ones(4), rtol=1e-6)
