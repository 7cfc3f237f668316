"""Reading and writing meshes through meshio (gmsh ``.msh`` 2.2/4.1, ``.vtu`` and others).

Named boundary parts travel as gmsh physical groups: boundary facets (``line`` cells of a
triangle mesh, ``vertex`` cells of an interval mesh) tagged with ``gmsh:physical`` and
named in ``field_data``.

Examples
--------
>>> import tempfile, pathlib
>>> from fem.mesh import unit_square
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "square.msh"
...     write_mesh(path, unit_square(2))
...     mesh = read_mesh(path)
>>> mesh.num_cells, sorted(mesh.boundaries)
(8, ['bottom', 'boundary', 'left', 'right', 'top'])
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
from pathlib import Path

import numpy as np

from fem.mesh import Mesh

__all__ = ["read_mesh", "write_mesh", "write_solution"]

_CELL_TYPES = {1: ("line", "vertex"), 2: ("triangle", "line")}
_GMSH_FORMATS = {"gmsh22": "gmsh22"}


def _import_meshio():
    import meshio  # a heavy import, kept out of `import fem`

    return meshio


def read_mesh(path: str | os.PathLike) -> Mesh:
    """Read a triangle or interval mesh with its physical boundary groups.

    Triangle meshes come from ``triangle`` cells (2D points; a constant z is dropped),
    interval meshes from ``line`` cells on the x axis.  Clockwise triangles and
    right-to-left intervals are reoriented (file formats do not agree on orientation).
    Points that no cell or boundary facet uses are dropped (they would be unknowns of
    no equation), and the others renumbered in their order.

    Raises
    ------
    ValueError
        When the file is missing, unreadable, of an unsupported format, or holds no
        triangles or lines; the path is named.
    """
    meshio = _import_meshio()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mesh file {str(path)!r} does not exist")
    try:
        # meshio prints stray blank lines, and its own account of an error beside the
        # exception it raises: the exception alone makes the one-line message
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            data = meshio.read(path)
    # meshio raises many types for bad files and exits the interpreter for some
    except (Exception, SystemExit) as error:
        raise ValueError(f"cannot read mesh file {str(path)!r}: {error}") from error
    points = np.asarray(data.points, dtype=np.float64)
    blocks = {}
    for index, block in enumerate(data.cells):
        blocks.setdefault(block.type, []).append(index)
    if "triangle" in blocks:
        dim = 2
    elif "line" in blocks:
        dim = 1
    else:
        raise ValueError(f"mesh file {str(path)!r} holds neither triangles nor lines "
                         f"(found {sorted(blocks)})")
    extra = points[:, dim:]
    if extra.size and np.ptp(extra, axis=0).max() > 0.0:
        raise ValueError(f"mesh file {str(path)!r}: a {dim}D mesh must lie in a "
                         f"{'plane z = const' if dim == 2 else 'line on the x axis'}")
    points = np.ascontiguousarray(points[:, :dim])
    cell_type, facet_type = _CELL_TYPES[dim]
    cells = np.concatenate([data.cells[i].data for i in blocks[cell_type]]).astype(np.int64)
    cells = _orient(points, cells)

    boundaries = {}
    physical = data.cell_data.get("gmsh:physical")
    if physical is not None and facet_type in blocks:
        names = {int(tag): name for name, (tag, *_) in data.field_data.items()}
        for i in blocks[facet_type]:
            facets = data.cells[i].data.reshape(len(data.cells[i].data), -1).astype(np.int64)
            tags = np.asarray(physical[i]).astype(np.int64)
            for tag in np.unique(tags):
                name = names.get(int(tag), f"physical_{int(tag)}")
                part = facets[tags == tag]
                boundaries[name] = np.concatenate([boundaries[name], part]) \
                    if name in boundaries else part
    points, cells, boundaries = _drop_unused_points(points, cells, boundaries)
    try:
        return Mesh(points, cells, boundaries)
    except ValueError as error:
        raise ValueError(f"mesh file {str(path)!r}: {error}") from error


def _drop_unused_points(points: np.ndarray, cells: np.ndarray, boundaries: dict):
    """The mesh without the points that no cell and no boundary facet uses.

    gmsh files often carry such points (geometry points, say); kept, each would be an
    unknown of no equation, and the system singular.  Connectivity outside the points
    is left for :class:`~fem.mesh.Mesh` to refuse.
    """
    used = np.zeros(len(points), dtype=bool)
    for indices in (cells, *boundaries.values()):
        if indices.size and (indices.min() < 0 or indices.max() >= len(points)):
            return points, cells, boundaries
        used[indices.ravel()] = True
    if used.all():
        return points, cells, boundaries
    renumber = np.cumsum(used) - 1
    return (np.ascontiguousarray(points[used]), renumber[cells],
            {name: renumber[facets] for name, facets in boundaries.items()})


def _orient(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    if points.shape[1] == 1:
        flip = points[cells[:, 1], 0] < points[cells[:, 0], 0]
        cells[flip] = cells[flip][:, ::-1]
        return cells
    a, b, c = (points[cells[:, i]] for i in range(3))
    twice_area = ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                  - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    flip = twice_area < 0.0
    cells[flip] = cells[flip][:, [0, 2, 1]]
    return cells


def write_mesh(path: str | os.PathLike, mesh: Mesh, point_data: dict | None = None,
               cell_data: dict | None = None, *, file_format: str | None = None) -> None:
    """Write ``mesh`` (and optional data) with meshio; the format follows the suffix.

    ``.msh`` files are written as gmsh 2.2 ASCII (gmsh reads it; meshio cannot write the
    physical groups of 4.1 reliably, so ``file_format`` "gmsh"/"gmsh41" is refused) with
    the named boundary parts (except the implicit ``"boundary"``) as physical groups.
    ``point_data`` maps names to arrays of length ``num_points`` (e.g. P1 DOF values),
    ``cell_data`` to arrays of length ``num_cells``.  Points get a zero z coordinate.

    Raises
    ------
    ValueError
        For data of the wrong length or a format meshio does not know.
    """
    meshio = _import_meshio()
    if not isinstance(mesh, Mesh):
        raise ValueError(f"expected a Mesh, got {type(mesh).__name__}")
    path = Path(path)
    point_data = dict(point_data or {})
    cell_data = dict(cell_data or {})
    for name, values in point_data.items():
        if np.shape(values)[:1] != (mesh.num_points,):
            raise ValueError(f"point_data '{name}' must have {mesh.num_points} rows, "
                             f"got shape {np.shape(values)}")
    for name, values in cell_data.items():
        if np.shape(values)[:1] != (mesh.num_cells,):
            raise ValueError(f"cell_data '{name}' must have {mesh.num_cells} rows, "
                             f"got shape {np.shape(values)}")
    points = np.zeros((mesh.num_points, 3))
    points[:, : mesh.dim] = mesh.points
    cell_type, facet_type = _CELL_TYPES[mesh.dim]
    fmt = file_format
    if fmt in ("gmsh", "gmsh41", "gmsh4"):
        raise ValueError("writing gmsh 4.1 is not supported; use file_format='gmsh22' "
                         "(reading 4.1 works)")
    if fmt is None and path.suffix == ".msh":
        fmt = "gmsh22"
    if fmt in _GMSH_FORMATS:
        cells = [(cell_type, mesh.cells)]
        physical = [np.full(mesh.num_cells, 1, dtype=np.int32)]
        field_data = {}
        for tag, (name, facets) in enumerate(
                ((n, f) for n, f in mesh.boundaries.items() if n != "boundary"), start=2):
            if facets.shape[0] == 0:
                continue
            cells.append((facet_type, facets))
            physical.append(np.full(facets.shape[0], tag, dtype=np.int32))
            field_data[name] = np.array([tag, mesh.dim - 1])
        output = meshio.Mesh(points, cells, point_data=point_data,
                             cell_data={"gmsh:physical": physical,
                                        "gmsh:geometrical": physical,
                                        **{k: [np.asarray(v)] + [np.zeros(len(c[1]))
                                                                  for c in cells[1:]]
                                           for k, v in cell_data.items()}},
                             field_data=field_data)
        try:
            meshio.write(path, output, file_format=_GMSH_FORMATS[fmt], binary=False)
        except Exception as error:
            raise ValueError(f"cannot write mesh file {str(path)!r}: {error}") from error
        return
    output = meshio.Mesh(points, [(cell_type, mesh.cells)], point_data=point_data,
                         cell_data={k: [np.asarray(v)] for k, v in cell_data.items()})
    try:
        meshio.write(path, output, file_format=fmt)
    except Exception as error:
        raise ValueError(f"cannot write mesh file {str(path)!r}: {error}") from error


#: VTK cell type numbers of P1 and P2 cells.  VTK's quadratic cells list the vertices,
#: then the edge midpoints in the order (0, 1), (1, 2), (2, 0): the local order of this
#: package's P2 DOFs.
_VTK_CELL_TYPES = {(1, 1): 3, (2, 1): 5, (1, 2): 21, (2, 2): 22}


def write_solution(path: str | os.PathLike, space, u, *, name: str = "u",
                   cell_data: dict[str, np.ndarray] | None = None) -> None:
    """Write a discrete function as a VTU file that ParaView draws exactly.

    P1 functions are point data on the mesh.  P2 functions are written on quadratic
    cells (VTK ``triangle6`` / ``line3``) whose nodes are the DOF points, so the
    edge values are kept and ParaView interpolates quadratically.  The file is VTK's
    XML with inline base64 binary arrays, written here directly (a few arrays do not
    need meshio, whose import costs a tenth of a second).

    Parameters
    ----------
    path : path-like
        The file; written as VTU whatever its suffix.
    space : fem.FunctionSpace
    u : ndarray, shape (num_dofs,)
        DOF values.
    name : str
        Name of the point data.
    cell_data : dict of str to ndarray, optional
        Integer arrays with one value per cell (the MPI rank that assembled it, say),
        written as cell data of those names.

    Examples
    --------
    >>> import tempfile, pathlib, meshio
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space, interpolate
    >>> space = function_space(unit_square(2), 2)
    >>> u = interpolate(space, lambda x, y: x * y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_solution(pathlib.Path(folder) / "u.vtu", space, u)
    ...     written = meshio.read(pathlib.Path(folder) / "u.vtu")
    >>> written.cells[0].type, bool(np.array_equal(written.point_data["u"], u))
    ('triangle6', True)
    """
    from fem.element import dof_vector

    # NaN is allowed: a diverged solution is still worth looking at in ParaView
    u = dof_vector(space, u, "u", finite=False)
    mesh = space.mesh
    nodes, cells = (mesh.points, mesh.cells) if space.degree == 1 else \
        (space.dof_points, space.cell_dofs)
    points = np.zeros((nodes.shape[0], 3))
    points[:, : mesh.dim] = nodes
    per_cell = cells.shape[1]
    arrays = {
        "points": _vtk_array(points, "Points", components=3),
        "connectivity": _vtk_array(cells.astype(np.int64), "connectivity"),
        "offsets": _vtk_array(per_cell * np.arange(1, cells.shape[0] + 1, dtype=np.int64),
                              "offsets"),
        "types": _vtk_array(np.full(cells.shape[0], _VTK_CELL_TYPES[mesh.dim, space.degree],
                                    dtype=np.uint8), "types"),
        "u": _vtk_array(u, name),
    }
    cell_arrays = ""
    for label, values in (cell_data or {}).items():
        values = np.asarray(values)
        if values.shape != (cells.shape[0],) or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"cell_data[{label!r}] must be integers, one per cell "
                             f"({cells.shape[0]}); got {values.dtype} of shape {values.shape}")
        cell_arrays += _vtk_array(values.astype(np.int64), label)
    text = (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian" '
        'header_type="UInt64">\n<UnstructuredGrid>\n'
        f'<Piece NumberOfPoints="{points.shape[0]}" NumberOfCells="{cells.shape[0]}">\n'
        f'<Points>\n{arrays["points"]}</Points>\n'
        f'<Cells>\n{arrays["connectivity"]}{arrays["offsets"]}{arrays["types"]}</Cells>\n'
        f'<PointData Scalars="{name}">\n{arrays["u"]}</PointData>\n'
        + (f'<CellData>\n{cell_arrays}</CellData>\n' if cell_arrays else "") +
        '</Piece>\n</UnstructuredGrid>\n</VTKFile>\n')
    try:
        Path(path).write_text(text, encoding="ascii")
    except OSError as error:
        raise ValueError(f"cannot write {str(path)!r}: {error}") from error


_VTK_TYPES = {np.dtype(np.float64): "Float64", np.dtype(np.int64): "Int64",
              np.dtype(np.uint8): "UInt8"}


def _vtk_array(values: np.ndarray, name: str, components: int = 1) -> str:
    """One ``DataArray`` in VTK's inline binary form: base64 of its byte count, then of
    its little-endian bytes."""
    data = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
    encoded = base64.b64encode(np.uint64(len(data)).astype("<u8").tobytes() + data)
    vector = f' NumberOfComponents="{components}"' if components > 1 else ""
    return (f'<DataArray type="{_VTK_TYPES[values.dtype]}" Name="{name}"{vector} '
            f'format="binary">\n'
            f'{encoded.decode("ascii")}\n</DataArray>\n')
