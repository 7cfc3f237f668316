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


def test_sigterm_stops_a_run_and_leaves_the_earlier_record(tmp_path, start_command):
    """SIGTERM to a real run: exit 143, one line, the earlier record unchanged."""
    case = tmp_path / "long-heat.toml"
    case.write_text((REPOSITORY / "cases" / "heat.toml").read_text()
                    .replace("dt = 0.005", "dt = 0.000005"))  # 20000 steps
    out = tmp_path / "out"
    first = subprocess.run([sys.executable, "-m", "krylovfem", "run", str(POISSON), "--out",
                            str(out), *QUICK], capture_output=True, text=True, timeout=300)
    assert first.returncode == EXIT_OK, first.stderr
    before = _snapshot(out)
    process = start_command("run", case, "--out", out, "--quiet")
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


def test_ctrl_c_during_a_solve_records_the_run_so_far(tmp_path, start_command):
    """SIGINT to a real run in its solve: exit 130, a record whose reason is interrupted."""
    out = tmp_path / "out"
    # GMRES(1) on 16641 unknowns to rtol 1e-13 would take many minutes
    process = start_command(
        "run", POISSON, "--out", out, "--set", "mesh.n=128", "--set", "solver.method=gmres",
        "--set", "solver.restart=1", "--set", "solver.preconditioner=none",
        "--set", "solver.rtol=1e-13", "--set", "solver.maxiter=10000000",
        "--set", "output.plots=false", "--monitor", "1000")
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


# --------------------------------------------------------------------------------------
# The figures drawn in a second process (krylovfem.drawing)
# --------------------------------------------------------------------------------------
SMALL_WITH_PLOTS = ("--quiet", "--set", "mesh.n=6")


