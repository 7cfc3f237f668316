"""The lines the command prints: progress while a run goes, and its summary at the end.

Every line starts with a fixed-width label, so that a run reads as one table::

    case        poisson-2d  (poisson, P1)
    mesh        unit_square, n = 32: 1089 points, 2048 cells, h = 0.0442
    dofs        1089  (free 961)
    solver      cg, preconditioner ic0, rtol 1e-10
    iterations  31
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from krylovfem.settings import Case

__all__ = ["adapt_step_line", "adapt_table", "compare_table", "run_header", "run_summary",
           "study_table"]

_WIDTH = 12


def _line(label: str, value: str) -> str:
    return f"{label:<{_WIDTH}}{value}"


def _number(value: float | None, spec: str = ".3e") -> str:
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def solver_label(method: str, preconditioner: str | None) -> str:
    """``"cg + ic0"``, or the method alone without a preconditioner."""
    return f"{method} + {preconditioner}" if preconditioner not in (None, "none") else method


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------
def run_header(case: Case) -> list[str]:
    """What is known of a run before anything is built: the case, its mesh, its solver."""
    kind = case.problem.type + (f", {case.mesh_settings.element}" if case.mesh_settings else "")
    lines = [_line("case", f"{case.name}  ({kind})")]
    if case.mesh is not None:
        mesh, settings = case.mesh, case.mesh_settings
        source = settings.file.name if settings.file else settings.domain
        size = f", n = {settings.n}" if settings.file is None else ""
        lines.append(_line("mesh", f"{source}{size}: {mesh.num_points} points, "
                                   f"{mesh.num_cells} cells, h = {mesh.h:.3g}"))
    solver = case.solver
    lines.append(_line("solver", f"{solver.method}, preconditioner {solver.preconditioner}, "
                                 f"rtol {solver.rtol:g}"
                       + (f", atol {solver.atol:g}" if solver.atol else "")
                       + (f", restart {solver.restart}" if solver.method == "gmres" else "")))
    if case.time is not None:
        lines.append(_line("time", f"{case.time.num_steps} {case.time.scheme} steps of "
                                   f"dt = {case.time.dt:g} to t = {case.time.t_end:g}"))
    return lines


def dofs_line(dofs: int, free: int | None) -> str:
    return _line("dofs", f"{dofs}" + (f"  (free {free})" if free is not None else ""))


def matrix_line(case: Case, matrix) -> str:
    rhs = case.system.rhs.name if case.system.rhs else "A @ ones"
    return _line("matrix", f"{case.system.matrix.name}: order {matrix.shape[0]}, "
                           f"{matrix.nnz} nonzeros, b = {rhs}")


def compiling_line() -> str:
    return _line("compiling", "Numba kernels (first run only; cached for later runs)")


def multigrid_line(hierarchy) -> str:
    """The AMG hierarchy of a run, in one line."""
    sizes = " > ".join(f"{size:,}" for size in hierarchy.sizes)
    return _line("amg", f"{hierarchy.levels} levels ({sizes} unknowns), operator complexity "
                        f"{hierarchy.operator_complexity:.2f}, setup "
                        f"{hierarchy.setup_seconds:.3g} s")


def warning_line(message: str) -> str:
    return _line("warning", message)


def step_line(step: int, num_steps: int, t: float, u: np.ndarray) -> str:
    return (f"step {step:>6}/{num_steps}  t = {t:<10.6g} max|u_h| = "
            f"{float(np.abs(u).max()):.6e}")


def study_level_line(study) -> str:
    """The newest level of a refinement study, with its rates against the previous one."""
    level = len(study.h) - 1
    run = study.results[-1]
    rates = ""
    if level > 0:
        rates = "  rates " + " / ".join(_number(study.rates[name][-1], ".2f")
                                        for name in ("l2", "h1"))
    return (f"level {level}: h = {study.h[-1]:.4g}  dofs {study.dofs[-1]:>7}  "
            f"L2 {study.errors['l2'][-1]:.3e}  H1 {study.errors['h1'][-1]:.3e}  "
            f"iterations {run.iterations}{rates}")


def adapt_step_line(step, *, uniform: bool = False) -> str:
    """One step of an adaptive loop (or one uniform level): DOFs, estimate, errors."""
    errors = step.errors or {}
    effectivity = step.effectivity
    label = f"uniform {step.step:>2}" if uniform else f"step {step.step:>2}"
    marked = "" if step.marked is None else f"  marked {step.marked}"
    return (f"{label}: dofs {step.dofs:>8}  estimate {step.estimate:.3e}"
            + (f"  H1 {errors['h1']:.3e}" if "h1" in errors else "")
            + (f"  effectivity {effectivity:.2f}" if effectivity is not None else "")
            + f"  iterations {step.iterations}{marked}")


def compare_line(method: str, preconditioner: str, result) -> str:
    return f"{solver_label(method, preconditioner):<16} iterations {result.iterations:>6}  " \
           f"{result.reason}"


# --------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------
def run_summary(run, directory: Path) -> list[str]:
    """The lines after a run: iterations, reason, residuals, condition, errors, times."""
    if run.failure is not None:
        return [_line("reason", f"{run.reason}: {run.failure}"),
                _line("record", str(directory / "summary.json"))]
    final = run.final
    lines = []
    if run.times is not None:
        per_step = max(solve.iterations for solve in run.solves)
        lines.append(_line("iterations", f"{run.iterations} in {len(run.solves)} steps "
                                         f"(at most {per_step} per step)"))
    else:
        lines.append(_line("iterations", f"{run.iterations}"))
    lines.append(_line("reason", run.reason))
    residual = f"||b - A x||/||b|| = {_number(final.relative_residual)}"
    if run.fem_residual_norm is not None:
        residual += f"   ||F - K u_h|| = {_number(run.fem_residual_norm)}"
    lines.append(_line("residual", residual + ("   (final step)" if run.times is not None
                                               else "")))
    if np.isfinite(final.condition_estimate):
        operator = "M^-1 A" if final.preconditioner != "none" else "A"
        lines.append(_line("condition", f"~{final.condition_estimate:.3g} (estimate of "
                                        f"kappa({operator}))"))
    if run.errors:
        parts = [f"{name.upper() if name in ('l2', 'h1') else name} {value:.3e}"
                 for name, value in run.errors.items()]
        where = f" at t = {run.times[-1]:g}" if run.times is not None else ""
        lines.append(_line("errors", "   ".join(parts) + where))
    if run.parallel is not None:
        communication = max(run.parallel["communication_seconds"])
        rows = run.parallel["rows"]
        shown = " / ".join(f"{count:,}" for count in rows[:8]) + (" / ..." if len(rows) > 8
                                                                   else "")
        lines.append(_line("mpi", f"{run.parallel['ranks']} ranks (rows {shown}); "
                                  f"communication at most {communication:.3f} s of the "
                                  f"solves on one rank"))
    timings = run.timings
    setup = "read" if run.case.problem.type == "matrix" else "assemble"
    lines.append(_line("time (s)", f"{setup} {timings.setup:.3f}   compile "
                                   f"{timings.compile:.3f}   solve {timings.solve:.3f}   "
                                   f"total {timings.total:.3f}"))
    lines.append(_line("record", str(directory / "summary.json")))
    return lines


def study_table(result, directory: Path, files: list[Path]) -> list[str]:
    """The table after a study: h, DOFs, errors with rates, iterations; the files."""
    study = result.study
    header = (f"{'level':>5} {'h':>10} {'dofs':>8} {'L2 error':>11} {'rate':>6} "
              f"{'H1 error':>11} {'rate':>6} {'iterations':>10}")
    lines = [f"study of {result.case.name} ({result.case.mesh_settings.element}, "
             f"{solver_label(result.case.solver.method, result.case.solver.preconditioner)})",
             header]
    for level, run in enumerate(result.runs):
        rates = {name: study.rates[name][level - 1] if level else None for name in ("l2", "h1")}
        lines.append(
            f"{level:>5} {study.h[level]:>10.4g} {study.dofs[level]:>8} "
            f"{study.errors['l2'][level]:>11.3e} {_number(rates['l2'], '.2f'):>6} "
            f"{study.errors['h1'][level]:>11.3e} {_number(rates['h1'], '.2f'):>6} "
            f"{run.iterations:>10}")
    fitted = study.fitted_rates
    lines.append(f"fitted rates: L2 {_number(fitted['l2'], '.2f')}   "
                 f"H1 {_number(fitted['h1'], '.2f')}")
    lines += _files_lines(files)
    return lines


def adapt_table(result, directory: Path, files: list[Path]) -> list[str]:
    """The lines after an adaptive loop: why it stopped, the fitted rates, the files."""
    settings = result.settings
    lines = [_line("adapt", f"{len(result.steps)} steps, {settings.marking} marking, theta "
                            f"{settings.theta:g}; stopped: {result.stop}"
                   + (" (then interrupted)" if result.interrupted
                      and result.stop != "interrupted" else ""))]
    if result.failure is not None:
        lines.append(_line("failure", result.failure))
    if result.steps:
        last = result.steps[-1]
        lines.append(_line("final", f"{last.dofs} DOFs, estimate {last.estimate:.3e}"
                           + (f", H1 error {last.errors['h1']:.3e}" if last.errors else "")))
    for label, steps in (("rate", result.steps), ("uniform", result.uniform)):
        rates = dofs_rates(steps)
        if rates:
            lines.append(_line(label, "   ".join(f"{name} N^{rate:.2f}"
                                                 for name, rate in rates.items())
                               + f"  (fitted over the last {min(len(steps), 5)} steps)"))
    lines += _files_lines(files)
    return lines


def dofs_rates(steps) -> dict[str, float]:
    """Fitted exponents of the estimate and the H1 error against the DOFs, over the last
    five steps (none for fewer than two)."""
    from fem.norms import fitted_rate

    steps = list(steps)[-5:]
    if len(steps) < 2:
        return {}
    dofs = np.array([1.0 / step.dofs for step in steps])
    rates = {"estimate": -fitted_rate(dofs, [step.estimate for step in steps])}
    if all(step.errors for step in steps):
        rates["H1"] = -fitted_rate(dofs, [step.errors["h1"] for step in steps])
    return {name: rate for name, rate in rates.items() if np.isfinite(rate)}


def compare_table(result, directory: Path, files: list[Path]) -> list[str]:
    """The table after a comparison; solve times exclude compilation."""
    lines = [f"compare on {result.case.name}: {result.dofs} unknowns, rtol "
             f"{result.case.solver.rtol:g}",
             f"{'method':<8} {'precond':<8} {'iterations':>10} {'rel. residual':>13} "
             f"{'time (s)':>9}  reason"]
    for (method, preconditioner), solve in zip(result.solvers, result.solves, strict=True):
        lines.append(f"{method:<8} {preconditioner:<8} {solve.iterations:>10} "
                     f"{solve.relative_residual:>13.3e} {solve.solve_time:>9.4f}  "
                     f"{solve.reason}")
    lines += _files_lines(files)
    return lines


def _files_lines(files: list[Path]) -> list[str]:
    return [_line("wrote" if index == 0 else "", str(path)) for index, path in enumerate(files)]
