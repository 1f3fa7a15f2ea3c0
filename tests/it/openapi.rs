//! `openapi.yaml` kept true. The spec is read as data and held against the
//! code: every route, method and status the handler can answer is
//! described, every error code is in the error schema, and the key patterns
//! accept exactly the keys `parse_key` accepts. Then real requests of every
//! kind go through the local API Gateway over HTTP (listing and writes on
//! and off, the store down, throttling and hanging, the usage plan), and
//! each answer is looked up in the spec: its status documented for that
//! operation, its required headers present and valid, its body of a
//! documented type and valid against the documented JSON schema, and `Allow`
//! naming exactly the methods the spec gives the path.
//!
//! The schema checker is small and refuses any keyword it does not know, so
//! a spec that grows a constraint it cannot check fails here instead of
//! passing unchecked; a test below shows it catching wrong bodies.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};

use reqwest::header::HeaderMap;
use s3gate::error::{KeyError, UpstreamKind};
use s3gate::local::gateway::{Gateway, GatewayConfig};
use s3gate::request::{Target, parse_key};
use s3gate::{App, Error};
use serde_json::Value;

use crate::support::{Fixture, bad_store, client, repo};

const KEY: &str = "openapi-test-key-aaaaaaaaaaaa";
const METHODS: [&str; 8] = [
    "get", "head", "put", "delete", "options", "post", "patch", "trace",
];

/// Every operation and the statuses the handler (and the gateway in front
/// of it) can answer it with. The spec may say more, never less.
const OPERATIONS: &[(&str, &str, &[u16])] = &[
    ("/", "GET", &[200, 400, 403, 404, 429, 502, 503, 504]),
    ("/", "HEAD", &[200, 400, 403, 404, 429, 502, 503, 504]),
    ("/", "OPTIONS", &[204]),
    (
        "/{prefix}/",
        "GET",
        &[200, 400, 403, 404, 429, 502, 503, 504],
    ),
    (
        "/{prefix}/",
        "HEAD",
        &[200, 400, 403, 404, 429, 502, 503, 504],
    ),
    ("/{prefix}/", "OPTIONS", &[204]),
    (
        "/presign/{key}",
        "GET",
        &[200, 400, 403, 429, 502, 503, 504],
    ),
    (
        "/presign/{key}",
        "HEAD",
        &[200, 400, 403, 429, 502, 503, 504],
    ),
    ("/presign/{key}", "OPTIONS", &[204]),
    (
        "/{key}",
        "GET",
        &[
            200, 206, 304, 307, 400, 403, 404, 412, 413, 416, 429, 502, 503, 504,
        ],
    ),
    (
        "/{key}",
        "HEAD",
        &[200, 304, 307, 400, 403, 404, 412, 413, 429, 502, 503, 504],
    ),
    (
        "/{key}",
        "PUT",
        &[200, 307, 400, 403, 404, 405, 409, 413, 429, 502, 503, 504],
    ),
    (
        "/{key}",
        "DELETE",
        &[204, 307, 400, 403, 404, 405, 409, 429, 502, 503, 504],
    ),
    ("/{key}", "OPTIONS", &[204]),
    (
        "/o/{id}",
        "GET",
        &[
            200, 206, 304, 307, 400, 403, 404, 412, 413, 416, 422, 429, 502, 503, 504,
        ],
    ),
    (
        "/o/{id}",
        "HEAD",
        &[200, 304, 307, 400, 403, 404, 412, 413, 429, 502, 503, 504],
    ),
    ("/o/{id}", "OPTIONS", &[204]),
    (
        "/presign/o/{id}",
        "GET",
        &[200, 400, 403, 404, 429, 502, 503, 504],
    ),
    (
        "/presign/o/{id}",
        "HEAD",
        &[200, 400, 403, 404, 429, 502, 503, 504],
    ),
    ("/presign/o/{id}", "OPTIONS", &[204]),
    (
        "/id/{key}",
        "GET",
        &[200, 400, 403, 404, 429, 502, 503, 504],
    ),
    (
        "/id/{key}",
        "HEAD",
        &[200, 400, 403, 404, 429, 502, 503, 504],
    ),
    ("/id/{key}", "OPTIONS", &[204]),
];

