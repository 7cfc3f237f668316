"""The ``krylovfem`` command: run, study, compare and plot case files.

::

    krylovfem run CASE.toml [--out DIR] [--set section.key=value ...] [--monitor [K]] [--quiet]
    krylovfem study CASE.toml --levels K [...]
    krylovfem compare CASE.toml --solvers cg:none,cg:jacobi,gmres:ilu0 [...]
    krylovfem adapt CASE.toml [--steps K] [--theta T] [--marking M] [--target ETA] [...]
    krylovfem plot RUN_DIR_OR_SUMMARY ... -o FIG.png

Exit status (one line on stderr for every failure, never a traceback):

===  =====================================================================
0    done, and every solve converged
1    done, but a solve did not converge: the record is written, the reason printed
2    bad input or usage (case file, ``--set``, arguments): nothing written
3    the system refused a file (cannot read or write it, disk full, another run
     writing the same folder): no record, or the earlier one unchanged
4    out of memory
70   an internal error (``KRYLOVFEM_TRACEBACK=1`` shows the traceback)
130  interrupted (Ctrl-C): a run's solve stops within a second and its record is
     written so far, with the reason ``interrupted``; a study, comparison or adaptive
     loop keeps the levels, solvers or steps done (marked interrupted); a heat run, or
     a Ctrl-C before a first part is done, writes nothing (an earlier record stays)
143  terminated (SIGTERM)
===  =====================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from krylovfem import __version__
from krylovfem import report as printout
from krylovfem.casefile import Case, CaseError, load_case
from krylovfem.exit_status import LINE_PREFIX
from krylovfem.expr import ExpressionError
from krylovfem.folder import RecordError, check_destination, record_lock
from krylovfem.parallel import (
    SERIAL,
    RankFailure,
    Ranks,
    launcher_ranks,
    silence_others,
    world,
)
from solvers.interrupts import deferred_sigint, keep_swallowed

__all__ = ["main"]

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT, EXIT_SYSTEM, EXIT_OUT_OF_MEMORY = 0, 1, 2, 3, 4
EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 70, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that ``finally`` blocks clean up.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception``
    on the way swallows it.
    """


