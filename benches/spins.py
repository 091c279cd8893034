#!/usr/bin/env python3
"""Loads the benchmark's fixed dataset into a running leaderboard server through POST /events.

The spins are drawn from a seeded generator, so every run loads the same players, games,
stakes, wins and time offsets; the offsets count back from now (over --days), so the
`/window?last=15m` view always has data. Players 1..10000, games 1..10, stake 1..50, a win of
1..500 on about 25% of spins (the rest win 0). Standard library only.

    python3 benches/spins.py --url http://127.0.0.1:8080 --count 200000 --seed 42
"""

import argparse
import datetime as dt
import http.client
import json
import random
import sys
import time
import urllib.parse

BATCH = 10_000


def spins(count, seed, days, now):
    rng = random.Random(seed)
    span_us = int(days * 86_400 * 1_000_000)
    for _ in range(count):
        at = now - dt.timedelta(microseconds=rng.randrange(1, span_us))
        win = rng.randint(1, 500) if rng.random() < 0.25 else 0
        yield {
            "playerId": rng.randint(1, 10_000),
            "gameId": rng.randint(1, 10),
            "win": win,
            "stake": rng.randint(1, 50),
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


def post(conn, path, batch):
    body = json.dumps(batch, separators=(",", ":")).encode()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    text = response.read().decode(errors="replace")
    if response.status != 200:
        sys.exit(f"POST /events answered {response.status}: {text[:500]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server's base URL")
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=float, default=3.0, help="spread the spins over the last DAYS")
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to load a non-local server: {args.url}")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    started = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc)
    batch = []
    for spin in spins(args.count, args.seed, args.days, now):
        batch.append(spin)
        if len(batch) == BATCH:
            post(conn, "/events", batch)
            batch = []
    if batch:
        post(conn, "/events", batch)
    took = time.monotonic() - started
    print(json.dumps({"spins": args.count, "seed": args.seed, "seconds": round(took, 2)}))


if __name__ == "__main__":
    main()
