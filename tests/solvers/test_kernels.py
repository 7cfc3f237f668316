"""The CSR and vector kernels keep the summation order they document, bit for bit."""

import importlib

import numpy as np
import pytest
import scipy.sparse as sp

_csr = importlib.import_module("solvers._csr")
_gram_schmidt = importlib.import_module("solvers._gram_schmidt")


def _four_partial_sums(x, y, lo, hi):
    """The documented order: lanes i - lo mod 4, then (s0 + s1) + (s2 + s3)."""
    sums = [0.0, 0.0, 0.0, 0.0]
    blocks = (hi - lo) // 4
    for i in range(lo, lo + 4 * blocks):
        sums[(i - lo) % 4] += float(x[i] * y[i])
    for i in range(lo + 4 * blocks, hi):
        sums[0] += float(x[i] * y[i])
    return (sums[0] + sums[1]) + (sums[2] + sums[3])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("lo", "hi"), [(0, 0), (0, 3), (0, 101), (5, 64), (7, 1000)])
def test_dot_rows_sums_in_the_documented_order(rng, dtype, lo, hi):
    x = rng.standard_normal(1000).astype(dtype)
    y = rng.standard_normal(1000).astype(dtype)
    assert _csr.dot(x[lo:hi], y[lo:hi], None) == _four_partial_sums(x, y, lo, hi)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_dot_is_hermitian_and_exact_in_the_documented_order(rng, dtype):
    x = (rng.standard_normal(101) + 1j * rng.standard_normal(101)).astype(dtype)
    y = (rng.standard_normal(101) + 1j * rng.standard_normal(101)).astype(dtype)
    result = _csr.dot(x, y, None)
    if dtype == np.complex128:
        # the float64 views in four lanes: real parts of x_i^H y_i in lanes 2 (i mod 2)
        # and 2 (i mod 2) + 1, imaginary parts likewise with y's parts exchanged
        xf, yf = x.view(np.float64).tolist(), y.view(np.float64).tolist()
        re, im = [0.0] * 4, [0.0] * 4
        for k in range(200):  # the first 100 elements: 50 pairs
            re[k % 4] += xf[k] * yf[k]
            im[k % 4] += xf[k] * yf[k ^ 1]
        real_part, imaginary_part = (re[0] + re[1]) + (re[2] + re[3]), \
            (im[0] - im[1]) + (im[2] - im[3])
        last = (x[100].real, x[100].imag, y[100].real, y[100].imag)
        real_part += float(last[0]) * float(last[2]) + float(last[1]) * float(last[3])
        imaginary_part += float(last[0]) * float(last[3]) - float(last[1]) * float(last[2])
        assert result == complex(real_part, imaginary_part)
    else:  # four complex partial sums of products rounded to complex64 first
        sums = [0j, 0j, 0j, 0j]
        for i in range(100):
            sums[i % 4] += complex(np.conj(x[i])) * complex(y[i])
        sums[0] += complex(np.conj(x[100])) * complex(y[100])
        expected = (sums[0] + sums[1]) + (sums[2] + sums[3])
        assert abs(result - expected) <= 1e-6 * np.linalg.norm(x) * np.linalg.norm(y)
    assert abs(result - np.vdot(x, y)) <= 1e-6 * np.linalg.norm(x) * np.linalg.norm(y)


def test_chunked_results_do_not_depend_on_the_thread_count(rng):
    # Chunks come from the matrix, not from the threads: the same bits with 1 or 2 threads.
    import numba

    A = sp.random_array((50_000, 50_000), density=1e-4, rng=rng, format="csr")
    A = sp.csr_array(A + sp.identity(50_000))
    bounds = _csr.row_chunks(A.indptr)
    assert bounds.size > 2
    x = rng.standard_normal(50_000)
    indices = A.indices.astype(np.int32).view(np.uint32)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        y = np.empty_like(x)
        results.append((_csr.spmv_dot(A.indptr, indices, A.data, x, y, bounds), y))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][1], results[1][1])
    assert np.allclose(results[0][1], A @ x, rtol=1e-13, atol=1e-13)


# --- complex updates in SIMD pairs: the bits of the scalar complex loops -----------------

@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("n", [1, 3, 8, 101])
@pytest.mark.parametrize("count", [1, 3, 4, 9])
def test_complex_gram_schmidt_updates_in_pairs_equal_the_scalar_loops(rng, dtype, n, count):
    # complex64 parts are widened to float64 in the pairs and rounded once on storing:
    # not the scalar loop's bits, but within one rounding of the exact update
    exact_bits = dtype == np.complex128
    V = (rng.standard_normal((count + 2, n)) + 1j * rng.standard_normal((count + 2, n)))
    V = V.astype(dtype)
    h = (rng.standard_normal(count + 2) + 1j * rng.standard_normal(count + 2)).astype(dtype)
    w = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    for lo, hi in [(0, n), (n // 3, n)]:
        paired, scalar = w.copy(), w.copy()
        _gram_schmidt._subtract_rows(V, count, h, paired, lo, hi)
        _gram_schmidt._subtract_only_rows(V, count, h, scalar, lo, hi)
        assert paired.tobytes() == scalar.tobytes() or not exact_bits
        wide = w.astype(np.complex128)
        reference = wide[lo:hi] - h[:count].astype(np.complex128) @ V[:count, lo:hi]
        scale = np.abs(h[:count]) @ np.abs(V[:count, lo:hi]) + np.abs(w[lo:hi])
        assert np.all(np.abs(paired[lo:hi] - reference) <= 4 * count * np.finfo(dtype).eps
                      * scale)
        assert np.array_equal(paired[:lo], w[:lo])
    paired, scalar = np.empty_like(w), np.empty_like(w)
    _gram_schmidt.combine(V, count, h, paired, None)
    _gram_schmidt._combine_rows(V, count, h, scalar, 0, n)
    assert paired.tobytes() == scalar.tobytes() or not exact_bits
    reference = h[:count].astype(np.complex128) @ V[:count]
    assert np.all(np.abs(paired - reference) <= 4 * count * np.finfo(dtype).eps
                  * (np.abs(h[:count]) @ np.abs(V[:count])))


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_complex_axpby_with_real_factors_is_the_real_update_of_both_parts(rng, dtype, n):
    u = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    y = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    real = np.float32 if dtype == np.complex64 else np.float64
    alpha, beta = real(0.75), real(-1.25)
    result = y.copy()
    _csr.axpby(alpha, u, beta, result, None)
    expected = np.empty_like(y)
    expected.real = alpha * u.real + beta * y.real
    expected.imag = alpha * u.imag + beta * y.imag
    assert result.tobytes() == expected.tobytes()
    _csr.axpby(alpha, u, 0.0, result, None)  # beta = 0 overwrites, NaN or not
    assert np.array_equal(result, alpha * u)
