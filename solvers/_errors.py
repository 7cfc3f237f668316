"""Errors the solvers raise, shared by the preconditioners and the multigrid set-up."""


class PivotError(ValueError):
    """A factorization or a multigrid set-up met a zero or negative pivot (a ``ValueError``)."""
