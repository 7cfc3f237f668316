"""Running a validated case: run, study and compare, each returning a frozen result.

Nothing here writes a file: :mod:`krylovfem.record` turns the results into a record
folder and :mod:`krylovfem.cli` prints them.  Progress goes to a ``report(line)``
callable as soon as it is known (the case, the mesh, the unknowns before the solve;
each time step, each level, each solver), so that a long run is never silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from krylovfem import report as printout
from krylovfem.build import (
    bad_expression,
    coefficients,
    exact_solution,
    heat_data,
    read_system,
    solver_options,
)
from krylovfem.expr import ExpressionError
from krylovfem.meshes import MAX_CELLS
from krylovfem.section import CaseError
from krylovfem.settings import Case, SolverSettings
from solvers import Reason, SolveInterrupted
from solvers.interrupts import raise_kept

__all__ = ["CompareResult", "RunResult", "StudyResult", "Timings", "parse_solver_list",
           "run_case", "run_compare", "run_study"]

Monitor = Callable[[int, float], None]
Report = Callable[[str], None]
OnRun = Callable[[int, "RunResult"], None]


def _quiet(_: str) -> None:
    return None


def _ignore(index: int, run) -> None:
    return None


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds of the parts of a run.

    ``setup`` is reading the matrix or assembling the system; ``compile`` is Numba
    compiling (or loading from its cache) the kernels of the solve, kept out of
    ``solve``; ``total`` is the whole run before writing.
    """

    setup: float
    compile: float
    solve: float
    total: float


@dataclass(frozen=True, eq=False)
class RunResult:
    """One case solved: the solution, every Krylov solve, errors, timings, warnings.

    Attributes
    ----------
    case : Case
        The case as run (mesh level and ``dt`` of this run for a study level).
    solves : tuple of solvers.SolveResult
        The solve; for the heat equation one per time step.
    u : ndarray
        The solution: DOF values (Dirichlet values included), or ``x`` of a matrix case.
    dofs, free_dofs : int
        Unknowns of the space and of the system the solver saw.
    space : fem.FunctionSpace or None
        None for a matrix case.
    matrix, rhs
        The system the Krylov solver saw (for the heat equation, the step matrix).
    times : ndarray or None
        Heat: ``t_0, ..., t_N``.
    errors : dict or None
        ``l2`` and ``h1`` against the exact solution (at ``t_end`` for heat); for a
        matrix case with ``b = A @ ones``: ``l2``, ``max`` and ``relative_l2`` against ones.
    fem_residual_norm : float or None
        :math:`\\|F - K u_h\\|_2` on the free DOFs (heat: of the final step).
    warnings : tuple of str
        What a user should know about this run (a suspicious system, say).
    """

    case: Case
    solves: tuple
    u: np.ndarray
    dofs: int
    free_dofs: int
    timings: Timings
    space: Any = None
    matrix: Any = None
    rhs: np.ndarray | None = None
    times: np.ndarray | None = None
    errors: dict | None = None
    fem_residual_norm: float | None = None
    warnings: tuple[str, ...] = ()
    failure: str | None = None
    preconditioner: dict | None = None  # the AMG hierarchy's summary, when one was built
    parallel: dict | None = None  # over MPI ranks: krylovfem.distributed_run.parallel_entry
    cell_ranks: np.ndarray | None = None  # over MPI ranks: the rank of each cell

    @property
    def final(self):
        """The last solve (the only one, except for heat)."""
        return self.solves[-1] if self.solves else None

    @property
    def converged(self) -> bool:
        return self.failure is None and all(solve.converged for solve in self.solves)

    @property
    def reason(self) -> str:
        """The first failing solve's reason, else the last solve's."""
        if self.failure is not None:
            return "diverged_breakdown"
        failed = [solve for solve in self.solves if not solve.converged]
        return str((failed or self.solves)[0 if failed else -1].reason)

    @property
    def interrupted(self) -> bool:
        """True when the user stopped the solve (Ctrl-C): the record holds it so far."""
        return any(solve.reason == Reason.INTERRUPTED for solve in self.solves)

    @property
    def iterations(self) -> int:
        """Krylov iterations, summed over the time steps of a heat run."""
        return int(sum(solve.iterations for solve in self.solves))


