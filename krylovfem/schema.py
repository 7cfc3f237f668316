"""The case-file schema: one table of every section and key a case file may contain.

:data:`KEYS` lists every key, each a frozen :class:`Key` (its type, default, allowed
values, the problem types it applies to, its meaning and an example), and
:data:`SECTIONS` the sections in file order.  The reader in :mod:`krylovfem.casefile`
derives from them which keys it accepts (:func:`keys_by_section`, :func:`problem_keys`);
the lists of allowed names live here (:data:`DOMAINS`, :data:`ELEMENTS`,
:data:`PROBLEM_TYPES`, :data:`SCHEMES`) or in :mod:`solvers` (``METHODS``,
``PRECONDITIONERS``, and the keywords of ``solvers.amg`` that make the ``[solver.amg]``
keys, read by :mod:`krylovfem.amg_options`) and are never written twice; the
``[adapt]`` defaults are those of :class:`~krylovfem.settings.AdaptSettings`.

The page ``docs/case-files.md`` is made from this table by :mod:`krylovfem.reference`;
``python -m krylovfem.schema`` writes it (a test checks that the committed page is what
the generator writes, so the page and the code cannot drift apart).

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

import re
import sys
from dataclasses import dataclass, fields

import fem.estimate
import fem.problems
from krylovfem.amg_options import AMG_OPTIONS, MAX_SWEEPS
from krylovfem.settings import AdaptSettings
from solvers import METHODS, PRECONDITIONERS

__all__ = [
    "BOUNDARY_PARTS",
    "DOMAINS",
    "ELEMENTS",
    "KEYS",
    "MESH_PROBLEMS",
    "PROBLEM_TYPES",
    "SCHEMES",
    "SECTIONS",
    "STATIONARY_PROBLEMS",
    "Key",
    "Section",
    "entry",
    "keys_by_section",
    "problem_keys",
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


def _toml(value) -> str:
    """A default as a case file writes it: strings in double quotes, numbers as Python
    prints them."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


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
            "(heat: the hierarchy of the step matrix, built once for every step); "
            "`compare` uses it for each `amg` solver of `--solvers`.",
            PROBLEM_TYPES, False,
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
    Key("", "name", "string", '"<case file name without .toml>"', "a folder name: 1 to 100 "
        "bytes, no `/`, `\\` or control characters, not `.` or `..`",
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
    *(Key("solver.amg", option.name, option.type, _toml(option.default),
          _one_of(option.choices) if option.choices else
          f"1 to {MAX_SWEEPS} (see meaning)" if option.name == "sweeps" else
          f"{'an integer' if option.type == 'integer' else 'a number'} that solvers.amg "
          f"accepts (see meaning)", _from_docstring(option.meaning), _toml(option.default))
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


if __name__ == "__main__":  # the documented command that writes docs/case-files.md
    from krylovfem.reference import main

    sys.exit(main())
