#!/usr/bin/env python3
"""Spin-event generator: the reference pipeline's generator, kept to its flags.

Each event is {"playerId", "gameId", "win", "stake", "eventTime"} with eventTime in UTC as
`YYYY-MM-DD HH:MM:SS.ffffff` (the format the GamePlay JSON mapping and the service accept).
A spin wins when a random "win indicator" is divisible by the win modulus; the win is then
random in its range, else 0.

Sinks: Kafka (default; key = playerId so one player's spins stay ordered in one partition),
or `--http URL` to POST batches to the service's /events (embedded backend, no Kafka).
Modes: interactive (Enter sends one event, q quits) or `-l` loop with random delays.
`--seed N` makes the events' fields reproducible (eventTime is always the sending instant);
`--save FILE` appends every event the sink confirmed (delivered to Kafka, or accepted by the
service) to FILE as NDJSON, so a test or an operator knows exactly what was sent.
"""

import argparse
import json
import os
import signal
import random
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-t", "--topic", default="gameplay", help="Kafka topic (default: %(default)s)")
    p.add_argument("-b", "--bootstrap-servers", default=os.environ.get("BOOTSTRAP_SERVERS", "localhost:9092"),
                   help="Kafka bootstrap servers (default: $BOOTSTRAP_SERVERS or localhost:9092)")
    p.add_argument("-l", "--loop", action="store_true", help="send -e events without waiting for keypresses")
    p.add_argument("-e", "--events", type=int, default=10,
                   help="events to send in loop mode, 0 = until interrupted (default: %(default)s)")
    p.add_argument("-m", "--min-delay", type=int, default=10, help="min delay between events in ms (default: %(default)s)")
    p.add_argument("-x", "--max-delay", type=int, default=50, help="max delay between events in ms (default: %(default)s)")
    p.add_argument("-p", "--print-every", type=int, default=1,
                   help="print every n-th event; the first is always printed (default: %(default)s)")
    p.add_argument("--players", type=int, nargs=2, default=[1, 100], metavar=("MIN", "MAX"), help="playerId range")
    p.add_argument("--games", type=int, nargs=2, default=[1, 10], metavar=("MIN", "MAX"), help="gameId range")
    p.add_argument("--stakes", type=int, nargs=2, default=[1, 100], metavar=("MIN", "MAX"), help="stake range")
    p.add_argument("--wins", type=int, nargs=2, default=[1, 1000], metavar=("MIN", "MAX"), help="win range when a spin wins")
    p.add_argument("--win-indicator", type=int, nargs=2, default=[1, 100], metavar=("MIN", "MAX"),
                   help="range of the random win indicator (default: 1 100)")
    p.add_argument("--win-modulus", type=int, default=5,
                   help="a spin wins when the win indicator is divisible by this (default: %(default)s, ~20%% wins)")
    p.add_argument("--seed", type=int, help="random seed, for reproducible runs")
    p.add_argument("--save", metavar="FILE",
                   help="append each confirmed event (delivered or accepted) to FILE as one JSON line")
    p.add_argument("-X", "--kafka-config", action="append", default=[], metavar="KEY=VALUE",
                   help="extra librdkafka setting (e.g. security.protocol=SASL_SSL); repeatable")
    p.add_argument("--http", metavar="URL", help="POST batches to this URL (the service's /events) instead of Kafka")
    p.add_argument("--batch", type=int, default=100, help="events per POST in --http mode (default: %(default)s)")
    p.add_argument("--token", default=os.environ.get("LEADERBOARD_INGEST_TOKEN"),
                   help="bearer token for --http (default: $LEADERBOARD_INGEST_TOKEN)")
    a = p.parse_args(argv)
    for name in ("players", "games", "stakes", "wins", "win_indicator"):
        lo, hi = getattr(a, name)
        if lo > hi:
            p.error(f"--{name.replace('_', '-')}: MIN {lo} is above MAX {hi}")
    if a.min_delay < 0 or a.max_delay < a.min_delay:
        p.error("need 0 <= -m <= -x")
    if a.events < 0 or a.print_every < 1 or a.batch < 1 or a.win_modulus < 1:
        p.error("-e must be >= 0; -p, --batch and --win-modulus >= 1")
    return a


