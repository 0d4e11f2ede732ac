#!/usr/bin/env bash
# `make run`: the whole system on loopback. Starts moto, creates what template.yaml declares,
# seeds the demo catalog, and runs every function under `cargo lambda watch` (hot reload).
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."

LOCAL=${LOCAL:-.local}
MOTO_PORT=${MOTO_PORT:-5000}
INVOKE_PORT=${INVOKE_PORT:-9000}
PY=${PY:-.venv/bin/python}
ENDPOINT="http://127.0.0.1:${MOTO_PORT}"
mkdir -p "$LOCAL"

bash infra/local/stop.sh --quiet

cleanup() {
  trap - EXIT INT TERM HUP
  echo
  echo "stopping the local stack"
  bash infra/local/stop.sh --quiet
}
trap cleanup EXIT INT TERM HUP

started=$(date +%s)
"$PY" infra/local/moto_server.py --port "$MOTO_PORT" --parent-pid $$ --quiet >"$LOCAL/moto.log" 2>&1 &
echo $! >"$LOCAL/moto.pid"

echo "building the workspace (the first build on a fresh machine takes several minutes)"
cargo build --workspace --bins

for _ in $(seq 1 100); do
  "$PY" - "$ENDPOINT" <<'PY' && break
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/data.json", timeout=1)
except Exception:
    sys.exit(1)
PY
  sleep 0.2
done

./target/debug/local-stack bootstrap --endpoint "$ENDPOINT" --seed --env-file "$LOCAL/env"

cat <<MSG

The order service runs locally ($(($(date +%s) - started)) s to start).
  moto (DynamoDB, SQS)        $ENDPOINT        log: $LOCAL/moto.log
  functions (cargo lambda)    http://127.0.0.1:$INVOKE_PORT  (Lambda Invoke API; edits reload)
  environment                 $LOCAL/env

Try, in another terminal:
  cargo lambda invoke --invoke-port $INVOKE_PORT list-products --data-file events/list-products.json
  cargo lambda invoke --invoke-port $INVOKE_PORT create-order  --data-file events/create-order.json
  cargo lambda invoke --invoke-port $INVOKE_PORT list-orders   --data-file events/list-orders.json
  cargo lambda invoke --invoke-port $INVOKE_PORT health        --data-file events/health.json
(the sample events carry the identity customer-1; the demo catalog is p-1 … p-4, p-4 sold out)

Ctrl-C stops everything.
MSG

cargo lambda watch --env-file "$LOCAL/env" --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" &
echo $! >"$LOCAL/watch.pid"
wait
