"""Tests of solvers.io: the real test matrices load as documented, and broken files fail clearly.

References: the n / nnz / kind columns and the published SuiteSparse 2-norms and smallest
singular values of tests/data/matrices/SOURCES.md, the closed form of gr_30_30 (§3c),
scipy.io.hb_read on the one Harwell-Boeing file it can read, and an independent
whitespace-split parse of files whose fields happen to be blank-separated.
"""

import doctest
import gzip
import math
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse
import scipy.sparse.linalg

import solvers.io
from solvers.io import read_matrix, read_rhs

DATA = Path(__file__).resolve().parents[1] / "data" / "matrices"

# file: (n, nnz of the full matrix incl. explicit zeros and mirrored entries, exactly symmetric)
MATRICES = {
    "bcsstk01.rsa": (48, 400, True),
    "bcsstk03.mtx": (112, 640, True),
    "LUNDA.mtx": (147, 2449, True),
    "lund_b.mtx": (147, 2441, True),
    "plat362.mtx": (362, 5786, True),
    "nos5.mtx": (468, 5172, True),
    "494_bus.mtx": (494, 1666, True),
    "662_bus.mtx": (662, 2474, True),
    "gr_30_30.mtx": (900, 7744, True),
    "1138_bus.mtx": (1138, 4054, True),
    "bcsstk13.mtx": (2003, 83883, True),
    "Chem97ZtZ.mtx": (2541, 7361, True),
    "e05r0000.mtx": (236, 5856, True),
    "sherman1.rua": (1000, 3750, True),
    "west0067.rua": (67, 294, False),
    "arc130.rua": (130, 1282, False),
    "fs_183_6.rua": (183, 1069, False),
    "impcol_a.mtx": (207, 572, False),
    "west0479.mtx": (479, 1910, False),
    "pde900.rua": (900, 4380, False),
    "cdde1.mtx": (961, 4681, False),
    "orsirr_1.mtx": (1030, 6858, False),
    "sherman4.rua": (1104, 3786, False),
    "sherman5.rua": (3312, 20793, False),
    "epb0.mtx": (1794, 7764, False),
}

# Published SuiteSparse ||A||_2 and sigma_min (SOURCES §2, 7 significant digits) for the
# Harwell-Boeing files with D exponents, a 1P scale or symmetric storage, small enough for
# a dense SVD (sherman1 is checked against an independent parse instead).
PUBLISHED_SINGULAR_VALUES = {
    "bcsstk01.rsa": (3.015179e09, 3.417268e03),
    "west0067.rua": (4.060711e00, 3.118410e-02),
    "arc130.rua": (2.397348e05, 3.959802e-06),
    "fs_183_6.rua": (1.180839e09, 6.799008e-03),
}

# Explicit zeros stored in the files (SOURCES §3b): stored entries minus SuiteSparse nonzeros.
EXPLICIT_ZEROS = {"west0479.mtx": 22, "arc130.rua": 245, "fs_183_6.rua": 69}


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_matrix_has_documented_size_and_symmetry(name):
    n, nnz, symmetric = MATRICES[name]
    A = read_matrix(DATA / name)
    assert isinstance(A, scipy.sparse.csr_array)
    assert A.dtype == np.float64
    assert A.shape == (n, n)
    assert A.nnz == nnz
    assert A.has_canonical_format
    assert A.indices.dtype == A.indptr.dtype == np.int32  # what SciPy's readers give
    asymmetry = abs(A - A.T).max()
    if symmetric:
        assert asymmetry == 0.0
    else:
        assert asymmetry > 0.0


@pytest.mark.parametrize("name", sorted(EXPLICIT_ZEROS))
def test_explicit_zeros_are_kept(name):
    A = read_matrix(DATA / name)
    assert np.count_nonzero(A.data == 0.0) == EXPLICIT_ZEROS[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED_SINGULAR_VALUES))