@dataclass(frozen=True, eq=False)
class StudyResult:
    """A case on successive uniform refinements (``fem.norms.RefinementStudy`` of runs).

    ``levels`` is the number asked for; an interrupted study (``interrupted``) holds the
    levels done before the Ctrl-C, and ``solved`` counts the runs given to ``on_run``
    (those levels, and the one interrupted).
    """

    case: Case
    study: Any
    dt: tuple[float, ...] | None = None
    levels: int = 0
    interrupted: bool = False
    solved: int = 0

    @property
    def runs(self) -> list[RunResult]:
        return self.study.results

    @property
    def converged(self) -> bool:
        return all(run.converged for run in self.runs)


@dataclass(frozen=True, eq=False)
class CompareResult:
    """One linear system solved by several methods and preconditioners.

    ``solvers`` and ``solves`` are those done, ``hierarchies`` the summary of each one's
    AMG hierarchy (None for other preconditioners); ``requested`` all that were asked
    for (more when a Ctrl-C ended the comparison: ``interrupted``).
    """

    case: Case
    dofs: int
    solvers: tuple[tuple[str, str], ...]
    solves: tuple = field(default_factory=tuple)
    requested: tuple[tuple[str, str], ...] = ()
    interrupted: bool = False
    hierarchies: tuple[dict | None, ...] = ()

    @property
    def converged(self) -> bool:
        return all(solve.converged for solve in self.solves)


# --------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------
def _solve(matrix, rhs, settings: SolverSettings, monitor, x0=None, M=None):
    from fem.problems import solve_linear_system

    options = solver_options(settings)
    if M is not None:
        options["M"] = M
    return solve_linear_system(settings.method, matrix, rhs, x0, monitor=monitor, **options)


def _multigrid(settings: SolverSettings, matrix, report: Report, fields: dict):
    """The AMG hierarchy of ``matrix`` with the ``[solver.amg]`` options when the solver
    asks for ``amg`` (else None), built here so that its summary (levels, sizes,
    complexities, setup time) is reported and recorded; ``fields["preconditioner"]``
    gets the summary."""
    if settings.preconditioner != "amg":
        return None
    from solvers import amg

    hierarchy = amg(matrix, **settings.amg)
    fields["preconditioner"] = hierarchy.to_dict()
    report(printout.multigrid_line(hierarchy))
    return hierarchy


def _warm_up(settings: SolverSettings, matrix, report: Report, comm=None) -> float:
    """Compile (or load from Numba's cache) the kernels of a solve of ``matrix``; seconds.

    Done apart from the solve, so that a first run says it is compiling (when Numba
    starts to) and its solve time is the solve's alone.  A distributed ``matrix``, or a
    ``comm``, warms up the distributed loops, on every rank.
    """
    import solvers
    from solvers.distributed.dispatch import is_distributed

    def say() -> None:
        report(printout.compiling_line())

    if comm is None and is_distributed(matrix):
        comm = matrix.comm
    if comm is not None:
        from solvers.distributed.warmup import warm_up

        seconds = warm_up(settings.method, settings.preconditioner, comm=comm,
                          on_compile=say).seconds
    else:
        seconds = solvers.warm_up(settings.method, preconditioner=settings.preconditioner,
                                  A=matrix, restart=settings.restart,
                                  smoother=settings.amg.get("smoother"), on_compile=say).seconds
        # a Ctrl-C that the compiler swallowed stops the run here (over MPI ranks, the
        # solve's first pause stops every rank at once)
        raise_kept()
    return seconds


def _heat_stand_in(case: Case, space):
    """A matrix of the heat solves' order and index type, for :func:`_warm_up` (the
    compiled loop depends on the system's size and types, not on its values)."""
    import scipy.sparse as sparse

    fixed = space.boundary_dofs(list(case.boundary.dirichlet)) if case.boundary.dirichlet \
        else ()
    return sparse.eye_array(space.num_dofs - len(fixed), format="csr")


