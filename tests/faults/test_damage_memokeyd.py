"""memokeyd restarted on a damaged --data-dir (issue 12): it must answer every
GET with the exact bytes that were PUT or a 404 -- never a 200 with other
bytes -- stay up, and cache again.

For each of 30 data directories: memokeyd (default store for --data-dir:
tiered memory|disk) takes 100 PUTs of 50 B .. 70 KB with known content and is
stopped (SIGTERM, or SIGKILL every other time: a crash image with whatever
WAL and lock files the engine leaves). Then about one byte per 8 KiB of every
file in the directory is changed, plus one more damage of faultlib's
FILE_DAMAGE / DIR_DAMAGE kinds (rotating over the kinds of file present), and
memokeyd is restarted: its memory tier is empty, so every GET reaches the
disk tier. Afterwards every key is PUT again, memokeyd is restarted once more
and every GET must be served from disk: the store caches again. (When those
PUTs themselves met the damage, the store quarantines its database with what
they had written: then one more round of PUT, restart, GET must serve all.)
"""

from __future__ import annotations

import collections
import http.client
import random
import subprocess
import time
from pathlib import Path

from faultlib import (DIR_DAMAGE, FILE_DAMAGE, Memokeyd, apply_damage, file_kind, memokeyd_binary,
                      request, sanitized, store_files)

DIRS = 8 if sanitized() else 30
KEYS = 100


def value_of(case: int, j: int) -> bytes:
    """The body PUT under key j of a case: 50 B .. 70 KB, deterministic."""
    rng = random.Random(f"memokeyd-damage/{case}/{j}")
    size = rng.randrange(50, 4096) if rng.random() < 0.6 else rng.randrange(4096, 70_001)
    return f"{case}/{j}:".encode() + rng.randbytes(size)


def path_of(case: int, j: int) -> str:
    return f"/v1/damage/c{case}-k{j}"


def start(data_dir: Path) -> Memokeyd:
    return Memokeyd("--data-dir", str(data_dir), "--threads", "2")


