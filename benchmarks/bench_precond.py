"""Benchmark: the cost of one preconditioner application, in SpMVs, and CG iterations.

Prints a table; not a test.  On the 2D 5-point Laplacian (``--side`` 1000: a million
unknowns) it times, on one thread, one product ``A x`` and one application of each
compiled preconditioner (Jacobi, SSOR, ILU(0), IC(0), AMG), and prints each as a
multiple of the product (the goal for the triangular sweeps: at most about 3).  It also
prints the CG iterations to ``rtol = 1e-8`` with each preconditioner and the time per
iteration, and that of IC(0) against a plain CG iteration (goal: at most 3x).

With ``--baseline TREE`` the same measurements are made in another checkout, in the
same run and alternately (one round of each tree, then the next), and the ratios of the
medians are printed: the application times and the iteration counts of the two trees.

Run::

    python benchmarks/bench_precond.py                    # side 1000, 9 repeats
    python benchmarks/bench_precond.py --side 300 --repeats 5
    python benchmarks/bench_precond.py --baseline /path/to/older/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("none", "jacobi", "ssor", "ilu0", "ic0", "amg")


def _measure(side: int, repeats: int) -> dict:
    """One tree's figures (run in a process whose ``sys.path`` starts with that tree)."""
    import time

    import numba
    import numpy as np
    import scipy.sparse as sp

    import solvers
    from solvers import _csr, precond

    numba.set_num_threads(1)
    T = sp.diags([-np.ones(side - 1), 2 * np.ones(side), -np.ones(side - 1)], [-1, 0, 1])
    A = sp.csr_array(sp.kron(sp.eye(side), T) + sp.kron(T, sp.eye(side)))
    n = A.shape[0]
    indices = A.indices.astype(np.uint32)
    x = np.random.default_rng(0).standard_normal(n)
    y = np.empty(n)

    def timed(call):
        call()  # compiled, caches warm
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return times

    figures = {"spmv": timed(lambda: _csr.spmv_dot(A.indptr, indices, A.data, x, y, None))}
    b = np.ones(n)
    for name in NAMES:
        M = solvers.preconditioner(name, A)
        kernel = precond.KERNELS[M.kind]
        z = np.empty(n)
        figures[name] = timed(lambda M=M, kernel=kernel, z=z: kernel(
            M.indptr, M.indices, M.data, M.diag, M.diag_positions, M.omega, x, z))
        solvers.cg(A, b, M=M, rtol=1e-8, maxiter=2)  # compiled (or loaded) before timing
        result = solvers.cg(A, b, M=M, rtol=1e-8)
        figures[name + ".iterations"] = result.iterations
        figures[name + ".per_iteration"] = result.solve_time / max(1, result.iterations)
    return figures


def _run_tree(tree: Path, side: int, repeats: int) -> dict:
    environment = dict(os.environ, NUMBA_NUM_THREADS="1")
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(tree)] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else []))
    code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); "
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_precond as b; "
            f"print(json.dumps(b._measure({side}, {repeats})))")
    done = subprocess.run([sys.executable, "-c", code], env=environment, cwd=tree,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark in {tree} failed (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _merge(rounds: list[dict]) -> dict:
    merged = {}
    for figures in rounds:
        for key, value in figures.items():
            merged.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return merged


def _table(label: str, figures: dict) -> None:
    spmv = statistics.median(figures["spmv"])
    print(f"\n{label}: one SpMV {1e3 * spmv:.2f} ms (median; min {1e3 * min(figures['spmv']):.2f},"
          f" max {1e3 * max(figures['spmv']):.2f})")
    print(f"  {'M':<8}{'apply ms':>10}{'(min-max)':>18}{'SpMVs':>8}{'CG its':>8}{'ms/it':>8}")
    for name in NAMES:
        times = figures[name]
        median = statistics.median(times)
        spread = f"({1e3 * min(times):.2f}-{1e3 * max(times):.2f})"
        print(f"  {name:<8}{1e3 * median:>10.2f}{spread:>18}"
              f"{median / spmv:>8.2f}{int(statistics.median(figures[name + '.iterations'])):>8}"
              f"{1e3 * statistics.median(figures[name + '.per_iteration']):>8.2f}")
    per_iteration = {name: statistics.median(figures[name + ".per_iteration"])
                     for name in ("none", "ic0")}
    print(f"  IC(0) CG iteration / plain CG iteration: "
          f"{per_iteration['ic0'] / per_iteration['none']:.2f}x (goal <= 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the trees")
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    trees = [ROOT] + ([args.baseline.resolve()] if args.baseline else [])
    print(f"2D Laplacian, {args.side ** 2:,} unknowns, one thread; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rounds = {tree: [] for tree in trees}
    for _ in range(args.rounds):
        for tree in trees:
            rounds[tree].append(_run_tree(tree, args.side, args.repeats))
    results = {tree: _merge(rounds[tree]) for tree in trees}
    _table("this tree", results[ROOT])
    if args.baseline:
        base = results[trees[1]]
        _table(f"baseline {trees[1]}", base)
        print("\nthis tree / baseline (medians): " + "   ".join(
            f"{name} {statistics.median(results[ROOT][name]) / statistics.median(base[name]):.2f}x"
            for name in ("spmv", *NAMES)))
        print("CG iterations, this tree vs baseline: " + "   ".join(
            f"{name} {int(statistics.median(results[ROOT][name + '.iterations']))}/"
            f"{int(statistics.median(base[name + '.iterations']))}" for name in NAMES))


if __name__ == "__main__":
    main()
