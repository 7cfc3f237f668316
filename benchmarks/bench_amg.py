"""Benchmark: ``solvers.amg`` + CG against PyAMG, PARDISO and SuperLU, end to end.

The system is fem's P1 Poisson problem on the unit square (``unit_square(cells)``,
homogeneous Dirichlet conditions, ``f = 1``; 1024 cells a side give 1,046,529 free
unknowns), ``rtol = 1e-8`` for the iterative solvers.  Each solver runs in a subprocess
of its own on the same system, so that its peak resident memory is its own:

* ``ours``: ``H = solvers.amg(A)`` (setup), ``solvers.cg(A, b, M=H)`` (solve);
* ``pyamg``: ``pyamg.smoothed_aggregation_solver(A)`` (setup, PyAMG's defaults),
  ``.solve(b, tol=1e-8, accel="cg")`` (solve);
* ``pardiso``: MKL PARDISO through ``pypardiso`` (when importable), Cholesky of the
  upper triangle (``mtype=2``): ``factorize`` (setup), ``solve``;
* ``splu``: ``scipy.sparse.linalg.splu`` (setup) and its ``solve``; skipped from
  2.6e6 unknowns on (its fill takes tens of GB and minutes), a line says so;
* ``ic0``: the time of one CG iteration with ``M="ic0"`` against one without (a fixed
  number of iterations of each), and the same for ``M=amg(A)``;
* ``smoother``: ``amg(A, smoother=..., sweeps=...)`` end to end, each smoother on 1 and on
  2 threads (``NUMBA_NUM_THREADS``), against Gauss-Seidel on as many threads (``--smoothers``);
* ``counts``: CG iterations with ``amg(A)`` and with PyAMG at every size from 128 cells a
  side up to the largest asked for, and max / min over the sizes (``--refinement``).

In a worker the system is assembled and the kernels are loaded from Numba's cache
(``solvers.warm_up`` for this very system, untimed); the peak-RSS counter is then reset
(``/proc/self/clear_refs``) and the solver runs ``repeats`` times, each from scratch
(setup included).  ``peak`` is the process's VmHWM over those runs: the interpreter,
the libraries, the assembled system and the solver.  Times are wall clock; the median
and the spread (min - max) are shown.
The machine is shared: the load average is printed before and after each worker.

Run::

    python benchmarks/bench_amg.py                # 1024 cells a side (1.05e6 unknowns)
    python benchmarks/bench_amg.py --large        # and 2048 (4.2e6)
    python benchmarks/bench_amg.py --cells 256 --repeats 2   # a quick look
    python benchmarks/bench_amg.py --refinement --smoothers --large   # everything

PARDISO is a benchmark-only dependency, kept out of the project's environment: install
it beside it and say where MKL's library went, e.g. ::

    pip install --prefix /tmp/pardiso pypardiso
    PYTHONPATH=/tmp/pardiso/lib/python3.11/site-packages \
    PYPARDISO_MKL_RT=/tmp/pardiso/lib/libmkl_rt.so.3 python benchmarks/bench_amg.py --large
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import reset_peak, status_mb

RTOL = 1e-8
SOLVERS = ("ours", "pyamg", "pardiso", "splu", "ic0", "smoother", "counts")
#: (smoother, sweeps) compared by --smoothers; the first is the baseline.
SMOOTHER_RUNS = (("gauss_seidel", 2), ("chebyshev", 2), ("chebyshev", 3), ("l1_jacobi", 3))
SPLU_LIMIT = 2_600_000  # unknowns


def _system(cells: int):
    import fem
    from fem.problems import assemble_system

    space = fem.function_space(fem.unit_square(cells), 1)
    system = assemble_system(space, f=1.0, dirichlet={"boundary": 0.0})
    return system.reduced_matrix, system.reduced_rhs


def _ours(A, b, options=None):
    from solvers import amg, cg, warm_up

    options = options or {}
    # load the kernels of this very solve (its precision, index type and row chunks)
    warm_up("cg", A.dtype, "amg", A=A, smoother=options.get("smoother"))
    reset_peak()

    def run():
        started = time.perf_counter()
        hierarchy = amg(A, **options)
        setup = time.perf_counter() - started
        result = cg(A, b, M=hierarchy, rtol=RTOL)
        solve = time.perf_counter() - started - setup
        return setup, solve, result.iterations, result.x, str(hierarchy)

    return run


def _pyamg(A, b):
    import pyamg
    import scipy.sparse as sp

    matrix = sp.csr_matrix(A)
    reset_peak()

    def run():
        started = time.perf_counter()
        hierarchy = pyamg.smoothed_aggregation_solver(matrix)
        setup = time.perf_counter() - started
        residuals = []
        x = hierarchy.solve(b, tol=RTOL, accel="cg", residuals=residuals)
        solve = time.perf_counter() - started - setup
        return setup, solve, len(residuals) - 1, x, ""

    return run


def _pardiso(A, b):
    import pypardiso
    import scipy.sparse as sp

    upper = sp.csr_matrix(sp.triu(A, format="csr"))
    reset_peak()

    def run():
        solver = pypardiso.PyPardisoSolver(mtype=2)
        started = time.perf_counter()
        solver.factorize(upper)
        setup = time.perf_counter() - started
        x = solver.solve(upper, b)
        solve = time.perf_counter() - started - setup
        solver.free_memory(everything=True)
        return setup, solve, 0, x, ""

    return run


def _splu(A, b):
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    matrix = sp.csc_matrix(A)
    reset_peak()

    def run():
        started = time.perf_counter()
        factors = splu(matrix)
        setup = time.perf_counter() - started
        x = factors.solve(b)
        solve = time.perf_counter() - started - setup
        return setup, solve, 0, x, ""

    return run


def _iteration_times(A, b, repeats: int) -> dict:
    """Seconds per CG iteration without preconditioner, with IC(0) and with the V-cycle."""
    from solvers import amg, cg, ic0

    iterations = 40
    preconditioners = {"none": None, "ic0": ic0(A), "amg": amg(A)}
    for M in preconditioners.values():
        cg(A, b, M=M, rtol=1e-30, maxiter=2)
    times = {}
    for name, M in preconditioners.items():
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = cg(A, b, M=M, rtol=1e-30, maxiter=iterations)
            samples.append((time.perf_counter() - started) / result.iterations)
        times[name] = samples
    return times


def _counts(A, b) -> dict:
    """CG iterations and levels with ``amg(A)``, and PyAMG's iterations."""
    import pyamg
    import scipy.sparse as sp

    from solvers import amg, cg

    hierarchy = amg(A)
    ours = cg(A, b, M=hierarchy, rtol=RTOL)
    np.random.seed(0)  # noqa: NPY002 (PyAMG draws from NumPy's global generator)
    residuals = []
    pyamg.smoothed_aggregation_solver(sp.csr_matrix(A)).solve(
        b, tol=RTOL, accel="cg", residuals=residuals, maxiter=1000)
    return {"ours": ours.iterations, "levels": hierarchy.levels, "pyamg": len(residuals) - 1,
            "n": A.shape[0]}


