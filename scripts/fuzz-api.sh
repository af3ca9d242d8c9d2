#!/usr/bin/env bash
# `make fuzz-api`: schemathesis against the running service, from its own
# /openapi.json, with an admin token, on SQLite and then on a fresh
# PostgreSQL database. Fails on any 5xx, any response that breaks its
# documented schema, status code or content type, or any response slower
# than FUZZ_MAX_RESPONSE_SECONDS (GET /events may hold a long-poll open for its
# `wait`, up to 30 s, so its own limit is 35 s; both are set in the config that
# fuzz_fixtures.py writes, since a CLI limit would override any per-operation one).
#
#   FUZZ_SECONDS               time budget per backend (default 90)
#   FUZZ_SEED                  schemathesis seed (default: random; printed in the output)
#   FUZZ_BACKENDS              "sqlite postgres" (default), or one of them
#   TEST_POSTGRES_URL          server to create the throwaway database on
#                              (default postgres://postgres@127.0.0.1:5432/postgres)
#
# Reports (JUnit) and the server logs land in target/fuzz-api/<backend>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

FUZZ_SECONDS=${FUZZ_SECONDS:-90}
FUZZ_MAX_RESPONSE_SECONDS=${FUZZ_MAX_RESPONSE_SECONDS:-10}
FUZZ_BACKENDS=${FUZZ_BACKENDS:-sqlite postgres}
PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
VENV=$ROOT/target/fuzz-venv
OUT=$ROOT/target/fuzz-api
BIN=$ROOT/target/debug/climate-tracker
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

if ! "$VENV/bin/st" --version >/dev/null 2>&1; then
  echo "== installing schemathesis into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'schemathesis>=4.3,<5'
fi
"$VENV/bin/st" --version

echo "== building the service"
cargo build --quiet --bin climate-tracker

WORK=$(mktemp -d)
ADMIN="ctk_fuzz-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
SERVER_PID=""
PG_DB=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

drop_pg_db() {
  if [[ -n "$PG_DB" ]]; then
    psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true
    PG_DB=""
  fi
}

cleanup() {
  stop_server
  drop_pg_db
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the binary on a free port; sets BASE from its "listening on" line.
start_server() {
  local url=$1 log=$2
  : >"$log"
  CLIMATE_TRACKER_DATABASE_URL="$url" CLIMATE_TRACKER_ADMIN_TOKEN="$ADMIN" RUST_LOG=warn \
    "$BIN" serve --bind 127.0.0.1:0 2>"$log" >/dev/null &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    BASE=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/listening on //' || true)
    [[ -n "$BASE" ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the server exited before listening:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the server did not start listening within 60 s" >&2
  return 1
}

fuzz() {
  local backend=$1 url=$2
  local dir=$OUT/$backend
  rm -rf "$dir" && mkdir -p "$dir"
  echo "== $backend: starting the service"
  # `set -e` does not reach inside a function called with `||`: check each step.
  start_server "$url" "$dir/server.log" || return 1
  FUZZ_MAX_RESPONSE_SECONDS=$FUZZ_MAX_RESPONSE_SECONDS \
    python3 "$ROOT/scripts/fuzz_fixtures.py" "$BASE" "$ADMIN" "$WORK/schemathesis.toml" || { stop_server; return 1; }
  echo "== $backend: schemathesis for ${FUZZ_SECONDS} s against $BASE"
  local seed=()
  [[ -n "${FUZZ_SEED:-}" ]] && seed=(--seed "$FUZZ_SEED")
  local status=0
  # Run from the scratch directory: schemathesis keeps caches in the working directory.
  # One worker: with several threads, hypothesis's ast.parse trips a CPython 3.11
  # race ("AST constructor recursion depth mismatch", python/cpython#106905).
  (cd "$WORK" && "$VENV/bin/st" --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
    --header "Authorization: Bearer $ADMIN" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing,stateful \
    --max-time "$FUZZ_SECONDS" \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --report junit --report-dir "$dir" \
    --no-color "${seed[@]}") || status=$?
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "== $backend: the service died during the run" >&2
    status=1
  fi
  stop_server
  if grep -q "panicked" "$dir/server.log"; then
    echo "== $backend: the service panicked:" >&2
    grep -A5 "panicked" "$dir/server.log" >&2
    status=1
  fi
  return $status
}

failed=0
for backend in $FUZZ_BACKENDS; do
  case $backend in
    sqlite)
      fuzz sqlite "sqlite://$WORK/fuzz.db?mode=rwc" || failed=1
      ;;
    postgres)
      PG_DB="ct_fuzz_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
      psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PG_DB" >/dev/null
      fuzz postgres "${PG_URL%/*}/$PG_DB" || failed=1
      drop_pg_db
      ;;
    *)
      echo "unknown backend '$backend'" >&2
      failed=1
      ;;
  esac
done

if [[ $failed -ne 0 ]]; then
  echo "== fuzz-api: FAILED (reports and server logs in $OUT)" >&2
  exit 1
fi
echo "== fuzz-api: no server errors, every response matched the document"
