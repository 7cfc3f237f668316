"""``mpiexec -n P krylovfem run/study`` against the same command in one process: the
serial iterations (Jacobi and no preconditioner give the serial iterates), reasons,
solutions and error norms; rank 0 alone prints and writes; every rank exits with the
serial status; a refused case, or a failure on rank 0 alone, ends every rank with one
line."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from krylovfem.folder import record_lock

COMMAND = Path(__file__).resolve().parent / "mpi" / "command.py"
REPOSITORY = Path(__file__).resolve().parents[2]
CASES = REPOSITORY / "cases"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or importlib.util.find_spec("pymetis") is None,
    reason='mpi4py and pymetis are not installed (pip install -e ".[mpi]")')


def krylovfem(size: int | None, tmp_path: Path, *arguments, fault: str | None = None,
              statuses: bool = True):
    """The command on ``size`` ranks (None: one process, no launcher); the completed
    process and each rank's exit status (with ``statuses``)."""
    status = tmp_path / f"status-{size}-{len(list(tmp_path.iterdir()))}"
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if fault is not None:
        environment["FAULT"] = fault
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        environment.pop(name, None)
    launcher = [] if size is None else [str(Path(sys.executable).parent / "mpiexec"), "-n",
                                        str(size)]
    completed = subprocess.run([*launcher, sys.executable, str(COMMAND), str(status),
                                *map(str, arguments)], capture_output=True, text=True,
                               timeout=600, cwd=REPOSITORY, env=environment)
    if not statuses:
        return completed, None
    return completed, [int(Path(f"{status}.{rank}").read_text()) for rank in range(size or 1)]


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


RUNS = {  # case, the --set of the run
    "poisson-p1-jacobi": ("poisson-2d.toml", ["solver.preconditioner=jacobi"]),
    "poisson-p2-none": ("poisson-2d-p2.toml", ["solver.preconditioner=none"]),
    "convection-gmres-jacobi": ("convection-diffusion.toml",
                                ["solver.method=gmres", "solver.preconditioner=jacobi"]),
    "heat-jacobi": ("heat.toml", ["solver.preconditioner=jacobi"]),
}


@pytest.mark.parametrize("size", [2, 3], ids=lambda size: f"P={size}")
@pytest.mark.parametrize("name", list(RUNS))
def test_run_over_ranks_gives_the_serial_results(tmp_path, name, size):
    case, settings = RUNS[name]
    overrides = [argument for setting in settings for argument in ("--set", setting)]
    serial_folder, folder = tmp_path / "serial", tmp_path / "ranks"
    _, serial_status = krylovfem(None, tmp_path, "run", CASES / case, "--out", serial_folder,
                                 *overrides)
    completed, statuses = krylovfem(size, tmp_path, "run", CASES / case, "--out", folder,
                                    *overrides)
    assert statuses == [0] * size == [serial_status[0]] * size, completed.stderr
    serial, record = summary(serial_folder), summary(folder)
    assert record["reason"] == serial["reason"] == "converged_rtol"
    solves = len(record.get("steps", [None]))  # a heat run: each step within one
    assert abs(record["iterations"] - serial["iterations"]) <= solves
    for norm in ("l2", "h1"):
        assert record["errors"][norm] == pytest.approx(serial["errors"][norm], rel=1e-7)
    assert record["parallel"]["ranks"] == size
    assert sum(record["parallel"]["rows"]) == record["free_dofs"] == serial["free_dofs"]
    assert min(record["parallel"]["rows"]) > 0
    assert len(record["parallel"]["communication_seconds"]) == size
    rtol = record["case"]["resolved"]["solver"]["rtol"]
    assert record["relative_residual"] <= rtol  # the true residual, over all ranks
    assert sorted(record["files"]) == sorted(serial["files"])
    u = np.load(folder / "solution.npz")["u"]
    serial_u = np.load(serial_folder / "solution.npz")["u"]
    assert np.abs(u - serial_u).max() <= 1e-7 * np.abs(serial_u).max()
    # the partition, drawn: every cell's rank in the VTU (and the arrays)
    import meshio

    cell_ranks = meshio.read(folder / "solution.vtu").cell_data["rank"][0]
    assert set(np.unique(cell_ranks)) == set(range(size))
    assert np.array_equal(np.load(folder / "solution.npz")["cell_ranks"], cell_ranks)
    # rank 0 alone speaks: each line of the report once
    assert completed.stdout.count("iterations  ") == 1
    assert f"mpi         {size} ranks (rows " in completed.stdout
    assert completed.stderr == ""


