"""Numba's on-disk cache, really damaged, in fresh processes: one warning line, a right answer.

Every program runs in a fresh interpreter with ``NUMBA_CACHE_DIR`` (and, where it matters,
``HOME`` and ``XDG_CACHE_HOME``) in a temporary folder, so the in-tree caches are never
written.  Most use ``cachedemo``, a package of two small kernels written to a temporary
folder and registered exactly as ``solvers`` and ``fem`` register themselves (its kernels
compile in a fraction of a second); the damage is done to the files Numba really wrote.
"""

import json
import os
import pickletools
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_INIT = """
from solvers._cache import register
register(__file__)
from cachedemo.kernels import squares, weighted_sum
"""

_KERNELS = """
import numpy as np
from numba import njit


@njit(cache=True)
def weighted_sum(values, weight):
    total = 0.0
    for value in values:
        total += weight * value
    return total


@njit(cache=True)
def squares(n):
    out = np.empty(n)
    for i in range(n):
        out[i] = i * i
    return out
"""

# Calls the kernels; argv: the dtypes of weighted_sum's values, then options.
_PROGRAM = """
import json, os, shutil, sys, time
sys.path[:0] = [{root!r}, {demo!r}]
import numpy as np
import cachedemo
options = sys.argv[2:]
if "--cache-folder-becomes-a-file" in options:
    shutil.rmtree(os.environ["NUMBA_CACHE_DIR"])
    open(os.environ["NUMBA_CACHE_DIR"], "w").close()
if "--wait-for" in options:
    go = options[options.index("--wait-for") + 1]
    open(f"{{go}}.ready.{{os.getpid()}}", "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.005)
sums = [cachedemo.weighted_sum(np.arange(10, dtype=dtype), 2.0)
        for dtype in sys.argv[1].split(",")]
squares = float(cachedemo.squares(5).sum())
kernels = (cachedemo.weighted_sum, cachedemo.squares)
print(json.dumps({{
    "sums": sums, "squares": squares,
    "loaded": [sum(kernel.stats.cache_hits.values()) for kernel in kernels],
    "compiled": [sum(kernel.stats.cache_misses.values()) for kernel in kernels],
    # imported by Numba's refresh of its registries, which only compiling needs
    "registries": "numba.np.linalg" in sys.modules}}))
"""

_WARNING = re.compile(r"krylovfem:0: CacheWarning: (.*)")


def _demo_package(folder: Path) -> Path:
    package = folder / "cachedemo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_INIT)
    (package / "kernels.py").write_text(_KERNELS)
    return folder


def _environment(cache_dir: Path, **overrides) -> dict[str, str]:
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), **overrides)
    for name in ("NUMBA_DISABLE_JIT", "NUMBA_DEBUG_CACHE", "PYTHONWARNINGS"):
        environment.pop(name, None)
    return environment


def _command(demo: Path, dtypes: str, *options: str) -> list[str]:
    program = _PROGRAM.format(root=str(ROOT), demo=str(demo))
    return [sys.executable, "-c", program, dtypes, *options]


def _outcome(completed) -> tuple[dict, list[str]]:
    """The program's report and the messages of its warning lines; it must have succeeded
    (a traceback exits 1, a segmentation fault -11) and printed nothing else on stderr."""
    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.splitlines()
    messages = [match[1] for match in map(_WARNING.fullmatch, lines) if match]
    assert len(messages) == len(lines), completed.stderr
    return json.loads(completed.stdout.splitlines()[-1]), messages


def _run(demo: Path, cache_dir: Path, dtypes: str = "float64", *options: str,
         **environment) -> tuple[dict, list[str]]:
    completed = subprocess.run(_command(demo, dtypes, *options), capture_output=True,
                               text=True, env=_environment(cache_dir, **environment),
                               timeout=300)
    return _outcome(completed)


