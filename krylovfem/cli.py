"""The ``krylovfem`` command: run, study, compare and plot case files.

::

    krylovfem run CASE.toml [--out DIR] [--set section.key=value ...] [--monitor [K]] [--quiet]
    krylovfem study CASE.toml --levels K [...]
    krylovfem compare CASE.toml --solvers cg:none,cg:jacobi,gmres:ilu0 [...]
    krylovfem plot RUN_DIR_OR_SUMMARY ... -o FIG.png

Exit status: 0 done and every solve converged; 1 done but a solve did not
converge (the record is still written and the reason printed); 2 bad input or
usage (one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from krylovfem.casefile import Case, CaseError, load_case
from krylovfem.expr import ExpressionError

__all__ = ["main"]

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """A command line that argparse refused."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting (one-line messages)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, given {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, given {text!r}")
    return value


def _levels(text: str) -> int:
    value = _positive_int(text)
    if value > 12:
        raise argparse.ArgumentTypeError(f"at most 12 levels (each has 4 times the unknowns "
                                         f"in 2D), given {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``krylovfem`` (subcommands run, study, compare, plot)."""
    parser = _Parser(prog="krylovfem", description="Finite elements and Krylov solvers from "
                     "TOML case files; every run leaves a record (summary.json) and plots.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def case_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("case", type=Path, help="the case file (TOML)")
        command.add_argument("--out", type=Path, help="output directory (default: [output] "
                             "dir, else results/<name>)")
        command.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                             dest="overrides", help="override a case-file value (repeatable)")
        command.add_argument("--monitor", nargs="?", const=1, type=_positive_int, metavar="K",
                             help="print the residual norm every K-th iteration (default 1)")
        command.add_argument("--quiet", action="store_true", help="print nothing on success")
        return command

    case_command("run", "assemble, solve and report one case")
    study = case_command("study", "solve on successive refinements; errors and rates")
    study.add_argument("--levels", type=_levels, default=4, help="number of meshes (default 4)")
    compare = case_command("compare", "solve one system with several solvers")
    compare.add_argument("--solvers", default="cg:none,cg:jacobi,cg:ic0,gmres:ilu0",
                         help="comma-separated method:preconditioner pairs")
    plot = commands.add_parser("plot", help="residual histories of earlier runs in one figure",
                               description="residual histories of earlier runs in one figure")
    plot.add_argument("records", nargs="+", type=Path,
                      help="run directories, summary.json or compare.json files")
    plot.add_argument("-o", "--output", type=Path, required=True, help="figure file (.png)")
    plot.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


# --------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------
def _emit(text: str) -> None:
    """Print to stdout; a closed pipe (``krylovfem run ... | head``) silences the rest."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # the reader is gone; the run goes on and its record is still written
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _monitor(every: int | None, quiet: bool) -> Callable[[int, float], None] | None:
    """One line per iteration, as PETSc's ``-ksp_monitor`` prints it."""
    if every is None or quiet:
        return None

    def monitor(iteration: int, residual_norm: float) -> None:
        if iteration % every == 0:
            _emit(f"{iteration:5d} KSP Residual norm {residual_norm:.12e}")

    return monitor


def _report(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda _: None
    return _emit


def _number(value: float | None, spec: str = ".3e") -> str:
    return "n/a" if value is None else format(value, spec)


def _mesh_lines(record: dict) -> list[str]:
    mesh = record.get("mesh")
    if mesh is None:
        matrix = record["matrix"]
        return [f"matrix      {matrix['file']}: order {record['dofs']}, {matrix['nnz']} "
                f"nonzeros, b = {matrix['rhs']}"]
    size = f", n = {mesh['n']}" if mesh.get("n") else ""
    return [f"mesh        {mesh['source']}{size}: {mesh['points']} points, {mesh['cells']} "
            f"cells, h = {mesh['h']:.3g}"]


def format_summary(record: dict, directory: Path) -> str:
    """The short report printed after a run (DOFs, method, iterations, reason, norms, times)."""
    solver = record["solver"]
    method = record.get("method", solver["method"])
    preconditioner = solver["preconditioner"]
    lines = [
        f"case        {record['case']}  ({record['problem']}"
        + (f", {record['element']}" if record.get("element") else "") + ")",
        *_mesh_lines(record),
        f"dofs        {record['dofs']}" + (f"  (free {record['free_dofs']})"
                                            if "free_dofs" in record else ""),
        f"solver      {method}, preconditioner {preconditioner}, rtol {solver['rtol']:g}"
        + (f", atol {solver['atol']:g}" if solver["atol"] else ""),
    ]
    if "steps" in record:
        lines.append(f"time        {record['time']['steps']} {record['time']['scheme']} steps "
                     f"to t = {record['time']['t_end']:g}, {record['iterations']} iterations "
                     f"in all (at most {record['iterations_per_step_max']} per step)")
    else:
        lines.append(f"iterations  {record['iterations']}")
    lines.append(f"reason      {record['reason']}")
    lines.append(f"residual    ||b - A x||/||b|| = {_number(record['relative_residual'])}"
                 + (f"   ||F - K u_h|| = {_number(record['fem_residual_norm'])}"
                    if record.get("fem_residual_norm") is not None else ""))
    if record.get("condition_estimate") is not None:
        lines.append(f"condition   ~{record['condition_estimate']:.3g} (estimate)")
    errors = record.get("errors")
    if errors:
        where = " at t_end" if "steps" in record else ""
        parts = [f"{name.upper() if name in ('l2', 'h1') else name} {value:.3e}"
                 for name, value in errors.items()]
        lines.append(f"errors      {'   '.join(parts)}{where}")
    timings = record["timings"]
    lines.append(f"time (s)    assemble {timings['assemble']:.3f}   solve {timings['solve']:.3f}"
                 f"   total {timings['total']:.3f}")
    lines.append(f"record      {directory / 'summary.json'}")
    return "\n".join(lines)


def format_study(document: dict, directory: Path) -> str:
    """The table printed after a study: h, DOFs, errors with rates, iterations."""
    header = (f"{'level':>5} {'h':>10} {'dofs':>8} {'L2 error':>11} {'rate':>6} "
              f"{'H1 error':>11} {'rate':>6} {'iterations':>10}")
    lines = [f"study of {document['case']} ({document['element']})", header]
    for row in document["levels"]:
        rates = row["rates"]
        lines.append(
            f"{row['level']:>5} {row['h']:>10.4g} {row['dofs']:>8} {row['l2']:>11.3e} "
            f"{_number(rates['l2'], '.2f'):>6} {row['h1']:>11.3e} "
            f"{_number(rates['h1'], '.2f'):>6} {row['iterations']:>10}"
        )
    fitted = document["rates"]
    lines.append(f"fitted rates: L2 {_number(fitted['l2'], '.2f')}   "
                 f"H1 {_number(fitted['h1'], '.2f')}")
    lines.append(f"record      {directory / 'study.json'}")
    return "\n".join(lines)


def format_compare(document: dict, directory: Path) -> str:
    """The table printed after a comparison."""
    lines = [f"compare on {document['case']}: {document['dofs']} unknowns, rtol "
             f"{document['rtol']:g}",
             f"{'method':<8} {'precond':<8} {'iterations':>10} {'rel. residual':>13} "
             f"{'time (s)':>9}  reason"]
    for row in document["solvers"]:
        lines.append(f"{row['method']:<8} {row['preconditioner']:<8} {row['iterations']:>10} "
                     f"{row['relative_residual']:>13.3e} {row['solve_time']:>9.4f}  "
                     f"{row['reason']}")
    lines.append(f"record      {directory / 'compare.json'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------
def _output_directory(case: Case, arguments) -> Path:
    return arguments.out if arguments.out is not None else case.output.dir


def _command_run(arguments) -> int:
    from krylovfem.run import run_case

    case = load_case(arguments.case, arguments.overrides)
    directory = _output_directory(case, arguments)
    outcome = run_case(case, out_dir=directory, monitor=_monitor(arguments.monitor,
                       arguments.quiet), report=_report(arguments.quiet))
    if not arguments.quiet:
        _emit(format_summary(outcome.record, directory))
    return _finish(outcome, directory)


def _command_study(arguments) -> int:
    from krylovfem.run import run_study

    case = load_case(arguments.case, arguments.overrides)
    directory = _output_directory(case, arguments)
    outcome = run_study(case, arguments.levels, out_dir=directory,
                        monitor=_monitor(arguments.monitor, arguments.quiet),
                        report=_report(arguments.quiet))
    if not arguments.quiet:
        _emit(format_study(outcome.record, directory))
    return _finish(outcome, directory)


def _command_compare(arguments) -> int:
    from krylovfem.run import parse_solver_list, run_compare

    pairs = parse_solver_list(arguments.solvers)
    case = load_case(arguments.case, arguments.overrides)
    directory = _output_directory(case, arguments)
    outcome = run_compare(case, pairs, out_dir=directory,
                          monitor=_monitor(arguments.monitor, arguments.quiet),
                          report=_report(arguments.quiet))
    if not arguments.quiet:
        _emit(format_compare(outcome.record, directory))
    return _finish(outcome, directory)


def _command_plot(arguments) -> int:
    from krylovfem.figures import plot_residual_histories
    from krylovfem.run import check_output_directory, load_histories, save_figure

    if arguments.output.suffix.lower() != ".png":
        raise CaseError(f"-o {arguments.output}: the figure is written as PNG; name it .png")
    histories = load_histories(arguments.records)
    check_output_directory(arguments.output.parent)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    figure, data = plot_residual_histories(histories, title="residual histories")
    save_figure(figure, arguments.output, data)
    if not arguments.quiet:
        _emit(f"wrote {arguments.output} ({len(histories)} histories)")
    return EXIT_OK


def _finish(outcome, directory: Path) -> int:
    if outcome.converged:
        return EXIT_OK
    reason = outcome.record.get("reason")
    if reason is None:
        failed = [row for row in outcome.record.get("solvers", outcome.record.get("levels", []))
                  if not row["converged"]]
        reason = ", ".join(sorted({row["reason"] for row in failed}))
    print(f"krylovfem: a solve did not converge ({reason}); the record is in {directory}",
          file=sys.stderr)
    return EXIT_NOT_CONVERGED


COMMANDS = {"run": _command_run, "study": _command_study, "compare": _command_compare,
            "plot": _command_plot}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``krylovfem`` console script; returns the exit status."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
        return COMMANDS[arguments.command](arguments)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (CaseError, ExpressionError) as error:
        print(f"krylovfem: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("krylovfem: interrupted", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


