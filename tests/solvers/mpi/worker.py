"""Run under ``mpiexec -n P``: distributed solves beside the serial ones, and bad input.

Each rank writes what it saw to ``OUTPUT.<rank>.json``: for every case the result (or
the error) of the distributed solve; rank 0 adds the serial solve of the same system.
``tests/solvers/test_distributed.py`` launches it and checks the files.
"""

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp
from mpi4py import MPI
from scipy.sparse.linalg import LinearOperator

import solvers
from solvers.distributed import balanced_ranges, from_rows, gather, scatter, scatter_matrix

DATA = Path(__file__).resolve().parents[2] / "data" / "matrices"
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()


def laplacian_2d(m):
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return sp.csr_array(sp.kron(sp.identity(m), T) + sp.kron(T, sp.identity(m)))


def convection_diffusion_2d(m, epsilon=0.05):
    h = 1.0 / (m + 1)
    diffusion = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    diffusion = diffusion * (epsilon / h**2)
    upwind = sp.diags([-np.ones(m - 1), np.ones(m)], [-1, 0]) / h
    return sp.csr_array(sp.kron(sp.identity(m), diffusion + upwind)
                        + sp.kron(diffusion, sp.identity(m)))


def summary(result):
    return {"reason": result.reason.value, "iterations": result.iterations,
            "history": result.residual_norms.tolist(),
            "true_residual_norm": result.true_residual_norm, "tolerance": result.tolerance,
            "preconditioner": result.preconditioner, "type": type(result).__name__}


def error(exception):
    return {"error": type(exception).__name__, "message": str(exception)}


def distributed_case(method, matrix, M, keywords, serial_M=None):
    """The distributed solve, twice (for the rerun), and the serial one on rank 0."""
    A = scatter_matrix(matrix if rank == 0 else None)
    n = matrix.shape[0]
    b_global = np.sin(np.arange(1, n + 1)) if rank == 0 else None
    b = scatter(b_global, A)
    solve = getattr(solvers, method)
    first = solve(A, b, M=M, **keywords)
    again = solve(A, b, M=M, **keywords)
    case = {"first": summary(first), "again": summary(again),
            "x": gather(first.x, A, root=None).tolist(),
            "same_x_again": bool(np.array_equal(first.x, again.x))}
    if rank == 0:
        serial_keywords = {key: value for key, value in keywords.items() if key != "variant"}
        serial = solve(matrix, b_global, M=serial_M if serial_M is not None else M,
                       **serial_keywords)
        case["serial"] = summary(serial)
        case["serial_x"] = serial.x.tolist()
    return case


def block_ic0(matrix):
    """Serial reference of block Jacobi IC(0): IC(0) of each rank's diagonal block."""
    ranges = list(itertools.pairwise(balanced_ranges(matrix.shape[0], size)))
    blocks = [solvers.ic0(matrix[lo:hi, lo:hi]) for lo, hi in ranges]

    def apply(r):
        return np.concatenate([block(r[lo:hi]) for block, (lo, hi) in zip(blocks, ranges,
                                                                          strict=True)])

    return LinearOperator(matrix.shape, matvec=apply)


def hand_built():
    """Each rank writes its own rows of the 1D Laplacian (5 per rank), global columns."""
    n = 5 * size
    rows = sp.lil_array((5, n))
    for local, i in enumerate(range(5 * rank, 5 * rank + 5)):
        rows[local, i] = 2.0
        if i > 0:
            rows[local, i - 1] = -1.0
        if i < n - 1:
            rows[local, i + 1] = -1.0
    A = from_rows(rows.tocsr())
    result = solvers.cg(A, np.ones(5), rtol=1e-12)
    return {"result": summary(result), "x": gather(result.x, A, root=None).tolist(), "n": n}


def attempt(step):
    try:
        return step()
    except (ValueError, TypeError, ArithmeticError) as exception:
        return error(exception)


