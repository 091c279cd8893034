#!/usr/bin/env bash
# Runs every test: installs the real engines the tests use (duckdb-kql and Schemathesis from
# PyPI into .venv, Microsoft's KQL analyzer from npm into tests/kql-analyzer), then the Rust
# test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/duckdb-kql ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'duckdb-kql[duckdb]==1.1.2'
fi
if [ ! -x .venv/bin/st ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
if [ ! -d tests/kql-analyzer/node_modules/@kusto/language-service-next ]; then
  (cd tests/kql-analyzer && npm ci --silent --no-audit --no-fund)
fi
(cd tests/kql-analyzer && node analyze.js --self-test >/dev/null)

export DUCKDB_KQL="$PWD/.venv/bin/duckdb-kql"
cargo test --all-targets "$@"
