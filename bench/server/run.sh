#!/usr/bin/env bash
# bench/server/run.sh [--quick] [--scaling] [--json PATH] — memokeyd beside Redis, both sides in one run.
#
#   1. GET hits of 1 KiB values over 50 keep-alive connections:
#        wrk against memokeyd on its embedded memory store,
#        wrk against memokeyd backed by Redis,
#        redis-benchmark -t get -d 1024 -c 50 against that Redis itself.
#      Goals: embedded >= 1.0x Redis's GET rate; Redis-backed >= 0.5x.
#   2. ccache's second build (local cache wiped, every object a remote hit)
#      through memokeyd vs ccache pointed straight at Redis. Goal <= 1.1x.
#
#   3. With --scaling: the embedded memokeyd's GET requests/s and p99 vs value
#      size (1 KiB .. 1 MiB, 50 connections) and vs connections (1 .. 256,
#      1 KiB values), short wrk runs.
# --json PATH also writes the medians, ratios and any scaling series as JSON.
#
# Everything runs on free loopback ports and is stopped at the end (by PID).
# MEMOKEYD=path overrides build/release/server/memokeyd.
set -euo pipefail
cd "$(dirname "$0")/../.."

QUICK=0 SCALING=0 JSON_OUT=""
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --scaling) SCALING=1 ;;
    --json) JSON_OUT=$2; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench/server/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

MEMOKEYD=${MEMOKEYD:-build/release/server/memokeyd}
KEYS=1000
CONNECTIONS=50
if ((QUICK)); then
  DURATION=3 REQUESTS=150000 ROUNDS=1 CC_FILES=20 CC_ROUNDS=2
else
  DURATION=8 REQUESTS=400000 ROUNDS=3 CC_FILES=40 CC_ROUNDS=5
fi
WRK_THREADS=$(($(nproc) < 2 ? 1 : 2))

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

start_memokeyd() {  # name, extra args...; sets URL_<name>
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
}
start_memokeyd embedded
start_memokeyd redis --store "redis://127.0.0.1:$REDIS_PORT"
THREADS_EMBEDDED=$(grep -o '"threads":[0-9]*' "$TMP/embedded.log" | head -1 | cut -d: -f2)
THREADS_REDIS=$(grep -o '"threads":[0-9]*' "$TMP/redis.log" | head -1 | cut -d: -f2)

# --- preload 1 KiB values -----------------------------------------------------------
head -c 1024 /dev/urandom >"$TMP/value"
for name in embedded redis; do
  url_var="URL_$name"
  # curl's URL globbing: KEYS PUTs over one keep-alive connection.
  curl -sS -o /dev/null -X PUT --data-binary @"$TMP/value" "${!url_var}/v1/bench/k[0-$((KEYS - 1))]"
done
redis-benchmark -p "$REDIS_PORT" -t set -d 1024 -r "$KEYS" -n $((KEYS * 30)) -q >/dev/null

# --- GET throughput -----------------------------------------------------------------
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

run_wrk() {  # url -> JSON line
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s bench/server/get.lua "$1" -- "$KEYS" | tail -1
}
run_redis_benchmark() {  # -> "rps p50_ms p99_ms"
  redis-benchmark -p "$REDIS_PORT" -t get -d 1024 -r "$KEYS" -c "$CONNECTIONS" -n "$REQUESTS" --csv |
    python3 -c 'import csv,sys; r=list(csv.reader(sys.stdin))[-1]; print(r[1], r[4], r[6])'
}

declare -a EMB_RPS=() RED_RPS=() REDIS_RPS=() EMB_RATIO=() RED_RATIO=()
for round in $(seq "$ROUNDS"); do
  line=$(run_redis_benchmark)
  read -r rps p50 p99 <<<"$line"
  REDIS_RPS+=("$rps"); REDIS_P50=$p50; REDIS_P99=$p99
  EMB_JSON=$(run_wrk "$URL_embedded")
  EMB_RPS+=("$(json_field "$EMB_JSON" rps)")
  RED_JSON=$(run_wrk "$URL_redis")
  RED_RPS+=("$(json_field "$RED_JSON" rps)")
  for j in "$EMB_JSON" "$RED_JSON"; do
    if [[ $(json_field "$j" non_2xx) != 0 || $(json_field "$j" socket_errors) != 0 ]]; then
      echo "wrk saw errors: $j" >&2; exit 1
    fi
  done
  EMB_RATIO+=("$(python3 -c "print(${EMB_RPS[-1]} / $rps)")")
  RED_RATIO+=("$(python3 -c "print(${RED_RPS[-1]} / $rps)")")
  echo "round $round: redis $rps/s, memokeyd embedded ${EMB_RPS[-1]}/s, memokeyd+redis ${RED_RPS[-1]}/s"
done
REDIS_MED=$(median "${REDIS_RPS[@]}")
EMB_MED=$(median "${EMB_RPS[@]}")
RED_MED=$(median "${RED_RPS[@]}")
EMB_RATIO_MED=$(median "${EMB_RATIO[@]}")
RED_RATIO_MED=$(median "${RED_RATIO[@]}")
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
for target in "${CC_TARGETS[@]}"; do ccache_populate "$target"; done
declare -a CC_T0=() CC_T1=() CC_T2=() CC_R1=() CC_R2=()
for round in $(seq "$CC_ROUNDS"); do  # interleaved, so that load changes hit every target alike
  a=$(ccache_second_build "${CC_TARGETS[0]}")
  b=$(ccache_second_build "${CC_TARGETS[1]}")
  c=$(ccache_second_build "${CC_TARGETS[2]}")
  CC_T0+=("$a"); CC_T1+=("$b"); CC_T2+=("$c")
  CC_R1+=("$(python3 -c "print($b / $a)")"); CC_R2+=("$(python3 -c "print($c / $a)")")
