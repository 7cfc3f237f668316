"""The expression language: its names, its tree, and how a tree prints and depends.

Nodes are small frozen dataclasses (:class:`Number`, :class:`Variable`,
:class:`Negate`, :class:`Binary`, :class:`Call`); :func:`to_text` prints them in the
case-file syntax with the fewest parentheses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VARIABLES = ("x", "y", "t")
CONSTANTS = {"pi": math.pi, "e": math.e}
ALLOWED_NAMES = (*VARIABLES, *CONSTANTS)

#: name -> (number of arguments, or None for "two or more"; numpy implementation)
ALLOWED_FUNCTIONS: dict[str, tuple[int | None, Callable]] = {
    "sin": (1, np.sin),
    "cos": (1, np.cos),
    "tan": (1, np.tan),
    "exp": (1, np.exp),
    "log": (1, np.log),
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "sinh": (1, np.sinh),
    "cosh": (1, np.cosh),
    "tanh": (1, np.tanh),
    "arcsin": (1, np.arcsin),
    "arccos": (1, np.arccos),
    "arctan": (1, np.arctan),
    "atan2": (2, np.arctan2),
    "min": (None, np.minimum),
    "max": (None, np.maximum),
}

# Functions that only derivatives produce; the parser never accepts them
# because their names are not in ALLOWED_FUNCTIONS.
_INTERNAL_FUNCTIONS: dict[str, Callable] = {
    "sign": np.sign,
    "if_less_equal": lambda a, b, p, q: np.where(a <= b, p, q),
}


class ExpressionError(ValueError):
    """An expression that is refused (syntax, names) or cannot be evaluated (NaN, Inf)."""


@dataclass(frozen=True)
class Number:
    """A floating-point constant."""

    value: float


@dataclass(frozen=True)
class Variable:
    """One of the coordinates ``x``, ``y`` or the time ``t``."""

    name: str


@dataclass(frozen=True)
class Negate:
    """Unary minus."""

    operand: Node


@dataclass(frozen=True)
class Binary:
    """``left op right`` with ``op`` one of ``+ - * / ^``."""

    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """A whitelisted (or derivative-internal) function applied to arguments."""

    function: str
    arguments: tuple[Node, ...]


Node = Number | Variable | Negate | Binary | Call

ZERO = Number(0.0)
ONE = Number(1.0)

# Binding strength for printing with the fewest parentheses.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_number(value: float) -> str:
    if value == math.pi:
        return "pi"
    if value == math.e:
        return "e"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def to_text(node: Node, parent_precedence: int = 0, parent_operator: str = "") -> str:
    """Print ``node`` in the case-file syntax (with ``^`` for power).

    ``parent_operator`` is set only when ``node`` is the right operand of a
    binary operator, where ``a - (b + c)`` and ``a / (b * c)`` need brackets
    although the precedences are equal.
    """
    if isinstance(node, Number):
        text = _format_number(node.value)
        needs = node.value < 0 and parent_precedence > 0
        return f"({text})" if needs else text
    if isinstance(node, Variable):
        return node.name
    if isinstance(node, Negate):
        precedence = _PRECEDENCE["neg"]
        text = "-" + to_text(node.operand, precedence)
        # 2*(-x) reads better than 2*-x, and (-x)^2 is not -x^2
        return f"({text})" if parent_precedence >= _PRECEDENCE["*"] else text
    if isinstance(node, Call):
        return f"{node.function}({', '.join(to_text(a) for a in node.arguments)})"
    precedence = _PRECEDENCE[node.operator]
    if node.operator == "^":
        # right associative: a^b^c = a^(b^c)
        left = to_text(node.left, precedence + 1)
        right = to_text(node.right, precedence)
        text = f"{left}^{right}"
    else:
        left = to_text(node.left, precedence)
        right = to_text(node.right, precedence, node.operator)
        spaced = node.operator in "+-"
        text = f"{left} {node.operator} {right}" if spaced else f"{left}{node.operator}{right}"
    tighter = parent_precedence > precedence
    same_on_right = parent_precedence == precedence and parent_operator in ("-", "/")
    return f"({text})" if tighter or same_on_right else text


_BINARY_FUNCTIONS: dict[str, Callable] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
}


def _function(name: str) -> Callable:
    if name in ALLOWED_FUNCTIONS:
        return ALLOWED_FUNCTIONS[name][1]
    return _INTERNAL_FUNCTIONS[name]


def _depends_on(node: Node, variable: str) -> bool:
    if isinstance(node, Number):
        return False
    if isinstance(node, Variable):
        return node.name == variable
    if isinstance(node, Negate):
        return _depends_on(node.operand, variable)
    if isinstance(node, Call):
        return any(_depends_on(argument, variable) for argument in node.arguments)
    return _depends_on(node.left, variable) or _depends_on(node.right, variable)


def _substitute(node: Node, variable: str, value: float) -> Node:
    if isinstance(node, Variable):
        return Number(value) if node.name == variable else node
    if isinstance(node, Number):
        return node
    if isinstance(node, Negate):
        return Negate(_substitute(node.operand, variable, value))
    if isinstance(node, Binary):
        return Binary(
            node.operator,
            _substitute(node.left, variable, value),
            _substitute(node.right, variable, value),
        )
    return Call(
        node.function, tuple(_substitute(a, variable, value) for a in node.arguments)
    )


def _names_written(node: Node) -> set[str]:
    """Variables appearing in the tree (even where simplification could drop them)."""
    if isinstance(node, Variable):
        return {node.name}
    if isinstance(node, Number):
        return set()
    if isinstance(node, Negate):
        return _names_written(node.operand)
    if isinstance(node, Binary):
        return _names_written(node.left) | _names_written(node.right)
    names: set[str] = set()
    for argument in node.arguments:
        names |= _names_written(argument)
    return names
