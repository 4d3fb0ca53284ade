"""Debian's Bazel (bazel-bootstrap 4.2) uses memokeyd as its HTTP remote cache.

    bazel build --remote_cache=http://ci:TOKEN@HOST/bazel //:report

A genrule workspace (tests/integration/buildtools/bazel: Bazel 4.2's C++ and
Java rules would fetch toolchains from the internet) is built once with the
CI token in the URL (Bazel sends it as HTTP Basic); then `bazel clean
--expunge` drops every local output and a second build, reading with the
token as a bearer header (--remote_header), must take every action from
memokeyd ("N remote cache hit") and produce byte-identical outputs.

Bazel runs with --batch (no server left behind) and its output_user_root in
the test's temporary directory. Also here: the CAS check — a blob whose
SHA-256 is not its name is refused with 400, as bazel-remote refuses it."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from buildclients import clean_env, digest_tree, require, run, workspace
from mkd import Memokeyd, curl, metric

TOKEN = "bazel-ci-token-7"
CONFIG = f"""
[namespaces.bazel]
anonymous = "none"

[[tokens]]
name = "ci"
token = "{TOKEN}"
access = "read-write"
namespaces = ["bazel"]
"""
OUTPUTS = ["words.txt", "counts.txt", "upper.txt", "report.txt"]


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


def bazel(root: Path, ws: Path, *args: str) -> str:
    """One Bazel command in batch mode (no server survives it), with its
    output_user_root under the test's directory; of the rc files only
    Debian's /etc/bazel/bazelrc (it names the install base) is read."""
    binary = require(shutil.which("bazel"), "bazel (Debian bazel-bootstrap)")
    cmd = [binary, "--batch", "--nohome_rc", "--noworkspace_rc",
           f"--output_user_root={root}", *args]
    return run(cmd, ws, clean_env(HOME=str(root / "home")), timeout=600)


def test_second_build_is_all_remote_hits(server, tmp_path):
    ws = workspace("bazel", tmp_path)
    root = tmp_path / "bazel-root"
    (root / "home").mkdir(parents=True)
    common = ["--spawn_strategy=local", "--show_progress_rate_limit=60", "//:report"]

    # CI: writes, with the token as URL user info (Basic).
    first = bazel(root, ws, "build",
                  f"--remote_cache=http://ci:{TOKEN}@{server.addr}/bazel", *common)
    assert "remote cache hit" not in first, first
    built = {name: (ws / "bazel-bin" / name).read_bytes() for name in OUTPUTS}
    uploads = metric(server, "memokeyd_puts_total")
    assert uploads > 0

    bazel(root, ws, "clean", "--expunge")
    assert not (ws / "bazel-bin").exists()

    # A developer: reads with the token as a bearer header, uploads nothing.
    second = bazel(root, ws, "build", f"--remote_cache=http://{server.addr}/bazel",
                   f"--remote_header=Authorization=Bearer {TOKEN}",
                   "--noremote_upload_local_results", *common)
    processes = re.search(r"INFO: (\d+) processes?: (.*)\.", second)
    assert processes, second
    # e.g. "5 processes: 4 remote cache hit, 1 internal." — every action that
    # is not Bazel-internal came from memokeyd.
    parts = dict(reversed(p.strip().split(" ", 1)) for p in processes.group(2).split(","))
    hits = int(parts.pop("remote cache hit", 0))
    parts.pop("internal", None)
    assert hits == 4 and not parts, second
    assert {name: (ws / "bazel-bin" / name).read_bytes() for name in OUTPUTS} == built
    assert metric(server, "memokeyd_puts_total") == uploads  # the second build wrote nothing


def test_cas_upload_must_hash_to_its_name(server):
    good = b"a blob\n"
    good_name = hashlib.sha256(good).hexdigest()
    auth = ["-H", f"Authorization: Bearer {TOKEN}"]

    # A body that is not the blob its name says: refused, and not stored.
    r = curl(f"{server.url}/bazel/cas/{good_name}", "-X", "PUT", *auth, data=b"another blob\n")
    assert r.status == 400, r
    assert b"SHA-256" in r.body
    assert curl(f"{server.url}/bazel/cas/{good_name}", *auth).status == 404

    r = curl(f"{server.url}/bazel/cas/{good_name}", "-X", "PUT", *auth, data=good)
    assert r.status == 201, r
    r = curl(f"{server.url}/bazel/cas/{good_name}", *auth)
    assert (r.status, r.body) == (200, good)

    # The action cache is keyed by the action, not the content: not checked.
    r = curl(f"{server.url}/bazel/ac/{good_name}", "-X", "PUT", *auth, data=b"any action result")
    assert r.status == 201, r
    # Upper-case hex is not a CAS name Bazel produces: a plain key, unchecked.
    r = curl(f"{server.url}/bazel/cas/{good_name.upper()}", "-X", "PUT", *auth, data=b"x")
    assert r.status == 201, r

    # Without credentials nothing is readable in this namespace.
    assert curl(f"{server.url}/bazel/cas/{good_name}").status == 401
