#!/usr/bin/env python3
"""Run every memokey benchmark once and regenerate bench/RESULTS.md and its plots.

    python3 bench/report.py [--quick] [--build-dir build/release]

The Python benchmarks run with the interpreter that runs this script (a
virtualenv's python measures the memokey installed there); memokeyd and
bench_core come from --build-dir (MEMOKEYD=path overrides memokeyd).

`scripts/dev bench [--quick]` builds the release preset, installs the Python
package and calls this. One run collects:

  - C++ core: build/release/bench/cpp/bench_core (--benchmark_format=json)
  - Python keys: bench/python/run.py --json
  - memoized hits: bench/python/memo.py --json
  - memokeyd vs Redis, ccache: bench/server/run.sh --scaling --json (the
    scaling series at 1 s per point with --quick)
  - the disk tier's candidate engines: build/release/bench/cpp/disk_engines
    --quick, which writes bench/disk-engines.md itself (docs/STORAGE.md)
  - two short series run here: a memory-tier hit vs the size of a list
    argument, and the memory tier's RSS vs the number of entries (one
    subprocess per point, VmRSS from /proc/self/status)

and writes bench/RESULTS.md (tables of medians and ratios against each peer,
the goals table computed from the measured ratios, the machine and the
version of every peer) plus PNG plots beside it. The hand-written notes in
bench/RESULTS.notes.md are copied in verbatim.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "python"))
from timing import fmt_time  # noqa: E402  (shared with bench/python/*.py)


def log(msg: str) -> None:
    print(f"\n==> {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw: Any) -> None:
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def fmt_size(n: float) -> str:
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:g} {unit}"
    return f"{n:g} B"


def ratio(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


# --- machine and versions ------------------------------------------------------------------


def sh(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (p.stdout or p.stderr).strip()


def machine() -> dict[str, str]:
    cpu, flags = platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == platform.machine():
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                f = line.split(":", 1)[1].split()
                flags = " + ".join(x.upper().replace("AVX512F", "AVX-512") for x in ("avx2", "avx512f") if x in f)
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / (1 << 20):.0f} GiB"
    except (OSError, AttributeError):
        pass
    osname = ""
    try:
        osname = re.search(r'PRETTY_NAME="([^"]*)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "flags": flags, "memory": mem, "os": osname,
            "compiler": sh(["c++", "--version"]).splitlines()[0] if sh(["c++", "--version"]) else "?",
            "python": platform.python_version()}


def versions() -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("memokey", "numpy", "xxhash", "joblib", "dask", "cbor2", "cachetools", "cachebox", "diskcache",
                "redis", "matplotlib"):
        try:
            out.append((pkg + " (pip)", version(pkg)))
        except PackageNotFoundError:
            out.append((pkg + " (pip)", "not installed"))

    def first(cmd: list[str], pattern: str) -> str:
        m = re.search(pattern, sh(cmd))
        return m.group(1) if m else "not found"

    out.append(("redis-server", first(["redis-server", "--version"], r"v=(\S+)")))
    out.append(("redis-benchmark", first(["redis-benchmark", "--version"], r"redis-benchmark (\S+)")))
    out.append(("ccache", first(["ccache", "--version"], r"ccache version (\S+)")))
    out.append(("wrk", first(["wrk", "-v"], r"wrk (\S+)")))
    for pc in ("libxxhash", "benchmark"):
        out.append((f"{pc} (pkg-config)", sh(["pkg-config", "--modversion", pc]) or "not found"))
    out.append(("cmake", first(["cmake", "--version"], r"cmake version (\S+)")))
    return out


# --- runs ----------------------------------------------------------------------------------


def bench_cpp(build: Path, quick: bool, tmp: Path) -> dict[str, Any]:
    exe = build / "bench" / "cpp" / "bench_core"
    if not exe.exists():
        print(f"missing {exe}: C++ section skipped", file=sys.stderr)
        return {}
    ver = sh(["pkg-config", "--modversion", "benchmark"]) or "1.7.0"
    new = [int(x) for x in re.findall(r"\d+", ver)[:2]] >= [1, 8]
    secs = "0.05" if quick else "0.3"
    out = tmp / "bench_core.json"
    args = [str(exe), f"--benchmark_min_time={secs}{'s' if new else ''}", "--benchmark_format=json",
            f"--benchmark_out={out}", "--benchmark_out_format=json"]
    # Medians of 3 repetitions in both modes: one short run is too noisy on a shared 2-core VM.
    args += ["--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"]
    run(args, stdout=subprocess.DEVNULL)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    res: dict[str, Any] = {}
    for b in json.loads(out.read_text())["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"]).split("/repeats")[0]
        res[name] = {"cpu": b["cpu_time"] * scale[b["time_unit"]], "real": b["real_time"] * scale[b["time_unit"]],
                     "label": b.get("label", ""), "bytes": b.get("bytes")}
    return res


def bench_disk_engines(build: Path) -> None:
    # --quick in both modes (< 45 s): the run of record is the full one quoted in docs/STORAGE.md.
    exe = build / "bench" / "cpp" / "disk_engines"
    if not exe.exists():
        print(f"missing {exe}: bench/disk-engines.md not regenerated", file=sys.stderr)
        return
    try:
        run([str(exe), "--quick", "--out", "bench/disk-engines.md"], stdout=subprocess.DEVNULL)  # cwd: ROOT
    except subprocess.CalledProcessError as e:
        print(f"disk_engines failed ({e}): bench/disk-engines.md not regenerated", file=sys.stderr)


def bench_py(script: str, quick: bool, tmp: Path) -> dict[str, Any]:
    out = tmp / (Path(script).stem + ".json")
    run([sys.executable, script, *(["--quick"] if quick else []), "--json", str(out)], stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def bench_server(build: Path, quick: bool, tmp: Path) -> dict[str, Any]:
    out = tmp / "server.json"
    try:
        # The scaling series runs in both modes: 1 s per point with --quick (about 12 s), 2 s otherwise.
        env = dict(os.environ, SCALING_DURATION="1" if quick else "2")
        env.setdefault("MEMOKEYD", str(build / "server" / "memokeyd"))  # the build this report measures
        run(["bench/server/run.sh", *(["--quick"] if quick else []), "--scaling", "--json", str(out)], env=env)
    except subprocess.CalledProcessError as e:
        print(f"bench/server/run.sh failed ({e}): server section skipped", file=sys.stderr)
        return {}
    return json.loads(out.read_text())


def bench_bazel(build: Path, quick: bool, tmp: Path) -> dict[str, Any]:
    """Bazel's second build through memokeyd vs its own --disk_cache
    (bench/buildcache/bazel.py, which also writes bench/buildcache/RESULTS.md)."""
    out = tmp / "bazel.json"
    try:
        run([sys.executable, "bench/buildcache/bazel.py", "--memokeyd", str(build / "server" / "memokeyd"),
             "--json-out", str(out), *(["--actions", "50", "--repeat", "1"] if quick else [])])
    except subprocess.CalledProcessError as e:
        print(f"bench/buildcache/bazel.py failed ({e}): Bazel goal not run", file=sys.stderr)
        return {}
    return json.loads(out.read_text()) if out.exists() else {}


CHILD_HIT = r"""
import json, os, sys, tempfile, timeit
os.environ.setdefault("MEMOKEY_SECRET", "memokey-bench-secret-0123456789")
import memokey
quick = sys.argv[1] == "1"
out = []
for n in (1, 10, 100, 1000, 10000, 100000):
    arg = list(range(n))
    f = memokey.memoize(store=False, name=f"bench.hit{n}", version=1)(len)
    f(arg); f(arg)
    t = timeit.Timer(lambda: f(arg))
    number = max(1, int((2e5 if quick else 1e6) / (n + 50)))
    per = sorted(x / number for x in t.repeat(repeat=3 if quick else 5, number=number))
    k = timeit.Timer(lambda: memokey.key(arg))
    kper = sorted(x / number for x in k.repeat(repeat=3 if quick else 5, number=number))
    out.append({"n": n, "hit": per[len(per) // 2], "key": kper[len(kper) // 2]})
print(json.dumps(out))
"""

CHILD_RSS = r"""
import json, os, re, sys
os.environ.setdefault("MEMOKEY_SECRET", "memokey-bench-secret-0123456789")
import memokey
def rss():
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024
n = int(sys.argv[1])
f = memokey.memoize(store=False, memory=None, name="bench.rss", version=1)(lambda i: i * 2)
f(-1)
before = rss()
for i in range(n):
    f(i)
print(json.dumps({"n": n, "before": before, "after": rss()}))
"""


def bench_series(quick: bool) -> tuple[list[dict], list[dict]]:
    log("memoized hit vs argument size")
    hit = json.loads(subprocess.run([sys.executable, "-c", CHILD_HIT, "1" if quick else "0"], check=True,
                                    capture_output=True, text=True).stdout)
    log("memory-tier RSS vs entries")
    rss = []
    for n in (0, 1000, 10000, 100000) if quick else (0, 1000, 10000, 100000, 300000):
        rss.append(json.loads(subprocess.run([sys.executable, "-c", CHILD_RSS, str(n)], check=True,
                                             capture_output=True, text=True).stdout))
    return hit, rss


# --- plots ---------------------------------------------------------------------------------


def plots(outdir: Path, cpp: dict, keys: dict, hit: list, rss: list, server: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []

    def save(fig: Any, name: str, caption: str) -> None:
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)
        made.append((name, caption))

    # (label, points (bytes, seconds), style)
    series: list[tuple[str, list, dict]] = []
    for bench, label in (("BM_KeyBytes", "C++ key of a byte string"),
                         ("BM_RawXXH3", "C++ raw XXH3-128, libxxhash dispatch"),
                         ("BM_RawXXH3Best", "C++ raw XXH3-128, memokey's variant")):
        pts = sorted((int(k.split("/")[1]), v["cpu"]) for k, v in cpp.items() if k.startswith(bench + "/"))
        if pts:
            series.append((label, pts, {"marker": "o"}))
    pts = sorted((v["bytes"], v["cpu"]) for k, v in cpp.items() if k.startswith("BM_KeyRecords/") and v["bytes"])
    if pts:
        series.append(("C++ key of N records (EncodeRecord)", pts, {"marker": "s"}))
    rec = keys.get("records_series") or []
    if rec:
        series.append(("Python memokey.key(list of N small dicts)", [(p["bytes"], p["key"]) for p in rec],
                       {"marker": "^"}))
        series.append(("Python xxh3_128(pickle.dumps(same list))", [(p["bytes"], p["pickle_xxh3"]) for p in rec],
                       {"marker": "v", "ls": "--"}))
    if series:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for label, pts, style in series:
            ax.loglog([p[0] for p in pts], [p[1] * 1e6 for p in pts], label=label, **style)
        if "BM_KeySmallRecord" in cpp:
            ax.axhline(cpp["BM_KeySmallRecord"]["cpu"] * 1e6, color="grey", ls=":", label="C++ key of a small record")
        ax.set_xlabel("input size (bytes; for records, of their canonical form)")
        ax.set_ylabel("time per key (µs)")
        ax.set_title("Key time vs input size: byte strings and structured records")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, "plot-key-size.png", "key time vs input size (log-log): C++ byte strings beside raw XXH3-128, "
                                       "and lists of small records in C++ and Python")
    if hit:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.loglog([h["n"] for h in hit], [h["hit"] * 1e6 for h in hit], marker="o", label="memoized hit, memory tier")
        ax.loglog([h["n"] for h in hit], [h["key"] * 1e6 for h in hit], marker="s", ls="--",
                  label="memokey.key(argument) alone")
        ax.set_xlabel("list argument length (ints)")
        ax.set_ylabel("time per call (µs)")
        ax.set_title("Python: memory-tier hit vs argument size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        save(fig, "plot-memo-hit-size.png", "memory-tier memoized hit vs size of a list argument")
    if rss:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.plot([r["n"] for r in rss], [(r["after"] - r["before"]) / (1 << 20) for r in rss], marker="o")
        ax.set_xlabel("entries in the memory tier (memory=None, store=False)")
        ax.set_ylabel("RSS growth (MiB)")
        ax.set_title("Python: memory-tier RSS vs entries")
        ax.grid(True, alpha=0.3)
        save(fig, "plot-memory-rss.png", "memory-tier RSS growth vs number of entries")
    sc = server.get("scaling") or []
    if sc:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for ax, key, xlabel in ((axes[0], "value_size", "value size (bytes)"),
                                (axes[1], "connections", "connections")):
            pts = sorted((s["x"], s["result"]) for s in sc if s["series"] == key)
            xs = [p[0] for p in pts]
            ax.semilogx(xs, [p[1]["rps"] for p in pts], marker="o", color="C0", base=2)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("requests/s", color="C0")
            ax2 = ax.twinx()
            ax2.semilogx(xs, [p[1]["p99_us"] / 1000 for p in pts], marker="s", ls="--", color="C1", base=2)
            ax2.set_ylabel("p99 (ms)", color="C1")
            ax.grid(True, alpha=0.3)
        th = f"{server.get('threads_embedded')} thread(s), wrk -t{server.get('wrk_threads', '?')}"
        axes[0].set_title(f"memokeyd GET, embedded ({th}), {server.get('connections')} connections", fontsize=9)
        axes[1].set_title(f"memokeyd GET, embedded ({th}), 1 KiB values", fontsize=9)
        save(fig, "plot-server-scaling.png", "memokeyd requests/s and p99 vs value size and vs connections")
    return made


# --- report --------------------------------------------------------------------------------


def report(args: argparse.Namespace, m: dict, vers: list, cpp: dict, keys: dict, memo: dict, server: dict,
           hit: list, rss: list, made: list, elapsed: float) -> str:
    L: list[str] = []
    cmd = f"scripts/dev bench{' --quick' if args.quick else ''}"
    L += ["# memokey benchmark results", "",
          f"Generated by `{cmd}` (`bench/report.py`) on {datetime.date.today().isoformat()} in {elapsed:.0f} s; "
          "do not edit by hand (notes go in `bench/RESULTS.notes.md`).", "",
          "Every figure is a ratio against a named peer measured **in the same run** on the same machine, because "
          "these machines are noisy and absolute times drift." +
          (" This is a `--quick` run (short repeats, 1 s per server scaling point): its verdicts on goals near "
           "their threshold are noisy; `scripts/dev bench` without `--quick` is the run of record."
           if args.quick else ""), "",
          f"Machine: {m['cpu']}, **{m['cores']} cores**" + (f" ({m['flags']})" if m["flags"] else "") +
          f", {m['memory']}, {m['os']}, {m['compiler']}, Python {m['python']}.", "",
          "| area | command | full table |", "|---|---|---|",
          "| C++ core: encode + key | `build/release/bench/cpp/bench_core` | below |",
          "| Python keys vs pickle+xxh3, joblib, dask, cbor2; 1M-row data frames (pandas, polars, pyarrow) "
          "also vs hash_pandas_object, hash_rows | `python3 bench/python/run.py` | "
          "[python/results-core.md](python/results-core.md) |",
          "| memokeyd vs Redis, ccache through memokeyd | `bench/server/run.sh` | below, "
          "[../docs/SERVER.md#benchmarks](../docs/SERVER.md#benchmarks) |",
          "| memoized hits vs lru_cache, cachetools, cachebox, diskcache, joblib.Memory, redis-py | "
          "`python3 bench/python/memo.py` | [python/results-memo.md](python/results-memo.md) |",
          "| disk-tier engines: LMDB vs SQLite WAL vs a file per entry (speed, kill -9, damaged files) | "
          "`build/release/bench/cpp/disk_engines --quick` | [disk-engines.md](disk-engines.md) |", ""]

    # goals
    goals: list[tuple[str, str, Optional[bool]]] = []
    big = [n for n in (1 << 20, 4 << 20, 16 << 20, 64 << 20) if f"BM_KeyBytes/{n}" in cpp]
    if big:
        vs_lib = [cpp[f"BM_RawXXH3/{n}"]["cpu"] / cpp[f"BM_KeyBytes/{n}"]["cpu"] for n in big if f"BM_RawXXH3/{n}" in cpp]
        vs_best = [cpp[f"BM_RawXXH3Best/{n}"]["cpu"] / cpp[f"BM_KeyBytes/{n}"]["cpu"] for n in big
                   if f"BM_RawXXH3Best/{n}" in cpp]
        text = f"{min(vs_lib):.2f}x–{max(vs_lib):.2f}x vs libxxhash"
        if vs_best:
            text += f", {min(vs_best):.2f}x–{max(vs_best):.2f}x vs memokey's XXH3"
        goals.append(("C++: key of 1–64 MiB byte strings ≥ 0.9x raw XXH3-128 (2)", text, min(vs_lib) >= 0.9))
    else:
        goals.append(("C++: key of 1–64 MiB byte strings ≥ 0.9x raw XXH3-128 (2)", "not run", None))
    kg = {g["want"]: g for g in keys.get("goals", [])}
    for want, text in ((4.0, "Python: key of small arguments ≥ 4x faster than `xxh3_128(pickle.dumps(x))` (3)"),
                       (2.0, "Python: key of a ~40 KB JSON-like document ≥ 2x faster than "
                             "`xxh3_128(pickle.dumps(x))` (3)"),
                       (0.85, "Python: key of a 64 MiB float64 array ≥ 0.85x the throughput of `xxh3_128` over "
                              "the raw buffer (3)")):
        g = kg.get(want)
        goals.append((text, ratio(g and g["ratio"]), None if not g or g["ratio"] is None else g["met"]))
    frame_goals = {g["goal"]: g for g in keys.get("goals", []) if g["goal"].startswith("(d)")}
    for goal, text in (("(d) 1M-row pandas DataFrame ≥ 5x faster than joblib.hash",
                        "Python: key of a 1M-row DataFrame (int, float, str) ≥ 5x faster than `joblib.hash` (14)"),
                       ("(d) 1M-row pandas DataFrame faster than hash_pandas_object(df).sum()",
                        "Python: key of a 1M-row DataFrame faster than "
                        "`pandas.util.hash_pandas_object(df).sum()` (14)")):
        g = frame_goals.get(goal)
        goals.append((text, ratio(g and g["ratio"]), None if not g or g["ratio"] is None else g["met"]))
    mem_t = memo.get("memory", {})
    mem, lru = mem_t.get("memokey.memoize (memory tier)"), mem_t.get("functools.lru_cache(maxsize=4096)")
    goals.append(("memoized hit, memory tier ≤ 3x an `lru_cache` hit (4)",
                  f"{mem / lru:.2f}x ({fmt_time(mem)} vs {fmt_time(lru)})" if mem and lru else "n/a",
                  None if not (mem and lru) else mem <= 3 * lru))
    d = memo.get("disk", {})
    disk, dc, jl = (d.get("memokey.memoize (disk tier, memory=0)"), d.get("diskcache Cache.memoize"),
                    d.get("joblib.Memory.cache"))
    goals.append(("memoized hit, disk tier ≥ 5x faster than diskcache's `memoize` hit (4)",
                  (f"{dc / disk:.1f}x ({fmt_time(disk)} vs {fmt_time(dc)}" +
                   (f"; joblib.Memory {jl / disk:.0f}x)" if jl else ")")) if disk and dc else "n/a",
                  None if not (disk and dc) else dc >= 5 * disk))
    dm = memo.get("disk_miss", {})
    miss, dc_miss = dm.get("memokey.memoize (disk tier, memory=0)"), dm.get("diskcache Cache.memoize")
    goals.append(("memoized miss (compute + store), disk tier ≥ 2x faster than diskcache's (12)",
                  f"{dc_miss / miss:.1f}x ({fmt_time(miss)} vs {fmt_time(dc_miss)})" if miss and dc_miss else "n/a",
                  None if not (miss and dc_miss) else dc_miss >= 2 * miss))
    mm = memo.get("memory_miss", {})
    mk_miss, ct_miss = mm.get("memokey.memoize (memory tier only, store=False)"), mm.get("cachetools.cached(LRUCache(4096))")
    goals.append(("memoized miss of a trivial function, memory tier ≤ 1.5x cachetools' miss (13)",
                  f"{mk_miss / ct_miss:.2f}x ({fmt_time(mk_miss)} vs {fmt_time(ct_miss)})" if mk_miss and ct_miss else "n/a",
                  None if not (mk_miss and ct_miss) else mk_miss <= 1.5 * ct_miss))
    r = memo.get("redis", {})
    rt, rp = r.get("memokey.memoize (redis tier, memory=0)"), r.get("redis-py GET + pickle.loads")
    goals.append(("memoized hit, Redis tier vs redis-py GET + pickle.loads (4, no goal)",
                  f"{rp / rt:.2f}x" if rt and rp else "n/a", "—"))  # type: ignore[arg-type]
    s = server
    goals.append(("memokeyd GET 1 KB, 50 connections, embedded store ≥ 1.0x Redis's own GET rate (5)",
                  ratio(s.get("embedded_ratio")), None if "embedded_ratio" not in s else s["embedded_ratio"] >= 1.0))
    p99s = [(n, s[k]["p99_us"] / 1000) for n, k in (("embedded", "embedded"), ("Redis-backed", "redis_backed"))
            if isinstance(s.get(k), dict)]
    goals.append(("memokeyd GET 1 KB, 50 connections: p99 ≤ 2 ms (5)",
                  ", ".join(f"{v:.2f} ms {n}" for n, v in p99s) or "n/a",
                  None if not p99s else all(v <= 2.0 for _, v in p99s)))
    goals.append(("memokeyd backed by Redis ≥ 0.5x Redis's own GET rate (5)", ratio(s.get("redis_backed_ratio")),
                  None if "redis_backed_ratio" not in s else s["redis_backed_ratio"] >= 0.5))
    goals.append(("ccache's second build through memokeyd ≤ 1.1x ccache straight to Redis (5)",
                  ratio(s.get("ccache_memokeyd_redis_ratio")),
                  None if "ccache_memokeyd_redis_ratio" not in s else s["ccache_memokeyd_redis_ratio"] <= 1.1))
    bz = s.get("bazel") or {}
    goals.append(("Bazel's second build (after `bazel clean --expunge`) through memokeyd ≤ 1.1x the reference "
                  "(15; reference: Bazel's own --disk_cache, as bazel-remote cannot be installed here)",
                  ratio(bz.get("ratio_memokeyd_over_disk_cache")),
                  None if "ratio_memokeyd_over_disk_cache" not in bz else bz["ratio_memokeyd_over_disk_cache"] <= 1.1))
    if bz.get("ratio_memokeyd_over_nginx_warm") is not None:
        goals.append(("(beside it) Bazel, server warm, only cache fetches: memokeyd / --disk_cache, "
                      "memokeyd / nginx WebDAV (the same Bazel HTTP client)",
                      f"{ratio(bz.get('ratio_memokeyd_over_disk_cache_warm'))}, "
                      f"{ratio(bz.get('ratio_memokeyd_over_nginx_warm'))}", "info"))
    L += ["## Goals", "", "| goal (issue) | measured | met |", "|---|---:|:---:|"]
    for text, measured, met in goals:
        mark = met if isinstance(met, str) else {True: "yes", False: "**NO**", None: "not run"}[met]
        L.append(f"| {text} | {measured} | {mark} |")
    L.append("")

    # C++
    if cpp:
        L += ["## C++ core (`bench_core`)", "",
              "Median CPU time of 3 repetitions" + (" (0.05 s each)." if args.quick else " (0.3 s each).") +
              " GB/s = 10^9 bytes per second; *ratio* = raw time / key time (> 1: the key is faster).", "",
              "| input | key | raw, libxxhash | key vs libxxhash | raw, memokey's XXH3 | key vs that |",
              "|---|---:|---:|---:|---:|---:|"]
        sizes = sorted(int(k.split("/")[1]) for k in cpp if k.startswith("BM_KeyBytes/"))
        for n in sizes:
            k = cpp[f"BM_KeyBytes/{n}"]["cpu"]
            lib = cpp.get(f"BM_RawXXH3/{n}", {}).get("cpu")
            best = cpp.get(f"BM_RawXXH3Best/{n}", {})
            bt = best.get("cpu")
            lib_s = "" if lib is None else f"{n / lib / 1e9:.1f} GB/s"
            label = best.get("label", "")
            best_s = "" if bt is None else f"{n / bt / 1e9:.1f} GB/s" + (f" ({label})" if label else "")
            L.append(f"| {fmt_size(n)} bytes | {fmt_time(k)} ({n / k / 1e9:.1f} GB/s) | {lib_s} | "
                     f"{ratio(lib and lib / k)} | {best_s} | {ratio(bt and bt / k)} |")
        if "BM_KeySmallRecord" in cpp:
            L.append(f"| small record `((42, \"hello\", 3.5, None), {{\"flag\": True}})` | "
                     f"{fmt_time(cpp['BM_KeySmallRecord']['cpu'])} | | | | |")
        if "BM_KeyDocument40K" in cpp:
            raw = cpp.get("BM_RawXXH3Document40K", {}).get("cpu")
            L.append(f"| 26 KB canonical JSON-like document (through `memokey::Value`) | "
                     f"{fmt_time(cpp['BM_KeyDocument40K']['cpu'])} | {fmt_time(raw)} | | | |")
        other = [k for k in cpp if not re.match(r"BM_(KeyBytes|RawXXH3|RawXXH3Best|KeyRecords)/|BM_KeySmallRecord$|"
                                                r"BM_KeyDocument40K$|BM_RawXXH3Document40K$", k)]
        for k in other:
            L.append(f"| `{k}` | {fmt_time(cpp[k]['cpu'])} | | | | |")
        L.append("")
        recs = sorted((int(k.split("/")[1]), v) for k, v in cpp.items() if k.startswith("BM_KeyRecords/"))
        if recs:
            L += ["Structured records (`BM_KeyRecords/N`): the key of a `std::vector` of N four-field records "
                  "written through `EncodeRecord`.", "",
                  "| records | canonical size | key | per record | GB/s |", "|---:|---:|---:|---:|---:|"]
            for n, v in recs:
                size = int(v["bytes"] or 0)
                L.append(f"| {n:,} | {size:,} B | {fmt_time(v['cpu'])} | {fmt_time(v['cpu'] / n)} | "
                         f"{size / v['cpu'] / 1e9:.2f} |")
            L.append("")

    # Python keys
    if keys:
        L += ["## Python keys (`bench/python/run.py`)", "",
              "Median time per call, the peers of a case timed side by side (each repeat times every peer once, "
              "in turn); *ratio* = peer time / memokey.key time within a repeat, median over the repeats "
              "(> 1: memokey is faster).", ""]
        for case, c in keys["cases"].items():
            L += [f"### ({case}) {c['title']}", "", "| implementation | median | ratio |", "|---|---:|---:|"]
            for name, t in c["seconds"].items():
                rr = c["ratio"][name]
                L.append(f"| {name} | {fmt_time(t)} | {'' if rr is None else f'{rr:.2f}'} |")
            L.append("")
        if keys.get("records_series"):
            L += ["### key time vs input size: a list of n small records",
                  "", "`[{\"id\": i, \"name\": \"user-...\", \"score\": i / 4, \"active\": ...} for i in range(n)]`; "
                  "*ratio* = xxh3_128(pickle.dumps) time / memokey.key time, side by side.", "",
                  "| records | canonical size | memokey.key | per record | xxh3_128(pickle.dumps) | ratio |",
                  "|---:|---:|---:|---:|---:|---:|"]
            for p in keys["records_series"]:
                L.append(f"| {p['records']:,} | {p['bytes']:,} B | {fmt_time(p['key'])} | "
                         f"{fmt_time(p['key'] / p['records'])} | {fmt_time(p['pickle_xxh3'])} | {p['ratio']:.2f} |")
            L.append("")

    # memo
    if memo:
        titles = {"memory": "memory-tier hit", "disk": "disk-tier hit (value not in memory)",
                  "disk_miss": "disk-tier miss: compute a trivial function + store (`f(next(n), \"hello\", 3.5)`)",
                  "redis": "Redis-tier hit (value not in memory; loopback TCP)",
                  "memory_miss": "memory-tier miss: compute a trivial function, memory only (`store=False`)"}
        L += ["## Memoized hits (`bench/python/memo.py`)", "",
              "Call `f(42, \"hello\", 3.5)`, already cached. Median time per call; *ratio* = peer time / memokey "
              "time (> 1: memokey is faster).", ""]
        for tier, rows in memo.items():
            if not rows:
                continue
            base = next(iter(rows.values()))
            L += [f"### {titles.get(tier, tier)}", "", "| implementation | median | ratio |", "|---|---:|---:|"]
            for name, t in rows.items():
                L.append(f"| {name} | {fmt_time(t)} | {'' if t is None or not base else f'{t / base:.2f}'} |")
            L.append("")

    # server
    if server:
        s = server
        wrk = s.get("wrk_threads", "?")

        def p99s(side: str) -> str:  # the p99 of every round, for the spread
            rounds = s[side].get("p99_us_rounds") or []
            return ", ".join(f"{v / 1000:.2f}" for v in rounds)

        L += ["## memokeyd vs Redis (`bench/server/run.sh`)", "",
              f"GET hits of 1 KiB values over {s['connections']} keep-alive connections, {s['keys']} keys; "
              f"{s['rounds']} rounds of {s.get('duration', '?')} s, each side once per round, after a warm-up; "
              f"client and servers share the {m['cores']} cores. Equal treatment: Redis runs one thread and "
              f"redis-benchmark one client thread, so memokeyd runs {s['threads_embedded']} worker thread(s) driven "
              f"by `wrk -t{wrk}`. requests/s, p50 and p99 are medians over the rounds; *ratio* = requests/s / "
              "Redis's, median of per-round ratios. The last row is memokeyd's default (a worker per core) driven "
              "by one wrk thread per core: more runnable threads than cores (see the notes).", "",
              "| server | requests/s | p50 | p99 | vs Redis | p99 per round (ms) |", "|---|---:|---:|---:|---:|---|",
              f"| redis-benchmark against Redis | {s['redis_rps']:,.0f} | {s['redis_p50_ms']:.3f} ms | "
              f"{s['redis_p99_ms']:.3f} ms | 1.00x | {p99s('redis') if 'redis' in s else ''} |",
              f"| memokeyd, embedded ({s['threads_embedded']} thread(s), wrk -t{wrk}) | {s['embedded_rps']:,.0f} | "
              f"{s['embedded']['p50_us'] / 1000:.3f} ms | {s['embedded']['p99_us'] / 1000:.3f} ms | "
              f"{s['embedded_ratio']:.2f}x | {p99s('embedded')} |",
              f"| memokeyd, Redis-backed ({s['threads_redis']} thread(s), wrk -t{wrk}) | "
              f"{s['redis_backed_rps']:,.0f} | "
              f"{s['redis_backed']['p50_us'] / 1000:.3f} ms | {s['redis_backed']['p99_us'] / 1000:.3f} ms | "
              f"{s['redis_backed_ratio']:.2f}x | {p99s('redis_backed')} |"]
        if "embedded_default" in s:
            d = s["embedded_default"]
            L.append(f"| memokeyd, embedded, default ({s['threads_default']} threads, wrk -t{s['cores']}); "
                     f"information | {s['embedded_default_rps']:,.0f} | {d['p50_us'] / 1000:.3f} ms | "
                     f"{d['p99_us'] / 1000:.3f} ms | {s['embedded_default_ratio']:.2f}x | {p99s('embedded_default')} |")
        L += ["",
              f"ccache's second build, {s['cc_files']} objects, local cache wiped, every object a remote hit "
              f"(medians of {s['cc_rounds']} rounds after a warm-up; each round builds through every target, in "
              "a rotated order); *ratio* = time / ccache straight to Redis, median of per-round ratios:", "",
              "| build | time | ratio |", "|---|---:|---:|",
              f"| ccache -> Redis directly | {s['ccache_redis_s']:.3f} s | 1.00x |",
              f"| ccache -> memokeyd -> Redis | {s['ccache_memokeyd_redis_s']:.3f} s | "
              f"{s['ccache_memokeyd_redis_ratio']:.2f}x |",
              f"| ccache -> memokeyd (embedded) | {s['ccache_memokeyd_embedded_s']:.3f} s | "
              f"{s['ccache_memokeyd_embedded_ratio']:.2f}x |",
              f"| gcc, no ccache | {s['gcc_no_ccache_s']:.3f} s | {s['gcc_no_ccache_s'] / s['ccache_redis_s']:.2f}x |",
              ""]
        if s.get("ccache_rounds"):
            per = [r["memokeyd_redis"] / r["redis"] for r in s["ccache_rounds"]]
            L += [f"Per-round ratios of ccache -> memokeyd -> Redis: {', '.join(f'{x:.2f}' for x in per)}.", ""]
        if s.get("scaling"):
            L += ["### memokeyd scaling (embedded store, short wrk runs)", "",
                  "| series | x | requests/s | p50 | p99 |", "|---|---:|---:|---:|---:|"]
            for p in s["scaling"]:
                x = fmt_size(p["x"]) if p["series"] == "value_size" else str(p["x"])
                L.append(f"| {p['series']} | {x} | {p['result']['rps']:,.0f} | {p['result']['p50_us'] / 1000:.3f} ms"
                         f" | {p['result']['p99_us'] / 1000:.3f} ms |")
            L.append("")

    # series
    if hit:
        L += ["## Memory-tier hit vs argument size", "",
              "`memokey.memoize(store=False)` over `len`, called with a list of n ints, already cached; "
              "memokey.key of the same list for reference.", "",
              "| n | hit | memokey.key(list) |", "|---:|---:|---:|"]
        L += [f"| {h['n']:,} | {fmt_time(h['hit'])} | {fmt_time(h['key'])} |" for h in hit]
        L.append("")
    if rss:
        L += ["## Memory-tier RSS vs entries", "",
              "A fresh process memoizes n distinct calls `f(i)` (`memory=None`, `store=False`); VmRSS growth.", "",
              "| entries | RSS growth | per entry |", "|---:|---:|---:|"]
        for r in rss:
            g = r["after"] - r["before"]
            per = f"{g / r['n']:.0f} B" if r["n"] else ""
            L.append(f"| {r['n']:,} | {g / (1 << 20):.1f} MiB | {per} |")
        L.append("")
    if made:
        L += ["## Plots", ""]
        for name, caption in made:
            L += [f"![{caption}]({name})", ""]

    L += ["## Versions", "", "| component | version |", "|---|---|"]
    L += [f"| {name} | {v} |" for name, v in vers]
    L.append("")
    notes = HERE / "RESULTS.notes.md"
    if notes.exists():
        L.append(notes.read_text().rstrip() + "\n")
    return "\n".join(L)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short repeats (under 3 minutes on 2 cores)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "release")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md",
                        help="the report; its plots are written beside it")
    args = parser.parse_args()
    args.output.resolve().parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="memokey-report-"))
    try:
        cpp = bench_cpp(args.build_dir, args.quick, tmp)
        bench_disk_engines(args.build_dir)
        keys = bench_py("bench/python/run.py", args.quick, tmp)
        memo = bench_py("bench/python/memo.py", args.quick, tmp)
        hit, rss = bench_series(args.quick)
        run_sh = os.access(ROOT / "bench/server/run.sh", os.X_OK)
        server = bench_server(args.build_dir, args.quick, tmp) if run_sh else {}
        server["bazel"] = bench_bazel(args.build_dir, args.quick, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    outdir = args.output.resolve().parent  # the plots go beside the report
    for old in outdir.glob("plot-*.png"):  # no stale plot survives a run that did not make it
        old.unlink()
    made = plots(outdir, cpp, keys, hit, rss, server)
    text = report(args, machine(), versions(), cpp, keys, memo, server, hit, rss, made, time.monotonic() - t0)
    args.output.write_text(text)
    print(text)
    print(f"(written to {args.output}; plots: {', '.join(n for n, _ in made)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
