#!/usr/bin/env python3
"""Benchmark memokey.memoize hits against other Python caching libraries.

One command, every peer timed in the same run, on the same call:

    python3 bench/python/memo.py            # full run (about a minute)
    python3 bench/python/memo.py --quick    # shorter repeats

The call is a small-argument one, ``f(42, "hello", 3.5)``, already cached
(issue 4, item 8):

  (a) memory tier: memokey (the default memory tier in front of a disk store)
      vs functools.lru_cache (maxsize=4096 and None), cachetools.cached
      (LRUCache), cachebox.cached (LRUCache).
  (b) disk tier, the value not in memory: memokey with memory=0 over
      ``disk://`` (SQLite; the envelope's MAC is checked and the pickle loaded
      on every call) vs diskcache ``Cache.memoize`` and ``joblib.Memory``. A
      second memokey row turns the call-shape cache off, so each call also
      normalizes and hashes its arguments, as the first call of a fresh
      process does.
  (d) disk-tier miss: a new argument on every call, so each call computes
      the (trivial) function and stores its result: memokey with memory=0
      over ``disk://`` vs diskcache ``Cache.memoize`` (statement
      ``f(next(n), "hello", 3.5)``; the cost of ``next`` is in both).
  (e) memory-tier miss: a new argument on every call of a trivial function,
      memory tier only (``store=False``): memokey vs cachetools.cached
      (LRUCache) and functools.lru_cache, each bounded at 4096 entries
      (issue 13: memokey's miss <= 1.5x cachetools' miss).
  (c) Redis tier, the value not in memory: memokey with memory=0 over
      ``redis://`` vs redis-py ``GET`` + ``pickle.loads`` (the floor of any
      Python Redis cache), and the network floor: one PING round trip on a
      raw socket. The benchmark starts its own redis-server on a free
      loopback port (or uses --redis URL). Round trips on a VM depend on how
      busy the CPUs are (an idle vCPU wakes up slower): compare rows of one
      run only.

Each figure is the median over repeats of the mean time per call (timeit on
the statement ``f(42, "hello", 3.5)``, no lambda in between, with the number
of calls per repeat chosen so a repeat takes ~0.2 s, or ~0.05 s with
--quick). The ratio column is peer time / memokey time (> 1: memokey is
faster). Writes the Markdown tables to bench/python/results-memo.md and
prints them.

Goals (issue 4): memory hit <= 3x an lru_cache hit; disk hit >= 5x faster
than diskcache's memoize hit. Issue 12: disk miss >= 2x faster than
diskcache's memoize miss. Issue 13: memory-tier miss <= 1.5x cachetools'
memory-tier miss.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import itertools
import os
import pickle
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
STMT = 'f(42, "hello", 3.5)'
ARGS = (42, "hello", 3.5)

os.environ.setdefault("MEMOKEY_SECRET", "memokey-bench-secret-0123456789")
import memokey  # noqa: E402
from timing import fmt_time as fmt, median_seconds  # noqa: E402


def body(a: int, b: str, c: float) -> tuple[int, str, float]:
    return (a, b, c)


def time_stmt(f: Callable[..., Any], target: float, repeats: int) -> float:
    return median_seconds(timeit.Timer(STMT, globals={"f": f}), target, repeats)


def version_of(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "?"


# --- peers ----------------------------------------------------------------------------


def memory_peers(tmp: Path) -> list[tuple[str, Optional[Callable[..., Any]]]]:
    memo = memokey.memoize(store=f"disk://{tmp / 'memokey-mem'}", name="bench.memory")(body)
    peers: list[tuple[str, Optional[Callable[..., Any]]]] = [
        ("memokey.memoize (memory tier)", memo),
        ("functools.lru_cache(maxsize=4096)", functools.lru_cache(maxsize=4096)(body)),
        ("functools.lru_cache(maxsize=None)", functools.lru_cache(maxsize=None)(body)),
    ]
    try:
        import cachetools

        peers.append(("cachetools.cached(LRUCache(4096))",
                      cachetools.cached(cachetools.LRUCache(maxsize=4096))(body)))
    except ImportError:
        peers.append(("cachetools.cached(LRUCache(4096))", None))
    try:
        import cachebox

        peers.append(("cachebox.cached(LRUCache(4096))",
                      cachebox.cached(cachebox.LRUCache(maxsize=4096))(body)))
    except ImportError:
        peers.append(("cachebox.cached(LRUCache(4096))", None))
    return peers


def disk_peers(tmp: Path) -> list[tuple[str, Optional[Callable[..., Any]]]]:
    url = f"disk://{tmp / 'memokey-disk'}"
    peers: list[tuple[str, Optional[Callable[..., Any]]]] = [
        ("memokey.memoize (disk tier, memory=0)",
         memokey.memoize(store=url, memory=0, name="bench.disk")(body)),
        ("memokey.memoize (disk tier, memory=0, no shape cache)",
         memokey.memoize(store=url, memory=0, name="bench.disk", _shapes=False)(body)),
    ]
    try:
        import diskcache

        cache = diskcache.Cache(str(tmp / "diskcache"))
        peers.append(("diskcache Cache.memoize", cache.memoize()(body)))
    except ImportError:
        peers.append(("diskcache Cache.memoize", None))
    try:
        import joblib

        peers.append(("joblib.Memory.cache",
                      joblib.Memory(str(tmp / "joblib"), verbose=0).cache(body)))
    except ImportError:
        peers.append(("joblib.Memory.cache", None))
    return peers


MISS_STMT = 'f(next(n), "hello", 3.5)'


def disk_miss_peers(tmp: Path) -> list[tuple[str, Optional[Callable[..., Any]]]]:
    peers: list[tuple[str, Optional[Callable[..., Any]]]] = [
        ("memokey.memoize (disk tier, memory=0)",
         memokey.memoize(store=f"disk://{tmp / 'memokey-miss'}", memory=0, name="bench.miss")(body)),
    ]
    try:
        import diskcache

        cache = diskcache.Cache(str(tmp / "diskcache-miss"))
        peers.append(("diskcache Cache.memoize", cache.memoize()(body)))
    except ImportError:
        peers.append(("diskcache Cache.memoize", None))
    return peers


def memory_miss_peers(tmp: Path) -> list[tuple[str, Optional[Callable[..., Any]]]]:
    peers: list[tuple[str, Optional[Callable[..., Any]]]] = [
        ("memokey.memoize (memory tier only, store=False)",
         memokey.memoize(store=False, name="bench.memory_miss")(body)),
        ("functools.lru_cache(maxsize=4096)", functools.lru_cache(maxsize=4096)(body)),
    ]
    try:
        import cachetools

        peers.append(("cachetools.cached(LRUCache(4096))",
                      cachetools.cached(cachetools.LRUCache(maxsize=4096))(body)))
    except ImportError:
        peers.append(("cachetools.cached(LRUCache(4096))", None))
    return peers


def run_miss_case(title: str, peers: list[tuple[str, Optional[Callable[..., Any]]]],
                  target: float, repeats: int) -> tuple[list[str], dict[str, Optional[float]]]:
    """Like run_case, on calls that all miss (a fresh first argument each)."""
    times: dict[str, Optional[float]] = {}
    for name, f in peers:
        if f is None:
            times[name] = None
            continue
        n = itertools.count(10**9)
        assert f(next(n), "hello", 3.5)[1] == "hello"
        times[name] = median_seconds(timeit.Timer(MISS_STMT, globals={"f": f, "n": n}), target,
                                     repeats)
        print(f"  {name}: {fmt(times[name])}", file=sys.stderr)
    return table(title, peers, times), times


class RedisServer:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not found")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def redis_peers(url: str) -> list[tuple[str, Optional[Callable[..., Any]]]]:
    peers: list[tuple[str, Optional[Callable[..., Any]]]] = [
        ("memokey.memoize (redis tier, memory=0)",
         memokey.memoize(store=url + "?prefix=bench:", memory=0, name="bench.redis")(body)),
    ]
    try:
        import redis

        client = redis.Redis.from_url(url)

        def redis_get_pickle(a: int, b: str, c: float) -> Any:
            key = f"bench-redis-py:{a!r}:{b!r}:{c!r}"
            raw = client.get(key)
            if raw is not None:
                return pickle.loads(raw)
            value = body(a, b, c)
            client.set(key, pickle.dumps(value, protocol=5))
            return value

        peers.append(("redis-py GET + pickle.loads", redis_get_pickle))
    except ImportError:
        peers.append(("redis-py GET + pickle.loads", None))

    # The floor: one PING round trip on a raw socket (no client library).
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ping_round_trip(a: int, b: str, c: float) -> Any:
        sock.sendall(b"PING\r\n")
        sock.recv(64)
        return ARGS

    peers.append(("floor: one PING round trip, raw socket", ping_round_trip))
    return peers


# --- run ----------------------------------------------------------------------------------


def run_case(title: str, peers: list[tuple[str, Optional[Callable[..., Any]]]], target: float,
             repeats: int) -> tuple[list[str], dict[str, Optional[float]]]:
    times: dict[str, Optional[float]] = {}
    for name, f in peers:
        if f is None:
            times[name] = None
            continue
        assert f(*ARGS) == ARGS  # warm: computed and cached
        assert f(*ARGS) == ARGS
        times[name] = time_stmt(f, target, repeats)
        print(f"  {name}: {fmt(times[name])}", file=sys.stderr)
    return table(title, peers, times), times


def table(title: str, peers: list[tuple[str, Optional[Callable[..., Any]]]],
          times: dict[str, Optional[float]]) -> list[str]:
    base_name = peers[0][0]
    base = times[base_name]
    lines = [f"## {title}", "", "| implementation | median | ratio |", "|---|---:|---:|"]
    for name, _ in peers:
        t = times[name]
        if name == base_name:
            lines.append(f"| **{name}** | **{fmt(t)}** | 1.00 |")
        else:
            ratio = f"{t / base:.2f}" if t is not None and base else ""
            lines.append(f"| {name} | {fmt(t)} | {ratio} |")
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter repeats")
    parser.add_argument("--redis", help="use this Redis URL instead of starting a redis-server")
    parser.add_argument("--out", default=str(HERE / "results-memo.md"), help="Markdown output file")
    parser.add_argument("--json", help="also write the medians as JSON here")
    args = parser.parse_args()
    target, repeats = (0.05, 5) if args.quick else (0.2, 9)

    tmp = Path(tempfile.mkdtemp(prefix="memokey-bench-memo-"))
    server = None
    try:
        print("(a) memory tier", file=sys.stderr)
        a_lines, a = run_case("(a) memory-tier hit", memory_peers(tmp), target, repeats)
        print("(b) disk tier", file=sys.stderr)
        b_lines, b = run_case("(b) disk-tier hit (value not in memory)", disk_peers(tmp), target,
                              repeats)
        print("(d) disk-tier miss", file=sys.stderr)
        d_lines, d = run_miss_case("(d) disk-tier miss (compute a trivial function + store)",
                                   disk_miss_peers(tmp), target, repeats)
        print("(e) memory-tier miss", file=sys.stderr)
        e_lines, e = run_miss_case("(e) memory-tier miss (compute a trivial function, memory only)",
                                   memory_miss_peers(tmp), target, repeats)
        redis_url = args.redis
        if redis_url is None:
            try:
                server = RedisServer()
                redis_url = server.url
            except RuntimeError as e:
                print(f"(c) skipped: {e}", file=sys.stderr)
        c_lines: list[str] = []
        c: dict[str, Optional[float]] = {}
        if redis_url:
            print("(c) redis tier", file=sys.stderr)
            c_lines, c = run_case("(c) Redis-tier hit (value not in memory; loopback TCP)",
                                  redis_peers(redis_url), target, repeats)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    mem = a["memokey.memoize (memory tier)"]
    lru = a["functools.lru_cache(maxsize=4096)"]
    lru_none = a["functools.lru_cache(maxsize=None)"]
    disk = b["memokey.memoize (disk tier, memory=0)"]
    dc = b["diskcache Cache.memoize"]
    goals = ["## Goals (issue 4, item 8)", ""]
    if mem and lru:
        goals.append(f"- memory hit / lru_cache(maxsize=4096) hit = {mem / lru:.2f}x "
                     f"(goal <= 3x): {'met' if mem <= 3 * lru else 'NOT met'}")
    if mem and lru_none:
        goals.append(f"- memory hit / lru_cache(maxsize=None) hit = {mem / lru_none:.2f}x "
                     f"(goal <= 3x): {'met' if mem <= 3 * lru_none else 'NOT met'}")
    if disk and dc:
        goals.append(f"- diskcache memoize hit / memokey disk hit = {dc / disk:.1f}x faster "
                     f"(goal >= 5x): {'met' if dc >= 5 * disk else 'NOT met'}")
    miss, dc_miss = d["memokey.memoize (disk tier, memory=0)"], d["diskcache Cache.memoize"]
    if miss and dc_miss:
        goals.append(f"- diskcache memoize miss / memokey disk miss = {dc_miss / miss:.1f}x faster "
                     f"(goal >= 2x, issue 12): {'met' if dc_miss >= 2 * miss else 'NOT met'}")
    mem_miss = e["memokey.memoize (memory tier only, store=False)"]
    ct_miss = e["cachetools.cached(LRUCache(4096))"]
    if mem_miss and ct_miss:
        goals.append(f"- memokey memory miss / cachetools memory miss = {mem_miss / ct_miss:.2f}x "
                     f"(goal <= 1.5x, issue 13): {'met' if mem_miss <= 1.5 * ct_miss else 'NOT met'}")
    goals.append("")

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs = ", ".join(f"{m} {version_of(m)}" for m in
                     ("memokey", "cachetools", "cachebox", "diskcache", "joblib", "redis"))
    header = [
        "# memokey Python benchmark: memoized hits (issue 4, item 8)",
        "",
        f"Command: `python3 bench/python/memo.py{' --quick' if args.quick else ''}` "
        f"({datetime.date.today().isoformat()})",
        "",
        f"Machine: {cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}; {libs}.",
        "",
        f"Call: `{STMT}`, already cached. Median time per call; *ratio* = peer time / memokey "
        "time (> 1: memokey is faster).",
        "",
    ]
    text = "\n".join(header + a_lines + b_lines + d_lines + e_lines + c_lines + goals)
    Path(args.out).write_text(text)
    if args.json:
        import json

        Path(args.json).write_text(json.dumps({"memory": a, "disk": b, "disk_miss": d, "memory_miss": e,
                                                "redis": c}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
