r"""The heat equation over MPI: the :math:`\theta`-scheme of :func:`fem.problems.solve_heat`
with each rank assembling and solving its rows.

The free DOFs are partitioned once (:func:`fem.distributed.partition_dofs`); each rank
assembles, on the cells of its DOFs, its rows of the step matrices
:math:`M + \theta \Delta t K` and :math:`M - (1 - \theta) \Delta t K` (columns: all DOFs)
and, at every step, its rows of the load.  A step's right-hand side needs only the
rank's rows and the DOF vector :math:`u^n`, which every rank holds whole: the solve's
distributed solution is gathered after each step.  That gather moves :math:`n` values
per step, a cost that the solve dwarfs at the sizes one machine holds; it is what keeps
the step loop here the serial one.

Examples
--------
Run under ``mpiexec -n P`` (it also runs alone)::

    from mpi4py import MPI
    from fem import function_space, unit_square
    from fem.distributed_heat import solve_heat_distributed

    space = function_space(unit_square(64), 1)
    solution = solve_heat_distributed(space, MPI.COMM_WORLD, f=1.0, t_end=0.1, dt=0.01,
                                      dirichlet={"boundary": 0.0}, M="jacobi")
    solution.u                      # every DOF at t_end, on every rank
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fem.assembly import assemble_mass, sparsity_pattern
from fem.boundary import dirichlet_values
from fem.distributed import (
    Partition,
    distributed_columns,
    expanded,
    local_part,
    partition_dofs,
)
from fem.element import FunctionSpace, interpolate
from fem.problems import (
    HeatSolution,
    _check_boundary_data,
    _check_robin,
    _choose_method,
    _load,
    _operator,
    heat_schedule,
    solve_linear_system,
)

__all__ = ["DistributedHeatSolution", "solve_heat_distributed"]


@dataclass(frozen=True, eq=False)
class DistributedHeatSolution(HeatSolution):
    """A :class:`~fem.problems.HeatSolution` (``u`` whole on every rank) and the
    :class:`~fem.distributed.Partition` of the free DOFs over the ranks."""

    partition: Partition | None = None


def solve_heat_distributed(space: FunctionSpace, comm=None, *, kappa=1.0, reaction=0.0, f=0.0,
                           initial=0.0, t_end: float, dt: float, t_start: float = 0.0,
                           scheme: str = "crank_nicolson", dirichlet=None, neumann=None,
                           robin=None, method: str | None = None, M=None, rtol: float = 1e-8,
                           atol: float = 0.0, maxiter: int | None = None, restart: int = 30,
                           step_callback: Callable | None = None,
                           monitor: Callable | None = None) -> DistributedHeatSolution:
    """:func:`fem.problems.solve_heat` over the ranks of ``comm`` (collective).

    The same arguments (but ``keep_history``); ``M`` is ``None``, ``"jacobi"`` (global
    Jacobi: the serial iterates) or a block preconditioner (``"ssor"``, ``"ilu0"``,
    ``"ic0"``), set up once for all steps.  Every rank gets the whole result, and the
    partition.
    """
    from mpi4py import MPI

    from solvers import preconditioner
    from solvers.distributed import agree, checked, from_rows

    comm = MPI.COMM_WORLD if comm is None else comm
    theta, times, step = heat_schedule(scheme, t_start, t_end, dt)
    neumann = _check_boundary_data(space, neumann, "neumann")
    robin = _check_robin(space, robin)
    method = _choose_method(method, True)
    started = clock.perf_counter()
    fixed, _ = dirichlet_values(space, dirichlet, time=times[0])
    free = np.ones(space.num_dofs, dtype=bool)
    free[fixed] = False
    partition = partition_dofs(space, np.flatnonzero(free), comm)
    local, owned = local_part(space, partition, comm.Get_rank())

    def step_matrices():
        pattern = sparsity_pattern(local)
        operator = _operator(local, pattern, kappa=kappa, reaction=reaction, velocity=None,
                             robin=robin)
        mass = assemble_mass(local, pattern=pattern)
        return (pattern.matrix(mass.data + theta * step * operator.data)[owned],
                pattern.matrix(mass.data - (1.0 - theta) * step * operator.data)[owned])

    def load(t: float) -> np.ndarray:  # data failing at a quadrature point: on one rank?
        rows, problem = checked(lambda: _load(local, f=f, neumann=neumann, robin=robin,
                                              time=t)[owned])
        agree(comm, problem)
        return rows

    (left, right), problem = checked(step_matrices)
    agree(comm, problem)
    A = from_rows(distributed_columns(left, partition, space.num_dofs), comm)
    M = preconditioner(M, A.local_block)
    u = interpolate(space, initial)
    load_now = load(times[0])
    timings = {"assemble": clock.perf_counter() - started, "solve": 0.0}
    steps = []
    for n in range(times.size - 1):
        tick = clock.perf_counter()
        load_next = load(times[n + 1])
        next_dofs, next_values = dirichlet_values(space, dirichlet, time=times[n + 1])
        lifting = np.zeros(space.num_dofs)
        lifting[next_dofs] = next_values
        rhs = right @ u + step * (theta * load_next + (1.0 - theta) * load_now) - left @ lifting
        tock = clock.perf_counter()
        timings["assemble"] += tock - tick
        result = solve_linear_system(method, A, rhs, u[owned], M=M, rtol=rtol, atol=atol,
                                     maxiter=maxiter, restart=restart, monitor=monitor)
        steps.append(result)
        u = expanded(partition, A, result.x, lifting)
        timings["solve"] += clock.perf_counter() - tock
        load_now = load_next
        if step_callback is not None:
            step_callback(n + 1, float(times[n + 1]), u)
    return DistributedHeatSolution(space, times, u, steps, None, timings, preconditioner=M,
                                   partition=partition)
