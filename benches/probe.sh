#!/usr/bin/env bash
# One server, one measurement, outside the full run of benches/run.sh: the figures of
# BENCHMARKS.md that were measured apart come from here.
#   bash benches/probe.sh memory N P   load N spins by P players (all winning) through POST
#                                      /events, print the ingest's time and peak RSS; reset the
#                                      peak, read /top and four windows once each, print the
#                                      peak RSS and the snapshot bytes (row 4 measured apart)
#   bash benches/probe.sh ingest N P   the load alone: its time and peak RSS
#   bash benches/probe.sh hot [perf]   load 1M spins by 100k players, then wrk on /healthz, /top
#                                      and random players' /players/{id}?around=5, side by side
#                                      (ROUNDS=N times, median ratios, the server's CPU per
#                                      request), then /top and /healthz
#                                      paced 1 ms apart on 40 connections; with `perf`, a CPU
#                                      profile of the player answers
#   bash benches/probe.sh ceiling      load 10,000 spins, copy the service's /healthz, /top and a
#                                      player's (around=5) answers into a bare axum server (`--bench
#                                      ceiling`: no work, no middleware), then wrk on both servers'
#                                      paths (the service's with random players), side by side
#                                      (ROUNDS=N, default 5): what the bytes alone allow
#   bash benches/probe.sh versus OTHER load as `hot` does (SPINS=N by PLAYERS=P instead), then serve
#                                      that store with BIN and with OTHER (another build's binary)
#                                      in turn, ROUNDS=N times (default 3), wrk on /healthz, /top
#                                      and random players for each: the two builds' ratios and CPU
#                                      per request, side by side
#   bash benches/probe.sh duel OTHER   load as `versus` does, copy the store, then serve it with BIN
#                                      and OTHER at once, and load both at once on the same path
#                                      (wrk -t1 -c32 each, 3 s; /healthz, /top, random players),
#                                      ROUNDS=N times (default 6): each build's CPU per request,
#                                      measured in the same moments of a machine whose speed drifts
#                                      between runs (what `versus` cannot hold still)
#   bash benches/probe.sh steady       load as `hot` does, then 20 s of a steady flow of spins
#                                      (benches/trickle.py, about 1,000 a second) while /top is
#                                      read 10 times a second: the server's CPU seconds and the
#                                      rows its backend queries read meanwhile
#   bash benches/probe.sh streams N    load as `hot` does, read /top and random players for 5 s
#                                      each, reset the peak, then N streams of /top and 20 changes
#                                      (`cargo bench --bench streams`): the peak RSS with them, the
#                                      change-to-subscriber latencies (row 5 measured apart)
# BIN=path runs another build (e.g. an older commit's target/release/leaderboard) the same way.
# Needs a release build, wrk and, for `perf`, linux-perf (apt). Everything on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/leaderboard}
MODE=${1:?usage: bash benches/probe.sh memory|ingest N P, hot [perf], ceiling, steady, streams N, versus OTHER_BIN or duel OTHER_BIN}
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
printf '[[campaigns]]\nid = "bench"\nname = "Bench"\nstart = "2026-01-01T00:00:00Z"\nend = "2027-12-31T00:00:00Z"\n' \
  >"$WORK/campaigns.toml"
EXTRA=()
if [[ $MODE == streams ]]; then
  # N streams beside 1,000 requests in flight, out of the open-file limit (raised to its hard one).
  ulimit -n "$(ulimit -Hn)"
  EXTRA=(--max-streams $((2 * ${2:?N})) --max-in-flight 1000)
  (cd "$ROOT" && cargo bench --bench streams --no-run 2>/dev/null)
