"""Timing and memory readings shared by the benchmark scripts."""

import time
from pathlib import Path


def best_time(function, repeats: int = 3) -> float:
    """The shortest of ``repeats`` wall-clock runs of ``function()``: the machine is shared,
    and the minimum is the run least disturbed by others."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def status_mb(field: str) -> float:
    """A VmRSS/VmHWM line of /proc/self/status in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak() -> bool:
    """Reset the process's peak resident size (VmHWM); False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
