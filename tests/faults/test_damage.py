"""The damage battery (issue 12, "a cache never breaks or lies"): disk://
stores whose files were damaged must neither crash nor lie, and must cache
again.

Two batteries, each over >= 100 damaged stores (seeded, deterministic):

* test_memoize_damage -- populate a disk:// store through @memokey.memoize in
  a fresh Python process, damage its files, then run a fresh process that
  calls the function on every input, twice. Each run must exit 0 (no signal,
  no exception, no hang) with every result right; the second run must hit
  the store, and be answered from it for every input the first one
  recomputed -- or, when the first run's writes met damage that made the
  store quarantine its database (with what that run had put so far), a
  third run must be answered from the store for every input.
* test_store_api_damage -- the same over the C++ Store API directly
  (fault_tool store-fill / store-check): every Get/Contains/GetMany after the
  damage is the exact stored bytes or a miss, never other bytes or an error,
  and values put afterwards are served, to the next process too (again
  allowing one more run when the first one's writes met the damage).

The tests know nothing of the store's layout: they damage whatever regular
files the directory holds, by kind of file (faultlib.file_kind: main
database, -wal, -shm, lock and lease files), in every way of
faultlib.FILE_DAMAGE and DIR_DAMAGE, alone and combined. Stores are
populated a few times ("templates") and copied for each case: once while
the populating process still has the store open (a crash image, with WAL
and lock files as they are then) and once after it exited.

Run as a script (python3 test_damage.py worker ...) this file is also the
Python worker the battery starts.
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from faultlib import apply_damage, damage_plans, fault_tool, file_kind, sanitized, store_files

SECRET = "memokey-damage-secret-0123456789abcdef"
PY_STORES = 40 if sanitized() else 120
CPP_STORES = 40 if sanitized() else 120
TEMPLATE_SEEDS = (11, 12, 13)
TIMEOUT = 60.0  # per process: anything longer is a hang
PARALLEL = 2

# --- the memoized function (the worker side) ---------------------------------------


def expected(seed: int, i: int) -> tuple[str, Any]:
    """("value", v) or ("raise", message): what fn(seed, i) must give. Values
    are deterministic, 0 .. 4 KiB of incompressible bytes plus structure."""
    rng = random.Random(f"{seed}/{i}")
    if i % 23 == 7:
        return "raise", f"input {i} refused"
    size = rng.randrange(64) if rng.random() < 0.25 else rng.randrange(4097)
    return "value", {"seed": seed, "i": i, "blob": rng.randbytes(size), "f": rng.random()}


def worker(mode: str, store_dir: str, seed: int, count: int, hold: bool) -> int:
    """Calls the memoized function on inputs 0..count-1 and prints one line
    "RESULT {json}": wrong results, unexpected exceptions, the inputs computed,
    and cache_info(). With hold, then prints "ready" and keeps the store open
    until stdin closes (the parent copies the live store meanwhile)."""
    import memokey  # only the worker needs the package

    computed: list[int] = []

    @memokey.memoize(store=f"disk://{store_dir}", name="faults.damage", version=1)
    def fn(seed: int, i: int) -> Any:
        computed.append(i)
        kind, value = expected(seed, i)
        if kind == "raise":
            raise ValueError(value)
        return value

    wrong: list[str] = []
    exceptions: list[str] = []
    for i in range(count):
        kind, value = expected(seed, i)
        try:
            got = fn(seed, i)
        except ValueError as e:
            if kind != "raise" or str(e) != value:
                exceptions.append(f"{i}: {e!r}")
            continue
        except BaseException as e:  # noqa: BLE001 -- anything else escaping is the finding
            exceptions.append(f"{i}: {e!r}")
            continue
        if kind == "raise" or got != value:
            wrong.append(f"{i}: got {str(got)[:80]}")
    info = fn.cache_info()
    result = {
        "mode": mode,
        "wrong": wrong,
        "exceptions": exceptions,
        "computed": sorted(set(computed)),
        "hits": info.hits,
        "store_hits": info.hits - info.tiers.get("memory", 0),
        "errors": info.errors,
        "rejected": info.rejected,
        "tiers": info.tiers,
    }
    print("RESULT " + json.dumps(result), flush=True)
    if hold:
        # Leases held while the parent copies the live store: lease files in
        # the crash image, damaged like every other file.
        store = memokey.open_store(f"disk://{store_dir}")
        for i in range(min(3, count)):
            store.lease(fn.key(seed, i), ttl=600, wait=0, check_value=False)
        print("ready", flush=True)
        sys.stdin.read()
    return 0


# --- the harness ---------------------------------------------------------------------


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MEMOKEY_SECRET"] = SECRET
    env["XDG_CACHE_HOME"] = str(tmp / "xdg-cache")
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg-config")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Run:
    """One process's outcome: how it ended and (for Python) its RESULT."""

    verdict: str  # ok | crash | hang | exception | wrong
    detail: str = ""
    result: dict = field(default_factory=dict)


