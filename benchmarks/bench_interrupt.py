"""Benchmark: how soon Ctrl-C stops a compiled solve, and what the pauses that make it
possible cost.  Prints a table; not a test.

The compiled CG and GMRES loops return to Python after about
``solvers._common.ENTRIES_PER_PAUSE`` matrix and vector entries of work, where a pending
SIGINT is raised.  Measured here, on the 2D Laplacian (5-point, ``m`` x ``m``):

* latency: a SIGINT is sent (from a timer thread) 0.5 s into a solve that would run for
  minutes; the time until :class:`solvers.SolveInterrupted` arrives;
* cost: the same fixed number of iterations with the pauses and with one call for the
  whole solve (``ENTRIES_PER_PAUSE`` set beyond the solve), as a ratio.

Run::

    python benchmarks/bench_interrupt.py            # m = 1000 (10^6 unknowns), 5 repeats
    python benchmarks/bench_interrupt.py --m 300 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time

import numpy as np
import scipy.sparse as sp

import solvers._common as common
from solvers import SolveInterrupted, cg, gmres

METHODS = {"cg": (cg, {}), "gmres(1)": (gmres, {"restart": 1}),
           "gmres(30)": (gmres, {"restart": 30})}


def laplacian(m: int) -> sp.csr_array:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def latency(method, options, A, b) -> float:
    sent = []

    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    try:
        method(A, b, rtol=1e-300, atol=1e-300, maxiter=10**9, **options)
    except SolveInterrupted:
        return time.perf_counter() - sent[0]
    finally:
        timer.cancel()
    raise RuntimeError("the solve ended before the signal")


def timed(method, options, A, b, iterations: int) -> float:
    start = time.perf_counter()
    method(A, b, rtol=1e-300, atol=1e-300, maxiter=iterations, **options)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args(argv)
    A = laplacian(args.m)
    b = np.ones(A.shape[0])
    load = os.getloadavg()
    print(f"interrupt benchmark {time.strftime('%Y-%m-%d %H:%M:%S')}: 2D Laplacian "
          f"{A.shape[0]:,} unknowns, {A.nnz:,} nonzeros; {os.cpu_count()} CPUs; load average "
          f"{load[0]:.2f}; ENTRIES_PER_PAUSE = {common.ENTRIES_PER_PAUSE:.0e}")
    print(f"{'method':<10} {'latency s (median, min-max)':>30} "
          f"{'paused/one call (median, min-max)':>36}")
    default = common.ENTRIES_PER_PAUSE
    for name, (method, options) in METHODS.items():
        method(A, b, maxiter=3, **options)  # compile or load first
        delays = [latency(method, options, A, b) for _ in range(args.repeats)]
        ratios = []
        for _ in range(args.repeats):
            paused = timed(method, options, A, b, args.iterations)
            common.ENTRIES_PER_PAUSE = 10**18
            try:
                whole = timed(method, options, A, b, args.iterations)
            finally:
                common.ENTRIES_PER_PAUSE = default
            ratios.append(paused / whole)
        print(f"{name:<10} {statistics.median(delays):>12.3f} ({min(delays):.3f}-{max(delays):.3f})"
              f"{statistics.median(ratios):>22.3f} ({min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
