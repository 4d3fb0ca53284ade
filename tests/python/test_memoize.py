"""memokey.memoize: keys, tiers, signed values, single flight, introspection."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pickle
import stat
import textwrap
import threading
import time
from collections import Counter
from typing import Any

import pytest

import memokey
from conftest import TEST_SECRET


# --- helpers ---------------------------------------------------------------------


def define(source: str, *, module: str = "memokey_test_mod", name: str = "f", **env: Any) -> Any:
    """Run source as if it were module `module` and return its `name`."""
    ns: dict[str, Any] = {"__name__": module, "memokey": memokey, **env}
    exec(textwrap.dedent(source), ns)
    return ns[name]


def flip_stored_byte(store: memokey.Store, hexkey: str, offset: int = 30) -> None:
    sealed = bytearray(store.get(hexkey))
    sealed[offset] ^= 0x01
    store.put(hexkey, bytes(sealed))


class Evil:
    """Unpickling this creates the marker file: it must never happen."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --- call forms and keys ---------------------------------------------------------------


def test_call_forms_share_one_entry():
    calls = []

    @memokey.memoize(store=False)
    def f(a, b=2):
        calls.append((a, b))
        return a + b

    assert f(1, 2) == f(1, b=2) == f(a=1, b=2) == f(b=2, a=1) == f(1) == 3
    assert calls == [(1, 2)]
    assert f(1, 3) == 4 and len(calls) == 2
    info = f.cache_info()
    assert (info.hits, info.misses, info.computed) == (4, 2, 2)
    assert f.key(1) == f.key(1, 2) == f.key(a=1, b=2)


def test_varargs_and_kwargs():
    calls = []

    @memokey.memoize(store=False)
    def g(a, *rest, scale=1, **options):
        calls.append(1)
        return (a, rest, scale, options)

    assert g(1, 2, 3, x=1, y=2) == g(1, 2, 3, y=2, x=1, scale=1) == (1, (2, 3), 1, {"x": 1, "y": 2})
    assert len(calls) == 1
    g(1, 2, x=1, y=2)
    g(1, 2, 3, x=1)
    g(1, 2, 3, x=1, y=2, scale=2)
    assert len(calls) == 4


def test_types_are_part_of_the_key():
    calls = []

    @memokey.memoize(store=False)
    def f(x):
        calls.append(x)
        return repr(x)

    values = [1, 1.0, True, 0.0, -0.0, "1", b"1", (1,), [1], None, 2**70, "é", "€", (1, (2.0,))]
    for v in values:
        f(v)
    for v in values:
        assert f(v) == repr(v)  # hits: the same entry, not a neighbour's
    assert len(calls) == len(values)


def test_unhashable_and_object_arguments():
    calls = []

    @memokey.memoize(store=False)
    def f(cfg, p=None):
        calls.append(1)
        return len(cfg)

    f({"b": [1, 2], "a": {3, 4}})
    f({"a": {4, 3}, "b": [1, 2]})  # equal value, other insertion order
    assert len(calls) == 1
    f([1], Pt(1, [2]))
    f([1], p=Pt(1, [2]))
    assert len(calls) == 2
    with pytest.raises(memokey.CanonicalizationError):
        f(lambda: 0)


def test_key_is_the_documented_frame():
    @memokey.memoize(store=False, namespace="ns", version="7", name="demo.square")
    def square(x):
        return x * x

    assert square.key(12) == memokey.hexkey(["memokey.memo", "demo.square", "7", (12,)], namespace="ns")

    @memokey.memoize(store=False)
    def plain(x, y=1):
        return x

    memo = plain.__memokey_memo__
    assert memo.name.endswith(":test_key_is_the_documented_frame.<locals>.plain")
    assert memo.version.startswith("py:")
    assert plain.key(3) == memokey.hexkey(["memokey.memo", memo.name, memo.version, (3, 1)])


