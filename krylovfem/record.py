r"""What a record folder holds: its documents, data files and figures.

A record folder holds exactly one run, study, comparison or adaptive loop, and is
written whole or not at all (:mod:`krylovfem.folder`).

Files of a run (``summary.json`` is the record proper, the rest are derived from it
and the solution)::

    summary.json   solution.npz   solution.vtu (mesh cases)   system.mtx, rhs.mtx
    residuals.png  solution.png  error.png (exact known)  iterations.png (heat)

Study: ``study.json``, ``rates.png``, and each level's run record (without its figures)
in ``level-00/``, ...;
comparison: ``compare.json``, ``compare.png``; adaptive loop: ``adapt.json``,
``solution.npz`` and ``solution.vtu`` of the last step's mesh, ``convergence.png``,
``mesh.png``, ``solution.png``, and each step's run record in ``step-00/``, ...  Those
sub-folders are written as their parts finish (:class:`RecordFolder`), into the folder
that is swapped into place at the end, so a Ctrl-C keeps the parts done and a failure
leaves the earlier record.

``summary.json`` (``"schema": "krylovfem.run"``, ``"schema_version": 1``) holds:

* ``case``: ``name``, ``file`` and its ``sha256``, the ``overrides`` applied, and
  ``resolved``, every section and key of the case with its defaults filled in;
* ``problem``, ``element``, ``mesh`` (or ``matrix``), ``dofs``, ``free_dofs``;
* ``converged``, ``reason``, ``iterations`` (summed over heat steps);
* ``solve``: all that :meth:`solvers.SolveResult.to_dict` knows of the solve (of the
  final step for heat): the residual history, true residual, tolerance, restarts,
  eigenvalue and condition estimates, residual replacements, matvecs, norm type;
* ``steps`` (heat): per step ``t``, ``iterations``, ``reason``, ``converged``,
  ``true_residual_norm``, ``residual_replacements``;
* ``preconditioner``: the AMG hierarchy (levels, sizes, nonzeros, complexities, setup
  seconds, settings) when the solver's preconditioner is ``amg``, else null;
* ``relative_residual``, ``fem_residual_norm``, ``errors``, ``warnings``, ``failure``
  (a preconditioner that could not be built), ``timings`` (``setup``, ``compile``,
  ``solve``, ``total`` seconds), ``versions``, ``files``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from krylovfem.folder import (
    RecordFolder,
    Writer,
    bytes_writer,
    json_writer,
    record_folder,
    write_folder,
)
from krylovfem.section import CaseError
from krylovfem.settings import Case

__all__ = ["SCHEMA_VERSION", "load_solve_records", "part_folder", "run_writers",
           "summary_document", "write_adapt", "write_compare", "write_part", "write_run",
           "write_study"]

SCHEMA_VERSION = 1


# --------------------------------------------------------------------------------------
# The documents
# --------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    """Versions of krylovfem and of the libraries whose numbers a record depends on."""
    import numba
    import scipy

    import krylovfem

    return {"krylovfem": krylovfem.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__,
            "python": ".".join(map(str, sys.version_info[:3]))}


def _text(expression) -> str | None:
    return None if expression is None else expression.text


def resolved_case(case: Case) -> dict[str, Any]:
    """Every section and key of ``case`` as run, defaults filled in (expressions as text)."""
    solver = case.solver
    resolved: dict[str, Any] = {
        "name": case.name,
        "problem": {"type": case.problem.type},
        "solver": {"method": solver.method, "preconditioner": solver.preconditioner,
                   "rtol": solver.rtol, "atol": solver.atol, "maxiter": solver.maxiter},
        "output": {"dir": str(case.output.dir), "plots": case.output.plots,
                   "save_system": case.output.save_system},
    }
    if solver.method == "gmres":
        resolved["solver"]["restart"] = solver.restart
    if solver.amg:
        resolved["solver"]["amg"] = dict(solver.amg)
    if case.adapt is not None:
        resolved["adapt"] = case.adapt.as_record()
    if case.system is not None:
        resolved["system"] = {"matrix": str(case.system.matrix),
                              "rhs": None if case.system.rhs is None else str(case.system.rhs)}
        return resolved
    settings = case.mesh_settings
    resolved["mesh"] = ({"file": str(settings.file)} if settings.file else
                        {"domain": settings.domain, "n": settings.n}) | {
        "element": settings.element}
    if settings.bounds is not None:
        resolved["mesh"]["bounds"] = list(settings.bounds)
    problem = case.problem
    for key in ("kappa", "reaction", "f", "exact"):
        if getattr(problem, key) is not None:
            resolved["problem"][key] = _text(getattr(problem, key))
    if problem.type in ("poisson", "heat"):
        resolved["problem"].pop("reaction", None)
    if problem.velocity is not None:
        resolved["problem"]["velocity"] = [_text(part) for part in problem.velocity]
    boundary = case.boundary
    resolved["boundary"] = {
        "dirichlet": {part: _text(value) for part, value in boundary.dirichlet.items()},
        "neumann": {part: _text(value) for part, value in boundary.neumann.items()},
        "robin": {part: [_text(alpha), _text(g)] for part, (alpha, g) in boundary.robin.items()},
    }
    if case.time is not None:
        resolved["time"] = {"t_end": case.time.t_end, "dt": case.time.dt,
                            "scheme": case.time.scheme, "initial": _text(case.time.initial)}
    return resolved


def _case_entry(case: Case) -> dict[str, Any]:
    origin = case.origin
    return {"name": case.name, "file": origin.path, "sha256": origin.sha256,
            "overrides": list(origin.overrides), "resolved": resolved_case(case)}


def _mesh_entry(case: Case) -> dict[str, Any]:
    mesh, settings = case.mesh, case.mesh_settings
    return {"source": settings.file.name if settings.file else settings.domain,
            "n": None if settings.file else settings.n, "dim": int(mesh.dim),
            "points": int(mesh.num_points), "cells": int(mesh.num_cells), "h": float(mesh.h)}


def _step_entry(t: float, solve) -> dict[str, Any]:
    return {"t": float(t), "iterations": int(solve.iterations), "reason": str(solve.reason),
            "converged": bool(solve.converged),
            "true_residual_norm": float(solve.true_residual_norm),
            "residual_replacements": int(solve.residual_replacements)}


def summary_document(run, files: list[str]) -> dict[str, Any]:
    """The ``summary.json`` of a :class:`~krylovfem.run.RunResult`."""
    case = run.case
    document: dict[str, Any] = {
        "schema": "krylovfem.run", "schema_version": SCHEMA_VERSION,
        "case": _case_entry(case), "problem": case.problem.type,
        "element": case.mesh_settings.element if case.mesh_settings else None,
    }
    if case.mesh is not None:
        document["mesh"] = _mesh_entry(case)
    else:
        rhs = case.system.rhs.name if case.system.rhs else "A @ ones"
        document["matrix"] = {"file": case.system.matrix.name, "nnz": int(run.matrix.nnz),
                              "rhs": rhs}
    final = run.final
    document |= {
        "dofs": run.dofs, "free_dofs": run.free_dofs,
        "converged": run.converged, "reason": run.reason, "iterations": run.iterations,
        "solve": None if final is None else final.to_dict(),
        "preconditioner": run.preconditioner,
        "relative_residual": None if final is None else float(final.relative_residual),
        "fem_residual_norm": run.fem_residual_norm,
        "errors": run.errors, "warnings": list(run.warnings), "failure": run.failure,
    }
    if run.parallel is not None:
        document["parallel"] = run.parallel
    if run.times is not None:
        document["time"] = {"t_end": float(run.times[-1]), "dt": case.time.dt,
                            "scheme": case.time.scheme, "steps": len(run.solves)}
        document["steps"] = [_step_entry(t, solve)
                             for t, solve in zip(run.times[1:], run.solves, strict=True)]
    timings = run.timings
    document["timings"] = {"setup": timings.setup, "compile": timings.compile,
                           "solve": timings.solve, "total": timings.total}
    document["versions"] = versions()
    document["files"] = files
    return document


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
def run_writers(run, *, figures: bool = True, drawn: Sequence[str] = ()) -> dict[str, Writer]:
    """The files of a run's record, ``summary.json`` first; the figures (with
    ``[output] plots``) unless ``figures`` is false.  ``drawn`` names figures drawn
    elsewhere into the same folder (listed in ``summary.json``, last)."""
    case = run.case
    writers: dict[str, Writer] = {}
    writers["solution.npz"] = bytes_writer(lambda buffer: np.savez_compressed(
        buffer, **_solution_arrays(run)))
    if run.space is not None:
        writers["solution.vtu"] = lambda path: _write_vtu(path, run)
    if case.output.save_system and run.matrix is not None:
        writers["system.mtx"] = bytes_writer(lambda buffer: _mmwrite(buffer, run.matrix))
        writers["rhs.mtx"] = bytes_writer(lambda buffer: _mmwrite(buffer, run.rhs))
    if figures and case.output.plots:
        from krylovfem.figures import run_figures

        writers.update(run_figures(run))
    names = ["summary.json", *writers, *drawn]
    document = summary_document(run, names)
    return {"summary.json": json_writer(document), **writers}


def write_run(run, directory: Path, drawing=None) -> list[Path]:
    """Write the record folder of a run; ``summary.json`` first in the list returned.

    With ``drawing``, a :class:`krylovfem.drawing.FigureProcess`, the figures are drawn
    there while the other files are written here, and waited for before the folder is
    swapped into place.
    """
    if drawing is None or not run.case.output.plots:
        return write_folder(directory, run_writers(run))
    with record_folder(directory) as folder:
        try:
            drawn = drawing.draw(run, folder.building)
            if drawn is None:  # the run could not be handed over: drawn here
                return folder.write(run_writers(run))
            paths = folder.write(run_writers(run, figures=False, drawn=drawn))
            drawing.wait()
        except OSError as error:
            raise folder.error(error) from None
        finally:
            drawing.stop()  # before the folder being built is removed, on any way out
        return paths + folder.adopt(drawn)


def _solution_arrays(run) -> dict[str, np.ndarray]:
    arrays = {"u": np.asarray(run.u)}
    if run.final is not None:
        arrays["residual_norms"] = run.final.residual_norms
    if run.space is not None:
        space = run.space
        arrays |= {"points": space.mesh.points, "cells": space.mesh.cells,
                   "dof_points": space.dof_points, "cell_dofs": space.cell_dofs}
    if run.times is not None:
        arrays["times"] = run.times
    if run.cell_ranks is not None:
        arrays["cell_ranks"] = run.cell_ranks
    return arrays


def _write_vtu(path: Path, run) -> None:
    from fem.meshio_io import write_solution

    # over MPI ranks, each cell's rank too: ParaView colours the partition by it
    cell_data = None if run.cell_ranks is None else {"rank": run.cell_ranks}
    write_solution(path, run.space, run.u, name="u", cell_data=cell_data)


def _mmwrite(buffer: io.BytesIO, value) -> None:
    import scipy.io
    import scipy.sparse as sparse

    value = sparse.coo_matrix(value) if sparse.issparse(value) else np.reshape(value, (-1, 1))
    scipy.io.mmwrite(buffer, value, precision=17)


# --------------------------------------------------------------------------------------
# study, compare and adapt
# --------------------------------------------------------------------------------------
def part_folder(kind: str, index: int) -> str:
    """The sub-folder of one part's run record: ``level-01`` (study), ``step-03`` (adapt)."""
    return f"{kind}-{index:02d}"


