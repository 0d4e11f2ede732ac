#!/usr/bin/env python3
"""Runs a moto server (DynamoDB, SQS, Secrets Manager, SSM, SES) on loopback, single-threaded.

moto's default server handles requests on many threads without locks, so two conditional writes
can both pass their condition. One thread makes every request atomic, which is what DynamoDB
guarantees and what the tests of idempotency and optimistic locking rely on.

With --parent-pid the server exits when that process is gone, so a test run that dies never
leaves a server behind.

Every request is counted by operation (and DynamoDB transactions by item too): `GET /_counts`
shows the counts, `DELETE /_counts` resets them. That is how the cost of one order is counted
(docs/architecture.md, docs/benchmarks.md). DynamoDB requests are also priced as DynamoDB prices
them, in capacity units (`dynamodb.WriteUnits`, `dynamodb.ReadUnits`, and by operation after a
colon, by table after an `@`): moto answers `ReturnConsumedCapacity` with fixed numbers, so the units are counted here
from the sizes of the items each request wrote (the larger of before and after, per KB) or read
(per 4 KB, half for an eventually consistent read), twice for a transaction's items. Reads of a secret or a parameter are also counted by its name
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
import math

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

from local_server import server_arguments


PUT_HOOK_STATUS = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
GET_DEPLOYMENT = "CodeDeploy_20141006.GetDeployment"
DEPLOYMENT_TIMES = ("createTime", "startTime", "completeTime")
SES_SEND_PATH = "/v2/email/outbound-emails"
DYNAMODB = "DynamoDB_20120810."
# DynamoDB's units: a write unit per KB written, a read unit per 4 KB read strongly (half that for
# an eventually consistent read); a transaction's items cost two of either.
WRITE_UNIT, READ_UNIT = 1024, 4096
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
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
        if target.startswith(DYNAMODB):
            self.counts[target] += 1
            return self.priced(target[len(DYNAMODB):], environ, start_response)
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

    def priced(self, operation, environ, start_response):
        """Passes a DynamoDB request to moto and counts the capacity units it consumed."""
        request = self.body(environ)
        writes = []  # (table, key, units per KB)
        if operation in WRITES:
            writes.append((request.get("TableName"), request.get("Key") or request.get("Item"), 1))
        elif operation == "BatchWriteItem":
            for table, entries in request.get("RequestItems", {}).items():
                for entry in entries:
                    put = entry.get("PutRequest", {}).get("Item")
                    writes.append((table, put or entry.get("DeleteRequest", {}).get("Key"), 1))
        elif operation == "TransactWriteItems":
            self.counts[DYNAMODB + operation + ".items"] += len(request.get("TransactItems", []))
            for item in request.get("TransactItems", []):
                for action in item.values():
                    writes.append((action.get("TableName"), action.get("Key") or action.get("Item"), 2))
        before = [item_size(table, key) for table, key, _ in writes]
        answered = {}

        def capture(status, headers, exc_info=None):
            answered["status"], answered["headers"] = status, headers

        body = b"".join(self.app(environ, capture))
        for (table, key, factor), size in zip(writes, before):
            units = factor * max(1, math.ceil(max(size, item_size(table, key)) / WRITE_UNIT))
            self.counts["dynamodb.WriteUnits"] += units
            self.counts[f"dynamodb.WriteUnits:{operation}"] += units
            self.counts[f"dynamodb.WriteUnits@{table}"] += units
        reads = read_units(operation, request, body)
        if reads:
            self.counts["dynamodb.ReadUnits"] += reads
            self.counts[f"dynamodb.ReadUnits:{operation}"] += reads
            if request.get("TableName"):
                self.counts[f"dynamodb.ReadUnits@{request['TableName']}"] += reads
        start_response(answered["status"], answered["headers"])
        return [body]

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


def table_named(name):
    from moto.dynamodb.models import dynamodb_backends

    for account in dynamodb_backends.values():
        for backend in account.values():
            if name in backend.tables:
                return backend.tables[name]
    return None


def item_size(table_name, key):
    """The stored size of the item `key` (or a whole item) names, 0 when there is none."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = table_named(table_name) if table_name else None
    if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
        return 0
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
    try:
        item = table.get_item(hash_key, range_key)
    except Exception:  # a key that does not fit the table: moto answers the error
        return 0
    return item.size() if item is not None else 0


def json_item_size(item):
    """The size of an item in DynamoDB's JSON, as DynamoDB counts it (names plus values)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    return sum(len(name.encode()) + DynamoType(value).size() for name, value in item.items())


def read_units(operation, request, body):
    """The read units of a read's answer: per 4 KB read, rounded up per request (per item for
    the batch and transactional reads), half for an eventually consistent read."""
    try:
        answer = json.loads(body)
    except ValueError:
        return 0
    half = 1 if request.get("ConsistentRead") else 0.5
    if operation == "GetItem":
        return half * max(1, math.ceil(json_item_size(answer.get("Item", {})) / READ_UNIT))
    if operation in ("Query", "Scan"):
        size = sum(json_item_size(item) for item in answer.get("Items", []))
        return half * max(1, math.ceil(size / READ_UNIT))
    if operation == "BatchGetItem":
        items = [item for found in answer.get("Responses", {}).values() for item in found]
        return sum(0.5 * max(1, math.ceil(json_item_size(item) / READ_UNIT)) for item in items)
    if operation == "TransactGetItems":
        items = [found.get("Item", {}) for found in answer.get("Responses", [])]
        return sum(2 * max(1, math.ceil(json_item_size(item) / READ_UNIT)) for item in items)
    return 0


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
