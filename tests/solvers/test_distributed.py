"""Distributed CG and GMRES under ``mpiexec -n 2`` and ``-n 3`` against the serial solves.

One launch per number of ranks runs every case of ``mpi/worker.py``; each rank writes
what it saw, and the tests below read it.  Three ranks on this two-core machine are
oversubscribed, which MPICH allows (they only run slower).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).resolve().parent / "mpi" / "worker.py"
REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                                reason='mpi4py is not installed (pip install -e ".[mpi]")')

COMPARED = ("cg-none", "cg-jacobi", "cg-single-jacobi", "gmres-none", "gmres-jacobi",
            "cg-block-ic0")
RANKS = (2, 3)


def _launch(size: int, *arguments: str, timeout: float) -> subprocess.CompletedProcess:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(mpiexec), "-n", str(size), sys.executable, str(WORKER),
                           *arguments], capture_output=True, text=True, timeout=timeout,
                          cwd=REPOSITORY, env=environment)


@pytest.fixture(scope="module", params=RANKS, ids=lambda size: f"P={size}")
def ranks(request, tmp_path_factory):
    """What every rank of one ``mpiexec -n P`` launch of the worker reported."""
    size = request.param
    output = tmp_path_factory.mktemp(f"mpi{size}") / "report"
    completed = _launch(size, str(output), timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return [json.loads(Path(f"{output}.{rank}.json").read_text()) for rank in range(size)]


@pytest.mark.parametrize("case", COMPARED)
def test_iterations_and_reason_are_the_serial_ones(ranks, case):
    distributed, serial = ranks[0][case]["first"], ranks[0][case]["serial"]
    assert distributed["reason"] == serial["reason"] == "converged_rtol"
    assert abs(distributed["iterations"] - serial["iterations"]) <= 1
    assert distributed["type"] == "DistributedResult"


@pytest.mark.parametrize("case", COMPARED)
def test_solution_is_the_serial_one_within_the_tolerance(ranks, case):
    report = ranks[0][case]
    x, x_serial = np.array(report["x"]), np.array(report["serial_x"])
    assert report["first"]["true_residual_norm"] <= report["first"]["tolerance"]
    # Both meet ||b - A x|| <= tol; their difference is of the size of the error bound.
    scale = np.linalg.norm(x_serial)
    assert np.linalg.norm(x - x_serial) <= 1e-3 * scale


@pytest.mark.parametrize("case", COMPARED)
def test_every_rank_reports_the_same_solve(ranks, case):
    first = ranks[0][case]["first"]
    for report in ranks[1:]:
        assert report[case]["first"] == first
        assert report[case]["x"] == ranks[0][case]["x"]


@pytest.mark.parametrize("case", COMPARED)
def test_a_rerun_is_bit_identical(ranks, case):
    for report in ranks:
        assert report[case]["again"] == report[case]["first"]
        assert report[case]["same_x_again"]


def test_block_jacobi_is_the_serial_solve_with_the_same_blocks(ranks):
    report = ranks[0]["cg-block-ic0"]
    assert report["first"]["preconditioner"] == "block-ic0"
    # The serial reference applies IC(0) of the same P diagonal blocks.
    assert abs(report["first"]["iterations"] - report["serial"]["iterations"]) <= 1


def test_a_matrix_built_by_hand_on_each_rank_is_solved(ranks):
    report = ranks[0]["hand-built"]
    n = report["n"]
    points = np.arange(1, n + 1)
    exact = points * (n + 1 - points) / 2  # -u'' = 1, u_0 = u_{n+1} = 0, exactly
    assert report["result"]["reason"] == "converged_rtol"
    np.testing.assert_allclose(report["x"], exact, rtol=1e-9)
    assert all(other["hand-built"] == report for other in ranks[1:])


@pytest.mark.parametrize("case, kind, words", [
    ("too_many_ranks", "ValueError", "fewer than the"),
    ("rank_without_rows", "ValueError", "have no rows"),
    ("wrong_b", "ValueError", "must have length"),
    ("unknown_M", "ValueError", "allowed"),
    ("scatter_wrong_length", "ValueError", "entries"),
    ("gather_wrong_length", "ValueError", "entries"),
    ("pivot_on_one_rank", "PivotError", "pivot"),
])
def test_bad_input_is_refused_on_every_rank(ranks, case, kind, words):
    for report in ranks:
        refused = report["bad-input"][case]
        assert refused["error"] == kind
        assert words in refused["message"]


@pytest.mark.parametrize("case", ["nan_on_one_rank", "nan_on_one_rank_gmres"])
def test_an_overflow_on_one_rank_stops_every_rank_with_diverged_nan(ranks, case):
    for report in ranks:
        assert report["bad-input"][case]["reason"] == "diverged_nan"


def test_a_monitor_on_one_rank_sees_the_history_every_rank_returns(ranks):
    report = ranks[0]["monitored"]
    histories = report["cg"]["history"] + report["gmres"]["history"]
    assert report["seen"] == histories
    assert report["cg"]["reason"] == report["gmres"]["reason"] == "converged_rtol"
    assert all(other["monitored"]["cg"] == report["cg"] for other in ranks[1:])


def test_a_callback_that_raises_on_one_rank_ends_every_rank():
    completed = _launch(2, "--failing-callback", timeout=300)  # a hang would time out
    assert completed.returncode != 0
    assert "rank 1: the monitor or callback raised RuntimeError" in completed.stderr


def test_a_ctrl_c_on_one_rank_stops_every_rank_at_the_same_iteration(tmp_path):
    output = tmp_path / "interrupted"
    completed = _launch(3, "--interrupt-one-rank", str(output), timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    reports = [json.loads(Path(f"{output}.{rank}.json").read_text()) for rank in range(3)]
    for method in ("cg", "gmres"):
        results = [report[method] for report in reports]
        assert None not in results  # stopped, long before converging
        assert all(result == results[0] for result in results)  # the same on every rank
        result = results[0]
        assert result["reason"] == "interrupted" and result["iterations"] > 0
        assert result["history"] == result["iterations"] + 1
        assert result["true"] == pytest.approx(result["recorded"], rel=1e-6)


def test_solvers_import_without_loading_mpi():
    program = ("import sys, solvers, solvers.distributed, solvers.distributed.cg, "
               "solvers.distributed.gmres\nprint('mpi4py' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                               cwd=REPOSITORY, timeout=300, check=True)
    assert completed.stdout.split()[-1] == "False"


def test_a_distributed_option_on_a_serial_matrix_is_refused():
    import scipy.sparse as sp

    import solvers

    with pytest.raises(TypeError, match="variant"):
        solvers.cg(sp.identity(3, format="csr"), np.ones(3), variant="single_reduction")
