"""Timing and formatting shared by the benchmark scripts (run.py, memo.py, ../report.py)."""

from __future__ import annotations

import statistics
import timeit
from typing import Optional


def calibrate(timer: timeit.Timer, target: float) -> int:
    """How many executions of `timer`'s statement take about `target` seconds.

    Short statements are timed over many calls, so the timer's own overhead
    and resolution do not dominate.
    """
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= target / 4 or number >= 10**7:
            break
        number *= 4 if t < target / 40 else 2
    return max(1, int(number * target / max(t, 1e-9)))


def median_seconds(timer: timeit.Timer, target: float, repeats: int) -> float:
    """Median seconds per execution of `timer`'s statement over `repeats`
    repeats of about `target` seconds each."""
    number = calibrate(timer, target)
    per_call = [t / number for t in timer.repeat(repeat=repeats, number=number)]
    return statistics.median(per_call)


def side_by_side(timers: dict[str, timeit.Timer], target: float,
                 repeats: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Seconds per execution of several statements, timed in turn.

    Each statement's repeat length is calibrated to about `target` seconds;
    then every one of `repeats` rounds times each statement once, one after
    the other, so a change of load on a shared machine hits all of them alike
    (ratios taken within a round compare like with like). Returns the median
    per statement and the per-round figures.
    """
    numbers = {name: calibrate(t, target) for name, t in timers.items()}
    rounds = [{name: t.timeit(numbers[name]) / numbers[name] for name, t in timers.items()}
              for _ in range(repeats)]
    medians = {name: statistics.median(r[name] for r in rounds) for name in timers}
    return medians, rounds


def round_ratio(rounds: list[dict[str, float]], peer: str, base: str) -> float:
    """Median over the rounds of peer time / base time."""
    return statistics.median(r[peer] / r[base] for r in rounds)


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