def test_ignore():
    calls = []

    @memokey.memoize(store=False, ignore=["log", "verbose"])
    def f(x, log=None, *, verbose=False):
        calls.append(x)
        return x

    f(1, log=print)
    f(1, log=None, verbose=True)
    f(1)
    assert calls == [1]
    with pytest.raises(ValueError, match="ignore"):
        memokey.memoize(ignore=["nope"])(lambda x: x)


def test_mutable_default_is_read_at_call_time():
    calls = []

    @memokey.memoize(store=False)
    def f(x, acc=[]):  # noqa: B006 - the point of the test
        calls.append(list(acc))
        return len(acc)

    assert f(1) == 0
    f.__wrapped__.__defaults__[0].append(5)
    assert f(1) == 1  # the default changed: another key
    assert len(calls) == 2


# --- function identity ---------------------------------------------------------------


def test_editing_the_code_retires_entries(disk_url):
    store = memokey.open_store(disk_url)
    src = """
        @memokey.memoize(store=STORE)
        def f(x):
            CALLS.append(x)
            return x + {delta}
    """
    calls = []
    f1 = define(src.format(delta=1), STORE=store, CALLS=calls)
    assert f1(10) == 11
    f2 = define(src.format(delta=2), STORE=store, CALLS=calls)
    assert f2.__memokey_memo__.name == f1.__memokey_memo__.name == "memokey_test_mod:f"
    assert f2.__memokey_memo__.version != f1.__memokey_memo__.version
    assert f2(10) == 12  # not the old 11
    f3 = define(src.format(delta=1), STORE=store, CALLS=calls)
    assert f3(10) == 11  # same code as f1: f1's entry, from the store
    assert calls == [10, 10]
    assert f3.cache_info().tiers[store.describe()] == 1


def test_code_hash_covers_nested_code_defaults_and_docstring():
    def version(src):
        return define(src, STORE=False).__memokey_memo__.version

    base = """
        @memokey.memoize(store=STORE)
        def f(x, k={k}):
            '''{doc}'''
            def inner(y):
                return y * {m}
            return inner(x)
    """
    v = version(base.format(k=1, m=2, doc="doc"))
    assert version(base.format(k=1, m=2, doc="other doc")) == v  # docstrings don't count
    assert version(base.format(k=1, m=3, doc="doc")) != v  # nested code object constant
    assert version(base.format(k=2, m=2, doc="doc")) != v  # default


def test_closure_values_are_part_of_the_identity():
    def make(n):
        @memokey.memoize(store=False)
        def times(x):
            return x * n

        return times

    assert make(2)(3) == 6
    assert make(3)(3) == 9
    assert make(2).__memokey_memo__.version != make(3).__memokey_memo__.version


def test_version_overrides_the_code_hash(disk_url):
    store = memokey.open_store(disk_url)
    src = """
        @memokey.memoize(store=STORE, version="1")
        def f(x):
            return x + {delta}
    """
    assert define(src.format(delta=1), STORE=store)(10) == 11
    assert define(src.format(delta=2), STORE=store)(10) == 11  # same version: same entry
    bumped = src.replace('version="1"', 'version="2"')
    assert define(bumped.format(delta=2), STORE=store)(10) == 12


# --- methods -------------------------------------------------------------------------


@dataclasses.dataclass
class Model:
    scale: int
    calls: list = dataclasses.field(default_factory=list, compare=False)

    @memokey.memoize(store=False)
    def predict(self, x):
        self.calls.append(x)
        return x * self.scale

    @memokey.memoize(store=False, ignore=["self"])
    def shared(self, x):
        self.calls.append(x)
        return -x

    @classmethod
    @memokey.memoize(store=False)
    def build(cls, scale):
        return cls(scale)

    @staticmethod
    @memokey.memoize(store=False)
    def helper(x):
        return x + 1


