//! The hostile-input findings: each test here failed before its fix. Every
//! number reaches a store bounded, the reserved variant folder is refused on
//! every route, validators that do not parse cannot match, bad events are
//! refused at the edge, and the local gateway bounds slow, idle and oversized
//! clients with API Gateway's own answers.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use s3gate::local::gateway::{Gateway, GatewayConfig};
use serde_json::Value;

use crate::support::{Fixture, Wire, client, event, keyed_get, load_event, repo, sample};
use crate::transforms::{jpeg, with_query};

const KEY: &str = "hostile-key-0123456789abcdef";

fn with_header(mut ev: Value, name: &str, value: &str) -> Value {
    ev["headers"][name] = value.into();
    ev["multiValueHeaders"][name] = serde_json::json!([value]);
    ev
}

async fn gateway(fx: &Fixture, cfg: impl FnOnce(&mut GatewayConfig)) -> (Gateway, String) {
    let mut gc = GatewayConfig::dev(vec![KEY.to_string()]);
    gc.rate_limit = 10_000.0;
    gc.burst_limit = 10_000;
    cfg(&mut gc);
    let gw = Gateway::start(
        fx.app.clone(),
        gc,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway starts");
    let base = format!("http://{}/dev/", gw.addr());
    (gw, base)
}

// ---- 1. numbers are bounded before they reach a store ----

#[tokio::test]
async fn huge_range_numbers_are_answered_not_passed_on() {
    let fx = Fixture::new().await;
    let logo = sample("icons/logo.png");
    let size = logo.len() as u64;
    for (range, status, span) in [
        ("bytes=-9223372036854775808", 206, Some((0, size - 1))),
        ("bytes=-18446744073709551615", 206, Some((0, size - 1))),
        ("bytes=9223372036854775808-", 416, None),
        ("bytes=18446744073709551615-", 416, None),
        ("bytes=0-18446744073709551615", 206, Some((0, size - 1))),
        ("bytes=1-9223372036854775808", 206, Some((1, size - 1))),
        // Past u64 too (a hostile pass found these ignored: a 200).
        ("bytes=18446744073709551616-", 416, None),
        ("bytes=-18446744073709551616", 206, Some((0, size - 1))),
        (
            "bytes=1-99999999999999999999999999999",
            206,
            Some((1, size - 1)),
        ),
    ] {
        let w = fx
            .run(with_header(event("GET", "icons/logo.png"), "Range", range))
            .await;
        assert_eq!(w.status, status, "{range}: {w:?}");
        match span {
            Some((a, b)) => {
                assert_eq!(
                    w.header("content-range"),
                    Some(format!("bytes {a}-{b}/{size}").as_str()),
                    "{range}"
                );
                assert_eq!(w.body, &logo[a as usize..=b as usize], "{range}");
            }
            None => assert_eq!(
                w.header("content-range"),
                Some(format!("bytes */{size}").as_str()),
                "{range}"
            ),
        }
    }
}

/// The embedded store is reachable by anyone holding a presigned URL: a
/// hostile `Range` sent straight to it is answered, never a dropped
/// connection (s3s-fs casts the suffix to i64 and panics).
#[tokio::test]
async fn the_embedded_store_answers_hostile_ranges_itself() {
    let fx = Fixture::new().await;
    let presigned = fx
        .app
        .store
        .presigned("GET", "icons/logo.png", Duration::from_secs(60), None, None)
        .await
        .expect("presign");
    let logo = sample("icons/logo.png");
    let c = client();
    for (range, want) in [
        ("bytes=-9223372036854775808", 206),
        ("bytes=-100000", 206),
        ("bytes=-5", 206),
        ("bytes=99999999-", 416),
    ] {
        let resp = c
            .get(&presigned.url)
            .header("range", range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: the store dropped the connection: {e}"));
        assert_eq!(resp.status().as_u16(), want, "{range}");
        if want == 206 {
            let body = resp.bytes().await.expect("body");
            let n = range
                .trim_start_matches("bytes=-")
                .parse::<u64>()
                .map_or(logo.len(), |n| n.min(logo.len() as u64) as usize);
            assert_eq!(body.as_ref(), &logo[logo.len() - n..], "{range}");
        }
    }
}

// ---- 2. the variant cache's folder is refused everywhere ----

#[tokio::test]
async fn the_reserved_folder_is_refused_on_every_route() {
    // Cache off, transforms on (the default): a variant written now would be
    // served once the cache is turned on, so the folder is reserved already.
    for settings in [
        &[("allow-write", "true"), ("allow-list", "true")][..],
        &[
            ("allow-write", "true"),
            ("allow-list", "true"),
            ("variant-cache", "true"),
        ],
    ] {
        let fx = Fixture::with(settings).await;
        fx.put(
            "_variants/x.jpg/abc.jpg",
            jpeg(20, 20, None),
            Some("image/jpeg"),
        )
        .await;
        let get = |k: &str| event("GET", k);
        let presign = |k: &str, m: &str| with_query(&format!("presign/{k}"), &[("method", m)]);
        for (label, ev) in [
            ("GET", get("_variants/x.jpg/abc.jpg")),
            ("HEAD", event("HEAD", "_variants/x.jpg/abc.jpg")),
            ("PUT", event("PUT", "_variants/x.jpg/abc.jpg")),
            ("DELETE", event("DELETE", "_variants/x.jpg/abc.jpg")),
            ("listing", get("_variants/")),
            ("sub-listing", get("_variants/x.jpg/")),
            (
                "transform",
                with_query("_variants/x.jpg/abc.jpg", &[("w", "10")]),
            ),
            ("presign GET", presign("_variants/x.jpg/abc.jpg", "GET")),
            ("presign PUT", presign("_variants/x.jpg/abc.jpg", "PUT")),
            (
                "presign DELETE",
                presign("_variants/x.jpg/abc.jpg", "DELETE"),
            ),
        ] {
            let w = fx.run(ev).await;
            if label == "HEAD" {
                assert_eq!(w.status, 403, "{label} {settings:?}");
                continue;
            }
            w.assert_error(403, "Forbidden", &format!("{label} {settings:?}"));
            assert!(w.message().contains("reserved"), "{label}: {w:?}");
        }
        // The root listing does not show the reserved folder.
        let w = fx.run(get_root()).await;
        assert_eq!(w.status, 200, "{w:?}");
        let folders = w.json()["folders"].clone();
        assert!(
            !folders.to_string().contains("_variants"),
            "root listing shows the reserved folder: {folders}"
        );
    }
    // Every encoding over real HTTP reaches the same refusal.
    let fx = Fixture::with(&[("allow-write", "true")]).await;
    fx.put("_variants/a.jpg", jpeg(20, 20, None), Some("image/jpeg"))
        .await;
    let (gw, base) = gateway(&fx, |_| {}).await;
    let c = client();
    for path in [
        "_variants/a.jpg",
        "%5Fvariants/a.jpg",
        "_variants%2Fa.jpg",
        "%5F%76ariants%2Fa.jpg",
        "presign/_variants/a.jpg?method=PUT",
        "presign%2F_variants%2Fa.jpg?method=GET",
    ] {
        let resp = keyed_get(&c, format!("{base}{path}"), KEY).await;
        assert_eq!(resp.status(), 403, "{path}");
    }
    gw.shutdown().await;
    // With transforms and the cache off the folder is an ordinary one.
    let fx = Fixture::with(&[("transforms", "false")]).await;
    fx.put("_variants/a.jpg", jpeg(20, 20, None), Some("image/jpeg"))
        .await;
    assert_eq!(fx.get("_variants/a.jpg").await.status, 200);
}

fn get_root() -> Value {
    load_event("list-root.json")
}

// ---- 5. a key that names a folder is a 404 ----

#[tokio::test]
async fn a_key_naming_a_folder_is_a_404_at_once() {
    let fx = Fixture::new().await;
    for key in ["icons", "partnerimages/67", "photos/summer 2026"] {
        for method in ["GET", "HEAD"] {
            let started = Instant::now();
            let w = fx.run(event(method, key)).await;
            assert_eq!(w.status, 404, "{method} {key}: {w:?}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{method} {key}: answered after retries ({:?})",
                started.elapsed()
            );
        }
    }
    let w = fx.get("icons").await;
    w.assert_error(404, "NotFound", "a folder's name");
}

// ---- 6. the transform queue is bounded and says what happened ----

/// A photo-like noisy picture: slow to encode as AVIF on purpose.
fn noisy_png(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    let mut s = 0x2545_f491_u32;
    for y in 0..h {
        for x in 0..w {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let n = (s & 0x3f) as u8;
            px.extend_from_slice(&[
                ((x % 200) as u8).wrapping_add(n),
                ((y % 200) as u8).wrapping_add(n),
                (((x + y) % 180) as u8).wrapping_add(n),
            ]);
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().expect("png header");
    wr.write_image_data(&px).expect("png data");
    wr.finish().expect("png");
    out
}

async fn many_avifs(fx: &Fixture, n: usize) -> Vec<Wire> {
    many_avifs_of(fx, n, "800").await
}

async fn many_avifs_of(fx: &Fixture, n: usize, width: &str) -> Vec<Wire> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = fx.app.clone();
        // Different q: no two share a variant.
        let ev = with_query(
            "slow/noise.png",
            &[
                ("w", width),
                ("format", "avif"),
                ("q", &(40 + i).to_string()),
            ],
        );
        tasks.spawn(async move {
            let ev: s3gate::ProxyEvent = serde_json::from_value(ev).expect("event");
            Wire::from(app.handle_event(ev).await)
        });
    }
    let mut out = Vec::new();
    while let Some(w) = tasks.join_next().await {
        out.push(w.expect("task"));
    }
    out
}

#[tokio::test]
async fn a_full_transform_queue_is_a_503_with_retry_after() {
    let fx = Fixture::with(&[("transform-queue", "1")]).await;
    fx.put("slow/noise.png", noisy_png(1400, 1000), Some("image/png"))
        .await;
    let answers = many_avifs(&fx, 12).await;
    let busy: Vec<&Wire> = answers.iter().filter(|w| w.status == 503).collect();
    assert!(!busy.is_empty(), "no 503 among {:?}", statuses(&answers));
    for w in &busy {
        w.assert_error(503, "ServiceUnavailable", "queue full");
        assert!(w.message().contains("transform"), "{}", w.message());
        assert!(w.header("retry-after").is_some(), "{w:?}");
    }
    // The others ran, or waited too long for a slot: never a storage error.
    for w in &answers {
        let text = String::from_utf8_lossy(&w.body);
        assert!(
            w.status == 200 || w.status == 503 || (w.status == 504 && text.contains("transform")),
            "{}: {text}",
            w.status
        );
        assert!(!text.contains("storage"), "{text}");
    }
}

/// Twelve AVIFs of about a megapixel on one slot per core: those still
/// queued when the request's budget (10 + 1 + 1.5 s) ran out were reported
/// as the store's timeout.
#[tokio::test]
async fn a_transform_that_waits_too_long_is_a_transform_timeout() {
    let fx = Fixture::with(&[("transform-queue", "64"), ("transform-timeout", "1")]).await;
    fx.put(
        "slow/noise.png",
        crate::transforms::noisy_jpeg(1400, 1000),
        Some("image/jpeg"),
    )
    .await;
    let answers = many_avifs_of(&fx, 12, "1200").await;
    let timeouts: Vec<&Wire> = answers.iter().filter(|w| w.status == 504).collect();
    assert!(!timeouts.is_empty(), "{:?}", statuses(&answers));
    for w in timeouts {
        w.assert_error(504, "GatewayTimeout", "waited for a transform slot");
        let m = w.message();
        assert!(m.contains("transform"), "{m}");
        assert!(
            !m.contains("storage"),
            "a queue wait reported as storage: {m}"
        );
    }
}

fn statuses(answers: &[Wire]) -> Vec<u16> {
    answers.iter().map(|w| w.status).collect()
}

// ---- 7. the presign route's prefix is not part of the key ----

#[tokio::test]
async fn presign_takes_keys_of_the_full_length() {
    let fx = Fixture::with(&[("allow-write", "true")]).await;
    let key = format!("long/{}", "k".repeat(1024 - 5));
    assert_eq!(key.len(), 1024);
    for method in ["GET", "PUT", "DELETE"] {
        let w = fx
            .run(with_query(&format!("presign/{key}"), &[("method", method)]))
            .await;
        assert_eq!(w.status, 200, "{method}: {w:?}");
    }
    let too_long = format!("{key}k");
    let w = fx
        .run(with_query(&format!("presign/{too_long}"), &[]))
        .await;
    w.assert_error(400, "InvalidKey", "1,025 bytes");
    assert!(w.message().contains("1025"), "{}", w.message());
}

// ---- 8. validators that do not parse cannot match ----

#[tokio::test]
async fn unparseable_validators_never_match() {
    let fx = Fixture::new().await;
    let logo = sample("icons/logo.png");
    let ranged = |if_range: &str| {
        with_header(
            with_header(event("GET", "icons/logo.png"), "Range", "bytes=0-9"),
            "If-Range",
            if_range,
        )
    };
    for bad in [
        "garbage",
        "\"unterminated",
        "W/\"weak\"",
        "Mon, 99 Foo 2026",
    ] {
        let w = fx.run(ranged(bad)).await;
        assert_eq!(w.status, 200, "If-Range {bad:?}: the range is ignored");
        assert_eq!(w.body, logo, "If-Range {bad:?}");
    }
    // If-Match that does not parse cannot match any representation: 412.
    for bad in ["garbage", "\"a\", bad", "W/"] {
        let w = fx
            .run(with_header(event("GET", "icons/logo.png"), "If-Match", bad))
            .await;
        w.assert_error(412, "PreconditionFailed", &format!("If-Match {bad:?}"));
    }
    // An If-None-Match that does not parse matches nothing: 200.
    let w = fx
        .run(with_header(
            event("GET", "icons/logo.png"),
            "If-None-Match",
            "garbage",
        ))
        .await;
    assert_eq!(w.status, 200);
    // Tags with bytes over 0x7F are valid HTTP (obs-text) but no S3 ETag
    // has them, and the store refuses the header (400 InvalidArgument): they
    // never reach it, and they match nothing (found as a 502 by a hostile
    // pass).
    for method in ["GET", "HEAD"] {
        for tag in ["\"é\"", "W/\"é\"", "\"\u{e9}\", W/\"ü\""] {
            let w = fx
                .run(with_header(
                    event(method, "icons/logo.png"),
                    "If-None-Match",
                    tag,
                ))
                .await;
            assert_eq!(w.status, 200, "{method} If-None-Match {tag:?}: {w:?}");
            let w = fx
                .run(with_header(
                    event(method, "icons/logo.png"),
                    "If-Match",
                    tag,
                ))
                .await;
            assert_eq!(w.status, 412, "{method} If-Match {tag:?}: {w:?}");
        }
    }
    let head = fx.run(event("HEAD", "icons/logo.png")).await;
    let etag = head.headers["ETag"].as_str().expect("an ETag").to_string();
    let w = fx
        .run(with_header(
            event("GET", "icons/logo.png"),
            "If-None-Match",
            &format!("\"é\", {etag}"),
        ))
        .await;
    assert_eq!(w.status, 304, "a list with the object's tag still matches");
}

// ---- 11. HEAD answers carry GET's Content-Length ----

#[tokio::test]
async fn head_has_the_content_length_get_has() {
    let fx = Fixture::with(&[("allow-list", "true"), ("inline-limit", "1000")]).await;
    let (gw, base) = gateway(&fx, |_| {}).await;
    let c = client();
    for path in [
        "icons/logo.png",
        "nope.png",
        "icons/",
        "",
        "presign/icons/logo.png",
        "partnerimages/67/28/67286576.jpeg",
        "a//b",
        "icons/logo.png?w=0",
        "presign/icons/logo.png?method=PUT",
    ] {
        let url = format!("{base}{path}");
        let get = keyed_get(&c, &url, KEY).await;
        let get_status = get.status();
        let get_len = get.headers().get("content-length").cloned();
        let body_len = get.bytes().await.expect("body").len();
        let head = c
            .head(&url)
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), get_status, "{path}");
        let head_len = head.headers().get("content-length").cloned();
        assert!(head_len.is_some(), "HEAD {path}: no Content-Length");
        assert_eq!(head_len, get_len, "{path}");
        // A presigned URL's signature changes with its time; the lengths
        // of JSON bodies holding one may not, but every other body must.
        if !path.starts_with("presign") {
            assert_eq!(
                head_len.and_then(|v| v.to_str().ok().and_then(|s| s.parse::<usize>().ok())),
                Some(body_len),
                "{path}"
            );
        }
    }
    gw.shutdown().await;
}

