#!/usr/bin/env python3
"""Benchmark memokey.key against other ways of keying Python values.

One command, every peer timed in the same run on the same inputs:

    python3 bench/python/run.py            # full run (about a minute)
    python3 bench/python/run.py --quick    # shorter repeats

Cases (issue 3, item 6):
  (a) small arguments   ((42, "hello", 3.5, None), {"flag": True})
  (b) a ~40 KB JSON-like document (dicts with str keys, lists, numbers, text)
  (c) a 64 MiB float64 numpy array
  (d) a 1M-row pandas DataFrame (int64, float64 and str columns), also
      against pandas.util.hash_pandas_object(df).sum(); (e) the same frame
      in polars (also against df.hash_rows().sum()); (f) as a pyarrow Table
      -- issue 14, item 6

Peers: memokey.key; xxhash.xxh3_128(pickle.dumps(x)).digest(); joblib.hash;
dask.base.tokenize; cbor2.dumps(x, canonical=True) alone and followed by
xxh3_128; for (c) also xxh3_128 over the raw buffer (the hashing floor), and
XXH3-128 of the raw buffer through the system libxxhash that memokey's C++
core links (ctypes), which separates memokey's overhead from the speed of the
xxHash build.

Each figure is the median over repeats of the mean time per call (timeit,
with the number of calls per repeat chosen so a repeat takes ~0.2 s, or
~0.05 s with --quick). The peers of a case are timed side by side: every
repeat times each of them once, in turn, so a change of load on the shared
machine hits all of them alike. The ratio column is the median over the
repeats of peer time / memokey.key time in that repeat (how many times
faster memokey is); for the raw-buffer row of (c) it is the throughput
ratio memokey / raw xxh3_128 (goal >= 0.85).

A series follows: the key of a list of n small records (dicts of four
fields) for n = 1 .. 65536 (about 40 B to 3 MiB canonical), beside
xxh3_128(pickle.dumps) of the same list -- key time against input size for
structured data, next to the byte-string series of bench_core.

Writes the Markdown table to bench/python/results-core.md and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pickle
import platform
import random
import sys
import timeit
from pathlib import Path
from typing import Any, Callable, Optional

import memokey
from timing import fmt_time, round_ratio, side_by_side

HERE = Path(__file__).resolve().parent


def json_like_document(target_bytes: int = 40_000) -> dict[str, Any]:
    """A deterministic JSON-like document of about target_bytes as JSON."""
    import json

    rng = random.Random(1234)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    doc: dict[str, Any] = {
        "version": 3,
        "generated": "2024-05-01T12:00:00Z",
        "meta": {"source": "bench", "count": 0, "ok": True, "ratio": 0.75, "none": None},
        "users": [],
    }
    i = 0
    while len(json.dumps(doc)) < target_bytes:
        doc["users"].append(
            {
                "id": i,
                "name": f"user-{i:05d}",
                "email": f"user{i}@example.org",
                "active": rng.random() < 0.5,
                "score": round(rng.uniform(0, 100), 3),
                "balance": rng.randint(-10**6, 10**6),
                "tags": rng.sample(words, 3),
                "address": {"city": rng.choice(words).title(), "zip": f"{rng.randint(0, 99999):05d}",
                            "geo": [rng.uniform(-90, 90), rng.uniform(-180, 180)]},
                "history": [{"t": j, "v": rng.random()} for j in range(3)],
            }
        )
        i += 1
    doc["meta"]["count"] = i
    return doc


def records(n: int) -> list[dict[str, Any]]:
    """n small records, the shape of rows from a database or a JSON API."""
    return [{"id": i, "name": f"user-{i:05d}", "score": i * 0.25, "active": i % 3 == 0} for i in range(n)]


def records_series(quick: bool) -> list[dict[str, Any]]:
    """memokey.key and xxh3_128(pickle.dumps) of records(n), side by side, against the size."""
    import xxhash

    h, dumps, key = xxhash.xxh3_128, pickle.dumps, memokey.key
    out = []
    for n in (4**i for i in range(9)):  # 1 .. 65536 records
        x = records(n)
        med, rounds = side_by_side({"key": timeit.Timer(lambda: key(x)),
                                    "pickle_xxh3": timeit.Timer(lambda: h(dumps(x)).digest())},
                                   0.02 if quick else 0.1, 3 if quick else 5)
        out.append({"records": n, "bytes": len(memokey.dumps(x)), "key": med["key"],
                    "pickle_xxh3": med["pickle_xxh3"], "ratio": round_ratio(rounds, "pickle_xxh3", "key")})
        print(f"  records {n:6d} ({out[-1]['bytes']:>8d} B): key {fmt_time(med['key'])}, "
              f"xxh3_128(pickle.dumps) {fmt_time(med['pickle_xxh3'])}", file=sys.stderr)
    return out


def peers(case: str, x: Any) -> list[tuple[str, Optional[Callable[[], Any]]]]:
    import xxhash

    h = xxhash.xxh3_128
    out: list[tuple[str, Optional[Callable[[], Any]]]] = []
    key = memokey.key
    out.append(("memokey.key", lambda: key(x)))
    dumps = pickle.dumps
    out.append(("xxh3_128(pickle.dumps)", lambda: h(dumps(x)).digest()))
    try:
        import joblib

        jhash = joblib.hash
        out.append(("joblib.hash", lambda: jhash(x)))
    except ImportError:
        out.append(("joblib.hash", None))
    try:
        from dask.base import tokenize

        out.append(("dask.base.tokenize", lambda: tokenize(x)))
    except ImportError:
        out.append(("dask.base.tokenize", None))
    try:
        import cbor2

        cdumps = cbor2.dumps
        try:
            cdumps(x, canonical=True)
            ok = True
        except Exception:  # cbor2 cannot encode numpy arrays
            ok = False
        out.append(("cbor2.dumps(canonical)", (lambda: cdumps(x, canonical=True)) if ok else None))
        out.append(("xxh3_128(cbor2 canonical)", (lambda: h(cdumps(x, canonical=True)).digest()) if ok else None))
    except ImportError:
        out.append(("cbor2.dumps(canonical)", None))
    if case == "d":
        import pandas as pd

        hpo = pd.util.hash_pandas_object
        out.append(("hash_pandas_object(df).sum()", lambda: hpo(x).sum()))
    if case == "e":
        out.append(("df.hash_rows().sum()", lambda: x.hash_rows().sum()))
    if case == "c":
        mv = memoryview(x).cast("B")
        out.append(("xxh3_128(raw buffer)", lambda: h(mv).digest()))
        out.extend(system_xxh3_peers(x))
    return out


def system_xxh3_peers(a: Any) -> list[tuple[str, Optional[Callable[[], Any]]]]:
    """XXH3-128 of the raw buffer through the system libxxhash that memokey's
    C++ core links (its baseline entry point, which lib/src/key.cc uses, and
    the runtime-dispatched one): separates memokey's own overhead from the
    speed of the hash implementation."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("xxhash")
    if name is None:
        return []
    lib = ctypes.CDLL(name)

    class Hash128(ctypes.Structure):
        _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]

    ptr, size = a.ctypes.data, a.nbytes
    out: list[tuple[str, Optional[Callable[[], Any]]]] = []
    for symbol, label in (("XXH3_128bits", "libxxhash XXH3_128bits (raw buffer)"),
                          ("XXH3_128bits_dispatch", "libxxhash XXH3_128bits_dispatch (raw buffer)")):
        fn = getattr(lib, symbol, None)
        if fn is None:
            continue
        fn.restype = Hash128
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        out.append((label, (lambda f=fn: f(ptr, size))))
    return out


