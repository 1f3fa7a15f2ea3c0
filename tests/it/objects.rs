//! GET and HEAD of real objects through the real SDK and store: exact bytes
//! for every type (binary bodies are base64, so nothing is read as text),
//! the headers the README lists, odd keys, and objects over the inline limit.

use crate::support::{Fixture, event};

/// Deterministic bytes that are not valid UTF-8 anywhere, like real images.
fn binary(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 0x80)
        .collect()
}

#[tokio::test]
async fn every_content_type_comes_back_byte_identical() {
    let fx = Fixture::new().await;
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        ("t/a.jpg", Some("image/jpeg"), binary(5000, 1), "image/jpeg"),
        ("t/a.png", Some("image/png"), binary(5000, 2), "image/png"),
        (
            "t/a.webp",
            Some("image/webp"),
            binary(5000, 3),
            "image/webp",
        ),
        ("t/a.gif", Some("image/gif"), binary(5000, 4), "image/gif"),
        (
            "t/a.avif",
            Some("image/avif"),
            binary(5000, 5),
            "image/avif",
        ),
        (
            "t/a.svg",
            Some("image/svg+xml"),
            svg.clone(),
            "image/svg+xml",
        ),
        ("t/untyped.svg", None, svg, "image/svg+xml"),
        ("t/untyped.avif", None, binary(700, 6), "image/avif"),
        ("t/blob", None, binary(999, 7), "application/octet-stream"),
        (
            "t/blob.weird",
            Some("application/x-weird"),
            binary(10, 8),
            "application/x-weird",
        ),
        (
            "t/text.txt",
            Some("text/plain"),
            "héllo\n".as_bytes().to_vec(),
            "text/plain",
        ),
    ];
    for (key, stored, bytes, want_type) in &cases {
        fx.put(key, bytes.clone(), *stored).await;
        let got = fx.get(key).await;
        assert_eq!(got.status, 200, "{key}: {got:?}");
        assert!(got.base64, "{key}: every object body is base64");
        assert_eq!(&got.body, bytes, "{key}: bytes differ");
        assert_eq!(got.header("content-type"), Some(*want_type), "{key}");
        assert_eq!(
            got.header("content-length"),
            Some(bytes.len().to_string().as_str()),
            "{key}"
        );
        assert_eq!(
            got.header("x-content-type-options"),
            Some("nosniff"),
            "{key}"
        );
        assert_eq!(got.header("accept-ranges"), Some("bytes"), "{key}");
        assert_eq!(
            got.header("cache-control"),
            Some("public, max-age=86400"),
            "{key}"
        );
        assert!(
            got.header("etag").is_some_and(|e| e.starts_with('"')),
            "{key}: strong ETag"
        );
        assert!(
            got.header("last-modified")
                .is_some_and(|d| d.ends_with(" GMT")),
            "{key}"
        );
        assert_eq!(
            got.multi.get("Content-Type").and_then(|v| v[0].as_str()),
            Some(*want_type),
            "{key}"
        );
        // Every object, so an SVG or HTML opened as a page runs nothing.
        let csp = got.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("sandbox"),
            "{key}: {csp}"
        );
    }
}