fi
# `serve BIN [DIR PORT]`: a server of BIN on the store in $WORK/DIR (data) on PORT ($PORT), as
# $PID, once it answers.
serve() {
  local port=${3:-$PORT}
  RUST_LOG=warn "$1" serve --campaigns "$WORK/campaigns.toml" --listen "127.0.0.1:$port" --backend embedded \
    --data-dir "$WORK/${2:-data}" --cache-ttl 1s "${EXTRA[@]}" >"$WORK/out.$port" 2>"$WORK/err.$port" &
  PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
trap 'kill $PID ${RIVAL:-} 2>/dev/null; wait $PID ${RIVAL:-} 2>/dev/null; rm -rf "$WORK"' EXIT
serve "$BIN"
kb() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$PID/status"; }
rss() { echo "peak RSS $(( $(kb VmHWM) / 1024 )) MB, RSS $(( $(kb VmRSS) / 1024 )) MB"; }
load() {
  local started=$SECONDS
  python3 "$ROOT/benches/spins.py" --url "$BASE" --count "$1" --players "$2" --seed 42 "${@:3}" >"$WORK/ingest.json"
  echo "loaded $1 spins by $2 players in $((SECONDS - started)) s; $(rss)"
}
# `rps PID URL IDS DURATION`: wrk's req/s on URL (IDS: random players' ids up to it), the CPU per
# request (us, user and system) of process PID meanwhile, and the rest of the machine's (wrk, and
# the loopback's softirq work, which the kernel counts to no process), as `rps/cpu/rest`.
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
rps() {
  local before machine requests
  before=$(awk '{ print $14 + $15 }' "/proc/$1/stat") machine=$(busy)
  requests=$(WRK_RANDOM_ID=$3 wrk -t2 -c64 -d"$4" -s "$ROOT/benches/wrk/bench.lua" "$2" |
    sed -n 's/^WRK_JSON //p' | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["rps"], d["requests"])')
  python3 -c 'import sys; rps, n, t, all, hz = map(float, sys.argv[1:]); print("%s/%s/%s" % (rps, t / hz * 1e6 / n, (all - t) / hz * 1e6 / n))' \
    $requests "$(($(awk '{ print $14 + $15 }' "/proc/$1/stat") - before))" "$(($(busy) - machine))" "$(getconf CLK_TCK)"
}
case $MODE in
  ingest) load "${2:?N}" "${3:?P}" --win-rate 1 ;;
  memory)
    load "${2:?N}" "${3:?P}" --win-rate 1
    echo 5 >"/proc/$PID/clear_refs"
    for view in top "window?last=15m" "window?last=1h" "window?last=24h" "window?last=7d"; do
      until curl -sf "$BASE/campaigns/bench/$view" -o /dev/null; do sleep 0.2; done
    done
    echo "after reading the five views: $(rss)"
    curl -s "$BASE/metrics" | grep -E '^leaderboard_(views|snapshot_bytes) ' ;;
  hot)
    load 1000000 100000
    curl -sf "$BASE/campaigns/bench/top" -o /dev/null
    rounds=()
    for _ in $(seq "${ROUNDS:-1}"); do
      rounds+=("$(rps $PID "$BASE/healthz" "" 4s),$(rps $PID "$BASE/campaigns/bench/top" "" 4s),$(rps $PID \
        "$BASE/campaigns/bench/players/{id}?around=5" 100000 4s)")
    done
    python3 -c '
import statistics, sys
runs = [[tuple(map(float, m.split("/"))) for m in r.split(",")] for r in sys.argv[1:]]
for i, name in ((1, "/top"), (2, "random player")):
    ratios = [r[i][0] / r[0][0] for r in runs]
    print("%s: median %.2f x /healthz over %d rounds %s; server CPU per request (us) %s" % (
        name, statistics.median(ratios), len(runs), [round(x, 2) for x in ratios],
        [round(r[i][1], 1) for r in runs]))
print("/healthz req/s: %s; server CPU per request (us) %s" % (
    [int(r[0][0]) for r in runs], [round(r[0][1], 1) for r in runs]))' "${rounds[@]}"
    # Paced: 40 connections 1 ms apart (about half the max), /top then /healthz.
    for path in /campaigns/bench/top /healthz; do
      echo "$path paced: $(WRK_DELAY_MS=1 wrk -t2 -c40 -d6s --latency -s "$ROOT/benches/wrk/bench.lua" "$BASE$path" |
        sed -n 's/^WRK_JSON //p' | python3 -c 'import json, sys; d = json.load(sys.stdin)
