//! Property tests (proptest) of everything a request controls: the key and
//! raw path, query parameters, `Range`, the validators, other headers, the
//! body and `isBase64Encoded`. Properties: the parser never panics, a key it
//! accepts stays inside the configured prefix, a percent-encoded key decodes
//! to the same key (the same object), and the handler answers arbitrary
//! requests against the real store without a panic and without a 5xx.
//!
//! `PROPTEST_CASES` raises the case counts for a longer run; the fuzz
//! target in `fuzz/` covers the same parser with coverage guidance.

use std::sync::OnceLock;

use proptest::prelude::*;
use s3gate::limits::MAX_KEY_LEN;
use s3gate::request::{KeyRules, Target, decode_path, encode_key, parse_key};
use s3gate::{ProxyEvent, Request};
use serde_json::{Value, json};

use crate::support::{Fixture, Wire};

/// Strings that stress the parsers: path punctuation, percent signs,
/// control characters, non-ASCII, long runs.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[./%a-f0-9A-F\\\\ ]{0,30}",
        "(\\.\\./|\\./|//|%2[eEfF]|%00|%|/|[a-z]){0,20}",
        "[\\x00-\\x1f\\x7f\u{80}-\u{10ffff}a/]{0,20}",
        Just("x".repeat(MAX_KEY_LEN + 1)),
    ]
}

/// A valid key: segments that are neither empty, `.` nor `..`, no control
/// characters, any other Unicode (slashes only between segments).
fn valid_key() -> impl Strategy<Value = String> {
    prop::collection::vec("[^/\\x00-\\x1f\\x7f\u{80}-\u{9f}]{1,12}", 1..5)
        .prop_filter("no dot segments", |segs| {
            segs.iter().all(|s| s != "." && s != "..")
        })
        .prop_map(|segs| segs.join("/"))
        .prop_filter("fits", |k| k.len() <= 200)
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty(),
        "bytes=[0-9]{0,12}-[0-9]{0,12}",
        "bytes=-?[0-9]{0,25}(,[0-9]{0,3}-[0-9]{0,3}){0,3}",
        "(W/)?\"[a-f0-9]{0,32}\"(, ?(W/)?\"[a-z]{0,5}\"){0,3}",
        "\\*",
        "(Mon|Sun|Xyz), [0-9]{1,2} (Jan|Feb|Zzz) [0-9]{1,5} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        Just("GET".to_string()),
        Just("HEAD".to_string()),
        Just("PUT".to_string()),
        Just("DELETE".to_string()),
        Just("OPTIONS".to_string()),
        "[A-Za-z]{0,8}",
    ];
    let proxy = prop_oneof![
        nasty().prop_map(Some),
        valid_key().prop_map(Some),
        valid_key().prop_map(|k| Some(format!("presign/{k}"))),
        Just(None),
    ];
    let headers = prop::collection::vec(
        (
            prop_oneof![
                Just("range".to_string()),
                Just("if-none-match".to_string()),
                Just("if-match".to_string()),
                Just("if-modified-since".to_string()),
                Just("if-unmodified-since".to_string()),
                Just("if-range".to_string()),
                Just("Origin".to_string()),
                Just("Accept".to_string()),
                "[a-zA-Z-]{1,12}",
            ],
            header_value(),
        ),
        0..5,
    );
    let query = prop::collection::vec(
        (
            prop_oneof![
                Just("limit".to_string()),
                Just("token".to_string()),
                Just("method".to_string()),
                Just("contentLength".to_string()),
                Just("contentType".to_string()),
                "[a-z]{1,6}",
            ],
            nasty(),
        ),
        0..4,
    );
    let body = prop_oneof![
        Just(None),
        nasty().prop_map(Some),
        "[A-Za-z0-9+/]{0,16}={0,3}".prop_map(Some),
    ];
    (
        method,
        proxy,
        nasty(),
        headers,
        query,
        body,
        any::<Option<bool>>(),
        any::<bool>(),
    )
        .prop_map(|(method, proxy, path, headers, query, body, b64, key_id)| {
            let headers: serde_json::Map<String, Value> = headers
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            let query: serde_json::Map<String, Value> = query
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            json!({
                "httpMethod": method,
                "resource": "/{proxy+}",
                "path": format!("/{path}"),
                "pathParameters": proxy.map(|p| json!({ "proxy": p })),
                "headers": headers,
                "queryStringParameters": query,
                "body": body,
                "isBase64Encoded": b64,
                "requestContext": {
                    "requestId": "prop", "stage": "dev",
                    "identity": {"apiKeyId": if key_id { "k" } else { "" }},
                },
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The parser takes any event and never panics; an accepted key is a
    /// clean relative key that cannot leave the prefix.
    #[test]
    fn accepted_keys_stay_inside_the_prefix(ev in event(), prefix in "(|public/|a/b/)") {
        let ev: ProxyEvent = serde_json::from_value(ev).expect("any such JSON is an event");
        let req = Request::from_event(ev, &KeyRules::prefix(prefix.len()));
        if let Ok(Target::Object(key) | Target::Listing(key) | Target::Presign(key)) = &req.target {
            let s3_key = format!("{prefix}{key}");
            prop_assert!(s3_key.starts_with(&prefix));
            prop_assert!(s3_key.len() <= MAX_KEY_LEN);
            prop_assert!(!key.starts_with('/'), "{key:?}");
            prop_assert!(!key.chars().any(char::is_control), "{key:?}");
            for segment in key.split('/').filter(|_| !key.is_empty()) {
                // Only a listing's trailing slash leaves an empty last segment.
                prop_assert!(segment != "." && segment != "..", "{key:?}");
            }
            prop_assert!(!key.contains("//"), "{key:?}");
        }
    }

    /// A percent-encoded raw path decodes to the same key: one object, one
    /// name, whichever way the caller spelled it.
    #[test]
    fn a_decoded_and_re_encoded_key_is_the_same_object(key in valid_key()) {
        prop_assert_eq!(parse_key(&key, 0), Ok(Target::Object(key.clone())));
        let encoded = encode_key(&key);
        prop_assert_eq!(decode_path(&format!("/{encoded}")), Ok(key.clone()));
        prop_assert_eq!(encode_key(&decode_path(&encoded).expect("decodes")), encoded);
    }

    /// Arbitrary raw paths never panic the decoder; what it accepts
    /// re-encodes to a path that decodes the same.
    #[test]
    fn raw_paths_decode_or_are_refused(path in nasty()) {
        if let Ok(decoded) = decode_path(&path) {
            let again = format!("/{}", encode_key(&decoded));
            prop_assert_eq!(decode_path(&again), Ok(decoded));
        }
    }
}

/// One store and runtime for every handler case.
fn fixture() -> &'static (tokio::runtime::Runtime, Fixture) {
    static FIXTURE: OnceLock<(tokio::runtime::Runtime, Fixture)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let fixture = rt.block_on(Fixture::with(&[
            ("allow-list", "true"),
            ("allow-write", "true"),
            ("cors-origin", "*"),
            ("key-prefix", "partnerimages/"),
        ]));
        (rt, fixture)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Through the handler and the real store: every answer is well formed
    /// and bad input is never a 5xx (the store is up, so nothing may be).
    #[test]
    fn the_handler_never_answers_bad_input_with_a_5xx(ev in event()) {
        let (rt, fixture) = fixture();
        let text = ev.to_string();
        let wire: Wire = rt.block_on(fixture.run(ev));
        prop_assert!(wire.status < 500, "{} for {text}: {:?}", wire.status, wire);
        if wire.status >= 400 && !wire.body.is_empty() {
            let body = wire.json();
            prop_assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
        }
    }
}
