"""Parsing: Python's :mod:`ast` tree of the text, walked node by node into a whitelisted tree.

Nothing is ever executed: :func:`ast.parse` only builds the syntax tree, and every node
type, name and function outside the whitelist of :mod:`krylovfem.expr.tree` is refused
with a message that says what was written and what is allowed.
"""

from __future__ import annotations

import ast
import difflib
import math

from krylovfem.expr.tree import (
    ALLOWED_FUNCTIONS,
    ALLOWED_NAMES,
    CONSTANTS,
    VARIABLES,
    Binary,
    Call,
    ExpressionError,
    Negate,
    Node,
    Number,
    Variable,
    _shorten,
)

#: what could make the parser or the evaluator slow.
MAX_LENGTH = 2000
#: Deepest nesting accepted (parentheses, function calls, chained powers).
MAX_DEPTH = 60


_BINARY_OPERATORS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "^",
}


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
            return _balanced(function, arguments)
        return Call(function, arguments)


def _balanced(function: str, arguments: tuple[Node, ...]) -> Node:
    """min/max of many arguments as a balanced tree of the binary numpy function.

    Its depth grows like log2 of the count (a left fold's would grow like the count,
    past what the recursive simplifier can follow); ties still go to the leftmost
    argument, which the derivative of min/max relies on.
    """
    if len(arguments) == 1:
        return arguments[0]
    middle = len(arguments) // 2
    return Call(function, (_balanced(function, arguments[:middle]),
                           _balanced(function, arguments[middle:])))


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