// ---- 12. duplicate and malformed presign and listing parameters ----

#[tokio::test]
async fn duplicate_and_malformed_parameters_are_a_400() {
    let fx = Fixture::with(&[("allow-write", "true"), ("allow-list", "true")]).await;
    for (path, query, name) in [
        (
            "presign/a.jpg",
            &[("method", "PUT"), ("method", "GET")][..],
            "method",
        ),
        (
            "presign/a.jpg",
            &[
                ("method", "PUT"),
                ("contentLength", "1"),
                ("contentLength", "2"),
            ],
            "contentLength",
        ),
        (
            "presign/a.jpg",
            &[("method", "PUT"), ("contentType", "a")],
            "contentType",
        ),
        (
            "presign/a.jpg",
            &[("method", "PUT"), ("contentType", "image/")],
            "contentType",
        ),
        (
            "presign/a.jpg",
            &[("method", "PUT"), ("contentType", "image/png;")],
            "contentType",
        ),
        ("icons/", &[("limit", "1"), ("limit", "2")], "limit"),
        ("icons/", &[("token", "a"), ("token", "b")], "token"),
    ] {
        let w = fx.run(with_query(path, query)).await;
        w.assert_error(400, "BadRequest", &format!("{path} {query:?}"));
        assert!(w.message().starts_with(name), "{query:?}: {}", w.message());
    }
    for good in ["image/png", "image/svg+xml", "text/plain; charset=utf-8"] {
        let w = fx
            .run(with_query(
                "presign/a.jpg",
                &[("method", "PUT"), ("contentType", good)],
            ))
            .await;
        assert_eq!(w.status, 200, "{good}: {w:?}");
    }
}

