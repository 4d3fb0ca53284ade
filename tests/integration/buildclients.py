"""Helpers for the build-tool tests (test_bazel.py, test_gradle.py,
test_turbo.py, test_nx.py): find the real clients, lay out a fixture
workspace from tests/integration/buildtools/, and compare build outputs.

The clients are installed by scripts/setup: Debian's bazel-bootstrap and
gradle, and the npm packages turbo and nx (pinned) in build/npm. A test whose
client is missing skips with the reason in capitals, so a machine that lacks
one shows up in the ctest log (pytest runs with -rs) instead of passing
quietly."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mkd import ROOT

FIXTURES = Path(__file__).resolve().parent / "buildtools"


def npm_bin(name: str) -> str | None:
    """The npm-installed executable `name` from scripts/setup's build/npm (or
    $MEMOKEY_NPM_PREFIX), else None."""
    prefix = Path(os.environ.get("MEMOKEY_NPM_PREFIX") or ROOT / "build/npm")
    path = prefix / "node_modules/.bin" / name
    return str(path) if os.access(path, os.X_OK) else None


def require(path: str | None, what: str) -> str:
    """`path`, or a loud skip naming the missing client and how to get it."""
    if not path:
        pytest.skip(f"CLIENT MISSING: {what} is not installed; run scripts/setup")
    return path


def workspace(name: str, dest: Path) -> Path:
    """A fresh copy of the fixture workspace buildtools/<name> in dest."""
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    return target


def digest_tree(root: Path, pattern: str = "**/*") -> dict[str, str]:
    """SHA-256 of every file under root matching pattern, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(pattern))
        if p.is_file()
    }


def run(cmd: list[str], cwd: Path, env: dict, timeout: float = 300) -> str:
    """Runs a build command; returns stdout+stderr, fails the test (with the
    output) on a non-zero exit."""
    result = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}")
    return result.stdout


def clean_env(**extra: str) -> dict:
    """The environment minus anything that would point a client at another
    cache or server (CI variables, a user's tokens)."""
    drop = ("TURBO_", "NX_", "GRADLE_", "BAZEL", "MEMOKEYD_", "CI")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env
