#!/usr/bin/env python3
"""multiprocessing workers sharing memoized results through the disk tier.

    python3 examples/multiprocess_disk.py [WORKERS]

Phase 1: WORKERS processes each compute their own share of the inputs.
Phase 2: WORKERS fresh processes (empty memory tiers) each ask for *every*
input: every result computed by one worker is a hit, from disk, in every
other. The disk tier is SQLite in WAL mode: safe for many processes at once,
and a killed worker never leaves a torn value. Workers are started with "spawn" (a fresh
interpreter, nothing inherited), so the sharing is through the store alone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time

import memokey

# The children re-import this module: they find the store in the environment.
STORE_URL = os.environ.setdefault(
    "MEMOKEY_EXAMPLE_STORE", f"disk://{tempfile.mkdtemp(prefix='memokey-mp-')}"
)


@memokey.memoize(store=STORE_URL)
def simulate(seed: int) -> list[float]:
    """The expensive part: ~0.2 s of CPU per input."""
    import random

    rng = random.Random(seed)
    xs = [rng.random() for _ in range(200_000)]
    return [round(sum(xs) / len(xs), 6), round(max(xs), 6)]


def worker(inputs: list[int], results: "mp.Queue") -> None:
    for x in inputs:
        simulate(x)
    info = simulate.cache_info()
    disk_hits = sum(hits for tier, hits in info.tiers.items() if tier.startswith("disk://"))
    results.put((os.getpid(), len(inputs), info.computed, disk_hits))


def run_phase(ctx, shares: list[list[int]]) -> list[tuple[int, int, int, int]]:
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(share, queue)) for share in shares]
    for p in procs:
        p.start()
    out = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
        assert p.exitcode == 0
    return out


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    inputs = list(range(2 * workers))
    ctx = mp.get_context("spawn")

    start = time.perf_counter()
    phase1 = run_phase(ctx, [inputs[i::workers] for i in range(workers)])
    t1 = time.perf_counter() - start
    for pid, asked, computed, hits in phase1:
        print(f"phase 1  worker {pid}: asked {asked}, computed {computed}, disk hits {hits}")
    computed1 = sum(r[2] for r in phase1)
    print(f"phase 1: {computed1} results computed in {t1:.2f} s")

    start = time.perf_counter()
    phase2 = run_phase(ctx, [inputs for _ in range(workers)])
    t2 = time.perf_counter() - start
    for pid, asked, computed, hits in phase2:
        print(f"phase 2  worker {pid}: asked {asked}, computed {computed}, disk hits {hits}")
    computed2 = sum(r[2] for r in phase2)
    hits2 = sum(r[3] for r in phase2)
    print(f"phase 2: {computed2} computed, {hits2} disk hits in {t2:.2f} s")

    # The parent (module __main__, workers __mp_main__) shares the same entries.
    simulate(0)
    parent = simulate.cache_info()
    print(f"parent: computed {parent.computed}, hits {parent.hits}")

    assert computed1 == len(inputs), phase1
    assert computed2 == 0 and hits2 == workers * len(inputs), phase2
    assert parent.computed == 0 and parent.hits == 1
    print(f"OK: {len(inputs)} computed once, {hits2} disk hits across {workers} workers")


if __name__ == "__main__":
    main()
