//! API Gateway REST proxy event -> typed [`Request`] with its [`Target`].
//! Pure: no I/O, no configuration beyond [`KeyRules`], so every rule about
//! keys and routes (what a key may hold, the presign route, the reserved
//! folder, percent-encoding) is here and unit-tested here.
//!
//! The key comes from `pathParameters.proxy`, which API Gateway has already
//! percent-decoded, never from the stage-prefixed URI. Only when there is no
//! `proxy` parameter (the `/` resource, or a hand-written event) is `path`
//! used, and then it is percent-decoded here, strictly.

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::conditional::Conditions;
use crate::error::KeyError;
use crate::lambda::event::ProxyEvent;
use crate::limits::MAX_KEY_LEN;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Put,
    Delete,
    Other(String),
}

impl Method {
    fn parse(s: &str) -> Method {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other(m) => m,
        }
    }
}

/// `GET /presign/{key}` vends presigned URLs: keys under `presign/` cannot
/// be reached through the API, and the route's own prefix is not part of
/// the key it names.
pub const PRESIGN_ROUTE: &str = "presign/";

/// What the path points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One object; the key as the caller named it (without the prefix).
    Object(String),
    /// A "folder": the root (empty) or a prefix ending in `/`.
    Listing(String),
    /// `presign/{key}`: the object whose URL is asked for.
    Presign(String),
    /// A key under the variant cache's folder, which only s3gate writes:
    /// refused on every route.
    Reserved,
}

/// The rules a key is checked against beyond its syntax: the key prefix's
/// length (S3's 1,024 bytes include it) and the reserved folder, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    pub prefix_len: usize,
    /// Keys under this folder (relative to the key prefix) are
    /// [`Target::Reserved`].
    pub reserved: Option<String>,
}

impl KeyRules {
    /// Only the prefix's length; no reserved folder.
    pub fn prefix(prefix_len: usize) -> KeyRules {
        KeyRules {
            prefix_len,
            reserved: None,
        }
    }

