"""What ``pip install .`` ships: every package of the three layers, and one version."""

import fnmatch
import tomllib
from pathlib import Path

import krylovfem

REPOSITORY = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
LAYERS = ("solvers", "fem", "krylovfem")


def _packages() -> list[str]:
    return sorted(".".join(init.parent.relative_to(REPOSITORY).parts)
                  for layer in LAYERS for init in (REPOSITORY / layer).rglob("__init__.py"))


def test_every_package_of_the_layers_is_in_the_distribution():
    # a subpackage left out installs a solvers that cannot be imported (solvers.multigrid,
    # solvers.distributed) while an editable install, which reads the tree, works
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = _packages()
    assert {"solvers.multigrid", "solvers.distributed", "krylovfem.expr"} <= set(packages)
    assert [name for name in packages
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in include)] == []


def test_the_version_is_written_once_in_the_package():
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "krylovfem.__version__"}
    assert krylovfem.__version__.count(".") == 2
