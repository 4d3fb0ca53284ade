"""memokeyd in front of a Redis Cluster (3 masters, 3 replicas on loopback,
started by tests/cluster/redis_cluster.py): keys spread over every master,
two memokeyd share the cluster and its leases, and when a master is killed
its replica takes over while clients keep running — misses and 503s allowed
during the failover, never a wrong value."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mkd import Memokeyd, request, slack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from redis_cluster import RedisCluster  # noqa: E402


def value_for(key: str, version: int) -> bytes:
    """Self-verifying: the key and a version, hashed into the value."""
    head = f"{key}:{version}:".encode()
    return head + hashlib.sha256(head).hexdigest().encode() * 8


def parse(key: str, body: bytes) -> int | None:
    """The version a value claims, if it is a valid value of `key`."""
    try:
        k, version, _ = body.decode().split(":", 2)
        v = int(version)
    except ValueError:
        return None
    return v if k == key and body == value_for(key, v) else None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with RedisCluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c


def test_keys_spread_over_every_master_and_two_servers_share_them(cluster):
    url = cluster.url(prefix="memokeyd:")
    with Memokeyd("--store", url, "--threads", "2") as a, Memokeyd("--store", url, "--threads", "2") as b:
        keys = [f"spread{i}" for i in range(60)]
        for k in keys:
            assert request(a, "PUT", f"/v1/team/{k}", body=value_for(k, 1)).status == 201
        for k in keys:
            r = request(b, "GET", f"/v1/team/{k}")
            assert (r.status, parse(k, r.body)) == (200, 1)
        # Every master holds some of them.
        per_master = [int(subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True,
                                         text=True, check=True).stdout) for port in cluster.master_ports()]
        assert all(n > 0 for n in per_master), per_master
        assert request(a, "GET", "/readyz").status == 200


def test_leases_across_two_servers_over_the_cluster(cluster):
    url = cluster.url(prefix="memokeyd:")
    with Memokeyd("--store", url, "--threads", "2") as a, Memokeyd("--store", url, "--threads", "2") as b:
        headers = {"X-Memokey-Lease-TTL": "30s", "X-Memokey-Lease-Wait": "0"}
        g = request(a, "POST", "/v1/team/leased/lease", headers=headers)
        assert g.status == 201, g
        assert request(b, "POST", "/v1/team/leased/lease", headers=headers).status == 409
        assert request(b, "PUT", "/v1/team/leased", body=b"done").status == 201
        assert request(b, "POST", "/v1/team/leased/release",
                       headers={"X-Memokey-Lease": g.headers["x-memokey-lease"]}).status == 204
        r = request(a, "POST", "/v1/team/leased/lease", headers=headers)
        assert (r.status, r.body) == (200, b"done")


def test_a_master_dies_and_clients_continue_with_no_wrong_value(cluster):
    url = cluster.url(prefix="memokeyd:") + "&timeout_ms=500&backoff_ms=50&max_backoff_ms=200"
    with Memokeyd("--store", url, "--threads", "2") as a, Memokeyd("--store", url, "--threads", "2") as b:
        servers = [a, b]
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"ok": 0, "miss": 0, "unavailable": 0, "wrong": 0}
        failures: list[float] = []  # times of 503s / connection errors
        latest: dict[str, int] = {}

        def client(n: int):
            version = 0
            i = 0
            while not stop.is_set():
                i += 1
                key = f"fo{n}-{i % 50}"
                server = servers[i % 2]
                try:
                    if i % 3 == 0:
                        version += 1
                        r = request(server, "PUT", f"/v1/team/{key}", body=value_for(key, version))
                        outcome = "ok" if r.status == 201 else "unavailable"
                    else:
                        r = request(server, "GET", f"/v1/team/{key}")
                        if r.status == 200:
                            # Any version this client wrote is a right value;
                            # anything else (another key's, a torn one) is wrong.
                            v = parse(key, r.body)
                            outcome = "ok" if v is not None and v <= version else "wrong"
                        elif r.status == 404:
                            outcome = "miss"
                        else:
                            outcome = "unavailable"
                except OSError:
                    outcome = "unavailable"
                with lock:
                    stats[outcome] += 1
                    if outcome == "unavailable":
                        failures.append(time.monotonic())

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            before = dict(stats)
            killed = cluster.kill_master()
            killed_at = time.monotonic()
            failover_s = cluster.wait_failover(timeout=slack(60))
            # Clients must be served again: wait (bounded) for 2 s without a failure.
            deadline = time.monotonic() + slack(60)
            while time.monotonic() < deadline:
                time.sleep(0.5)
                with lock:
                    last_failure = failures[-1] if failures else 0.0
                if time.monotonic() - last_failure > 2.0:
                    break
        finally:
            stop.set()
            for t in threads:
                t.join(slack(30))
        with lock:
            after = dict(stats)
            after_kill = [f for f in failures if f >= killed_at]
        recovered_s = (max(after_kill) - killed_at) if after_kill else 0.0
        print(f"\nfailover: killed master :{killed}; cluster failover {failover_s:.2f} s; "
              f"clients served again {recovered_s:.2f} s after the kill; "
              f"requests ok {after['ok']}, misses {after['miss']}, unavailable {after['unavailable']}, "
              f"wrong {after['wrong']}")
        assert after["wrong"] == 0
        assert before["ok"] > 0 and after["ok"] > before["ok"]
        # Served again after the failover: successes after the last failure.
        for k in ("fo0-1", "fo1-2", "fo2-3", "fo3-4"):
            assert request(a, "PUT", f"/v1/team/{k}", body=value_for(k, 99)).status == 201
            r = request(b, "GET", f"/v1/team/{k}")
            assert (r.status, parse(k, r.body)) == (200, 99)
