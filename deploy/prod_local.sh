#!/usr/bin/env bash
# `make prod-local`: the production profile on this machine. deploy/dagster.yaml (PostgreSQL
# storage, run queue, per-company limit, pools, retention) against the PostgreSQL server at
# 127.0.0.1:5432, with the two long-running processes of production, `dagster-daemon run` and
# `dagster-webserver`, plus the Apideck sandbox when no Apideck key is set. Ctrl-C stops all three.
#
# Settings (environment, all optional):
#   DAGSTER_PG_HOST/PORT/USER/PASSWORD   the server              (127.0.0.1 / 5432 / postgres / empty)
#   DAGSTER_PG_DB                        Dagster's database      (personio_pipeline_dagster)
#   TEAMMETER_DATABASE_URL               Teammeter's database    (…/personio_pipeline_teammeter)
#   PROD_LOCAL_HOME                      DAGSTER_HOME            (.dagster_home/prod-local)
#   WEB_PORT / SANDBOX_PORT              UI and sandbox ports    (3001 / 8712)
#   WEBHOOK_PORT                         webhook receiver port   (8781)
#   WEBHOOK_PUBLIC_URL                   URL Apideck delivers to (registered; with the sandbox: the local receiver)
#   APIDECK_API_KEY + APIDECK_APP_ID     use the real Apideck instead of the sandbox
# Databases are created when missing; dagster.yaml is copied from deploy/ on every start.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
cd "$ROOT"

export DAGSTER_PG_HOST=${DAGSTER_PG_HOST:-127.0.0.1}
export DAGSTER_PG_PORT=${DAGSTER_PG_PORT:-5432}
export DAGSTER_PG_USER=${DAGSTER_PG_USER:-postgres}
export DAGSTER_PG_PASSWORD=${DAGSTER_PG_PASSWORD:-}
export DAGSTER_PG_DB=${DAGSTER_PG_DB:-personio_pipeline_dagster}
export DAGSTER_HOME=${PROD_LOCAL_HOME:-$ROOT/.dagster_home/prod-local}
export PERSONIO_PIPELINE_DATA_DIR=${PERSONIO_PIPELINE_DATA_DIR:-$ROOT/data/prod-local}
if [[ -z "${TEAMMETER_DATABASE_URL:-}" ]]; then
  credentials=$DAGSTER_PG_USER${DAGSTER_PG_PASSWORD:+:$DAGSTER_PG_PASSWORD}
  export TEAMMETER_DATABASE_URL="postgresql://$credentials@$DAGSTER_PG_HOST:$DAGSTER_PG_PORT/personio_pipeline_teammeter"
fi
WEB_PORT=${WEB_PORT:-3001}
SANDBOX_PORT=${SANDBOX_PORT:-8712}
if [[ -z "${APIDECK_API_KEY:-}" ]]; then
  export APIDECK_BASE_URL="http://127.0.0.1:$SANDBOX_PORT" APIDECK_API_KEY=sandbox-api-key APIDECK_APP_ID=sandbox-app
  SANDBOX=1
fi

