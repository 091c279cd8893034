#!/usr/bin/env bash
# Registers the Kusto sink (kusto-sink.json) with a Kafka Connect worker and waits until the
# connector and its tasks run.
#
#   ADX_CLUSTER_URL=https://c.r.kusto.windows.net ./register.sh   # CONNECT_URL defaults to :8083
#
# Two kinds of holes in kusto-sink.json:
# - {{NAME}} is filled here from the environment (cluster URLs, database, table, the brokers
#   of the dead-letter topic): they are not secret, and seeing them in
#   `GET /connectors/NAME/config` helps debugging.
# - ${env:AZURE_...} is left alone: the worker's EnvVarConfigProvider resolves it when it
#   starts the connector, so the service principal's secret never crosses the REST API and is
#   never written to Connect's config topic. The worker needs those variables (adx.env).
# tasks.max is 4, one per partition of `gameplay`; flush.interval.ms is short because the
# table has streaming ingestion and the boards are meant to be real time.
# Errors never stop the tasks: a failed ingestion is retried every 10 s for 5 minutes
# (errors.retry.*; the sink's defaults give up after 300 ms and, with behavior.on.error=fail,
# kill the task), then logged and its records written to the dead-letter topic `gameplay-dlq`
# (misc.deadletterqueue.*), where they can be replayed from. Records that cannot even be read
# go there too, through Connect's own dead-letter queue (errors.tolerance=all; those carry
# __connect.errors.* headers saying why). The topic must exist: compose's init-topics makes it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=${CONNECTOR_CONFIG:-$here/kusto-sink.json}
connect=${CONNECT_URL:-http://localhost:8083}
timeout=${REGISTER_TIMEOUT:-120}

: "${ADX_CLUSTER_URL:?set ADX_CLUSTER_URL to the cluster query URI}"
# The ingestion URI is the query URI with an ingest- prefix on the host, unless given.
ADX_INGEST_URL=${ADX_INGEST_URL:-$(printf '%s' "$ADX_CLUSTER_URL" | sed -E 's#^(https?://)#\1ingest-#')}
ADX_DATABASE=${ADX_DATABASE:-leaderboard}
ADX_TABLE=${ADX_TABLE:-GamePlay}
# The sink's own dead-letter producer connects to these (the Connect worker's brokers).
KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-broker:29092}

body=$(cat "$config")
for var in ADX_INGEST_URL ADX_CLUSTER_URL ADX_DATABASE ADX_TABLE KAFKA_BOOTSTRAP_SERVERS; do
  value=${!var}
  # Values land inside JSON strings (one inside a single-quoted list); refuse anything that
  # would need escaping rather than escape it wrongly.
  case $value in
    *[\"\'\\]* | *[[:cntrl:]]*)
      echo "register.sh: $var contains a quote, backslash or control character" >&2
      exit 2 ;;
  esac
  # Escape sed's replacement specials (& \ and the | delimiter).
  escaped=$(printf '%s' "$value" | sed -e 's/[&|\\]/\\&/g')
  body=$(printf '%s' "$body" | sed -e "s|{{$var}}|$escaped|g")
done
if [[ $body == *'{{'* ]]; then
  echo "register.sh: unfilled placeholder left in $config" >&2
  exit 2
fi
name=$(printf '%s' "$body" | sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' | head -n 1)
# The bare config object, for PUT: kusto-sink.json keeps "config" as its last member, so it
# runs from that line to the line before the file's closing brace.
config_only=$(printf '%s\n' "$body" | sed -n '/"config": *{/,$p' | sed -e '1s/.*"config": *{/{/' -e '$d')

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# POST creates it; a 409 means it exists, so PUT the config to update it in place.
code=$(curl -sS -o "$out" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' --data "$body" "$connect/connectors")
if [[ $code == 409 ]]; then
  echo "connector $name exists; updating its config"
  code=$(curl -sS -o "$out" -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/json' --data "$config_only" "$connect/connectors/$name/config")
fi
if [[ $code != 2?? ]]; then
  echo "register.sh: Connect answered $code:" >&2
  cat "$out" >&2
  exit 1
fi
echo "connector $name submitted ($code); waiting for it to run"

# Connect answers status as compact JSON; without jq, count "state" fields: done when every
# one (connector and each task, with at least one task) is RUNNING.
deadline=$((SECONDS + timeout))
while ((SECONDS < deadline)); do
  status=$(curl -sS "$connect/connectors/$name/status" || true)
  if [[ $status == *'"FAILED"'* ]]; then
    echo "register.sh: connector $name failed:" >&2
    echo "$status" >&2
    exit 1
  fi
  states=$(grep -o '"state" *: *"[A-Z]*"' <<<"$status" | wc -l)
  running=$(grep -o '"state" *: *"RUNNING"' <<<"$status" | wc -l)
  if ((states >= 2 && states == running)); then
    echo "connector $name is RUNNING with $((running - 1)) task(s)"
    exit 0
  fi
  sleep 2
done
echo "register.sh: connector $name not running after ${timeout}s; last status: $status" >&2
exit 1