// ---- 13. an event that is not a REST proxy event ----

#[test]
fn invoke_refuses_events_that_are_not_rest_proxy_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [
        ("array.json", "[]"),
        ("empty.json", "{}"),
        ("number.json", "3"),
        ("no-context.json", r#"{"httpMethod":"GET","path":"/a.png"}"#),
        ("no-method.json", r#"{"path":"/a.png","requestContext":{}}"#),
        (
            "method-number.json",
            r#"{"httpMethod":7,"path":"/a.png","requestContext":{}}"#,
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
            .args(["invoke", path.to_str().expect("path")])
            .current_dir(repo())
            .output()
            .expect("s3gate runs");
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        assert!(out.stdout.is_empty(), "{name}: printed a response");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("REST proxy event"), "{name}: {err}");
    }
}

// ---- 14. the local gateway bounds slow and idle clients ----

fn raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(bytes).expect("write");
    s
}

/// Reads until the peer closes; the text read and how long it took.
fn until_closed(mut s: TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "still open after {:?} ({e}); read {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let fx = Fixture::new().await;
    let (gw, _) = gateway(&fx, |g| {
        g.header_read_timeout = Duration::from_secs(1);
        g.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = gw.addr();
    let results = tokio::task::spawn_blocking(move || {
        // Partial headers, then nothing: closed by the header timeout.
        let partial = raw(
            addr,
            b"GET /dev/icons/logo.png HTTP/1.1\r\nHost: x\r\nx-api",
        );
        let (_, took) = until_closed(partial, Duration::from_secs(8));
        assert!(
            took < Duration::from_secs(4),
            "partial headers held {took:?}"
        );
        // Connected and silent: the same.
        let idle = TcpStream::connect(addr).expect("connect");
        let (_, took) = until_closed(idle, Duration::from_secs(8));
        assert!(
            took < Duration::from_secs(4),
            "an idle socket held {took:?}"
        );
        // Content-Length: 100, 3 bytes sent: a 408 JSON, then closed.
        let head = format!(
            "PUT /dev/a.bin HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\nContent-Length: 100\r\n\r\nabc"
        );
        let short = raw(addr, head.as_bytes());
        let (text, took) = until_closed(short, Duration::from_secs(8));
        assert!(took < Duration::from_secs(4), "a short body held {took:?}");
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("{\"message\":"), "{text}");
        // A declared body over 10 MB: 413 at once, nothing read.
        let head = format!(
            "PUT /dev/a.bin HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\nContent-Length: 10485761\r\n\r\n"
        );
        let big = raw(addr, head.as_bytes());
        let (text, took) = until_closed(big, Duration::from_secs(8));
        assert!(took < Duration::from_millis(900), "413 took {took:?}");
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(text.contains("{\"message\":"), "{text}");
    });
    results.await.expect("checks");
    gw.shutdown().await;
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_thousand_idle_sockets_do_not_lock_out_a_keyed_get() {
    let (mut child, base) = spawn_serve(&["--api-key", KEY], &[]);
    let pid = child.id();
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host")
        .parse()
        .expect("addr");
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // Let the server accept all of them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let resp = client()
        .get(format!("{base}icons/logo.png"))
        .header("x-api-key", KEY)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("a keyed GET answers with 1,000 idle sockets open");
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let rss = rss_kib(pid);
    assert!(
        rss > 0 && rss < 100 * 1024,
        "RSS {rss} KiB with 1,000 sockets"
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}

// ---- 15. API Gateway's own answers, limits and methods ----

#[tokio::test]
async fn gateway_answers_carry_cors_and_limits_are_json() {
    let fx = Fixture::with(&[("cors-origin", "https://app.example.com")]).await;
    let (gw, base) = gateway(&fx, |g| {
        g.quota_limit = 1;
    })
    .await;
    let c = client();
    let url = format!("{base}icons/logo.png");
    // No key: API Gateway's 403, with the origin the template gives it.
    let resp = c.get(&url).send().await.expect("GET");
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // The function's own 404 varies by origin too (a named origin).
    let resp = keyed_get(&c, format!("{base}nope.png"), KEY).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["vary"], "Origin");
    // The quota (1, and the 404 above used it): API Gateway's 429.: the second request is API Gateway's 429.
    let _ = c.get(&url).header("x-api-key", KEY).send().await;
    let resp = keyed_get(&c, &url, KEY).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    gw.shutdown().await;

    let fx = Fixture::new().await;
    let (gw, base) = gateway(&fx, |_| {}).await;
    // A path past API Gateway's 10,240 characters never reaches the function.
    for len in [10_300, 65_000] {
        let resp = c
            .get(format!("{base}{}", "a".repeat(len)))
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), 414, "{len}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body: Value = serde_json::from_slice(&resp.bytes().await.expect("b")).expect("json");
        assert!(body["message"].is_string(), "{body}");
    }
    // Headers past the limit: 431 JSON, not hyper's empty answer.
    let resp = c
        .get(format!("{base}icons/logo.png"))
        .header("x-api-key", KEY)
        .header("x-pad", "p".repeat(20_000))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 431);
    assert_eq!(resp.headers()["content-type"], "application/json");
    // A lower-case method and a request without Host are not served.
    let addr = gw.addr();
    let texts = tokio::task::spawn_blocking(move || {
        let lower = raw(
            addr,
            format!("get /dev/icons/logo.png HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let no_host = raw(
            addr,
            format!("GET /dev/icons/logo.png HTTP/1.1\r\nx-api-key: {KEY}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        (
            until_closed(lower, Duration::from_secs(5)).0,
            until_closed(no_host, Duration::from_secs(5)).0,
        )
    })
    .await
    .expect("raw requests");
    assert!(!texts.0.starts_with("HTTP/1.1 200"), "get: {}", texts.0);
    assert!(texts.0.contains("{\"message\":"), "{}", texts.0);
    assert!(texts.1.starts_with("HTTP/1.1 400"), "no Host: {}", texts.1);
    gw.shutdown().await;
}

// ---- 16. serve's start-up ----

fn spawn_serve(args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, String) {
    crate::gateway::spawn_serve(args, env)
}

#[test]
fn serve_without_data_outside_a_checkout_fails_clearly() {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(empty.path())
        .env_remove("S3GATE_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("s3gate runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started with no ./sample-data and no --data");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2), "{status}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(err.contains("--data"), "{err}");
}

#[test]
fn serve_reports_every_problem_and_warns_about_useless_settings() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--stage",
            "no spaces",
            "--inline-limit",
            "lots",
            "--api-key",
            "zq9xk",
            // An unset variable, `--admin-api-key "$ADMIN"`: not dropped
            // quietly (a new user's walk through the README).
            "--admin-api-key",
            "",
        ])
        .current_dir(repo())
        .env_remove("S3GATE_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("s3gate runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "--stage",
        "inline-limit",
        "API key",
        "--admin-api-key: an empty key",
    ] {
        assert!(err.contains(needle), "{needle} not reported: {err}");
    }
    assert!(!err.contains("zq9"), "an error echoes part of a key: {err}");
}

