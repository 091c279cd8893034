#!/usr/bin/env python3
"""ADX at scale, on `duckdb-kql serve`: a 30-day campaign of --spins spins by --players players
(generated in DuckDB), served by the release binary on the ADX backend through counting
proxies (benches/delayproxy.py with no delay), and measured in one run:

  1. the first full load of the campaign's whole board: its time, its answer's bytes, the
     server's peak RSS during it against the snapshot it built, and /healthz latency meanwhile;
  2. a steady phase (--seconds; twice that for the full-query service, whose refreshes are
     seldom) with --rate spins a second arriving as a pipeline delivers them: each second
     the last second or two of play, every 15 s a lagging partition's backlog (300 spins one to
     four minutes late, within --late-arrival), every 30 s a few spins 15-25 minutes late (later
     than --late-arrival, left to a reconcile): every query's answer bytes and engine time, on
     the incremental service, then the same phase on a second service refreshing by full
     queries (`--refresh full`, today's rescans): the cluster time a minute of one live board,
     side by side;
  3. exactness: once spins stop and a reconcile has passed, the incremental board against the
     full-query board (totals and pages across the whole ranking).

Prints one JSON document (and writes it to --out). Every process listens on 127.0.0.1.
Needs duckdb-kql and the duckdb module in .venv (bash tests/run.sh installs them).

    .venv/bin/python benches/adxscale.py --binary target/release/leaderboard [--quick] [--out FILE]
"""

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMPAIGN = "scale"


def log(text):
    print(f"[adx-scale] {text}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def get(url, timeout=600):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def get_json(url, timeout=600):
    return json.loads(get(url, timeout))


def dataset(path, spins, players, days, end):
    """GamePlay with `spins` spins by players 1..=players over `days` days up to `end`, in time
    order (as ingestion writes it); a third of them lose."""
    import duckdb

    started = time.monotonic()
    con = duckdb.connect(path)
    con.execute("SELECT setseed(0.42)")
    span_us = days * 86_400_000_000
    start = (end - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
    con.execute(
        f"""CREATE TABLE GamePlay AS SELECT
            CAST(floor(random() * {players}) + 1 AS INTEGER) AS PlayerID,
            CAST(floor(random() * 5) + 1 AS INTEGER) AS GameID,
            CASE WHEN random() < 0.33 THEN 0 ELSE CAST(floor(random() * 5000) + 1 AS BIGINT) END AS Win,
            CAST(floor(random() * 50) + 1 AS INTEGER) AS Stake,
            TIMESTAMP '{start}' + to_microseconds(CAST(i * {span_us // spins} AS BIGINT)) AS EventTime
        FROM range({spins}) t(i)"""
    )
    con.close()
    log(f"generated {spins:,} spins by {players:,} players in {time.monotonic() - started:.1f} s")


class Engine:
    def __init__(self, db, logs):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, ".venv/bin/duckdb-kql"), "serve", "--allow-write", "--port", str(self.port), db],
            stdout=open(os.path.join(logs, "engine.out"), "w"),
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)
        self.database = os.path.splitext(os.path.basename(db))[0]

    def append(self, n, players, seed, newest, spread_ms):
        """Appends `n` spins made up by the engine itself (a short command, not `n` rows of text
        for its parser): players 1..=players, a third losing, at `newest` minus up to
        `spread_ms`."""
        at = newest.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        csl = (
            f".append GamePlay <| range i from 1 to {n} step 1"
            f" | extend a = (i * 2654435761 + {seed}) % 4294967291, b = (i * 40503 + {seed} * 7) % 1000003"
            f" | project PlayerID = toint(a % {players} + 1), GameID = toint(b % 5 + 1),"
            f" Win = iff(b % 3 == 0, tolong(0), (a / 7) % 5000 + 1), Stake = toint((b / 11) % 50 + 1),"
            f" EventTime = datetime({at}) - 1ms * (b % {spread_ms})"
        )
        body = json.dumps({"db": self.database, "csl": csl}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/rest/mgmt", body, {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=120).read()


class Service:
    """The release binary on the ADX backend, behind its own counting proxy."""

    def __init__(self, binary, engine, campaigns, logs, name, extra):
        self.log_path = os.path.join(logs, f"queries-{name}.jsonl")
        proxy_port = free_port()
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "benches/delayproxy.py"), "--upstream-port", str(engine.port),
             "--delay", "0", "--port", str(proxy_port), "--log", self.log_path],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(logs, f"proxy-{name}.out"), "w"),
        )
        wait_port(proxy_port)
        port = free_port()
        args = [binary, "--backend", "adx", "--adx-cluster", f"http://127.0.0.1:{proxy_port}",
                "--adx-database", engine.database, "--adx-auth", "none", "--campaigns", campaigns,
                "--listen", f"127.0.0.1:{port}", "--request-timeout", "600s", "--backend-timeout", "600s",
                "--snapshot-memory", "4GiB", "--max-limit", "1000", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(logs, f"service-{name}.out"), "w"))
        wait_port(port)
        self.base = f"http://127.0.0.1:{port}"

    def rss_kb(self, key="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def metric(self, name):
        text = get(f"{self.base}/metrics").decode()
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(name + " ") or l.startswith(name + "{"))

    def queries(self):
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        for proc in (self.proc, self.proxy):
            proc.terminate()
            proc.wait(timeout=30)


