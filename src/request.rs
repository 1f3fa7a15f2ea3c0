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

use crate::conditional::Conditions;
use crate::error::KeyError;
use crate::lambda::event::ProxyEvent;

mod route;

pub use route::{
    BY_ID_ROUTE, ID_OF_ROUTE, KeyRules, PRESIGN_ROUTE, ROUTE_NAMES, Route, Target, UNRESERVED,
    check_bucket, decode_path, encode_key, parse_key, percent_decode,
};

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

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub target: Result<Target, KeyError>,
    /// Bucket mode: the allowlisted bucket the path names.
    pub bucket: Option<String>,
    /// The decoded path after the stage, without its leading `/`: what a
    /// transform's signature covers (the key, in single-bucket mode).
    pub path: String,
    /// The API Gateway stage (`dev`), for paths the answer names.
    pub stage: String,
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
    /// The request body as the event carries it (base64 when
    /// `body_base64`); only bucket creation reads one.
    pub body: Option<String>,
    pub body_base64: bool,
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
        // The key comes from `proxy`; without it (the `/` resource, or a
        // hand-written event) from `path`, percent-decoded strictly.
        // The template's `/presign/{proxy+}` and `/id/{proxy+}` resources
        // (caching off) hand over only what follows their prefix.
        let resource_prefix = event
            .resource
            .as_deref()
            .and_then(|r| r.strip_suffix("{proxy+}"))
            .map(|r| r.trim_start_matches('/'))
            .filter(|r| [PRESIGN_ROUTE, ID_OF_ROUTE].contains(r))
            .unwrap_or("");
        let path = match proxy {
            // `{proxy+}` never matches nothing: an empty one is no key
            // (the root is the `/` resource, without `proxy`).
            Some(key) if key.is_empty() => Err(KeyError::Empty),
            Some(key) => Ok(format!("{resource_prefix}{key}")),
            None => match event.path.as_deref() {
                Some(path) => decode_path(path),
                None => Err(KeyError::Missing),
            },
        };
        // The presign route, even when its key is refused (for `Allow`).
        let presign_route = match &path {
            Ok(p) => p.as_str(),
            Err(_) => event
                .path
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/'),
        }
        .starts_with(PRESIGN_ROUTE);
        // The template gives `/presign/{proxy+}` and `/id/{proxy+}` their
        // own resources, with caching off (a presign answer expires; an id
        // is for admins, and the cache key has no API key). Those routes
        // reaching the cached `/{proxy+}` (a path written `presign%2F...`)
        // are refused rather than answered where they could be cached.
        let on_cached_resource = event.resource.as_deref() == Some("/{proxy+}");
        let (path, Route { bucket, target }) = match path {
            Ok(path) => {
                let mut route = rules.route(&path);
                if on_cached_resource && route.target.as_ref().is_ok_and(Target::is_uncached_route)
                {
                    route.target = Err(KeyError::RouteOnCachedResource);
                }
                (path, route)
            }
            Err(e) => (
                String::new(),
                Route {
                    bucket: None,
                    target: Err(e),
                },
            ),
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
            bucket,
            path,
            stage: ctx.stage.unwrap_or_default(),
            headers,
            query,
            conditions,
            request_id: ctx.request_id.unwrap_or_default(),
            api_key_id: identity.api_key_id.filter(|id| !id.is_empty()),
            bad_base64_body,
            body: event.body,
            body_base64: event.is_base64_encoded == Some(true),
            presign_route,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(3600),
            transforming: Default::default(),
        }
    }

    /// The body's bytes (decoded when the event marks it base64; an
    /// undecodable one is refused before any route runs).
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            None => Vec::new(),
            Some(b) if self.body_base64 => base64_simd::STANDARD
                .decode_to_vec(b.as_bytes())
                .unwrap_or_default(),
            Some(b) => b.clone().into_bytes(),
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
    // An empty list names nothing: API Gateway never sends one, and taken
    // as given it would turn `{"w": []}` into a transform with no size.
    for (k, v) in multi.unwrap_or_default() {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Request {
        Request::from_event(
            serde_json::from_str(json).expect("json"),
            &KeyRules::prefix(0),
        )
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
    fn an_empty_value_list_is_no_parameter() {
        let r = event(
            r#"{"httpMethod":"GET","pathParameters":{"proxy":"x"},
               "multiValueQueryStringParameters":{"w":[],"h":["5"]},
               "multiValueHeaders":{"Range":[]}}"#,
        );
        assert!(!r.query.contains_key("w"), "{:?}", r.query);
        assert_eq!(r.query.get("h"), Some(&vec!["5".to_string()]));
        assert_eq!(r.header("range"), None);
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

    #[test]
    fn the_uncached_resources_hand_over_their_prefix() {
        for (resource, proxy, want) in [
            (
                "/presign/{proxy+}",
                "a/b.jpg",
                Ok(Target::Presign("a/b.jpg".into())),
            ),
            (
                "/id/{proxy+}",
                "a/b.jpg",
                Ok(Target::Object("id/a/b.jpg".into())),
            ),
            (
                "/{proxy+}",
                "presign/a.jpg",
                Err(KeyError::RouteOnCachedResource),
            ),
            // Ids off: `id/` is a key like any other.
            (
                "/{proxy+}",
                "id/a.jpg",
                Ok(Target::Object("id/a.jpg".into())),
            ),
            ("/{proxy+}", "a.jpg", Ok(Target::Object("a.jpg".into()))),
            (
                "/other/{proxy+}",
                "a.jpg",
                Ok(Target::Object("a.jpg".into())),
            ),
        ] {
            let r = event(&format!(
                r#"{{"httpMethod":"GET","resource":"{resource}","path":"/x","pathParameters":{{"proxy":"{proxy}"}}}}"#
            ));
            assert_eq!(r.target, want, "{resource} {proxy}");
        }
        let ids = KeyRules {
            ids: true,
            ..KeyRules::prefix(0)
        };
        for (resource, proxy, want) in [
            (
                "/{proxy+}",
                "presign/o/AbC",
                Err(KeyError::RouteOnCachedResource),
            ),
            ("/{proxy+}", "o/AbC", Ok(Target::ById("AbC".into()))),
            (
                "/{proxy+}",
                "id/a.jpg",
                Err(KeyError::RouteOnCachedResource),
            ),
            ("/id/{proxy+}", "a.jpg", Ok(Target::IdOf("a.jpg".into()))),
            (
                "/presign/{proxy+}",
                "o/AbC",
                Ok(Target::PresignById("AbC".into())),
            ),
        ] {
            let json = format!(
                r#"{{"httpMethod":"GET","resource":"{resource}","path":"/x","pathParameters":{{"proxy":"{proxy}"}}}}"#
            );
            let r = Request::from_event(serde_json::from_str(&json).expect("json"), &ids);
            assert_eq!(r.target, want, "ids on: {resource} {proxy}");
        }
    }
}
