"""Per-namespace byte quotas (docs/SERVER.md#quotas): least recently *used*
eviction that keeps a hot set through a scan of cold keys (compared with
oldest-write eviction on the same trace), the bound under concurrent PUTs,
413 for a value larger than the quota, the per-namespace series in /metrics,
and the configuration (TOML, flag, environment; refused with Redis)."""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import threading
from collections import OrderedDict

import pytest

from mkd import Memokeyd, memokeyd_binary, metric, request, slack

# What the disk store charges an entry beyond its key and value
# (kEntryOverhead in lib/src/store/disk_store.cc): the FIFO simulation below
# charges the same, so both policies get the same budget.
ENTRY_OVERHEAD = 64


class Client:
    """One keep-alive connection (a few thousand requests in about a second)."""

    def __init__(self, server: Memokeyd):
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=slack(20))

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body)
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


def namespace_metric(server: Memokeyd, name: str, ns: str) -> float:
    return metric(server, f'{name}{{namespace="{ns}"}}')


def hot_cold_trace(seed: int, hot_keys: int, steps: int, reads_per_step: int) -> list[str]:
    """Reads of a hot set, with a scan of never-repeated cold keys between them."""
    rng = random.Random(seed)
    trace = []
    for step in range(steps):
        trace += [f"hot-{rng.randrange(hot_keys):03d}" for _ in range(reads_per_step)]
        trace.append(f"cold-{step:05d}")
    return trace


def simulate_fifo(trace: list[str], ns: str, value_size: int, quota: int) -> tuple[int, int]:
    """(hits, misses) of a read-through cache that evicts the oldest *write*."""
    entries: OrderedDict[str, int] = OrderedDict()
    used = hits = misses = 0
    for key in trace:
        if key in entries:
            hits += 1
            continue
        misses += 1
        charge = len(f"{ns}/{key}") + value_size + ENTRY_OVERHEAD
        while used + charge > quota and entries:
            used -= entries.popitem(last=False)[1]
        entries[key] = charge
        used += charge
    return hits, misses


@pytest.fixture
def disk_server(tmp_path):
    with Memokeyd("--data-dir", str(tmp_path / "data"), "--quota", "lru=256KiB",
                  "--quota", "bounded=128KiB") as server:
        yield server


def test_lru_by_access_keeps_the_hot_set_better_than_fifo(disk_server):
    quota = 256 << 10
    value_size = 4096
    trace = hot_cold_trace(seed=15, hot_keys=30, steps=400, reads_per_step=3)
    client = Client(disk_server)
    hits = misses = 0
    try:
        for key in trace:
            status, body = client.call("GET", f"/v1/lru/{key}")
            if status == 200:
                assert body == key.encode().ljust(value_size, b".")
                hits += 1
                continue
            assert status == 404
            misses += 1
            status, _ = client.call("PUT", f"/v1/lru/{key}", key.encode().ljust(value_size, b"."))
            assert status == 201
    finally:
        client.close()
    fifo_hits, fifo_misses = simulate_fifo(trace, "lru", value_size, quota)
    lru_ratio = hits / (hits + misses)
    fifo_ratio = fifo_hits / (fifo_hits + fifo_misses)
    print(f"\nhot set + cold scan, quota {quota} B, {len(trace)} reads: "
          f"memokeyd (LRU by access) hit ratio {lru_ratio:.3f} ({hits} hits), "
          f"oldest-write (FIFO) eviction {fifo_ratio:.3f} ({fifo_hits} hits)")
    assert lru_ratio > fifo_ratio
    # The server counted what the client saw, under the namespace's label.
    assert namespace_metric(disk_server, "memokeyd_namespace_hits_total", "lru") == hits
    assert namespace_metric(disk_server, "memokeyd_namespace_misses_total", "lru") == misses
    assert namespace_metric(disk_server, "memokeyd_namespace_puts_total", "lru") == misses
    assert namespace_metric(disk_server, "memokeyd_namespace_evictions_total", "lru") > 0
    stored = namespace_metric(disk_server, "memokeyd_namespace_bytes", "lru")
    assert 0 < stored <= quota
    assert namespace_metric(disk_server, "memokeyd_namespace_quota_bytes", "lru") == quota