def frame_cases(rows: int) -> list[tuple[str, str, Any]]:
    """(d), (e), (f): one frame of `rows` rows (int64, float64, str columns)
    in pandas, polars and pyarrow -- each case only when its library is
    installed."""
    import numpy as np

    rng = np.random.default_rng(11)
    columns = {"i": np.arange(rows, dtype=np.int64), "f": rng.standard_normal(rows),
               "s": [f"item-{v}" for v in rng.integers(0, 10**9, rows)]}
    what = f"{rows // 1_000_000}M-row" if rows % 1_000_000 == 0 else f"{rows}-row"
    out: list[tuple[str, str, Any]] = []
    try:
        import pandas as pd

        df = pd.DataFrame(columns)
        out.append(("d", f"{what} pandas {pd.__version__} DataFrame (int64, float64, {df['s'].dtype} columns)", df))
    except ImportError:
        pass
    try:
        import polars as pl

        out.append(("e", f"{what} polars {pl.__version__} DataFrame (Int64, Float64, String)", pl.DataFrame(columns)))
    except ImportError:
        pass
    try:
        import pyarrow as pa

        out.append(("f", f"{what} pyarrow {pa.__version__} Table (int64, double, large_string)",
                    pa.table({k: pa.array(v, type=pa.large_string() if k == "s" else None)
                              for k, v in columns.items()})))
    except ImportError:
        pass
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter repeats")
    parser.add_argument("--output", type=Path, default=HERE / "results-core.md")
    parser.add_argument("--json", type=Path, help="also write the medians and ratios as JSON here")
    args = parser.parse_args()

    import numpy as np

    target, repeats = (0.05, 5) if args.quick else (0.2, 9)
    small = ((42, "hello", 3.5, None), {"flag": True})
    doc = json_like_document()
    array = np.random.default_rng(7).standard_normal(64 * 1024 * 1024 // 8)
    import json

    cases = [
        ("a", "small arguments `((42, \"hello\", 3.5, None), {\"flag\": True})`", small),
        ("b", f"JSON-like document ({len(json.dumps(doc)) / 1000:.1f} KB as JSON, "
              f"{len(memokey.dumps(doc)) / 1000:.1f} KB canonical)", doc),
        ("c", "64 MiB float64 numpy array", array),
        *frame_cases(1_000_000),
    ]
    results: dict[str, list[tuple[str, Optional[float]]]] = {}
    ratios: dict[str, dict[str, Optional[float]]] = {}
    for case, title, x in cases:
        case_peers = peers(case, x)
        timers = {name: timeit.Timer(fn) for name, fn in case_peers if fn is not None}
        # Large inputs: fewer, longer repeats are enough.
        med, rounds = side_by_side(timers, target, repeats if case in "ab" else max(3, repeats // 2))
        results[case] = [(name, med.get(name)) for name, _ in case_peers]
        ratios[case] = {name: round_ratio(rounds, name, "memokey.key") if name in med else None
                        for name, _ in case_peers}
        for name, _ in case_peers:
            print(f"  ({case}) {name:28s} {fmt_time(med.get(name))}", file=sys.stderr)
    series = records_series(args.quick)

    lines = []
    lines.append("# memokey Python benchmark: keying values (issue 3, item 6)")
    lines.append("")
    lines.append(f"Command: `python3 bench/python/run.py{' --quick' if args.quick else ''}` "
                 f"({datetime.date.today().isoformat()})")
    lines.append("")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = [f"Python {platform.python_version()}", f"memokey {memokey.__version__}", f"numpy {np.__version__}"]
    for mod in ("xxhash", "joblib", "dask", "cbor2", "pandas", "polars", "pyarrow"):
        try:
            from importlib.metadata import version

            versions.append(f"{mod} {version(mod)}")
        except Exception:
            pass
    lines.append(f"Machine: {cpu}, {os.cpu_count()} CPUs; {', '.join(versions)}.")
    lines.append("")
    lines.append("Median time per call, the peers of a case timed side by side; *ratio* = peer time / "
                 "memokey.key time within a repeat, median over the repeats (> 1: memokey is faster).")
    lines.append("")
    for case, title, _x in cases:
        rows = results[case]
        lines.append(f"## ({case}) {title}")
        lines.append("")
        lines.append("| implementation | median | ratio |")
        lines.append("|---|---:|---:|")
        for name, t in rows:
            if t is None:
                lines.append(f"| {name} | n/a | |")
            elif name == "memokey.key":
                lines.append(f"| **{name}** | **{fmt_time(t)}** | 1.00 |")
            else:
                lines.append(f"| {name} | {fmt_time(t)} | {ratios[case][name]:.2f} |")
        lines.append("")

    def ratio(case: str, peer: str) -> Optional[float]:
        return ratios.get(case, {}).get(peer)

    # memokey's own overhead on (c): against the same hash implementation
    # (lib/src/key.cc calls libxxhash's runtime-dispatched entry points on x86-64).
    same_lib = ratio("c", "libxxhash XXH3_128bits_dispatch (raw buffer)") or ratio(
        "c", "libxxhash XXH3_128bits (raw buffer)")
    if same_lib is not None:
        lines.append("(c) against the same hash code -- XXH3-128 of the raw buffer through the system libxxhash "
                     f"that memokey's core calls: {same_lib:.2f}x the throughput (memokey's "
                     "own overhead); the python-xxhash wheel bundles a newer, faster xxHash.")
        lines.append("")
    lines.append("## Key time vs input size: lists of small records")
    lines.append("")
    lines.append("`[{\"id\": i, \"name\": \"user-...\", \"score\": i / 4, \"active\": ...} for i in range(n)]`; "
                 "size = canonical bytes; *ratio* = xxh3_128(pickle.dumps) time / memokey.key time.")
    lines.append("")
    lines.append("| records | canonical size | memokey.key | per record | xxh3_128(pickle.dumps) | ratio |")
    lines.append("|---:|---:|---:|---:|---:|---:|")
    for p in series:
        lines.append(f"| {p['records']:,} | {p['bytes']:,} B | {fmt_time(p['key'])} | "
                     f"{fmt_time(p['key'] / p['records'])} | {fmt_time(p['pickle_xxh3'])} | {p['ratio']:.2f} |")
    lines.append("")

    goals = [
        ("(a) ≥ 4x faster than xxh3_128(pickle.dumps)", ratio("a", "xxh3_128(pickle.dumps)"), 4.0),
        ("(b) ≥ 2x faster than xxh3_128(pickle.dumps)", ratio("b", "xxh3_128(pickle.dumps)"), 2.0),
        ("(c) ≥ 0.85x the throughput of xxh3_128 over the raw buffer", ratio("c", "xxh3_128(raw buffer)"), 0.85),
        ("(d) 1M-row pandas DataFrame ≥ 5x faster than joblib.hash", ratio("d", "joblib.hash"), 5.0),
        ("(d) 1M-row pandas DataFrame faster than hash_pandas_object(df).sum()",
         ratio("d", "hash_pandas_object(df).sum()"), 1.0),
    ]
    lines.append("## Goals")
    lines.append("")
    lines.append("| goal | measured | met |")
    lines.append("|---|---:|:---:|")
    all_met = True
    for text, r, want in goals:
        met = r is not None and r >= want
        all_met = all_met and met
        lines.append(f"| {text} | {'n/a' if r is None else f'{r:.2f}x'} | {'yes' if met else 'NO'} |")
    lines.append("")
    table = "\n".join(lines)
    print(table)
    args.output.write_text(table)
    if args.json:
        import json as json_mod

        args.json.write_text(json_mod.dumps({
            "cases": {case: {"title": title,
                             "seconds": {name: t for name, t in results[case]},
                             "ratio": ratios[case]}
                      for case, title, _x in cases},
            "goals": [{"goal": text, "ratio": r, "want": want, "met": r is not None and r >= want}
                      for text, r, want in goals],
            "records_series": series,
        }, indent=1))
    print(f"(written to {args.output})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
