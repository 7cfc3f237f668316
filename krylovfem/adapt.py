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

Nothing here writes a file: each step's run goes to an ``on_run`` callable as soon as
it is solved (``krylovfem adapt`` records it there), and :func:`krylovfem.record.write_adapt`
writes the loop.  A Ctrl-C ends the loop with the steps done so far.
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
from krylovfem.settings import AdaptSettings

__all__ = ["STOP_REASONS", "AdaptResult", "AdaptSettings", "AdaptStep", "check_adaptable",
           "run_adapt"]

Report = Callable[[str], None]
OnRun = Callable[[int, Any], None]

#: Why an adaptive loop ended.
STOP_REASONS = ("steps", "target", "max_dofs", "max_cells", "failure", "interrupted")


def _quiet(_: str) -> None:
    return None


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
        The adaptive steps and the uniform levels (so far, when interrupted).
    stop : str
        One of :data:`STOP_REASONS`.
    space, u, indicators
        The last step's space, solution and :math:`\\eta_T^2` (None without a step).
    failure : str or None
        Why a step's solve could not start (a preconditioner that broke down).
    interrupted : bool
        True when a Ctrl-C ended the loop or its uniform comparison.
    solved : int
        How many adaptive steps were solved (and given to ``on_run``): the steps, and a
        last one that failed or was interrupted.
    """

    case: Case
    settings: AdaptSettings
    steps: tuple
    uniform: tuple
    stop: str
    space: Any = None
    u: np.ndarray | None = None
    indicators: np.ndarray | None = None
    failure: str | None = None
    interrupted: bool = False
    solved: int = 0

    @property
    def converged(self) -> bool:
        return self.failure is None and all(step.converged for step in (*self.steps,
                                                                         *self.uniform))


def check_adaptable(case: Case) -> None:
    """Refuse, before any work, what an estimator cannot serve (matrix and heat cases)."""
    if case.problem.type == "matrix":
        raise CaseError(f"{case.source}: adapt needs a mesh and an equation; a matrix case "
                        f"has neither (the estimator measures the residual of the PDE)")
    if case.adapt is None:
        raise CaseError(f"{case.source}: adapt needs a stationary problem; "
                        f"type = \"{case.problem.type}\" is not one")


def _estimated_step(case: Case, run, step: int) -> tuple[np.ndarray, AdaptStep]:
    """The indicators of a solved step, and its record."""
    from fem.estimate import residual_estimate

    times = {"assemble": run.timings.setup, "compile": run.timings.compile,
             "solve": run.timings.solve, "estimate": 0.0, "mark": 0.0, "refine": 0.0}
    started = time.perf_counter()
    estimate = residual_estimate(run.space, run.u, **estimator_data(case))
    times["estimate"] = time.perf_counter() - started
    mesh = run.space.mesh
    record = AdaptStep(step, run.dofs, mesh.num_cells, float(mesh.h), estimate.total,
                       run.errors, run.iterations, run.converged, run.reason, None, times)
    return estimate.indicators, record


def _dofs_of(mesh, degree: int) -> int:
    from fem.element import function_space

    return function_space(mesh, degree).num_dofs


def _ignore(step: int, run) -> None:
    return None


def run_adapt(case: Case, settings: AdaptSettings | None = None, *, report: Report = _quiet,
              monitor: Callable[[int, float], None] | None = None,
              on_run: OnRun = _ignore) -> AdaptResult:
    """The adaptive loop of ``case`` with ``settings``, and the uniform levels beside it.

    Parameters
    ----------
    case : Case
        A stationary case.
    settings : AdaptSettings, optional
        Default: the case's ``[adapt]`` section.
    report : callable, optional
        Receives each line of progress.
    monitor : callable, optional
        ``monitor(k, residual_norm)`` sees every iteration of the adaptive steps' solves.
    on_run : callable, optional
        ``on_run(step, run)`` receives each adaptive step's
        :class:`~krylovfem.run.RunResult` once solved (also one that failed or was
        interrupted), before the step is estimated.

    Returns
    -------
    AdaptResult
        With the steps done so far when a Ctrl-C came (``interrupted``), or when a
        step's preconditioner broke down (``failure``, and no step when it was the first).

    Raises
    ------
    CaseError
        For a matrix or heat case, or ``settings`` out of range (as in ``[adapt]``).
    KeyboardInterrupt
        When a Ctrl-C came before the first solve ended (nothing to keep).
    """
    from fem.element import function_space
    from fem.estimate import mark
    from fem.refine import bisect, longest_edge_first, prolongate
    from krylovfem.run import run_case

    check_adaptable(case)
    degree = case.mesh_settings.degree
    if settings is None:
        settings = case.adapt
    else:  # a caller's settings get the checks of the case file's [adapt]
        from krylovfem.adapt_options import read_adapt_settings
        from krylovfem.section import Section

        given = {key: value for key, value in settings.as_record().items() if value is not None}
        settings = read_adapt_settings(Section(case.source, "adapt", given, {}), case.mesh,
                                       degree)
    mesh = longest_edge_first(case.mesh)
    steps, uniform, guess, stop, failure, solved = [], [], None, "steps", None, 0
    final, adaptive_done = (None, None, None), False
    try:
        for step in range(settings.steps):
            run = run_case(case, mesh=mesh, x0=guess, report=report if step == 0 else _quiet,
                           monitor=monitor)
            on_run(step, run)
            solved += 1
            if run.interrupted:  # Ctrl-C ends the whole loop, not just this step's solve
                raise KeyboardInterrupt
            if run.failure is not None:
                stop, failure = "failure", run.failure
                break
            indicators, record = _estimated_step(case, run, step)
            steps.append(record)
            final = (run.space, run.u, indicators)
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
                    guess = prolongate(run.space, run.u, next_space, refinement.parents)
                    mesh = refinement.mesh
                steps[-1] = replace(record, marked=int(marked.sum()), times={
                    **record.times, "mark": marking - started,
                    "refine": time.perf_counter() - marking})
            report(printout.adapt_step_line(steps[-1]))
            if last:
                break
        adaptive_done = True
        if steps:
            _uniform_levels(case, steps[-1].dofs, report, uniform)
    except KeyboardInterrupt:
        if not solved:
            raise
        return AdaptResult(case, settings, tuple(steps), tuple(uniform),
                           stop if adaptive_done else "interrupted", *final, failure,
                           interrupted=True, solved=solved)
    return AdaptResult(case, settings, tuple(steps), tuple(uniform), stop, *final, failure,
                       solved=solved)


def _uniform_levels(case: Case, max_dofs: int, report: Report,
                    levels: list[AdaptStep]) -> None:
    """The case on uniform refinements of its mesh, up to ``max_dofs`` unknowns, appended
    to ``levels`` one by one (so that an interrupt keeps those done)."""
    from krylovfem.run import run_case

    mesh, level = case.mesh, 0
    while True:
        run = run_case(case, mesh=mesh)
        if run.interrupted:
            raise KeyboardInterrupt
        if run.failure is not None:
            break
        levels.append(_estimated_step(case, run, level)[1])
        report(printout.adapt_step_line(levels[-1], uniform=True))
        mesh = mesh.refined()
        level += 1
        if _dofs_of(mesh, case.mesh_settings.degree) > max_dofs:
            break
