"""A run's figures drawn in a second process, beside the assembly and the solve.

Of a warm ``krylovfem run`` of a small case, importing matplotlib and drawing the
figures is about half of the time.  :func:`figure_process` forks, before the run, a
process that imports matplotlib at once and then waits; the run, when done, hands it
the run (pickled, without its matrix) and the folder being built, and writes its other
files while the figures are drawn on the other core; with two figures or more, the figure
process forks a helper for each figure after the first.  :meth:`FigureProcess.wait` is
called before the record folder is swapped into place (:mod:`krylovfem.folder`), so the
record is still whole or absent: a figure that fails raises here, in the run's process,
as it would have in-process, and an interrupt (Ctrl-C, SIGTERM) or any other way out
ends the figure process (and its helpers: they are a process group of their own) before
the folder being built is removed.

The figure process ignores Ctrl-C (the run decides; a terminal's, sent to the run's
process group, does not reach it) and ends when the run's process does (its end of the
pipe closes).  Where
``os.fork`` is missing, :func:`figure_process` gives None and the figures are drawn
in-process, as for a library caller.

Example, as :func:`krylovfem.cli.main` uses it for ``krylovfem run``::

    with figure_process() as drawing:          # forked here
        run = run_case(case)                   # meanwhile: matplotlib imported there
        write_run(run, directory, drawing)     # figures there, the rest here, then swap

Reference: ``fork``, ``pipe``, ``pread``/``pwrite`` and ``waitpid`` in POSIX.1-2017
(IEEE Std 1003.1); the figure process inherits the run's modules, so only the run's
data crosses, pickled.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import tempfile
from dataclasses import replace
from pathlib import Path

__all__ = ["FigureError", "FigureProcess", "figure_process"]


class FigureError(Exception):
    """A figure failed in the figure process for a reason other than the system's (a bug):
    the exception's type and message, as one line."""