def test_the_bound_holds_under_concurrent_puts(disk_server):
    quota = 128 << 10
    writers, puts_each = 8, 40
    errors: list[str] = []
    written: list[str] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        rng = random.Random(index)
        client = Client(disk_server)
        try:
            for i in range(puts_each):
                key = f"w{index}-{i}"
                status, _ = client.call("PUT", f"/v1/bounded/{key}",
                                        os.urandom(rng.randrange(1024, 16 << 10)))
                if status != 201:
                    errors.append(f"PUT {key}: {status}")
                with lock:
                    written.append(key)
        finally:
            client.close()

    observed: list[float] = []
    done = threading.Event()

    def watcher() -> None:
        while not done.is_set():
            observed.append(namespace_metric(disk_server, "memokeyd_namespace_bytes", "bounded"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    watch = threading.Thread(target=watcher)
    watch.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watch.join()
    assert not errors, errors
    final = namespace_metric(disk_server, "memokeyd_namespace_bytes", "bounded")
    observed.append(final)
    print(f"\n{writers} writers x {puts_each} PUTs into a {quota} B quota: "
          f"{len(observed)} readings, largest {max(observed):.0f} B "
          f"({max(observed) / quota:.1%} of the quota), final {final:.0f} B")
    assert max(observed) <= quota * 1.05
    # Reported bytes are what is really there: read every key back.
    client = Client(disk_server)
    present = 0
    try:
        for key in written:
            status, body = client.call("GET", f"/v1/bounded/{key}")
            if status == 200:
                present += len(f"bounded/{key}") + len(body) + ENTRY_OVERHEAD
    finally:
        client.close()
    assert present == final
    # Eviction made room rather than emptying the namespace.
    assert final > quota / 2
    assert namespace_metric(disk_server, "memokeyd_namespace_evictions_total", "bounded") > 0


def test_a_value_larger_than_the_quota_is_refused_with_413(disk_server):
    big = b"x" * ((128 << 10) + 1)
    # Refused from the header (Content-Length) before the body is read.
    r = request(disk_server, "PUT", "/v1/bounded/too-big", big)
    assert r.status == 413 and b"quota" in r.body
    assert request(disk_server, "GET", "/v1/bounded/too-big").status == 404
    # Other namespaces have no quota: the same value is stored.
    assert request(disk_server, "PUT", "/v1/free/big", big).status == 201
    assert request(disk_server, "PUT", "/v1/bounded/fits", b"y" * 1000).status == 201
    assert namespace_metric(disk_server, "memokeyd_namespace_refused_writes_total", "bounded") == 1
    assert namespace_metric(disk_server, "memokeyd_namespace_refused_writes_total", "free") == 0
    assert namespace_metric(disk_server, "memokeyd_namespace_puts_total", "free") == 1
    # Existing names keep working.
    assert metric(disk_server, "memokeyd_puts_total") == 2
    assert metric(disk_server, "memokeyd_store_entries") >= 2


def test_quota_from_the_config_file_and_environment_with_a_memory_store(tmp_path):
    config = '[namespaces.filed]\nmax_bytes = "64KiB"\n'
    with Memokeyd(config=config, env={"MEMOKEYD_QUOTAS": "envns=32KiB"}) as server:
        for ns, quota in (("filed", 64 << 10), ("envns", 32 << 10)):
            assert namespace_metric(server, "memokeyd_namespace_quota_bytes", ns) == quota
            client = Client(server)
            try:
                for i in range(40):
                    assert client.call("PUT", f"/v1/{ns}/k{i}", b"z" * 4000)[0] == 201
            finally:
                client.close()
            stored = namespace_metric(server, "memokeyd_namespace_bytes", ns)
            assert 0 < stored <= quota
            assert namespace_metric(server, "memokeyd_namespace_evictions_total", ns) > 0
        # Without a disk tier, a quota'd namespace gets a memory store of its own.
        listening = next(line for line in server.logs if line.get("msg") == "listening")
        assert "envns: memory://?max_bytes=32768" in listening["store"]


def check_config(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOKEYD_")}
    return subprocess.run([memokeyd_binary(), "--listen", "127.0.0.1:0", *args, "--check-config"],
                          capture_output=True, text=True, env=env, timeout=slack(20))


def test_quotas_are_refused_where_memokeyd_cannot_bound_them(tmp_path):
    r = check_config("--store", "redis://127.0.0.1:1", "--quota", "ci=1G")
    assert r.returncode == 2
    assert "quotas need the server's own storage" in r.stdout + r.stderr
    r = check_config("--quota", "ci=lots")
    assert r.returncode == 2 and "bad size" in r.stdout + r.stderr
    r = check_config("--store", f"tiered:memory://|disk://{tmp_path}/d?sync=meta", "--quota",
                     "ci=10M")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["namespaces"]["ci"]["max_bytes"] == 10 << 20
