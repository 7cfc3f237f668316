"""Benchmark: wall time of a first (cold) and a later (warm) ``krylovfem run``, against goals.

Prints a table; not a test.  Every measurement is one fresh process, timed from outside
around the whole command (interpreter start, imports, Numba compiling or loading its
cache, the run, writing the record and the figures):

* cold: ``python -m krylovfem run CASE --out <tmp> --quiet`` with ``NUMBA_CACHE_DIR`` set
  to an empty temporary folder of its own (every Numba function compiled from scratch);
* warm: the same command again on the cache the first cold run left (machine code loaded
  from disk);
* import: ``python -c "import solvers, fem, krylovfem.cli"``, the floor under both.

The working directory of each process is a new empty temporary folder, so the in-tree
``__pycache__`` Numba caches of the sources are never used (``NUMBA_CACHE_DIR`` takes
precedence) and relative paths in the case file cannot hit leftovers.

Beside each wall time the CPU time (user + system) of the process is recorded: on a
shared machine the wall time of one process swings with the other work, its CPU time much
less, so the CPU medians compare two trees where the wall medians cannot.

The same three are measured again with one CPU-bound process (a Python busy loop) running
beside them, as on a shared machine.  Medians are compared with the goals: at most 8 s
cold and 1 s warm.  ``--timings`` also prints the run's own assemble/solve figures from
its ``summary.json``.

Run::

    python benchmarks/bench_startup.py            # 3 cold, 5 warm, 5 import; quiet and loaded
    python benchmarks/bench_startup.py --no-load --cold 1 --warm 3
    python benchmarks/bench_startup.py --root /path/to/other/checkout  # same Python, other tree
    python benchmarks/bench_startup.py --baseline /path/to/older/checkout  # both, interleaved

With ``--baseline``, the two trees are measured in the same run, round by round (one
cold run of each, then its warm and import runs), and the medians are compared as ratios.

Bytecode: ``pip install .`` compiles the packages' ``.pyc`` files when it installs them;
an editable install (``pip install -e .``) leaves it to Python, which writes none when
``PYTHONDONTWRITEBYTECODE`` is set.  Then every process compiles the sources of the
three packages again (about 0.1 s of a warm run here).  Whether a tree has its bytecode
is printed; ``--bytecode`` writes it first (``python -m compileall``, as pip does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_COLD = 8.0
GOAL_WARM = 1.0


def _environment(root: Path, cache_dir: str) -> dict[str, str]:
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    # The sources under test come first, ahead of an editable install of another tree.
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(root)] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else []))
    for name in ("NUMBA_DISABLE_JIT", "NUMBA_DEBUG_CACHE"):
        environment.pop(name, None)
    return environment


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh process, which must
    succeed."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-cwd-") as cwd:
        cpu = _cpu_of_children()
        start = time.perf_counter()
        completed = subprocess.run(command, env=environment, cwd=cwd, capture_output=True,
                                   text=True)
        seconds = time.perf_counter() - start
        cpu = _cpu_of_children() - cpu
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}:\n"
                           f"{completed.stdout}\n{completed.stderr}")
    return seconds, cpu


def _run_command(case: Path, out_dir: str) -> list[str]:
    return [sys.executable, "-m", "krylovfem", "run", str(case), "--out", out_dir, "--quiet"]


def _run_timings(out_dir: str) -> dict[str, float]:
    """The run's own timings from its summary.json (whatever keys it records)."""
    try:
        summary = json.loads((Path(out_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    for key in ("timings", "times", "time"):
        value = summary.get(key)
        if isinstance(value, dict):
            return {k: float(v) for k, v in value.items() if isinstance(v, (int, float))}
    return {}


def measure(root: Path, case: Path, cold_repeats: int, warm_repeats: int,
            import_repeats: int) -> dict[str, list]:
    """Cold runs (each on its own empty cache), warm runs on the last cold cache, imports;
    wall times under ``cold``, ``warm``, ``import`` and CPU times under ``cold_cpu``, ..."""
    results = {key: [] for key in ("cold", "warm", "import", "cold_cpu", "warm_cpu",
                                   "import_cpu", "cold_inner", "warm_inner")}

    def record(kind: str, command: list[str], cache: str, out: str | None = None) -> None:
        wall, cpu = _timed(command, _environment(root, cache))
        results[kind].append(wall)
        results[f"{kind}_cpu"].append(cpu)
        if out is not None:
            results[f"{kind}_inner"].append(_run_timings(out))

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        for repeat in range(cold_repeats):
            cache = tempfile.mkdtemp(prefix=f"cache-{repeat}-", dir=scratch)
            out = tempfile.mkdtemp(prefix=f"cold-{repeat}-", dir=scratch)
            record("cold", _run_command(case, out), cache, out)
            print(f"    cold {repeat + 1}: {results['cold'][-1]:.2f} s "
                  f"(cpu {results['cold_cpu'][-1]:.2f})", flush=True)
        for repeat in range(warm_repeats):
            out = tempfile.mkdtemp(prefix=f"warm-{repeat}-", dir=scratch)
            record("warm", _run_command(case, out), cache, out)
        print("    warm: " + " ".join(f"{t:.2f}" for t in results["warm"]) + " s (cpu "
              + " ".join(f"{t:.2f}" for t in results["warm_cpu"]) + ")", flush=True)
        command = [sys.executable, "-c", "import solvers, fem, krylovfem.cli"]
        for _ in range(import_repeats):
            record("import", command, cache)
        print("    import: " + " ".join(f"{t:.2f}" for t in results["import"]) + " s (cpu "
              + " ".join(f"{t:.2f}" for t in results["import_cpu"]) + ")", flush=True)
    return results


def measure_rounds(roots: list[Path], case: Path, rounds: int, warm_repeats: int,
                   import_repeats: int) -> list[dict[str, list]]:
    """:func:`measure` for every tree of ``roots``, interleaved round by round, so that a
    change of the machine's load falls on all of them alike."""
    merged = [{} for _ in roots]
    per_round = (max(1, -(-warm_repeats // rounds)), max(1, -(-import_repeats // rounds)))
    for _ in range(rounds):
        for root, results in zip(roots, merged, strict=True):
            if len(roots) > 1:
                print(f"  {root}:", flush=True)
            for key, values in measure(root, case, 1, *per_round).items():
                results.setdefault(key, []).extend(values)
    return merged


def _busy_process() -> subprocess.Popen:
    """One CPU-bound process (a pure-Python loop) until terminated."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _summary_line(label: str, times: list[float], goal: float | None) -> str:
    if not times:
        return f"  {label:<10} (not run)"
    median = statistics.median(times)
    line = (f"  {label:<10} median {median:6.2f} s   min {min(times):6.2f}   max {max(times):6.2f}"
            f"   spread {max(times) - min(times):5.2f}   n={len(times)}")
    if goal is not None:
        verdict = "met" if median <= goal else "MISSED"
        line += f"   goal {goal:g} s: {median / goal:4.2f}x of goal, {verdict}"
    return line


def _inner_line(label: str, inner: list[dict[str, float]]) -> str | None:
    keys = sorted({key for timings in inner for key in timings})
    if not keys:
        return None
    parts = []
    for key in keys:
        values = [timings[key] for timings in inner if key in timings]
        parts.append(f"{key} {statistics.median(values):.3f}")
    return f"  {label:<10} run's own summary.json (medians, s): " + "  ".join(parts)


def report(title: str, results: dict[str, list], timings: bool) -> None:
    print(title)
    print(_summary_line("cold", results["cold"], GOAL_COLD))
    print(_summary_line("warm", results["warm"], GOAL_WARM))
    print(_summary_line("import", results["import"], None))
    for kind in ("cold", "warm", "import"):
        print(_summary_line(f"{kind} cpu", results[f"{kind}_cpu"], None))
    if results["warm"] and results["import"]:
        print(f"  warm - import (medians): "
              f"{statistics.median(results['warm']) - statistics.median(results['import']):.2f} s")
    if timings:
        for label in ("cold", "warm"):
            line = _inner_line(label, results[f"{label}_inner"])
            if line:
                print(line)


def _ratio_line(this: dict[str, list], baseline: dict[str, list]) -> str:
    parts = [f"{key} {statistics.median(this[key]) / statistics.median(baseline[key]):.2f}x"
             for key in ("cold", "warm", "import", "cold_cpu", "warm_cpu", "import_cpu")
             if this[key] and baseline[key]]
    return "  this tree / baseline (medians): " + "   ".join(parts)


PACKAGES = ("solvers", "fem", "krylovfem")


def _has_bytecode(root: Path) -> bool:
    """Whether every module of the three packages has its ``.pyc`` beside it."""
    return all(Path(importlib.util.cache_from_source(str(source))).exists()
               for package in PACKAGES for source in (root / package).rglob("*.py"))


def _write_bytecode(root: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    *(str(root / package) for package in PACKAGES)], check=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=ROOT / "cases" / "poisson-2d.toml")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="source tree to run (put first on PYTHONPATH); default this one")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another source tree measured in the same run, for ratios")
    parser.add_argument("--cold", type=int, default=3, help="cold runs, each on an empty cache")
    parser.add_argument("--warm", type=int, default=5, help="warm runs on the last cold cache")
    parser.add_argument("--imports", type=int, default=5, help="import-only runs")
    parser.add_argument("--no-load", action="store_true", help="skip the run under load")
    parser.add_argument("--bytecode", action="store_true",
                        help="write the trees' .pyc files first, as pip install . does")
    parser.add_argument("--timings", action="store_true",
                        help="also print the run's own timings from summary.json")
    args = parser.parse_args(argv)
    root, case = args.root.resolve(), args.case.resolve()
    load = os.getloadavg()
    print(f"krylovfem startup benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"sources {root}; case {case}")
    print(f"Python {sys.version.split()[0]} ({sys.executable}); {os.cpu_count()} logical CPUs;"
          f" load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.baseline:
        print(f"baseline {args.baseline.resolve()}")
    print(f"{args.cold} cold (own empty NUMBA_CACHE_DIR each), {args.warm} warm, "
          f"{args.imports} import runs; wall time of each fresh process")
    print()
    roots = [root] + ([args.baseline.resolve()] if args.baseline else [])
    for tree in roots:
        if args.bytecode:
            _write_bytecode(tree)
        print(f"bytecode of {tree}: {'present' if _has_bytecode(tree) else 'absent'}"
              f" (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})")
    rounds = (args.cold, args.warm, args.imports)
    print("quiet (no load of ours):", flush=True)
    quiet = measure_rounds(roots, case, *rounds)
    loaded = None
    if not args.no_load:
        print("under load (one busy-loop process beside):", flush=True)
        busy = _busy_process()
        try:
            time.sleep(0.5)
            loaded = measure_rounds(roots, case, *rounds)
        finally:
            busy.terminate()
            busy.wait()
    print()
    for condition, results in (("quiet", quiet), ("under load (1 busy process)", loaded)):
        if results is None:
            continue
        for tree, tree_results in zip(roots, results, strict=True):
            label = "" if len(roots) == 1 else f" [{'this tree' if tree == root else 'baseline'}]"
            report(f"{condition}{label}:", tree_results, args.timings)
        if len(roots) > 1:
            print(_ratio_line(results[0], results[1]))
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
