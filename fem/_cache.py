"""Numba's on-disk cache of this package's kernels: stamped with all of fem's sources and
checked before use, as :mod:`solvers._cache` describes.  ``fem/__init__.py`` imports this
module before any kernel is defined."""

from solvers._cache import register

register(__file__)
