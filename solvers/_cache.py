"""Numba's on-disk cache for this package, expired by a change to any of its files.

Numba stamps a cached function with its own source file only.  The loops of
``cg.py`` and ``gmres.py`` have the kernels of ``_csr.py`` and ``precond.py``
compiled into them, so an edit (or a ``git pull``) that changes a kernel but not a
loop would leave a stale loop in the cache, calling the kernel with an old layout:
wrong results or a crash.  Stamping every cached function of the package with a
hash of all the package's sources makes such an entry stale, and Numba recompiles it.

Importing this module registers the stamp with Numba; ``solvers/__init__.py`` does so
before any kernel is defined, since Numba picks a function's cache locator when the
decorator runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba.core import caching

_PACKAGE = Path(__file__).resolve().parent


def _package_hash() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.digest()


_STAMP = _package_hash()


class _PackageStamp:
    """Locator mixin: only for this package's files (subpackages too), stamped with the
    package hash."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if _PACKAGE not in Path(py_file).resolve().parents:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return _STAMP


def _register() -> None:
    # Numba's locators, in its own order of preference (names as of 0.59 and later).
    names = ("UserProvidedCacheLocator", "_UserProvidedCacheLocator", "InTreeCacheLocator",
             "_InTreeCacheLocator", "UserWideCacheLocator", "_UserWideCacheLocator")
    bases = [getattr(caching, name) for name in names if hasattr(caching, name)]
    locators = [type(f"Package{base.__name__.lstrip('_')}", (_PackageStamp, base), {})
                for base in bases]
    implementation = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    implementation._locator_classes[:0] = locators


_register()
