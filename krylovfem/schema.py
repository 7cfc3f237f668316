"""The case-file reference: one table of every section and key, and the page made from it.

:data:`KEYS` lists every key a case file may contain, each a frozen :class:`Key`
(its type, default, allowed values, the problem types it applies to, its meaning and
an example), and :data:`SECTIONS` the sections in file order.  The reader in
:mod:`krylovfem.casefile` derives from them which keys it accepts
(:func:`keys_by_section`, :func:`problem_keys`); the lists of allowed names live here
(:data:`DOMAINS`, :data:`ELEMENTS`, :data:`PROBLEM_TYPES`, :data:`SCHEMES`) or in
:mod:`solvers` (``METHODS``, ``PRECONDITIONERS``, and the keywords of ``solvers.amg``
that make the ``[solver.amg]`` keys, read by :mod:`krylovfem.amg_options`) and are never
written twice; the ``[adapt]`` defaults are those of
:class:`~krylovfem.settings.AdaptSettings`.

``python -m krylovfem.schema`` writes ``docs/case-files.md`` from
:func:`reference_markdown`; a test checks that the committed page is what the
generator writes, so the page and the code cannot drift apart.

Examples
--------
>>> [key.key for key in KEYS if key.section == "solver"]
['method', 'preconditioner', 'rtol', 'atol', 'maxiter', 'restart']
>>> entry("solver", "rtol").default
'1e-8'
>>> problem_keys()["reaction_diffusion"]
('kappa', 'reaction', 'f', 'exact')
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import fem.estimate
import fem.problems
from krylovfem.amg_options import AMG_OPTIONS
from krylovfem.settings import AdaptSettings
from solvers import METHODS, PRECONDITIONERS

__all__ = [
    "BOUNDARY_PARTS",
    "DOMAINS",
    "ELEMENTS",
    "EXAMPLE_CASE",
    "KEYS",
    "MESH_PROBLEMS",
    "OUTPUT_FILES",
    "OVERRIDES_EXAMPLE",
    "PROBLEM_TYPES",
    "REFERENCE_PATH",
    "SCHEMES",
    "SECTIONS",
    "STATIONARY_PROBLEMS",
    "Key",
    "Section",
    "entry",
    "keys_by_section",
    "problem_keys",
    "reference_markdown",
]

DOMAINS = ("interval", "unit_square", "rectangle", "l_shape")
ELEMENTS = ("P1", "P2")
PROBLEM_TYPES = ("poisson", "reaction_diffusion", "convection_diffusion", "heat", "matrix")
SCHEMES = tuple(fem.problems.SCHEMES)

#: The problem types that need a mesh (all but ``matrix``).
MESH_PROBLEMS = tuple(kind for kind in PROBLEM_TYPES if kind != "matrix")
#: The problem types with one stationary equation on a mesh (those ``adapt`` takes).
STATIONARY_PROBLEMS = tuple(kind for kind in MESH_PROBLEMS if kind != "heat")

#: The named boundary parts of each generated domain (as :mod:`fem.mesh` makes them).
BOUNDARY_PARTS = {
    "interval": ("left", "right", "boundary"),
    "unit_square": ("left", "right", "bottom", "top", "boundary"),
    "rectangle": ("left", "right", "bottom", "top", "boundary"),
    "l_shape": ("boundary",),
}

#: Where the page is written: ``docs/case-files.md`` of the repository.
REFERENCE_PATH = Path(__file__).resolve().parents[1] / "docs" / "case-files.md"


@dataclass(frozen=True)
class Section:
    """One section of a case file (``""``: the keys at the top, before any section).

    Attributes
    ----------
    name : str
        The section name as written in brackets, ``""`` for the top level; a sub-table
        is named with its parent's, ``"solver.amg"``.
    meaning : str
        One sentence: what the section describes.
    problems : tuple of str
        The problem types that use the section; the others refuse it.
    required : bool
        True if every type in ``problems`` needs the section.
    example : str
        A short TOML example of the whole section.
    """

    name: str
    meaning: str
    problems: tuple[str, ...]
    required: bool
    example: str


@dataclass(frozen=True)
class Key:
    """One key of a case file, as a user reads it.

    Attributes
    ----------
    section : str
        Its section (``""``: the top level).
    key : str
        Its name.
    type : str
        The TOML type a user writes, e.g. ``"number"``, ``"expression"``.
    default : str
        ``"required"``, ``"none"`` or the default as a TOML value; after a ``;``, words
        on when another default applies.
    allowed : str
        The allowed values or range.
    problems : tuple of str
        The problem types it applies to; empty: all that use its section.
    meaning : str
        One sentence.
    example : str
        An example value in TOML syntax (valid where the key applies).
    """

    section: str
    key: str
    type: str
    default: str
    allowed: str
    meaning: str
    example: str
    problems: tuple[str, ...] = ()

    @property
    def applies_to(self) -> tuple[str, ...]:
        """The problem types that accept this key."""
        if self.problems:
            return self.problems
        return next(section.problems for section in SECTIONS if section.name == self.section)


def _one_of(names: tuple[str, ...]) -> str:
    return " \\| ".join(f'`"{name}"`' for name in names)


def _default(field: str) -> str:
    """An ``[adapt]`` key's default, as :class:`~krylovfem.settings.AdaptSettings` has it."""
    value = next(item.default for item in fields(AdaptSettings) if item.name == field)
    if value is None:
        return "none"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _from_docstring(text: str) -> str:
    """reStructuredText of a docstring as a Markdown table cell."""
    text = re.sub(r":math:`([^`]*)`", r"`\1`", text).replace("``", "`")
    return text.replace("|", "\\|")