# `bash deploy/prod_local.sh env`: the same settings for a second shell, e.g.
#   eval "$(bash deploy/prod_local.sh env)" && .venv/bin/personio-pipeline sync acme-sandbox
if [[ "${1:-}" == env ]]; then
  for name in DAGSTER_PG_HOST DAGSTER_PG_PORT DAGSTER_PG_USER DAGSTER_PG_PASSWORD DAGSTER_PG_DB DAGSTER_HOME \
              PERSONIO_PIPELINE_DATA_DIR TEAMMETER_DATABASE_URL APIDECK_BASE_URL APIDECK_API_KEY APIDECK_APP_ID; do
    [[ -n "${!name+set}" ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  exit 0
fi

# 1. Databases (CREATE DATABASE cannot take parameters: names are quoted by psycopg.sql).
"$BIN/python" - <<'PY'
import os

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

env = os.environ
admin = dict(host=env["DAGSTER_PG_HOST"], port=env["DAGSTER_PG_PORT"], user=env["DAGSTER_PG_USER"],
             password=env["DAGSTER_PG_PASSWORD"] or None, dbname="postgres", autocommit=True)
wanted = [env["DAGSTER_PG_DB"]]
teammeter = make_url(env["TEAMMETER_DATABASE_URL"])
if teammeter.get_backend_name() == "postgresql" and (teammeter.host, str(teammeter.port or 5432)) == (
    env["DAGSTER_PG_HOST"], env["DAGSTER_PG_PORT"]):
    wanted.append(teammeter.database)
with psycopg.connect(**admin) as conn:
    for name in wanted:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
PY

# 2. The deploy step: Teammeter's schema to this code's revision (runs never migrate a server database).
"$BIN/personio-pipeline" db upgrade

# 3. The instance: the production dagster.yaml, unchanged; the pools' own limits (see its comments).
mkdir -p "$DAGSTER_HOME" "$PERSONIO_PIPELINE_DATA_DIR"
cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
"$BIN/dagster" instance concurrency set apideck 4 >/dev/null
"$BIN/dagster" instance concurrency set teammeter_write 2 >/dev/null

# 4. The processes. Background jobs of a script ignore Ctrl-C, so the trap stops them.
pids=()
stop_all() {
  trap - EXIT INT TERM
  echo "stopping ${pids[*]:-nothing}"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all EXIT INT TERM

if [[ -n "${SANDBOX:-}" ]]; then
  "$BIN/personio-pipeline" sandbox --port "$SANDBOX_PORT" &
  pids+=($!)
  for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$SANDBOX_PORT") 2>/dev/null && break; sleep 0.2; done
  "$BIN/personio-pipeline" tenants add acme-sandbox --name "ACME (sandbox)"
fi

# The webhook receiver (signed Apideck events into the Teammeter inbox; the webhook sensor syncs).
WEBHOOK_PORT=${WEBHOOK_PORT:-8781}
"$BIN/personio-pipeline" webhooks serve --port "$WEBHOOK_PORT" &
pids+=($!)
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$WEBHOOK_PORT") 2>/dev/null && break; sleep 0.2; done
if [[ -n "${SANDBOX:-}" ]]; then WEBHOOK_PUBLIC_URL=${WEBHOOK_PUBLIC_URL:-http://127.0.0.1:$WEBHOOK_PORT/webhooks/apideck}; fi
if [[ -n "${WEBHOOK_PUBLIC_URL:-}" ]]; then
  "$BIN/personio-pipeline" webhooks register "$WEBHOOK_PUBLIC_URL" || echo "webhook subscription not registered (see above)"
fi

"$BIN/dagster-daemon" run -w "$ROOT/deploy/workspace.yaml" &
pids+=($!)
"$BIN/dagster-webserver" -w "$ROOT/deploy/workspace.yaml" -h 127.0.0.1 -p "$WEB_PORT" &
pids+=($!)

cat <<EOF
production profile running (Ctrl-C stops all):
  UI             http://127.0.0.1:$WEB_PORT
  DAGSTER_HOME   $DAGSTER_HOME (dagster.yaml from deploy/)
  Dagster DB     postgresql://$DAGSTER_PG_USER@$DAGSTER_PG_HOST:$DAGSTER_PG_PORT/$DAGSTER_PG_DB
  Teammeter DB   $(sed -E 's#(//[^:/@]+):[^@]*@#\1:***@#' <<<"$TEAMMETER_DATABASE_URL")
  Apideck        ${APIDECK_BASE_URL:-https://unify.apideck.com}
  Webhooks       http://127.0.0.1:$WEBHOOK_PORT/webhooks/apideck (subscription: ${WEBHOOK_PUBLIC_URL:-not registered})
First sync: materialise a company's partition in the UI (it goes through the run queue), or in
another shell: eval "\$(bash deploy/prod_local.sh env)" && .venv/bin/personio-pipeline sync acme-sandbox
The daily_sync schedule takes every synced company from there; webhook events in between
(sandbox: curl -X POST http://127.0.0.1:$SANDBOX_PORT/_sandbox/day -d '{"day": 1, "companies": ["acme-sandbox"]}')
sync it within minutes (webhook_sensor; \`personio-pipeline webhooks status\` shows the inbox).
EOF

# Stop everything as soon as one of them ends.
wait -n "${pids[@]}"