done
unset CCACHE_CONFIGPATH CCACHE_REMOTE_STORAGE CCACHE_DIR
CC_REDIS=$(median "${CC_T0[@]}")
CC_MK_REDIS=$(median "${CC_T1[@]}")
CC_MK_EMB=$(median "${CC_T2[@]}")
CC_MK_REDIS_RATIO=$(median "${CC_R1[@]}")
CC_MK_EMB_RATIO=$(median "${CC_R2[@]}")
t0=$(now)
(cd "$CCACHE_SRC" && rm -f ./*.o && for f in u*.c; do gcc -O2 -c "$f" -o "${f%.c}.o"; done)
t1=$(now)
CC_NONE=$(python3 -c "print($t1 - $t0)")

# --- report ----------------------------------------------------------------------------
# Ratios are medians of per-round ratios: the sides of one round run back to
# back, so a load change on the machine moves both.
python3 - <<EOF
emb, red, redis = $EMB_MED, $RED_MED, $REDIS_MED
emb_json, red_json = $EMB_JSON, $RED_JSON
print()
print("memokeyd vs Redis: GET hits, 1 KiB values, $CONNECTIONS keep-alive connections, $KEYS keys, "
      "median of $ROUNDS round(s)")
print("  ($(nproc) cores shared by client and servers; wrk -t$WRK_THREADS -d${DURATION}s; "
      "redis-benchmark -t get -d 1024 -c $CONNECTIONS -r $KEYS -n $REQUESTS)")
print(f"  {'':36}{'requests/s':>12}{'p50':>10}{'p99':>10}{'vs Redis':>10}")
print(f"  {'redis-benchmark against Redis':36}{redis:>12,.0f}{float('$REDIS_P50'):>8.3f}ms{float('$REDIS_P99'):>8.3f}ms{1:>9.2f}x")
print(f"  {'memokeyd, embedded ($THREADS_EMBEDDED threads)':36}{emb:>12,.0f}{emb_json['p50_us']/1000:>8.3f}ms"
      f"{emb_json['p99_us']/1000:>8.3f}ms{$EMB_RATIO_MED:>9.2f}x   goal >= 1.0x")
print(f"  {'memokeyd, Redis-backed ($THREADS_REDIS threads)':36}{red:>12,.0f}{red_json['p50_us']/1000:>8.3f}ms"
      f"{red_json['p99_us']/1000:>8.3f}ms{$RED_RATIO_MED:>9.2f}x   goal >= 0.5x")
print("  (p50/p99: last round; hits/misses seen by the embedded memokeyd: $hits_embedded/$miss_embedded)")
print()
print("ccache second build, $CC_FILES objects, local cache wiped, every object a remote hit "
      "(median of $CC_ROUNDS interleaved rounds):")
print(f"  {'ccache -> Redis directly':36}{$CC_REDIS:>8.3f} s{1:>9.2f}x")
print(f"  {'ccache -> memokeyd -> Redis':36}{$CC_MK_REDIS:>8.3f} s{$CC_MK_REDIS_RATIO:>9.2f}x   goal <= 1.1x")
print(f"  {'ccache -> memokeyd (embedded)':36}{$CC_MK_EMB:>8.3f} s{$CC_MK_EMB_RATIO:>9.2f}x")
print(f"  {'gcc, no ccache':36}{$CC_NONE:>8.3f} s{$CC_NONE / $CC_REDIS:>9.2f}x")
EOF

if [[ -n $JSON_OUT ]]; then
  python3 - "$JSON_OUT" "$SCALING_JSON" <<EOF
import json, sys
scaling = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
json.dump({
    "connections": $CONNECTIONS, "keys": $KEYS, "rounds": $ROUNDS, "cc_files": $CC_FILES, "cc_rounds": $CC_ROUNDS,
    "threads_embedded": int("$THREADS_EMBEDDED" or 0), "threads_redis": int("$THREADS_REDIS" or 0),
    "redis_rps": $REDIS_MED, "redis_p50_ms": float("$REDIS_P50"), "redis_p99_ms": float("$REDIS_P99"),
    "embedded_rps": $EMB_MED, "embedded": $EMB_JSON, "embedded_ratio": $EMB_RATIO_MED,
    "redis_backed_rps": $RED_MED, "redis_backed": $RED_JSON, "redis_backed_ratio": $RED_RATIO_MED,
    "ccache_redis_s": $CC_REDIS, "ccache_memokeyd_redis_s": $CC_MK_REDIS, "ccache_memokeyd_redis_ratio": $CC_MK_REDIS_RATIO,
    "ccache_memokeyd_embedded_s": $CC_MK_EMB, "ccache_memokeyd_embedded_ratio": $CC_MK_EMB_RATIO,
    "gcc_no_ccache_s": $CC_NONE,
    "scaling": scaling,
}, open(sys.argv[1], "w"), indent=1)
EOF
fi
