"""`memokey cache info|ls|clear|prune` end to end: `python -m memokey` in a subprocess,
against a disk store and a Redis store (issue 14, item 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import memokey
from memokey import cli


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("MEMOKEY_STORE", "MEMOKEY_CACHE_DIR")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "memokey", *args], env=full, capture_output=True, text=True, timeout=120
    )


def _fill(url: str) -> Any:
    @memokey.memoize(store=url, name="cli-test", version=1)
    def square(x: int) -> int:
        return x * x

    for x in range(5):
        square(x)
    return square


@pytest.fixture(params=["disk", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "disk":
        return f"disk://{tmp_path / 'store'}"
    return request.getfixturevalue("redis_url")


def test_info_ls_clear_prune(url: str) -> None:
    square = _fill(url)
    store = memokey.open_store(url)

    info = run("cache", "info", "--store", url)
    assert info.returncode == 0, info.stderr
    assert "entries:" in info.stdout and "hits/misses: counted per process" in info.stdout
    data = json.loads(run("cache", "info", "--store", url, "--json").stdout)
    assert data["store"] == store.describe()
    assert (data["entries"], data["expired_not_removed"]) == (5, 0)
    store.put("short", b"soon gone", ttl=0.01)
    time.sleep(0.05)  # "short" expires: listed (disk) until pruned, or gone (Redis)
    sizes = {key: size for key, size, _, _ in store.entries()}
    assert data["value_bytes"] >= sum(sizes[square.key(x)] for x in range(5))

    listed = json.loads(run("cache", "ls", "--store", url, "--json").stdout)
    keys = {e["key"] for e in listed}
    assert {square.key(x) for x in range(5)} <= keys
    assert all(e["value_bytes"] == sizes[e["key"]] for e in listed if e["key"] in sizes)
    table = run("cache", "ls", "--store", url, "--sort", "size", "--limit", "2")
    assert table.returncode == 0 and table.stdout.startswith("KEY")
    assert len(table.stdout.splitlines()) == 3

    one = run("cache", "clear", "--store", url, "--key", square.key(0))
    assert one.returncode == 0 and "deleted 1 of 1" in one.stdout, one.stderr
    assert not store.contains(square.key(0)) and store.contains(square.key(1))

    pruned = run("cache", "prune", "--store", url)
    assert pruned.returncode == 0, pruned.stderr
    assert "short" not in {e[0] for e in store.entries()}
    assert len(store.entries()) == 4

    entry_bytes = len(square.key(1)) + sizes[square.key(1)]
    down = run("cache", "prune", "--store", url, "--max-bytes", str(2 * entry_bytes))
    assert down.returncode == 0 and "2 least recently used" in down.stdout, down.stdout + down.stderr
    assert len(store.entries()) == 2

    cleared = run("cache", "clear", "--store", url)
    assert cleared.returncode == 0 and "removed 2 entries" in cleared.stdout, cleared.stderr
    assert store.entries() == []
    assert "[" not in cleared.stderr  # no progress output: stderr is not a terminal


def test_per_function_info_ls_and_clear(url: str) -> None:
    """Entries, bytes and clear per function (the label in each value's envelope),
    whichever process wrote them -- this test's, not the subprocess running the command."""
    square = _fill(url)

    @memokey.memoize(store=url, name="cube", version=1, namespace="sim")
    def cube(x: int) -> int:
        return x * x * x

    for x in range(3):
        cube(x)
    store = memokey.open_store(url)
    store.put("raw", b"bytes no function wrote")
    sizes = {key: size for key, size, _, _ in store.entries()}

    info = json.loads(run("cache", "info", "--store", url, "--json").stdout)
    groups = {g["function"]: g for g in info["per_function"]}
    assert set(groups) == {"cli-test", "sim/cube", "(unlabelled)"}
    assert groups["cli-test"]["entries"] == 5
    assert groups["cli-test"]["bytes"] == sum(len(square.key(x)) + sizes[square.key(x)] for x in range(5))
    assert (groups["sim/cube"]["namespace"], groups["sim/cube"]["name"]) == ("sim", "cube")
    assert groups["sim/cube"]["label"] == memokey.function_label("sim", "cube") == "sim\x1fcube"
    assert groups["sim/cube"]["entries"] == 3
    assert (groups["(unlabelled)"]["label"], groups["(unlabelled)"]["entries"]) == (None, 1)
    text = run("cache", "info", "--store", url).stdout
    assert "sim/cube" in text and "cli-test" in text

    listed = json.loads(run("cache", "ls", "--store", url, "--json").stdout)
    functions = {e["key"]: e["function"] for e in listed}
    assert functions[square.key(1)] == "cli-test" and functions[cube.key(1)] == "sim/cube"
    assert functions["raw"] == "(unlabelled)"
    only = json.loads(run("cache", "ls", "--store", url, "--json", "--namespace", "sim").stdout)
    assert sorted(e["key"] for e in only) == sorted(cube.key(x) for x in range(3))
    table = run("cache", "ls", "--store", url).stdout
    assert table.splitlines()[0].endswith("FUNCTION") and "sim/cube" in table

    one = run("cache", "clear", "--store", url, "--function", "cli-test")
    assert one.returncode == 0, one.stderr
    assert "removed 5 entries of function cli-test" in one.stdout
    assert not any(store.contains(square.key(x)) for x in range(5))
    assert all(store.contains(cube.key(x)) for x in range(3)) and store.contains("raw")

    other_ns = run("cache", "clear", "--store", url, "--function", "cube", "--namespace", "other")
    assert "removed 0 entries" in other_ns.stdout
    spaced = run("cache", "clear", "--store", url, "--namespace", "sim")
    assert spaced.returncode == 0 and "removed 3 entries in namespace sim" in spaced.stdout
    assert [e[0] for e in store.entries()] == ["raw"]


def test_redis_clear_leaves_other_prefixes_alone(redis_url: str) -> None:
    _fill(redis_url)
    other = memokey.open_store(redis_url.replace("?prefix=", "?prefix=other-"))
    other.put("keep", b"v")
    assert run("cache", "clear", "--store", redis_url).returncode == 0
    assert other.get("keep") == b"v"
    assert memokey.open_store(redis_url).entries() == []


def test_default_store_from_the_environment(tmp_path: Path) -> None:
    memokey.open_store(f"disk://{tmp_path / 'dir'}").put("k", b"v")
    by_dir = run("cache", "ls", "--json", env={"MEMOKEY_CACHE_DIR": str(tmp_path / "dir")})
    assert by_dir.returncode == 0, by_dir.stderr
    assert [e["key"] for e in json.loads(by_dir.stdout)] == ["k"]
    by_url = run(
        "cache", "info", "--json",
        env={"MEMOKEY_CACHE_DIR": str(tmp_path / "dir"), "MEMOKEY_STORE": "memory://"},
    )
    assert json.loads(by_url.stdout)["store"].startswith("memory://")


@pytest.mark.parametrize(
    "args, message",
    [
        (("cache",), "required"),
        (("cache", "frobnicate"), "invalid choice"),
        (("cache", "ls", "--store", "nonsense://x"), "memokey cache ls: error:"),
        (("cache", "prune", "--store", "memory://", "--max-bytes", "12Q"), "not a size"),
        (("cache", "ls", "--store", "http://127.0.0.1:1/ns"), "cannot list"),
        (("cache", "clear", "--store", "http://127.0.0.1:1/ns"), "cannot list"),
        (("cache", "clear", "--store", "http://127.0.0.1:1/ns", "--function", "f"), "cannot list"),
        (("cache", "clear", "--store", "memory://", "--key", "k", "--function", "f"),
         "do not go together"),
    ],
)
def test_bad_usage_exits_2_with_a_message(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2, result
    assert message in result.stderr


def test_a_store_that_cannot_be_opened_exits_1(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("cache", "info", "--store", f"disk://{blocker}/sub")
    assert result.returncode == 1
    assert "memokey cache info:" in result.stderr


def test_console_script_entry_point() -> None:
    (script,) = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "memokey"]
    assert script.value == "memokey.cli:main"
    assert script.load() is cli.main


@pytest.mark.parametrize(
    "text, expected",
    [("123", 123), ("64K", 64 << 10), ("1.5G", 3 << 29), ("500MiB", 500 << 20), ("500MB", 500_000_000)],
)
def test_sizes(text: str, expected: int) -> None:
    assert cli.parse_size(text) == expected


def test_progress_on_a_terminal(tmp_path: Path) -> None:
    """Progress lines appear when stderr is a terminal (a pty here)."""
    pty = pytest.importorskip("pty")
    url = f"disk://{tmp_path / 'store'}"
    store = memokey.open_store(url)
    for i in range(2500):
        store.put(f"k{i}", b"v")
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "memokey", "cache", "clear", "--store", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, timeout=120,
            text=True,
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0 and "removed 2500 entries" in proc.stdout
    assert b"clearing: 1000 entries..." in shown