def _assert_right(report: dict, sums: int = 1) -> None:
    assert report["sums"] == [90.0] * sums  # 2 * (0 + 1 + ... + 9)
    assert report["squares"] == 30.0        # 0 + 1 + 4 + 9 + 16


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return _demo_package(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def pristine(demo, tmp_path_factory) -> Path:
    """A cache both kernels were compiled into by a first run."""
    cache_dir = tmp_path_factory.mktemp("pristine")
    report, messages = _run(demo, cache_dir)
    _assert_right(report)
    assert (report["compiled"], report["loaded"], messages) == ([1, 1], [0, 0], [])
    return cache_dir


@pytest.fixture
def cache(pristine, tmp_path) -> Path:
    shutil.copytree(pristine, tmp_path / "cache")
    return tmp_path / "cache"


def _file(cache_dir: Path, kernel: str, suffix: str) -> Path:
    (path,) = cache_dir.glob(f"*/kernels.{kernel}-*{suffix}")
    return path


def _object_code_middle(raw: bytes) -> int:
    """The offset of the middle of the machine code in a data file's pickle."""
    start = raw.find(b"\x7fELF")
    # pickled as BINBYTES: the opcode "B" and a 4-byte little-endian length
    assert start > 5 and raw[start - 5:start - 4] == b"B"
    return start + int.from_bytes(raw[start - 4:start], "little") // 2


def _flip_a_byte_of_the_machine_code(raw: bytes) -> bytes:
    middle = _object_code_middle(raw)
    flipped = bytearray(raw)
    flipped[middle] ^= 0xFF
    # The damage Numba cannot see: every opcode of the pickle still reads (the byte is
    # inside the raw bytes of the machine code), so Numba would unpickle and link it.
    header_length = raw.index(b"\n") + 1
    body = bytes(flipped[header_length:])
    assert len(list(pickletools.genops(body))) == len(list(pickletools.genops(
        raw[header_length:])))
    return bytes(flipped)


def _garbage(size: int) -> bytes:
    return random.Random(20261202).randbytes(size)  # the same bytes on every run


def _header_of_another(field: str, value: str):
    def rewrite(raw: bytes) -> bytes:
        header, _, body = raw.partition(b"\n")
        words = [value if word.startswith(field) else word for word in header.decode().split()]
        return " ".join(words).encode() + b"\n" + body
    return rewrite


_DAMAGE = {
    # name: (file, how it is damaged, what the warning says)
    "data truncated": (".nbc", lambda raw: raw[:len(raw) // 2],
                       r"is truncated \(\d+ of \d+ bytes\)"),
    "data overwritten": (".nbc", lambda raw: _garbage(len(raw)),
                         r"has no krylovfem-numba-cache/1 header \(foreign or overwritten\)"),
    "a byte of machine code flipped": (".nbc", _flip_a_byte_of_the_machine_code,
                                       r"is corrupt \(checksum mismatch\)"),
    "data of another Numba": (".nbc", _header_of_another("numba=", "numba=0.0.1"),
                              r"is from another Numba version \(0\.0\.1\)"),
    "data of another cache format": (
        ".nbc", _header_of_another("krylovfem-numba-cache/", "krylovfem-numba-cache/0"),
        r"is from another version of this cache \(krylovfem-numba-cache/0\)"),
    "index truncated": (".nbi", lambda raw: raw[:len(raw) // 2],
                        r"is corrupt \(it does not unpickle: \w+\)"),
    "index overwritten": (".nbi", lambda raw: _garbage(len(raw)),
                          r"is corrupt \(it does not unpickle: \w+\)"),
}


# the next run finds the file compiled again whole (checked for one file of each kind)
_HEALED = ("a byte of machine code flipped", "index overwritten")


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_a_damaged_file_is_reported_in_one_line_and_compiled_again(demo, cache, damage):
    suffix, damaged, problem = _DAMAGE[damage]
    path = _file(cache, "weighted_sum", suffix)
    path.write_bytes(damaged(path.read_bytes()))

    report, messages = _run(demo, cache)
    _assert_right(report)
    assert (report["compiled"], report["loaded"]) == ([1, 0], [0, 1])  # squares was intact
    assert len(messages) == 1
    assert re.fullmatch(f"Numba cache file {re.escape(str(path))} {problem}; recompiling",
                        messages[0]), messages[0]
    if damage in _HEALED:
        report, messages = _run(demo, cache)
        _assert_right(report)
        assert (report["compiled"], report["loaded"], messages) == ([0, 0], [1, 1], [])


def test_a_data_file_of_another_function_is_refused(demo, cache):
    # Whole and of this format: only the key stored with it tells it is not weighted_sum's.
    path = _file(cache, "weighted_sum", ".nbc")
    shutil.copyfile(_file(cache, "squares", ".nbc"), path)

    report, messages = _run(demo, cache)
    _assert_right(report)
    assert (report["compiled"], report["loaded"]) == ([1, 0], [0, 1])
    assert messages == [f"Numba cache file {path} is foreign (it holds another function or "
                        f"signature); recompiling"]


def _not_a_folder(tmp_path: Path) -> Path:
    """A path below a regular file: no folder can be made there, not even by root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "cache"


def test_a_numba_cache_dir_that_is_not_writable(tmp_path):
    demo = _demo_package(tmp_path / "demo")
    cache_dir = _not_a_folder(tmp_path)

    report, messages = _run(demo, cache_dir)
    _assert_right(report)
    assert messages == [f"NUMBA_CACHE_DIR {cache_dir} is not a writable folder; Numba's "
                        f"cache is kept in its default place instead"]
    # the default place: __pycache__ beside the kernels' source
    assert list((demo / "cachedemo" / "__pycache__").glob("kernels.*.nbc"))


def test_a_cache_folder_that_becomes_unreadable_runs_uncached(demo, tmp_path):
    cache_dir = tmp_path / "cache"  # replaced by a file once the kernels are defined
    report, messages = _run(demo, cache_dir, "float64", "--cache-folder-becomes-a-file")
    _assert_right(report)
    assert report["compiled"] == [1, 1]
    assert len(messages) == 1
    assert re.fullmatch(rf"Numba's cache in {re.escape(str(cache_dir))}/\S+ cannot be used "
                        r"\(NotADirectoryError: .*\); compiling without it", messages[0])


def test_a_data_file_that_cannot_be_written_runs_uncached(demo, pristine, tmp_path):
    # Where each data file goes stands a folder: the index is written, the data is not.
    cache_dir = tmp_path / "cache"
    for path in pristine.glob("*/*.nbc"):
        (cache_dir / path.relative_to(pristine)).mkdir(parents=True)
    report, messages = _run(demo, cache_dir)
    _assert_right(report)
    assert report["compiled"] == [1, 1]
    (folder,) = {path.parent for path in cache_dir.glob("*/*.nbc")}
    assert len(messages) == 1
    assert re.fullmatch(rf"Numba's cache in {re.escape(str(folder))} cannot be written "
                        r"\(IsADirectoryError: .*\); compiling without it", messages[0])


_FEM_PROGRAM = """
import json, sys
sys.path.insert(0, {source!r})
import fem, solvers
assert solvers.__file__.startswith({source!r}) and fem.__file__.startswith({source!r})
pattern = fem.sparsity_pattern(fem.function_space(fem.unit_square(2), 1))
print(json.dumps([pattern.indptr.tolist(), pattern.indices.tolist()]))
"""


def test_solvers_and_fem_import_and_run_with_no_writable_location(tmp_path):
    # The packages themselves, copied where no __pycache__ can be made: Numba alone fails
    # at import ("no locator available").
    source = tmp_path / "source"
    for package in ("solvers", "fem"):
        (source / package).mkdir(parents=True)
        for path in (ROOT / package).glob("*.py"):
            shutil.copyfile(path, source / package / path.name)
        (source / package / "__pycache__").write_text("")
    nowhere = str(_not_a_folder(tmp_path))
    completed = subprocess.run(
        [sys.executable, "-c", _FEM_PROGRAM.format(source=str(source))], capture_output=True,
        text=True, timeout=300, env=_environment(Path(nowhere), HOME=nowhere,
                                                 XDG_CACHE_HOME=nowhere))
    (indptr, indices), messages = _outcome(completed)

    import fem

    expected = fem.sparsity_pattern(fem.function_space(fem.unit_square(2), 1))
    assert indptr == expected.indptr.tolist() and indices == expected.indices.tolist()
    assert len(messages) == 1
    assert re.fullmatch(r"Numba's cache cannot be used \(cannot cache function '\w+': no "
                        r"locator available for file '.*'\); compiling without it "
                        r"\(NUMBA_CACHE_DIR can name a writable folder\)", messages[0])


def _race(demo: Path, cache_dir: Path, tmp_path: Path, dtypes: tuple[str, str]) -> None:
    """Two processes compile and save into one empty cache, set off at the same moment
    (once both have imported everything)."""
    go = tmp_path / "go"
    writers = [subprocess.Popen(_command(demo, dtype, "--wait-for", str(go)),
                                env=_environment(cache_dir), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for dtype in dtypes]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready.*"))) < len(writers) and time.monotonic() < deadline:
        time.sleep(0.005)
    go.write_text("")
    for writer in writers:
        stdout, stderr = writer.communicate(timeout=300)
        report, messages = _outcome(subprocess.CompletedProcess(
            writer.args, writer.returncode, stdout, stderr))
        _assert_right(report)
        assert messages == []


def test_two_processes_compiling_the_same_kernels_at_once_leave_a_whole_cache(demo, tmp_path):
    cache_dir = tmp_path / "cache"
    _race(demo, cache_dir, tmp_path, ("float64", "float64"))
    report, messages = _run(demo, cache_dir)
    _assert_right(report)
    assert (report["compiled"], report["loaded"], messages) == ([0, 0], [1, 1], [])


def test_an_index_entry_paired_with_another_signatures_code_is_refused(demo, pristine,
                                                                      tmp_path):
    # Two processes saving two signatures of one kernel at the same moment both read an
    # empty index and both number their data file 1; the index of one may then survive
    # beside the data file of the other.  Made here from two real runs: the index of an
    # int64 run, the data file of a float64 run.  Numba alone would run the float64 code
    # on int64 values.
    other = tmp_path / "int64"
    _run(demo, other, "int64")
    cache_dir = tmp_path / "cache"
    shutil.copytree(pristine, cache_dir)
    index = _file(cache_dir, "weighted_sum", ".nbi")
    shutil.copyfile(_file(other, "weighted_sum", ".nbi"), index)

    report, messages = _run(demo, cache_dir, "int64")
    _assert_right(report)
    assert (report["compiled"], report["loaded"]) == ([1, 0], [0, 1])
    assert messages == [f"Numba cache file {_file(cache_dir, 'weighted_sum', '.nbc')} is "
                        f"foreign (it holds another function or signature); recompiling"]


def test_the_kernels_of_solvers_and_fem_have_the_checked_cache():
    import importlib

    cache = importlib.import_module("solvers._cache")
    files = importlib.import_module("solvers._cache_files")
    for module, kernel in (("solvers.cg", "_cg_loop"), ("solvers._csr", "_spmv_rows"),
                           ("fem.assembly", "_stiffness_kernel"), ("fem.mesh", None)):
        loaded = importlib.import_module(module)
        names = [kernel] if kernel else [name for name, value in vars(loaded).items()
                                         if hasattr(value, "enable_caching")]
        assert names
        for name in names:
            dispatcher = getattr(loaded, name)
            assert isinstance(dispatcher._cache, cache.PackageCache), (module, name)
            assert isinstance(dispatcher._cache._cache_file, files.CheckedCacheFile)
            folder = Path(loaded.__file__).parent
            assert dispatcher._cache._impl.locator.get_source_stamp() == \
                cache._package_hash(folder)


def test_functions_of_other_packages_keep_numbas_cache(tmp_path):
    from numba.core.caching import FunctionCache

    source = tmp_path / "elsewhere.py"
    source.write_text("from numba import njit\n\n@njit(cache=True)\ndef one():\n    return 1\n")
    namespace = {"__file__": str(source)}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    assert type(namespace["one"]._cache) is FunctionCache


def test_on_a_numba_without_the_internals_the_kernels_run_uncached():
    import importlib
    from types import SimpleNamespace

    from numba.core.caching import NullCache

    import solvers

    cache = importlib.import_module("solvers._cache")
    numba_enable_caching_calls = []
    enable_caching = cache._enable_caching(numba_enable_caching_calls.append,
                                           ["IndexDataCacheFile.load"])
    kernel = SimpleNamespace(py_func=importlib.import_module("solvers._csr")._spmv_rows.py_func)
    with pytest.warns(solvers.CacheWarning, match="lacks IndexDataCacheFile.load; compiling "
                                                  "without a cache"):
        enable_caching(kernel)
    assert isinstance(kernel._cache, NullCache)
    assert numba_enable_caching_calls == []  # a registered package's kernel: not Numba's cache


def test_a_cached_kernel_is_loaded_without_the_compilers_set_up(demo, pristine, tmp_path):
    """A warm process links both kernels (one allocates: Numba's runtime) and never loads
    the registries that only compiling needs; a kernel compiled after such loads, and one
    loaded after a compile, still give right answers."""
    cache_dir = tmp_path / "cache"
    shutil.copytree(pristine, cache_dir)
    report, messages = _run(demo, cache_dir)
    _assert_right(report)
    assert (report["loaded"], report["compiled"], report["registries"], messages) == (
        [1, 1], [0, 0], False, [])
    report, messages = _run(demo, cache_dir, "float64,float32")
    assert report["sums"] == [90.0, 90.0] and report["squares"] == 30.0
    assert (report["loaded"], report["compiled"], report["registries"], messages) == (
        [1, 1], [1, 0], True, [])
