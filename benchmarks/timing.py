"""Timing shared by the benchmark scripts."""

import time


def best_time(function, repeats: int = 3) -> float:
    """The shortest of ``repeats`` wall-clock runs of ``function()``: the machine is shared,
    and the minimum is the run least disturbed by others."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best
