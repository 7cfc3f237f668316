"""Benchmark: P1 Poisson assembly (stiffness + load) on the unit square, fem against scikit-fem.

Each side runs in its own subprocess on the same mesh (``fem.mesh.unit_square(n)``, handed
to scikit-fem as ``MeshTri(points.T, cells.T)``), so that the peak resident memory of one
side is not polluted by the other.  In a worker:

* the mesh is built and both assemblers are warmed up on a tiny mesh (Numba loads its
  cached machine code, scikit-fem its first-call set-up), which is not timed;
* the peak-RSS counter (VmHWM) is reset through ``/proc/self/clear_refs``, then the
  assembly is timed: for fem ``sparsity_pattern + assemble_stiffness + assemble_load``,
  for scikit-fem ``Basis(mesh, ElementTriP1()) + asm(laplace) + asm(unit_load)``;
* ``peak`` is VmHWM after the first assembly (the whole process: interpreter, libraries,
  mesh and assembly) and ``added`` is VmHWM minus the resident size just before it;
* the assembly is repeated twice more from scratch and the best time is reported (the
  machine is shared), next to the time of the first.

fem additionally reports re-assembly into the existing pattern (best of 3) and uniform
refinement ``unit_square(n/2).refined()`` against building ``unit_square(n)`` directly.

Run::

    python benchmarks/bench_assembly.py            # 1e4, 1e5, 1e6, 2.1e6 triangles
    python benchmarks/bench_assembly.py --sizes 71 224   # squares per side
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

from timing import best_time, reset_peak, status_mb

# squares per side: 2 n^2 triangles ~ 1e4, 1e5, 1e6, 2.1e6
DEFAULT_SIZES = (71, 224, 707, 1024)




def worker_fem(n: int) -> dict:
    from fem.assembly import assemble_load, assemble_stiffness, sparsity_pattern
    from fem.element import function_space
    from fem.mesh import unit_square

    def assemble(space):
        pattern = sparsity_pattern(space)
        matrix = assemble_stiffness(space, 1.0, pattern=pattern)
        load = assemble_load(space, 1.0)
        return pattern, matrix, load

    assemble(function_space(unit_square(4), 1))
    mesh = unit_square(n)
    space = function_space(mesh, 1)
    gc.collect()
    baseline = status_mb("VmRSS")
    reset = reset_peak()
    start = time.perf_counter()
    pattern, matrix, load = assemble(space)
    elapsed = time.perf_counter() - start
    peak = status_mb("VmHWM")
    first = elapsed
    for _ in range(2):
        del pattern, matrix, load
        start = time.perf_counter()
        pattern, matrix, load = assemble(space)
        elapsed = min(elapsed, time.perf_counter() - start)

    def reassemble():
        assemble_stiffness(space, 1.0, pattern=pattern, out=matrix)
        assemble_load(space, 1.0, out=load)

    reassembly = best_time(reassemble)
    coarse = unit_square(n // 2)
    refine = best_time(coarse.refined)
    direct = best_time(lambda: unit_square(2 * (n // 2)))
    return {"cells": mesh.num_cells, "dofs": space.num_dofs, "nnz": pattern.nnz,
            "time": elapsed, "first": first, "peak": peak, "added": peak - baseline,
            "peak_reset": reset, "reassembly": reassembly, "refine": refine, "direct": direct,
            "check": [float(load.sum()), float(matrix.diagonal().sum())]}


def worker_skfem(n: int) -> dict:
    from skfem import Basis, ElementTriP1, MeshTri, asm
    from skfem.models.poisson import laplace, unit_load

    from fem.mesh import unit_square

    def assemble(mesh):
        basis = Basis(mesh, ElementTriP1())
        return asm(laplace, basis), asm(unit_load, basis)

    small = unit_square(4)
    assemble(MeshTri(small.points.T.copy(), small.cells.T.copy()))
    ours = unit_square(n)
    mesh = MeshTri(ours.points.T.copy(), ours.cells.T.copy())
    del ours
    gc.collect()
    baseline = status_mb("VmRSS")
    reset = reset_peak()
    start = time.perf_counter()
    matrix, load = assemble(mesh)
    elapsed = time.perf_counter() - start
    peak = status_mb("VmHWM")
    first = elapsed
    for _ in range(2):
        del matrix, load
        start = time.perf_counter()
        matrix, load = assemble(mesh)
        elapsed = min(elapsed, time.perf_counter() - start)
    return {"cells": mesh.t.shape[1], "nnz": matrix.nnz, "time": elapsed, "first": first,
            "peak": peak, "added": peak - baseline, "peak_reset": reset,
            "check": [float(load.sum()), float(matrix.diagonal().sum())]}


def run_worker(side: str, n: int) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", side, "--n", str(n)],
        capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parent.parent)
    if completed.returncode != 0:
        raise RuntimeError(f"{side} worker failed for n={n}:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(DEFAULT_SIZES),
                        help="squares per side of the unit square mesh")
    parser.add_argument("--worker", choices=["fem", "skfem"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker:
        work = worker_fem if arguments.worker == "fem" else worker_skfem
        print(json.dumps(work(arguments.n)))
        return

    print("P1 Poisson on the unit square: stiffness + load (pattern included for fem)")
    print("time: best of 3 complete assemblies; first: the first of them; ratio: scikit-fem "
          "time / fem time")
    print(f"{'triangles':>10} {'side':>7} {'time [s]':>9} {'first [s]':>9} {'Mtri/s':>7} "
          f"{'ratio':>6} {'peak MB':>8} {'added MB':>9}")
    rows = []
    for n in arguments.sizes:
        ours = run_worker("fem", n)
        theirs = run_worker("skfem", n)
        agree = all(abs(a - b) <= 1e-9 * max(1.0, abs(b))
                    for a, b in zip(ours["check"], theirs["check"], strict=True))
        ratio = theirs["time"] / ours["time"]
        for side, result in (("fem", ours), ("skfem", theirs)):
            print(f"{result['cells']:>10} {side:>7} {result['time']:>9.3f} "
                  f"{result['first']:>9.3f} {result['cells'] / result['time'] / 1e6:>7.2f} "
                  f"{ratio if side == 'fem' else 1.0:>6.1f} {result['peak']:>8.0f} "
                  f"{result['added']:>9.0f}")
        if not agree:
            print(f"{'':>10} WARNING: checksums differ {ours['check']} vs {theirs['check']}")
        rows.append(ours)
    print()
    print("fem re-assembly into the existing pattern (stiffness + load, best of 3)")
    print(f"{'triangles':>10} {'time [s]':>9} {'Mtri/s':>7}")
    for result in rows:
        print(f"{result['cells']:>10} {result['reassembly']:>9.3f} "
              f"{result['cells'] / result['reassembly'] / 1e6:>7.2f}")
    print()
    print("uniform refinement of unit_square(n//2) against a direct build (best of 3)")
    print(f"{'triangles':>10} {'refine [s]':>10} {'direct [s]':>10} {'ratio':>6}")
    for result in rows:
        print(f"{result['cells']:>10} {result['refine']:>10.3f} {result['direct']:>10.3f} "
              f"{result['refine'] / result['direct']:>6.2f}")
    if not all(result["peak_reset"] for result in rows):
        print("note: /proc/self/clear_refs unavailable; peaks include mesh construction")


if __name__ == "__main__":
    main()
