"""Compiled kernels of the distributed loops: the halo exchange, the overlapped product
and the global sums.  Every MPI call goes through the functions of a :class:`_mpi.Calls`
tuple and the handles of a :class:`_mpi.Link`; each returns the OR of the MPI error
codes it met (0 when all succeeded), and adds the seconds it waited to ``timers[0]``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .. import _csr
from ._mpi import COMM, DOUBLE, SUM

#: The halo plan and its buffers, as the loops take them (see ``DistributedMatrix``).
Halo = namedtuple("Halo", "recv_ranks recv_offsets send_ranks send_offsets send_indices "
                          "send_buffer requests statuses interior boundary")

_TAG = 7  # one tag suffices: exchanges never overlap, and MPI keeps messages in order
_COMMUNICATION = 0  # timers[0]: seconds spent in MPI calls


def halo(A, link) -> Halo:
    """The :class:`Halo` of a ``DistributedMatrix`` (buffers allocated once per solve)."""
    messages = A.recv_ranks.size + A.send_ranks.size
    return Halo(A.recv_ranks, A.recv_offsets, A.send_ranks, A.send_offsets, A.send_indices,
                np.empty(A.send_indices.size), link.requests(messages),
                link.statuses(messages), A.interior, A.boundary)


@njit(cache=True)
def start_exchange(x, n_local, plan, calls, handles):
    """Post the receives of the ghost entries of ``x`` (after its ``n_local`` owned ones)
    and the sends of the owned entries the neighbours need."""
    status = 0
    received = plan.recv_ranks.size
    size = plan.requests.itemsize
    for m in range(received):
        lo, hi = plan.recv_offsets[m], plan.recv_offsets[m + 1]
        status |= calls.irecv(x[n_local + lo:].ctypes.data, np.int32(hi - lo), handles[DOUBLE],
                              np.int32(plan.recv_ranks[m]), np.int32(_TAG), handles[COMM],
                              plan.requests.ctypes.data + np.uintp(m * size))
    for j in range(plan.send_indices.size):
        plan.send_buffer[j] = x[plan.send_indices[j]]
    for m in range(plan.send_ranks.size):
        lo, hi = plan.send_offsets[m], plan.send_offsets[m + 1]
        status |= calls.isend(plan.send_buffer[lo:].ctypes.data, np.int32(hi - lo),
                              handles[DOUBLE], np.int32(plan.send_ranks[m]), np.int32(_TAG),
                              handles[COMM],
                              plan.requests.ctypes.data + np.uintp((received + m) * size))
    return status


@njit(cache=True)
def finish_exchange(plan, calls, timers):
    """Wait for every message of the exchange started by :func:`start_exchange`."""
    started = calls.wtime()
    count = plan.recv_ranks.size + plan.send_ranks.size
    status = calls.waitall(np.int32(count), plan.requests.ctypes.data, plan.statuses.ctypes.data)
    timers[_COMMUNICATION] += calls.wtime() - started
    return status


@njit(cache=True)
def matvec(indptr, indices, data, x, y, plan, calls, handles, timers):
    """``y = A x`` on the owned rows, the interior rows while the halo of ``x`` travels;
    returns ``(sum_i x_i y_i over the owned rows, status)``."""
    n_local = y.size
    started = calls.wtime()
    status = start_exchange(x, n_local, plan, calls, handles)
    timers[_COMMUNICATION] += calls.wtime() - started
    dot = 0.0
    for run in range(plan.interior.shape[0]):
        dot += _csr._spmv_rows(indptr, indices, data, x, y, plan.interior[run, 0],
                               plan.interior[run, 1])
    status |= finish_exchange(plan, calls, timers)
    for run in range(plan.boundary.shape[0]):
        dot += _csr._spmv_rows(indptr, indices, data, x, y, plan.boundary[run, 0],
                               plan.boundary[run, 1])
    return dot, status


@njit(cache=True)
def residual(indptr, indices, data, x, b, r, plan, calls, handles, timers):
    """``r = b - A x`` on the owned rows (overlapped as :func:`matvec`); returns
    ``(sum_i r_i^2 over the owned rows, status)``."""
    started = calls.wtime()
    status = start_exchange(x, r.size, plan, calls, handles)
    timers[_COMMUNICATION] += calls.wtime() - started
    rr = 0.0
    for run in range(plan.interior.shape[0]):
        rr += _csr._residual_rows(indptr, indices, data, x, b, r, plan.interior[run, 0],
                                  plan.interior[run, 1])
    status |= finish_exchange(plan, calls, timers)
    for run in range(plan.boundary.shape[0]):
        rr += _csr._residual_rows(indptr, indices, data, x, b, r, plan.boundary[run, 0],
                                  plan.boundary[run, 1])
    return rr, status


@njit(cache=True)
def global_sum(local, total, count, calls, handles, timers):
    """``total[:count]`` = the sum over the ranks of ``local[:count]``; returns the status."""
    started = calls.wtime()
    status = calls.allreduce(local.ctypes.data, total.ctypes.data, np.int32(count),
                             handles[DOUBLE], handles[SUM], handles[COMM])
    timers[_COMMUNICATION] += calls.wtime() - started
    return status
