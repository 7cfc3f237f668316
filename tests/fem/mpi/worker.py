"""Run under ``mpiexec -n P`` by tests/fem/test_distributed.py: distributed assembly and
solve of P1 and P2 problems beside the serial ones; each rank writes what it saw."""

import json
import sys

import numpy as np
from mpi4py import MPI

import solvers
from fem import function_space, l_shape, unit_square
from fem.distributed import assemble_distributed, h1_error, l2_error
from fem.norms import h1_error as serial_h1
from fem.norms import l2_error as serial_l2
from fem.problems import assemble_system


def exact(x, y):
    return np.sin(np.pi * x) * np.sin(np.pi * y)


def exact_gradient(x, y):
    return (np.pi * np.cos(np.pi * x) * np.sin(np.pi * y),
            np.pi * np.sin(np.pi * x) * np.cos(np.pi * y))


def source(x, y):
    return 2 * np.pi**2 * exact(x, y) + exact(x, y)


CASES = {
    # manufactured solution with u = 0 on three sides, its flux on the left, a reaction term
    "poisson-p1": (lambda: function_space(unit_square(24), 1), "cg",
                   {"f": source, "reaction": 1.0,
                    "neumann": {"left": lambda x, y: -np.pi * np.sin(np.pi * y)},
                    "dirichlet": {"right": 0.0, "top": 0.0, "bottom": 0.0}}),
    "poisson-p2": (lambda: function_space(unit_square(16), 2), "cg",
                   {"f": source, "reaction": 1.0,
                    "robin": {"left": (1.0, lambda x, y: -np.pi * np.sin(np.pi * y))},
                    "dirichlet": {"right": 0.0, "top": 0.0, "bottom": 0.0}}),
    "convection-p1": (lambda: function_space(l_shape(12), 1), "gmres",
                      {"f": 1.0, "velocity": (1.0, 0.5)}),
}


def run(name, comm):
    make_space, method, data = CASES[name]
    space = make_space()
    system = assemble_distributed(space, comm, **data)
    solve = getattr(solvers, method)
    result = solve(system.matrix, system.rhs, rtol=1e-10, M="jacobi")
    rerun = solve(system.matrix, system.rhs, rtol=1e-10, M="jacobi")
    u = system.expand(result.x)
    serial = assemble_system(space, **data)
    serial_result = solve(serial.reduced_matrix, serial.reduced_rhs, rtol=1e-10, M="jacobi")
    u_serial = serial.expand(serial_result.x)
    report = {
        "iterations": result.iterations, "serial_iterations": serial_result.iterations,
        "reason": str(result.reason), "difference": float(np.abs(u - u_serial).max()),
        "scale": float(np.abs(u_serial).max()),
        "bit_identical_rerun": bool(np.array_equal(result.x, rerun.x)),
        "ranges": system.partition.ranges.tolist(), "rows": int(system.rhs.size),
    }
    if name.startswith("poisson"):
        report["errors"] = [l2_error(system, space, u, exact),
                            h1_error(system, space, u, exact_gradient)]
        report["serial_errors"] = [serial_l2(space, u_serial, exact),
                                   serial_h1(space, u_serial, exact_gradient)]
    return report


def heat(comm):
    """The heat equation with a time-dependent Dirichlet value and a Neumann flux, by
    Crank-Nicolson, distributed and serial."""
    from fem.distributed_heat import solve_heat_distributed
    from fem.problems import solve_heat

    space = function_space(unit_square(20), 2)
    data = {"f": lambda x, y, t: np.exp(-t) * (2 * np.pi**2 - 1) * exact(x, y),
            "initial": exact, "t_end": 0.1, "dt": 0.01, "M": "jacobi", "rtol": 1e-10,
            "dirichlet": {"right": lambda x, y, t: 0.1 * t * y, "top": 0.0, "bottom": 0.0},
            "neumann": {"left": lambda x, y, t: -np.pi * np.exp(-t) * np.sin(np.pi * y)}}
    ours = solve_heat_distributed(space, comm, **data)
    serial = solve_heat(space, **data)
    return {"iterations": [step.iterations for step in ours.steps],
            "serial_iterations": [step.iterations for step in serial.steps],
            "reasons": sorted({str(step.reason) for step in ours.steps}),
            "difference": float(np.abs(ours.u - serial.u).max()),
            "scale": float(np.abs(serial.u).max()), "times": ours.times.tolist(),
            "serial_times": serial.times.tolist()}


def not_finite_on_some_cells(comm):
    """A coefficient that is NaN on the cells of x > 0.9 only, so on some ranks' cells
    only: every rank raises, none waits for the others."""
    space = function_space(unit_square(16), 1)
    try:
        assemble_distributed(space, comm, kappa=lambda x, y: np.where(x > 0.9, np.nan, 1.0),
                             dirichlet={"boundary": 0.0})
    except ValueError as error:
        rank = getattr(error, "failed_rank", None)
        return {"kind": "own" if rank is None else "echo", "message": str(error),
                "rank": rank}
    return None


def too_many_ranks(comm):
    """A mesh with fewer free DOFs than ranks: refused on every rank."""
    from fem import interval

    try:
        assemble_distributed(function_space(interval(0.0, 1.0, comm.Get_size()), 1), comm)
    except ValueError as error:
        return str(error)
    return None


def main():
    comm = MPI.COMM_WORLD
    reports = {name: run(name, comm) for name in CASES}
    reports["heat"] = heat(comm)
    reports["too_many_ranks"] = too_many_ranks(comm)
    reports["not_finite"] = not_finite_on_some_cells(comm)
    with open(f"{sys.argv[1]}.{comm.Get_rank()}.json", "w") as file:
        json.dump(reports, file)


if __name__ == "__main__":
    main()
