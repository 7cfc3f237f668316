"""Smoothed-aggregation algebraic multigrid: :func:`amg` builds a :class:`Hierarchy`.

One job per module: :mod:`.strength` (strong connections), :mod:`.aggregation`,
:mod:`.prolongation` (tentative and smoothed prolongators), :mod:`.galerkin` (coarse
operators), :mod:`.coarse` (the coarsest level's direct solve), :mod:`.smoothers` (the
cycle's smoothers), :mod:`.cycle` (the compiled V-cycle) and :mod:`.hierarchy` (the
set-up and its result).
"""

from .hierarchy import Hierarchy, amg
from .smoothers import SMOOTHERS

__all__ = ["SMOOTHERS", "Hierarchy", "amg"]
