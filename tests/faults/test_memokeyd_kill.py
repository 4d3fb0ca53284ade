"""memokeyd killed (SIGKILL) in the middle of a large PUT: the value is never
partly visible. memokeyd persists to a data directory (memory + disk tiers);
a client sends the header and part of a 16 MiB body, memokeyd is killed,
restarted on the same directory, and GET must answer 404 — and the full
value for a PUT that completed before. Repeated at several cut points, and
once with the client cut off mid-body while memokeyd lives on."""

import hashlib
import socket
import time

from faultlib import Memokeyd, request, slack

SIZE = 16 << 20


def body(tag: str) -> bytes:
    block = hashlib.sha256(tag.encode()).digest()
    return (block * (SIZE // len(block) + 1))[:SIZE]


def start_put(server, path: str, data: bytes, send: int) -> socket.socket:
    s = socket.create_connection((server.host, server.port), timeout=slack(10))
    s.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode())
    s.sendall(data[:send])
    return s


def test_kill_mid_put(tmp_path):
    data_dir = tmp_path / "data"
    complete = body("complete")
    server = Memokeyd("--data-dir", str(data_dir), "--threads", "2")
    try:
        assert request(server, "PUT", "/v1/ns/complete", complete).status == 201
        for i, fraction in enumerate([0.0, 0.25, 0.5, 0.99]):
            partial = body(f"partial{i}")
            s = start_put(server, f"/v1/ns/partial{i}", partial, int(SIZE * fraction))
            time.sleep(0.2)  # let memokeyd read what was sent
            server.kill()  # SIGKILL, mid-body
            s.close()
            server = Memokeyd("--data-dir", str(data_dir), "--threads", "2")
            r = request(server, "GET", f"/v1/ns/partial{i}")
            assert r.status == 404, f"cut at {fraction}: {r.status}, {len(r.body)} bytes"
            r = request(server, "GET", "/v1/ns/complete")
            assert r.status == 200 and r.body == complete, (r.status, len(r.body))
        # The client dies mid-body; the server lives on.
        s = start_put(server, "/v1/ns/abandoned", body("abandoned"), SIZE // 2)
        s.close()
        time.sleep(0.3)
        assert request(server, "GET", "/v1/ns/abandoned").status == 404
        assert request(server, "GET", "/healthz").status == 200
        print("\nmemokeyd SIGKILL mid-PUT: 4 cut points, partial value never visible, "
              "completed value intact after every restart")
    finally:
        server.kill()
