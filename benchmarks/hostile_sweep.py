"""Hostile-input sweep of the ``krylovfem`` command: every failure must be clean.

Each item writes a few files into a fresh temporary folder, runs one ``krylovfem``
command there as a separate process (``python -m krylovfem ...``, with a timeout) and
checks what the command promises for any input:

* the exit status is one of those the item allows, all of them documented
  (0, 1, 2, 3, 4, 130, 143); 70 (internal error), a timeout or a signal always fail;
* a failure prints exactly one line on stderr and never a traceback; a success
  prints nothing there;
* status 2, 3 or 4: nothing is written -- the folder holds exactly the files the item
  put there, unchanged (no record, no lock, no half-built folder beside it);
* status 0 or 1: the record is whole -- its JSON file (``summary.json``,
  ``study.json``, ``compare.json``, ``adapt.json``) reads, and nothing else is left
  beside it (no lock, no temporary folder);
* nothing in a case file is executed: the expressions that would run code leave a
  marker file if they did.

The table printed has one row per input: its name, the exit status, the number of lines
on stderr, the verdict (``ok`` or what broke) and the stderr line.  The script exits
with status 1 when any verdict fails.  The items are grouped by class (``toml``,
``type``, ``number``, ``string``, ``expr``, ``set``, ``path``, ``mesh``, ``matrix``,
``plot``, ``combo``, ``cache``, ``output``); ``--only CLASS`` runs one class, ``-k WORD`` the items
whose name contains WORD, ``--list`` names them all.

Run (each process takes one to three seconds; some solve a small case)::

    python benchmarks/hostile_sweep.py         # 212 items, about 4 minutes: every third
                                               # of each class, every path/output/cache one
    python benchmarks/hostile_sweep.py --all   # all 535, 8 to 20 minutes (machine load)
    python benchmarks/hostile_sweep.py --only expr --verbose   # the whole stderr of each

The Numba cache is the one the sources already use, so a first run compiles once.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
MARKER = Path(tempfile.gettempdir()) / "krylovfem-hostile-marker"
DOCUMENTED = {0, 1, 2, 3, 4, 130, 143}
RECORDS = ("summary.json", "study.json", "compare.json", "adapt.json")
TIMEOUT = 60.0

BASE = """\
name = "base"

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

[output]
plots = false
"""

HEAT = """\
[mesh]
domain = "unit_square"
n = 4

[problem]
type = "heat"
exact = "exp(-2*pi^2*t)*sin(pi*x)*sin(pi*y)"

[time]
t_end = 0.02
dt = 0.01
scheme = "backward_euler"
initial = "sin(pi*x)*sin(pi*y)"

[output]
plots = false
"""

CONVECTION = """\
[mesh]
domain = "unit_square"
n = 4

[problem]
type = "convection_diffusion"
kappa = "0.1"
velocity = ["1", "0.5"]
f = "1"

[output]
plots = false
"""

MATRIX = """\
[problem]
type = "matrix"

[system]
matrix = "a.mtx"

[solver]
preconditioner = "jacobi"

