"""No store failure reaches the caller of a memoized function (issue 12, item 4).

Whatever the store does -- fails its reads and writes (a disk directory
replaced by a regular file under it), cannot be created (no usable cache
directory for the default store, an uncreatable disk:// path), cannot be
reached (Redis, memokeyd) -- a memoized call returns the function's own
result, or raises the function's own exception; the failure is counted in
cache_info().errors and logged once, naming the store and what to do. A
strict store (?strict=1 on any tier, open_store(strict=True)) raises the
failure instead.

The processes run as root in CI, where chmod denies nothing: failures are
made with a regular file where a directory must be, and with closed ports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import memokey
from conftest import free_port

# Unreachable servers must fail fast: a closed loopback port, short deadlines.
_FAST = "connect_timeout_ms=100&timeout_ms=100"


class Boom(Exception):
    """The memoized functions' own exception."""


def _dead_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0?{_FAST}"


def _dead_http() -> str:
    return f"http://127.0.0.1:{free_port()}/ns?{_FAST}&retries=0"


def _make(store: Any, **options: Any) -> tuple[Callable[[int], int], list[int]]:
    """A memoized function over `store` (its memory tier off, so every call
    goes to the store) that raises Boom for negative arguments."""
    calls: list[int] = []

    @memokey.memoize(store=store, memory=0, **options)
    def f(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise Boom(x)
        return x * 10

    return f, calls


def _check_survives(f: Callable[[int], int], calls: list[int]) -> None:
    """Every call returns the function's own result (or exception), and the
    failures are counted."""
    for _ in range(3):
        assert f(1) == 10
        assert f(2) == 20
    with pytest.raises(Boom):
        f(-1)
    assert 1 in calls and 2 in calls and -1 in calls
    assert f.cache_info().errors > 0
    f.explain(1)  # never raises for a failing store either
    f.cache_clear()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "memokey" and r.levelno >= logging.WARNING]


# --- (a) a store whose reads and writes fail ---------------------------------------------------


def test_disk_store_whose_directory_became_a_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "store"
    store = memokey.open_store(f"disk://{directory}?max_bytes=16M")
    f, calls = _make(store)
    assert f(1) == 10  # a working store first
    shutil.rmtree(directory)
    directory.write_text("not a directory")  # nobody, root included, writes under a file
    with caplog.at_level(logging.WARNING, logger="memokey"):
        _check_survives(f, calls)
    assert f.cache_info().errors >= 3
    messages = _warnings(caplog)
    assert len(messages) == 1, messages
    assert str(directory) in messages[0] and "store=" in messages[0]


