#!/usr/bin/env bash
# Benchmarks the leaderboard service end to end and prints one markdown table, every figure
# from the same run, each next to its target:
#   1. req/s and p50/p99 latency of cached `GET /campaigns/bench/top`, of one player's standing
#      with 5 neighbours (`/players/{id}?around=5`, random players) and of `/window?last=15m`
#      (limits 1, 10, 50 and 100 in turn) next to `GET /healthz` (the HTTP stack's ceiling) on
#      the same server, the same /healthz and /top answers from a bare axum server (what their
#      bytes alone allow: benches/ceiling.rs), and /top paced at half its max rate;
#   2. backend queries per key per TTL under sustained load on 2 keys (ideal 1.0), and a
#      cold-start storm of N concurrent first requests for one key (ideal: 1 backend query);
#   3. /top p99 while its view is refreshed behind the readers, on the ADX backend against
#      `duckdb-kql serve` behind a proxy that delays every query by 0.8 s;
#   4. the server's peak RSS (VmHWM): under the read load of rows 1-2, and with a
#      1,000,000-player `top` snapshot and four window snapshots live;
#   5. 10,000 server-sent event subscribers of one board: from a change to the last
#      subscriber's event, the server's peak RSS, and backend queries against one reader's;
#   6. embedded-store full-standings refresh times at 1M and 10M spins (`cargo bench --bench store`);
#   7. ADX at scale (benches/adxscale.py): a 30-day campaign of 10M spins by 1M players on
#      `duckdb-kql serve` (--quick: 1M by 100k): the first full load (time, peak RSS, /healthz
#      meanwhile), steady incremental refreshes while 1,000 spins/s arrive against full-query
#      refreshes (answer bytes, engine time a minute), and the board's exactness after.
# The HTTP rows run on BENCH_SPINS spins by BENCH_PLAYERS players loaded through POST /events.
#
# Usage: bash benches/run.sh [--quick] [--out FILE] [--data DIR]
#   --quick     1M-spin store only and shorter load phases
#   --out FILE  also write the report to FILE (e.g. BENCHMARKS.md)
#   --data DIR  where loaded embedded stores are kept between runs (default target/bench-data)
# Environment: BENCH_SECONDS (measured seconds per wrk run), BENCH_WARMUP, BENCH_SUSTAIN
# (seconds of the amplification phase), BENCH_THREADS, BENCH_CONNECTIONS, BENCH_SPINS
# (default 1000000), BENCH_PLAYERS (default 100000), BENCH_STORM (requests in the cold storm),
# BENCH_SNAPSHOT_SPINS and BENCH_SNAPSHOT_PLAYERS (row 4's dataset, default 2000000 by
# 1000000), BENCH_SUBSCRIBERS (default 10000), BENCH_CHANGES (default 20), BENCH_DELAY (the
# proxy's delay, default 0.8 s), BENCH_ADX_SPINS and BENCH_ADX_PLAYERS (row 3's dataset,
# default 10000 by 1000: duckdb-kql's own time per query grows to seconds with 100,000
# players, and row 3 is about the delay), BENCH_PORT (default 0: any free port).
#
# Needs the Rust toolchain, Python 3, duckdb-kql in .venv (bash tests/run.sh installs it) and,
# for installing wrk, apt as root. Runs on this one machine: every process listens on
# 127.0.0.1 and every request goes there. Raw wrk output, the servers' logs and the collected
# JSON are kept under target/bench-logs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND="bash benches/run.sh${*:+ $*}"
QUICK=0
# Requests in flight the server allows (--max-in-flight): more than any wrk run holds open (the
# paced run's few hundred connections, the cold storm's 500).
IN_FLIGHT=4000
OUT=""
DATA_DIR="$ROOT/target/bench-data"
LOGS="$ROOT/target/bench-logs"
RESULTS="$LOGS/results"
WORK=""
SERVER_PID=""
BASE_URL=""
HELPER_PIDS=()
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
  SPINS=${BENCH_SPINS:-1000000}
  PLAYERS=${BENCH_PLAYERS:-100000}
  SNAPSHOT_SPINS=${BENCH_SNAPSHOT_SPINS:-2000000}
  SNAPSHOT_PLAYERS=${BENCH_SNAPSHOT_PLAYERS:-1000000}
  SUBSCRIBERS=${BENCH_SUBSCRIBERS:-10000}
  CHANGES=${BENCH_CHANGES:-20}
  DELAY=${BENCH_DELAY:-0.8}
  ADX_SPINS=${BENCH_ADX_SPINS:-10000}
  ADX_PLAYERS=${BENCH_ADX_PLAYERS:-1000}
  DUCKDB_KQL=${DUCKDB_KQL:-$ROOT/.venv/bin/duckdb-kql}
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
  [[ -x $DUCKDB_KQL ]] || die "duckdb-kql is missing: run bash tests/run.sh once (it installs it into .venv)"
  # The cold storm and the streams hold thousands of connections open at once, on both ends.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  # The server keeps room for --max-in-flight requests (IN_FLIGHT) and its exports beside the
  # streams, out of the same open-file limit.
  (($(ulimit -n) > SUBSCRIBERS + IN_FLIGHT + 1000)) \
    || die "ulimit -n is $(ulimit -n): too low for $SUBSCRIBERS streams beside $IN_FLIGHT requests"
}

