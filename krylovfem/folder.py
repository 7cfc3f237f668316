"""Record folders, whole or not at all: the destination checks, the lock, the atomic swap.

A record folder is built in a temporary folder beside its destination and then swapped
into place: an earlier record there is replaced as a whole (no stale picture survives
beside a new summary), and a failure or an interrupt while writing leaves the earlier
record, or nothing, never a mixture.  A destination that holds anything but a record is
refused.  What goes into a folder is :mod:`krylovfem.record`'s business.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from krylovfem.section import CaseError
from krylovfem.settings import Case

#: The main document of each kind of record folder.
DOCUMENTS = {"krylovfem.run": "summary.json", "krylovfem.study": "study.json",
             "krylovfem.compare": "compare.json", "krylovfem.adapt": "adapt.json"}

Writer = Callable[[Path], None]


# --------------------------------------------------------------------------------------
# The folder, whole or not at all
# --------------------------------------------------------------------------------------
class RecordError(Exception):
    """The environment refused the record: a path that cannot be written, a full disk,
    another run writing to the same folder.  One line, naming the path."""


def check_destination(directory: Path, case: Case | None = None) -> None:
    """Refuse, before any work, a destination that could not take a record folder.

    Raises
    ------
    CaseError
        When ``directory`` or the folder it would be made in cannot be written, holds
        something that is not a record (a record folder is replaced whole), or holds
        the case file itself.
    """
    directory = Path(directory)
    check_writable(directory)
    if directory.is_dir():
        if case is not None and case.origin.path is not None:
            source = Path(case.origin.path).resolve()
            if source.is_relative_to(directory.resolve()):
                raise CaseError(f"output directory {str(directory)!r} holds the case file "
                                f"{case.source}; a record folder is replaced whole: choose "
                                f"another --out")
        if any(directory.iterdir()) and not _is_record_folder(directory):
            raise CaseError(f"output directory {str(directory)!r} holds files that are not "
                            f"a krylovfem record; a record folder is replaced whole: choose "
                            f"an empty or new --out")


def check_writable(directory: Path) -> None:
    """Refuse a directory that could not be made or written, before any work.

    The nearest existing ancestor must be a directory in which a folder can really be
    made (a probe folder is made and removed): permissions alone do not tell a
    read-only file system, ``/proc`` or a dangling symbolic link.
    """
    directory = Path(directory)
    existing = directory
    while not existing.exists() and existing.parent != existing:
        if existing.is_symlink():
            raise CaseError(f"output directory {str(directory)!r}: {str(existing)!r} is a "
                              f"symbolic link to {os.readlink(existing)!r}, which does not "
                              f"exist")
        existing = existing.parent
    if not existing.is_dir():
        raise CaseError(f"output directory {str(directory)!r}: {str(existing)!r} is a file")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".krylovfem-probe-", dir=existing))
    except OSError as error:
        raise CaseError(f"output directory {str(directory)!r}: cannot write in "
                          f"{str(existing)!r} ({error.strerror or error})") from None


@contextlib.contextmanager
def record_lock(directory: Path):
    """Hold the exclusive right to write the record folder ``directory``.

    A second run into the same folder is refused at once (with the first one's process
    id) instead of interleaving with it.  The lock is an advisory ``flock`` on the file
    ``.<name>.lock`` beside the folder, removed when the run is done; the kernel drops
    the lock when the process ends, however it ends, so a killed run never leaves the
    folder locked.

    Raises
    ------
    RecordError
        When another run holds the lock, or the lock file cannot be made.
    """
    directory = Path(directory).absolute()
    path = directory.with_name(f".{directory.name}.lock")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        handle = _locked_file(path)
    except OSError as error:
        raise RecordError(f"output directory {str(directory)!r}: cannot lock it "
                          f"({error.strerror or error})") from None
    if handle is None:
        holder = _lock_holder(path)
        raise RecordError(f"output directory {str(directory)!r}: another krylovfem run "
                          f"(pid {holder}) is writing there; wait for it or choose "
                          f"another --out")
    with handle:
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            # unlinked while still locked: a run that opened this file meanwhile finds
            # it is no longer the one at the path, and takes a new one (below)
            path.unlink(missing_ok=True)


def _locked_file(path: Path):
    """The lock file at ``path``, opened and locked; None when another process holds it."""
    import fcntl

    while True:
        handle = open(path, "a+")  # kept open for as long as the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            current = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            current = False
        if current:
            handle.truncate(0)
            return handle
        handle.close()  # the holder removed it between our open and our lock


def _lock_holder(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text().strip() or "?"
    return "?"


def _is_record_folder(directory: Path) -> bool:
    for name in DOCUMENTS.values():
        document = directory / name
        if document.is_file():
            with contextlib.suppress(OSError, ValueError):
                content = json.loads(document.read_text(encoding="utf-8"))
                return isinstance(content, dict) and "case" in content and "versions" in content
    return False


class RecordFolder:
    """A record folder being built: files and sub-folders are written into a temporary
    folder beside ``directory``, which :func:`record_folder` swaps into place whole.

    Attributes
    ----------
    names : list of str
        What has been written so far at the top of the folder (files and sub-folders).
    """

    def __init__(self, directory: Path, building: Path):
        self.directory = directory
        self.building = building
        self.names: list[str] = []

    def error(self, error: OSError) -> RecordError:
        kept = " (the earlier record there is unchanged)" if self.directory.exists() else ""
        return RecordError(f"cannot write the record {str(self.directory)!r}: "
                           f"{error.strerror or error}; nothing was written{kept}")

    def write(self, writers: dict[str, Writer], folder: str = "") -> list[Path]:
        """Write each ``name -> writer(path)`` at the top, or into the sub-folder
        ``folder``; a sub-folder appears whole or, after any failure, not at all.

        Raises
        ------
        RecordError
            When a file cannot be written.
        """
        target = self.building / folder
        partial = self.building / f".{folder}.partial" if folder else target
        try:
            partial.mkdir(exist_ok=not folder)
            for name, writer in writers.items():
                writer(partial / name)
            if folder:
                os.replace(partial, target)
        except OSError as error:
            raise self.error(error) from None
        finally:
            if folder:
                shutil.rmtree(partial, ignore_errors=True)
        self.names += [folder] if folder else list(writers)
        return [self.directory / folder / name for name in writers]

    def adopt(self, names: list[str]) -> list[Path]:
        """Count the files ``names``, written into :attr:`building` by another process
        (the figure process), as written; their paths in the finished folder."""
        self.names += names
        return [self.directory / name for name in names]


@contextlib.contextmanager
def record_folder(directory: Path):
    """Build the record folder ``directory``: a :class:`RecordFolder` to write into, swapped
    into place when the block ends, and removed, leaving ``directory`` as it was, when the
    block raises (a failure, a Ctrl-C).

    Raises
    ------
    RecordError
        When the folder cannot be made or swapped into place.
    """
    directory = Path(directory).absolute()
    stamp = f"{os.getpid()}"
    building = directory.with_name(f".{directory.name}.partial-{stamp}")
    retired = directory.with_name(f".{directory.name}.old-{stamp}")
    folder = RecordFolder(directory, building)
    try:
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            _remove_abandoned(directory)
            building.mkdir()
        except OSError as error:
            raise folder.error(error) from None
        yield folder
        try:
            if directory.exists():
                os.replace(directory, retired)
            os.replace(building, directory)
        except OSError as error:
            raise folder.error(error) from None
    finally:
        for leftover in (building, retired):
            shutil.rmtree(leftover, ignore_errors=True)


def write_folder(directory: Path, writers: dict[str, Writer]) -> list[Path]:
    """Write each ``name -> writer(path)`` into a new folder, then swap it into place.

    Raises
    ------
    RecordError
        When a file cannot be written (a full disk, say): nothing of the new record is
        left, and an earlier record in ``directory`` is unchanged.
    """
    with record_folder(directory) as folder:
        return folder.write(writers)


def _remove_abandoned(directory: Path) -> None:
    """Folders that a killed run was building or retiring beside ``directory``.

    Only those of processes that no longer exist; the caller holds
    :func:`record_lock`, so no live run of ours is writing them.
    """
    for leftover in directory.parent.glob(f".{glob.escape(directory.name)}.*-*"):
        kind, _, pid = leftover.name.rpartition("-")
        if not (kind.endswith((".partial", ".old")) and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def json_writer(document: dict) -> Writer:
    text = json.dumps(_finite(document), indent=2, allow_nan=False) + "\n"
    return lambda path: path.write_text(text, encoding="utf-8")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers are recorded as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def bytes_writer(make: Callable[[io.BytesIO], None]) -> Writer:
    def write(path: Path) -> None:
        buffer = io.BytesIO()
        make(buffer)
        path.write_bytes(buffer.getvalue())

    return write


