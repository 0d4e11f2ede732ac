#!/usr/bin/env bash
# `make cost`, with `make run` running: places one order of two lines paid by card (after one
# warm-up order), times it to COMPLETED, and prints what it cost, counted: the AWS requests by
# operation from moto's counter (`/_counts`) and the Lambda invocations from the local gateway's
# log. docs/architecture.md quotes its output.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOCAL=${LOCAL:-.local}
API="http://127.0.0.1:${API_PORT:-3000}"
MOTO="http://127.0.0.1:${MOTO_PORT:-5000}"
PY=${PY:-.venv/bin/python}
KEY=$(cat "$LOCAL/api-key")
json() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X POST "$API$1" -H "x-api-key: $KEY" -H 'Content-Type: application/json' "${@:2}"; }

email="cost-$RANDOM$RANDOM@example.com"
credentials="{\"email\":\"$email\",\"password\":\"correct horse battery staple\"}"
post /auth/register -d "$credentials" >/dev/null
TOKEN=$(post /auth/login -d "$credentials" | json '["token"]')
order() {
  post /orders -H "Authorization: Bearer $TOKEN" -H "Idempotency-Key: $1" \
    -d '{"items":[{"productId":"p-1","quantity":2},{"productId":"p-3","quantity":1}],"paymentMethod":"pm_card_visa",
         "shippingAddress":{"name":"Ada Lovelace","line1":"1 Main St","city":"London","postalCode":"N1 1AA","country":"GB"}}' \
    | json '["id"]'
}
# Waits for notify-customer's batch in the gateway log (not polling the API, whose reads would be
# counted), and prints how long the order took.
completed() {
  local started=$1 from=$2
  for _ in $(seq 1 600); do
    if tail -n "+$from" "$LOCAL/gateway.log" | grep -q -- '-> notify-customer 1 messages, 1 deleted'; then
      "$PY" -c "import time; print(f'{time.time() - $started:.1f} s')"
      return
    fi
    sleep 0.05
  done
  echo "no order completed" >&2
  exit 1
}
lines() { echo $(($(wc -l <"$LOCAL/gateway.log") + 1)); }

from=$(lines)
started=$(date +%s.%N)
order "warm-$RANDOM$RANDOM" >/dev/null
echo "warm-up order: COMPLETED after $(completed "$started" "$from") (functions start on first use)"
sleep 2
curl -sf -X DELETE "$MOTO/_counts" >/dev/null
from=$(lines)
started=$(date +%s.%N)
id=$(order "cost-$RANDOM$RANDOM")
took=$(completed "$started" "$from")
sleep 2 # let the last deletes land
counts=$(curl -sf "$MOTO/_counts")
status=$(curl -sf "$API/orders/$id" -H "x-api-key: $KEY" -H "Authorization: Bearer $TOKEN" | json '["status"]')
echo "order $id: $status after $took (placed to notify-customer done)"
echo "Lambda invocations (gateway log):"
tail -n "+$from" "$LOCAL/gateway.log" | grep -E '^(HTTP +POST /orders |SQS )' | sed 's/^/  /'
echo "AWS requests (moto):"
echo "$counts" | "$PY" -c '
import json, sys
for op, n in json.load(sys.stdin).items():
    note = "  (event-source polls, not per order)" if op.endswith("ReceiveMessage") else ""
    print(f"  {n:5d}  {op}{note}")'