_EXPRESSION = "expression"
_SPACE = "expression of x (and y in 2D)"
_SPACE_TIME = "expression of x (and y in 2D), and t for heat"

SECTIONS: tuple[Section, ...] = (
    Section("", "Keys at the top of the file, before any section.", PROBLEM_TYPES, False,
            'name = "plate-p2"'),
    Section("mesh", "Where the mesh comes from: a generated domain or a mesh file.",
            MESH_PROBLEMS, True,
            '[mesh]\ndomain = "rectangle"\nbounds = [0.0, 2.0, 0.0, 1.0]\nn = 16\n'
            'element = "P2"'),
    Section("problem", "The equation -div(kappa grad u) + b . grad u + c u = f (with u_t "
            "in front for heat), or a linear system read from files.", PROBLEM_TYPES, True,
            '[problem]\ntype = "reaction_diffusion"\nkappa = "1 + x^2"\nreaction = "2"\n'
            'f = "1"'),
    Section("boundary", "Boundary conditions on the named boundary parts of the mesh.",
            MESH_PROBLEMS, False,
            '[boundary]\ndirichlet = { left = "0", right = "0" }\nneumann = { top = "1" }\n'
            'robin = { bottom = ["2", "0"] }'),
    Section("time", "Time stepping of the heat equation.", ("heat",), True,
            '[time]\nt_end = 0.1\ndt = 0.005\nscheme = "backward_euler"\n'
            'initial = "sin(pi*x)*sin(pi*y)"'),
    Section("solver", "The Krylov method, its preconditioner and its stopping rule.",
            PROBLEM_TYPES, False,
            '[solver]\nmethod = "gmres"\npreconditioner = "ilu0"\nrtol = 1e-10\n'
            'restart = 50'),
    Section("solver.amg", "Options of the smoothed-aggregation preconditioner "
            "(`solvers.amg`), a sub-table of [solver]; only with preconditioner = \"amg\" "
            "(not for heat, whose time stepper builds the hierarchy with the defaults); "
            "`compare` uses it for each `amg` solver of `--solvers`.",
            tuple(kind for kind in PROBLEM_TYPES if kind != "heat"), False,
            '[solver]\npreconditioner = "amg"\n\n[solver.amg]\ntheta = 0.08\nsweeps = 1\n'
            'max_coarse = 500'),
    Section("adapt", "The adaptive loop of `krylovfem adapt`: marking and stopping rule "
            "(the command's options override it; `run`, `study` and `compare` ignore it).",
            STATIONARY_PROBLEMS, False,
            '[adapt]\nsteps = 12\nmarking = "dorfler"\ntheta = 0.5\nmax_dofs = 20000'),
    Section("output", "Where the record goes and what it holds.", PROBLEM_TYPES, False,
            '[output]\ndir = "results/my-run"\nplots = false'),
    Section("system", "A linear system read from files (type = \"matrix\").", ("matrix",),
            True, '[system]\nmatrix = "gr_30_30.mtx"'),
)