def worker(name: str, cells: int, repeats: int, smoother: str = "", sweeps: int = 2) -> dict:
    A, b = _system(cells)
    if name == "ic0":
        return {"per_iteration": _iteration_times(A, b, repeats), "n": A.shape[0]}
    if name == "counts":
        return _counts(A, b)
    if name == "smoother":
        run = _ours(A, b, {"smoother": smoother, "sweeps": sweeps})
    else:
        run = {"ours": _ours, "pyamg": _pyamg, "pardiso": _pardiso, "splu": _splu}[name](A, b)
    before = status_mb("VmRSS")
    samples, summary, residual = [], "", 0.0
    for _ in range(repeats):
        setup, solve, iterations, x, summary = run()
        residual = float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))
        samples.append((setup, solve, iterations))
    return {"samples": samples, "residual": residual, "summary": summary, "n": A.shape[0],
            "nnz": int(A.nnz), "peak_mb": status_mb("VmHWM"), "before_mb": before}


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def _run_worker(name: str, cells: int, repeats: int, extra=(), threads=None) -> dict | None:
    command = [sys.executable, __file__, "--worker", name, "--cells", str(cells), "--repeats",
               str(repeats), *extra]
    environment = dict(os.environ)
    if threads is not None:
        environment["NUMBA_NUM_THREADS"] = str(threads)
    load = _load()
    completed = subprocess.run(command, capture_output=True, text=True, check=False,
                               env=environment)
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"  {name}: failed, exit status {completed.returncode} ({last})")
        return None
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load"] = f"{load} -> {_load()}"
    return result