class FigureProcess:
    """The forked process that draws one run's figures into a folder.

    Parameters
    ----------
    pid : int
        The figure process.
    job : file
        An anonymous file, shared with it, that the run is pickled into.
    go, done : int
        The write end of the pipe that says the job is ready (a byte), and the read end
        of the pipe that brings the outcome back (a pickled ``(kind, details)``).
    """

    def __init__(self, pid: int, job, go: int, done: int):
        self.pid, self.job, self.go, self.done = pid, job, go, done
        self.running = True

    def draw(self, run, folder: Path) -> list[str] | None:
        """Hand over ``run``'s figures, to be drawn into ``folder``; their names.

        None when ``run`` cannot be pickled (the process is stopped; draw in-process).
        """
        from krylovfem.figures import run_figures

        names = list(run_figures(run))  # the names only: nothing is drawn here
        try:
            # the figures need neither the matrix nor the right-hand side
            payload = pickle.dumps((replace(run, matrix=None, rhs=None), str(folder)),
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError):
            self.stop()
            return None
        os.pwrite(self.job.fileno(), payload, 0)
        os.write(self.go, len(payload).to_bytes(8, "little"))
        return names

    def wait(self) -> None:
        """Wait for the figures; raise what failed drawing them.

        Raises
        ------
        OSError
            When a figure file could not be written (the figure process's error).
        FigureError
            When drawing failed otherwise, or the figure process ended without a word.
        """
        chunks = []
        while chunk := os.read(self.done, 1 << 16):
            chunks.append(chunk)
        self._reap()
        if not chunks:
            raise FigureError("the figure process ended without drawing the figures")
        kind, details = pickle.loads(b"".join(chunks))
        if kind == "os":
            raise OSError(*details)
        if kind == "error":
            raise FigureError(details)

    def stop(self) -> None:
        """End the figure process now, whatever it is doing, and reap it."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)  # with its helpers, if drawing
            self._reap()

    def _reap(self) -> None:
        if self.running:
            os.waitpid(self.pid, 0)  # a Ctrl-C meanwhile: stop() reaps it again
            self.running = False
            for descriptor in (self.go, self.done):
                os.close(descriptor)
            self.job.close()


@contextlib.contextmanager
def figure_process():
    """A :class:`FigureProcess`, forked now, stopped when the block ends; None without
    ``os.fork``.  Call it before the heavy work, outside any lock (the figure process
    would inherit the lock's file)."""
    if not hasattr(os, "fork"):
        yield None
        return
    job = tempfile.TemporaryFile()
    go_read, go_write = os.pipe()
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the figure process, which never returns
        try:
            os.setpgid(0, 0)
            os.close(go_write)
            os.close(done_read)
            _serve(job, go_read, done_write)
        finally:  # a signal before _serve's handlers are set: never the run's code
            os._exit(1)
    with contextlib.suppress(OSError):  # either side may set it first: both do
        os.setpgid(pid, pid)
    os.close(go_read)
    os.close(done_write)
    process = FigureProcess(pid, job, go_write, done_read)
    try:
        yield process
    finally:
        process.stop()


def _serve(job, go: int, done: int) -> None:  # pragma: no cover - in the figure process
    """The figure process: import matplotlib, wait for a run, draw it, say how it went."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    status = 0
    try:
        from krylovfem.figures import preload, run_figures

        preload()
        size = _read_exactly(go, 8)
        if size is None:  # the run ended before its figures: nothing to draw
            os._exit(0)
        run, folder = pickle.loads(os.pread(job.fileno(), int.from_bytes(size, "little"), 0))
        outcome = _draw_in_processes(list(run_figures(run).items()), Path(folder), done)
    except BaseException as error:
        outcome = _failure(error)
    try:
        os.write(done, pickle.dumps(outcome))
    except BaseException:  # the run's process is gone: nobody to tell
        status = 1
    os._exit(status)


def _draw(writers: list, folder: Path) -> tuple:
    """Draw ``writers`` (name, write) into ``folder``; the outcome, as sent to the run."""
    try:
        for name, write in writers:
            write(folder / name)
    except BaseException as error:
        return _failure(error)
    return ("ok", None)


def _failure(error: BaseException) -> tuple:
    if isinstance(error, OSError):
        return ("os", (error.errno, error.strerror, error.filename))
    return ("error", f"{type(error).__name__}: {error}")  # every failure, as one line


def _draw_in_processes(writers: list, folder: Path, done: int) -> tuple:  # pragma: no cover
    """Draw the first figure here and each other one in a helper forked for it; the first
    failure, in the figures' order.

    The run's process only waits for the figures by now, so every core is free: a warm
    poisson-2d run's three figures took 0.163 s so on two cores, against 0.184 s in two
    processes of which one drew two (medians of 6 runs).  The helpers are in the figure
    process's group, so :meth:`FigureProcess.stop` ends them too.
    """
    from solvers._threads import usable_cores

    if len(writers) < 2 or usable_cores() < 2:
        return _draw(writers, folder)
    helpers = []
    for writer in writers[1:]:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # a helper
            try:
                os.close(read)
                os.close(done)
                os.write(write, pickle.dumps(_draw([writer], folder)))
            finally:
                os._exit(0)
        os.close(write)
        helpers.append((pid, read))
    outcomes = [_draw(writers[:1], folder)]
    for pid, read in helpers:
        with os.fdopen(read, "rb") as pipe:
            theirs = pipe.read()
        os.waitpid(pid, 0)
        outcomes.append(pickle.loads(theirs) if theirs else (
            "error", "a figure helper process ended without drawing its figure"))
    return next((outcome for outcome in outcomes if outcome[0] != "ok"), ("ok", None))


def _read_exactly(descriptor: int, size: int) -> bytes | None:
    """``size`` bytes from a pipe, or None when it closes first."""
    data = b""
    while len(data) < size:
        chunk = os.read(descriptor, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