/// One of each error the function answers with. The `match` has no
/// wildcard: a new variant does not compile until it is listed here, and
/// then the spec must document its code and status.
fn every_error() -> Vec<Error> {
    let all = vec![
        Error::BadKey(KeyError::Empty),
        Error::NotFound,
        Error::Denied("AccessDenied".into()),
        Error::ListingDisabled,
        Error::Forbidden("no key"),
        Error::MethodNotAllowed {
            method: "POST".into(),
            allow: "GET".into(),
        },
        Error::TooLarge { size: 2, limit: 1 },
        Error::Upstream {
            kind: UpstreamKind::Unavailable,
            detail: String::new(),
        },
        Error::Upstream {
            kind: UpstreamKind::Throttled,
            detail: String::new(),
        },
        Error::Upstream {
            kind: UpstreamKind::Timeout,
            detail: String::new(),
        },
        Error::BadRequest("limit".into()),
        Error::PreconditionFailed,
        Error::RangeNotSatisfiable { size: 1 },
        Error::WritesDisabled,
        Error::Unprocessable("image".into()),
        Error::SignatureRefused("sig"),
        Error::TransformTimeout(std::time::Duration::from_secs(1)),
        Error::Busy,
        Error::NoSuchBucket(None),
        Error::BucketExists { ours: true },
        Error::BucketExists { ours: false },
        Error::BucketNotEmpty,
        Error::BadKey(s3gate::error::KeyError::BucketName("too short")),
        Error::HeadersTooLarge {
            size: 20_000,
            limit: 16_384,
        },
    ];
    for e in &all {
        match e {
            Error::BadKey(_)
            | Error::NotFound
            | Error::Denied(_)
            | Error::ListingDisabled
            | Error::Forbidden(_)
            | Error::MethodNotAllowed { .. }
            | Error::TooLarge { .. }
            | Error::HeadersTooLarge { .. }
            | Error::Upstream { .. }
            | Error::BadRequest(_)
            | Error::PreconditionFailed
            | Error::RangeNotSatisfiable { .. }
            | Error::WritesDisabled
            | Error::Unprocessable(_)
            | Error::SignatureRefused(_)
            | Error::TransformTimeout(_)
            | Error::Busy
            | Error::NoSuchBucket(_)
            | Error::BucketExists { .. }
            | Error::BucketNotEmpty => {}
        }
    }
    all
}

/// `openapi.yaml` as JSON values, with `$ref` resolution and a checker for
/// the part of JSON Schema it uses.
struct Spec {
    root: Value,
}

