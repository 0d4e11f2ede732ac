#!/usr/bin/env python3
"""A fault-injecting HTTP proxy on loopback, between the functions and moto or localstripe.

Requests pass through to `--target` unchanged until a rule says otherwise. Rules are set per
scenario through the control endpoint:

    POST   /_faults   {"service": "dynamodb", "operation": "TransactWriteItems",
                       "action": "error", "error": "provisioned", "probability": 0.1,
                       "for_s": 60, "count": 10}
    DELETE /_faults   clears every rule
    GET    /_faults   the rules and what they did (`hits`), and every request counted by operation

`service` is `dynamodb`, `sqs`, `secretsmanager` (by the request's `X-Amz-Target`), `stripe` (any
path under `/v1/`) or `any`; `operation` is a substring of the target or the path, `body` one of
the request body (`"S":"PAID"` picks the write that makes an order PAID). A rule applies while it
has `count` left and within `for_s` seconds of being set, to a share `probability` of the
matching requests. Actions:

- `latency`: wait `latency_ms` plus up to `jitter_ms` more, then pass the request on;
- `error`: answer in the service's own format without passing it on: `provisioned`
  (DynamoDB `ProvisionedThroughputExceededException`), `throttling` (`ThrottlingException`),
  `internal` (DynamoDB 500), `sqs-internal` (SQS 500), `stripe-500`, `stripe-429`, `503`;
- `hang`: hold the request, answering nothing, for `latency_ms` (default two minutes);
- `reset`: drop the connection without an answer;
- `down`: like `reset` for every request: the dependency is unreachable;
- `repeat`: pass the request on `times` times (a sender that delivers a message more than once),
  answering with the first answer; with `spread_ms` the copies go later, each after a random
  wait of up to that long, so a stale copy arrives after the messages that followed it
  (reordering).

A fault the proxy answers never reaches the target (Stripe does not save it under an
idempotency key); faults *inside* the provider are localstripe's own (`localstripe_server.py`).
"""

import asyncio
import collections
import json
import random
import time

import aiohttp
from aiohttp import web

from local_server import server_arguments

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "content-length", "content-encoding", "host",
}

DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
ERRORS = {
    "provisioned": (400, "application/x-amz-json-1.0",
                    {"__type": DYNAMODB + "ProvisionedThroughputExceededException",
                     "message": "The level of configured provisioned throughput for the table was exceeded (injected)"}),
    "throttling": (400, "application/x-amz-json-1.0",
                   {"__type": "com.amazon.coral.availability#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput (injected)"}),
    "internal": (500, "application/x-amz-json-1.0",
                 {"__type": DYNAMODB + "InternalServerError", "message": "Internal server error (injected)"}),
    "sqs-internal": (500, "application/x-amz-json-1.0",
                     {"__type": "com.amazonaws.sqs#InternalError", "message": "We encountered an internal error (injected)"}),
    "stripe-500": (500, "application/json",
                   {"error": {"type": "api_error", "message": "An unknown error occurred (injected)"}}),
    "stripe-429": (429, "application/json",
                   {"error": {"type": "rate_limit_error", "message": "Too many requests (injected)"}}),
    "503": (503, "application/json", {"message": "Service unavailable (injected)"}),
}


def describe(request: web.Request) -> tuple:
    """(service, operation) of a request."""
    target = request.headers.get("X-Amz-Target", "")
    if target.startswith("DynamoDB_"):
        return "dynamodb", target
    if target.startswith("AmazonSQS"):
        return "sqs", target
    if target.startswith("secretsmanager"):
        return "secretsmanager", target
    if request.path.startswith("/v1/"):
        return "stripe", request.method + " " + request.path
    return "other", request.method + " " + request.path


class Rule:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.service = spec.get("service", "any")
        self.operation = spec.get("operation", "")
        self.body = spec.get("body", "").encode()
        self.action = spec["action"]
        if self.action not in ("latency", "error", "hang", "reset", "down", "repeat"):
            raise ValueError(f"unknown action {self.action}")
        if self.action == "error" and spec.get("error") not in ERRORS:
            raise ValueError(f"unknown error {spec.get('error')}; one of {sorted(ERRORS)}")
        self.probability = float(spec.get("probability", 1.0))
        self.count = spec.get("count")
        self.until = time.monotonic() + float(spec["for_s"]) if "for_s" in spec else None
        self.hits = 0

    def applies(self, service: str, operation: str, body: bytes) -> bool:
        if self.until is not None and time.monotonic() > self.until:
            return False
        if self.count is not None and self.hits >= int(self.count):
            return False
        if self.service not in ("any", service) or self.operation not in operation:
            return False
        if self.body and self.body not in body:
            return False
        if random.random() >= self.probability:
            return False
        self.hits += 1
        return True

    def view(self) -> dict:
        return dict(self.spec, hits=self.hits)


class Proxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.rules = []
        self.requests = collections.Counter()
        self.session = None
        self.later = set()  # copies still to be sent

    async def control(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                specs = await request.json()
                specs = specs if isinstance(specs, list) else [specs]
                self.rules.extend(Rule(spec) for spec in specs)
            except (ValueError, KeyError) as e:
                return web.json_response({"error": str(e)}, status=400)
        elif request.method == "DELETE":
            self.rules.clear()
            self.requests.clear()
        return web.json_response(
            {"rules": [r.view() for r in self.rules], "requests": dict(self.requests)}
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/_faults":
            return await self.control(request)
        service, operation = describe(request)
        self.requests[operation] += 1
        body = await request.read()
        times, spread_ms = 1, 0.0
        for rule in self.rules:
            if not rule.applies(service, operation, body):
                continue
            if rule.action == "latency":
                extra = random.uniform(0, float(rule.spec.get("jitter_ms", 0)))
                await asyncio.sleep((float(rule.spec.get("latency_ms", 0)) + extra) / 1000)
            elif rule.action == "hang":
                await asyncio.sleep(float(rule.spec.get("latency_ms", 120_000)) / 1000)
                return await self.drop(request)
            elif rule.action in ("reset", "down"):
                return await self.drop(request)
            elif rule.action == "error":
                status, content_type, answer = ERRORS[rule.spec["error"]]
                headers = {"x-amzn-query-error": "InternalError;Receiver"} if service == "sqs" else {}
                return web.Response(status=status, text=json.dumps(answer),
                                    content_type=content_type.split(";")[0], headers=headers)
            elif rule.action == "repeat":
                times = max(times, int(rule.spec.get("times", 2)))
                spread_ms = max(spread_ms, float(rule.spec.get("spread_ms", 0)))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        call = (request.method, request.path_qs, headers, body)
        first = await self.forward(*call)
        for _ in range(times - 1):
            if spread_ms:
                self.later.add(asyncio.create_task(self.forward_later(spread_ms, call)))
            else:
                await self.forward(*call)
        return first

    async def forward_later(self, spread_ms: float, call: tuple) -> None:
        try:
            await asyncio.sleep(random.uniform(0, spread_ms) / 1000)
            await self.forward(*call)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass  # a copy that does not arrive is one duplicate fewer
        finally:
            self.later.discard(asyncio.current_task())

    async def drop(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()

    async def forward(self, method: str, path_qs: str, headers: dict, body: bytes) -> web.Response:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
            )
        async with self.session.request(
            method, self.target + path_qs, headers=headers, data=body,
            allow_redirects=False,
        ) as answer:
            payload = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=payload, headers=out)


def main() -> None:
    args = server_arguments(__doc__, port=5100, extra=[("--target", {"required": True})])
    proxy = Proxy(args.target)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