def test_methods_key_on_self_by_its_canonical_form():
    a, b, c = Model(2), Model(2), Model(3)
    assert a.predict(5) == 10
    assert b.predict(5) == 10  # an equal instance: a hit
    assert c.predict(5) == 15
    assert a.calls == [5] and b.calls == [] and c.calls == [5]
    assert Model.predict(a, 5) == 10 and a.calls == [5]
    assert a.shared(1) == c.shared(1) == -1
    assert a.calls + c.calls == [5, 1, 5]  # "self" ignored: one entry for every instance
    assert Model.build(4) == Model(4) and Model.helper(1) == 2
    a.scale = 5  # a mutated instance is another key
    assert a.predict(5) == 25 and a.calls == [5, 1, 5]


def test_object_arguments_from_the_store_without_python(disk_url):
    # Positional calls with non-atom arguments are keyed in C++ (the walker):
    # memory hits, then store hits once the memory tier dropped them.
    calls = []

    @memokey.memoize(store=disk_url, memory=1)
    def f(cfg, p):
        calls.append(1)
        return [cfg, p]

    args = [({"k": [i]}, Pt(i, [i])) for i in range(3)]
    for a in args:
        f(*a)
    for a in args:  # memory=1: every call but the last misses memory, hits disk
        assert f(*a) == list(a)
    assert len(calls) == 3
    info = f.cache_info()
    assert info.tiers["memory"] == 0 and info.hits == 3
    assert f(*args[2]) == list(args[2]) and f.cache_info().tiers["memory"] == 1
    # A fresh wrapper that only read them (in C++) still deletes them on cache_clear.
    g = memokey.memoize(store=disk_url, memory=1)(f.__wrapped__)
    for a in args:
        assert g(*a) == list(a)
    store = memokey.open_store(disk_url)
    keys = [g.key(*a) for a in args]
    assert all(store.contains(k) for k in keys)
    g.cache_clear()
    assert not any(store.contains(k) for k in keys)


def test_uncanonicalizable_self_needs_ignore():
    class Holder:
        def __init__(self):
            self.lock = threading.Lock()

        @memokey.memoize(store=False)
        def get(self, x):
            return x

        @memokey.memoize(store=False, ignore=["self"])
        def get_ignoring_self(self, x):
            return x

    with pytest.raises(memokey.CanonicalizationError):
        Holder().get(1)
    assert Holder().get_ignoring_self(1) == 1


# --- tiers, persistence, aliasing -----------------------------------------------------


def test_store_persists_across_wrappers_and_memory_keeps_objects(disk_url):
    src = """
        @memokey.memoize(store=URL, memory=MEMORY)
        def f(n):
            CALLS.append(n)
            return {"n": n, "items": list(range(n))}
    """
    calls = []
    f = define(src, URL=disk_url, MEMORY=16, CALLS=calls)
    first = f(3)
    assert f(3) is first  # the memory tier returns the object itself
    g = define(src, URL=disk_url, MEMORY=16, CALLS=calls)  # "another process": empty memory
    again = g(3)
    assert again == first and again is not first
    assert g(3) is again
    assert calls == [3]
    info = g.cache_info()
    assert info.tiers["memory"] == 1 and sum(info.tiers.values()) == 2


def test_copy_option_returns_deep_copies():
    @memokey.memoize(store=False, copy=True)
    def f(n):
        return {"items": [n]}

    a = f(1)
    a["items"].append("mutated")
    b = f(1)
    assert b == {"items": [1]} and b is not a


def test_memory_bound_and_lru():
    calls = []

    @memokey.memoize(store=False, memory=2)
    def f(x):
        calls.append(x)
        return x

    f(1), f(2), f(1), f(3)  # 2 is the least recently used
    assert f.cache_info().currsize == 2
    f(1)
    assert calls == [1, 2, 3]
    f(2)
    assert calls == [1, 2, 3, 2]


