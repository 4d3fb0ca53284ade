"""Single flight across processes: Store.lease and memoize's leases, stale-while-revalidate.

Processes are lease_worker.py (one slow memoized function; events in a shared
file); "processes" inside this one are separate memoize() wrappers of one
function sharing one store: each has its own in-process single flight, so
only the store's lease can make them compute once. Figures (executions per
cold key, takeover time after kill -9) are printed: run with -s to see them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import memokey
from test_server_store import server  # noqa: F401  (the memokeyd fixture)

WORKER = Path(__file__).with_name("lease_worker.py")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster (3 masters, 3 replicas on loopback) for this module."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
    from redis_cluster import RedisCluster

    with RedisCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster.url(prefix="memokey-test:")


@pytest.fixture(params=["disk", "tiered", "redis", "memokeyd", "cluster"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL that several processes share."""
    if request.param == "cluster":
        yield request.getfixturevalue("cluster_url")
    elif request.param == "disk":
        yield f"disk://{tmp_path / 'store'}?max_bytes=64M"
    elif request.param == "tiered":  # a memory tier per process in front of a shared disk
        yield f"tiered:memory://|disk://{tmp_path / 'store'}"
    elif request.param == "redis":
        yield request.getfixturevalue("redis_url")
    else:
        yield request.getfixturevalue("server").replace("http://", "http://write-secret@") + "/team"


@pytest.fixture(params=["memory", "disk", "redis", "memokeyd"])
def one_store(request: pytest.FixtureRequest, tmp_path: Path) -> memokey.Store:
    """One Store object (memory:// included: its leases are in-process)."""
    if request.param == "memory":
        return memokey.open_store("memory://")
    if request.param == "disk":
        return memokey.open_store(f"disk://{tmp_path / 'store'}")
    if request.param == "redis":
        return memokey.open_store(request.getfixturevalue("redis_url"))
    url = request.getfixturevalue("server").replace("http://", "http://write-secret@") + "/team"
    return memokey.open_store(url)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll predicate until it is true (a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


class Workers:
    """lease_worker.py processes sharing one events file."""

    def __init__(self, folder: Path, url: str, namespace: str) -> None:
        self.folder, self.url, self.namespace = folder, url, namespace
        self.folder.mkdir(exist_ok=True)

    def start(self, n: int, threads: int, sleep: float, lease_ttl: float = 60.0,
              lease_wait: float = 60.0) -> list[subprocess.Popen]:
        args = [str(self.folder), self.url, self.namespace, str(threads), str(sleep), str(lease_ttl),
                str(lease_wait)]
        return [subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True)
                for _ in range(n)]

    def go(self) -> None:
        (self.folder / "go").touch()

    def events(self, what: str) -> list[tuple[float, int]]:
        path = self.folder / "events"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(float(t), int(pid)) for t, pid, w in (line.split() for line in lines) if w == what]

    @staticmethod
    def finish(procs: list[subprocess.Popen]) -> list[dict]:
        outs = []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0, out
            outs.append(json.loads(out))
        for o in outs:
            assert o["errors"] == []
        return outs


def _summary(outs: list[dict]) -> dict[str, int]:
    keys = ("computed", "lease_waits", "lease_timeouts", "waited", "hits", "errors")
    return {k: sum(o["info"][k] for o in outs) for k in keys}


# --- (a) (b) (c): 8 processes x 4 threads, one cold key -------------------------------


