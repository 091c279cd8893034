#!/usr/bin/env python3
"""Cold-start storm: opens N connections to a local server first, then sends one GET for the
same never-requested path on every connection at once, and reports the latency of each
(from its own send to the end of its response) as one JSON line. Standard library only
(asyncio over raw sockets).

    python3 benches/coldstorm.py --url http://127.0.0.1:8080 --path '/campaigns/bench/window?last=4321s' -n 500
"""

import argparse
import asyncio
import collections
import json
import sys
import time
import urllib.parse


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, round((len(sorted_values) - 1) * p / 100))]


async def response(reader, sent_at, timeout):
    data = await asyncio.wait_for(reader.read(), timeout)  # Connection: close, so read to EOF
    took = time.perf_counter() - sent_at
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    return status, took


async def storm(host, port, path, n, timeout):
    connections = await asyncio.wait_for(
        asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(n))), timeout
    )
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    # Fire: every write goes straight to its socket, so all N requests leave within a few ms.
    fired = time.perf_counter()
    sent = []
    for _, writer in connections:
        writer.write(request)
        sent.append(time.perf_counter())
    fire_ms = (time.perf_counter() - fired) * 1000
    results = await asyncio.gather(
        *(response(reader, at, timeout) for (reader, _), at in zip(connections, sent)),
        return_exceptions=True,
    )
    wall_ms = (time.perf_counter() - fired) * 1000
    for _, writer in connections:
        writer.close()
    return results, fire_ms, wall_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server's base URL")
    parser.add_argument("--path", required=True)
    parser.add_argument("-n", type=int, default=500, help="concurrent requests")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds, for the whole storm")
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to storm a non-local server: {args.url}")
    results, fire_ms, wall_ms = asyncio.run(storm(url.hostname, url.port, args.path, args.n, args.timeout))
    statuses = collections.Counter()
    latencies = []
    for result in results:
        if isinstance(result, BaseException):
            statuses[type(result).__name__] += 1
        else:
            status, took = result
            statuses[str(status)] += 1
            latencies.append(took * 1000)
    latencies.sort()
    report = {
        "n": args.n,
        "ok": statuses.get("200", 0),
        "statuses": dict(statuses),
        "fire_ms": round(fire_ms, 3),
        "wall_ms": round(wall_ms, 3),
    }
    if latencies:
        report.update(
            p50_ms=round(percentile(latencies, 50), 3),
            p99_ms=round(percentile(latencies, 99), 3),
            max_ms=round(latencies[-1], 3),
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
