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


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::StackName": "s3gate-check",
          "AWS::URLSuffix": "amazonaws.com", "AWS::AccountId": "123456789012"}


def substitute(template, params, variables=None):
    """Fn::Sub over parameters and pseudo parameters; None when the string
    names anything else (a resource's attribute stays for CloudFormation)."""
    out, i = "", 0
    while True:
        j = template.find("${", i)
        if j < 0:
            return out + template[i:]
        k = template.find("}", j)
        name = template[j + 2:k]
        out += template[i:j]
        if variables and name in variables and isinstance(variables[name], str):
            out += variables[name]
        elif name in params:
            out += params[name]
        elif name in PSEUDO:
            out += PSEUDO[name]
        else:
            return None
        i = k + 1


def resolve(value, params, conditions):
    """Fn::If, Ref to a parameter, the condition functions, and Fn::Join,
    Fn::Split and Fn::Sub over known strings, resolved; everything else
    (GetAtt, Ref to resources, Sub naming them) kept as it is."""
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
        if key == "Fn::Join":
            sep, items = resolve(arg, params, conditions)
            flat = []
            for item in items if isinstance(items, list) else [items]:
                flat.extend(item if isinstance(item, list) else [item])
            if isinstance(sep, str) and all(isinstance(x, str) for x in flat):
                return sep.join(flat)
            return {key: [sep, items]}
        if key == "Fn::Split":
            sep, text = resolve(arg, params, conditions)
            if isinstance(sep, str) and isinstance(text, str):
                return text.split(sep)
            return {key: [sep, text]}
        if key == "Fn::Sub":
            arg = resolve(arg, params, conditions)
            template, variables = (arg, None) if isinstance(arg, str) else (arg[0], arg[1])
            done = substitute(template, params, variables)
            return done if done is not None else {key: arg}
    out = {}
    for k, v in value.items():
        r = resolve(v, params, conditions)
        if r != {"Ref": "AWS::NoValue"}:
            out[k] = r
    return out


