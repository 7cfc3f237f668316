"""Numba's on-disk cache for the kernels of a package: stamped, checked, never fatal.

A package registers with :func:`register` before any of its kernels is defined, since
Numba sets up a function's cache when its ``@njit(cache=True)`` decorator runs:
``solvers/__init__.py`` imports this module first, ``fem/__init__.py`` imports
``fem/_cache.py``.  Every other function keeps Numba's cache untouched.  What a
registered package gets, and why:

* **A stamp of the whole package.**  Numba stamps a cached function with its own source
  file only.  The loops of ``cg.py`` and ``gmres.py`` have the kernels of ``_csr.py`` and
  ``precond.py`` compiled into them (and fem's element loops their helpers), so an edit
  that changes a kernel but not a loop would leave a stale loop in the cache, calling the
  kernel with an old layout: wrong results or a crash.  A hash of all the package's
  sources, and of the cache's own modules (so that a new file format expires old
  entries), makes such an entry stale, and Numba compiles it again.
* **Checked files.**  :class:`solvers._cache_files.CheckedCacheFile` refuses a truncated,
  overwritten, bit-flipped or foreign data file and an index that does not unpickle,
  before Numba unpickles or links anything; the kernel is compiled again and the file
  rewritten.
* **No failure of the cache stops a run.**  Numba raises "no locator available" at import
  when no cache folder is writable, and lets an error of a cache write escape from the
  call that compiled.  Here a kernel with nowhere to cache is compiled uncached, a failed
  write turns the cache off, and a ``NUMBA_CACHE_DIR`` that is not a writable folder is
  reported once its fallback is used.

Each of these failures says so in one line of :class:`CacheWarning`, each at most once
per process.  And **a load that only links**: Numba refreshes its whole target context
(every typing and lowering registry) before it loads a cached function, most of a warm
run's start; here only what the machine code links against is set up
(:func:`_prepare_to_link`), and compiling refreshes the context as before.

How: ``Dispatcher.enable_caching``, which the decorator calls, is wrapped so that a
function of a registered package gets a :class:`PackageCache` (Numba's ``FunctionCache``
with the stamp, the checked files and the guards).  The Numba internals it builds on are
checked at import; on a Numba that lacks one, the package's kernels are compiled without
a cache (one warning) rather than cached unchecked or with a stale stamp.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from pathlib import Path

import numba
from numba.core import caching, config
from numba.core.dispatcher import Dispatcher
from numba.core.runtime import rtsys

from ._cache_files import NUMBA_MEMBERS, CheckedCacheFile, CorruptCacheFile

_PACKAGE = Path(__file__).resolve().parent
_OWN_MODULES = (Path(__file__).resolve(), _PACKAGE / "_cache_files.py")

#: Registered package folders and their stamps.
_STAMPS: dict[Path, bytes] = {}

#: What has been warned about in this process.
_WARNED: set = set()


class CacheWarning(UserWarning):
    """Numba's on-disk cache could not be used as found; the run goes on without it.

    Issued once per file or folder and process: a cache file that was corrupt, truncated
    or foreign (the kernel is compiled again), or a cache folder that cannot be written
    (the kernels are compiled without a cache).  Filter it as any warning, e.g.
    ``warnings.filterwarnings("ignore", category=solvers.CacheWarning)``.
    """


def _warn_once(topic, message: str) -> None:
    if topic in _WARNED:
        return
    _WARNED.add(topic)
    # Line 0 of a file that does not exist: the warning prints as one line, no source.
    warnings.warn_explicit(message, CacheWarning, "krylovfem", 0)


def _package_hash(folder: Path = _PACKAGE) -> bytes:
    digest = hashlib.sha256()
    for path in sorted(set(folder.rglob("*.py")) | set(_OWN_MODULES)):
        name = path.relative_to(folder) if folder in path.parents else path.name
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.digest()


def register(package_file: str) -> None:
    """Cache the kernels of the package holding ``package_file`` as described above."""
    folder = Path(package_file).resolve().parent
    if folder not in _STAMPS:
        _STAMPS[folder] = _package_hash(folder)


def _stamp_of(py_file: str) -> bytes | None:
    """The stamp of the registered package holding ``py_file`` (in a subpackage too)."""
    for folder in Path(py_file).resolve().parents:
        if folder in _STAMPS:
            return _STAMPS[folder]
    return None


class _PackageStamp:
    """Locator mixin: the stamp of the function's package instead of its file's."""

    def get_source_stamp(self):
        return _stamp_of(self._py_file)


def _locators() -> list[type]:
    # Numba's locators for source files, in its own order of preference (names as of
    # 0.59 and later); the IPython and zip locators never apply to a package folder.
    names = ("UserProvidedCacheLocator", "_UserProvidedCacheLocator", "InTreeCacheLocator",
             "_InTreeCacheLocator", "UserWideCacheLocator", "_UserWideCacheLocator")
    return [type(f"Package{base.__name__.lstrip('_')}", (_PackageStamp, base), {})
            for base in (getattr(caching, name) for name in names if hasattr(caching, name))]


class _PackageCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = _locators()


def _prepare_to_link(target_context) -> None:
    """Set up what machine code loaded from the cache links against, and no more.

    Numba's own load refreshes the target context first: it imports and installs every
    typing and lowering registry, about 0.2 s, most of a warm run's solve, for what only
    compiling uses (Numba's compiler refreshes the context itself when a kernel is not in
    the cache).  Linking needs the symbols only: Numba's runtime (NRT), initialised here,
    and the hash secrets that ``numba.cpython.hashing`` adds when imported; the C helpers
    and math functions are added when the context is made, the threading layer by a
    parallel kernel's own reload hooks.
    """
    rtsys.initialize(target_context)
    import numba.cpython.hashing  # noqa: F401


class PackageCache(caching.FunctionCache):
    """Numba's cache of one function of a registered package, checked and never fatal."""

    _impl_class = _PackageCacheImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = CheckedCacheFile(cache_path=self._cache_path,
                                            filename_base=self._impl.filename_base,
                                            source_stamp=self._impl.locator.get_source_stamp())
        # Numba passes over an unusable NUMBA_CACHE_DIR in silence.
        self._ignores_cache_dir = bool(config.CACHE_DIR) and (
            "UserProvided" not in type(self._impl.locator).__name__)

    def load_overload(self, sig, target_context):
        if self._ignores_cache_dir and self._enabled:
            _warn_once("NUMBA_CACHE_DIR",
                       f"NUMBA_CACHE_DIR {config.CACHE_DIR} is not a writable folder; "
                       f"Numba's cache is kept in its default place instead")
        try:
            _prepare_to_link(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except CorruptCacheFile as problem:
            _warn_once(problem.path, f"{problem}; recompiling")
        except OSError as error:  # a folder that cannot be read will not be written either
            self._turn_off("used", error)
        except Exception as error:  # whatever else would stop the compile that follows
            _warn_once(self._cache_path, f"Numba's cache in {self._cache_path} cannot be "
                       f"loaded ({type(error).__name__}: {error}); recompiling")
        return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as error:  # the kernel is compiled: keep it, uncached
            self._turn_off("written", error)

    def _turn_off(self, what: str, error: Exception) -> None:
        self.disable()
        _warn_once(("folder", self._cache_path), f"Numba's cache in {self._cache_path} "
                   f"cannot be {what} ({type(error).__name__}: {error}); compiling without it")


def _enable_caching(numba_enable_caching, missing: list[str]):
    """Dispatcher.enable_caching, giving the functions of registered packages a PackageCache
    (or, on a Numba that lacks the ``missing`` internals, no cache: slow, never stale)."""

    def enable_caching(dispatcher):
        if _stamp_of(inspect.getfile(dispatcher.py_func)) is None:
            return numba_enable_caching(dispatcher)
        dispatcher._cache = caching.NullCache()
        if missing:
            _warn_once("numba", f"Numba {numba.__version__} lacks {', '.join(missing)}; "
                       f"compiling without a cache")
            return None
        try:
            dispatcher._cache = PackageCache(dispatcher.py_func)
        except Exception as error:  # e.g. "no locator available": no folder is writable
            _warn_once("uncached", f"Numba's cache cannot be used ({error}); compiling "
                       f"without it (NUMBA_CACHE_DIR can name a writable folder)")
        return None

    enable_caching.numba_enable_caching = numba_enable_caching
    return enable_caching


def _missing_numba_members() -> list[str]:
    """The Numba internals PackageCache relies on that the installed Numba lacks."""
    missing = [f"IndexDataCacheFile.{name}" for name in NUMBA_MEMBERS
               if not hasattr(caching.IndexDataCacheFile, name)]
    missing += [f"Cache.{name}" for name in ("_load_overload", "_guard_against_spurious_io_errors")
                if not hasattr(caching.Cache, name)]
    if not _PackageCacheImpl._locator_classes:
        missing.append("its cache locators")
    return missing


def _install() -> None:
    if not hasattr(Dispatcher.enable_caching, "numba_enable_caching"):  # not installed yet
        Dispatcher.enable_caching = _enable_caching(Dispatcher.enable_caching,
                                                    _missing_numba_members())


_install()
register(__file__)
