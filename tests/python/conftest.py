"""Shared fixtures: an isolated cache/config directory and a private redis-server.

Every test session gets its own $XDG_CACHE_HOME and $XDG_CONFIG_HOME (so the
default memoize store and the per-user secret file never touch the user's
home) and a fixed $MEMOKEY_SECRET. Tests that need Redis use the `redis_url`
fixture: a redis-server started by the test session itself on a free loopback
port (no persistence), killed at the end. No test depends on a server started
by hand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="memokey-tests-"))
os.environ["XDG_CACHE_HOME"] = str(_SESSION_DIR / "cache")
os.environ["XDG_CONFIG_HOME"] = str(_SESSION_DIR / "config")
os.environ["MEMOKEY_SECRET"] = "memokey-test-secret-0123456789abcdef"
# The default store comes from these when set: not from the caller's shell.
os.environ.pop("MEMOKEY_STORE", None)
os.environ.pop("MEMOKEY_CACHE_DIR", None)

TEST_SECRET = os.environ["MEMOKEY_SECRET"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server on a free loopback port, owned by the test session."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (scripts/setup installs it)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="memokey-redis-")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer, request: pytest.FixtureRequest) -> str:
    """The session's Redis with a key prefix of this test's own."""
    prefix = "t" + str(abs(hash(request.node.nodeid)) % 10**12) + ":"
    return f"{redis_server.url}?prefix={prefix}"


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL where nothing listens (a port just freed)."""
    return f"redis://127.0.0.1:{free_port()}/0?connect_timeout_ms=200&timeout_ms=200"


@pytest.fixture
def disk_url(tmp_path: Path) -> str:
    return f"disk://{tmp_path / 'store'}?max_bytes=64M"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