KEYS: tuple[Key, ...] = (
    Key("", "name", "string", '"<case file name without .toml>"', "a non-empty string",
        "The case name, printed in reports and used in the default output folder.",
        '"poisson-2d"'),
    # mesh
    Key("mesh", "domain", "string", "required; unless file is given", _one_of(DOMAINS),
        "The generated domain (see [Meshes](#meshes)).", '"unit_square"'),
    Key("mesh", "bounds", "array of numbers", "[0.0, 1.0]; for interval (rectangle needs "
        "bounds)", "interval: `[a, b]`; rectangle: `[x0, x1, y0, y1]`; each pair increasing; "
        "not for unit_square, l_shape", "The ends of the interval or the corners of the "
        "rectangle.", "[0.0, 2.0]"),
    Key("mesh", "n", "integer", "8", "1 to 100000, and at most 4,000,000 cells",
        "Cells per unit length (see [Meshes](#meshes)).", "32"),
    Key("mesh", "element", "string", '"P1"', _one_of(ELEMENTS),
        "Lagrange elements: P1 (linear) or P2 (quadratic).", '"P2"'),
    Key("mesh", "file", "string (path)", "none", "a mesh file meshio reads (gmsh .msh 2.2, "
        ".vtu, ...), relative to the case file; not with domain, bounds, n",
        "Read the mesh from this file instead of generating one.", '"meshes/plate.msh"'),
    # problem
    Key("problem", "type", "string", "required", _one_of(PROBLEM_TYPES),
        "Which equation, or `matrix` for a linear system read from files.", '"poisson"'),
    Key("problem", "kappa", _EXPRESSION, '"1"', _SPACE,
        "The diffusion coefficient kappa.", '"1 + x^2"', MESH_PROBLEMS),
    Key("problem", "reaction", _EXPRESSION, '"0"', _SPACE,
        "The reaction coefficient c.", '"2"', ("reaction_diffusion", "convection_diffusion")),
    Key("problem", "velocity", "array of expressions", "required", f"{_SPACE}, one per "
        "coordinate (in 1D a single expression may stand alone)",
        "The convection field b.", '["1", "0.5"]', ("convection_diffusion",)),
    Key("problem", "f", _EXPRESSION, '"0"', _SPACE_TIME, "The source term f.",
        '"2*pi^2*sin(pi*x)*sin(pi*y)"', MESH_PROBLEMS),
    Key("problem", "exact", _EXPRESSION, "none", _SPACE_TIME,
        "The exact solution, if known: errors are measured against it and `\"exact\"` may "
        "stand for it as Dirichlet data.", '"sin(pi*x)*sin(pi*y)"', MESH_PROBLEMS),
    # boundary
    Key("boundary", "dirichlet", "table: part = expression", '{ boundary = "0" }; '
        '{ boundary = "exact" } with [problem] exact; {} once [boundary] is given',
        f'{_SPACE_TIME}, or `"exact"`', "Prescribed values u = g on these parts.",
        '{ left = "0", right = "0" }'),
    Key("boundary", "neumann", "table: part = expression", "{}", _SPACE_TIME,
        "Prescribed flux kappa du/dn = g (n the outward normal) on these parts.",
        '{ top = "1" }'),
    Key("boundary", "robin", "table: part = [alpha, g]", "{}", "alpha: expression of x (and "
        "y in 2D); g: expression of x (and y in 2D), and t for heat",
        "kappa du/dn + alpha u = g on these parts.", '{ bottom = ["2", "0"] }'),
    # time
    Key("time", "t_end", "number", "required", "> 0", "The final time (the start is t = 0).",
        "0.1"),
    Key("time", "dt", "number", "required", "0 < dt <= t_end, at most 1000000 steps",
        "The largest time step: ceil(t_end / dt) equal steps reach t_end.", "0.005"),
    Key("time", "scheme", "string", '"crank_nicolson"', _one_of(SCHEMES),
        "The time-stepping scheme.", '"backward_euler"'),
    Key("time", "initial", _EXPRESSION, "required; unless [problem] exact is given (then "
        "exact at t = 0)", _SPACE, "The initial value u(x, 0).",
        '"sin(pi*x)*sin(pi*y)"'),
    # solver
    Key("solver", "method", "string", '"cg"; "gmres" for convection_diffusion',
        _one_of(METHODS), "The Krylov method: conjugate gradients (symmetric positive "
        "definite systems) or restarted GMRES.", '"gmres"'),
    Key("solver", "preconditioner", "string", '"none"', _one_of(PRECONDITIONERS),
        "The preconditioner, built once from the matrix (amg: smoothed-aggregation "
        "multigrid, one V-cycle per iteration).", '"amg"'),
    Key("solver", "rtol", "number", "1e-8", "0 <= rtol < 1; rtol and atol not both 0",
        "Relative tolerance: stop when the recomputed \\|\\|b - A x\\|\\| <= max(rtol "
        "\\|\\|b\\|\\|, atol).", "1e-10"),
    Key("solver", "atol", "number", "0.0", ">= 0", "Absolute tolerance on "
        "\\|\\|b - A x\\|\\|.", "1e-12"),
    Key("solver", "maxiter", "integer", "none; the solver's default, 10 times the number "
        "of unknowns", "1 to 10000000", "The most iterations of one solve (GMRES counts "
        "inner steps).", "500"),
    Key("solver", "restart", "integer", "30", "1 to 10000",
        "The GMRES restart length (CG ignores it).", "50"),
    # solver.amg: one key per option of solvers.amg
    *(Key("solver.amg", option.name, option.type, repr(option.default),
          f"{'an integer' if option.type == 'integer' else 'a number'} that solvers.amg "
          f"accepts (see meaning)", _from_docstring(option.meaning), repr(option.default))
      for option in AMG_OPTIONS.values()),
    # adapt
    Key("adapt", "steps", "integer", _default("steps"), ">= 1",
        "The most solves (meshes) of the loop.", "12"),
    Key("adapt", "marking", "string", _default("marking"), _one_of(tuple(fem.estimate.MARKINGS)),
        "Dörfler marking (the fewest cells holding a fraction theta of eta^2) or maximum "
        "marking (the cells with eta_T^2 >= theta max eta_T^2).", '"maximum"'),
    Key("adapt", "theta", "number", _default("theta"), "0 < theta <= 1",
        "The marking parameter.", "0.3"),
    Key("adapt", "target", "number", _default("target"), "> 0",
        "Stop once the estimate eta is at most this.", "1e-3"),
    Key("adapt", "max_dofs", "integer", _default("max_dofs"), "at least the unknowns of "
        "the case's mesh", "Never solve on a mesh with more unknowns than this (the loop "
        "stops before it).", "20000"),
    # output
    Key("output", "dir", "string (path)", '"results/<name>"', "a path, relative to the "
        "working directory", "The output folder (see [The output folder]"
        "(#the-output-folder)).", '"results/my-run"'),
    Key("output", "plots", "boolean", "true", "`true` \\| `false`",
        "Whether to draw the figures (PNG).", "false"),
    Key("output", "save_system", "boolean", "false", "`true` \\| `false`; not for heat",
        "Also write the solved system as system.mtx and rhs.mtx (Matrix Market).", "true",
        tuple(kind for kind in PROBLEM_TYPES if kind != "heat")),
    # system
    Key("system", "matrix", "string (path)", "required", "a Matrix Market (.mtx) or "
        "Harwell-Boeing file, relative to the case file", "The matrix A of A x = b.",
        '"gr_30_30.mtx"'),
    Key("system", "rhs", "string (path)", "none; b = A @ ones, so the exact solution is "
        "all ones", "a Matrix Market array or Harwell-Boeing file with b, relative to the "
        "case file", "The right-hand side b.", '"rhs.mtx"'),
)

