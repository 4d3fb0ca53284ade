"""Helpers for memokeyd's integration tests: start and stop memokeyd and
redis-server on free loopback ports, talk HTTP with curl, http.client or raw
sockets. Standard library only.

The binaries come from the environment that CTest sets (MEMOKEYD, REDIS_SERVER,
CCACHE); run by hand:
    MEMOKEYD=build/release/server/memokeyd python3 -m pytest tests/integration
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal as signals
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def memokeyd_binary() -> str:
    path = os.environ.get("MEMOKEYD") or str(ROOT / "build/release/server/memokeyd")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"memokeyd not found at {path} (set MEMOKEYD)")
    return path


def sanitized() -> bool:
    """True when memokeyd is an ASan/TSan build: slower, so be patient."""
    return os.environ.get("MEMOKEYD_SANITIZED", "0") not in ("", "0", "OFF")


def slack(seconds: float) -> float:
    return seconds * (3 if sanitized() else 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Memokeyd:
    """One memokeyd process listening on a free loopback port.

    Its JSON-lines log is collected in .logs (parsed) and .raw_logs (text)."""

    def __init__(self, *args: str, config: str | None = None, env: dict | None = None,
                 listen: str = "127.0.0.1:0", wait: bool = True):
        self.tmp = Path(tempfile.mkdtemp(prefix="memokeyd-test-"))
        cmd = [memokeyd_binary(), "--listen", listen]
        if config is not None:
            path = self.tmp / "memokeyd.toml"
            path.write_text(config)
            cmd += ["--config", str(path)]
        cmd += list(args)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOKEYD_")}
        full_env.update(env or {})
        self.raw_logs: list[str] = []
        self.logs: list[dict] = []
        self._listening = threading.Event()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=full_env, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.addr = None
        if wait:
            if not self._listening.wait(slack(20)):
                self.kill()
                raise RuntimeError("memokeyd did not start:\n" + "".join(self.raw_logs))
            line = next(l for l in self.logs if l.get("msg") == "listening")
            self.addr = line["addr"]
            self.host, port = self.addr.rsplit(":", 1)
            self.port = int(port)
            self.url = f"http://{self.addr}"

    def _read(self):
        for line in self.proc.stdout:
            self.raw_logs.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue  # sanitizer reports and the like
            self.logs.append(record)
            if record.get("msg") == "listening":
                self._listening.set()
        self._listening.set()

    def log_text(self) -> str:
        return "".join(self.raw_logs)

    def signal(self, signo=signals.SIGTERM):
        self.proc.send_signal(signo)

    def stop(self, signo=signals.SIGTERM, timeout: float | None = None) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signo)
        try:
            code = self.proc.wait(timeout or slack(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("memokeyd did not stop in time:\n" + self.log_text())
        self._reader.join(5)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is None:
            assert code == 0, f"memokeyd exited {code}:\n" + self.log_text()


class RedisServer:
    """A throw-away redis-server on a free loopback port (no persistence)."""

    def __init__(self, port: int | None = None):
        self.binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = port or free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def command(self, *args: str) -> bytes:
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            time.sleep(0.05)
            return s.recv(65536)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def __repr__(self):
        return f"Reply({self.status}, {self.headers}, {self.body[:80]!r})"


def curl(url: str, *args: str, data: bytes | None = None) -> Reply:
    """Runs curl, returns status, headers and body. Extra args go to curl."""
    with tempfile.TemporaryDirectory() as tmp:
        head = Path(tmp) / "head"
        body = Path(tmp) / "body"
        cmd = ["curl", "-sS", "--max-time", str(slack(20)), "-D", str(head), "-o", str(body), *args]
        if data is not None:
            src = Path(tmp) / "data"
            src.write_bytes(data)
            cmd += ["--data-binary", f"@{src}"]
        cmd.append(url)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise AssertionError(f"curl failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr}")
        status = 0
        headers = {}
        for line in head.read_text(errors="replace").splitlines():
            if line.startswith("HTTP/"):
                status = int(line.split()[1])
                if status != 100:
                    headers = {}
            elif ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Reply(status, headers, body.read_bytes() if body.exists() else b"")


def request(server: Memokeyd, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> Reply:
    """One request on a fresh http.client connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=slack(20))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def raw_exchange(server: Memokeyd, payload: bytes, timeout: float = 10.0) -> bytes:
    """Sends raw bytes, returns everything the server sends until it closes."""
    with socket.create_connection((server.host, server.port), timeout=slack(timeout)) as s:
        s.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def metric(server: Memokeyd, name: str) -> float:
    """The value of an unlabelled (or the sum of a labelled) Prometheus series."""
    text = request(server, "GET", "/metrics").body.decode()
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            total += float(value)
            found = True
    if not found:
        raise KeyError(name)
    return total
