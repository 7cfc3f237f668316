"""Benchmark: ``solvers.cg`` / ``solvers.gmres`` against SciPy, with bandwidth and JIT figures.

Prints a table; not a test.  All solves in one run use the same matrices, ``rtol=1e-8``,
``x0 = 0`` and ``b = A @ ones``:

* CG on the 2D 5-point Laplacian (Dirichlet, ``m x m`` interior grid, ``n = m^2`` about
  1e3, 1e4, 1e5, 1e6), without preconditioner and with Jacobi, against
  ``scipy.sparse.linalg.cg`` (Jacobi as the sparse matrix ``diag(A)^-1``);
* GMRES(30) without preconditioner on a 2D upwind convection-diffusion operator
  (``n`` about 1e4, 1e5) against ``scipy.sparse.linalg.gmres(restart=30)``, whose
  ``maxiter`` counts cycles.

Timing: one warm-up solve, then the best of ``repeats`` solves, each timed around the
whole public call (validation, conversion and the final true residual included).  SciPy's
iteration count comes from a separate run with a callback that only counts; SciPy is timed
without a callback.

Bandwidth: bytes one iteration must move at least, as our kernels are laid out (see
:func:`cg_bytes_per_iteration`), divided by the time per iteration, against a STREAM-like
copy and triad run with Numba on the same threads in the same process, on arrays of about
the size of the ``n = 1e6`` CG working set.

JIT: the first ``cg`` + ``gmres`` call in a fresh subprocess with an empty
``NUMBA_CACHE_DIR`` (compilation), then a second fresh subprocess on the same cache
directory (loading machine code from disk).

Run::

    python benchmarks/bench_solvers.py             # everything, a few minutes
    python benchmarks/bench_solvers.py --quick     # fewer sizes and repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
import scipy.sparse.linalg as spla

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402
from systems import RESTART, RTOL, convection_diffusion_2d, laplacian_2d  # noqa: E402
from timing import best_time  # noqa: E402

import solvers  # noqa: E402

CG_SIDES = (32, 100, 316, 1000)          # n = 1024, 1e4, 99856, 1e6
GMRES_SIDES = (100, 316)                 # n = 1e4, 99856
GOALS_CG = {32: 10.0, 100: 4.0, 1000: 2.5}
GOALS_GMRES = {100: 5.0, 316: 2.5}
BANDWIDTH_GOAL = 0.75


# --- memory traffic --------------------------------------------------------------------

def matrix_bytes(A: sp.csr_array) -> int:
    """Matrix streamed once: 8 B value + 4 B column index per nonzero, plus ``indptr``."""
    return A.nnz * (8 + 4) + A.indptr.size * A.indptr.itemsize


def cg_bytes_per_iteration(A: sp.csr_array, jacobi: bool) -> int:
    """Least traffic of one iteration of our CG loop (vectors of ``8 n`` bytes).

    * ``q = A p`` fused with ``p.q``: matrix once, ``p`` read (the gather hits cache
      for a banded matrix), ``q`` written: 2 vectors;
    * ``x += alpha p``, ``r -= alpha q`` fused with ``r.r`` (and ``r.D^-1 r``): reads
      ``p, q, x, r``, writes ``x, r``: 6 vectors, 7 with Jacobi's ``D^-1``;
    * ``p = z + beta p`` with ``z = r`` or ``D^-1 r``: reads ``r, p``, writes ``p``:
      3 vectors, 4 with Jacobi.

    11 vectors (13 with Jacobi), writes counted once (no write-allocate).
    """
    vectors = 13 if jacobi else 11
    return matrix_bytes(A) + vectors * 8 * A.shape[0]


# --- STREAM-like reference ---------------------------------------------------------------

@njit(parallel=True, cache=True)
def _stream_copy(a, b, chunks):
    n = a.size
    for c in prange(chunks):
        lo, hi = c * n // chunks, (c + 1) * n // chunks
        for i in range(lo, hi):
            b[i] = a[i]


@njit(parallel=True, cache=True)
def _stream_triad(a, b, c_, scalar, chunks):
    n = a.size
    for c in prange(chunks):
        lo, hi = c * n // chunks, (c + 1) * n // chunks
        for i in range(lo, hi):
            a[i] = b[i] + scalar * c_[i]


def stream(total_bytes: int, repeats: int) -> dict[str, float]:
    """Best copy (16 B/element) and triad (24 B/element) bandwidth in GB/s.

    Copy uses two arrays and triad three, each sized so that the arrays together
    hold ``total_bytes``; writes are counted once, as STREAM does.
    """
    chunks = numba.get_num_threads()
    n = total_bytes // 16
    a, b = np.ones(n), np.full(n, 2.0)
    _stream_copy(a, b, chunks)
    copy = best_time(lambda: _stream_copy(a, b, chunks), repeats)
    n = total_bytes // 24
    a, b, c = np.ones(n), np.full(n, 2.0), np.full(n, 0.5)
    _stream_triad(a, b, c, 3.0, chunks)
    triad = best_time(lambda: _stream_triad(a, b, c, 3.0, chunks), repeats)
    return {"copy": 16.0 * (total_bytes // 16) / copy / 1e9, "triad": 24.0 * n / triad / 1e9}


# --- timing ---------------------------------------------------------------------------------



def repeats_for(n: int, quick: bool) -> int:
    if quick:
        return 2 if n >= 100_000 else 5
    return 2 if n >= 1_000_000 else 5 if n >= 100_000 else 20


def scipy_iterations(solve) -> int:
    count = [0]

    def callback(_):
        count[0] += 1

    solve(callback)
    return count[0]


def bench_cg(m: int, jacobi: bool, quick: bool) -> dict:
    A = laplacian_2d(m)
    n = A.shape[0]
    b = A @ np.ones(n)
    repeats = repeats_for(n, quick)
    M_ours = "jacobi" if jacobi else None
    M_scipy = sp.diags_array(1.0 / A.diagonal()).tocsr() if jacobi else None
    maxiter = 10 * n

    def ours():
        return solvers.cg(A, b, rtol=RTOL, M=M_ours, maxiter=maxiter)

    def theirs(callback=None):
        return spla.cg(A, b, rtol=RTOL, atol=0.0, M=M_scipy, maxiter=maxiter,
                       callback=callback)

    result = ours()
    t_ours = best_time(ours, repeats)
    if n < 1_000_000:  # a warm-up; at 1e6 a SciPy solve takes many seconds
        theirs()
    t_scipy = best_time(theirs, repeats)
    x_scipy, _ = theirs()
    it_scipy = scipy_iterations(theirs)
    return {
        "n": n, "method": "CG+Jacobi" if jacobi else "CG", "iterations": result.iterations,
        "iterations_scipy": it_scipy, "converged": result.converged,
        "scipy_true_rel": float(np.linalg.norm(b - A @ x_scipy) / np.linalg.norm(b)),
        "time": t_ours, "time_scipy": t_scipy,
        "bytes": cg_bytes_per_iteration(A, jacobi), "goal": GOALS_CG.get(m),
    }


def bench_gmres(m: int, quick: bool) -> dict:
    A = convection_diffusion_2d(m)
    n = A.shape[0]
    b = A @ np.ones(n)
    repeats = 2 if quick else (3 if n >= 100_000 else 5)
    maxiter = 20_000

    def ours():
        return solvers.gmres(A, b, rtol=RTOL, restart=RESTART, maxiter=maxiter)

    def theirs(callback=None):
        return spla.gmres(A, b, rtol=RTOL, atol=0.0, restart=RESTART,
                          maxiter=maxiter // RESTART, callback=callback,
                          callback_type="pr_norm")

    result = ours()
    theirs()
    t_ours = best_time(ours, repeats)
    t_scipy = best_time(theirs, repeats)
    x_scipy, _ = theirs()
    it_scipy = scipy_iterations(theirs)
    return {
        "n": n, "method": f"GMRES({RESTART})", "iterations": result.iterations,
        "iterations_scipy": it_scipy, "converged": result.converged,
        "scipy_true_rel": float(np.linalg.norm(b - A @ x_scipy) / np.linalg.norm(b)),
        "time": t_ours, "time_scipy": t_scipy, "bytes": None, "goal": GOALS_GMRES.get(m),
    }


# --- JIT compile and cache ------------------------------------------------------------------

_FIRST_CALL = """
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, {root!r})
import numpy as np, scipy.sparse as sp
import solvers
imported = time.perf_counter()
n = 64
A = sp.diags_array([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1],
                   format="csr")
