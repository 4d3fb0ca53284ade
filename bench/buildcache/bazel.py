#!/usr/bin/env python3
"""Bazel's second build through memokeyd vs through a reference cache.

    python3 bench/buildcache/bazel.py [--memokeyd build/release/server/memokeyd]
        [--actions 200] [--kib 128] [--repeat 3] [--json] [--out bench/buildcache/RESULTS.md]

The reference the issue asks for is bazel-remote. Its Go module cannot be
fetched here (`go install github.com/buchgr/bazel-remote/v2@latest`: the
module proxy answers 403 "This module version is not available", for v2 and
v1 tags alike), so the reference is Bazel's own --disk_cache: a local
directory, no network at all — a lower bound for any remote cache.

A generated genrule workspace (--actions genrules, each writing --kib KiB) is
built once per cache to fill it. Then, --repeat times and alternating between
the two caches: `bazel clean` (the Bazel server stays up, so analysis is warm
and the timed build is mostly cache fetches), and a timed `bazel build` that
must take every action from the cache. --jobs (default 32) lets Bazel look up
that many actions at once, as recommended with a remote cache; Bazel's
default, the core count, would serialize the fetches behind 2 slots here. The figure is the median of those builds' wall times, for memokeyd
(--remote_cache=http://..., memokeyd with a --data-dir tiered store) and for
--disk_cache; the ratio is memokeyd / disk cache (goal: <= 1.1).

Run by `scripts/dev bench` (not by CI); writes --out and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_workspace(ws: Path, actions: int, kib: int) -> None:
    ws.mkdir(parents=True)
    (ws / "WORKSPACE").write_text('workspace(name = "bench")\n')
    rules = []
    for i in range(actions):
        # Deterministic, distinct content per action.
        lines = kib * 1024 // 16
        rules.append(
            f'genrule(name = "g{i}", outs = ["g{i}.out"],\n'
            f'        cmd = "awk \'BEGIN {{ for (n = 0; n < {lines}; n++) '
            f'printf(\\"%07d %07d\\\\n\\", {i}, n) }}\' > $@")\n')
    rules.append('filegroup(name = "everything", srcs = [%s])\n' %
                 ", ".join(f'":g{i}"' for i in range(actions)))
    (ws / "BUILD").write_text("".join(rules))


class Bazel:
    """A Bazel server for one workspace, shut down by close()."""

    def __init__(self, ws: Path, root: Path):
        self.ws = ws
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BAZEL")}
        self.env["HOME"] = str(root / "home")
        (root / "home").mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str) -> str:
        cmd = ["bazel", "--nohome_rc", "--noworkspace_rc", f"--output_user_root={self.root}",
               "--max_idle_secs=300", *args]
        r = subprocess.run(cmd, cwd=self.ws, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}:\n{r.stdout}")
        return r.stdout

    def close(self) -> None:
        subprocess.run(["bazel", "--nohome_rc", f"--output_user_root={self.root}", "shutdown"],
                       cwd=self.ws, env=self.env, capture_output=True)


def timed_cached_build(bazel: Bazel, common: list[str], actions: int) -> float:
    """`bazel clean`, then a build that must take every action from the cache."""
    bazel("clean")
    start = time.perf_counter()
    out = bazel("build", *common)
    elapsed = time.perf_counter() - start
    # Bazel 4.2 counts disk cache hits as "remote cache hit" too.
    m = re.search(r"(\d+) remote cache hit", out)
    if not m or int(m.group(1)) != actions:
        raise RuntimeError(f"expected {actions} remote cache hits in:\n{out}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memokeyd", default=os.environ.get("MEMOKEYD") or
                    str(ROOT / "build/release/server/memokeyd"))
    ap.add_argument("--actions", type=int, default=200)
    ap.add_argument("--kib", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=32,
                    help="bazel --jobs: parallel cache lookups (Bazel's default is the core count)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--json-out", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--out", default=str(ROOT / "bench/buildcache/RESULTS.md"),
                    help="Markdown file to write ('' for none)")
    args = ap.parse_args()
    if not shutil.which("bazel"):
        print("bazel not installed (scripts/setup installs bazel-bootstrap): skipped", file=sys.stderr)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="bench-bazel-"))
    server = None
    try:
        ws = tmp / "ws"
        write_workspace(ws, args.actions, args.kib)
        port = free_port()
        server = subprocess.Popen([args.memokeyd, "--listen", f"127.0.0.1:{port}", "--anonymous",
                                   "read-write", "--data-dir", str(tmp / "memokeyd-data"),
                                   "--log-level", "warn"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("memokeyd did not start")
                time.sleep(0.05)

        configs = {
            "memokeyd": [f"--remote_cache=http://127.0.0.1:{port}/bazel"],
            "disk_cache": [f"--disk_cache={tmp / 'disk-cache'}"],
        }
        # One Bazel server per configuration, both kept warm; the timed builds
        # alternate between them so that the load of a shared machine falls on
        # both alike.
        servers = {name: Bazel(ws, tmp / f"root-{name}") for name in configs}
        results = {name: [] for name in configs}
        try:
            common = {name: ["--spawn_strategy=local", f"--jobs={args.jobs}",
                             "--show_progress_rate_limit=60", *flags, "//:everything"]
                      for name, flags in configs.items()}
            for name in configs:
                servers[name]("build", *common[name])  # fills the cache
            for _ in range(args.repeat):
                for name in configs:
                    results[name].append(timed_cached_build(servers[name], common[name],
                                                            args.actions))
        finally:
            for bazel in servers.values():
                bazel.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = med["memokeyd"] / med["disk_cache"]
    summary = {
        "actions": args.actions, "kib_per_output": args.kib, "repeat": args.repeat,
        "jobs": args.jobs,
        "seconds": results, "median_s": med, "ratio_memokeyd_over_disk_cache": ratio,
        "goal": 1.1, "goal_met": ratio <= 1.1,
        "reference": "bazel --disk_cache (bazel-remote's Go module is not fetchable here: 403)",
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=2))
    lines = [
        "# Bazel second build: memokeyd vs Bazel's --disk_cache",
        "",
        "Generated by `python3 bench/buildcache/bazel.py` (run by `scripts/dev bench`).",
        f"{args.actions} genrule actions, {args.kib} KiB output each, `--jobs={args.jobs}`; after "
        f"`bazel clean` (server warm) the build takes every action from the cache; median of "
        f"{args.repeat}, the two caches alternating.",
        "Reference: Bazel's own --disk_cache, because bazel-remote cannot be installed here "
        "(the Go module proxy answers 403 for github.com/buchgr/bazel-remote/v2).",
        "",
        "| cache | median second build | runs (s) |",
        "| --- | ---: | --- |",
    ]
    for name in ("memokeyd", "disk_cache"):
        runs = ", ".join(f"{t:.2f}" for t in results[name])
        lines.append(f"| {name} | {med[name]:.2f} s | {runs} |")
    lines += ["", f"Ratio memokeyd / disk cache: **{ratio:.2f}x** (goal <= 1.1x: "
              f"{'met' if ratio <= 1.1 else 'NOT met'})", ""]
    text = "\n".join(lines)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
