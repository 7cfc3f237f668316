"""Faults around a run: each ends in one line and its documented exit status, and the
record folder is whole or absent (never a mixture of two runs, never a leftover)."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import krylovfem.record
from krylovfem.cli import (
    EXIT_INTERNAL_ERROR,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    EXIT_SYSTEM,
    EXIT_TERMINATED,
)
from krylovfem.folder import RecordError, record_lock, write_folder

REPOSITORY = Path(__file__).resolve().parents[2]
POISSON = REPOSITORY / "cases" / "poisson-2d.toml"
QUICK = ("--quiet", "--set", "mesh.n=4", "--set", "output.plots=false")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def _one_line(completed) -> str:
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    return lines[0]


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    """A real second process, while this one holds the folder, refuses with exit 3."""
    out = tmp_path / "out"
    with record_lock(out):
        completed = subprocess.run(
            [sys.executable, "-m", "krylovfem", "run", str(POISSON), "--out", str(out), *QUICK],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert completed.returncode == EXIT_SYSTEM, completed.stderr
        line = _one_line(completed)
        assert f"another krylovfem run (pid {os.getpid()})" in line and str(out) in line
        assert not out.exists()
    # released: the lock file is gone, and the next run goes through
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    again = subprocess.run(
        [sys.executable, "-m", "krylovfem", "run", str(POISSON), "--out", str(out), *QUICK],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.returncode == EXIT_OK, again.stderr
    assert (out / "summary.json").is_file()


def test_lock_taken_over_from_a_removed_file_is_not_shared(tmp_path):
    """Two holders never coexist, even across the unlink that ends a run."""
    out = tmp_path / "out"
    with record_lock(out):
        with pytest.raises(RecordError, match="another krylovfem run"), record_lock(out):
            pass
    with record_lock(out):
        pass


def test_disk_full_while_writing_keeps_the_earlier_record(tmp_path, cli, monkeypatch):
    out = tmp_path / "out"
    assert cli("run", POISSON, "--out", out, *QUICK).status == EXIT_OK
    before = _snapshot(out)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    completed = cli("run", POISSON, "--out", out, *QUICK[:-2])
    assert completed.status == EXIT_SYSTEM
    line = _one_line(completed)
    assert "No space left on device" in line and "the earlier record there is unchanged" in line
    assert _snapshot(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_write_folder_leaves_nothing_when_a_writer_fails(tmp_path):
    def failing(path):
        path.write_text("half")
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    with pytest.raises(RecordError, match="Read-only file system; nothing was written"):
        write_folder(tmp_path / "record", {"a.json": lambda path: path.write_text("{}"),
                                           "b.npz": failing})
    assert list(tmp_path.iterdir()) == []


def test_folders_of_a_killed_run_are_removed_by_the_next(tmp_path):
    """SIGKILL cannot be caught: its half-built folder is cleared by the next writer."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    abandoned = tmp_path / f".record.partial-{pid}"
    abandoned.mkdir()
    (abandoned / "solution.npz").write_bytes(b"half")
    alive = tmp_path / f".record.partial-{os.getpid()}-other"  # not ours to judge: kept
    alive.mkdir()
    write_folder(tmp_path / "record", {"summary.json": lambda path: path.write_text("{}")})
    assert not abandoned.exists()
    assert alive.exists()
    assert (tmp_path / "record" / "summary.json").read_text() == "{}"


