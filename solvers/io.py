"""Read sparse test matrices and their right-hand sides from Matrix Market and Harwell-Boeing files.

Two file families are understood:

* **Matrix Market** (``.mtx``, ``.mtx.gz``), read through :func:`scipy.io.mmread`;
* **Harwell-Boeing** (``.rua``, ``.rsa``, ``.rza``, ``.rra``, ``.rb``, ``.hb``), read by the
  small fixed-width reader in this module, written from the format's definition
  (I. S. Duff, R. G. Grimes, J. G. Lewis, *Users' Guide for the Harwell-Boeing Sparse
  Matrix Collection*, 1992).  SciPy's ``hb_read`` accepts only unsymmetric files without a
  right-hand side and with ``E``/``F`` value formats; many files of the collection use
  ``D`` exponents, a ``1P`` scale factor, symmetric storage or carry a right-hand side.

A Harwell-Boeing file is a sequence of 80-column card images::

    line 1   TITLE (A72), KEY (A8)
    line 2   TOTCRD, PTRCRD, INDCRD, VALCRD, RHSCRD                 (5I14)
    line 3   MXTYPE (A3), 11 blanks, NROW, NCOL, NNZERO, NELTVL     (A3, 11X, 4I14)
    line 4   PTRFMT (A16), INDFMT (A16), VALFMT (A20), RHSFMT (A20)
    line 5   RHSTYP (A3), 11 blanks, NRHS, NRHSIX                   (only if RHSCRD > 0)
    then     PTRCRD lines of column pointers   (NCOL + 1 integers, 1-based)
             INDCRD lines of row indices       (NNZERO integers, 1-based)
             VALCRD lines of values            (NNZERO reals)
             RHSCRD lines of right-hand sides, then the optional starting guesses and
             exact solutions, each of these starting on a new line

The matrix is stored by columns (compressed sparse columns).  ``MXTYPE`` is three letters:
value type (``R`` real, ``C`` complex, ``P`` pattern only), structure (``U`` unsymmetric,
``S`` symmetric, ``Z`` skew-symmetric, ``H`` Hermitian, ``R`` rectangular) and ``A``
(assembled) or ``E`` (elemental).  This reader supports real assembled matrices (``RUA``,
``RSA``, ``RZA``, ``RRA``) and full right-hand sides (``RHSTYP`` beginning with ``F``).

Every reader returns float64 data.  Matrices come back as :class:`scipy.sparse.csr_array`
with duplicate entries summed, explicit zeros stored in the file kept, and symmetric
(skew-symmetric) storage expanded: an off-diagonal entry :math:`a_{ij}` also gives
:math:`a_{ji} = a_{ij}` (:math:`a_{ji} = -a_{ij}`).
"""

import math
import os
import re
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse

__all__ = ["read_matrix", "read_rhs"]

MATRIX_MARKET_SUFFIXES = (".mtx", ".mtx.gz")
HARWELL_BOEING_SUFFIXES = (".rua", ".rsa", ".rza", ".rra", ".rb", ".hb")

# One Fortran edit descriptor, optionally preceded by a scale factor: "1P3D24.15",
# "1P,5E16.8", "10I8", "4E20.12", "F10.3".  Only what the collection's files use.
_FORMAT_PATTERN = re.compile(
    r"^(?:(?P<scale>[+-]?\d+)P,?)?(?P<repeat>\d*)(?P<kind>[IEDFG])(?P<width>\d+)"
    r"(?:\.(?P<digits>\d+))?(?:E\d+)?$"
)
_INTEGER_PATTERN = re.compile(r"^[+-]?\d+$")
# A Fortran real: mantissa, then an exponent written "E+05", "E5", or just "+05"/"-05"
# ("1.5-05" is valid input for E and D editing).  "D" and "Q" are mapped to "E" first.
_REAL_PATTERN = re.compile(
    r"^(?P<sign>[+-]?)(?P<whole>\d*)(?P<point>\.?)(?P<fraction>\d*)"
    r"(?:E(?P<exponent>[+-]?\d+)|(?P<bare_exponent>[+-]\d+))?$"
)