def test_one_execution_across_processes(shared_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run = Workers(tmp_path / "run", shared_url, "lease-a")
    procs = run.start(8, threads=4, sleep=0.5)
    wait_until(lambda: len(run.events("ready")) == 8, "8 workers ready")
    run.go()
    outs = run.finish(procs)
    results = [r for o in outs for r in o["results"]]
    executions = len(run.events("done"))
    print(f"\n[{request.node.callspec.id}] 32 callers in 8 processes: {executions} execution(s) of the "
          f"cold key; {_summary(outs)}")
    assert len(results) == 32
    assert executions == 1
    assert all(r == results[0] for r in results) and results[0]["square"] == 49
    assert _summary(outs)["computed"] == 1


# --- (d) kill -9 the holder ------------------------------------------------------------


def test_killed_holder_is_taken_over(shared_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # disk: the flock dies with its holder; Redis and memokeyd: the lease's ttl (2 s) ends it.
    run = Workers(tmp_path / "run", shared_url, "lease-d")
    run.go()
    victim = run.start(1, threads=1, sleep=600, lease_ttl=2)[0]
    wait_until(lambda: run.events("start"), "the first holder to start computing")
    others = run.start(3, threads=2, sleep=0.3, lease_ttl=2, lease_wait=30)
    wait_until(lambda: len(run.events("call")) == 1 + 6, "the other callers to call")
    time.sleep(0.2)  # let them reach the lease (not asserted)
    killed_at = time.time()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    outs = Workers.finish(others)
    successors = [(t, pid) for t, pid in run.events("start") if pid != victim.pid]
    results = [r for o in outs for r in o["results"]]
    held_from = run.events("start")[0][0]
    print(f"\n[{request.node.callspec.id}] kill -9 of the holder: taken over "
          f"{successors[0][0] - killed_at:.3f} s after the kill "
          f"({successors[0][0] - held_from:.3f} s after the holder started); "
          f"{len(successors)} execution(s) after the kill; {_summary(outs)}")
    assert len(successors) == 1
    assert len(run.events("done")) == 1
    assert len(results) == 6 and all(r == results[0] for r in results)
    assert results[0]["square"] == 49 and results[0]["computed_by"] == successors[0][1]


# --- (e) a holder that raises releases at once --------------------------------------------


def _in_lease_wait(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "_take_lease":
            return True
        frame = frame.f_back
    return False


def test_holder_that_raises_releases_at_once(one_store: memokey.Store) -> None:
    events: list[str] = []
    may_raise = threading.Event()

    def compute(x: int) -> int:
        role = threading.current_thread().name
        events.append(f"{role} start")
        if role == "holder":
            may_raise.wait(30)
            events.append("holder raises")
            raise RuntimeError("the holder failed")
        events.append(f"{role} done")
        return 2 * x

    # Two wrappers: two in-process flights, like two processes. A lease of
    # 60 s: a waiter that sat it out would miss the 30 s deadlines below.
    holder_f, waiter_f = (memokey.memoize(compute, store=one_store, name="lease:e", namespace="lease-e",
                                          lease_ttl=60) for _ in range(2))
    outcome: dict[str, Any] = {}

    def call(f: Callable[[int], int], role: str) -> None:
        try:
            outcome[role] = f(21)
        except Exception as e:
            outcome[role] = e

    holder = threading.Thread(target=call, args=(holder_f, "holder"), name="holder")
    holder.start()
    wait_until(lambda: "holder start" in events, "the holder to compute")
    waiter = threading.Thread(target=call, args=(waiter_f, "waiter"), name="waiter")
    waiter.start()
    # The C wrapper waits with no Python frame to see: the engine counts the
    # lease wait as it starts.
    wait_until(lambda: waiter_f.cache_info().lease_waits == 1, "the waiter to wait for the lease")
    time.sleep(0.2)  # into the store's wait (not asserted)
    may_raise.set()
    holder.join(30)
    waiter.join(30)
    assert not waiter.is_alive(), "the waiter sat out the lease"
    assert isinstance(outcome["holder"], RuntimeError)
    assert outcome["waiter"] == 42
    assert events == ["holder start", "holder raises", "waiter start", "waiter done"]
    info = waiter_f.cache_info()
    assert (info.computed, info.lease_waits, info.lease_timeouts) == (1, 1, 0)


# --- (f) stale-while-revalidate ---------------------------------------------------------


@pytest.mark.parametrize("backend", ["disk", "redis", "memokeyd"])
def test_stale_while_revalidate(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "disk":
        url = f"disk://{tmp_path / 'store'}"
    elif backend == "redis":
        url = request.getfixturevalue("redis_url")
    else:  # the remaining TTL comes back in X-Memokey-TTL
        url = request.getfixturevalue("server").replace("http://", "http://write-secret@") + "/team"
    store = memokey.open_store(url)
    generations: list[int] = []
    lock = threading.Lock()

    def compute(x: int) -> tuple[int, int]:
        with lock:
            generations.append(len(generations) + 1)
            n = len(generations)
        time.sleep(1.0)  # the refresh lasts while the others call
        return x, n

    memos = [memokey.memoize(compute, store=store, name="lease:f", namespace="lease-f", ttl=1,
                             stale_while_revalidate=60) for _ in range(4)]
    assert [m(3) for m in memos] == [(3, 1)] * 4  # computed once, then fresh from the store
    assert memos[0].cache_parameters()["stale_while_revalidate"] == 60
    entry = store.get_with_ttl(memos[0].key(3))
    assert entry is not None and 1 < entry[1] <= 61  # stored for ttl + stale_while_revalidate
    time.sleep(1.2)  # past ttl, within stale_while_revalidate

    barrier = threading.Barrier(12)
    results: list[tuple[int, int]] = []

    def call(m: Callable[[int], tuple[int, int]]) -> None:
        barrier.wait()
        results.append(m(3))

    threads = [threading.Thread(target=call, args=(m,)) for m in memos for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for m in memos:  # the background refresh (one, across the four: the store's lease)
        m.__memokey_memo__._wait_refreshes(30)
    print(f"\n[{backend}] 12 callers of a stale key: {len(generations) - 1} recomputation(s), "
          f"{sum(m.cache_info().stale for m in memos)} served stale")
    assert len(generations) == 2
    assert sorted(results) == [(3, 1)] * 12  # every caller got the stale value at once
    assert sum(m.cache_info().stale for m in memos) == 12
    assert [m(3) for m in memos] == [(3, 2)] * 4  # fresh again everywhere


def test_stale_while_revalidate_needs_ttl() -> None:
    with pytest.raises(ValueError, match="stale_while_revalidate"):
        memokey.memoize(lambda x: x, store=False, stale_while_revalidate=5)
    with pytest.raises(ValueError, match="lease_ttl"):
        memokey.memoize(lambda x: x, store=False, lease_ttl=0)
    with pytest.raises(ValueError, match="lease_wait"):
        memokey.memoize(lambda x: x, store=False, lease_wait=-1)


# --- (g) async: lease waits do not block the event loop -------------------------------------


def test_async_one_execution(one_store: memokey.Store) -> None:
    starts: list[int] = []

    async def compute(x: int) -> dict:
        starts.append(x)
        await asyncio.sleep(0.5)
        return {"x": x, "n": len(starts)}

    # Four wrappers (four flights) x four tasks on one loop: if a lease wait
    # blocked the loop, the holder could never finish and the waiters would
    # compute after lease_wait.
    memos = [memokey.memoize(compute, store=one_store, name="lease:g", namespace="lease-g", lease_wait=20)
             for _ in range(4)]

    async def main() -> list[dict]:
        return await asyncio.gather(*(m(5) for m in memos for _ in range(4)))

    results = asyncio.run(main())
    assert starts == [5]
    assert results == [{"x": 5, "n": 1}] * 16
    assert sum(m.cache_info().computed for m in memos) == 1
    assert sum(m.cache_info().lease_timeouts for m in memos) == 0


def test_cancelled_async_waiter_releases_the_lease_it_gets(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")

    async def compute(x: int) -> int:
        return x

    f = memokey.memoize(compute, store=store, name="lease:c", lease_wait=30)
    key = f.key(1)
    held = store.lease(key, wait=0)  # another process computes key 1
    assert held.state == "granted"

    def lease_threads_waiting() -> bool:
        return any(_in_lease_wait(t) for t in threading.enumerate() if t.name.startswith("memokey-lease"))

    async def main() -> None:
        task = asyncio.create_task(f(1))
        while not lease_threads_waiting():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # The holder gives up without a value: the abandoned wait gets the lease
    # in its thread, and releases it for the cancelled task.
    store.release_lease(key, held.token)

    def free() -> bool:
        if lease_threads_waiting():
            return False
        probe = store.lease(key, wait=0, check_value=False)
        if probe.state == "granted":
            store.release_lease(key, probe.token)
        return probe.state == "granted"

    wait_until(free, "the abandoned lease to be released")


# --- the binding and the edges ------------------------------------------------------------------


def test_store_lease_api(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    first = store.lease("k", ttl=30, wait=0)
    assert (first.state, first.value, first.waited) == ("granted", None, False)
    assert isinstance(first.token, bytes) and first.token
    busy = store.lease("k", wait=0)
    assert (busy.state, busy.token, busy.waited) == ("timed_out", None, True)
    store.release_lease("k", first.token)
    again = store.lease("k", wait=0)
    assert again.state == "granted"
    store.put("k", b"v", ttl=30)
    store.release_lease("k", again.token)
    found = store.lease("k", wait=0)
    assert (found.state, found.value, found.token) == ("value", b"v", None)
    assert 0 < found.ttl_left <= 30
    refresh = store.lease("k", wait=0, check_value=False)
    assert refresh.state == "granted"
    store.release_lease("k", refresh.token)
    value, ttl_left = store.get_with_ttl("k")
    assert value == b"v" and 0 < ttl_left <= 30
    assert store.get_with_ttl("absent") is None
    assert "state='value'" in repr(found)
    with pytest.raises(ValueError, match="Store.lease.*empty"):
        store.lease("")
    with pytest.raises(ValueError, match="ttl"):
        store.lease("k", ttl=0)
    with pytest.raises(ValueError, match="wait"):
        store.lease("k", wait=-1)


class _Interrupted(Exception):
    pass


def test_a_signal_interrupts_a_lease_wait(one_store: memokey.Store) -> None:
    # A waiter blocked on another holder's lease handles signals while it
    # waits (Ctrl-C works): the handler's exception comes out of lease()
    # long before the 60 s wait would have ended with 'timed_out'.
    holder = one_store.lease("busy", ttl=120, wait=0)
    assert holder.state == "granted"

    def interrupt(signum: int, frame: Any) -> None:
        raise _Interrupted()

    previous = signal.signal(signal.SIGUSR1, interrupt)
    waiting = threading.Event()
    timer = threading.Thread(target=lambda: (waiting.wait(), time.sleep(0.3),
                                             os.kill(os.getpid(), signal.SIGUSR1)))
    timer.start()
    try:
        with pytest.raises(_Interrupted):
            waiting.set()
            one_store.lease("busy", ttl=120, wait=60)
    finally:
        timer.join()
        signal.signal(signal.SIGUSR1, previous)
        one_store.release_lease("busy", holder.token)
    after = one_store.lease("busy", wait=0)  # the interrupted waiter took nothing
    assert after.state == "granted"
    one_store.release_lease("busy", after.token)


def test_lease_on_unreachable_server(dead_redis_url: str) -> None:
    lenient = memokey.open_store(dead_redis_url).lease("k", wait=0)
    assert lenient.state == "unavailable" and lenient.error
    with pytest.raises(ConnectionError):
        memokey.open_store(dead_redis_url + "&strict=1").lease("k", wait=0)
    calls: list[int] = []

    @memokey.memoize(store=dead_redis_url, memory=0)
    def inc(x: int) -> int:
        calls.append(x)
        return x + 1

    assert inc(1) == 2 and inc(1) == 2
    assert calls == [1, 1]
    assert inc.cache_info().errors >= 2


def test_value_brought_by_a_lease_is_verified(tmp_path: Path) -> None:
    # A planted value: the lease reports it ('value'), memoize verifies it
    # like any hit, rejects it and computes.
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    calls: list[int] = []

    @memokey.memoize(store=store, memory=0)
    def triple(x: int) -> int:
        calls.append(x)
        return 3 * x

    store.put(triple.key(4), b"planted bytes that are no envelope")
    assert triple(4) == 12 and triple(4) == 12
    info = triple.cache_info()
    assert calls == [4]
    assert info.rejected >= 1 and info.computed == 1 and info.hits == 1


def test_lease_wait_and_lease_false(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    calls: list[int] = []

    def ident(x: int) -> int:
        calls.append(x)
        return x

    patient = memokey.memoize(ident, store=store, memory=0, name="lease:w", lease_wait=0.1)
    alone = memokey.memoize(ident, store=store, memory=0, name="lease:w", lease=False)
    held = store.lease(patient.key(1), wait=0)  # someone else computes key 1, for ever
    assert held.state == "granted"
    assert alone(1) == 1  # no lease: computes at once
    store.delete(patient.key(1))
    assert patient(1) == 1  # waits 0.1 s for the holder, then computes anyway
    assert calls == [1, 1]
    assert (alone.cache_info().lease_waits, alone.cache_info().lease_timeouts) == (0, 0)
    assert (patient.cache_info().lease_waits, patient.cache_info().lease_timeouts) == (1, 1)
    assert alone.cache_parameters()["lease"] is False
    assert patient.cache_parameters()["lease_wait"] == 0.1
    store.release_lease(patient.key(1), held.token)
