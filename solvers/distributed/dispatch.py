"""The one entry of the distributed methods into ``solvers.cg`` and ``solvers.gmres``.

Imported by those modules; it loads neither mpi4py nor the distributed loops until a
distributed matrix comes.
"""

from __future__ import annotations

from .matrix import DistributedMatrix


def is_distributed(A) -> bool:
    """True for a :class:`DistributedMatrix`."""
    return isinstance(A, DistributedMatrix)


def solve(method: str, A, b, x0, options: dict, **keywords):
    """``solvers.distributed.cg.cg`` or ``solvers.distributed.gmres.gmres`` on ``A``, with
    the method's ``keywords`` and the ``options`` only distributed solves take
    (``variant`` of CG), which are refused for any other ``A``."""
    if not is_distributed(A):
        raise TypeError(f"{method}() got an unexpected keyword argument "
                        f"{next(iter(options))!r} (an option of distributed solves, whose A "
                        f"is a DistributedMatrix; A is {type(A).__name__})")
    if method == "cg":
        from .cg import cg as distributed_method
    else:
        from .gmres import gmres as distributed_method
    return distributed_method(A, b, x0, **keywords, **options)