def _spread(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{np.median(values):7.3f} ({values.min():.3f}-{values.max():.3f})"


def _table(cells: int, repeats: int, include_splu: bool) -> None:
    rows = {}
    for name in ("ours", "pyamg", "pardiso", "splu"):
        if name == "pardiso" and importlib.util.find_spec("pypardiso") is None:
            print("  pardiso: skipped, pypardiso is not importable (pip install pypardiso)")
            continue
        if name == "splu" and not include_splu:
            print(f"  splu: skipped at {cells} cells a side (more than {SPLU_LIMIT:.2g} "
                  "unknowns: its fill takes tens of GB and minutes)")
            continue
        rows[name] = _run_worker(name, cells, 1 if name == "splu" else repeats)
    rows = {name: row for name, row in rows.items() if row is not None}
    if not rows:
        return
    first = next(iter(rows.values()))
    print(f"\nP1 Poisson, unit square, {cells} cells a side: n = {first['n']}, "
          f"nnz = {first['nnz']}, rtol = {RTOL:g}; median (min-max) of the repeats, s")
    print(f"{'solver':<8} {'setup':>22} {'solve':>22} {'total':>22} {'iter':>5} "
          f"{'residual':>9} {'peak MB':>8} {'load':>12}")
    totals = {}
    for name, row in rows.items():
        samples = np.array(row["samples"], dtype=float)
        totals[name] = np.median(samples[:, 0] + samples[:, 1])
        iterations = int(samples[0, 2]) or "-"
        print(f"{name:<8} {_spread(samples[:, 0]):>22} {_spread(samples[:, 1]):>22} "
              f"{_spread(samples[:, 0] + samples[:, 1]):>22} {iterations!s:>5} "
              f"{row['residual']:9.1e} {row['peak_mb']:8.0f} {row['load']:>12}")
    if "ours" in rows:
        print(rows["ours"]["summary"])
        for name in totals:
            if name != "ours":
                print(f"total of {name} / total of ours: {totals[name] / totals['ours']:.2f}")


def _iteration_table(cells: int, repeats: int) -> None:
    row = _run_worker("ic0", cells, repeats)
    if row is None:
        return
    times = {name: np.array(samples) for name, samples in row["per_iteration"].items()}
    plain = np.median(times["none"])
    print(f"\nOne CG iteration at n = {row['n']} (40 iterations, median (min-max) of "
          f"{repeats}), ms; load {row['load']}")
    for name, samples in times.items():
        print(f"  M = {name:<5} {1e3 * np.median(samples):8.2f} ({1e3 * samples.min():.2f}-"
              f"{1e3 * samples.max():.2f})   {np.median(samples) / plain:5.1f} x plain")


def _smoother_table(cells: int, repeats: int) -> None:
    print(f"\nSmoothers, {cells} cells a side: amg(A, smoother, sweeps) + CG end to end, "
          f"median (min-max) of {repeats}, s; ratio = total / total of "
          f"{SMOOTHER_RUNS[0][0]} on as many threads")
    print(f"{'threads':>7} {'smoother':<13} {'sweeps':>6} {'iter':>5} {'setup':>22} "
          f"{'solve':>22} {'total':>22} {'ratio':>6} {'load':>12}")
    for threads in (1, 2):
        baseline = None
        for smoother, sweeps in SMOOTHER_RUNS:
            row = _run_worker("smoother", cells, repeats,
                              ("--smoother", smoother, "--sweeps", str(sweeps)), threads)
            if row is None:
                continue
            samples = np.array(row["samples"], dtype=float)
            total = np.median(samples[:, 0] + samples[:, 1])
            baseline = total if baseline is None else baseline
            print(f"{threads:>7} {smoother:<13} {sweeps:>6} {int(samples[0, 2]):>5} "
                  f"{_spread(samples[:, 0]):>22} {_spread(samples[:, 1]):>22} "
                  f"{_spread(samples[:, 0] + samples[:, 1]):>22} {total / baseline:6.2f} "
                  f"{row['load']:>12}")


def _refinement_table(largest: int) -> None:
    print("\nCG iterations against refinement (rtol 1e-8): amg(A) with its defaults, and "
          "PyAMG's smoothed aggregation with its defaults")
    print(f"{'cells':>6} {'n':>9} {'ours':>5} {'levels':>6} {'pyamg':>6} {'load':>12}")
    counts = {"ours": [], "pyamg": []}
    cells = 128
    while cells <= largest:
        row = _run_worker("counts", cells, 1)
        if row is not None:
            counts["ours"].append(row["ours"])
            counts["pyamg"].append(row["pyamg"])
            print(f"{cells:>6} {row['n']:>9} {row['ours']:>5} {row['levels']:>6} "
                  f"{row['pyamg']:>6} {row['load']:>12}")
        cells *= 2
    for name, values in counts.items():
        if values:
            print(f"max / min of {name}: {max(values) / min(values):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="*", default=[1024])
    parser.add_argument("--large", action="store_true", help="also 2048 cells a side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--refinement", action="store_true",
                        help="iterations at 128, 256, ... cells a side up to the largest size")
    parser.add_argument("--smoothers", action="store_true",
                        help="the smoothers on 1 and 2 threads at the first size")
    parser.add_argument("--only", action="store_true",
                        help="with --refinement or --smoothers: skip the solver tables")
    parser.add_argument("--worker", choices=SOLVERS, help=argparse.SUPPRESS)
    parser.add_argument("--smoother", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sweeps", type=int, default=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        result = worker(arguments.worker, arguments.cells[0], arguments.repeats,
                        arguments.smoother, arguments.sweeps)
        print(json.dumps(result))
        return
    sizes = list(arguments.cells) + ([2048] if arguments.large else [])
    print(f"python {sys.version.split()[0]}, load average at start {_load()}")
    if arguments.refinement:
        _refinement_table(max(sizes))
    if arguments.smoothers:
        _smoother_table(sizes[0], arguments.repeats)
    if arguments.only and (arguments.refinement or arguments.smoothers):
        return
    for cells in sizes:
        _table(cells, arguments.repeats, (cells - 1) ** 2 < SPLU_LIMIT)
        _iteration_table(cells, arguments.repeats)


if __name__ == "__main__":
    main()
