"""Benchmark: CG and GMRES on a quiet machine and on a busy one, against SciPy.

Prints a table; not a test.  The rows are those of ``bench_solvers.py`` (CG on the 2D
Laplacian, n about 1e3, 1e4, 1e5, 1e6; GMRES(30) on the 2D convection-diffusion operator,
n about 1e4, 1e5; ``rtol=1e-8``, ``x0 = 0``, ``b = A @ ones``) and complex ones: CG on
``D^H L D`` (``L`` the Laplacian, ``D`` a diagonal of unit complex numbers: Hermitian
positive definite, the spectrum of ``L``) and GMRES(30) on ``D^H C D`` (``C`` the
convection-diffusion operator) with ``b = A @ (1 + i)``, against SciPy's complex cg and
gmres.  CG at n = 1e6 and GMRES at n = 1e5 run a fixed number of iterations
(:data:`FIXED_ITERATIONS`).

Each row is timed in these settings, every solve in a process of its own (started,
warmed up by one untimed solve, then timed), so no setting inherits another's threads:

* ``1 thread``: ours with ``NUMBA_NUM_THREADS=1``, nothing else started;
* ``policy``: ours as a user runs it (threads chosen by ``solvers._threads``);
* ``busy``: ours while a Python busy loop, started and stopped here, keeps a core busy;
* ``2t busy``: the same on two threads whatever the load (the policy switched off): what
  the policy avoids;
* ``pair``: two of our solves at once (each time counted);
* ``scipy`` and ``scipy busy``: SciPy alone and beside the same busy loop.

Times are medians over every timed solve of a setting; ``spread`` is (max - min) /
median.  Ratios: ``busy / 1 thread`` and ``pair / 1 thread`` (goal <= 1.5), ``scipy busy
/ busy`` (goal >= 1), ``scipy / policy`` on the quiet machine (goal: no worse than the
figures in :data:`QUIET_GOALS`, 2x for complex rows).

The machine is shared: the load before and after, and the busiest other processes, are
printed, so a table taken beside other work says so.

With ``--baseline TREE`` another checkout is timed as ``policy`` is (quiet, its own
thread defaults), in the same rounds, and its ratio to SciPy is printed beside ours: the
quiet goal measured against the code it is compared with, on the machine as it is now.
Settings run round by round (each once a round), so a drift of the machine is shared.

Run::

    python benchmarks/bench_load.py            # every row, a few minutes
    python benchmarks/bench_load.py --only real --baseline /path/to/older/checkout
    python benchmarks/bench_load.py --quick    # n <= 1e4 and one process per setting
    python benchmarks/bench_load.py --only complex
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from systems import RESTART, RTOL, convection_diffusion_2d, laplacian_2d  # noqa: E402

#: Rows that run a fixed number of iterations, not a full solve (which takes tens of
#: seconds per setting on a busy machine, SciPy's the longest): CG at n = 1e6 and
#: GMRES(30) at n = 1e5, 300 iterations (GMRES: 10 cycles).
FIXED_ITERATIONS = {("CG", 1000): 300, ("GMRES(30)", 316): 300}
#: Quiet-machine ratios to SciPy of bench_solvers before this policy (key: method, m).
QUIET_GOALS = {("CG", 32): 2.7, ("CG", 100): 2.4, ("CG", 1000): 2.6,
               ("GMRES(30)", 100): 3.9, ("GMRES(30)", 316): 4.6}
COMPLEX_GOAL = 2.0
LOADED_GOAL = 1.5
#: The other process keeping a core busy; it ends with the benchmark, however that ends.
BUSY_LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(10**6):
        pass
"""


@dataclass(frozen=True)
class Row:
    method: str  # "CG" or "GMRES(30)"
    m: int  # grid side: n = m * m
    complex_: bool = False

    @property
    def label(self) -> str:
        return f"{self.method}{' complex' if self.complex_ else ''}"


ROWS = (Row("CG", 32), Row("CG", 100), Row("CG", 316), Row("CG", 1000),
        Row("GMRES(30)", 100), Row("GMRES(30)", 316),
        Row("CG", 100, True), Row("CG", 316, True),
        Row("GMRES(30)", 100, True), Row("GMRES(30)", 316, True))


# --- one setting's process ----------------------------------------------------------

def unit_phases(n: int) -> sp.dia_array:
    """``D = diag(exp(i theta_j))``, angles spread over the circle."""
    return sp.diags_array(np.exp(1j * np.linspace(0.0, 6.0, n)))


def system(row: Row):
    A = laplacian_2d(row.m) if row.method == "CG" else convection_diffusion_2d(row.m)
    n = A.shape[0]
    if not row.complex_:
        return A, A @ np.ones(n)
    D = unit_phases(n)
    A = sp.csr_array(D.conj() @ A @ D)
    return A, A @ np.full(n, 1.0 + 1.0j)


