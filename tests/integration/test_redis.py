"""memokeyd backed by Redis: two memokeyd processes share one redis-server,
keys are namespaced in Redis, and an unreachable Redis shows in /readyz and as
503 — and recovers when Redis comes back."""

from __future__ import annotations

import time

import pytest

from mkd import Memokeyd, RedisServer, curl, request, slack


@pytest.fixture(scope="module")
def redis():
    with RedisServer() as r:
        yield r


def test_two_servers_share_one_redis(redis):
    with Memokeyd("--store", redis.url, "--threads", "2") as a, Memokeyd("--store", redis.url, "--threads", "2") as b:
        value = bytes(range(256)) * 100
        assert curl(a.url + "/v1/team/shared", "-X", "PUT", data=value).status == 201
        r = curl(b.url + "/v1/team/shared")
        assert (r.status, r.body) == (200, value)
        # ccache-style path through the other server.
        assert curl(b.url + "/ccache/ab/cdef0123", "-X", "PUT", data=b"obj").status == 201
        assert curl(a.url + "/ccache/ab/cdef0123").body == b"obj"
        # Delete through one, gone for the other.
        assert curl(b.url + "/v1/team/shared", "-X", "DELETE").status == 204
        assert curl(a.url + "/v1/team/shared").status == 404
        # TTLs are Redis's.
        assert curl(a.url + "/v1/team/brief", "-X", "PUT", "-H", "X-Memokey-TTL: 400ms", data=b"x").status == 201
        assert curl(b.url + "/v1/team/brief").status == 200
        time.sleep(0.7)
        assert curl(b.url + "/v1/team/brief").status == 404
        assert curl(a.url + "/readyz").status == 200


def test_namespaces_are_separate_redis_keys(redis):
    with Memokeyd("--store", redis.url, "--threads", "1") as s:
        assert curl(s.url + "/v1/one/k", "-X", "PUT", data=b"1").status == 201
        assert curl(s.url + "/v1/two/k", "-X", "PUT", data=b"2").status == 201
        assert curl(s.url + "/v1/one/k").body == b"1"
        assert curl(s.url + "/v1/two/k").body == b"2"
        keys = redis.command("KEYS", "memokeyd:*")
        assert b"memokeyd:{one/k}" in keys and b"memokeyd:{two/k}" in keys


def test_redis_down_then_back():
    redis = RedisServer()
    try:
        with Memokeyd("--store", redis.url + "?backoff_ms=50&max_backoff_ms=200&timeout_ms=500",
                      "--threads", "2") as s:
            assert curl(s.url + "/v1/ns/k", "-X", "PUT", data=b"before").status == 201
            redis.stop()
            r = curl(s.url + "/readyz")
            assert r.status == 503 and r.headers.get("retry-after") == "1"
            assert curl(s.url + "/v1/ns/k").status == 503
            assert curl(s.url + "/v1/ns/k", "-X", "PUT", data=b"x").status == 503
            assert curl(s.url + "/healthz").status == 200  # alive, just not ready
            redis.start()  # same port, empty (no persistence)
            deadline = time.monotonic() + slack(5)
            while curl(s.url + "/readyz").status != 200:
                assert time.monotonic() < deadline, "memokeyd did not recover"
                time.sleep(0.05)
            assert curl(s.url + "/v1/ns/k").status == 404
            assert curl(s.url + "/v1/ns/k", "-X", "PUT", data=b"after").status == 201
            assert curl(s.url + "/v1/ns/k").body == b"after"
            text = curl(s.url + "/metrics").body.decode()
            errors = [l for l in text.splitlines() if l.startswith("memokeyd_backend_errors_total ")]
            assert errors and float(errors[0].split()[1]) >= 2
            assert any(l.get("msg") == "store error" for l in s.logs)
    finally:
        redis.stop()


def test_batched_reads_answer_each_client_its_own_value(redis):
    """Redis-backed memokeyd answers concurrent GETs with one MGET per event-loop
    turn: every client must still get exactly its own key's value (or miss),
    HEAD its length, and refusals their 401."""
    import http.client
    import threading

    config = """
[[tokens]]
name = "rw"
token = "batch-token-123"
access = "read-write"
namespaces = ["b"]
"""
    with Memokeyd("--store", redis.url, "--threads", "2", config=config) as s:
        auth = {"Authorization": "Bearer batch-token-123"}
        for i in range(50):
            assert request(s, "PUT", f"/v1/b/k{i}", body=f"value-{i}".encode() * (i + 1), headers=auth).status == 201
        errors = []

        def client(n):
            conn = http.client.HTTPConnection(s.host, s.port, timeout=slack(20))
            try:
                for round_ in range(40):
                    i = (n * 7 + round_) % 60  # 50..59 are misses
                    conn.request("GET", f"/v1/b/k{i}", headers=auth)
                    r = conn.getresponse()
                    body = r.read()
                    expected = f"value-{i}".encode() * (i + 1) if i < 50 else None
                    if (expected is None and r.status != 404) or (expected is not None and body != expected):
                        errors.append((n, i, r.status, body[:40]))
                    conn.request("HEAD", f"/v1/b/k{i}", headers=auth)
                    r = conn.getresponse()
                    r.read()
                    if i < 50 and int(r.getheader("Content-Length")) != len(expected):
                        errors.append((n, i, "HEAD", r.getheader("Content-Length")))
                    conn.request("GET", f"/v1/b/k{i}")  # no credentials
                    r = conn.getresponse()
                    r.read()
                    if r.status != 401:
                        errors.append((n, i, "anonymous", r.status))
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:5]
