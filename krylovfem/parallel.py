"""Runs under ``mpiexec``: which rank this process is, and one outcome on every rank.

``mpiexec -n P krylovfem run CASE`` starts P copies of the command.  Each reads the case,
builds the mesh and assembles its own rows; rank 0 alone prints and writes the record.
The rule that keeps the ranks together: every step the ranks take is either done on
every rank or failed on every rank, with one outcome, before the next collective call.
The library's collective calls (assembly, solve, norms) already agree on their errors;
:meth:`Ranks.together` does the same for the command's own steps (reading the case,
locking and writing the record), so that a failure on one rank ends the run on all
ranks with the status the failing rank found and no rank waits for ever.

The launcher is recognised by the variables it sets (MPICH's and Intel MPI's
``PMI_SIZE``, Open MPI's ``OMPI_COMM_WORLD_SIZE``, MVAPICH's ``MV2_COMM_WORLD_SIZE``);
mpi4py is imported only then, so a run in one process never loads MPI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from krylovfem.exit_status import LINE_PREFIX
from krylovfem.section import CaseError

__all__ = ["SERIAL", "RankFailure", "Ranks", "launcher_ranks", "on_rank", "silence_others",
           "world"]

#: (size, rank) variables of the launchers, in the order they are looked at.
LAUNCHER_VARIABLES = (("PMI_SIZE", "PMI_RANK"),
                      ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
                      ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"))

#: ``classify(error) -> (exit status, the line on stderr)``, as the command reports it.
Classify = Callable[[BaseException], tuple[int, str]]


class RankFailure(Exception):
    """A step failed on some rank: raised on every rank with that rank's outcome."""

    def __init__(self, status: int, message: str, rank: int):
        super().__init__(message)
        self.status, self.message, self.rank = status, message, rank


#: Seconds a rank that failed waits for the others to reach the same step before it
#: ends the job (``MPI_Abort``): they are then inside a collective call of their own,
#: waiting for this rank, and would wait for ever.
MEETING_SECONDS = 60.0


@dataclass(frozen=True)
class Ranks:
    """The ranks of this run: ``comm`` (mpi4py's ``COMM_WORLD``) or None in one process.

    ``agreement`` is a duplicate of ``comm`` for the command's own exchanges, so that
    they never pair with a collective call of the library's.
    """

    comm: Any = None
    size: int = 1
    rank: int = 0
    agreement: Any = None

    @property
    def parallel(self) -> bool:
        return self.size > 1

    @property
    def is_root(self) -> bool:
        """Rank 0: the one that prints and writes."""
        return self.rank == 0

    def together(self, step: Callable[[], Any], classify: Classify) -> Any:
        """``step()`` on every rank; if it raised on any rank, :class:`RankFailure` on all.

        In one process the step runs as it is (its exception propagates unchanged).  On
        several, each rank's exception (or a Ctrl-C kept during the step, see
        :func:`solvers.interrupts.deferred_sigint`) is turned into its exit status and
        line by ``classify``; the outcome reported is that of the first rank whose error
        is its own (not an echo of another rank's, see ``solvers.distributed.agree``).
        A rank that failed while the others are elsewhere ends the job after
        :data:`MEETING_SECONDS`, with its status.
        """
        if not self.parallel:
            return step()
        from solvers.interrupts import take_kept

        value, outcome = None, None
        try:
            value = step()
            if take_kept():
                raise KeyboardInterrupt
        except BaseException as error:  # every rank must hear of it, Ctrl-C included
            status, line = classify(error)
            outcome = (status, line, getattr(error, "failed_rank", None) is None)
        self._meet(outcome)
        outcomes = self.agreement.allgather(outcome)
        failed = [(rank, found) for rank, found in enumerate(outcomes) if found is not None]
        if failed:
            own = [(rank, found) for rank, found in failed if found[2]] or failed
            rank, (status, line, _) = own[0]
            raise RankFailure(status, on_rank(line, rank), rank)
        return value

    def _meet(self, outcome) -> None:
        """Wait for every rank to reach this step; a failed rank waits a bounded time."""
        import time

        from solvers.distributed import abort

        request = self.agreement.Ibarrier()
        if outcome is None:
            request.Wait()
            return
        deadline = time.monotonic() + MEETING_SECONDS
        while not request.Test():
            if time.monotonic() > deadline:
                status, line, _ = outcome
                os.write(_STDERR[0], (on_rank(line, self.rank) + " (the other ranks did not "
                                      "reach this point: ending the job)\n").encode())
                abort(self.comm, status)
            time.sleep(0.005)

    def on_root(self, context: Callable[[], AbstractContextManager],
                classify: Classify) -> AbstractContextManager:
        """``context()`` entered on rank 0 only (the lock of the record folder, say), its
        entering agreed on by every rank; yields what it gives on rank 0, None on the
        others."""
        return _on_root(self, context, classify)


@contextmanager
def _on_root(ranks: Ranks, context, classify):
    with ExitStack() as stack:
        yield ranks.together(
            lambda: stack.enter_context(context()) if ranks.is_root else None, classify)


SERIAL = Ranks()
_STDERR = [2]  # where a rank's last word goes when it must end the job


def on_rank(line: str, rank: int) -> str:
    """``line`` as said for ``rank`` by rank 0: ``krylovfem: on rank 1: ...``."""
    if rank == 0:
        return line
    body = line.removeprefix(LINE_PREFIX)
    return f"{LINE_PREFIX}on rank {rank}: {body}"


def silence_others(ranks: Ranks, keep_stderr: bool = False) -> None:
    """Ranks other than 0 print nothing (rank 0 speaks for all); their stderr stays open
    with ``keep_stderr``, to see where one failed.  A rank that must end the job still
    says why (:meth:`Ranks.together`)."""
    if ranks.is_root:
        return
    import sys

    _STDERR[0] = os.dup(sys.stderr.fileno())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    if not keep_stderr:
        os.dup2(devnull, sys.stderr.fileno())


def launcher_ranks(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """``(size, rank)`` that an MPI launcher gave this process, or ``(1, 0)``."""
    for size_name, rank_name in LAUNCHER_VARIABLES:
        if size_name in environ:
            try:
                return int(environ[size_name]), int(environ.get(rank_name, "0"))
            except ValueError:
                continue
    return 1, 0


def world(environ: Mapping[str, str] = os.environ) -> Ranks:
    """The ranks of this run: :data:`SERIAL` unless an MPI launcher started several."""
    size, _ = launcher_ranks(environ)
    if size <= 1:
        return SERIAL
    try:
        from mpi4py import MPI
    except ImportError:
        raise CaseError(f"started as {size} MPI ranks (by mpiexec), but mpi4py is not "
                        "installed: pip install 'krylovfem[mpi]'") from None
    comm = MPI.COMM_WORLD
    return Ranks(comm, comm.Get_size(), comm.Get_rank(), comm.Dup())
