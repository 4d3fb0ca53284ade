"""Nx (npm `nx`, pinned by scripts/setup) uses memokeyd as its self-hosted
remote cache: Nx 24 speaks the OpenAPI "custom remote cache" protocol itself
(no plugin, no license key), configured by two environment variables:

    NX_SELF_HOSTED_REMOTE_CACHE_SERVER=http://HOST/nx-web
    NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN=TOKEN

Nx appends /v1/cache/{hash} to the server URL, keeping its path, so the path
names the namespace (here nx-web; a bare http://HOST uses namespace "cache").
The API's rules: bearer token, 401 without a valid one, 403 when a read-only
token writes, 409 "cannot override an existing record" — memokeyd applies the
409 to every Nx key whatever the namespace's write_once.

The workspace (tests/integration/buildtools/nx: lib, and app built from
lib's output) is built once with a read-write token; then, with the local
cache and outputs wiped, a second run with a read-only token must read both
tasks from the remote cache, with identical outputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from buildclients import clean_env, digest_tree, npm_bin, require, run, workspace
from mkd import Memokeyd, curl, metric

WRITER = "nx-ci-token-1"
READER = "nx-dev-token-2"
CONFIG = f"""
[namespaces.nx-web]
anonymous = "none"

[[tokens]]
name = "ci"
token = "{WRITER}"
access = "read-write"
namespaces = ["nx-web"]

[[tokens]]
name = "dev"
token = "{READER}"
access = "read"
namespaces = ["nx-web"]
"""


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


def nx_workspace(tmp: Path) -> Path:
    """The fixture with node_modules/nx linked to scripts/setup's install
    (Nx loads itself from the workspace)."""
    binary = require(npm_bin("nx"), "nx (npm, build/npm)")
    ws = workspace("nx", tmp)
    (ws / "node_modules").mkdir()
    package = Path(os.path.realpath(binary)).parents[2]  # node_modules/nx/dist/bin/nx.js -> nx
    (ws / "node_modules/nx").symlink_to(package)
    return ws


def nx(ws: Path, server, token: str, cache_dir: Path) -> str:
    env = clean_env(NX_SELF_HOSTED_REMOTE_CACHE_SERVER=f"{server.url}/nx-web",
                    NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN=token,
                    NX_CACHE_DIRECTORY=str(cache_dir), NX_DAEMON="false", NX_NO_CLOUD="true",
                    NX_TUI="false")
    return run([require(npm_bin("nx"), "nx"), "run-many", "-t", "build", "--output-style=static"],
               ws, env)


def outputs(ws: Path) -> dict:
    return {**digest_tree(ws / "packages/lib/dist"), **digest_tree(ws / "packages/app/dist")}


def test_second_run_reads_the_remote_cache(server, tmp_path):
    ws = nx_workspace(tmp_path)

    first = nx(ws, server, WRITER, tmp_path / "cache1")
    assert "[remote cache]" not in first, first
    built = outputs(ws)
    assert len(built) == 2
    assert metric(server, "memokeyd_puts_total") == 2

    for d in ("packages/lib/dist", "packages/app/dist", ".nx"):
        shutil.rmtree(ws / d, ignore_errors=True)
    second = nx(ws, server, READER, tmp_path / "cache2")
    assert "nx run lib:build  [remote cache]" in second, second
    assert "nx run app:build  [remote cache]" in second, second
    assert "for 2 out of 2 tasks" in second, second
    assert outputs(ws) == built


def test_api_rules(server):
    url = f"{server.url}/nx-web/v1/cache/1234567890"
    bearer = lambda t: ["-H", f"Authorization: Bearer {t}"]  # noqa: E731

    assert curl(url, *bearer(READER)).status == 404
    r = curl(url, "-X", "PUT", *bearer(WRITER), data=b"tar bytes")
    assert r.status == 200, r
    r = curl(url, *bearer(READER))
    assert (r.status, r.body) == (200, b"tar bytes")
    # Never overwritten, not even by the writer.
    r = curl(url, "-X", "PUT", *bearer(WRITER), data=b"poisoned")
    assert r.status == 409 and b"cannot override an existing record" in r.body, r
    assert curl(url, *bearer(READER)).body == b"tar bytes"
    # A read-only token that writes: 403; no token or a wrong one: 401.
    assert curl(url + "1", "-X", "PUT", *bearer(READER), data=b"x").status == 403
    assert curl(url + "1", "-X", "PUT", data=b"x").status == 401
    assert curl(url + "1", "-X", "PUT", *bearer("nope"), data=b"x").status == 401
