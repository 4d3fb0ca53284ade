"""Cache management: f.cache_delete / f.cache_contains / f.cache_clear, Store.clear /
entries / prune, one key form for stores, MEMOKEY_CACHE_DIR / MEMOKEY_STORE, DEBUG
logging and verbose= (issue 14, items 2-3)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import memokey

STORE_KINDS = ["memory", "disk", "redis", "tiered"]


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "disk":
        return f"disk://{tmp_path / 'store'}"
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return f"tiered:memory://|disk://{tmp_path / 'tiered'}"


def _counted(store: Any, **options: Any) -> tuple[Callable[..., Any], list[int]]:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    return memokey.memoize(square, store=store, **options), calls


# --- f.cache_delete -------------------------------------------------------------------


def test_issue_repro_store_delete_leaves_memory_but_cache_delete_does_not(tmp_path: Path) -> None:
    """The repro: Store.delete(k) left the memory tier answering; cache_delete does not."""
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    f, calls = _counted(store)
    assert f(3) == 9
    store.delete(f.key(3))
    assert f.explain(3).answered_by == "memory"  # what the issue saw (and still true)
    assert f.cache_delete(3) is True
    explanation = f.explain(3)
    assert explanation.answered_by is None
    assert "hit in memory" not in str(explanation)
    assert not store.contains(f.key(3))
    assert f(3) == 9
    assert calls == [3, 3]  # computed again
    assert f.cache_delete(4) is False  # never there


def test_cache_delete_every_tier(store_url: str) -> None:
    store = memokey.open_store(store_url)
    f, calls = _counted(store)
    f(2), f(5)
    assert store.contains(f.key(2)) and store.contains(f.key(5))
    assert f.cache_delete(x=2) is True  # any spelling of the call
    assert not store.contains(f.key(2))
    for tier in store.tiers():  # every tier of a tiered store
        assert not memokey.open_store(tier).contains(f.key(2)) or tier.startswith("memory")
    assert store.contains(f.key(5))  # the other entry stays
    f(2), f(5)
    assert calls == [2, 5, 2]


def test_cache_delete_of_an_entry_only_in_the_store(tmp_path: Path) -> None:
    """Another process's entry (this one never saw it) is deleted and reported."""
    url = f"disk://{tmp_path / 'store'}"
    writer, _ = _counted(memokey.open_store(url), name="shared")
    writer(7)
    reader, calls = _counted(memokey.open_store(url), name="shared", version=writer.cache_parameters()["version"])
    assert reader.cache_delete(7) is True
    assert not memokey.open_store(url).contains(writer.key(7))
    assert reader(7) == 49 and calls == [7]


def test_cache_delete_async() -> None:
    calls: list[int] = []

    @memokey.memoize(store="memory://")
    async def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    async def run() -> None:
        assert await double(4) == 8
        assert double.cache_delete(4) is True
        assert await double(4) == 8

    asyncio.run(run())
    assert calls == [4, 4]


# --- f.cache_contains -------------------------------------------------------------------


def test_cache_contains_neither_computes_nor_counts(store_url: str) -> None:
    store = memokey.open_store(store_url)
    f, calls = _counted(store)
    assert f.cache_contains(6) is False
    assert calls == []
    f(6)
    before = f.cache_info()
    assert f.cache_contains(6) is True
    assert f.cache_contains(x=6) is True
    assert f.cache_contains(7) is False
    after = f.cache_info()
    assert (after.hits, after.misses, after.computed) == (before.hits, before.misses, before.computed)
    assert calls == [6]


def test_cache_contains_answers_from_the_store_without_filling_memory(tmp_path: Path) -> None:
    url = f"disk://{tmp_path / 'store'}"
    writer, _ = _counted(memokey.open_store(url), name="shared", version=1)
    writer(8)
    reader, calls = _counted(memokey.open_store(url), name="shared", version=1)
    assert reader.cache_contains(8) is True
    assert reader.explain(8).tiers[0][1] == "not present"  # memory tier not filled
    assert reader.cache_info().hits == 0
    assert calls == []


