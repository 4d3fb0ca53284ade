"""Configuring without the -dev packages lists every missing one, once.

cmake/MemokeyDependencies.cmake finds all dependencies quietly and stops with a
single error naming each missing Debian package and scripts/setup. The -dev
packages cannot be removed from a developer machine, so these tests hide them
from CMake instead: CMAKE_IGNORE_PREFIX_PATH makes find_package / find_path
ignore /usr and /usr/local, an empty PKG_CONFIG_LIBDIR makes pkg-config find no
module, and an interpreter path that does not exist hides Python (and with it
nanobind). Only the configure step runs (a few seconds); nothing is compiled.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every dependency of a full build (library, CLI, memokeyd, tests, benchmarks,
# Python package): the Debian package names the message must give. Python 3's
# interpreter for the test suites is not listed: it is the one running this.
FULL_BUILD = {
    "libxxhash-dev", "libsqlite3-dev", "libhiredis-dev", "libzstd-dev", "libssl-dev",
    "libboost1.81-dev", "libcli11-dev", "libtomlplusplus-dev", "libgtest-dev", "libgmock-dev",
    "libbenchmark-dev", "python3-dev", "nanobind",
}
# The part of them the Python package alone needs (plus pkg-config, hidden in
# that test too).
PYTHON_ONLY = {
    "pkg-config", "libxxhash-dev", "libsqlite3-dev", "libhiredis-dev", "libzstd-dev",
    "libssl-dev", "libboost1.81-dev", "python3-dev", "nanobind",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/setup installs it)")
    return path


def _setup_packages() -> set[str]:
    """Every Debian and pip package scripts/setup installs (its APT_* / PIP_* arrays)."""
    # Comments off first: they may hold parentheses.
    lines = (ROOT / "scripts" / "setup").read_text().splitlines()
    text = "\n".join(line.split("#", 1)[0] for line in lines)
    names: set[str] = set()
    for body in re.findall(r"^(?:APT|PIP)_[A-Z]+=\((.*?)\)", text, flags=re.S | re.M):
        names.update(body.split())
    assert {"libxxhash-dev", "nanobind"} <= names, f"cannot read the arrays of scripts/setup: {names}"
    return names


def _configure(tmp_path: Path, *defines: str, hide_pkg_config: bool) -> str:
    """Configures the tree in tmp_path with the dependencies hidden; returns the output."""
    empty = tmp_path / "no-pkgconfig-modules"
    empty.mkdir()
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(empty), PKG_CONFIG_PATH="")
    args = [
        _tool("cmake"), "-S", str(ROOT), "-B", str(tmp_path / "build"), "-G", "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}",
        # Absolute compiler paths: the compilers are not what is being hidden.
        f"-DCMAKE_C_COMPILER={_tool('gcc')}", f"-DCMAKE_CXX_COMPILER={_tool('g++')}",
        "-DCMAKE_IGNORE_PREFIX_PATH=/usr;/usr/local;/",
        "-DPython_EXECUTABLE=/nonexistent/bin/python3",
        "-DMEMOKEY_BUILD_PYTHON=ON",
        *defines,
    ]
    if hide_pkg_config:
        args.append("-DPKG_CONFIG_EXECUTABLE=/nonexistent/bin/pkg-config")
    else:
        args.append(f"-DPKG_CONFIG_EXECUTABLE={_tool('pkg-config')}")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"configure succeeded with every dependency hidden:\n{out}"
    return out


def _listed(out: str) -> set[str]:
    """The package names of the message's table (the lines after '... are missing:')."""
    m = re.search(r"build dependencies are missing:\n\n(.*?)\n\s*\n", out, flags=re.S)
    assert m, f"no list of missing dependencies in:\n{out}"
    return {line.split()[0] for line in m.group(1).splitlines() if line.strip()}


def _apt_line(out: str) -> set[str]:
    m = re.search(r"sudo apt-get install ([^\n]+)", out)
    assert m, f"no apt-get line in:\n{out}"
    return set(m.group(1).split())


def _check_common(out: str, listed: set[str]) -> None:
    # One stop, not one error per package.
    assert out.count("CMake Error") == 1, out
    assert "scripts/setup" in out
    # Each name is one scripts/setup installs, so the advice is consistent.
    assert listed <= _setup_packages(), listed - _setup_packages()
    # The apt-get line has exactly the Debian ones (nanobind comes from pip).
    assert _apt_line(out) == listed - {"nanobind"}
    assert "pip install nanobind" in out
    # The raw errors this replaces must not appear any more.
    assert "A required package was not found" not in out
    assert "Could NOT find" not in out


def test_full_build_lists_every_missing_package(tmp_path: Path) -> None:
    out = _configure(tmp_path, hide_pkg_config=False)
    listed = _listed(out)
    assert FULL_BUILD <= listed, f"missing from the message: {FULL_BUILD - listed}\n{out}"
    _check_common(out, listed)


def test_python_package_build_lists_only_what_it_needs(tmp_path: Path) -> None:
    """The options pip install . uses (pyproject.toml) need fewer packages; without
    pkg-config, the libraries it would find are judged by their headers."""
    if sys.version_info < (3, 11):
        pytest.skip("reads pyproject.toml with tomllib (Python 3.11+)")
    import tomllib

    defines = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["scikit-build"]["cmake"]["define"]
    out = _configure(tmp_path, *(f"-D{k}={v}" for k, v in defines.items()), hide_pkg_config=True)
    listed = _listed(out)
    assert listed == PYTHON_ONLY, f"extra: {listed - PYTHON_ONLY}, missing: {PYTHON_ONLY - listed}\n{out}"
    _check_common(out, listed)
    # The message also says which build needs what.
    assert "Python package (pip install .)" in out
