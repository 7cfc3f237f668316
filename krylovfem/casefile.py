"""Case files: the TOML schema, its validation, and the validated :class:`Case`.

A case file describes one problem (mesh, equation, boundary conditions, time
stepping, solver, output) in plain TOML, read with :mod:`tomllib`.  Nothing in
the file is ever executed: coefficients are strings compiled by the whitelist
of :mod:`krylovfem.expr`.  Every key is checked here, before anything is assembled
or written, and every mistake is reported as a one-line :class:`CaseError`
naming the file, the key, the value given and what is allowed::

    poisson.toml: [solver] rtol = 'small': expected a number >= 0, given a string

The section and key reference is the module-level :data:`SCHEMA`; running a
validated case lives in :mod:`krylovfem.run`.

Examples
--------
>>> case = parse_case_text('''
... [mesh]
... domain = "unit_square"
... n = 4
... [problem]
... type = "poisson"
... f = "2*pi^2*sin(pi*x)*sin(pi*y)"
... exact = "sin(pi*x)*sin(pi*y)"
... ''', name="demo")
>>> case.mesh.num_points, case.solver.method, sorted(case.boundary.dirichlet)
(25, 'cg', ['boundary'])
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from krylovfem.adapt_options import read_adapt_settings
from krylovfem.amg_options import read_amg_options
from krylovfem.expr import Expression, compile_expression
from krylovfem.expression_checks import check_expressions_on_mesh
from krylovfem.meshes import build_mesh, read_mesh_settings
from krylovfem.schema import (
    DOMAINS,
    ELEMENTS,
    PROBLEM_TYPES,
    SCHEMES,
    SECTIONS,
    STATIONARY_PROBLEMS,
    problem_keys,
)
from krylovfem.section import (
    SCHEMA,
    CaseError,
    Section,
    check_keys,
    shown,
    type_name,
    unknown_key_error,
)
from krylovfem.settings import (
    BoundarySettings,
    Case,
    CaseOrigin,
    OutputSettings,
    ProblemSettings,
    SolverSettings,
    SystemSettings,
    TimeSettings,
)
from solvers import METHODS, PRECONDITIONERS

__all__ = [
    "DOMAINS",
    "ELEMENTS",
    "METHODS",
    "PRECONDITIONERS",
    "PROBLEM_TYPES",
    "SCHEMA",
    "SCHEMES",
    "Case",
    "CaseError",
    "load_case",
    "parse_case_text",
    "parse_override",
]

# Which problem keys each type understands (besides "type").
_PROBLEM_KEYS = problem_keys()


MAX_TIME_STEPS = 1_000_000
MAX_FILE_BYTES = 1_000_000
#: Workspace a solver may plan for (the GMRES basis); the machine's memory must also
#: hold the mesh, the matrix and its preconditioner.
MAX_WORKSPACE_BYTES = 8 * 2**30
#: Cells times time steps of a heat run: about an hour of steps on one core.
MAX_CELL_STEPS = 10**10


# --------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------
def read_case_file(path: str | Path) -> str:
    """The text of a case file, refusing missing, empty, huge or binary files."""
    path = Path(path)
    source = path.name
    if not path.exists():
        raise CaseError(f"{path}: no such case file")
    if not path.is_file():
        raise CaseError(f"{path}: not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CaseError(f"{source}: {size} bytes; a case file is at most {MAX_FILE_BYTES}")
    data = path.read_bytes()
    if b"\x00" in data:
        raise CaseError(f"{source}: binary file (contains NUL bytes); expected a TOML text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CaseError(f"{source}: not UTF-8 text (byte {error.start}); expected a TOML "
                        f"text file") from None
    if not text.strip():
        raise CaseError(f"{source}: the file is empty; a case needs at least [problem]")
    return text


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Split ``section.key=value`` into the key path and a TOML-typed value.

    The value is read as a TOML value when it is one (``1e-10``, ``true``,
    ``[1, 2]``, ``"x"``), else taken as a string, so that expressions need no
    quotes: ``--set problem.f=sin(x)``.

    Examples
    --------
    >>> parse_override("solver.rtol=1e-10")
    (('solver', 'rtol'), 1e-10)
    >>> parse_override("problem.kappa=1 + x^2")
    (('problem', 'kappa'), '1 + x^2')
    """
    key, separator, value = text.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not separator or not all(path):
        raise CaseError(f"--set {shown(text)}: expected section.key=value, e.g. "
                        f"--set mesh.n=64")
    value = value.strip()
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        parsed = value
    except RecursionError:
        raise CaseError(f"--set {shown(text)}: the value is nested too deeply to "
                        f"read") from None
    return path, parsed


