"""stale_while_revalidate: a stale value is returned at once and refreshed in
the background, one refresh per key; a failed refresh keeps the stale value
(issue 14, item 5). Events, not sleeps, decide what the assertions see; the
only sleeps let a short ttl pass."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import memokey

TTL = 0.2


def _expire() -> None:
    time.sleep(TTL * 1.5)  # past ttl, well within stale_while_revalidate


class Gate:
    """A function whose calls after the first block until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = False

    def __call__(self, x: int) -> tuple[int, int]:
        self.calls += 1
        n = self.calls
        if n > 1:
            self.started.set()
            assert self.release.wait(30), "the test never released the refresh"
            if self.fail:
                raise RuntimeError(f"refresh {n} failed")
        return x, n


def _memo(gate: Gate, tmp_path: Path, **options: Any) -> Any:
    return memokey.memoize(gate, store=f"disk://{tmp_path}", name="swr:gate", version=1, ttl=TTL,
                           stale_while_revalidate=60, **options)


def test_stale_value_is_returned_while_the_refresh_runs(tmp_path: Path) -> None:
    gate = Gate()
    f = _memo(gate, tmp_path)
    assert f(1) == (1, 1)
    _expire()
    # The refresh blocks on the gate: a caller that waited for it would hang.
    assert f(1) == (1, 1)
    assert gate.started.wait(10)
    assert f(1) == (1, 1)  # still stale; no second refresh of the key
    assert f(1) == (1, 1)
    gate.release.set()
    f.__memokey_memo__._wait_refreshes(30)
    assert gate.calls == 2
    assert f(1) == (1, 2)  # the refreshed value, fresh again
    info = f.cache_info()
    assert (info.stale, info.computed, info.refresh_errors) == (3, 2, 0)


def test_a_failed_refresh_keeps_the_stale_value(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate()
    gate.fail = True
    gate.release.set()
    f = _memo(gate, tmp_path)
    assert f(1) == (1, 1)
    _expire()
    with caplog.at_level(logging.WARNING, logger="memokey"):
        for attempt in (1, 2):
            assert f(1) == (1, 1)  # stale, served while the refresh fails
            f.__memokey_memo__._wait_refreshes(30)
            assert f.cache_info().refresh_errors == attempt
    assert gate.calls == 3
    logged = [r for r in caplog.records if "refreshing the stale value" in r.getMessage()]
    assert len(logged) == 1  # logged once, counted each time
    assert "RuntimeError: refresh 2 failed" in logged[0].getMessage()
    gate.fail = False
    assert f(1) == (1, 1)
    f.__memokey_memo__._wait_refreshes(30)
    assert f(1) == (1, 4)


def test_concurrent_stale_callers_start_one_refresh(tmp_path: Path) -> None:
    gate = Gate()
    f = _memo(gate, tmp_path)
    assert f(1) == (1, 1)
    _expire()
    barrier = threading.Barrier(8)
    results: list[tuple[int, int]] = []

    def call() -> None:
        barrier.wait()
        results.append(f(1))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [(1, 1)] * 8  # all returned while the refresh was blocked
    gate.release.set()
    f.__memokey_memo__._wait_refreshes(30)
    assert gate.calls == 2
    assert f.cache_info().stale == 8


def test_async_stale_value_is_returned_while_the_refresh_runs(tmp_path: Path) -> None:
    calls = []

    async def main() -> None:
        release = asyncio.Event()
        started = asyncio.Event()

        @memokey.memoize(store=f"disk://{tmp_path}", ttl=TTL, stale_while_revalidate=60)
        async def g(x: int) -> tuple[int, int]:
            calls.append(x)
            if len(calls) > 1:
                started.set()
                await release.wait()
            return x, len(calls)

        assert await g(2) == (2, 1)
        await asyncio.sleep(TTL * 1.5)
        assert await g(2) == (2, 1)  # stale: the refresh is a task waiting on release
        await asyncio.wait_for(started.wait(), 10)
        assert await g(2) == (2, 1)
        release.set()
        memo = g.__memokey_memo__
        await asyncio.gather(*[t for t in list(memo._refreshing.values()) if t is not None])
        assert await g(2) == (2, 2)
        assert g.cache_info().stale == 2

    asyncio.run(main())
    assert calls == [2, 2]