def test_harwell_boeing_matrices_match_published_singular_values(name):
    # A misread digit, exponent (D24.15, 1P scale) or mirrored triangle would move these.
    norm, smallest = PUBLISHED_SINGULAR_VALUES[name]
    singular_values = np.linalg.svd(read_matrix(DATA / name).toarray(), compute_uv=False)
    assert singular_values[0] == pytest.approx(norm, rel=2e-6)
    assert singular_values[-1] == pytest.approx(smallest, rel=2e-6)


def test_pde900_touching_d_fields():
    # (3D22.16) values such as "-.1485728411090000D+010.4001983635790000D+01" touch: only
    # fixed-width reading separates them.  Reference: a regular expression for one such
    # number, and the published ||A||_2 = 1.044507e+01 (SOURCES §2).
    path = DATA / "pde900.rua"
    text = path.read_text()
    assert "D+010." in text
    numbers = re.findall(r"[-0]\.\d{16}D[+-]\d\d", text)
    values = np.array([float(number.replace("D", "E")) for number in numbers])
    A = read_matrix(path)
    assert values.size == A.nnz == 4380
    np.testing.assert_array_equal(np.sort(A.data), np.sort(values))
    largest = scipy.sparse.linalg.svds(A, k=1, return_singular_vectors=False, random_state=0)
    assert largest[0] == pytest.approx(1.044507e01, rel=2e-6)


def test_gr_30_30_is_nine_point_stencil_exactly():
    # SOURCES §3c: gr_30_30 = 9 I - kron(T, T) with T = tridiag(1, 1, 1) of order 30.
    T = scipy.sparse.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(30, 30))
    expected = 9.0 * scipy.sparse.eye_array(900) - scipy.sparse.kron(T, T)
    A = read_matrix(DATA / "gr_30_30.mtx")
    assert abs(A - expected).max() == 0.0


def test_west0067_agrees_with_scipy_hb_read():
    reference = scipy.sparse.csr_array(scipy.io.hb_read(str(DATA / "west0067.rua")))
    A = read_matrix(DATA / "west0067.rua")
    assert A.nnz == reference.nnz
    assert abs(A - reference).max() == 0.0


def _blank_separated_block(path, first_line, line_count):
    lines = path.read_text().splitlines()[first_line : first_line + line_count]
    return np.array(" ".join(lines).split(), dtype=np.float64)


def test_sherman1_agrees_with_independent_parse():
    # Line 2 gives the block sizes; sherman1's (10I8) and (5E16.8) fields happen to be
    # blank-separated, so a plain split is an independent reading of the same numbers.
    path = DATA / "sherman1.rua"
    pointer_cards, index_cards, value_cards, rhs_cards = 101, 375, 750, 200
    start = 5
    pointers = _blank_separated_block(path, start, pointer_cards).astype(np.int64)
    start += pointer_cards
    indices = _blank_separated_block(path, start, index_cards).astype(np.int64)
    start += index_cards
    values = _blank_separated_block(path, start, value_cards)
    rhs = _blank_separated_block(path, start + value_cards, rhs_cards)
    reference = scipy.sparse.csc_array((values, indices - 1, pointers - 1), shape=(1000, 1000))
    assert abs(read_matrix(path) - reference).max() == 0.0
    np.testing.assert_array_equal(read_rhs(path), rhs)


@pytest.mark.parametrize("name, n", [("sherman1.rua", 1000), ("sherman4.rua", 1104),
                                     ("sherman5.rua", 3312)])
def test_sherman_files_carry_one_rhs(name, n):
    b = read_rhs(DATA / name)
    assert b.shape == (n,)
    assert b.dtype == np.float64
    assert np.all(np.isfinite(b)) and np.linalg.norm(b) > 0


