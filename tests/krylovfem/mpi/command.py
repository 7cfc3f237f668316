"""``krylovfem`` on one MPI rank, its exit status kept: ``command.py STATUS ARGS...``.

Runs :func:`krylovfem.cli.main` with ``ARGS`` and writes the status this rank returned to
``STATUS.<rank>`` (the launcher reports one status for all ranks; the tests check each).
"""

import sys
from pathlib import Path

from krylovfem.cli import main
from krylovfem.parallel import launcher_ranks

if __name__ == "__main__":
    status = main(sys.argv[2:])
    Path(f"{sys.argv[1]}.{launcher_ranks()[1]}").write_text(str(status))
    sys.exit(status)