def make_event(a, rng):
    won = rng.randint(*a.win_indicator) % a.win_modulus == 0
    return {
        "playerId": rng.randint(*a.players),
        "gameId": rng.randint(*a.games),
        "win": rng.randint(*a.wins) if won else 0,
        "stake": rng.randint(*a.stakes),
        "eventTime": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


class KafkaSink:
    def __init__(self, a):
        from confluent_kafka import Producer  # imported here so --http needs no Kafka client

        conf = {"bootstrap.servers": a.bootstrap_servers, "client.id": "leaderboard-generator", "linger.ms": 5}
        for kv in a.kafka_config:
            key, sep, value = kv.partition("=")
            if not sep:
                sys.exit(f"-X {kv!r}: expected KEY=VALUE")
            conf[key] = value
        self.producer = Producer(conf)
        self.topic = a.topic
        self.failed = 0
        self.saved = Saved(a.save)

    def _delivered(self, err, msg):
        if err is not None:
            self.failed += 1
            print(f"delivery failed: {err}", file=sys.stderr)
        else:
            self.saved.write_raw(msg.value())

    def send(self, event):
        while True:
            try:
                self.producer.produce(self.topic, key=str(event["playerId"]), value=json.dumps(event),
                                      on_delivery=self._delivered)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.5)
        self.producer.poll(0)

    def close(self):
        left = self.producer.flush(30)
        self.saved.close()
        if left or self.failed:
            sys.exit(f"{left} event(s) undelivered, {self.failed} failed")


class Saved:
    """The confirmed events, one JSON line each, when --save asks for them."""

    def __init__(self, path):
        self.file = open(path, "ab") if path else None

    def write_raw(self, value):
        if self.file:
            self.file.write(value + b"\n")

    def write(self, events):
        for event in events:
            self.write_raw(json.dumps(event).encode())

    def close(self):
        if self.file:
            self.file.close()


class HttpSink:
    """Batches events into one JSON array per POST: the service stores a batch all or nothing."""

    def __init__(self, a):
        self.url, self.size, self.token = a.http, a.batch, a.token
        self.pending, self.last_flush, self.accepted = [], time.monotonic(), 0
        self.saved = Saved(a.save)

    def send(self, event):
        self.pending.append(event)
        # Flush on size, or after a second so slow loops still show up on the boards promptly.
        if len(self.pending) >= self.size or time.monotonic() - self.last_flush >= 1.0:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(self.pending).encode()
        for attempt in range(6):
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=10) as resp:
                    self.accepted += json.load(resp).get("accepted", 0)
                self.saved.write(self.pending)
                break
            except urllib.error.HTTPError as e:
                # 4xx is a bad batch or token: retrying cannot help. 5xx/503 may pass.
                if e.code < 500 or attempt == 5:
                    sys.exit(f"POST {self.url}: {e.code} {e.read().decode(errors='replace')}")
            except (urllib.error.URLError, OSError) as e:
                if attempt == 5:
                    sys.exit(f"POST {self.url}: {e}")
            time.sleep(0.2 * 2 ** attempt)
        self.pending, self.last_flush = [], time.monotonic()

    def close(self):
        self.flush()
        self.saved.close()
        print(f"{self.accepted} event(s) accepted by {self.url}", file=sys.stderr)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    a = parse_args(argv)
    # As PID 1 in a container SIGTERM would be ignored: treat it as Ctrl-C so `docker stop`
    # ends the run promptly and still flushes/closes the client.
    signal.signal(signal.SIGTERM, _stop)
    if not a.loop:
        a.batch = 1  # one keypress, one event: post it now rather than on the next keypress
    rng = random.Random(a.seed)
    sink = HttpSink(a) if a.http else KafkaSink(a)
    target = a.http or f"{a.bootstrap_servers} topic {a.topic}"
    sent = 0

    def emit():
        nonlocal sent
        event = make_event(a, rng)
        sink.send(event)
        sent += 1
        if sent == 1 or sent % a.print_every == 0:
            print(f"{sent}: {json.dumps(event)}", flush=True)

    try:
        if a.loop:
            print(f"sending {a.events or 'unlimited'} event(s) to {target}", file=sys.stderr)
            while a.events == 0 or sent < a.events:
                emit()
                if a.events == 0 or sent < a.events:
                    time.sleep(rng.uniform(a.min_delay, a.max_delay) / 1000)
        else:
            print(f"Enter sends one event to {target}; q then Enter (or EOF) quits", file=sys.stderr)
            for line in sys.stdin:
                if line.strip().lower() == "q":
                    break
                emit()
    except KeyboardInterrupt:
        pass
    finally:
        sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
