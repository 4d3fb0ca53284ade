#!/usr/bin/env python3
"""Bazel's second build through memokeyd vs through reference caches.

    python3 bench/buildcache/bazel.py [--memokeyd build/release/server/memokeyd]
        [--actions 200] [--kib 128] [--repeat 9] [--json] [--out bench/buildcache/RESULTS.md]

The reference the issue asks for is bazel-remote. Its Go module cannot be
fetched here (`go install github.com/buchgr/bazel-remote/v2@latest`: the
module proxy answers 403 "This module version is not available", for v2 and
v1 tags alike, asked again 2026-12-03), so the references are:
  - disk_cache: Bazel's own --disk_cache, a local directory, no network at
    all — the issue's named fallback and the goal's reference;
  - nginx: nginx with its WebDAV PUT (one of the HTTP caches Bazel's remote
    caching docs name; Debian's nginx-light, installed by scripts/setup). It
    goes through the same Bazel HTTP client as memokeyd, so memokeyd / nginx
    is what the server itself adds, and disk_cache / nginx what Bazel's HTTP
    client costs over local files whatever the server.

A generated genrule workspace (--actions genrules, each writing --kib KiB) is
built once per cache to fill it. Then, --repeat times, alternating between the
caches so that a shared machine's load falls on all alike, two timed builds
per cache that must take every action from it:
  - expunge: `bazel clean --expunge`, then `bazel build` — the issue's
    "second build from clean local caches" (a fresh CI runner: a new Bazel
    server, cold analysis, empty output base; the cache is all it has). This
    is the goal's figure.
  - warm: `bazel clean` with the Bazel server kept up, then `bazel build`:
    analysis is warm, so the build is almost only cache fetches — the
    strictest view of the cache's own cost, reported beside it.
--jobs (default 32) lets Bazel look up that many actions at once, as
recommended with a remote cache; Bazel's default, the core count, would
serialize the fetches behind 2 slots here. Figures are medians of --repeat
wall times; the goal is memokeyd / disk_cache <= 1.1 in the expunge mode.

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


def start_nginx(tmp: Path, port: int) -> subprocess.Popen | None:
    """nginx as a plain WebDAV PUT/GET cache on 127.0.0.1:port, or None if absent."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        return None
    conf = tmp / "nginx"
    (conf / "data").mkdir(parents=True)
    # `user root`: as root, nginx's workers would otherwise drop to www-data,
    # which cannot write into this private temporary directory.
    user = "user root;" if os.geteuid() == 0 else ""
    (conf / "nginx.conf").write_text(f"""{user} worker_processes 2; daemon off;
pid {conf}/nginx.pid; error_log {conf}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {conf}/body;
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {conf}/data; dav_methods PUT; create_full_put_path on; client_max_body_size 0; }}
  }}
}}
""")
    return subprocess.Popen([nginx, "-c", str(conf / "nginx.conf"), "-p", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.05)


def timed_cached_build(bazel: Bazel, common: list[str], actions: int, mode: str = "warm") -> float:
    """`bazel clean` (mode "warm") or `bazel clean --expunge` (mode "expunge"),
    then a build that must take every action from the cache."""
    bazel("clean", *(["--expunge"] if mode == "expunge" else []))
    start = time.perf_counter()
    out = bazel("build", *common)
    elapsed = time.perf_counter() - start
    # Bazel 4.2 counts disk cache hits as "remote cache hit" too.
    m = re.search(r"(\d+) remote cache hit", out)
    if not m or int(m.group(1)) != actions:
        raise RuntimeError(f"expected {actions} remote cache hits in:\n{out}")
    return elapsed


MODES = ("expunge", "warm")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memokeyd", default=os.environ.get("MEMOKEYD") or
                    str(ROOT / "build/release/server/memokeyd"))
    ap.add_argument("--actions", type=int, default=200)
    ap.add_argument("--kib", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=9)
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
    daemons: list[subprocess.Popen] = []
    try:
        ws = tmp / "ws"
        write_workspace(ws, args.actions, args.kib)
        port = free_port()
        daemons.append(subprocess.Popen(
            [args.memokeyd, "--listen", f"127.0.0.1:{port}", "--anonymous", "read-write",
             "--data-dir", str(tmp / "memokeyd-data"), "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_port(port, "memokeyd")
        configs = {
            "memokeyd": [f"--remote_cache=http://127.0.0.1:{port}/bazel"],
            "disk_cache": [f"--disk_cache={tmp / 'disk-cache'}"],
        }
        nginx_port = free_port()
        nginx = start_nginx(tmp, nginx_port)
        if nginx is not None:
            daemons.append(nginx)
            wait_for_port(nginx_port, "nginx")
            configs["nginx"] = [f"--remote_cache=http://127.0.0.1:{nginx_port}/bazel"]
        else:
            print("nginx not installed (scripts/setup installs nginx-light): no nginx row",
                  file=sys.stderr)

        # One Bazel output root per cache; the timed builds alternate between
        # them so that the load of a shared machine falls on all alike.
        servers = {name: Bazel(ws, tmp / f"root-{name}") for name in configs}
        results = {mode: {name: [] for name in configs} for mode in MODES}
        try:
            common = {name: ["--spawn_strategy=local", f"--jobs={args.jobs}",
                             "--show_progress_rate_limit=60", *flags, "//:everything"]
                      for name, flags in configs.items()}
            for name in configs:
                servers[name]("build", *common[name])  # fills the cache
            for _ in range(args.repeat):
                for mode in MODES:
                    for name in configs:
                        results[mode][name].append(
                            timed_cached_build(servers[name], common[name], args.actions, mode))
        finally:
            for bazel in servers.values():
                bazel.close()
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    med = {mode: {k: statistics.median(v) for k, v in r.items()} for mode, r in results.items()}
    ratios = {mode: {f"memokeyd_over_{ref}": m["memokeyd"] / m[ref] for ref in m if ref != "memokeyd"}
              for mode, m in med.items()}
    ratio = ratios["expunge"]["memokeyd_over_disk_cache"]
    summary = {
        "actions": args.actions, "kib_per_output": args.kib, "repeat": args.repeat,
        "jobs": args.jobs, "seconds": results, "median_s": med, "ratios": ratios,
        "ratio_memokeyd_over_disk_cache": ratio,
        "ratio_memokeyd_over_disk_cache_warm": ratios["warm"]["memokeyd_over_disk_cache"],
        "ratio_memokeyd_over_nginx_warm": ratios["warm"].get("memokeyd_over_nginx"),
        "ratio_nginx_over_disk_cache_warm":
            med["warm"]["nginx"] / med["warm"]["disk_cache"] if "nginx" in med["warm"] else None,
        "goal": 1.1, "goal_met": ratio <= 1.1,
        "reference": "bazel --disk_cache (bazel-remote's Go module is not fetchable here: 403)",
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=2))
    lines = [
        "# Bazel second build: memokeyd vs Bazel's --disk_cache (and nginx WebDAV)",
        "",
        "Generated by `python3 bench/buildcache/bazel.py` (run by `scripts/dev bench`).",
        f"{args.actions} genrule actions, {args.kib} KiB output each, `--jobs={args.jobs}`; every timed "
        f"build takes all its actions from the cache; median of {args.repeat}, the caches alternating.",
        "- expunge: after `bazel clean --expunge` (the issue's second build from clean local caches: "
        "new Bazel server, cold analysis) — the goal's mode.",
        "- warm: after `bazel clean`, Bazel server and analysis warm: almost only cache fetches.",
        "Reference: Bazel's own --disk_cache, because bazel-remote cannot be installed here "
        "(the Go module proxy answers 403 for github.com/buchgr/bazel-remote/v2); nginx (WebDAV PUT) "
        "is a second HTTP cache through the same Bazel client.",
        "",
        "| mode | cache | median build | runs (s) |",
        "| --- | --- | ---: | --- |",
    ]
    for mode in MODES:
        for name in results[mode]:
            runs = ", ".join(f"{t:.2f}" for t in results[mode][name])
            lines.append(f"| {mode} | {name} | {med[mode][name]:.2f} s | {runs} |")
    lines += [""]
    for mode in MODES:
        lines.append(f"- {mode}: " + ", ".join(f"{k.replace('_over_', ' / ')} **{v:.2f}x**"
                                            for k, v in ratios[mode].items()))
    lines += ["", f"Goal (expunge mode, memokeyd / disk cache <= 1.1x): **{ratio:.2f}x**, "
              f"{'met' if ratio <= 1.1 else 'NOT met'}.", ""]
    text = "\n".join(lines)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