def first_load(service):
    """Times the first read of the campaign's board while sampling the server's RSS and
    probing /healthz."""
    done = threading.Event()
    rss, probes = [service.rss_kb()], []

    def sample():
        while not done.is_set():
            rss.append(service.rss_kb())
            time.sleep(0.02)

    def probe():
        while not done.is_set():
            started = time.perf_counter()
            get(f"{service.base}/healthz", timeout=30)
            probes.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)

    threads = [threading.Thread(target=sample), threading.Thread(target=probe)]
    for t in threads:
        t.start()
    started = time.monotonic()
    board = get_json(f"{service.base}/campaigns/{CAMPAIGN}/top?limit=10")
    seconds = time.monotonic() - started
    done.set()
    for t in threads:
        t.join()
    snapshot = service.metric("leaderboard_snapshot_bytes")
    probes.sort()
    return {
        "seconds": seconds,
        "players": board["total"],
        "answer_bytes": service.queries()[0]["bytes"],
        "rss_before_mb": rss[0] / 1024,
        "rss_peak_mb": max(rss) / 1024,
        "rss_after_mb": service.rss_kb() / 1024,
        "snapshot_mb": snapshot / 2**20,
        "healthz_probes": len(probes),
        "healthz_p99_ms": probes[int(len(probes) * 0.99)] if probes else None,
    }


def steady(engine, service, rate, seconds, players):
    """Spins arrive at `rate` a second while the board is read; returns the window measured."""
    stop = threading.Event()
    rng = random.Random(7)
    failures = []

    def write():
        try:
            arrive()
        except Exception as error:  # the phase is void without its spins
            failures.append(error)
            stop.set()

    def arrive():
        second = 0
        while not stop.is_set():
            tick = time.monotonic()
            now = datetime.now(timezone.utc)
            engine.append(rate, players, rng.randrange(1, 1 << 30), now, 2000)
            if second % 15 == 7:
                engine.append(300, players, rng.randrange(1, 1 << 30), now - timedelta(seconds=60), 180_000)
            if second % 30 == 21:
                engine.append(10, players, rng.randrange(1, 1 << 30), now - timedelta(minutes=15), 600_000)
            second += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

    def read():
        while not stop.is_set():
            get(f"{service.base}/campaigns/{CAMPAIGN}/top?limit=10")
            time.sleep(0.25)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    started = time.time()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"spins could not be appended: {failures[0]}")
    return started, time.time()