def read_matrix(path):
    """Read a sparse matrix from a Matrix Market or Harwell-Boeing file.

    Parameters
    ----------
    path : str or os.PathLike
        File name.  The suffix selects the reader: ``.mtx`` / ``.mtx.gz`` (Matrix Market,
        coordinate format, field ``real``, ``integer`` or ``complex``, with any symmetry:
        ``general``, ``symmetric``, ``skew-symmetric``, ``hermitian``) or ``.rua``,
        ``.rsa``, ``.rza``, ``.rra``, ``.rb``, ``.hb`` (Harwell-Boeing, real assembled;
        the type letters in the header decide the storage, not the suffix).

    Returns
    -------
    scipy.sparse.csr_array
        float64 (complex128 for a complex Matrix Market file), shape ``(NROW, NCOL)``,
        canonical format (sorted indices, duplicates summed).
        Explicit zeros written in the file are kept, so ``A.nnz`` counts every entry of the
        full matrix.  Symmetric storage (only one triangle in the file) is expanded,
        :math:`a_{ji} = a_{ij}`; skew-symmetric storage gives :math:`a_{ji} = -a_{ij}`,
        Hermitian :math:`a_{ji} = \\overline{a_{ij}}`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the suffix is not one of the above, or the file is malformed (bad header,
        unsupported Fortran format, truncated data, indices out of range), or holds
        something other than an assembled sparse matrix with values (pattern-only,
        elemental, a dense Matrix Market array; complex Harwell-Boeing).  The message
        names the file.

    See Also
    --------
    read_rhs : the right-hand side stored with a system.

    Examples
    --------
    A 3 x 3 symmetric matrix in Harwell-Boeing form, lower triangle stored by columns:

    >>> import tempfile, pathlib
    >>> text = (
    ...     "SMALL SPD EXAMPLE" + " " * 55 + "EXAMPLE1\\n"
    ...     "             3             1             1             1             0\\n"
    ...     "RSA                        3             3             5             0\\n"
    ...     "(4I4)           (5I4)           (5D16.8)            \\n"
    ...     "   1   3   5   6\\n"
    ...     "   1   2   2   3   3\\n"
    ...     "  4.00000000D+00 -1.00000000D+00  4.00000000D+00 -1.00000000D+00  4.00000000D+00\\n"
    ... )
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "example.rsa"
    >>> _ = path.write_text(text)
    >>> A = read_matrix(path)
    >>> A.shape, A.nnz
    ((3, 3), 7)
    >>> A.toarray()
    array([[ 4., -1.,  0.],
           [-1.,  4., -1.],
           [ 0., -1.,  4.]])
    """
    path = _existing_file(path)
    if _has_suffix(path, MATRIX_MARKET_SUFFIXES):
        return _read_matrix_market_matrix(path)
    if _has_suffix(path, HARWELL_BOEING_SUFFIXES):
        return _HarwellBoeingFile(path).matrix()
    raise _unknown_suffix(path)


def read_rhs(path):
    r"""Read the right-hand side(s) stored in a Harwell-Boeing or Matrix Market file.

    Parameters
    ----------
    path : str or os.PathLike
        Either a Harwell-Boeing matrix file whose header announces a full right-hand side
        block (``RHSCRD > 0``, ``RHSTYP`` beginning with ``F``), or a Matrix Market file in
        ``array`` format (a dense ``n x k`` real, integer or complex block).

    Returns
    -------
    numpy.ndarray
        float64 (complex128 for a complex Matrix Market file).  Shape ``(n,)`` when the
        file holds one right-hand side, ``(n, k)`` when it
        holds ``k > 1`` (column ``j`` is the ``j``-th right-hand side), so that a single
        right-hand side drops straight into ``cg(A, b)``.  For Harwell-Boeing files only
        the right-hand sides are returned, not the optional starting guesses or exact
        solutions that may follow them.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the suffix is unknown, the Harwell-Boeing file has no right-hand side block or
        one in sparse (``M``) or elemental form, the Matrix Market file is a sparse
        ``coordinate`` file, the values are complex in a Harwell-Boeing file, or the data
        are truncated.

    See Also
    --------
    read_matrix : the matrix of the same file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "b.mtx"
    >>> _ = path.write_text("%%MatrixMarket matrix array real general\n3 1\n1.0\n-2.5\n0.0\n")
    >>> read_rhs(path)
    array([ 1. , -2.5,  0. ])
    """
    path = _existing_file(path)
    if _has_suffix(path, MATRIX_MARKET_SUFFIXES):
        return _read_matrix_market_array(path)
    if _has_suffix(path, HARWELL_BOEING_SUFFIXES):
        return _HarwellBoeingFile(path).rhs()
    raise _unknown_suffix(path)


