"""One outcome on every rank: an error found on some ranks is raised on all of them.

A check that fails on one rank only (its rows are wrong, its factorisation meets a zero
pivot) must not leave the other ranks waiting in the next collective call for ever.
Each such step is followed by :func:`agree`, a collective call that shares what every
rank found; if any rank failed, every rank raises.
"""

from __future__ import annotations

#: Errors a rank may report as they are: the user's input was wrong.  Anything else is
#: reported on the other ranks as a RuntimeError naming it.
_PASSED_ON = (ValueError, TypeError, ArithmeticError)


def checked(step):
    """``(step(), None)``, or ``(None, the exception)`` if it raised one of ours."""
    try:
        return step(), None
    except _PASSED_ON as error:
        return None, error


def agree(comm, problem: BaseException | None) -> None:
    """Collective: raise on every rank if ``problem`` is not None on any rank.

    A rank raises its own error; the others raise one of the same type (when it is one
    of ``ValueError``, ``TypeError``, ``ArithmeticError``) naming the first rank that
    failed and its message, with that rank as its ``failed_rank`` attribute (so that an
    application can tell the error of the rank where it happened from its echoes).
    """
    found = comm.allgather(None if problem is None else (type(problem), str(problem)))
    failed = [(rank, what) for rank, what in enumerate(found) if what is not None]
    if not failed:
        return
    if problem is not None:
        raise problem
    rank, (kind, message) = failed[0]
    kind = kind if issubclass(kind, _PASSED_ON) else RuntimeError
    echo = kind(f"on rank {rank}: {message}")
    echo.failed_rank = rank
    raise echo
