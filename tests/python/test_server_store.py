"""memokey.ServerStore / open_store("http://...") and @memoize against a real memokeyd.

The test starts its own memokeyd on a free loopback port (the binary built by
`scripts/dev test`: $MEMOKEYD, else build/release/server/memokeyd) and stops it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

import memokey

ROOT = Path(__file__).resolve().parents[2]


def _memokeyd() -> str:
    path = os.environ.get("MEMOKEYD") or str(ROOT / "build" / "release" / "server" / "memokeyd")
    if not os.access(path, os.X_OK):
        pytest.fail(f"memokeyd not built at {path} (scripts/dev test builds it; or set MEMOKEYD)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [_memokeyd(), "--listen", f"127.0.0.1:{port}", "--threads", "1", "--log-level", "warn",
         "--token", "rw:team:write-secret", "--token", "r:team:read-secret"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("memokeyd did not start")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_server_store_round_trip_and_rights(server: str) -> None:
    writer = memokey.ServerStore(server + "/team", token="write-secret")
    reader = memokey.ServerStore(server + "/team", token="read-secret", strict=True)
    assert writer.get("k") is None
    writer.put("k", b"value")
    assert reader.get("k") == b"value"
    assert reader.contains("k")
    with pytest.raises(Exception) as refused:
        reader.put("k", b"forged")
    assert "403" in str(refused.value)
    assert writer.get("k") == b"value"
    writer.delete("k")
    assert writer.get("k") is None
    assert memokey.open_store(server.replace("http://", "http://write-secret@") + "/team").get("k") is None


def test_server_store_rejects_bad_urls() -> None:
    with pytest.raises(ValueError):
        memokey.ServerStore("redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError):
        memokey.ServerStore("http://t@127.0.0.1:1/ns", token="t")
    with pytest.raises(ValueError):
        memokey.open_store("http://127.0.0.1:8080")  # no namespace


def test_memoize_shares_results_through_memokeyd(server: str) -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    first = memokey.memoize(square, store=memokey.ServerStore(server + "/team", token="write-secret"),
                            memory=0)
    # A second client with no local state: the result comes from the server.
    second = memokey.memoize(square, store=memokey.ServerStore(server + "/team", token="read-secret"),
                             memory=0)
    assert first(12) == 144
    assert second(12) == 144
    assert calls == [12]
    assert second.cache_info().hits == 1


def test_a_server_hit_stays_in_memory_no_longer_than_the_ttl(server: str) -> None:
    """memokeyd does not tell a value's remaining ttl: a hit read from it is
    kept in the memory tier for the function's ttl, not forever."""
    import time

    calls: list[int] = []

    def cube(x: int) -> int:
        calls.append(x)
        return x ** 3

    writer = memokey.memoize(cube, store=memokey.ServerStore(server + "/team", token="write-secret"),
                             memory=0, ttl=0.3)
    reader = memokey.memoize(cube, store=memokey.ServerStore(server + "/team", token="write-secret"),
                             ttl=0.3)
    assert writer(3) == 27
    assert reader(3) == 27  # from the server, now in reader's memory tier
    assert calls == [3]
    time.sleep(0.6)  # the server's entry and the memory copy have both expired
    assert reader(3) == 27
    assert calls == [3, 3]


def test_unreachable_server_is_a_miss_not_an_error() -> None:
    store = memokey.ServerStore(f"http://127.0.0.1:{_free_port()}/team", connect_timeout=0.2)
    assert store.get("k") is None
    calls: list[int] = []

    @memokey.memoize(store=store, memory=0)
    def inc(x: int) -> int:
        calls.append(x)
        return x + 1

    assert inc(1) == 2 and inc(1) == 2
    assert calls == [1, 1]


def test_cache_clear_through_a_tier_that_cannot_list(server: str, tmp_path: Path) -> None:
    """memokeyd cannot list its entries: cache_clear clears the disk tier by label
    and deletes from the server the keys this process knows -- the documented limit
    is that another process's entry stays on the server."""
    http = server.replace("http://", "http://write-secret@") + "/team"
    disk = f"disk://{tmp_path / 'disk'}"

    def square(x: int) -> int:
        return x * x

    mine = memokey.memoize(square, store=f"tiered:{disk}|{http}", name="sq", version=1, memory=0)
    on_disk = memokey.memoize(square, store=disk, name="sq", version=1, memory=0)
    on_server = memokey.memoize(square, store=http, name="sq", version=1, memory=0)
    mine(1)
    on_disk(2)  # other instances (as other processes would): unknown to mine
    on_server(3)
    mine.cache_clear()
    assert memokey.open_store(disk).entries() == []  # found by label
    server_store = memokey.open_store(http)
    assert not server_store.contains(mine.key(1))  # deleted from every tier
    assert server_store.contains(on_server.key(3))  # unknown and unlistable: stays
    assert mine.cache_info().errors == 0

    on_server(4)
    on_server.cache_clear()  # the server alone cannot list: this process's keys only
    assert not server_store.contains(on_server.key(3))
    assert not server_store.contains(on_server.key(4))
    assert on_server.cache_info().errors == 0
