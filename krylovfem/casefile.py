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
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fem import mesh as mesh_module
from krylovfem.expr import Expression, ExpressionError, compile_expression
from krylovfem.schema import (
    DOMAINS,
    ELEMENTS,
    PROBLEM_TYPES,
    SCHEMES,
    keys_by_section,
    problem_keys,
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

#: Every section and key a case file may contain; anything else is an error.  Derived
#: from the reference table of :mod:`krylovfem.schema`, so the page cannot list others.
SCHEMA: dict[str, tuple[str, ...]] = keys_by_section()

# Which problem keys each type understands (besides "type").
_PROBLEM_KEYS = problem_keys()

# Guards against runs that could never finish on a workstation; far above any
# case in cases/ and any refinement study that fits in memory.
MAX_ELEMENTS_PER_LENGTH = 100_000
MAX_CELLS = 4_000_000
MAX_TIME_STEPS = 1_000_000
MAX_FILE_BYTES = 1_000_000


class CaseError(ValueError):
    """A case file (or a ``--set`` override) that is not a valid case; a one-line message."""


# --------------------------------------------------------------------------------------
# Validated settings
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeshSettings:
    """Where the mesh comes from: a generator (``domain``, ``bounds``, ``n``) or a ``file``."""

    domain: str | None
    bounds: tuple[float, ...] | None
    n: int
    element: str
    file: Path | None

    @property
    def degree(self) -> int:
        """Polynomial degree of the element (1 for P1, 2 for P2)."""
        return int(self.element[1:])


@dataclass(frozen=True)
class ProblemSettings:
    r"""The equation :math:`-\nabla\cdot(\kappa\nabla u) + b\cdot\nabla u + c u = f`."""

    type: str
    kappa: Expression | None = None
    reaction: Expression | None = None
    velocity: tuple[Expression, ...] | None = None
    f: Expression | None = None
    exact: Expression | None = None


@dataclass(frozen=True)
class BoundarySettings:
    """Boundary parts by name; a part in no table has zero flux."""

    dirichlet: dict[str, Expression] = field(default_factory=dict)
    neumann: dict[str, Expression] = field(default_factory=dict)
    robin: dict[str, tuple[Expression, Expression]] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeSettings:
    """Time stepping for the heat equation."""

    t_end: float
    dt: float
    scheme: str
    initial: Expression

    @property
    def num_steps(self) -> int:
        r"""Number of steps, :math:`\lceil t_{end} / \Delta t \rceil` (the last one fits)."""
        return self.steps_for(self.dt)

    def steps_for(self, dt: float) -> int:
        """Number of steps of length at most ``dt`` (as :func:`fem.problems.solve_heat`)."""
        return max(1, math.ceil(self.t_end / dt - 1e-9))


@dataclass(frozen=True)
class SolverSettings:
    """The Krylov method and its options, as given (``maxiter=None``: the solver's default)."""

    method: str
    preconditioner: str
    rtol: float
    atol: float
    maxiter: int | None
    restart: int

    def as_record(self) -> dict[str, Any]:
        """The ``solver`` entry of the run record."""
        return {
            "method": self.method,
            "preconditioner": self.preconditioner,
            "rtol": self.rtol,
            "atol": self.atol,
            "maxiter": self.maxiter,
            "restart": self.restart,
        }


@dataclass(frozen=True)
class OutputSettings:
    """Where and what to write."""

    dir: Path
    plots: bool
    save_system: bool


@dataclass(frozen=True)
class SystemSettings:
    """A linear system read from Matrix Market files (``type = "matrix"``)."""

    matrix: Path
    rhs: Path | None


@dataclass(frozen=True)
class CaseOrigin:
    """Where a case came from: the file, its checksum, and the ``--set`` overrides applied.

    Attributes
    ----------
    path : str or None
        The case file as given (None for text parsed in memory).
    sha256 : str or None
        SHA-256 of the file's bytes, as read.
    overrides : tuple of str
        The ``section.key=value`` overrides, in the order applied.
    """

    path: str | None = None
    sha256: str | None = None
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """A validated case: everything needed to run it, nothing left to check.

    Attributes
    ----------
    name : str
        The case name (the file name without ``.toml`` unless ``name`` is given).
    source : str
        The file name used in messages.
    mesh : fem.mesh.Mesh or None
        The mesh at the level given in the file (``None`` for a matrix case).
    """

    name: str
    source: str
    problem: ProblemSettings
    solver: SolverSettings
    output: OutputSettings
    mesh_settings: MeshSettings | None = None
    mesh: Any = None
    boundary: BoundarySettings | None = None
    time: TimeSettings | None = None
    system: SystemSettings | None = None
    origin: CaseOrigin = field(default_factory=CaseOrigin)

    @property
    def dim(self) -> int | None:
        """Spatial dimension, ``None`` for a matrix case."""
        return None if self.mesh is None else self.mesh.dim

    @property
    def is_stationary(self) -> bool:
        """True for the elliptic problems (not heat, not matrix)."""
        return self.problem.type not in ("heat", "matrix")


# --------------------------------------------------------------------------------------
# Reading values with messages that name the file and the key
# --------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Section:
    """Typed access to one table of the case file, raising :class:`CaseError`."""

    def __init__(self, source: str, name: str, table: dict, overridden: frozenset[str]):
        self.source = source
        self.name = name
        self.table = table
        self.overridden = overridden

    def label(self, key: str) -> str:
        section = f"[{self.name}] " if self.name else ""
        from_command_line = f"{self.name}.{key}".lstrip(".") in self.overridden
        return f"{section}{key}" + (" (from --set)" if from_command_line else "")

    def error(self, key: str, message: str) -> CaseError:
        return CaseError(f"{self.source}: {self.label(key)}: {message}")

    def wrong(self, key: str, allowed: str) -> CaseError:
        value = self.table[key]
        return CaseError(
            f"{self.source}: {self.label(key)} = {_shown(value)}: expected {allowed}, "
            f"given {_type_name(value)}"
        )

    def out_of_range(self, key: str, allowed: str) -> CaseError:
        value = self.table[key]
        return CaseError(f"{self.source}: {self.label(key)} = {_shown(value)}: out of range; "
                         f"allowed: {allowed}")

    def has(self, key: str) -> bool:
        return key in self.table

    def number(self, key: str, default: float | None, *, minimum: float | None = None,
               positive: bool = False) -> float | None:
        if key not in self.table:
            return default
        value = self.table[key]
        allowed = "a number" + (" > 0" if positive else "" if minimum is None
                                else f" >= {minimum:g}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong(key, allowed)
        value = float(value)
        if not math.isfinite(value) or (positive and value <= 0) or (
            minimum is not None and value < minimum
        ):
            raise self.out_of_range(key, allowed)
        return value

    def integer(self, key: str, default: int | None, *, minimum: int,
                maximum: int | None = None) -> int | None:
        if key not in self.table:
            return default
        value = self.table[key]
        allowed = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum else "")
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.wrong(key, allowed)
        if value < minimum or (maximum is not None and value > maximum):
            raise self.out_of_range(key, allowed)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def string(self, key: str, default: str | None) -> str | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.wrong(key, "a non-empty string")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        if key not in self.table:
            return default
        value = self.table[key]
        allowed = " | ".join(choices)
        if not isinstance(value, str):
            raise self.wrong(key, f"one of {allowed}")
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CaseError(f"{self.source}: {self.label(key)} = {_shown(value)}: unknown"
                            f"{hint}; allowed: {allowed}")
        return value

    def numbers(self, key: str, length: int) -> tuple[float, ...] | None:
        if key not in self.table:
            return None
        value = self.table[key]
        allowed = f"an array of {length} numbers"
        if not isinstance(value, list) or len(value) != length or any(
            isinstance(item, bool) or not isinstance(item, int | float) for item in value
        ):
            raise self.wrong(key, allowed) if not isinstance(value, list) else CaseError(
                f"{self.source}: {self.label(key)} = {_shown(value)}: expected {allowed}"
            )
        if not all(math.isfinite(item) for item in value):
            raise self.out_of_range(key, "finite numbers")
        return tuple(float(item) for item in value)

    def expression_from(self, key: str, value: Any, variables: tuple[str, ...]) -> Expression:
        """Compile one expression (a string, or a plain number for convenience)."""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise CaseError(f"{self.source}: {self.label(key)} = {_shown(value)}: expected an "
                            f"expression (a string such as \"1 + x^2\"), given "
                            f"{_type_name(value)}")
        text = value if isinstance(value, str) else repr(float(value))
        try:
            return compile_expression(text, allowed_variables=variables)
        except ExpressionError as error:
            raise self.error(key, str(error)) from None

    def expression(self, key: str, default: str | None,
                   variables: tuple[str, ...]) -> Expression | None:
        if key not in self.table:
            return None if default is None else compile_expression(default)
        return self.expression_from(key, self.table[key], variables)

    def table_of(self, key: str) -> dict:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.wrong(key, "a table such as { left = \"0\" }")
        return value


def _unknown_key_error(source: str, section: str, key: str, allowed: tuple[str, ...],
                       what: str = "key") -> CaseError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    place = f"[{section}] " if section else ""
    if section == "" and what == "key":
        what = "key or section"
    return CaseError(f"{source}: {place}unknown {what} {key!r}{hint}; allowed: "
                     f"{', '.join(allowed)}")


def _check_keys(source: str, section: str, table: dict, allowed: tuple[str, ...],
                reason: str = "") -> None:
    for key in table:
        if key not in allowed:
            if key in SCHEMA.get(section, ()):
                # a known key that this kind of problem does not use
                place = f"[{section}] " if section else ""
                raise CaseError(f"{source}: {place}{key} is not used {reason}; allowed here: "
                                f"{', '.join(allowed) or 'nothing'}")
            raise _unknown_key_error(source, section, key, allowed)


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
        raise CaseError(f"--set {text!r}: expected section.key=value, e.g. --set mesh.n=64")
    value = value.strip()
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return path, parsed


def _apply_overrides(source: str, raw: dict, overrides: list[str]) -> frozenset[str]:
    applied = []
    for text in overrides:
        path, value = parse_override(text)
        if path[0] not in SCHEMA[""]:
            raise _unknown_key_error(f"{source} (--set {text})", "", path[0], SCHEMA[""])
        table = raw
        for part in path[:-1]:
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise CaseError(f"{source}: --set {text}: {part!r} is not a table")
            table = child
        table[path[-1]] = value
        applied.append(".".join(path[:2]))
    return frozenset(applied)


def load_case(path: str | Path, overrides: list[str] | None = None) -> Case:
    """Read, override and validate a case file.

    Parameters
    ----------
    path : str or Path
        The TOML case file; a mesh or matrix file named in it is relative to it.
    overrides : list of str, optional
        ``section.key=value`` settings that replace those of the file.

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
                           overrides=overrides, origin=origin)


def parse_case_text(text: str, *, name: str, source: str = "<case>", base: Path | None = None,
                    overrides: list[str] | None = None,
                    origin: CaseOrigin | None = None) -> Case:
    """Validate case-file text; see :func:`load_case`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CaseError(f"{source}: TOML syntax error: {error}") from None
    overrides = tuple(overrides or ())
    overridden = _apply_overrides(source, raw, list(overrides))
    origin = replace(origin or CaseOrigin(), overrides=overrides)
    return _validate(raw, name=name, source=source, base=base or Path.cwd(),
                     overridden=overridden, origin=origin)


def _validate(raw: dict, *, name: str, source: str, base: Path,
              overridden: frozenset[str], origin: CaseOrigin) -> Case:
    _check_keys(source, "", raw, SCHEMA[""])
    top = _Section(source, "", raw, overridden)
    for section in SCHEMA[""]:
        if section != "name" and section in raw and not isinstance(raw[section], dict):
            raise CaseError(f"{source}: {section} must be a section [{section}], given "
                            f"{_type_name(raw[section])}")
    case_name = top.string("name", name)
    if "problem" not in raw:
        raise CaseError(f"{source}: missing section [problem] (with type = "
                        f"{' | '.join(PROBLEM_TYPES)})")
    for section in raw:
        if section != "name":
            _check_keys(source, section, raw[section], SCHEMA[section])
    problem_section = _Section(source, "problem", raw["problem"], overridden)
    if not problem_section.has("type"):
        raise CaseError(f"{source}: [problem] type is missing; allowed: "
                        f"{' | '.join(PROBLEM_TYPES)}")
    problem_type = problem_section.choice("type", PROBLEM_TYPES, None)
    _check_sections_for(source, problem_type, raw)
    solver = _solver_settings(_Section(source, "solver", raw.get("solver", {}), overridden),
                              problem_type)
    output = _output_settings(_Section(source, "output", raw.get("output", {}), overridden),
                              case_name, origin.overrides)
    if problem_type == "matrix":
        _check_keys(source, "problem", raw["problem"], ("type",), "by type = \"matrix\"")
        system = _system_settings(_Section(source, "system", raw["system"], overridden), base)
        return Case(case_name, source, ProblemSettings("matrix"), solver, output, system=system,
                    origin=origin)
    mesh_settings = _mesh_settings(_Section(source, "mesh", raw["mesh"], overridden), base)
    mesh = build_mesh(mesh_settings, source)
    variables = ("x",) if mesh.dim == 1 else ("x", "y")
    problem = _problem_settings(problem_section, problem_type, mesh.dim, variables)
    time = None
    if problem_type == "heat":
        time = _time_settings(_Section(source, "time", raw["time"], overridden), problem,
                              variables)
    boundary_section = _Section(source, "boundary", raw.get("boundary", {}), overridden)
    boundary = _boundary_settings(boundary_section, "boundary" in raw, problem, mesh,
                                  variables + (("t",) if problem_type == "heat" else ()))
    if problem_type == "heat":
        _check_heat_options(source, solver, output, overridden)
    case = Case(case_name, source, problem, solver, output, mesh_settings=mesh_settings,
                mesh=mesh, boundary=boundary, time=time, origin=origin)
    check_expressions_on_mesh(case)
    return case


def _check_heat_options(source: str, solver: SolverSettings, output: OutputSettings,
                        overridden: frozenset[str]) -> None:
    """Options that the time stepper of :func:`fem.problems.solve_heat` cannot honour."""
    if output.save_system:
        origin = " (from --set)" if "output.save_system" in overridden else ""
        raise CaseError(f"{source}: [output] save_system{origin} = true: not available for heat "
                        f"(one system per step); allowed: false")


def _check_sections_for(source: str, problem_type: str, raw: dict) -> None:
    needed = {"matrix": ("system",), "heat": ("mesh", "time")}.get(problem_type, ("mesh",))
    refused = {"matrix": ("mesh", "boundary", "time")}.get(
        problem_type, ("system",) if problem_type == "heat" else ("system", "time"))
    for section in needed:
        if section not in raw:
            raise CaseError(f"{source}: missing section [{section}] (needed by type = "
                            f"\"{problem_type}\")")
    for section in refused:
        if section in raw:
            users = {"system": "matrix", "time": "heat"}.get(section, "mesh-based problems")
            raise CaseError(f"{source}: section [{section}] is not used by type = "
                            f"\"{problem_type}\" (it is for {users})")


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------
def _mesh_settings(section: _Section, base: Path) -> MeshSettings:
    source = section.source
    element = section.choice("element", ELEMENTS, "P1")
    if section.has("file"):
        for key in ("domain", "bounds", "n"):
            if section.has(key):
                raise section.error(key, "not used with file (the mesh comes from the file)")
        file = base / section.string("file", None)
        if not file.is_file():
            raise section.error("file", f"no such mesh file {str(file)!r}")
        return MeshSettings(None, None, 0, element, file)
    if not section.has("domain"):
        raise CaseError(f"{source}: [mesh] needs domain = {' | '.join(DOMAINS)} (or file = "
                        f"\"mesh.msh\")")
    domain = section.choice("domain", DOMAINS, None)
    n = section.integer("n", 8, minimum=1, maximum=MAX_ELEMENTS_PER_LENGTH)
    lengths = {"interval": 2, "rectangle": 4}
    if domain in lengths:
        bounds = section.numbers("bounds", lengths[domain])
        if bounds is None:
            if domain == "rectangle":
                raise section.error("bounds", "missing; rectangle needs bounds = "
                                              "[x0, x1, y0, y1]")
            bounds = (0.0, 1.0)
        pairs = [bounds[i:i + 2] for i in range(0, len(bounds), 2)]
        if any(low >= high for low, high in pairs):
            raise section.out_of_range("bounds", "increasing pairs, a < b (interval: [a, b]; "
                                                 "rectangle: [x0, x1, y0, y1])")
    else:
        if section.has("bounds"):
            raise section.error("bounds", f"not used with domain = \"{domain}\" (only interval "
                                          f"and rectangle take bounds)")
        bounds = None
    settings = MeshSettings(domain, bounds, n, element, None)
    cells = estimated_cells(settings)
    if cells > MAX_CELLS:
        raise section.out_of_range("n", f"at most {MAX_CELLS:,} cells; n = {n} gives "
                                        f"{cells:,}")
    return settings


def estimated_cells(settings: MeshSettings) -> int:
    """Number of cells the generator will make (checked before anything is allocated)."""
    n = settings.n
    if settings.domain == "interval":
        return _cells_along(settings.bounds[1] - settings.bounds[0], n)
    if settings.domain == "unit_square":
        return 2 * n * n
    if settings.domain == "rectangle":
        x0, x1, y0, y1 = settings.bounds
        return 2 * _cells_along(x1 - x0, n) * _cells_along(y1 - y0, n)
    return 6 * n * n


def _cells_along(length: float, per_unit: int) -> int:
    return max(1, round(length * per_unit))


def build_mesh(settings: MeshSettings, source: str = "<case>"):
    """The mesh described by ``settings`` (a generator call or a mesh file read by meshio)."""
    if settings.file is not None:
        return _read_mesh_file(settings.file, source)
    n = settings.n
    if settings.domain == "interval":
        a, b = settings.bounds
        return mesh_module.interval(a, b, _cells_along(b - a, n))
    if settings.domain == "unit_square":
        return mesh_module.unit_square(n)
    if settings.domain == "rectangle":
        x0, x1, y0, y1 = settings.bounds
        return mesh_module.rectangle(x0, x1, y0, y1, _cells_along(x1 - x0, n),
                                     _cells_along(y1 - y0, n))
    return mesh_module.l_shape(n)


def _read_mesh_file(path: Path, source: str):
    try:
        from fem.meshio_io import read_mesh
    except ImportError:  # pragma: no cover - the module ships with the package
        raise CaseError(f"{source}: [mesh] file: reading mesh files needs fem.meshio_io") from None
    try:
        return read_mesh(path)
    except Exception as error:  # meshio raises many kinds; all mean "unreadable mesh"
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CaseError(f"{source}: [mesh] file = {str(path.name)!r}: cannot read the mesh: "
                        f"{message}") from None


def _problem_settings(section: _Section, problem_type: str, dim: int,
                      variables: tuple[str, ...]) -> ProblemSettings:
    allowed = ("type", *_PROBLEM_KEYS[problem_type])
    _check_keys(section.source, "problem", section.table, allowed,
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


def _velocity(section: _Section, dim: int, variables: tuple[str, ...]) -> tuple[Expression, ...]:
    if not section.has("velocity"):
        example = ", ".join(['"1"'] * dim)
        raise section.error("velocity", f"missing; convection_diffusion needs velocity = "
                                        f"[{example}] ({dim} components)")
    value = section.table["velocity"]
    if dim == 1 and not isinstance(value, list):
        value = [value]
    if not isinstance(value, list) or len(value) != dim:
        raise CaseError(f"{section.source}: {section.label('velocity')} = {_shown(value)}: "
                        f"expected an array of {dim} expressions (one per coordinate)")
    return tuple(section.expression_from("velocity", item, variables) for item in value)


def _time_settings(section: _Section, problem: ProblemSettings,
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


def _boundary_settings(section: _Section, present: bool, problem: ProblemSettings, mesh,
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


def _boundary_value(section: _Section, kind: str, key: str, value: Any,
                    problem: ProblemSettings, variables: tuple[str, ...]):
    if kind == "robin":
        if not isinstance(value, list) or len(value) != 2:
            raise CaseError(f"{section.source}: {section.label(key)} = {_shown(value)}: "
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


def _refuse_exact(section: _Section, key: str, value: Any) -> None:
    if value == "exact":
        raise section.error(key, "\"exact\" stands for the solution u and is allowed only in "
                                 "dirichlet; give the flux as an expression")


def _expression_or_exact(section: _Section, key: str, value: Any, problem: ProblemSettings,
                         variables: tuple[str, ...]) -> Expression:
    if value == "exact":
        if problem.exact is None:
            raise section.error(key, "\"exact\" needs [problem] exact = \"...\"")
        return problem.exact
    return section.expression_from(key, value, variables)


def _check_overlapping_parts(section: _Section, parts: dict[str, str], mesh) -> None:
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


def _solver_settings(section: _Section, problem_type: str) -> SolverSettings:
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
    return SolverSettings(method, preconditioner, rtol, atol, maxiter, restart)


def _output_settings(section: _Section, name: str, overrides: tuple[str, ...]) -> OutputSettings:
    directory = section.string("dir", None)
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


def _system_settings(section: _Section, base: Path) -> SystemSettings:
    if not section.has("matrix"):
        raise section.error("matrix", "missing; give matrix = \"file.mtx\"")
    matrix = base / section.string("matrix", None)
    if not matrix.is_file():
        raise section.error("matrix", f"no such matrix file {str(matrix)!r}")
    rhs = None
    if section.has("rhs"):
        rhs = base / section.string("rhs", None)
        if not rhs.is_file():
            raise section.error("rhs", f"no such right-hand-side file {str(rhs)!r}")
    return SystemSettings(matrix, rhs)


# --------------------------------------------------------------------------------------
# Expressions evaluated on the mesh before anything runs
# --------------------------------------------------------------------------------------
def _evaluation_points(mesh) -> np.ndarray:
    """Vertices and cell midpoints: where a NaN or Inf would first show up."""
    midpoints = mesh.points[mesh.cells].mean(axis=1)
    return np.vstack([mesh.points, midpoints])


def _evaluate_on(source: str, key: str, expression: Expression, points: np.ndarray,
                 times: tuple[float, ...]) -> None:
    coordinates = [points[:, 0], points[:, 1] if points.shape[1] > 1 else None]
    for time in times:
        try:
            expression(*coordinates, time)
        except ExpressionError as error:
            at_time = f" at t = {time:g}" if "t" in expression.variables else ""
            raise CaseError(f"{source}: {key}: {error}{at_time} on the mesh") from None


def check_expressions_on_mesh(case: Case) -> None:
    """Evaluate every expression where it will be used; NaN, Inf or overflow is an error.

    Coefficients are checked at the vertices and cell midpoints, boundary data
    on the vertices of its part, time-dependent data at ``t = 0`` and
    ``t = t_end``.
    """
    mesh = case.mesh
    source = case.source
    points = _evaluation_points(mesh)
    times = (0.0, case.time.t_end) if case.time else (0.0,)
    problem = case.problem
    named = {"kappa": problem.kappa, "reaction": problem.reaction, "f": problem.f,
             "exact": problem.exact}
    for index, component in enumerate(problem.velocity or ()):
        named[f"velocity[{index}]"] = component
    if case.time is not None:
        named["initial"] = case.time.initial
    for key, expression in named.items():
        if expression is not None:
            section = "time" if key == "initial" else "problem"
            _evaluate_on(source, f"[{section}] {key}", expression, points, times)
    if problem.exact is not None:
        # the gradient only at cell midpoints: at a re-entrant corner vertex it is
        # rightly infinite, and the H1 error never evaluates it there
        midpoints = points[mesh.num_points:]
        for axis, derivative in zip("xy"[: mesh.dim], problem.exact.gradient, strict=False):
            _evaluate_on(source, f"[problem] exact (d/d{axis})", derivative, midpoints, times)
    _check_boundary_expressions(case, times)


def _check_boundary_expressions(case: Case, times: tuple[float, ...]) -> None:
    mesh = case.mesh
    boundary = case.boundary
    entries = [("dirichlet", part, value) for part, value in boundary.dirichlet.items()]
    entries += [("neumann", part, value) for part, value in boundary.neumann.items()]
    for part, (alpha, g) in boundary.robin.items():
        entries += [("robin", part, alpha), ("robin", part, g)]
    for kind, part, expression in entries:
        vertices = np.unique(mesh.boundaries[part])
        _evaluate_on(case.source, f"[boundary] {kind}.{part}", expression,
                     mesh.points[vertices], times)