impl Spec {
    fn load() -> Spec {
        let path = repo().join("openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let root: Value = crate::support::yaml(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        Spec { root }
    }

    /// Follows `$ref`s (`#/components/...`) until a value without one.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local $refs: {r}"));
            v = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("$ref {r} points nowhere"));
        }
        panic!("$ref chain too long at {v}");
    }

    fn path(&self, template: &str) -> Option<&Value> {
        self.root["paths"].get(template)
    }

    fn operation(&self, template: &str, method: &str) -> Option<&Value> {
        self.path(template)?.get(method.to_ascii_lowercase())
    }

    /// The methods the spec gives a path, upper case.
    fn methods(&self, template: &str) -> BTreeSet<String> {
        let item = self.path(template).and_then(Value::as_object);
        METHODS
            .iter()
            .filter(|m| item.is_some_and(|i| i.contains_key(**m)))
            .map(|m| m.to_ascii_uppercase())
            .collect()
    }

    /// The operation's parameters, path-level ones included (an operation's
    /// own parameter of the same name and place wins), resolved.
    fn parameters(&self, template: &str, method: &str) -> Vec<&Value> {
        let mut out: Vec<&Value> = Vec::new();
        let own = self
            .operation(template, method)
            .and_then(|o| o.get("parameters"))
            .and_then(Value::as_array);
        for p in own.into_iter().flatten() {
            out.push(self.resolve(p));
        }
        let shared = self
            .path(template)
            .and_then(|p| p.get("parameters"))
            .and_then(Value::as_array);
        for p in shared.into_iter().flatten().map(|p| self.resolve(p)) {
            if !out
                .iter()
                .any(|o| o["name"] == p["name"] && o["in"] == p["in"])
            {
                out.push(p);
            }
        }
        out
    }

    fn parameter(&self, template: &str, method: &str, name: &str) -> &Value {
        self.parameters(template, method)
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {template} documents no parameter {name:?}"))
    }

    fn documented_statuses(&self, template: &str, method: &str) -> Vec<String> {
        self.operation(template, method)
            .and_then(|o| o["responses"].as_object())
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Checks `v` against `schema`. Only `type` (with `nullable`), `enum`,
    /// `required`, `properties`, `additionalProperties`, `items`, `oneOf`,
    /// `anyOf`, lengths, bounds and `pattern` are understood; annotations
    /// are skipped; anything else is an error.
    fn check(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        let Some(obj) = schema.as_object() else {
            return Err(format!("{at}: the schema is not an object: {schema}"));
        };
        if v.is_null() && obj.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(());
        }
        for (keyword, arg) in obj {
            match keyword.as_str() {
                "description" | "format" | "example" | "default" | "nullable" | "title" => {}
                "type" => {
                    let ok = match arg.as_str() {
                        Some("object") => v.is_object(),
                        Some("array") => v.is_array(),
                        Some("string") => v.is_string(),
                        Some("integer") => v.is_i64() || v.is_u64(),
                        Some("number") => v.is_number(),
                        Some("boolean") => v.is_boolean(),
                        _ => return Err(format!("{at}: unknown type {arg}")),
                    };
                    if !ok {
                        return Err(format!("{at}: {v} is not of type {arg}"));
                    }
                }
                "enum" => {
                    let allowed = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                    if !allowed.contains(v) {
                        return Err(format!("{at}: {v} is not one of {arg}"));
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for name in arg.as_array().into_iter().flatten() {
                            let name = name.as_str().unwrap_or_default();
                            if !o.contains_key(name) {
                                return Err(format!("{at}: {name:?} is missing from {v}"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let (Some(o), Some(props)) = (v.as_object(), arg.as_object()) {
                        for (name, sub) in props {
                            if let Some(value) = o.get(name) {
                                self.check(sub, value, &format!("{at}.{name}"))?;
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = v.as_object() {
                        let declared = obj.get("properties").and_then(Value::as_object);
                        for (name, value) in o {
                            if declared.is_some_and(|d| d.contains_key(name)) {
                                continue;
                            }
                            match arg {
                                Value::Bool(false) => {
                                    return Err(format!("{at}: {name:?} is not documented"));
                                }
                                Value::Bool(true) => {}
                                sub => self.check(sub, value, &format!("{at}.{name}"))?,
                            }
                        }
                    }
                }
                "items" => {
                    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                        self.check(arg, item, &format!("{at}[{i}]"))?;
                    }
                }
                "minLength" | "maxLength" => {
                    let len = v.as_str().map(|s| s.chars().count() as u64);
                    if let (Some(len), Some(n)) = (len, arg.as_u64())
                        && ((keyword == "minLength" && len < n)
                            || (keyword == "maxLength" && len > n))
                    {
                        return Err(format!("{at}: {v} breaks {keyword} {n}"));
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(x), Some(n)) = (v.as_f64(), arg.as_f64())
                        && ((keyword == "minimum" && x < n) || (keyword == "maximum" && x > n))
                    {
                        return Err(format!("{at}: {v} breaks {keyword} {n}"));
                    }
                }
                "pattern" => {
                    if let (Some(s), Some(p)) = (v.as_str(), arg.as_str()) {
                        let re = regex::Regex::new(p)
                            .map_err(|e| format!("{at}: pattern {p:?} does not compile: {e}"))?;
                        if !re.is_match(s) {
                            return Err(format!("{at}: {v} does not match {p:?}"));
                        }
                    }
                }
                "oneOf" | "anyOf" => {
                    let branches = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                    let results: Vec<Result<(), String>> =
                        branches.iter().map(|b| self.check(b, v, at)).collect();
                    let passed = results.iter().filter(|r| r.is_ok()).count();
                    if passed == 0 || (keyword == "oneOf" && passed > 1) {
                        let why: Vec<String> =
                            results.into_iter().filter_map(Result::err).collect();
                        return Err(format!(
                            "{at}: {v} matches {passed} of the {keyword} branches ({})",
                            why.join("; ")
                        ));
                    }
                }
                other => return Err(format!("{at}: the checker does not know {other:?}")),
            }
        }
        Ok(())
    }

    /// Whether an answer to `method` on `path` (what follows the stage) is
    /// one the spec documents. `exact_allow`: the server runs with every
    /// optional method on, so `Allow` must name exactly the path's methods.
    fn conform(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        exact_allow: bool,
    ) -> Result<(), String> {
        let template = route(path);
        let what = format!("{method} {path} ({template}) -> {status}");
        let documented = self.methods(template);
        let allow = headers
            .get("allow")
            .map(|v| v.to_str().unwrap_or_default())
            .map(|a| {
                a.split(',')
                    .map(|m| m.trim().to_string())
                    .collect::<BTreeSet<_>>()
            });
        let Some(op) = self.operation(template, method) else {
            // An undocumented method: 405 with `Allow`.
            if status != 405 {
                return Err(format!("{what}: an undocumented method must be 405"));
            }
            let allow = allow.ok_or(format!("{what}: 405 without Allow"))?;
            if !allow.is_subset(&documented) || (exact_allow && allow != documented) {
                return Err(format!("{what}: Allow {allow:?}, the spec {documented:?}"));
            }
            return Ok(());
        };
        if method == "OPTIONS" {
            let allow = allow.ok_or(format!("{what}: OPTIONS answered without Allow"))?;
            if !allow.is_subset(&documented) || (exact_allow && allow != documented) {
                return Err(format!("{what}: Allow {allow:?}, the spec {documented:?}"));
            }
        }
        let Some(response) = op["responses"].get(status.to_string()) else {
            return Err(format!(
                "{what}: status not documented; the spec has {:?}",
                self.documented_statuses(template, method)
            ));
        };
        let response = self.resolve(response);
        for (name, h) in response["headers"].as_object().into_iter().flatten() {
            let h = self.resolve(h);
            match headers.get(name.as_str()) {
                None if h["required"] == true => {
                    return Err(format!("{what}: required header {name} missing"));
                }
                None => {}
                Some(value) => {
                    let text = value
                        .to_str()
                        .map_err(|_| format!("{what}: header {name} is not text"))?;
                    let value = if h["schema"]["type"] == "integer" {
                        text.parse::<u64>()
                            .map(Value::from)
                            .map_err(|_| format!("{what}: header {name}: {text:?} not a number"))?
                    } else {
                        Value::from(text)
                    };
                    self.check(&h["schema"], &value, &format!("{what}: header {name}"))?;
                }
            }
        }
        let content = response.get("content").and_then(Value::as_object);
        if method == "HEAD" || content.is_none() {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("{what}: a body where the spec documents none"))
            };
        }
        let content = content.ok_or(format!("{what}: no content"))?;
        let media = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let media = media.split(';').next().unwrap_or_default().trim();
        let schema = match content.get(media).or_else(|| content.get("*/*")) {
            Some(m) => &m["schema"],
            None => {
                return Err(format!(
                    "{what}: Content-Type {media:?} not documented; the spec has {:?}",
                    content.keys().collect::<Vec<_>>()
                ));
            }
        };
        if media == "application/json" && content.contains_key(media) {
            let json: Value = serde_json::from_slice(body)
                .map_err(|e| format!("{what}: the body is not JSON ({e})"))?;
            self.check(schema, &json, &format!("{what}: body"))?;
        }
        Ok(())
    }
}

/// The spec's path template for a path after the stage, the most specific
/// first (a `presign/` folder is the presign route, as in the handler).
fn route(path: &str) -> &'static str {
    if path.is_empty() || path == "/" {
        "/"
    } else if path.starts_with("/presign/o/") {
        "/presign/o/{id}"
    } else if path.starts_with("/o/") {
        "/o/{id}"
    } else if path.starts_with("/id/") {
        "/id/{key}"
    } else if path.starts_with("/presign/") {
        "/presign/{key}"
    } else if path.ends_with('/') {
        "/{prefix}/"
    } else {
        "/{key}"
    }
}

#[test]
fn the_spec_describes_every_route_method_and_error() {
    let spec = Spec::load();
    let root = &spec.root;
    assert!(
        root["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "openapi: {}",
        root["openapi"]
    );
    let servers: Vec<&str> = root["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert!(
        servers.contains(&"http://127.0.0.1:3000/dev"),
        "no local server: {servers:?}"
    );
    let scheme = &root["components"]["securitySchemes"]["api_key"];
    assert_eq!(
        (&scheme["type"], &scheme["in"], &scheme["name"]),
        (
            &Value::from("apiKey"),
            &Value::from("header"),
            &Value::from("x-api-key")
        ),
        "api_key scheme: {scheme}"
    );
    assert_eq!(
        root["security"],
        serde_json::json!([{"api_key": []}]),
        "every operation needs the key unless it says otherwise"
    );

    // Exactly the operations above, each with at least the statuses above,
    // never a catch-all `default`.
    let mut in_spec = BTreeSet::new();
    for (template, item) in root["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                in_spec.insert((template.clone(), m.to_ascii_uppercase()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(p, m, _)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(in_spec, listed, "operations in openapi.yaml");
    for (template, method, statuses) in OPERATIONS {
        let op = spec.operation(template, method).expect("listed");
        let documented = spec.documented_statuses(template, method);
        for s in *statuses {
            assert!(
                documented.contains(&s.to_string()),
                "{method} {template} does not document {s}; it has {documented:?}"
            );
        }
        assert!(
            !documented.iter().any(|s| s == "default"),
            "{method} {template}: a `default` response would document any status"
        );
        // OPTIONS needs no key (browsers send the preflight without one);
        // everything else inherits the API key requirement.
        let security = op.get("security");
        if *method == "OPTIONS" {
            assert_eq!(
                security,
                Some(&serde_json::json!([])),
                "{method} {template}"
            );
        } else {
            assert_eq!(security, None, "{method} {template} overrides security");
        }
        for s in documented.iter().filter(|s| s.as_str() >= "400") {
            let response = spec.resolve(&op["responses"][s.as_str()]);
            assert!(
                response["headers"]["x-amzn-RequestId"].is_object(),
                "{method} {template} {s}: no x-amzn-RequestId"
            );
            if *method == "HEAD" {
                assert!(response.get("content").is_none(), "{method} {template} {s}");
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert!(
                schema == "#/components/schemas/Error"
                    || schema == "#/components/schemas/GatewayError",
                "{method} {template} {s}: the error body is {schema}"
            );
        }
    }

    // Every error the function can answer: its code in the schema, its
    // status documented, and no code in the schema that nothing answers.
    let codes: BTreeSet<&str> =
        root["components"]["schemas"]["FunctionError"]["properties"]["code"]["enum"]
            .as_array()
            .expect("code enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
    let answered: BTreeSet<&str> = every_error().iter().map(Error::code).collect();
    assert_eq!(codes, answered, "FunctionError.code in openapi.yaml");
    for e in every_error() {
        let status = e.status().to_string();
        assert!(
            OPERATIONS
                .iter()
                .any(|(p, m, _)| spec.documented_statuses(p, m).contains(&status)),
            "{e:?}: status {status} documented nowhere"
        );
    }

    // Parameters: the validators and Range on GET and HEAD of an object,
    // paging on listings, the presign options.
    for method in ["GET", "HEAD"] {
        for name in [
            "Range",
            "If-None-Match",
            "If-Modified-Since",
            "If-Match",
            "If-Unmodified-Since",
            "If-Range",
        ] {
            assert_eq!(spec.parameter("/{key}", method, name)["in"], "header");
        }
        for template in ["/", "/{prefix}/"] {
            for name in ["limit", "token"] {
                assert_eq!(spec.parameter(template, method, name)["in"], "query");
            }
        }
    }
    let limit = &spec.parameter("/", "GET", "limit")["schema"];
    assert_eq!(
        (&limit["minimum"], &limit["maximum"]),
        (&Value::from(1), &Value::from(1000))
    );
    for name in ["method", "contentLength", "contentType"] {
        assert_eq!(spec.parameter("/presign/{key}", "GET", name)["in"], "query");
    }
    let length = &spec.parameter("/presign/{key}", "GET", "contentLength")["schema"];
    assert_eq!(length["maximum"], s3gate::limits::MAX_SINGLE_PUT);
}

/// The documented key patterns accept exactly what the handler accepts.
#[test]
fn key_patterns_are_the_key_rules() {
    let spec = Spec::load();
    let pattern = |template: &str, method: &str, name: &str| {
        let p = spec.parameter(template, method, name);
        assert_eq!(
            (&p["in"], &p["required"]),
            (&Value::from("path"), &Value::from(true))
        );
        let text = p["schema"]["pattern"].as_str().expect("a pattern");
        regex::Regex::new(text).expect("the pattern compiles")
    };
    let key = pattern("/{key}", "GET", "key");
    let presign = pattern("/presign/{key}", "GET", "key");
    let object = pattern("/{key}", "OPTIONS", "key");
    let prefix = pattern("/{prefix}/", "GET", "prefix");
    let folder_options = pattern("/{prefix}/", "OPTIONS", "prefix");
    for k in [
        "a",
        "a.jpg",
        "partnerimages/67/28/67286576.jpeg",
        "photos/summer 2026/beach+sea ☀.webp",
        "100%.jpg",
        "a.b/..c/d..",
        "...",
        ".hidden",
        "x/.../y",
        "photos/",
        "a/b/",
        "",
        "/",
        "/etc/passwd",
        "a//b",
        "a//",
        ".",
        "..",
        "a/../b",
        "./a",
        "a/.",
        "a/./",
        "a\u{0}b",
        "a\nb",
        "a\u{7f}b",
        "a\u{85}b",
        "a\u{9f}",
        "a\u{a0}b",
        "a?b#c",
    ] {
        let rules = parse_key(k, 0);
        assert_eq!(key.is_match(k), rules.is_ok(), "key {k:?}: {rules:?}");
        assert_eq!(presign.is_match(k), rules.is_ok(), "presign key {k:?}");
        let is_object = matches!(rules, Ok(Target::Object(_)));
        assert_eq!(object.is_match(k), is_object, "object key {k:?}: {rules:?}");
        // A folder parameter is the key without its trailing '/'.
        let folder = format!("{k}/");
        let is_folder = matches!(parse_key(&folder, 0), Ok(Target::Listing(_)));
        assert_eq!(prefix.is_match(k), is_folder, "prefix {k:?}");
        assert_eq!(folder_options.is_match(k), is_folder, "prefix {k:?}");
    }
}

/// The checker is what makes the live test mean something: it must refuse
/// wrong bodies, undocumented statuses and missing headers.
#[test]
fn the_checker_catches_wrong_answers() {
    let spec = Spec::load();
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    let ok = serde_json::json!({"message": "no object at this key", "code": "NotFound", "requestId": "r"});
    assert_eq!(spec.check(&error, &ok, "ok"), Ok(()));
    assert_eq!(
        spec.check(&error, &serde_json::json!({"message": "Forbidden"}), "gw"),
        Ok(())
    );
    for bad in [
        serde_json::json!({"message": "x", "code": "NotFound"}),
        serde_json::json!({"message": "x", "code": "Nope", "requestId": "r"}),
        serde_json::json!({"message": "x", "code": "NotFound", "requestId": "r", "bucket": "images"}),
        serde_json::json!({"message": "", "code": "NotFound", "requestId": "r"}),
        serde_json::json!({"message": "Forbidden", "code": 7}),
        serde_json::json!("Forbidden"),
    ] {
        assert!(spec.check(&error, &bad, "bad").is_err(), "accepted {bad}");
    }
    let listing = serde_json::json!({"$ref": "#/components/schemas/Listing"});
    let page = serde_json::json!({"prefix": "", "objects": [{"key": "a", "size": 1, "etag": null, "lastModified": null}],
        "folders": [], "nextToken": null});
    assert_eq!(spec.check(&listing, &page, "page"), Ok(()));
    let mut wrong = page.clone();
    wrong["objects"][0]["size"] = "1".into();
    assert!(spec.check(&listing, &wrong, "size").is_err());
    assert!(
        spec.check(
            &serde_json::json!({"type": "string", "const": "x"}),
            &"x".into(),
            "kw"
        )
        .is_err(),
        "an unknown keyword must not pass unchecked"
    );

    let mut json = HeaderMap::new();
    json.insert("content-type", "application/json".parse().expect("value"));
    json.insert("x-amzn-requestid", "r".parse().expect("value"));
    let body = ok.to_string();
    let conform = |method, path, status, headers: &HeaderMap, body: &str| {
        spec.conform(method, path, status, headers, body.as_bytes(), true)
    };
    assert_eq!(conform("GET", "/a.png", 404, &json, &body), Ok(()));
    // Not documented for GET /{key}, or not for that operation.
    assert!(conform("GET", "/a.png", 418, &json, &body).is_err());
    assert!(conform("GET", "/a.png", 405, &json, &body).is_err());
    assert!(conform("GET", "/presign/a.png", 404, &json, &body).is_err());
    // A body that is not the error shape, a body on HEAD, no request id.
    assert!(conform("GET", "/a.png", 404, &json, r#"{"error":"x"}"#).is_err());
    assert!(conform("HEAD", "/a.png", 404, &json, &body).is_err());
    let mut bare = json.clone();
    bare.remove("x-amzn-requestid");
    assert!(conform("GET", "/a.png", 404, &bare, &body).is_err());
    // Allow must name the documented methods.
    let mut allow = json.clone();
    allow.insert("allow", "GET, HEAD, OPTIONS".parse().expect("value"));
    assert_eq!(conform("OPTIONS", "/", 204, &allow, ""), Ok(()));
    assert!(conform("OPTIONS", "/a.png", 204, &allow, "").is_err());
    assert!(conform("POST", "/", 404, &allow, &body).is_err());
}

/// A gateway over an app, with a usage plan that never gets in the way
/// unless `plan` says otherwise.
async fn gateway(app: App, plan: impl FnOnce(&mut GatewayConfig)) -> (Gateway, String) {
    let mut cfg = GatewayConfig::dev(vec![KEY.to_string()]);
    cfg.rate_limit = 100_000.0;
    cfg.burst_limit = 100_000;
    plan(&mut cfg);
    let gw = Gateway::start(app, cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("gateway starts");
    let base = format!("http://{}/dev", gw.addr());
    (gw, base)
}

struct Probe<'a> {
    spec: &'a Spec,
    client: reqwest::Client,
    base: String,
    exact_allow: bool,
}

impl Probe<'_> {
    /// Sends one request, checks the status is the one the case expects,
    /// then that the spec documents the answer.
    async fn expect(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        want: u16,
    ) -> (HeaderMap, Vec<u8>) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(m, format!("{}{path}", self.base))
            .header("x-api-key", KEY);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let got_headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        assert_eq!(
            status,
            want,
            "{method} {path} {headers:?}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if let Err(e) =
            self.spec
                .conform(method, path, status, &got_headers, &bytes, self.exact_allow)
        {
            panic!(
                "{e}\nheaders: {got_headers:?}\nbody: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        (got_headers, bytes)
    }
}

#[tokio::test]
async fn real_answers_are_documented() {
    let spec = Spec::load();
    // Everything on: listing, writes, and a small inline limit so the JPEG
    // (1792 bytes) is a redirect and the PNG (564) is inline.
    let open = Fixture::with(&[
        ("allow-list", "true"),
        ("allow-write", "true"),
        ("inline-limit", "1000"),
    ])
    .await;
    let (_open_gw, base) = gateway(open.app.clone(), |_| {}).await;
    let p = Probe {
        spec: &spec,
        client: client(),
        base,
        exact_allow: true,
    };
    let png = "/icons/logo.png";
    let jpeg = "/partnerimages/67/28/67286576.jpeg";
    let (h, _) = p.expect("GET", png, &[], None, 200).await;
    let etag = h["etag"].to_str().expect("etag").to_string();
    p.expect("HEAD", png, &[], None, 200).await;
    p.expect("GET", png, &[("Range", "bytes=0-9")], None, 206)
        .await;
    p.expect("GET", png, &[("Range", "bytes=100000-")], None, 416)
        .await;
    p.expect("GET", png, &[("If-None-Match", &etag)], None, 304)
        .await;
    p.expect("HEAD", png, &[("If-None-Match", &etag)], None, 304)
        .await;
    let old = "Thu, 01 Jan 1970 00:00:00 GMT";
    p.expect("GET", png, &[("If-Match", "\"other\"")], None, 412)
        .await;
    p.expect("HEAD", png, &[("If-Unmodified-Since", old)], None, 412)
        .await;
    p.expect(
        "GET",
        png,
        &[("If-Range", "\"other\""), ("Range", "bytes=0-1")],
        None,
        200,
    )
    .await;
    p.expect("GET", jpeg, &[], None, 307).await;
    p.expect("HEAD", jpeg, &[], None, 307).await;
    p.expect("GET", "/nope.png", &[], None, 404).await;
    p.expect("HEAD", "/nope.png", &[], None, 404).await;
    p.expect("GET", "/a//b.png", &[], None, 400).await;
    p.expect("HEAD", "/a%00b", &[], None, 400).await;
    p.expect("GET", "/bad%zz", &[], None, 400).await; // the gateway's own 400
    p.expect("PUT", "/uploads/x.png", &[], Some(b"png".to_vec()), 307)
        .await;
    p.expect("DELETE", "/uploads/x.png", &[], None, 307).await;
    p.expect("PUT", "/icons/", &[], None, 405).await;
    p.expect("PUT", "/a//b", &[], None, 400).await;
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    p.expect("PUT", "/uploads/big.bin", &[], Some(big), 413)
        .await;
    p.expect("POST", png, &[], Some(b"x".to_vec()), 405).await;
    p.expect("PATCH", png, &[], None, 405).await;
    p.expect("OPTIONS", png, &[], None, 204).await;
    // Listings.
    p.expect("GET", "/", &[], None, 200).await;
    p.expect("GET", "/?limit=1", &[], None, 200).await;
    p.expect("HEAD", "/", &[], None, 200).await;
    p.expect("GET", "/?limit=0", &[], None, 400).await;
    p.expect("GET", "/?limit=x", &[], None, 400).await;
    p.expect("GET", "/?token=%01", &[], None, 400).await;
    p.expect("OPTIONS", "/", &[], None, 204).await;
    p.expect("PUT", "/", &[], None, 405).await;
    p.expect("DELETE", "/", &[], None, 405).await;
    p.expect("GET", "/icons/", &[], None, 200).await;
    p.expect("GET", "/photos/", &[("x-ignored", "1")], None, 200)
        .await;
    p.expect("HEAD", "/icons/", &[], None, 200).await;
    p.expect("GET", "/icons/?limit=1001", &[], None, 400).await;
    p.expect("OPTIONS", "/icons/", &[], None, 204).await;
    p.expect("DELETE", "/icons/", &[], None, 405).await;
    // Presign.
    p.expect("GET", "/presign/icons/logo.png", &[], None, 200)
        .await;
    p.expect("HEAD", "/presign/icons/logo.png", &[], None, 200)
        .await;
    p.expect(
        "GET",
        "/presign/uploads/a.jpg?method=put&contentLength=10&contentType=image/jpeg",
        &[],
        None,
        200,
    )
    .await;
    p.expect(
        "GET",
        "/presign/uploads/a.jpg?method=DELETE",
        &[],
        None,
        200,
    )
    .await;
    p.expect("GET", "/presign/x?method=POST", &[], None, 400)
        .await;
    p.expect(
        "GET",
        "/presign/x?method=PUT&contentLength=-1",
        &[],
        None,
        400,
    )
    .await;
    p.expect("GET", "/presign/x?contentLength=1", &[], None, 400)
        .await;
    p.expect("GET", "/presign/icons/", &[], None, 400).await;
    p.expect("HEAD", "/presign/a//b", &[], None, 400).await;
    // Writes on, and still no object under `presign/` (GET could not read it).
    p.expect("PUT", "/presign/x", &[], None, 405).await;
    p.expect("DELETE", "/presign/x", &[], None, 405).await;
    p.expect("GET", "/presign/presign/x?method=PUT", &[], None, 400)
        .await;
    p.expect("OPTIONS", "/presign/x", &[], None, 204).await;
    // A key too long for S3 is still the presign route: its Allow is the
    // route's (schemathesis found the object list here).
    let long = format!("/presign/{}", "0".repeat(1100));
    p.expect("OPTIONS", &long, &[], None, 204).await;
    p.expect("POST", "/presign/x", &[], None, 405).await;
    // The API key: none, or a wrong one (API Gateway's own 403).
    for key in [None, Some("wrong-key-wrong-key-wrong")] {
        let mut req = p.client.get(format!("{}{png}", p.base));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.expect("GET");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body");
        assert_eq!(status, 403, "key {key:?}");
        spec.conform("GET", png, status, &headers, &body, true)
            .unwrap_or_else(|e| panic!("key {key:?}: {e}"));
    }

    // Everything off, large objects refused.
    let closed = Fixture::with(&[("inline-limit", "1000"), ("large-objects", "reject")]).await;
    let (_closed_gw, base) = gateway(closed.app.clone(), |_| {}).await;
    let q = Probe {
        spec: &spec,
        client: client(),
        base,
        // Allow leaves out PUT and DELETE, which the spec documents.
        exact_allow: false,
    };
    q.expect("GET", jpeg, &[], None, 413).await;
    q.expect("HEAD", jpeg, &[], None, 413).await;
    q.expect("GET", "/", &[], None, 404).await;
    q.expect("HEAD", "/icons/", &[], None, 404).await;
    q.expect("PUT", "/uploads/x.png", &[], None, 405).await;
    q.expect("DELETE", "/presign/x", &[], None, 405).await;
    q.expect("GET", "/presign/x?method=PUT", &[], None, 403)
        .await;
    q.expect("HEAD", "/presign/x?method=DELETE", &[], None, 403)
        .await;
    q.expect("OPTIONS", png, &[], None, 204).await;

    // The usage plan: the throttle, then the quota (API Gateway's 429s).
    for plan in [
        (|c: &mut GatewayConfig| {
            c.burst_limit = 1;
            c.rate_limit = 0.001;
        }) as fn(&mut GatewayConfig),
        |c: &mut GatewayConfig| c.quota_limit = 1,
    ] {
        let (_gw, base) = gateway(closed.app.clone(), plan).await;
        let r = Probe {
            spec: &spec,
            client: client(),
            base,
            exact_allow: false,
        };
        r.expect("GET", png, &[], None, 200).await;
        r.expect("GET", png, &[], None, 429).await;
        r.expect("HEAD", "/", &[], None, 429).await;
    }
}

/// Bucket mode and the id routes, over the local gateway, against the
/// spec (the probe's key is the admin key here).
#[tokio::test]
async fn bucket_mode_and_id_answers_are_documented() {
    let spec = Spec::load();
    let fx = Fixture::with(&[
        ("buckets", "images,fresh"),
        ("allow-list", "true"),
        ("allow-write", "true"),
        ("admin-key-ids", "local00001"),
        ("id-secret", "openapi-id-secret-0123456789abcdef"),
    ])
    .await;
    let (_gw, base) = gateway(fx.app.clone(), |_| {}).await;
    let p = Probe {
        spec: &spec,
        client: client(),
        base,
        exact_allow: false,
    };
    let (_, body) = p.expect("GET", "/", &[], None, 200).await;
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["buckets"], serde_json::json!(["images"]));
    p.expect("HEAD", "/", &[], None, 200).await;
    p.expect("GET", "/images/", &[], None, 200).await;
    p.expect("GET", "/images/icons/logo.png", &[], None, 200)
        .await;
    p.expect("HEAD", "/images/icons/logo.png", &[], None, 200)
        .await;
    p.expect("GET", "/Images/icons/logo.png", &[], None, 400)
        .await;
    p.expect("GET", "/elsewhere/icons/logo.png", &[], None, 404)
        .await;
    p.expect("PUT", "/fresh", &[], None, 200).await;
    p.expect("PUT", "/fresh", &[], None, 409).await;
    p.expect("PUT", "/fresh", &[], Some(b"<nonsense/>".to_vec()), 400)
        .await;
    p.expect("DELETE", "/images", &[], None, 409).await;
    p.expect("DELETE", "/fresh", &[], None, 204).await;
    p.expect("DELETE", "/fresh", &[], None, 404).await;
    p.expect("GET", "/presign/images/icons/logo.png", &[], None, 200)
        .await;
    let (_, body) = p
        .expect("GET", "/id/images/icons/logo.png", &[], None, 200)
        .await;
    let v: Value = serde_json::from_slice(&body).expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    p.expect("HEAD", "/id/images/icons/logo.png", &[], None, 200)
        .await;
    p.expect("GET", "/id/images/nope.png", &[], None, 404).await;
    p.expect("OPTIONS", "/id/images/icons/logo.png", &[], None, 204)
        .await;
    let by_id = format!("/o/{id}");
    p.expect("GET", &by_id, &[], None, 200).await;
    p.expect("HEAD", &by_id, &[], None, 200).await;
    p.expect("GET", &by_id, &[("Range", "bytes=0-9")], None, 206)
        .await;
    p.expect("GET", "/o/garbage", &[], None, 404).await;
    p.expect("HEAD", "/o/garbage", &[], None, 404).await;
    p.expect("OPTIONS", &by_id, &[], None, 204).await;
    let presign = format!("/presign/o/{id}");
    p.expect("GET", &presign, &[], None, 200).await;
    p.expect("HEAD", &presign, &[], None, 200).await;
    p.expect("GET", &format!("{presign}?method=PUT"), &[], None, 400)
        .await;
    p.expect("GET", "/presign/o/garbage", &[], None, 404).await;
    p.expect("OPTIONS", &presign, &[], None, 204).await;
}

#[tokio::test]
async fn storage_failures_are_documented() {
    let spec = Spec::load();
    let settings = [("allow-list", "true"), ("s3-timeout", "1")];
    // The store gone: 502.
    let Fixture {
        dir,
        _store: store,
        app,
    } = Fixture::with(&settings).await;
    drop(store);
    let (_gw, base) = gateway(app.clone(), |_| {}).await;
    let p = Probe {
        spec: &spec,
        client: client(),
        base,
        exact_allow: false,
    };
    p.expect("GET", "/icons/logo.png", &[], None, 502).await;
    p.expect("HEAD", "/icons/logo.png", &[], None, 502).await;
    p.expect("GET", "/icons/", &[], None, 502).await;
    p.expect("HEAD", "/", &[], None, 502).await;
    drop(dir);

    // A store that throttles (503 SlowDown) or never answers (504), with
    // the real store's credentials.
    let real = Fixture::with(&settings).await;
    for (slow_down, status) in [(true, 503), (false, 504)] {
        let (addr, task) = bad_store(slow_down).await;
        let cfg = (*real.app.config).clone();
        let sdk = real
            ._store
            .sdk_config(&cfg)
            .await
            .into_builder()
            .endpoint_url(format!("http://{addr}"))
            .build();
        let app = App::new(cfg.clone(), s3gate::storage::S3Store::new(&sdk, &cfg));
        let (_gw, base) = gateway(app, |_| {}).await;
        let p = Probe {
            spec: &spec,
            client: client(),
            base,
            exact_allow: false,
        };
        p.expect("GET", "/icons/logo.png", &[], None, status).await;
        p.expect("GET", "/", &[], None, status).await;
        if !slow_down {
            p.expect("HEAD", "/icons/logo.png", &[], None, status).await;
        }
        task.abort();
    }
}
