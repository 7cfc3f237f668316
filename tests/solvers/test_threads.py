"""The thread policy: threads follow the free cores and the caller's limit, never the bits."""

import importlib
import itertools

import numba
import numpy as np
import pytest

import solvers
from solvers.multigrid import cycle, smoothers

_threads = importlib.import_module("solvers._threads")
_common = importlib.import_module("solvers._common")

two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                 reason="needs Numba with at least two threads")


@pytest.fixture
def thread_counts(monkeypatch):
    """Every ``numba.set_num_threads`` the policy makes, in order (the final restore too)."""
    calls = []
    setter = numba.set_num_threads

    def recording(threads):
        calls.append(threads)
        setter(threads)

    monkeypatch.setattr(_threads.numba, "set_num_threads", recording)
    return calls


def _machine(monkeypatch, cores: int, others):
    """A machine of ``cores`` usable cores where ``others()`` tasks of others run."""
    monkeypatch.setattr(_threads, "usable_cores", lambda: cores)
    monkeypatch.setattr(_threads, "runnable_elsewhere", others)


def _solves(model):
    A = model.laplacian_2d(100)  # n = 1e4: two row chunks, so parallel regions
    b = A @ np.linspace(1.0, 2.0, A.shape[0])
    complex_b = b * (1.0 + 0.5j)
    return {
        "cg": lambda: solvers.cg(A, b, rtol=1e-10),
        "cg complex": lambda: solvers.cg(A, complex_b, rtol=1e-10, M="jacobi"),
        "gmres": lambda: solvers.gmres(model.convection_diffusion_2d(100), b, rtol=1e-8),
    }


@two_threads
@pytest.mark.parametrize("name", ["cg", "cg complex", "gmres"])
def test_threads_changing_between_pieces_keep_the_bits(model, monkeypatch, thread_counts,
                                                       name):
    solve = _solves(model)[name]
    monkeypatch.setattr(_common, "ENTRIES_PER_PAUSE", 10**6)  # pieces of a few iterations
    numba.set_num_threads(1)
    try:
        serial = solve()
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    # the load comes and goes: pieces alternate between two threads and one (a core is
    # taken when two counts in a row find it taken)
    load = itertools.cycle([0, 0, 1, 1])
    _machine(monkeypatch, 2, lambda: next(load))
    thread_counts.clear()
    switching = solve()
    assert {1, 2} <= set(thread_counts[:-1])
    assert switching.iterations == serial.iterations > 20
    assert np.array_equal(switching.x, serial.x)
    assert np.array_equal(switching.residual_norms, serial.residual_norms)


@two_threads
def test_a_busy_core_gives_one_thread_and_free_cores_two(model, monkeypatch, thread_counts):
    solve = _solves(model)["cg"]
    _machine(monkeypatch, 2, lambda: 1)
    solve()
    assert thread_counts == [1, 2]  # one piece on one thread, then the caller's two back
    thread_counts.clear()
    _machine(monkeypatch, 2, lambda: 0)
    solve()
    assert thread_counts == [2, 2]


@two_threads
def test_the_callers_thread_count_is_a_ceiling_and_is_restored(model, monkeypatch,
                                                                thread_counts):
    _machine(monkeypatch, 8, lambda: 0)
    numba.set_num_threads(1)
    thread_counts.clear()
    try:
        _solves(model)["gmres"]()
        assert numba.get_num_threads() == 1
        assert thread_counts == []  # one thread allowed: the solve sets none
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    thread_counts.clear()
    _solves(model)["cg"]()
    assert thread_counts == [min(8, numba.config.NUMBA_NUM_THREADS), numba.config.NUMBA_NUM_THREADS]
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS


@two_threads
@pytest.mark.parametrize("smoother", ["gauss_seidel", "chebyshev"])
def test_amg_follows_the_policy(smoother, model, monkeypatch, thread_counts):
    monkeypatch.setattr(smoothers, "BLOCK_ROWS", 2048)  # Gauss-Seidel in four blocks
    A = model.laplacian_2d(100)
    b = A @ np.linspace(1.0, 2.0, A.shape[0])
    hierarchy = solvers.amg(A, smoother=smoother)
    if smoother == "gauss_seidel":
        assert hierarchy.layout[cycle.HEADER + cycle.BLOCK_COUNT] == 4
    numba.set_num_threads(1)
    try:
        serial = solvers.cg(A, b, rtol=1e-10, M=hierarchy)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    _machine(monkeypatch, 2, lambda: 1)
    thread_counts.clear()
    busy = solvers.cg(A, b, rtol=1e-10, M=hierarchy)
    assert thread_counts == [1, 2]
    assert np.array_equal(busy.x, serial.x)
    _machine(monkeypatch, 2, lambda: 0)
    thread_counts.clear()
    quiet = solvers.cg(A, b, rtol=1e-10, M=hierarchy)
    assert thread_counts == [2, 2]
    assert np.array_equal(quiet.residual_norms, serial.residual_norms)


@two_threads
def test_the_amg_set_up_runs_on_the_free_cores_and_gives_the_same_hierarchy(
        model, monkeypatch, thread_counts):
    A = model.laplacian_2d(200)  # 4e4 unknowns: the set-up's kernels run in chunks
    _machine(monkeypatch, 2, lambda: 1)
    busy = solvers.amg(A)
    assert thread_counts == [1, 2]  # one thread for the set-up, the caller's two after
    _machine(monkeypatch, 2, lambda: 0)
    thread_counts.clear()
    quiet = solvers.amg(A)
    assert thread_counts == [2, 2]
    for name in ("pointers", "indices", "data", "work", "layout"):
        assert np.array_equal(getattr(busy, name), getattr(quiet, name)), name


def test_small_systems_leave_the_threads_alone(model, thread_counts):
    solvers.cg(model.laplacian_2d(30), np.ones(900))  # one chunk: no parallel region
    assert thread_counts == []


def test_pieces_slower_on_two_threads_than_on_one_fall_back_to_one(monkeypatch):
    _machine(monkeypatch, 2, lambda: 0)
    policy = _threads.ThreadPolicy(ceiling=2)
    assert policy.choose() == 2
    policy.record(1, seconds=1.0, iterations=100)
    policy.record(2, seconds=0.8, iterations=100)  # faster: stays on two
    assert policy.choose() == 2
    # a little slower, within a quiet machine's swings: stays on two
    policy.record(2, seconds=0.99 * _threads.SLOWER, iterations=100)
    assert policy.choose() == 2
    policy.record(2, seconds=1.5, iterations=100)  # much slower than one thread was
    chosen = [policy.choose() for _ in range(_threads.PIECES_ON_ONE + 1)]
    assert chosen == [1] * _threads.PIECES_ON_ONE + [2]  # then two are tried again


def test_after_the_first_piece_a_core_is_taken_when_two_counts_in_a_row_say_so(monkeypatch):
    others = iter([1, 0, 1, 0, 1, 1, 1, 0])
    _machine(monkeypatch, 2, lambda: next(others))
    policy = _threads.ThreadPolicy(ceiling=2)
    # the first count alone decides (a short solve has one piece); then a task that one
    # count found and the next did not leaves the second core to the solve
    assert [policy.choose() for _ in range(8)] == [1, 2, 2, 2, 2, 1, 1, 2]


def test_free_cores_stay_between_one_and_the_ceiling(monkeypatch):
    for cores, others, ceiling, expected in [(2, 0, 2, 2), (2, 1, 2, 1), (2, 5, 2, 1),
                                             (8, 2, 4, 4), (8, 5, 4, 3), (1, 0, 2, 1)]:
        _machine(monkeypatch, cores, lambda others=others: others)
        assert _threads.free_cores(ceiling) == expected
