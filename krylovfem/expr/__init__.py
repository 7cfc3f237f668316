"""Whitelisted expressions: text from a case file turned into numpy functions.

A case file describes coefficients, right-hand sides and exact solutions as
strings such as ``"2*pi^2*sin(pi*x)*sin(pi*y)"``.  This package turns such a
string into a vectorised function of the coordinates ``x, y`` and the time
``t`` **without ever executing it**: Python's :mod:`ast` parser is used only to
build a syntax tree, which is then walked node by node; every node type, name
and function outside a small whitelist is refused.  The accepted tree is
translated into a tiny expression language of its own (:class:`Number`,
:class:`Variable`, :class:`Negate`, :class:`Binary`, :class:`Call`), which is
evaluated with numpy and differentiated symbolically, so that an exact
solution also yields its exact gradient for the :math:`H^1` error.

Grammar (``^`` and ``**`` both mean power, ``-x^2 = -(x^2)``)::

    expression := number | name | (expression) | -expression | +expression
                | expression op expression | function(expression, ...)
    op         := + | - | * | / | ^ | **
    name       := x | y | t | pi | e
    function   := sin cos tan exp log sqrt abs sinh cosh tanh
                  arcsin arccos arctan atan2 min max

Examples
--------
>>> import numpy as np
>>> u = compile_expression("sin(pi*x)*y^2")
>>> float(u(0.5, 2.0))
4.0
>>> [str(part) for part in u.gradient]
['pi*cos(pi*x)*y^2', 'sin(pi*x)*2*y']
>>> try:
...     compile_expression("x.__class__")
... except ExpressionError as error:
...     print(error)
expression 'x.__class__': attribute access is not allowed at column 1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from krylovfem.expr.calculus import differentiate, simplify
from krylovfem.expr.parse import parse_expression
from krylovfem.expr.tree import (
    _BINARY_FUNCTIONS,
    ALLOWED_FUNCTIONS,
    ALLOWED_NAMES,
    CONSTANTS,
    VARIABLES,
    Binary,
    ExpressionError,
    Negate,
    Node,
    Number,
    Variable,
    _depends_on,
    _function,
    _names_written,
    _shorten,
    _substitute,
    to_text,
)

__all__ = [
    "ALLOWED_FUNCTIONS",
    "ALLOWED_NAMES",
    "CONSTANTS",
    "VARIABLES",
    "Expression",
    "ExpressionError",
    "compile_expression",
]


def _evaluate(node: Node, values: dict[str, np.ndarray]) -> np.ndarray:
    if isinstance(node, Number):
        return np.asarray(node.value)
    if isinstance(node, Variable):
        return values[node.name]
    if isinstance(node, Negate):
        return np.negative(_evaluate(node.operand, values))
    if isinstance(node, Binary):
        left = _evaluate(node.left, values)
        right = _evaluate(node.right, values)
        return _BINARY_FUNCTIONS[node.operator](left, right)
    arguments = [_evaluate(argument, values) for argument in node.arguments]
    return _function(node.function)(*arguments)


def _variables_in(node: Node) -> frozenset[str]:
    return frozenset(name for name in VARIABLES if _depends_on(node, name))


@dataclass(frozen=True)
class Expression:
    r"""A compiled, whitelisted expression in ``x``, ``y``, ``t``.

    Call it with coordinate arrays: ``expression(x)``, ``expression(x, y)``
    or ``expression(x, y, t)`` (``t`` may also be given by keyword).  The
    result is a float64 array of the broadcast shape of the arguments; a
    constant expression is broadcast too.  Evaluation raises
    :class:`ExpressionError` on NaN, :math:`\pm\infty`, overflow or division
    by zero, naming the expression and the first offending point.

    Attributes
    ----------
    text : str
        The expression as written.
    tree : Node
        The simplified expression tree.
    where : str
        Where the expression was written (``"[problem] f"``), named first in every
        error its evaluation raises.
    """

    text: str
    tree: Node
    where: str = ""

    @property
    def variables(self) -> frozenset[str]:
        """The names among ``x, y, t`` the value depends on."""
        return _variables_in(self.tree)

    @property
    def is_constant(self) -> bool:
        """True when the expression depends on none of ``x, y, t``."""
        return isinstance(self.tree, Number)

    @property
    def constant_value(self) -> float:
        """The value of a constant expression."""
        if not isinstance(self.tree, Number):
            raise ValueError(f"expression {self.text!r} is not constant")
        return self.tree.value

    @property
    def gradient(self) -> tuple[Expression, Expression]:
        r"""The symbolic partial derivatives :math:`(\partial_x e, \partial_y e)`."""
        return tuple(self.derivative(name) for name in ("x", "y"))

    def derivative(self, variable: str) -> Expression:
        """The symbolic partial derivative with respect to ``x``, ``y`` or ``t``."""
        if variable not in VARIABLES:
            raise ValueError(f"variable must be one of {VARIABLES}, given {variable!r}")
        return Expression(f"d/d{variable} {self.text}",
                          _within_depth(self.text, differentiate, self.tree, variable),
                          f"{self.where} (d/d{variable})" if self.where else "")

    def __str__(self) -> str:
        return to_text(self.tree)

    def __call__(self, x, y=None, t=None) -> np.ndarray:
        """Evaluate at the points ``(x, y)`` and time ``t``; see the class docstring."""
        given = {"x": x, "y": y, "t": t}
        values: dict[str, np.ndarray] = {}
        for name in self.variables:
            if given[name] is None:
                raise ExpressionError(
                    f"{self._named()}expression {_shorten(self.text, 60)!r} uses {name!r}, "
                    f"which is not defined here"
                )
            values[name] = np.asarray(given[name], dtype=np.float64)
        shape = np.broadcast_shapes(
            *(np.shape(value) for value in given.values() if value is not None)
        )
        with np.errstate(all="raise", under="ignore"):
            try:
                result = _evaluate(self.tree, values)
            except FloatingPointError as error:
                raise ExpressionError(
                    f"{self._named()}expression {_shorten(self.text, 60)!r}: "
                    f"{_float_error_text(error)} when evaluated"
                ) from None
        result = np.broadcast_to(np.asarray(result, dtype=np.float64), shape)
        self._check_finite(result, values)
        return np.array(result)  # a writable copy, never a view of a broadcast

    def _named(self) -> str:
        """The start of an error message: where the expression was written, if known."""
        return f"{self.where}: " if self.where else ""

    def _check_finite(self, result: np.ndarray, values: dict[str, np.ndarray]) -> None:
        finite = np.isfinite(result)
        if finite.all():
            return
        index = np.unravel_index(np.flatnonzero(~finite)[0], result.shape)
        where = ", ".join(
            f"{name}={float(np.broadcast_to(value, result.shape)[index]):.6g}"
            for name, value in sorted(values.items())
        )
        value = float(result[index])
        raise ExpressionError(
            f"{self._named()}expression {_shorten(self.text, 60)!r}: value {value} "
            f"at {where or 'every point'}"
        )

    def coefficient(self, dim: int, *, time_dependent: bool = False) -> float | Callable:
        """The form the finite-element functions take: a number, or ``c(x[, y][, t])``.

        Parameters
        ----------
        dim : int
            1 for ``c(x)``, 2 for ``c(x, y)``.
        time_dependent : bool
            Append a ``t`` argument (heat equation data).

        Returns
        -------
        float or callable
            A plain float when the expression is constant (so assembly can
            use its cheaper constant path), else a vectorised callable.
        """
        if self.is_constant:
            value = self.constant_value
            if not time_dependent:
                return value
        if dim == 1:
            if time_dependent:
                return lambda x, t: self(x, None, t)
            return lambda x: self(x)
        if time_dependent:
            return lambda x, y, t: self(x, y, t)
        return lambda x, y: self(x, y)

    def at_time(self, time: float) -> Expression:
        """The expression with ``t`` replaced by the number ``time``."""
        return Expression(self.text, simplify(_substitute(self.tree, "t", float(time))),
                          self.where)


def _float_error_text(error: FloatingPointError) -> str:
    message = str(error)
    if "overflow" in message:
        return "overflow"
    if "divide" in message:
        return "division by zero"
    if "invalid" in message:
        return "invalid value (NaN)"
    return message


def compile_expression(text: str, *, allowed_variables: tuple[str, ...] = VARIABLES,
                       where: str = "") -> Expression:
    """Parse, whitelist and compile an expression.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"1 + x^2"``.
    allowed_variables : tuple of str
        The subset of ``x, y, t`` that may appear (``("x",)`` for a 1D
        stationary problem); a variable outside it is an error.
    where : str
        Where the text was written (``"[problem] f"``), for the messages of
        :class:`Expression`.

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        Refused syntax, names or functions, or a variable not allowed here.
    """
    tree = parse_expression(text)
    # checked before simplification, which may drop a variable (0*y)
    unexpected = sorted(_names_written(tree) - set(allowed_variables))
    if unexpected:
        name = unexpected[0]
        raise ExpressionError(
            f"expression {_shorten(text, 60)!r}: {name!r} is not a variable here; "
            f"allowed: {', '.join((*allowed_variables, 'pi', 'e'))}"
        )
    return Expression(text, _within_depth(text, simplify, tree), where)


def _within_depth(text: str, function: Callable, *arguments):
    """``function(*arguments)``, a tree walk that the parser's depth limit keeps shallow;
    should a tree still be too deep for Python's stack, the expression is refused."""
    try:
        return function(*arguments)
    except RecursionError:
        raise ExpressionError(f"expression {_shorten(text, 60)!r}: too deeply nested to "
                              f"simplify or differentiate") from None