def _system_warnings(case: Case, matrix, settings: SolverSettings) -> list[str]:
    """Cheap checks of an assembled or read system that a user would want to hear of."""
    warnings = []
    # of a distributed matrix, the rank's diagonal block: not symmetric if A is not
    matrix = getattr(matrix, "local_block", matrix)
    if settings.method == "cg":
        # A^H: a complex A must be Hermitian (for a real one, A^H = A^T)
        difference = abs(matrix - matrix.conj().T).max() if matrix.nnz else 0.0
        scale = abs(matrix).max() if matrix.nnz else 0.0
        if difference > 1e-12 * scale:
            kind = "Hermitian" if np.iscomplexobj(matrix) else "symmetric"
            warnings.append(f"cg on a matrix that is not {kind} (max |A - A^H| = "
                            f"{difference:.3g}, max |A| = {scale:.3g}); CG's guarantees need "
                            f"a {kind} positive definite A: use method = \"gmres\"")
    if case.problem.type != "matrix" and not case.boundary.dirichlet \
            and not case.boundary.robin and _no_reaction(case):
        warnings.append("no Dirichlet or Robin part and no reaction: the solution is fixed "
                        "only up to a constant (the matrix is singular); the solver returns "
                        "one of them, if F is compatible")
    return warnings


def _no_reaction(case: Case) -> bool:
    reaction = case.problem.reaction
    return reaction is None or (reaction.is_constant and reaction.constant_value == 0.0)


def _preconditioner_failure(error: Exception) -> str | None:
    from solvers import PivotError

    return str(error) if isinstance(error, PivotError) else None


def _failed(case, error, **fields) -> RunResult:
    """A run whose preconditioner could not be built (an incomplete factorization broke
    down): a record with the reason, exit status 1, not an exception."""
    return RunResult(case, (), failure=" ".join(str(error).split()), **fields)


def _solve_system(case: Case, matrix, rhs, monitor, report: Report, started: float,
                  setup: float, fields: dict, x0=None):
    """Warn, compile, solve: the solve, or a failed run when the preconditioner broke down.

    Returns ``(result, compile_seconds, None)`` or ``(None, compile_seconds, failed_run)``;
    ``fields`` gets the warnings.
    """
    warnings = _system_warnings(case, matrix, case.solver)
    for warning in warnings:
        report(printout.warning_line(warning))
    fields["warnings"] = tuple(warnings)
    compile_seconds = _warm_up(case.solver, matrix, report)
    try:
        M = _multigrid(case.solver, matrix, report, fields)
        return _solve(matrix, rhs, case.solver, monitor, x0, M), compile_seconds, None
    except SolveInterrupted as interrupted:
        # Ctrl-C: the solve so far is the run's result, recorded as interrupted
        return interrupted.result, compile_seconds, None
    except ValueError as error:
        if _preconditioner_failure(error) is None:
            raise
        timings = Timings(setup, compile_seconds, 0.0, time.perf_counter() - started)
        return None, compile_seconds, _failed(case, error, timings=timings, **fields)


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
def run_case(case: Case, *, monitor: Monitor | None = None, report: Report = _quiet,
             mesh=None, dt: float | None = None, x0=None, comm=None) -> RunResult:
    """Assemble (or read), solve and measure one case.

    Parameters
    ----------
    case : Case
        A validated case.
    monitor : callable, optional
        ``monitor(k, residual_norm)`` at every iteration of every solve.
    report : callable, optional
        Receives each line of progress as soon as it is known.
    mesh, dt : optional
        Solve on this mesh with this time step instead of the case's (a study level).
    x0 : ndarray, optional
        Stationary problems: a first guess of all DOF values (an adaptive step starts
        from the previous solution).
    comm : mpi4py communicator, optional
        Run over its ranks (collective: :mod:`krylovfem.distributed_run`); the result,
        with the full solution, is the same on every rank.

    Returns
    -------
    RunResult

    Raises
    ------
    CaseError
        For data that fail where they are used (an expression at a quadrature point,
        an unreadable matrix): bad input, reported in one line.
    """
    started = time.perf_counter()
    if mesh is not None:
        case = replace(case, mesh=mesh)
    if dt is not None:
        case = replace(case, time=replace(case.time, dt=dt))
    try:
        if comm is not None:
            from krylovfem.distributed_run import distributed_run

            return distributed_run(case, comm, monitor, report, started)
        if case.problem.type == "matrix":
            return _matrix_run(case, monitor, report, started)
        if case.problem.type == "heat":
            return _heat_run(case, monitor, report, started)
        return _stationary_run(case, monitor, report, started, x0)
    except (ExpressionError, ValueError) as error:
        bad = bad_expression(case, error)
        if bad is not None:
            raise bad from None
        raise


