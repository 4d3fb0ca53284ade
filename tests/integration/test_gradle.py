"""Debian's Gradle (4.4) uses memokeyd as its HTTP build cache.

tests/integration/buildtools/gradle is a two-project Java build (app depends
on lib) whose settings.gradle points the remote build cache at memokeyd with
`credentials { username; password }` (Gradle sends HTTP Basic; the password
is the token) and turns the local build cache off. A CI-like build pushes;
then, from a fresh GRADLE_USER_HOME and after `clean`, a second build must
take every cacheable task (both compileJava) FROM-CACHE, with byte-identical
classes.

Gradle 4.4.1's uploads carry no `Expect: 100-continue` (seen on the wire: a
preemptive Basic Authorization, Content-Length, no Expect); newer Gradle sends
it with `useExpectContinue = true`, so that exchange is checked here directly.

No --offline: Gradle 4.4 turns the remote cache off with it. The build has no
external dependencies, so nothing is fetched; no daemon is left running."""

from __future__ import annotations

import base64
import re
import shutil
import socket

import pytest

from buildclients import clean_env, digest_tree, require, run, workspace
from mkd import Memokeyd, metric, raw_exchange

TOKEN = "gradle-ci-token-3"
CONFIG = f"""
[namespaces.gradle]
anonymous = "read"

[[tokens]]
name = "ci"
token = "{TOKEN}"
access = "read-write"
namespaces = ["gradle"]
"""
CACHEABLE = [":lib:compileJava", ":app:compileJava"]


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


def gradle(ws, home, url: str, *props: str) -> str:
    binary = require(shutil.which("gradle"), "gradle (Debian gradle)")
    cmd = [binary, "--no-daemon", "--build-cache", "--console=plain",
           f"-Dmemokeyd.url={url}", *props, "clean", "compileJava"]
    return run(cmd, ws, clean_env(GRADLE_USER_HOME=str(home)), timeout=600)


def classes(ws):
    return {**digest_tree(ws / "lib/build/classes"), **digest_tree(ws / "app/build/classes")}


def test_second_build_is_from_cache(server, tmp_path):
    ws = workspace("gradle", tmp_path)
    url = f"http://{server.addr}/gradle/"

    first = gradle(ws, tmp_path / "home-ci", url, "-Dmemokeyd.push=true",
                   "-Dmemokeyd.user=ci", f"-Dmemokeyd.token={TOKEN}")
    assert "FROM-CACHE" not in first, first
    assert "remote build cache was disabled" not in first, first
    built = classes(ws)
    assert len(built) == 2, built
    assert metric(server, "memokeyd_puts_total") == len(CACHEABLE)

    # Another machine: a fresh Gradle home, reading with the same token
    # (anonymous read would do too), pushing nothing.
    second = gradle(ws, tmp_path / "home-dev", url, "-Dmemokeyd.user=dev",
                    f"-Dmemokeyd.token={TOKEN}")
    for task in CACHEABLE:
        assert re.search(rf"^{re.escape(task)} FROM-CACHE$", second, re.M), second
    assert "remote build cache was disabled" not in second, second
    assert classes(ws) == built
    assert metric(server, "memokeyd_cache_hits_total") >= len(CACHEABLE)



def test_expect_continue_as_newer_gradle_sends_it(server):
    """Newer Gradle (useExpectContinue): header first, body only after 100."""
    basic = base64.b64encode(f"ci:{TOKEN}".encode()).decode()
    head = (f"PUT /gradle/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Basic {basic}\r\nContent-Type: application/vnd.gradle.build-cache-artifact.v1\r\n"
            f"Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(head)
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        s.sendall(b"hello")
        final = b""
        while chunk := s.recv(4096):
            final += chunk
    assert final.startswith(b"HTTP/1.1 201"), final

    # Wrong credentials: refused before the body is sent (no 100 Continue).
    bad = head.replace(basic.encode(), base64.b64encode(b"ci:wrong"))
    reply = raw_exchange(server, bad)
    assert reply.startswith(b"HTTP/1.1 401"), reply
    assert b"100 Continue" not in reply
