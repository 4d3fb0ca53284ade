#!/usr/bin/env python3
"""Soak test: mixed load against memokeyd backed by a redis-server this script
starts (both on free loopback ports), sampling memokeyd's RSS and open file
descriptors. Run through `scripts/dev soak [MINUTES]`.

Load: CLIENTS threads on keep-alive connections (some reconnect every request),
each loop a GET (hit or miss), a PUT, or (10%) a lease round on a key shared by
all clients: POST .../lease (waiting up to 2 s), and when granted PUT the value
and POST .../release, as memoizing clients do. Values mostly 100 B .. 8 KiB and
2% of 1 .. 4 MiB, over a working set of KEYS keys per client; every value read
(GET hits and values a lease request returns) is checked against the value the
key implies.

Prints a sample line every SAMPLE seconds and a summary: requests, errors,
wrong values (must be 0), RSS and fds at start (after warm-up), middle and end.
Exit status 1 on a wrong value, a crash, or fds growing by more than 16."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from mkd import Memokeyd, RedisServer  # noqa: E402


def value_for(key: str, large: bool) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    rng = random.Random(seed)
    size = rng.randint(1 << 20, 4 << 20) if large else rng.randint(100, 8192)
    block = seed * 64  # 2 KiB
    return (block * (size // len(block) + 1))[:size]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--keys", type=int, default=400)
    ap.add_argument("--sample", type=float, default=5)
    ap.add_argument("--memokeyd", default=os.environ.get("MEMOKEYD", str(ROOT / "build/release/server/memokeyd")))
    args = ap.parse_args()
    os.environ["MEMOKEYD"] = args.memokeyd

    redis = RedisServer()
    try:
        return run(args, redis)
    finally:
        redis.stop()


def run(args, redis) -> int:
    redis.command("CONFIG", "SET", "maxmemory", "512mb")
    redis.command("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    server = Memokeyd("--store", redis.url)
    pid = server.proc.pid
    stop = threading.Event()
    lock = threading.Lock()
    stats = {"get": 0, "hit": 0, "put": 0, "large": 0, "errors": 0, "wrong": 0, "bytes": 0,
             "lease": 0, "granted": 0, "busy": 0}

    def lease_round(conn, key: str, local: dict) -> None:
        """One memoizing client's miss: take the lease or get the value."""
        local["lease"] += 1
        conn.request("POST", f"/v1/soak/{key}/lease",
                     headers={"X-Memokey-Lease-TTL": "5s", "X-Memokey-Lease-Wait": "2s"})
        r = conn.getresponse()
        body = r.read()
        if r.status == 200:
            if body != value_for(key, False):
                local["wrong"] += 1
        elif r.status == 201:
            local["granted"] += 1
            token = r.getheader("X-Memokey-Lease")
            data = value_for(key, False)
            conn.request("PUT", f"/v1/soak/{key}", body=data, headers={"X-Memokey-TTL": "3s"})
            r = conn.getresponse()
            r.read()
            conn.request("POST", f"/v1/soak/{key}/release", headers={"X-Memokey-Lease": token})
            r2 = conn.getresponse()
            r2.read()
            if r.status != 201 or r2.status != 204:
                local["errors"] += 1
        elif r.status == 409:
            local["busy"] += 1
        else:
            local["errors"] += 1

    def client(n: int):
        rng = random.Random(n)
        reconnect_each = n % 4 == 0  # a quarter of the clients open a connection per request
        conn = None
        local = dict.fromkeys(stats, 0)
        while not stop.is_set():
            large = rng.random() < 0.02
            key = f"c{n}-{'L' if large else 's'}{rng.randrange(args.keys // (20 if large else 1))}"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
                op = rng.random()
                if op < 0.1:
                    # Keys shared by every client, stored with a 3 s TTL:
                    # leases keep being contended, granted and waited for.
                    lease_round(conn, f"shared{rng.randrange(32)}", local)
                elif op < 0.6:
                    conn.request("GET", f"/v1/soak/{key}")
                    r = conn.getresponse()
                    body = r.read()
                    local["get"] += 1
                    if r.status == 200:
                        local["hit"] += 1
                        if body != value_for(key, large):
                            local["wrong"] += 1
                    elif r.status != 404:
                        local["errors"] += 1
                    local["bytes"] += len(body)
                else:
                    data = value_for(key, large)
                    conn.request("PUT", f"/v1/soak/{key}", body=data)
                    r = conn.getresponse()
                    r.read()
                    local["put"] += 1
                    local["large"] += large
                    local["bytes"] += len(data)
                    if r.status != 201:
                        local["errors"] += 1
                if reconnect_each:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                local["errors"] += 1
                if conn is not None:
                    conn.close()
                conn = None
            if sum(local.values()) > 200:
                with lock:
                    for k, v in local.items():
                        stats[k] += v
                local = dict.fromkeys(stats, 0)
        with lock:
            for k, v in local.items():
                stats[k] += v
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    print(f"soak: memokeyd pid {pid} over {redis.url}, {args.clients} clients, {args.minutes:g} min")
    print(f"{'t(s)':>6} {'rss(MiB)':>9} {'fds':>4} {'requests':>9} {'req/s':>7} {'errors':>6} {'wrong':>5}")
    end = start + args.minutes * 60
    last_requests = 0
    last_t = start
    ok = True
    try:
        while time.monotonic() < end:
            time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
            if server.proc.poll() is not None:
                print("memokeyd died:\n" + server.log_text())
                ok = False
                break
            now = time.monotonic()
            with lock:
                requests = stats["get"] + stats["put"] + stats["lease"]
                errors, wrong = stats["errors"], stats["wrong"]
            sample = (now - start, rss_kib(pid) / 1024, fds(pid), requests)
            samples.append(sample)
            rate = (requests - last_requests) / max(1e-9, now - last_t)
            last_requests, last_t = requests, now
            print(f"{sample[0]:6.0f} {sample[1]:9.1f} {sample[2]:4d} {requests:9d} {rate:7.0f} "
                  f"{errors:6d} {wrong:5d}", flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        alive = server.proc.poll() is None
        server.stop() if alive else server.kill()
        redis.stop()

    if len(samples) >= 3:
        warm = samples[min(2, len(samples) - 1)]  # after warm-up
        mid = samples[len(samples) // 2]
        last = samples[-1]
        peak_rss = max(s[1] for s in samples)
        print(f"\nsummary: {stats['get'] + stats['put'] + stats['lease']} requests ({stats['get']} GET, "
              f"{stats['hit']} hits, {stats['put']} PUT of which {stats['large']} of 1-4 MiB, "
              f"{stats['lease']} lease rounds: {stats['granted']} granted, {stats['busy']} busy), "
              f"{stats['bytes'] / 2**30:.1f} GiB moved, errors {stats['errors']}, wrong values {stats['wrong']}")
        print(f"RSS MiB: after warm-up {warm[1]:.1f}, middle {mid[1]:.1f}, end {last[1]:.1f}, peak {peak_rss:.1f}")
        print(f"fds:     after warm-up {warm[2]}, middle {mid[2]}, end {last[2]}, "
              f"max {max(s[2] for s in samples)}")
        if last[2] > warm[2] + 16:
            print("FAIL: open fds grew")
            ok = False
    if stats["wrong"]:
        print("FAIL: wrong values served")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
