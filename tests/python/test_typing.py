"""mypy and pyright on the documented usage of memokey.memoize (issue 14, item 4).

tests/typing/usage.py must type-check cleanly under both; every line of
tests/typing/rejected.py marked ``# expect-error`` must get an error from
both, and no other line may -- so the test fails if memoize's result lost its
type (became Any) as surely as if the documented usage stopped checking.

Both checkers come from PyPI (scripts/setup installs them: mypy, and pyright,
whose wheel carries its JavaScript and runs on the system's node, offline).
They analyse the memokey package the running interpreter imports.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memokey

TYPING_DIR = Path(__file__).resolve().parent.parent / "typing"
USAGE = TYPING_DIR / "usage.py"
REJECTED = TYPING_DIR / "rejected.py"


def _expected_lines() -> set[int]:
    lines = REJECTED.read_text().splitlines()
    return {i + 1 for i, line in enumerate(lines) if line.rstrip().endswith("# expect-error")}


def _env() -> dict[str, str]:
    # The checkers must see the memokey this interpreter imports (an
    # installed copy, or a --target directory on PYTHONPATH).
    env = dict(os.environ)
    package_root = str(Path(memokey.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [package_root, env.get("PYTHONPATH", "")] if p)
    return env


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: run scripts/setup (it installs the test tools)")


def _mypy(cache: Path) -> tuple[int, dict[str, set[int]], str]:
    """mypy --strict over both files in one run: (exit, error lines per file, output)."""
    _require("mypy")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--show-column-numbers",
         "--cache-dir", str(cache), "--python-executable", sys.executable, USAGE.name, REJECTED.name],
        capture_output=True, text=True, timeout=600, env=_env(), cwd=TYPING_DIR,
    )
    lines: dict[str, set[int]] = {USAGE.name: set(), REJECTED.name: set()}
    for m in map(re.compile(r"^([\w.]+):(\d+):\d+: error:").match, proc.stdout.splitlines()):
        if m:
            lines.setdefault(m.group(1), set()).add(int(m.group(2)))
    return proc.returncode, lines, proc.stdout + proc.stderr


def _pyright() -> tuple[int, dict[str, set[int]], str]:
    """pyright over both files in one run: (exit, error lines per file, errors)."""
    _require("pyright")
    if shutil.which("node") is None:
        pytest.fail("pyright needs node (scripts/setup installs nodejs)")
    proc = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
         USAGE.name, REJECTED.name],
        capture_output=True, text=True, timeout=600, env=_env(), cwd=TYPING_DIR,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright gave no JSON report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    lines: dict[str, set[int]] = {USAGE.name: set(), REJECTED.name: set()}
    for d in errors:
        lines.setdefault(Path(d["file"]).name, set()).add(d["range"]["start"]["line"] + 1)
    return proc.returncode, lines, json.dumps(errors, indent=1)


@pytest.fixture(scope="module")
def mypy_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, set[int]], str]:
    return _mypy(tmp_path_factory.mktemp("mypy-cache"))


@pytest.fixture(scope="module")
def pyright_result() -> tuple[int, dict[str, set[int]], str]:
    return _pyright()


@pytest.mark.parametrize("checker", ["mypy_result", "pyright_result"])
def test_documented_usage_checks(checker: str, request: pytest.FixtureRequest) -> None:
    _, lines, output = request.getfixturevalue(checker)
    assert lines[USAGE.name] == set(), output


@pytest.mark.parametrize("checker", ["mypy_result", "pyright_result"])
def test_misuses_are_rejected(checker: str, request: pytest.FixtureRequest) -> None:
    code, lines, output = request.getfixturevalue(checker)
    assert code == 1  # errors found (and the checker ran)
    assert lines[REJECTED.name] == _expected_lines(), output
    assert set(lines) == {USAGE.name, REJECTED.name}, output  # nothing else was checked
