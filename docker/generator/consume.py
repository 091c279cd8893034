#!/usr/bin/env python3
"""Prints what arrives on a topic, to check the generator -> Kafka leg before blaming Connect.

Each run joins a fresh consumer group by default, so it never steals partitions from (or
commits offsets for) another reader such as the Kusto sink's `connect-<name>` group.
"""

import argparse
import os
import signal
import sys


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-t", "--topic", default="gameplay", help="topic (default: %(default)s)")
    p.add_argument("-b", "--bootstrap-servers", default=os.environ.get("BOOTSTRAP_SERVERS", "localhost:9092"),
                   help="bootstrap servers (default: $BOOTSTRAP_SERVERS or localhost:9092)")
    p.add_argument("-g", "--group", default=f"gameplay-consume-{os.getpid()}", help="consumer group")
    p.add_argument("--from-beginning", action="store_true", help="start at the earliest offset, not the end")
    p.add_argument("-n", "--max", type=int, default=0, help="stop after n messages (default: never)")
    a = p.parse_args(argv)
    # As PID 1 in a container SIGTERM would be ignored: treat it as Ctrl-C so `docker stop`
    # ends the run promptly and still flushes/closes the client.
    signal.signal(signal.SIGTERM, _stop)

    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer({
        "bootstrap.servers": a.bootstrap_servers,
        "group.id": a.group,
        "auto.offset.reset": "earliest" if a.from_beginning else "latest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([a.topic])
    print(f"reading {a.topic} from {a.bootstrap_servers}; Ctrl-C stops", file=sys.stderr)
    seen = 0
    try:
        while not a.max or seen < a.max:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            seen += 1
            key = msg.key().decode(errors="replace") if msg.key() is not None else None
            value = msg.value().decode(errors="replace") if msg.value() is not None else None
            print(f"p{msg.partition()}@{msg.offset()} key={key} {value}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
