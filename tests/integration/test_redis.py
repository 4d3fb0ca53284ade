"""memokeyd backed by Redis: two memokeyd processes share one redis-server,
keys are namespaced in Redis, and an unreachable Redis shows in /readyz and as
503 — and recovers when Redis comes back."""

from __future__ import annotations

import time

import pytest

from mkd import Memokeyd, RedisServer, curl, metric, request, slack


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


def test_a_get_that_asks_is_told_the_remaining_ttl(redis):
    # Reads are batched into MGETs, which carry no TTLs: a GET with
    # X-Memokey-Want-TTL is answered on its own, with X-Memokey-TTL.
    with Memokeyd("--store", redis.url, "--threads", "1") as s:
        assert curl(s.url + "/v1/team/ttl", "-X", "PUT", "-H", "X-Memokey-TTL: 60s", data=b"x").status == 201
        assert curl(s.url + "/v1/team/forever", "-X", "PUT", data=b"y").status == 201
        asked = curl(s.url + "/v1/team/ttl", "-H", "X-Memokey-Want-TTL: 1")
        assert (asked.status, asked.body) == (200, b"x")
        left = asked.headers["x-memokey-ttl"]
        assert left.endswith("ms") and 0 < int(left[:-2]) <= 60_000
        plain = curl(s.url + "/v1/team/ttl")
        assert (plain.status, plain.body) == (200, b"x") and "x-memokey-ttl" not in plain.headers
        forever = curl(s.url + "/v1/team/forever", "-H", "X-Memokey-Want-TTL: 1")
        assert (forever.status, forever.body) == (200, b"y") and "x-memokey-ttl" not in forever.headers
        assert curl(s.url + "/v1/team/absent", "-H", "X-Memokey-Want-TTL: 1").status == 404


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


def lease(server: Memokeyd, key: str, *, wait: str = "0", ttl: str = "30s", check: str | None = None):
    headers = {"X-Memokey-Lease-TTL": ttl, "X-Memokey-Lease-Wait": wait}
    if check is not None:
        headers["X-Memokey-Lease-Check"] = check
    return request(server, "POST", f"/v1/team/{key}/lease", headers=headers)


def test_leases_are_shared_by_servers_over_one_redis(redis):
    """A lease taken through one memokeyd holds for clients of another; the
    holder may store and release through either; a waiter on the other
    server wakes with the value."""
    import threading

    with Memokeyd("--store", redis.url, "--threads", "2") as a, Memokeyd("--store", redis.url, "--threads", "2") as b:
        granted = lease(a, "job")
        assert granted.status == 201, granted
        token = granted.headers["x-memokey-lease"]
        assert lease(b, "job").status == 409
        # The lease is a companion key in the value's hash slot.
        assert redis.command("EXISTS", "memokeyd:{team/job}:lease").strip() == b":1"
        waited = {}

        def waiter():
            waited["reply"] = lease(b, "job", wait="5s")

        t = threading.Thread(target=waiter)
        t.start()
        assert request(b, "POST", "/v1/team/job/release", headers={"X-Memokey-Lease": "0" * 32}).status == 204
        assert request(a, "PUT", "/v1/team/job", body=b"result").status == 201
        assert request(b, "POST", "/v1/team/job/release", headers={"X-Memokey-Lease": token}).status == 204
        t.join(slack(20))
        reply = waited["reply"]
        assert (reply.status, reply.body) == (200, b"result")
        assert redis.command("EXISTS", "memokeyd:{team/job}:lease").strip() == b":0"


def test_a_lease_whose_holder_vanished_expires_in_redis(redis):
    with Memokeyd("--store", redis.url, "--threads", "1") as a:
        assert lease(a, "lost", ttl="300ms").status == 201  # never released
        reply = lease(a, "lost", wait="5s")
        assert reply.status == 201 and reply.headers.get("x-memokey-lease-waited") == "1"


def test_values_damaged_in_redis_are_never_served(redis):
    """Values damaged in Redis behind memokeyd's back (SETRANGE of one byte, in
    the value or its checksum) are answered 404, never 200 with other bytes,
    deleted from Redis and counted in memokeyd_store_damaged_total. Reads go
    concurrently, so that damaged and intact values share MGET batches."""
    import http.client
    import random
    import threading

    rng = random.Random(12)
    frame = 3 + 8  # "mk1" + checksum ahead of each value
    with Memokeyd("--store", redis.url + "?prefix=dmg:", "--threads", "2") as s:
        values = {f"v{i}": rng.randbytes(rng.randint(1, 5000)) for i in range(50)}
        for key, value in values.items():
            assert request(s, "PUT", f"/v1/team/{key}", body=value).status == 201
        assert metric(s, "memokeyd_store_damaged_total") == 0
        damaged = set(rng.sample(sorted(values), 7))
        for n, key in enumerate(sorted(damaged)):
            # One in the checksum, the others anywhere in the value.
            offset = 3 + n if n == 0 else frame + rng.randrange(len(values[key]))
            rkey = f"dmg:{{team/{key}}}"
            old = redis.command("GETRANGE", rkey, str(offset), str(offset))
            assert old.startswith(b"$1\r\n"), old
            new = "y" if old[4:5] == b"x" else "x"
            assert redis.command("SETRANGE", rkey, str(offset), new).startswith(b":")

        answers = {}
        lock = threading.Lock()

        def client(keys):
            conn = http.client.HTTPConnection(s.host, s.port, timeout=slack(20))
            try:
                for key in keys:
                    # Some ask for the TTL: answered alone (GetWithTtl), not batched.
                    headers = {"X-Memokey-Want-TTL": "1"} if key.endswith("3") else {}
                    conn.request("GET", f"/v1/team/{key}", headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                    with lock:
                        answers[key] = (r.status, body)
            finally:
                conn.close()

        keys = sorted(values)
        threads = [threading.Thread(target=client, args=(keys[n::8],)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == 50
        for key, (status, body) in answers.items():
            assert status in (200, 404), (key, status)
            if status == 200:
                assert body == values[key], key  # never other bytes
        assert {k for k, (status, _) in answers.items() if status == 404} == damaged
        assert metric(s, "memokeyd_store_damaged_total") == len(damaged)
        for key in damaged:
            assert redis.command("EXISTS", f"dmg:{{team/{key}}}").strip() == b":0", key
            assert request(s, "GET", f"/v1/team/{key}").status == 404
        assert metric(s, "memokeyd_store_damaged_total") == len(damaged)

        # A lease's value lookup does not hand a damaged value over either.
        assert request(s, "PUT", "/v1/team/job", body=b"result").status == 201
        assert redis.command("SETRANGE", "dmg:{team/job}", str(frame), "R").startswith(b":")
        granted = lease(s, "job")
        assert granted.status == 201 and granted.body != b"result", granted
        assert metric(s, "memokeyd_store_damaged_total") == len(damaged) + 1