    /// The target a decoded key names: the presign route, the reserved
    /// folder, a folder or an object.
    pub fn target(&self, key: &str) -> Result<Target, KeyError> {
        let (key, presign) = match key.strip_prefix(PRESIGN_ROUTE) {
            Some(rest) => (rest, true),
            None => (key, false),
        };
        let target = parse_key(key, self.prefix_len)?;
        let named = match &target {
            Target::Object(k) | Target::Listing(k) => k.as_str(),
            _ => "",
        };
        if self
            .reserved
            .as_deref()
            .is_some_and(|r| named.starts_with(r) || format!("{named}/") == r)
        {
            return Ok(Target::Reserved);
        }
        match (presign, target) {
            (true, Target::Object(k)) => Ok(Target::Presign(k)),
            // A folder has no presigned URL.
            (true, Target::Listing(_)) => Err(KeyError::EmptySegment),
            (_, t) => Ok(t),
        }
    }
}

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub target: Result<Target, KeyError>,
    /// Header names lower-cased; values in arrival order.
    pub headers: HashMap<String, Vec<String>>,
    pub query: HashMap<String, Vec<String>>,
    /// Validators and `Range`, parsed; unparseable values dropped.
    pub conditions: Conditions,
    /// API Gateway's request id (what callers see as `x-amzn-RequestId`).
    pub request_id: String,
    pub api_key_id: Option<String>,
    /// The event says `isBase64Encoded: true` and its body is not base64
    /// (lambda_http's decoder panics on that; s3gate answers 400).
    pub bad_base64_body: bool,
    /// The path is under `presign/` (whether or not its key is valid).
    pub presign_route: bool,
    /// When the answer must be ready; inner steps (a transform's wait for
    /// a slot) end by it. Set by the handler from its budget.
    pub deadline: std::time::Instant,
    /// Set while the request waits for or runs a transform, so a request
    /// cut off then is reported as the transform's timeout, not the store's.
    pub transforming: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Request {
    /// `rules` hold the configured key prefix's length (the total S3 key
    /// length is checked here) and the reserved folder.
    pub fn from_event(event: ProxyEvent, rules: &KeyRules) -> Request {
        let ctx = event.request_context.unwrap_or_default();
        let method = event
            .http_method
            .as_deref()
            .or(ctx.http_method.as_deref())
            .map(Method::parse)
            .unwrap_or(Method::Get);
        let headers = merge_multi(event.headers, event.multi_value_headers, true);
        let query = merge_multi(
            event.query_string_parameters,
            event.multi_value_query_string_parameters,
            false,
        );
        let proxy = event
            .path_parameters
            .and_then(|mut p| p.remove("proxy"))
            .flatten();
        // The presign route, even when its key is refused (for `Allow`).
        let presign_route = proxy
            .as_deref()
            .or(event.path.as_deref().map(|p| p.trim_start_matches('/')))
            .is_some_and(|k| k.starts_with(PRESIGN_ROUTE));
        let target = match proxy {
            Some(key) => rules.target(&key),
            None => match event.path.as_deref() {
                // The `/` resource: the root folder.
                Some("/") | Some("") => Ok(Target::Listing(String::new())),
                Some(path) => decode_path(path).and_then(|k| rules.target(&k)),
                None => Err(KeyError::Missing),
            },
        };
        let identity = ctx.identity.unwrap_or_default();
        let bad_base64_body = event.is_base64_encoded == Some(true)
            && event
                .body
                .as_deref()
                .is_some_and(|b| base64_simd::STANDARD.check(b.as_bytes()).is_err());
        let conditions = Conditions::from_header(|name| headers.get(name).map(|v| v.join(", ")));
        Request {
            method,
            target,
            headers,
            query,
            conditions,
            request_id: ctx.request_id.unwrap_or_default(),
            api_key_id: identity.api_key_id.filter(|id| !id.is_empty()),
            bad_base64_body,
            presign_route,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(3600),
            transforming: Default::default(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// A query parameter that may be given once (a second value is a 400,
    /// never silently dropped).
    pub fn single(&self, name: &str) -> Result<Option<&str>, crate::error::Error> {
        match self.query.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_str())),
            Some(_) => Err(crate::error::Error::BadRequest(format!(
                "{name}: given more than once"
            ))),
        }
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// Merges the single- and multi-value maps API Gateway sends (the
/// multi-value one wins, as it does in API Gateway).
fn merge_multi(
    single: Option<HashMap<String, Option<String>>>,
    multi: Option<HashMap<String, Option<Vec<String>>>>,
    lowercase: bool,
) -> HashMap<String, Vec<String>> {
    let norm = |k: String| if lowercase { k.to_ascii_lowercase() } else { k };
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in multi.unwrap_or_default() {
        if let Some(v) = v {
            out.entry(norm(k)).or_default().extend(v);
        }
    }
    for (k, v) in single.unwrap_or_default() {
        if let Some(v) = v {
            out.entry(norm(k)).or_insert_with(|| vec![v]);
        }
    }
    out
}

/// RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay bare;
/// every other byte is percent-encoded. What signed transform URLs and the
/// CLI's request paths both use.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a key for a URL path, keeping `/` between segments: the
/// inverse of [`decode_path`] (what `s3gate get`/`put` send).
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Strictly percent-decodes a raw path (`/a%20b.jpg` -> `a b.jpg`).
pub fn decode_path(path: &str) -> Result<String, KeyError> {
    percent_decode(path.strip_prefix('/').unwrap_or(path)).ok_or(KeyError::BadPercentEncoding)
}

/// Strict percent-decoding: `%` must start two hex digits and the result
/// must be UTF-8. `+` stays `+`.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Checks a decoded key. A trailing `/` names a folder (a listing).
pub fn parse_key(key: &str, prefix_len: usize) -> Result<Target, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if prefix_len + key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong {
            len: prefix_len + key.len(),
            max: MAX_KEY_LEN,
        });
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacter);
    }
    let (body, folder) = match key.strip_suffix('/') {
        Some(body) => (body, true),
        None => (key, false),
    };
    if body.is_empty() {
        // "/" alone: an empty segment, not the root (the root is `GET /`).
        return Err(KeyError::EmptySegment);
    }
    for segment in body.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment),
            "." | ".." => return Err(KeyError::DotSegment),
            _ => {}
        }
    }
    Ok(if folder {
        Target::Listing(key.to_string())
    } else {
        Target::Object(key.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        let long = "a".repeat(MAX_KEY_LEN + 1);
        let cases: &[(&str, Result<Target, KeyError>)] = &[
            (
                "partnerimages/67/28/67286576.jpeg",
                Ok(Target::Object("partnerimages/67/28/67286576.jpeg".into())),
            ),
            (
                "photos/summer 2026/beach+sea ☀.webp",
                Ok(Target::Object("photos/summer 2026/beach+sea ☀.webp".into())),
            ),
            ("100%.jpg", Ok(Target::Object("100%.jpg".into()))),
            ("a.b/..c/d..", Ok(Target::Object("a.b/..c/d..".into()))),
            ("photos/", Ok(Target::Listing("photos/".into()))),
            ("", Err(KeyError::Empty)),
            ("/", Err(KeyError::EmptySegment)),
            ("/etc/passwd", Err(KeyError::EmptySegment)),
            ("a//b", Err(KeyError::EmptySegment)),
            ("a//", Err(KeyError::EmptySegment)),
            ("..", Err(KeyError::DotSegment)),
            ("a/../b", Err(KeyError::DotSegment)),
            ("./a", Err(KeyError::DotSegment)),
            ("a/.", Err(KeyError::DotSegment)),
            ("a\u{0}b", Err(KeyError::ControlCharacter)),
            ("a\nb", Err(KeyError::ControlCharacter)),
            ("a\u{7f}b", Err(KeyError::ControlCharacter)),
            ("a\u{85}b", Err(KeyError::ControlCharacter)),
            (
                &long,
                Err(KeyError::TooLong {
                    len: MAX_KEY_LEN + 1,
                    max: MAX_KEY_LEN,
                }),
            ),
        ];
        for (key, want) in cases {
            assert_eq!(&parse_key(key, 0), want, "key {key:?}");
        }
    }

    #[test]
    fn prefix_counts_towards_the_length() {
        let key = "k".repeat(1000);
        assert!(parse_key(&key, 24).is_ok());
        assert_eq!(
            parse_key(&key, 25),
            Err(KeyError::TooLong {
                len: 1025,
                max: 1024
            })
        );
    }

    #[test]
    fn percent_decoding_is_strict() {
        for (raw, want) in [
            ("/a%20b.jpg", Ok("a b.jpg".to_string())),
            (
                "/photos%2Fsunset.webp",
                Ok("photos/sunset.webp".to_string()),
            ),
            ("/%E2%98%80.png", Ok("☀.png".to_string())),
            ("/a+b", Ok("a+b".to_string())),
            ("/bad%zz", Err(KeyError::BadPercentEncoding)),
            ("/bad%2", Err(KeyError::BadPercentEncoding)),
            ("/bad%", Err(KeyError::BadPercentEncoding)),
            ("/bad%FF", Err(KeyError::BadPercentEncoding)),
        ] {
            assert_eq!(decode_path(raw), want, "path {raw:?}");
        }
    }

    fn event(json: &str) -> Request {
        Request::from_event(
            serde_json::from_str(json).expect("json"),
            &KeyRules::prefix(0),
        )
    }

    #[test]
    fn the_presign_route_and_the_reserved_folder() {
        let rules = KeyRules {
            prefix_len: 10,
            reserved: Some("_variants/".into()),
        };
        let long = format!("presign/{}", "k".repeat(MAX_KEY_LEN - 10));
        for (key, want) in [
            ("presign/a.jpg", Ok(Target::Presign("a.jpg".into()))),
            (
                long.as_str(),
                Ok(Target::Presign("k".repeat(MAX_KEY_LEN - 10))),
            ),
            ("presign/a/", Err(KeyError::EmptySegment)),
            ("presign/../a", Err(KeyError::DotSegment)),
            ("_variants/a.jpg/x.webp", Ok(Target::Reserved)),
            ("_variants/", Ok(Target::Reserved)),
            ("_variants", Ok(Target::Reserved)),
            ("presign/_variants/a", Ok(Target::Reserved)),
            ("_variantsx/a", Ok(Target::Object("_variantsx/a".into()))),
            ("a/_variants/b", Ok(Target::Object("a/_variants/b".into()))),
        ] {
            assert_eq!(rules.target(key), want, "{key:?}");
        }
        assert!(matches!(
            rules.target(&format!("{long}k")),
            Err(KeyError::TooLong { len: 1025, .. })
        ));
    }

    #[test]
    fn reads_proxy_not_the_stage_prefixed_path() {
        let r = event(
            r#"{"httpMethod":"GET","path":"/a%20b.jpg","pathParameters":{"proxy":"a b.jpg"},
               "requestContext":{"path":"/dev/a%20b.jpg","stage":"dev","requestId":"r1",
               "identity":{"apiKeyId":"k1"}}}"#,
        );
        assert_eq!(r.target, Ok(Target::Object("a b.jpg".into())));
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.api_key_id.as_deref(), Some("k1"));
    }

    #[test]
    fn falls_back_to_path_and_root() {
        let r = event(r#"{"httpMethod":"HEAD","path":"/photos%2Fsunset.webp"}"#);
        assert_eq!(r.method, Method::Head);
        assert_eq!(r.target, Ok(Target::Object("photos/sunset.webp".into())));
        let r = event(r#"{"httpMethod":"GET","path":"/","resource":"/"}"#);
        assert_eq!(r.target, Ok(Target::Listing(String::new())));
        let r = event(r#"{"httpMethod":"GET"}"#);
        assert_eq!(r.target, Err(KeyError::Missing));
    }

    #[test]
    fn nulls_everywhere_parse() {
        let r = event(
            r#"{"httpMethod":"GET","headers":null,"multiValueHeaders":{"A":null},"pathParameters":{"proxy":null},
               "queryStringParameters":null,"requestContext":{"identity":{"apiKeyId":""}},"body":null,
               "isBase64Encoded":null,"path":null}"#,
        );
        assert_eq!(r.target, Err(KeyError::Missing));
        assert_eq!(r.api_key_id, None, "an empty apiKeyId is no key");
    }

    #[test]
    fn headers_are_case_insensitive_and_multi_value_wins() {
        let r = event(
            r#"{"httpMethod":"get","headers":{"If-None-Match":"\"b\""},
               "multiValueHeaders":{"If-None-Match":["\"a\""]},"pathParameters":{"proxy":"x"}}"#,
        );
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.header("if-none-match"), Some("\"a\""));
    }
}
