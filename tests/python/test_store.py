"""memokey.Store (the C++ stores from Python) and the signed envelope."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time

import pytest

import memokey
from conftest import TEST_SECRET


@pytest.fixture(params=["memory", "disk", "tiered", "redis"])
def store(request, tmp_path):
    kind = request.param
    if kind == "memory":
        return memokey.open_store("memory://?max_bytes=1M")
    if kind == "disk":
        return memokey.open_store(f"disk://{tmp_path / 'd'}?max_bytes=16M")
    if kind == "tiered":
        return memokey.open_store(f"tiered:memory://?max_bytes=1M|disk://{tmp_path / 't'}")
    return memokey.open_store(request.getfixturevalue("redis_url"))


def test_get_put_delete_contains(store):
    assert store.get("k") is None
    assert not store.contains("k") and "k" not in store
    store.put("k", b"value")
    assert store.get("k") == b"value"
    with pytest.raises(TypeError, match="store keys are str"):  # one key form
        store.get(b"k")
    assert store.contains("k") and "k" in store
    store.put("k", bytearray(b"other"))
    assert store.get("k") == b"other"
    store.put("big", memoryview(bytes(100_000)))
    assert store.get("big") == bytes(100_000)
    assert store.get_many(["k", "missing", "big"]) == [b"other", None, bytes(100_000)]
    store.delete("k")
    store.delete("never-there")
    assert store.get("k") is None
    s = store.stats()
    assert set(s) == {"hits", "misses", "puts", "deletes", "errors", "evictions", "expired",
                      "damaged", "bytes", "entries"}
    assert s["damaged"] == 0
    assert s["puts"] >= 3 and s["hits"] >= 3 and s["errors"] == 0
    assert isinstance(store.describe(), str) and "://" in store.describe()
    assert repr(store).startswith("memokey.Store(")


def test_ttl(store):
    store.put("short", b"x", ttl=0.15)
    store.put("long", b"y", ttl=60)
    store.put("none", b"z", ttl=None)
    assert store.get("short") == b"x"
    time.sleep(0.3)
    assert store.get("short") is None
    assert store.get("long") == b"y" and store.get("none") == b"z"
    with pytest.raises(ValueError):
        store.put("k", b"v", ttl=-1)


def test_argument_errors(tmp_path):
    s = memokey.open_store("memory://")
    with pytest.raises(ValueError):
        s.get("")  # empty key
    with pytest.raises(ValueError):
        s.put("x" * 600, b"v")  # longer than 511 bytes
    with pytest.raises(TypeError):
        s.get(1)
    with pytest.raises(TypeError):
        s.put("k", "text is not bytes")


def test_bad_urls(tmp_path):
    for url in ["bogus://x", "disk://relative/path", "memory://?max_bytes=lots", "tiered:"]:
        with pytest.raises(ValueError):
            memokey.open_store(url)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError) as info:
        memokey.open_store(f"disk://{blocker}/sub")
    assert not isinstance(info.value, ValueError)


def test_disk_directory_is_private(tmp_path):
    path = tmp_path / "a" / "b"
    memokey.open_store(f"disk://{path}").put("k", b"v")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def test_disk_is_shared_by_store_objects(tmp_path):
    a = memokey.open_store(f"disk://{tmp_path}")
    b = memokey.open_store(f"disk://{tmp_path}")
    a.put("k", b"shared")
    assert b.get("k") == b"shared"


def test_tiered_backfill(tmp_path):
    disk_url = f"disk://{tmp_path / 'x'}"
    memokey.open_store(disk_url).put("k", b"from disk", ttl=30)
    t = memokey.open_store(f"tiered:memory://?max_bytes=1M|{disk_url}")
    assert t.tiers()[0].startswith("memory://") and t.tiers()[1].startswith("disk://")
    assert t.get("k") == b"from disk"
    stats = t.tier_stats()
    assert stats[0]["entries"] == 1  # copied into the memory tier
    assert t.get("k") == b"from disk"
    assert t.tier_stats()[0]["hits"] == 1


def test_redis_down_is_a_counted_miss(dead_redis_url):
    s = memokey.open_store(dead_redis_url)  # opening never fails: connects lazily
    assert s.get("k") is None
    assert s.get_many(["a", "b"]) == [None, None]
    assert s.stats()["errors"] >= 1
    with pytest.raises(OSError):
        s.put("k", b"v")
    strict = memokey.open_store(dead_redis_url + "&strict=1")
    with pytest.raises(ConnectionError):
        strict.get("k")


def test_gil_is_released_during_store_calls(redis_url):
    # A Redis round trip releases the GIL: a Python thread keeps counting.
    s = memokey.open_store(redis_url)
    s.put("k", b"v")
    stop = threading.Event()
    ticks = [0]

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    interval = sys.getswitchinterval()
    try:
        while ticks[0] == 0:  # the spinner runs (a loaded machine may start it late)
            time.sleep(0.001)
        # No forced switch during the round trips below (they take well under
        # a second): the spinner can count only while a call lets the GIL go.
        # A thread that waits for the GIL may miss a short release: many
        # chances, and the first one that counts ends the loop.
        sys.setswitchinterval(1.0)
        before = ticks[0]
        for _ in range(2000):
            s.get("k")
            if ticks[0] != before:
                break
        during = ticks[0] - before
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        t.join()
    assert during > 0


def test_envelope_roundtrip_and_rejection():
    sealed = memokey.seal_envelope(b"key", memokey.CODEC_PICKLE5, b"payload", TEST_SECRET)
    assert sealed[:4] == b"MKEV"
    assert len(sealed) == len(b"payload") + memokey._core.ENVELOPE_OVERHEAD
    assert memokey.open_envelope(b"key", sealed, TEST_SECRET) == (memokey.CODEC_PICKLE5, b"payload")
    assert memokey.open_envelope("key", sealed) == (2, b"payload")  # secret from $MEMOKEY_SECRET
    big = bytes(10_000)
    packed = memokey.seal_envelope("k", memokey.CODEC_RAW, big)
    assert len(packed) < 1000  # zstd above the threshold
    assert memokey.open_envelope("k", packed) == (memokey.CODEC_RAW, big)
    tampered = bytearray(sealed)
    tampered[30] ^= 1
    for bad_key, bad_bytes, secret in [
        (b"other", sealed, TEST_SECRET),
        (b"key", bytes(tampered), TEST_SECRET),
        (b"key", sealed[:-1], TEST_SECRET),
        (b"key", sealed, "another-secret-of-enough-bytes"),
    ]:
        with pytest.raises(ValueError, match="envelope rejected"):
            memokey.open_envelope(bad_key, bad_bytes, secret)
    with pytest.raises(ValueError):
        memokey.seal_envelope(b"k", 9, b"x", TEST_SECRET)
    with pytest.raises(ValueError):
        memokey.seal_envelope(b"k", 0, b"x", "short")


def test_secret_file_is_created_private(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMOKEY_SECRET")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    secret = memokey.load_secret()
    path = tmp_path / "cfg" / "memokey" / "secret"
    assert path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert secret == path.read_bytes().strip() and len(secret) >= 32
    assert memokey.load_secret() == secret  # stable
    assert memokey.load_secret("configured-secret-value") == b"configured-secret-value"
    monkeypatch.setenv("MEMOKEY_SECRET", "from-the-environment-0123")
    assert memokey.load_secret() == b"from-the-environment-0123"
