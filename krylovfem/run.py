r"""Running a validated case and writing its record.

:func:`run_case` assembles and solves one case, :func:`run_study` solves it on
successive uniform refinements and fits convergence rates, :func:`run_compare`
solves one system with several Krylov solvers.  Each computes everything in
memory first and only then writes, every file under a temporary name that is
moved into place with :func:`os.replace` (atomic on POSIX), so an interrupted
or failed run never leaves a half-written record.

Files written (``DIR`` is the output directory)::

    run:      summary.json  solution.npz  solution.vtu  [residuals.png  solution.png]
              [system.mtx  rhs.mtx]  (with output.save_system)
    study:    study.json  [rates.png]
    compare:  compare.json  [compare.png]

``summary.json`` is written last, so its presence means the record is complete.
Its keys: ``case``, ``case_file``, ``problem``, ``element``, ``solver`` (the
settings: ``method``, ``preconditioner``, ``rtol``, ``atol``, ``maxiter`` (null:
the solver's default ``10 n``), ``restart``), ``dofs``, ``free_dofs``, ``mesh``
(or ``matrix``), ``converged``, ``reason``, ``iterations``, ``residual_norms``
(:math:`\|r_k\|_2`, ``k = 0, ...``), ``true_residual_norm`` (recomputed
:math:`\|b - A x\|_2`), ``relative_residual``, ``rhs_norm``, ``tolerance``,
``fem_residual_norm`` (:math:`\|F - K u_h\|_2` on the free DOFs, recomputed by
:func:`fem.norms.residual_norm`), ``errors`` (``l2`` and the :math:`H^1`
seminorm ``h1`` when ``exact`` is given, else null), ``condition_estimate``,
``timings`` (``assemble``, ``solve``, ``total`` seconds), ``versions``, ``files``.
For the heat equation, ``iterations`` is the total over all steps,
``residual_norms`` the history of the final step, ``steps`` lists per step ``t``,
``iterations``, ``reason``, ``true_residual_norm``, and ``errors`` are at ``t_end``;
``fem_residual_norm`` is the final step's recomputed true residual.  For a matrix
case with the default ``b = A @ ones``, ``errors`` compares with the vector of ones
(``l2``, ``max``, ``relative_l2``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from krylovfem.casefile import Case, CaseError, SolverSettings
from krylovfem.expr import Expression, ExpressionError

__all__ = [
    "RunOutcome",
    "atomic_output",
    "check_output_directory",
    "load_histories",
    "run_case",
    "run_compare",
    "run_study",
    "save_figure",
]

Monitor = Callable[[int, float], None]
Report = Callable[[str], None]

#: Name of the PNG text chunk that carries the plotted numbers.
FIGURE_DATA_KEY = "krylovfem"


@dataclass
class RunOutcome:
    """What a command produced: the record written, whether every solve converged.

    Attributes
    ----------
    record : dict
        The JSON document written (summary, study or compare).
    converged : bool
        True when every linear solve met its tolerance (exit status 0, else 1).
    files : list of Path
        The files written, in order.
    """

    record: dict
    converged: bool
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Atomic files
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path``; move it onto ``path`` only on success."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_json(path: Path, document: dict) -> Path:
    text = json.dumps(document, indent=2, allow_nan=False)
    with atomic_output(path) as temporary:
        temporary.write_text(text + "\n", encoding="utf-8")
    return path


def save_figure(figure, path: Path, data: dict) -> Path:
    """Save ``figure`` as PNG with ``data`` (the plotted numbers) in a text chunk."""
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110,
                       metadata={FIGURE_DATA_KEY: json.dumps(data, allow_nan=False)})
    return path


def read_figure_data(path: Path) -> dict:
    """The plotted numbers stored by :func:`save_figure` in a PNG."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[FIGURE_DATA_KEY])


def check_output_directory(directory: Path) -> None:
    """Refuse, before any work, an output directory that could not be written.

    Raises
    ------
    CaseError
        When ``directory`` (or its first existing ancestor) is not a writable directory.
    """
    directory = Path(directory)
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise CaseError(f"output directory {str(directory)!r}: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CaseError(f"output directory {str(directory)!r}: {str(existing)!r} is not "
                        f"writable")