def solve_function(row: Row, library: str):
    """A solve of ``row``'s system by ``library``: ``"ours"`` (whichever ``solvers`` is
    first on ``sys.path``) or ``"scipy"``."""
    A, b = system(row)
    n = A.shape[0]
    fixed = FIXED_ITERATIONS.get((row.method, row.m))
    rtol = RTOL if fixed is None else 1e-30
    if row.method == "CG":
        maxiter = fixed or 10 * n
        if library == "ours":
            import solvers
            return lambda: solvers.cg(A, b, rtol=rtol, maxiter=maxiter)
        return lambda: spla.cg(A, b, rtol=rtol, atol=0.0, maxiter=maxiter)
    maxiter = fixed or 20_000  # ours counts inner iterations, SciPy cycles
    if library == "ours":
        import solvers
        return lambda: solvers.gmres(A, b, rtol=rtol, restart=RESTART, maxiter=maxiter)
    return lambda: spla.gmres(A, b, rtol=rtol, atol=0.0, restart=RESTART,
                              maxiter=maxiter // RESTART)


def worker(spec: str) -> None:
    """Set up, warm up, say ``ready``, wait for ``go`` on stdin, time the solves.

    The warm-up solves the same kind of system at n = 1e4 at most (kernels loaded from
    Numba's cache, parallel ones included, the thread pool started) to save time.
    """
    task = json.loads(spec)
    row = Row(**task["row"])
    if task["tree"] is not None:
        sys.path.insert(0, task["tree"])
        import solvers

        if not Path(solvers.__file__).is_relative_to(task["tree"]):
            raise RuntimeError(f"imported {solvers.__file__}, not the tree {task['tree']}")
    solve_function(Row(row.method, min(row.m, 100), row.complex_), task["library"])()
    solve = solve_function(row, task["library"])
    # a baseline tree may predate the thread policy: its threads are not recorded
    chosen = (threads_chosen(task.get("threads"))
              if task["library"] == "ours" and task["tree"] is None else [])
    print("ready", flush=True)
    sys.stdin.readline()
    # The benchmark's own process is still running just after it says go; our policy
    # would count it as another process's work and start on one thread.
    time.sleep(0.05)
    times = []
    for _ in range(task["solves"]):
        start = time.perf_counter()
        solve()
        times.append(time.perf_counter() - start)
    print(json.dumps({"times": times, "threads": chosen}), flush=True)


def threads_chosen(forced: int | None = None) -> list[int]:
    """The thread counts our policy chooses from now on, piece by piece; ``forced``:
    that many threads whatever the load (the policy switched off, for comparison)."""
    from solvers import _threads

    chosen = []
    choose = _threads.ThreadPolicy.choose

    def recording(policy):
        chosen.append(choose(policy) if forced is None else forced)
        return chosen[-1]

    _threads.ThreadPolicy.choose = recording
    return chosen


# --- the settings --------------------------------------------------------------------

def solves_for(row: Row) -> int:
    return 5 if row.m <= 100 else 1


def run_together(tasks: list[tuple[dict, dict]]) -> tuple[list[float], list[int]]:
    """Start one worker per ``(task, environment)``; time them all at once.  Returns the
    times and the thread counts our policy chose for the pieces."""
    workers = []
    for task, environment in tasks:
        workers.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(task)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, **environment)))
    for process in workers:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a worker failed before its solves: {line!r}")
    for process in workers:
        process.stdin.write("go\n")
        process.stdin.flush()
    times, threads = [], []
    for process in workers:
        result = json.loads(process.stdout.readline())
        times += result["times"]
        threads += result["threads"]
        process.wait()
    return times, threads


def busy_loop() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUSY_LOOP])


def setting(row: Row, library: str, environment=None, pair=False, busy=False,
            forced_threads=None, tree=None) -> tuple[list[float], list[int]]:
    """One process of a setting (two for ``pair``): its times and thread counts."""
    task = {"row": {"method": row.method, "m": row.m, "complex_": row.complex_},
            "library": library, "solves": solves_for(row), "threads": forced_threads,
            "tree": tree}
    loop = busy_loop() if busy else None
    try:
        return run_together([(task, environment or {})] * (2 if pair else 1))
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()


SETTINGS = {
    "1 thread": dict(library="ours", environment={"NUMBA_NUM_THREADS": "1"}),
    "policy": dict(library="ours"),
    "busy": dict(library="ours", busy=True),
    "2t busy": dict(library="ours", busy=True, forced_threads=2),
    "pair": dict(library="ours", pair=True),
    "scipy": dict(library="scipy"),
    "scipy busy": dict(library="scipy", busy=True),
}


# --- report ---------------------------------------------------------------------------

def machine_state() -> str:
    load = os.getloadavg()
    runnable = Path("/proc/loadavg").read_text().split()[3]
    top = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                         capture_output=True, text=True).stdout.splitlines()[:5]
    busiest = ", ".join(" ".join(line.split()[::-1]) + "%" for line in top)
    return (f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, runnable {runnable};"
            f" busiest: {busiest}")


