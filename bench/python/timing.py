"""Timing and formatting shared by the benchmark scripts (run.py, memo.py, ../report.py)."""

from __future__ import annotations

import statistics
import timeit
from typing import Optional


def median_seconds(timer: timeit.Timer, target: float, repeats: int) -> float:
    """Median seconds per execution of `timer`'s statement.

    The number of executions per repeat is calibrated first so that one repeat
    takes about `target` seconds: short statements are timed over many calls,
    so the timer's own overhead and resolution do not dominate.
    """
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= target / 4 or number >= 10**7:
            break
        number *= 4 if t < target / 40 else 2
    number = max(1, int(number * target / max(t, 1e-9)))
    per_call = [t / number for t in timer.repeat(repeat=repeats, number=number)]
    return statistics.median(per_call)


def fmt_time(seconds: Optional[float]) -> str:
    """'51 ns', '1.28 µs', '3.10 ms', '2.45 s', or 'n/a' for None."""
    if seconds is None:
        return "n/a"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"
