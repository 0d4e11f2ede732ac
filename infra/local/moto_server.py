#!/usr/bin/env python3
"""Runs a moto server (DynamoDB, SQS, Secrets Manager, SSM) on loopback, single-threaded.

moto's default server handles requests on many threads without locks, so two conditional writes
can both pass their condition. One thread makes every request atomic, which is what DynamoDB
guarantees and what the tests of idempotency and optimistic locking rely on.

With --parent-pid the server exits when that process is gone, so a test run that dies never
leaves a server behind.

Every request is counted by operation (and DynamoDB transactions by item too): `GET /_counts`
shows the counts, `DELETE /_counts` resets them. That is how the cost of one order is counted
(docs/architecture.md).
"""

import argparse
import collections
import io
import json
import logging

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

from parent_watch import exit_with


class RequestCounter:
    """WSGI middleware counting requests by operation (`X-Amz-Target`, or the query `Action`)."""

    def __init__(self, app):
        self.app = app
        self.counts = collections.Counter()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_counts":
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.counts.clear()
            body = json.dumps(dict(sorted(self.counts.items()))).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            self.counts[target] += 1
            if target.endswith(".TransactWriteItems"):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(raw)
                try:
                    items = len(json.loads(raw).get("TransactItems", []))
                except ValueError:
                    items = 0
                self.counts[target + ".items"] += items
        return self.app(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the local stack listens on loopback only")
    if args.parent_pid:
        exit_with(args.parent_pid)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = RequestCounter(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
