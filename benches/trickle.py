#!/usr/bin/env python3
"""A steady flow of spins into a running leaderboard server: BATCH spins (random players of
1..P, the current instant, a quarter winning) through POST /events every INTERVAL seconds, for
SECONDS. Prints one line: spins posted. Standard library only.

    python3 benches/trickle.py --url http://127.0.0.1:8080 --players 100000 --seconds 20
"""

import argparse
import datetime as dt
import http.client
import json
import random
import time
import urllib.parse

from spins import post


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    rng = random.Random(7)
    posted, end = 0, time.monotonic() + args.seconds
    while time.monotonic() < end:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        events = [
            {"playerId": rng.randint(1, args.players), "gameId": rng.randint(1, 10),
             "win": rng.randint(1, 500) if rng.random() < 0.25 else 0, "stake": rng.randint(1, 50),
             "eventTime": now}
            for _ in range(args.batch)
        ]
        post(conn, json.dumps(events))
        posted += len(events)
        time.sleep(args.interval)
    print(f"posted {posted} spins in {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
