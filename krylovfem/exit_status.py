"""The exit statuses of the ``krylovfem`` command, in the words the documents use.

:data:`EXIT_STATUS_TEXT` is the paragraph that the README and the reference page
(:mod:`krylovfem.reference`) state word for word; the numbers themselves are the
``EXIT_*`` constants of :mod:`krylovfem.cli`, and a test checks that the paragraph names
exactly those.

Examples
--------
>>> EXIT_STATUS_TEXT.split(":")[0]
'Exit status (every failure is one line on stderr, never a traceback)'
"""

__all__ = ["EXIT_STATUS_TEXT", "LINE_PREFIX"]

#: How the command's one line on stderr begins (but for a usage error, argparse's own).
LINE_PREFIX = "krylovfem: "

#: The exit statuses, as the reference and the README state them.
EXIT_STATUS_TEXT = """\
Exit status (every failure is one line on stderr, never a traceback): 0 every solve
converged; 1 a solve did not converge or a preconditioner broke down (the record is
still written, with the reason); 2 bad input or usage (naming the file, the key and what
is allowed; nothing written); 3 the system refused a file (one that cannot be read or
written, a full disk, another run writing to the same folder: no new record, an earlier
one unchanged); 4 out of memory; 70 an internal error (`KRYLOVFEM_TRACEBACK=1` shows the
traceback); 130 interrupted (Ctrl-C: a solve stops within a second, and a run's record
holds it so far, with the reason `interrupted`; `study`, `compare` and `adapt` keep the
levels, solvers and steps done, in a record marked `"interrupted": true`); 143 terminated
(SIGTERM)."""
