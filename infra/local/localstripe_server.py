#!/usr/bin/env python3
"""Runs localstripe (a stateful fake of the Stripe API) on loopback, as the payment provider of
the local stack and the tests, with what it lacks of Stripe's behaviour added here rather than in
the product:

- Declines on charge: Stripe declines its test card 4000 0000 0000 0002
  (`pm_card_visa_chargeDeclined`) when it is *charged*; localstripe declines it only when it is
  attached to a customer. The payment step charges without attaching.
- Stripe's test payment method for a card that asks for authentication (3-D Secure),
  `pm_card_authenticationRequired` (4000 0025 0000 3155): confirming it stops at
  `requires_action`. localstripe knows the card number but not the id.
- Idempotency-Key, as Stripe documents it: the first response to a POST with a key (errors,
  500s included) is saved and replayed to every later request with that key, marked
  `Idempotent-Replayed: true`; a key reused with other parameters or on another path is refused
  (400 `idempotency_error`); a key whose first request is still running gets 409. Keys are
  scoped by API key and forgotten after 24 hours. localstripe ignores the header.
- API keys that can be rotated: `POST /_config/chaos/keys {"valid": ["sk_test_new"]}` makes only those
  keys valid (401 for any other, not saved under a key), as after a rotation at Stripe.
- Faults inside the provider: `POST /_config/chaos/faults {"status": 500, "path": "/v1/payment_intents",
  "count": 2}` answers the next `count` requests (POST unless `method` says otherwise) under
  `path` with that status (a Stripe
  `api_error`) *after* the idempotency layer, so the error is saved and replayed like a real
  one. `DELETE /_config/chaos/faults` clears them. Network faults (latency, resets, outages) are the
  fault proxy's (`fault_proxy.py`).
- Loopback only.

With --parent-pid the server exits when that process is gone, so a test run that dies never
leaves a server behind.
"""

import hashlib
import json
import logging
import time

from aiohttp import web
from localstripe import resources, server

from local_server import server_arguments

DECLINED_ON_CHARGE = "4000000000000002"
AUTHENTICATION_REQUIRED = "4000002500003155"
KEY_RETENTION_SECONDS = 24 * 3600


def declines_like_stripe() -> None:
    charging_is_declined = resources.PaymentMethod._charging_is_declined

    def declined(self):
        card = getattr(self, "_card_number", None)
        return charging_is_declined(self) or (self.type == "card" and card == DECLINED_ON_CHARGE)

    resources.PaymentMethod._charging_is_declined = declined


def test_cards_like_stripe() -> None:
    canonical = resources.PaymentMethod._try_get_canonical_test_article.__func__

    def article(cls, id):
        if id == "pm_card_authenticationRequired":
            card = dict(number=AUTHENTICATION_REQUIRED, exp_month="12", exp_year="2030", cvc="123")
            return resources.PaymentMethod(type="card", card=card)
        return canonical(cls, id)

    resources.PaymentMethod._try_get_canonical_test_article = classmethod(article)


def stripe_error(status: int, kind: str, message: str) -> web.Response:
    body = {"error": {"type": kind, "message": message}}
    return web.json_response(body, status=status)


def api_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer "):] if auth.startswith("Bearer ") else ""


class Control:
    """The state the control endpoints set: valid keys, provider faults, saved responses."""

    def __init__(self) -> None:
        self.valid_keys = None  # None: any key localstripe accepts
        self.faults = []  # dicts: status, path, count
        self.saved = {}  # (api key, idempotency key) -> entry
        self.stats = {"replayed": 0, "refused_reuse": 0, "faults": 0, "unauthorized": 0}


CONTROL = Control()


@web.middleware
async def keys_middleware(request, handler):
    if request.path.startswith("/_config/chaos/") or CONTROL.valid_keys is None:
        return await handler(request)
    if api_key(request) not in CONTROL.valid_keys:
        CONTROL.stats["unauthorized"] += 1
        return stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
    return await handler(request)


@web.middleware
async def idempotency_middleware(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or request.path.startswith("/_config/chaos/"):
        return await faults(request, handler)
    body = await request.read()
    fingerprint = hashlib.sha256(request.path.encode() + b"\0" + body).hexdigest()
    scope = (api_key(request), key)
    now = time.time()
    entry = CONTROL.saved.get(scope)
    if entry and now - entry["at"] > KEY_RETENTION_SECONDS:
        entry = None
    if entry:
        if entry["fingerprint"] != fingerprint:
            CONTROL.stats["refused_reuse"] += 1
            return stripe_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                "were first used with.",
            )
        if entry["response"] is None:
            return stripe_error(
                409, "idempotency_error", "A request with this idempotency key is in progress."
            )
        CONTROL.stats["replayed"] += 1
        status, text = entry["response"]
        return web.Response(
            status=status,
            text=text,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
        )
    CONTROL.saved[scope] = {"fingerprint": fingerprint, "at": now, "response": None}
    try:
        response = await faults(request, handler)
    except web.HTTPException as e:
        response = e
    except Exception:
        del CONTROL.saved[scope]
        raise
    text = response.text if isinstance(response, web.Response) else ""
    CONTROL.saved[scope]["response"] = (response.status, text)
    return response


async def faults(request, handler):
    for fault in CONTROL.faults:
        if fault["count"] > 0 and request.method == fault["method"] and request.path.startswith(fault["path"]):
            fault["count"] -= 1
            CONTROL.stats["faults"] += 1
            return stripe_error(fault["status"], "api_error", "An unknown error occurred (injected).")
    return await handler(request)


async def set_keys(request):
    body = await request.json()
    CONTROL.valid_keys = set(body.get("valid") or []) or None
    return web.json_response({"valid": sorted(CONTROL.valid_keys or [])})


async def add_fault(request):
    body = await request.json()
    CONTROL.faults.append(
        {
            "status": int(body.get("status", 500)),
            "path": body.get("path", "/"),
            "method": body.get("method", "POST"),
            "count": int(body.get("count", 1)),
        }
    )
    return web.json_response({"faults": CONTROL.faults})


async def clear_faults(request):
    CONTROL.faults.clear()
    return web.json_response({"faults": []})


async def stats(request):
    return web.json_response(CONTROL.stats)


def main() -> None:
    args = server_arguments(__doc__, port=8420)
    declines_like_stripe()
    test_cards_like_stripe()
    app = server.app
    # Outermost first: a refused key is not saved; a saved response replays before anything.
    app.middlewares.insert(0, idempotency_middleware)
    app.middlewares.insert(0, keys_middleware)
    app.router.add_post("/_config/chaos/keys", set_keys)
    app.router.add_post("/_config/chaos/faults", add_fault)
    app.router.add_delete("/_config/chaos/faults", clear_faults)
    app.router.add_get("/_config/chaos/stats", stats)
    access_log = None if args.quiet else logging.getLogger("aiohttp.access")
    if access_log:
        logging.basicConfig(level=logging.INFO)
    web.run_app(app, host=args.host, port=args.port, access_log=access_log, print=None)


if __name__ == "__main__":
    main()
