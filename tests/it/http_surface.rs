//! The request table beyond plain GET: validators (304/412),
//! ranges (206/416), listing, presigned writes, CORS, expired and tampered
//! presigned URLs. Through the handler against the in-process store.

use std::time::{Duration, SystemTime};

use crate::support::{Fixture, Wire, event, sample};

const JPEG: &str = "partnerimages/67/28/67286576.jpeg";

async fn get_with(fx: &Fixture, method: &str, key: &str, headers: &[(&str, &str)]) -> Wire {
    let mut ev = event(method, key);
    for (k, v) in headers {
        ev["headers"][*k] = (*v).into();
        ev["multiValueHeaders"][*k] = serde_json::json!([v]);
    }
    fx.run(ev).await
}

#[tokio::test]
async fn validators_answer_304_and_412() {
    let fx = Fixture::new().await;
    let plain = fx.get(JPEG).await;
    let etag = plain.header("etag").expect("etag").to_string();
    let modified = plain.header("last-modified").expect("date").to_string();
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");
    let later = s3gate::conditional::http_date(SystemTime::now() + Duration::from_secs(3600));
    let earlier = "Mon, 01 Jan 2001 00:00:00 GMT";
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![("If-None-Match", etag.as_str())], 304),
        (vec![("If-None-Match", weak.as_str())], 304),
        (vec![("If-None-Match", list.as_str())], 304),
        (vec![("If-None-Match", "*")], 304),
        (vec![("If-None-Match", "\"other\"")], 200),
        (vec![("If-Modified-Since", modified.as_str())], 304),
        (vec![("If-Modified-Since", later.as_str())], 304),
        (vec![("If-Modified-Since", earlier)], 200),
        (vec![("If-Modified-Since", "not a date")], 200),
        (
            vec![
                ("If-None-Match", "\"other\""),
                ("If-Modified-Since", later.as_str()),
            ],
            200,
        ),
        (vec![("If-Match", etag.as_str())], 200),
        (vec![("If-Match", "\"other\"")], 412),
        (vec![("If-Match", weak.as_str())], 412),
        (vec![("If-Unmodified-Since", earlier)], 412),
        (vec![("If-Unmodified-Since", later.as_str())], 200),
    ];
    for (headers, want) in cases {
        for method in ["GET", "HEAD"] {
            let got = get_with(&fx, method, JPEG, &headers).await;
            assert_eq!(got.status, want, "{method} {headers:?}");
            match want {
                304 => {
                    assert!(got.body.is_empty(), "{headers:?}");
                    assert_eq!(got.header("etag"), Some(etag.as_str()), "{headers:?}");
                    assert!(got.header("cache-control").is_some(), "{headers:?}");
                    // RFC 9110 §8.6: no Content-Length unless it is the
                    // 200's; a HEAD's 304 had `0` (found by a review).
                    assert_eq!(got.header("content-length"), None, "{method} {headers:?}");
                }
                412 if method == "GET" => {
                    got.assert_error(412, "PreconditionFailed", &format!("{headers:?}"))
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn ranges_answer_206_and_416() {
    let fx = Fixture::new().await;
    let full = sample(JPEG);
    let n = full.len();
    type Span = Option<(usize, usize)>;
    let cases: Vec<(String, u16, Span)> = vec![
        ("bytes=0-99".into(), 206, Some((0, 99))),
        ("bytes=100-".into(), 206, Some((100, n - 1))),
        ("bytes=-10".into(), 206, Some((n - 10, n - 1))),
        ("bytes=0-0".into(), 206, Some((0, 0))),
        (format!("bytes=10-{}", n + 500), 206, Some((10, n - 1))),
        (format!("bytes=-{}", n + 5), 206, Some((0, n - 1))),
        (format!("bytes={n}-"), 416, None),
        ("bytes=99999-100000".into(), 416, None),
        ("bytes=-0".into(), 416, None),
        // Ignored, as RFC 9110 allows: the whole object.
        ("bytes=0-1,5-6".into(), 200, None),
        ("bytes=5-1".into(), 200, None),
        ("bytes=abc".into(), 200, None),
        ("pages=1-2".into(), 200, None),
    ];
    for (range, want, span) in cases {
        let got = get_with(&fx, "GET", JPEG, &[("Range", range.as_str())]).await;
        assert_eq!(got.status, want, "{range}: {got:?}");
        match (want, span) {
            (206, Some((a, b))) => {
                assert_eq!(got.body, full[a..=b], "{range}");
                let cr = format!("bytes {a}-{b}/{n}");
                assert_eq!(got.header("content-range"), Some(cr.as_str()), "{range}");
                assert_eq!(
                    got.header("content-length"),
                    Some((b - a + 1).to_string().as_str()),
                    "{range}"
                );
            }
            (416, _) => {
                got.assert_error(416, "RangeNotSatisfiable", &range);
                let cr = format!("bytes */{n}");
                assert_eq!(got.header("content-range"), Some(cr.as_str()), "{range}");
            }
            _ => assert_eq!(got.body, full, "{range}"),
        }
    }
    // A zero-length object has no satisfiable range.
    fx.put("t/empty.bin", Vec::new(), None).await;
    let got = get_with(&fx, "GET", "t/empty.bin", &[("Range", "bytes=0-")]).await;
    assert_eq!(got.status, 416, "{got:?}");
    assert_eq!(got.header("content-range"), Some("bytes */0"));
    // If-Range: the range only while the validator still matches.
    let etag = fx.get(JPEG).await.header("etag").expect("etag").to_string();
    let got = get_with(
        &fx,
        "GET",
        JPEG,
        &[("Range", "bytes=0-9"), ("If-Range", etag.as_str())],
    )
    .await;
    assert_eq!((got.status, got.body.len()), (206, 10));
    let got = get_with(
        &fx,
        "GET",
        JPEG,
        &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!((got.status, got.body.len()), (200, n));
    // A stale If-Range wins over an unsatisfiable range: the whole object
    // (RFC 9110 §13.1.5), and so do the validators.
    let got = get_with(
        &fx,
        "GET",
        JPEG,
        &[("Range", "bytes=99999-"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!((got.status, got.body.len()), (200, n), "{got:?}");
    let got = get_with(
        &fx,
        "GET",
        JPEG,
        &[("Range", "bytes=99999-"), ("If-None-Match", etag.as_str())],
    )
    .await;
    assert_eq!(got.status, 304, "{got:?}");
    let got = get_with(
        &fx,
        "GET",
        JPEG,
        &[("Range", "bytes=99999-"), ("If-Match", "\"other\"")],
    )
    .await;
    assert_eq!(got.status, 412, "{got:?}");
}

#[tokio::test]
async fn ranges_of_large_objects_are_inline_when_small() {
    let fx = Fixture::with(&[("inline-limit", "1000")]).await;
    let got = get_with(&fx, "GET", JPEG, &[("Range", "bytes=0-499")]).await;
    assert_eq!(got.status, 206, "a 500-byte part fits inline");
    assert_eq!(got.body, sample(JPEG)[..500]);
    let got = get_with(&fx, "GET", JPEG, &[("Range", "bytes=0-1500")]).await;
    assert_eq!(got.status, 307, "a part over the limit is redirected");
}

#[tokio::test]
async fn listing_with_folders_and_continuation() {
    let off = Fixture::new().await;
    off.get("icons/")
        .await
        .assert_error(404, "NotFound", "listing off");

    let fx = Fixture::with(&[("allow-list", "true")]).await;
    let got = fx.get("icons/").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.header("content-type"), Some("application/json"));
    let v = got.json();
    let keys: Vec<&str> = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["icons/logo.png", "icons/logo.svg", "icons/spinner.gif"]
    );
    let png = &v["objects"][0];
    assert_eq!(png["size"], sample("icons/logo.png").len());
    // s3s-fs 0.14 lists no ETags (S3 does); the field is there either way.
    assert!(png.get("etag").is_some(), "{png}");
    assert!(
        png["lastModified"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z')),
        "{png}"
    );
    assert_eq!(v["nextToken"], serde_json::Value::Null);

    // The root: sub-folders.
    let mut root = event("GET", "x");
    root["pathParameters"] = serde_json::Value::Null;
    root["path"] = "/".into();
    let v = fx.run(root.clone()).await.json();
    assert_eq!(
        v["folders"],
        serde_json::json!(["icons/", "partnerimages/", "photos/"])
    );
    root["httpMethod"] = "HEAD".into();
    let head = fx.run(root).await;
    assert_eq!(
        (head.status, head.body.len()),
        (200, 0),
        "HEAD of a listing has no body"
    );

    // Pages of one, followed to the end.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut ev = event("GET", "icons/");
        let mut q = serde_json::json!({"limit": "1"});
        if let Some(t) = &token {
            q["token"] = t.clone().into();
        }
        ev["queryStringParameters"] = q.clone();
        ev["multiValueQueryStringParameters"] = serde_json::json!(
            q.as_object()
                .expect("obj")
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!([v])))
                .collect::<serde_json::Map<_, _>>()
        );
        let v = fx.run(ev).await.json();
        seen.extend(
            v["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .map(|o| o["key"].as_str().unwrap_or("").to_string()),
        );
        token = v["nextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        ["icons/logo.png", "icons/logo.svg", "icons/spinner.gif"]
    );

    // Tokens S3 issues are printable ASCII: anything else is refused here
    // (the embedded store would take it; a hostile pass got a 200).
    for (k, v) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "ten"),
        ("token", "\u{fffd}"),
        ("token", "é"),
        ("token", "a\u{0}b"),
        ("token", "a b"),
    ] {
        let mut ev = event("GET", "icons/");
        ev["queryStringParameters"] = serde_json::json!({ k: v });
        ev["multiValueQueryStringParameters"] = serde_json::json!({ k: [v] });
        fx.run(ev)
            .await
            .assert_error(400, "BadRequest", &format!("{k}={v}"));
    }
    // A prefix under the configured key prefix is listed relative to it.
    let scoped = Fixture::with(&[("allow-list", "true"), ("key-prefix", "photos/")]).await;
    let mut root = event("GET", "x");
    root["pathParameters"] = serde_json::Value::Null;
    root["path"] = "/".into();
    let v = scoped.run(root).await.json();
    let keys: Vec<&str> = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(keys, ["sunset.avif", "sunset.webp"]);
    assert_eq!(v["folders"], serde_json::json!(["summer 2026/"]));
}

#[tokio::test]
async fn writes_redirect_to_presigned_urls() {
    let off = Fixture::new().await;
    for method in ["PUT", "DELETE"] {
        let got = off.run(event(method, "uploads/x.jpg")).await;
        got.assert_error(405, "MethodNotAllowed", method);
        assert_eq!(got.header("allow"), Some("GET, HEAD, OPTIONS"));
    }

    let fx = Fixture::with(&[("allow-write", "true"), ("presign-ttl", "60")]).await;
    let client = reqwest::Client::new();
    let put = fx.run(event("PUT", "uploads/new photo.jpg")).await;
    assert_eq!(put.status, 307, "{put:?}");
    assert_eq!(put.header("cache-control"), Some("no-store"));
    let location = put.header("location").expect("Location").to_string();
    let bytes = sample(JPEG);
    let resp = client
        .put(&location)
        .body(bytes.clone())
        .send()
        .await
        .expect("PUT presigned");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let got = fx.get("uploads/new photo.jpg").await;
    assert_eq!((got.status, &got.body), (200, &bytes));

    let del = fx.run(event("DELETE", "uploads/new photo.jpg")).await;
    assert_eq!(del.status, 307);
    let location = del.header("location").expect("Location").to_string();
    let resp = client
        .delete(&location)
        .send()
        .await
        .expect("DELETE presigned");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(fx.get("uploads/new photo.jpg").await.status, 404);
    assert_eq!(
        fx.get("icons/logo.png").await.status,
        200,
        "nothing else deleted"
    );
    // With writes on, the Allow header says so.
    let got = fx.run(event("POST", "x.jpg")).await;
    assert_eq!(got.header("allow"), Some("GET, HEAD, PUT, DELETE, OPTIONS"));
}

#[tokio::test]
async fn presigned_urls_expire_and_cannot_be_tampered_with() {
    let fx = Fixture::with(&[
        ("allow-write", "true"),
        ("presign-ttl", "1"),
        ("inline-limit", "100"),
    ])
    .await;
    let get = fx.get(JPEG).await;
    let location = get.header("location").expect("Location").to_string();
    let put = fx.run(event("PUT", "uploads/a.jpg")).await;
    let put_location = put.header("location").expect("Location").to_string();
    let client = reqwest::Client::new();
    // Another key, or a longer lifetime, breaks the signature.
    for tampered in [
        location.replace("67286576", "67286577"),
        location.replace("X-Amz-Expires=1", "X-Amz-Expires=9"),
    ] {
        assert_eq!(
            client.get(&tampered).send().await.expect("GET").status(),
            403,
            "{tampered}"
        );
    }
    let other_key = put_location.replace("uploads/a.jpg", "icons/logo.png");
    assert_eq!(
        client
            .put(&other_key)
            .body("evil")
            .send()
            .await
            .expect("PUT")
            .status(),
        403
    );
    let on_disk = std::fs::read(fx.dir.path().join("images/icons/logo.png")).expect("read");
    assert_eq!(
        on_disk,
        sample("icons/logo.png"),
        "overwritten through a tampered URL"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        client.get(&location).send().await.expect("GET").status(),
        403,
        "expired URL accepted"
    );
    assert_eq!(
        client
            .put(&put_location)
            .body("late")
            .send()
            .await
            .expect("PUT")
            .status(),
        403
    );
}

#[tokio::test]
async fn cors_headers_and_preflight() {
    let fx = Fixture::with(&[("cors-origin", "https://app.example.com")]).await;
    let got = fx.get(JPEG).await;
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(got.header("vary"), Some("Origin"));
    assert!(
        got.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("ETag"))
    );
    let mut pre = event("OPTIONS", JPEG);
    pre["requestContext"]["identity"]["apiKeyId"] = serde_json::Value::Null;
    let got = fx.run(pre).await;
    assert_eq!(got.status, 204, "a preflight needs no key: {got:?}");
    assert!(
        got.header("access-control-allow-headers")
            .is_some_and(|h| h.contains("x-api-key"))
    );
    assert_eq!(
        got.header("access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );

    let any = Fixture::with(&[("cors-origin", "*")]).await;
    let got = any.get(JPEG).await;
    assert_eq!(got.header("access-control-allow-origin"), Some("*"));
    assert_eq!(got.header("vary"), None);
    let none = Fixture::new().await;
    assert_eq!(
        none.get(JPEG).await.header("access-control-allow-origin"),
        None
    );
}
