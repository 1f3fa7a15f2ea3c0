//! The function binary as Lambda runs it: a real `s3gate-lambda` process
//! against a small Runtime API server (hyper, in the test) and the embedded
//! store. Checks the response it posts, the `/error` report for an event
//! that is not an API Gateway event, and `/init/error` for a bad setting.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use s3gate::local::EmbeddedStore;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::support::{load_event, repo, sample, wire_from_json};

/// Hands out `events` in order on `/next` (then holds the call open, as
/// Lambda does between invokes) and reports every POST whole ([`Posted`]:
/// path, headers, body, trailers; `tests/it/streaming.rs` uses it too).
/// Each event gets an invocation id `inv-N` and a deadline `deadline_ms`
/// from now (Lambda's headers); a POST without the matching invocation id
/// is reported with a `!` in front of its path. With `refuse`, the first
/// response POST gets a 413, as Lambda answers one over 6 MB.
pub(crate) struct RuntimeApi {
    pub addr: SocketAddr,
    pub posts: mpsc::UnboundedReceiver<Posted>,
}

/// One POST the function made: its path, headers, body bytes and trailers.
pub(crate) struct Posted {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: Option<HeaderMap>,
}

pub(crate) async fn runtime_api(events: Vec<String>) -> RuntimeApi {
    runtime_api_with(events, 60_000, false).await
}

async fn runtime_api_with(events: Vec<String>, deadline_ms: u64, refuse: bool) -> RuntimeApi {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, posts) = mpsc::unbounded_channel();
    let queue = Arc::new(Mutex::new(events.into_iter().enumerate()));
    let refused = Arc::new(Mutex::new(!refuse));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (tx, queue, refused) = (tx.clone(), queue.clone(), refused.clone());
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (tx, queue, refused) = (tx.clone(), queue.clone(), refused.clone());
                async move {
                    let path = req.uri().path().to_string();
                    if path == "/2018-06-01/runtime/invocation/next" {
                        let next = queue.lock().expect("queue").next();
                        let Some((n, event)) = next else {
                            std::future::pending::<()>().await;
                            unreachable!();
                        };
                        let deadline = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .expect("clock")
                            .as_millis() as u64
                            + deadline_ms;
                        return Ok::<_, Infallible>(
                            Response::builder()
                                .header("lambda-runtime-aws-request-id", format!("req-{n}"))
                                .header("lambda-runtime-invocation-id", format!("inv-{n}"))
                                .header("lambda-runtime-deadline-ms", deadline.to_string())
                                .body(Full::new(Bytes::from(event)))
                                .expect("response"),
                        );
                    }
                    // /invocation/req-N/... must carry inv-N.
                    let n = path
                        .split("/req-")
                        .nth(1)
                        .and_then(|r| r.split('/').next())
                        .map(str::to_string);
                    let echoed = req
                        .headers()
                        .get("lambda-runtime-invocation-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let path = match n {
                        Some(n) if echoed != Some(format!("inv-{n}")) => format!("!{path}"),
                        _ => path,
                    };
                    let refuse_this = path.ends_with("/response")
                        && !std::mem::replace(&mut *refused.lock().expect("lock"), true);
                    let (parts, body) = req.into_parts();
                    let (body, trailers) = match body.collect().await {
                        Ok(c) => {
                            let trailers = c.trailers().cloned();
                            (c.to_bytes().to_vec(), trailers)
                        }
                        Err(_) => (Vec::new(), None),
                    };
                    let _ = tx.send(Posted {
                        path,
                        headers: parts.headers,
                        body,
                        trailers,
                    });
                    Ok(Response::builder()
                        .status(if refuse_this { 413 } else { 202 })
                        .body(Full::new(Bytes::from_static(b"{}")))
                        .expect("response"))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    RuntimeApi { addr, posts }
}

/// `s3gate-lambda` against `api` and `store`, with Lambda's environment
/// only; `settings` are more variables (or replace these, e.g. the
/// endpoint).
pub(crate) fn function(
    api: SocketAddr,
    store: &EmbeddedStore,
    settings: &[(&str, &str)],
) -> tokio::process::Child {
    let (id, secret) = store.credentials();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate-lambda"));
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_ENDPOINT_URL", store.endpoint())
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("S3GATE_BUCKET", "images")
        .kill_on_drop(true);
    for (k, v) in settings {
        cmd.env(k, v);
    }
    cmd.spawn().expect("s3gate-lambda starts")
}

async fn next_post(api: &mut RuntimeApi) -> (String, Vec<u8>) {
    let p = tokio::time::timeout(Duration::from_secs(20), api.posts.recv())
        .await
        .expect("the function posts within 20 s")
        .expect("a post");
    (p.path, p.body)
}

