#!/usr/bin/env python3
"""Memoize an expensive function with @memokey.memoize.

    python3 examples/memoize_basic.py [STORE_URL]

Without an argument the results go to a fresh disk store in a temporary
directory (so every run starts cold); `@memokey.memoize` with no store= would
use ~/.cache/memokey, which persists across runs and processes.
"""

from __future__ import annotations

import sys
import tempfile
import time

import memokey

STORE = sys.argv[1] if len(sys.argv) > 1 else f"disk://{tempfile.mkdtemp(prefix='memokey-example-')}"


@memokey.memoize(store=STORE)
def portfolio_stats(weights: dict[str, float], days: int = 250, *, seed: int = 7) -> dict[str, float]:
    """A deliberately slow simulation (about 0.3 s)."""
    import random

    rng = random.Random(seed)
    value = 1.0
    worst = 0.0
    peak = 1.0
    for _ in range(days * 1000):
        step = sum(w * rng.gauss(0.0002, 0.01) for w in weights.values()) / 1000
        value *= 1 + step
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    return {"final": round(value, 6), "max_drawdown": round(worst, 6)}


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    unit = f"{elapsed * 1e6:.1f} µs" if elapsed < 0.01 else f"{elapsed:.3f} s"
    print(f"{label:<44} {unit:>12}  {result}")
    return result


first = timed("first call (computed)", portfolio_stats, {"stocks": 0.6, "bonds": 0.4})
again = timed("same call (memory hit)", portfolio_stats, {"stocks": 0.6, "bonds": 0.4})
# Dict order, explicit defaults and keyword forms do not change the key.
same = timed("bonds first, days=250 spelled out (hit)", portfolio_stats,
             {"bonds": 0.4, "stocks": 0.6}, days=250, seed=7)
other = timed("other weights (computed)", portfolio_stats, {"stocks": 0.9, "bonds": 0.1})

info = portfolio_stats.cache_info()
print(info)
print(portfolio_stats.explain({"stocks": 0.6, "bonds": 0.4}))
assert first == again == same and other != first
assert again is first  # the memory tier returns the cached object itself (copy=True to copy)
assert info.computed == 2 and info.hits == 2, info
print(f"key: {portfolio_stats.key({'stocks': 0.6, 'bonds': 0.4})}")
print("OK: computed 2, hits 2")
