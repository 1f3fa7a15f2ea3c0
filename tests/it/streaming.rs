//! Stream mode (`response-mode = stream`): the real `s3gate-lambda` binary
//! against the tests' Runtime API server (`runtime.rs`), which reads chunked
//! streaming responses (prelude, 8 NUL bytes, raw body, trailers); a store that dies
//! mid-body through the fault proxy; the same answers in both modes; and
//! `s3gate serve --response-mode stream` relaying 50 MiB to curl.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use s3gate::local::EmbeddedStore;
use serde_json::Value;

use crate::fault_proxy::{Fault, FaultProxy};
use crate::runtime::{Posted, RuntimeApi, runtime_api};
use crate::support::{Fixture, Wire, event, keyed_get, load_event};

impl Posted {
    /// The prelude (JSON) and the raw body after the 8 NUL bytes.
    fn split(&self) -> (Value, &[u8]) {
        let at = self
            .body
            .windows(8)
            .position(|w| w == [0u8; 8])
            .unwrap_or_else(|| {
                panic!(
                    "no delimiter in {:?}",
                    String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
                )
            });
        let prelude = serde_json::from_slice(&self.body[..at]).expect("the prelude is JSON");
        (prelude, &self.body[at + 8..])
    }
}

/// The function in stream mode. `s3_timeout` in seconds: objects written
/// straight into the store's folder have no stored ETag, so s3s-fs hashes
/// the whole file before it answers.
fn function(
    api: SocketAddr,
    endpoint: &str,
    store: &EmbeddedStore,
    s3_timeout: &str,
) -> tokio::process::Child {
    crate::runtime::function(
        api,
        store,
        &[
            ("AWS_ENDPOINT_URL", endpoint),
            ("S3GATE_RESPONSE_MODE", "stream"),
            ("S3GATE_STREAM_LIMIT", "104857600"),
            ("S3GATE_S3_TIMEOUT", s3_timeout),
        ],
    )
}

async fn next_post(api: &mut RuntimeApi) -> Posted {
    tokio::time::timeout(Duration::from_secs(60), api.posts.recv())
        .await
        .expect("the function posts within 60 s")
        .expect("a post")
}

