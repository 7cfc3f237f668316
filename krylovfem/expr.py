"""Whitelisted expressions: text from a case file turned into numpy functions.

A case file describes coefficients, right-hand sides and exact solutions as
strings such as ``"2*pi^2*sin(pi*x)*sin(pi*y)"``.  This module turns such a
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

import ast
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ALLOWED_FUNCTIONS",
    "ALLOWED_NAMES",
    "Expression",
    "ExpressionError",
    "compile_expression",
]

#: Longest expression text accepted; far above any real coefficient, far below
#: what could make the parser or the evaluator slow.
MAX_LENGTH = 2000
#: Deepest nesting accepted (parentheses, function calls, chained powers).
MAX_DEPTH = 60

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

_BINARY_OPERATORS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "^",
}


class ExpressionError(ValueError):
    """An expression that is refused (syntax, names) or cannot be evaluated (NaN, Inf)."""


# --------------------------------------------------------------------------------------
# The expression tree
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Parsing: ast tree -> whitelisted Node tree
# --------------------------------------------------------------------------------------
class _Parser:
    """Translate a Python ``ast`` tree into :data:`Node`, refusing everything else.

    ``column_map[i]`` is the 1-based column in the user's text of character ``i``
    of the rewritten text (``^`` became ``**``), so messages point at what the
    user typed.
    """

    def __init__(self, text: str, column_map: list[int]):
        self.text = text
        self.column_map = column_map

    def fail(self, message: str, node: ast.AST | None = None, hint: str = "") -> ExpressionError:
        where = ""
        if node is not None and hasattr(node, "col_offset"):
            offset = min(node.col_offset, len(self.column_map) - 1)
            where = f" at column {self.column_map[offset]}"
        hint = f"; {hint}" if hint else ""
        return ExpressionError(f"expression {self.text!r}: {message}{where}{hint}")

    def convert(self, node: ast.AST, depth: int = 0) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, ast.Expression):
            return self.convert(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(f"{_describe(node)} is not allowed", node)

    def constant(self, node: ast.Constant) -> Number:
        value = node.value
        # bool is an int subclass; complex and str are refused with their own words
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"constant {value!r} is not a real number", node)
        number = float(value) if abs(value) < 1e308 or isinstance(value, float) else math.inf
        if not math.isfinite(number):
            raise self.fail(f"number {_shorten(str(value))} overflows", node)
        return Number(number)

    def name(self, node: ast.Name) -> Node:
        if node.id in VARIABLES:
            return Variable(node.id)
        if node.id in CONSTANTS:
            return Number(CONSTANTS[node.id])
        hint = " (a function: call it with parentheses)" if node.id in ALLOWED_FUNCTIONS else ""
        raise self.fail(f"unknown name {node.id!r}{hint}{_suggest(node.id)}", node, _allowed_text())

    def unary(self, node: ast.UnaryOp, depth: int) -> Node:
        operand = self.convert(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return Negate(operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(f"operator {_operator_text(node.op)} is not allowed", node)

    def binary(self, node: ast.BinOp, depth: int) -> Node:
        operator = _BINARY_OPERATORS.get(type(node.op))
        if operator is None:
            raise self.fail(
                f"operator {_operator_text(node.op)} is not allowed", node, "use + - * / ^ **"
            )
        return Binary(
            operator, self.convert(node.left, depth + 1), self.convert(node.right, depth + 1)
        )

    def call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(
                f"calling {_describe(node.func)} is not allowed",
                node,
                f"only {', '.join(ALLOWED_FUNCTIONS)} may be called",
            )
        function = node.func.id
        if function not in ALLOWED_FUNCTIONS:
            raise self.fail(
                f"unknown function {function!r}{_suggest(function)}", node, _allowed_text()
            )
        if node.keywords:
            raise self.fail(f"{function}() takes no keyword arguments", node)
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise self.fail(f"{function}() takes no starred arguments", node)
        arity, _ = ALLOWED_FUNCTIONS[function]
        count = len(node.args)
        if arity is None and count < 2:
            raise self.fail(f"{function}() takes two or more arguments, given {count}", node)
        if arity is not None and count != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise self.fail(f"{function}() takes {arity} {plural}, given {count}", node)
        arguments = tuple(self.convert(argument, depth + 1) for argument in node.args)
        if arity is None:
            # min/max of many arguments: a left fold of the binary numpy function
            folded = Call(function, arguments[:2])
            for argument in arguments[2:]:
                folded = Call(function, (folded, argument))
            return folded
        return Call(function, arguments)


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "lambda",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator expression",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.IfExp: "a conditional expression",
        ast.NamedExpr: "an assignment expression",
        ast.Tuple: "a tuple",
        ast.List: "a list",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.JoinedStr: "a string",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.Starred: "a starred expression",
        ast.Slice: "a slice",
    }
    return names.get(type(node), type(node).__name__)


def _operator_text(operator: ast.AST) -> str:
    symbols = {
        ast.Mod: "%",
        ast.FloorDiv: "//",
        ast.MatMult: "@",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.Invert: "~",
        ast.Not: "not",
    }
    return symbols.get(type(operator), type(operator).__name__)


def _suggest(name: str) -> str:
    known = [*ALLOWED_NAMES, *ALLOWED_FUNCTIONS]
    close = [name.lower()] if name.lower() in known else difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_text() -> str:
    return (
        f"allowed names: {', '.join(ALLOWED_NAMES)}; "
        f"functions: {', '.join(ALLOWED_FUNCTIONS)}"
    )


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rewrite_power(text: str) -> tuple[str, list[int]]:
    """Replace ``^`` by ``**`` (Python's ``^`` is xor, with the wrong precedence).

    No string literal survives the whitelist, so a plain character replacement
    cannot change the meaning of anything that is later accepted.  Returns the
    rewritten text and, for each of its characters, the 1-based column of the
    character in the original text.
    """
    pieces: list[str] = []
    columns: list[int] = []
    for index, character in enumerate(text):
        if character == "^":
            pieces.append("**")
            columns.extend((index + 1, index + 1))
        else:
            pieces.append(character)
            columns.append(index + 1)
    columns.append(len(text) + 1)
    return "".join(pieces), columns


def parse_expression(text: str) -> Node:
    """Parse and whitelist ``text`` into an expression tree.

    Parameters
    ----------
    text : str
        The expression as written in the case file.

    Returns
    -------
    Node
        The tree as written (not yet simplified).

    Raises
    ------
    ExpressionError
        For anything outside the grammar in the module docstring; the message
        quotes the expression and names the offending piece and its column.
    """
    if not isinstance(text, str):
        raise ExpressionError(
            f"expression {text!r}: an expression must be a string, given {type(text).__name__}"
        )
    shown = _shorten(text, 60)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression {shown!r}: longer than {MAX_LENGTH} characters ({len(text)})"
        )
    if not text.strip():
        raise ExpressionError(f"expression {text!r}: empty expression")
    if "\x00" in text or any(not character.isprintable() for character in text.strip()):
        raise ExpressionError(f"expression {shown!r}: contains control characters")
    rewritten, columns = _rewrite_power(text.strip())
    try:
        tree = ast.parse(rewritten, mode="eval")
    except SyntaxError as error:
        offset = error.offset or 1
        column = columns[min(max(offset - 1, 0), len(columns) - 1)]
        # the leading strip() shifted columns by the removed indentation
        column += len(text) - len(text.lstrip())
        reason = _syntax_reason(rewritten, error)
        raise ExpressionError(f"expression {shown!r}: {reason} at column {column}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(
            f"expression {shown!r}: nested more than {MAX_DEPTH} levels deep"
        ) from None
    parser = _Parser(shown, [c + len(text) - len(text.lstrip()) for c in columns])
    try:
        node = parser.convert(tree)
    except RecursionError:
        raise ExpressionError(
            f"expression {shown!r}: nested more than {MAX_DEPTH} levels deep"
        ) from None
    return node


def _syntax_reason(text: str, error: SyntaxError) -> str:
    if text.count("(") != text.count(")"):
        return "unbalanced parentheses"
    message = error.msg or "invalid syntax"
    if "nested" in message or "too many" in message:
        return f"nested more than {MAX_DEPTH} levels deep"
    return f"syntax error ({message})"


# --------------------------------------------------------------------------------------
# Printing, simplification, differentiation
# --------------------------------------------------------------------------------------
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


def _mul(*factors: Node) -> Node:
    product = factors[0]
    for factor in factors[1:]:
        product = Binary("*", product, factor)
    return product


def _div(numerator: Node, denominator: Node) -> Node:
    return Binary("/", numerator, denominator)


def _power(base: Node, exponent: float) -> Node:
    return Binary("^", base, Number(exponent))


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


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
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
    """

    text: str
    tree: Node

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
        return tuple(
            Expression(f"d/d{name} {self.text}", differentiate(self.tree, name))
            for name in ("x", "y")
        )

    def derivative(self, variable: str) -> Expression:
        """The symbolic partial derivative with respect to ``x``, ``y`` or ``t``."""
        if variable not in VARIABLES:
            raise ValueError(f"variable must be one of {VARIABLES}, given {variable!r}")
        return Expression(f"d/d{variable} {self.text}", differentiate(self.tree, variable))

    def __str__(self) -> str:
        return to_text(self.tree)

    def __call__(self, x, y=None, t=None) -> np.ndarray:
        """Evaluate at the points ``(x, y)`` and time ``t``; see the class docstring."""
        given = {"x": x, "y": y, "t": t}
        values: dict[str, np.ndarray] = {}
        for name in self.variables:
            if given[name] is None:
                raise ExpressionError(
                    f"expression {_shorten(self.text, 60)!r} uses {name!r}, "
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
                    f"expression {_shorten(self.text, 60)!r}: {_float_error_text(error)} "
                    f"when evaluated"
                ) from None
        result = np.broadcast_to(np.asarray(result, dtype=np.float64), shape)
        self._check_finite(result, values)
        return np.array(result)  # a writable copy, never a view of a broadcast

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
            f"expression {_shorten(self.text, 60)!r}: value {value} "
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
        return Expression(self.text, simplify(_substitute(self.tree, "t", float(time))))


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


def _float_error_text(error: FloatingPointError) -> str:
    message = str(error)
    if "overflow" in message:
        return "overflow"
    if "divide" in message:
        return "division by zero"
    if "invalid" in message:
        return "invalid value (NaN)"
    return message


def compile_expression(text: str, *, allowed_variables: tuple[str, ...] = VARIABLES) -> Expression:
    """Parse, whitelist and compile an expression.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"1 + x^2"``.
    allowed_variables : tuple of str
        The subset of ``x, y, t`` that may appear (``("x",)`` for a 1D
        stationary problem); a variable outside it is an error.

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
    return Expression(text, simplify(tree))


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
