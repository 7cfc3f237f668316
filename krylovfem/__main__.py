"""``python -m krylovfem`` runs the ``krylovfem`` command."""

import sys

from krylovfem.cli import main

if __name__ == "__main__":
    sys.exit(main())
