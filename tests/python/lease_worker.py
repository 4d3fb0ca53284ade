"""A worker process for test_leases.py: calls one slow memoized function.

    python lease_worker.py DIR STORE_URL NAMESPACE THREADS SLEEP LEASE_TTL LEASE_WAIT

Every worker defines the same function (same name, same code: the same
keys), so the processes share its store entry and compete for its lease.
Events go to DIR/events, one line per event, "time pid what", appended with
O_APPEND (one write each): "ready" once set up, "call" as each thread calls,
"start" and "done" in the function (the "done" lines count executions).
With DIR/go absent the worker waits for it before calling (a start line for
all workers); the results and cache_info() go to stdout as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time

import memokey


def event(what: str) -> None:
    fd = os.open(os.path.join(sys.argv[1], "events"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{time.time():.6f} {os.getpid()} {what}\n".encode())
    finally:
        os.close(fd)


def slow(x: int) -> dict:
    event("start")
    time.sleep(float(os.environ["LEASE_SLEEP"]))
    event("done")
    return {"x": x, "square": x * x, "computed_by": os.getpid()}


def main() -> None:
    folder, url, namespace = sys.argv[1], sys.argv[2], sys.argv[3]
    threads, sleep, lease_ttl, lease_wait = int(sys.argv[4]), sys.argv[5], float(sys.argv[6]), float(sys.argv[7])
    os.environ["LEASE_SLEEP"] = sleep
    f = memokey.memoize(slow, store=url, namespace=namespace, lease_ttl=lease_ttl, lease_wait=lease_wait)
    results: list = []
    errors: list = []
    barrier = threading.Barrier(threads)

    def call() -> None:
        barrier.wait()
        event("call")
        try:
            results.append(f(7))
        except Exception as e:  # reported, and the test fails on it
            errors.append(f"{type(e).__name__}: {e}")

    event("ready")
    go = os.path.join(folder, "go")
    while not os.path.exists(go):
        time.sleep(0.005)
    workers = [threading.Thread(target=call) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    info = dataclasses.asdict(f.cache_info())
    print(json.dumps({"pid": os.getpid(), "results": results, "errors": errors, "info": info}))


if __name__ == "__main__":
    main()
