r"""Adaptive refinement of a case: solve, estimate, mark, refine, until a stopping rule holds.

Each step solves the case on the current mesh (:func:`krylovfem.run.run_case`, started
from the previous solution prolongated to the new mesh), computes the residual
indicators :math:`\eta_T^2` (:func:`fem.estimate.residual_estimate`), marks cells
(Dörfler or maximum marking with parameter :math:`\theta`) and bisects them
(:func:`fem.refine.bisect`, newest-vertex bisection labelled by the longest edges of the
case's mesh).  The loop stops after ``steps`` solves, once :math:`\eta \le` ``target``,
or before a mesh with more than ``max_dofs`` unknowns.  Beside it the case is solved on
uniform refinements of its mesh up to as many unknowns as the last adaptive step, with
the same estimate and errors, for comparison.

Nothing here writes a file: :func:`krylovfem.record.write_adapt` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from krylovfem import report as printout
from krylovfem.build import estimator_data
from krylovfem.casefile import Case, CaseError
from krylovfem.meshes import MAX_CELLS

__all__ = ["STOP_REASONS", "AdaptResult", "AdaptSettings", "AdaptStep", "check_adaptable",
           "run_adapt"]

Report = Callable[[str], None]

#: Why an adaptive loop ended.
STOP_REASONS = ("steps", "target", "max_dofs", "max_cells", "failure")


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class AdaptSettings:
    """The marking and the stopping rule of an adaptive loop.

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

    steps: int
    theta: float = 0.5
    marking: str = "dorfler"
    target: float | None = None
    max_dofs: int | None = None

    def __post_init__(self):
        from fem.estimate import MARKINGS, check_theta

        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise CaseError(f"--steps {self.steps!r}: expected a positive integer")
        try:
            check_theta(self.theta)
        except ValueError:
            raise CaseError(f"--theta {self.theta!r}: expected a number in (0, 1]") from None
        if self.marking not in MARKINGS:
            raise CaseError(f"--marking {self.marking!r}: unknown; allowed: "
                            f"{' | '.join(MARKINGS)}")
        if self.target is not None and not (np.isfinite(self.target) and self.target > 0):
            raise CaseError(f"--target {self.target!r}: expected a number > 0")
        if self.max_dofs is not None and (isinstance(self.max_dofs, bool)
                                          or not isinstance(self.max_dofs, int)
                                          or self.max_dofs < 1):
            raise CaseError(f"--max-dofs {self.max_dofs!r}: expected a positive integer")

    def as_record(self) -> dict[str, Any]:
        return {"steps": self.steps, "theta": self.theta, "marking": self.marking,
                "target": self.target, "max_dofs": self.max_dofs}


@dataclass(frozen=True)
class AdaptStep:
    """One solve and its estimate.

    ``times`` holds seconds of ``assemble``, ``compile``, ``solve`` (the Krylov loop),
    ``estimate``, ``mark`` and ``refine`` (bisection and prolongation; both zero for
    the last step and for uniform levels).
    """

    step: int
    dofs: int
    cells: int
    h: float
    estimate: float
    errors: dict | None
    iterations: int
    converged: bool
    reason: str
    marked: int | None = None
    times: dict = field(default_factory=dict)

    @property
    def effectivity(self) -> float | None:
        r"""The effectivity index :math:`\eta / |u - u_h|_{H^1}` (exact solution known)."""
        if not self.errors or not self.errors.get("h1"):
            return None
        return self.estimate / self.errors["h1"]

    def as_record(self) -> dict[str, Any]:
        return {"step": self.step, "dofs": self.dofs, "cells": self.cells, "h": self.h,
                "estimate": self.estimate, "errors": self.errors,
                "effectivity": self.effectivity, "iterations": self.iterations,
                "converged": self.converged, "reason": self.reason, "marked": self.marked,
                "times": dict(self.times)}


@dataclass(frozen=True, eq=False)
class AdaptResult:
    """An adaptive loop and its uniform comparison.

    Attributes
    ----------
    steps, uniform : tuple of AdaptStep
        The adaptive steps and the uniform levels.
    stop : str
        One of :data:`STOP_REASONS`.
    space, u, indicators
        The final mesh's space, solution and :math:`\\eta_T^2`.
    """

    case: Case
    settings: AdaptSettings
    steps: tuple
    uniform: tuple
    stop: str
    space: Any
    u: np.ndarray
    indicators: np.ndarray
    failure: str | None = None

    @property
    def converged(self) -> bool:
        return self.failure is None and all(step.converged for step in (*self.steps,
                                                                         *self.uniform))