def _terminate(signum, frame):
    raise Terminated


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
    """The argument parser of ``krylovfem`` (subcommands run, study, compare, adapt, plot)."""
    from fem.estimate import MARKINGS
    from krylovfem.adapt_options import ADAPT_OPTIONS
    from krylovfem.settings import AdaptSettings

    parser = _Parser(prog="krylovfem", description="Finite elements and Krylov solvers from "
                     "TOML case files; every run leaves a record (summary.json) and plots.")
    parser.add_argument("--version", action="version", version=f"krylovfem {__version__}")
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
    adapt = case_command("adapt", "solve, estimate, mark and refine, step after step; "
                         "a uniform study beside it")
    # no defaults here: an option given overrides its [adapt] key, whose default (that of
    # AdaptSettings) applies otherwise; the values are checked with the case file's
    defaults = AdaptSettings()
    for key, type_, metavar, text in (
            ("steps", int, "K", f"the most solves (default {defaults.steps})"),
            ("theta", float, "T", f"marking parameter in (0, 1] (default {defaults.theta})"),
            ("marking", None, None, f"Dörfler (bulk) or maximum marking (default "
                                    f"{defaults.marking})"),
            ("target", float, "ETA", "stop once the estimate is at most ETA"),
            ("max_dofs", int, "N", "never solve on a mesh with more than N unknowns")):
        adapt.add_argument(ADAPT_OPTIONS[key], dest=key, type=type_, metavar=metavar,
                           choices=tuple(MARKINGS) if key == "marking" else None,
                           help=f"{text}; overrides [adapt] {key}")
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
def _emit(line: str) -> None:
    """Print to stdout; a closed pipe (``krylovfem run ... | head``) silences the rest."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        # the reader is gone; the run goes on and its record is still written
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _emit_all(lines: list[str]) -> None:
    for line in lines:
        _emit(line)


class _Monitor:
    """One line per iteration, as PETSc's ``-ksp_monitor`` prints it.

    With ``--monitor K`` every K-th iteration is printed, and the last one of each
    solve too.  A solve's last iteration is known only when the next solve starts
    again at ``k = 0`` or the run ends (:meth:`flush`), so the latest line skipped is
    held back until then.
    """

    def __init__(self, every: int):
        self.every = every
        self.held: tuple[int, float] | None = None

    def __call__(self, iteration: int, residual_norm: float) -> None:
        if self.held is not None and iteration <= self.held[0]:
            self.flush()
        self.held = None
        if iteration % self.every == 0:
            self._show(iteration, residual_norm)
        else:
            self.held = (iteration, residual_norm)

    def flush(self) -> None:
        if self.held is not None:
            self._show(*self.held)
            self.held = None

    @staticmethod
    def _show(iteration: int, residual_norm: float) -> None:
        _emit(f"{iteration:5d} KSP Residual norm {residual_norm:.12e}")


def _monitor(every: int | None, quiet: bool) -> _Monitor | None:
    return None if every is None or quiet else _Monitor(every)


def _flush(monitor: _Monitor | None) -> None:
    if monitor is not None:
        monitor.flush()


def _report(quiet: bool) -> Callable[[str], None]:
    return (lambda _: None) if quiet else _emit


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------
def _output_directory(case: Case, arguments) -> Path:
    """``--out``, else the case's folder; a study or comparison beside it, not in it.

    Each folder holds one record and is replaced whole, so ``study`` and ``compare``
    must not share the run's folder: they get ``results/<name>.study`` and
    ``results/<name>.compare``.
    """
    if arguments.out is not None:
        return arguments.out
    directory = case.output.dir
    if arguments.command == "run":
        return directory
    return directory.with_name(f"{directory.name}.{arguments.command}")


def _prepare(arguments, ranks: Ranks = SERIAL,
             options: dict | None = None) -> tuple[Case, Path]:
    """The case and its output folder, read and checked on every rank."""
    def prepare() -> tuple[Case, Path]:
        case = load_case(arguments.case, arguments.overrides, options)
        if ranks.parallel:
            from krylovfem.distributed_run import check_distributable

            check_distributable(case, ranks.size)
        directory = _output_directory(case, arguments)
        check_destination(directory, case)
        return case, directory

    return ranks.together(prepare, _classify)


def _command_run(arguments, ranks: Ranks, own_process: bool) -> int:
    from krylovfem.record import write_run
    from krylovfem.run import run_case

    case, directory = _prepare(arguments, ranks)
    # the command's own process, serial, draws its figures in a second process (forked
    # before the lock is taken): matplotlib's import and the drawing run beside the solve
    drawing = _figure_process(own_process and not ranks.parallel
                              and case.output.plots)
    with drawing as figures, ranks.on_root(lambda: record_lock(directory), _classify):
        report = _report(arguments.quiet)
        _emit_all(report_lines(arguments, printout.run_header(case)))
        monitor = _monitor(arguments.monitor, arguments.quiet)
        run = ranks.together(lambda: run_case(case, monitor=monitor, report=report,
                                              comm=ranks.comm), _classify)
        _flush(monitor)
        ranks.together(lambda: write_run(run, directory, figures) if ranks.is_root else None,
                       _classify)
    _emit_all(report_lines(arguments, printout.run_summary(run, directory)))
    if run.interrupted:
        return _fail(f"interrupted after {run.iterations} iterations; the run so far is in "
                     f"{directory}", EXIT_INTERRUPTED)
    return _finish(run.converged, run.reason, directory)


def _figure_process(wanted: bool):
    """:func:`krylovfem.drawing.figure_process` when ``wanted``, else a block giving None."""
    if not wanted:
        return contextlib.nullcontext()
    from krylovfem.drawing import figure_process

    return figure_process()


def _command_study(arguments, ranks: Ranks, own_process: bool) -> int:
    from krylovfem.folder import record_folder
    from krylovfem.record import write_part, write_study
    from krylovfem.run import run_study

    case, directory = _prepare(arguments, ranks)
    with ranks.on_root(lambda: record_lock(directory), _classify), \
            ranks.on_root(lambda: record_folder(directory), _classify) as folder:
        monitor = _monitor(arguments.monitor, arguments.quiet)

        def on_run(level: int, run) -> None:
            # a study's figure is rates.png: drawing each level's solution and error
            # would take longer than solving the levels
            ranks.together(lambda: write_part(folder, "level", level, run, figures=False)
                           if ranks.is_root else None, _classify)

        result = ranks.together(lambda: run_study(case, arguments.levels, monitor=monitor,
                                                  report=_report(arguments.quiet),
                                                  on_run=on_run, comm=ranks.comm), _classify)
        _flush(monitor)
        files = ranks.together(lambda: write_study(result, folder) if ranks.is_root else [],
                               _classify)
    _emit_all(report_lines(arguments, printout.study_table(result, directory, files)))
    if result.interrupted:
        return _interrupted(f"{len(result.runs)} of {result.levels} levels", directory)
    failed = sorted({run.reason for run in result.runs if not run.converged})
    return _finish(result.converged, ", ".join(failed), directory)


def _command_compare(arguments, ranks: Ranks, own_process: bool) -> int:
    from krylovfem.record import write_compare
    from krylovfem.run import parse_solver_list, run_compare

    pairs = parse_solver_list(arguments.solvers)
    case, directory = _prepare(arguments)
    with record_lock(directory):
        monitor = _monitor(arguments.monitor, arguments.quiet)
        result = run_compare(case, pairs, monitor=monitor, report=_report(arguments.quiet))
        _flush(monitor)
        files = write_compare(result, directory)
    _emit_all(report_lines(arguments, printout.compare_table(result, directory, files)))
    if result.interrupted:
        return _interrupted(f"{len(result.solves)} of {len(result.requested)} solvers",
                            directory)
    failed = sorted({str(solve.reason) for solve in result.solves if not solve.converged})
    return _finish(result.converged, ", ".join(failed), directory)


def _adapt_options(arguments) -> dict:
    """The ``[adapt]`` keys the command's options set: ``"adapt.steps": ("--steps", 5)``."""
    from krylovfem.adapt_options import ADAPT_OPTIONS

    return {f"adapt.{key}": (option, getattr(arguments, key))
            for key, option in ADAPT_OPTIONS.items() if getattr(arguments, key) is not None}


