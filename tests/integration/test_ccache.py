"""Debian's ccache, unchanged, uses memokeyd as its HTTP remote storage.

A CI-like first build writes with a token in the URL (ccache sends it as HTTP
Basic); then the local cache is wiped and a developer-like second build, with
no credentials (the namespace allows anonymous read), gets every object from
memokeyd — byte-identical — for each of ccache's URL layouts."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from mkd import Memokeyd, metric

CCACHE = os.environ.get("CCACHE") or shutil.which("ccache")
CC = os.environ.get("CC_FOR_CCACHE_TEST") or shutil.which("gcc") or shutil.which("cc")
TOKEN = "ci-writer-token-42"
SOURCES = 10

pytestmark = pytest.mark.skipif(not CCACHE or not CC, reason="ccache or a C compiler is missing")


@pytest.fixture(scope="module")
def server():
    config = f"""
[namespaces.ccache]
anonymous = "read"

[[tokens]]
name = "ci"
token = "{TOKEN}"
access = "read-write"
namespaces = ["ccache"]
"""
    with Memokeyd(config=config) as s:
        yield s


def make_project(root: Path) -> list[Path]:
    """~10 C files sharing a header, with enough code to be worth caching. A
    random symbol makes each project's objects new to the shared server."""
    root.mkdir(parents=True)
    salt = uuid.uuid4().hex
    (root / "common.h").write_text("#pragma once\n#include <stddef.h>\nint helper(int x);\n#define SCALE 3\n")
    files = []
    for i in range(SOURCES):
        src = root / f"unit{i}.c"
        body = "\n".join(
            f"static int f{i}_{j}(int x) {{ int s = 0; for (int k = 0; k < x; ++k) s += k * {j} + SCALE; return s; }}"
            for j in range(20))
        calls = " + ".join(f"f{i}_{j}(n)" for j in range(20))
        src.write_text(f'#include "common.h"\n{body}\nint unit{i}(int n) {{ return {calls}; }}\n'
                       f"int salt_{salt}_{i}(void) {{ return {i}; }}\n")
        files.append(src)
    return files


def ccache_env(tmp: Path, remote: str) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "ccache.conf"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCACHE_")}
    env.update({
        "CCACHE_DIR": str(tmp / "cache"),
        "CCACHE_CONFIGPATH": str(config),
        "CCACHE_REMOTE_STORAGE": remote,
        "CCACHE_NOREMOTE_ONLY": "1",  # remote_only = false: the local cache is used too
        "CCACHE_LOGFILE": str(tmp / "ccache.log"),
    })
    return env


def build(files: list[Path], env: dict):
    for src in files:
        subprocess.run([CCACHE, CC, "-O2", "-c", src.name, "-o", src.with_suffix(".o").name],
                       cwd=src.parent, env=env, check=True)


def stats(env: dict) -> dict:
    out = subprocess.run([CCACHE, "--print-stats"], env=env, check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)}


@pytest.mark.parametrize("layout", [None, "subdirs", "flat", "bazel"])
def test_second_build_is_all_remote_hits(server, tmp_path, layout):
    base = f"{server.host}:{server.port}/ccache"
    suffix = f"|layout={layout}" if layout else ""
    files = make_project(tmp_path / "src")

    # 1. CI build: writes through memokeyd with its token (Basic auth from the URL).
    ci = ccache_env(tmp_path / "ci", f"http://ci:{TOKEN}@{base}{suffix}")
    puts_before = metric(server, "memokeyd_puts_total")
    build(files, ci)
    first = stats(ci)
    assert first["cache_miss"] == SOURCES, first
    assert first["remote_storage_error"] == 0, (tmp_path / "ci" / "ccache.log").read_text()[-3000:]
    assert first["remote_storage_write"] >= SOURCES
    assert metric(server, "memokeyd_puts_total") >= puts_before + SOURCES
    objects = {f.name: f.with_suffix(".o").read_bytes() for f in files}

    # 2. Wipe the local cache and the objects; rebuild with no credentials at all.
    for f in files:
        f.with_suffix(".o").unlink()
    dev = ccache_env(tmp_path / "dev", f"http://{base}{suffix}")
    build(files, dev)
    second = stats(dev)
    assert second["remote_storage_hit"] == SOURCES, second
    assert second["cache_miss"] == 0 and second["local_storage_hit"] == 0, second
    assert second["remote_storage_error"] == 0
    for f in files:
        assert f.with_suffix(".o").read_bytes() == objects[f.name], f"{f.name} differs"


def test_reading_without_write_rights_does_not_break_the_build(server, tmp_path):
    """A build with no credentials on a cold cache: misses, refused writes (401),
    and still a correct build."""
    files = make_project(tmp_path / "src")
    env = ccache_env(tmp_path, f"http://{server.host}:{server.port}/ccache|layout=flat")
    build(files, env)
    s = stats(env)
    assert s["cache_miss"] == SOURCES
    for f in files:
        assert f.with_suffix(".o").exists()
