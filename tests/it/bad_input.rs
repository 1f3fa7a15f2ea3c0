//! Bad input of every kind gets a clear 4xx JSON error, before any call to
//! S3, and nothing in the store changes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{Fixture, event};

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.display().to_string(), std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_bad_key_class_is_a_400() {
    let fx = Fixture::new().await;
    let before = snapshot(fx.dir.path());
    let long = format!("{}.jpg", "a".repeat(1100));
    let cases = [
        ("", "empty"),
        ("/", "only a slash"),
        ("..", "dot-dot"),
        ("partnerimages/../../etc/passwd", "traversal"),
        ("./icons/logo.png", "dot segment"),
        ("icons//logo.png", "empty segment"),
        ("/icons/logo.png", "leading slash"),
        ("icons/logo\u{0}.png", "NUL"),
        ("icons/logo\r\n.png", "CRLF"),
        ("icons/\u{1b}[31m.png", "escape"),
        (long.as_str(), "over 1024 bytes"),
    ];
    for (key, what) in cases {
        let got = fx.run(event("GET", key)).await;
        got.assert_error(400, "InvalidKey", what);
        let got = fx.run(event("HEAD", key)).await;
        assert_eq!(got.status, 400, "HEAD {what}");
    }
    // Invalid percent-encoding, where the key comes from the raw path.
    for path in ["/bad%zz.png", "/bad%", "/bad%C3%28.png"] {
        let mut ev = event("GET", "x");
        ev["pathParameters"] = serde_json::Value::Null;
        ev["path"] = path.into();
        fx.run(ev).await.assert_error(400, "InvalidKey", path);
    }
    // No key at all.
    let mut ev = event("GET", "x");
    ev["pathParameters"] = serde_json::Value::Null;
    ev["path"] = serde_json::Value::Null;
    fx.run(ev).await.assert_error(400, "InvalidKey", "missing");
    assert_eq!(before, snapshot(fx.dir.path()), "the store changed");
}

#[tokio::test]
async fn methods_and_api_keys() {
    let fx = Fixture::new().await;
    let before = snapshot(fx.dir.path());
    for method in ["POST", "PUT", "DELETE", "PATCH", "BREW"] {
        let got = fx.run(event(method, "icons/logo.png")).await;
        got.assert_error(405, "MethodNotAllowed", method);
        assert_eq!(got.header("allow"), Some("GET, HEAD, OPTIONS"), "{method}");
    }
    for id in [serde_json::Value::Null, "".into()] {
        let mut ev = event("GET", "icons/logo.png");
        ev["requestContext"]["identity"]["apiKeyId"] = id.clone();
        fx.run(ev)
            .await
            .assert_error(403, "Forbidden", &format!("apiKeyId {id}"));
    }
    let mut ev = event("GET", "icons/logo.png");
    ev["requestContext"]["identity"] = serde_json::Value::Null;
    fx.run(ev)
        .await
        .assert_error(403, "Forbidden", "no identity");
    assert_eq!(before, snapshot(fx.dir.path()), "the store changed");

    let open = Fixture::with(&[("require-api-key", "false")]).await;
    let mut ev = event("GET", "icons/logo.png");
    ev["requestContext"]["identity"]["apiKeyId"] = serde_json::Value::Null;
    assert_eq!(open.run(ev).await.status, 200, "key requirement off");
}

#[tokio::test]
async fn folders_are_not_objects() {
    let fx = Fixture::new().await;
    fx.get("icons/")
        .await
        .assert_error(404, "NotFound", "folder with listing off");
    let mut ev = event("GET", "x");
    ev["pathParameters"] = serde_json::Value::Null;
    ev["path"] = "/".into();
    ev["resource"] = "/".into();
    fx.run(ev)
        .await
        .assert_error(404, "NotFound", "root with listing off");
}

/// lambda_http's decoder panics on a body marked `isBase64Encoded` that is
/// not base64; s3gate never decodes bodies with it and answers 400 before
/// anything else, for every method, and leaves the store as it was.
#[tokio::test]
async fn invalid_base64_bodies_are_a_400() {
    let fx = Fixture::with(&[("allow-write", "true")]).await;
    let before = snapshot(fx.dir.path());
    for method in ["PUT", "GET", "DELETE"] {
        for body in ["%%%not base64%%%", "abc", "ab=c", "😀"] {
            let mut ev = event(method, "uploads/x.jpg");
            ev["body"] = body.into();
            ev["isBase64Encoded"] = true.into();
            let wire = fx.run(ev).await;
            wire.assert_error(400, "BadRequest", &format!("{method} {body:?}"));
        }
        // The same body unmarked, or a valid base64 body, goes on as usual.
        let mut ev = event(method, "uploads/x.jpg");
        ev["body"] = "aGVsbG8=".into();
        ev["isBase64Encoded"] = true.into();
        assert_ne!(fx.run(ev).await.status, 400, "{method} valid base64");
    }
    assert_eq!(before, snapshot(fx.dir.path()), "nothing written");
}