def _command_adapt(arguments, ranks: Ranks, own_process: bool) -> int:
    from krylovfem.adapt import check_adaptable, run_adapt
    from krylovfem.folder import record_folder
    from krylovfem.record import write_adapt, write_part

    case, directory = _prepare(arguments, options=_adapt_options(arguments))
    check_adaptable(case)
    with record_lock(directory), record_folder(directory) as folder:
        _emit_all(report_lines(arguments, printout.run_header(case)))
        monitor = _monitor(arguments.monitor, arguments.quiet)
        result = run_adapt(case, report=_report(arguments.quiet), monitor=monitor,
                           on_run=lambda step, run: write_part(folder, "step", step, run))
        _flush(monitor)
        files = write_adapt(result, folder)
    _emit_all(report_lines(arguments, printout.adapt_table(result, directory, files)))
    if result.interrupted:
        return _interrupted(f"{len(result.steps)} adaptive steps", directory)
    failed = sorted({step.reason for step in result.steps if not step.converged})
    if result.failure is not None:
        failed.append("diverged_breakdown")
    return _finish(result.converged, ", ".join(failed), directory)


def _command_plot(arguments, ranks: Ranks, own_process: bool) -> int:
    from krylovfem.figures import residual_figure, save_figure
    from krylovfem.folder import check_writable
    from krylovfem.record import load_solve_records

    if arguments.output.suffix.lower() != ".png":
        raise CaseError(f"-o {arguments.output}: the figure is written as PNG; name it .png")
    solves = load_solve_records(arguments.records)
    check_writable(arguments.output.parent)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    figure, data = residual_figure([record for _, record in solves],
                                   labels=[label for label, _ in solves],
                                   title="residual histories")
    save_figure(figure, arguments.output, data)
    if not arguments.quiet:
        _emit(f"wrote {arguments.output} ({len(solves)} histories)")
    return EXIT_OK


def _interrupted(done: str, directory: Path) -> int:
    """A Ctrl-C that ended a study, comparison or adaptive loop after some of its parts."""
    return _fail(f"interrupted after {done}; those done are in {directory}", EXIT_INTERRUPTED)


def report_lines(arguments, lines: list[str]) -> list[str]:
    return [] if arguments.quiet else lines


