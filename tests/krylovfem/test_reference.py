"""The case-file schema and reference page (krylovfem.schema, krylovfem.reference,
docs/case-files.md) agree with the reader.

Every documented key is accepted, every other key refused, every documented default
is what the reader fills in, every example parses, the boundary parts and cell counts
documented per domain are those of the generated meshes, and the committed page is
what the generator writes.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from krylovfem import reference, schema
from krylovfem.amg_options import AMG_OPTIONS
from krylovfem.casefile import Case, CaseError, parse_case_text
from krylovfem.schema import KEYS, PROBLEM_TYPES, SECTIONS, entry

REPOSITORY = Path(__file__).resolve().parents[2]
CASES = REPOSITORY / "cases"
NAME = "demo"

# The value each key of a parsed case ended up with, as TOML would write it.
SETTINGS = {
    ("", "name"): lambda case: case.name,
    ("mesh", "domain"): lambda case: case.mesh_settings.domain,
    ("mesh", "bounds"): lambda case: list(case.mesh_settings.bounds),
    ("mesh", "n"): lambda case: case.mesh_settings.n,
    ("mesh", "element"): lambda case: case.mesh_settings.element,
    ("mesh", "file"): lambda case: case.mesh_settings.file,
    ("problem", "type"): lambda case: case.problem.type,
    ("problem", "kappa"): lambda case: case.problem.kappa.text,
    ("problem", "reaction"): lambda case: case.problem.reaction.text,
    ("problem", "velocity"): lambda case: [part.text for part in case.problem.velocity],
    ("problem", "f"): lambda case: case.problem.f.text,
    ("problem", "exact"): lambda case: case.problem.exact and case.problem.exact.text,
    ("boundary", "dirichlet"): lambda case: {part: value.text for part, value
                                             in case.boundary.dirichlet.items()},
    ("boundary", "neumann"): lambda case: {part: value.text for part, value
                                           in case.boundary.neumann.items()},
    ("boundary", "robin"): lambda case: {part: [alpha.text, g.text] for part, (alpha, g)
                                         in case.boundary.robin.items()},
    ("time", "t_end"): lambda case: case.time.t_end,
    ("time", "dt"): lambda case: case.time.dt,
    ("time", "scheme"): lambda case: case.time.scheme,
    ("time", "initial"): lambda case: case.time.initial.text,
    ("solver", "method"): lambda case: case.solver.method,
    ("solver", "preconditioner"): lambda case: case.solver.preconditioner,
    ("solver", "rtol"): lambda case: case.solver.rtol,
    ("solver", "atol"): lambda case: case.solver.atol,
    ("solver", "maxiter"): lambda case: case.solver.maxiter,
    ("solver", "restart"): lambda case: case.solver.restart,
    **{("solver.amg", name): (lambda case, name=name: case.solver.amg[name])
       for name in AMG_OPTIONS},
    **{("adapt", name): (lambda case, name=name: getattr(case.adapt, name))
       for name in ("steps", "marking", "theta", "target", "max_dofs")},
    ("output", "dir"): lambda case: str(case.output.dir),
    ("output", "plots"): lambda case: case.output.plots,
    ("output", "save_system"): lambda case: case.output.save_system,
    ("system", "matrix"): lambda case: case.system.matrix,
    ("system", "rhs"): lambda case: case.system.rhs,
}

# Keys whose example or default needs other settings than the minimal case's:
# {"section.key": value, or None to leave it out}.  Bounds are for interval (and
# rectangle) only; a file replaces the domain.
DEFAULT_CONTEXT = {("mesh", "bounds"): {"mesh.domain": '"interval"'}} | {
    ("solver.amg", name): {"solver.preconditioner": '"amg"'} for name in AMG_OPTIONS}
EXAMPLE_CONTEXT = DEFAULT_CONTEXT | {("mesh", "file"): {"mesh.domain": None}}


def _setting(case: Case, section: str, key: str, base: Path = CASES):
    """``SETTINGS`` of the key, with a file given relative to the case as written."""
    value = SETTINGS[section, key](case)
    return value.relative_to(base).as_posix() if isinstance(value, Path) else value


def _is_required(key) -> bool:
    return key.default.startswith("required")


def _minimal(kind: str) -> dict[str, dict[str, str]]:
    """The smallest case of type ``kind``: its required keys, each at its example value.

    Sections map key names to TOML value text; ``""`` holds the top-level keys.
    """
    case: dict[str, dict[str, str]] = {"": {}}
    for section in SECTIONS:
        if section.required and kind in section.problems:
            case[section.name] = {}
    for key in KEYS:
        if _is_required(key) and kind in key.applies_to:
            case[key.section][key.key] = f'"{kind}"' if key.key == "type" else key.example
    return case


def _with(case: dict, settings: dict[str, str | None]) -> dict:
    """A copy of ``case`` with ``{"section.key": value}`` set (None: left out)."""
    case = {section: dict(keys) for section, keys in case.items()}
    for dotted, value in settings.items():
        section, _, key = dotted.rpartition(".")
        keys = case.setdefault(section, {})
        if value is None:
            keys.pop(key, None)
        else:
            keys[key] = value
    return case


def _text(case: dict) -> str:
    lines = [f"{key} = {value}" for key, value in case[""].items()]
    for section, keys in case.items():
        if section:
            lines += [f"[{section}]", *(f"{key} = {value}" for key, value in keys.items())]
    return "\n".join(lines) + "\n"


def _parse(text: str, base: Path = CASES) -> Case:
    return parse_case_text(text, name=NAME, source="reference.toml", base=base)


def _kind(key) -> str:
    """The problem type under which a key is tried: the first it applies to."""
    return key.applies_to[0]


def _label(key) -> str:
    return f"{key.section}.{key.key}".lstrip(".")


# --------------------------------------------------------------------------------------
# The page and the table
# --------------------------------------------------------------------------------------
def test_committed_page_is_what_the_generator_writes():
    committed = reference.REFERENCE_PATH.read_text(encoding="utf-8")
    assert committed == reference.reference_markdown(), (
        "docs/case-files.md is out of date; run `python -m krylovfem.schema` and commit it")


def test_every_table_key_has_a_check_here():
    assert set(SETTINGS) == {(key.section, key.key) for key in KEYS}


def test_table_entries_are_unique_and_in_known_sections():
    names = [(key.section, key.key) for key in KEYS]
    assert len(names) == len(set(names))
    assert {key.section for key in KEYS} <= {section.name for section in SECTIONS}
    for key in KEYS:
        assert set(key.applies_to) <= set(PROBLEM_TYPES), key
        assert key.meaning.endswith("."), key


def test_reader_derives_its_keys_from_the_table():
    from krylovfem import casefile

    assert casefile.SCHEMA == schema.keys_by_section()
    assert casefile.SCHEMA[""] == ("name", "mesh", "problem", "boundary", "time", "solver",
                                   "adapt", "output", "system")
    assert casefile.SCHEMA["solver"][-1] == "amg"  # the sub-table [solver.amg]
    assert casefile._PROBLEM_KEYS == schema.problem_keys()
    assert casefile.DOMAINS is schema.DOMAINS
    assert casefile.METHODS == ("cg", "gmres")
    assert "ic0" in casefile.PRECONDITIONERS


# --------------------------------------------------------------------------------------
# Accepted and refused keys
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS, ids=_label)
def test_example_value_parses(key, tmp_path):
    base = CASES
    if (key.section, key.key) == ("system", "rhs"):
        # the example names a file that must exist beside the case
        base = tmp_path
        (tmp_path / "gr_30_30.mtx").write_bytes((CASES / "gr_30_30.mtx").read_bytes())
        order = 900
        (tmp_path / tomllib.loads(f"v = {key.example}")["v"]).write_text(
            "%%MatrixMarket matrix array real general\n" + f"{order} 1\n" + "1.0\n" * order)
    case = _with(_minimal(_kind(key)), EXAMPLE_CONTEXT.get((key.section, key.key), {}))
    parsed = _parse(_text(_with(case, {_label(key): key.example})), base)
    expected = tomllib.loads(f"v = {key.example}")["v"]
    assert _setting(parsed, key.section, key.key, base) == expected


@pytest.mark.parametrize("section", SECTIONS, ids=lambda section: section.name or "top")
def test_section_example_parses(section):
    case = _minimal(section.problems[0])
    if section.name:
        case.pop(section.name, None)
        text = _text(case) + section.example + "\n"
    else:
        text = section.example + "\n" + _text(case)
    raw = tomllib.loads(section.example)
    parsed = _parse(text)
    for part in filter(None, section.name.split(".")):  # [solver.amg] is raw["solver"]["amg"]
        raw = raw[part]
    for name, value in raw.items():
        assert _setting(parsed, section.name, name) == value, name


def test_example_case_parses():
    case = _parse(reference.EXAMPLE_CASE)
    assert case.name == "plate-example" and case.problem.type == "reaction_diffusion"


@pytest.mark.parametrize("kind", PROBLEM_TYPES)
def test_unknown_keys_are_refused(kind):
    minimal = _minimal(kind)
    for section in SECTIONS:
        if kind not in section.problems:
            continue
        context = DEFAULT_CONTEXT.get((section.name, next(iter(AMG_OPTIONS))), {}) \
            if section.name == "solver.amg" else {}
        with pytest.raises(CaseError, match="unknown key"):
            _parse(_text(_with(minimal, {f"{section.name}.bogus": "1", **context})))


@pytest.mark.parametrize("kind", PROBLEM_TYPES)
def test_keys_of_other_problem_types_are_refused(kind):
    minimal = _minimal(kind)
    for key in KEYS:
        section = next(section for section in SECTIONS if section.name == key.section)
        if kind in key.applies_to or kind not in section.problems:
            continue
        with pytest.raises(CaseError, match=f"{key.key}.*not"):
            _parse(_text(_with(minimal, {_label(key): key.example})))


@pytest.mark.parametrize("kind", PROBLEM_TYPES)
def test_sections_of_other_problem_types_are_refused(kind):
    for section in SECTIONS:
        if section.name and kind not in section.problems:
            first = next(key for key in KEYS if key.section == section.name)
            other = _minimal(section.problems[0]).get(section.name) or {
                first.key: first.example}
            case = _minimal(kind) | {section.name: other}
            with pytest.raises(CaseError, match=rf"\[{section.name}\]"):
                _parse(_text(case))


# --------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------
def _documented_default(key):
    value = key.default.partition(";")[0].strip()
    if value == "none":
        return None
    value = value.replace("<case file name without .toml>", NAME).replace("<name>", NAME)
    return tomllib.loads(f"v = {value}")["v"]


@pytest.mark.parametrize("key", [key for key in KEYS if not _is_required(key)], ids=_label)
def test_documented_default_is_what_the_reader_fills_in(key):
    case = _with(_minimal(_kind(key)), DEFAULT_CONTEXT.get((key.section, key.key), {}))
    assert key.key not in case.get(key.section, {})
    parsed = _parse(_text(case))
    assert _setting(parsed, key.section, key.key) == _documented_default(key)


@pytest.mark.parametrize("key", [key for key in KEYS if _is_required(key)], ids=_label)
def test_documented_required_key_is_required(key):
    case = _with(_minimal(_kind(key)), {_label(key): None})
    with pytest.raises(CaseError, match=key.key):
        _parse(_text(case))


def test_documented_conditional_defaults():
    # "gmres" for convection_diffusion
    assert entry("solver", "method").default.endswith('"gmres" for convection_diffusion')
    assert _parse(_text(_minimal("convection_diffusion"))).solver.method == "gmres"
    # u = exact on the whole boundary with [problem] exact, nothing once [boundary] is given
    exact = '"x*y"'
    case = _parse(_text(_with(_minimal("poisson"), {"problem.exact": exact})))
    assert {part: value.text for part, value in case.boundary.dirichlet.items()} == {
        "boundary": "x*y"}
    case = _parse(_text(_with(_minimal("poisson"), {"boundary.neumann": '{ left = "1" }'})))
    assert case.boundary.dirichlet == {}
    # initial: exact at t = 0
    heat = _with(_minimal("heat"), {"time.initial": None, "problem.exact": '"exp(-t)*x"'})
    assert _parse(_text(heat)).time.initial(np.array([0.5]), np.array([0.0]))[0] == 0.5
    # rectangle needs bounds
    with pytest.raises(CaseError, match="bounds"):
        _parse(_text(_with(_minimal("poisson"), {"mesh.domain": '"rectangle"'})))


@pytest.mark.parametrize(("setting", "accepted"), [
    ("mesh.n=100000", True), ("mesh.n=100001", False), ("mesh.n=0", False),
    ("solver.rtol=0.0", True), ("solver.rtol=1.0", False),
    ("solver.atol=-1.0", False),
    ("solver.maxiter=10000000", True), ("solver.maxiter=10000001", False),
    ("solver.restart=10000", True), ("solver.restart=10001", False),
    ("time.dt=0.1", True), ("time.dt=0.2", False),
])
def test_documented_ranges(setting, accepted):
    section = setting.partition(".")[0]
    kind = "heat" if section == "time" else "poisson"
    case = _minimal(kind)
    if section == "mesh":
        case = _with(case, {"mesh.domain": '"interval"'})  # n = 100000: 100000 cells
    if setting == "solver.rtol=0.0":
        case = _with(case, {"solver.atol": "1e-12"})  # rtol and atol not both 0
    key, _, value = setting.partition("=")
    text = _text(_with(case, {key: value}))
    if accepted:
        _parse(text)
    else:
        with pytest.raises(CaseError, match=key.partition(".")[2]):
            _parse(text)


# --------------------------------------------------------------------------------------
# Meshes
# --------------------------------------------------------------------------------------
def _mesh(domain: str, n: int, bounds: str | None = None):
    settings = {"mesh.domain": f'"{domain}"', "mesh.n": str(n)}
    if bounds:
        settings["mesh.bounds"] = bounds
    return _parse(_text(_with(_minimal("poisson"), settings))).mesh


@pytest.mark.parametrize("domain", schema.DOMAINS)
def test_documented_boundary_parts_are_those_of_the_generated_mesh(domain):
    bounds = {"interval": "[0.0, 2.0]", "rectangle": "[0.0, 2.0, 0.0, 1.0]"}.get(domain)
    mesh = _mesh(domain, 2, bounds)
    assert sorted(mesh.boundaries) == sorted(schema.BOUNDARY_PARTS[domain])
    assert set(schema.BOUNDARY_PARTS) == set(schema.DOMAINS)


def test_mesh_file_parts_are_its_physical_names():
    case = _parse(_text(_with(_minimal("poisson"), {"mesh.domain": None,
                                                    "mesh.file": '"meshes/plate.msh"'})))
    assert sorted(case.mesh.boundaries) == ["bottom", "boundary", "left", "right", "top"]


@pytest.mark.parametrize("n", [1, 3, 5])
def test_documented_cells_per_unit_length(n):
    a, b, c, d = 0.0, 2.5, 0.0, 1.5
    assert _mesh("interval", n, f"[{a}, {b}]").num_cells == max(1, round(n * (b - a)))
    assert _mesh("unit_square", n).num_cells == 2 * n**2
    nx, ny = max(1, round(n * (b - a))), max(1, round(n * (d - c)))
    assert _mesh("rectangle", n, f"[{a}, {b}, {c}, {d}]").num_cells == 2 * nx * ny
    assert _mesh("l_shape", n).num_cells == 6 * n**2


def test_documented_output_folder_is_the_readers():
    from krylovfem.casefile import override_suffix

    overrides, folder = reference.OVERRIDES_EXAMPLE
    assert "results/poisson-2d" + override_suffix(list(overrides)) == folder
    case = parse_case_text((CASES / "poisson-2d.toml").read_text(encoding="utf-8"),
                           name="poisson-2d", base=CASES, overrides=list(overrides))
    assert case.output.dir.as_posix() == folder
    case = parse_case_text(_text(_minimal("poisson")), name=NAME, base=CASES,
                           overrides=["mesh.n=4", "output.dir=elsewhere"])
    assert case.output.dir.as_posix() == "elsewhere"


# --------------------------------------------------------------------------------------
# The case files of cases/
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(CASES.glob("*.toml")), ids=lambda path: path.name)
def test_case_files_use_only_documented_keys(path):
    documented = schema.keys_by_section()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    for name, value in raw.items():
        assert name in documented[""], name
        if isinstance(value, dict):
            assert set(value) <= set(documented[name]), (name, set(value))
            for child, table in value.items():
                if f"{name}.{child}" in documented:  # a sub-table such as [solver.amg]
                    assert set(table) <= set(documented[f"{name}.{child}"]), (child, table)
    kind = raw["problem"]["type"]
    for key in raw["problem"]:
        assert key == "type" or kind in entry("problem", key).applies_to, key
