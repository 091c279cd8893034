#!/usr/bin/env bash
# Prints the path of a bench's executable, built first if needed (bench profile):
#   bash benches/executable.sh NAME
# For the scripts that run one as a process of its own (to measure or stop it by its pid).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --bench "${1:?usage: bash benches/executable.sh NAME}" --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
name = sys.argv[1]
found = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("target", {}).get("name") == name and m.get("executable")]
if not found:
    sys.exit("no executable for bench " + name)
print(found[0])' "$1"