def why_not_started(data_dir: Path) -> str:
    """What memokeyd says when it will not start on data_dir (its last lines)."""
    try:
        p = subprocess.run([memokeyd_binary(), "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
                           capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "it starts now (a second try)"
    return f"exit {p.returncode}: " + " | ".join((p.stdout + p.stderr).strip().splitlines()[-3:])


def put_all(server: Memokeyd, case: int) -> int:
    """PUTs every key; returns how many were accepted (2xx). Stops at the first
    request memokeyd does not answer (it died)."""
    ok = 0
    for j in range(KEYS):
        try:
            status = request(server, "PUT", path_of(case, j), value_of(case, j)).status
        except (OSError, http.client.HTTPException):
            break
        ok += 200 <= status < 300
    return ok


def get_all(server: Memokeyd, case: int) -> collections.Counter:
    """GETs every key: counts right (exact bytes), missing (404), wrong (a 200
    with other bytes), error (any other status) and unanswered (no answer at
    all: memokeyd died)."""
    seen: collections.Counter = collections.Counter()
    for j in range(KEYS):
        try:
            r = request(server, "GET", path_of(case, j))
        except (OSError, http.client.HTTPException):
            seen["unanswered"] += KEYS - j
            break
        if r.status == 200:
            seen["right" if r.body == value_of(case, j) else "wrong"] += 1
        elif r.status == 404:
            seen["missing"] += 1
        else:
            seen["error"] += 1
    return seen


def damage_plan(case: int, data_dir: Path) -> list[tuple[str, str]]:
    """One byte per 8 KiB of every file, then one more damage: the case number
    rotates over the damage kinds and the kinds of file present."""
    kinds = sorted({file_kind(data_dir, p) for p in store_files(data_dir)}) or ["main"]
    extra = list(FILE_DAMAGE) + ["delete_dir", "swap_files"]
    name = extra[case % len(extra)]
    step = ("dir", name) if name in DIR_DAMAGE else (kinds[(case // len(extra) + case) % len(kinds)], name)
    return [("dir", "sparse_all"), step]


def test_memokeyd_damaged_data_dir(tmp_path: Path) -> None:
    started = time.monotonic()
    totals: collections.Counter = collections.Counter()
    failures: list[str] = []
    cached_again = 0
    relost = 0
    for case in range(DIRS):
        data_dir = tmp_path / f"case{case:02d}" / "data"
        server = start(data_dir)
        try:
            assert put_all(server, case) == KEYS, server.log_text()[-2000:]
        finally:
            if case % 2:
                server.kill()
            else:
                assert server.stop() == 0
        plan = damage_plan(case, data_dir)
        done = apply_damage(data_dir, plan, random.Random(5000 + case))
        label = f"case {case} ({'SIGKILL' if case % 2 else 'SIGTERM'}): {'; '.join(done)}"

        try:
            server = start(data_dir)
        except (RuntimeError, StopIteration) as e:  # StopIteration: it exited before listening
            failures.append(f"{label}: memokeyd did not start on the damaged dir ({e!r}): "
                            f"{why_not_started(data_dir)}"[:1200])
            totals["no_start"] += 1
            continue
        try:
            seen = get_all(server, case)
            totals.update(seen)
            try:
                alive = server.proc.poll() is None and request(server, "GET", "/healthz").status == 200
            except (OSError, http.client.HTTPException):
                alive = False
            if not alive or seen["unanswered"]:
                totals["crash"] += 1
                failures.append(f"{label}: memokeyd died: {server.log_text()[-800:]}")
                continue
            if seen["wrong"] or seen["error"]:
                failures.append(f"{label}: {dict(seen)}")
            reput = put_all(server, case)
        finally:
            log = server.log_text()
            code = server.stop()
        if code != 0:
            totals["crash"] += 1
            failures.append(f"{label}: memokeyd exited {code}: {log[-800:]}")
            continue

        # Restarted, the memory tier is empty: every key must come from disk.
        try:
            server = start(data_dir)
        except (RuntimeError, StopIteration) as e:
            failures.append(f"{label}: memokeyd did not restart after the re-PUT ({e!r}): "
                            f"{why_not_started(data_dir)}"[:1200])
            totals["no_start"] += 1
            continue
        again = get_all(server, case)
        totals["wrong"] += again["wrong"]
        totals["error"] += again["error"]
        log = server.log_text()
        if server.stop() != 0 or again["unanswered"]:
            totals["crash"] += 1
            failures.append(f"{label}: memokeyd died after the re-PUT: {log[-800:]}")
        if reput == KEYS and again["right"] < KEYS and not (again["wrong"] or again["error"]):
            # The re-PUTs met damage and the store quarantined its database
            # with what they had written so far: once more, on a clean store.
            relost += 1
            server = start(data_dir)
            reput = put_all(server, case)
            server.stop()
            server = start(data_dir)
            again = get_all(server, case)
            totals["wrong"] += again["wrong"]
            totals["error"] += again["error"]
            server.stop()
        if reput == KEYS and again["right"] == KEYS:
            cached_again += 1
        else:
            failures.append(f"{label}: after re-PUT ({reput}/{KEYS} accepted) and a restart: "
                            f"{dict(again)}")
    elapsed = time.monotonic() - started
    for line in failures[:20]:
        print("  " + line)
    print(f"\nmemokeyd damaged --data-dir: {DIRS} data dirs x {KEYS} keys, {totals['right']} served "
          f"right, {totals['missing']} 404, {totals['wrong']} wrong, {totals['error']} errors, "
          f"{totals['crash']} crashes, {totals['no_start']} refused to start, cached again "
          f"{cached_again}/{DIRS} ({relost} after a second re-PUT: the first met damage and the "
          f"database was quarantined; {elapsed:.1f} s)")
    assert totals["wrong"] == 0 and totals["error"] == 0
    assert totals["crash"] == 0 and totals["no_start"] == 0
    assert cached_again == DIRS