def test_memory_disabled_uses_the_store(disk_url):
    calls = []

    @memokey.memoize(store=disk_url, memory=0)
    def f(x):
        calls.append(x)
        return [x]

    assert f(1) == [1] and f(1) == [1] and f(1) is not f(1)
    assert calls == [1]
    info = f.cache_info()
    assert info.currsize == 0 and info.tiers["memory"] == 0 and info.hits == 3


def test_default_store_is_disk_in_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    memokey.set_default_store(None)
    try:
        src = """
            @memokey.memoize
            def f(x):
                CALLS.append(x)
                return x * 2
        """
        calls = []
        assert define(src, CALLS=calls)(21) == 42
        assert define(src, CALLS=calls)(21) == 42  # a fresh memory tier: from disk
        assert calls == [21]
        directory = tmp_path / "xdg" / "memokey"
        assert directory.is_dir() and stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert memokey.default_store().describe().startswith(f"disk://{directory}")
    finally:
        memokey.set_default_store(None)


def test_tiered_store_reports_the_answering_tier(tmp_path, redis_url):
    url = f"tiered:memory://?max_bytes=1M|disk://{tmp_path / 'x'}|{redis_url}"
    src = """
        @memokey.memoize(store=URL, memory=0)
        def f(x):
            return x
    """
    f = define(src, URL=url)
    f(1)
    tiers = memokey.open_store(url).tiers()
    # A new store object for the same URL: its memory tier is empty, disk answers.
    g = define(src, URL=memokey.open_store(url))
    assert g(1) == 1
    assert g.cache_info().tiers[tiers[1]] == 1
    assert g(1) == 1
    assert g.cache_info().tiers[tiers[0]] == 1  # backfilled into the faster tier
    # Only Redis has it now (fresh memory tier, the disk copy deleted).
    memokey.open_store(f"disk://{tmp_path / 'x'}").delete(g.key(1))
    h = define(src, URL=memokey.open_store(url))
    assert h(1) == 1 and h.cache_info().tiers[tiers[2]] == 1
    assert [s for _, s, _ in h.explain(1).tiers] == ["disabled", "hit", "hit", "hit"]  # backfilled


def test_redis_shares_results(redis_url):
    src = """
        @memokey.memoize(store=URL)
        def f(x):
            CALLS.append(x)
            return {"x": x}
    """
    calls = []
    assert define(src, URL=redis_url, CALLS=calls)(5) == {"x": 5}
    assert define(src, URL=memokey.open_store(redis_url), CALLS=calls)(5) == {"x": 5}
    assert calls == [5]


# --- TTL -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["memory", "disk", "redis"])
def test_ttl_expiry(where, disk_url, request):
    url = {"memory": False, "disk": disk_url}.get(where) if where != "redis" else \
        request.getfixturevalue("redis_url")
    calls = []

    @memokey.memoize(store=url, ttl=0.3, memory=0 if where != "memory" else 16)
    def f(x):
        calls.append(x)
        return x

    f(1)
    f(1)
    assert calls == [1]
    time.sleep(0.45)
    status = dict((t, s) for t, s, _ in f.explain(1).tiers)
    assert "expired" in status.values()
    f(1)
    assert calls == [1, 1]


# --- exceptions ---------------------------------------------------------------------------


def test_exceptions_are_not_cached():
    calls = []

    @memokey.memoize(store=False)
    def f(x):
        calls.append(x)
        raise ValueError(f"bad {x}")

    for _ in range(3):
        with pytest.raises(ValueError, match="bad 1"):
            f(1)
    assert calls == [1, 1, 1]


def test_exceptions_cached_when_asked(disk_url):
    src = """
        @memokey.memoize(store=URL, cache_exceptions=True)
        def f(x):
            CALLS.append(x)
            raise KeyError(x)
    """
    calls = []
    f = define(src, URL=disk_url, CALLS=calls)
    for _ in range(3):
        with pytest.raises(KeyError):
            f(1)
    g = define(src, URL=disk_url, CALLS=calls)  # from the store (pickled)
    with pytest.raises(KeyError):
        g(1)
    assert calls == [1]


