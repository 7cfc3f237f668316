"""The extreme singular values of GMRES's Hessenberg matrices against LAPACK's SVD."""

import importlib

import numpy as np
import pytest

extreme_singular_values = importlib.import_module(
    "solvers._singular_values").extreme_singular_values


def _hessenberg(rng, cols, complex_, condition=1.0, scale=1.0):
    matrix = rng.standard_normal((cols + 1, cols))
    if complex_:
        matrix = matrix + 1j * rng.standard_normal((cols + 1, cols))
    matrix = np.triu(matrix, -1) * np.logspace(0, -np.log10(condition), cols)
    return scale * matrix


def _assert_close(matrix, rows, cols):
    exact = np.linalg.svd(matrix[:rows, :cols], compute_uv=False)
    largest, smallest = extreme_singular_values(matrix, rows, cols)
    # backward stable: errors a small multiple of eps ||A||; bisection to 2^-40 relative
    assert largest == pytest.approx(exact[0], rel=2e-12)
    assert abs(smallest - exact[-1]) <= 2e-12 * exact[-1] + 1e-13 * exact[0]


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("cols", [1, 2, 5, 30])
@pytest.mark.parametrize("condition", [1.0, 1e6, 1e12])
def test_extreme_singular_values_equal_lapacks(rng, complex_, cols, condition):
    for _ in range(5):
        _assert_close(_hessenberg(rng, cols, complex_, condition), cols + 1, cols)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_no_square_overflows_or_underflows(rng, scale):
    _assert_close(_hessenberg(rng, 12, True, 1e3, scale), 13, 12)


def test_a_leading_block_of_a_larger_array_and_a_rank_deficient_one(rng):
    matrix = _hessenberg(rng, 30, False)
    _assert_close(matrix, 9, 8)  # GMRES passes the whole array and the cycle's steps
    matrix[:, 3] = matrix[:, 2]
    matrix[4, 3] = 0.0  # keeps it Hessenberg: column 3 a copy of column 2
    largest, smallest = extreme_singular_values(matrix, 31, 30)
    assert smallest <= 1e-13 * largest


def test_one_column_a_zero_matrix_and_entries_that_are_not_finite():
    assert extreme_singular_values(np.array([[3.0], [4.0]]), 2, 1) == pytest.approx((5.0, 5.0))
    assert extreme_singular_values(np.zeros((4, 3)), 4, 3) == (0.0, 0.0)
    for bad in (np.nan, np.inf):
        matrix = np.eye(4, 3)
        matrix[2, 1] = bad
        assert all(np.isnan(extreme_singular_values(matrix, 4, 3)))