def _finish(case, started, setup, compile_seconds, result_fields) -> RunResult:
    solves = result_fields["solves"]
    timings = Timings(setup, compile_seconds, float(sum(s.solve_time for s in solves)),
                      time.perf_counter() - started)
    return RunResult(case, timings=timings, **result_fields)


def _stationary_run(case: Case, monitor, report: Report, started: float,
                    x0=None) -> RunResult:
    from fem import norms
    from fem.element import function_space
    from fem.problems import assemble_system

    space = function_space(case.mesh, case.mesh_settings.degree)
    system = assemble_system(space, **coefficients(case))
    setup = time.perf_counter() - started
    free = int(system.free_dofs.size)
    report(printout.dofs_line(space.num_dofs, free))
    if free == 0:
        raise CaseError(f"{case.source}: every DOF is a Dirichlet DOF; there is nothing to "
                        f"solve")
    matrix, rhs = system.reduced_matrix, system.reduced_rhs
    fields = {"u": system.lifting.copy(), "dofs": int(space.num_dofs), "free_dofs": free,
              "space": space, "matrix": matrix, "rhs": rhs}
    guess = None if x0 is None else np.asarray(x0, dtype=np.float64)[system.free_dofs]
    result, compile_seconds, failed = _solve_system(case, matrix, rhs, monitor, report,
                                                    started, setup, fields, guess)
    if failed is not None:
        return failed
    u = system.expand(result.x)
    exact, gradient = exact_solution(case)
    errors = None if exact is None else {"l2": norms.l2_error(space, u, exact),
                                         "h1": norms.h1_error(space, u, gradient)}
    fields.update(u=u, solves=(result,), errors=errors,
                  fem_residual_norm=norms.residual_norm(system, u))
    return _finish(case, started, setup, compile_seconds, fields)