def bad_input():
    laplacian = laplacian_2d(6)
    A = scatter_matrix(laplacian if rank == 0 else None)
    b = np.ones(A.n_local)
    wrong_b = np.ones(A.n_local + (1 if rank == size - 1 else 0))
    x0 = np.zeros(A.n_local)
    if rank == size - 1:
        x0[-1] = 1e308  # b - A x0 overflows on this rank only
    # IC(0) of this rank's block breaks down: a negative diagonal entry in its rows.
    rows = sp.csr_array(laplacian[A.row_start:A.row_stop])
    if rank == size - 1:
        rows = sp.lil_array(rows)
        rows[0, A.row_start] = -4.0
        rows = rows.tocsr()
    broken = from_rows(rows)
    empty_rows = sp.csr_array((0 if rank == 0 else 3, 3 * (size - 1)))
    return {
        "too_many_ranks": attempt(lambda: scatter_matrix(
            sp.identity(size - 1, format="csr") if rank == 0 else None)),
        "rank_without_rows": attempt(lambda: from_rows(empty_rows)),
        "wrong_b": attempt(lambda: solvers.cg(A, wrong_b)),
        "unknown_M": attempt(lambda: solvers.cg(A, b, M="amg")),
        "scatter_wrong_length": attempt(lambda: scatter(np.ones(A.n + 1), A)),
        "gather_wrong_length": attempt(lambda: gather(wrong_b, A)),
        "nan_on_one_rank": attempt(lambda: summary(solvers.cg(A, b, x0=x0))),
        "nan_on_one_rank_gmres": attempt(lambda: summary(solvers.gmres(A, b, x0=x0))),
        "pivot_on_one_rank": attempt(lambda: solvers.cg(broken, b, M="ic0")),
    }


def monitored():
    """A monitor on rank 0 only: that rank returns to Python at every iteration."""
    A = scatter_matrix(laplacian_2d(8) if rank == 0 else None)
    seen = []
    monitor = (lambda k, norm: seen.append(norm)) if rank == 0 else None
    cg = solvers.cg(A, np.ones(A.n_local), rtol=1e-8, monitor=monitor)
    gmres = solvers.gmres(A, np.ones(A.n_local), rtol=1e-8, restart=5, monitor=monitor)
    return {"cg": summary(cg), "gmres": summary(gmres), "seen": seen}


def failing_callback():
    """A callback that raises on the last rank only, in the middle of the solve."""
    A = scatter_matrix(laplacian_2d(8) if rank == 0 else None)

    def callback(x):
        raise RuntimeError("callback failed")

    solvers.cg(A, np.ones(A.n_local), rtol=1e-8,
               callback=callback if rank == size - 1 else None)


def interrupt_one_rank(output):
    """A Ctrl-C reaching the last rank alone, half a second into solves of minutes: every
    rank stops at the same pause with the solve so far."""
    import os
    import signal
    import threading

    n = 100_000  # a 1D Laplacian: CG needs about n iterations, GMRES(1) far more
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    A = scatter_matrix(T if rank == 0 else None)
    b = np.ones(A.n_local)
    report = {}
    for name, solve in (("cg", lambda: solvers.cg(A, b, rtol=1e-14, maxiter=10**7)),
                        ("gmres", lambda: solvers.gmres(A, b, rtol=1e-14, restart=1,
                                                        maxiter=10**7))):
        solvers.cg(A, b, maxiter=2) if name == "cg" else solvers.gmres(A, b, maxiter=2)
        comm.Barrier()
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        if rank == size - 1:
            timer.start()
        try:
            solve()
            report[name] = None
        except solvers.SolveInterrupted as interrupted:
            result = interrupted.result
            report[name] = {"reason": str(result.reason), "iterations": result.iterations,
                            "history": len(result.residual_norms),
                            "true": float(result.true_residual_norm),
                            "recorded": float(result.residual_norms[-1])}
        finally:
            timer.cancel()
    with open(f"{output}.{rank}.json", "w") as file:
        json.dump(report, file)


def main(output):
    laplacian = laplacian_2d(12)
    bus = sp.csr_array(scipy.io.mmread(DATA / "494_bus.mtx"))
    nonsymmetric = convection_diffusion_2d(12)
    # a diagonal that varies, so that Jacobi is more than a scaling
    nonsymmetric = sp.csr_array(nonsymmetric + sp.diags(np.linspace(0.0, 50.0, 144)))
    cases = {
        "cg-none": ("cg", laplacian, None, {"rtol": 1e-8}),
        "cg-jacobi": ("cg", bus, "jacobi", {"rtol": 1e-6}),
        "cg-single-jacobi": ("cg", bus, "jacobi", {"rtol": 1e-6, "variant": "single_reduction"}),
        "gmres-none": ("gmres", nonsymmetric, None, {"rtol": 1e-8, "restart": 10}),
        "gmres-jacobi": ("gmres", nonsymmetric, "jacobi", {"rtol": 1e-8, "restart": 10}),
    }
    report = {name: distributed_case(*case) for name, case in cases.items()}
    report["cg-block-ic0"] = distributed_case("cg", laplacian, "ic0", {"rtol": 1e-8},
                                              serial_M=block_ic0(laplacian))
    report["hand-built"] = hand_built()
    report["bad-input"] = bad_input()
    report["monitored"] = monitored()
    Path(f"{output}.{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "--failing-callback":
        failing_callback()
    elif sys.argv[1] == "--interrupt-one-rank":
        interrupt_one_rank(sys.argv[2])
    else:
        main(sys.argv[1])