# --- signed values: tampering never unpickles ----------------------------------------------


@pytest.mark.parametrize("kind", ["disk", "redis"])
def test_tampered_value_is_a_miss_and_never_unpickled(kind, disk_url, tmp_path, request, caplog):
    url = disk_url if kind == "disk" else request.getfixturevalue("redis_url")
    store = memokey.open_store(url)
    marker = tmp_path / "PWNED"
    calls = []

    @memokey.memoize(store=store, memory=0)
    def f(x):
        calls.append(x)
        return {"x": x}

    assert f(1) == {"x": 1}
    k = f.key(1)
    # 1. a flipped bit in the stored envelope
    flip_stored_byte(store, k)
    assert "MAC rejected" in str(f.explain(1))
    with caplog.at_level(logging.WARNING, logger="memokey"):
        assert f(1) == {"x": 1}
    assert calls == [1, 1]
    assert f.cache_info().rejected == 1
    assert "failed verification" in caplog.text
    # 2. planted pickles: raw, sealed with another secret, sealed for another key,
    #    and a valid envelope whose payload was swapped
    evil = pickle.dumps(Evil(str(marker)), protocol=5)
    good = store.get(k)
    swapped = good[:24] + evil + good[24 + len(evil):] if len(good) > 24 + len(evil) else None
    plants = [
        evil,
        memokey.seal_envelope(k, memokey.CODEC_PICKLE5, evil, "attacker-secret-0123456789"),
        memokey.seal_envelope(f.key(2), memokey.CODEC_PICKLE5, evil, TEST_SECRET),
    ]
    if swapped is not None:
        plants.append(swapped)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="memokey"):
        for planted in plants:
            store.put(k, planted)
            assert f(1) == {"x": 1}
    assert not marker.exists()
    assert calls == [1] * (2 + len(plants))
    assert f.cache_info().rejected == 1 + len(plants)
    assert caplog.text.count("failed verification") == 0  # logged once per function, already
    # The recomputed value replaced the planted one and verifies.
    assert f(1) == {"x": 1} and len(calls) == 2 + len(plants)
    # Control: the payload really would have created the marker if unpickled.
    pickle.loads(evil).close()
    assert marker.exists()


def test_safe_mode_stores_cbor_and_never_unpickles(disk_url, tmp_path):
    store = memokey.open_store(disk_url)
    marker = tmp_path / "PWNED"
    calls = []

    @memokey.memoize(store=store, safe=True, memory=0)
    def f(x):
        calls.append(x)
        return {"x": x, "t": (1, 2.5), "s": {3}}

    assert f(1) == {"x": 1, "t": (1, 2.5), "s": {3}}
    codec, payload = memokey.open_envelope(f.key(1), store.get(f.key(1)))
    assert codec == memokey.CODEC_CBOR and memokey.loads(payload) == f(1)
    # Even a pickle sealed with the right secret is refused in safe mode.
    evil = pickle.dumps(Evil(str(marker)), protocol=5)
    store.put(f.key(1), memokey.seal_envelope(f.key(1), memokey.CODEC_PICKLE5, evil))
    assert "decode failed" in str(f.explain(1))
    assert f(1)["x"] == 1
    assert not marker.exists()
    assert f.cache_info().decode_failed >= 1
    assert len(calls) == 2


def test_safe_mode_refuses_non_data_results():
    # A plain class (not a dataclass: dataclasses of data are safe results,
    # tests/python/test_safe_results.py).
    @memokey.memoize(store=False, safe=True)
    def f(x):
        return {"result": Plain(x)}

    with pytest.raises(memokey.SafeModeError, match=r"result\['result'\].*safe=False"):
        f(1)

    @memokey.memoize(store=False, safe=True)
    def g(x):
        return lambda: x

    with pytest.raises(memokey.SafeModeError, match="no canonical form"):
        g(1)


