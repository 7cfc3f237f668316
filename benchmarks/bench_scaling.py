r"""Benchmark: a performance model of distributed CG, its parameters measured here, and its
predictions for 1e8 unknowns on P = 16 .. 1024 ranks.

The model of one iteration on the slowest rank, with ``n / P`` unknowns per rank:

.. math::

    T(P) = t_u \frac{n}{P}
         + \underbrace{k \lambda + \frac{8 h}{\beta}}_{\text{halo}}
         + \sum_{c \in C} \ell_c \lceil \log_2 P \rceil,
    \qquad h = c_h \sqrt{n / P},
    \qquad E(P) = \frac{t_u n}{P\, T(P)},

where ``t_u`` is the seconds per unknown of the rank's local work (the SpMV and vector
updates of the variant), ``k`` the neighbours a rank exchanges its halo with, ``h`` the
ghost values it receives (the surface of a 2D part of ``n / P`` unknowns, fitted to
METIS's cut), ``lambda`` and ``beta`` the point-to-point latency and bandwidth, and
``ell_c`` the latency of one step of a tree allreduce of ``c`` doubles (``C = (1, 2)``
for classical CG, ``(3,)`` for the single-reduction variant).  The halo is counted whole,
though the product overlaps it with the interior rows: an upper bound.  ``E`` is the
efficiency against one rank doing all the work with no communication, at the same
``t_u``: it measures the cost of communication only.

Measured here, each repeated (printed as median and min - max; the model takes the
fastest run of each, the one least disturbed by the machine's other work):

1. ``network`` (``mpiexec -n 2``; 3 and 4 oversubscribed, printed as such): the
   allreduce of 1, 2, 3 doubles and a ping-pong of 8 B .. 1 MiB, both called from
   compiled code through the MPI functions the CG loops use;
2. ``local``: ``t_u`` of the classical and the single-reduction iteration's kernels (the
   same ``solvers`` kernels, called in the loops' order on the loops' arrays), on the
   2D P1 Poisson matrix of ``fem`` at 1e5 .. 1.6e7 unknowns on one rank, and at 1.6e7 on
   two ranks at once (both cores' share of the memory bandwidth);
3. ``halo``: METIS (pymetis) parts of the P1 DOF graph of a 1000 x 1000 square (1e6
   DOFs), P = 2 .. 256: ghosts and neighbours per rank, fitted to ``c_h sqrt(n/P)``;
4. ``validate``: the model against ``solvers.cg`` itself at P = 1, 2 on the 5-point
   Laplacian of ``bench_distributed`` (contiguous row blocks; 1e6 unknowns, and 1e4, where
   the latencies matter), with ``t_u``, ghosts and neighbours measured on the same ranks
   and matrix, interleaved with the solves: predicted / measured.

Then the table at n = 1e8 for this machine's shared-memory network and for an assumed
cluster interconnect (``ASSUMED``), with the P where ``E`` falls below 50%.

Run::

    python benchmarks/bench_scaling.py               # about 5 minutes
    python benchmarks/bench_scaling.py --repeats 3 --quick   # local sizes up to 4e6
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_distributed import _row_range, laplacian_rows

TARGET_N = 100_000_000
TABLE_RANKS = (16, 32, 64, 128, 256, 512, 1024)
# eight steps per doubling: where E crosses 50% to within 9%
SCAN_RANKS = tuple(sorted({round(2 ** (e / 8)) for e in range(8 * 24 + 1)}))
METIS_GRID = 1000
METIS_PARTS = (2, 4, 8, 16, 32, 64, 128, 256)
FIT_FROM = 16  # parts from here on are mostly interior: the surface law's regime
LOCAL_GRIDS = (316, 1000, 2000, 4000)
QUICK_GRIDS = (316, 1000, 2000)
# grid -> iterations per timed solve: 1e6 unknowns (compute-bound) and 1e4 (where the
# latencies are a tenth of the time, so that their terms are checked too)
VALIDATION = {1000: 100, 100: 300}
NETWORK_LAUNCHES = 3
MESSAGE_BYTES = (8, 64, 512, 4096, 32768, 262144, 1048576)
REDUCTIONS = {"classic": (1, 2), "single_reduction": (3,)}


@dataclass(frozen=True)
class Network:
    """Point-to-point latency (s) and bandwidth (B/s); ``hop[c-1]``: one tree step of an
    allreduce of ``c`` doubles (s)."""

    label: str
    latency: float
    bandwidth: float
    hop: tuple[float, float, float]


#: A typical cluster interconnect: an assumption, not a measurement.
ASSUMED = Network("assumed cluster: 1.5 us per message, 10 GB/s, 2 us per allreduce step",
                  1.5e-6, 10e9, (2e-6, 2e-6, 2e-6))


@dataclass(frozen=True)
class Halo:
    """Ghosts ``h = c sqrt(n_local)`` and neighbours ``k`` per rank (the slowest rank's)."""

    c: float
    neighbours: int

    def ghosts(self, n_local: float) -> float:
        return self.c * math.sqrt(n_local)


@dataclass(frozen=True)
class Prediction:
    ranks: int
    compute: float
    halo: float
    allreduce: float

    @property
    def total(self) -> float:
        return self.compute + self.halo + self.allreduce

    @property
    def efficiency(self) -> float:
        return self.compute / self.total


def predict(n_local: float, ranks: int, cost: float, ghosts: float, neighbours: int,
            variant: str, network: Network) -> Prediction:
    """The model's time per iteration (see the module's formula) of one rank."""
    halo = 0.0 if ranks == 1 else neighbours * network.latency + 8 * ghosts / network.bandwidth
    steps = math.ceil(math.log2(ranks))
    allreduce = sum(network.hop[c - 1] for c in REDUCTIONS[variant]) * steps
    return Prediction(ranks, cost * n_local, halo, allreduce)


def spread(values) -> str:
    values = np.asarray(values)
    return f"{np.median(values):.4g} ({values.min():.4g}-{values.max():.4g})"


def load() -> str:
    return "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())


# --- workers, run under mpiexec -------------------------------------------------------

def _compiled_network():
    """Compiled loops that time each allreduce and each round trip (MPI_Wtime)."""
    from numba import njit

    from solvers.distributed import _kernels
    from solvers.distributed._mpi import COMM, DOUBLE

    @njit(cache=False)
    def allreduces(local, total, count, durations, calls, handles, timers):
        status = 0
        for i in range(durations.size):
            started = calls.wtime()
            status |= _kernels.global_sum(local, total, count, calls, handles, timers)
            durations[i] = calls.wtime() - started
        return status

    @njit(cache=False)
    def ping_pong(buffer, count, partner, first, durations, calls, handles, requests,
                  statuses):
        status = 0
        request, state = requests.ctypes.data, statuses.ctypes.data
        for i in range(durations.size):
            started = calls.wtime()
            for turn in range(2):
                if (turn == 0) == first:
                    status |= calls.isend(buffer.ctypes.data, np.int32(count), handles[DOUBLE],
                                          np.int32(partner), np.int32(1), handles[COMM], request)
                else:
                    status |= calls.irecv(buffer.ctypes.data, np.int32(count), handles[DOUBLE],
                                          np.int32(partner), np.int32(1), handles[COMM], request)
                status |= calls.waitall(np.int32(1), request, state)
            durations[i] = calls.wtime() - started
        return status

    return allreduces, ping_pong


def _typical(durations, comm, status: int, what: str) -> float:
    """The median of one repeat's timed calls on the slowest rank: a call that waited for
    a partner the scheduler had put aside (the machine is shared) is an outlier."""
    from mpi4py import MPI

    if comm.allreduce(status, op=MPI.BOR) != 0:
        raise RuntimeError(f"{what}: an MPI call failed")
    return comm.allreduce(float(np.median(durations)), op=MPI.MAX)


def network_worker(comm, repeats: int) -> dict:
    """Allreduce latency of 1, 2, 3 doubles; ping-pong one-way times (ranks 0 and 1)."""
    from solvers.distributed._mpi import link

    allreduces, ping_pong = _compiled_network()
    mpi = link(comm)
    size, rank = comm.Get_size(), comm.Get_rank()
    timers, local, total = np.zeros(1), np.ones(3), np.zeros(3)
    # oversubscribed ranks wait for the scheduler at every call
    durations = np.zeros(20000 if size <= 2 else 200)
    report = {"allreduce": {}, "ping_pong": {}}
    for count in (1, 2, 3):
        allreduces(local, total, count, durations[:10], mpi.calls, mpi.handles, timers)
        report["allreduce"][count] = []
        for _ in range(repeats):
            comm.Barrier()
            status = allreduces(local, total, count, durations, mpi.calls, mpi.handles, timers)
            report["allreduce"][count].append(_typical(durations, comm, status, "allreduce"))
    if size != 2:
        return report
    requests, statuses = mpi.requests(1), mpi.statuses(1)
    for size_bytes in MESSAGE_BYTES:
        buffer = np.zeros(size_bytes // 8)
        trips = np.zeros(int(min(2000, max(20, 2e7 / size_bytes))))
        arguments = (buffer, buffer.size, 1 - rank, rank == 0)
        ping_pong(*arguments, trips[:5], mpi.calls, mpi.handles, requests, statuses)
        report["ping_pong"][size_bytes] = []
        for _ in range(repeats):
            comm.Barrier()
            status = ping_pong(*arguments, trips, mpi.calls, mpi.handles, requests, statuses)
            report["ping_pong"][size_bytes].append(
                _typical(trips, comm, status, "ping-pong") / 2)
    return report


def _compiled_steps():
    """Compiled loops of ``count`` iterations of each variant's local kernels, in the CG
    loops' order (so that no Python dispatch is timed with them); and of the SpMV alone."""
    from numba import njit

    from solvers import _csr
    from solvers.distributed.cg_single_reduction import _update
    from solvers.precond import JACOBI, apply_preconditioner

    # The sums are returned, as the loops use them: an unused one would be optimised away.
    @njit(cache=False)
    def classic(count, indptr, indices, data, p, q, x, r, dinv, nothing, alpha, beta):
        n, total = r.size, 0.0
        for _ in range(count):
            total += _csr._spmv_rows(indptr, indices, data, p, q, 0, n)
            rr, rz = _csr.cg_update(alpha, p[:n], q, x, r, dinv, None)
            _csr.cg_direction(beta, r, nothing, dinv, p[:n], None)
            total += rr + rz
        return total

    @njit(cache=False)
    def single_reduction(count, indptr, indices, data, u, w, p, s, x, r, pindptr, pindices,
                         pdata, pdiag, pdiag_positions, omega, alpha, beta):
        n, total = r.size, 0.0
        for _ in range(count):
            total += _update(alpha, beta, u[:n], w, p, s, x, r)
            apply_preconditioner(JACOBI, pindptr, pindices, pdata, pdiag, pdiag_positions,
                                 omega, r, u[:n])
            total += _csr._spmv_rows(indptr, indices, data, u, w, 0, n)
            total += _csr.dot(r, u[:n], None)
        return total

    @njit(cache=False)
    def spmv(count, indptr, indices, data, p, q):
        total = 0.0
        for _ in range(count):
            total += _csr._spmv_rows(indptr, indices, data, p, q, 0, q.size)
        return total

    return classic, single_reduction, spmv


def _local_steps(A) -> dict:
    """``step(count)``: ``count`` iterations of each variant's local kernels on this rank's
    rows, on arrays shaped as the loops' (``p`` and ``u`` with ghosts); and the SpMV's."""
    import solvers

    classic, single_reduction, spmv = _compiled_steps()
    n, extended = A.n_local, A.n_local + A.ghosts.size
    M = solvers.jacobi(A.local_block)
    p, u = np.ones(extended), np.ones(extended)
    q, x, r, w, s = (np.ones(n) for _ in range(5))
    matrix = (A.indptr, A.indices, A.data)
    alpha, beta = 1e-3, 0.5  # keep the values near 1 (no denormals, no overflow)
    steps = {
        "classic": lambda count: classic(count, *matrix, p, q, x, r, M.diag, np.zeros(0),
                                         alpha, beta),
        "single_reduction": lambda count: single_reduction(
            count, *matrix, u, w, p[:n], s, x, r, M.indptr, M.indices, M.data, M.diag,
            M.diag_positions, M.omega, alpha, beta),
        "spmv": lambda count: spmv(count, *matrix, p, q)}
    for step in steps.values():
        step(1)  # compiles the loops
    return steps


def _per_unknown(step, A, comm) -> float:
    """CPU seconds per unknown of ``step`` on the slowest rank, all ranks running at once.

    CPU time, not wall time: on this shared machine the wall clock also counts the
    seconds the scheduler gives to other processes.
    """
    from mpi4py import MPI

    # every rank the same count, so that they run together to the end
    count = max(3, int(2e7 / comm.allreduce(A.n_local, op=MPI.MAX)))
    comm.Barrier()
    start = time.process_time()
    step(count)
    return comm.allreduce((time.process_time() - start) / count / A.n_local, op=MPI.MAX)


def _p1_rows(folder: Path, m: int, first: int, last: int):
    """Rows ``first .. last-1`` of the P1 matrix the driver saved in ``folder``."""
    import scipy.sparse as sp

    indptr = np.load(folder / f"p1-{m}-indptr.npy", mmap_mode="r")
    lo, hi = int(indptr[first]), int(indptr[last])
    columns = np.array(np.load(folder / f"p1-{m}-indices.npy", mmap_mode="r")[lo:hi])
    values = np.array(np.load(folder / f"p1-{m}-data.npy", mmap_mode="r")[lo:hi])
    n = indptr.size - 1
    return sp.csr_array((values, columns, np.asarray(indptr[first:last + 1]) - lo),
                        shape=(last - first, n))


def local_worker(comm, repeats: int, grids, folder: Path) -> dict:
    from solvers.distributed import from_rows

    size, rank = comm.Get_size(), comm.Get_rank()
    report = {}
    for m in grids:
        n = int(np.load(folder / f"p1-{m}-indptr.npy", mmap_mode="r").size - 1)
        first, last = _row_range(n, size, rank)
        A = from_rows(_p1_rows(folder, m, first, last), comm)
        steps = _local_steps(A)
        report[n] = {name: [_per_unknown(step, A, comm) for _ in range(repeats)]
                     for name, step in steps.items()}
        del A, steps
    return report


def validate_worker(comm, repeats: int, m: int) -> dict:
    """The local work, halo and the measured time per iteration of solvers.cg."""
    import scipy.sparse as sp
    from mpi4py import MPI

    import solvers
    from solvers.distributed import from_rows

    size, rank = comm.Get_size(), comm.Get_rank()
    n = m * m
    first, last = _row_range(n, size, rank)
    indptr, columns, values = laplacian_rows(m, first, last)
    A = from_rows(sp.csr_array((values, columns, indptr), shape=(last - first, n)), comm)
    report = {"n": n, "n_local": comm.allreduce(A.n_local, op=MPI.MAX),
              "ghosts": comm.allreduce(int(A.ghosts.size), op=MPI.MAX),
              "neighbours": comm.allreduce(int(A.recv_ranks.size), op=MPI.MAX)}
    b, M = np.ones(A.n_local), solvers.jacobi(A.local_block)
    steps = _local_steps(A)
    for variant in REDUCTIONS:
        solvers.cg(A, b, M=M, variant=variant, maxiter=2)
        report[variant] = {"local": [], "times": [], "cpu": [], "comm": []}

    def cpu_time(variant, iterations):
        start = time.process_time()
        result = solvers.cg(A, b, M=M, variant=variant, rtol=1e-30, maxiter=iterations)
        return time.process_time() - start, result

    # the model's input and the solve side by side in every repeat, under the same load
    for _ in range(repeats):
        for variant, entry in ((v, report[v]) for v in REDUCTIONS):
            entry["local"].append(_per_unknown(steps[variant], A, comm))
            once, _ = cpu_time(variant, 1)  # the set-up, subtracted from the CPU time
            seconds, result = cpu_time(variant, VALIDATION[m])
            slowest = comm.allreduce(result.solve_time, op=MPI.MAX)
            entry["times"].append(slowest / result.iterations)
            entry["cpu"].append(comm.allreduce((seconds - once) / (result.iterations - 1),
                                               op=MPI.MAX))
            entry["comm"].append(comm.allreduce(result.communication_time, op=MPI.MAX)
                                 / slowest)
    return report


def worker(arguments) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if arguments.worker == "network":
        report = network_worker(comm, arguments.repeats)
    elif arguments.worker == "local":
        report = local_worker(comm, arguments.repeats, arguments.grids, Path(arguments.folder))
    else:
        report = validate_worker(comm, arguments.repeats, arguments.grids[0])
    if comm.Get_rank() == 0:
        Path(arguments.output).write_text(json.dumps(report))


# --- the driver ------------------------------------------------------------------------

def launch(kind: str, ranks: int, repeats: int, *extra: str) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "report.json"
        command = [str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--worker", kind,
                   "--repeats", str(repeats), "--output", str(output), *extra]
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        if done.returncode != 0 or not output.exists():
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeError(f"{kind} P={ranks}: exit {done.returncode}: "
                               f"{lines[-1] if lines else 'no message'}")
        return json.loads(output.read_text())


def p1_matrix(m: int):
    """The 2D P1 Poisson matrix of ``fem`` on an m x m square, Dirichlet DOFs eliminated."""
    from fem import function_space, unit_square
    from fem.problems import assemble_system

    space = function_space(unit_square(m), 1)
    return space, assemble_system(space, f=1.0, dirichlet={"boundary": 0.0})


def measure_network(repeats: int) -> Network:
    print(f"\n== network: {load()}")
    runs = {ranks: launch("network", ranks, repeats) for ranks in (2, 3, 4)}
    # more launches at P = 2: the latency between this virtual machine's two cores changes
    # from one launch to the next (by a factor of 3 in our runs), not within one
    for _ in range(NETWORK_LAUNCHES - 1):
        more = launch("network", 2, repeats)
        for kind, entries in more.items():
            for key, times in entries.items():
                runs[2][kind][key] += times
    print(f"allreduce latency, us: median (min-max) over {repeats} repeats (P=2: "
          f"{NETWORK_LAUNCHES} launches x {repeats}) of the median call (compiled "
          "MPI_Allreduce, each call timed):")
    for ranks, run in runs.items():
        note = "" if ranks == 2 else (f"   oversubscribed: {ranks} ranks on {os.cpu_count()} "
                                      "cores, not representative")
        cells = "  ".join(f"{c} double{'s' if int(c) > 1 else ''} {spread(np.array(t) * 1e6)}"
                          for c, t in run["allreduce"].items())
        print(f"  P={ranks}: {cells}{note}")
    # the model takes the least disturbed run of each (the machine is shared: timing.py)
    pings = {int(k): min(v) for k, v in runs[2]["ping_pong"].items()}
    print(f"ping-pong P=2, one-way time (half the median round trip), us, median (min-max) "
          f"over {NETWORK_LAUNCHES} launches x {repeats}:")
    for size_bytes, times in runs[2]["ping_pong"].items():
        size_bytes = int(size_bytes)
        print(f"  {size_bytes:8d} B  {spread(np.array(times) * 1e6):>28s}  "
              f"{size_bytes / pings[size_bytes] / 1e9:7.3f} GB/s (the fastest)")
    latency = pings[MESSAGE_BYTES[0]]
    largest = MESSAGE_BYTES[-1]
    bandwidth = largest / (pings[largest] - latency)
    hop = tuple(float(min(runs[2]["allreduce"][str(c)])) for c in (1, 2, 3))
    measured = Network(f"measured here (shared memory, P=2): {latency * 1e6:.2f} us per "
                       f"message, {bandwidth / 1e9:.1f} GB/s, "
                       f"{hop[0] * 1e6:.2f}/{hop[1] * 1e6:.2f}/{hop[2] * 1e6:.2f} us per "
                       "allreduce step of 1/2/3 doubles", latency, bandwidth, hop)
    print(f"  model: the fastest run of each; latency = the 8 B time, bandwidth = 1 MiB / "
          f"(its time - latency)\n"
          f"  -> {measured.label}")
    return measured


def measure_local(repeats: int, grids, folder: Path) -> tuple[dict, dict]:
    print(f"\n== local work per unknown: {load()}")
    for m in grids:
        matrix = p1_matrix(m)[1].reduced_matrix
        for name in ("indptr", "indices", "data"):
            np.save(folder / f"p1-{m}-{name}.npy", getattr(matrix, name))
    one = launch("local", 1, repeats, "--grids", *map(str, grids), "--folder", str(folder))
    two = launch("local", 2, repeats, "--grids", str(grids[-1]), "--folder", str(folder))
    print("2D P1 Poisson (fem), one thread per rank, CPU ns per unknown per iteration, "
          f"median (min-max) of {repeats}:")
    print(f"  {'unknowns':>10s} {'ranks':>5s} {'classic':>22s} {'single_reduction':>22s} "
          f"{'spmv alone':>22s}")
    for ranks, run in ((1, one), (2, two)):
        for n, entry in run.items():
            print(f"  {int(n):10d} {ranks:5d} " + " ".join(
                f"{spread(np.array(entry[k]) * 1e9):>22s}"
                for k in ("classic", "single_reduction", "spmv")))
    print(f"  (this machine's L3 is {_l3()}: the largest size is the bandwidth-bound one)")
    return one, two


def _l3() -> str:
    path = Path("/sys/devices/system/cpu/cpu0/cache/index3/size")
    return path.read_text().strip() if path.exists() else "unknown"


def measure_halo(m: int) -> Halo:
    import pymetis

    from fem.distributed import _dof_graph, metis_graph

    print(f"\n== halo: METIS parts of the P1 DOF graph, {load()}")
    space, system = p1_matrix(m)
    adjacency = _dof_graph(space, system.free_dofs)
    graph, n = adjacency.tocoo(), adjacency.shape[0]
    graph_argument = metis_graph(adjacency)
    print(f"  {n} DOFs ({m} x {m} square); per rank: ghosts max/mean, "
          "neighbours max/mean, c = max ghosts / sqrt(n/P)")
    rows, values = [], []
    for parts in METIS_PARTS:
        start = time.perf_counter()
        _, membership = pymetis.part_graph(parts, **graph_argument)
        owner = np.asarray(membership)
        cut = owner[graph.row] != owner[graph.col]
        # part of row i receives the value of column j from the part that owns j
        ghosts = np.unique(owner[graph.row[cut]].astype(np.int64) * n + graph.col[cut])
        ghost_counts = np.bincount(ghosts // n, minlength=parts)
        pairs = np.unique(owner[graph.row[cut]].astype(np.int64) * parts + owner[graph.col[cut]])
        neighbours = np.bincount(pairs // parts, minlength=parts)
        c = ghost_counts.max() / math.sqrt(n / parts)
        print(f"  P={parts:4d}  ghosts {ghost_counts.max():6d} / {ghost_counts.mean():8.1f}  "
              f"neighbours {neighbours.max():2d} / {neighbours.mean():4.1f}  c {c:5.2f}  "
              f"(METIS {time.perf_counter() - start:.1f} s)")
        if parts >= FIT_FROM:
            rows.append(math.sqrt(n / parts))
            values.append((ghost_counts.max(), neighbours.max()))
    surface = np.array(rows)
    ghosts = np.array([v[0] for v in values], dtype=float)
    c = float(surface @ ghosts / (surface @ surface))
    worst = int(max(v[1] for v in values))
    residual = np.abs(ghosts / (c * surface) - 1).max()
    print(f"  fit over P >= {FIT_FROM}: ghosts = {c:.2f} sqrt(n/P) (largest deviation "
          f"{100 * residual:.1f}%), neighbours k = {worst} (the largest seen)")
    return Halo(c, worst)


def validate(repeats: int, network: Network) -> None:
    print(f"\n== validation: solvers.cg + Jacobi, 5-point Laplacian, {load()}")
    print("  each repeat: t_u of the kernels (CPU time), then the solve: its wall time per "
          "iteration (solve_time)\n  and its CPU time per iteration (less a 1-iteration "
          f"solve's); median (min-max) of {repeats}; ratios per repeat")
    print(f"  {'P':>2s} {'variant':17s} {'predicted ms':>20s} {'measured wall ms':>20s} "
          f"{'measured CPU ms':>20s} {'pred/wall':>20s} {'pred/CPU':>20s} {'comm pred':>9s} "
          f"{'comm meas':>9s}")
    for (m, iterations), ranks in itertools.product(VALIDATION.items(), (1, 2)):
        run = launch("validate", ranks, repeats, "--grids", str(m))
        for variant in REDUCTIONS:
            entry = run[variant]
            models = [predict(run["n_local"], ranks, cost, run["ghosts"], run["neighbours"],
                              variant, network) for cost in entry["local"]]
            predicted = np.array([model.total for model in models])
            wall, cpu = np.array(entry["times"]), np.array(entry["cpu"])
            share = 1 - np.median([model.efficiency for model in models])
            print(f"  {ranks:2d} {variant:17s} " + " ".join(
                f"{spread(v):>20s}" for v in (predicted * 1e3, wall * 1e3, cpu * 1e3,
                                              predicted / wall, predicted / cpu))
                + f" {100 * share:8.1f}% {100 * np.median(entry['comm']):8.1f}%")
        print(f"     ({m * m} unknowns, {iterations} iterations per solve; ghosts "
              f"{run['ghosts']}, neighbours {run['neighbours']}; {load()})")


def table(network: Network, halo: Halo, costs: dict) -> None:
    """The predictions at ``TABLE_RANKS`` with the first of ``costs`` (label ->
    {variant: t_u(n_local)}), and the P where E falls below 50% with each of them."""
    main_label, main = next(iter(costs.items()))
    print(f"\n== n = {TARGET_N:.0e}, network {network.label}; t_u {main_label}")
    print(f"  {'P':>5s} {'n/P':>9s} {'variant':17s} {'compute us':>10s} {'halo us':>8s} "
          f"{'allred us':>9s} {'total us':>9s} {'comm':>6s} {'eff':>5s} {'classic/single':>14s}")
    for ranks in TABLE_RANKS:
        n_local = TARGET_N / ranks
        models = {v: predict(n_local, ranks, main[v](n_local), halo.ghosts(n_local),
                             halo.neighbours, v, network) for v in REDUCTIONS}
        ratio = models["classic"].total / models["single_reduction"].total
        for variant, model in models.items():
            print(f"  {ranks:5d} {n_local:9.0f} {variant:17s} {model.compute * 1e6:10.1f} "
                  f"{model.halo * 1e6:8.1f} {model.allreduce * 1e6:9.1f} "
                  f"{model.total * 1e6:9.1f} {100 * (1 - model.efficiency):5.1f}% "
                  f"{model.efficiency:5.2f} "
                  f"{f'{ratio:.3f}' if variant == 'classic' else '':>14s}")
    print("  E < 50% (where it stops scaling), scanning P = 2^(j/8) up to "
          f"{SCAN_RANKS[-1]}:")
    for label, functions in costs.items():
        cells = "; ".join(
            f"{v} P = {_first(network, halo, functions, lambda m, v=v: m[v].efficiency < 0.5)}"
            for v in REDUCTIONS)
        print(f"    t_u {label}: {cells}")
    faster = _first(network, halo, main,
                    lambda m: m["single_reduction"].total < m["classic"].total)
    print(f"  single_reduction faster than classic from P = {faster}")


def _first(network: Network, halo: Halo, costs: dict, condition) -> str:
    """The first P of ``SCAN_RANKS`` whose predictions ({variant: Prediction}) meet
    ``condition``, with its n/P."""
    for ranks in SCAN_RANKS:
        n_local = TARGET_N / ranks
        models = {v: predict(n_local, ranks, costs[v](n_local), halo.ghosts(n_local),
                             halo.neighbours, v, network) for v in REDUCTIONS}
        if condition(models):
            return f"{ranks} (n/P = {n_local:.0f})"
    return f"beyond {SCAN_RANKS[-1]}"


def cost_models(one: dict, two: dict) -> dict:
    """t_u(n_local) of each variant: the bandwidth-bound one-rank value (the model's), the
    value with both cores busy, and the one-rank value at n_local (cache effects); each the
    fastest of its repeats, the one least disturbed by the machine's other work."""
    largest = max(one, key=int)
    sizes = np.log([float(n) for n in one])

    def constant(run, variant):
        value = float(min(run[max(run, key=int)][variant]))
        return lambda _: value

    def measured_at(variant):
        values = [float(min(entry[variant])) for entry in one.values()]
        return lambda n_local: float(np.interp(math.log(n_local), sizes, values))

    return {f"one rank, {int(largest)} unknowns (bandwidth-bound)":
            {v: constant(one, v) for v in REDUCTIONS},
            f"two ranks at once, {int(max(two, key=int)) // 2} unknowns each":
            {v: constant(two, v) for v in REDUCTIONS},
            "one rank, measured at n/P (interpolated; this machine's caches)":
            {v: measured_at(v) for v in REDUCTIONS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="local sizes up to 4e6 only")
    parser.add_argument("--worker", choices=("network", "local", "validate"))
    parser.add_argument("--grids", type=int, nargs="*")
    parser.add_argument("--folder")
    parser.add_argument("--output")
    arguments = parser.parse_args()
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {arguments.repeats}")
    if arguments.worker:
        worker(arguments)
        return
    print(f"bench_scaling: {os.cpu_count()} cores, {load()}")
    network = measure_network(arguments.repeats)
    with tempfile.TemporaryDirectory() as folder:
        grids = QUICK_GRIDS if arguments.quick else LOCAL_GRIDS
        one, two = measure_local(arguments.repeats, grids, Path(folder))
    halo = measure_halo(METIS_GRID)
    validate(arguments.repeats, network)
    costs = cost_models(one, two)
    main_costs = next(iter(costs.values()))
    print(f"\n== model inputs: t_u classic {main_costs['classic'](0) * 1e9:.2f} ns, "
          f"single_reduction {main_costs['single_reduction'](0) * 1e9:.2f} ns per unknown "
          f"({next(iter(costs))}); ghosts {halo.c:.2f} sqrt(n/P), k = {halo.neighbours}; "
          "allreduce = per-step latency x ceil(log2 P)")
    for net in (network, ASSUMED):
        table(net, halo, costs)
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