# --- file names --------------------------------------------------------------------


def _existing_file(path):
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"matrix file {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a regular file")
    return path


def _has_suffix(path, suffixes):
    return path.name.lower().endswith(suffixes)


def _unknown_suffix(path):
    allowed = ", ".join(MATRIX_MARKET_SUFFIXES + HARWELL_BOEING_SUFFIXES)
    return ValueError(
        f"{str(path)!r}: unknown file type (suffix {''.join(path.suffixes) or 'none'!r}); "
        f"allowed suffixes: {allowed}"
    )


# --- Matrix Market -----------------------------------------------------------------


#: Matrix Market fields read, and the dtype each becomes.
_MATRIX_MARKET_FIELDS = {"real": np.float64, "integer": np.float64, "complex": np.complex128}


def _matrix_market_info(path):
    try:
        rows, columns, entries, layout, field, _ = scipy.io.mminfo(path)
    except Exception as error:  # scipy raises several types for a bad banner
        raise ValueError(f"{str(path)!r}: not a valid Matrix Market header ({error})") from error
    if field not in _MATRIX_MARKET_FIELDS:
        raise ValueError(
            f"{str(path)!r}: Matrix Market field {field!r} is not supported "
            f"(allowed: {', '.join(map(repr, _MATRIX_MARKET_FIELDS))}; a 'pattern' file "
            "has no values to solve with)"
        )
    return rows, columns, entries, layout, field


def _mmread(path):
    try:
        return scipy.io.mmread(path)
    except Exception as error:  # truncated or garbled data surface as various types
        raise ValueError(f"{str(path)!r}: cannot read Matrix Market data ({error})") from error


#: Bytes a Matrix Market line may take, comments included: a line of the coordinate
#: format holds two indices and a value in at most about 60 characters.
_BYTES_PER_LINE = 256


def _check_inflated_size(path, rows, entries):
    """Refuse a compressed file that inflates to far more than its header announces.

    A few kilobytes of gzip can hold gigabytes of blanks or comments that the reader
    would take into memory; the stream is counted (never kept) up to the bound.
    """
    if path.suffix != ".gz":
        return
    import gzip

    limit = _BYTES_PER_LINE * (entries + rows + 64)
    size = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ValueError(
                        f"{str(path)!r}: decompresses to more than {limit:,} bytes, far "
                        f"more than its header's {entries:,} entries need (at most "
                        f"{_BYTES_PER_LINE} bytes a line); refused")
    except (OSError, EOFError) as error:
        raise ValueError(f"{str(path)!r}: not a readable gzip file ({error})") from None


def _read_matrix_market_matrix(path):
    rows, columns, entries, layout, field = _matrix_market_info(path)
    if layout != "coordinate":
        raise ValueError(
            f"{str(path)!r}: Matrix Market '{layout}' (dense) file; read_matrix expects a "
            "'coordinate' (sparse) file, use read_rhs for dense vectors"
        )
    _check_inflated_size(path, rows, entries)
    coordinates = _mmread(path)
    matrix = scipy.sparse.csr_array(coordinates, dtype=_MATRIX_MARKET_FIELDS[field])
    matrix.sum_duplicates()
    if matrix.shape != (rows, columns):
        raise ValueError(
            f"{str(path)!r}: header says {rows} x {columns}, data give {matrix.shape}"
        )
    return matrix


def _read_matrix_market_array(path):
    rows, columns, _, layout, field = _matrix_market_info(path)
    if layout != "array":
        raise ValueError(
            f"{str(path)!r}: Matrix Market 'coordinate' (sparse) file; read_rhs expects an "
            "'array' (dense) file, use read_matrix for sparse matrices"
        )
    values = np.asarray(_mmread(path), dtype=_MATRIX_MARKET_FIELDS[field])
    if values.shape != (rows, columns):
        raise ValueError(
            f"{str(path)!r}: header says {rows} x {columns}, data give {values.shape}"
        )
    return values[:, 0].copy() if columns == 1 else values