def condition(expr, params, conditions, defined=None):
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Fn::Equals":
            a, b = (condition(x, params, conditions, defined) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not condition(arg[0], params, conditions, defined)
        if key == "Fn::And":
            return all(condition(x, params, conditions, defined) for x in arg)
        if key == "Fn::Or":
            return any(condition(x, params, conditions, defined) for x in arg)
        if key == "Condition":
            if arg not in conditions:
                conditions[arg] = condition(defined[arg], params, conditions, defined)
            return conditions[arg]
        if key == "Ref":
            return params.get(arg, expr)
    return expr


def evaluate(translated, params):
    """The translated template with every parameter's value (given, else
    its default) and its conditions resolved; and the Rules that fail."""
    values = {
        name: str(params.get(name, spec.get("Default", "")))
        for name, spec in translated.get("Parameters", {}).items()
    }
    defined = translated.get("Conditions", {})
    conditions = {}
    for name, expr in defined.items():
        if name not in conditions:
            conditions[name] = condition(expr, values, conditions, defined)
    resources = {}
    for name, res in translated["Resources"].items():
        if "Condition" in res and not conditions[res["Condition"]]:
            continue
        resources[name] = resolve(res, values, conditions)
    broken = []
    for name, rule in translated.get("Rules", {}).items():
        if "RuleCondition" in rule and not condition(rule["RuleCondition"], values, conditions, defined):
            continue
        for a in rule["Assertions"]:
            if not condition(a["Assert"], values, conditions, defined):
                broken.append(name)
    return values, conditions, resources, broken


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


def statements(resources):
    role = resources["FunctionRole"]["Properties"]
    out = {}
    for policy in role["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            out[st["Sid"]] = st
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def check_role(c, label, params, resources):
    """Only the actions the enabled routes need, only on the buckets given."""
    sts = statements(resources)
    buckets = [b for b in params.get("Buckets", "").split(",") if b] or [params.get("BucketName")]
    prefix = params.get("KeyPrefix", "")
    objects = sorted(f"arn:aws:s3:::{b}/{prefix}*" for b in buckets)
    arns = sorted(f"arn:aws:s3:::{b}" for b in buckets)
    bucket_mode = bool(params.get("Buckets"))
    for sid, st in sts.items():
        for action in as_list(st["Action"]):
            c.check(label, action != "s3:*" and not action.endswith(":*"), f"{sid}: {action}")
        for r in as_list(st["Resource"]):
            c.check(label, isinstance(r, (str, dict)) and r not in ("*", "arn:aws:s3:::*"), f"{sid}: {r}")
            if isinstance(r, str) and r.startswith("arn:aws:s3:::"):
                name = r[len("arn:aws:s3:::"):].split("/", 1)[0]
                c.check(label, name in buckets, f"{sid} grants {r}, outside {buckets}")
    c.check(label, sorted(as_list(sts["ReadObjects"]["Resource"])) == objects,
            f"ReadObjects {sts['ReadObjects']['Resource']} != {objects}")
    listing = params.get("AllowList") == "true" or bucket_mode
    c.check(label, ("ListPrefix" in sts) == listing, f"ListPrefix present: {'ListPrefix' in sts}")
    if "ListPrefix" in sts:
        c.check(label, sorted(as_list(sts["ListPrefix"]["Resource"])) == arns, sts["ListPrefix"])
        c.check(label, sts["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}*"}},
                sts["ListPrefix"])
    c.check(label, ("HeadBuckets" in sts) == bucket_mode, "HeadBuckets only in bucket mode")
    if "HeadBuckets" in sts:
        c.check(label, sorted(as_list(sts["HeadBuckets"]["Resource"])) == arns, sts["HeadBuckets"])
        c.check(label, sts["HeadBuckets"]["Condition"] == {"Null": {"s3:prefix": "true"}}, sts["HeadBuckets"])
    admin = bucket_mode and params.get("AdminOperations") == "true"
    c.check(label, ("AdminBuckets" in sts) == admin, "AdminBuckets only with AdminOperations in bucket mode")
    if admin:
        c.check(label, sorted(as_list(sts["AdminBuckets"]["Action"])) == ["s3:CreateBucket", "s3:DeleteBucket"],
                sts["AdminBuckets"])
        c.check(label, sorted(as_list(sts["AdminBuckets"]["Resource"])) == arns, sts["AdminBuckets"])
    writes = params.get("AllowWrite") == "true"
    c.check(label, ("WriteObjects" in sts) == writes, "WriteObjects only with AllowWrite")
    if writes:
        c.check(label, sorted(as_list(sts["WriteObjects"]["Resource"])) == objects, sts["WriteObjects"])
    cache = params.get("VariantCache") == "true"
    c.check(label, ("WriteVariants" in sts) == cache, "WriteVariants only with VariantCache")
    if cache:
        variants = sorted(f"arn:aws:s3:::{b}/{prefix}{params.get('VariantPrefix', '_variants/')}*" for b in buckets)
        c.check(label, sorted(as_list(sts["WriteVariants"]["Resource"])) == variants, sts["WriteVariants"])


def check_keys(c, label, params, resources):
    """The admin key, its plan and its id in the function's settings exist
    exactly when bucket mode or ids are on."""
    env = next(iter(of_type(resources, "AWS::Lambda::Function").values()))["Properties"]["Environment"]["Variables"]
    admin = bool(params.get("Buckets")) or bool(params.get("IdSecretName"))
    for name in ["AdminApiKey", "AdminUsagePlan", "AdminUsagePlanKey"]:
        c.check(label, (name in resources) == admin, f"{name} present: {name in resources}")
    c.check(label, env.get("S3GATE_ADMIN_KEY_IDS") == ({"Ref": "AdminApiKey"} if admin else ""),
            f"S3GATE_ADMIN_KEY_IDS {env.get('S3GATE_ADMIN_KEY_IDS')}")
    if admin:
        plan = resources["AdminUsagePlan"]["Properties"]
        c.check(label, plan["ApiStages"][0]["ApiId"] == {"Ref": "Api"}, plan)
        key = resources["AdminUsagePlanKey"]["Properties"]
        c.check(label, key["KeyId"] == {"Ref": "AdminApiKey"} and key["UsagePlanId"] == {"Ref": "AdminUsagePlan"}, key)
        c.check(label, resources["UsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "ApiKey"}, "the API key keeps its plan")
    c.check(label, env.get("S3GATE_BUCKETS") == params.get("Buckets", ""), env.get("S3GATE_BUCKETS"))
    c.check(label, env.get("S3GATE_BUCKET") == params.get("BucketName", ""), env.get("S3GATE_BUCKET"))
    secret = env.get("S3GATE_ID_SECRET")
    if params.get("IdSecretName"):
        c.check(label, "{{resolve:secretsmanager:" + params["IdSecretName"] + ":SecretString:idSecret}}" == secret, secret)
    else:
        c.check(label, secret == "", secret)
    c.check(label, env.get("S3GATE_IDS_ONLY") == params.get("IdsOnly", "false"), env.get("S3GATE_IDS_ONLY"))


KEY_QUERY = ["w", "h", "fit", "gravity", "format", "q", "dpr", "sig", "expires", "limit", "token"]
KEY_HEADERS = ["Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"]


def check_api(c, label, params, resources):
    """The REST API, its stage and its keys as the parameters ask."""
    api = next(iter(of_type(resources, "AWS::ApiGateway::RestApi").values()))["Properties"]
    c.check(label, api.get("BinaryMediaTypes") == ["*~1*"], api.get("BinaryMediaTypes"))
    paths = api["Body"]["paths"]
    for want in ["/{proxy+}", "/", "/presign/{proxy+}", "/id/{proxy+}"]:
        c.check(label, want in paths, f"no resource {want}")
    stages = of_type(resources, "AWS::ApiGateway::Stage")
    c.check(label, len(stages) == 1, f"{len(stages)} stages")
    stage = next(iter(stages.values()))["Properties"]
    c.check(label, stage.get("StageName") == params.get("StageName", "dev"), stage.get("StageName"))
    cache_on = params.get("CacheSize", "0") != "0"
    ttl = params.get("CacheTtl", "300")
    c.check(label, stage.get("CacheClusterEnabled") is cache_on, f"CacheClusterEnabled {stage.get('CacheClusterEnabled')}")
    c.check(label, stage.get("CacheClusterSize") == (params["CacheSize"] if cache_on else None),
            f"CacheClusterSize {stage.get('CacheClusterSize')}")
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage.get("MethodSettings", [])}
    c.check(label, settings.get(("/*", "*"), {}).get("CachingEnabled") is False, "the stage default caches nothing")
    for path in ["/~1{proxy+}", "/"]:
        m = settings.get((path, "GET"), {})
        c.check(label, m.get("CachingEnabled") is cache_on, f"GET {path} caching {m}")
        c.check(label, str(m.get("CacheTtlInSeconds")) == ttl and m.get("CacheDataEncrypted") is True, f"GET {path} {m}")
    cached = [(k, m) for k, m in settings.items() if m.get("CachingEnabled") is True]
    c.check(label, all(k[1] == "GET" and k[0] in ("/~1{proxy+}", "/") for k, _ in cached), f"cached: {cached}")
    for path in ["/~1{proxy+}", "/", "/~1presign~1{proxy+}", "/~1id~1{proxy+}"]:
        m = settings.get((path, "OPTIONS"), {})
        c.check(label, str(m.get("ThrottlingRateLimit")) == params.get("PreflightRateLimit", "100"), f"OPTIONS {path} {m}")
    transforms = params.get("Transforms", "true") == "true"
    for path, op in [("/{proxy+}", paths["/{proxy+}"].get("get")), ("/", paths["/"].get("get"))]:
        c.check(label, op is not None, f"no GET operation on {path}")
        if op is None:
            continue
        keys = op["x-amazon-apigateway-integration"].get("cacheKeyParameters", [])
        want = (["method.request.path.proxy"] if path != "/" else []) \
            + [f"method.request.querystring.{q}" for q in KEY_QUERY] \
            + [f"method.request.header.{h}" for h in KEY_HEADERS] \
            + (["method.request.header.Accept"] if transforms else [])
        c.check(label, sorted(keys) == sorted(want), f"GET {path} cache key {keys}")
        declared = {f"method.request.{ {'path': 'path', 'query': 'querystring', 'header': 'header'}[p['in']] }.{p['name']}"
                    for p in op.get("parameters", [])}
        c.check(label, set(keys) <= declared, f"GET {path}: cache keys not declared: {set(keys) - declared}")
    for path, methods in paths.items():
        for method, op in methods.items():
            if isinstance(op, dict) and method != "get":
                integ = op.get("x-amazon-apigateway-integration", {})
                c.check(label, "cacheKeyParameters" not in integ, f"{method} {path} has cache keys")
        if path in ("/presign/{proxy+}", "/id/{proxy+}"):
            c.check(label, "get" not in methods, f"{path} must not have a cached GET")
    env = next(iter(of_type(resources, "AWS::Lambda::Function").values()))["Properties"]["Environment"]["Variables"]
    c.check(label, str(env.get("S3GATE_CACHE_TTL")) == (ttl if cache_on else "0"), f"S3GATE_CACHE_TTL {env.get('S3GATE_CACHE_TTL')}")
    plan = resources["UsagePlan"]["Properties"]
    c.check(label, str(plan["Throttle"]["RateLimit"]) == params.get("ThrottleRateLimit", "10")
            and str(plan["Throttle"]["BurstLimit"]) == params.get("ThrottleBurstLimit", "20"), plan["Throttle"])
    c.check(label, str(plan["Quota"]["Limit"]) == params.get("QuotaLimit", "10000")
            and plan["Quota"]["Period"] == params.get("QuotaPeriod", "DAY"), plan["Quota"])
    c.check(label, resources["ApiKey"]["Properties"].get("Enabled") is True, "API key enabled")
    logs = of_type(resources, "AWS::Logs::LogGroup")
    c.check(label, [str(g["Properties"].get("RetentionInDays")) for g in logs.values()] == [params.get("LogRetentionDays", "14")],
            f"log groups {logs}")


def check_operations(c, label, params, resources):
    """The dashboard shows what the README says; the alarms watch what their
    parameters say and notify the topic when one is given."""
    dash = of_type(resources, "AWS::CloudWatch::Dashboard")
    c.check(label, len(dash) == 1, f"{len(dash)} dashboards")
    body = next(iter(dash.values()))["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    import re
    try:
        widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]
    except (ValueError, KeyError) as e:
        c.check(label, False, f"dashboard body is not JSON: {e}")
        widgets = []
    shown = {(m[0], m[1]) for w in widgets for m in w["properties"]["metrics"]}
    for want in [("AWS/ApiGateway", "Count"), ("AWS/ApiGateway", "4XXError"), ("AWS/ApiGateway", "5XXError"),
                 ("AWS/ApiGateway", "Latency"), ("AWS/ApiGateway", "CacheHitCount"), ("AWS/ApiGateway", "CacheMissCount"),
                 ("s3gate", "Latency"), ("s3gate", "BytesOut"), ("s3gate", "Requests"), ("AWS/Lambda", "Throttles"),
                 ("AWS/Lambda", "Duration"), ("AWS/Lambda", "ConcurrentExecutions")]:
        c.check(label, want in shown, f"dashboard lacks {want}")
    stats = {m[-1].get("stat") for w in widgets for m in w["properties"]["metrics"] if m[1] == "Latency"}
    c.check(label, {"p50", "p99"} <= stats, f"latency stats {stats}")
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    want = {"Api5xxRateAlarm": params.get("Alarm5xxPercent", "1"),
            "LatencyP99Alarm": params.get("AlarmLatencyP99Ms", "2000"),
            "ThrottleAlarm": "0",
            "Gateway4xxRateAlarm": params.get("AlarmGateway4xxPercent", "5")}
    c.check(label, set(alarms) == set(want), f"alarms {sorted(alarms)}")
    topic = params.get("AlarmTopicArn", "")
    for name, threshold in want.items():
        a = alarms.get(name, {}).get("Properties", {})
        c.check(label, str(a.get("Threshold")) == threshold, f"{name} threshold {a.get('Threshold')}")
        c.check(label, a.get("AlarmActions") == ([topic] if topic else None), f"{name} actions {a.get('AlarmActions')}")
    p99 = alarms.get("LatencyP99Alarm", {}).get("Properties", {})
    c.check(label, p99.get("ExtendedStatistic") == "p99" and p99.get("Namespace") == "s3gate", p99)
    rate = alarms.get("Api5xxRateAlarm", {}).get("Properties", {})
    exprs = [m.get("Expression", "") for m in rate.get("Metrics", [])]
    c.check(label, any("errors / requests" in e for e in exprs), f"5xx rate expression {exprs}")


# (label, parameters, stream, Rules that must refuse them)
CASES = [
    ("defaults", {"BucketName": "my-images"}, False, []),
    ("stream mode", {"BucketName": "my-images", "ResponseMode": "STREAM"}, True, []),
    ("buffered mode", {"BucketName": "my-images", "ResponseMode": "BUFFERED"}, False, []),
    ("single bucket, every feature", {"BucketName": "my-images", "KeyPrefix": "public/", "AllowList": "true",
                                      "AllowWrite": "true", "VariantCache": "true", "IdSecretName": "ids"}, False, []),
    ("bucket mode", {"Buckets": "photos,docs.example-2"}, False, []),
    ("bucket mode, admin operations, writes, listing, cache, ids",
     {"Buckets": "photos,docs.example-2,third", "AdminOperations": "true", "AllowWrite": "true",
      "AllowList": "true", "VariantCache": "true", "IdSecretName": "ids", "IdsOnly": "true"}, False, []),
    ("bucket mode, streaming", {"Buckets": "photos", "ResponseMode": "STREAM"}, True, []),
    ("no bucket at all", {}, False, ["OneBucketSetting"]),
    ("both bucket settings", {"BucketName": "a-bucket", "Buckets": "b-bucket"}, False, ["OneBucketSetting"]),
    ("bucket mode with a prefix", {"Buckets": "photos", "KeyPrefix": "public/"}, False, ["BucketModeTakesWholeBuckets"]),
    ("bucket mode, another variant folder",
     {"Buckets": "photos", "VariantCache": "true", "VariantPrefix": "cache/"}, False, ["BucketModeTakesWholeBuckets"]),
    ("ids-only without ids", {"BucketName": "my-images", "IdsOnly": "true"}, False, ["IdsOnlyNeedsIds"]),
    ("stage cache, alarm topic, custom thresholds",
     {"BucketName": "my-images", "CacheSize": "0.5", "CacheTtl": "600", "StageName": "prod",
      "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops", "Alarm5xxPercent": "2",
      "AlarmLatencyP99Ms": "1500", "AlarmGateway4xxPercent": "10", "ThrottleRateLimit": "100",
      "QuotaLimit": "1000000", "QuotaPeriod": "MONTH", "LogRetentionDays": "30"}, False, []),
    ("stage cache without transforms", {"BucketName": "my-images", "CacheSize": "1.6", "Transforms": "false"}, False, []),
    ("transforms with the variant cache, bucket mode, stage cache",
     {"Buckets": "photos,docs", "VariantCache": "true", "CacheSize": "0.5", "AdminOperations": "true"}, False, []),
    ("stage cache with streaming", {"BucketName": "my-images", "CacheSize": "0.5", "ResponseMode": "STREAM"}, True,
     ["NoCacheWithStream"]),
]


def main():
    logging.disable(logging.WARNING)
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "template.yaml")
    template = load(path)
    c = Checks()
    for label, params, stream, refused in CASES:
        translated = translate(template, params)
        _, _, resources, broken = evaluate(translated, params)
        c.check(label, sorted(set(broken)) == sorted(refused), f"Rules refusing: {broken}, expected {refused}")
        if refused:
            continue
        check_streaming(c, label, resources, stream)
        check_role(c, label, params, resources)
        check_keys(c, label, params, resources)
        check_api(c, label, params, resources)
        check_operations(c, label, params, resources)
    if c.failed:
        print(f"check-template: {len(c.failed)} of {c.passed + len(c.failed)} checks failed:")
        for f in c.failed:
            print("  - " + f)
        return 1
    print(f"check-template: {c.passed} checks passed over {len(CASES)} parameter sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