/// Deterministic bytes that look like nothing in particular.
fn bytes(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[tokio::test]
async fn the_function_streams_objects_byte_identical() {
    let fx = Fixture::new().await;
    let sizes = [0usize, 1, 5 * 1024 * 1024, 50 * 1024 * 1024];
    for &n in &sizes {
        fx.write(&format!("stream/{n}.bin"), &bytes(n));
    }
    let mut events: Vec<String> = sizes
        .iter()
        .map(|n| event("GET", &format!("stream/{n}.bin")).to_string())
        .collect();
    events.push(load_event("not-found.json").to_string());
    events.push(load_event("head-object.json").to_string());
    let mut api = runtime_api(events).await;
    let mut child = function(api.addr, &fx._store.endpoint(), &fx._store, "15");
    for &n in &sizes {
        let p = next_post(&mut api).await;
        assert!(p.path.ends_with("/response"), "{n}: {}", p.path);
        assert_eq!(
            p.headers["lambda-runtime-function-response-mode"],
            "streaming"
        );
        assert_eq!(
            p.headers["content-type"],
            "application/vnd.awslambda.http-integration-response"
        );
        let declared: Vec<_> = p.headers.get_all("trailer").iter().collect();
        assert_eq!(declared.len(), 2, "{n}: trailers declared: {declared:?}");
        let (prelude, body) = p.split();
        assert_eq!(prelude["statusCode"], 200, "{n}: {prelude}");
        assert_eq!(prelude["headers"]["Content-Length"], n.to_string(), "{n}");
        assert_eq!(
            prelude["headers"]["Content-Type"],
            "application/octet-stream"
        );
        assert!(prelude["cookies"].is_array(), "{prelude}");
        assert!(
            body == bytes(n),
            "{n}: the streamed body differs ({} bytes)",
            body.len()
        );
        assert!(
            p.trailers.as_ref().is_none_or(|t| t.is_empty()),
            "{n}: error trailers on a good stream: {:?}",
            p.trailers
        );
    }
    // An error before the first body byte is an ordinary prelude with JSON.
    let p = next_post(&mut api).await;
    let (prelude, body) = p.split();
    assert_eq!(prelude["statusCode"], 404);
    let json: Value = serde_json::from_slice(body).expect("a JSON error body");
    assert_eq!(json["code"], "NotFound");
    // HEAD: the headers, no body.
    let p = next_post(&mut api).await;
    let (prelude, body) = p.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["Content-Length"], "1792");
    assert!(body.is_empty());
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn a_store_that_dies_mid_body_gives_the_error_trailers() {
    let fx = Fixture::new().await;
    let size = 2 * 1024 * 1024;
    fx.write("stream/dies.bin", &bytes(size));
    let proxy = FaultProxy::start(fx._store.addr()).await;
    let mut api = runtime_api(vec![
        event("GET", "stream/dies.bin").to_string(),
        event("GET", "stream/dies.bin").to_string(),
    ])
    .await;
    proxy.fail_every(Fault::Truncate(300_000));
    let mut child = function(api.addr, &proxy.endpoint(), &fx._store, "2");
    let p = next_post(&mut api).await;
    let (prelude, body) = p.split();
    assert_eq!(prelude["statusCode"], 200, "the headers went out first");
    assert_eq!(prelude["headers"]["Content-Length"], size.to_string());
    assert!(body.len() < size, "a cut body must not look whole");
    assert!(
        *body == bytes(size)[..body.len()],
        "what was sent is the object's start"
    );
    let trailers = p.trailers.expect("error trailers");
    assert!(
        trailers
            .get("lambda-runtime-function-error-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("S3gate.")),
        "{trailers:?}"
    );
    let b64 = trailers["lambda-runtime-function-error-body"]
        .to_str()
        .expect("ascii");
    let decoded = base64_simd::STANDARD.decode_to_vec(b64).expect("base64");
    let report: Value = serde_json::from_slice(&decoded).expect("a JSON error");
    assert!(
        report["errorType"].is_string() && report["errorMessage"].is_string(),
        "{report}"
    );
    // The process goes on: a whole object once the store is well again.
    proxy.pass();
    let p = next_post(&mut api).await;
    let (prelude, body) = p.split();
    assert_eq!(prelude["statusCode"], 200);
    assert!(body == bytes(size));
    child.kill().await.expect("kill");
}

/// What an answer is, apart from the request id and presigned URLs: status,
/// headers and body bytes.
fn comparable(w: &Wire) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = w
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()))
        .filter(|(k, _)| k != "location")
        .collect();
    headers.sort();
    let body = if w.header("content-type") == Some("application/json") {
        // The request id and any URL differ; the shape does not.
        let mut v: Value = serde_json::from_slice(&w.body).unwrap_or(Value::Null);
        for field in ["requestId", "URL", "location", "ExpiresAt", "Header"] {
            if let Some(o) = v.as_object_mut() {
                o.remove(field);
            }
        }
        v.to_string().into_bytes()
    } else {
        w.body.clone()
    };
    (w.status, headers, body)
}

#[tokio::test]
async fn both_modes_answer_every_request_the_same() {
    let settings = |mode| {
        vec![
            ("response-mode", mode),
            ("cors-origin", "https://app.example.com"),
            ("allow-list", "true"),
            ("inline-limit", "2000"),
            ("stream-limit", "2000"),
        ]
    };
    // One store, two functions: one buffered, one streaming.
    let buffered = Fixture::with(&settings("buffered")).await;
    let cfg = crate::support::config(&settings("stream"));
    let streamed = s3gate::App::new(cfg.clone(), buffered._store.s3_store(&cfg).await);
    let jpeg = "partnerimages/67/28/67286576.jpeg";
    let etag = buffered
        .get(jpeg)
        .await
        .header("etag")
        .expect("etag")
        .to_string();
    let with = |ev: Value, name: &str, value: &str| {
        let mut ev = ev;
        ev["headers"][name] = value.into();
        ev["multiValueHeaders"][name] = serde_json::json!([value]);
        ev
    };
    let cases: Vec<(&str, Value)> = vec![
        ("GET", event("GET", jpeg)),
        ("HEAD", event("HEAD", jpeg)),
        ("304", with(event("GET", jpeg), "If-None-Match", &etag)),
        ("412", with(event("GET", jpeg), "If-Match", "\"nope\"")),
        ("206", with(event("GET", jpeg), "Range", "bytes=10-99")),
        ("206 suffix", with(event("GET", jpeg), "Range", "bytes=-50")),
        ("416", with(event("GET", jpeg), "Range", "bytes=9999-")),
        (
            "If-Range",
            with(
                with(event("GET", jpeg), "Range", "bytes=0-9"),
                "If-Range",
                "\"old\"",
            ),
        ),
        ("404", event("GET", "nope.png")),
        ("400", event("GET", "a/../b")),
        ("405", event("POST", jpeg)),
        ("OPTIONS", event("OPTIONS", jpeg)),
        ("listing", event("GET", "icons/")),
        ("presign", event("GET", &format!("presign/{jpeg}"))),
        (
            "over the limit",
            event("GET", "partnerimages/67/28/67286577.jpeg"),
        ),
        (
            "transform",
            crate::transforms::with_query("partnerimages/67/28/67286577.jpeg", &[("w", "40")]),
        ),
        ("svg", event("GET", "icons/logo.svg")),
    ];
    for (label, ev) in cases {
        let a = comparable(&buffered.run(ev.clone()).await);
        let b = comparable(&crate::support::run_on(&streamed, ev).await);
        assert_eq!(a.0, b.0, "{label}: status");
        assert_eq!(a.1, b.1, "{label}: headers");
        assert!(a.2 == b.2, "{label}: bodies differ");
    }
}

