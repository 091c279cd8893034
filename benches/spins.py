#!/usr/bin/env python3
"""The benchmark's fixed dataset: loads it into a running leaderboard server through
POST /events, or writes it as CSV (for `duckdb-kql serve`'s init script).

The spins are drawn from a seeded generator, so every run holds the same players, games,
stakes, wins and time offsets; the offsets count back from now (over --days), so the
`/window?last=15m` view always has data. Players 1..P (spin i < P is player i + 1's, so every
player spins at least once when the count allows), games 1..10, stake 1..50, a win of 1..500
on a share of spins (--win-rate, default 25%; the rest win 0). Batches of 50,000 events (about 5 MB, well
under the 16 MiB body limit) keep the per-request cost small against the insert itself.
Standard library only.

    python3 benches/spins.py --url http://127.0.0.1:8080 --count 1000000 --players 100000
    python3 benches/spins.py --csv spins.csv --count 1000000 --players 100000
"""

import argparse
import concurrent.futures
import csv
import datetime as dt
import http.client
import json
import random
import sys
import time
import urllib.parse

BATCH = 50_000


def spins(count, seed, players, win_rate, days, now):
    rng = random.Random(seed)
    span_us = int(days * 86_400 * 1_000_000)
    for i in range(count):
        at = now - dt.timedelta(microseconds=rng.randrange(1, span_us))
        win = rng.randint(1, 500) if rng.random() < win_rate else 0
        player = i + 1 if i < players else rng.randint(1, players)
        yield player, rng.randint(1, 10), win, rng.randint(1, 50), at.isoformat(timespec="microseconds") + "Z"


def bodies(generated):
    batch = []
    for spin in generated:
        batch.append(f'{{"playerId":{spin[0]},"gameId":{spin[1]},"win":{spin[2]},"stake":{spin[3]},"eventTime":"{spin[4]}"}}')
        if len(batch) == BATCH:
            yield ("[" + ",".join(batch) + "]").encode()
            batch = []
    if batch:
        yield ("[" + ",".join(batch) + "]").encode()


def post(conn, body):
    conn.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    text = response.read().decode(errors="replace")
    if response.status != 200:
        raise RuntimeError(f"POST /events answered {response.status}: {text[:500]}")


def load(url, generated):
    url = urllib.parse.urlsplit(url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to load a non-local server: {url.geturl()}")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    # The next batch is generated while the server stores this one (the GIL is free while
    # the poster waits on its socket).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as poster:
        pending = None
        for body in bodies(generated):
            if pending:
                pending.result()
            pending = poster.submit(post, conn, body)
        if pending:
            pending.result()


def write_csv(path, generated):
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["PlayerID", "GameID", "Win", "Stake", "EventTime"])
        # DuckDB reads the timestamp without its `Z` (UTC is the table's convention).
        writer.writerows((p, g, w, s, t.rstrip("Z").replace("T", " ")) for p, g, w, s, t in generated)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the server's base URL: load it through POST /events")
    target.add_argument("--csv", help="write the spins to this CSV file instead")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--players", type=int, default=100_000, help="player ids are 1..PLAYERS")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--win-rate", type=float, default=0.25, help="share of spins that win")
    parser.add_argument("--days", type=float, default=3.0, help="spread the spins over the last DAYS")
    args = parser.parse_args()

    started = time.monotonic()
    generated = spins(args.count, args.seed, args.players, args.win_rate, args.days, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    if args.url:
        load(args.url, generated)
    else:
        write_csv(args.csv, generated)
    took = time.monotonic() - started
    print(json.dumps({"spins": args.count, "players": args.players, "seed": args.seed, "win_rate": args.win_rate,
                      "seconds": round(took, 2)}))


if __name__ == "__main__":
    main()