def test_e05r0000_rhs_from_matrix_market_array():
    # SOURCES §3a: 236 entries, 51 non-zeros, ||b|| = 2.9595.
    b = read_rhs(DATA / "e05r0000_rhs1.mtx")
    assert b.shape == (236,)
    assert np.count_nonzero(b) == 51
    assert np.linalg.norm(b) == pytest.approx(2.9595, abs=5e-5)


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(solvers.io, verbose=False)
    assert attempted >= 2
    assert failures == 0


# --- small Harwell-Boeing files written here ----------------------------------------


def _cards(values, per_line, width):
    return [
        "".join(value.rjust(width) for value in values[k : k + per_line])
        for k in range(0, len(values), per_line)
    ]


def write_harwell_boeing(path, matrix_type, shape, pointers, indices, values,
                         value_format=("(3D20.12)", 3, 20), rhs=None, rhs_type="F  ",
                         value_text=None):
    """Write a Harwell-Boeing file; ``value_text`` overrides how each value is printed."""
    value_text = value_text or [f"{value:.12E}".replace("E", "D") for value in values]
    fmt, per_line, width = value_format
    pointer_lines = _cards([str(p) for p in pointers], 8, 10)
    index_lines = _cards([str(i) for i in indices], 8, 10)
    value_lines = _cards(value_text, per_line, width)
    rhs_lines = [] if rhs is None else _cards(
        [f"{value:.12E}".replace("E", "D") for value in rhs], per_line, width
    )
    total = len(pointer_lines) + len(index_lines) + len(value_lines) + len(rhs_lines)
    header = [
        "TEST MATRIX".ljust(72) + "TESTKEY ",
        "".join(str(c).rjust(14) for c in
                (total, len(pointer_lines), len(index_lines), len(value_lines), len(rhs_lines))),
        matrix_type.ljust(14) + "".join(str(c).rjust(14) for c in (*shape, len(indices), 0)),
        "(8I10)".ljust(16) + "(8I10)".ljust(16) + fmt.ljust(20) + (fmt if rhs else "").ljust(20),
    ]
    if rhs is not None:
        count = len(rhs) // shape[0]
        header.append(rhs_type.ljust(14) + str(count).rjust(14) + "0".rjust(14))
    lines = header + pointer_lines + index_lines + value_lines + rhs_lines
    path.write_text("\n".join(lines) + "\n")
    return path


# Column-compressed 3 x 3 example with a duplicate entry in column 1.
#     [ 2   0  -1 ]
#     [ 5   3   0 ]     stored a_21 = 4 + 1 (two entries), a_33 = 0 stored explicitly
#     [ 0   7   0 ]
SMALL_POINTERS = [1, 4, 6, 8]
SMALL_INDICES = [1, 2, 2, 2, 3, 1, 3]
SMALL_VALUES = [2.0, 4.0, 1.0, 3.0, 7.0, -1.0, 0.0]
SMALL_DENSE = np.array([[2.0, 0.0, -1.0], [5.0, 3.0, 0.0], [0.0, 7.0, 0.0]])


def test_unsymmetric_file_sums_duplicates_and_keeps_zeros(tmp_path):
    path = write_harwell_boeing(tmp_path / "small.rua", "RUA", (3, 3), SMALL_POINTERS,
                                SMALL_INDICES, SMALL_VALUES)
    A = read_matrix(path)
    np.testing.assert_array_equal(A.toarray(), SMALL_DENSE)
    assert A.nnz == 6  # 7 stored, one duplicate summed, the explicit zero a_33 kept


def test_symmetric_and_skew_symmetric_storage_is_mirrored(tmp_path):
    # Lower triangle of [[4, 1, 0], [1, 5, 2], [0, 2, 6]] by columns.
    pointers, indices, values = [1, 3, 5, 6], [1, 2, 2, 3, 3], [4.0, 1.0, 5.0, 2.0, 6.0]
    symmetric = read_matrix(
        write_harwell_boeing(tmp_path / "s.rsa", "RSA", (3, 3), pointers, indices, values)
    )
    np.testing.assert_array_equal(
        symmetric.toarray(), [[4.0, 1.0, 0.0], [1.0, 5.0, 2.0], [0.0, 2.0, 6.0]]
    )
    skew = read_matrix(
        write_harwell_boeing(tmp_path / "z.rza", "RZA", (3, 3), [1, 2, 3, 3], [2, 3],
                             [1.5, -2.0])
    )
    np.testing.assert_array_equal(
        skew.toarray(), [[0.0, -1.5, 0.0], [1.5, 0.0, 2.0], [0.0, -2.0, 0.0]]
    )