print("%d req/s, p50 %.2f ms, p99 %.2f ms" % (d["rps"], d["p50_ms"], d["p99_ms"]))')"
    done
    echo "after the reads: $(rss)"
    if [[ ${2:-} == perf ]]; then
      WRK_RANDOM_ID=100000 wrk -t1 -c32 -d9s -s "$ROOT/benches/wrk/bench.lua" "$BASE/campaigns/bench/players/{id}?around=5" >/dev/null &
      sleep 1
      perf record -F 999 -g -p "$PID" -o "$WORK/perf.data" -- sleep 6 >/dev/null 2>&1
      perf report -i "$WORK/perf.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep '%' | head -30
      wait
    fi ;;
  ceiling)
    # Every player ranked, so that each random player's answer shows 11 entries, as the copied
    # one (a player in the middle of the board) does.
    load 10000 1000 --win-rate 1
    curl -sf "$BASE/campaigns/bench/top" -o /dev/null
    middle=$(curl -sf "$BASE/campaigns/bench/top?offset=500&limit=1" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["entries"][0]["playerId"])')
    PLAYER=/campaigns/bench/players/$middle
    bare=$(bash "$ROOT/benches/executable.sh" ceiling)
    "$bare" "$BASE" /healthz /campaigns/bench/top "$PLAYER?around=5" >"$WORK/ceiling" &
    BARE=$!
    trap 'kill $PID $BARE 2>/dev/null; wait $PID $BARE 2>/dev/null; rm -rf "$WORK"' EXIT
    for _ in $(seq 100); do grep -q listening "$WORK/ceiling" && break; sleep 0.1; done
    COPY=http://127.0.0.1:$(awk '/^listening/ { print $2 }' "$WORK/ceiling")
    rounds=()
    for _ in $(seq "${ROUNDS:-5}"); do
      rounds+=("$(rps $BARE "$COPY/healthz" "" 3s),$(rps $BARE "$COPY/campaigns/bench/top" "" 3s),$(rps $PID \
        "$BASE/healthz" "" 3s),$(rps $PID "$BASE/campaigns/bench/top" "" 3s),$(rps $BARE "$COPY$PLAYER" "" 3s),$(rps \
        $PID "$BASE/campaigns/bench/players/{id}?around=5" 1000 3s)")
    done
    python3 -c '
import statistics, sys
runs = [[tuple(map(float, m.split("/"))) for m in r.split(",")] for r in sys.argv[1:]]
med = lambda f: statistics.median(f(r) for r in runs)
print("over %d rounds, medians (req/s ratios; CPU per request in us):" % len(runs))
print("  /top over /healthz: bare stack %.2f x, service %.2f x" % (
    med(lambda r: r[1][0] / r[0][0]), med(lambda r: r[3][0] / r[2][0])))
print("  service over bare stack: /healthz %.2f x, /top %.2f x" % (
    med(lambda r: r[2][0] / r[0][0]), med(lambda r: r[3][0] / r[1][0])))
print("  a player (around=5) over /healthz: bare stack (one copied answer) %.2f x, service (random players) %.2f x" % (
    med(lambda r: r[4][0] / r[0][0]), med(lambda r: r[5][0] / r[2][0])))
print("  service over bare stack: a player %.2f x" % med(lambda r: r[5][0] / r[4][0]))
for name, at in (("server", 1), ("rest of the machine (wrk, the loopback softirqs)", 2)):
    print("  %s CPU per request (us): bare /healthz %.1f, /top %.1f, player %.1f; service /healthz %.1f, /top %.1f, player %.1f" % (
        (name,) + tuple(med(lambda r, i=i: r[i][at]) for i in (0, 1, 4, 2, 3, 5))))' "${rounds[@]}" ;;
  steady)
    load 1000000 100000
    curl -sf "$BASE/campaigns/bench/top" -o /dev/null
    cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
    read_rows() { curl -s "$BASE/metrics" | awk '/^leaderboard_backend_rows_total/ { n += $2 } END { print n + 0 }'; }
    before=$(cpu) rows=$(read_rows)
    WRK_DELAY_MS=100 wrk -t1 -c1 -d20s -s "$ROOT/benches/wrk/bench.lua" "$BASE/campaigns/bench/top" >/dev/null &
    reader=$!
    python3 "$ROOT/benches/trickle.py" --url "$BASE" --players 100000 --seconds 20
    wait $reader
    echo "server CPU $(( ($(cpu) - before) * 10 )) ms in 20 s; backend rows read $(( $(read_rows) - rows ))"
    curl -s "$BASE/metrics" | grep -E '^leaderboard_(backend_queries_total|refreshes_untouched_total)' ;;
  streams)
    load 1000000 100000
    curl -sf "$BASE/campaigns/bench/top" -o /dev/null
    wrk -t2 -c64 -d5s -s "$ROOT/benches/wrk/bench.lua" "$BASE/campaigns/bench/top" >/dev/null
    WRK_RANDOM_ID=100000 wrk -t2 -c64 -d5s -s "$ROOT/benches/wrk/bench.lua" \
      "$BASE/campaigns/bench/players/{id}?around=5" >/dev/null
    echo "after the read load: $(rss)"
    echo 5 >"/proc/$PID/clear_refs"
    (cd "$ROOT" && timeout 900 cargo bench --bench streams -- --url "$BASE" --subscribers "$2" --changes 20) \
      >"$WORK/streams.txt" 2>"$WORK/streams.err" || { tail -n 20 "$WORK/streams.err" >&2; exit 1; }
    echo "with $2 streams: $(rss)"
    sed -n 's/^STREAMS_JSON //p' "$WORK/streams.txt" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("change to first subscriber p99 %.0f ms, to last p99 %.0f ms (max %.0f ms)"
      % (r["to_first"]["p99_ms"], r["to_last"]["p99_ms"], r["to_last"]["max_ms"]))' ;;
  versus)
    # Two builds side by side on one store: each round serves it with BIN, then with OTHER.
    OTHER=${2:?usage: bash benches/probe.sh versus OTHER_BIN}
    load "${SPINS:-1000000}" "${PLAYERS:-100000}"
    rounds=()
    for _ in $(seq "${ROUNDS:-3}"); do
      for bin in "$BIN" "$OTHER"; do
        kill $PID; wait $PID 2>/dev/null || true
        serve "$bin"
        until curl -sf "$BASE/campaigns/bench/top" -o /dev/null; do sleep 0.2; done
        rounds+=("$(rps $PID "$BASE/healthz" "" 4s),$(rps $PID "$BASE/campaigns/bench/top" "" 4s),$(rps $PID \
          "$BASE/campaigns/bench/players/{id}?around=5" "${PLAYERS:-100000}" 4s)")
      done
    done
    python3 -c '
