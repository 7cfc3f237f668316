"""Distributed assembly under ``mpiexec -n 2`` and ``-n 3`` against the serial assembly:
the same system, so the same iterations, solution and error norms."""

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parent / "mpi" / "worker.py"
REPOSITORY = Path(__file__).resolve().parents[2]
CASES = ("poisson-p1", "poisson-p2", "convection-p1")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or importlib.util.find_spec("pymetis") is None,
    reason='mpi4py and pymetis are not installed (pip install -e ".[mpi]")')


@pytest.fixture(scope="module", params=(2, 3), ids=lambda size: f"P={size}")
def ranks(request, tmp_path_factory):
    size = request.param
    output = tmp_path_factory.mktemp(f"fem-mpi{size}") / "report"
    mpiexec = Path(sys.executable).parent / "mpiexec"
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run([str(mpiexec), "-n", str(size), sys.executable, str(WORKER),
                                str(output)], capture_output=True, text=True, timeout=900,
                               cwd=REPOSITORY, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return [json.loads(Path(f"{output}.{rank}.json").read_text()) for rank in range(size)]


@pytest.mark.parametrize("case", CASES)
def test_the_serial_iterations_and_solution(ranks, case):
    for report in (rank[case] for rank in ranks):
        assert report["reason"] == "converged_rtol"
        # Jacobi on the same matrix: the serial iterates, up to the order of the sums
        assert abs(report["iterations"] - report["serial_iterations"]) <= 1
        assert report["difference"] <= 1e-8 * report["scale"]
        assert report["bit_identical_rerun"]


def test_every_rank_owns_a_contiguous_part(ranks):
    for case in CASES:
        ranges = ranks[0][case]["ranges"]
        assert len(ranges) == len(ranks) + 1
        assert [rank[case]["rows"] for rank in ranks] == [
            b - a for a, b in itertools.pairwise(ranges)]
        assert min(b - a for a, b in itertools.pairwise(ranges)) > 0


@pytest.mark.parametrize("case", ["poisson-p1", "poisson-p2"])
def test_error_norms_are_the_serial_ones(ranks, case):
    for rank in ranks:
        errors, serial = rank[case]["errors"], rank[case]["serial_errors"]
        assert errors == pytest.approx(serial, rel=1e-8)
    # and the discretisation is the right one: P2 much more accurate than P1
    assert ranks[0]["poisson-p2"]["errors"][1] < ranks[0]["poisson-p1"]["errors"][1] / 5


def test_more_ranks_than_free_dofs_is_refused_on_every_rank(ranks):
    messages = [rank["too_many_ranks"] for rank in ranks]
    assert all(message is not None and "would own none" in message for message in messages)


def test_the_heat_equation_gives_the_serial_steps(ranks):
    for report in (rank["heat"] for rank in ranks):
        assert report["reasons"] == ["converged_rtol"]
        assert report["times"] == report["serial_times"]
        assert all(abs(ours - theirs) <= 1 for ours, theirs in
                   zip(report["iterations"], report["serial_iterations"], strict=True))
        assert report["difference"] <= 1e-8 * report["scale"]


def test_data_not_finite_on_some_ranks_cells_raise_on_every_rank(ranks):
    outcomes = [rank["not_finite"] for rank in ranks]
    assert None not in outcomes
    kinds = {outcome["kind"] for outcome in outcomes}
    # the ranks whose cells reach x > 0.9 raise their own error, the others its echo
    assert "own" in kinds
    for outcome in outcomes:
        assert "not finite" in outcome["message"]
        if outcome["kind"] == "echo":
            assert outcomes[outcome["rank"]]["kind"] == "own"