def test_rectangular_file(tmp_path):
    path = write_harwell_boeing(tmp_path / "r.rra", "RRA", (3, 2), [1, 3, 4], [1, 3, 2],
                                [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(read_matrix(path).toarray(), [[1, 0], [0, 3], [2, 0]])


@pytest.mark.parametrize(
    "fmt, texts, expected",
    [
        # D and E exponents, an exponent without its letter, lower case.
        ("(4E16.8)", ["1.5D+02", "-2.5E-01", "1.25-03", "3.0d1"], [150.0, -0.25, 1.25e-3, 30.0]),
        # 1P scale factor divides by 10 only when the field has no exponent (Fortran input).
        ("(1P4D16.8)", ["2.5D+00", "2.5", "0.0", "-3.0E1"], [2.5, 0.25, 0.0, -30.0]),
        # w.d with no decimal point in the field: d implied decimals; a blank field is zero.
        ("(4F16.3)", ["12345", "7", " ", "-1.5"], [12.345, 0.007, 0.0, -1.5]),
    ],
)
def test_fortran_real_editing(tmp_path, fmt, texts, expected):
    path = write_harwell_boeing(tmp_path / "f.rua", "RUA", (4, 1), [1, 5], [1, 2, 3, 4],
                                [0.0] * 4, value_format=(fmt, 4, 16), value_text=texts)
    np.testing.assert_array_equal(read_matrix(path).toarray()[:, 0], expected)


def test_fixed_width_fields_without_separating_blanks(tmp_path):
    texts = ["-1.000000000D+00", "-2.500000000D-01"]  # 16 characters each: they touch
    path = write_harwell_boeing(tmp_path / "t.rua", "RUA", (2, 1), [1, 3], [1, 2],
                                [0.0, 0.0], value_format=("(2D16.9)", 2, 16), value_text=texts)
    assert "D+00-2.5" in path.read_text()
    np.testing.assert_array_equal(read_matrix(path).toarray()[:, 0], [-1.0, -0.25])


def test_several_right_hand_sides_are_columns(tmp_path):
    rhs = [1.0, 2.0, 3.0, -1.0, -2.0, -3.0]  # two right-hand sides, one after the other
    path = write_harwell_boeing(tmp_path / "m.rua", "RUA", (3, 3), SMALL_POINTERS,
                                SMALL_INDICES, SMALL_VALUES, rhs=rhs)
    np.testing.assert_array_equal(read_rhs(path), [[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])
    np.testing.assert_array_equal(read_matrix(path).toarray(), SMALL_DENSE)


def test_blank_header_counts_read_as_zero(tmp_path):
    # Fortran reads a blank I14 field as 0; files often leave RHSCRD and NELTVL blank.
    path = _small_file(tmp_path)
    lines = path.read_text().splitlines()
    _edit_line(path, 1, lines[1][:56])
    _edit_line(path, 2, lines[2][:56])
    np.testing.assert_array_equal(read_matrix(path).toarray(), SMALL_DENSE)


def test_windows_line_ends(tmp_path):
    path = _small_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    np.testing.assert_array_equal(read_matrix(path).toarray(), SMALL_DENSE)


def test_formats_off_their_columns(tmp_path):
    path = _edit_line(_small_file(tmp_path), 3, "(8I10) (8I10) (3D20.12)")
    np.testing.assert_array_equal(read_matrix(path).toarray(), SMALL_DENSE)


def test_gzipped_matrix_market(tmp_path):
    path = tmp_path / "m.mtx.gz"
    with gzip.open(path, "wt") as stream:
        stream.write("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1.5\n2 1 -2\n")
    np.testing.assert_array_equal(read_matrix(path).toarray(), [[1.5, 0.0], [-2.0, 0.0]])


# --- malformed input ----------------------------------------------------------------


def _small_file(tmp_path, name="bad.rua", **changes):
    arguments = dict(matrix_type="RUA", shape=(3, 3), pointers=SMALL_POINTERS,
                     indices=SMALL_INDICES, values=SMALL_VALUES)
    arguments.update(changes)
    return write_harwell_boeing(tmp_path / name, **arguments)


def _edit_line(path, number, new_text):
    lines = path.read_text().splitlines()
    lines[number] = new_text
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.mtx"):
        read_matrix(tmp_path / "nothere.mtx")
    with pytest.raises(FileNotFoundError, match=r"nothere\.rua"):
        read_rhs(tmp_path / "nothere.rua")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "matrix.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"matrix\.txt.*unknown file type.*\.mtx"):
        read_matrix(path)


def test_truncated_harwell_boeing_missing_lines(tmp_path):
    path = _small_file(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.rua.*truncated"):
        read_matrix(path)


def test_truncated_harwell_boeing_last_value_cut(tmp_path):
    path = _small_file(tmp_path)
    lines = path.read_text().splitlines()
    _edit_line(path, len(lines) - 1, "")  # the 7th value, alone on the last line, is gone
    with pytest.raises(ValueError, match=r"bad\.rua.*truncated value block.*7 values"):
        read_matrix(path)


def test_header_too_short(tmp_path):
    path = tmp_path / "short.rsa"
    path.write_text("TITLE\n1 2 3\n")
    with pytest.raises(ValueError, match=r"short\.rsa.*only 2 lines"):
        read_matrix(path)


def test_bad_card_counts(tmp_path):
    path = _edit_line(_small_file(tmp_path), 1, "   four lines of cards")
    with pytest.raises(ValueError, match=r"bad\.rua.*bad header line 2"):
        read_matrix(path)


def test_bad_sizes(tmp_path):
    path = _small_file(tmp_path)
    line = path.read_text().splitlines()[2]
    _edit_line(path, 2, line[:14] + "three".rjust(14) + line[28:])
    with pytest.raises(ValueError, match=r"bad\.rua.*bad header line 3"):
        read_matrix(path)


@pytest.mark.parametrize(
    "matrix_type, message",
    [("CUA", "complex"), ("PUA", "pattern"), ("RUE", "elemental"), ("XYZ", "not a Harwell")],
)
def test_unsupported_matrix_types(tmp_path, matrix_type, message):
    path = _small_file(tmp_path, matrix_type=matrix_type)
    with pytest.raises(ValueError, match=rf"bad\.rua.*{message}"):
        read_matrix(path)


def test_unsupported_fortran_format(tmp_path):
    path = _small_file(tmp_path)
    line = path.read_text().splitlines()[3]
    _edit_line(path, 3, line[:32] + "(3Z20.12)".ljust(20))
    with pytest.raises(ValueError, match=r"bad\.rua.*value format '\(3Z20\.12\)'"):
        read_matrix(path)


def test_bad_pointers_and_indices(tmp_path):
    path = _small_file(tmp_path, name="p.rua", pointers=[1, 4, 3, 8])
    with pytest.raises(ValueError, match=r"p\.rua.*bad column pointers"):
        read_matrix(path)
    path = _small_file(tmp_path, name="i.rua", indices=[1, 2, 2, 2, 4, 1, 3])
    with pytest.raises(ValueError, match=r"i\.rua.*row index out of range 1\.\.3"):
        read_matrix(path)


def test_value_that_is_not_a_number(tmp_path):
    texts = [f"{v:.12E}" for v in SMALL_VALUES]
    texts[4] = "seven"
    path = _small_file(tmp_path, value_text=texts)
    with pytest.raises(ValueError, match=r"bad\.rua.*value 5: 'seven' is not a number"):
        read_matrix(path)


def test_rhs_requested_from_file_without_one(tmp_path):
    with pytest.raises(ValueError, match=r"west0067\.rua.*no right-hand side"):
        read_rhs(DATA / "west0067.rua")
    path = _small_file(tmp_path, rhs=[1.0, 2.0, 3.0], rhs_type="M  ")
    with pytest.raises(ValueError, match=r"bad\.rua.*right-hand side type 'M"):
        read_rhs(path)


def test_matrix_market_errors(tmp_path):
    pattern = tmp_path / "pattern.mtx"
    pattern.write_text("%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n")
    with pytest.raises(ValueError, match=r"pattern\.mtx.*'pattern' is not supported"):
        read_matrix(pattern)
    banner = tmp_path / "banner.mtx"
    banner.write_text("this is not a matrix\n")
    with pytest.raises(ValueError, match=r"banner\.mtx.*not a valid Matrix Market header"):
        read_matrix(banner)
    truncated = tmp_path / "truncated.mtx"
    truncated.write_text("%%MatrixMarket matrix coordinate real general\n3 3 3\n1 1 1.0\n2 2")
    with pytest.raises(ValueError, match=r"truncated\.mtx"):
        read_matrix(truncated)


def test_complex_hermitian_matrix_market_is_expanded_with_conjugates(tmp_path):
    """A Hermitian file stores one triangle: a_ji is the conjugate of a_ij, and the
    diagonal is real; CG on it agrees with a direct solve."""
    from scipy.sparse.linalg import spsolve

    from solvers import cg

    path = tmp_path / "hermitian.mtx"
    path.write_text("%%MatrixMarket matrix coordinate complex hermitian\n"
                    "3 3 5\n1 1 4 0\n2 1 1 -2\n2 2 5 0\n3 2 0.5 1.5\n3 3 6 0\n")
    A = read_matrix(path)
    expected = np.array([[4, 1 + 2j, 0], [1 - 2j, 5, 0.5 - 1.5j], [0, 0.5 + 1.5j, 6]])
    assert A.dtype == np.complex128 and np.array_equal(A.toarray(), expected)
    rhs = tmp_path / "b.mtx"
    rhs.write_text("%%MatrixMarket matrix array complex general\n3 1\n1 1\n0 -1\n2 0\n")
    b = read_rhs(rhs)
    assert np.array_equal(b, [1 + 1j, -1j, 2])
    result = cg(A, b, rtol=1e-12)
    assert result.converged
    assert np.allclose(result.x, spsolve(A.tocsc(), b), rtol=1e-10)


def test_matrix_market_layout_mismatch(tmp_path):
    with pytest.raises(ValueError, match=r"e05r0000_rhs1\.mtx.*'array'.*use read_rhs"):
        read_matrix(DATA / "e05r0000_rhs1.mtx")
    with pytest.raises(ValueError, match=r"gr_30_30\.mtx.*'coordinate'.*use read_matrix"):
        read_rhs(DATA / "gr_30_30.mtx")


def test_matrix_market_duplicates_summed_integer_field(tmp_path):
    path = tmp_path / "dup.mtx"
    path.write_text(
        "%%MatrixMarket matrix coordinate integer symmetric\n2 2 4\n1 1 2\n2 1 3\n2 1 1\n2 2 0\n"
    )
    A = read_matrix(path)
    assert A.dtype == np.float64
    np.testing.assert_array_equal(A.toarray(), [[2.0, 4.0], [4.0, 0.0]])
    assert A.nnz == 4  # the explicit zero a_22 is kept
    assert math.isclose(abs(A - A.T).max(), 0.0)
