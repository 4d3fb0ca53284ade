"""Every Python example in examples/ runs and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str, timeout: float = 180) -> str:
    # The session's XDG_* directories and MEMOKEY_SECRET (conftest) are inherited.
    env = dict(os.environ)
    env.pop("MEMOKEY_EXAMPLE_STORE", None)
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_memoize_basic():
    out = run(str(EXAMPLES / "memoize_basic.py"))
    assert "OK: computed 2, hits 2" in out
    assert "hit in memory" in out


def test_multiprocess_disk():
    out = run(str(EXAMPLES / "multiprocess_disk.py"), "3")
    assert "phase 1: 6 results computed" in out
    assert "phase 2: 0 computed, 18 disk hits" in out
    assert "parent: computed 0, hits 1" in out
    assert "OK: 6 computed once, 18 disk hits across 3 workers" in out


def test_redis_two_processes(redis_server):
    out = run(str(EXAMPLES / "redis_two_processes.py"), redis_server.url)
    assert "first process: computed 3, redis hits 0, errors 0" in out
    assert "second process: computed 0, redis hits 3, errors 0" in out
    assert "OK: the second process computed nothing" in out
