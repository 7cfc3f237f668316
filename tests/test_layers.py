"""The three layers import only downwards: solvers <- fem <- krylovfem.

Checked twice: by importing every module of a layer in a fresh interpreter (what is
loaded), and by reading every import statement, including those inside functions
(what could be loaded later).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
FORBIDDEN = {"solvers": {"fem", "krylovfem"}, "fem": {"krylovfem"}, "krylovfem": set()}


def _modules(package: str) -> list[str]:
    folder = REPOSITORY / package
    return sorted(
        ".".join((package, *path.relative_to(folder).with_suffix("").parts)).removesuffix(
            ".__init__")
        for path in folder.rglob("*.py") if path.name != "__main__.py")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_importing_a_layer_loads_nothing_above_it(package):
    program = (
        "import importlib, json, sys\n"
        f"for name in {_modules(package)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                               cwd=REPOSITORY, timeout=300, check=True)
    loaded = set(json.loads(completed.stdout.splitlines()[-1]))
    assert package in loaded
    assert not loaded & FORBIDDEN[package]


def test_the_commands_imports_leave_out_what_a_sparse_solve_does_not_use():
    """scipy.sparse.linalg (with scipy.linalg, a tenth of a second) is imported where an
    operator or a factorization is made, matplotlib where a figure is drawn: neither by
    the imports that every ``krylovfem`` command starts with."""
    heavy = ["matplotlib", "scipy.linalg", "scipy.sparse.linalg"]
    program = ("import json, sys\n"
               "import solvers, fem, krylovfem.cli\n"
               f"print(json.dumps([name for name in {heavy!r} if name in sys.modules]))\n")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                               cwd=REPOSITORY, timeout=300, check=True)
    assert json.loads(completed.stdout.splitlines()[-1]) == []


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_statement_reaches_up(package):
    offenders = {
        str(path.relative_to(REPOSITORY)): sorted(_imported_packages(path) & FORBIDDEN[package])
        for path in (REPOSITORY / package).rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_fem_library_lists_its_public_names():
    import fem

    assert set(dir(fem)) >= set(fem.__all__)
    for name in fem.__all__:
        assert getattr(fem, name) is not None


def test_reprs_are_one_line():
    """A mesh, a space, a system or a preconditioner prints as a summary, not its arrays."""
    import fem
    import solvers

    mesh = fem.unit_square(4)
    space = fem.function_space(mesh, 2)
    system = fem.assemble_system(space, f=1.0)
    objects = [mesh, space, fem.sparsity_pattern(space), system,
               *(solvers.preconditioner(name, system.reduced_matrix)
                 for name in ("jacobi", "ssor", "ilu0", "ic0"))]
    for item in objects:
        text = repr(item)
        assert "\n" not in text and len(text) < 120, text
    assert repr(mesh) == ("Mesh(dim=2, points=25, cells=32, h=0.354, "
                          "boundaries=[left, right, bottom, top, boundary])")
    assert repr(space) == "FunctionSpace(P2, dofs=81, mesh of 32 cells in 2D)"