def _apply_overrides(source: str, raw: dict, overrides: list[str],
                     options: dict[str, tuple[str, Any]]) -> dict[str, str]:
    """Set each ``--set`` override, then each command-line option, in ``raw``.

    ``options`` maps ``"section.key"`` to ``(option, value)``, such as
    ``"adapt.steps": ("--steps", 5)``.  Returns which option set each ``section.key``
    (and each of its enclosing tables), for the messages.
    """
    applied: dict[str, str] = {}
    settings = [(text, *parse_override(text), "--set") for text in overrides]
    settings += [(f"{option} {shown(value)}", tuple(key.split(".")), value, option)
                 for key, (option, value) in options.items()]
    for text, path, value, option in settings:
        if path[0] not in SCHEMA[""]:
            raise unknown_key_error(f"{source} (--set {shown(text)})", "", path[0],
                                    SCHEMA[""])
        table = raw
        for part in path[:-1]:
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise CaseError(f"{source}: {text}: {part!r} is not a table")
            table = child
        table[path[-1]] = value
        applied.update({".".join(path[:end]): option for end in range(2, len(path) + 1)})
    return applied


def load_case(path: str | Path, overrides: list[str] | None = None,
              options: dict[str, tuple[str, Any]] | None = None) -> Case:
    """Read, override and validate a case file.

    Parameters
    ----------
    path : str or Path
        The TOML case file; a mesh or matrix file named in it is relative to it.
    overrides : list of str, optional
        ``section.key=value`` settings that replace those of the file.
    options : dict, optional
        ``"section.key": (option, value)``: values a command's options set (such as
        ``"adapt.steps": ("--steps", 5)``), applied after ``overrides``; unlike those,
        they leave the output folder's name as it is.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        For anything that is not a valid case, with a one-line message.
    """
    path = Path(path)
    text = read_case_file(path)
    origin = CaseOrigin(str(path), hashlib.sha256(text.encode("utf-8")).hexdigest())
    return parse_case_text(text, name=path.stem, source=path.name, base=path.parent,
                           overrides=overrides, options=options, origin=origin)