def write_part(folder: RecordFolder, kind: str, index: int, run, *,
               figures: bool = True) -> None:
    """A study level's or an adaptive step's run record (the files ``run`` writes; without
    its figures unless ``figures``) in its sub-folder of ``folder``."""
    folder.write(run_writers(run, figures=figures), part_folder(kind, index))


def study_document(result, files: list[str]) -> dict[str, Any]:
    """The ``study.json`` of a :class:`~krylovfem.run.StudyResult`."""
    study, case = result.study, result.case
    levels = []
    for level, run in enumerate(result.runs):
        row = {"level": level, "h": float(study.h[level]), "dofs": int(study.dofs[level]),
               **{name: float(study.errors[name][level]) for name in study.errors},
               "rates": {name: float(study.rates[name][level - 1]) if level else None
                         for name in study.errors},
               "iterations": run.iterations, "converged": run.converged,
               "reason": run.reason,
               "true_residual_norm": None if run.final is None else
               float(run.final.true_residual_norm),
               "solve_time": run.timings.solve}
        if result.dt is not None:
            row["dt"] = result.dt[level]
        levels.append(row)
    return {"schema": "krylovfem.study", "schema_version": SCHEMA_VERSION,
            "case": _case_entry(case), "problem": case.problem.type,
            "element": case.mesh_settings.element,
            "solver": resolved_case(case)["solver"], "levels": levels,
            "rates": {name: float(rate) for name, rate in study.fitted_rates.items()},
            "levels_requested": result.levels, "interrupted": result.interrupted,
            "level_records": [part_folder("level", level) for level in range(result.solved)],
            "converged": result.converged, "versions": versions(), "files": files}