def summary(queries, window, full_bytes):
    start, end = window
    inside = [q for q in queries if start <= q["sent"] < end]
    sizes = sorted(q["bytes"] for q in inside)
    times = sorted(q["seconds"] for q in inside)
    minutes = (end - start) / 60
    sent = sorted(q["sent"] for q in inside)
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    return {
        "median_period_seconds": statistics.median(gaps) if gaps else None,
        "queries": len(inside),
        "incremental": sum(q["incremental"] for q in inside),
        "median_bytes": statistics.median(sizes) if sizes else None,
        "p90_bytes": sizes[int(len(sizes) * 0.9)] if sizes else None,
        "median_fraction_of_full": statistics.median(sizes) / full_bytes if sizes else None,
        "median_seconds": statistics.median(times) if times else None,
        "cluster_seconds_per_minute": sum(times) / minutes,
        "bytes_per_minute": sum(sizes) / minutes,
    }


def exact(a, b, players):
    """Totals and pages across the whole ranking, compared between the two services."""
    checked = []
    for offset in sorted({0, players // 3, players // 2, max(0, players - 100)}):
        path = f"/campaigns/{CAMPAIGN}/top?limit=100&offset={offset}"
        x, y = get_json(a.base + path), get_json(b.base + path)
        same = x["total"] == y["total"] and x["entries"] == y["entries"]
        checked.append({"offset": offset, "same": same, "total": x["total"]})
    return checked


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--quick", action="store_true", help="1M spins by 100k players, shorter phases")
    parser.add_argument("--spins", type=int)
    parser.add_argument("--players", type=int)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=int, default=1000, help="spins a second in the steady phases")
    parser.add_argument("--seconds", type=int, help="length of each steady phase")
    parser.add_argument("--logs", default=os.path.join(ROOT, "target/bench-logs/adx-scale"))
    parser.add_argument("--out")
    args = parser.parse_args()
    spins = args.spins or (1_000_000 if args.quick else 10_000_000)
    players = args.players or (100_000 if args.quick else 1_000_000)
    seconds = args.seconds or (30 if args.quick else 60)
    os.makedirs(args.logs, exist_ok=True)
    for old in os.listdir(args.logs):
        os.remove(os.path.join(args.logs, old))
    work = tempfile.mkdtemp(prefix="adx-scale-")
    services = []
    try:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        db = os.path.join(work, "scale.duckdb")
        dataset(db, spins, players, args.days, now)
        campaigns = os.path.join(work, "campaigns.toml")
        start = (now - timedelta(days=args.days, hours=1)).isoformat().replace("+00:00", "Z")
        end = (now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        with open(campaigns, "w") as f:
            f.write(f'[[campaigns]]\nid = "{CAMPAIGN}"\nname = "Scale"\nstart = "{start}"\nend = "{end}"\n')
        engine = Engine(db, args.logs)
        incremental = Service(args.binary, engine, campaigns, args.logs, "incremental",
                              ["--refresh", "incremental", "--reconcile-every", "30s"])
        services.append(incremental)
        log("first load (incremental service)")
        load = first_load(incremental)
        log(f"loaded {load['players']:,} players in {load['seconds']:.1f} s")
        window_a = steady(engine, incremental, args.rate, seconds, players)
        # A reconcile passes after the last spin: the board must then be exact.
        time.sleep(35)
        full = Service(args.binary, engine, campaigns, args.logs, "full", ["--refresh", "full"])
        services.append(full)
        get_json(f"{full.base}/campaigns/{CAMPAIGN}/top?limit=1")
        get_json(f"{incremental.base}/campaigns/{CAMPAIGN}/top?limit=1")
        time.sleep(2)
        checked = exact(incremental, full, load["players"])
        incremental.stop()
        services.remove(incremental)
        # Twice as long: a full query takes a good part of a minute, its refreshes come seldom.
        log("steady phase (full-query service)")
        window_b = steady(engine, full, args.rate, 2 * seconds, players)
        full_bytes = load["answer_bytes"]
        result = {
            "spins": spins,
            "players": players,
            "days": args.days,
            "rate": args.rate,
            "seconds": seconds,
            "load": load,
            "incremental": summary(incremental.queries(), window_a, full_bytes),
            "full": summary(full.queries(), window_b, full_bytes),
            "exact": checked,
        }
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
    finally:
        for service in services:
            service.stop()
        if "engine" in locals():
            engine.proc.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
