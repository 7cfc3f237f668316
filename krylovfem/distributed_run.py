"""One case over MPI ranks (``mpiexec -n P krylovfem run CASE``): each rank its rows.

Every rank reads the case and builds the mesh; :func:`fem.distributed.assemble_distributed`
cuts the free DOFs into one part per rank (METIS) and each rank assembles the rows of its
part; the distributed CG or GMRES solves; the solution is gathered on every rank, so the
result is the serial :class:`~krylovfem.run.RunResult` (the same iterations, reason and
norms, up to the rounding of sums in another order) on every rank, plus
:func:`parallel_entry`: the ranks, their rows, and the time each spent communicating.
A matrix case is read by every rank, which keeps its own range of rows.

The heat equation runs through :func:`fem.distributed_heat.solve_heat_distributed`.
What a distributed run does not do (refused by :func:`check_command` and
:func:`check_distributable` before any work, on every rank): ``compare``, ``adapt`` and
``plot``, the AMG preconditioner (the distributed loops have
Jacobi and block-Jacobi SSOR/ILU(0)/IC(0)), and ``[output] save_system`` (no rank holds
the whole matrix).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from fem.element import function_space
from krylovfem import report as printout
from krylovfem.build import coefficients, exact_solution, read_system
from krylovfem.run import RunResult, _finish, _heat_run, _solve_system
from krylovfem.section import CaseError
from krylovfem.settings import Case

__all__ = ["DISTRIBUTED_COMMANDS", "check_command", "check_distributable", "distributed_run",
           "parallel_entry"]

#: The commands that run over several ranks.
DISTRIBUTED_COMMANDS = ("run", "study")


def check_command(command: str, size: int) -> None:
    """Raise :class:`CaseError` for a command that does not run over ``size`` ranks."""
    if command not in DISTRIBUTED_COMMANDS:
        raise CaseError(f"krylovfem {command} runs in one process; under mpiexec only "
                        f"{' and '.join(DISTRIBUTED_COMMANDS)} run (given {size} ranks)")


def check_distributable(case: Case, size: int) -> None:
    """Raise :class:`CaseError` for what a case run over ``size`` ranks cannot do."""
    where = f"under mpiexec ({size} ranks)"
    if case.solver.preconditioner == "amg":
        raise CaseError(f"{case.source}: [solver] preconditioner = \"amg\" runs in one "
                        f"process; {where} use none, jacobi, or block ssor, ilu0 or ic0")
    if case.output.save_system:
        raise CaseError(f"{case.source}: [output] save_system = true: no rank holds the "
                        f"whole matrix {where}; run in one process to save the system")


def distributed_run(case: Case, comm, monitor, report, started: float) -> RunResult:
    """:func:`krylovfem.run.run_case` over the ranks of ``comm`` (collective)."""
    if case.problem.type == "matrix":
        return _matrix_run(case, comm, monitor, report, started)
    space = function_space(case.mesh, case.mesh_settings.degree)
    dirichlet = list(case.boundary.dirichlet)
    fixed = space.boundary_dofs(dirichlet).size if dirichlet else 0
    _enough_rows(case, space.num_dofs - fixed, comm.Get_size())
    if case.problem.type == "heat":
        return _heat_run(case, monitor, report, started, comm)
    return _stationary_run(case, space, comm, monitor, report, started)


def parallel_entry(comm, rows: int, communication_seconds: float) -> dict:
    """The record's ``parallel``: ranks, rows of each rank, each rank's seconds in MPI
    calls during the solves (collective)."""
    return {"ranks": int(comm.Get_size()),
            "rows": [int(count) for count in comm.allgather(int(rows))],
            "communication_seconds": [float(t) for t in
                                      comm.allgather(float(communication_seconds))]}


def _communication(result) -> float:
    return float(getattr(result, "communication_time", 0.0)) if result is not None else 0.0


def _enough_rows(case: Case, free: int, size: int) -> None:
    if free == 0:
        raise CaseError(f"{case.source}: every DOF is a Dirichlet DOF; there is nothing to "
                        f"solve")
    if free < size:
        raise CaseError(f"{case.source}: {size} ranks, but {free} unknown"
                        f"{'' if free == 1 else 's'}: every rank needs at least one; use "
                        f"fewer ranks or a finer mesh")


def _stationary_run(case: Case, space, comm, monitor, report, started: float) -> RunResult:
    from fem.distributed import assemble_distributed, cell_ranks, h1_error, l2_error

    system = assemble_distributed(space, comm, **coefficients(case))
    setup = time.perf_counter() - started
    free = int(system.matrix.shape[0])
    report(printout.dofs_line(space.num_dofs, free))
    fields = {"u": np.zeros(space.num_dofs), "dofs": int(space.num_dofs), "free_dofs": free,
              "space": space, "matrix": system.matrix, "rhs": system.rhs}
    result, compile_seconds, failed = _solve_system(case, system.matrix, system.rhs, monitor,
                                                    report, started, setup, fields)
    parallel = parallel_entry(comm, system.matrix.n_local, _communication(result))
    if failed is not None:
        return replace(failed, parallel=parallel)
    u = system.expand(result.x)
    exact, gradient = exact_solution(case)
    errors = None if exact is None else {"l2": l2_error(system, space, u, exact),
                                         "h1": h1_error(system, space, u, gradient)}
    # ||F - K u_h|| on the free DOFs is the solve's true residual, over all ranks
    fields.update(u=u, solves=(result,), errors=errors, parallel=parallel,
                  cell_ranks=cell_ranks(system.partition, space),
                  fem_residual_norm=float(result.true_residual_norm))
    return _finish(case, started, setup, compile_seconds, fields)


def _matrix_run(case: Case, comm, monitor, report, started: float) -> RunResult:
    from solvers.distributed import balanced_ranges, from_rows, gather

    matrix, rhs, ones_known = read_system(case)  # every rank: the same checks
    if np.iscomplexobj(matrix) or np.iscomplexobj(rhs):
        raise CaseError(f"{case.source}: [system] {case.system.matrix.name} is complex; "
                        f"distributed solves are real: run it in one process")
    n = int(matrix.shape[0])
    _enough_rows(case, n, comm.Get_size())
    ranges = balanced_ranges(n, comm.Get_size())
    first, last = ranges[comm.Get_rank()], ranges[comm.Get_rank() + 1]
    distributed = from_rows(matrix[first:last], comm)
    setup = time.perf_counter() - started
    report(printout.matrix_line(case, matrix))
    fields = {"u": np.zeros(n), "dofs": n, "free_dofs": n, "matrix": matrix, "rhs": rhs}
    local_rhs = np.ascontiguousarray(rhs[first:last])
    result, compile_seconds, failed = _solve_system(case, distributed, local_rhs, monitor,
                                                    report, started, setup, fields)
    parallel = parallel_entry(comm, last - first, _communication(result))
    if failed is not None:
        return replace(failed, parallel=parallel)
    x = gather(result.x, distributed, root=None)
    errors = None
    if ones_known:
        difference = x - 1.0
        errors = {"l2": float(np.linalg.norm(difference)),
                  "max": float(np.abs(difference).max()),
                  "relative_l2": float(np.linalg.norm(difference) / np.sqrt(n))}
    fields.update(u=x, solves=(result,), errors=errors, parallel=parallel)
    return _finish(case, started, setup, compile_seconds, fields)