def _json_number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def versions() -> dict[str, str]:
    """Versions of krylovfem and of the libraries whose numbers a record depends on."""
    import numba
    import scipy

    try:
        own = metadata.version("krylovfem")
    except metadata.PackageNotFoundError:
        own = "unknown (not installed)"
    return {"krylovfem": own, "numpy": np.__version__, "scipy": scipy.__version__,
            "numba": numba.__version__, "python": ".".join(map(str, os.sys.version_info[:3]))}


# --------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------
def solve_linear_system(matrix, rhs: np.ndarray, settings: SolverSettings,
                        monitor: Monitor | None = None):
    """Solve ``matrix x = rhs`` with the method and preconditioner of ``settings``."""
    from fem import problems

    return problems.solve_linear_system(
        settings.method, matrix, rhs, M=settings.preconditioner, rtol=settings.rtol,
        atol=settings.atol, maxiter=settings.maxiter, restart=settings.restart,
        monitor=monitor)


_SOLVE_KEYS = ("converged", "reason", "iterations", "residual_norms", "true_residual_norm",
               "rhs_norm", "tolerance", "condition_estimate", "matvecs", "precond_applies")


def _solve_record(result) -> dict[str, Any]:
    """The solve part of a record, from a :class:`solvers.SolveResult`."""
    summary = result.to_dict()
    record = {key: summary[key] for key in _SOLVE_KEYS}
    record["relative_residual"] = float(result.relative_residual)
    return record


# --------------------------------------------------------------------------------------
# Finite-element problems
# --------------------------------------------------------------------------------------
def _boundary_arguments(case: Case, dim: int, time_dependent: bool) -> dict[str, Any]:
    boundary = case.boundary

    def form(expression: Expression):
        return expression.coefficient(dim, time_dependent=time_dependent)

    return {
        "dirichlet": {part: form(value) for part, value in boundary.dirichlet.items()},
        "neumann": {part: form(value) for part, value in boundary.neumann.items()},
        "robin": {part: (alpha.coefficient(dim), form(g))
                  for part, (alpha, g) in boundary.robin.items()},
    }


def _exact_at(case: Case, time_value: float | None):
    """The exact solution and its gradient as callables of the coordinates."""
    exact = case.problem.exact
    if exact is None:
        return None, None
    if time_value is not None:
        exact = exact.at_time(time_value)
    dim = case.dim
    gradient = exact.gradient[:dim]

    def value(*coordinates):
        return exact(*coordinates)

    def exact_gradient(*coordinates):
        return tuple(part(*coordinates) for part in gradient)

    return value, exact_gradient


def _errors(case: Case, space, u: np.ndarray, time_value: float | None) -> dict | None:
    from fem import norms

    exact, gradient = _exact_at(case, time_value)
    if exact is None:
        return None
    return {"l2": float(norms.l2_error(space, u, exact)),
            "h1": float(norms.h1_error(space, u, gradient))}


def _velocity_argument(case: Case, dim: int):
    """The velocity as :mod:`fem.assembly` takes it: numbers, or a callable giving a tuple."""
    components = case.problem.velocity
    if components is None:
        return None
    if all(component.is_constant for component in components):
        return [component.constant_value for component in components]

    def velocity(*coordinates):
        return tuple(component(*coordinates) for component in components)

    return velocity


def _coefficients(case: Case, dim: int) -> dict[str, Any]:
    """The stationary problem's data as :mod:`fem.problems` takes them."""
    problem = case.problem
    return {"kappa": problem.kappa.coefficient(dim),
            "reaction": problem.reaction.coefficient(dim),
            "velocity": _velocity_argument(case, dim),
            "f": problem.f.coefficient(dim),
            **_boundary_arguments(case, dim, time_dependent=False)}


def _assemble(case: Case, mesh):
    """The function space and the assembled, Dirichlet-eliminated stationary system."""
    from fem import problems
    from fem.element import function_space

    space = function_space(mesh, case.mesh_settings.degree)
    return space, problems.assemble_system(space, **_coefficients(case, mesh.dim))


