"""``krylovfem`` on one MPI rank, its exit status kept: ``command.py STATUS ARGS...``.

Runs :func:`krylovfem.cli.main` with ``ARGS`` and writes the status this rank returned to
``STATUS.<rank>`` (the launcher reports one status for all ranks; the tests check each).
With ``FAULT=memory-in-a-norm`` in the environment, the last rank runs out of memory in
its part of the error norm, while the others wait in that norm's global sum: a failure
no collective call of the library shares.
"""

import os
import sys
from pathlib import Path

import krylovfem.parallel
from krylovfem.cli import main
from krylovfem.parallel import launcher_ranks


def _inject_fault() -> None:
    import fem.distributed

    size, rank = launcher_ranks()
    if rank != size - 1:
        return
    krylovfem.parallel.MEETING_SECONDS = 2.0

    def out_of_memory(*arguments, **keywords):
        raise MemoryError

    fem.distributed._l2_error = out_of_memory


if __name__ == "__main__":
    if os.environ.get("FAULT") == "memory-in-a-norm":
        _inject_fault()
    status = main(sys.argv[2:])
    Path(f"{sys.argv[1]}.{launcher_ranks()[1]}").write_text(str(status))
    sys.exit(status)
