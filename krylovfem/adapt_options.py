"""The ``[adapt]`` section of a case: marking and stopping rule of ``krylovfem adapt``.

The defaults are those of :class:`~krylovfem.settings.AdaptSettings`; the marking
strategies and the range of ``theta`` are those of :mod:`fem.estimate`.  The command's
options (``--steps``, ``--theta``, ...) set the same keys, so they are checked here too
and named in the messages: ``l-shape.toml: [adapt] theta (from --theta) = 1.5: ...``.
"""

from __future__ import annotations

from krylovfem.section import CaseError, Section
from krylovfem.settings import AdaptSettings

__all__ = ["ADAPT_OPTIONS", "read_adapt_settings"]

#: The ``[adapt]`` key each option of ``krylovfem adapt`` sets.
ADAPT_OPTIONS = {"steps": "--steps", "theta": "--theta", "marking": "--marking",
                 "target": "--target", "max_dofs": "--max-dofs"}


def read_adapt_settings(section: Section, mesh, degree: int) -> AdaptSettings:
    """The validated ``[adapt]`` section, defaults filled in.

    Raises
    ------
    CaseError
        For a wrong type or range, an unknown marking, or a DOF budget below the
        unknowns of the case's mesh.
    """
    from fem.estimate import MARKINGS, check_theta

    defaults = AdaptSettings()
    steps = section.integer("steps", defaults.steps, minimum=1)
    theta = section.number("theta", defaults.theta)
    section.checked("theta", theta, check_theta)
    marking = section.choice("marking", tuple(MARKINGS), defaults.marking)
    target = section.number("target", defaults.target, positive=True)
    max_dofs = section.integer("max_dofs", defaults.max_dofs, minimum=1)
    if max_dofs is not None:
        from fem.element import function_space

        first = function_space(mesh, degree).num_dofs
        if max_dofs < first:
            raise CaseError(f"{section.source}: {section.label('max_dofs')} = {max_dofs}: "
                            f"below the {first} DOFs of the case's mesh; allowed: >= {first}")
    return AdaptSettings(steps, theta, marking, target, max_dofs)
