//! Every sample event in `events/` runs through the handler and gets its
//! expected answer, so the samples cannot rot. A new event file without an
//! entry here fails the test.

use crate::support::{Fixture, load_event, sample, wire_from_json};

/// (file, status, body expected: a sample-data key or an error code)
const EXPECTED: &[(&str, u16, &str)] = &[
    ("get-object.json", 200, "partnerimages/67/28/67286576.jpeg"),
    ("head-object.json", 200, ""),
    ("not-found.json", 404, "NotFound"),
    ("bad-key.json", 400, "InvalidKey"),
    ("no-api-key.json", 403, "Forbidden"),
    ("get-svg.json", 200, "icons/logo.svg"),
    (
        "get-encoded-key.json",
        200,
        "photos/summer 2026/beach+sea ☀.webp",
    ),
    ("get-encoded-slash.json", 200, "photos/sunset.webp"),
    ("method-not-allowed.json", 405, "MethodNotAllowed"),
];

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    let fx = Fixture::new().await;
    let mut files: Vec<String> = std::fs::read_dir(crate::support::repo().join("events"))
        .expect("events/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    for file in &files {
        let (_, status, want) = EXPECTED
            .iter()
            .find(|(f, _, _)| f == file)
            .unwrap_or_else(|| {
                panic!("events/{file} has no expected answer in tests/it/events.rs")
            });
        let got = fx.run(load_event(file)).await;
        if *status == 200 {
            assert_eq!(got.status, 200, "{file}: {got:?}");
            if want.is_empty() {
                assert!(got.body.is_empty(), "{file}: HEAD has no body");
                assert!(got.header("content-length").is_some(), "{file}");
            } else {
                assert!(got.base64, "{file}: binary bodies are base64");
                assert_eq!(
                    got.body,
                    sample(want),
                    "{file}: body differs from sample-data/images/{want}"
                );
            }
        } else {
            got.assert_error(*status, want, file);
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
        assert_eq!(v["resource"], "/{proxy+}", "{}", path.display());
        assert_eq!(v["requestContext"]["stage"], "dev", "{}", path.display());
        assert!(
            v["pathParameters"]["proxy"].is_string(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn wire_format_round_trips() {
    let w = wire_from_json(
        r#"{"statusCode":200,"headers":{},"multiValueHeaders":{},"body":"AAEC","isBase64Encoded":true}"#,
    );
    assert_eq!(w.body, vec![0, 1, 2]);
}
