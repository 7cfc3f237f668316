"""krylovfem, the application: case files in, run records and figures out.

The layers, each importing only those below it::

    solvers    Krylov methods and preconditioners (numpy, scipy, numba)
    fem        the finite-element library (meshes, spaces, assembly, problems, norms,
               the residual estimator and bisection)
    krylovfem  this package: expressions, case files, runs, records, figures, the command

The modules of this package, in the order data flows through them:

* :mod:`krylovfem.expr` -- the whitelisted expression compiler (a package: the tree,
  the parser, simplification and differentiation);
* :mod:`krylovfem.schema` -- the table of every case-file key; :mod:`krylovfem.reference`
  -- the page docs/case-files.md made from it; :mod:`krylovfem.exit_status` -- the
  exit-status paragraph;
* :mod:`krylovfem.casefile` -- the case-file reader (TOML to :class:`Case`), with
  :mod:`krylovfem.section` (typed reading of one table), :mod:`krylovfem.settings`
  (the validated dataclasses), :mod:`krylovfem.meshes` (the ``[mesh]`` section and the
  mesh), :mod:`krylovfem.amg_options` (``[solver.amg]``, read off :func:`solvers.amg`),
  :mod:`krylovfem.adapt_options` (``[adapt]``) and :mod:`krylovfem.expression_checks`
  (every expression evaluated on the mesh);
* :mod:`krylovfem.build` -- a case turned into the library's arguments;
* :mod:`krylovfem.run` -- run, study and compare, returning frozen results;
  :mod:`krylovfem.distributed_run` the same over MPI ranks, with
  :mod:`krylovfem.parallel` (which rank this is, one outcome on every rank);
* :mod:`krylovfem.adapt` -- the adaptive loop (solve, estimate, mark, refine);
* :mod:`krylovfem.record` -- what a record folder holds (documents, data, figures), and
  :mod:`krylovfem.folder` -- record folders written whole or not at all;
* :mod:`krylovfem.figures` -- the figures of a run; :mod:`krylovfem.drawing` -- a
  command's run drawing them in a second process, beside its solve;
* :mod:`krylovfem.cli` -- the ``krylovfem`` command, with :mod:`solvers.interrupts`
  (a Ctrl-C that Numba's compiler swallowed, kept until the run can stop).
"""

# The one place the version is written: pyproject.toml reads it from here (a literal, not
# importlib.metadata, whose import and lookup took some 30 ms of every command).
__version__ = "0.1.0"

__all__ = ["__version__"]