def test_undecodable_verified_value_is_a_miss(disk_url):
    store = memokey.open_store(disk_url)
    calls = []

    @memokey.memoize(store=store, memory=0)
    def f(x):
        calls.append(x)
        return x

    f(1)
    store.put(f.key(1), memokey.seal_envelope(f.key(1), memokey.CODEC_PICKLE5, b"not a pickle"))
    assert "decode failed" in str(f.explain(1))
    assert f(1) == 1 and calls == [1, 1]
    assert f.cache_info().decode_failed == 1


# --- store failures ---------------------------------------------------------------------------


def test_redis_down_calls_still_return(dead_redis_url):
    calls = []

    @memokey.memoize(store=dead_redis_url, memory=0)
    def f(x):
        calls.append(x)
        return x * 2

    assert f(1) == 2 and f(1) == 2
    assert calls == [1, 1]
    assert f.cache_info().errors >= 2  # failed lookups and failed writes
    assert [s for _, s, _ in f.explain(1).tiers] == ["disabled", "error"]


def test_redis_down_strict_raises(dead_redis_url):
    @memokey.memoize(store=dead_redis_url + "&strict=1")
    def f(x):
        return x

    with pytest.raises(ConnectionError):
        f(1)


def test_unpicklable_result_stays_in_memory(disk_url, caplog):
    @memokey.memoize(store=disk_url)
    def f(x):
        return threading.Lock()

    with caplog.at_level(logging.WARNING, logger="memokey"):
        lock = f(1)
    assert f(1) is lock
    assert "could not be pickled" in caplog.text


# --- single flight -----------------------------------------------------------------------------


def test_single_flight_threads():
    executions = []
    start = threading.Barrier(8)

    @memokey.memoize(store=False)
    def slow(x):
        executions.append(x)
        time.sleep(0.3)
        return {"x": x}

    results = []

    def worker():
        start.wait()
        results.append(slow(7))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert executions == [7]
    assert len(results) == 8 and all(r is results[0] for r in results)
    info = slow.cache_info()
    assert info.computed == 1 and info.waited + info.hits == 7


def test_single_flight_threads_exception_reaches_every_waiter():
    executions = []
    start = threading.Barrier(8)

    @memokey.memoize(store=False)
    def failing(x):
        executions.append(x)
        time.sleep(0.3)
        raise RuntimeError("boom")

    errors = []

    def worker():
        start.wait()
        try:
            failing(1)
        except RuntimeError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert executions == [1] and len(errors) == 8
    with pytest.raises(RuntimeError):
        failing(1)  # not cached: runs again
    assert executions == [1, 1]


def test_single_flight_asyncio_tasks():
    executions = []

    @memokey.memoize(store=False)
    async def fetch(x):
        executions.append(x)
        await asyncio.sleep(0.2)
        return {"x": x}

    async def main():
        return await asyncio.gather(*(fetch(3) for _ in range(20)))

    results = asyncio.run(main())
    assert executions == [3]
    assert all(r == {"x": 3} for r in results)
    assert fetch.cache_info().waited == 19
    assert asyncio.run(fetch(3)) == {"x": 3} and executions == [3]


def test_single_flight_asyncio_exception_reaches_every_waiter():
    executions = []

    @memokey.memoize(store=False)
    async def failing(x):
        executions.append(x)
        await asyncio.sleep(0.1)
        raise LookupError("nope")

    async def main():
        return await asyncio.gather(*(failing(1) for _ in range(20)), return_exceptions=True)

    results = asyncio.run(main())
    assert executions == [1]
    assert len(results) == 20 and all(isinstance(r, LookupError) for r in results)
    with pytest.raises(LookupError):
        asyncio.run(failing(1))
    assert executions == [1, 1]