def parse_case_text(text: str, *, name: str, source: str = "<case>", base: Path | None = None,
                    overrides: list[str] | None = None,
                    options: dict[str, tuple[str, Any]] | None = None,
                    origin: CaseOrigin | None = None) -> Case:
    """Validate case-file text; see :func:`load_case`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CaseError(f"{source}: TOML syntax error: {error}") from None
    except RecursionError:
        raise CaseError(f"{source}: arrays or tables nested too deeply to read (a case "
                        f"file needs two levels)") from None
    overrides = tuple(overrides or ())
    overridden = _apply_overrides(source, raw, list(overrides), dict(options or {}))
    origin = replace(origin or CaseOrigin(), overrides=overrides)
    return _validate(raw, name=name, source=source, base=base or Path.cwd(),
                     overridden=overridden, origin=origin)


def _validate(raw: dict, *, name: str, source: str, base: Path,
              overridden: dict[str, str], origin: CaseOrigin) -> Case:
    check_keys(source, "", raw, SCHEMA[""])
    top = Section(source, "", raw, overridden)
    for section in SCHEMA[""]:
        if section != "name" and section in raw and not isinstance(raw[section], dict):
            raise CaseError(f"{source}: {section} must be a section [{section}], given "
                            f"{type_name(raw[section])}")
    case_name = top.file_name("name", name)
    if "problem" not in raw:
        raise CaseError(f"{source}: missing section [problem] (with type = "
                        f"{' | '.join(PROBLEM_TYPES)})")
    for section in raw:
        if section != "name":
            check_keys(source, section, raw[section], SCHEMA[section])
    problem_section = Section(source, "problem", raw["problem"], overridden)
    if not problem_section.has("type"):
        raise CaseError(f"{source}: [problem] type is missing; allowed: "
                        f"{' | '.join(PROBLEM_TYPES)}")
    problem_type = problem_section.choice("type", PROBLEM_TYPES, None)
    _check_sections_for(source, problem_type, raw, overridden)
    solver = _solver_settings(Section(source, "solver", raw.get("solver", {}), overridden),
                              problem_type, overridden)
    output = _output_settings(Section(source, "output", raw.get("output", {}), overridden),
                              case_name, origin.overrides)
    if problem_type == "matrix":
        check_keys(source, "problem", raw["problem"], ("type",), "by type = \"matrix\"")
        system = _system_settings(Section(source, "system", raw["system"], overridden), base)
        return Case(case_name, source, ProblemSettings("matrix"), solver, output, system=system,
                    origin=origin)
    mesh_settings = read_mesh_settings(Section(source, "mesh", raw["mesh"], overridden), base)
    mesh = build_mesh(mesh_settings, source)
    variables = ("x",) if mesh.dim == 1 else ("x", "y")
    problem = _problem_settings(problem_section, problem_type, mesh.dim, variables)
    time = None
    if problem_type == "heat":
        time = _time_settings(Section(source, "time", raw["time"], overridden), problem,
                              variables)
    boundary_section = Section(source, "boundary", raw.get("boundary", {}), overridden)
    boundary = _boundary_settings(boundary_section, "boundary" in raw, problem, mesh,
                                  variables + (("t",) if problem_type == "heat" else ()))
    if problem_type == "heat":
        _check_heat_options(source, solver, output, overridden)
        _check_heat_work(Section(source, "time", raw["time"], overridden), time, mesh)
    check_solver_memory(source, solver, _unknowns(mesh, mesh_settings.degree))
    adapt = None
    if problem_type in STATIONARY_PROBLEMS:
        adapt = read_adapt_settings(Section(source, "adapt", raw.get("adapt", {}), overridden),
                                    mesh, mesh_settings.degree)
    case = Case(case_name, source, problem, solver, output, mesh_settings=mesh_settings,
                mesh=mesh, boundary=boundary, time=time, adapt=adapt, origin=origin)
    check_expressions_on_mesh(case)
    return case


def _check_heat_options(source: str, solver: SolverSettings, output: OutputSettings,
                        overridden: dict[str, str]) -> None:
    """Options that the time stepper of :func:`fem.problems.solve_heat` cannot honour."""
    if output.save_system:
        origin = " (from --set)" if "output.save_system" in overridden else ""
        raise CaseError(f"{source}: [output] save_system{origin} = true: not available for heat "
                        f"(one system per step); allowed: false")


def _unknowns(mesh, degree: int) -> int:
    """DOFs of the space: P2 adds one per edge, ``points + cells - 1`` by Euler's formula
    for a 2D mesh without holes (an estimate for a mesh file with holes)."""
    if degree == 1:
        return mesh.num_points
    edges = mesh.num_cells if mesh.dim == 1 else mesh.num_points + mesh.num_cells - 1
    return mesh.num_points + edges


def check_solver_memory(source: str, solver: SolverSettings, unknowns: int) -> None:
    """Refuse a GMRES restart whose Krylov basis would not fit in memory."""
    if solver.method != "gmres":
        return
    vectors = min(solver.restart, unknowns) + 1
    needed = 8 * vectors * unknowns
    if needed > MAX_WORKSPACE_BYTES:
        raise CaseError(f"{source}: [solver] restart = {solver.restart}: the GMRES basis of "
                        f"{vectors:,} vectors of {unknowns:,} unknowns needs "
                        f"{needed / 2**30:.1f} GiB; at most {MAX_WORKSPACE_BYTES / 2**30:g} GiB "
                        f"(a smaller restart, or a coarser mesh)")


def _check_heat_work(section: Section, time: TimeSettings, mesh) -> None:
    work = mesh.num_cells * time.num_steps
    if work > MAX_CELL_STEPS:
        raise section.out_of_range(
            "dt", f"{time.num_steps:,} steps on {mesh.num_cells:,} cells make {work:.2g} "
                  f"cell-steps; at most {MAX_CELL_STEPS:.0e} (a larger dt, a shorter t_end "
                  f"or a coarser mesh)")


def _check_sections_for(source: str, problem_type: str, raw: dict,
                        overridden: dict[str, str]) -> None:
    """The sections (and sub-tables) a problem type needs are there, and no others."""
    for section in SECTIONS:
        if not section.name:
            continue
        parent, _, child = section.name.rpartition(".")
        table = raw.get(parent, {}) if parent else raw
        present = isinstance(table, dict) and child in table
        if problem_type in section.problems:
            if section.required and not present:
                raise CaseError(f"{source}: missing section [{section.name}] (needed by "
                                f"type = \"{problem_type}\")")
        elif present:
            users = ", ".join(f'"{kind}"' for kind in section.problems)
            options = sorted({option for key, option in overridden.items()
                              if key.startswith(f"{section.name}.")})
            given = f" (set by {', '.join(options)})" if options else ""
            raise CaseError(f"{source}: section [{section.name}]{given} is not used by type = "
                            f"\"{problem_type}\" (it is for type = {users})")


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def _problem_settings(section: Section, problem_type: str, dim: int,
                      variables: tuple[str, ...]) -> ProblemSettings:
    allowed = ("type", *_PROBLEM_KEYS[problem_type])
    check_keys(section.source, "problem", section.table, allowed,
                f"by type = \"{problem_type}\"")
    time_variables = (*variables, "t") if problem_type == "heat" else variables
    kappa = section.expression("kappa", "1", variables)
    reaction = section.expression("reaction", "0", variables)
    f = section.expression("f", "0", time_variables)
    exact = section.expression("exact", None, time_variables)
    velocity = None
    if problem_type == "convection_diffusion":
        velocity = _velocity(section, dim, variables)
    return ProblemSettings(problem_type, kappa, reaction, velocity, f, exact)


def _velocity(section: Section, dim: int, variables: tuple[str, ...]) -> tuple[Expression, ...]:
    if not section.has("velocity"):
        example = ", ".join(['"1"'] * dim)
        raise section.error("velocity", f"missing; convection_diffusion needs velocity = "
                                        f"[{example}] ({dim} components)")
    value = section.table["velocity"]
    if dim == 1 and not isinstance(value, list):
        value = [value]
    if not isinstance(value, list) or len(value) != dim:
        raise CaseError(f"{section.source}: {section.label('velocity')} = {shown(value)}: "
                        f"expected an array of {dim} expressions (one per coordinate)")
    return tuple(section.expression_from("velocity", item, variables) for item in value)


def _time_settings(section: Section, problem: ProblemSettings,
                   variables: tuple[str, ...]) -> TimeSettings:
    for key in ("t_end", "dt"):
        if not section.has(key):
            raise section.error(key, "missing; the heat equation needs t_end and dt")
    t_end = section.number("t_end", None, positive=True)
    dt = section.number("dt", None, positive=True)
    if dt > t_end:
        raise section.out_of_range("dt", f"0 < dt <= t_end = {t_end:g}")
    if t_end / dt > MAX_TIME_STEPS:
        raise section.out_of_range("dt", f"at most {MAX_TIME_STEPS} steps (t_end/dt)")
    scheme = section.choice("scheme", SCHEMES, "crank_nicolson")
    if section.has("initial"):
        initial = section.expression("initial", None, variables)
    elif problem.exact is not None:
        initial = problem.exact.at_time(0.0)
    else:
        raise section.error("initial", "missing; give initial (or [problem] exact)")
    return TimeSettings(t_end, dt, scheme, initial)


def _boundary_settings(section: Section, present: bool, problem: ProblemSettings, mesh,
                       variables: tuple[str, ...]) -> BoundarySettings:
    exact_or_zero = problem.exact if problem.exact is not None else compile_expression("0")
    if not present:
        return BoundarySettings(dirichlet={"boundary": exact_or_zero})
    parts = {}
    tables = {}
    for kind in ("dirichlet", "neumann", "robin"):
        table = section.table_of(kind)
        tables[kind] = {}
        for part, value in table.items():
            key = f"{kind}.{part}"
            if part not in mesh.boundaries:
                close = difflib.get_close_matches(part, list(mesh.boundaries), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise section.error(key, f"no boundary part {part!r} on this mesh{hint}; "
                                         f"parts: {', '.join(mesh.boundaries)}")
            if part in parts:
                raise section.error(key, f"part {part!r} already has a {parts[part]} "
                                         f"condition")
            parts[part] = kind
            tables[kind][part] = _boundary_value(section, kind, key, value, problem, variables)
    _check_overlapping_parts(section, parts, mesh)
    return BoundarySettings(**tables)


def _boundary_value(section: Section, kind: str, key: str, value: Any,
                    problem: ProblemSettings, variables: tuple[str, ...]):
    if kind == "robin":
        if not isinstance(value, list) or len(value) != 2:
            raise CaseError(f"{section.source}: {section.label(key)} = {shown(value)}: "
                            f"expected [alpha, g] (kappa du/dn + alpha u = g)")
        _refuse_exact(section, key, value[0])
        _refuse_exact(section, key, value[1])
        # alpha enters the matrix, which the heat solver assembles once: no t in it
        space_only = tuple(name for name in variables if name != "t")
        return (section.expression_from(key, value[0], space_only),
                section.expression_from(key, value[1], variables))
    if kind == "neumann":
        _refuse_exact(section, key, value)
        return section.expression_from(key, value, variables)
    return _expression_or_exact(section, key, value, problem, variables)


def _refuse_exact(section: Section, key: str, value: Any) -> None:
    if value == "exact":
        raise section.error(key, "\"exact\" stands for the solution u and is allowed only in "
                                 "dirichlet; give the flux as an expression")


def _expression_or_exact(section: Section, key: str, value: Any, problem: ProblemSettings,
                         variables: tuple[str, ...]) -> Expression:
    if value == "exact":
        if problem.exact is None:
            raise section.error(key, "\"exact\" needs [problem] exact = \"...\"")
        return problem.exact
    return section.expression_from(key, value, variables)


def _check_overlapping_parts(section: Section, parts: dict[str, str], mesh) -> None:
    """Refuse a facet that two different kinds of condition claim (e.g. boundary + left)."""
    owner: dict[tuple[int, ...], str] = {}
    for part, kind in parts.items():
        for facet in map(tuple, np.sort(mesh.boundaries[part], axis=1).tolist()):
            previous = owner.setdefault(facet, part)
            if previous != part and parts[previous] != kind:
                raise section.error(
                    f"{kind}.{part}",
                    f"part {part!r} overlaps {previous!r}, which has a {parts[previous]} "
                    f"condition",
                )


def _solver_settings(section: Section, problem_type: str,
                     overridden: dict[str, str]) -> SolverSettings:
    from solvers import check_tolerances, missing_dependency

    default_method = "gmres" if problem_type == "convection_diffusion" else "cg"
    method = section.choice("method", METHODS, default_method)
    preconditioner = section.choice("preconditioner", PRECONDITIONERS, "none")
    missing = missing_dependency(preconditioner)
    if missing:
        usable = [name for name in PRECONDITIONERS if missing_dependency(name) is None]
        raise section.error("preconditioner", f"{missing}; allowed without it: "
                                              f"{' | '.join(usable)}")
    rtol = section.number("rtol", 1e-8, minimum=0.0)
    atol = section.number("atol", 0.0, minimum=0.0)
    if rtol >= 1.0:
        raise section.out_of_range("rtol", "0 <= rtol < 1")
    try:
        check_tolerances(rtol, atol, None)
    except ValueError as error:
        raise section.error("atol" if section.has("atol") else "rtol", str(error)) from None
    maxiter = section.integer("maxiter", None, minimum=1, maximum=10_000_000)
    restart = section.integer("restart", 30, minimum=1, maximum=10_000)
    if section.has("amg") and not isinstance(section.table["amg"], dict):
        raise section.wrong("amg", "a table [solver.amg] such as { theta = 0.08 }")
    amg = read_amg_options(Section(section.source, "solver.amg", section.table.get("amg", {}),
                                   overridden), preconditioner)
    return SolverSettings(method, preconditioner, rtol, atol, maxiter, restart, amg)


def _output_settings(section: Section, name: str, overrides: tuple[str, ...]) -> OutputSettings:
    directory = section.path("dir", None)
    path = Path(directory) if directory else Path("results") / name
    if "output.dir" not in section.overridden:
        path = path.with_name(path.name + override_suffix(overrides))
    return OutputSettings(path, section.boolean("plots", True),
                          section.boolean("save_system", False))


def override_suffix(overrides: tuple[str, ...] | list[str]) -> str:
    """What ``--set`` overrides add to the default output folder's name.

    A run with overrides is another run than the case file's, so it gets a folder of
    its own: ``results/poisson-2d--mesh.n=64``.  Characters that a shell or a file
    system would stumble on become ``_``; a very long suffix is cut and made unique by
    a hash of the whole.

    Examples
    --------
    >>> override_suffix(["mesh.n=64", "problem.f=sin(pi*x)"])
    '--mesh.n=64--problem.f=sin_pi_x_'
    >>> override_suffix([])
    ''
    """
    parts = []
    for text in overrides:
        key, _, value = text.partition("=")
        parts.append(f"--{key.strip()}={_SAFE.sub('_', value.strip())}")
    suffix = "".join(parts)
    if len(suffix) > _MAX_SUFFIX:
        digest = hashlib.sha256("\n".join(overrides).encode("utf-8")).hexdigest()[:10]
        suffix = suffix[: _MAX_SUFFIX - 12] + "--" + digest
    return suffix


_SAFE = re.compile(r"[^A-Za-z0-9._+=-]")
_MAX_SUFFIX = 120


def _system_settings(section: Section, base: Path) -> SystemSettings:
    if not section.has("matrix"):
        raise section.error("matrix", "missing; give matrix = \"file.mtx\"")
    matrix = base / section.path("matrix", None)
    if not matrix.is_file():
        raise section.error("matrix", f"no such matrix file {str(matrix)!r}")
    rhs = None
    if section.has("rhs"):
        rhs = base / section.path("rhs", None)
        if not rhs.is_file():
            raise section.error("rhs", f"no such right-hand-side file {str(rhs)!r}")
    return SystemSettings(matrix, rhs)
