"""Helpers for the command-line tests: run ``krylovfem`` in-process and capture its output."""

import contextlib
import io
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
