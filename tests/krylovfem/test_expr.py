"""The whitelisted expression compiler: values, symbolic gradients, refusals."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import krylovfem.expr
from krylovfem.expr import ExpressionError, compile_expression

RNG = np.random.default_rng(20261126)
X = RNG.uniform(0.1, 0.9, 25)
Y = RNG.uniform(0.1, 0.9, 25)
T = RNG.uniform(0.0, 2.0, 25)

# expression text -> the same function written directly in numpy
VALUE_CASES = {
    "1 + x^2": lambda x, y, t: 1 + x**2,
    "2*x^2": lambda x, y, t: 2 * x**2,
    "-x^2": lambda x, y, t: -(x**2),
    "(-x)^2": lambda x, y, t: x**2,
    "2^3^x": lambda x, y, t: 2.0 ** (3.0**x),
    "x**y": lambda x, y, t: x**y,
    "x - (y + 1)": lambda x, y, t: x - y - 1,
    "x / (y * 2)": lambda x, y, t: x / (2 * y),
    "x - y - 1": lambda x, y, t: x - y - 1,
    "x / y / 2": lambda x, y, t: x / y / 2,
    "2*pi^2*sin(pi*x)*sin(pi*y)": lambda x, y, t: 2 * np.pi**2 * np.sin(np.pi * x)
    * np.sin(np.pi * y),
    "exp(-t)*cos(x)*tan(y)": lambda x, y, t: np.exp(-t) * np.cos(x) * np.tan(y),
    "log(1 + x) + sqrt(y) + abs(x - y)": lambda x, y, t: np.log(1 + x) + np.sqrt(y)
    + np.abs(x - y),
    "sinh(x) * cosh(y) - tanh(x*y)": lambda x, y, t: np.sinh(x) * np.cosh(y) - np.tanh(x * y),
    "arcsin(x) + arccos(y) + arctan(x/y)": lambda x, y, t: np.arcsin(x) + np.arccos(y)
    + np.arctan(x / y),
    "atan2(y - 0.5, x - 0.5)": lambda x, y, t: np.arctan2(y - 0.5, x - 0.5),
    "min(x, y) + max(x, y, 0.5)": lambda x, y, t: np.minimum(x, y)
    + np.maximum(np.maximum(x, y), 0.5),
    "e^x + 1e-3*t": lambda x, y, t: np.exp(x) + 1e-3 * t,
    "+x": lambda x, y, t: x,
    "3": lambda x, y, t: np.full_like(x, 3.0),
}


@pytest.mark.parametrize("text", VALUE_CASES)
def test_values_equal_numpy(text):
    expected = VALUE_CASES[text](X, Y, T)
    np.testing.assert_allclose(compile_expression(text)(X, Y, T), expected, rtol=1e-13)


def test_power_binds_tighter_than_product_and_is_right_associative():
    assert compile_expression("2*3^2")(0.0) == 18.0
    assert compile_expression("2^3^2")(0.0) == 512.0
    assert compile_expression("-2^2")(0.0) == -4.0


# expressions with their gradients derived by hand
GRADIENT_CASES = {
    "sin(pi*x)*sin(pi*y)": (
        lambda x, y: np.pi * np.cos(np.pi * x) * np.sin(np.pi * y),
        lambda x, y: np.pi * np.sin(np.pi * x) * np.cos(np.pi * y),
    ),
    "x^2*y^3": (lambda x, y: 2 * x * y**3, lambda x, y: 3 * x**2 * y**2),
    "exp(x*y)/(1 + x)": (
        lambda x, y: np.exp(x * y) * (y * (1 + x) - 1) / (1 + x) ** 2,
        lambda x, y: x * np.exp(x * y) / (1 + x),
    ),
    "atan2(y, x)": (lambda x, y: -y / (x**2 + y**2), lambda x, y: x / (x**2 + y**2)),
}


@pytest.mark.parametrize("text", GRADIENT_CASES)
def test_gradient_equals_hand_derivation(text):
    d_dx, d_dy = compile_expression(text).gradient
    exact_dx, exact_dy = GRADIENT_CASES[text]
    np.testing.assert_allclose(d_dx(X, Y), exact_dx(X, Y), rtol=1e-12)
    np.testing.assert_allclose(d_dy(X, Y), exact_dy(X, Y), rtol=1e-12)


@pytest.mark.parametrize(
    "text",
    [
        *[text for text in VALUE_CASES if "t" not in text.replace("atan", "").replace("sqrt", "")],
        "x^y",
        "x^(1/3) + y^-2",
        "sqrt(x^2 + y^2)",
        "tan(x)*arctan(y)",
        "arccos(x*y)*arcsin(x - y)",
        "log(x)*log(y)",
        "cosh(x - y)*sinh(x*y)*tanh(y)",
    ],
)
def test_gradient_matches_central_differences(text):
    expression = compile_expression(text)
    step = 1e-6
    d_dx, d_dy = expression.gradient
    differences_x = (expression(X + step, Y) - expression(X - step, Y)) / (2 * step)
    differences_y = (expression(X, Y + step) - expression(X, Y - step)) / (2 * step)
    # min/max/abs are not differentiable where two arguments meet; the random
    # points avoid those sets
    np.testing.assert_allclose(d_dx(X, Y), differences_x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d_dy(X, Y), differences_y, rtol=1e-6, atol=1e-6)


def test_time_derivative_and_substitution():
    expression = compile_expression("exp(-2*t)*sin(x)")
    np.testing.assert_allclose(
        expression.derivative("t")(X, None, T), -2 * np.exp(-2 * T) * np.sin(X), rtol=1e-14
    )
    at_one = expression.at_time(1.0)
    assert at_one.variables == {"x"}
    np.testing.assert_allclose(at_one(X), np.exp(-2.0) * np.sin(X), rtol=1e-14)


def test_coefficient_forms():
    assert compile_expression("2*pi").coefficient(2) == pytest.approx(2 * math.pi)
    one_dimensional = compile_expression("1 + x").coefficient(1)
    np.testing.assert_array_equal(one_dimensional(X), 1 + X)
    two_dimensional = compile_expression("x*y").coefficient(2)
    np.testing.assert_array_equal(two_dimensional(X, Y), X * Y)
    heat = compile_expression("t*x").coefficient(1, time_dependent=True)
    np.testing.assert_array_equal(heat(X, 0.5), 0.5 * X)
    constant_in_time = compile_expression("4").coefficient(2, time_dependent=True)
    np.testing.assert_array_equal(constant_in_time(X, Y, 1.0), np.full(X.shape, 4.0))


def test_constant_expression_is_broadcast_to_the_points():
    value = compile_expression("1 + 2")(X, Y)
    assert value.shape == X.shape
    assert value.flags.writeable


def test_printing_round_trips():
    for text in [*VALUE_CASES, *GRADIENT_CASES]:
        expression = compile_expression(text)
        reparsed = compile_expression(str(expression))
        np.testing.assert_allclose(reparsed(X, Y, T), expression(X, Y, T), rtol=1e-13)
        for part in expression.gradient:
            if "sign(" in str(part) or "if_less_equal(" in str(part):
                continue  # derivative-only functions are not part of the input language
            np.testing.assert_allclose(
                compile_expression(str(part))(X, Y, T), part(X, Y, T), rtol=1e-13
            )


ATTACKS = {
    "__import__('os').system('touch /tmp/krylovfem-pwned')": "not allowed",
    "__import__": "unknown name '__import__'",
    "x.__class__": "attribute access",
    "().__class__.__bases__[0].__subclasses__()": "not allowed",
    "np.sin(x)": "attribute access",
    "lambda: 1": "lambda",
    "(lambda x: x)(1)": "not allowed",
    "x[0]": "subscripting",
    "[x for x in (1, 2)]": "comprehension",
    "{x: 1 for x in (1,)}": "comprehension",
    "sum(x for x in (1, 2))": "unknown function 'sum'",
    "eval('1')": "unknown function 'eval'",
    "exec('1')": "unknown function 'exec'",
    "open('/etc/passwd')": "unknown function 'open'",
    "getattr(x, 'real')": "unknown function 'getattr'",
    "sin(x=1)": "keyword",
    "max(*(1, 2))": "starred",
    "'abc'": "not a real number",
    "b'abc'": "not a real number",
    "1j": "not a real number",
    "True": "not a real number",
    "None": "not a real number",
    "x if y else 1": "conditional",
    "x < y": "comparison",
    "x and y": "boolean",
    "(x := 1)": "assignment",
    "x % 2": "operator %",
    "x // 2": "operator //",
    "x @ y": "operator @",
    "x | y": "operator |",
    "~x": "operator ~",
    "not x": "operator not",
    "(x, y)": "tuple",
    "f'{x}'": "string",
    "x; y": "syntax error",
    "x = 1": "syntax error",
    "import os": "syntax error",
    "((x)": "unbalanced parentheses",
    "sin(x))": "unbalanced parentheses",
    "x +": "syntax error",
    "": "empty",
    "   ": "empty",
    "x\ny": "control characters",
    "x\x00": "control characters",
    "sin": "call it with parentheses",
    "sine(x)": "did you mean 'sin'",
    "Pi": "did you mean 'pi'",
    "sin(x, y)": "takes 1 argument, given 2",
    "atan2(x)": "takes 2 arguments, given 1",
    "min(x)": "two or more arguments",
    "1e999": "overflows",
    "9" * 400: "overflows",
    "x" + "+x" * 1500: "longer than 2000 characters",
    "(" * 300 + "x" + ")" * 300: "nested more than",
    "sin(" * 70 + "x" + ")" * 70: "nested more than",
    "-" * 500 + "x": "nested more than",
    "x" + "^x" * 200: "nested more than",
}


@pytest.mark.parametrize("text", ATTACKS, ids=lambda text: repr(text[:30]))
def test_refused_expressions_name_the_problem(text, tmp_path):
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text)
    message = str(raised.value)
    assert ATTACKS[text] in message
    assert message.startswith("expression ")
    assert "\n" not in message
    assert not __import__("os").path.exists("/tmp/krylovfem-pwned")


def test_error_names_the_column_of_the_offending_piece():
    with pytest.raises(ExpressionError, match=r"syntax error .* at column 9"):
        compile_expression("1 + x^2 z")
    with pytest.raises(ExpressionError, match=r"unknown name 'z' at column 9"):
        compile_expression("1 + x^2*z")
    with pytest.raises(ExpressionError, match=r"attribute access is not allowed at column 5"):
        compile_expression("2 + x.real")


def test_variables_outside_the_problem_are_refused():
    with pytest.raises(ExpressionError, match="'y' is not a variable here"):
        compile_expression("x + y", allowed_variables=("x",))
    with pytest.raises(ExpressionError, match="'t' is not a variable here"):
        compile_expression("0*t + x", allowed_variables=("x", "y"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("log(x - 0.5)", "invalid value"),
        ("sqrt(-x)", "invalid value"),
        ("1/(x - x)", "division by zero"),
        ("1/0", "division by zero"),
        ("exp(1000*x)", "overflow"),
        ("10^(300 + 100*x)", "overflow"),
        ("arcsin(2 + x)", "invalid value"),
    ],
)
def test_non_finite_values_are_errors(text, reason):
    with pytest.raises(ExpressionError, match=reason) as raised:
        compile_expression(text)(X, Y)
    assert repr(text) in str(raised.value)


def test_missing_coordinate_is_an_error():
    with pytest.raises(ExpressionError, match="uses 'y'"):
        compile_expression("x*y")(X)


def test_package_never_evaluates_text():
    """No call of eval, exec, compile or __import__ in any module of krylovfem.expr."""
    folder = Path(krylovfem.expr.__file__).parent
    modules = sorted(folder.glob("*.py"))
    assert {path.stem for path in modules} >= {"__init__", "tree", "parse", "calculus"}
    for path in modules:
        called = {
            node.func.id
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert not called & {"eval", "exec", "compile", "__import__", "getattr"}, path.name


def test_max_of_many_arguments_stays_shallow():
    """600 arguments fold into a balanced tree: value and derivative as for two."""
    terms = ["x"] * 599 + ["2*x"]  # 1800 characters, within the length limit
    expression = compile_expression("max(" + ",".join(terms) + ")")
    np.testing.assert_allclose(expression(X), 2 * X)
    np.testing.assert_allclose(expression.gradient[0](X), np.full_like(X, 2.0))
    np.testing.assert_allclose(compile_expression("min(" + ",".join(terms) + ")")(X), X)
