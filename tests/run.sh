#!/usr/bin/env bash
# Runs every test: installs the real engines the tests use (duckdb-kql and Schemathesis from
# PyPI into .venv, Microsoft's KQL analyzer from npm into tests/kql-analyzer, Debian's chromium
# and puppeteer-core from npm into tests/browser for the page's browser test, Postman's
# converter and runner and openapi-typescript from npm into tests/clients, the tansu Kafka
# broker from crates.io into a tools directory outside the clone (reused by every clone on the
# machine), confluent-kafka for the event generator into .venv), then the Rust test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/duckdb-kql ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'duckdb-kql[duckdb]==1.1.2'
fi
if [ ! -x .venv/bin/st ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
if ! .venv/bin/python -c 'import confluent_kafka' 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r docker/generator/requirements.txt
fi
# The Kafka tests' broker (no Docker here): built once (about 15 minutes on 2 cores), reused;
# libsql gives it SQLite storage, so a test can restart it without losing the topic.
TOOLS=${LEADERBOARD_TOOLS:-$HOME/.cache/leaderboard-tools}
if [ ! -x "$TOOLS/bin/tansu" ]; then
  echo "installing the tansu Kafka broker into $TOOLS (once)" >&2
  cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$TOOLS" --quiet
fi
export TANSU="$TOOLS/bin/tansu"
if [ ! -d tests/kql-analyzer/node_modules/@kusto/language-service-next ]; then
  (cd tests/kql-analyzer && npm ci --silent --no-audit --no-fund)
fi
(cd tests/kql-analyzer && node analyze.js --self-test >/dev/null)
# The browser test drives Debian's chromium; nothing downloads a browser of its own.
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  (cd tests/browser && npm ci --silent --no-audit --no-fund)
fi
# The clients' test: openapi-to-postmanv2, newman, openapi-typescript and tsc.
if [ ! -d tests/clients/node_modules/newman ]; then
  (cd tests/clients && npm ci --silent --no-audit --no-fund)
fi

export DUCKDB_KQL="$PWD/.venv/bin/duckdb-kql"
cargo test --all-targets "$@"
