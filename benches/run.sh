#!/usr/bin/env bash
# Benchmarks the leaderboard service end to end and prints one markdown table, every figure
# from the same run:
#   1. req/s and p50/p99 latency of cached `GET /campaigns/bench/top` next to `GET /healthz`
#      (the HTTP stack's ceiling) on the same server, and /top paced at half its max rate;
#   2. the same for `/window?last=15m` with limits 1, 10, 50 and 100 in turn;
#   3. backend queries per key per TTL under sustained load on 2 keys (ideal 1.0);
#   4. a cold-start storm: N concurrent first requests for one key (ideal: 1 backend query);
#   5. the server's peak resident memory (VmHWM);
#   6. embedded-store top/window query times at 1M and 10M spins (`cargo bench --bench store`).
#
# Usage: bash benches/run.sh [--quick] [--out FILE] [--data DIR]
#   --quick     1M-spin store only and shorter load phases
#   --out FILE  also write the report to FILE (e.g. BENCHMARKS.md)
#   --data DIR  where loaded embedded stores are kept between runs (default target/bench-data)
# Environment: BENCH_SECONDS (measured seconds per wrk run), BENCH_WARMUP, BENCH_SUSTAIN
# (seconds of the amplification phase), BENCH_THREADS, BENCH_CONNECTIONS, BENCH_SPINS,
# BENCH_STORM (requests in the cold storm), BENCH_PORT (default 0: any free port).
#
# Needs the Rust toolchain, Python 3 and, for installing wrk, apt as root. Runs on this one
# machine: the server listens on 127.0.0.1 and every request goes there. Raw wrk output, the
# server's logs and the collected JSON are kept under target/bench-logs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND="bash benches/run.sh${*:+ $*}"
QUICK=0
OUT=""
DATA_DIR="$ROOT/target/bench-data"
LOGS="$ROOT/target/bench-logs"
RESULTS="$LOGS/results"
WORK=""
SERVER_PID=""
BASE_URL=""
CAMPAIGN=bench
FAILED=0

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