#: A complete case: what the introduction of the page shows (and a test runs through the
#: reader).
EXAMPLE_CASE = '''\
# -div((1 + x^2) grad u) + 2 u = f on (0, 2) x (0, 1)
name = "plate-example"

[mesh]
domain = "rectangle"
bounds = [0.0, 2.0, 0.0, 1.0]
n = 16
element = "P2"

[problem]
type = "reaction_diffusion"
kappa = "1 + x^2"
reaction = "2"
f = "sin(pi*y)*((1 + x^2)*(2 + pi^2*x*(2 - x)) - 4*x*(1 - x) + 2*x*(2 - x))"
exact = "x*(2 - x)*sin(pi*y)"

[boundary]
dirichlet = { left = "exact", right = "exact", bottom = "exact" }
neumann = { top = "-pi*(1 + x^2)*x*(2 - x)" }

[solver]
method = "cg"
preconditioner = "ic0"
rtol = 1e-10

[output]
plots = true
'''

#: (file, when it is written) for every file a command writes into the output folder.
OUTPUT_FILES = (
    ("summary.json", "run: always; the full record (settings with defaults filled in, "
     "solver result, residual history, errors, timings, versions)"),
    ("solution.npz", "run: always; the solution vector (with the mesh and DOF map for mesh "
     "cases, the times for heat)"),
    ("solution.vtu", "run: mesh cases; the solution for ParaView"),
    ("residuals.png", "run: with plots; the residual history"),
    ("solution.png", "run: with plots; the solution"),
    ("error.png", "run: with plots, when [problem] exact is given; the error u_h - u"),
    ("iterations.png", "run: with plots, heat; iterations per time step"),
    ("system.mtx, rhs.mtx", "run: with [output] save_system = true; the solved system "
     "(Matrix Market)"),
    ("study.json, rates.png", "`krylovfem study`: errors, rates and iterations per level; "
     "the rates figure with plots"),
    ("level-00/, level-01/, ...", "`krylovfem study`: each level's run record (the files "
     "`run` writes but its figures)"),
    ("compare.json, compare.png", "`krylovfem compare`: one entry per solver; the residual "
     "histories figure with plots"),
    ("adapt.json, solution.npz, solution.vtu", "`krylovfem adapt`: one entry per step and "
     "per uniform level (DOFs, estimate, errors, effectivity, iterations, times); the last "
     "step's solution and indicators"),
    ("step-00/, step-01/, ...", "`krylovfem adapt`: each step's run record (the files `run` "
     "writes; also of a step whose solve broke down or was interrupted)"),
    ("convergence.png, mesh.png, solution.png", "`krylovfem adapt` with plots: estimate and "
     "error against DOFs beside the uniform levels; the final mesh coloured by the "
     "estimator; the solution"),
)


