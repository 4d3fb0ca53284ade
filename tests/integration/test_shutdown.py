"""Graceful shutdown: SIGTERM stops accepting, closes idle connections, lets
the request in flight finish (answered with Connection: close), and exits 0;
the drain is bounded; a second signal stops at once."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from mkd import Memokeyd, curl, slack


def wait_exit(server: Memokeyd, timeout: float) -> tuple[int, float]:
    start = time.monotonic()
    code = server.proc.wait(timeout)
    return code, time.monotonic() - start


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_request_finishes(signo):
    server = Memokeyd("--drain-timeout", "20s", "--body-timeout", "30s")
    try:
        # An idle keep-alive connection ...
        idle = socket.create_connection((server.host, server.port), timeout=slack(10))
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(1000).startswith(b"HTTP/1.1 200 ")
        # ... and a PUT whose body is half sent.
        busy = socket.create_connection((server.host, server.port), timeout=slack(10))
        busy.sendall(b"PUT /v1/ns/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.3)

        server.signal(signo)
        time.sleep(0.5)
        # No new connections.
        with pytest.raises(OSError):
            socket.create_connection((server.host, server.port), timeout=2).close()
        # The idle connection was closed without a response.
        assert idle.recv(100) == b""
        assert server.proc.poll() is None, "must wait for the request in flight"
        # The request in flight completes and is told the connection closes.
        busy.sendall(b"world")
        reply = busy.recv(4096)
        assert reply.startswith(b"HTTP/1.1 201 "), reply
        assert b"Connection: close" in reply
        code, elapsed = wait_exit(server, slack(10))
        assert code == 0, server.log_text()
        assert elapsed < slack(5)
        msgs = [l["msg"] for l in server.logs]
        assert "shutting down" in msgs and "stopped" in msgs
        idle.close()
        busy.close()
    finally:
        server.kill()


def test_drain_is_bounded():
    server = Memokeyd("--drain-timeout", "1s", "--body-timeout", "60s")
    try:
        stuck = socket.create_connection((server.host, server.port), timeout=slack(10))
        stuck.sendall(b"PUT /v1/ns/stuck HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
        time.sleep(0.3)
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        code = server.proc.wait(slack(15))
        assert code == 0, server.log_text()
        assert time.monotonic() - start < slack(4)
        assert any(l.get("msg") == "drain timeout: closing remaining connections" for l in server.logs)
        stuck.close()
    finally:
        server.kill()


def test_second_signal_stops_at_once():
    server = Memokeyd("--drain-timeout", "60s", "--body-timeout", "60s")
    try:
        stuck = socket.create_connection((server.host, server.port), timeout=slack(10))
        stuck.sendall(b"PUT /v1/ns/stuck HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None
        server.signal(signal.SIGTERM)
        assert server.proc.wait(slack(10)) == 0
        stuck.close()
    finally:
        server.kill()


def test_values_survive_restart_with_data_dir(tmp_path):
    data = tmp_path / "data"
    with Memokeyd("--data-dir", str(data)) as first:
        assert curl(first.url + "/v1/ns/persisted", "-X", "PUT", data=b"on disk").status == 201
    with Memokeyd("--data-dir", str(data)) as second:
        r = curl(second.url + "/v1/ns/persisted")
        assert (r.status, r.body) == (200, b"on disk")
