"""A Ctrl-C that Numba's compiler swallowed, kept until a solve (or an application) can
act on it.

While Numba compiles, LLVM calls back into Python through ctypes; a ``KeyboardInterrupt``
raised inside such a callback cannot propagate, so Python reports it as "Exception
ignored" (two lines on stderr) and drops it, and a first solve would go on compiling and
iterating as if no Ctrl-C had come.  :func:`keep_swallowed` installs a
:data:`sys.unraisablehook` that keeps such an interrupt instead of printing it;
:func:`raise_kept` raises it at the next point where the work can stop.  ``solvers.cg``
and ``solvers.gmres`` do both by themselves (they check after each piece of their
compiled loop, so the solve so far comes back as :class:`solvers.SolveInterrupted`); an
application that compiles in steps of its own (``solvers.warm_up``, say) can wrap them
too.  The blocks nest: the hook is installed by the outermost one, and an interrupt kept
in an inner block is raised by whichever :func:`raise_kept` comes first.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading

__all__ = ["deferred_sigint", "keep_swallowed", "keeping_interrupts", "raise_kept",
           "take_kept"]

_kept: list[BaseException] = []
_depth = [0]


def _hook(previous):
    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _kept.append(unraisable.exc_value)
            return
        previous(unraisable)

    return hook


@contextlib.contextmanager
def keep_swallowed():
    """Within this block, a swallowed ``KeyboardInterrupt`` is kept, not printed."""
    outermost = _depth[0] == 0
    if outermost:
        previous = sys.unraisablehook
        sys.unraisablehook = _hook(previous)
        _kept.clear()
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        if outermost:
            sys.unraisablehook = previous
            _kept.clear()


def take_kept() -> bool:
    """Whether a ``KeyboardInterrupt`` was swallowed since the outermost block began (and
    forget it)."""
    kept = bool(_kept)
    _kept.clear()
    return kept


def raise_kept() -> None:
    """Raise ``KeyboardInterrupt`` if one was swallowed since the outermost block began."""
    if take_kept():
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_sigint():
    """Within this block (on the main thread), SIGINT raises nothing: it is kept, as a
    swallowed interrupt is, for :func:`take_kept` to find at a point where the work can
    stop.  The processes of an MPI job must stop at the same point, which a
    ``KeyboardInterrupt`` raised wherever each one happens to be would not give."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        _kept.append(KeyboardInterrupt())

    with keep_swallowed():
        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def keeping_interrupts(function):
    """``function`` run inside :func:`keep_swallowed` (a decorator)."""
    @functools.wraps(function)
    def kept(*args, **kwargs):
        with keep_swallowed():
            return function(*args, **kwargs)

    return kept
