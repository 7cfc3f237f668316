"""Simplification and symbolic differentiation of expression trees.

:func:`simplify` folds constants and drops neutral elements, so that an exact
solution's derivatives print and evaluate without dead terms; :func:`differentiate`
gives the exact gradient used by the :math:`H^1` error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from krylovfem.expr.tree import (
    _BINARY_FUNCTIONS,
    ONE,
    ZERO,
    Binary,
    Call,
    Negate,
    Node,
    Number,
    Variable,
    _depends_on,
    _function,
)


def _is_number(node: Node, value: float | None = None) -> bool:
    return isinstance(node, Number) and (value is None or node.value == value)


def _fold(function: Callable, *values: float) -> Number | None:
    """Evaluate a constant subtree now, unless it is not a finite real number."""
    with np.errstate(all="ignore"):
        result = float(function(*values))
    return Number(result) if math.isfinite(result) else None


def simplify(node: Node) -> Node:
    """Fold constants and drop neutral elements (``0 + a``, ``1 * a``, ``a ^ 1``).

    The rules never change the value where the original is finite; a constant
    subtree that is not finite (``1/0``) is left alone so that evaluation
    reports it.
    """
    if isinstance(node, Number | Variable):
        return node
    if isinstance(node, Negate):
        operand = simplify(node.operand)
        if isinstance(operand, Number):
            return Number(-operand.value)
        if isinstance(operand, Negate):
            return operand.operand
        return Negate(operand)
    if isinstance(node, Call):
        arguments = tuple(simplify(argument) for argument in node.arguments)
        if all(isinstance(argument, Number) for argument in arguments):
            folded = _fold(_function(node.function), *(a.value for a in arguments))
            if folded is not None:
                return folded
        return Call(node.function, arguments)
    return _simplify_binary(node.operator, simplify(node.left), simplify(node.right))


def _simplify_binary(operator: str, left: Node, right: Node) -> Node:
    if isinstance(left, Number) and isinstance(right, Number):
        folded = _fold(_BINARY_FUNCTIONS[operator], left.value, right.value)
        if folded is not None:
            return folded
    if operator == "+":
        if _is_number(left, 0.0):
            return right
        if _is_number(right, 0.0):
            return left
        if isinstance(right, Negate):
            return _simplify_binary("-", left, right.operand)
    elif operator == "-":
        if _is_number(right, 0.0):
            return left
        if _is_number(left, 0.0):
            return simplify(Negate(right))
    elif operator == "*":
        if _is_number(left, 0.0) or _is_number(right, 0.0):
            return ZERO
        if _is_number(left, 1.0):
            return right
        if _is_number(right, 1.0):
            return left
        if _is_number(left, -1.0):
            return simplify(Negate(right))
        if isinstance(right, Number) and not isinstance(left, Number):
            # constants first: 2*x rather than x*2
            return _simplify_binary("*", right, left)
        if isinstance(left, Negate):
            return simplify(Negate(Binary("*", left.operand, right)))
        if isinstance(right, Negate):
            return simplify(Negate(Binary("*", left, right.operand)))
        if isinstance(right, Binary) and right.operator == "/" and _is_number(right.left, 1.0):
            return _simplify_binary("/", left, right.right)
        if isinstance(left, Binary) and left.operator == "/" and _is_number(left.left, 1.0):
            return _simplify_binary("/", right, left.right)
    elif operator == "/":
        if _is_number(left, 0.0) and not _is_number(right, 0.0):
            return ZERO
        if _is_number(right, 1.0):
            return left
    elif operator == "^":
        if _is_number(right, 1.0):
            return left
        if _is_number(right, 0.0):
            return ONE
    return Binary(operator, left, right)


def _mul(*factors: Node) -> Node:
    product = factors[0]
    for factor in factors[1:]:
        product = Binary("*", product, factor)
    return product


def _div(numerator: Node, denominator: Node) -> Node:
    return Binary("/", numerator, denominator)


def _power(base: Node, exponent: float) -> Node:
    return Binary("^", base, Number(exponent))


def differentiate(node: Node, variable: str) -> Node:
    r"""The partial derivative :math:`\partial e / \partial v`, simplified.

    Non-smooth functions get their usual one-sided choices:
    :math:`|u|' = \operatorname{sign}(u)\,u'`, and ``min``/``max`` take the
    derivative of the argument that is active (the first one on ties).
    """
    return simplify(_derivative(node, variable))


def _derivative(node: Node, variable: str) -> Node:
    if not _depends_on(node, variable):
        return ZERO
    if isinstance(node, Variable):
        return ONE
    if isinstance(node, Negate):
        return Negate(_derivative(node.operand, variable))
    if isinstance(node, Binary):
        return _derivative_binary(node, variable)
    return _derivative_call(node, variable)


def _derivative_binary(node: Binary, variable: str) -> Node:
    left, right = node.left, node.right
    d_left, d_right = _derivative(left, variable), _derivative(right, variable)
    if node.operator in "+-":
        return Binary(node.operator, d_left, d_right)
    if node.operator == "*":
        return Binary("+", _mul(d_left, right), _mul(left, d_right))
    if node.operator == "/":
        if not _depends_on(right, variable):
            return _div(d_left, right)
        return _div(Binary("-", _mul(d_left, right), _mul(left, d_right)), _power(right, 2.0))
    # power u^v
    if not _depends_on(right, variable):
        # v u^(v-1) u': defined for negative u and integer v, unlike the general rule
        return _mul(right, Binary("^", left, Binary("-", right, ONE)), d_left)
    # d(u^v) = u^v (v' log u + v u'/u)
    return _mul(
        node,
        Binary("+", _mul(d_right, Call("log", (left,))), _div(_mul(right, d_left), left)),
    )


def _derivative_call(node: Call, variable: str) -> Node:
    name, arguments = node.function, node.arguments
    if name in ("min", "max"):
        first, second = arguments
        d_first, d_second = _derivative(first, variable), _derivative(second, variable)
        if name == "min":
            return Call("if_less_equal", (first, second, d_first, d_second))
        return Call("if_less_equal", (second, first, d_first, d_second))
    if name == "atan2":
        # atan2(a, b) = angle of (b, a): d = (b a' - a b') / (a^2 + b^2)
        a, b = arguments
        numerator = Binary(
            "-", _mul(b, _derivative(a, variable)), _mul(a, _derivative(b, variable))
        )
        return _div(numerator, Binary("+", _power(a, 2.0), _power(b, 2.0)))
    if name == "sign":
        return ZERO
    (argument,) = arguments
    return _mul(_outer_derivative(name, argument), _derivative(argument, variable))


def _outer_derivative(name: str, u: Node) -> Node:
    """f'(u) for the one-argument functions."""
    one_minus_square = Binary("-", ONE, _power(u, 2.0))
    rules: dict[str, Callable[[], Node]] = {
        "sin": lambda: Call("cos", (u,)),
        "cos": lambda: Negate(Call("sin", (u,))),
        "tan": lambda: _div(ONE, _power(Call("cos", (u,)), 2.0)),
        "exp": lambda: Call("exp", (u,)),
        "log": lambda: _div(ONE, u),
        "sqrt": lambda: _div(ONE, _mul(Number(2.0), Call("sqrt", (u,)))),
        "abs": lambda: Call("sign", (u,)),
        "sinh": lambda: Call("cosh", (u,)),
        "cosh": lambda: Call("sinh", (u,)),
        "tanh": lambda: Binary("-", ONE, _power(Call("tanh", (u,)), 2.0)),
        "arcsin": lambda: _div(ONE, Call("sqrt", (one_minus_square,))),
        "arccos": lambda: Negate(_div(ONE, Call("sqrt", (one_minus_square,)))),
        "arctan": lambda: _div(ONE, Binary("+", ONE, _power(u, 2.0))),
    }
    return rules[name]()