def _heat_run(case: Case, monitor, report: Report, started: float, comm=None) -> RunResult:
    """The heat equation; over the ranks of ``comm`` when given."""
    from fem import norms
    from fem.element import function_space
    from fem.problems import solve_heat

    space = function_space(case.mesh, case.mesh_settings.degree)
    report(printout.dofs_line(space.num_dofs, None))
    solve = solve_heat
    if comm is None:
        compile_seconds = _warm_up(case.solver, _heat_stand_in(case, space), report)
    else:
        from fem.distributed_heat import solve_heat_distributed

        compile_seconds = _warm_up(case.solver, None, report, comm=comm)

        def solve(*arguments, **keywords):
            return solve_heat_distributed(*arguments, comm=comm, **keywords)
    num_steps = case.time.num_steps
    # with --monitor every step is reported, between its iteration lines
    every = 1 if monitor is not None else max(1, num_steps // 20)

    def on_step(step: int, t: float, u: np.ndarray) -> None:
        if step % every == 0 or step == num_steps:
            report(printout.step_line(step, num_steps, t, u))

    # AMG: the hierarchy of the step matrix, built once inside, with [solver.amg]
    multigrid = {"amg": dict(case.solver.amg)} if case.solver.preconditioner == "amg" else {}
    try:
        solution = solve(space, **heat_data(case), dt=case.time.dt,
                         method=case.solver.method, step_callback=on_step,
                         monitor=monitor, **solver_options(case.solver), **multigrid)
    except ValueError as error:
        if _preconditioner_failure(error) is None:
            raise
        return _failed(case, error, u=np.zeros(space.num_dofs), dofs=int(space.num_dofs),
                       free_dofs=0, space=space, timings=Timings(
                           0.0, compile_seconds, 0.0, time.perf_counter() - started))
    final = solution.steps[-1]
    exact, gradient = exact_solution(case, float(solution.times[-1]))
    errors = None if exact is None else {"l2": norms.l2_error(space, solution.u, exact),
                                         "h1": norms.h1_error(space, solution.u, gradient)}
    fields = {"solves": tuple(solution.steps), "u": solution.u, "dofs": int(space.num_dofs),
              "free_dofs": int(final.x.size), "space": space, "times": solution.times,
              "errors": errors,
              # the final step's ||F - K u|| on the free DOFs, as its solve recomputed it
              "fem_residual_norm": float(final.true_residual_norm)}
    if multigrid and hasattr(solution.preconditioner, "to_dict"):  # a Hierarchy was built
        fields["preconditioner"] = solution.preconditioner.to_dict()
        report(printout.multigrid_line(solution.preconditioner))
    if comm is not None:
        from fem.distributed import cell_ranks
        from krylovfem.distributed_run import parallel_entry

        fields["cell_ranks"] = cell_ranks(solution.partition, space)
        fields["free_dofs"] = int(comm.allreduce(final.x.size))
        fields["parallel"] = parallel_entry(comm, final.x.size, sum(
            step.communication_time for step in solution.steps))
    setup = float(solution.timings.get("assemble", 0.0))
    return _finish(case, started, setup, compile_seconds, fields)


def _matrix_run(case: Case, monitor, report: Report, started: float) -> RunResult:
    matrix, rhs, ones_known = read_system(case)
    setup = time.perf_counter() - started
    report(printout.matrix_line(case, matrix))
    n = int(matrix.shape[0])
    fields = {"u": np.zeros(n), "dofs": n, "free_dofs": n, "matrix": matrix, "rhs": rhs}
    result, compile_seconds, failed = _solve_system(case, matrix, rhs, monitor, report,
                                                    started, setup, fields)
    if failed is not None:
        return failed
    errors = None
    if ones_known:
        difference = result.x - 1.0
        errors = {"l2": float(np.linalg.norm(difference)),
                  "max": float(np.abs(difference).max()),
                  "relative_l2": float(np.linalg.norm(difference) / np.sqrt(n))}
    fields.update(u=result.x, solves=(result,), errors=errors)
    return _finish(case, started, setup, compile_seconds, fields)


# --------------------------------------------------------------------------------------
# study
# --------------------------------------------------------------------------------------
def run_study(case: Case, levels: int, *, monitor: Monitor | None = None,
              report: Report = _quiet, on_run: OnRun = _ignore, comm=None) -> StudyResult:
    """Solve on ``levels`` successive uniform refinements: errors, rates, iterations.

    The refinement loop is :func:`fem.norms.refinement_study`; each level is a
    :func:`run_case` on the refined mesh, given to ``on_run(level, run)`` once solved.
    For the heat equation ``dt`` halves with ``h``, so that a second-order scheme shows
    the spatial rate.  A Ctrl-C ends the study with the levels done (``interrupted``);
    before the first level is done it propagates.  With ``comm``, each level runs over
    its ranks.
    """
    from fem.norms import refinement_study

    if case.problem.type == "matrix":
        raise CaseError(f"{case.source}: study needs a mesh; a matrix case has none")
    if case.problem.exact is None:
        raise CaseError(f"{case.source}: study needs [problem] exact to measure errors")
    finest = case.mesh.num_cells * (2 ** case.mesh.dim) ** (levels - 1)
    if finest > MAX_CELLS:
        raise CaseError(f"{case.source}: --levels {levels}: the finest mesh would have "
                        f"{finest:,} cells; at most {MAX_CELLS:,}")
    coarsest_h = case.mesh.h
    steps, done, solved = [], [], [0]

    def solve(space):
        dt = None
        if case.time is not None:
            dt = case.time.dt / round(coarsest_h / space.mesh.h)
            steps.append(dt)
        run = run_case(case, monitor=monitor, mesh=space.mesh, dt=dt, comm=comm)
        on_run(solved[0], run)
        solved[0] += 1
        if run.interrupted:  # Ctrl-C ends the study, not just this level's solve
            raise KeyboardInterrupt
        return run

    def on_level(partial) -> None:
        done.append(partial)
        report(printout.study_level_line(partial))

    exact, gradient = exact_solution(case, case.time.t_end if case.time else None)
    try:
        study = refinement_study(case.mesh, case.mesh_settings.degree, solve, levels=levels,
                                 exact=exact, exact_gradient=gradient, callback=on_level)
    except KeyboardInterrupt:
        if not done:
            raise
        count = len(done[-1].results)
        return StudyResult(case, done[-1], tuple(steps[:count]) if steps else None, levels,
                           interrupted=True, solved=solved[0])
    return StudyResult(case, study, tuple(steps) if steps else None, levels,
                       solved=solved[0])


# --------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------
def parse_solver_list(value: str) -> list[tuple[str, str]]:
    """``"cg:none,gmres:ilu0"`` -> ``[("cg", "none"), ("gmres", "ilu0")]``, validated.

    Examples
    --------
    >>> parse_solver_list("cg:jacobi, gmres")
    [('cg', 'jacobi'), ('gmres', 'none')]
    """
    from solvers import METHODS, PRECONDITIONERS, missing_dependency

    pairs = []
    for item in value.split(","):
        method, _, preconditioner = item.strip().partition(":")
        preconditioner = preconditioner or "none"
        if method not in METHODS:
            raise CaseError(f"--solvers {item.strip()!r}: unknown method {method!r}; allowed: "
                            f"{' | '.join(METHODS)}")
        if preconditioner not in PRECONDITIONERS:
            raise CaseError(f"--solvers {item.strip()!r}: unknown preconditioner "
                            f"{preconditioner!r}; allowed: {' | '.join(PRECONDITIONERS)}")
        missing = missing_dependency(preconditioner)
        if missing:
            raise CaseError(f"--solvers {item.strip()!r}: {missing}")
        pairs.append((method, preconditioner))
    if not pairs:
        raise CaseError("--solvers: give at least one method:preconditioner")
    return pairs


def system_for_compare(case: Case):
    """The matrix and right-hand side every solver in a comparison gets."""
    if case.problem.type == "matrix":
        matrix, rhs, _ = read_system(case)
        return matrix, rhs
    from fem.element import function_space
    from fem.problems import assemble_system

    try:
        space = function_space(case.mesh, case.mesh_settings.degree)
        system = assemble_system(space, **coefficients(case))
    except (ExpressionError, ValueError) as error:
        bad = bad_expression(case, error)
        if bad is not None:
            raise bad from None
        raise
    return system.reduced_matrix, system.reduced_rhs


def run_compare(case: Case, solver_pairs: list[tuple[str, str]], *,
                monitor: Monitor | None = None, report: Report = _quiet) -> CompareResult:
    """Solve the case's one linear system with each solver, every one from ``x0 = 0``.

    The system is assembled (or read) once; the tolerances are the case file's.  Each
    solver's kernels are compiled before its solve, so the times compare solves only.  A
    Ctrl-C ends the comparison with the solves done (``interrupted``); before the first
    is done it propagates.
    """
    if case.problem.type == "heat":
        raise CaseError(f"{case.source}: compare needs one linear system; use a stationary "
                        f"or matrix case (heat solves one system per step)")
    matrix, rhs = system_for_compare(case)
    report(printout.dofs_line(int(np.size(rhs)), None))
    solves, hierarchies, requested = [], [], tuple(solver_pairs)
    interrupted = False
    try:
        for method, preconditioner in requested:
            settings = replace(case.solver, method=method, preconditioner=preconditioner)
            _warm_up(settings, matrix, report)
            fields = {}
            result = _solve(matrix, rhs, settings, monitor,
                            M=_multigrid(settings, matrix, report, fields))
            solves.append(result)
            hierarchies.append(fields.get("preconditioner"))
            report(printout.compare_line(method, preconditioner, result))
    except KeyboardInterrupt:
        if not solves:
            raise
        interrupted = True
    return CompareResult(case, int(np.size(rhs)), requested[:len(solves)], tuple(solves),
                         requested, interrupted, tuple(hierarchies))