#[tokio::test]
async fn serve_warns_about_a_missing_bucket_and_a_zero_rate() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--bucket",
        "nope",
        "--rate-limit",
        "0",
        "--api-key",
        KEY,
    ])
    .current_dir(repo())
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("starts");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\"nope\""),
        "no word about the bucket: {text}"
    );
    assert!(text.contains("rate"), "no word about the zero rate: {text}");
    assert!(
        !text.contains(KEY),
        "the banner prints a key the user supplied: {text}"
    );
}

#[test]
fn serve_survives_a_closed_stdout() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--api-key", KEY])
        .current_dir(repo())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    // `serve | head -1`: one line read, then the pipe is closed.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).expect("a line");
    drop(stdout);
    std::thread::sleep(Duration::from_millis(500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "serve exited with {status} after its stdout closed"
    );
}

// ---- 3, 4, 9. the command line client ----

async fn cli(args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(args)
        .env_remove("S3GATE_URL")
        .env_remove("S3GATE_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("s3gate runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn the_cli_refuses_keys_the_api_refuses_before_any_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"x").expect("write");
    let file = file.to_str().expect("path").to_string();
    // Nothing listens at this URL: a request would fail as "cannot reach".
    let url = format!("http://127.0.0.1:{}/dev", closed_port());
    for args in [
        vec!["put", "uploads/../icons/victim.txt", &file],
        vec!["get", "x/../icons/logo.png"],
        vec!["get", "./icons/logo.png"],
        vec!["get", "a//b.png"],
        vec!["get", "/etc/passwd"],
        vec!["put", "a/./b.txt", &file],
    ] {
        let mut all = args.clone();
        all.extend(["--url", &url, "--api-key", KEY]);
        let (code, err) = cli(&all).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("key"), "{args:?}: {err}");
        assert!(
            !err.contains("cannot reach"),
            "{args:?} made a request: {err}"
        );
    }
}