async fn store() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = dir.path().join("images/partnerimages/67/28");
    std::fs::create_dir_all(&images).expect("mkdir");
    std::fs::copy(
        repo().join("sample-data/images/partnerimages/67/28/67286576.jpeg"),
        images.join("67286576.jpeg"),
    )
    .expect("copy");
    let store = EmbeddedStore::start(dir.path(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("store");
    (dir, store)
}

#[tokio::test]
async fn the_function_answers_events_and_reports_bad_ones() {
    let (_dir, store) = store().await;
    let events = vec![
        load_event("get-object.json").to_string(),
        "[1, 2, 3]".to_string(),
        load_event("not-found.json").to_string(),
    ];
    let mut api = runtime_api(events).await;
    let mut child = function(api.addr, &store, &[]);

    let (path, body) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-0/response");
    let wire = wire_from_json(std::str::from_utf8(&body).expect("utf-8"));
    assert_eq!(wire.status, 200);
    assert!(wire.base64);
    assert_eq!(wire.body, sample("partnerimages/67/28/67286576.jpeg"));

    let (path, body) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-1/error");
    let report: serde_json::Value = serde_json::from_slice(&body).expect("error JSON");
    assert_eq!(report["errorType"], "InvalidEvent", "{report}");

    // The process goes on after a bad event.
    let (path, body) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-2/response");
    let wire = wire_from_json(std::str::from_utf8(&body).expect("utf-8"));
    wire.assert_error(404, "NotFound", "missing object through the runtime loop");

    assert!(child.try_wait().expect("wait").is_none(), "still serving");
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn a_bad_setting_is_reported_on_init_error() {
    let (_dir, store) = store().await;
    let mut api = runtime_api(vec![]).await;
    let mut child = function(api.addr, &store, &[("S3GATE_INLINE_LIMIT", "lots")]);
    let (path, body) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/init/error");
    let report: serde_json::Value = serde_json::from_slice(&body).expect("error JSON");
    assert!(
        report["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("inline-limit")),
        "{report}"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert_eq!(status.code(), Some(2));
}

/// As Lambda: a refused response (413, over 6 MB) is Lambda's to report;
/// the process goes on with the next event. An invoke whose deadline is
/// nearer than the S3 timeout answers a 504 JSON before it.
#[tokio::test]
async fn a_refused_response_and_a_near_deadline_do_not_stop_the_function() {
    let (_dir, store) = store().await;
    let events = vec![load_event("get-object.json").to_string(); 2];
    let mut api = runtime_api_with(events, 60_000, true).await;
    let mut child = function(api.addr, &store, &[]);
    let (path, _) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-0/response");
    let (path, body) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-1/response");
    let wire = wire_from_json(std::str::from_utf8(&body).expect("utf-8"));
    assert_eq!(wire.status, 200, "served after the refused answer");
    child.kill().await.expect("kill");

    // 200 ms left (300 ms are kept for sending): a 504 at once, not a wait
    // for the 10 s S3 timeout.
    let mut api =
        runtime_api_with(vec![load_event("get-object.json").to_string()], 200, false).await;
    let mut child = function(api.addr, &store, &[]);
    let started = std::time::Instant::now();
    let (path, body) = next_post(&mut api).await;
    assert_eq!(path, "/2018-06-01/runtime/invocation/req-0/response");
    let wire = wire_from_json(std::str::from_utf8(&body).expect("utf-8"));
    wire.assert_error(504, "GatewayTimeout", "past the invoke's deadline");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    child.kill().await.expect("kill");
}

/// An object at the inline limit whose stored headers push the answer over
/// Lambda's 6,291,556 bytes gets a 413 JSON instead of a response Lambda
/// would refuse.
#[tokio::test]
async fn an_answer_over_lambdas_limit_becomes_a_413() {
    use s3gate::limits::{LAMBDA_RESPONSE_CAP, MAX_INLINE_LIMIT};
    let fx = crate::support::Fixture::new().await;
    let bytes = vec![7u8; MAX_INLINE_LIMIT as usize];
    let long = format!("public, max-age=60, x-pad=\"{}\"", "p".repeat(9000));
    fx.app
        .store
        .client()
        .put_object()
        .bucket("images")
        .key("big/padded.jpg")
        .cache_control(&long)
        .body(bytes.clone().into())
        .send()
        .await
        .expect("put");
    fx.put("big/plain.jpg", bytes.clone(), Some("image/jpeg"))
        .await;

    let event = |key: &str| -> s3gate::ProxyEvent {
        serde_json::from_value(crate::support::event("GET", key)).expect("event")
    };
    let plain = s3gate::lambda::runtime::answer(&fx.app, event("big/plain.jpg"), None).await;
    assert!(plain.len() as u64 <= LAMBDA_RESPONSE_CAP);
    assert_eq!(wire_from_json(&plain).body, bytes, "at the limit, inline");

    let padded = s3gate::lambda::runtime::answer(&fx.app, event("big/padded.jpg"), None).await;
    let wire = wire_from_json(&padded);
    wire.assert_error(413, "PayloadTooLarge", "headers push it over 6 MB");
    // What the handler alone would have sent is indeed over the limit.
    let raw = fx.app.handle_event(event("big/padded.jpg")).await.to_json();
    assert!(raw.len() as u64 > LAMBDA_RESPONSE_CAP, "{}", raw.len());
}

/// In Lambda the request line, with its EMF metrics, goes to stdout (the
/// stream CloudWatch documents for EMF), one line per invoke, cold start
/// first.
#[tokio::test]
async fn the_function_writes_its_metrics_to_stdout() {
    let (_dir, store) = store().await;
    let events = vec![
        load_event("get-object.json").to_string(),
        load_event("not-found.json").to_string(),
    ];
    let mut api = runtime_api(events).await;
    let (id, secret) = store.credentials();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_ENDPOINT_URL", store.endpoint())
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("S3GATE_BUCKET", "images")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("s3gate-lambda starts");
    next_post(&mut api).await;
    next_post(&mut api).await;
    // The lines are written before the response is posted; give the pipe
    // a moment, then stop the process and read what it wrote.
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.start_kill().expect("kill");
    let out = child.wait_with_output().await.expect("output");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("_aws").is_some())
        .collect();
    assert_eq!(lines.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        (&lines[0]["ColdStart"], &lines[1]["ColdStart"]),
        (&1.into(), &0.into())
    );
    assert_eq!(
        (&lines[0]["StatusClass"], &lines[1]["StatusClass"]),
        (&"2xx".into(), &"4xx".into())
    );
}