def entry(section: str, key: str) -> Key:
    """The :class:`Key` of ``[section] key`` (``section=""`` for the top level).

    Raises
    ------
    KeyError
        For a key that is not in the table.
    """
    for candidate in KEYS:
        if (candidate.section, candidate.key) == (section, key):
            return candidate
    raise KeyError(f"[{section}] {key}")


def keys_by_section() -> dict[str, tuple[str, ...]]:
    """Key names per section, in table order; ``""`` holds the top keys, then the sections."""
    names = {section.name: tuple(key.key for key in KEYS if key.section == section.name)
             for section in SECTIONS}
    for section in SECTIONS:
        if section.name:
            parent, _, child = section.name.rpartition(".")
            names[parent] += (child,)
    return names


def problem_keys() -> dict[str, tuple[str, ...]]:
    """For each problem type, the ``[problem]`` keys it understands besides ``type``."""
    problem = [key for key in KEYS if key.section == "problem" and key.key != "type"]
    return {kind: tuple(key.key for key in problem if kind in key.applies_to)
            for kind in PROBLEM_TYPES}


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------
_INTRODUCTION = """\
# Case files

<!-- Generated by `python -m krylovfem.schema` from krylovfem/schema.py; do not edit. -->

A case is a TOML file that `krylovfem run CASE.toml` (and `study`, `compare`, `adapt`) reads:
the mesh, the equation, its boundary conditions, time stepping for the heat equation,
the solver and the output.  Every key is checked before anything is assembled or
written; an unknown key, a wrong type or a value out of range stops the command with
one line naming the file, the key and what is allowed (exit status 2).  Nothing in a
case file is ever executed: expressions go through a whitelist.  Files named in a case
(`[mesh] file`, `[system] matrix`, `[system] rhs`) are relative to the case file.

A complete case:

```toml
{example}```

The files in `cases/` show one case of each kind.
"""