def write_study(result, folder: RecordFolder) -> list[Path]:
    """``study.json`` and the rates figure beside the levels' folders; ``study.json``
    first in the list returned."""
    from krylovfem import figures

    writers = figures.study_figures(result) if result.case.output.plots else {}
    names = ["study.json", *writers, *folder.names]
    document = study_document(result, names)
    return folder.write({"study.json": json_writer(document), **writers})


def compare_document(result, files: list[str]) -> dict[str, Any]:
    """The ``compare.json`` of a :class:`~krylovfem.run.CompareResult`."""
    case = result.case
    return {"schema": "krylovfem.compare", "schema_version": SCHEMA_VERSION,
            "case": _case_entry(case), "problem": case.problem.type, "dofs": result.dofs,
            "rtol": case.solver.rtol, "atol": case.solver.atol,
            "solvers": [solve.to_dict() | {"hierarchy": hierarchy} for solve, hierarchy
                        in zip(result.solves, result.hierarchies, strict=True)],
            "interrupted": result.interrupted,
            "not_run": [f"{method}:{preconditioner}" for method, preconditioner
                        in result.requested[len(result.solves):]],
            "converged": result.converged, "versions": versions(), "files": files}


def write_compare(result, directory: Path) -> list[Path]:
    from krylovfem import figures

    writers = figures.compare_figures(result) if result.case.output.plots else {}
    names = ["compare.json", *writers]
    document = compare_document(result, names)
    return write_folder(directory, {"compare.json": json_writer(document), **writers})