def check_adaptable(case: Case, settings: AdaptSettings) -> None:
    """Refuse, before any work, what an estimator cannot serve (matrix and heat cases)
    and a DOF budget below the case's mesh."""
    if case.problem.type == "matrix":
        raise CaseError(f"{case.source}: adapt needs a mesh and an equation; a matrix case "
                        f"has neither (the estimator measures the residual of the PDE)")
    if not case.is_stationary:
        raise CaseError(f"{case.source}: adapt needs a stationary problem; "
                        f"type = \"{case.problem.type}\" is not one")
    if settings.max_dofs is not None:
        first = _dofs_of(case.mesh, case.mesh_settings.degree)
        if settings.max_dofs < first:
            raise CaseError(f"{case.source}: --max-dofs {settings.max_dofs}: below the {first} "
                            f"DOFs of the case's mesh; allowed: >= {first}")


def _solve_and_estimate(case: Case, mesh, step: int, x0, report: Report, monitor=None):
    """Solve on ``mesh`` and estimate: the run, its indicators and its step record."""
    from fem.estimate import residual_estimate
    from krylovfem.run import run_case

    run = run_case(case, mesh=mesh, x0=x0, report=report, monitor=monitor)
    if run.interrupted:  # Ctrl-C ends the whole loop, not just this step's solve
        raise KeyboardInterrupt
    times = {"assemble": run.timings.setup, "compile": run.timings.compile,
             "solve": run.timings.solve, "estimate": 0.0, "mark": 0.0, "refine": 0.0}
    if run.failure is not None:
        return run, None, None
    started = time.perf_counter()
    estimate = residual_estimate(run.space, run.u, **estimator_data(case))
    times["estimate"] = time.perf_counter() - started
    record = AdaptStep(step, run.dofs, mesh.num_cells, float(mesh.h), estimate.total,
                       run.errors, run.iterations, run.converged, run.reason, None, times)
    return run, estimate.indicators, record


def _dofs_of(mesh, degree: int) -> int:
    from fem.element import function_space

    return function_space(mesh, degree).num_dofs


def run_adapt(case: Case, settings: AdaptSettings, *, report: Report = _quiet,
              monitor: Callable[[int, float], None] | None = None) -> AdaptResult:
    """The adaptive loop of ``case`` with ``settings``, and the uniform levels beside it.

    ``monitor(k, residual_norm)`` sees every iteration of the adaptive steps' solves.

    Raises
    ------
    CaseError
        For a matrix or heat case, or a DOF budget below the case's mesh.
    """
    from fem.element import function_space
    from fem.estimate import mark
    from fem.refine import bisect, longest_edge_first, prolongate

    check_adaptable(case, settings)
    degree = case.mesh_settings.degree
    mesh = longest_edge_first(case.mesh)
    steps, guess, stop, failure = [], None, "steps", None
    for step in range(settings.steps):
        run, indicators, record = _solve_and_estimate(case, mesh, step, guess,
                                                      report if step == 0 else _quiet,
                                                      monitor)
        if record is None:
            stop, failure = "failure", run.failure
            break
        space, u = run.space, run.u
        last = step == settings.steps - 1
        if settings.target is not None and record.estimate <= settings.target:
            stop, last = "target", True
        if not last:
            started = time.perf_counter()
            marked = mark(indicators, settings.theta, settings.marking)
            marking = time.perf_counter()
            refinement = bisect(mesh, marked)
            next_space = function_space(refinement.mesh, degree)
            if settings.max_dofs is not None and next_space.num_dofs > settings.max_dofs:
                stop, last = "max_dofs", True
            elif refinement.mesh.num_cells > MAX_CELLS:
                stop, last = "max_cells", True
            else:
                guess = prolongate(space, u, next_space, refinement.parents)
                mesh = refinement.mesh
            record = replace(record, marked=int(marked.sum()), times={
                **record.times, "mark": marking - started,
                "refine": time.perf_counter() - marking})
        steps.append(record)
        report(printout.adapt_step_line(record))
        if last:
            break
    if not steps:
        raise CaseError(f"{case.source}: the first solve failed: {failure}")
    uniform = _uniform_levels(case, steps[-1].dofs, report)
    return AdaptResult(case, settings, tuple(steps), tuple(uniform), stop, space, u,
                       indicators, failure)


def _uniform_levels(case: Case, max_dofs: int, report: Report) -> list[AdaptStep]:
    """The case on uniform refinements of its mesh, up to ``max_dofs`` unknowns."""
    levels, mesh, level = [], case.mesh, 0
    while True:
        _, _, record = _solve_and_estimate(case, mesh, level, None, _quiet)
        if record is None:
            break
        levels.append(record)
        report(printout.adapt_step_line(record, uniform=True))
        mesh = mesh.refined()
        level += 1
        if _dofs_of(mesh, case.mesh_settings.degree) > max_dofs:
            break
    return levels