def _cell(text: str) -> str:
    return text.replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`"


def _default_cell(default: str) -> str:
    value, _, note = default.partition(";")
    value = value.strip()
    shown = value if value in ("required", "none") else _code(value)
    return shown + (f"; {note.strip()}" if note else "")


def _applies_cell(key: Key, section: Section) -> str:
    kinds = key.applies_to
    return "all" if kinds == section.problems else ", ".join(kinds)


def _section_markdown(section: Section) -> str:
    title = f"[{section.name}]" if section.name else "Top level"
    used = ("every type" if section.problems == PROBLEM_TYPES else
            "type = " + ", ".join(f'"{kind}"' for kind in section.problems))
    need = "required" if section.required else "optional"
    lines = [f"### {title}", "", f"{section.meaning}  Used by {used}; {need}.", "",
             "| key | type | default | allowed | applies to | meaning | example |",
             "|---|---|---|---|---|---|---|"]
    for key in KEYS:
        if key.section == section.name:
            lines.append(f"| `{key.key}` | {key.type} | {_default_cell(key.default)} | "
                         f"{_cell(key.allowed)} | {_applies_cell(key, section)} | "
                         f"{_cell(key.meaning)} | {_code(key.example)} |")
    lines += ["", "```toml", section.example, "```", ""]
    return "\n".join(lines)


def _meshes_markdown() -> str:
    parts = "\n".join(f"| `{domain}` | {', '.join(f'`{name}`' for name in names)} |"
                      for domain, names in BOUNDARY_PARTS.items())
    return f"""\
## Meshes

`n` counts cells per unit length, the same on every domain, so that a rectangle of
twice the width gets twice the cells across:

| domain | region | cells |
|---|---|---|
| `interval` | `[a, b]` from `bounds` (default `[0, 1]`) | round(n (b - a)) intervals |
| `unit_square` | `(0, 1) x (0, 1)` | 2 n^2 triangles |
| `rectangle` | `(x0, x1) x (y0, y1)` from `bounds` | 2 nx ny triangles (below) |
| `l_shape` | `(-1, 1)^2` minus `[0, 1) x (-1, 0]` | 6 n^2 triangles |

The triangle meshes are squares of side 1/n (a rectangle's: of sides (x1 - x0) / nx and
(y1 - y0) / ny with nx = round(n (x1 - x0)), ny = round(n (y1 - y0))), each cut along
its diagonal from lower left to upper right; the L-shape's re-entrant corner is the
origin.  Each side gets at least one cell.  The boundary parts that `[boundary]` may name:

| domain | boundary parts |
|---|---|
{parts}

`boundary` is the whole boundary.  A mesh file (`[mesh] file`) brings its physical
groups as boundary parts, named by their physical names (an unnamed group is
`physical_<tag>`), and `boundary` besides; `cases/meshes/plate.msh` has `left`,
`right`, `bottom` and `top`.

"""


_BOUNDARY_TEXT = """\
## Boundary conditions

Without a `[boundary]` section the whole boundary is Dirichlet: u = exact when
`[problem] exact` is given, else u = 0.  Giving a `[boundary]` section replaces that
default entirely: only the parts named in its tables get a condition, and a part in no
table gets zero flux (kappa du/dn = 0).  A part may appear in one table only, and two
parts that share a facet (such as `boundary` and `left`) may not have conditions of
different kinds.  The value `"exact"` stands for `[problem] exact` and is allowed in
`dirichlet` only.

"""


def _expressions_markdown() -> str:
    from krylovfem.expr import ALLOWED_FUNCTIONS, CONSTANTS, VARIABLES

    def arguments(count: int | None) -> str:
        return "two or more arguments" if count is None else (
            "1 argument" if count == 1 else f"{count} arguments")

    functions = ", ".join(f"`{name}` ({arguments(count)})"
                          for name, (count, _) in ALLOWED_FUNCTIONS.items())
    return f"""\
## Expressions

Coefficients, sources, exact solutions and boundary data are strings such as
`"2*pi^2*sin(pi*x)*sin(pi*y)"` (a plain number is accepted too).  They are parsed,
never executed, by a whitelist:

- names: the variables {', '.join(f'`{name}`' for name in VARIABLES)} and the constants
  {', '.join(f'`{name}`' for name in CONSTANTS)};
- operators: `+ - * /`, `^` and `**` (both power; `-x^2` is `-(x^2)`), parentheses;
- functions: {functions}.

`x` is the coordinate of a 1D mesh; 2D meshes add `y`.  The time `t` is allowed only
where the data depend on time: in `f`, `exact`, `dirichlet`, `neumann` and the `g` of
`robin` of a heat case (`kappa`, `initial` and the `alpha` of `robin` never take `t`).
In `dirichlet`, the word `"exact"` means `[problem] exact`.  Every expression is
evaluated on the mesh before the run starts; a NaN, infinity or overflow there is
an error.

"""


#: The ``--set`` overrides of the output-folder example and the folder they give (a test
#: checks it against :func:`krylovfem.casefile.override_suffix`).
OVERRIDES_EXAMPLE = (("mesh.n=64", "problem.f=sin(pi*x)"),
                     "results/poisson-2d--mesh.n=64--problem.f=sin_pi_x_")


def _output_markdown() -> str:
    overrides, example = OVERRIDES_EXAMPLE
    options = " ".join(f'--set "{text}"' if "(" in text else f"--set {text}"
                       for text in overrides)
    files = "\n".join(f"| {', '.join(_code(name) for name in names.split(', '))} | {when} |"
                      for names, when in OUTPUT_FILES)
    return f"""\
## The output folder

`run` writes into one folder: `--out DIR` if given, else `[output] dir`, which defaults
to `results/<name>` (relative to the working directory); `study`, `compare` and `adapt`
write beside it, into the same name with `.study`, `.compare` or `.adapt` appended,
since each folder holds one record and is replaced whole.  A run with
`--set` overrides and without `--out` is another run than the file's, so it gets a
folder of its own: the folder name gets `--<section.key>=<value>` for each override, in
order, with every character of the value other than letters, digits and `. _ + = -`
replaced by `_`; a suffix longer than 120 characters is cut and ended with a hash of
the overrides.  For example `{options}` on
`cases/poisson-2d.toml` writes to `{example}`.  An override of `output.dir` itself
is used as given, with no suffix.

A folder is written whole or not at all: an earlier record there is replaced as a
whole, and a folder holding anything but a record is refused.  The files:

| file | written |
|---|---|
{files}

"""


def _usage(action: argparse.Action) -> str:
    if not action.option_strings:
        return (action.metavar or action.dest.upper()) + (" ..." if action.nargs == "+"
                                                          else "")
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    value = action.metavar or action.dest.upper()
    return f"{names} [{value}]" if action.nargs == "?" else f"{names} {value}"


def _commands_markdown() -> str:
    from krylovfem.cli import build_parser

    lines = ["## The command line", ""]
    parser = build_parser()
    # argparse keeps its subcommands in a private action; reading it keeps this table
    # equal to what `krylovfem COMMAND --help` prints
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        lines += [f"`krylovfem {name}`: {command.description}.", "",
                  "| argument | meaning |", "|---|---|"]
        lines += [f"| `{_usage(action)}` | {_cell(action.help)} |"
                  for action in command._actions if action.dest != "help"]
        lines.append("")
    lines += ["""\
`krylovfem study` needs `[problem] exact`: it solves on the case's mesh and on
`--levels - 1` uniform refinements of it (each halves h; for heat, dt halves too) and
fits the convergence rates of the L2 and H1 errors.

`krylovfem adapt` takes a stationary case (not heat, not matrix): each step solves,
computes the residual estimator eta_T of every cell, marks cells (Dörfler: the fewest
holding a fraction theta of eta^2; maximum: those with eta_T^2 >= theta max eta_T^2),
bisects them by newest-vertex bisection and starts the next solve from the previous
solution.  It stops after `--steps` solves, once the estimate is at most `--target`, or
before a mesh with more than `--max-dofs` unknowns (the keys of `[adapt]`, which these
options override); the case is then solved on uniform refinements of its mesh up to as
many unknowns, for comparison.  Errors and the
effectivity index eta / |u - u_h|_H1 are recorded when `[problem] exact` is given.

`--set section.key=value` (repeatable) replaces one value of the case file before it is
checked, as if it were written there: the value is read as a TOML value (`1e-10`,
`true`, `[0.0, 2.0]`, `"P2"`, `{ left = "0" }`), and taken as a string when it is not
one, so that expressions need no quotes: `--set "problem.f=sin(pi*x)"`.  A top-level
key is set with its name alone: `--set name=other`.  A mistake in an override is
reported with `(from --set)` after the key.

""" + EXIT_STATUS_TEXT + """
""", ""]
    return "\n".join(lines)


#: The exit statuses of the command, as the reference and the README state them
#: (:mod:`krylovfem.cli` defines the numbers).
EXIT_STATUS_TEXT = """\
Exit status (every failure is one line on stderr, never a traceback): 0 every solve
converged; 1 a solve did not converge or a preconditioner broke down (the record is
still written, with the reason); 2 bad input or usage (naming the file, the key and what
is allowed; nothing written); 3 the system refused a file (one that cannot be read or
written, a full disk, another run writing to the same folder: no new record, an earlier
one unchanged); 4 out of memory; 70 an internal error (`KRYLOVFEM_TRACEBACK=1` shows the
traceback); 130 interrupted (Ctrl-C: a solve stops within a second, and a run's record
holds it so far, with the reason `interrupted`; `study`, `compare` and `adapt` keep the
levels, solvers and steps done, in a record marked `"interrupted": true`); 143 terminated
(SIGTERM)."""


_THREADS_TEXT = """\
## Threads and caching

The kernels of `solvers` and `fem` are compiled by Numba.  The first run compiles them
(a few seconds) and caches the machine code on disk; later runs load it.  By default the
cache lives in `__pycache__` folders beside the installed sources (or, where those are
not writable, in Numba's cache folder in the user's home); set `NUMBA_CACHE_DIR` to
move it elsewhere.  A change to any source file of `solvers` or `fem` makes that
package's cached entries stale, and they are compiled again.  Every cached file carries
a checksum that is verified before Numba loads it: a corrupt, truncated or foreign file,
a cache folder that cannot be written, or no writable folder at all never stops a run;
it prints one `CacheWarning` line, and the kernel is compiled again (or without a cache).

The solver kernels of large systems run in parallel on Numba's threads, as many as there
are CPU cores not busy with other work when the solve starts, counted again as a long
solve goes on (a thread sharing its core with another busy process would slow every
iteration down); the results are the same bits on any number of threads.
`NUMBA_NUM_THREADS` sets the most they may use (default: the number of CPU cores), e.g.
`NUMBA_NUM_THREADS=1 krylovfem run cases/poisson-2d.toml` for a serial run.
"""


def reference_markdown() -> str:
    """The page ``docs/case-files.md``: every section and key, and how a case is run."""
    parts = [
        _INTRODUCTION.format(example=EXAMPLE_CASE),
        "## Sections and keys",
        "In the tables, *required* means the key must be given, *none* that it has no "
        "value unless given, and *applies to* the problem types that accept the key; any "
        "other key is refused.  An *expression* is a string of the "
        "[expression language](#expressions).",
        *(_section_markdown(section) for section in SECTIONS),
        _meshes_markdown(),
        _BOUNDARY_TEXT,
        _expressions_markdown(),
        _output_markdown(),
        _commands_markdown(),
        _THREADS_TEXT,
    ]
    # one blank line between blocks, one newline at the end
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the page to ``docs/case-files.md`` (or print it with ``--stdout``)."""
    arguments = sys.argv[1:] if argv is None else argv
    text = reference_markdown()
    if arguments == ["--stdout"]:
        sys.stdout.write(text)
        return 0
    if arguments:
        print("usage: python -m krylovfem.schema [--stdout]", file=sys.stderr)
        return 2
    REFERENCE_PATH.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {REFERENCE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
