"""How many threads a compiled solve runs on, chosen per solve and between its pieces.

The kernels split their work into fixed row chunks (``_csr.row_chunks``), so the number
of threads changes how fast a solve runs, never its bits.  Two threads only pay when
each has a core: a CG iteration passes three barriers (GMRES more), and a thread that
waits for a core holds the other one at every barrier.  Measured on two cores beside one
other busy process, two-thread CG solves took 1.9x to 2.4x the one-thread time of a
quiet machine (n = 1e4 and 1e5; ``benchmarks/bench_load.py`` prints it as ``2tb/1t``).
Hence the rule:

* threads = the cores this process may use (``os.sched_getaffinity``) minus the tasks
  of other processes that are running or waiting for a core right now (the 4th field of
  ``/proc/loadavg``, less this process's own runnable threads, whose spinning workers
  would otherwise count against it), at least 1, at most the threads the caller allows:
  ``numba.get_num_threads()`` when the solve starts, i.e. ``NUMBA_NUM_THREADS`` or the
  caller's ``numba.set_num_threads``, which is restored when the solve ends;
* it is counted again before each piece of a long solve (the drivers return to Python
  every tenth of a second or so of work), and after the first piece a core is taken
  only when two counts in a row found it taken: on a quiet machine some 5 % of the
  counts find a task that has gone by the next one, a busy process is in every count;
* the time per iteration of each piece is kept: when a piece on several threads ran
  more than :data:`SLOWER` times slower per iteration than the last piece on one
  thread, the next :data:`PIECES_ON_ONE` pieces run on one thread before several are
  tried again.

A solve without parallel chunks (a small system, an operator) never enters a parallel
region, and nothing here touches its threads.  The AMG set-up, which has no pieces,
takes the same count once, when it starts (:func:`threads_for_a_while`).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import numba

#: Pieces that run on one thread after several threads were measured slower, before
#: several are tried again (a load that has gone is noticed within a second or so).
PIECES_ON_ONE = 4
#: How much slower per iteration a piece on several threads must be than the last piece on
#: one for the next pieces to run on one: beside a busy process two threads take 1.4x to
#: 3x the time of one (``bench_load.py``'s ``2tb/1t``), while on a quiet machine a piece's
#: time swings by some 10 %, and a swing must not cost the next pieces their second core.
SLOWER = 1.2


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def runnable_elsewhere() -> int:
    """Tasks of other processes running or ready to run now (0 where Linux does not say)."""
    try:
        with open("/proc/loadavg") as file:
            runnable = int(file.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, runnable - _own_runnable())


def _own_runnable() -> int:
    """This process's threads in state R (the caller among them)."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat") as file:
                stat = file.read()
        except OSError:  # the thread has ended
            continue
        # the state follows the command name, which is in parentheses and may hold spaces
        if stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "R":
            count += 1
    return max(count, 1)


def free_cores(ceiling: int) -> int:
    """Threads worth starting now: usable cores not taken by others, in ``1 .. ceiling``."""
    return max(1, min(ceiling, usable_cores() - runnable_elsewhere()))


class ThreadPolicy:
    """The thread count of one solve, piece by piece (see the module text)."""

    def __init__(self, ceiling: int):
        self.ceiling = ceiling
        self.seconds_per_iteration: dict[int, float] = {}
        self.on_one = 0
        self.last_count: int | None = None

    def choose(self) -> int:
        count = free_cores(self.ceiling)
        # After the first piece, a core counts as taken only when it was taken at the
        # last count too: a task that runs for moments is caught by some counts on a
        # quiet machine, a process that keeps a core busy by every one.
        chosen = count if self.last_count is None else max(count, self.last_count)
        self.last_count = count
        if self.on_one > 0:
            self.on_one -= 1
            return 1
        return chosen

    def record(self, threads: int, seconds: float, iterations: int) -> None:
        if iterations <= 0:
            return
        rate = seconds / iterations
        self.seconds_per_iteration[threads] = rate
        single = self.seconds_per_iteration.get(1)
        if threads > 1 and single is not None and rate > SLOWER * single:
            self.on_one = PIECES_ON_ONE

    def run(self, loop, arguments: tuple, start: int):
        """``loop(*arguments)`` (returning ``(code, k)``, ``k`` the iterations done so far
        from ``start``) on the threads chosen now; its time per iteration is kept."""
        threads = self.choose()
        numba.set_num_threads(threads)
        begun = time.perf_counter()
        code, k = loop(*arguments)
        self.record(threads, time.perf_counter() - begun, k - start)
        return code, k


class _Serial:
    """The policy of a solve without parallel regions: run each piece as it is."""

    @staticmethod
    def run(loop, arguments: tuple, start: int):
        return loop(*arguments)


@contextmanager
def thread_policy(parallel: bool):
    """The :class:`ThreadPolicy` of a solve; the caller's thread count is restored after.

    ``parallel``: the solve has row chunks (``Problem.bounds is not None``).
    """
    ceiling = numba.get_num_threads()
    if not parallel or ceiling == 1:
        yield _Serial()
        return
    try:
        yield ThreadPolicy(ceiling)
    finally:
        numba.set_num_threads(ceiling)


@contextmanager
def threads_for_a_while():
    """Numba's threads set to :func:`free_cores` of the caller's count for the block, and
    restored after: for parallel work without pieces to choose again between (the AMG
    set-up, about a second at 1e6 unknowns)."""
    with thread_policy(True) as policy:
        if isinstance(policy, ThreadPolicy):  # not a one-thread caller's
            numba.set_num_threads(policy.choose())
        yield