build() {
  log "building in release mode (log: $LOGS/build.txt)"
  (cd "$ROOT" && cargo build --release && cargo bench --bench store --bench streams --bench ceiling --no-run) \
    >"$LOGS/build.txt" 2>&1 ||
    { tail -n 30 "$LOGS/build.txt" >&2; die "build failed"; }
}

cleanup() {
  stop_server
  stop_helpers
  [[ -z $WORK ]] || rm -rf "$WORK"
}

json_get() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# first_read PATH: GETs PATH until it answers 200 (a first read past the request budget gets a
# 504 while its query goes on and fills the view) and prints {"total", "seconds"}: the view's
# ranked players and how long its first answer took. Two minutes at most.
first_read() {
  python3 - "$BASE_URL$1" <<'EOF'
import json, sys, time, urllib.error, urllib.request
started = time.monotonic()
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=120) as response:
            total = json.load(response)["total"]
            break
    except urllib.error.HTTPError as error:
        if error.code not in (503, 504) or time.monotonic() - started > 120:
            raise
        time.sleep(0.2)
print(json.dumps({"total": total, "seconds": round(time.monotonic() - started, 2)}))
EOF
}

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

# launch NAME ARGS...: starts the service with ARGS (campaign `bench`), logs in $LOGS/NAME.*;
# sets SERVER_PID and BASE_URL once it answers /healthz.
launch() {
  local name=$1
  shift
  write_campaigns
  RUST_LOG=warn "$ROOT/target/release/leaderboard" serve --campaigns "$WORK/campaigns.toml" \
    --listen "127.0.0.1:$PORT" --log-format json "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
  SERVER_PID=$!
  BASE_URL=""
  # The banner's first line ends with the base URL.
  for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null ||
      { tail -n 20 "$LOGS/$name.err" >&2; SERVER_PID=""; die "the server exited at start-up"; }
    BASE_URL=$(head -n 1 "$LOGS/$name.out" 2>/dev/null | grep -o 'http://127\.0\.0\.1:[0-9]*$' || true)
    [[ -z $BASE_URL ]] || break
    sleep 0.1
  done
  [[ -n $BASE_URL ]] || die "the server did not announce its address within 30 s"
  http_get /healthz >/dev/null || die "GET /healthz failed"
  log "server $SERVER_PID serving on $BASE_URL"
}

# http_get URL_OR_PATH: the body of a GET (a path is on the current server); fails on a
# non-2xx answer; waits as long as a first query over a big store may take.
http_get() {
  local url=$1
  [[ $url == http://* ]] || url=$BASE_URL$url
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=120).read().decode())' \
    "$url"
}

