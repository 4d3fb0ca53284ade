#!/usr/bin/env python3
"""Two separate processes sharing memoized results through Redis.

    python3 examples/redis_two_processes.py redis://127.0.0.1:6379/0

Starts this script twice as separate Python processes (no fork, nothing
shared but the Redis server and the signing secret): the first computes
and stores, the second gets every result from Redis without computing. Each
run uses a fresh namespace, so it starts cold whatever the server holds.
Both processes must share the secret that signs the values: the per-user key
file (~/.config/memokey/secret) is the same for one user on one machine; on
several machines set MEMOKEY_SECRET to the same value everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import memokey


def child(url: str, namespace: str) -> None:
    @memokey.memoize(store=url, namespace=namespace, name="example.tokenize", version="1")
    def tokenize(document: str) -> list[str]:
        time.sleep(0.1)  # stands for real work
        return sorted(set(document.lower().split()))

    docs = ["the quick brown fox", "jumps over the lazy dog", "The Quick Brown Fox"]
    start = time.perf_counter()
    tokens = [tokenize(d) for d in docs]
    elapsed = time.perf_counter() - start
    info = tokenize.cache_info()
    redis_hits = sum(h for tier, h in info.tiers.items() if tier.startswith("redis"))
    print(json.dumps({"computed": info.computed, "redis_hits": redis_hits,
                      "errors": info.errors, "seconds": round(elapsed, 3),
                      "tokens": tokens}))


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[2] == "--child":
        child(sys.argv[1], sys.argv[3])
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    url = sys.argv[1]
    namespace = f"example-{uuid.uuid4().hex[:12]}"
    reports = []
    for role in ("first", "second"):
        out = subprocess.run([sys.executable, __file__, url, "--child", namespace],
                             check=True, capture_output=True, text=True).stdout
        report = json.loads(out.strip().splitlines()[-1])
        reports.append(report)
        print(f"{role} process: computed {report['computed']}, redis hits "
              f"{report['redis_hits']}, errors {report['errors']}, {report['seconds']} s")
    first, second = reports
    assert first["computed"] == 3 and first["errors"] == 0, first
    assert second["computed"] == 0 and second["redis_hits"] == 3, second
    assert first["tokens"] == second["tokens"]
    print("OK: the second process computed nothing: 3 results from Redis")


if __name__ == "__main__":
    main()