# --- Harwell-Boeing ----------------------------------------------------------------


class _FortranFormat:
    """One repeated edit descriptor such as ``(1P3D24.15)``: ``repeat`` fields of ``width``."""

    def __init__(self, text, what, path):
        compact = text.strip().upper().replace(" ", "")
        match = None
        if compact.startswith("(") and compact.endswith(")"):
            match = _FORMAT_PATTERN.match(compact[1:-1])
        if match is None:
            raise ValueError(
                f"{str(path)!r}: {what} format {text.strip()!r} is not a supported Fortran "
                "format (expected e.g. '(10I8)', '(4E20.12)', '(1P3D24.15)')"
            )
        self.text = text.strip()
        self.kind = match["kind"]
        self.repeat = int(match["repeat"] or 1)
        self.width = int(match["width"])
        self.digits = int(match["digits"] or 0)
        self.scale = int(match["scale"] or 0)
        if self.repeat < 1 or self.width < 1:
            raise ValueError(f"{str(path)!r}: {what} format {self.text!r} has an empty field")


class _HarwellBoeingFile:
    """Header of a Harwell-Boeing file and the line ranges of its blocks."""

    def __init__(self, path):
        self.path = path
        try:
            text = path.read_text(encoding="ascii")
        except UnicodeDecodeError as error:
            raise self._error(f"not an ASCII Harwell-Boeing file ({error})") from error
        # Card images end at "\n" (or "\r\n"); str.splitlines would also split at form
        # feeds and other control characters, which are not line ends here.
        self.lines = text.replace("\r\n", "\n").split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        if len(self.lines) < 4:
            raise self._error(f"only {len(self.lines)} lines; a header needs at least 4")
        self.title = self.lines[0][:72].rstrip()
        cards = self._integers(1, 5, "line 2 (card counts)")
        self.pointer_cards, self.index_cards, self.value_cards, self.rhs_cards = cards[1:]
        if min(cards) < 0:
            raise self._error(f"negative card count on line 2: {cards}")
        type_line = self.lines[2]
        self.matrix_type = type_line[:3].upper()
        self.rows, self.columns, self.entries, self.elemental_entries = self._integers(
            2, 4, "line 3 (type and sizes)", start=14
        )
        self._check_type()
        formats = self._format_fields()
        self.pointer_format = _FortranFormat(formats[0], "pointer", path)
        self.index_format = _FortranFormat(formats[1], "row index", path)
        self.value_format = _FortranFormat(formats[2], "value", path)
        self.rhs_format_text = formats[3]
        for what, fmt in (("pointer", self.pointer_format), ("row index", self.index_format)):
            if fmt.kind != "I":
                raise self._error(f"{what} format {fmt.text!r} is not an integer (I) format")
        if self.value_format.kind == "I":
            raise self._error(f"value format {self.value_format.text!r} is not a real format")
        self.data_start = 5 if self.rhs_cards > 0 else 4
        needed = self.data_start + self.pointer_cards + self.index_cards
        needed += self.value_cards + self.rhs_cards
        if len(self.lines) < needed:
            raise self._error(
                f"truncated: the header announces {needed} lines "
                f"({self.pointer_cards} pointer, {self.index_cards} index, {self.value_cards} "
                f"value, {self.rhs_cards} right-hand side cards), the file has {len(self.lines)}"
            )

    def _format_fields(self):
        """PTRFMT, INDFMT, VALFMT, RHSFMT: columns 1-16, 17-32, 33-52, 53-72 of line 4.

        Some files do not keep to these columns; when the fixed columns do not each hold
        one parenthesised format, the parenthesised groups of the line are taken in order.
        """
        line = self.lines[3].ljust(72)
        fixed = [line[:16], line[16:32], line[32:52], line[52:72]]
        if all(re.fullmatch(r"\s*\([^()]*\)\s*", field) for field in fixed[:3]):
            return fixed
        groups = re.findall(r"\([^()]*\)", line)
        if len(groups) >= 3:
            return [*groups, ""][:4]
        return fixed  # let the format parser name what is wrong

    def _error(self, message):
        return ValueError(f"{str(self.path)!r}: {message}")

    def _integers(self, line_number, count, what, start=0):
        """``count`` I14 fields of a header line, from column ``start``.

        A blank field reads as 0, as in Fortran (files often leave RHSCRD or NELTVL blank).
        """
        line = self.lines[line_number]
        fields = [line[start + 14 * k : start + 14 * (k + 1)].strip() for k in range(count)]
        if any(fields) and all(not field or _INTEGER_PATTERN.match(field) for field in fields):
            return [int(field) if field else 0 for field in fields]
        raise self._error(
            f"bad header {what}: expected {count} integers in columns of width 14 "
            f"from column {start + 1}, found {line[start:].rstrip()!r}"
        )

    def _check_type(self):
        value_type, structure, assembly = (self.matrix_type + "   ")[:3]
        names = {"C": "complex", "P": "pattern-only"}
        if value_type in names:
            raise self._error(
                f"matrix type {self.matrix_type!r}: {names[value_type]} matrices are not "
                "supported (only real, type 'R..')"
            )
        if value_type != "R" or structure not in "USZRH" or assembly not in "AE":
            raise self._error(
                f"bad header: matrix type {self.matrix_type!r} on line 3 is not a "
                "Harwell-Boeing type (e.g. 'RUA', 'RSA')"
            )
        if structure == "H":
            raise self._error(f"matrix type {self.matrix_type!r}: Hermitian needs complex values")
        if assembly == "E":
            raise self._error(
                f"matrix type {self.matrix_type!r}: elemental (unassembled) matrices are not "
                "supported"
            )
        if min(self.rows, self.columns, self.entries) < 0 or self.rows * self.columns == 0:
            raise self._error(
                f"bad header: {self.rows} x {self.columns} matrix with {self.entries} entries"
            )
        if structure in "SZ" and self.rows != self.columns:
            raise self._error(
                f"matrix type {self.matrix_type!r} (symmetric storage) but the matrix is "
                f"{self.rows} x {self.columns}"
            )

    def _fields(self, first_line, card_count, fmt, count, what):
        """The first ``count`` fixed-width fields of ``card_count`` lines from ``first_line``.

        Every line but the last provides ``fmt.repeat`` fields (a blank field is a zero in
        Fortran input); the last provides only the fields that reach its final non-blank
        column, so a value missing at the end of the block is reported, not read as zero.
        """
        lines = self.lines[first_line : first_line + card_count]
        fields = []
        width = fmt.width
        for number, line in enumerate(lines):
            if number == len(lines) - 1:
                available = min(fmt.repeat, math.ceil(len(line.rstrip()) / width))
            else:
                available = fmt.repeat
            line = line.ljust(width * fmt.repeat)
            fields.extend(line[k * width : (k + 1) * width] for k in range(available))
            if len(fields) >= count:
                return fields[:count], first_line + number + 1
        raise self._error(
            f"truncated {what} block: {count} values in format {fmt.text!r} expected in "
            f"{card_count} lines from line {first_line + 1}, found {len(fields)}"
        )

    def _integer_array(self, first_line, card_count, fmt, count, what):
        fields, _ = self._fields(first_line, card_count, fmt, count, what)
        values = np.empty(count, dtype=np.int64)
        for position, field in enumerate(fields):
            compact = field.replace(" ", "")
            if compact and not _INTEGER_PATTERN.match(compact):
                raise self._error(f"{what} {position + 1}: {field.strip()!r} is not an integer")
            values[position] = int(compact) if compact else 0
        return values

    def _real_array(self, first_line, card_count, fmt, count, what):
        fields, next_line = self._fields(first_line, card_count, fmt, count, what)
        values = np.empty(count, dtype=np.float64)
        for position, field in enumerate(fields):
            try:
                values[position] = _fortran_real(field, fmt.digits, fmt.scale)
            except ValueError:
                raise self._error(
                    f"{what} {position + 1}: {field.strip()!r} is not a number in "
                    f"format {fmt.text!r}"
                ) from None
        return values, next_line

    def matrix(self):
        start = self.data_start
        pointers = self._integer_array(
            start, self.pointer_cards, self.pointer_format, self.columns + 1, "column pointer"
        )
        start += self.pointer_cards
        if pointers[0] != 1 or pointers[-1] != self.entries + 1 or np.any(np.diff(pointers) < 0):
            raise self._error(
                "bad column pointers: they must start at 1, never decrease and end at "
                f"NNZERO + 1 = {self.entries + 1} (found first {pointers[0]}, "
                f"last {pointers[-1]})"
            )
        row_indices = self._integer_array(
            start, self.index_cards, self.index_format, self.entries, "row index"
        )
        start += self.index_cards
        if self.entries and (row_indices.min() < 1 or row_indices.max() > self.rows):
            raise self._error(
                f"row index out of range 1..{self.rows} (found {row_indices.min()} "
                f"to {row_indices.max()})"
            )
        values, _ = self._real_array(
            start, self.value_cards, self.value_format, self.entries, "value"
        )
        rows = row_indices - 1
        columns = np.repeat(np.arange(self.columns, dtype=np.int64), np.diff(pointers))
        structure = self.matrix_type[1]
        if structure in "SZ":
            # Only one triangle is stored: every off-diagonal entry stands for its mirror too.
            off_diagonal = rows != columns
            mirrored = values[off_diagonal] if structure == "S" else -values[off_diagonal]
            rows, columns = (
                np.concatenate([rows, columns[off_diagonal]]),
                np.concatenate([columns, rows[off_diagonal]]),
            )
            values = np.concatenate([values, mirrored])
        # 32-bit indices when they fit, as SciPy's own readers give: the solvers' kernels
        # read int32 column indices in place and compile once for that index type.
        index_type = np.int32 if max(self.rows, self.columns, rows.size) < 2**31 else np.int64
        coordinates = scipy.sparse.coo_array(
            (values, (rows.astype(index_type), columns.astype(index_type))),
            shape=(self.rows, self.columns),
        )
        matrix = scipy.sparse.csr_array(coordinates)
        matrix.sum_duplicates()
        return matrix

    def rhs(self):
        if self.rhs_cards == 0:
            raise self._error(
                "the file has no right-hand side block (RHSCRD = 0 on line 2)"
            )
        header = self.lines[4]
        rhs_type = header[:3].upper()
        fields = [header[14 + 14 * k : 28 + 14 * k].strip() for k in range(2)]
        if not rhs_type.startswith("F"):
            raise self._error(
                f"right-hand side type {rhs_type!r} on line 5 is not supported (only full, "
                "'F..', right-hand sides are)"
            )
        if not (fields[0] and _INTEGER_PATTERN.match(fields[0])) or int(fields[0]) < 1:
            raise self._error(
                f"bad header line 5: number of right-hand sides {fields[0]!r} is not a "
                "positive integer"
            )
        count = int(fields[0])
        fmt = _FortranFormat(self.rhs_format_text, "right-hand side", self.path)
        if fmt.kind == "I":
            raise self._error(f"right-hand side format {fmt.text!r} is not a real format")
        first = self.data_start + self.pointer_cards + self.index_cards + self.value_cards
        values, _ = self._real_array(
            first, self.rhs_cards, fmt, count * self.rows, "right-hand side value"
        )
        # Stored right-hand side after right-hand side, i.e. column-major (n, k).
        block = values.reshape(count, self.rows).T
        return block[:, 0].copy() if count == 1 else np.ascontiguousarray(block)


def _fortran_real(field, digits, scale):
    """Value of one real field under Fortran ``E``/``D``/``F``/``G`` input editing.

    Blanks are ignored and an all-blank field is zero.  A mantissa without a decimal
    point has ``digits`` implied decimals (``w.d``).  The scale factor ``kP`` divides a
    value by :math:`10^k` only when the field carries no exponent.  The number is rebuilt
    as text and converted once, so the result is the correctly rounded double.
    """
    compact = field.replace(" ", "").upper().replace("D", "E").replace("Q", "E")
    if not compact:
        return 0.0
    match = _REAL_PATTERN.match(compact)
    if match is None or not (match["whole"] or match["fraction"]):
        raise ValueError(field)
    whole, fraction = match["whole"], match["fraction"]
    if not match["point"] and digits:
        mantissa_digits = whole.rjust(digits + 1, "0")
        whole, fraction = mantissa_digits[:-digits], mantissa_digits[-digits:]
    exponent = match["exponent"] or match["bare_exponent"]
    power = int(exponent) if exponent is not None else -scale
    return float(f"{match['sign']}{whole or '0'}.{fraction or '0'}e{power}")
