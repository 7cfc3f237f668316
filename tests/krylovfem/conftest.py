"""Helpers for the command-line tests: run ``krylovfem`` in-process and capture its output."""

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from krylovfem.cli import main

REPOSITORY = Path(__file__).resolve().parents[2]
CASES = REPOSITORY / "cases"


class Completed:
    """Exit status and output of one ``krylovfem`` call."""

    def __init__(self, status: int, stdout: str, stderr: str):
        self.status = status
        self.stdout = stdout
        self.stderr = stderr


def run_cli(*arguments) -> Completed:
    """Call ``krylovfem.cli.main`` with ``arguments``; what the console script would do."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main([str(argument) for argument in arguments])
    return Completed(status, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def start_command():
    """``start_command(*arguments, **popen_options)`` starts ``python -m krylovfem
    arguments`` in a process of its own (text pipes for stdout and stderr) and returns
    its ``Popen``.  Whatever the test's outcome, each process started is killed when the
    test ends: the runs that these tests signal would otherwise go on for hours after a
    missed signal, loading the machine under the rest of the suite."""
    processes = []

    def start(*arguments, **options):
        process = subprocess.Popen(
            [sys.executable, "-m", "krylovfem", *(str(argument) for argument in arguments)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()  # nothing, if it has ended
        process.wait()


# Ctrl-C at a chosen point of a command, in-process
def interrupting(monkeypatch, calls: int, how):
    """Make the ``calls``-th call of ``krylovfem.run.run_case`` (counting from 1) end by
    ``how(run_case, *arguments)``: a study level, an adaptive step or a uniform level."""
    import krylovfem.run

    real, count = krylovfem.run.run_case, [0]

    def run_case(*args, **kwargs):
        count[0] += 1
        if count[0] == calls:
            return how(real, *args, **kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(krylovfem.run, "run_case", run_case)


def ctrl_c(real, *args, **kwargs):
    raise KeyboardInterrupt


def ctrl_c_in_the_solve(real, *args, **kwargs):
    """The solver's answer to a Ctrl-C: the solve so far, with the reason interrupted."""
    import dataclasses

    import krylovfem.run
    from solvers import Reason, SolveInterrupted

    solve = krylovfem.run._solve

    def interrupted(*solve_args, **solve_kwargs):
        result = solve(*solve_args, **solve_kwargs)
        raise SolveInterrupted(dataclasses.replace(result, reason=Reason.INTERRUPTED,
                                                   converged=False))

    krylovfem.run._solve = interrupted
    try:
        return real(*args, **kwargs)
    finally:
        krylovfem.run._solve = solve


@pytest.fixture
def hermitian_case(tmp_path) -> Path:
    """A matrix case of a complex Hermitian positive definite matrix (a 2D Laplacian
    plus i times a skew-symmetric coupling), written by SciPy, with b = A @ ones."""
    import scipy.io
    import scipy.sparse as sp

    m = 12
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    L = sp.kronsum(T, T)
    skew = sp.kron(sp.eye(m), sp.diags([1.0, -1.0], [1, -1], shape=(m, m)))
    A = sp.coo_matrix(L + 0.3j * skew)
    scipy.io.mmwrite(tmp_path / "hermitian.mtx", A, symmetry="hermitian")
    case = tmp_path / "hermitian.toml"
    case.write_text('name = "hermitian"\n[problem]\ntype = "matrix"\n[system]\n'
                    'matrix = "hermitian.mtx"\n[solver]\nmethod = "cg"\npreconditioner = '
                    '"ic0"\nrtol = 1e-10\n')
    return case