#[tokio::test]
async fn zero_byte_and_four_megabyte_objects() {
    let fx = Fixture::new().await;
    fx.put("t/empty.png", Vec::new(), Some("image/png")).await;
    let got = fx.get("t/empty.png").await;
    assert_eq!((got.status, got.body.len()), (200, 0), "{got:?}");
    assert_eq!(got.header("content-length"), Some("0"));

    let big = binary(4 * 1024 * 1024, 9);
    fx.put("t/big.jpg", big.clone(), Some("image/jpeg")).await;
    let got = fx.get("t/big.jpg").await;
    assert_eq!(got.status, 200);
    assert!(got.body == big, "4 MiB body differs");
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    let fx = Fixture::new().await;
    let get = fx.get("icons/logo.png").await;
    let head = fx.run(event("HEAD", "icons/logo.png")).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty() && !head.base64);
    for h in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "cache-control",
        "accept-ranges",
    ] {
        assert_eq!(head.header(h), get.header(h), "header {h}");
    }
    let missing = fx.run(event("HEAD", "icons/none.png")).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn stored_metadata_wins_over_defaults() {
    let fx = Fixture::new().await;
    fx.app
        .store
        .client()
        .put_object()
        .bucket("images")
        .key("t/cached.png")
        .content_type("image/png")
        .cache_control("public, max-age=60, immutable")
        .body(binary(10, 1).into())
        .send()
        .await
        .expect("put");
    let got = fx.get("t/cached.png").await;
    assert_eq!(
        got.header("cache-control"),
        Some("public, max-age=60, immutable")
    );

    let custom = Fixture::with(&[("cache-control", "no-cache")]).await;
    let got = custom.get("icons/logo.png").await;
    assert_eq!(got.header("cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn keys_with_spaces_plus_unicode_and_encoded_slashes() {
    let fx = Fixture::new().await;
    let keys = [
        "t/with space.png",
        "t/a+b.png",
        "t/ünï ☀ 日本.png",
        "t/100%.png",
        "t/q?x=1#frag.png",
    ];
    for (i, key) in keys.iter().enumerate() {
        let bytes = binary(100 + i, i as u8);
        fx.put(key, bytes.clone(), Some("image/png")).await;
        let got = fx.get(key).await;
        assert_eq!((got.status, &got.body), (200, &bytes), "{key}");
    }
    // No pathParameters: the key comes from the percent-encoded path, where
    // %2F is a slash inside the key.
    let mut ev = event("GET", "unused");
    ev["pathParameters"] = serde_json::Value::Null;
    ev["path"] = "/photos%2Fsummer%202026%2Fbeach%2Bsea%20%E2%98%80.webp".into();
    let got = fx.run(ev).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(
        got.body,
        crate::support::sample("photos/summer 2026/beach+sea ☀.webp")
    );
}

#[tokio::test]
async fn key_prefix_is_prepended() {
    let fx = Fixture::with(&[("key-prefix", "partnerimages/")]).await;
    let got = fx.get("67/28/67286576.jpeg").await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body,
        crate::support::sample("partnerimages/67/28/67286576.jpeg")
    );
    assert_eq!(
        fx.get("icons/logo.png").await.status,
        404,
        "outside the prefix"
    );
}

#[tokio::test]
async fn over_the_inline_limit_is_rejected_or_redirected_without_downloading() {
    let reject = Fixture::with(&[("inline-limit", "1000"), ("large-objects", "reject")]).await;
    let got = reject.get("partnerimages/67/28/67286576.jpeg").await;
    got.assert_error(413, "PayloadTooLarge", "reject");
    assert_eq!(
        reject.get("icons/logo.svg").await.status,
        200,
        "under the limit still served"
    );
    // HEAD answers what GET would, without a body.
    let head = reject
        .run(event("HEAD", "partnerimages/67/28/67286576.jpeg"))
        .await;
    assert_eq!((head.status, head.body.len()), (413, 0), "{head:?}");

    let redirect = Fixture::with(&[("inline-limit", "1000"), ("presign-ttl", "120")]).await;
    let got = redirect.get("partnerimages/67/28/67286576.jpeg").await;
    assert_eq!(got.status, 307, "{got:?}");
    assert_eq!(got.header("cache-control"), Some("no-store"));
    let head = redirect
        .run(event("HEAD", "partnerimages/67/28/67286576.jpeg"))
        .await;
    assert_eq!(
        (head.status, head.body.len()),
        (307, 0),
        "HEAD like GET: {head:?}"
    );
    let location = got.header("location").expect("Location").to_string();
    assert!(location.contains("X-Amz-Expires=120"), "{location}");
    // The presigned URL works against the SigV4-checking store...
    let fetched = reqwest::get(&location).await.expect("GET presigned");
    assert_eq!(fetched.status(), 200);
    let bytes = fetched.bytes().await.expect("body");
    assert_eq!(
        bytes.as_ref(),
        crate::support::sample("partnerimages/67/28/67286576.jpeg").as_slice()
    );
    // ...and a tampered one does not.
    let tampered = location.replace("67286576.jpeg", "67286577.jpeg");
    let refused = reqwest::get(&tampered).await.expect("GET tampered");
    assert_eq!(refused.status(), 403, "tampered URL must be refused");
}