def test_async_cancelled_owner_hands_over():
    executions = []

    @memokey.memoize(store=False)
    async def slow(x):
        executions.append(x)
        await asyncio.sleep(0.2)
        return x

    async def main():
        owner = asyncio.ensure_future(slow(1))
        await asyncio.sleep(0.05)
        waiter = asyncio.ensure_future(slow(1))
        await asyncio.sleep(0.05)
        owner.cancel()
        return await waiter

    assert asyncio.run(main()) == 1
    assert executions == [1, 1]


def test_threads_hammering_a_small_memory_tier(disk_url):
    # Hot-path hits, evictions, store hits and computations racing in 8 threads.
    @memokey.memoize(store=disk_url, memory=8)
    def f(x, tag="t"):
        return {"x": x, "twice": 2 * x, "tag": tag}

    errors = []

    def worker(seed):
        import random

        rng = random.Random(seed)
        try:
            for _ in range(3000):
                x = rng.randrange(40)
                form = rng.randrange(3)
                r = f(x) if form == 0 else f(x, "t") if form == 1 else f(x=x, tag="t")
                assert r == {"x": x, "twice": 2 * x, "tag": "t"}, (x, r)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    info = f.cache_info()
    assert info.computed == 40 and info.currsize <= 8  # each key once (single flight + disk)
    assert info.hits + info.misses >= 8 * 3000


def test_recursion_into_the_same_key_does_not_deadlock():
    state = {"depth": 0}

    @memokey.memoize(store=False)
    def f(x):
        state["depth"] += 1
        if state["depth"] < 3:
            return f(x) + 1  # the same key, on the computing thread
        return 10

    assert f(1) == 12

    @memokey.memoize(store=False)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(80) == 23416728348467685


def test_async_recursion_same_key_same_task():
    state = {"n": 0}

    @memokey.memoize(store=False)
    async def g(x):
        state["n"] += 1
        if state["n"] == 1:
            return await g(x) + 1
        return 100

    assert asyncio.run(g(1)) == 101


# --- async ---------------------------------------------------------------------------------------


def test_async_functions(disk_url):
    calls = []

    @memokey.memoize(store=disk_url)
    async def double(x, factor=2):
        calls.append(x)
        await asyncio.sleep(0)
        return x * factor

    async def main():
        return [await double(2), await double(2, 2), await double(x=2), await double(3)]

    assert asyncio.run(main()) == [4, 4, 4, 6]
    assert calls == [2, 3]
    assert asyncio.iscoroutinefunction(double)
    assert double.cache_info().computed == 2
    assert double.key(2) == double.key(2, factor=2)


# --- introspection ---------------------------------------------------------------------------------


def test_cache_info_cache_clear_key_explain(disk_url):
    store = memokey.open_store(disk_url)
    calls = []

    @memokey.memoize(store=store)
    def f(x):
        """Docs survive."""
        calls.append(x)
        return x

    assert f.__doc__ == "Docs survive." and f.__name__ == "f" and f.__wrapped__ is not None
    miss = f.explain(1)
    assert miss.answered_by is None
    assert [s for _, s, _ in miss.tiers] == ["not present", "not present"]
    f(1)
    f(1)
    info = f.cache_info()
    assert (info.hits, info.misses, info.computed, info.currsize) == (1, 1, 1, 1)
    assert info.tiers == {"memory": 1, store.describe(): 0}
    hit = f.explain(1)
    assert hit.answered_by == "memory" and "hit in memory" in str(hit)
    key = f.key(1)
    assert len(key) == 32 and store.contains(key)
    f.cache_clear()
    assert not store.contains(key)  # deleted from the store too
    assert f.cache_info().currsize == 0
    f(1)
    assert calls == [1, 1]


def test_pickled_by_reference():
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert module_level(2) == 4


@memokey.memoize(store=False)
def module_level(x):
    return x * 2