def verdict(ratio: float, goal: float | None, at_most: bool) -> str:
    if goal is None:
        return f"{ratio:5.2f}      "
    met = ratio <= goal if at_most else ratio >= goal
    return f"{ratio:5.2f} {'ok  ' if met else 'MISS'} "


def pieces(threads: list[int]) -> str:
    """``a/b``: pieces the policy ran on one thread / on more."""
    return f"{threads.count(1)}/{len(threads) - threads.count(1)}"


def report(row: Row, times: dict[str, list[float]], threads: dict[str, list[int]]) -> str:
    """One row of the table; with a ``baseline`` setting, also SciPy / baseline and the
    quiet goal taken against it: this tree's ratio to SciPy no worse than the baseline's
    in the same run (``baseline / policy >= 1``)."""
    median = {name: statistics.median(values) for name, values in times.items()}
    spread = max((max(v) - min(v)) / statistics.median(v) for v in times.values())
    base = median["1 thread"]
    quiet_goal = COMPLEX_GOAL if row.complex_ else QUIET_GOALS.get((row.method, row.m))
    cells = " ".join(f"{1e3 * median[name]:>10.2f}" for name in times)
    line = (f"{row.m * row.m:>8d} {row.label:<17} {cells} {spread:>6.2f} "
            + verdict(median["busy"] / base, LOADED_GOAL, True)
            + f"{median['2t busy'] / base:7.2f} "
            + verdict(median["pair"] / base, LOADED_GOAL, True)
            + verdict(median["scipy busy"] / median["busy"], 1.0, False)
            + verdict(median["scipy"] / median["policy"], quiet_goal, False))
    if "baseline" in median:
        line += (verdict(median["scipy"] / median["baseline"], None, False)
                 + verdict(median["baseline"] / median["policy"], 1.0, False))
    return line + " ".join(f"{pieces(threads[name]):>7}" for name in ("policy", "busy", "pair"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="rows with n <= 1e4, one process per setting")
    parser.add_argument("--only", choices=("real", "complex"), help="those rows only")
    parser.add_argument("--rounds", type=int, default=None,
                        help="processes per setting (default 2; 1 with --quick)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another source tree, timed as 'policy' is, in the same rounds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    if args.baseline and args.only != "real":
        parser.error("--baseline needs --only real: a tree from before complex solves "
                     "cannot time the complex rows")
    begun = time.perf_counter()
    rows = [row for row in ROWS if (row.m <= 100 or not args.quick)
            and args.only in (None, "complex" if row.complex_ else "real")]
    processes = args.rounds or (1 if args.quick else 2)
    settings = dict(SETTINGS)
    if args.baseline:
        settings["baseline"] = dict(library="ours", tree=str(args.baseline.resolve()))
    print(f"krylovfem load benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}, "
          f"{len(os.sched_getaffinity(0))} usable cores, rtol={RTOL}, "
          f"{processes} process(es) per setting; fixed iterations: "
          + ", ".join(f"{method} n={m * m} {its}" for (method, m), its
                      in FIXED_ITERATIONS.items()))
    if args.baseline:
        print(f"baseline: {args.baseline.resolve()}")
    print("at start: " + machine_state(), flush=True)
    print()
    names = " ".join(f"{name + ' ms':>10}" for name in settings)
    against_baseline = f"{'sp/base':>10} {'base/policy':>10} " if args.baseline else ""
    print(f"{'n':>8} {'method':<17} {names} {'spread':>6} "
          f"{'busy/1t':>10} {'2tb/1t':>7} {'pair/1t':>10} {'sp busy/busy':>10} {'sp/policy':>10}"
          f" {against_baseline}{'1t/2t:':>7} {'policy':>7} {'busy':>7} {'pair':>7}")
    for row in rows:
        times = {name: [] for name in settings}
        threads = {name: [] for name in settings}
        # round by round, every setting once a round, so a drift of the machine is shared
        for _ in range(processes):
            for name, options in settings.items():
                more_times, more_threads = setting(row, **options)
                times[name] += more_times
                threads[name] += more_threads
        print(report(row, times, threads), flush=True)
    print()
    print("busy/1t, pair/1t: goal <= 1.5; sp busy/busy: goal >= 1; sp/policy: goal no "
          "worse than bench_solvers' figures before (CG 2.7, 2.4, -, 2.6; GMRES 3.9, 4.6),"
          f" {COMPLEX_GOAL:g} for complex rows; spread: largest (max - min) / median.")
    if args.baseline:
        print("sp/base: SciPy / the baseline tree; base/policy: the baseline's time / this"
              " tree's (goal >= 1: no slower than the baseline, in the same rounds).")
    print("2tb/1t: two threads beside the busy loop / 1 thread (no goal: the policy's"
          " reason).")
    print("1t/2t: pieces of work our policy ran on one thread / on two, per setting (the"
          " 1e3 rows have no parallel region: 0/0).")
    print("at end: " + machine_state())
    print(f"total {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