start_server() {
  log "starting the server (embedded backend, cache TTL 1s)"
  launch server --backend embedded --data-dir "$WORK/data" --cache-ttl 1s --max-streams $((SUBSCRIBERS * 2)) \
    --max-in-flight "$IN_FLIGHT"
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

# load_dataset SPINS PLAYERS RESULT [ARGS...]: the seeded dataset into the current server.
load_dataset() {
  log "loading $1 spins by $2 players (seed $SEED) through POST /events"
  python3 "$ROOT/benches/spins.py" --url "$BASE_URL" --count "$1" --players "$2" --seed "$SEED" "${@:4}" >"$RESULTS/$3.json"
}

stop_helpers() {
  local pid
  for pid in "${HELPER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  HELPER_PIDS=()
}

# wait_listening PORT: until something accepts connections on 127.0.0.1:PORT (2 minutes at most).
wait_listening() {
  for _ in $(seq 1200); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" \
      2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on 127.0.0.1:$1"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

backend_queries() { python3 "$ROOT/benches/metrics.py" "$BASE_URL" leaderboard_backend_queries_total; }

# Waits until no backend query has run for 3 s: views read by an earlier phase are refreshed
# once more after it and then stop, so the next phase counts only its own queries. 60 s at most.
wait_quiet() {
  local last now quiet=0
  last=$(backend_queries)
  for _ in $(seq 120); do
    sleep 0.5
    now=$(backend_queries)
    if ((now != last)); then
      quiet=0 last=$now
    elif ((++quiet >= 6)); then
      return 0
    fi
  done
  log "backend queries did not settle within 60 s: the next counts include earlier views' refreshes"
}

query_seconds() { python3 "$ROOT/benches/metrics.py" "$BASE_URL" leaderboard_backend_query_duration_seconds_sum; }

proc_status_kb() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$SERVER_PID/status"; }

# Resets the server's VmHWM to its current RSS (clear_refs 5); fails where the kernel refuses.
clear_peak_rss() { echo 5 2>/dev/null >"/proc/$SERVER_PID/clear_refs"; }

# After the ingest, the peak is reset (clear_refs 5) so that row 5 shows the read load alone.
reset_peak_rss() {
  INGEST_HWM_KB=$(proc_status_kb VmHWM)
  RESET_HWM=1
  clear_peak_rss || RESET_HWM=0
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
# if the achieved rate is off by more than 10%. A short pause and few connections: with 10 ms and
# a few hundred connections the tail measured wrk's own work on this one machine (/healthz paced
# so had p99 2.8-5 ms). /healthz is then paced the same, the reference beside it.
measure_half_rate() {
  local delay=1 target connections achieved
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
  log "wrk healthz_half: /healthz paced as top_half"
  run_wrk healthz_half "$SECONDS_PER_RUN" "$connections" /healthz WRK_DELAY_MS="$delay"
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

# The service's /healthz and /top answers (their bytes as sent) served by a bare axum server
# (benches/ceiling.rs: no middleware, no work), measured the same way right after the service's:
# what the bytes on the wire alone allow of /top's ratio on this machine.
measure_ceiling() {
  local bare service=$BASE_URL
  bare=$(bash "$ROOT/benches/executable.sh" ceiling)
  "$bare" "$service" /healthz "/campaigns/$CAMPAIGN/top" >"$LOGS/ceiling.out" 2>"$LOGS/ceiling.err" &
  HELPER_PIDS+=($!)
  for _ in $(seq 100); do grep -q '^listening' "$LOGS/ceiling.out" && break; sleep 0.1; done
  grep -q '^listening' "$LOGS/ceiling.out" || die "the bare server did not start: see $LOGS/ceiling.err"
  BASE_URL=http://127.0.0.1:$(awk '/^listening/ { print $2 }' "$LOGS/ceiling.out")
  measure bare_healthz /healthz
  measure bare_top "/campaigns/$CAMPAIGN/top"
  BASE_URL=$service
  stop_helpers
}

measure_http() {
  local top="/campaigns/$CAMPAIGN/top"
  measure healthz /healthz
  measure top "$top"
  measure_ceiling
  # Each later ratio against a /healthz measured just before it: the machine's speed drifts over
  # minutes (two cores shared with the host), and a ratio across a drift would measure it.
  measure healthz_around /healthz
  measure around "/campaigns/$CAMPAIGN/players/{id}?around=5" WRK_RANDOM_ID="$PLAYERS"
  measure healthz_window /healthz
  measure window "/campaigns/$CAMPAIGN/window?last=15m" \
    WRK_PATHS="$(printf "/campaigns/$CAMPAIGN/window?last=15m&limit=%s " 1 10 50 100)"
  measure_half_rate
  measure_amplification
  wait_quiet
  measure_cold_storm
}

# Row 5: SUBSCRIBERS streams of /top on the running server (its VmHWM reset first).
measure_streams() {
  log "streams: $SUBSCRIBERS subscribers of /campaigns/$CAMPAIGN/top/stream, $CHANGES changes"
  clear_peak_rss || log "VmHWM cannot be reset here: the streams' peak RSS includes the earlier phases"
  (cd "$ROOT" && timeout 900 cargo bench --bench streams -- --url "$BASE_URL" \
    --subscribers "$SUBSCRIBERS" --changes "$CHANGES") >"$LOGS/streams.txt" 2>"$LOGS/streams.err" ||
    { tail -n 20 "$LOGS/streams.err" >&2; die "the streams bench failed: see $LOGS/streams.err"; }
  sed -n 's/^STREAMS_JSON //p' "$LOGS/streams.txt" >"$RESULTS/streams.json"
  printf '{"hwm_kb": %s, "max_streams": %s}\n' "$(proc_status_kb VmHWM)" $((SUBSCRIBERS * 2)) \
    >"$RESULTS/streams.rss.json"
}

# Row 3: the ADX backend on duckdb-kql (ADX_SPINS spins, written as CSV) behind the delaying
# proxy; wrk reads /top for 15 s while its view is refreshed behind the readers, paced as row
# 1's half-rate run (a saturating load would measure wrk's queue, not the refreshes).
measure_slow_refresh() {
  local engine_port proxy_port proxy before after seconds_before seconds_after
  log "slow refreshes: $ADX_SPINS spins by $ADX_PLAYERS players as CSV into duckdb-kql"
  python3 "$ROOT/benches/spins.py" --csv "$WORK/spins.csv" --count "$ADX_SPINS" --players "$ADX_PLAYERS" \
    --seed "$SEED" >/dev/null
  printf "CREATE TABLE GamePlay AS SELECT * FROM read_csv('%s', header = true, columns = {%s});\n" \
    "$WORK/spins.csv" "'PlayerID': 'INTEGER', 'GameID': 'INTEGER', 'Win': 'BIGINT', 'Stake': 'INTEGER', 'EventTime': 'TIMESTAMP'" \
    >"$WORK/init.sql"
  engine_port=$(free_port)
  "$DUCKDB_KQL" serve --init "$WORK/init.sql" --port "$engine_port" "$WORK/leaderboard.duckdb" \
    >"$LOGS/duckdb-kql.out" 2>"$LOGS/duckdb-kql.err" &
  HELPER_PIDS+=($!)
  wait_listening "$engine_port"
  python3 "$ROOT/benches/delayproxy.py" --upstream-port "$engine_port" --delay "$DELAY" >"$LOGS/proxy.out" 2>&1 &
  HELPER_PIDS+=($!)
  for _ in $(seq 100); do
    proxy_port=$(sed -n 's/^listening on //p' "$LOGS/proxy.out")
    [[ -z $proxy_port ]] || break
    sleep 0.1
  done
  [[ -n $proxy_port ]] || die "the delaying proxy did not start: see $LOGS/proxy.out"
  proxy="http://127.0.0.1:$proxy_port"
  log "starting the server (ADX backend on duckdb-kql behind a ${DELAY}s delay, cache TTL 1s)"
  launch server-adx --backend adx --adx-cluster "$proxy" --adx-database leaderboard --adx-auth none --cache-ttl 1s
  # The first read waits for the first query; from then on the view is refreshed behind readers.
  http_get "/campaigns/$CAMPAIGN/top" >/dev/null || die "GET /top on the ADX backend failed"
  before=$(backend_queries)
  seconds_before=$(query_seconds)
  run_wrk adx_top 15 "$(json_get "$RESULTS/top_half.params.json" connections)" "/campaigns/$CAMPAIGN/top" \
    WRK_DELAY_MS="$(json_get "$RESULTS/top_half.params.json" delay_ms)"
  after=$(backend_queries)
  seconds_after=$(query_seconds)
  printf '{"queries": %d, "query_seconds": %s, "proxied": %s, "delay_s": %s, "spins": %s, "players": %s}\n' \
    $((after - before)) "$(awk -v a="$seconds_after" -v b="$seconds_before" 'BEGIN { print a - b }')" \
    "$(http_get "$proxy/_count")" "$DELAY" "$ADX_SPINS" "$ADX_PLAYERS" >"$RESULTS/adx.json"
  stop_server
  stop_helpers
}

# Row 4: a fresh server holding SNAPSHOT_PLAYERS players, every one ranked (every spin wins):
# /top and four windows read (each answered from its complete snapshot), then VmHWM.
measure_snapshots() {
  local path total views=""
  log "starting the server for the snapshot memory row (embedded backend)"
  launch server-snapshots --backend embedded --data-dir "$WORK/data-snapshots" --cache-ttl 1s
  load_dataset "$SNAPSHOT_SPINS" "$SNAPSHOT_PLAYERS" ingest.snapshots --win-rate 1
  for path in top "window?last=15m" "window?last=1h" "window?last=24h" "window?last=7d"; do
    views+="${views:+, }\"$path\": $(first_read "/campaigns/$CAMPAIGN/$path")" || die "GET /campaigns/$CAMPAIGN/$path failed"
  done
  printf '{"hwm_kb": %s, "rss_kb": %s, "views": {%s}}\n' "$(proc_status_kb VmHWM)" "$(proc_status_kb VmRSS)" \
    "$views" >"$RESULTS/snapshots.json"
  stop_server
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

measure_adx_scale() {
  log "ADX at scale (log: $LOGS/adx-scale.txt)"
  local quick=()
  ((QUICK)) && quick=(--quick)
  if ! "$ROOT/.venv/bin/python" "$ROOT/benches/adxscale.py" --binary "$ROOT/target/release/leaderboard" \
    "${quick[@]}" --out "$RESULTS/adx_scale.json" >"$LOGS/adx-scale.txt" 2>&1; then
    tail -n 20 "$LOGS/adx-scale.txt" >&2
    log "error: benches/adxscale.py failed; the report leaves it out"
    FAILED=1
  fi
}

# --- report ------------------------------------------------------------------------------------

write_settings() {
  printf '{"threads": %s, "connections": %s, "seconds": %s, "spins": %s, "players": %s, "seed": %s}\n' \
    "$THREADS" "$CONNECTIONS" "$SECONDS_PER_RUN" "$SPINS" "$PLAYERS" "$SEED" >"$RESULTS/settings.json"
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
  load_dataset "$SPINS" "$PLAYERS" ingest
  reset_peak_rss
  measure_http
  record_rss
  wait_quiet
  measure_streams
  stop_server
  measure_slow_refresh
  measure_snapshots
  for events in "${STORE_SIZES[@]}"; do measure_store "$events"; done
  measure_adx_scale
  report
  ((!FAILED)) || die "some measurements failed: see above"
}

# Exits right after main: bash reads a script as it runs it, so an edit during a run must not
# be read past this line.
main "$@"; exit