/// An "API" that answers every presign with a URL on a closed port,
/// carrying a signature and a credential.
async fn presign_api() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let base = format!("http://{}/dev", listener.local_addr().expect("addr"));
    let dead = closed_port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let body = serde_json::json!({
                    "URL": format!("http://127.0.0.1:{dead}/images/k.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAFAKECREDENTIAL%2F20261203%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=deadbeefsignature0123456789"),
                    "Method": "PUT",
                    "Header": {},
                    "ExpiresAt": "2026-12-03T00:00:00Z"
                })
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (base, task)
}

#[tokio::test]
async fn cli_errors_never_print_a_signed_url() {
    let (base, task) = presign_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"bytes").expect("write");
    let out = dir.path().join("out.bin");
    for args in [
        vec!["put", "k.bin", file.to_str().expect("p")],
        vec!["get", "k.bin", "-o", out.to_str().expect("p")],
        vec!["get", "k.bin"],
    ] {
        let mut all = args.clone();
        all.extend(["--url", &base, "--api-key", KEY]);
        let (code, err) = cli(&all).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        for secret in ["deadbeefsignature", "AKIAFAKECREDENTIAL", "X-Amz-", KEY] {
            assert!(!err.contains(secret), "{args:?}: {secret} in {err}");
        }
    }
    task.abort();
}

