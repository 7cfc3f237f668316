"""Benchmark: distributed CG and GMRES over MPI, P = 1 and 2 ranks, against PETSc.

The system is the 2D 5-point Laplacian on an ``m x m`` grid (``m = 1000``: 1e6
unknowns; ``--large`` adds ``m = 2000``: 4e6), ``b = 1``.  Each rank builds its own rows
(:func:`solvers.distributed.from_rows`: contiguous row ranges, no global matrix) and
runs with one thread (``NUMBA_NUM_THREADS=1``).  Each ``P`` is launched ``--rounds``
times, alternating ``P = 1`` and ``P = 2`` (so that a change in the machine's other work
falls on both), and the rounds are pooled.  In every ``mpiexec -n P`` launch:

* ``time/it``: the time per iteration of a solve held to ``ITERATIONS`` iterations
  (``rtol`` unreachable), median and spread (min - max) over ``--repeats`` solves in
  each round, the slowest rank's ``solve_time``, with the Jacobi preconditioner built
  once beforehand (``solvers.jacobi(A.local_block)``; PETSc's set-up is likewise left
  out);
  ``comm``: the share of it in MPI calls (halo waits and global sums, the slowest
  rank's);
* ``its``: the iterations to ``rtol = 1e-6`` (CG + Jacobi only, up to 1.1e6 unknowns),
  beside the serial ``solvers.cg`` (one process, one thread) on the same matrix;
* ``s``: the time per iteration of the serial ``solvers.cg`` / ``solvers.gmres`` (one
  process, one thread), run in the P = 1 launch;
* ``speed-up`` over the same method at P = 1, the parallel efficiency ``speed-up / P``,
  and ``speed-up / triad``: the speed-up as a share of the memory-bandwidth gain;
* ``triad``: a STREAM triad ``a = b + s c`` (Numba, 3 x 16e6 doubles per rank) run at
  once on every rank, total GB/s; its P = 2 / P = 1 ratio is what a memory-bound
  iteration can gain from the second core.

PETSc's KSPCG + PCJACOBI on the same matrix and P (petsc4py, unpreconditioned residual
norm, the same fixed iterations and the same ``rtol = 1e-6`` run) when a ``petsc4py``
is importable: this interpreter's, or Debian's (``apt-get install -y python3-petsc4py``)
run by ``/usr/bin/python3`` under Debian's ``mpiexec``; otherwise a line says it is
skipped.  The machine is shared: the load average is printed before and after.

Run::

    python benchmarks/bench_distributed.py              # 1e6 unknowns, P = 1, 2
    python benchmarks/bench_distributed.py --large      # and 4e6
    python benchmarks/bench_distributed.py --grid 300 --repeats 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ITERATIONS = 100
RTOL_ITERATIONS = 1e-6
# Solves to RTOL_ITERATIONS up to this size only (beyond, thousands of iterations each).
COUNTED_UP_TO = 1_100_000
TRIAD_LENGTH = 16_000_000
METHODS = ("cg+jacobi", "cg+jacobi single", "gmres(30)+jacobi")
DEBIAN_PYTHON = Path("/usr/bin/python3")
DEBIAN_MPIEXEC = Path("/usr/bin/mpiexec")
# Debian's petsc4py finds PETSc through /usr/lib/petsc, or PETSC_DIR where that is not set
DEBIAN_PETSC_DIR = Path("/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real")


def laplacian_rows(m: int, first: int, last: int):
    """Rows ``first .. last-1`` of the 5-point Laplacian on an m x m grid, as CSR arrays
    with global column numbers (diagonal 4, neighbours -1)."""
    rows = np.arange(first, last)
    i, j = np.divmod(rows, m)
    columns = np.stack([rows - m, rows - 1, rows, rows + 1, rows + m], axis=1)
    values = np.array([-1.0, -1.0, 4.0, -1.0, -1.0]) * np.ones((rows.size, 1))
    keep = np.stack([i > 0, j > 0, np.ones_like(i, bool), j < m - 1, i < m - 1], axis=1)
    counts = keep.sum(axis=1)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    return indptr, columns[keep], values[keep]


def _row_range(n: int, size: int, rank: int) -> tuple[int, int]:
    counts = np.full(size, n // size)
    counts[: n % size] += 1
    ends = np.concatenate(([0], np.cumsum(counts)))
    return int(ends[rank]), int(ends[rank + 1])


# --- the worker of our solvers (run under mpiexec) ---------------------------------------

def _triad_kernel():
    from numba import njit

    @njit(cache=False)
    def triad(a, b, c, s):
        for i in range(a.size):
            a[i] = b[i] + s * c[i]

    return triad


def _triad(comm, repeats: int) -> float:
    """Total GB/s of a triad run on every rank at once (the best of ``repeats``)."""
    triad = _triad_kernel()
    a, b, c = (np.full(TRIAD_LENGTH, value) for value in (0.0, 1.0, 2.0))
    triad(a, b, c, 3.0)
    best = np.inf
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        triad(a, b, c, 3.0)
        comm.Barrier()
        best = min(best, time.perf_counter() - start)
    return comm.Get_size() * 3 * 8 * TRIAD_LENGTH / best / 1e9


def _solve(method: str, A, b, M, **keywords):
    """One solve; ``M`` is built once, outside the timings (as PETSc's set-up is)."""
    import solvers

    if method.startswith("gmres"):
        return solvers.gmres(A, b, M=M, restart=30, **keywords)
    variant = "single_reduction" if method.endswith("single") else "classic"
    return solvers.cg(A, b, M=M, variant=variant, **keywords)


def _serial_times(method: str, n: int, values, columns, indptr, repeats: int) -> list:
    """Time per iteration of the serial method (one process, one thread): the baseline."""
    import scipy.sparse as sp

    matrix = sp.csr_array((values, columns, indptr), shape=(n, n))
    b = np.ones(n)
    serial = "gmres" if method.startswith("gmres") else "cg"
    keywords = {"restart": 30} if serial == "gmres" else {}
    import solvers

    solve, M = getattr(solvers, serial), solvers.jacobi(matrix)
    solve(matrix, b, M=M, maxiter=2, **keywords)
    times = []
    for _ in range(repeats):
        result = solve(matrix, b, M=M, rtol=1e-30, maxiter=ITERATIONS, **keywords)
        times.append(result.solve_time / result.iterations)
    return times


def ours(m: int, repeats: int) -> dict:
    import scipy.sparse as sp
    from mpi4py import MPI

    import solvers
    from solvers.distributed import from_rows

    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    n = m * m
    first, last = _row_range(n, size, rank)
    indptr, columns, values = laplacian_rows(m, first, last)
    A = from_rows(sp.csr_array((values, columns, indptr), shape=(last - first, n)), comm)
    b = np.ones(last - first)
    M = solvers.jacobi(A.local_block)
    report = {"triad": _triad(comm, repeats), "methods": {}}
    for method in METHODS:
        _solve(method, A, b, M, maxiter=2)  # loads the compiled loop
        times, shares = [], []
        for _ in range(repeats):
            result = _solve(method, A, b, M, rtol=1e-30, maxiter=ITERATIONS)
            slowest = comm.allreduce(result.solve_time, op=MPI.MAX)
            times.append(slowest / result.iterations)
            shares.append(comm.allreduce(result.communication_time, op=MPI.MAX) / slowest)
        entry = {"times": times, "shares": shares}
        if method == "cg+jacobi" and n <= COUNTED_UP_TO:
            entry["iterations"] = _solve(method, A, b, M, rtol=RTOL_ITERATIONS).iterations
            if size == 1:
                matrix = sp.csr_array((values, columns, indptr), shape=(n, n))
                entry["serial"] = solvers.cg(matrix, np.ones(n), rtol=RTOL_ITERATIONS,
                                             M="jacobi").iterations
        if size == 1:
            entry["serial_times"] = _serial_times(method, last - first, values, columns,
                                                  indptr, repeats)
        report["methods"][method] = entry
    return report


# --- the worker of PETSc (run by the interpreter that has petsc4py) ----------------------

def petsc(m: int, repeats: int) -> dict:
    from petsc4py import PETSc

    comm = PETSc.COMM_WORLD
    size, rank = comm.getSize(), comm.getRank()
    n = m * m
    first, last = _row_range(n, size, rank)
    indptr, columns, values = laplacian_rows(m, first, last)
    A = PETSc.Mat().createAIJ(((last - first, n), (last - first, n)),
                              csr=(indptr.astype(PETSc.IntType),
                                   columns.astype(PETSc.IntType), values), comm=comm)
    A.assemble()
    x, b = A.createVecs()
    b.set(1.0)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("jacobi")
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    # The slowest rank's time, through a vector of one entry per rank (Debian's petsc4py
    # comes without mpi4py).
    slowest = PETSc.Vec().createMPI((1, size), comm=comm)
    times = []
    for _ in range(repeats + 1):  # the first solve sets up, untimed
        x.set(0.0)
        ksp.setTolerances(rtol=1e-30, atol=0.0, max_it=ITERATIONS)
        comm.barrier()
        start = time.perf_counter()
        ksp.solve(b, x)
        slowest.setValue(rank, time.perf_counter() - start)
        slowest.assemble()
        times.append(slowest.max()[1] / ksp.getIterationNumber())
    report = {"times": times[1:], "version": ".".join(map(str, PETSc.Sys.getVersion())),
              "iterations": "-"}
    if n <= COUNTED_UP_TO:
        x.set(0.0)
        ksp.setTolerances(rtol=RTOL_ITERATIONS, atol=0.0, max_it=10 * n)
        ksp.solve(b, x)
        report["iterations"] = ksp.getIterationNumber()
    return report


def worker(kind: str, m: int, repeats: int, output: str) -> None:
    if kind == "ours":
        from mpi4py import MPI

        report, rank = ours(m, repeats), MPI.COMM_WORLD.Get_rank()
    else:
        from petsc4py import PETSc

        report, rank = petsc(m, repeats), PETSc.COMM_WORLD.getRank()
    if rank == 0:
        Path(output).write_text(json.dumps(report))


# --- the driver ---------------------------------------------------------------------------

def _launch(mpiexec, python, kind: str, size: int, m: int, repeats: int) -> dict:
    environment = {**_petsc_environment(), "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "report.json"
        command = [str(mpiexec), "-n", str(size), str(python), __file__, "--worker", kind,
                   "--grid", str(m), "--repeats", str(repeats), "--output", str(output)]
        if kind == "petsc" and Path(mpiexec) == DEBIAN_MPIEXEC:
            command[1:1] = ["--oversubscribe", "--allow-run-as-root"]
        completed = subprocess.run(command, capture_output=True, text=True, env=environment)
        if completed.returncode != 0 or not output.exists():
            lines = (completed.stderr or completed.stdout).strip().splitlines()
            raise RuntimeError(f"{kind} P={size}: exit {completed.returncode}: "
                               f"{lines[-1] if lines else 'no message'}")
        return json.loads(output.read_text())


def _petsc_environment() -> dict:
    environment = dict(os.environ)
    if not Path("/usr/lib/petsc").exists() and DEBIAN_PETSC_DIR.exists():
        environment.setdefault("PETSC_DIR", str(DEBIAN_PETSC_DIR))
    return environment


def _petsc_interpreter():
    """(mpiexec, python) that run petsc4py, or None."""
    import importlib.util

    if importlib.util.find_spec("petsc4py") is not None:
        return Path(sys.executable).parent / "mpiexec", Path(sys.executable)
    if DEBIAN_PYTHON.exists() and DEBIAN_MPIEXEC.exists():
        probe = subprocess.run([str(DEBIAN_PYTHON), "-c", "from petsc4py import PETSc"],
                               capture_output=True, env=_petsc_environment())
        if probe.returncode == 0:
            return DEBIAN_MPIEXEC, DEBIAN_PYTHON
    return None


def _pool(runs: dict, size: int, report: dict) -> None:
    """Add one launch's report to those of earlier rounds at the same ``size``.

    Times and shares are pooled; the triad keeps its best (STREAM's convention: the run
    least disturbed), since its spread from one launch to the next is the placement of
    the arrays in memory as much as the machine's other work."""
    pooled = runs.get(size)
    if pooled is None or isinstance(pooled, str):
        runs[size] = report
        return
    if "triad" in report:
        pooled["triad"] = max(pooled["triad"], report["triad"])
    for key in ("times", "shares", "serial_times"):
        for target, source in _entries(pooled, report):
            if key in source:
                target[key] = target[key] + source[key]


def _entries(pooled: dict, report: dict):
    if "methods" not in report:  # PETSc's report is one method's entry
        return [(pooled, report)]
    return [(pooled["methods"][method], entry) for method, entry in report["methods"].items()]


def _milliseconds(times) -> str:
    times = np.asarray(times) * 1e3
    return f"{np.median(times):7.3f} ({times.min():.3f}-{times.max():.3f})"


def _table(m: int, runs: dict, petsc_runs: dict) -> None:
    n = m * m
    triad = {size: run["triad"] for size, run in runs.items()}
    ratio = triad[2] / triad[1]
    print(f"\n{n:,} unknowns ({m} x {m} grid), {ITERATIONS} iterations per timed solve")
    print(f"triad (all ranks at once): P=1 {triad[1]:.1f} GB/s, P=2 {triad[2]:.1f} GB/s, "
          f"ratio {ratio:.2f}")
    print(f"{'method':18s} {'P':>2s} {'time/it ms median (min-max)':>30s} {'comm':>6s} "
          f"{'its':>6s} {'serial':>6s} {'speed-up':>8s} {'eff':>5s} {'/triad':>7s}")
    for method in METHODS:
        base = np.median(runs[1]["methods"][method]["times"])
        if method != "cg+jacobi single":
            serial = runs[1]["methods"][method]["serial_times"]
            print(f"{method:18s} {'s':>2s} {_milliseconds(serial):>30s}   (serial solvers."
                  f"{method.split('(')[0].split('+')[0]}, one thread)")
        for size, run in runs.items():
            entry = run["methods"][method]
            median = np.median(entry["times"])
            speedup = base / median
            print(f"{method:18s} {size:2d} {_milliseconds(entry['times']):>30s} "
                  f"{100 * np.median(entry['shares']):5.1f}% {entry.get('iterations', '-'):>6} "
                  f"{runs[1]['methods'][method].get('serial', '-'):>6} {speedup:8.2f} "
                  f"{speedup / size:5.2f} {speedup / ratio if size > 1 else 1.0:7.2f}")
    for size, result in petsc_runs.items():
        if isinstance(result, str):
            print(f"petsc KSPCG+jacobi {size:2d} skipped: {result}")
            continue
        ours_median = np.median(runs[size]["methods"]["cg+jacobi"]["times"])
        petsc_median = np.median(result["times"])
        print(f"petsc KSPCG+jacobi {size:2d} {_milliseconds(result['times']):>30s} "
              f"{'':>6s} {result['iterations']:>6} {'':>6s}   ours/petsc time per iteration "
              f"{ours_median / petsc_median:.2f} (PETSc {result['version']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, nargs="*", default=None)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2,
                        help="launches of each P, alternating P = 1 and 2, pooled")
    parser.add_argument("--worker", choices=("ours", "petsc"))
    parser.add_argument("--output")
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments.worker, arguments.grid[0], arguments.repeats, arguments.output)
        return
    grids = arguments.grid or ([1000, 2000] if arguments.large else [1000])
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if shutil.which(str(mpiexec)) is None:
        sys.exit(f"no mpiexec beside {sys.executable}: pip install -e \".[mpi]\"")
    interpreter = _petsc_interpreter()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for m in grids:
        runs, petsc_runs = {}, {}
        for _ in range(arguments.rounds):
            for size in (1, 2):
                _pool(runs, size, _launch(mpiexec, sys.executable, "ours", size, m,
                                          arguments.repeats))
                if interpreter is None:
                    petsc_runs[size] = ("no petsc4py (apt-get install -y python3-petsc4py, "
                                        "run by /usr/bin/python3)")
                    continue
                try:
                    _pool(petsc_runs, size,
                          _launch(*interpreter, "petsc", size, m, arguments.repeats))
                except RuntimeError as error:
                    petsc_runs[size] = str(error)
        _table(m, runs, petsc_runs)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
