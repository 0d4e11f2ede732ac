#!/usr/bin/env python3
"""Runs SAM's own translator on template.yaml for each stage and checks what a deploy will do:
every function but the pre-traffic hook gets a CodeDeploy deployment group with its stage's
deployment config, automatic rollback and the rollback alarms; its `live` alias runs the hook
before traffic shifts; every queue, schedule and API permission points at an alias, never at
$LATEST; with the public read cache on or off, no route behind the authorizer is ever cached (API
Gateway caches every GET of a cached stage by default, keyed without Authorization); the API's own
errors are problem+json. Offline: the translator needs a region and credentials but calls no AWS API.

Run with aws-sam-cli's Python (`make validate` does): `.venv-sam/bin/python infra/deploy/check_transform.py`.
"""

import copy
import logging
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

STAGES = ("dev", "staging", "prod")


class NoManagedPolicies:
    """The translator looks up managed policy names only for `Policies: [<name>]`; none used."""

    def load(self):
        return {}


def fail(message):
    print(f"check_transform: {message}", file=sys.stderr)
    sys.exit(1)


def ref(value):
    return value.get("Ref") if isinstance(value, dict) else None


def check(source, stage):
    template = copy.deepcopy(source)
    functions = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    for resource in functions.values():
        # Code locations are sam build's business; the translator only wants their shape.
        resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    out = transform(template, {"Stage": stage}, NoManagedPolicies())["Resources"]

    preference = source["Mappings"]["StageConfig"][stage]["DeployPreference"]
    globals_preference = source["Globals"]["Function"]["DeploymentPreference"]
    alarms = sorted(ref(a) for a in globals_preference["Alarms"])
    hook = ref(globals_preference["Hooks"]["PreTraffic"])
    groups = 0
    for name, resource in functions.items():
        own = resource["Properties"].get("DeploymentPreference", {})
        group = out.get(f"{name}DeploymentGroup")
        if own.get("Enabled") is False:
            if group:
                fail(f"{stage}: {name} opts out of CodeDeploy but has a deployment group")
            continue
        if not group:
            fail(f"{stage}: {name} has no deployment group")
        props = group["Properties"]
        config = props["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"]
        if config != preference:
            fail(f"{stage}: {name} deploys {config}, not {preference}")
        if sorted(ref(a["Name"]) for a in props["AlarmConfiguration"]["Alarms"]) != alarms:
            fail(f"{stage}: {name} rolls back on other alarms")
        if not props["AutoRollbackConfiguration"]["Enabled"]:
            fail(f"{stage}: {name} does not roll back")
        alias = out[f"{name}Aliaslive"]
        if ref(alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"]) != hook:
            fail(f"{stage}: {name} shifts traffic without the pre-traffic check")
        groups += 1

    aliases = {name for name, r in out.items() if r["Type"] == "AWS::Lambda::Alias"}
    targets = []
    for name, resource in out.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            targets.append((name, props["FunctionName"]))
        elif resource["Type"] == "AWS::Events::Rule":
            targets += [(name, t["Arn"]) for t in props["Targets"]]
        elif resource["Type"] == "AWS::Lambda::Permission" and props["Principal"] == "apigateway.amazonaws.com":
            targets.append((name, props["FunctionName"]))
    for name, target in targets:
        if ref(target) not in aliases:
            fail(f"{stage}: {name} calls {target}, not a `live` alias")
    print(f"{stage}: {groups} functions deploy {preference} after the pre-traffic check, "
          f"rolling back on {', '.join(alarms)}; {len(targets)} event sources and API permissions call `live`")


GATEWAY_ERRORS = ("DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED",
                  "QUOTA_EXCEEDED", "REQUEST_TOO_LARGE", "INVALID_API_KEY", "MISSING_AUTHENTICATION_TOKEN")


def resolve_if(value, conditions):
    """`Fn::If` on the template's conditions, as CloudFormation resolves it at deploy time."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, then, otherwise = value["Fn::If"]
        return resolve_if(then if conditions[name] else otherwise, conditions)
    if isinstance(value, dict):
        return {k: resolve_if(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_if(v, conditions) for v in value]
    return value


def check_api(source, stage, cache):
    template = copy.deepcopy(source)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    out = transform(template, {"Stage": stage, "PublicReadCache": cache}, NoManagedPolicies())["Resources"]
    conditions = {"CachesPublicReads": cache == "true"}
    [api_stage] = [r["Properties"] for r in out.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    api_stage = resolve_if(api_stage, conditions)
    settings = {}
    for setting in api_stage.get("MethodSettings", []):
        path = setting["ResourcePath"].replace("~1", "/")
        path = path[1:] if path.startswith("//") else path
        settings[(path, setting["HttpMethod"].upper())] = setting
    stage_wide = settings.get(("/*", "*"), {})
    cache_on = api_stage.get("CacheClusterEnabled") is True
    cached = []
    for resource in source["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            props = event["Properties"]
            method, path = props["Method"].upper(), props["Path"]
            setting = settings.get((path, method), stage_wide)
            caching = setting.get("CachingEnabled", cache_on and method == "GET")
            if caching:
                cached.append(f"{method} {path}")
                if props.get("Auth", {}).get("Authorizer") != "NONE":
                    fail(f"{stage} (cache {cache}): {method} {path} needs a token but can be cached")
    if cache == "true" and not cached:
        fail(f"{stage}: PublicReadCache=true caches nothing")
    if cache == "false" and cached:
        fail(f"{stage}: with the cache off, {cached} still cache")
    # SAM writes them into the API's OpenAPI body.
    [body] = [r["Properties"]["Body"] for r in out.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    responses = body.get("x-amazon-apigateway-gateway-responses", {})
    for kind in GATEWAY_ERRORS:
        response = responses.get(kind)
        if not response:
            fail(f"{stage}: no gateway response for {kind}")
        content_type = response.get("responseParameters", {}).get("gatewayresponse.header.Content-Type")
        if content_type != "'application/problem+json'":
            fail(f"{stage}: {kind} answers {content_type}, not problem+json")
    return cached


def main():
    logging.disable(logging.WARNING)  # the translator's notes about its own feature toggles
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    source = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
    for stage in STAGES:
        check(source, stage)
        cached = check_api(source, stage, "true")
        check_api(source, stage, "false")
        print(f"{stage}: no route behind the authorizer is cached (with PublicReadCache=true only "
              f"{', '.join(cached)}; with false none); {len(GATEWAY_ERRORS)} gateway errors are problem+json")


if __name__ == "__main__":
    main()