def test_bad_store_arguments_fail_at_decoration():
    with pytest.raises(ValueError):
        memokey.memoize(store="bogus://x")(lambda x: x)
    with pytest.raises(TypeError):
        memokey.memoize(store=42)(lambda x: x)


def test_generator_functions_are_refused():
    with pytest.raises(TypeError, match="generator"):
        memokey.memoize(lambda: (yield))


def test_memokey_explain(capsys):
    same = memokey.explain({"a": [1, 2, 3]}, {"a": [1, 2, 3]})
    assert same.same and same.path is None
    assert same == f"same canonical form (key {memokey.hexkey({'a': [1, 2, 3]})})"
    msg = memokey.explain({"a": [1, 2, 3], "b": 0}, {"b": 0, "a": [1, 2.0, 3]})
    assert msg == "obj['a'][1]: int 2 vs float 2.0"
    assert not msg.same and (msg.path, msg.detail) == ("obj['a'][1]", "int 2 vs float 2.0")
    # Returned, never printed: a REPL shows its repr once, unquoted.
    assert repr(msg) == str(msg) == "obj['a'][1]: int 2 vs float 2.0"
    assert capsys.readouterr().out == ""
    assert memokey.explain({"a": 1}, {"a": 1, "z": 2}) == "obj['z']: only in b (= 2)"
    assert memokey.explain((1, 2), [1, 2]).startswith("obj: tuple")
    assert memokey.explain([1], [1, 2]) == "obj: length 1 vs 2"
    assert memokey.explain({1, 2}, {1, 3}) == "obj: only in a: 2; only in b: 3"
    p, q = Pt(1, [1, 2]), Pt(1, [1, 5])
    assert memokey.explain({"cfg": p}, {"cfg": q}) == "obj['cfg'].ys[1]: 2 vs 5"
    assert "class" in memokey.explain(Pt(1, []), Other(1, []))
    assert memokey.explain(Plain(1), Plain(2)) == "obj.v: 1 vs 2"


@dataclasses.dataclass
class Pt:
    x: int
    ys: list


@dataclasses.dataclass
class Other:
    x: int
    ys: list


class Plain:
    def __init__(self, v):
        self.v = v


def test_hot_path_is_consistent_with_the_slow_path():
    calls = Counter()

    def body(*args, **kwargs):
        calls[memokey.hexkey((args, kwargs))] += 1
        return (args, kwargs)

    shapes = [((1,), {}), ((1,), {"a": 1}), ((), {"a": 1, "b": 2}), ((), {"b": 2, "a": 1}),
              (("x", b"x", None, True, 1.5, (1, ("y",))), {}), ((2**63,), {}), (([1],), {})]
    distinct = len({memokey.hexkey(s) for s in shapes})
    for memory in (100, 2):  # without and with evictions in between
        calls.clear()
        f = memokey.memoize(store=False, memory=memory)(body)
        for _ in range(3):
            for args, kwargs in shapes:
                assert f(*args, **kwargs) == (args, kwargs)
        if memory == 100:
            assert len(calls) == distinct and set(calls.values()) == {1}
        else:
            assert len(calls) == distinct
        f.cache_clear()
        assert f(1) == ((1,), {})


def test_wrapper_methods_bind_and_check_self_and_arguments() -> None:
    """MemoWrapper's methods are nanobind functions on a raw type (issue 13):
    they bind self, refuse another self, and keep their error types."""

    @memokey.memoize(store=None)
    def f(x: int) -> int:
        return x

    assert f(2) == 2
    assert f._stats()["misses"] == 1
    with pytest.raises(TypeError):
        type(f)._stats(object())
    with pytest.raises(TypeError, match="key must be 16 bytes"):
        f._peek(b"short")
    with pytest.raises(TypeError):
        f._peek("x" * 16)
    with pytest.raises(ValueError, match="ttl must be"):
        f._set_ttl(-1.0)
    assert f.__reduce__() == f.__qualname__