def _classify_python(proc_rc: Optional[int], stdout: str, stderr: str) -> Run:
    if proc_rc is None:
        return Run("hang", "no answer in %.0f s" % TIMEOUT)
    if proc_rc < 0:
        return Run("crash", f"killed by signal {-proc_rc}: {stderr[-600:]}")
    line = next((l for l in stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc_rc != 0 or line is None:
        return Run("exception", f"exit {proc_rc}: {' | '.join(stderr.strip().splitlines()[-3:])}")
    result = json.loads(line[7:])
    if result["exceptions"]:
        return Run("exception", "; ".join(result["exceptions"][:3]), result)
    if result["wrong"]:
        return Run("wrong", "; ".join(result["wrong"][:3]), result)
    return Run("ok", "", result)


def run_python(tmp: Path, store: Path, seed: int, count: int) -> Run:
    try:
        p = subprocess.run([sys.executable, __file__, "worker", "check", str(store), str(seed), str(count)],
                           capture_output=True, text=True, timeout=TIMEOUT, env=_env(tmp))
    except subprocess.TimeoutExpired:
        return _classify_python(None, "", "")
    return _classify_python(p.returncode, p.stdout, p.stderr)


def run_tool(store: Path, seed: int, count: int) -> Run:
    try:
        p = subprocess.run([fault_tool(), "store-check", str(store), str(seed), str(count)],
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return Run("hang", "no answer in %.0f s" % TIMEOUT)
    if p.returncode < 0:
        return Run("crash", f"killed by signal {-p.returncode}: {p.stderr[-600:]}")
    fields = dict(kv.split("=", 1) for kv in p.stdout.split(" first: ")[0].split() if "=" in kv)
    if not fields:
        return Run("exception", f"exit {p.returncode}: {p.stdout[-300:]}{p.stderr[-600:]}")
    detail = p.stdout.strip()
    if fields["open"] != "ok":
        return Run("exception", detail, fields)
    if int(fields["wrong"]):
        return Run("wrong", detail, fields)
    if int(fields["errors"]) or p.returncode != 0:
        return Run("exception", detail, fields)
    return Run("ok", detail, fields)


@dataclass
class Template:
    """A populated store to copy: its files, seed and size, and how it was taken."""

    path: Path
    seed: int
    count: int
    live: bool

    @property
    def kinds(self) -> set[str]:
        return {file_kind(self.path, p) for p in store_files(self.path)}


def _snapshot(cmd: list[str], store: Path, dest: Path, env: Optional[dict], seed: int,
              count: int) -> tuple[Template, Template, str]:
    """Runs a populating process in hold mode; copies the store while it is open
    and again after it exited. Returns both templates and the process's output."""
    proc = subprocess.Popen(cmd + ["hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    out = []
    try:
        deadline = time.monotonic() + 4 * TIMEOUT
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.strip() == "ready":
                break
            out.append(line)
        assert line.strip() == "ready", f"populate failed: {''.join(out)}{proc.stderr.read()}"
        live = dest / f"live-{seed}"
        shutil.copytree(store, live)
    finally:
        proc.stdin.close()
        proc.wait(TIMEOUT)
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 0, f"populate exited {proc.returncode}: {err}"
    closed = dest / f"closed-{seed}"
    shutil.copytree(store, closed)
    return Template(live, seed, count, True), Template(closed, seed, count, False), "".join(out)


def _templates(tmp: Path, tool: bool) -> list[Template]:
    rng = random.Random(1200 + tool)
    out = []
    for seed in TEMPLATE_SEEDS:
        count = rng.randrange(100, 301)
        store = tmp / "populate" / f"store-{seed}"
        if tool:
            cmd = [fault_tool(), "store-fill", str(store), str(seed), str(count)]
            env = None
        else:
            cmd = [sys.executable, __file__, "worker", "fill", str(store), str(seed), str(count)]
            env = _env(tmp)
        live, closed, output = _snapshot(cmd, store, tmp / "templates", env, seed, count)
        if not tool:
            result = json.loads(next(l for l in output.splitlines() if l.startswith("RESULT "))[7:])
            assert not result["wrong"] and not result["exceptions"], result
        out += [live, closed]
    return out


def _cases(templates: list[Template], count: int, seed: int):
    """(case number, template, plan) for count cases covering every (file kind,
    damage) pair the templates offer."""
    rng = random.Random(seed)
    kinds = sorted(set().union(*(t.kinds for t in templates)))
    cases = []
    for n, plan in enumerate(damage_plans(kinds, count, rng)):
        needed = {target for target, _ in plan if target != "dir"}
        fitting = [t for t in templates if needed <= t.kinds] or \
                  [t for t in templates if needed & t.kinds] or templates
        cases.append((n, rng.choice(fitting), plan))
    return cases, kinds


def _prepare(tmp: Path, n: int, template: Template, plan, seed: int) -> tuple[Path, list[str]]:
    store = tmp / "cases" / f"{n:03d}" / "store"
    shutil.copytree(template.path, store)
    done = apply_damage(store, plan, random.Random(seed * 1000 + n))
    return store, done


def _label(plan) -> str:
    return "+".join(f"{t}:{d}" for t, d in plan)


def _report(title: str, failures: list[tuple[str, str, str]]) -> None:
    if not failures:
        return
    # A label is "#case template step+step...": tally each verdict by damage step.
    by = collections.Counter(f"{verdict} {step}" for verdict, label, _ in failures
                             for step in label.split(" ", 2)[2].split("+"))
    print(f"{title}: failures by verdict and damage step:")
    for what, n in sorted(by.items()):
        print(f"  {n:3d} x {what}")
    print(f"{title}: first failures:")
    for verdict, label, detail in failures[:15]:
        print(f"  [{verdict}] {label}\n      {' | '.join(detail.split(chr(10)))[:700]}")


def _memokey_importable() -> Optional[str]:
    p = subprocess.run([sys.executable, "-c", "import memokey, sys; print(memokey.__file__)"],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def test_memoize_damage(tmp_path: Path) -> None:
    where = _memokey_importable()
    if where is None:
        import pytest  # here only: the worker processes start faster without it

        pytest.skip("the memokey Python package is not importable: pip install . first "
                    "(scripts/dev test installs it after ctest)")
    started = time.monotonic()
    templates = _templates(tmp_path, tool=False)
    cases, kinds = _cases(templates, PY_STORES, seed=77)
    file_sizes = {t.path.name: {str(p.relative_to(t.path)): p.stat().st_size
                                for p in store_files(t.path) if "leases" not in p.parts}
                  for t in templates}

    def one(case) -> tuple[str, str, str, bool, int, int]:
        """(verdict, label, detail, second run hit the store, results recomputed
        after the damage, runs until the store answered every input)."""
        n, template, plan = case
        store, done = _prepare(tmp_path, n, template, plan, seed=77)
        label = f"#{n} {template.path.name} {_label(plan)}"
        damage = f"[damage: {'; '.join(done)}]"
        runs = []
        for attempt in range(3):
            run = run_python(tmp_path, store, template.seed, template.count)
            if run.verdict != "ok":
                return run.verdict, label, f"run {attempt + 1}: {run.detail} {damage}", False, 0, 0
            runs.append(run)
            # Raising inputs are never cached: they compute in every run.
            again = [i for i in run.result["computed"] if expected(template.seed, i)[0] == "value"]
            if attempt > 0 and not again:
                break
        else:
            second = runs[1].result
            return "nocache", label, (f"runs 2 and 3 recomputed cached inputs {again[:10]}, store "
                                      f"hits {second['store_hits']}, errors {second['errors']} {damage}"), \
                False, 0, 0
        recomputed = sum(1 for i in runs[0].result["computed"] if expected(template.seed, i)[0] == "value")
        shutil.rmtree(store.parent, ignore_errors=True)
        hit = runs[1].result["store_hits"] > 0
        return "ok", label, "" if hit else f"run 2 had no store hit {damage}", hit, recomputed, len(runs)

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(one, cases))
    tally = collections.Counter(v for v, *_ in outcomes)
    hits = sum(1 for *_, hit, _, _ in outcomes if hit)
    recomputed = sum(r for *_, r, _ in outcomes)
    third = sum(1 for *_, runs in outcomes if runs == 3)
    failures = [(v, label, d) for v, label, d, hit, _, _ in outcomes if v != "ok" or not hit]
    n = len(outcomes)
    elapsed = time.monotonic() - started
    print(f"\nmemokey package: {where}")
    print(f"templates: {', '.join(f'{t.path.name} ({t.count} inputs)' for t in templates)}; "
          f"file kinds damaged: {', '.join(kinds)}")
    print(f"template files: {json.dumps(file_sizes)}")
    _report("damage battery", [f if f[0] != "ok" else ("nohit", f[1], f[2]) for f in failures])
    print(f"damage battery: {n} stores, {tally['crash']} crashes, {tally['hang']} hangs, "
          f"{tally['exception']} exceptions, {tally['wrong']} wrong results, "
          f"second-run hits {hits}/{n}, caching again {tally['ok']}/{n} "
          f"({recomputed} results recomputed after damage; {third} stores needed a third run: "
          f"damage met by a write of the first run quarantined what that run had put; "
          f"{elapsed:.1f} s)")
    assert n >= (40 if sanitized() else 100)
    assert tally["crash"] == 0 and tally["hang"] == 0
    assert tally["exception"] == 0 and tally["wrong"] == 0
    assert tally["nocache"] == 0 and hits == n


def test_store_api_damage(tmp_path: Path) -> None:
    started = time.monotonic()
    templates = _templates(tmp_path, tool=True)
    cases, kinds = _cases(templates, CPP_STORES, seed=91)

    def one(case) -> tuple[str, str, str, dict, int]:
        """(verdict, label, detail, the first run's counts, runs until every
        value put was found by the next process)."""
        n, template, plan = case
        store, done = _prepare(tmp_path, n, template, plan, seed=91)
        label = f"#{n} {template.path.name} {_label(plan)}"
        damage = f"[damage: {'; '.join(done)}]"
        runs = []
        for attempt in range(3):
            run = run_tool(store, template.seed, template.count)
            if run.verdict != "ok":
                return run.verdict, label, f"run {attempt + 1}: {run.detail} {damage}", \
                    runs[0].result if runs else {}, 0
            runs.append(run)
            # Caching again: a fresh process finds every value the one before
            # it put back, and serves what it puts itself.
            if attempt > 0 and int(run.result["present"]) == template.count and \
                    run.result["reput"] == f"{template.count}/{template.count}":
                break
        else:
            return "nocache", label, f"run 3: {runs[2].detail} {damage}", runs[0].result, 0
        shutil.rmtree(store.parent, ignore_errors=True)
        return "ok", label, "", runs[0].result, len(runs)

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(one, cases))
    tally = collections.Counter(v for v, *_ in outcomes)
    served = sum(int(r.get("present", 0)) for _, _, _, r, _ in outcomes)
    missed = sum(int(r.get("miss", 0)) for _, _, _, r, _ in outcomes)
    damaged = sum(int(r.get("damaged", 0)) for _, _, _, r, _ in outcomes)
    third = sum(1 for *_, runs in outcomes if runs == 3)
    n = len(outcomes)
    elapsed = time.monotonic() - started
    _report("store API damage", [(v, label, d) for v, label, d, _, _ in outcomes if v != "ok"])
    print(f"\nstore API damage: {n} stores ({', '.join(kinds)} files), {tally['crash']} crashes, "
          f"{tally['hang']} hangs, {tally['exception']} errors (open or lookup), {tally['wrong']} wrong "
          f"bytes, cached again {tally['ok']}/{n} ({third} after a third run); after damage "
          f"{served} values served exact, {missed} misses, {damaged} damaged counted ({elapsed:.1f} s)")
    assert n >= (40 if sanitized() else 100)
    assert tally["ok"] == n


if __name__ == "__main__" and len(sys.argv) >= 6 and sys.argv[1] == "worker":
    sys.exit(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                    len(sys.argv) > 6 and sys.argv[6] == "hold"))