import statistics, sys
runs = [[tuple(map(float, m.split("/"))) for m in r.split(",")] for r in sys.argv[3:]]
for build, name in enumerate(sys.argv[1:3]):
    mine = runs[build::2]
    med = lambda f: statistics.median(f(r) for r in mine)
    print("%s, medians of %d rounds: /top %.2f x /healthz, random player %.2f x; server CPU per request (us) /healthz %.1f, /top %.1f, player %.1f" % (
        name, len(mine), med(lambda r: r[1][0] / r[0][0]), med(lambda r: r[2][0] / r[0][0]),
        med(lambda r: r[0][1]), med(lambda r: r[1][1]), med(lambda r: r[2][1])))' "$BIN" "$OTHER" "${rounds[@]}" ;;
  duel)
    # Two builds at once: each round loads both on one path at once, so both are measured in the
    # same moments of the machine, and compares the CPU each spent per request.
    OTHER=${2:?usage: bash benches/probe.sh duel OTHER_BIN}
    load "${SPINS:-1000000}" "${PLAYERS:-100000}"
    kill $PID; wait $PID 2>/dev/null || true
    cp -r "$WORK/data" "$WORK/data2"
    PORT2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    serve "$OTHER" data2 "$PORT2"
    RIVAL=$PID
    serve "$BIN"
    for port in $PORT $PORT2; do
      until curl -sf "http://127.0.0.1:$port/campaigns/bench/top" -o /dev/null; do sleep 0.2; done
    done
    cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
    requests() { sed -n 's/^WRK_JSON //p' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'; }
    for _ in $(seq "${ROUNDS:-6}"); do
      for path in /healthz /campaigns/bench/top "/campaigns/bench/players/{id}?around=5"; do
        ids=; [[ $path == *"{id}"* ]] && ids=${PLAYERS:-100000}
        mine=$(cpu $PID) theirs=$(cpu $RIVAL)
        WRK_RANDOM_ID=$ids wrk -t1 -c32 -d3s -s "$ROOT/benches/wrk/bench.lua" "$BASE$path" >"$WORK/wrk.a" &
        local_wrk=$!
        WRK_RANDOM_ID=$ids wrk -t1 -c32 -d3s -s "$ROOT/benches/wrk/bench.lua" "http://127.0.0.1:$PORT2$path" >"$WORK/wrk.b"
        wait $local_wrk
        echo "$path $(requests "$WORK/wrk.a") $(($(cpu $PID) - mine)) $(requests "$WORK/wrk.b") $(($(cpu $RIVAL) - theirs))"
      done
    done >"$WORK/duel"
    python3 -c '
import statistics, sys
hz = float(sys.argv[3])
rows = [line.split() for line in open(sys.argv[4])]
for path in dict.fromkeys(r[0] for r in rows):
    runs = [list(map(float, r[1:])) for r in rows if r[0] == path]
    a = [ta / hz * 1e6 / na for na, ta, nb, tb in runs]
    b = [tb / hz * 1e6 / nb for na, ta, nb, tb in runs]
    print("%s: %s %.2f us, %s %.2f us per request (medians of %d rounds; the second over the first %.3f)" % (
        path, sys.argv[1], statistics.median(a), sys.argv[2], statistics.median(b), len(runs),
        statistics.median(y / x for x, y in zip(a, b))))' "$BIN" "$OTHER" "$(getconf CLK_TCK)" "$WORK/duel" ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
