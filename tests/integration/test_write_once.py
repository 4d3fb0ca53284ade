"""Write-once namespaces: a PUT of a key that exists is refused with 409, so an
upload can never replace an artifact already in the cache (cache poisoning,
CVE-2025-36852 "CREEP"). Set per namespace (write_once = true in
[namespaces.NAME]) or for every namespace without its own setting (top-level
write_once, --write-once, MEMOKEYD_WRITE_ONCE=1); combined with read-only
tokens for untrusted jobs in docs/SERVER.md."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading

import pytest

from mkd import Memokeyd, curl, memokeyd_binary, request, slack

CI = "trusted-ci-token-11"
PR = "untrusted-pr-token-12"
CONFIG = f"""
write_once = true

[namespaces.main]
anonymous = "read"

[namespaces.scratch]
anonymous = "read"
write_once = false

[[tokens]]
name = "ci"
token = "{CI}"
access = "read-write"
namespaces = ["*"]

[[tokens]]
name = "pr"
token = "{PR}"
access = "read"
namespaces = ["main"]
"""


def bearer(token: str) -> list[str]:
    return ["-H", f"Authorization: Bearer {token}"]


@pytest.fixture(scope="module")
def server():
    with Memokeyd(config=CONFIG) as s:
        yield s


def test_existing_entry_is_never_overwritten(server):
    url = f"{server.url}/main/artifact-1"
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"trusted").status == 201
    r = curl(url, "-X", "PUT", *bearer(CI), data=b"poisoned")
    assert r.status == 409 and b"write-once" in r.body, r
    assert curl(url).body == b"trusted"
    # The untrusted job's token reads but cannot write at all.
    assert curl(f"{server.url}/main/artifact-2", "-X", "PUT", *bearer(PR), data=b"x").status == 403
    # Deleting is still the operator's (a read-write token's) right.
    assert curl(url, "-X", "DELETE", *bearer(CI)).status == 204
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"rebuilt").status == 201


def test_namespace_setting_beats_server_default(server):
    url = f"{server.url}/scratch/k"
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"one").status == 201
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"two").status == 201
    assert curl(url).body == b"two"
    # A namespace with no section gets the server-wide write_once = true.
    url = f"{server.url}/other/k"
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"one").status == 201
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"two").status == 409


def test_same_cas_blob_again_is_accepted(server):
    """A Bazel CAS blob that exists has this very content (its name is its
    SHA-256): uploading it again is not an overwrite."""
    blob = b"bazel output"
    url = f"{server.url}/main/cas/{hashlib.sha256(blob).hexdigest()}"
    assert curl(url, "-X", "PUT", *bearer(CI), data=blob).status == 201
    assert curl(url, "-X", "PUT", *bearer(CI), data=blob).status == 201
    # ... while an action-cache entry is refused like any other key.
    ac = f"{server.url}/main/ac/{hashlib.sha256(b'action').hexdigest()}"
    assert curl(ac, "-X", "PUT", *bearer(CI), data=b"result").status == 201
    assert curl(ac, "-X", "PUT", *bearer(CI), data=b"forged result").status == 409


def test_turborepo_artifacts_too(server):
    url = f"{server.url}/v8/artifacts/abcdef0123456789?slug=main"
    assert curl(url, "-X", "PUT", *bearer(CI), data=b"tar").status == 202
    r = curl(url, "-X", "PUT", *bearer(CI), data=b"poisoned tar")
    assert r.status == 409 and b'"code":"conflict"' in r.body, r
    assert curl(url, *bearer(PR)).body == b"tar"


def test_racing_writers_one_wins(server):
    """Many clients PUT one new key at once: exactly one is stored, every
    other gets 409, and the value is the winner's."""
    results: dict[int, int] = {}

    def put(i: int):
        r = request(server, "PUT", "/main/raced", body=f"value-{i}".encode(),
                    headers={"Authorization": f"Bearer {CI}"})
        results[i] = r.status

    threads = [threading.Thread(target=put, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, status in results.items() if status == 201]
    assert len(winners) == 1 and sorted(results.values()).count(409) == 15, results
    assert curl(f"{server.url}/main/raced").body == f"value-{winners[0]}".encode()


def check_config(*args: str, env: dict | None = None, config: str | None = None, tmp_path=None) -> dict:
    cmd = [memokeyd_binary(), "--check-config", "--anonymous", "read-write", *args]
    if config is not None:
        path = tmp_path / "c.toml"
        path.write_text(config)
        cmd += ["--config", str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=slack(20),
                            env={"PATH": os.environ.get("PATH", ""), **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_flag_environment_and_file(tmp_path):
    assert check_config()["write_once"] is False
    assert check_config("--write-once")["write_once"] is True
    assert check_config(env={"MEMOKEYD_WRITE_ONCE": "1"})["write_once"] is True
    effective = check_config(config="[namespaces.a]\nwrite_once = true\n[namespaces.b]\n",
                             tmp_path=tmp_path)
    assert effective["write_once"] is False
    assert effective["namespaces"]["a"]["write_once"] is True
    assert effective["namespaces"]["b"]["write_once"] is False
    # The flag sets the default; a namespace's own setting still wins.
    effective = check_config("--write-once", config="[namespaces.b]\nwrite_once = false\n",
                             tmp_path=tmp_path)
    assert effective["namespaces"]["b"]["write_once"] is False


def test_bad_value_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[namespaces.a]\nwrite_once = "yes"\n')
    result = subprocess.run([memokeyd_binary(), "--check-config", "--config", str(path)],
                            capture_output=True, text=True, timeout=slack(20),
                            env={"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 2
    assert "namespaces.a.write_once" in result.stdout and "true or false" in result.stdout


def test_flag_on_a_running_server():
    with Memokeyd("--write-once", "--anonymous", "read-write") as s:
        assert curl(f"{s.url}/any/k", "-X", "PUT", data=b"1").status == 201
        assert curl(f"{s.url}/any/k", "-X", "PUT", data=b"2").status == 409
