"""The mesh of a case: its ``[mesh]`` section read, its size bounded, the mesh built."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from fem import mesh as mesh_module
from krylovfem.schema import DOMAINS, ELEMENTS
from krylovfem.section import CaseError, Section
from krylovfem.settings import MeshSettings

# Guards against runs that could never finish on a workstation; far above any
# case in cases/ and any refinement study that fits in memory.
MAX_ELEMENTS_PER_LENGTH = 100_000
MAX_CELLS = 4_000_000


def read_mesh_settings(section: Section, base: Path) -> MeshSettings:
    """The validated ``[mesh]`` section: a generator with its size checked, or a file."""
    source = section.source
    element = section.choice("element", ELEMENTS, "P1")
    if section.has("file"):
        for key in ("domain", "bounds", "n"):
            if section.has(key):
                raise section.error(key, "not used with file (the mesh comes from the file)")
        file = base / section.path("file", None)
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
        # a span beyond the largest float (1e308 - -1e308) would count infinitely many cells
        if not all(math.isfinite(high - low) for low, high in pairs):
            raise section.out_of_range("bounds", f"pairs whose difference b - a is at most "
                                                 f"{sys.float_info.max:.3g}")
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
    try:
        return _generated_mesh(settings)
    except ValueError as error:  # cells too small for floating point, say
        bounds = "" if settings.bounds is None else f"bounds = {list(settings.bounds)}, "
        raise CaseError(f"{source}: [mesh] {bounds}n = {settings.n}: no valid mesh: "
                        f"{error}") from None


def _generated_mesh(settings: MeshSettings):
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
