#!/usr/bin/env python3
"""Runs a moto server (DynamoDB, SQS, Secrets Manager, SSM, SES) on loopback, single-threaded.

moto's default server handles requests on many threads without locks, so two conditional writes
can both pass their condition. One thread makes every request atomic, which is what DynamoDB
guarantees and what the tests of idempotency and optimistic locking rely on.

With --parent-pid the server exits when that process is gone, so a test run that dies never
leaves a server behind.

Every request is counted by operation (and DynamoDB transactions by item too): `GET /_counts`
shows the counts, `DELETE /_counts` resets them. That is how the cost of one order is counted
(docs/architecture.md). Reads of a secret or a parameter are also counted by its name
(`secretsmanager.GetSecretValue:<id>`), so a test can count its own resources' reads while other
tests share the server.

moto has CodeDeploy deployments but not the hook verdict, `PutLifecycleEventHookExecutionStatus`:
this server answers it as CodeDeploy does and keeps each verdict, which `GET /_hooks` shows (the
pre-traffic hook's tests read them there). moto also writes a deployment's times as ISO strings
where CodeDeploy sends epoch seconds (which the AWS SDKs require); they are rewritten.

moto's SES keeps every e-mail it accepted instead of delivering it: `GET /_ses` lists them
(`from`, `to`, `subject`, `body`), which is how the tests read the customers' notices back.
"""

import collections
import datetime
import io
import json
import logging

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

from local_server import server_arguments


PUT_HOOK_STATUS = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
GET_DEPLOYMENT = "CodeDeploy_20141006.GetDeployment"
DEPLOYMENT_TIMES = ("createTime", "startTime", "completeTime")
SES_SEND_PATH = "/v2/email/outbound-emails"
# Reads counted by the name they read too: target -> the request field naming it.
NAMED_READS = {"AmazonSSM.GetParameter": "Name", "secretsmanager.GetSecretValue": "SecretId"}


class RequestCounter:
    """WSGI middleware: counts requests by operation (`X-Amz-Target`, or the query `Action`) and
    answers the CodeDeploy hook verdicts moto lacks."""

    def __init__(self, app):
        self.app = app
        self.counts = collections.Counter()
        self.hooks = {}

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_hooks":
            return self.reply(start_response, self.hooks)
        if environ.get("PATH_INFO") == "/_ses":
            return self.reply(start_response, sent_emails())
        if environ.get("PATH_INFO") == "/_counts":
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.counts.clear()
            return self.reply(start_response, dict(sorted(self.counts.items())))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == PUT_HOOK_STATUS:
            self.counts[target] += 1
            return self.hook_status(environ, start_response)
        if target == GET_DEPLOYMENT:
            self.counts[target] += 1
            return self.deployment_with_epoch_times(environ, start_response)
        if not target and environ.get("PATH_INFO") == SES_SEND_PATH:
            # SES v2 is a REST API: no target header, the operation is the path.
            self.counts["sesv2.SendEmail"] += 1
        if target:
            self.counts[target] += 1
            if target.endswith(".TransactWriteItems"):
                items = len(self.body(environ).get("TransactItems", []))
                self.counts[target + ".items"] += items
            if target in NAMED_READS:
                name = self.body(environ).get(NAMED_READS[target], "")
                self.counts[f"{target}:{name}"] += 1
        return self.app(environ, start_response)

    @staticmethod
    def body(environ):
        """The request's JSON body, left readable for moto."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            document = json.loads(raw)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}

    @staticmethod
    def reply(start_response, document, status="200 OK"):
        start_response(status, [("Content-Type", "application/x-amz-json-1.1")])
        return [json.dumps(document).encode()]

    def deployment_with_epoch_times(self, environ, start_response):
        answered = {}

        def capture(status, headers, exc_info=None):
            answered["status"], answered["headers"] = status, headers

        body = b"".join(self.app(environ, capture))
        if answered["status"].startswith("200"):
            document = json.loads(body)
            info = document.get("deploymentInfo", {})
            for key in DEPLOYMENT_TIMES:
                if isinstance(info.get(key), str):
                    info[key] = datetime.datetime.fromisoformat(info[key].replace("Z", "+00:00")).timestamp()
            return self.reply(start_response, document)
        start_response(answered["status"], answered["headers"])
        return [body]

    def hook_status(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            request = json.loads(environ["wsgi.input"].read(length))
            execution = request["lifecycleEventHookExecutionId"]
            status = request["status"]
        except (ValueError, KeyError):
            error = {"__type": "InvalidLifecycleEventHookExecutionIdException", "message": "bad request"}
            return self.reply(start_response, error, "400 Bad Request")
        self.hooks[execution] = {"deploymentId": request.get("deploymentId"), "status": status}
        return self.reply(start_response, {"lifecycleEventHookExecutionId": execution})


def sent_emails():
    """Every e-mail moto's SES accepted, in every account and region, oldest first."""
    from moto.ses.models import ses_backends

    sent = []
    for account in ses_backends.values():
        for backend in account.values():
            for message in backend.sent_messages:
                sent.append({
                    "from": message.source,
                    "to": message.destinations.get("ToAddresses", []),
                    "subject": getattr(message, "subject", ""),
                    "body": getattr(message, "body", ""),
                })
    return sent


def main() -> None:
    args = server_arguments(__doc__, port=5000)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = RequestCounter(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