#[tokio::test]
async fn serve_streams_50_mib_to_curl_without_a_redirect() {
    if !crate::gateway::curl_available() {
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(data.path().join("images/big")).expect("mkdir");
    let object = bytes(50 * 1024 * 1024);
    std::fs::write(data.path().join("images/big/50m.bin"), &object).expect("write");
    let key = "stream-key-0123456789abcdef";
    let (mut child, base) = crate::gateway::spawn_serve(
        &[
            "--data",
            data.path().to_str().expect("path"),
            "--api-key",
            key,
            "--response-mode",
            "stream",
            "--stream-limit",
            "104857600",
        ],
        &[],
    );
    let out = data.path().join("out.bin");
    let run = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-H",
            &format!("x-api-key: {key}"),
        ])
        .args([
            "-o",
            out.to_str().expect("path"),
            "-w",
            "%{http_code} %{num_redirects}",
        ])
        .arg(format!("{base}big/50m.bin"))
        .output()
        .await
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "200 0", "{run:?}");
    assert!(
        std::fs::read(&out).expect("read") == object,
        "50 MiB differ"
    );
    // A HEAD through the same gateway: the size, no body.
    let resp = crate::support::client()
        .head(format!("{base}big/50m.bin"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(resp.headers()["content-length"], object.len().to_string());
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_local_gateway_cuts_a_stream_that_fails() {
    use s3gate::local::gateway::{Gateway, GatewayConfig};
    let fx = Fixture::new().await;
    let size = 2 * 1024 * 1024;
    fx.write("stream/dies.bin", &bytes(size));
    let proxy = FaultProxy::start(fx._store.addr()).await;
    proxy.fail_every(Fault::Truncate(300_000));
    // The same store, reached through the proxy.
    let cfg = crate::support::config(&[("response-mode", "stream"), ("s3-timeout", "2")]);
    let sdk = fx
        ._store
        .sdk_config(&cfg)
        .await
        .into_builder()
        .endpoint_url(proxy.endpoint())
        .build();
    let app = s3gate::App::new(cfg.clone(), s3gate::storage::S3Store::new(&sdk, &cfg));
    let key = "stream-key-0123456789abcdef";
    let gw = Gateway::start(
        app,
        GatewayConfig::dev(vec![key.to_string()]),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway");
    let resp = keyed_get(
        &crate::support::client(),
        format!("http://{}/dev/stream/dies.bin", gw.addr()),
        key,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], size.to_string());
    let read = resp.bytes().await;
    assert!(
        read.is_err(),
        "a body cut short must not read as a whole answer: {:?}",
        read.map(|b| b.len())
    );
    gw.shutdown().await;
}

#[test]
fn invoke_in_stream_mode_prints_the_prelude_and_writes_the_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("body.bin");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args([
            "invoke",
            "events/stream-object.json",
            "--response-mode",
            "stream",
            "--body",
            out.to_str().expect("path"),
        ])
        .current_dir(crate::support::repo())
        .output()
        .expect("s3gate runs");
    assert!(run.status.success(), "{run:?}");
    let prelude: Value = serde_json::from_slice(&run.stdout).expect("the prelude on stdout");
    assert_eq!(prelude["statusCode"], 200);
    assert!(
        prelude["headers"]["Content-Length"].is_string(),
        "{prelude}"
    );
    assert_eq!(
        std::fs::read(&out).expect("body"),
        crate::support::sample("partnerimages/67/28/67286577.jpeg")
    );
}

/// Stored headers that make a prelude over 16 KiB (where API Gateway reads
/// it) give a 413 JSON: in the function, and the same in `serve` and
/// `invoke` (a hostile pass found only the function checking).
#[tokio::test]
async fn a_prelude_over_16_kib_is_a_413_in_the_function_serve_and_invoke() {
    use s3gate::local::gateway::{Gateway, GatewayConfig};
    let fx = Fixture::with(&[("response-mode", "stream")]).await;
    let long = format!("public, max-age=60, x-pad=\"{}\"", "p".repeat(20_000));
    fx.app
        .store
        .client()
        .put_object()
        .bucket("images")
        .key("padded.txt")
        .cache_control(&long)
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("put");
    let too_large = |status: u64, body: &[u8], what: &str| {
        assert_eq!(status, 413, "{what}");
        let json: Value = serde_json::from_slice(body).expect("a JSON body");
        assert_eq!(json["code"], "HeadersTooLarge", "{what}: {json}");
        assert!(
            !json["requestId"].as_str().unwrap_or_default().is_empty(),
            "{what}: {json}"
        );
    };

    // The function.
    let mut api = runtime_api(vec![event("GET", "padded.txt").to_string()]).await;
    let mut child = function(api.addr, &fx._store.endpoint(), &fx._store, "15");
    let p = next_post(&mut api).await;
    let (prelude, body) = p.split();
    too_large(
        prelude["statusCode"].as_u64().expect("status"),
        body,
        "the function",
    );
    child.kill().await.expect("kill");

    // serve.
    let key = "prelude-key-0123456789abcdef";
    let gw = Gateway::start(
        fx.app.clone(),
        GatewayConfig::dev(vec![key.to_string()]),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway");
    let resp = keyed_get(
        &crate::support::client(),
        format!("http://{}/dev/padded.txt", gw.addr()),
        key,
    )
    .await;
    let status = u64::from(resp.status().as_u16());
    let body = resp.bytes().await.expect("body");
    too_large(status, &body, "serve");
    // HEAD: the same status and Content-Length, no body.
    let head = crate::support::client()
        .head(format!("http://{}/dev/padded.txt", gw.addr()))
        .header("x-api-key", key)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 413);
    assert_eq!(head.headers()["content-length"], body.len().to_string());
    gw.shutdown().await;

    // invoke, on the same data.
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("event.json");
    std::fs::write(&ev, event("GET", "padded.txt").to_string()).expect("write");
    let out = dir.path().join("body.bin");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .arg("invoke")
        .arg(&ev)
        .args(["--response-mode", "stream", "--data"])
        .arg(fx.dir.path())
        .arg("--body")
        .arg(&out)
        .output()
        .await
        .expect("s3gate runs");
    assert!(run.status.success(), "{run:?}");
    let prelude: Value = serde_json::from_slice(&run.stdout).expect("the prelude on stdout");
    too_large(
        prelude["statusCode"].as_u64().expect("status"),
        &std::fs::read(&out).expect("body"),
        "invoke",
    );
}

/// `--body` belongs to stream mode, and never overwrites the event.
#[test]
fn invoke_refuses_a_body_file_it_cannot_use() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
            .arg("invoke")
            .args(args)
            .current_dir(crate::support::repo())
            .output()
            .expect("s3gate runs")
    };
    let buffered = run(&["events/get-object.json", "--body", "-"]);
    assert_eq!(buffered.status.code(), Some(2), "{buffered:?}");
    assert!(String::from_utf8_lossy(&buffered.stderr).contains("stream mode"));
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("event.json");
    let text =
        std::fs::read(crate::support::repo().join("events/stream-object.json")).expect("event");
    std::fs::write(&ev, &text).expect("write");
    let evs = ev.to_str().expect("path");
    let same = run(&[evs, "--response-mode", "stream", "--body", evs]);
    assert_eq!(same.status.code(), Some(2), "{same:?}");
    assert_eq!(
        std::fs::read(&ev).expect("event"),
        text,
        "the event is untouched"
    );
    // An event from a pipe and a body file that does not exist yet are not
    // the same file (a review found them refused).
    let out = dir.path().join("new-body.bin");
    let mut piped = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args([
            "invoke",
            "/dev/stdin",
            "--response-mode",
            "stream",
            "--body",
        ])
        .arg(&out)
        .current_dir(crate::support::repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("s3gate runs");
    {
        use std::io::Write;
        let mut stdin = piped.stdin.take().expect("stdin");
        stdin.write_all(&text).expect("write the event");
    }
    let done = piped.wait_with_output().expect("s3gate ends");
    assert!(done.status.success(), "{done:?}");
    assert!(!std::fs::read(&out).expect("the body").is_empty());
}
