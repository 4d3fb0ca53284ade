"""Turborepo (npm `turbo`, pinned by scripts/setup) uses memokeyd as its
remote cache through the API turbo's client calls:

    TURBO_API=http://HOST TURBO_TOKEN=TOKEN TURBO_TEAM=web turbo run build

    GET  /v8/artifacts/status?slug=web
    GET  /v8/artifacts/{hash}?slug=web           (HEAD too)
    PUT  /v8/artifacts/{hash}?slug=web           x-artifact-duration, x-artifact-tag
    POST /v8/artifacts/events?slug=web

The team (teamId, else slug) is the namespace. The workspace
(tests/integration/buildtools/turbo: lib, and app built from lib's output)
signs its artifacts (remoteCache.signature): turbo sends the HMAC as
x-artifact-tag and checks it on download, so a hit proves the tag came back
intact. First run: remote cache only, read-write; second run from an empty
local cache, remote read-only: FULL TURBO, identical outputs. A third run with
another signing key must not trust those artifacts."""

from __future__ import annotations

import re
import shutil

import pytest

from buildclients import clean_env, digest_tree, npm_bin, require, run, workspace
from mkd import Memokeyd, curl, metric

WRITER = "turbo-ci-token-5"
READER = "turbo-dev-token-9"
SIGNING_KEY = "memokeyd-test-signing-key-0123456789"  # >= 32 bytes, as turbo wants
CONFIG = f"""
[namespaces.web]
anonymous = "none"

[[tokens]]
name = "ci"
token = "{WRITER}"
access = "read-write"
namespaces = ["web"]

[[tokens]]
name = "dev"
token = "{READER}"
access = "read"
namespaces = ["web"]
"""


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


def turbo(ws, server, token: str, cache: str, cache_dir, key: str = SIGNING_KEY) -> str:
    binary = require(npm_bin("turbo"), "turbo (npm, build/npm)")
    env = clean_env(TURBO_API=server.url, TURBO_TOKEN=token, TURBO_TEAM="web",
                    TURBO_REMOTE_CACHE_SIGNATURE_KEY=key, TURBO_TELEMETRY_DISABLED="1",
                    DO_NOT_TRACK="1", TURBO_NO_UPDATE_NOTIFIER="1", TURBO_PRINT_VERSION_DISABLED="1")
    return run([binary, "run", "build", f"--cache={cache}", f"--cache-dir={cache_dir}"], ws, env)


def outputs(ws):
    return {**digest_tree(ws / "packages/lib/dist"), **digest_tree(ws / "packages/app/dist")}


def wipe(ws):
    for d in ("packages/lib/dist", "packages/app/dist", "packages/lib/.turbo", "packages/app/.turbo",
              ".turbo"):
        shutil.rmtree(ws / d, ignore_errors=True)


def test_second_run_is_full_turbo(server, tmp_path):
    ws = workspace("turbo", tmp_path)

    first = turbo(ws, server, WRITER, "remote:rw", tmp_path / "cache1")
    assert "Cached:    0 cached, 2 total" in first, first
    built = outputs(ws)
    assert len(built) == 2
    assert metric(server, "memokeyd_puts_total") == 2

    wipe(ws)
    second = turbo(ws, server, READER, "remote:r", tmp_path / "cache2")
    assert "Cached:    2 cached, 2 total" in second, second
    assert "FULL TURBO" in second, second
    assert outputs(ws) == built

    # Another signing key: turbo must reject the artifacts (their tag does
    # not verify) and rebuild — so the hits above really checked the tag.
    wipe(ws)
    third = turbo(ws, server, READER, "remote:r", tmp_path / "cache3",
                  key="another-signing-key-of-32-bytes-or-more")
    assert "FULL TURBO" not in third, third
    assert outputs(ws) == built


def test_api_details(server):
    """What turbo's client relies on, checked directly."""
    bearer = lambda t: ["-H", f"Authorization: Bearer {t}"]  # noqa: E731
    art = f"{server.url}/v8/artifacts/0123abcd0123abcd"
    body = b"\x28\xb5\x2f\xfd artifact bytes"

    r = curl(f"{server.url}/v8/artifacts/status?slug=web", *bearer(READER))
    assert (r.status, r.body) == (200, b'{"status":"enabled"}')

    # Metadata goes in with the artifact and comes back with it, on GET and HEAD.
    r = curl(art + "?teamId=web", "-X", "PUT", *bearer(WRITER), "-H", "x-artifact-duration: 1234",
             "-H", "x-artifact-tag: c2lnbmF0dXJl", "-H", "Content-Type: application/octet-stream",
             data=body)
    assert r.status == 202, r
    r = curl(art + "?slug=web", *bearer(READER))
    assert (r.status, r.body) == (200, body)
    assert r.headers["x-artifact-duration"] == "1234"
    assert r.headers["x-artifact-tag"] == "c2lnbmF0dXJl"
    r = curl(art + "?slug=web", "-I", *bearer(READER))
    assert r.status == 200 and r.headers["x-artifact-duration"] == "1234", r

    # teamId wins over slug; an unknown team is another namespace.
    assert curl(art + "?teamId=web&slug=other", *bearer(READER)).status == 200
    assert curl(art + "?slug=other", *bearer(READER)).status == 403

    # A read-only token cannot upload: 403 with turbo's JSON error.
    r = curl(art + "?slug=web", "-X", "PUT", *bearer(READER), data=body)
    assert r.status == 403 and b'"code":"forbidden"' in r.body, r
    # No token: 401.
    assert curl(art + "?slug=web").status == 401
    # No team: 400.
    assert curl(art, *bearer(READER)).status == 400

    r = curl(f"{server.url}/v8/artifacts/events?slug=web", "-X", "POST", *bearer(READER),
             "-H", "Content-Type: application/json",
             data=b'[{"sessionId":"s","source":"REMOTE","event":"HIT","hash":"0123abcd0123abcd","duration":5}]')
    assert r.status == 200, r

    # A bad duration is refused rather than stored.
    r = curl(art + "?slug=web", "-X", "PUT", *bearer(WRITER), "-H", "x-artifact-duration: soon",
             data=body)
    assert r.status == 400, r
    # The artifact lives in namespace web under turbo/: the plain route sees
    # its stored form, which is not what turbo uploaded.
    r = curl(f"{server.url}/web/turbo/0123abcd0123abcd", *bearer(READER))
    assert r.status == 200 and r.body.endswith(body) and r.body != body
    assert re.match(rb"^MKTURBO1", r.body)
