"""Benchmark: the time of each adaptive step against its DOFs, split into its parts.

The loop of ``krylovfem adapt`` on the L-shape (``u = r^(2/3) sin(2 theta / 3)``, P1,
Dörfler marking with theta = 0.5, CG with IC(0) to rtol 1e-8 started from the previous
solution), written out with the library calls it makes so that each part is timed
alone:

* ``assemble``: :func:`fem.problems.assemble_system` (pattern, forms, elimination);
* ``solve``: the Krylov solve;
* ``estimate``: :func:`fem.estimate.residual_estimate`;
* ``mark``: :func:`fem.estimate.dorfler_marking`;
* ``bisect``: :func:`fem.refine.bisect`, the new mesh (with its edges numbered where
  the library numbers them in the refinement);
* ``prolong``: the new space and :func:`fem.refine.prolongate` of the solution as the
  next ``x0``.

``bisect`` and ``prolong`` together are the ``refine`` time of ``krylovfem adapt``.

The whole sequence of meshes is the same in every repeat; each part is reported as the
median over the repeats with the spread (max - min) / median.  The ratios estimate /
assemble and bisect / assemble compare the estimator and the refinement with one
assembly of the same space, measured in the same step.  Run it once with
``PYTHONPATH`` at another checkout to compare two versions of the library, back to
back.  The growth exponent of each part is the least-squares slope of
``log time`` against ``log DOFs`` over the steps with at least ``--fit-from`` DOFs.
Compilation is kept out by a warm-up sequence on small meshes.

Run::

    python benchmarks/bench_adapt.py                      # up to ~1e6 DOFs, 3 repeats
    python benchmarks/bench_adapt.py --max-dofs 2e5 --repeats 5
    NUMBA_NUM_THREADS=1 python benchmarks/bench_adapt.py  # on a busy shared machine

Past 4096 rows the Krylov kernels run on Numba's threads; when the cores are busy with
other work, a parallel region waits for its descheduled threads and a solve can take
ten times longer, so on a shared machine the serial figures are the ones to compare.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fem
from fem.element import function_space
from fem.estimate import dorfler_marking, residual_estimate
from fem.mesh import l_shape
from fem.problems import assemble_system, solve_linear_system
from fem.refine import bisect, longest_edge_first, prolongate

PARTS = ("assemble", "solve", "estimate", "mark", "bisect", "prolong")
# the parts compared with one assembly of the same step
RATIOS = ("estimate", "bisect")


def exact(x, y):
    return (x * x + y * y) ** (1 / 3) * np.sin(2 / 3 * (np.arctan2(-y, -x) + np.pi))


def adaptive_sequence(max_dofs: float, preconditioner: str) -> list[dict]:
    """One run of the loop: per step the DOFs, iterations and the seconds of each part."""
    mesh = longest_edge_first(l_shape(8))
    space = function_space(mesh, 1)
    guess = None
    steps = []
    dirichlet = {"boundary": exact}
    while True:
        times = {}
        tick = time.perf_counter()
        system = assemble_system(space, dirichlet=dirichlet)
        times["assemble"] = time.perf_counter() - tick
        tick = time.perf_counter()
        start = None if guess is None else guess[system.free_dofs]
        result = solve_linear_system("cg", system.reduced_matrix, system.reduced_rhs, start,
                                     M=preconditioner, rtol=1e-8)
        u = system.expand(result.x)
        times["solve"] = time.perf_counter() - tick
        tick = time.perf_counter()
        estimate = residual_estimate(space, u, dirichlet=dirichlet)
        times["estimate"] = time.perf_counter() - tick
        tick = time.perf_counter()
        marked = dorfler_marking(estimate.indicators, 0.5)
        times["mark"] = time.perf_counter() - tick
        tick = time.perf_counter()
        refinement = bisect(mesh, marked)
        times["bisect"] = time.perf_counter() - tick
        tick = time.perf_counter()
        next_space = function_space(refinement.mesh, 1)
        guess = prolongate(space, u, next_space, refinement.parents)
        times["prolong"] = time.perf_counter() - tick
        steps.append({"dofs": space.num_dofs, "iterations": result.iterations,
                      "converged": result.converged, **times})
        if next_space.num_dofs > max_dofs:
            return steps
        mesh, space = refinement.mesh, next_space


def growth_exponent(dofs, seconds) -> float:
    return float(np.polyfit(np.log(dofs), np.log(seconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-dofs", type=float, default=1.1e6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-from", type=float, default=2e4,
                        help="fit the exponents over steps with at least this many DOFs")
    parser.add_argument("--preconditioner", default="ic0")
    arguments = parser.parse_args()

    print(f"library {os.path.dirname(fem.__file__)}, NUMBA_NUM_THREADS="
          f"{os.environ.get('NUMBA_NUM_THREADS', 'unset')}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} before")
    # compile or load every kernel, the parallel ones (past 4096 rows) too
    adaptive_sequence(2.5e4, arguments.preconditioner)
    runs = [adaptive_sequence(arguments.max_dofs, arguments.preconditioner)
            for _ in range(arguments.repeats)]
    dofs = np.array([step["dofs"] for step in runs[0]])
    assert all([step["dofs"] for step in run] == dofs.tolist() for run in runs)
    seconds = {part: np.array([[step[part] for step in run] for run in runs])
               for part in PARTS}
    median = {part: np.median(values, axis=0) for part, values in seconds.items()}
    spread = {part: np.ptp(values, axis=0) / np.maximum(median[part], 1e-300)
              for part, values in seconds.items()}
    total = sum(seconds[part] for part in PARTS)
    total_median = np.median(total, axis=0)

    print(f"adaptive P1 on the L-shape, cg + {arguments.preconditioner}, Dörfler theta 0.5; "
          f"median of {arguments.repeats} repeats (spread = (max - min) / median)")
    ratios = {part: median[part] / median["assemble"] for part in RATIOS}
    header = f"{'step':>4} {'dofs':>9} {'its':>5}" + "".join(
        f" {part:>15}" for part in PARTS) + f" {'total':>9}" + "".join(
        f" {part[:3] + '/asm':>8}" for part in RATIOS)
    print(header)
    for index, count in enumerate(dofs):
        cells = "".join(f" {median[part][index]:8.4f} ±{100 * spread[part][index]:4.0f}%"
                        for part in PARTS)
        compared = "".join(f" {ratios[part][index]:8.2f}" for part in RATIOS)
        print(f"{index:>4} {count:>9} {runs[0][index]['iterations']:>5}{cells} "
              f"{total_median[index]:9.4f}{compared}")
    fitted = dofs >= arguments.fit_from
    if fitted.sum() >= 2:
        print(f"growth exponents (time ~ N^a, steps with N >= {arguments.fit_from:g}, "
              f"{int(fitted.sum())} steps):")
        for part in PARTS:
            print(f"  {part:<9} a = {growth_exponent(dofs[fitted], median[part][fitted]):.2f}")
        print(f"  {'total':<9} a = {growth_exponent(dofs[fitted], total_median[fitted]):.2f}")
        for part in RATIOS:
            values = ratios[part][fitted]
            print(f"{part} / assemble over those steps: median {np.median(values):.2f}, "
                  f"range {values.min():.2f} .. {values.max():.2f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} after")
    if not all(step["converged"] for run in runs for step in run):
        print("warning: a solve did not converge")


if __name__ == "__main__":
    main()