def _finish(converged: bool, reason: str, directory: Path) -> int:
    if converged:
        return EXIT_OK
    print(f"krylovfem: a solve did not converge ({reason}); the record is in {directory}",
          file=sys.stderr)
    return EXIT_NOT_CONVERGED


# Each command takes the parsed arguments, the ranks, and whether this is the command's
# own process (the console script, not a library caller's main(argv)).
COMMANDS = {"run": _command_run, "study": _command_study, "compare": _command_compare,
            "adapt": _command_adapt, "plot": _command_plot}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``krylovfem`` console script; returns the exit status.

    Under ``mpiexec`` (:mod:`krylovfem.parallel`) every rank runs the command; rank 0
    prints, writes and reports a failure of any rank, and every rank returns the same
    status.
    """
    parser = build_parser()
    previous = signal.signal(signal.SIGTERM, _terminate)
    printing = launcher_ranks()[1] == 0
    # a library caller's main(argv) is not the command's own process: its figures are
    # drawn in-process (no process forked from the caller's) and its heap stays as it is
    own_process = argv is None
    try:
        ranks = world()
        printing = ranks.is_root
        silence_others(ranks, keep_stderr=bool(os.environ.get("KRYLOVFEM_TRACEBACK")))
        arguments = parser.parse_args(argv)
        if own_process:  # the command's own process: what is loaded by now (numpy's,
            # scipy's, numba's modules: most of the heap) stays until it exits; frozen,
            # no collection scans it again
            gc.freeze()
        if ranks.parallel:
            from krylovfem.distributed_run import check_command

            check_command(arguments.command, ranks.size)
        # an overflow or NaN in the data ends in the solve's reason (diverged_nan, say)
        # and nulls in the record, not in NumPy's warnings on the way there; over MPI
        # ranks a Ctrl-C is acted on where the ranks meet (krylovfem.parallel)
        interrupts = deferred_sigint() if ranks.parallel else keep_swallowed()
        with np.errstate(all="ignore"), interrupts:
            return COMMANDS[arguments.command](arguments, ranks, own_process)
    except (Exception, KeyboardInterrupt, Terminated) as error:
        if _internal(error) and os.environ.get("KRYLOVFEM_TRACEBACK"):
            raise
        status, line = _classify(error)
        if printing:
            print(line, file=sys.stderr)
        return status
    finally:
        signal.signal(signal.SIGTERM, previous)
        if own_process:  # nor the collection at exit what the run left (Numba's loaded
            gc.freeze()  # code, the run's arrays): the process ends now


def _internal(error: BaseException) -> bool:
    """Not one of the failures the command reports as such (a bug, then)."""
    return not isinstance(error, (UsageError, CaseError, ExpressionError, RecordError, OSError,
                                  MemoryError, KeyboardInterrupt, Terminated, RankFailure))


def _classify(error: BaseException) -> tuple[int, str]:
    """The exit status and the one line on stderr of an error that ends a command."""
    if isinstance(error, RankFailure):
        return error.status, error.message
    if isinstance(error, UsageError):
        return EXIT_BAD_INPUT, _one_line(str(error))
    if isinstance(error, (CaseError, ExpressionError)):
        status, message = EXIT_BAD_INPUT, str(error)
    elif isinstance(error, RecordError):
        status, message = EXIT_SYSTEM, str(error)
    elif isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        status, message = EXIT_SYSTEM, f"{where}{error.strerror or error}"
    elif isinstance(error, MemoryError):
        status, message = EXIT_OUT_OF_MEMORY, ("out of memory; try a coarser mesh, a smaller "
                                               "GMRES restart or fewer steps")
    elif isinstance(error, KeyboardInterrupt):
        status, message = EXIT_INTERRUPTED, "interrupted"
    elif isinstance(error, Terminated):
        status, message = EXIT_TERMINATED, "terminated"
    else:
        status, message = EXIT_INTERNAL_ERROR, (
            f"internal error: {type(error).__name__}: {error} (set KRYLOVFEM_TRACEBACK=1 to "
            f"see where)")
    return status, LINE_PREFIX + _one_line(message)


def _fail(message: str, status: int) -> int:
    print(LINE_PREFIX + _one_line(message), file=sys.stderr)
    return status


def _one_line(text: str) -> str:
    return " ".join(text.split())