def test_sigterm_stops_a_run_and_leaves_the_earlier_record(tmp_path):
    """SIGTERM to a real run: exit 143, one line, the earlier record unchanged."""
    case = tmp_path / "long-heat.toml"
    case.write_text((REPOSITORY / "cases" / "heat.toml").read_text()
                    .replace("dt = 0.005", "dt = 0.000005"))  # 20000 steps
    out = tmp_path / "out"
    first = subprocess.run([sys.executable, "-m", "krylovfem", "run", str(POISSON), "--out",
                            str(out), *QUICK], capture_output=True, text=True, timeout=300)
    assert first.returncode == EXIT_OK, first.stderr
    before = _snapshot(out)
    process = subprocess.Popen(
        [sys.executable, "-m", "krylovfem", "run", str(case), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_TERMINATED, stderr
    assert stderr.strip().splitlines() == ["krylovfem: terminated"]
    assert _snapshot(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["long-heat.toml", "out"]


def test_overflow_to_nan_ends_in_its_reason_with_nulls_in_the_record(tmp_path, cli):
    out = tmp_path / "out"
    completed = cli("run", POISSON, "--out", out, *QUICK, "--set", "problem.f=1e300")
    assert completed.status == EXIT_NOT_CONVERGED
    assert "diverged_nan" in _one_line(completed)
    record = json.loads((out / "summary.json").read_text())
    assert record["reason"] == "diverged_nan"
    assert record["solve"]["residual_norms"] == [None]


def test_an_internal_error_is_one_line_with_its_own_status(tmp_path, cli, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("an unforeseen state")

    monkeypatch.setattr(krylovfem.record, "summary_document", broken)
    completed = cli("run", POISSON, "--out", tmp_path / "out", *QUICK)
    assert completed.status == EXIT_INTERNAL_ERROR
    line = _one_line(completed)
    assert "internal error: RuntimeError: an unforeseen state" in line
    assert "KRYLOVFEM_TRACEBACK=1" in line
    assert not (tmp_path / "out").exists()


def test_output_through_a_dangling_link_is_refused_before_the_solve(tmp_path, cli):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    completed = cli("run", POISSON, "--out", tmp_path / "link" / "out", *QUICK)
    assert completed.status == 2
    assert "symbolic link" in _one_line(completed) and completed.stdout == ""


def test_every_exit_status_is_documented_alike_everywhere():
    import re

    import krylovfem.cli as cli_module
    from krylovfem.exit_status import EXIT_STATUS_TEXT

    codes = {value for name, value in vars(cli_module).items() if name.startswith("EXIT_")}
    stated = {int(code) for code in re.findall(r"(?:^|[;:(] )(\d+) ", EXIT_STATUS_TEXT)}
    assert stated == codes
    readme = " ".join((REPOSITORY / "README.md").read_text().split())
    reference = " ".join((REPOSITORY / "docs" / "case-files.md").read_text().split())
    text = " ".join(EXIT_STATUS_TEXT.split())
    assert text in readme and text in reference
    assert all(f"{code} " in cli_module.__doc__ for code in codes)


def test_ctrl_c_during_a_solve_records_the_run_so_far(tmp_path):
    """SIGINT to a real run in its solve: exit 130, a record whose reason is interrupted."""
    out = tmp_path / "out"
    # GMRES(1) on 16641 unknowns to rtol 1e-13 would take many minutes
    process = subprocess.Popen(
        [sys.executable, "-m", "krylovfem", "run", str(POISSON), "--out", str(out),
         "--set", "mesh.n=128", "--set", "solver.method=gmres", "--set", "solver.restart=1",
         "--set", "solver.preconditioner=none", "--set", "solver.rtol=1e-13",
         "--set", "solver.maxiter=10000000", "--set", "output.plots=false",
         "--monitor", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # wait until the solve prints its iterations
        if "KSP Residual norm" in line and not line.strip().startswith("0 "):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("krylovfem: interrupted after "), stderr
    record = json.loads((out / "summary.json").read_text())
    assert record["reason"] == "interrupted" and record["converged"] is False
    assert record["iterations"] >= 1000
    assert len(record["solve"]["residual_norms"]) == record["iterations"] + 1


def test_a_ctrl_c_swallowed_while_compiling_still_stops_the_run(tmp_path, cli, monkeypatch):
    """LLVM's ctypes callbacks turn a KeyboardInterrupt into an unraisable exception;
    the run keeps it (nothing printed) and stops before its solve with exit 130."""
    import solvers

    real = solvers.warm_up

    class Swallowing:
        # an exception that cannot propagate goes to sys.unraisablehook, as from ctypes
        def __del__(self):
            raise KeyboardInterrupt

    def swallowing_warm_up(*args, **kwargs):
        Swallowing()
        return real(*args, **kwargs)

    monkeypatch.setattr(solvers, "warm_up", swallowing_warm_up)
    completed = cli("run", POISSON, "--out", tmp_path / "out", *QUICK)
    assert completed.status == 130
    assert _one_line(completed) == "krylovfem: interrupted"
    assert not (tmp_path / "out").exists()