#[tokio::test]
async fn the_cli_uploads_and_checks_an_empty_file() {
    let fx = Fixture::with(&[("allow-write", "true")]).await;
    let (gw, base) = gateway(&fx, |_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").expect("write");
    let (code, err) = cli(&[
        "put",
        "uploads/empty.bin",
        empty.to_str().expect("p"),
        "--url",
        base.trim_end_matches('/'),
        "--api-key",
        KEY,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let w = fx.get("uploads/empty.bin").await;
    assert_eq!((w.status, w.body.len()), (200, 0));
    let out = dir.path().join("back.bin");
    let (code, err) = cli(&[
        "get",
        "uploads/empty.bin",
        "-o",
        out.to_str().expect("p"),
        "--url",
        base.trim_end_matches('/'),
        "--api-key",
        KEY,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&out).expect("read").len(), 0);
    gw.shutdown().await;
}

// ---- 10. images that end early, decoder text, the side limit ----

/// Offset of the first byte after the SOS segment (the entropy-coded data).
fn scan_data_start(jpeg: &[u8]) -> usize {
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        let marker = jpeg[at + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if marker == 0xDA {
            return at + 2 + len;
        }
        at += 2 + len;
    }
    panic!("no SOS");
}

#[tokio::test]
async fn jpegs_that_end_early() {
    let fx = Fixture::new().await;
    let whole = crate::transforms::noisy_jpeg(800, 600);
    assert_eq!(&whole[whole.len() - 2..], &[0xFF, 0xD9]);
    // Only the EOI marker missing: the picture is complete; browsers show it.
    fx.put(
        "e/no-eoi.jpg",
        whole[..whole.len() - 2].to_vec(),
        Some("image/jpeg"),
    )
    .await;
    let w = fx.run(with_query("e/no-eoi.jpg", &[("w", "100")])).await;
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    assert_eq!(crate::transforms::decoded(&w.body), ("jpeg", 100, 75));
    // The scan cut in its first third: rows are missing, so a 422.
    let start = scan_data_start(&whole);
    let cut = start + (whole.len() - start) / 3;
    fx.put("e/cut.jpg", whole[..cut].to_vec(), Some("image/jpeg"))
        .await;
    let w = fx.run(with_query("e/cut.jpg", &[("w", "100")])).await;
    w.assert_error(422, "UnprocessableImage", "a scan that ends early");
    // A tiny file whose header claims 7000×7000.
    let mut liar = jpeg(64, 64, None);
    let sof = liar
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("SOF0");
    liar[sof + 5..sof + 9].copy_from_slice(&[0x1B, 0x58, 0x1B, 0x58]);
    let start = scan_data_start(&liar);
    liar.truncate(start + 200);
    fx.put("e/liar.jpg", liar, Some("image/jpeg")).await;
    let w = fx.run(with_query("e/liar.jpg", &[("w", "100")])).await;
    w.assert_error(
        422,
        "UnprocessableImage",
        "7000×7000 in a few hundred bytes",
    );
}

#[tokio::test]
async fn decoder_text_stays_in_the_log() {
    let fx = Fixture::new().await;
    // A JPEG whose scan data is noise the decoder refuses, and a PNG whose
    // pixel data is damaged (its CRC no longer matches).
    let mut bad_jpeg = jpeg(64, 64, None);
    let start = scan_data_start(&bad_jpeg);
    let end = bad_jpeg.len() - 2;
    for (i, b) in bad_jpeg[start..end].iter_mut().enumerate() {
        *b = if i % 2 == 0 { 0xFF } else { 0x13 };
    }
    let mut bad_png = crate::transforms::png_rgb(32, 32);
    let n = bad_png.len();
    for b in &mut bad_png[n - 40..n - 16] {
        *b ^= 0x5A;
    }
    // What the codecs themselves say about them.
    let jpeg_text = jpeg_decoder::Decoder::new(bad_jpeg.as_slice())
        .decode()
        .expect_err("the JPEG is refused")
        .to_string();
    let png_text = {
        let mut r = png::Decoder::new(std::io::Cursor::new(bad_png.as_slice()))
            .read_info()
            .expect("header");
        let mut buf = vec![0; r.output_buffer_size().expect("size")];
        r.next_frame(&mut buf)
            .expect_err("the PNG is refused")
            .to_string()
    };
    fx.put("e/bad.jpg", bad_jpeg, Some("image/jpeg")).await;
    fx.put("e/bad.png", bad_png, Some("image/png")).await;
    for (key, text) in [("e/bad.jpg", jpeg_text), ("e/bad.png", png_text)] {
        let w = fx.run(with_query(key, &[("w", "10")])).await;
        w.assert_error(422, "UnprocessableImage", key);
        let m = w.message();
        assert!(
            !m.contains(&text),
            "{key}: the decoder's text {text:?} in {m:?}"
        );
        assert!(m.contains("damaged"), "{key}: {m}");
    }
}

#[tokio::test]
async fn the_side_limit_is_named_when_it_is_the_reason() {
    let fx = Fixture::new().await;
    fx.put(
        "e/tall.png",
        crate::transforms::png_rgb(1, 20_000),
        Some("image/png"),
    )
    .await;
    let w = fx.run(with_query("e/tall.png", &[("w", "100")])).await;
    assert_eq!(w.status, 422, "{w:?}");
    let m = w.message();
    assert!(!m.contains("give w or h"), "{m}");
    assert!(m.contains("4096"), "{m}");
}

// ---- the same classes, found elsewhere ----

/// A presigned DELETE of a key naming a folder (item 5's class): S3 answers
/// 204 for a key it does not have; the folder and its files stay.
#[tokio::test]
async fn deleting_a_folders_name_is_a_no_op() {
    let fx = Fixture::new().await;
    let presigned = fx
        .app
        .store
        .presigned("DELETE", "icons", Duration::from_secs(60), None, None)
        .await
        .expect("presign");
    let resp = client()
        .delete(&presigned.url)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(resp.status(), 204);
    assert_eq!(fx.get("icons/logo.png").await.status, 200);
}

/// The embedded store is a server too (item 14's class): a client that
/// never finishes its headers is closed.
#[tokio::test]
async fn the_embedded_store_closes_a_stalled_client() {
    let fx = Fixture::new().await;
    let addr = fx._store.addr();
    let (_, took) = tokio::task::spawn_blocking(move || {
        let s = raw(addr, b"GET /images/icons/logo.png HTTP/1.1\r\nHost: x\r\n");
        until_closed(s, Duration::from_secs(20))
    })
    .await
    .expect("raw");
    assert!(took < Duration::from_secs(15), "held {took:?}");
}

/// `s3gate sign` signs only keys the API accepts (item 3's class).
#[tokio::test]
async fn sign_refuses_keys_the_api_refuses() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["sign", "a/../icons/logo.png", "w=10"])
        .env("S3GATE_SIGNING_SECRET", "0123456789abcdef0123456789abcdef")
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key"));
}