def test_cache_contains_false_for_a_value_that_fails_verification(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    f, _ = _counted(store, memory=0)
    f(2)
    store.put(f.key(2), b"planted bytes that are no envelope")
    assert store.contains(f.key(2))
    assert f.cache_contains(2) is False  # a lookup would not hit


# --- f.cache_clear -----------------------------------------------------------------------


def test_cache_clear_deletes_entries_other_instances_wrote(tmp_path: Path) -> None:
    url = f"disk://{tmp_path / 'store'}"
    writer, _ = _counted(memokey.open_store(url), name="shared", version=1)
    writer(1), writer(2)
    other, _ = _counted(memokey.open_store(url), name="other", version=1)
    other(1)
    reader, _ = _counted(memokey.open_store(url), name="shared", version=1)
    reader(1)  # read from the store: known to this function
    reader.cache_clear()
    store = memokey.open_store(url)
    assert not store.contains(writer.key(1))
    assert not store.contains(writer.key(2))  # never seen by reader: found by its label
    assert store.contains(other.key(1))  # another function's entry stays


# The module both processes of the fresh-process repro import: two functions
# sharing one store, one of them in a namespace.
_JOBS = """
import os, memokey

STORE = os.environ["JOBS_STORE"]

@memokey.memoize(store=STORE, version=1)
def square(x: int) -> int:
    return x * x

@memokey.memoize(store=STORE, version=1, namespace="sim")
def cube(x: int) -> int:
    return x * x * x
"""


def _jobs(tmp_path: Path, url: str, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "jobs.py").write_text(_JOBS)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    result = _python("import jobs\n" + code, JOBS_STORE=url, PYTHONPATH=path)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("kind", ["disk", "redis", "tiered"])
def test_issue_repro_cache_clear_in_a_fresh_process(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The repro: cache_clear() in a process that computed nothing deleted nothing."""
    url = {
        "disk": f"disk://{tmp_path / 'store'}",
        "redis": request.getfixturevalue("redis_url") if kind == "redis" else "",
        "tiered": f"tiered:memory://|disk://{tmp_path / 'tiered'}",
    }[kind]
    keys = _jobs(
        tmp_path, url,
        "for x in range(4): jobs.square(x); jobs.cube(x)\n"
        "print(' '.join(jobs.square.key(x) for x in range(4)))\n"
        "print(' '.join(jobs.cube.key(x) for x in range(4)))",
    ).stdout.split("\n")
    square_keys, cube_keys = keys[0].split(), keys[1].split()
    store = memokey.open_store(url)
    assert all(store.contains(k) for k in square_keys + cube_keys)

    _jobs(tmp_path, url, "jobs.square.cache_clear()")  # a fresh process: never saw a key
    assert not any(store.contains(k) for k in square_keys)
    assert all(store.contains(k) for k in cube_keys)  # the other function's stay

    _jobs(tmp_path, url, "jobs.cube.cache_clear()")  # namespaced: its own label
    assert store.entries() == []


def test_cache_clear_keeps_same_name_in_another_namespace(store_url: str) -> None:
    store = memokey.open_store(store_url)
    plain, _ = _counted(store, name="same", version=1)
    spaced, _ = _counted(store, name="same", version=1, namespace="ns")
    plain(1), plain(2), spaced(1)
    assert plain.cache_parameters()["label"] == "same"
    assert spaced.cache_parameters()["label"] == "ns\x1fsame"
    spaced.cache_clear()
    assert not store.contains(spaced.key(1))
    assert store.contains(plain.key(1)) and store.contains(plain.key(2))


def test_cache_clear_covers_every_version_and_long_names(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    long_name = "pkg." * 100 + "module:fn"
    old, _ = _counted(store, name=long_name, version=1)
    new, _ = _counted(store, name=long_name, version=2)
    old(1), new(1)
    label = new.cache_parameters()["label"]
    assert label == memokey.function_label(None, long_name)
    assert len(label.encode()) <= 255 and label.startswith("pkg.pkg.")
    assert {e[4] for e in store.entries(labels=True)} == {label}
    new.cache_clear()
    assert store.entries() == []


def test_store_entries_labels(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    f, _ = _counted(store, name="labelled", namespace="ns")
    f(3)
    store.put("v1", memokey.seal_envelope("v1", memokey.CODEC_RAW, b"x"))  # no label: version 1
    store.put("raw", b"not an envelope")
    labels = {key: label for key, _, _, _, label in store.entries(labels=True)}
    assert labels == {f.key(3): "ns\x1flabelled", "v1": None, "raw": None}
    assert all(len(e) == 4 for e in store.entries())  # labels=False: as before


def test_envelope_label_round_trip() -> None:
    sealed = memokey.seal_envelope("k", memokey.CODEC_RAW, b"payload", label="ns\x1fmod:f")
    assert sealed[4] == 2  # envelope version 2
    assert memokey.envelope_label(sealed) == "ns\x1fmod:f"
    assert memokey.open_envelope("k", sealed) == (memokey.CODEC_RAW, b"payload")
    plain = memokey.seal_envelope("k", memokey.CODEC_RAW, b"payload")
    assert plain[4] == 1 and memokey.envelope_label(plain) == ""
    assert memokey.envelope_label(b"no envelope") is None
    with pytest.raises(ValueError, match="exceeds the limit of 255"):
        memokey.seal_envelope("k", memokey.CODEC_RAW, b"p", label="x" * 256)
    # The label is under the MAC: another label in the same bytes is rejected.
    forged = sealed.replace(b"mod:f", b"mod:g")
    assert memokey.envelope_label(forged) == "ns\x1fmod:g"  # the peek does not check
    with pytest.raises(ValueError, match="MAC mismatch"):
        memokey.open_envelope("k", forged)


def test_cache_clear_of_a_tiered_store_finds_entries_in_the_slow_tier(tmp_path: Path) -> None:
    disk = f"disk://{tmp_path / 'a'}"
    f, _ = _counted(f"tiered:memory://|{disk}", name="t", version=1)
    f(1)
    g, _ = _counted(disk, name="t", version=1)
    g(2)  # written to the disk tier only, by another instance: only the label finds it
    f.cache_clear()
    assert memokey.open_store(disk).entries() == []


def test_cache_clear_failures_follow_the_failure_policy(
    dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    f, _ = _counted(dead_redis_url, name="dead", version=1)
    assert f(2) == 4  # the store is down: computed, counted
    before = f.cache_info().errors
    with caplog.at_level(logging.WARNING, logger="memokey"):
        f.cache_clear()  # not raised
        f.cache_clear()
    assert f.cache_info().errors > before
    assert sum("failed on store" in r.getMessage() for r in caplog.records) <= 1  # logged once
    strict, _ = _counted(dead_redis_url + "&strict=1", name="dead", version=1)
    with pytest.raises(OSError):
        strict.cache_clear()


def test_cache_clear_shows_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    store = memokey.open_store("memory://")
    f, _ = _counted(store, name="many", version=1, memory=0)
    for x in range(300):
        f(x)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    f.cache_clear()
    monkeypatch.undo()
    assert store.entries() == []
    assert "clearing many: 256 entries..." in terminal.text
    assert terminal.text.endswith("\r\033[K")  # the line is wiped at the end


# --- stores: one key form, clear, entries, prune -------------------------------------------


def test_store_keys_are_str_only(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    store.put("abc", b"v")
    for method, args in [
        (store.get, (b"abc",)),
        (store.contains, (b"abc",)),
        (store.delete, (b"abc",)),
        (store.put, (b"abc", b"v")),
        (store.get_with_ttl, (b"abc",)),
        (store.get_many, ([b"abc"],)),
        (store.lease, (b"abc",)),
        (store.__contains__, (b"abc",)),
    ]:
        with pytest.raises(TypeError, match="store keys are str"):
            method(*args)
    # The repro: the 16-byte digest of a key is refused, not silently absent.
    f, _ = _counted(store)
    f(1)
    digest = bytes.fromhex(f.key(1))
    with pytest.raises(TypeError, match=r"digest\.hex\(\)"):
        store.contains(digest)
    assert store.contains(digest.hex())
    with pytest.raises(TypeError, match="store keys are str, not int"):
        store.get(1)  # type: ignore[arg-type]
    assert store.get("abc") == b"v"


def test_store_clear_entries_prune(store_url: str) -> None:
    store = memokey.open_store(store_url)
    store.clear()
    store.put("a", b"1")
    store.put("bb", b"x" * 100, ttl=3600)
    entries = {key: (size, ttl) for key, size, ttl, _ in store.entries()}
    assert set(entries) == {"a", "bb"}
    assert entries["a"] == (1, None)
    assert entries["bb"][0] == 100 and 0 < entries["bb"][1] <= 3600
    result = store.prune(max_bytes=50)
    assert result["expired"] == 0 and result["evicted"] >= 1
    assert result["bytes_left"] <= 50
    assert len(store.entries()) == result["entries_left"]
    for i in range(300):
        store.put(f"k{i}", b"v")
    seen: list[int] = []
    removed = store.clear(progress=lambda done: seen.append(done))
    assert removed >= 300 and store.entries() == []
    assert store.get("k1") is None
    assert seen and seen == sorted(seen)  # reported between batches, increasing


def test_store_prune_removes_expired_entries(tmp_path: Path) -> None:
    store = memokey.open_store(f"disk://{tmp_path / 'store'}")
    store.put("short", b"v", ttl=0.01)
    store.put("long", b"v", ttl=3600)
    time.sleep(0.05)
    assert any(key == "short" and ttl <= 0 for key, _, ttl, _ in store.entries())
    result = store.prune()
    assert result == {"expired": 1, "evicted": 0, "entries_left": 1, "bytes_left": 5}
    assert [e[0] for e in store.entries()] == ["long"]


def test_store_clear_progress_can_stop_and_errors_propagate() -> None:
    store = memokey.open_store("memory://")
    for i in range(1000):
        store.put(f"k{i}", b"v")
    removed = store.clear(progress=lambda done: False)
    assert 0 < removed < 1000 and len(store.entries()) == 1000 - removed

    def boom(done: int) -> bool:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        store.clear(progress=boom)


def test_redis_clear_leaves_other_prefixes(redis_url: str) -> None:
    store = memokey.open_store(redis_url)
    other = memokey.open_store(redis_url.replace("?prefix=", "?prefix=other-"))
    other.put("keep", b"v")
    store.put("go", b"v")
    assert store.clear() == 1
    assert other.get("keep") == b"v"


def test_stores_that_cannot_list_raise_value_error() -> None:
    store = memokey.open_store("http://127.0.0.1:1/ns?connect_timeout_ms=50")
    with pytest.raises(ValueError, match="cannot list"):
        store.entries()
    with pytest.raises(ValueError, match="cannot list"):
        store.clear()
    with pytest.raises(ValueError, match="cannot list"):
        store.prune()


# --- environment -------------------------------------------------------------------------


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("MEMOKEY_STORE", "MEMOKEY_CACHE_DIR")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


def test_memokey_cache_dir_and_memokey_store_precedence(tmp_path: Path) -> None:
    show = "import memokey; print(memokey.default_store().describe())"
    xdg = _python(show, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert xdg.returncode == 0, xdg.stderr
    assert xdg.stdout.startswith(f"disk://{tmp_path / 'xdg' / 'memokey'}?")
    own = _python(show, XDG_CACHE_HOME=str(tmp_path / "xdg"), MEMOKEY_CACHE_DIR=str(tmp_path / "own"))
    assert own.stdout.startswith(f"disk://{tmp_path / 'own'}?"), own.stderr
    assert (tmp_path / "own" / "store.db").exists()
    url = _python(show, MEMOKEY_CACHE_DIR=str(tmp_path / "own"), MEMOKEY_STORE="memory://?max_bytes=1M")
    assert url.stdout.startswith("memory://?max_bytes=1048576"), url.stderr
    chosen = _python(
        "import memokey; memokey.set_default_store('memory://?max_bytes=2M'); "
        "print(memokey.default_store().describe())",
        MEMOKEY_STORE="memory://?max_bytes=1M",
    )
    assert chosen.stdout.startswith("memory://?max_bytes=2097152"), chosen.stderr


def test_memoize_uses_memokey_cache_dir(tmp_path: Path) -> None:
    code = (
        "import memokey\n"
        "@memokey.memoize\n"
        "def f(x): return x + 1\n"
        "f(1)\n"
        "print(f.key(1))\n"
    )
    run = _python(code, MEMOKEY_CACHE_DIR=str(tmp_path / "own"))
    assert run.returncode == 0, run.stderr
    store = memokey.open_store(f"disk://{tmp_path / 'own'}")
    assert store.contains(run.stdout.strip())


def test_bad_environment_leaves_memory_only_with_a_warning(tmp_path: Path) -> None:
    code = (
        "import memokey\n"
        "try:\n"
        "    memokey.default_store()\n"
        "except OSError as e:\n"
        "    print('OSError', e)\n"
        "@memokey.memoize\n"
        "def f(x): return x + 1\n"
        "print(f(1), f(1), f.cache_info().errors)\n"
    )
    relative = _python(code, MEMOKEY_CACHE_DIR="relative/dir")
    assert relative.returncode == 0, relative.stderr
    assert "OSError" in relative.stdout and "MEMOKEY_CACHE_DIR is not an absolute path" in relative.stdout
    assert "2 2 1" in relative.stdout
    assert "cannot be opened" in relative.stderr  # the logged warning
    bad = _python(code, MEMOKEY_STORE="nonsense://x")
    assert bad.returncode == 0, bad.stderr
    assert "$MEMOKEY_STORE is not a store URL" in bad.stdout
    assert "2 2 1" in bad.stdout


# --- logging and verbose ---------------------------------------------------------------------


def test_debug_logging_of_misses_stores_and_store_hits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"disk://{tmp_path / 'store'}"
    f, _ = _counted(memokey.open_store(url), name="logged", version=1)
    with caplog.at_level(logging.DEBUG, logger="memokey"):
        f(3)
    computed = [r.getMessage() for r in caplog.records if "computed" in r.getMessage()]
    assert len(computed) == 1 and f.key(3) in computed[0] and "stored in disk://" in computed[0]
    caplog.clear()
    g, _ = _counted(memokey.open_store(url), name="logged", version=1)
    with caplog.at_level(logging.DEBUG, logger="memokey"):
        g(3)
    hits = [r.getMessage() for r in caplog.records if ": hit in disk://" in r.getMessage()]
    assert len(hits) == 1 and g.key(3) in hits[0]


def test_no_log_records_when_debug_is_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f, _ = _counted(memokey.open_store(f"disk://{tmp_path / 'store'}"))
    with caplog.at_level(logging.INFO, logger="memokey"):
        f(1), f(1), f(2)
    assert [r for r in caplog.records if r.name == "memokey"] == []


def test_verbose_levels(capsys: pytest.CaptureFixture[str]) -> None:
    quiet, _ = _counted(False)
    quiet(1), quiet(1)
    assert capsys.readouterr().err == ""
    one, _ = _counted(False, verbose=1)
    one(1), one(1), one(2)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all("miss, computed in" in line for line in lines)
    assert one.key(1)[:16] in lines[0] and one.key(2)[:16] in lines[1]
    two, _ = _counted(False, verbose=2)
    two(1), two(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "miss" in lines[0] and "hit in" in lines[1]
    assert two.cache_info().hits == 1 and two.cache_delete(1) is True  # the methods are kept
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
        memokey.memoize(verbose=3)(lambda: None)


def test_verbose_async(capsys: pytest.CaptureFixture[str]) -> None:
    @memokey.memoize(store=False, verbose=2)
    async def double(x: int) -> int:
        return 2 * x

    async def run() -> None:
        assert await double(1) == 2
        assert await double(1) == 2

    asyncio.run(run())
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "miss" in lines[0] and "hit in" in lines[1]
