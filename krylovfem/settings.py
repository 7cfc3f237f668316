"""The validated settings of a case: one small frozen dataclass per section, and :class:`Case`.

:mod:`krylovfem.casefile` builds them from a TOML file; nothing after it checks a key again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from krylovfem.expr import Expression


@dataclass(frozen=True)
class MeshSettings:
    """Where the mesh comes from: a generator (``domain``, ``bounds``, ``n``) or a ``file``."""

    domain: str | None
    bounds: tuple[float, ...] | None
    n: int
    element: str
    file: Path | None

    @property
    def degree(self) -> int:
        """Polynomial degree of the element (1 for P1, 2 for P2)."""
        return int(self.element[1:])


@dataclass(frozen=True)
class ProblemSettings:
    r"""The equation :math:`-\nabla\cdot(\kappa\nabla u) + b\cdot\nabla u + c u = f`."""

    type: str
    kappa: Expression | None = None
    reaction: Expression | None = None
    velocity: tuple[Expression, ...] | None = None
    f: Expression | None = None
    exact: Expression | None = None


@dataclass(frozen=True)
class BoundarySettings:
    """Boundary parts by name; a part in no table has zero flux."""

    dirichlet: dict[str, Expression] = field(default_factory=dict)
    neumann: dict[str, Expression] = field(default_factory=dict)
    robin: dict[str, tuple[Expression, Expression]] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeSettings:
    """Time stepping for the heat equation."""

    t_end: float
    dt: float
    scheme: str
    initial: Expression

    @property
    def num_steps(self) -> int:
        r"""Number of steps, :math:`\lceil t_{end} / \Delta t \rceil` (the last one fits)."""
        return self.steps_for(self.dt)

    def steps_for(self, dt: float) -> int:
        """Number of steps of length at most ``dt`` (as :func:`fem.problems.solve_heat`)."""
        return max(1, math.ceil(self.t_end / dt - 1e-9))


@dataclass(frozen=True)
class SolverSettings:
    """The Krylov method and its options, as given (``maxiter=None``: the solver's default)."""

    method: str
    preconditioner: str
    rtol: float
    atol: float
    maxiter: int | None
    restart: int
    #: The ``[solver.amg]`` options with defaults filled in (empty unless the
    #: preconditioner is ``amg``): keywords of :func:`solvers.amg`.
    amg: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """The ``solver`` entry of the run record."""
        return {
            "method": self.method,
            "preconditioner": self.preconditioner,
            "rtol": self.rtol,
            "atol": self.atol,
            "maxiter": self.maxiter,
            "restart": self.restart,
        }


@dataclass(frozen=True)
class AdaptSettings:
    """The marking and the stopping rule of an adaptive loop (``[adapt]``).

    The defaults here are those of the case file and of ``krylovfem adapt``.

    Attributes
    ----------
    steps : int
        The most solves (meshes), at least 1.
    theta : float in (0, 1]
        The marking parameter (bulk fraction for Dörfler, fraction of the largest
        indicator for maximum marking).
    marking : {"dorfler", "maximum"}
    target : float or None
        Stop once the estimate is at most this.
    max_dofs : int or None
        Never solve on a mesh with more unknowns than this.
    """

    steps: int = 10
    theta: float = 0.5
    marking: str = "dorfler"
    target: float | None = None
    max_dofs: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {"steps": self.steps, "theta": self.theta, "marking": self.marking,
                "target": self.target, "max_dofs": self.max_dofs}


@dataclass(frozen=True)
class OutputSettings:
    """Where and what to write."""

    dir: Path
    plots: bool
    save_system: bool


@dataclass(frozen=True)
class SystemSettings:
    """A linear system read from Matrix Market files (``type = "matrix"``)."""

    matrix: Path
    rhs: Path | None


@dataclass(frozen=True)
class CaseOrigin:
    """Where a case came from: the file, its checksum, and the ``--set`` overrides applied.

    Attributes
    ----------
    path : str or None
        The case file as given (None for text parsed in memory).
    sha256 : str or None
        SHA-256 of the file's bytes, as read.
    overrides : tuple of str
        The ``section.key=value`` overrides, in the order applied.
    """

    path: str | None = None
    sha256: str | None = None
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """A validated case: everything needed to run it, nothing left to check.

    Attributes
    ----------
    name : str
        The case name (the file name without ``.toml`` unless ``name`` is given).
    source : str
        The file name used in messages.
    mesh : fem.mesh.Mesh or None
        The mesh at the level given in the file (``None`` for a matrix case).
    adapt : AdaptSettings or None
        The ``[adapt]`` section with defaults filled in (stationary mesh cases only).
    """

    name: str
    source: str
    problem: ProblemSettings
    solver: SolverSettings
    output: OutputSettings
    mesh_settings: MeshSettings | None = None
    mesh: Any = None
    boundary: BoundarySettings | None = None
    time: TimeSettings | None = None
    system: SystemSettings | None = None
    adapt: AdaptSettings | None = None
    origin: CaseOrigin = field(default_factory=CaseOrigin)

    @property
    def dim(self) -> int | None:
        """Spatial dimension, ``None`` for a matrix case."""
        return None if self.mesh is None else self.mesh.dim

    @property
    def is_stationary(self) -> bool:
        """True for the elliptic problems (not heat, not matrix)."""
        return self.problem.type not in ("heat", "matrix")
