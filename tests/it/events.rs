//! Every sample event in `events/` runs through the handler and gets its
//! expected answer, so the samples cannot rot. A new event file without an
//! entry here fails the test.

use crate::support::{Fixture, load_event, sample, wire_from_json};

/// What an event's answer must carry besides its status.
enum Want {
    /// The bytes of this sample-data key.
    Sample(&'static str),
    /// Bytes `a..=b` of this sample-data key (a 206).
    Part(&'static str, usize, usize),
    /// No body (HEAD, 304, 204).
    Empty,
    /// An error body with this code.
    Error(&'static str),
    /// A 307 to a presigned URL.
    Redirect,
    /// A JSON listing naming these keys or folders.
    Lists(&'static [&'static str]),
    /// A presign answer for this method.
    Presigned(&'static str),
    /// A transformed image: format, width, height (decoded).
    Image(&'static str, u32, u32),
}

const JPEG: &str = "partnerimages/67/28/67286576.jpeg";

/// Settings for one event's run, as (name, value).
type Settings = &'static [(&'static str, &'static str)];

/// (file, settings, status, answer)
const EXPECTED: &[(&str, Settings, u16, Want)] = &[
    ("get-object.json", &[], 200, Want::Sample(JPEG)),
    ("head-object.json", &[], 200, Want::Empty),
    ("not-found.json", &[], 404, Want::Error("NotFound")),
    ("bad-key.json", &[], 400, Want::Error("InvalidKey")),
    ("no-api-key.json", &[], 403, Want::Error("Forbidden")),
    ("get-svg.json", &[], 200, Want::Sample("icons/logo.svg")),
    (
        "get-encoded-key.json",
        &[],
        200,
        Want::Sample("photos/summer 2026/beach+sea ☀.webp"),
    ),
    (
        "get-encoded-slash.json",
        &[],
        200,
        Want::Sample("photos/sunset.webp"),
    ),
    (
        "method-not-allowed.json",
        &[],
        405,
        Want::Error("MethodNotAllowed"),
    ),
    ("conditional.json", &[], 304, Want::Empty),
    (
        "precondition-failed.json",
        &[],
        412,
        Want::Error("PreconditionFailed"),
    ),
    ("range.json", &[], 206, Want::Part(JPEG, 0, 99)),
    (
        "range-unsatisfiable.json",
        &[],
        416,
        Want::Error("RangeNotSatisfiable"),
    ),
    (
        "large-object.json",
        &[("inline-limit", "1000")],
        307,
        Want::Redirect,
    ),
    (
        "list.json",
        &[("allow-list", "true")],
        200,
        Want::Lists(&["icons/logo.png", "icons/logo.svg", "icons/spinner.gif"]),
    ),
    (
        "list-root.json",
        &[("allow-list", "true")],
        200,
        Want::Lists(&["icons/", "partnerimages/", "photos/"]),
    ),
    (
        "put-redirect.json",
        &[("allow-write", "true")],
        307,
        Want::Redirect,
    ),
    (
        "bad-base64-body.json",
        &[("allow-write", "true")],
        400,
        Want::Error("BadRequest"),
    ),
    (
        "delete-redirect.json",
        &[("allow-write", "true")],
        307,
        Want::Redirect,
    ),
    (
        "preflight.json",
        &[("cors-origin", "https://app.example.com")],
        204,
        Want::Empty,
    ),
    ("presign-get.json", &[], 200, Want::Presigned("GET")),
    ("transform.json", &[], 200, Want::Image("webp", 400, 300)),
    (
        "stream-object.json",
        &[("response-mode", "stream")],
        200,
        Want::Sample("partnerimages/67/28/67286577.jpeg"),
    ),
    (
        "transform-auto.json",
        &[],
        200,
        Want::Image("avif", 320, 320),
    ),
    (
        "transform-bad-param.json",
        &[],
        400,
        Want::Error("BadRequest"),
    ),
    (
        "presign-put.json",
        &[("allow-write", "true")],
        200,
        Want::Presigned("PUT"),
    ),
    (
        "list-buckets.json",
        BUCKET_MODE,
        200,
        Want::Lists(&["images"]),
    ),
    (
        "create-bucket.json",
        BUCKET_MODE,
        200,
        Want::Lists(&["new-bucket"]),
    ),
    (
        "delete-bucket.json",
        BUCKET_MODE,
        409,
        Want::Error("BucketNotEmpty"),
    ),
    ("bucket-object.json", BUCKET_MODE, 200, Want::Sample(JPEG)),
    (
        "object-by-id.json",
        &[("id-secret", "events-id-secret-0123456789abcdef")],
        200,
        Want::Sample(JPEG),
    ),
];

/// Bucket mode as the bucket events expect it: the event's key id is the
/// admin's.
const BUCKET_MODE: Settings = &[
    ("buckets", "images,new-bucket"),
    ("admin-key-ids", "k9j8h7g6f5"),
    ("allow-list", "true"),
];

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    let mut files: Vec<String> = std::fs::read_dir(crate::support::repo().join("events"))
        .expect("events/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    for file in &files {
        let (_, settings, status, want) =
            EXPECTED
                .iter()
                .find(|(f, ..)| f == file)
                .unwrap_or_else(|| {
                    panic!("events/{file} has no expected answer in tests/it/events.rs")
                });
        let fx = Fixture::with(settings).await;
        let got = fx.run(load_event(file)).await;
        assert_eq!(got.status, *status, "{file}: {got:?}");
        match want {
            Want::Sample(key) => {
                // Streamed bodies are raw bytes; buffered ones base64.
                let streamed = fx.app.config.response_mode == s3gate::config::ResponseMode::Stream;
                assert!(got.base64 || streamed, "{file}: binary bodies are base64");
                assert_eq!(
                    got.body,
                    sample(key),
                    "{file}: body differs from sample-data/images/{key}"
                );
            }
            Want::Part(key, a, b) => {
                assert_eq!(got.body, sample(key)[*a..=*b], "{file}");
                let range = format!("bytes {a}-{b}/{}", sample(key).len());
                assert_eq!(got.header("content-range"), Some(range.as_str()), "{file}");
            }
            Want::Empty => assert!(got.body.is_empty(), "{file}: {got:?}"),
            Want::Error(code) => got.assert_error(*status, code, file),
            Want::Redirect => {
                let location = got.header("location").unwrap_or_default();
                assert!(location.contains("X-Amz-Signature="), "{file}: {location}");
            }
            Want::Presigned(method) => {
                let v = got.json();
                assert_eq!(v["Method"], *method, "{file}: {v}");
                assert!(
                    v["URL"]
                        .as_str()
                        .is_some_and(|u| u.contains("X-Amz-Signature=")),
                    "{file}: {v}"
                );
            }
            Want::Image(format, w, h) => {
                assert!(got.base64, "{file}: binary bodies are base64");
                assert_eq!(
                    crate::transforms::decoded(&got.body),
                    (*format, *w, *h),
                    "{file}"
                );
            }
            Want::Lists(names) => {
                let text = String::from_utf8_lossy(&got.body);
                for name in *names {
                    assert!(
                        text.contains(&format!("\"{name}\"")),
                        "{file}: {name} not in {text}"
                    );
                }
            }
        }
    }
    assert_eq!(
        files.len(),
        EXPECTED.len(),
        "an expectation names a missing event file: {files:?}"
    );
}

#[test]
fn every_event_is_a_valid_rest_proxy_event() {
    // lambda_http's own parser is the reference for what API Gateway and
    // `sam local invoke` send: each sample must parse as a REST (v1) event,
    // carry `pathParameters.proxy`, stage `dev` and the `/{proxy+}` resource.
    for entry in std::fs::read_dir(crate::support::repo().join("events")).expect("events/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        if path.ends_with("bad-base64-body.json") {
            // The one event lambda_http cannot take: its body decoder panics
            // on invalid base64 (s3gate answers 400: `every_event_gets_its_expected_answer`).
            let parsed = std::panic::catch_unwind(|| lambda_http::request::from_str(&text));
            assert!(parsed.is_err(), "lambda_http no longer panics on it");
            continue;
        }
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        use lambda_http::RequestExt;
        let ctx = req.request_context();
        assert!(
            matches!(ctx, lambda_http::request::RequestContext::ApiGatewayV1(_)),
            "{}: not a REST API event",
            path.display()
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["requestContext"]["stage"], "dev", "{}", path.display());
        if v["resource"] == "/" {
            assert!(v["pathParameters"].is_null(), "{}", path.display());
        } else {
            // The template's resources: `/{proxy+}`, and the uncached
            // `/presign/{proxy+}` and `/id/{proxy+}` for those routes.
            let resource = v["resource"].as_str().unwrap_or_default();
            assert!(
                ["/{proxy+}", "/presign/{proxy+}", "/id/{proxy+}"].contains(&resource),
                "{}: resource {resource}",
                path.display()
            );
            assert_eq!(
                v["requestContext"]["resourcePath"],
                resource,
                "{}",
                path.display()
            );
            let proxy = v["pathParameters"]["proxy"].as_str().unwrap_or_default();
            let route = resource
                .trim_start_matches('/')
                .trim_end_matches("{proxy+}");
            let sent = v["path"].as_str().unwrap_or_default();
            assert_eq!(
                percent_encoding::percent_decode_str(sent).decode_utf8_lossy(),
                format!("/{route}{proxy}"),
                "{}: path is the resource's prefix and proxy",
                path.display()
            );
            assert!(
                v["pathParameters"]["proxy"].is_string(),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn wire_format_round_trips() {
    let w = wire_from_json(
        r#"{"statusCode":200,"headers":{},"multiValueHeaders":{},"body":"AAEC","isBase64Encoded":true}"#,
    );
    assert_eq!(w.body, vec![0, 1, 2]);
}