def test_uncreatable_disk_url_runs_with_the_memory_tier(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    url = f"disk://{blocker}/sub/store"
    calls: list[int] = []
    with caplog.at_level(logging.WARNING, logger="memokey"):

        @memokey.memoize(store=url)  # at decoration (import time): no exception
        def f(x: int) -> int:
            calls.append(x)
            if x < 0:
                raise Boom(x)
            return x + 1

        for _ in range(5):
            assert f(1) == 2
        with pytest.raises(Boom):
            f(-1)
    assert calls == [1, -1]  # the memory tier still works
    info = f.cache_info()
    assert info.errors >= 1 and info.hits == 4
    messages = _warnings(caplog)
    assert len(messages) == 1, messages
    assert str(blocker) in messages[0] and "cannot be opened" in messages[0]
    assert [s for _, s, _ in f.explain(1).tiers] == ["hit", "error"]
    # A malformed URL is still a programming error, at decoration.
    with pytest.raises(ValueError):
        memokey.memoize(store=f"disk://{tmp_path}/x?max_bytes=lots")(lambda x: x)


def test_store_that_fails_then_answers_from_another_tier(caplog: pytest.LogCaptureFixture) -> None:
    # The failing tier first: every lookup fails there before the memory
    # tier answers, on the C++ fast path too.
    f, calls = _make(f"tiered:redis://127.0.0.1:{free_port()}/0?{_FAST}|memory://")
    with caplog.at_level(logging.WARNING, logger="memokey"):
        for _ in range(5):
            assert f(3) == 30
    assert calls == [3]  # the memory:// tier kept it
    info = f.cache_info()
    assert info.errors >= 5 and info.hits == 4
    assert len(_warnings(caplog)) == 1


# --- (b) no usable default cache directory ---------------------------------------------------


_CHILD = """
import json, sys, memokey
calls = []

@memokey.memoize
def f(x):
    calls.append(x)
    if x < 0:
        raise ValueError("own error")
    return x * 2

@memokey.memoize
def g(x):
    return -x

results = [f(3) for _ in range(4)] + [g(1), g(1)]
try:
    f(-1)
except ValueError as e:
    results.append(str(e))
json.dump({"results": results, "calls": calls, "errors": f.cache_info().errors,
           "g_errors": g.cache_info().errors}, sys.stdout)
"""


@pytest.mark.parametrize("broken", ["XDG_CACHE_HOME", "HOME"])
def test_default_store_without_a_usable_cache_directory(tmp_path: Path, broken: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = dict(os.environ)
    env.pop("HOME", None)
    env.pop("XDG_CACHE_HOME", None)
    env[broken] = str(blocker / "below")  # a directory that cannot exist
    # A fresh interpreter: default_store() is opened once per process.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["results"] == [6, 6, 6, 6, -1, -1, "own error"]
    assert out["calls"] == [3, -1]  # the memory tier answered the repeats
    assert out["errors"] >= 1 and out["g_errors"] >= 1
    warnings = [line for line in done.stderr.splitlines() if "cannot be opened" in line]
    assert len(warnings) == 1, done.stderr  # once for the process, not per function or call
    assert str(blocker) in warnings[0]
    assert "XDG_CACHE_HOME" in warnings[0] and "store=" in warnings[0]


# --- (c) unreachable servers ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [_dead_redis, _dead_http], ids=["redis", "http"])
def test_unreachable_server(url: Callable[[], str], caplog: pytest.LogCaptureFixture) -> None:
    f, calls = _make(url())
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="memokey"):
        _check_survives(f, calls)
    assert time.monotonic() - started < 10
    assert calls.count(1) == 3  # nothing cached anywhere: computed each time
    assert len(_warnings(caplog)) == 1


@pytest.mark.parametrize("url", [_dead_redis, _dead_http], ids=["redis", "http"])
def test_unreachable_server_async(url: Callable[[], str]) -> None:
    calls: list[int] = []

    @memokey.memoize(store=url(), memory=0)
    async def f(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise Boom(x)
        return x * 10

    async def main() -> None:
        assert await f(1) == 10
        assert await f(1) == 10
        with pytest.raises(Boom):
            await f(-1)

    asyncio.run(main())
    assert calls == [1, 1, -1]
    assert f.cache_info().errors > 0


def test_stale_refresh_with_a_failing_lease() -> None:
    # memory:// answers (with a TTL), the dead Redis tier is where the lease
    # would be taken: a stale hit's refresh computes without one.
    f, calls = _make(
        f"tiered:memory://|redis://127.0.0.1:{free_port()}/0?{_FAST}", ttl=0.2, stale_while_revalidate=30
    )
    assert f(1) == 10
    time.sleep(0.3)
    assert f(1) == 10  # stale: served at once, refreshed in the background
    f.__memokey_memo__._wait_refreshes(30)
    assert calls == [1, 1]
    assert f.cache_info().errors > 0


# --- (d) strict stores raise ---------------------------------------------------------------------


def test_strict_url_raises() -> None:
    f, calls = _make(_dead_redis() + "&strict=1")
    with pytest.raises(ConnectionError):
        f(1)
    assert calls == []  # the lookup raised: nothing computed
    f, calls = _make(_dead_http() + "&strict=1")
    with pytest.raises(ConnectionError):
        f(1)


def test_open_store_strict_raises(tmp_path: Path) -> None:
    f, _ = _make(memokey.open_store(_dead_redis(), strict=True))
    with pytest.raises(ConnectionError):
        f(1)
    f, _ = _make(memokey.ServerStore(f"http://127.0.0.1:{free_port()}/ns", connect_timeout=0.1, strict=True))
    with pytest.raises(ConnectionError):
        f(1)
    # A disk store is strict only for memoize (its URL takes no strict=).
    directory = tmp_path / "store"
    store = memokey.open_store(f"disk://{directory}", strict=True)
    f, _ = _make(store)
    assert f(1) == 10
    shutil.rmtree(directory)
    directory.write_text("not a directory")
    with pytest.raises(OSError):
        f(2)


def test_strict_disk_url_that_cannot_be_opened_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        memokey.memoize(store=f"disk://{blocker}/sub?strict=1")(lambda x: x)
    with pytest.raises(OSError):
        memokey.open_store(f"disk://{blocker}/sub", strict=True)
    with pytest.raises(ValueError):
        memokey.open_store(f"disk://{tmp_path}/x?strict=maybe")


# --- (e) logged once -----------------------------------------------------------------------------


def test_failure_is_logged_once_with_what_to_do(caplog: pytest.LogCaptureFixture) -> None:
    url = _dead_redis()
    f, _ = _make(url)
    with caplog.at_level(logging.WARNING, logger="memokey"):
        for i in range(30):
            assert f(i % 4) == (i % 4) * 10
    messages = _warnings(caplog)
    assert len(messages) == 1, messages
    message = messages[0]
    assert "127.0.0.1" in message  # which store
    assert "cache_info().errors" in message and "store=" in message  # what to do
    assert f.cache_info().errors >= 30


# --- cache_info().damaged ----------------------------------------------------------------------


def test_cache_info_reports_damaged_entries(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = memokey.open_store(f"disk://{directory}")
    f, calls = _make(store)
    assert f.cache_info().damaged == 0
    assert f(1) == 10
    for path in directory.glob("store.db*"):  # garbage over the database, in place
        with open(path, "r+b") as file:
            file.write(b"\xff" * max(path.stat().st_size, 4096))
    assert f(1) == 10 and f(2) == 20  # whatever the store makes of it
    damaged = f.cache_info().damaged
    assert damaged == store.stats()["damaged"] and damaged >= 1
    assert memokey.memoize(store=False)(lambda x: x).cache_info().damaged == 0
