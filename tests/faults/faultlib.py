"""Shared helpers of the fault tests: the integration helpers (mkd.py) plus
the fault_tool binary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from mkd import (Memokeyd, RedisServer, free_port, memokeyd_binary, request, sanitized,  # noqa: E402,F401
                 slack)


def fault_tool() -> str:
    path = os.environ.get("FAULT_TOOL") or str(ROOT / "build/release/tests/faults/fault_tool")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"fault_tool not found at {path} (set FAULT_TOOL)")
    return path


# --- damaging a store's files (test_damage.py, test_damage_memokeyd.py) --------------
#
# The tests know nothing of a store's layout: they damage whatever regular
# files the store directory holds (recursively), classified only by name so
# that every kind of file present gets every kind of damage.

import random  # noqa: E402
import shutil  # noqa: E402
from typing import Callable  # noqa: E402

BLOCK = 4096


def store_files(root: Path) -> list[Path]:
    """Every regular file under root, sorted (deterministic for a seeded RNG)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def file_kind(root: Path, path: Path) -> str:
    """A file's role guessed from its name: main, wal, shm, lock or lease.

    Names only, so that the same tests bite on any engine (LMDB: data.mdb,
    lock.mdb; SQLite: store.db, store.db-wal, store.db-shm; leases/*)."""
    rel = path.relative_to(root)
    name = rel.name
    if "leases" in rel.parts[:-1] or "lease" in name:
        return "lease"
    if name.endswith("-wal") or name.endswith(".wal"):
        return "wal"
    if name.endswith("-shm") or name.endswith(".shm"):
        return "shm"
    if "lock" in name:
        return "lock"
    return "main"


def _rewrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _flip(path: Path, rng: random.Random, count: int) -> str:
    size = path.stat().st_size
    if size == 0:
        return _append(path, rng)
    offsets = sorted(rng.randrange(size) for _ in range(count))
    with open(path, "r+b") as f:
        for off in offsets:
            f.seek(off)
            old = f.read(1)[0]
            f.seek(off)
            f.write(bytes([old ^ rng.randrange(1, 256)]))
    return f"flipped {count} bytes at {offsets[:8]}"


def _block(path: Path, rng: random.Random, zeros: bool) -> str:
    size = path.stat().st_size
    if size == 0:
        return _append(path, rng)
    block = rng.randrange(max(1, (size + BLOCK - 1) // BLOCK))
    length = min(BLOCK, size - block * BLOCK)
    _rewrite(path, block * BLOCK, bytes(length) if zeros else rng.randbytes(length))
    return f"{'zeroed' if zeros else 'randomized'} block {block} ({length} B)"


def _truncate(path: Path, rng: random.Random, how: str) -> str:
    size = path.stat().st_size
    to = {"zero": 0, "half": size // 2, "random": rng.randrange(size) if size else 0}[how]
    os.truncate(path, to)
    return f"truncated {size} -> {to}"


def _append(path: Path, rng: random.Random) -> str:
    extra = rng.randbytes(rng.randrange(1, 3 * BLOCK))
    with open(path, "ab") as f:
        f.write(extra)
    return f"appended {len(extra)} B"


def _header(path: Path, rng: random.Random, length: int) -> str:
    _rewrite(path, 0, rng.randbytes(length))
    return f"overwrote the first {length} B"


def _sparse(path: Path, rng: random.Random) -> str:
    """About one byte changed per 8 KiB (at least one)."""
    size = path.stat().st_size
    if size == 0:
        return _append(path, rng)
    return _flip(path, rng, max(1, size // 8192))


def _delete(path: Path, rng: random.Random) -> str:
    path.unlink()
    return "deleted"


def _to_dir(path: Path, rng: random.Random) -> str:
    path.unlink()
    path.mkdir()
    (path / "junk").write_bytes(rng.randbytes(100))
    return "replaced by a directory"


# Damage to one file: name -> fn(path, rng) -> what was done.
FILE_DAMAGE: dict[str, Callable[[Path, random.Random], str]] = {
    "flip": lambda p, r: _flip(p, r, r.randrange(1, 9)),
    "sparse_flips": _sparse,
    "random_block": lambda p, r: _block(p, r, zeros=False),
    "zero_block": lambda p, r: _block(p, r, zeros=True),
    "truncate_zero": lambda p, r: _truncate(p, r, "zero"),
    "truncate_half": lambda p, r: _truncate(p, r, "half"),
    "truncate_random": lambda p, r: _truncate(p, r, "random"),
    "append_garbage": _append,
    "header_64": lambda p, r: _header(p, r, 64),
    "header_100": lambda p, r: _header(p, r, 100),
    "delete": _delete,
    "file_to_dir": _to_dir,
}


def _delete_dir(root: Path, rng: random.Random) -> str:
    shutil.rmtree(root)
    return "deleted the directory"


# Not here: the directory replaced by a regular file. The store never moves or
# removes a file that is not its own, so it reports that path (the caller still
# gets every result: tests/python/test_failures.py) instead of caching again.


def _sparse_all(root: Path, rng: random.Random) -> str:
    for path in store_files(root):
        _sparse(path, rng)
    return "about one byte per 8 KiB changed in every file"


def _swap(root: Path, rng: random.Random) -> str:
    files = store_files(root)
    if len(files) < 2:
        return _sparse_all(root, rng)
    a, b = rng.sample(files, 2)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    return f"swapped the contents of {a.name} and {b.name}"


# Damage to the directory as a whole: name -> fn(root, rng) -> what was done.
DIR_DAMAGE: dict[str, Callable[[Path, random.Random], str]] = {
    "delete_dir": _delete_dir,
    "sparse_all": _sparse_all,
    "swap_files": _swap,
}


def damage_plans(kinds: list[str], count: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    """count damage plans covering every (file kind, file damage) pair and every
    directory damage at least once (when count allows), then combinations.

    A plan is a list of steps (target, damage): target is a file kind (one
    file of that kind is picked when the plan is applied) or "dir"."""
    single = [[(kind, name)] for kind in kinds for name in FILE_DAMAGE]
    single += [[("dir", name)] for name in DIR_DAMAGE]
    rng.shuffle(single)
    plans = single[:count]
    while len(plans) < count:
        steps = [(rng.choice(kinds), rng.choice(list(FILE_DAMAGE))) for _ in range(rng.randrange(2, 4))]
        if rng.random() < 0.2:
            steps.append(("dir", rng.choice(["sparse_all", "swap_files"])))
        plans.append(steps)
    return plans


def apply_damage(root: Path, plan: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """Applies a plan from damage_plans to the store directory root; returns
    what was done, one line per step (steps whose target is gone are noted)."""
    done = []
    for target, name in plan:
        if target == "dir":
            if not root.is_dir():
                done.append(f"{name}: no directory left")
                continue
            done.append(f"{name}: {DIR_DAMAGE[name](root, rng)}")
            continue
        files = [p for p in store_files(root) if file_kind(root, p) == target]
        if not files:
            done.append(f"{target} {name}: no such file left")
            continue
        path = rng.choice(files)
        done.append(f"{path.relative_to(root)} {name}: {FILE_DAMAGE[name](path, rng)}")
    return done
