#!/usr/bin/env python3
"""Prints the sum of one counter (or a histogram's `_sum`/`_count`) over all its label sets, read from a server's GET /metrics
(OpenMetrics text). Standard library only.

    python3 benches/metrics.py http://127.0.0.1:8080 leaderboard_backend_queries_total
"""

import sys
import urllib.request


def counter(base_url, name):
    with urllib.request.urlopen(base_url.rstrip("/") + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.split()[-1] if "}" not in line else line.rsplit("}", 1)[1].split()[0])
    return total


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    value = counter(sys.argv[1], sys.argv[2])
    print(int(value) if value.is_integer() else value)
