#!/usr/bin/env bash
# bench/server/run.sh [--quick] [--scaling] [--json PATH] — memokeyd beside Redis, both sides in one run.
#
#   1. GET hits of 1 KiB values over 50 keep-alive connections:
#        wrk against memokeyd on its embedded memory store,
#        wrk against memokeyd backed by Redis,
#        redis-benchmark -t get -d 1024 -c 50 against that Redis itself,
#        and, for information, wrk -t<cores> against memokeyd with its default
#        threads (a worker per core).
#      Goals: embedded >= 1.0x Redis's GET rate, Redis-backed >= 0.5x, p99 <= 2 ms.
#   2. ccache's second build (local cache wiped, every object a remote hit)
#      through memokeyd vs ccache pointed straight at Redis. Goal <= 1.1x.
#
#   3. With --scaling: the embedded memokeyd's GET requests/s and p99 vs value
#      size (1 KiB .. 1 MiB, 50 connections) and vs connections (1 .. 256,
#      1 KiB values), short wrk runs.
# --json PATH also writes the medians, ratios and any scaling series as JSON.
#
# Equal treatment: Redis runs one thread and redis-benchmark one client
# thread; memokeyd gets the same by default, one worker thread (--threads 1)
# driven by one wrk thread. Every side warms up first; ratios are medians of
# per-round ratios, p50/p99 medians over the rounds.
#
# Everything runs on free loopback ports and is stopped at the end (by PID).
# Environment: MEMOKEYD=path (default build/release/server/memokeyd),
# MEMOKEYD_THREADS (default 1), WRK_THREADS (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

QUICK=0 SCALING=0 JSON_OUT=""
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --scaling) SCALING=1 ;;
    --json) JSON_OUT=$2; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench/server/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

MEMOKEYD=${MEMOKEYD:-build/release/server/memokeyd}
MK_THREADS=${MEMOKEYD_THREADS:-1}
WRK_THREADS=${WRK_THREADS:-1}
CORES=$(nproc)
KEYS=1000
CONNECTIONS=50
if ((QUICK)); then
  DURATION=2 ROUNDS=3 CC_FILES=40 CC_ROUNDS=9
else
  DURATION=5 ROUNDS=5 CC_FILES=40 CC_ROUNDS=21
fi
# redis-benchmark runs a number of requests, not a duration: about as long as wrk's runs.
REQUESTS=$((DURATION * 100000))

