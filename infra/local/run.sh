#!/usr/bin/env bash
# `make run`: the whole system on loopback. Starts moto and localstripe (the payment provider),
# creates what template.yaml declares,
# seeds the demo catalog, and runs every function under `cargo lambda watch` (hot reload).
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."

LOCAL=${LOCAL:-.local}
MOTO_PORT=${MOTO_PORT:-5000}
INVOKE_PORT=${INVOKE_PORT:-9000}
API_PORT=${API_PORT:-3000}
STRIPE_PORT=${STRIPE_PORT:-8420}
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
"$PY" infra/local/localstripe_server.py --port "$STRIPE_PORT" --parent-pid $$ --quiet >"$LOCAL/localstripe.log" 2>&1 &
echo $! >"$LOCAL/localstripe.pid"

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

./target/debug/local-stack bootstrap --endpoint "$ENDPOINT" --seed --env-file "$LOCAL/env" \
  --stripe-endpoint "http://127.0.0.1:$STRIPE_PORT"

# The functions' log lines (flat JSON) also go to .local/functions.log, to grep one order's journey.
cargo lambda watch --env-file "$LOCAL/env" --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" \
  > >(tee "$LOCAL/functions.log") 2>&1 &
echo $! >"$LOCAL/watch.pid"

./target/debug/local-stack gateway --endpoint "$ENDPOINT" --port "$API_PORT" \
  --invoke-url "http://127.0.0.1:$INVOKE_PORT" --api-key-file "$LOCAL/api-key" \
  > >(tee "$LOCAL/gateway.log") 2>&1 &
echo $! >"$LOCAL/gateway.pid"

for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && break
  sleep 0.2
done

API="http://127.0.0.1:$API_PORT"
KEY=$(cat "$LOCAL/api-key")
cat <<MSG

The order service runs locally ($(($(date +%s) - started)) s to start).
  API (local API Gateway)     $API      API key (x-api-key): $KEY
  functions (cargo lambda)    http://127.0.0.1:$INVOKE_PORT  (Lambda Invoke API; edits reload)
  moto (DynamoDB, SQS, ...)   $ENDPOINT   log: $LOCAL/moto.log
  localstripe (payments)      http://127.0.0.1:$STRIPE_PORT   cards: pm_card_visa, pm_card_visa_chargeDeclined
  demo admin                  admin@example.com / $(cat "$LOCAL/admin-password" 2>/dev/null)

Try, in another terminal:
  export API=$API KEY=$KEY
  curl -s "\$API/health?deep=true"
  curl -s \$API/products -H "x-api-key: \$KEY"
  curl -s -X POST \$API/auth/register -H "x-api-key: \$KEY" -H 'Content-Type: application/json' \\
       -d '{"email":"ada@example.com","password":"correct horse battery staple"}'
  TOKEN=\$(curl -s -X POST \$API/auth/login -H "x-api-key: \$KEY" -H 'Content-Type: application/json' \\
       -d '{"email":"ada@example.com","password":"correct horse battery staple"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s -X POST \$API/orders -H "x-api-key: \$KEY" -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -H 'Idempotency-Key: demo-1' -d '{"items":[{"productId":"p-1","quantity":2}],"paymentMethod":"pm_card_visa",
       "shippingAddress":{"name":"Ada Lovelace","line1":"1 Main St","city":"London","postalCode":"N1 1AA","country":"GB"}}'
  curl -s \$API/orders -H "x-api-key: \$KEY" -H "Authorization: Bearer \$TOKEN"
  # a few seconds later the order is COMPLETED; its timeline:
  curl -s \$API/orders/ORDER_ID/history -H "x-api-key: \$KEY" -H "Authorization: Bearer \$TOKEN"
  curl -s $ENDPOINT/_ses          # the e-mails sent to customers (moto's SES keeps them)
  make admin ARGS="orders stuck"  # the operator CLI on this stack (make admin ARGS=--help)
(README.md has the whole walkthrough)

Ctrl-C stops everything.
MSG

# Whichever part stops first (Ctrl-C, or a crash) takes the rest down with it.
wait -n