def test_figures_of_the_figure_process_are_those_drawn_in_process(tmp_path, cli):
    """The command's own process draws in a forked one; a library caller in-process: the
    same files, listed alike, the same bytes (pixels and plotted data) in every figure."""
    forked, inline = tmp_path / "forked", tmp_path / "inline"
    completed = subprocess.run([sys.executable, "-m", "krylovfem", "run", str(POISSON),
                                "--out", str(forked), *SMALL_WITH_PLOTS],
                               capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert completed.returncode == EXIT_OK and completed.stderr == "", completed.stderr
    assert cli("run", POISSON, "--out", inline, *SMALL_WITH_PLOTS).status == EXIT_OK
    listed = json.loads((forked / "summary.json").read_text())["files"]
    assert listed == json.loads((inline / "summary.json").read_text())["files"]
    figures = [name for name in listed if name.endswith(".png")]
    assert figures == ["residuals.png", "solution.png", "error.png"]
    assert sorted(path.name for path in forked.iterdir()) == sorted(listed)
    for name in figures:
        assert (forked / name).read_bytes() == (inline / name).read_bytes(), name


@pytest.fixture
def small_run():
    from krylovfem.casefile import load_case
    from krylovfem.run import run_case

    return run_case(load_case(POISSON, ["mesh.n=4"]))


@pytest.mark.parametrize("failure, expected", [
    (OSError(errno.ENOSPC, "No space left on device"), RecordError),
    (ValueError("a broken figure"), "FigureError")])
def test_a_figure_failing_in_the_figure_process_leaves_the_earlier_record(
        failure, expected, small_run, tmp_path, monkeypatch):
    """A figure that fails in the figure process fails the record as in-process (a full
    disk: RecordError, exit 3; a bug: FigureError, exit 70), the earlier record whole."""
    import krylovfem.figures
    from krylovfem.drawing import FigureError, figure_process

    expected = FigureError if expected == "FigureError" else expected
    out = tmp_path / "out"
    krylovfem.record.write_run(small_run, out)
    before = _snapshot(out)

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(krylovfem.figures, "save_figure", broken)  # forked with it
    with figure_process() as drawing, pytest.raises(expected) as raised:
        krylovfem.record.write_run(small_run, out, drawing)
    assert not drawing.running
    if expected is RecordError:
        assert "No space left on device" in str(raised.value)
        assert "the earlier record there is unchanged" in str(raised.value)
    else:
        assert str(raised.value) == "ValueError: a broken figure"
    assert _snapshot(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_figure_process_ended_without_a_word_fails_the_record(small_run, tmp_path):
    """The figure process killed (by the system, say): a clear failure, no record."""
    from krylovfem.drawing import FigureError, figure_process

    with figure_process() as drawing:
        os.kill(drawing.pid, signal.SIGKILL)
        with pytest.raises(FigureError, match="ended without drawing the figures"):
            krylovfem.record.write_run(small_run, tmp_path / "out", drawing)
    assert list(tmp_path.iterdir()) == []


def _only_for(name: str, action):
    """``save_figure`` that does ``action(path)`` for the figure ``name`` instead."""
    import krylovfem.figures

    original = krylovfem.figures.save_figure

    def save(figure, path, data):
        if Path(path).name == name:
            return action(Path(path))
        return original(figure, path, data)

    return save


@pytest.mark.parametrize("name", ["solution.png", "error.png"])
def test_a_figure_failing_in_a_figure_process_helper_fails_the_record(
        small_run, tmp_path, monkeypatch, name):
    """Of three figures, the second and the third are drawn by helpers that the figure
    process forks, one each: a failure comes back as the figure process's own would, the
    others drawn or not, no record."""
    import krylovfem.figures
    from krylovfem.drawing import FigureError, figure_process

    def broken(path):
        raise ValueError(f"{path.name} broken")

    monkeypatch.setattr(krylovfem.figures, "save_figure", _only_for(name, broken))
    with figure_process() as drawing, pytest.raises(FigureError) as raised:
        krylovfem.record.write_run(small_run, tmp_path / "out", drawing)
    assert str(raised.value) == f"ValueError: {name} broken"
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_figure_process_leaves_no_helper(small_run, tmp_path, monkeypatch):
    """:meth:`FigureProcess.stop` while a helper draws ends it too (no process keeps
    writing into a folder that is being removed)."""
    import krylovfem.figures
    from krylovfem.drawing import figure_process

    started = tmp_path / "started"

    def stuck(path):
        started.touch()
        time.sleep(600)

    monkeypatch.setattr(krylovfem.figures, "save_figure", _only_for("solution.png", stuck))
    folder = tmp_path / "figures"
    folder.mkdir()
    with figure_process() as drawing:
        assert drawing.draw(small_run, folder) == ["residuals.png", "solution.png",
                                                   "error.png"]
        deadline = time.monotonic() + 120
        while not started.exists():
            assert time.monotonic() < deadline, "the helper never started its figure"
            time.sleep(0.05)
        group = drawing.pid
    assert not drawing.running
    deadline = time.monotonic() + 30
    while True:  # the helper, killed with the group, is reaped by init
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a process of the figure group is left"
        time.sleep(0.05)


def _in_session(session: int) -> list[int]:
    """The processes (pids) of a session, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[3]) == session:  # after the name: state, ppid, pgrp, session
                members.append(int(entry.name))
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how, status", [(signal.SIGTERM, EXIT_TERMINATED),
                                          (signal.SIGINT, 130)])
def test_a_signal_during_a_run_with_figures_ends_both_processes(how, status, tmp_path,
                                                              start_command):
    """SIGTERM or Ctrl-C (sent to the whole process group, as a terminal does) while a
    run that draws its figures solves: its status, one line, and no process left."""
    case = tmp_path / "long-heat.toml"
    case.write_text((REPOSITORY / "cases" / "heat.toml").read_text()
                    .replace("dt = 0.005", "dt = 0.000005"))  # 20000 steps
    process = start_command("run", case, "--out", tmp_path / "out", "--quiet",
                            "--set", "output.plots=true", start_new_session=True)
    time.sleep(4.0)
    os.killpg(process.pid, how)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    # the figure process (a process group of its own, in the run's session) is gone too
    deadline = time.monotonic() + 30
    while _in_session(process.pid):
        assert time.monotonic() < deadline, _in_session(process.pid)
        time.sleep(0.05)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["long-heat.toml"]