[output]
plots = false
"""

SPD = ("%%MatrixMarket matrix coordinate real symmetric\n3 3 5\n1 1 2\n2 1 -1\n2 2 2\n"
       "3 2 -1\n3 3 2\n")

AMG = BASE.replace('"jacobi"', '"amg"') + "\n[solver.amg]\ntheta = 0.0\n"

ADAPT = BASE + "\n[adapt]\nsteps = 2\nmax_dofs = 200\n"

ATTACK = f"__import__('os').system('touch {MARKER}')"


@dataclass(frozen=True)
class Item:
    """One hostile input: the files it writes, the command and the statuses allowed.

    ``files`` maps a name in the item's folder to its text (str), bytes, or a callable
    that makes it (given the path); ``args`` are the command's arguments with
    ``{d}`` standing for the folder.
    """

    group: str
    name: str
    args: tuple[str, ...]
    files: dict = field(default_factory=dict)
    allowed: frozenset = frozenset({2})
    env: dict = field(default_factory=dict)


ITEMS: list[Item] = []


def add(group: str, name: str, args, files=None, allowed=(2,), env=None) -> None:
    ITEMS.append(Item(group, name, tuple(args), dict(files or {}), frozenset(allowed),
                      dict(env or {})))


def case(group: str, name: str, text, command="run", extra=(), files=None,
         allowed=(2,), out=True) -> None:
    """An item that runs ``krylovfem COMMAND case.toml --out {d}/out`` on ``text``
    (without ``--out`` when ``out`` is false: the case's own folder)."""
    add(group, name, [command, "{d}/case.toml", *(("--out", "{d}/out") if out else ()),
                      *extra], {"case.toml": text, **(files or {})}, allowed)


def edit(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"{old!r} not in the base case")
    return text.replace(old, new, 1)


def set_key(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``[section] key = value`` (replacing that key if it is there)."""
    lines = text.splitlines()
    header = f"[{section}]" if section else None
    start = 0 if header is None else next((i for i, line in enumerate(lines)
                                           if line == header), None)
    if start is None:
        return text + f"\n{header}\n{key} = {value}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
               len(lines))
    for i in range(start if header is None else start + 1, end):
        if lines[i].split("=")[0].strip() == key:
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    if header is None:
        return f"{key} = {value}\n" + text
    lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# toml: malformed files
def _toml_items() -> None:
    g = "toml"
    case(g, "syntax error", edit(BASE, "n = 4", "n = = 4"))
    case(g, "unclosed string", edit(BASE, '"poisson"', '"poisson'))
    case(g, "unclosed table header", edit(BASE, "[solver]", "[solver"))
    case(g, "duplicate key", edit(BASE, "n = 4", "n = 4\nn = 5"))
    case(g, "duplicate table", BASE + "\n[mesh]\nn = 3\n")
    case(g, "invalid escape", edit(BASE, 'name = "base"', 'name = "ba\\qse"'))
    case(g, "empty file", "")
    case(g, "comment only", "# nothing\n")
    case(g, "nul bytes", "name = \"a\"\n\0\0\0\n")
    case(g, "binary", bytes(range(256)) * 8)
    case(g, "latin-1", 'name = "caf\xe9"\n'.encode("latin-1"))
    case(g, "utf-8 bom", b"\xef\xbb\xbf" + BASE.encode())
    case(g, "utf-16", BASE.encode("utf-16"))
    case(g, "arrays nested 5000 deep", BASE + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    case(g, "inline tables nested 3000 deep",
         BASE + "[output.deep]\nx = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    case(g, "dotted key 2000 deep", "a" + ".a" * 2000 + " = 1\n" + BASE)
    case(g, "integer beyond 64 bits", edit(BASE, "n = 4", "n = 99999999999999999999999"))
    case(g, "one line of 2 MB", BASE + "# " + "x" * 2_000_000 + "\n")
    case(g, "file of 60 MB", lambda p: _big_file(p), allowed=(2,))
    case(g, "section is an array of tables", BASE.replace("[solver]", "[[solver]]"))
    case(g, "section is a value", "problem = 3\n" + BASE.split("[problem]")[0])
    case(g, "crlf line ends", BASE.replace("\n", "\r\n"), allowed=(0,))
    case(g, "lone cr", BASE.replace("\n", "\r"))


def _big_file(path: Path) -> None:
    with open(path, "w") as handle:
        handle.write(BASE)
        line = "# " + "y" * 1000 + "\n"
        for _ in range(60_000):
            handle.write(line)


# --------------------------------------------------------------------------------------
# type: a wrong type at every key
KEYS = {  # (section, key) -> the case whose section it is
    ("", "name"): BASE,
    ("mesh", "domain"): BASE, ("mesh", "bounds"): BASE.replace('"unit_square"', '"rectangle"'),
    ("mesh", "n"): BASE, ("mesh", "element"): BASE, ("mesh", "file"): BASE,
    ("problem", "type"): BASE, ("problem", "kappa"): BASE, ("problem", "f"): BASE,
    ("problem", "exact"): BASE, ("problem", "reaction"): edit(BASE, '"poisson"',
                                                              '"reaction_diffusion"'),
    ("problem", "velocity"): CONVECTION,
    ("boundary", "dirichlet"): BASE, ("boundary", "neumann"): BASE,
    ("boundary", "robin"): BASE,
    ("time", "t_end"): HEAT, ("time", "dt"): HEAT, ("time", "scheme"): HEAT,
    ("time", "initial"): HEAT,
    ("solver", "method"): BASE, ("solver", "preconditioner"): BASE, ("solver", "rtol"): BASE,
    ("solver", "atol"): BASE, ("solver", "maxiter"): BASE, ("solver", "restart"): BASE,
    ("solver.amg", "theta"): AMG, ("solver.amg", "sweeps"): AMG,
    ("solver.amg", "max_coarse"): AMG, ("solver.amg", "max_levels"): AMG,
    ("adapt", "steps"): ADAPT, ("adapt", "marking"): ADAPT, ("adapt", "theta"): ADAPT,
    ("adapt", "target"): ADAPT, ("adapt", "max_dofs"): ADAPT,
    ("output", "dir"): BASE, ("output", "plots"): BASE, ("output", "save_system"): BASE,
    ("system", "matrix"): MATRIX, ("system", "rhs"): MATRIX,
}
STRINGS = {("", "name"), ("mesh", "domain"), ("mesh", "element"), ("mesh", "file"),
           ("problem", "type"), ("problem", "kappa"), ("problem", "f"), ("problem", "exact"),
           ("problem", "reaction"), ("time", "scheme"), ("time", "initial"),
           ("solver", "method"), ("solver", "preconditioner"), ("adapt", "marking"),
           ("output", "dir"), ("system", "matrix"), ("system", "rhs")}

EXPRESSION_KEYS = {("problem", "kappa"), ("problem", "f"), ("problem", "exact"),
                   ("problem", "reaction"), ("time", "initial")}


def _command(section: str) -> str:
    return "adapt" if section == "adapt" else "run"


def _type_items() -> None:
    g = "type"
    for (section, key), text in KEYS.items():
        where = f"{section or 'top'}.{key}"
        files = {"a.mtx": SPD} if text is MATRIX else None
        wrong = ["true", "{ a = 1 }"]
        if section in {"mesh", "solver"}:
            wrong.append("1979-05-27T07:32:00Z")
        if (section, key) in STRINGS or (section, key) in {("boundary", "dirichlet")}:
            wrong.append("42")
        else:
            wrong.append('"1"')
        for value in wrong:
            # an expression may be a plain number
            allowed = (0,) if value == "42" and (section, key) in EXPRESSION_KEYS else (2,)
            if value == "true" and key in {"plots", "save_system"}:
                allowed = (0,)
            case(g, f"{where} = {value}", set_key(text, section, key, value), _command(section),
                 files=files, allowed=allowed)


# --------------------------------------------------------------------------------------
# number: huge, negative, NaN, inf, zero
NUMBERS = {
    ("mesh", "n"): ["0", "-1", "100001", "9223372036854775807", "1.5", "inf", "nan"],
    ("solver", "rtol"): ["-1.0", "1.0", "nan", "inf", "-inf", "1e400", "0.0"],
    ("solver", "atol"): ["-1.0", "nan", "inf"],
    ("solver", "maxiter"): ["0", "-5", "9223372036854775807", "10000000"],
    ("solver", "restart"): ["0", "-1", "100000"],
    ("time", "t_end"): ["0.0", "-1.0", "nan", "inf", "1e308"],
    ("time", "dt"): ["0.0", "nan", "1e-300", "5e-324", "inf", "0.03", "0.015"],
    ("solver.amg", "theta"): ["-0.5", "1.0", "nan", "inf"],
    ("solver.amg", "sweeps"): ["0", "-1", "1000000000", "100000000000000000000"],
    ("solver.amg", "max_levels"): ["0", "-1", "1", "100000000000000000000"],
    ("solver.amg", "max_coarse"): ["0", "-1", "100000000000000000000"],
    ("adapt", "steps"): ["0", "-1", "9223372036854775807", "100000000000000000000"],
    ("adapt", "theta"): ["0.0", "-0.1", "1.5", "nan"],
    ("adapt", "target"): ["0.0", "-1.0", "nan", "inf", "1e300"],
    ("adapt", "max_dofs"): ["0", "-1", "5", "100000000000000000000"],
}
# values that are allowed and must run to a record (status 0 or 1)
VALID_NUMBERS = {("solver", "rtol", "0.0"): (2,), ("solver.amg", "max_levels", "1"): (0, 1),
                 ("adapt", "target", "1e300"): (0, 1), ("time", "dt", "0.015"): (0,),
                 ("solver", "maxiter", "10000000"): (0,),
                 ("solver.amg", "max_levels", "100000000000000000000"): (0,),
                 ("solver.amg", "max_coarse", "100000000000000000000"): (0,),
                 ("adapt", "steps", "9223372036854775807"): (0,),
                 ("adapt", "steps", "100000000000000000000"): (0,),
                 ("adapt", "max_dofs", "100000000000000000000"): (0,)}


def _number_items() -> None:
    g = "number"
    for (section, key), values in NUMBERS.items():
        text = KEYS[(section, key)]
        for value in values:
            allowed = VALID_NUMBERS.get((section, key, value), (2,))
            case(g, f"{section}.{key} = {value}", set_key(text, section, key, value),
                 _command(section), allowed=allowed)
    case(g, "bounds with nan", BASE.replace('"unit_square"', '"rectangle"').replace(
        "n = 4", "n = 4\nbounds = [0.0, nan, 0.0, 1.0]"))
    case(g, "bounds with inf", BASE.replace('"unit_square"', '"rectangle"').replace(
        "n = 4", "n = 4\nbounds = [0.0, inf, 0.0, 1.0]"))
    case(g, "bounds 1e308 wide", BASE.replace('"unit_square"', '"rectangle"').replace(
        "n = 4", "n = 1\nbounds = [-1e308, 1e308, 0.0, 1.0]"))
    case(g, "bounds of length 3", BASE.replace('"unit_square"', '"rectangle"').replace(
        "n = 4", "n = 4\nbounds = [0.0, 1.0, 2.0]"))
    case(g, "bounds of strings", BASE.replace('"unit_square"', '"interval"').replace(
        "n = 4", 'n = 4\nbounds = ["0", "1"]'))
    case(g, "bounds equal", BASE.replace('"unit_square"', '"interval"').replace(
        "n = 4", "n = 4\nbounds = [1.0, 1.0]"))
    case(g, "interval of 4e6 cells", BASE.replace('"unit_square"', '"interval"').replace(
        "n = 4", "n = 100000\nbounds = [0.0, 1000.0]"))
    case(g, "maxiter 1 does not converge", set_key(BASE, "solver", "maxiter", "1"),
         allowed=(1,))
    case(g, "heat with maxiter 1", set_key(HEAT, "solver", "maxiter", "1"), allowed=(1,))


# --------------------------------------------------------------------------------------
# string: empty, unicode, long, odd characters
def _string_items() -> None:
    g = "string"
    for label, value in [("empty", '""'), ("blank", '"   "'), ("slash", '"a/b"'),
                         ("dot dot", '".."'), ("dot", '"."'), ("newline", '"a\\nb"'),
                         ("nul", '"a\\u0000b"'), ("unicode", '"Ωmega-φ"'),
                         ("10000 characters", '"' + "n" * 10000 + '"'),
                         ("emoji", '"\U0001F600"'), ("control", '"\\u001b[31mred"')]:
        ok = (0,) if label in {"unicode", "emoji"} else (2,)
        case(g, f"name {label}", set_key(BASE, "", "name", value), allowed=ok)
    for key in ("domain", "element"):
        case(g, f"mesh.{key} empty", set_key(BASE, "mesh", key, '""'))
        case(g, f"mesh.{key} unicode", set_key(BASE, "mesh", key, '"P\u00b9"'))
    case(g, "problem.type empty", set_key(BASE, "problem", "type", '""'))
    case(g, "problem.type upper case", set_key(BASE, "problem", "type", '"POISSON"'))
    case(g, "solver.method 10000 characters",
         set_key(BASE, "solver", "method", '"' + "c" * 10000 + '"'))
    case(g, "output.dir empty", set_key(BASE, "output", "dir", '""'), out=False)
    case(g, "output.dir with nul", set_key(BASE, "output", "dir", '"a\\u0000b"'), out=False)
    case(g, "output.dir absolute /proc", set_key(BASE, "output", "dir", '"/proc/kf"'),
         out=False, allowed=(2, 3))
    case(g, "mesh.file empty", edit(BASE, 'domain = "unit_square"\nn = 4', 'file = ""'))
    case(g, "system.matrix empty", set_key(MATRIX, "system", "matrix", '""'))
    case(g, "boundary part empty name", BASE + '\n[boundary]\ndirichlet = { "" = "0" }\n')
    case(g, "boundary part unicode", BASE + '\n[boundary]\ndirichlet = { "ŀeft" = "0" }\n')


# --------------------------------------------------------------------------------------
# expr: the expression language
EXPRESSIONS = {
    "unknown name": "q + x",
    "attribute access": "x.real",
    "dunder class": "x.__class__",
    "dunder import": ATTACK,
    "eval call": f"eval(\"{ATTACK}\")",
    "getattr": "getattr(x, 'y')",
    "lambda": "(lambda: 1)()",
    "comprehension": "[x for x in (1, 2)]",
    "generator": "sum(i for i in range(9))",
    "subscript": "x[0]",
    "walrus": "(a := 1)",
    "conditional": "1 if x else 2",
    "comparison": "x < 1",
    "boolean": "x and y",
    "string literal": "'abc'",
    "f-string": "f'{x}'",
    "bytes": "b'x'",
    "complex literal": "1j",
    "matmul": "x @ y",
    "floor division": "x // 2",
    "modulo": "x % 2",
    "bit shift": "1 << 4",
    "invert": "~x",
    "starred": "max(*x)",
    "keyword argument": "sin(x=1)",
    "huge power tower": "2^2^2^2^2^2",
    "10^10^10": "10^10^10",
    "huge literal": "1e999",
    "big integer literal": "9" * 400,
    "division by zero": "1/0",
    "zero over zero": "0/0",
    "division by x - x": "1/(x - x)",
    "wrong arity sin": "sin(x, y)",
    "wrong arity atan2": "atan2(x)",
    "min of one": "min(x)",
    "max of none": "max()",
    "sqrt of negative": "sqrt(-1 - x)",
    "log of zero": "log(0*x)",
    "arcsin outside": "arcsin(2 + x)",
    "negative to fractional power": "(-8 - x)^(1/3)",
    "exp overflow": "exp(exp(exp(10)))",
    "nested 3000 parentheses": "(" * 3000 + "x" + ")" * 3000,
    "100k characters": "+".join(["x"] * 50_000),
    "empty": "",
    "blank": "   ",
    "trailing operator": "x +",
    "implicit product": "2 x",
    "empty call": "sin()",
    "call a variable": "x(2)",
    "call a constant": "pi(1)",
    "function as value": "sin + 1",
    "unicode pi": "π*x",
    "fullwidth digits": "\uff11 + x",
    "nan name": "nan",
    "inf name": "inf",
    "True": "True",
    "None": "None",
    "ellipsis": "...",
    "semicolon": "x; 1",
    "newline": "x\\n+ 1",
    "hex literal": "0x10",
    "underscore literal": "1_000",
    "double star double": "x ** ** 2",
    "unary chain": "-" * 5000 + "x",
}


def _expr_items() -> None:
    g = "expr"
    for label, expression in EXPRESSIONS.items():
        value = json.dumps(expression).replace("\\\\n", "\\n")
        case(g, f"f = {label}", set_key(BASE, "problem", "f", value),
             allowed=(0, 1, 2) if label in {"underscore literal", "hex literal"} else (2,))
    case(g, "exact uses y in 1D", BASE.replace('"unit_square"', '"interval"'))
    case(g, "kappa uses t in heat", set_key(HEAT, "problem", "kappa", '"1 + t"'))
    case(g, "kappa negative", set_key(BASE, "problem", "kappa", '"-1"'), allowed=(1, 2))
    case(g, "kappa zero", set_key(BASE, "problem", "kappa", '"0"'), allowed=(1, 2))
    case(g, "kappa nan at a point", set_key(BASE, "problem", "kappa", '"1/(x - 0.5)"'))
    case(g, "dirichlet nan", BASE + '\n[boundary]\ndirichlet = { boundary = "log(x - 1)" }\n')
    case(g, "neumann overflow", BASE + '\n[boundary]\nneumann = { top = "exp(1e4*x)" }\n')
    case(g, "robin with three", BASE + '\n[boundary]\nrobin = { top = ["1", "0", "2"] }\n')
    case(g, "robin of numbers", BASE + '\n[boundary]\nrobin = { top = [1, 0] }\n',
         allowed=(0, 2))
    case(g, "velocity of three in 2D", set_key(CONVECTION, "problem", "velocity",
                                               '["1", "0", "0"]'))
    case(g, "velocity empty", set_key(CONVECTION, "problem", "velocity", "[]"))
    case(g, "velocity nan", set_key(CONVECTION, "problem", "velocity", '["0/0", "1"]'))
    case(g, "velocity huge", set_key(CONVECTION, "problem", "velocity", '["1e300", "1"]'),
         allowed=(1, 2))
    case(g, "initial attack", set_key(HEAT, "time", "initial", json.dumps(ATTACK)))
    case(g, "exact with t in poisson", set_key(BASE, "problem", "exact", '"t*x"'))
    case(g, "reaction huge", set_key(KEYS[("problem", "reaction")], "problem", "reaction",
                                     '"1e308"'), allowed=(1, 2))
    case(g, "f a number", set_key(BASE, "problem", "f", "1"), allowed=(0,))
    case(g, "f a huge number", set_key(BASE, "problem", "f", "1e308"), allowed=(1, 2))
    case(g, "f huge power of x", set_key(BASE, "problem", "f", '"x^1e308 + 1"'), allowed=(0,))


# --------------------------------------------------------------------------------------
# set: overrides on the command line
def _set_items() -> None:
    g = "set"
    for label, override in [("no equals", "meshn4"), ("empty key", "=4"), ("dot key", ".n=4"),
                            ("empty section key", "mesh.=4"), ("double dot", "mesh..n=4"),
                            ("too deep", "mesh.n.x=4"), ("section as value", "mesh=4"),
                            ("empty value", "mesh.n="), ("open bracket", "mesh.n=["),
                            ("open brace", "mesh.n={"), ("unknown deep", "a.b.c.d=1"),
                            ("amg theta", "solver.amg.theta=nan"),
                            ("unicode key", "mesh.ñ=4"), ("space key", "mesh. n=four"),
                            ("attack", "problem.f=" + ATTACK),
                            ("nested 5000", "problem.f=" + "[" * 5000 + "]" * 5000),
                            ("datetime", "solver.rtol=1979-05-27"),
                            ("empty", ""), ("only equals", "="),
                            ("table value", "solver={method='gmrs'}"),
                            ("name empty", "name="),
                            ("boundary string", "boundary.dirichlet=left")]:
        case(g, f"--set {label}", BASE, extra=("--set", override))
    case(g, "--set valid n twice", BASE, extra=("--set", "mesh.n=3", "--set", "mesh.n=2"),
         allowed=(0,))
    case(g, "--set valid expression", BASE, extra=("--set", "problem.f=sin(pi*x)"),
         allowed=(0,))


# --------------------------------------------------------------------------------------
# path: files that are not what they seem
def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _loop(path: Path) -> None:
    os.symlink(path.name, path)


def _unreadable(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(text)
        path.chmod(0)

    return make


def _dev(target: str) -> Callable[[Path], None]:
    return lambda path: os.symlink(target, path)


def _path_items() -> None:
    g = "path"
    add(g, "case missing", ["run", "{d}/absent.toml", "--out", "{d}/out"])
    add(g, "case is a directory", ["run", "{d}", "--out", "{d}/out"])
    add(g, "case is a fifo", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": _fifo})
    add(g, "case is /dev/zero", ["run", "/dev/zero", "--out", "{d}/out"])
    add(g, "case is /dev/null", ["run", "/dev/null", "--out", "{d}/out"])
    add(g, "case is /dev/urandom", ["run", "/dev/urandom", "--out", "{d}/out"])
    add(g, "case unreadable", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": _unreadable(BASE)}, allowed=(2, 3) if os.geteuid() else (0,))
    add(g, "case symlink loop", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": _loop})
    add(g, "case path too long", ["run", "{d}/" + "c" * 300 + ".toml", "--out", "{d}/out"],
        allowed=(2, 3))
    add(g, "case is the --out", ["run", "{d}/case.toml", "--out", "{d}/case.toml"],
        {"case.toml": BASE})
    add(g, "--out is the case's folder", ["run", "{d}/case.toml", "--out", "{d}"],
        {"case.toml": BASE})
    add(g, "--out is /", ["run", "{d}/case.toml", "--out", "/"], {"case.toml": BASE})
    add(g, "--out in /proc", ["run", "{d}/case.toml", "--out", "/proc/krylovfem"],
        {"case.toml": BASE}, allowed=(2, 3))
    add(g, "--out is /dev/null", ["run", "{d}/case.toml", "--out", "/dev/null"],
        {"case.toml": BASE}, allowed=(2, 3))
    add(g, "--out name too long", ["run", "{d}/case.toml", "--out", "{d}/" + "o" * 300],
        {"case.toml": BASE}, allowed=(2, 3))
    add(g, "--out empty", ["run", "{d}/case.toml", "--out", ""], {"case.toml": BASE})
    add(g, "--out symlink loop", ["run", "{d}/case.toml", "--out", "{d}/loop"],
        {"case.toml": BASE, "loop": _loop}, allowed=(2, 3))
    for what, maker in [("missing", None), ("a directory", "dir"), ("a fifo", _fifo),
                        ("/dev/zero", _dev("/dev/zero")), ("/dev/null", _dev("/dev/null")),
                        ("a symlink loop", _loop)]:
        mesh_files = {} if maker is None else {"m.msh": (lambda p: p.mkdir()) if maker == "dir"
                                                else maker}
        case(g, f"mesh file {what}", edit(BASE, 'domain = "unit_square"\nn = 4',
                                          'file = "m.msh"'), files=mesh_files)
        matrix_files = {} if maker is None else {"a.mtx": (lambda p: p.mkdir()) if maker == "dir"
                                                 else maker}
        case(g, f"matrix file {what}", MATRIX, files=matrix_files)
    case(g, "rhs is /dev/zero", set_key(MATRIX, "system", "rhs", '"b.mtx"'),
         files={"a.mtx": SPD, "b.mtx": _dev("/dev/zero")})
    case(g, "mesh file unreadable", edit(BASE, 'domain = "unit_square"\nn = 4',
                                         'file = "m.msh"'),
         files={"m.msh": _unreadable("x")})


# --------------------------------------------------------------------------------------
# mesh: mesh files
MSH_HEAD = "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n"


def _msh(nodes: list[tuple], elements: list[tuple]) -> str:
    lines = [MSH_HEAD.rstrip(), "$Nodes", str(len(nodes))]
    lines += [" ".join(map(str, (i + 1, *xyz))) for i, xyz in enumerate(nodes)]
    lines += ["$EndNodes", "$Elements", str(len(elements))]
    lines += [" ".join(map(str, (i + 1, kind, 2, 1, 1, *cell)))
              for i, (kind, cell) in enumerate(elements)]
    lines += ["$EndElements", ""]
    return "\n".join(lines)


SQUARE = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]


def _mesh_items() -> None:
    g = "mesh"
    mesh_case = edit(BASE, 'domain = "unit_square"\nn = 4', 'file = "m.msh"')
    mesh_case = mesh_case.replace('exact = "sin(pi*x)*sin(pi*y)"\n', "")
    for label, content, allowed in [
        ("garbage", "this is not a mesh\n", (2,)),
        ("empty", "", (2,)),
        ("binary", bytes(range(256)) * 16, (2,)),
        ("header only", MSH_HEAD, (2,)),
        ("no cells", _msh(SQUARE, []), (2,)),
        ("only lines", _msh(SQUARE, [(1, (1, 2)), (1, (2, 3))]), (0, 2)),
        ("only points", _msh(SQUARE, [(15, (1,))]), (2,)),
        ("quadrilateral", _msh(SQUARE, [(3, (1, 2, 3, 4))]), (2,)),
        ("tetrahedron", _msh([*SQUARE, (0, 0, 1)], [(4, (1, 2, 3, 5))]), (2,)),
        ("degenerate triangle", _msh(SQUARE, [(2, (1, 2, 3)), (2, (1, 1, 2))]), (2,)),
        ("collinear triangle", _msh([(0, 0, 0), (1, 0, 0), (2, 0, 0)], [(2, (1, 2, 3))]), (2,)),
        ("tiny triangle", _msh([(0, 0, 0), (1e-300, 0, 0), (0, 1e-300, 0)],
                               [(2, (1, 2, 3))]), (2,)),
        ("node index out of range", _msh(SQUARE, [(2, (1, 2, 9))]), (2,)),
        ("node index zero", _msh(SQUARE, [(2, (0, 1, 2))]), (2,)),
        ("nan coordinate", _msh([(0, 0, 0), ("nan", 0, 0), (0, 1, 0)], [(2, (1, 2, 3))]), (2,)),
        ("inf coordinate", _msh([(0, 0, 0), ("inf", 0, 0), (0, 1, 0)], [(2, (1, 2, 3))]), (2,)),
        ("3D coordinates", _msh([(0, 0, 0), (1, 0, 1), (0, 1, 0)], [(2, (1, 2, 3))]), (2,)),
        ("truncated", _msh(SQUARE, [(2, (1, 2, 3)), (2, (1, 3, 4))])[:120], (2,)),
        ("huge node count", MSH_HEAD + "$Nodes\n999999999999\n1 0 0 0\n$EndNodes\n", (2,)),
        ("one good triangle", _msh([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [(2, (1, 2, 3))]),
         (2,)),
        ("clockwise triangles", _msh(SQUARE, [(2, (1, 3, 2)), (2, (1, 4, 3))]), (2,)),
        ("unused nodes", _msh([*SQUARE, (5, 5, 0)], [(2, (1, 2, 3)), (2, (1, 3, 4))]), (2,)),
    ]:
        case(g, f"msh {label}", mesh_case, files={"m.msh": content}, allowed=allowed)
    case(g, "msh unused node, robin",
         mesh_case + '\n[boundary]\nrobin = { boundary = ["1", "1"] }\n',
         files={"m.msh": _msh([*SQUARE, (5, 5, 0)], [(2, (1, 2, 3)), (2, (1, 3, 4))])},
         allowed=(0,))
    case(g, "vtu garbage", mesh_case.replace("m.msh", "m.vtu"),
         files={"m.vtu": "<VTKFile><garbage"})
    case(g, "unknown extension", mesh_case.replace("m.msh", "m.xyz"), files={"m.xyz": "1 2 3"})
    case(g, "no extension", mesh_case.replace("m.msh", "m"), files={"m": "1 2 3"})
    case(g, "mesh file and domain", edit(BASE, "n = 4", 'n = 4\nfile = "m.msh"'),
         files={"m.msh": _msh(SQUARE, [(2, (1, 2, 3))])})
    case(g, "physical part unknown", mesh_case + '\n[boundary]\ndirichlet = { left = "0" }\n',
         files={"m.msh": _msh(SQUARE, [(2, (1, 2, 3)), (2, (1, 3, 4))])})


# --------------------------------------------------------------------------------------
# matrix: Matrix Market and Harwell-Boeing files
MM = "%%MatrixMarket matrix coordinate real general\n"


def _bomb(path: Path) -> None:
    header = MM + "2 2 2\n1 1 1\n2 2 1\n%"
    path.write_bytes(gzip.compress(header.encode() + b" " * 50_000_000, 9))


def _matrix_items() -> None:
    g = "matrix"
    for label, name, content, allowed in [
        ("garbage", "a.mtx", "hello\n", (2,)),
        ("empty", "a.mtx", "", (2,)),
        ("binary", "a.mtx", bytes(range(256)) * 16, (2,)),
        ("header only", "a.mtx", MM, (2,)),
        ("non-square", "a.mtx", MM + "2 3 2\n1 1 1\n2 2 1\n", (2,)),
        ("complex", "a.mtx", "%%MatrixMarket matrix coordinate complex hermitian\n"
                             "2 2 2\n1 1 2 0\n2 2 2 0\n", (0, 2)),
        ("pattern", "a.mtx", "%%MatrixMarket matrix coordinate pattern symmetric\n"
                             "2 2 2\n1 1\n2 2\n", (0, 2)),
        ("huge sizes", "a.mtx", MM + "1000000000000 1000000000000 1\n1 1 1\n", (2, 4)),
        ("huge nnz", "a.mtx", MM + "2 2 1000000000000\n1 1 1\n", (2,)),
        ("negative sizes", "a.mtx", MM + "-2 -2 1\n1 1 1\n", (2,)),
        ("index zero", "a.mtx", MM + "2 2 2\n0 0 1\n2 2 1\n", (2,)),
        ("index beyond", "a.mtx", MM + "2 2 2\n1 1 1\n3 3 1\n", (2,)),
        ("fewer entries", "a.mtx", MM + "2 2 3\n1 1 1\n2 2 1\n", (2,)),
        ("more entries", "a.mtx", MM + "2 2 1\n1 1 1\n2 2 1\n", (2,)),
        ("letters as values", "a.mtx", MM + "2 2 2\n1 1 a\n2 2 1\n", (2,)),
        ("inf value", "a.mtx", MM + "2 2 2\n1 1 inf\n2 2 1\n", (2,)),
        ("array format", "a.mtx", "%%MatrixMarket matrix array real general\n2 2\n1\n0\n0\n1\n",
         (0, 2)),
        ("unknown format", "a.mtx", "%%MatrixMarket matrix weird real general\n2 2 2\n", (2,)),
        ("vector object", "a.mtx", "%%MatrixMarket vector coordinate real general\n2 2\n", (2,)),
        ("singular (zero row)", "a.mtx", MM + "2 2 1\n1 1 1\n", (1, 2)),
        ("indefinite with cg", "a.mtx", MM + "2 2 2\n1 1 1\n2 2 -1\n", (1, 2)),
        ("integer entries", "a.mtx", "%%MatrixMarket matrix coordinate integer general\n"
                                     "2 2 2\n1 1 2\n2 2 3\n", (0,)),
        ("skew-symmetric", "a.mtx", "%%MatrixMarket matrix coordinate real skew-symmetric\n"
                                    "2 2 1\n2 1 1\n", (1, 2)),
        ("gz garbage", "a.mtx.gz", b"\x1f\x8b\x08\x00garbage", (2,)),
        ("gz bomb 50 MB", "a.mtx.gz", _bomb, (2,)),
        ("harwell-boeing garbage", "a.rb", "not a harwell boeing file\n", (2,)),
        ("harwell-boeing empty", "a.hb", "", (2,)),
        ("unknown extension", "a.xyz", "1 2 3\n", (2,)),
        ("1x1", "a.mtx", MM + "1 1 1\n1 1 4\n", (0,)),
    ]:
        text = MATRIX.replace("a.mtx", name)
        case(g, f"matrix {label}", text, files={name: content}, allowed=allowed)
    for label, content in [("garbage", "xyz"), ("wrong length", "%%MatrixMarket matrix array "
                                                                "real general\n2 1\n1\n2\n"),
                           ("nan", "%%MatrixMarket matrix array real general\n3 1\n1\nnan\n2\n"),
                           ("complex", "%%MatrixMarket matrix array complex general\n3 1\n"
                                       "1 1\n2 0\n3 0\n"),
                           ("matrix as rhs", "%%MatrixMarket matrix array real general\n3 3\n"
                                             + "1\n" * 9)]:
        case(g, f"rhs {label}", set_key(MATRIX, "system", "rhs", '"b.mtx"'),
             files={"a.mtx": SPD, "b.mtx": content},
             allowed=(0, 2) if label == "complex" else (2,))


# --------------------------------------------------------------------------------------
# plot: records that are not
SUMMARY = {"schema_version": 1, "solve": {"residual_norms": [1.0, 0.1, 0.01]}}


def _plot_items() -> None:
    g = "plot"
    plot = ["plot", "{d}/run", "-o", "{d}/fig.png"]
    for label, content in [("empty summary", ""), ("not json", "{nope"),
                           ("json array", "[1, 2, 3]"), ("json string", '"x"'),
                           ("json null", "null"), ("empty object", "{}"),
                           ("solve a list", json.dumps({"solve": [1]})),
                           ("history of strings", json.dumps(
                               {"solve": {"residual_norms": ["a", "b"]}})),
                           ("history nan", '{"solve": {"residual_norms": [NaN, Infinity]}}'),
                           ("history empty", json.dumps({"solve": {"residual_norms": []}})),
                           ("history nested", json.dumps({"solve": {"residual_norms": [[1]]}})),
                           ("history negative", json.dumps(
                               {"solve": {"residual_norms": [-1.0, 0.0]}})),
                           ("deep json", "[" * 100_000 + "]" * 100_000),
                           ("binary", bytes(range(256))),
                           ("schema 99", json.dumps({**SUMMARY, "schema_version": 99})),
                           ("huge number", '{"solve": {"residual_norms": [1e999]}}')]:
        add(g, f"plot {label}", plot, {"run/summary.json": content}, allowed=(0, 2))
    add(g, "plot compare.json garbage", ["plot", "{d}/compare.json", "-o", "{d}/fig.png"],
        {"compare.json": '{"solves": 3}'}, allowed=(0, 2))
    add(g, "plot directory missing", plot)
    add(g, "plot -o not png", ["plot", "{d}/run", "-o", "{d}/fig.pdf"],
        {"run/summary.json": json.dumps(SUMMARY)})
    add(g, "plot -o is a directory", ["plot", "{d}/run", "-o", "{d}/fig.png"],
        {"run/summary.json": json.dumps(SUMMARY), "fig.png": lambda p: p.mkdir()},
        allowed=(2, 3))
    add(g, "plot -o under a file", ["plot", "{d}/run", "-o", "{d}/blocker/fig.png"],
        {"run/summary.json": json.dumps(SUMMARY), "blocker": ""}, allowed=(2, 3))
    add(g, "plot record is /dev/zero", ["plot", "/dev/zero", "-o", "{d}/fig.png"])
    add(g, "plot record is a fifo", ["plot", "{d}/fifo.json", "-o", "{d}/fig.png"],
        {"fifo.json": _fifo})
    add(g, "plot no records", ["plot", "-o", "{d}/fig.png"])


# --------------------------------------------------------------------------------------
# combo: commands and options that do not go together
def _combo_items() -> None:
    g = "combo"
    spd = {"a.mtx": SPD}
    case(g, "compare on heat", HEAT, "compare")
    case(g, "adapt on matrix", MATRIX, "adapt", files=spd)
    case(g, "adapt on heat", HEAT, "adapt")
    case(g, "study on matrix", MATRIX, "study", ("--levels", "2"), files=spd)
    case(g, "study levels 40", BASE, "study", ("--levels", "40"))
    case(g, "study levels huge", BASE, "study", ("--levels", "99999999999999999999"))
    case(g, "study levels -1", BASE, "study", ("--levels", "-1"))
    case(g, "study levels 2.5", BASE, "study", ("--levels", "2.5"))
    case(g, "study heat levels 12", HEAT, "study", ("--levels", "12"))
    case(g, "study without exact", BASE.replace('exact = "sin(pi*x)*sin(pi*y)"\n', ""),
         "study", ("--levels", "2"))
    case(g, "study 2 levels", BASE, "study", ("--levels", "2"), allowed=(0,))
    for solvers in ["", ",", "cg", "cg:", ":jacobi", "cg:jacobi:x", "cg:jacobi,,gmres:none",
                    "CG:JACOBI", "cg:amg," * 200, "gmres:ic0"]:
        case(g, f"compare --solvers {solvers[:24]!r}", BASE, "compare", ("--solvers", solvers),
             allowed=(0, 1, 2) if solvers in {"CG:JACOBI", "gmres:ic0"}
             else (0,) if solvers in {"cg", "cg:"} else (2,))
    case(g, "compare cg:jacobi", BASE, "compare", ("--solvers", "cg:jacobi"), allowed=(0,))
    for option, value in [("--theta", "0"), ("--theta", "2"), ("--theta", "nan"),
                          ("--theta", "inf"), ("--steps", "0"), ("--steps", "-1"),
                          ("--steps", "x"), ("--max-dofs", "1"), ("--max-dofs", "-1"),
                          ("--target", "-1"), ("--target", "nan"), ("--marking", "best")]:
        case(g, f"adapt {option} {value}", BASE, "adapt", (option, value))
    case(g, "adapt 2 steps", BASE, "adapt", ("--steps", "2"), allowed=(0,))
    case(g, "--monitor 0", BASE, "run", ("--monitor", "0"))
    case(g, "--monitor x", BASE, "run", ("--monitor", "x"))
    case(g, "amg options without amg", BASE + "\n[solver.amg]\ntheta = 0.1\n")
    case(g, "amg on heat", HEAT.replace("[output]", '[solver]\npreconditioner = "amg"\n'
                                        "[solver.amg]\ntheta = 0.1\n[output]"))
    case(g, "save_system on heat", set_key(HEAT, "output", "save_system", "true"))
    case(g, "ic0 on convection with cg", set_key(CONVECTION, "solver", "method", '"cg"'),
         allowed=(0, 1))
    add(g, "no command", [])
    add(g, "unknown command", ["solve", "x.toml"])
    add(g, "plot with --set", ["plot", "{d}/run", "-o", "{d}/f.png", "--set", "a=1"])


# --------------------------------------------------------------------------------------
# cache: a Numba cache that cannot be used must not stop a run (one CacheWarning line)
def _cache_items() -> None:
    g = "cache"
    run = ["run", "{d}/case.toml", "--out", "{d}/out"]
    add(g, "NUMBA_CACHE_DIR is a file", run, {"case.toml": BASE, "cachefile": "x"},
        allowed=(0,), env={"NUMBA_CACHE_DIR": "{d}/cachefile"})
    add(g, "NUMBA_CACHE_DIR is /dev/null", run, {"case.toml": BASE}, allowed=(0,),
        env={"NUMBA_CACHE_DIR": "/dev/null"})


# --------------------------------------------------------------------------------------
# output: folders that cannot take the record
def _readonly_dir(path: Path) -> None:
    path.mkdir()
    path.chmod(stat.S_IRUSR | stat.S_IXUSR)


def _output_items() -> None:
    g = "output"
    case(g, "file in place of the folder", BASE, files={"out": "precious"})
    case(g, "file in place of the parent", BASE.replace("[output]", '[output]\ndir = "f/out"'),
         files={"f": "precious"}, out=False)
    add(g, "--out under a file", ["run", "{d}/case.toml", "--out", "{d}/f/out"],
        {"case.toml": BASE, "f": "precious"})
    add(g, "folder of other files", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": BASE, "out/notes.txt": "mine"}, allowed=(2, 3))
    add(g, "read-only parent", ["run", "{d}/case.toml", "--out", "{d}/ro/out"],
        {"case.toml": BASE, "ro": _readonly_dir}, allowed=(3,) if os.geteuid() else (0,))
    add(g, "stale lock file", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": BASE, ".out.lock": ""}, allowed=(0, 3))
    add(g, "earlier record with junk", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": BASE, "out/summary.json": "{}", "out/extra.bin": "x"}, allowed=(2, 3))
    add(g, "summary.json is a directory", ["run", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": BASE, "out/summary.json": lambda p: p.mkdir()}, allowed=(2, 3))
    add(g, "study folder is a file", ["study", "{d}/case.toml", "--levels", "2",
                                      "--out", "{d}/out"],
        {"case.toml": BASE, "out": "precious"})
    add(g, "adapt folder is a file", ["adapt", "{d}/case.toml", "--steps", "1",
                                      "--out", "{d}/out"],
        {"case.toml": BASE, "out": "precious"})
    add(g, "compare folder is a file", ["compare", "{d}/case.toml", "--out", "{d}/out"],
        {"case.toml": BASE, "out": "precious"})
    add(g, "default folder under a file", ["run", "{d}/case.toml"],
        {"case.toml": BASE, "results": "precious"})


# --------------------------------------------------------------------------------------
# running and checking
def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` and the bytes of each regular file (None otherwise)."""
    found = {}
    for directory, names, files in os.walk(root, followlinks=False):
        for name in names + files:
            path = Path(directory) / name
            key = str(path.relative_to(root))
            try:
                found[key] = (path.read_bytes() if path.is_file() and not path.is_symlink()
                              and path.stat().st_size < 10_000_000 else None)
            except OSError:
                found[key] = None
    return found


def _make(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _record_whole(before: dict, after: dict) -> str | None:
    """None if the new paths are one record folder, whose JSON reads; else what is wrong."""
    new = sorted(set(after) - set(before))
    tops = {Path(path).parts[0] for path in new}
    stale = [path for path in new if ".lock" in path or ".tmp" in path or "partial" in path]
    if stale:
        return f"left behind: {stale[0]}"
    records = [path for path in new if Path(path).name in RECORDS]
    if not records:
        return "no record written"
    for record in records:
        try:
            json.loads(after[record] or b"")
        except ValueError:
            return f"{record} does not read"
    if len(tops) > 1 and not all(top in ("out", "results", "fig.png") for top in tops):
        return f"more than the record written: {sorted(tops)}"
    return None


def check(item: Item, folder: Path, completed, before: dict, elapsed: float) -> str:
    """The verdict on one item: 'ok' or what broke."""
    if completed is None:
        return f"timeout after {elapsed:.0f} s"
    status, stderr = completed.returncode, completed.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    if MARKER.exists():
        MARKER.unlink()
        return "EXECUTED code from the input"
    if status < 0:
        return f"killed by signal {-status}"
    if status not in DOCUMENTED:
        return f"undocumented status {status}"
    if "Traceback" in stderr:
        return "traceback on stderr"
    if status != 0 and len(lines) != 1:
        return f"{len(lines)} lines on stderr"
    cache_warning = item.group == "cache" and len(lines) == 1 and "CacheWarning" in lines[0]
    if status == 0 and lines and not cache_warning:
        return f"success with {len(lines)} lines on stderr"
    if status not in item.allowed:
        return f"status {status}, expected {'/'.join(map(str, sorted(item.allowed)))}"
    after = snapshot(folder)
    if status in (2, 3, 4):
        if after != before:
            changed = sorted(set(after) ^ set(before)) or [
                key for key in after if after[key] != before.get(key)]
            return f"wrote on failure: {changed[:3]}"
    elif item.args and item.args[0] != "plot":
        problem = _record_whole(before, after)
        if problem:
            return problem
    return "ok"


def run_item(item: Item, scratch: Path, environment: dict) -> tuple[int | str, int, str, str]:
    folder = Path(tempfile.mkdtemp(prefix="item-", dir=scratch))
    _make(folder, item.files)
    before = snapshot(folder)
    arguments = [argument.replace("{d}", str(folder)) for argument in item.args]
    start = time.perf_counter()
    try:
        completed = subprocess.run([sys.executable, "-m", "krylovfem", *arguments],
                                   cwd=folder, capture_output=True,
                                   env={**environment, **{key: value.replace("{d}", str(folder))
                                                          for key, value in item.env.items()}},
                                   text=True, errors="replace", timeout=TIMEOUT,
                                   stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        completed = None
    elapsed = time.perf_counter() - start
    verdict = check(item, folder, completed, before, elapsed)
    _restore_permissions(folder)
    if completed is None:
        return "-", 0, verdict, ""
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    return completed.returncode, len(lines), verdict, completed.stderr


def _restore_permissions(folder: Path) -> None:
    for directory, names, files in os.walk(folder):
        for name in names + files:
            path = Path(directory) / name
            if not path.is_symlink():
                try:
                    path.chmod(0o755)
                except OSError:
                    pass


def all_items() -> list[Item]:
    ITEMS.clear()
    for make in (_toml_items, _type_items, _number_items, _string_items, _expr_items,
                 _set_items, _path_items, _mesh_items, _matrix_items, _plot_items,
                 _combo_items, _cache_items, _output_items):
        make()
    return list(ITEMS)


#: The classes of many like items (a wrong type at every key, a number at every key, ...):
#: a plain run takes every STRIDE-th of each (and every item of the others: paths, output
#: folders, the cache), ``--all`` every one.
SAMPLED = ("toml", "type", "number", "string", "expr", "set", "mesh", "matrix", "plot", "combo")
STRIDE = 3


def sampled(items: list[Item]) -> list[Item]:
    """Every :data:`STRIDE`-th item of the :data:`SAMPLED` classes, all of the others."""
    seen: dict[str, int] = {}
    kept = []
    for item in items:
        index = seen[item.group] = seen.get(item.group, -1) + 1
        if item.group not in SAMPLED or index % STRIDE == 0:
            kept.append(item)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the items of this class only")
    parser.add_argument("-k", dest="word", help="run the items whose name contains WORD")
    parser.add_argument("--all", action="store_true",
                        help=f"every item (8 to 20 minutes); without it, every {STRIDE}-th "
                             f"item of the classes {', '.join(SAMPLED)} and all the others")
    parser.add_argument("--list", action="store_true", help="name the items and stop")
    parser.add_argument("--verbose", action="store_true", help="print each item's stderr")
    arguments = parser.parse_args(argv)
    items = [item for item in all_items()
             if (arguments.only is None or item.group == arguments.only)
             and (arguments.word is None or arguments.word in item.name)]
    if not (arguments.all or arguments.only or arguments.word):
        items = sampled(items)
    if arguments.list:
        for item in items:
            print(f"{item.group:8s} {item.name}")
        print(f"{len(items)} items")
        return 0
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONIOENCODING": "utf-8"}
    environment.pop("KRYLOVFEM_TRACEBACK", None)
    failed = []
    start = time.perf_counter()
    print(f"{'class':8s} {'input':44s} {'status':>6s} {'lines':>5s}  verdict")
    with tempfile.TemporaryDirectory(prefix="krylovfem-hostile-") as scratch:
        for item in items:
            status, count, verdict, stderr = run_item(item, Path(scratch), environment)
            shown = stderr.strip().splitlines()[-1][:100] if stderr.strip() else ""
            print(f"{item.group:8s} {item.name[:44]:44s} {status!s:>6s} {count:5d}  "
                  f"{verdict:10s} {shown}", flush=True)
            if arguments.verbose and stderr:
                print("    " + stderr.replace("\n", "\n    "))
            if verdict != "ok":
                failed.append((item, verdict))
    elapsed = time.perf_counter() - start
    print(f"\n{len(items)} inputs, {len(items) - len(failed)} ok, {len(failed)} failed "
          f"({elapsed:.0f} s)")
    for item, verdict in failed:
        print(f"  FAILED {item.group}: {item.name}: {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
