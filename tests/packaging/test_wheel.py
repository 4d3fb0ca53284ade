"""The repaired (manylinux) wheel, installed in a fresh venv, needs no -dev package.

`scripts/dev test` / `scripts/dev wheel` run this in the venv they create from
the wheel `auditwheel repair` made, with MEMOKEY_TEST_WHEEL_VENV=1. The -dev
packages (and the runtime libraries they pull in) cannot be removed from a
developer machine, so "works where none is installed" is checked as: the
dynamic loader resolves every library the extension needs, other than glibc's
and the C++ runtime's (which every manylinux system has), to the copies inside
the wheel, never to /usr/lib. Outside that venv (an editable or system install
links the system libraries on purpose) these tests skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable

import pytest

import memokey
from memokey import _core

pytestmark = pytest.mark.skipif(
    os.environ.get("MEMOKEY_TEST_WHEEL_VENV") != "1",
    reason="only in the venv of the repaired wheel (scripts/dev wheel sets MEMOKEY_TEST_WHEEL_VENV=1)",
)

# What the manylinux policies let a wheel take from the system: glibc's
# libraries, the dynamic loader, the vDSO, and the GCC runtime.
SYSTEM_ALLOWED = re.compile(
    r"^(linux-vdso|ld-linux[-\w]*|libc|libm|libdl|libpthread|librt|libutil|libresolv|libgcc_s|libstdc\+\+)\.so"
)


def _system(name: str) -> bool:
    """Whether a library (as ldd names it, maybe a path) may come from the system."""
    return SYSTEM_ALLOWED.match(Path(name).name) is not None


def _ldd(path: Path) -> dict[str, str]:
    """Library name -> resolved path ('not found' when unresolved) for one ELF file."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    libs: dict[str, str] = {}
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            where = rest.strip().split(" (", 1)[0]
            # ldd prints the RPATH as given ($ORIGIN/../memokey.libs/...).
            libs[name.strip()] = where if where == "not found" else str(Path(where).resolve())
        elif line:
            name = line.split(" (", 1)[0]
            libs[name] = name
    return libs


def test_runs_in_a_venv_without_system_site_packages() -> None:
    assert sys.prefix != sys.base_prefix, "not a venv"
    system_site = sysconfig.get_path("purelib", vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    assert system_site not in sys.path
    # The package under test is the installed wheel, not the source tree.
    assert Path(memokey.__file__).resolve().is_relative_to(Path(sys.prefix).resolve())


def test_extension_loads_only_bundled_libraries() -> None:
    so = Path(_core.__file__).resolve()
    bundled = (so.parent.parent / "memokey.libs").resolve()
    assert bundled.is_dir(), f"no {bundled}: not a repaired wheel"
    libs = _ldd(so)
    assert not [n for n, p in libs.items() if p == "not found"], libs
    foreign = {n: p for n, p in libs.items() if not _system(n) and not Path(p).is_relative_to(bundled)}
    assert not foreign, f"resolved outside the wheel: {foreign}"
    # What auditwheel bundled is what the extension links (sqlite3, hiredis,
    # zstd, libcrypto; renamed with a hash), and each resolves inside the wheel.
    shipped = {p.name for p in bundled.iterdir()}
    used = {Path(p).name for n, p in libs.items() if not _system(n)}
    assert used == shipped
    for stem in ("libsqlite3", "libhiredis", "libzstd", "libcrypto"):
        assert any(name.startswith(stem + "-") for name in used), (stem, used)
    # The bundled libraries themselves need nothing from outside either.
    for lib in bundled.iterdir():
        deps = _ldd(lib)
        outside = {n: p for n, p in deps.items()
                   if not _system(n) and not Path(p).is_relative_to(bundled)}
        assert not outside, f"{lib.name} loads {outside}"


# Calls of _blob, module-level: a closure variable would be part of its key.
_CALLS: list[int] = []


def _make_blob(url: str) -> Callable[[int], bytes]:
    """A fresh memoized function over the store at url (its own, empty, memory tier)."""

    @memokey.memoize(store=url)
    def blob(n: int) -> bytes:
        _CALLS.append(n)
        return b"memokey " * n

    return blob


def test_the_bundled_libraries_work(tmp_path: Path) -> None:
    """Each bundled library on a real path: a large memoized result goes through
    the HMAC envelope (libcrypto), zstd compression and the SQLite disk store,
    and a second decorator (an empty memory tier) reads it back from disk.
    hiredis is exercised by the Redis tests of tests/python in the same run."""
    url = f"disk://{tmp_path}/cache"
    _CALLS.clear()
    assert _make_blob(url)(100_000) == b"memokey " * 100_000
    assert _make_blob(url)(100_000) == b"memokey " * 100_000
    assert _CALLS == [100_000]
    # Stored compressed: all the store's files are far smaller than the 800 kB value.
    on_disk = sum(f.stat().st_size for f in (tmp_path / "cache").rglob("*") if f.is_file())
    assert 0 < on_disk < 400_000
