"""A Ctrl-C that Numba's compiler swallowed, kept until the run can act on it.

While Numba compiles, LLVM calls back into Python through ctypes; a ``KeyboardInterrupt``
raised inside such a callback cannot propagate, so Python reports it as "Exception
ignored" (two lines on stderr) and drops it, and the run would go on as if no Ctrl-C
had come.  :func:`keep_swallowed` installs a :data:`sys.unraisablehook` that keeps such
an interrupt instead of printing it; :func:`raise_kept` raises it at the next point
where the run can stop (after compiling, before solving).
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["keep_swallowed", "raise_kept"]

_kept: list[BaseException] = []


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
    previous = sys.unraisablehook
    sys.unraisablehook = _hook(previous)
    _kept.clear()
    try:
        yield
    finally:
        sys.unraisablehook = previous
        _kept.clear()


def raise_kept() -> None:
    """Raise ``KeyboardInterrupt`` if one was swallowed since the block began."""
    if _kept:
        _kept.clear()
        raise KeyboardInterrupt