def _solve_stationary(case: Case, mesh, settings: SolverSettings, monitor: Monitor | None):
    """Assemble and solve with :func:`fem.problems.solve_stationary`."""
    from fem import problems
    from fem.element import function_space

    space = function_space(mesh, case.mesh_settings.degree)
    solution = problems.solve_stationary(
        space, **_coefficients(case, mesh.dim), method=settings.method,
        M=settings.preconditioner, rtol=settings.rtol, atol=settings.atol,
        maxiter=settings.maxiter, restart=settings.restart, monitor=monitor)
    if solution.result is None:
        raise CaseError(f"{case.source}: every DOF is a Dirichlet DOF; there is nothing to "
                        f"solve")
    return space, solution.system, solution.result, solution.u, solution.timings


def _mesh_record(case: Case, mesh, space) -> dict[str, Any]:
    settings = case.mesh_settings
    return {"source": settings.file.name if settings.file else settings.domain,
            "n": settings.n if settings.file is None else None,
            "dim": int(mesh.dim), "points": int(mesh.num_points),
            "cells": int(mesh.num_cells), "h": float(mesh.h)}


def _stationary_run(case: Case, mesh, settings: SolverSettings, monitor: Monitor | None,
                    report: Report) -> tuple[dict, dict]:
    """Solve the stationary case on ``mesh``; the record and the arrays to save."""
    from fem import norms

    started = time.perf_counter()
    space, system, result, u, timings = _solve_stationary(case, mesh, settings, monitor)
    record = {
        "dofs": int(space.num_dofs),
        "free_dofs": int(system.free_dofs.size),
        "mesh": _mesh_record(case, mesh, space),
        **_solve_record(result),
        "method": result.method,
        "preconditioner_used": result.preconditioner,
        "fem_residual_norm": float(norms.residual_norm(system, u)),
    }
    errors = _errors(case, space, u, None)
    if errors is not None:
        record["errors"] = errors
    record["timings"] = {**timings, "total": time.perf_counter() - started}
    arrays = {"u": u, "space": space, "system": system,
              "histories": [_history(result)]}
    return record, arrays


def _heat_run(case: Case, mesh, settings: SolverSettings, monitor: Monitor | None,
              report: Report, dt: float | None = None) -> tuple[dict, dict]:
    """Time-step the heat equation on ``mesh``; the record and the arrays to save."""
    from fem import problems
    from fem.element import function_space

    started = time.perf_counter()
    dim = mesh.dim
    space = function_space(mesh, case.mesh_settings.degree)
    timing = case.time
    dt = timing.dt if dt is None else dt
    num_steps = timing.steps_for(dt)
    # with --monitor every step is reported, between its iteration lines
    step_lines = _step_reporter(report, num_steps, every_step=monitor is not None)
    solution = problems.solve_heat(
        space,
        kappa=case.problem.kappa.coefficient(dim),
        f=case.problem.f.coefficient(dim, time_dependent=True),
        initial=timing.initial.coefficient(dim),
        t_end=timing.t_end,
        dt=dt,
        scheme=timing.scheme,
        **_boundary_arguments(case, dim, time_dependent=True),
        method=settings.method,
        M=settings.preconditioner,
        rtol=settings.rtol,
        atol=settings.atol,
        maxiter=settings.maxiter,
        restart=settings.restart,
        step_callback=step_lines,
        monitor=monitor,
    )
    steps = [{"t": float(t), "iterations": int(result.iterations), "reason": str(result.reason),
              "true_residual_norm": float(result.true_residual_norm),
              "converged": bool(result.converged)}
             for t, result in zip(solution.times[1:], solution.steps, strict=True)]
    final = solution.steps[-1]
    failed = [result for result in solution.steps if not result.converged]
    record = {
        "dofs": int(space.num_dofs),
        "mesh": _mesh_record(case, mesh, space),
        **_solve_record(final),
        "converged": not failed,
        "reason": str(failed[0].reason) if failed else str(final.reason),
        "iterations": int(sum(result.iterations for result in solution.steps)),
        "iterations_per_step_max": int(max(result.iterations for result in solution.steps)),
        "residual_norms_step": len(solution.steps),
        "method": final.method,
        "preconditioner_used": final.preconditioner,
        # the final step's ||F - K u|| on the free DOFs, as the Krylov solve recomputed it
        "fem_residual_norm": float(final.true_residual_norm),
        "time": {"t_end": float(solution.times[-1]), "dt": float(dt),
                 "scheme": timing.scheme, "steps": len(solution.steps)},
        "steps": steps,
    }
    errors = _errors(case, space, solution.u, float(solution.times[-1]))
    if errors is not None:
        record["errors"] = errors
    timings = dict(getattr(solution, "timings", {}) or {})
    record["timings"] = {
        "assemble": float(timings.get("assemble", float("nan"))),
        "solve": float(timings.get("solve", sum(r.solve_time for r in solution.steps))),
        "total": time.perf_counter() - started,
    }
    last_step = _solver_label(final.method, final.preconditioner) + ", last step"
    arrays = {"u": solution.u, "space": space, "system": None,
              "histories": [_history(final, last_step)]}
    return record, arrays


