#!/usr/bin/env python3
"""A delaying HTTP proxy in front of a local Kusto REST engine: every POST /v2/rest/query
waits --delay seconds before it is forwarded, so a backend query takes that much longer than
the engine needs; other requests pass at once. Counts the queries it forwarded and answers
GET /_count with that number; with --log FILE, appends one JSON line per query: when it was
sent (Unix seconds), how long the engine took (without the delay), the answer's bytes and
whether it was an incremental query. Prints `listening on PORT` once it accepts connections,
then runs until killed. Standard library only; listens on 127.0.0.1 and forwards to 127.0.0.1.

    python3 benches/delayproxy.py --upstream-port 31415 --delay 0.8 [--log queries.jsonl]
"""

import argparse
import http.client
import http.server
import json
import sys
import threading
import time

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service's client expects
    upstream_port = 0
    delay = 0.0
    queries = 0
    log = None
    lock = threading.Lock()

    def do_GET(self):
        if self.path == "/_count":
            self.answer(200, [("Content-Type", "text/plain")], str(Proxy.queries).encode())
        else:
            self.forward()

    def do_POST(self):
        if self.path.split("?", 1)[0] == "/v2/rest/query":
            with Proxy.lock:
                Proxy.queries += 1
            time.sleep(Proxy.delay)
        self.forward()

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        upstream = http.client.HTTPConnection("127.0.0.1", Proxy.upstream_port, timeout=600)
        try:
            sent = time.time()
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()  # raw: a gzip answer stays gzip
            took = time.time() - sent
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            self.answer(response.status, kept, data)
            if Proxy.log and self.path.split("?", 1)[0] == "/v2/rest/query":
                csl = json.loads(body or b"{}").get("csl", "")
                line = {"sent": sent, "seconds": took, "bytes": len(data), "status": response.status,
                        "incremental": csl.startswith("let watched = union")}
                with Proxy.lock:
                    Proxy.log.write(json.dumps(line) + "\n")
                    Proxy.log.flush()
        finally:
            upstream.close()

    def answer(self, status, headers, data):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.8, help="seconds added to every query")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--log", help="append a JSON line per query to this file")
    args = parser.parse_args()
    Proxy.upstream_port, Proxy.delay = args.upstream_port, args.delay
    Proxy.log = open(args.log, "a", encoding="utf-8") if args.log else None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