for tool in "$MEMOKEYD" redis-server redis-benchmark wrk curl ccache python3; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x $tool ]] || { echo "missing: $tool (scripts/setup installs it)" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/memokeyd-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
now() { python3 -c 'import time; print(time.monotonic())'; }

# --- servers ---------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
  >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

start_memokeyd() {  # name, extra args...; sets URL_<name> and THREADS_<name>
  local name=$1; shift
  "$MEMOKEYD" --listen 127.0.0.1:0 "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  local addr=""
  for _ in $(seq 200); do
    addr=$(grep -o '"addr":"[^"]*"' "$TMP/$name.log" 2>/dev/null | head -1 | cut -d'"' -f4 || true)
    [[ -n $addr ]] && break
    sleep 0.05
  done
  [[ -n $addr ]] || { cat "$TMP/$name.log" >&2; exit 1; }
  printf -v "URL_$name" 'http://%s' "$addr"
  printf -v "THREADS_$name" '%s' "$(grep -o '"threads":[0-9]*' "$TMP/$name.log" | head -1 | cut -d: -f2)"
}
start_memokeyd embedded --threads "$MK_THREADS"
start_memokeyd redis --threads "$MK_THREADS" --store "redis://127.0.0.1:$REDIS_PORT"
start_memokeyd default  # its default threads: a worker per core

# --- preload 1 KiB values -----------------------------------------------------------
head -c 1024 /dev/urandom >"$TMP/value"
for name in embedded redis default; do
  url_var="URL_$name"
  # curl's URL globbing: KEYS PUTs over one keep-alive connection.
  curl -sS -o /dev/null -X PUT --data-binary @"$TMP/value" "${!url_var}/v1/bench/k[0-$((KEYS - 1))]"
done
redis-benchmark -p "$REDIS_PORT" -t set -d 1024 -r "$KEYS" -n $((KEYS * 30)) -q >/dev/null

# --- GET throughput -----------------------------------------------------------------
run_wrk() {  # url threads seconds -> JSON line
  wrk -t"$2" -c"$CONNECTIONS" -d"$3s" -s bench/server/get.lua "$1" -- "$KEYS" | tail -1
}
run_redis_benchmark() {  # requests -> JSON line
  redis-benchmark -p "$REDIS_PORT" -t get -d 1024 -r "$KEYS" -c "$CONNECTIONS" -n "$1" --csv |
    python3 -c 'import csv,json,sys; r=list(csv.reader(sys.stdin))[-1]
print(json.dumps({"rps": float(r[1]), "p50_us": float(r[4]) * 1000, "p99_us": float(r[6]) * 1000}))'
}
check_wrk() {  # JSON line: no errors
  if [[ $(json_field "$1" non_2xx) != 0 || $(json_field "$1" socket_errors) != 0 ]]; then
    echo "wrk saw errors: $1" >&2; exit 1
  fi
}

# Warm-up: connections, caches and the servers' allocators, unmeasured.
run_redis_benchmark 50000 >/dev/null
run_wrk "$URL_embedded" "$WRK_THREADS" 1 >/dev/null
run_wrk "$URL_redis" "$WRK_THREADS" 1 >/dev/null
run_wrk "$URL_default" "$CORES" 1 >/dev/null

ROUNDS_JSON="$TMP/rounds.jsonl"
: >"$ROUNDS_JSON"
for round in $(seq "$ROUNDS"); do
  redis_json=$(run_redis_benchmark "$REQUESTS")
  emb_json=$(run_wrk "$URL_embedded" "$WRK_THREADS" "$DURATION")
  red_json=$(run_wrk "$URL_redis" "$WRK_THREADS" "$DURATION")
  def_json=$(run_wrk "$URL_default" "$CORES" "$DURATION")
  for j in "$emb_json" "$red_json" "$def_json"; do check_wrk "$j"; done
  echo "{\"redis\":$redis_json,\"embedded\":$emb_json,\"redis_backed\":$red_json,\"embedded_default\":$def_json}" \
    >>"$ROUNDS_JSON"
  echo "round $round: redis $(json_field "$redis_json" rps)/s, memokeyd embedded $(json_field "$emb_json" rps)/s," \
    "memokeyd+redis $(json_field "$red_json" rps)/s, embedded default threads $(json_field "$def_json" rps)/s"
done
hits_embedded=$(curl -s "$URL_embedded/metrics" | awk '$1=="memokeyd_cache_hits_total"{print $2}')
miss_embedded=$(curl -s "$URL_embedded/metrics" | awk '$1=="memokeyd_cache_misses_total"{print $2}')

# --- scaling (embedded store): value size and connections --------------------------------
SCALING_JSON="$TMP/scaling.jsonl"
: >"$SCALING_JSON"
if ((SCALING)); then
  SC_KEYS=32 SC_DURATION=${SCALING_DURATION:-2}
  for size in 1024 16384 131072 1048576; do
    head -c "$size" /dev/urandom >"$TMP/value-$size"
    curl -sS -o /dev/null -X PUT --data-binary @"$TMP/value-$size" "$URL_embedded/v1/scale$size/k[0-$((SC_KEYS - 1))]"
    j=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${SC_DURATION}s" -s bench/server/get.lua "$URL_embedded" \
          -- "$SC_KEYS" "/v1/scale$size/k" | tail -1)
    echo "{\"series\":\"value_size\",\"x\":$size,\"result\":$j}" >>"$SCALING_JSON"
    echo "scaling: value $size B, $CONNECTIONS connections: $(json_field "$j" rps) req/s"
  done
  for conns in 1 4 16 64 256; do
    threads=$((conns < WRK_THREADS ? conns : WRK_THREADS))
    j=$(wrk -t"$threads" -c"$conns" -d"${SC_DURATION}s" -s bench/server/get.lua "$URL_embedded" \
          -- "$SC_KEYS" "/v1/scale1024/k" | tail -1)
    echo "{\"series\":\"connections\",\"x\":$conns,\"result\":$j}" >>"$SCALING_JSON"
    echo "scaling: $conns connections, 1 KiB values: $(json_field "$j" rps) req/s"
  done
fi

# --- ccache: second build through memokeyd vs straight at Redis --------------------------
CCACHE_SRC="$TMP/project"
mkdir -p "$CCACHE_SRC"
python3 - "$CCACHE_SRC" "$CC_FILES" <<'EOF'
import sys, pathlib
root, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
(root / "common.h").write_text("#pragma once\n#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
for i in range(n):
    body = "\n".join(f"static int f{j}(int x) {{ int s = 0; for (int k = 0; k < x; ++k) s += k * {j} ^ {i}; return s; }}"
                     for j in range(60))
    (root / f"u{i}.c").write_text(f'#include "common.h"\n{body}\nint u{i}(int n) {{ return ' +
                                  " + ".join(f"f{j}(n)" for j in range(60)) + "; }\n")
EOF

ccache_env() {  # remote-url cache-dir
  : >"$TMP/ccache.conf"
  export CCACHE_CONFIGPATH="$TMP/ccache.conf" CCACHE_REMOTE_STORAGE="$1" CCACHE_DIR="$2"
}
compile_all() { (cd "$CCACHE_SRC" && for f in u*.c; do ccache gcc -O2 -c "$f" -o "${f%.c}.o"; done); }
ccache_populate() {  # remote-url: the first build, which fills the remote storage
  ccache_env "$1" "$TMP/ccache-populate-$RANDOM"
  compile_all
}
ccache_second_build() {  # remote-url -> seconds; the local cache starts empty
  local dir="$TMP/ccache-$RANDOM" t0 t1 hits
  ccache_env "$1" "$dir"
  rm -f "$CCACHE_SRC"/*.o
  t0=$(now)
  compile_all
  t1=$(now)
  hits=$(ccache --print-stats | awk -F'\t' '$1=="remote_storage_hit"{print $2}')
  [[ $hits == "$CC_FILES" ]] || { echo "ccache: $hits remote hits of $CC_FILES via $1" >&2; exit 1; }
  rm -rf "$dir"
  python3 -c "print($t1 - $t0)"
}
CC_TARGETS=("redis://127.0.0.1:$REDIS_PORT" "$URL_redis/ccache-bench" "$URL_embedded/ccache-bench")
CC_NAMES=(redis memokeyd_redis memokeyd_embedded)
for target in "${CC_TARGETS[@]}"; do ccache_populate "$target"; done
for target in "${CC_TARGETS[@]}"; do ccache_second_build "$target" >/dev/null; done  # warm-up, unmeasured
CC_JSON="$TMP/ccache.jsonl"
: >"$CC_JSON"
for round in $(seq "$CC_ROUNDS"); do
  # Interleaved, so that load changes hit every target alike, and in a rotated
  # order, so that no target always runs first.
  line=""
  for i in 0 1 2; do
    t=$(((i + round) % 3))
    line+="\"${CC_NAMES[t]}\":$(ccache_second_build "${CC_TARGETS[t]}"),"
  done
  echo "{${line%,}}" >>"$CC_JSON"
done
unset CCACHE_CONFIGPATH CCACHE_REMOTE_STORAGE CCACHE_DIR
t0=$(now)
(cd "$CCACHE_SRC" && rm -f ./*.o && for f in u*.c; do gcc -O2 -c "$f" -o "${f%.c}.o"; done)
t1=$(now)
CC_NONE=$(python3 -c "print($t1 - $t0)")

# --- report ----------------------------------------------------------------------------
# Ratios are medians of per-round ratios: the sides of one round run back to
# back, so a load change on the machine moves both.
python3 - "$ROUNDS_JSON" "$CC_JSON" "$SCALING_JSON" "$JSON_OUT" <<EOF
import json, statistics, sys
rounds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cc = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
scaling = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
med = statistics.median

def summary(side):  # medians over the rounds
    return {k: med(r[side][k] for r in rounds) for k in ("rps", "p50_us", "p99_us")} | {
        "p99_us_rounds": [r[side]["p99_us"] for r in rounds]}

def ratio(side):
    return med(r[side]["rps"] / r["redis"]["rps"] for r in rounds)

redis, emb, red, dflt = (summary(s) for s in ("redis", "embedded", "redis_backed", "embedded_default"))
cc_t = {k: med(r[k] for r in cc) for k in ("redis", "memokeyd_redis", "memokeyd_embedded")}
cc_r = {k: med(r[k] / r["redis"] for r in cc) for k in ("memokeyd_redis", "memokeyd_embedded")}
print()
print("memokeyd vs Redis: GET hits, 1 KiB values, $CONNECTIONS keep-alive connections, $KEYS keys, "
      "medians of $ROUNDS round(s)")
print("  ($CORES cores shared by client and servers; Redis: 1 thread, redis-benchmark: 1 client thread, "
      "-n $REQUESTS;")
print("   memokeyd: --threads $MK_THREADS, wrk -t$WRK_THREADS -d${DURATION}s)")
print(f"  {'':44}{'requests/s':>12}{'p50':>10}{'p99':>10}{'vs Redis':>10}")
def row(label, s, r, goal=""):
    print(f"  {label:44}{s['rps']:>12,.0f}{s['p50_us'] / 1000:>8.3f}ms{s['p99_us'] / 1000:>8.3f}ms{r:>9.2f}x{goal}")
row("redis-benchmark against Redis", redis, 1.0)
row("memokeyd, embedded ($THREADS_embedded thread(s))", emb, ratio("embedded"), "   goal >= 1.0x, p99 <= 2 ms")
row("memokeyd, Redis-backed ($THREADS_redis thread(s))", red, ratio("redis_backed"), "   goal >= 0.5x")
row("memokeyd, embedded, default ($THREADS_default), wrk -t$CORES", dflt, ratio("embedded_default"),
    "   (information)")
print("  (hits/misses seen by the embedded memokeyd: $hits_embedded/$miss_embedded)")
print()
print("ccache second build, $CC_FILES objects, local cache wiped, every object a remote hit "
      "(medians of $CC_ROUNDS interleaved rounds, order rotated):")
print(f"  {'ccache -> Redis directly':36}{cc_t['redis']:>8.3f} s{1:>9.2f}x")
print(f"  {'ccache -> memokeyd -> Redis':36}{cc_t['memokeyd_redis']:>8.3f} s{cc_r['memokeyd_redis']:>9.2f}x   goal <= 1.1x")
print(f"  {'ccache -> memokeyd (embedded)':36}{cc_t['memokeyd_embedded']:>8.3f} s{cc_r['memokeyd_embedded']:>9.2f}x")
print(f"  {'gcc, no ccache':36}{$CC_NONE:>8.3f} s{$CC_NONE / cc_t['redis']:>9.2f}x")
if sys.argv[4]:
    json.dump({
        "connections": $CONNECTIONS, "keys": $KEYS, "rounds": $ROUNDS, "duration": $DURATION,
        "cc_files": $CC_FILES, "cc_rounds": $CC_ROUNDS, "cores": $CORES, "wrk_threads": $WRK_THREADS,
        "threads_embedded": int("$THREADS_embedded" or 0), "threads_redis": int("$THREADS_redis" or 0),
        "threads_default": int("$THREADS_default" or 0),
        "redis_rps": redis["rps"], "redis_p50_ms": redis["p50_us"] / 1000, "redis_p99_ms": redis["p99_us"] / 1000,
        "redis": redis,
        "embedded_rps": emb["rps"], "embedded": emb, "embedded_ratio": ratio("embedded"),
        "redis_backed_rps": red["rps"], "redis_backed": red, "redis_backed_ratio": ratio("redis_backed"),
        "embedded_default_rps": dflt["rps"], "embedded_default": dflt,
        "embedded_default_ratio": ratio("embedded_default"),
        "ccache_redis_s": cc_t["redis"], "ccache_memokeyd_redis_s": cc_t["memokeyd_redis"],
        "ccache_memokeyd_redis_ratio": cc_r["memokeyd_redis"],
        "ccache_memokeyd_embedded_s": cc_t["memokeyd_embedded"],
        "ccache_memokeyd_embedded_ratio": cc_r["memokeyd_embedded"],
        "ccache_rounds": cc, "gcc_no_ccache_s": $CC_NONE,
        "scaling": scaling,
    }, open(sys.argv[4], "w"), indent=1)
EOF