b = np.ones(n)
t0 = time.perf_counter(); solvers.cg(A, b); t1 = time.perf_counter()
solvers.cg(A, b, M="jacobi"); t2 = time.perf_counter()
solvers.gmres(A, b); t3 = time.perf_counter()
solvers.cg(A, b); t4 = time.perf_counter()
print(json.dumps({{"import": imported - start, "cg": t1 - t0, "cg_jacobi": t2 - t1,
                   "gmres": t3 - t2, "cg_again": t4 - t3}}))
"""


def first_call_times(cache_dir: str) -> dict:
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    output = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(root=str(ROOT))],
                            env=environment, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------

def header() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    lines = [
        f"krylovfem solver benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"CPU {cpu}, {os.cpu_count()} logical CPUs; Numba threads {numba.get_num_threads()}",
        f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__},"
        f" Numba {numba.__version__}",
        "OPENBLAS_CORETYPE=" + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
        + "  OPENBLAS_L2_SIZE=" + os.environ.get("OPENBLAS_L2_SIZE", "(unset)")
        + "  OPENBLAS_NUM_THREADS=" + os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        + ("  (busy machine: other work competes for the cores)"
           if load[0] > 0.5 * (os.cpu_count() or 1) else ""),
        f"rtol={RTOL}, x0=0, b=A@ones; times: best of several after a warm-up",
    ]
    return lines


def format_row(row: dict, bandwidth: float | None) -> str:
    per_it = row["time"] / max(row["iterations"], 1)
    per_it_scipy = row["time_scipy"] / max(row["iterations_scipy"], 1)
    ratio = row["time_scipy"] / row["time"]
    goal = row["goal"]
    verdict = "" if goal is None else (f">={goal:g}x " + ("met" if ratio >= goal else "MISSED"))
    if row["bytes"] is not None:
        achieved = row["bytes"] / per_it / 1e9
        share = achieved / bandwidth
        bw = f"{achieved:9.1f} GB/s {100 * share:5.0f}%"
    else:
        bw = f"{'-':>20}"
    return (f"{row['n']:>8d} {row['method']:<10} {row['iterations']:>6d} "
            f"{row['iterations_scipy']:>6d} {1e3 * row['time']:>10.3f} "
            f"{1e3 * row['time_scipy']:>10.3f} {1e6 * per_it:>8.2f} {1e6 * per_it_scipy:>8.2f} "
            f"{ratio:>6.2f}x {bw}  {verdict}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--no-jit", action="store_true", help="skip the compile-time runs")
    parser.add_argument("--only", choices=("cg", "gmres"), help="one method only")
    args = parser.parse_args(argv)
    begun = time.perf_counter()
    for line in header():
        print(line, flush=True)

    jit = None
    if not args.no_jit:
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache_dir:
            cold = first_call_times(cache_dir)
            warm = first_call_times(cache_dir)
        jit = (cold, warm)

    # The reference: STREAM on as many bytes as one CG iteration at the largest n
    # touches (same level of the memory hierarchy), and on 1.5 GB (main memory for sure).
    largest = laplacian_2d(max(CG_SIDES[:3] if args.quick else CG_SIDES))
    working_set = cg_bytes_per_iteration(largest, jacobi=False)
    del largest
    bandwidth = stream(working_set, 20)
    big = stream(1_500_000_000, 5)
    threads = numba.get_num_threads()
    print(f"STREAM-like, Numba, {threads} threads, {working_set / 1e6:.0f} MB in all "
          f"(the largest CG iteration's bytes): copy {bandwidth['copy']:.1f} GB/s, "
          f"triad {bandwidth['triad']:.1f} GB/s")
    print(f"STREAM-like, Numba, {threads} threads, 1500 MB in all (main memory): "
          f"copy {big['copy']:.1f} GB/s, triad {big['triad']:.1f} GB/s")
    reference = max(bandwidth["copy"], bandwidth["triad"])

    print()
    print(f"{'n':>8} {'method':<10} {'its':>6} {'its_sp':>6} {'ours ms':>10} {'scipy ms':>10} "
          f"{'us/it':>8} {'sp us/it':>8} {'ratio':>7} {'bandwidth, % STREAM':>20}  goal")
    rows = []
    cg_sides = CG_SIDES[:3] if args.quick else CG_SIDES
    runs = []
    if args.only != "gmres":
        runs += [(bench_cg, (m, jacobi, args.quick)) for m in cg_sides for jacobi in (False, True)]
    if args.only != "cg":
        runs += [(bench_gmres, (m, args.quick)) for m in GMRES_SIDES]
    for bench, arguments in runs:
        rows.append(bench(*arguments))
        print(format_row(rows[-1], reference), flush=True)
    print()
    print("its_sp: SciPy's iterations (counted in a separate run with a counting callback).")
    for row in rows:
        if not row["converged"] or row["scipy_true_rel"] > 1.0001 * RTOL:
            print(f"  note: n={row['n']} {row['method']}: ours converged={row['converged']},"
                  f" SciPy's true relative residual {row['scipy_true_rel']:.2e}")
    print("bandwidth: least bytes per iteration of our loop (matrix 12 B/nonzero + indptr, "
          "11 vectors of 8n B, 13 with Jacobi) / time per iteration;"
          f" % of the better STREAM figure on the same bytes ({reference:.1f} GB/s).")
    if jit is not None:
        cold, warm = jit
        print()
        print("JIT, first calls in a fresh process (seconds):")
        for label, times in (("empty NUMBA_CACHE_DIR", cold), ("same cache, 2nd process", warm)):
            print(f"  {label:<24} import {times['import']:.2f}  cg {times['cg']:.2f}"
                  f"  cg+jacobi {times['cg_jacobi']:.2f}  gmres {times['gmres']:.2f}"
                  f"  cg again {1e3 * times['cg_again']:.2f} ms")
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.2f}; total {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
