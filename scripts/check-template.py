#!/usr/bin/env python3
"""Checks template.yaml as CloudFormation will see it.

Translates the template with aws-sam-translator (the library `sam build`
and `sam deploy` use) for several parameter sets, resolves what the
translator leaves to CloudFormation (conditions, Fn::If, Ref to parameters)
as data, and checks the resources that result. cfn-lint and
`sam validate --lint` pass a template whose SAM events or intrinsics build
something other than what was meant; this looks at what is built.

  python3 scripts/check-template.py [template.yaml]

Needs aws-sam-translator and PyYAML (both come with aws-sam-cli); no AWS
account or network (AWS_DEFAULT_REGION is set to us-east-1 when unset).
Exits 1 with every failed check listed.
"""
import copy
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import logging  # noqa: E402

import yaml  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402


# ---- reading the template: CloudFormation's short tags as their long form

class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _tag)
# CloudFormation reads on/off/yes/no as strings (YAML 1.2), not booleans.
for first in "yYnNoO":
    CfnLoader.yaml_implicit_resolvers.pop(first, None)


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


# ---- translating and resolving

class NoManagedPolicies:
    """The translator asks for AWS managed policies only when a template
    names one by its bare name; this template names none."""

    def load(self):
        return {}


def translate(template, params):
    """The template as `sam deploy` sends it: the code already packaged
    (`CodeUri` an S3 URI, as `sam package` writes it), then transformed."""
    template = copy.deepcopy(template)
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://packaged-code/s3gate.zip"
    return transform(template, params, NoManagedPolicies())


def resolve(value, params, conditions):
    """Fn::If, Ref to a parameter and the condition functions, resolved;
    everything else (Fn::Sub, GetAtt, Ref to resources) kept as it is."""
    if isinstance(value, list):
        out = [resolve(v, params, conditions) for v in value]
        return [v for v in out if v != {"Ref": "AWS::NoValue"}]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::If":
            name, yes, no = arg
            chosen = yes if conditions[name] else no
            return resolve(chosen, params, conditions)
        if key == "Ref" and isinstance(arg, str) and arg in params:
            return params[arg]
    out = {}
    for k, v in value.items():
        r = resolve(v, params, conditions)
        if r != {"Ref": "AWS::NoValue"}:
            out[k] = r
    return out


def condition(expr, params, conditions):
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Fn::Equals":
            a, b = (condition(x, params, conditions) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not condition(arg[0], params, conditions)
        if key == "Fn::And":
            return all(condition(x, params, conditions) for x in arg)
        if key == "Fn::Or":
            return any(condition(x, params, conditions) for x in arg)
        if key == "Condition":
            return conditions[arg]
        if key == "Ref":
            return params.get(arg, expr)
    return expr


def evaluate(translated, params):
    """The translated template with every parameter's value (given, else
    its default) and its conditions resolved."""
    values = {
        name: str(params.get(name, spec.get("Default", "")))
        for name, spec in translated.get("Parameters", {}).items()
    }
    conditions = {}
    for name, expr in translated.get("Conditions", {}).items():
        conditions[name] = condition(expr, values, conditions)
    resources = {}
    for name, res in translated["Resources"].items():
        if "Condition" in res and not conditions[res["Condition"]]:
            continue
        resources[name] = resolve(res, values, conditions)
    return values, conditions, resources


# ---- the checks

class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, label, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{label}: {detail}")


def of_type(resources, kind):
    return {n: r for n, r in resources.items() if r["Type"] == kind}


def integrations(rest_api):
    body = rest_api["Properties"]["Body"]
    for path, methods in body["paths"].items():
        for method, op in methods.items():
            if isinstance(op, dict) and "x-amazon-apigateway-integration" in op:
                yield path, method, op


def check_streaming(c, label, resources, stream):
    apis = of_type(resources, "AWS::ApiGateway::RestApi")
    c.check(label, len(apis) == 1, f"{len(apis)} REST APIs")
    api = next(iter(apis.values()))
    seen = set()
    for path, method, op in integrations(api):
        seen.add((path, method))
        integ = op["x-amazon-apigateway-integration"]
        uri = json.dumps(integ.get("uri"))
        where = f"{label} {method} {path}"
        c.check(where, integ.get("type") == "aws_proxy", integ.get("type"))
        if method == "options":
            c.check(where, "2015-03-31/functions/" in uri and "/invocations" in uri, uri)
            c.check(where, integ.get("responseTransferMode", "BUFFERED") == "BUFFERED", integ)
            c.check(where, "security" not in op, "OPTIONS must need no API key")
            continue
        c.check(where, op.get("security") == [{"api_key": []}], op.get("security"))
        if stream:
            c.check(where, integ.get("responseTransferMode") == "STREAM", integ)
            c.check(where, "2021-11-15/functions/" in uri and "/response-streaming-invocations" in uri, uri)
            c.check(where, str(integ.get("timeoutInMillis")) == "900000", integ)
        else:
            c.check(where, integ.get("responseTransferMode", "BUFFERED") == "BUFFERED", integ)
            c.check(where, "2015-03-31/functions/" in uri and uri.rstrip('"}').endswith("/invocations"), uri)
            c.check(where, str(integ.get("timeoutInMillis")) == "29000", integ)
    for want in [("/{proxy+}", "x-amazon-apigateway-any-method"), ("/{proxy+}", "options"),
                 ("/", "x-amazon-apigateway-any-method"), ("/", "options")]:
        c.check(label, want in seen, f"no integration for {want}")
    fn = next(iter(of_type(resources, "AWS::Lambda::Function").values()))
    env = fn["Properties"]["Environment"]["Variables"]
    c.check(label, env.get("S3GATE_RESPONSE_MODE") == ("stream" if stream else "buffered"), env)
    timeout = str(fn["Properties"]["Timeout"])
    c.check(label, timeout == ("300" if stream else "25"), f"function timeout {timeout}")
    perms = of_type(resources, "AWS::Lambda::Permission")
    c.check(label, any(p["Properties"]["Action"] == "lambda:InvokeFunction" for p in perms.values()),
            "no permission for API Gateway to invoke the function")


CASES = [
    ("defaults", {"BucketName": "my-images"}, False),
    ("stream mode", {"BucketName": "my-images", "ResponseMode": "STREAM"}, True),
    ("buffered mode", {"BucketName": "my-images", "ResponseMode": "BUFFERED"}, False),
]


def main():
    logging.disable(logging.WARNING)
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "template.yaml")
    template = load(path)
    c = Checks()
    for label, params, stream in CASES:
        translated = translate(template, params)
        _, _, resources = evaluate(translated, params)
        check_streaming(c, label, resources, stream)
    if c.failed:
        print(f"check-template: {len(c.failed)} of {c.passed + len(c.failed)} checks failed:")
        for f in c.failed:
            print("  - " + f)
        return 1
    print(f"check-template: {c.passed} checks passed over {len(CASES)} parameter sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
