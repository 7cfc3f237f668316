"""The files of Numba's on-disk cache, checked before Numba trusts what they hold.

Numba keeps a cached function as an index, ``<name>.nbi`` (Numba's version, the source
stamp and, for each signature, the name of a data file), and one data file per signature,
``<name>.<n>.nbc`` (the pickled compile result with its machine code).  It trusts both:
a truncated or overwritten file raises ``UnpicklingError`` or ``EOFError`` from inside the
call that compiles, on every later run, and a byte flipped inside the machine code still
unpickles and is linked and run: a segmentation fault or a wrong result.

:class:`CheckedCacheFile` writes a data file as one header line followed by the pickle::

    krylovfem-numba-cache/1 numba=0.68.1 bytes=154321 sha256=<64 hex digits>
    <pickle of (index key, compile result)>

and reads nothing of the pickle until the header says the file is of this format and this
Numba and the length and the SHA-256 digest of the pickle match.  The index key stored with
the result (signature, target machine, hash of the bytecode) must then be the key asked
for: a whole and valid file of another function or signature -- copied over, or left by
two processes that numbered their data files at the same moment -- is refused as well.
Hashing a data file of some hundred kB costs well under a millisecond.

The index keeps Numba's own format (:mod:`solvers.warmup` reads it too).  An index that
does not unpickle raises :class:`CorruptCacheFile`, and the next save replaces it; a
damaged one that still unpickles can only name a missing data file (a cache miss) or a
wrong one (refused by the checks above).  An index of another Numba version is Numba's
ordinary stale cache, compiled again without a word.

Every write goes through Numba's ``_open_for_write``: a temporary file beside the target,
renamed over it with ``os.replace``, so a reader -- or a second writer -- only ever sees
the old file or the new one whole.
"""

from __future__ import annotations

import hashlib
import pickle
import re

import numba
from numba.core import caching

FORMAT = "krylovfem-numba-cache/1"
_HEADER = re.compile(r"(krylovfem-numba-cache/\S+) numba=(\S+) bytes=(\d+) sha256=([0-9a-f]{64})")

_log = getattr(caching, "_cache_log", lambda *arguments: None)  # NUMBA_DEBUG_CACHE lines

#: The members of Numba's IndexDataCacheFile that CheckedCacheFile overrides or calls.
NUMBA_MEMBERS = ("save", "load", "_load_index", "_save_index", "_load_data", "_save_data",
                 "_data_path", "_dump", "_open_for_write")


class CorruptCacheFile(Exception):
    """A cache file that must not be used; the message names the file and what is wrong."""

    def __init__(self, path, problem: str):
        super().__init__(f"Numba cache file {path} {problem}")
        self.path = str(path)


def _header(body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{FORMAT} numba={numba.__version__} bytes={len(body)} sha256={digest}\n".encode()


def _problem(raw: bytes) -> str | None:
    """What is wrong with the raw bytes of a data file, or None if they are whole."""
    header, newline, body = raw.partition(b"\n")
    if not newline and FORMAT.encode().startswith(raw[:len(FORMAT)]):
        return f"is truncated ({len(raw)} bytes, within its header)"
    match = _HEADER.fullmatch(header.decode("ascii", "replace"))
    if match is None:
        if header.startswith(FORMAT.encode()):
            return "is corrupt (damaged header)"
        return f"has no {FORMAT} header (foreign or overwritten)"
    form, version, length, digest = match[1], match[2], int(match[3]), match[4]
    if form != FORMAT:
        return f"is from another version of this cache ({form})"
    if version != numba.__version__:
        return f"is from another Numba version ({version})"
    if len(body) < length:
        return f"is truncated ({len(body)} of {length} bytes)"
    if len(body) > length or hashlib.sha256(body).hexdigest() != digest:
        return "is corrupt (checksum mismatch)"
    return None


class CheckedCacheFile(caching.IndexDataCacheFile):
    """Numba's index and data files, with data files that prove themselves before use.

    Raises :class:`CorruptCacheFile` from :meth:`load` for a file that must not be used;
    :meth:`save` writes over whatever is damaged.
    """

    def save(self, key, data):
        try:
            self._load_index()
        except CorruptCacheFile:
            # Numba's save adds to the index it reads: start an unreadable one afresh.
            self._save_index({})
        super().save(key, (key, data))

    def load(self, key):
        name = self._load_index().get(key)
        if name is None:
            return None
        try:
            stored_key, data = self._load_data(name)
        except FileNotFoundError:
            return None  # removed since the index named it: a cache miss, as in Numba
        if stored_key != key:
            raise CorruptCacheFile(self._data_path(name),
                                   "is foreign (it holds another function or signature)")
        return data

    def _load_index(self):
        try:
            overloads = super()._load_index()
        except OSError:
            raise  # unreadable, not corrupt: the caller turns the cache off
        except Exception as error:  # Numba unpickles the index unguarded
            raise CorruptCacheFile(
                self._index_path, f"is corrupt (it does not unpickle: {type(error).__name__})"
            ) from error
        if not (isinstance(overloads, dict)
                and all(isinstance(name, str) for name in overloads.values())):
            raise CorruptCacheFile(self._index_path, "is corrupt (not an index)")
        return overloads

    def _save_data(self, name, data):
        body = self._dump(data)
        with self._open_for_write(self._data_path(name)) as file:
            file.write(_header(body))
            file.write(body)
        _log("[cache] data saved to %r", self._data_path(name))

    def _load_data(self, name):
        path = self._data_path(name)
        with open(path, "rb") as file:
            raw = file.read()
        problem = _problem(raw)
        if problem is not None:
            raise CorruptCacheFile(path, problem)
        _log("[cache] data loaded from %r", path)
        return pickle.loads(raw.partition(b"\n")[2])