def test_reruns_at_a_fixed_number_of_ranks_are_bit_identical(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        krylovfem(2, tmp_path, "run", CASES / "poisson-2d.toml", "--out", folder)
    assert np.array_equal(np.load(first / "solution.npz")["u"],
                          np.load(second / "solution.npz")["u"])
    # the case's own block-Jacobi IC(0): converged, in more iterations than one block
    assert summary(first)["solve"]["preconditioner"] == "block-ic0"
    assert summary(first)["reason"] == "converged_rtol"


def test_a_matrix_case_over_ranks(tmp_path):
    overrides = ("--set", "solver.preconditioner=jacobi")
    krylovfem(None, tmp_path, "run", CASES / "matrix-gr_30_30.toml", "--out",
              tmp_path / "serial", *overrides)
    completed, statuses = krylovfem(3, tmp_path, "run", CASES / "matrix-gr_30_30.toml",
                                    "--out", tmp_path / "ranks", *overrides)
    assert statuses == [0, 0, 0], completed.stderr
    serial, record = summary(tmp_path / "serial"), summary(tmp_path / "ranks")
    assert abs(record["iterations"] - serial["iterations"]) <= 1
    assert record["errors"]["l2"] == pytest.approx(serial["errors"]["l2"], rel=1e-3, abs=1e-9)
    assert record["parallel"]["rows"] == [300, 300, 300]


def test_a_study_over_ranks_gives_the_serial_rates(tmp_path):
    arguments = ("study", CASES / "poisson-2d.toml", "--levels", "3",
                 "--set", "solver.preconditioner=jacobi", "--set", "mesh.n=8")
    krylovfem(None, tmp_path, *arguments, "--out", tmp_path / "serial")
    completed, statuses = krylovfem(2, tmp_path, *arguments, "--out", tmp_path / "ranks")
    assert statuses == [0, 0], completed.stderr
    serial, study = (json.loads((tmp_path / name / "study.json").read_text())
                     for name in ("serial", "ranks"))
    for ours, theirs in zip(study["levels"], serial["levels"], strict=True):
        assert abs(ours["iterations"] - theirs["iterations"]) <= 1
        assert ours["l2"] == pytest.approx(theirs["l2"], rel=1e-7)
        assert ours["h1"] == pytest.approx(theirs["h1"], rel=1e-7)
    assert (tmp_path / "ranks" / "level-02" / "summary.json").is_file()


REFUSED = {  # arguments, the status, a piece of the one line
    "unknown key": (("run", CASES / "poisson-2d.toml", "--set", "solver.bogus=1"), 2,
                    "unknown key 'bogus'"),
    "compare": (("compare", CASES / "poisson-2d.toml"), 2, "runs in one process"),
    "amg": (("run", CASES / "poisson-2d.toml", "--set", "solver.preconditioner=amg"), 2,
            "preconditioner = \"amg\" runs in one process"),
    "more ranks than unknowns": (("run", CASES / "poisson-2d.toml", "--set", "mesh.n=2"), 2,
                                 "3 ranks, but 1 unknown"),
    "not converged": (("run", CASES / "poisson-2d.toml", "--set", "solver.maxiter=3"), 1,
                      "did not converge (diverged_max_iterations)"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_every_rank_ends_with_the_serial_status_and_one_line(tmp_path, name):
    arguments, status, message = REFUSED[name]
    completed, statuses = krylovfem(3, tmp_path, *arguments, "--out", tmp_path / "out")
    assert statuses == [status] * 3
    assert completed.returncode == status
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], completed.stderr
    written = (tmp_path / "out" / "summary.json").is_file()
    assert written == (status == 1)  # a record for a run that did not converge only


def test_a_failure_on_rank_0_alone_ends_every_rank(tmp_path):
    folder = tmp_path / "busy"
    with record_lock(folder):  # another run holds the folder: rank 0 finds out, alone
        completed, statuses = krylovfem(2, tmp_path, "run", CASES / "poisson-2d.toml",
                                        "--out", folder)
    assert statuses == [3, 3]
    assert completed.stderr.count("\n") == 1 and "another krylovfem run" in completed.stderr


def test_a_complex_matrix_case_is_refused_over_ranks(tmp_path, hermitian_case):
    completed, statuses = krylovfem(2, tmp_path, "run", hermitian_case, "--out",
                                    tmp_path / "out")
    assert statuses == [2, 2]
    assert completed.stderr.count("\n") == 1 and "is complex" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_a_failure_that_no_collective_shares_ends_the_job(tmp_path):
    """The last rank fails where the others wait for it in a global sum: after a bounded
    wait it ends the job with its status and says why, instead of hanging."""
    completed, _ = krylovfem(2, tmp_path, "run", CASES / "poisson-2d.toml", "--out",
                             tmp_path / "out", fault="memory-in-a-norm", statuses=False)
    assert completed.returncode == 4, completed.stderr[-2000:]
    assert ("krylovfem: on rank 1: out of memory" in completed.stderr
            and "ending the job" in completed.stderr)
    assert not (tmp_path / "out").exists()