parse_args() {
  while (($#)); do
    case $1 in
      --quick) QUICK=1 ;;
      --out) OUT=${2:?--out needs a file}; shift ;;
      --data) DATA_DIR=${2:?--data needs a directory}; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -z $OUT || $OUT == /* ]] || OUT="$PWD/$OUT"
  [[ $DATA_DIR == /* ]] || DATA_DIR="$PWD/$DATA_DIR"
  if ((QUICK)); then
    SECONDS_PER_RUN=${BENCH_SECONDS:-5} WARMUP=${BENCH_WARMUP:-1} SUSTAIN=${BENCH_SUSTAIN:-10}
    STORE_SIZES=(1000000)
  else
    SECONDS_PER_RUN=${BENCH_SECONDS:-10} WARMUP=${BENCH_WARMUP:-2} SUSTAIN=${BENCH_SUSTAIN:-20}
    STORE_SIZES=(1000000 10000000)
  fi
  THREADS=${BENCH_THREADS:-2}
  CONNECTIONS=${BENCH_CONNECTIONS:-64}
  SPINS=${BENCH_SPINS:-200000}
  SEED=42
  STORM=${BENCH_STORM:-500}
  PORT=${BENCH_PORT:-0}
}

# --- setup -----------------------------------------------------------------------------------

install_tools() {
  command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain"
  command -v python3 >/dev/null || die "python3 is missing"
  if ! command -v wrk >/dev/null; then
    [[ $(id -u) == 0 ]] || die "wrk is missing: apt-get install wrk (as root)"
    log "installing wrk"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  # The cold storm holds STORM connections open at once, on both ends.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

build() {
  log "building in release mode (log: $LOGS/build.txt)"
  (cd "$ROOT" && cargo build --release && cargo bench --bench store --no-run) >"$LOGS/build.txt" 2>&1 ||
    { tail -n 30 "$LOGS/build.txt" >&2; die "build failed"; }
}

cleanup() {
  stop_server
  [[ -z $WORK ]] || rm -rf "$WORK"
}

json_get() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- the server --------------------------------------------------------------------------------

write_campaigns() {
  cat >"$WORK/campaigns.toml" <<EOF
[[campaigns]]
id = "$CAMPAIGN"
name = "Bench"
start = "2026-01-01T00:00:00Z"
end = "2027-12-31T00:00:00Z"
EOF
}

start_server() {
  write_campaigns
  log "starting the server (embedded backend, cache TTL 1s)"
  RUST_LOG=warn "$ROOT/target/release/leaderboard" serve --backend embedded \
    --data-dir "$WORK/data" --campaigns "$WORK/campaigns.toml" --listen "127.0.0.1:$PORT" \
    --cache-ttl 1s --log-format json >"$LOGS/server.out" 2>"$LOGS/server.err" &
  SERVER_PID=$!
  # The banner's first line ends with the base URL.
  for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null ||
      { tail -n 20 "$LOGS/server.err" >&2; SERVER_PID=""; die "the server exited at start-up"; }
    BASE_URL=$(head -n 1 "$LOGS/server.out" | grep -o 'http://127\.0\.0\.1:[0-9]*$' || true)
    [[ -z $BASE_URL ]] || break
    sleep 0.1
  done
  [[ -n $BASE_URL ]] || die "the server did not announce its address within 30 s"
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=5)' "$BASE_URL" ||
    die "GET /healthz failed"
  log "server $SERVER_PID serving on $BASE_URL"
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill "$SERVER_PID" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

load_dataset() {
  log "loading $SPINS spins (seed $SEED) through POST /events"
  python3 "$ROOT/benches/spins.py" --url "$BASE_URL" --count "$SPINS" --seed "$SEED" >"$RESULTS/ingest.json"
}

backend_queries() { python3 "$ROOT/benches/metrics.py" "$BASE_URL" leaderboard_backend_queries_total; }

proc_status_kb() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$SERVER_PID/status"; }

# After the ingest, the peak is reset (clear_refs 5) so that row 5 shows the read load alone.
reset_peak_rss() {
  INGEST_HWM_KB=$(proc_status_kb VmHWM)
  RESET_HWM=1
  echo 5 2>/dev/null >"/proc/$SERVER_PID/clear_refs" || RESET_HWM=0
}

record_rss() {
  local load_hwm=null
  ((RESET_HWM)) && load_hwm=$(proc_status_kb VmHWM)
  # Without the reset, VmHWM still covers the ingest: report it as such.
  ((RESET_HWM)) || INGEST_HWM_KB=$(proc_status_kb VmHWM)
  printf '{"ingest_hwm_kb": %s, "load_hwm_kb": %s, "end_rss_kb": %s}\n' \
    "$INGEST_HWM_KB" "$load_hwm" "$(proc_status_kb VmRSS)" >"$RESULTS/rss.json"
}

# --- load --------------------------------------------------------------------------------------

# run_wrk NAME SECONDS CONNECTIONS PATH [VAR=VALUE...]: one wrk run against the server, with
# benches/wrk/bench.lua configured by the VAR=VALUEs; the summary lands in $RESULTS/NAME.json.
run_wrk() {
  local name=$1 seconds=$2 connections=$3 path=$4 threads=$THREADS
  shift 4
  ((connections >= threads)) || threads=$connections
  env "$@" timeout $((seconds + 30)) wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
    -s "$ROOT/benches/wrk/bench.lua" "$BASE_URL$path" >"$LOGS/wrk-$name.txt" 2>&1 ||
    die "wrk $name failed: see $LOGS/wrk-$name.txt"
  sed -n 's/^WRK_JSON //p' "$LOGS/wrk-$name.txt" >"$RESULTS/$name.json"
  [[ -s $RESULTS/$name.json ]] || die "wrk $name printed no summary: see $LOGS/wrk-$name.txt"
}

# measure NAME PATH [VAR=VALUE...]: a warm-up (which also fills the cache), then the measured run.
measure() {
  local name=$1 path=$2
  shift 2
  log "wrk $name: $path (${WARMUP}s warm-up, ${SECONDS_PER_RUN}s measured)"
  run_wrk "$name.warmup" "$WARMUP" "$CONNECTIONS" "$path" "$@"
  run_wrk "$name" "$SECONDS_PER_RUN" "$CONNECTIONS" "$path" "$@"
}

# /top paced at half its measured max: each connection waits DELAY ms before each request, so
# C connections give about C * 1000 / (DELAY + ~1 ms of round trip) req/s; C is corrected once
# if the achieved rate is off by more than 10%.
measure_half_rate() {
  local delay=10 target connections achieved
  target=$(awk -v max="$(json_get "$RESULTS/top.json" rps)" 'BEGIN { printf "%d", max / 2 }')
  connections=$(awk -v t="$target" -v d="$delay" 'BEGIN { c = int(t * (d + 1) / 1000 + 0.5); print (c < 1 ? 1 : c) }')
  for attempt in 1 2; do
    log "wrk top_half: target $target req/s, $connections connections ${delay} ms apart (try $attempt)"
    run_wrk top_half "$SECONDS_PER_RUN" "$connections" "/campaigns/$CAMPAIGN/top" WRK_DELAY_MS="$delay"
    achieved=$(json_get "$RESULTS/top_half.json" rps)
    if ((attempt == 2)) || awk -v a="$achieved" -v t="$target" 'BEGIN { exit !(a > 0.9 * t && a < 1.1 * t) }'; then
      break
    fi
    connections=$(awk -v c="$connections" -v a="$achieved" -v t="$target" 'BEGIN { printf "%d", c * t / a + 0.5 }')
  done
  printf '{"target_rps": %s, "connections": %s, "delay_ms": %s}\n' "$target" "$connections" "$delay" \
    >"$RESULTS/top_half.params.json"
}

measure_amplification() {
  local before after
  log "sustained load: ${SUSTAIN}s on /top and /window?last=15m"
  before=$(backend_queries)
  run_wrk sustain "$SUSTAIN" "$CONNECTIONS" "/campaigns/$CAMPAIGN/top" \
    WRK_PATHS="/campaigns/$CAMPAIGN/top /campaigns/$CAMPAIGN/window?last=15m"
  after=$(backend_queries)
  printf '{"queries": %d, "keys": 2, "ttl": "1 s"}\n' $((after - before)) >"$RESULTS/amplification.json"
}

measure_cold_storm() {
  # A span no earlier phase asked for, so this key has never been computed.
  local path="/campaigns/$CAMPAIGN/window?last=4321s" before after
  log "cold storm: $STORM concurrent first requests for $path"
  before=$(backend_queries)
  python3 "$ROOT/benches/coldstorm.py" --url "$BASE_URL" --path "$path" -n "$STORM" >"$RESULTS/storm.json"
  after=$(backend_queries)
  printf '{"queries": %d, "path": "%s"}\n' $((after - before)) "$path" >"$RESULTS/storm.queries.json"
}

measure_http() {
  local top="/campaigns/$CAMPAIGN/top"
  measure healthz /healthz
  measure top "$top"
  measure window "/campaigns/$CAMPAIGN/window?last=15m" \
    WRK_PATHS="$(printf "/campaigns/$CAMPAIGN/window?last=15m&limit=%s " 1 10 50 100)"
  measure_half_rate
  measure_amplification
  measure_cold_storm
}

# --- the embedded store ------------------------------------------------------------------------

# Loaded stores are kept under DATA_DIR and reused by later runs, in a directory named after
# the store's schema and write path, so that a change there loads afresh instead of timing an
# old layout (and a reused store that fails is loaded afresh too). A marker tells a complete
# load from an interrupted one.
store_fingerprint() {
  cat "$ROOT/kql/embedded-schema.sql" "$ROOT/src/store/write.rs" | sha256sum | cut -c1-12
}

# run_store_bench EVENTS DIR: `cargo bench --bench store`, its table into $RESULTS.
run_store_bench() {
  (cd "$ROOT" && cargo bench --bench store -- --events "$1" --data "$2") \
    >"$RESULTS/store-$1.txt" 2>"$LOGS/store-$1.txt"
}

measure_store() {
  local events=$1 size dir old
  size="store-$((events / 1000000))m"
  dir="$DATA_DIR/$size-$(store_fingerprint)"
  for old in "$DATA_DIR/$size"-*; do
    [[ $old == "$dir" || $old == "$dir.complete" || ! -e $old ]] || rm -rf "$old"
  done
  if [[ -e $dir.complete ]]; then
    log "embedded store: $events spins (reusing $dir)"
    run_store_bench "$events" "$dir" && return 0
    log "the reused store failed (see $LOGS/store-$events.txt): loading it afresh"
    rm -f "$dir.complete"
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  log "embedded store: loading $events spins into $dir (a minute or two per million)"
  if run_store_bench "$events" "$dir"; then
    touch "$dir.complete"
  else
    tail -n 20 "$LOGS/store-$events.txt" >&2
    log "error: cargo bench --bench store -- --events $events failed; the report leaves it out"
    FAILED=1
  fi
}

# --- report ------------------------------------------------------------------------------------

write_settings() {
  printf '{"threads": %s, "connections": %s, "seconds": %s, "spins": %s, "seed": %s}\n' \
    "$THREADS" "$CONNECTIONS" "$SECONDS_PER_RUN" "$SPINS" "$SEED" >"$RESULTS/settings.json"
}

report() {
  python3 "$ROOT/benches/report.py" --results "$RESULTS" --command "$COMMAND" >"$LOGS/report.md"
  cat "$LOGS/report.md"
  [[ -z $OUT ]] || { cp "$LOGS/report.md" "$OUT"; log "wrote $OUT"; }
}

main() {
  parse_args "$@"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  rm -rf "$RESULTS"
  mkdir -p "$LOGS" "$RESULTS" "$DATA_DIR"
  WORK=$(mktemp -d)
  write_settings
  install_tools
  build
  start_server
  load_dataset
  reset_peak_rss
  measure_http
  record_rss
  stop_server
  for events in "${STORE_SIZES[@]}"; do measure_store "$events"; done
  report
  ((!FAILED)) || die "some measurements failed: see above"
}

main "$@"
