r"""The ``[solver.amg]`` options: the settings of :func:`solvers.amg` a case file may give.

The options are read off :func:`solvers.amg` itself, so that a case file accepts exactly
what the function takes: its keyword arguments whose default is a number (the strength
threshold ``theta``, the smoothing ``sweeps``, ``max_coarse``, ``max_levels``, ...), with
those defaults, and with the meaning its docstring gives.  ``B``, the near-null space,
is a set of vectors and has no case-file form.  The values are checked by
:func:`solvers.amg` too, so its ranges are stated once, there.

Examples
--------
>>> sorted(AMG_OPTIONS)
['max_coarse', 'max_levels', 'smoother', 'sweeps', 'theta']
>>> AMG_OPTIONS["theta"].default, AMG_OPTIONS["sweeps"].type
(0.08, 'integer')
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

import scipy.sparse as sparse

from solvers import amg
from solvers.multigrid import SMOOTHERS

__all__ = ["AMG_OPTIONS", "AmgOption", "read_amg_options"]


@dataclass(frozen=True)
class AmgOption:
    """One keyword of :func:`solvers.amg` as a case-file key.

    Attributes
    ----------
    name : str
    default : int, float or str
        The function's default.
    type : {"integer", "number", "string"}
        The TOML type, from the default's.
    meaning : str
        The docstring's description of the parameter.
    choices : tuple of str
        The allowed values of a string option (empty for numbers).
    """

    name: str
    default: int | float | str
    type: str
    meaning: str
    choices: tuple[str, ...] = ()


#: The allowed values of the string keywords of :func:`solvers.amg`.
_CHOICES = {"smoother": tuple(SMOOTHERS)}


def _descriptions(function) -> dict[str, str]:
    """Each parameter's description in the numpydoc ``Parameters`` section of ``function``."""
    text = inspect.cleandoc(function.__doc__ or "")
    section = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", text,
                        re.MULTILINE | re.DOTALL)
    found: dict[str, str] = {}
    name = None
    for line in (section.group(1) if section else "").splitlines():
        if line and not line[0].isspace():
            name = line.partition(" : ")[0].strip()
            found[name] = ""
        elif name is not None and line.strip():
            found[name] = f"{found[name]} {line.strip()}".strip()
    return found


def _options() -> dict[str, AmgOption]:
    descriptions = _descriptions(amg)
    options = {}
    for name, parameter in inspect.signature(amg).parameters.items():
        default = parameter.default
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or isinstance(default, bool) \
                or not isinstance(default, int | float | str):
            continue
        kind = {int: "integer", float: "number", str: "string"}[type(default)]
        options[name] = AmgOption(name, default, kind, descriptions.get(name, ""),
                                  _CHOICES.get(name, ()) if kind == "string" else ())
    return options


#: The ``[solver.amg]`` keys, in the order of :func:`solvers.amg`'s signature.
AMG_OPTIONS: dict[str, AmgOption] = _options()

#: The most Gauss-Seidel sweeps a case may ask of each level (solvers.amg takes any
#: number): far above what any smoother needs, and low enough that one V-cycle on the
#: largest mesh a case may have stays within seconds instead of hours.
MAX_SWEEPS = 100

#: A matrix whose hierarchy costs nothing to build: :func:`solvers.amg` checks each
#: option on it, before anything is assembled.
_PROBE = sparse.eye_array(1, format="csr")


def read_amg_options(section, preconditioner: str) -> dict[str, Any]:
    """The validated ``[solver.amg]`` table: every option, defaults filled in.

    Parameters
    ----------
    section : krylovfem.section.Section
        The ``[solver.amg]`` table.
    preconditioner : str
        ``[solver] preconditioner``; the table is refused unless it is ``"amg"``.

    Returns
    -------
    dict
        Keywords of :func:`solvers.amg` (empty when the preconditioner is not ``amg``).

    Raises
    ------
    CaseError
        For a table beside another preconditioner, an unknown key, a wrong type or a
        value :func:`solvers.amg` refuses; one line naming the key.
    """
    from krylovfem.section import CaseError, check_keys

    if preconditioner != "amg":
        if section.table:
            raise CaseError(f"{section.source}: [{section.name}] is used only with "
                            f"preconditioner = \"amg\"; given preconditioner = "
                            f"\"{preconditioner}\"")
        return {}
    check_keys(section.source, section.name, section.table, tuple(AMG_OPTIONS))
    options = {}
    for name, option in AMG_OPTIONS.items():
        if option.type == "integer":
            value = section.integer(name, option.default)
            if name == "sweeps" and value > MAX_SWEEPS:
                raise section.out_of_range(name, f"an integer <= {MAX_SWEEPS} (here; "
                                                 f"solvers.amg takes more)")
        elif option.type == "string":
            value = section.choice(name, option.choices, option.default)
        else:
            value = section.number(name, option.default)
        if section.has(name):
            section.checked(name, value, lambda value, name=name: amg(_PROBE, **{name: value}))
        options[name] = value
    return options