def _step_reporter(report: Report, num_steps: int, every_step: bool):
    """A step callback printing progress: every step, or about twenty lines in all."""
    every = 1 if every_step else max(1, num_steps // 20)

    def on_step(step: int, t: float, u: np.ndarray) -> None:
        if step % every == 0 or step == num_steps:
            report(f"step {step:>6}/{num_steps}  t = {t:<10.6g} max|u_h| = "
                   f"{float(np.abs(u).max()):.6e}")

    return on_step


def _solver_label(method: str, preconditioner: str | None) -> str:
    return f"{method} + {preconditioner}" if preconditioner not in (None, "none") else method


def _history(result, label: str | None = None) -> tuple[str, np.ndarray, float]:
    """(label, residual history, ||b||) of a solve, as the residual plots take it."""
    if label is None:
        label = _solver_label(result.method, result.preconditioner)
    return label, result.residual_norms, result.rhs_norm


# --------------------------------------------------------------------------------------
# Matrix cases
# --------------------------------------------------------------------------------------
def read_system(case: Case):
    """The matrix and right-hand side of a ``matrix`` case (default ``b = A @ ones``)."""
    from solvers import read_matrix, read_rhs

    settings = case.system
    try:
        matrix = read_matrix(settings.matrix)
    except (OSError, ValueError) as error:
        raise CaseError(f"{case.source}: [system] matrix: {_first_line(error)}") from None
    if matrix.shape[0] != matrix.shape[1]:
        raise CaseError(f"{case.source}: [system] matrix: {settings.matrix.name} is "
                        f"{matrix.shape[0]} x {matrix.shape[1]}; a square matrix is needed")
    if settings.rhs is None:
        return matrix, matrix @ np.ones(matrix.shape[0]), True
    try:
        rhs = np.asarray(read_rhs(settings.rhs), dtype=np.float64)
    except (OSError, ValueError) as error:
        raise CaseError(f"{case.source}: [system] rhs: {_first_line(error)}") from None
    rhs = rhs[:, 0] if rhs.ndim == 2 else rhs
    if rhs.shape != (matrix.shape[0],):
        raise CaseError(f"{case.source}: [system] rhs: {rhs.size} entries for a matrix of "
                        f"order {matrix.shape[0]}")
    return matrix, rhs, False


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _matrix_run(case: Case, settings: SolverSettings, monitor: Monitor | None,
                report: Report, system=None) -> tuple[dict, dict]:
    started = time.perf_counter()
    matrix, rhs, ones_known = system if system is not None else read_system(case)
    read_time = time.perf_counter() - started
    result = solve_linear_system(matrix, rhs, settings, monitor)
    record = {
        "dofs": int(matrix.shape[0]),
        "matrix": {"file": case.system.matrix.name, "nnz": int(matrix.nnz),
                   "rhs": case.system.rhs.name if case.system.rhs else "A @ ones"},
        **_solve_record(result),
        "method": result.method,
        "preconditioner_used": result.preconditioner,
        "fem_residual_norm": None,
    }
    if ones_known:
        # the exact solution is the vector of ones
        difference = result.x - 1.0
        record["errors"] = {"l2": float(np.linalg.norm(difference)),
                            "max": float(np.abs(difference).max()),
                            "relative_l2": float(np.linalg.norm(difference)
                                                 / math.sqrt(rhs.size))}
    record["timings"] = {"assemble": read_time, "solve": float(result.solve_time),
                         "total": time.perf_counter() - started}
    arrays = {"u": result.x, "space": None, "matrix": matrix, "rhs": rhs,
              "histories": [_history(result)]}
    return record, arrays


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
def _quiet(_: str) -> None:
    return None


def _solve_case(case: Case, mesh, settings: SolverSettings, monitor, report, dt=None):
    """Dispatch on the problem type; expression errors in the solve are bad input."""
    if case.problem.type == "matrix":
        return _matrix_run(case, settings, monitor, report)
    try:
        if case.problem.type == "heat":
            return _heat_run(case, mesh, settings, monitor, report, dt)
        return _stationary_run(case, mesh, settings, monitor, report)
    except ExpressionError as error:
        raise _bad_input(case, error) from None
    except ValueError as error:
        if _caused_by_expression(error):
            raise _bad_input(case, error) from None
        raise


def _caused_by_expression(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, ExpressionError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _bad_input(case: Case, error: Exception) -> CaseError:
    """An expression that failed at the quadrature points: bad input, not a bug."""
    cause = error
    while cause is not None and not isinstance(cause, ExpressionError):
        cause = cause.__cause__ or cause.__context__
    message = str(cause if cause is not None else error)
    return CaseError(f"{case.source}: {' '.join(message.split())} (at a quadrature point)")


def run_case(case: Case, *, out_dir: Path | None = None, monitor: Monitor | None = None,
             report: Report = _quiet) -> RunOutcome:
    """Assemble, solve and record one case.

    Parameters
    ----------
    case : Case
        A validated case.
    out_dir : Path, optional
        Output directory (default: the case's ``[output] dir``).
    monitor : callable, optional
        ``monitor(k, residual_norm)`` for every iteration of every solve.
    report : callable, optional
        Receives progress lines (time steps).

    Returns
    -------
    RunOutcome
        The summary written to ``summary.json`` and the files.
    """
    directory = Path(out_dir) if out_dir is not None else case.output.dir
    check_output_directory(directory)
    started = time.perf_counter()
    solve_record, arrays = _solve_case(case, case.mesh, case.solver, monitor, report)
    record = {
        "case": case.name,
        "case_file": case.source,
        "problem": case.problem.type,
        "element": case.mesh_settings.element if case.mesh_settings else None,
        "solver": case.solver.as_record(),
        **solve_record,
        "versions": versions(),
    }
    record.setdefault("errors", None)
    record["timings"]["total"] = time.perf_counter() - started
    files = _write_run(directory, case, record, arrays)
    return RunOutcome(record, bool(record["converged"]), files)


def _write_run(directory: Path, case: Case, record: dict, arrays: dict) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    names = ["summary.json", "solution.npz"]
    if arrays.get("space") is not None:
        names.append("solution.vtu")
    if case.output.plots:
        names += ["residuals.png"] + (["solution.png"] if arrays.get("space") else [])
    if case.output.save_system:
        names += ["system.mtx", "rhs.mtx"]
    record["files"] = names
    files = [_write_npz(directory / "solution.npz", arrays)]
    if arrays.get("space") is not None:
        files.append(_write_vtu(directory / "solution.vtu", arrays["space"], arrays["u"]))
    if case.output.plots:
        files += _write_run_plots(directory, case, record, arrays)
    if case.output.save_system:
        files += _write_system(directory, arrays)
    # the summary goes last: its presence means the record is complete
    files.append(_write_json(directory / "summary.json", record))
    return files


def _write_npz(path: Path, arrays: dict) -> Path:
    space = arrays.get("space")
    content = {"u": np.asarray(arrays["u"])}
    content["residual_norms"] = np.asarray(arrays["histories"][0][1])
    if space is not None:
        content.update(points=space.mesh.points, cells=space.mesh.cells,
                       dof_points=space.dof_points, cell_dofs=space.cell_dofs)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **content)
    with atomic_output(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    return path


def _write_vtu(path: Path, space, u: np.ndarray) -> Path:
    import meshio

    mesh = space.mesh
    # P2 values at the vertices are the first num_points DOFs; the picture is their
    # P1 interpolant, which is what ParaView would draw of a linear cell anyway
    values = np.asarray(u)[: mesh.num_points]
    points = mesh.points if mesh.dim == 3 else np.column_stack(
        [mesh.points, np.zeros((mesh.num_points, 3 - mesh.dim))])
    cell_type = "line" if mesh.dim == 1 else "triangle"
    output = meshio.Mesh(points, [(cell_type, mesh.cells)], point_data={"u": values})
    with atomic_output(path) as temporary:
        meshio.write(temporary, output, file_format="vtu")
    return path


def _write_run_plots(directory: Path, case: Case, record: dict, arrays: dict) -> list[Path]:
    from krylovfem.figures import plot_residual_histories, plot_solution

    title = f"{case.name}: {record['dofs']} DOFs"
    figure, data = plot_residual_histories(arrays["histories"], title=title)
    files = [save_figure(figure, directory / "residuals.png", data)]
    space = arrays.get("space")
    if space is not None:
        values = np.asarray(arrays["u"])[: space.mesh.num_points]
        figure, data = plot_solution(space.mesh, values, title=f"{case.name}: u_h")
        files.append(save_figure(figure, directory / "solution.png", data))
    return files


def _write_system(directory: Path, arrays: dict) -> list[Path]:
    import scipy.io
    import scipy.sparse as sparse

    if "matrix" in arrays:
        matrix, rhs = arrays["matrix"], arrays["rhs"]
    else:
        system = arrays["system"]
        matrix, rhs = _free_system(system)
    files = []
    for name, value in (("system.mtx", sparse.coo_matrix(matrix)),
                        ("rhs.mtx", np.asarray(rhs).reshape(-1, 1))):
        buffer = io.BytesIO()
        scipy.io.mmwrite(buffer, value, precision=17)
        with atomic_output(directory / name) as temporary:
            temporary.write_bytes(buffer.getvalue())
        files.append(directory / name)
    return files


def _free_system(system):
    """The matrix and right-hand side that the Krylov solver saw (free DOFs only)."""
    return system.reduced_matrix, system.reduced_rhs


# --------------------------------------------------------------------------------------
# study
# --------------------------------------------------------------------------------------
def observed_rates(h: np.ndarray, errors: np.ndarray) -> tuple[list[float | None], float | None]:
    r"""Rates between successive levels and the least-squares rate over all levels.

    With :math:`e \approx C h^p`, the pairwise rate is
    :math:`p_k = \log(e_{k-1}/e_k) / \log(h_{k-1}/h_k)` and the fitted rate is the
    slope of the line through :math:`(\log h_k, \log e_k)`.

    Examples
    --------
    >>> pairwise, fitted = observed_rates(np.array([0.5, 0.25, 0.125]), np.array([4.0, 1.0, 0.25]))
    >>> pairwise, round(fitted, 12)
    ([None, 2.0, 2.0], 2.0)
    """
    h = np.asarray(h, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    pairwise: list[float | None] = [None]
    for k in range(1, h.size):
        usable = errors[k] > 0 and errors[k - 1] > 0 and h[k] != h[k - 1]
        pairwise.append(float(np.log(errors[k - 1] / errors[k]) / np.log(h[k - 1] / h[k]))
                        if usable else None)
    positive = errors > 0
    fitted = None
    if positive.sum() >= 2:
        fitted = float(np.polyfit(np.log(h[positive]), np.log(errors[positive]), 1)[0])
    return pairwise, fitted


def run_study(case: Case, levels: int, *, out_dir: Path | None = None,
              monitor: Monitor | None = None, report: Report = _quiet) -> RunOutcome:
    """Solve on ``levels`` successive uniform refinements; errors, rates and iterations.

    Level 0 is the mesh of the case file; each further level is the previous one
    refined uniformly (every cell split in 2 in 1D, in 4 in 2D), so ``h`` halves.
    For the heat equation ``dt`` is halved with ``h``.

    Returns
    -------
    RunOutcome
        ``study.json``: ``levels`` (per level ``h``, ``dofs``, ``l2``, ``h1``,
        ``iterations``, ``converged``, ``reason`` and the pairwise ``rates``) and the
        fitted ``rates`` over all levels.
    """
    if case.problem.type == "matrix":
        raise CaseError(f"{case.source}: study needs a mesh; a matrix case has none")
    if case.problem.exact is None:
        raise CaseError(f"{case.source}: study needs [problem] exact to measure errors")
    from krylovfem.casefile import MAX_CELLS

    finest = case.mesh.num_cells * (2 ** case.mesh.dim) ** (levels - 1)
    if finest > MAX_CELLS:
        raise CaseError(f"{case.source}: --levels {levels}: the finest mesh would have "
                        f"{finest:,} cells; at most {MAX_CELLS:,}")
    directory = Path(out_dir) if out_dir is not None else case.output.dir
    check_output_directory(directory)
    mesh = case.mesh
    rows = []
    for level in range(levels):
        if level > 0:
            mesh = mesh.refined()
        dt = case.time.dt / 2**level if case.time else None
        record, _ = _solve_case(case, mesh, case.solver, monitor, _quiet, dt)
        row = {"level": level, "h": record["mesh"]["h"], "dofs": record["dofs"],
               "l2": record["errors"]["l2"], "h1": record["errors"]["h1"],
               "iterations": record["iterations"], "converged": record["converged"],
               "reason": record["reason"], "true_residual_norm": record["true_residual_norm"],
               "solve_time": record["timings"]["solve"]}
        if dt is not None:
            row["dt"] = dt
        rows.append(row)
        report(_study_line(rows))
    rates = _attach_rates(rows)
    document = {"case": case.name, "case_file": case.source, "problem": case.problem.type,
                "element": case.mesh_settings.element, "solver": case.solver.as_record(),
                "levels": rows, "rates": rates, "versions": versions()}
    converged = all(row["converged"] for row in rows)
    document["converged"] = converged
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    if case.output.plots:
        from krylovfem.figures import plot_rates

        figure, data = plot_rates(rows, rates, title=f"{case.name}: {case.mesh_settings.element}")
        files.append(save_figure(figure, directory / "rates.png", data))
    files.append(_write_json(directory / "study.json", document))
    return RunOutcome(document, converged, files)


def _attach_rates(rows: list[dict]) -> dict[str, float | None]:
    h = np.array([row["h"] for row in rows])
    fitted = {}
    for name in ("l2", "h1"):
        pairwise, fitted[name] = observed_rates(h, np.array([row[name] for row in rows]))
        for row, rate in zip(rows, pairwise, strict=True):
            row.setdefault("rates", {})[name] = rate
    return fitted


def _study_line(rows: list[dict]) -> str:
    row = rows[-1]
    rates = ""
    if len(rows) > 1:
        h = np.array([r["h"] for r in rows[-2:]])
        parts = []
        for name in ("l2", "h1"):
            pair, _ = observed_rates(h, np.array([r[name] for r in rows[-2:]]))
            parts.append(f"{pair[1]:.2f}" if pair[1] is not None else "-")
        rates = f"  rates {parts[0]} / {parts[1]}"
    return (f"level {row['level']}: h = {row['h']:.4g}  dofs {row['dofs']:>7}  "
            f"L2 {row['l2']:.3e}  H1 {row['h1']:.3e}  iterations {row['iterations']}{rates}")


# --------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------
def parse_solver_list(text: str) -> list[tuple[str, str]]:
    """``"cg:none,gmres:ilu0"`` -> ``[("cg", "none"), ("gmres", "ilu0")]``, validated.

    Examples
    --------
    >>> parse_solver_list("cg:jacobi, gmres")
    [('cg', 'jacobi'), ('gmres', 'none')]
    """
    from krylovfem.casefile import METHODS, PRECONDITIONERS

    pairs = []
    for item in text.split(","):
        method, _, preconditioner = item.strip().partition(":")
        preconditioner = preconditioner or "none"
        if method not in METHODS:
            raise CaseError(f"--solvers {item.strip()!r}: unknown method {method!r}; allowed: "
                            f"{' | '.join(METHODS)}")
        if preconditioner not in PRECONDITIONERS:
            raise CaseError(f"--solvers {item.strip()!r}: unknown preconditioner "
                            f"{preconditioner!r}; allowed: {' | '.join(PRECONDITIONERS)}")
        pairs.append((method, preconditioner))
    if not pairs:
        raise CaseError("--solvers: give at least one method:preconditioner")
    return pairs


def run_compare(case: Case, solver_pairs: list[tuple[str, str]], *, out_dir: Path | None = None,
                monitor: Monitor | None = None, report: Report = _quiet) -> RunOutcome:
    """Solve the case's linear system with each solver; one table, one residual plot.

    The system is assembled (or read) once; every solver starts from ``x0 = 0``
    with the tolerances of the case file.
    """
    from dataclasses import replace

    if case.problem.type == "heat":
        raise CaseError(f"{case.source}: compare needs one linear system; use a stationary "
                        f"or matrix case (heat solves one system per step)")
    if any(p == "amg" for _, p in solver_pairs):
        _check_amg(case.source)
    directory = Path(out_dir) if out_dir is not None else case.output.dir
    check_output_directory(directory)
    matrix, rhs, dofs = _system_for_compare(case)
    rows = []
    histories = []
    for method, preconditioner in solver_pairs:
        settings = replace(case.solver, method=method, preconditioner=preconditioner)
        result = solve_linear_system(matrix, rhs, settings, monitor)
        row = {"method": method, "preconditioner": preconditioner, **_solve_record(result),
               "solve_time": float(result.solve_time)}
        rows.append(row)
        label = _solver_label(method, preconditioner)  # as asked: "amg", not "operator"
        histories.append(_history(result, label))
        report(f"{label:<16} iterations {row['iterations']:>6}  {row['reason']}")
    converged = all(row["converged"] for row in rows)
    document = {"case": case.name, "case_file": case.source, "problem": case.problem.type,
                "dofs": dofs, "rtol": case.solver.rtol, "atol": case.solver.atol,
                "solvers": rows, "converged": converged, "versions": versions()}
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    if case.output.plots:
        from krylovfem.figures import plot_residual_histories

        figure, data = plot_residual_histories(histories, title=f"{case.name}: {dofs} unknowns")
        files.append(save_figure(figure, directory / "compare.png", data))
    files.append(_write_json(directory / "compare.json", document))
    return RunOutcome(document, converged, files)


def _check_amg(source: str) -> None:
    try:
        import pyamg  # noqa: F401
    except ImportError:
        raise CaseError(f"{source}: --solvers: amg needs pyamg (pip install pyamg)") from None


def _system_for_compare(case: Case):
    """The matrix and right-hand side every solver in a comparison gets."""
    if case.problem.type == "matrix":
        matrix, rhs, _ = read_system(case)
        return matrix, rhs, int(matrix.shape[0])
    try:
        _, system = _assemble(case, case.mesh)
    except ValueError as error:
        if isinstance(error, ExpressionError) or _caused_by_expression(error):
            raise _bad_input(case, error) from None
        raise
    matrix, rhs = _free_system(system)
    return matrix, rhs, int(np.size(rhs))


# --------------------------------------------------------------------------------------
# plot (earlier runs)
# --------------------------------------------------------------------------------------
def load_histories(paths: list[Path]) -> list[tuple[str, list[float], float]]:
    """Residual histories from run directories, ``summary.json`` or ``compare.json`` files.

    Raises
    ------
    CaseError
        For a path that is neither a run directory nor a readable record.
    """
    histories = []
    for path in map(Path, paths):
        file = path / "summary.json" if path.is_dir() else path
        if path.is_dir() and not file.exists() and (path / "compare.json").exists():
            file = path / "compare.json"
        if not file.is_file():
            raise CaseError(f"{path}: no run record here (expected a run directory or a "
                            f"summary.json / compare.json file)")
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CaseError(f"{file}: not a run record ({_first_line(error)})") from None
        histories += _histories_of(file, document)
    return histories


def _histories_of(file: Path, document: Any) -> list[tuple[str, list[float], float]]:
    try:
        if "solvers" in document:
            return [(_record_label(document, row), row["residual_norms"], row["rhs_norm"])
                    for row in document["solvers"]]
        label = _record_label(document, document["solver"])
        return [(label, document["residual_norms"], document["rhs_norm"])]
    except (KeyError, TypeError):
        raise CaseError(f"{file}: not a run record (no residual_norms)") from None


def _record_label(document: dict, entry: dict) -> str:
    return f"{document['case']}: {_solver_label(entry['method'], entry.get('preconditioner'))}"
