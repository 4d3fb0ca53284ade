"""memokeyd over real sockets: every route, status code and auth case (with
curl), limits, slow and malformed clients, pipelining, 100-continue, the
connection limit and configuration precedence."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from mkd import Memokeyd, curl, free_port, memokeyd_binary, metric, raw_exchange, request, slack

WRITER = "writer-token-0123"
READER = "reader-token-0123"

CONFIG = f"""
log_level = "debug"

[limits]
max_body = "1MiB"
max_header = "4KiB"
header_timeout = "2s"
body_timeout = "2s"
idle_timeout = "3s"
drain_timeout = "5s"

[namespaces.pub]
anonymous = "read"

[[tokens]]
name = "writer"
token = "{WRITER}"
access = "read-write"
namespaces = ["team", "pub", "ccache"]

[[tokens]]
name = "reader"
token = "{READER}"
access = "read"
namespaces = ["team"]
"""


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


def bearer(token):
    return ["-H", f"Authorization: Bearer {token}"]


def test_fixed_routes(server):
    r = curl(server.url + "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")
    assert curl(server.url + "/readyz").status == 200
    r = curl(server.url + "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"memokeyd_requests_total" in r.body
    r = curl(server.url + "/")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert b"memokeyd" in r.body
    assert curl(server.url + "/healthz", "-I").status == 200
    assert curl(server.url + "/favicon.ico").status == 404
    r = curl(server.url + "/healthz", "-X", "PUT", data=b"x")
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD"


def test_object_lifecycle(server):
    value = bytes(range(256)) * 40
    url = server.url + "/v1/team/build/obj-1"
    assert curl(url, *bearer(READER)).status == 404
    assert curl(url, "-I", *bearer(READER)).status == 404
    r = curl(url, "-X", "PUT", *bearer(WRITER), data=value)
    assert r.status == 201
    r = curl(url, *bearer(READER))
    assert r.status == 200 and r.body == value
    assert r.headers["content-type"] == "application/octet-stream"
    r = curl(url, "-I", *bearer(READER))
    assert r.status == 200 and int(r.headers["content-length"]) == len(value)
    # Overwrite, then delete.
    assert curl(url, "-X", "PUT", *bearer(WRITER), data=b"v2").status == 201
    assert curl(url, *bearer(READER)).body == b"v2"
    assert curl(url, "-X", "DELETE", *bearer(WRITER)).status == 204
    assert curl(url, *bearer(READER)).status == 404
    # The /v1 prefix is optional: /team/... is the same key.
    assert curl(server.url + "/team/x/y", "-X", "PUT", *bearer(WRITER), data=b"same").status == 201
    assert curl(server.url + "/v1/team/x/y", *bearer(READER)).body == b"same"
    # Empty values are values.
    assert curl(server.url + "/v1/team/empty", "-X", "PUT", *bearer(WRITER), data=b"").status == 201
    r = curl(server.url + "/v1/team/empty", *bearer(READER))
    assert (r.status, r.body) == (200, b"")
    # Chunked uploads.
    r = curl(server.url + "/v1/team/chunked", "-X", "PUT", "-H", "Transfer-Encoding: chunked", *bearer(WRITER),
             data=b"c" * 100_000)
    assert r.status == 201
    assert curl(server.url + "/v1/team/chunked", *bearer(READER)).body == b"c" * 100_000


def test_auth_cases(server):
    url = server.url + "/v1/team/auth-key"
    # No credentials: 401 + challenge.
    r = curl(url, "-X", "PUT", data=b"x")
    assert r.status == 401
    assert "Basic" in r.headers["www-authenticate"] and "Bearer" in r.headers["www-authenticate"]
    assert curl(url).status == 401
    # A token that does not exist: 401.
    assert curl(url, *bearer("not-a-real-token")).status == 401
    # Read-only token writing: 403; reading: fine.
    assert curl(url, "-X", "PUT", *bearer(READER), data=b"x").status == 403
    assert curl(url, "-X", "DELETE", *bearer(READER)).status == 403
    assert curl(url, *bearer(READER)).status == 404
    # Another namespace: 403.
    assert curl(server.url + "/v1/other/k", *bearer(WRITER)).status == 403
    # A valid token without rights in "pub" still gets pub's anonymous read.
    assert curl(server.url + "/v1/pub/k", *bearer(READER)).status == 404
    assert curl(server.url + "/v1/pub/k", "-X", "PUT", *bearer(READER), data=b"x").status == 403
    # Basic from URL user info (what ccache sends): password = token, any user.
    userinfo = server.url.replace("http://", f"http://someone:{WRITER}@")
    assert curl(userinfo + "/v1/team/auth-key", "-X", "PUT", data=b"basic").status == 201
    r = curl(server.url + "/v1/team/auth-key", "-u", f"x:{READER}")
    assert (r.status, r.body) == (200, b"basic")
    assert curl(server.url + "/v1/team/auth-key", "-u", "x:wrong-password").status == 401
    # Anonymous read where configured; anonymous write never.
    assert curl(server.url + "/v1/pub/readme", "-X", "PUT", *bearer(WRITER), data=b"public").status == 201
    r = curl(server.url + "/v1/pub/readme")
    assert (r.status, r.body) == (200, b"public")
    assert curl(server.url + "/v1/pub/readme", "-X", "PUT", data=b"vandal").status == 401
    assert curl(server.url + "/v1/pub/readme", "-X", "DELETE").status == 401
    assert curl(server.url + "/v1/pub/readme").body == b"public"


def test_ttl(server):
    url = server.url + "/v1/team/ttl"
    assert curl(url, "-X", "PUT", "-H", "X-Memokey-TTL: 300ms", *bearer(WRITER), data=b"brief").status == 201
    assert curl(server.url + "/v1/team/ttl-long", "-X", "PUT", "-H", "X-Memokey-TTL: 60", *bearer(WRITER),
                data=b"long").status == 201
    time.sleep(0.6)
    assert curl(url, *bearer(READER)).status == 404
    assert curl(server.url + "/v1/team/ttl-long", *bearer(READER)).status == 200
    assert curl(url, "-X", "PUT", "-H", "X-Memokey-TTL: soon", *bearer(WRITER), data=b"x").status == 400


@pytest.mark.parametrize("path", [
    "/v1/pub/../x", "/v1/pub/./x", "/v1/../pub/x", "/v1/pub/%2e%2e/x", "/v1/pub/%2E%2E", "/v1/pub/..%2fx",
    "/v1/pub//x", "/v1/pub/x/", "/v1/pub/x?y=1", "/v1/pub", "/v1/v1/x", "/../../etc/passwd",
    "/v1/pub/a%00b", "/v1/pub/caf%C3%A9",
])
def test_path_validation(server, path):
    r = curl(server.url + path, "--path-as-is", *bearer(WRITER))
    assert r.status == 400, (path, r)
    r = curl(server.url + path, "--path-as-is", "-X", "PUT", *bearer(WRITER), data=b"x")
    assert r.status == 400, (path, r)


def test_long_key(server):
    assert curl(server.url + "/v1/pub/" + "a" * 600).status == 414
    assert curl(server.url + "/v1/pub/" + "a" * 2000).status == 414


def test_body_limit(server):
    big = b"b" * (1024 * 1024 + 1)
    # curl sends Expect: 100-continue for a body this size: refused before upload.
    r = curl(server.url + "/v1/team/big", "-X", "PUT", *bearer(WRITER), data=big)
    assert r.status == 413
    # Without Expect: the body starts flowing; still 413, and the connection is closed.
    r = curl(server.url + "/v1/team/big", "-X", "PUT", "-H", "Expect:", *bearer(WRITER), data=big)
    assert r.status == 413
    assert r.headers.get("connection") == "close"
    # Exactly at the limit is fine.
    exact = b"e" * (1024 * 1024)
    assert curl(server.url + "/v1/team/exact", "-X", "PUT", *bearer(WRITER), data=exact).status == 201
    assert curl(server.url + "/v1/team/exact", *bearer(READER)).body == exact
    # A forbidden upload is refused from its header alone, before any body.
    r = curl(server.url + "/v1/team/big", "-X", "PUT", *bearer(READER), data=b"r" * 500_000)
    assert r.status == 403


def test_header_limit(server):
    r = curl(server.url + "/v1/pub/x", "-H", "X-Pad: " + "a" * 8000)
    assert r.status == 431
    assert curl(server.url + "/healthz").status == 200


@pytest.mark.parametrize("payload", [
    b"GARBAGE\r\n\r\n",
    b"GET /v1/pub/x HTTP/7.0\r\n\r\n",
    b"GET /v1/pub/x HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"PUT /v1/pub/x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"PUT /v1/pub/x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"PUT /v1/pub/x HTTP/1.1\r\nAuthorization: Bearer " + WRITER.encode() +
    b"\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n",
    b"GET /v1/pub/x HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # a TLS ClientHello
])
def test_malformed_requests_get_400_and_close(server, payload):
    reply = raw_exchange(server, payload)  # returns when the server closes
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"Connection: close" in reply
    assert curl(server.url + "/healthz").status == 200


def test_keepalive_and_pipelining(server):
    assert curl(server.url + "/v1/pub/pipe", "-X", "PUT", *bearer(WRITER), data=b"piped").status == 201
    two = (b"GET /v1/pub/pipe HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /v1/pub/missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = raw_exchange(server, two)
    assert reply.count(b"HTTP/1.1 ") == 2
    first, second = reply.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200") and first.endswith(b"piped")
    assert second.startswith(b"404")


def test_expect_100_continue(server):
    with socket.create_connection((server.host, server.port), timeout=slack(10)) as s:
        s.sendall(b"PUT /v1/team/expect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + WRITER.encode() +
                  b"\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        assert s.recv(1000).startswith(b"HTTP/1.1 201 ")
    with socket.create_connection((server.host, server.port), timeout=slack(10)) as s:
        s.sendall(b"PUT /v1/team/expect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + READER.encode() +
                  b"\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 403 ")
    assert curl(server.url + "/v1/team/expect", *bearer(READER)).body == b"hello"


def test_slowloris_gets_408_while_others_are_served(server):
    served = 0
    start = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=slack(10)) as slow:
        slow.sendall(b"GET /v1/pub/slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.settimeout(0.4)
        reply = b""
        while time.monotonic() - start < slack(8):
            try:
                slow.sendall(b"a")  # one byte at a time, forever
            except OSError:
                pass
            try:
                chunk = slow.recv(4096)
                reply += chunk
                if not chunk or reply:
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                break
            # Everyone else keeps being served meanwhile.
            assert request(server, "GET", "/healthz").status == 200
            served += 1
        elapsed = time.monotonic() - start
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert elapsed < slack(2 + 3), elapsed  # header_timeout is 2 s
    assert served >= 3
    assert metric(server, "memokeyd_timeouts_total") >= 1


def test_stalled_body_gets_408(server):
    with socket.create_connection((server.host, server.port), timeout=slack(10)) as s:
        s.sendall(b"PUT /v1/team/stall HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + WRITER.encode() +
                  b"\r\nContent-Length: 100\r\n\r\nonly-a-few-bytes")
        start = time.monotonic()
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert time.monotonic() - start < slack(5)
    assert curl(server.url + "/v1/team/stall", *bearer(READER)).status == 404


def test_idle_keepalive_connection_is_closed(server):
    with socket.create_connection((server.host, server.port), timeout=slack(10)) as s:
        start = time.monotonic()
        assert s.recv(100) == b""  # closed without a response (idle_timeout 3 s)
        assert 2 < time.monotonic() - start < slack(6)


def test_metrics_count_requests(server):
    hits = metric(server, "memokeyd_cache_hits_total")
    misses = metric(server, "memokeyd_cache_misses_total")
    assert curl(server.url + "/v1/pub/metric-key", "-X", "PUT", *bearer(WRITER), data=b"m" * 10).status == 201
    curl(server.url + "/v1/pub/metric-key")
    curl(server.url + "/v1/pub/metric-missing")
    assert metric(server, "memokeyd_cache_hits_total") == hits + 1
    assert metric(server, "memokeyd_cache_misses_total") == misses + 1
    text = curl(server.url + "/metrics").body.decode()
    assert 'memokeyd_requests_total{route="object",method="PUT",status="201"}' in text
    assert 'memokeyd_auth_failures_total{reason="forbidden"}' in text
    assert "memokeyd_request_duration_seconds_count" in text
    assert metric(server, "memokeyd_open_connections") >= 1


def test_logs_are_json_and_never_contain_tokens(server):
    curl(server.url + "/v1/team/log-check", *bearer(WRITER))
    curl(server.url + "/v1/team/log-check", "-u", f"u:{READER}")
    time.sleep(0.2)
    text = server.log_text()
    assert WRITER not in text and READER not in text
    assert "Authorization" not in text and "Bearer" not in text
    assert base64.b64encode(f"u:{READER}".encode()).decode() not in text
    requests = [l for l in server.logs if l.get("msg") == "request"]
    assert requests, "debug level logs every request"
    for record in server.logs:
        assert {"ts", "level", "msg"} <= record.keys()


def test_connection_limit():
    with Memokeyd("--max-connections", "5", "--threads", "2") as s:
        held = [socket.create_connection((s.host, s.port)) for _ in range(5)]
        time.sleep(0.3)
        extra = raw_exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert extra.startswith(b"HTTP/1.1 503 "), extra
        for c in held:
            c.close()
        # Once they are gone, new clients are served again.
        deadline = time.monotonic() + slack(5)
        while True:
            reply = raw_exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if reply.startswith(b"HTTP/1.1 200 "):
                break
            assert time.monotonic() < deadline, reply
            time.sleep(0.05)
        assert metric(s, "memokeyd_connections_rejected_total") >= 1


def test_open_mode_is_refused_off_loopback():
    result = subprocess.run([memokeyd_binary(), "--listen", "0.0.0.0:0"], capture_output=True, text=True,
                            timeout=slack(20), env={"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 2
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["level"] == "error" and "refusing" in line["error"]


def test_configuration_precedence(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('listen = "127.0.0.1:1111"\nthreads = 2\n[limits]\nmax_body = "1MiB"\n'
                      'header_timeout = "7s"\n')
    env = {"PATH": os.environ.get("PATH", ""), "MEMOKEYD_CONFIG": str(config), "MEMOKEYD_THREADS": "3",
           "MEMOKEYD_LISTEN": "127.0.0.1:2222", "MEMOKEYD_TOKENS": "rw:team:env-token-123 read:*:env-token-456"}
    result = subprocess.run([memokeyd_binary(), "--check-config", "--listen", "127.0.0.1:3333"],
                            capture_output=True, text=True, env=env, timeout=slack(20))
    assert result.returncode == 0, result.stdout + result.stderr
    effective = json.loads(result.stdout)
    assert effective["listen"] == "127.0.0.1:3333"      # flag > env > file
    assert effective["threads"] == 3                     # env > file
    assert effective["max_body"] == 1024 * 1024          # file > default
    assert effective["header_timeout_ms"] == 7000
    assert [t["name"] for t in effective["tokens"]] == ["env-0", "env-1"]
    assert "env-token" not in result.stdout


def test_basic_scripts_dev_defaults():
    """Defaults: open mode on loopback, the hint, the embedded memory store."""
    with Memokeyd() as s:
        listening = next(l for l in s.logs if l.get("msg") == "listening")
        assert listening["store"].startswith("memory://")
        assert "curl -X PUT --data-binary hi http://" in listening["hint"]
        assert curl(s.url + "/v1/demo/k", "-X", "PUT", data=b"hi").status == 201
        assert curl(s.url + "/v1/demo/k").body == b"hi"


def test_many_concurrent_clients(server):
    """Keep-alive clients on several threads see their own values."""
    errors = []

    def client(n):
        import http.client
        conn = http.client.HTTPConnection(server.host, server.port, timeout=slack(20))
        try:
            for i in range(30):
                key = f"/v1/team/c{n}-{i}"
                conn.request("PUT", key, body=f"{n}:{i}".encode(), headers={"Authorization": f"Bearer {WRITER}"})
                r = conn.getresponse()
                r.read()
                if r.status != 201:
                    errors.append((key, r.status))
                conn.request("GET", key, headers={"Authorization": f"Bearer {READER}"})
                r = conn.getresponse()
                body = r.read()
                if body != f"{n}:{i}".encode():
                    errors.append((key, body))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