def adapt_document(result, files: list[str]) -> dict[str, Any]:
    """The ``adapt.json`` of a :class:`~krylovfem.adapt.AdaptResult`: one entry per step
    (DOFs, estimate, errors, effectivity, iterations, times) and per uniform level."""
    from krylovfem.report import dofs_rates

    case = result.case
    return {"schema": "krylovfem.adapt", "schema_version": SCHEMA_VERSION,
            "case": _case_entry(case), "problem": case.problem.type,
            "element": case.mesh_settings.element, "solver": resolved_case(case)["solver"],
            "adapt": result.settings.as_record(), "stop": result.stop,
            "failure": result.failure, "interrupted": result.interrupted,
            "step_records": [part_folder("step", step) for step in range(result.solved)],
            "steps": [step.as_record() for step in result.steps],
            "uniform": [step.as_record() for step in result.uniform],
            "rates": {"adaptive": dofs_rates(result.steps),
                      "uniform": dofs_rates(result.uniform)},
            "converged": result.converged, "versions": versions(), "files": files}


def write_adapt(result, folder: RecordFolder) -> list[Path]:
    """``adapt.json``, the last step's solution and the figures of an adaptive loop, beside
    the steps' folders; ``adapt.json`` first in the list returned."""
    from fem.meshio_io import write_solution

    space = result.space
    writers: dict[str, Writer] = {}
    if space is not None:
        arrays = {"u": result.u, "points": space.mesh.points, "cells": space.mesh.cells,
                  "dof_points": space.dof_points, "cell_dofs": space.cell_dofs,
                  "indicators": result.indicators}
        writers["solution.npz"] = bytes_writer(
            lambda buffer: np.savez_compressed(buffer, **arrays))
        writers["solution.vtu"] = lambda path: write_solution(path, space, result.u, name="u")
        if result.case.output.plots:
            from krylovfem import figures

            writers.update(figures.adapt_figures(result))
    names = ["adapt.json", *writers, *folder.names]
    document = adapt_document(result, names)
    return folder.write({"adapt.json": json_writer(document), **writers})


# --------------------------------------------------------------------------------------
# Reading records back (krylovfem plot)
# --------------------------------------------------------------------------------------
def load_solve_records(paths: list[Path]) -> list[tuple[str, dict]]:
    """``(label, solve record)`` of every solve in run folders or their JSON documents.

    A solve record is shaped like :meth:`solvers.SolveResult.to_dict`.

    Raises
    ------
    CaseError
        For a path that is neither a record folder nor a readable record.
    """
    solves = []
    for path in map(Path, paths):
        file = path
        if path.is_dir():
            found = [path / name for name in ("summary.json", "compare.json")
                     if (path / name).is_file()]
            file = found[0] if found else path / "summary.json"
        if not file.is_file():
            raise CaseError(f"{path}: no run record here (expected a run folder or a "
                            f"summary.json / compare.json file)")
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CaseError(f"{file}: not a run record ({error})") from None
        except RecursionError:
            raise CaseError(f"{file}: not a run record (JSON nested too deeply)") from None
        solves += _solves_of(file, document)
    return solves


def _solves_of(file: Path, document: Any) -> list[tuple[str, dict]]:
    from krylovfem.report import solver_label

    if not isinstance(document, dict):
        raise CaseError(f"{file}: not a run record (a JSON {type(document).__name__})")
    case = document.get("case")
    name = case.get("name", "?") if isinstance(case, dict) else str(case)
    # a comparison lists its solves; a run has one; records before schema version 1
    # kept the solve's keys at the top level
    entries = document.get("solvers") or [document.get("solve", document)]
    solves = []
    for entry in entries:
        if not isinstance(entry, dict) or not _is_history(entry.get("residual_norms")):
            raise CaseError(f"{file}: not a run record (no residual_norms)")
        label = solver_label(entry.get("method", "?"), entry.get("preconditioner"))
        solves.append((f"{name}: {label}", entry))
    return solves


def _is_history(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)
