"""The MPI library's own C functions, callable from compiled loops.

A compiled loop cannot call mpi4py, and a Numba function that calls a ctypes function
found at import is not cacheable (the function's address would be baked into the
cached machine code).  Here each MPI function is handed to the loop as an argument,
through Numba's wrapper address protocol: its type (the C signature) is what the loop
is compiled and cached for, its address is given at every call.  The communicator,
datatype and operation handles come in the same way, as an array.

mpi4py finds and initialises the MPI library; it is imported only when a distributed
object is built, so that ``solvers`` imports without it.
"""

from __future__ import annotations

import ctypes
import time
from collections import namedtuple
from dataclasses import dataclass
from functools import cache

import numpy as np
from numba import types
from numba.core.types.function_type import WrapperAddressProtocol

# Registers the typing of wrapper-address objects with Numba.
import numba.experimental.function_type  # noqa: F401  isort: skip

#: The MPI functions a loop takes, in one tuple (a namedtuple, for Numba).
Calls = namedtuple("Calls", "allreduce isend irecv waitall wtime")

# Places in the handle array.
COMM, DOUBLE, SUM = 0, 1, 2


class _Function(WrapperAddressProtocol):
    """One C function of the MPI library, with the Numba signature it is called by."""

    def __init__(self, library, name: str, signature):
        self._address = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
        self._signature = signature
        self.name = name

    def __wrapper_address__(self) -> int:
        return self._address

    def signature(self):
        return self._signature

    def __repr__(self) -> str:
        return f"<MPI function {self.name}>"


#: Seconds between a rank's last words and its MPI_Abort: the launcher forwards each rank's
#: output asynchronously, and an abort may end the job before that line has gone out.
FORWARDING_SECONDS = 0.5


def abort(comm, status: int) -> None:
    """End every rank of ``comm``'s job with exit ``status`` (``MPI_Abort``), once what
    this rank has just written has had time to reach the launcher's output.

    For a rank that must stop while the others wait in a collective call for it: they
    would wait for ever.
    """
    time.sleep(FORWARDING_SECONDS)
    comm.Abort(status)


def import_mpi():
    """mpi4py's ``MPI`` module, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError("distributed solves need mpi4py and an MPI library: "
                          'pip install -e ".[mpi]" (mpi4py, mpich)') from error
    return MPI


@dataclass(frozen=True, eq=False)
class Link:
    """A communicator as compiled loops use it: the MPI functions and the handles.

    ``handles[COMM, DOUBLE, SUM]`` and the request array share the integer
    type of the library's handles (``int`` for MPICH, a pointer for Open MPI).
    """

    comm: object  # the mpi4py communicator
    calls: Calls
    handles: np.ndarray
    request_dtype: np.dtype
    status_bytes: int  # size of one MPI_Status

    @property
    def rank(self) -> int:
        return self.comm.Get_rank()

    @property
    def size(self) -> int:
        return self.comm.Get_size()

    def requests(self, count: int) -> np.ndarray:
        return np.zeros(max(count, 1), dtype=self.request_dtype)

    def statuses(self, count: int) -> np.ndarray:
        return np.zeros(max(count, 1) * self.status_bytes, dtype=np.uint8)


def _handle_type(MPI, kind):
    """The integer type, as Numba and numpy spell it, of an MPI handle type."""
    if MPI._sizeof(kind) == ctypes.sizeof(ctypes.c_int):
        return types.int32, np.dtype(np.int32)
    return types.uintp, np.dtype(np.uintp)


@cache
def _calls() -> tuple[Calls, np.dtype, np.dtype]:
    MPI = import_mpi()
    library = ctypes.CDLL(MPI.__file__)  # symbol look-up reaches the MPI library it links
    handle, handle_dtype = _handle_type(MPI, MPI.Comm)
    request_dtype = _handle_type(MPI, MPI.Request)[1]
    pointer, count = types.uintp, types.int32
    calls = Calls(
        # MPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm)
        _Function(library, "MPI_Allreduce",
                  types.int32(pointer, pointer, count, handle, handle, handle)),
        # MPI_Isend(buf, count, datatype, dest, tag, comm, request*)
        _Function(library, "MPI_Isend",
                  types.int32(pointer, count, handle, count, count, handle, pointer)),
        # MPI_Irecv(buf, count, datatype, source, tag, comm, request*)
        _Function(library, "MPI_Irecv",
                  types.int32(pointer, count, handle, count, count, handle, pointer)),
        # MPI_Waitall(count, requests*, statuses*)
        _Function(library, "MPI_Waitall", types.int32(count, pointer, pointer)),
        # MPI_Wtime()
        _Function(library, "MPI_Wtime", types.float64()),
    )
    return calls, handle_dtype, request_dtype


def link(comm=None) -> Link:
    """The :class:`Link` of an mpi4py communicator (default ``MPI.COMM_WORLD``)."""
    MPI = import_mpi()
    if comm is None:
        comm = MPI.COMM_WORLD
    if not isinstance(comm, MPI.Comm) or not comm.Is_intra():
        raise TypeError(f"comm must be an mpi4py intracommunicator; got {type(comm).__name__}")
    calls, handle_dtype, request_dtype = _calls()
    values = [MPI._handleof(handle) for handle in (comm, MPI.DOUBLE, MPI.SUM)]
    # Through uint64: MPICH's handles are C ints whose high bit may be set.
    handles = np.array(values, dtype=np.uint64).astype(handle_dtype)
    return Link(comm, calls, handles, request_dtype, MPI._sizeof(MPI.Status))
