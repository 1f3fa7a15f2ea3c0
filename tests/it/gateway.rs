//! The local API Gateway over real HTTP on 127.0.0.1 with a real client:
//! bodies, HEAD, API keys, throttle and quota with API Gateway's own
//! answers, the request size limit, the dev-stack defaults, and `s3gate
//! serve` as a process (another store, clean shutdown).

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use s3gate::local::gateway::{
    DEV_BURST_LIMIT, DEV_QUOTA_LIMIT, DEV_QUOTA_PERIOD, DEV_RATE_LIMIT, Gateway, GatewayConfig,
    QuotaPeriod,
};

use crate::support::{Fixture, client, keyed_get, repo, sample};

const KEY: &str = "test-key-aaaaaaaaaaaaaaaaaaaa";
const OTHER_KEY: &str = "test-key-bbbbbbbbbbbbbbbbbbbb";

struct Running {
    _fx: Fixture,
    gateway: Option<Gateway>,
    base: String,
}

async fn start(cfg: impl FnOnce(&mut GatewayConfig)) -> Running {
    let fx = Fixture::new().await;
    let mut gc = GatewayConfig::dev(vec![KEY.to_string(), OTHER_KEY.to_string()]);
    gc.burst_limit = 1000;
    gc.rate_limit = 1000.0;
    cfg(&mut gc);
    let gateway = Gateway::start(
        fx.app.clone(),
        gc,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway starts");
    let base = format!("http://{}/dev/", gateway.addr());
    Running {
        _fx: fx,
        gateway: Some(gateway),
        base,
    }
}

#[tokio::test]
async fn serves_every_sample_type_byte_identical() {
    let gw = start(|_| {}).await;
    let c = client();
    for (key, ty) in [
        ("partnerimages/67/28/67286576.jpeg", "image/jpeg"),
        ("icons/logo.png", "image/png"),
        ("icons/logo.svg", "image/svg+xml"),
        ("icons/spinner.gif", "image/gif"),
        ("photos/sunset.webp", "image/webp"),
        ("photos/sunset.avif", "image/avif"),
    ] {
        let resp = keyed_get(&c, format!("{}{key}", gw.base), KEY).await;
        assert_eq!(resp.status(), 200, "{key}");
        assert_eq!(resp.headers()["content-type"], ty, "{key}");
        assert!(resp.headers().contains_key("x-amzn-requestid"), "{key}");
        assert!(resp.headers().contains_key("etag"), "{key}");
        let body = resp.bytes().await.expect("body");
        assert_eq!(body.as_ref(), sample(key).as_slice(), "{key}: bytes differ");
    }
    // Spaces, plus, unicode and an encoded slash, as a browser sends them.
    for path in [
        "photos/summer%202026/beach+sea%20%E2%98%80.webp",
        "photos%2Fsummer%202026%2Fbeach%2Bsea%20%E2%98%80.webp",
    ] {
        let resp = keyed_get(&c, format!("{}{path}", gw.base), KEY).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            resp.bytes().await.expect("body").as_ref(),
            sample("photos/summer 2026/beach+sea ☀.webp")
        );
    }
}

#[tokio::test]
async fn head_and_errors_through_the_gateway() {
    let gw = start(|_| {}).await;
    let c = client();
    let url = format!("{}partnerimages/67/28/67286576.jpeg", gw.base);
    let resp = c
        .head(&url)
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "1792");
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert!(resp.bytes().await.expect("body").is_empty());

    let resp = keyed_get(&c, format!("{}nope.png", gw.base), KEY).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    assert_eq!(body["code"], "NotFound");

    // URL parsers resolve `..` (even as %2E%2E) before sending; a raw request does not.
    let raw = raw_get(&gw.base, "a/../../secret.png").await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    // An empty first segment is refused, not normalised away.
    let raw = raw_get(&gw.base, "/icons/logo.png").await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    let resp = keyed_get(&c, format!("{}bad%zz.png", gw.base), KEY).await;
    assert_eq!(resp.status(), 400);

    let resp = c
        .post(&url)
        .header("x-api-key", KEY)
        .body("x")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, OPTIONS");

    // Outside /{stage}/{proxy+}: API Gateway's own 403.
    for path in ["", "prod/icons/logo.png", "devices/icons/logo.png"] {
        let root = gw.base.trim_end_matches("dev/");
        let resp = keyed_get(&c, format!("{root}{path}"), KEY).await;
        assert_eq!(resp.status(), 403, "/{path}");
        assert_eq!(
            resp.text().await.expect("text"),
            r#"{"message":"Missing Authentication Token"}"#
        );
    }
}

/// A GET written by hand, so the path reaches the gateway exactly as given.
async fn raw_get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("authority");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let request = format!(
        "GET /dev/{path} HTTP/1.1\r\nHost: {authority}\r\nx-api-key: {KEY}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn api_keys_are_enforced_with_api_gateways_answer() {
    let gw = start(|_| {}).await;
    let c = client();
    let url = format!("{}icons/logo.png", gw.base);
    for key in [
        None,
        Some("wrong-key-cccccccccccccccccc"),
        Some(""),
        Some("test-key-aaaaaaaaaaaaaaaaaaa"),
    ] {
        let mut req = c.get(&url);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.expect("GET");
        assert_eq!(resp.status(), 403, "key {key:?}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(
            resp.text().await.expect("text"),
            r#"{"message":"Forbidden"}"#,
            "key {key:?}"
        );
    }
    for key in [KEY, OTHER_KEY] {
        assert_eq!(
            c.get(&url)
                .header("x-api-key", key)
                .send()
                .await
                .expect("GET")
                .status(),
            200,
            "{key}"
        );
    }
}

/// Sends `n` GETs with `key` and returns their statuses; every 429 must
/// carry API Gateway's `message`.
async fn statuses(c: &reqwest::Client, url: &str, key: &str, n: usize, message: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let resp = c
            .get(url)
            .header("x-api-key", key)
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("text");
        if status == 429 {
            assert_eq!(text, format!(r#"{{"message":"{message}"}}"#));
        }
        out.push(status);
    }
    out
}

#[tokio::test]
async fn throttle_answers_429_too_many_requests() {
    let gw = start(|g| {
        g.burst_limit = 3;
        g.rate_limit = 0.001;
    })
    .await;
    let c = client();
    let url = format!("{}icons/logo.svg", gw.base);
    assert_eq!(
        statuses(&c, &url, KEY, 5, "Too Many Requests").await,
        [200, 200, 200, 429, 429]
    );
    // Buckets are per key.
    assert_eq!(
        statuses(&c, &url, OTHER_KEY, 1, "Too Many Requests").await,
        [200]
    );
}

#[tokio::test]
async fn quota_answers_429_limit_exceeded() {
    let gw = start(|g| {
        g.quota_limit = 2;
        g.quota_period = QuotaPeriod::Month;
    })
    .await;
    let c = client();
    let url = format!("{}icons/logo.svg", gw.base);
    assert_eq!(
        statuses(&c, &url, KEY, 4, "Limit Exceeded").await,
        [200, 200, 429, 429]
    );
    assert_eq!(
        statuses(&c, &url, OTHER_KEY, 1, "Limit Exceeded").await,
        [200]
    );
}

#[tokio::test]
async fn request_bodies_over_10_mb_are_413() {
    let gw = start(|_| {}).await;
    let c = client();
    let url = format!("{}icons/logo.png", gw.base);
    let resp = c
        .put(&url)
        .header("x-api-key", KEY)
        .body(vec![7u8; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status(), 413);
    let resp = c
        .put(&url)
        .header("x-api-key", KEY)
        .body(vec![7u8; 1024])
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        resp.status(),
        405,
        "under the limit the function answers (writes are off)"
    );
}

#[tokio::test]
async fn many_clients_at_once() {
    let gw = start(|_| {}).await;
    let c = client();
    let want = sample("partnerimages/67/28/67286576.jpeg");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let c = c.clone();
        let url = format!("{}partnerimages/67/28/67286576.jpeg", gw.base);
        tasks.spawn(async move {
            let resp = keyed_get(&c, url, KEY).await;
            (
                resp.status().as_u16(),
                resp.bytes().await.expect("body").to_vec(),
            )
        });
    }
    while let Some(res) = tasks.join_next().await {
        let (status, body) = res.expect("task");
        assert_eq!(status, 200);
        assert!(body == want);
    }
}

#[tokio::test]
async fn shutdown_finishes_and_frees_the_port() {
    let mut gw = start(|_| {}).await;
    let c = client();
    let url = format!("{}icons/logo.png", gw.base);
    assert_eq!(
        c.get(&url)
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("GET")
            .status(),
        200
    );
    let gateway = gw.gateway.take().expect("running");
    let addr = gateway.addr();
    tokio::time::timeout(Duration::from_secs(10), gateway.shutdown())
        .await
        .expect("shutdown in time");
    let fresh = reqwest::Client::new();
    assert!(
        fresh.get(&url).send().await.is_err(),
        "still answering after shutdown"
    );
    std::net::TcpListener::bind(addr).expect("port is free again");
}

/// The value under `Default:` of a template parameter.
fn template_default(template: &str, param: &str) -> String {
    let header = format!("  {param}:");
    let mut lines = template.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "{param} not in template.yaml");
    lines
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{param} has no Default"))
}

/// `Name=Value` from the dev environment's parameter_overrides.
fn samconfig_dev(samconfig: &str, param: &str) -> String {
    let dev = &samconfig[samconfig
        .find("[dev.deploy.parameters]")
        .expect("dev section")..];
    let dev = &dev[..dev[1..].find("\n[").map_or(dev.len(), |e| e + 1)];
    let needle = format!("\"{param}=");
    let at = dev
        .find(&needle)
        .unwrap_or_else(|| panic!("{param} not in samconfig.toml dev"));
    dev[at + needle.len()..]
        .split('"')
        .next()
        .expect("value")
        .to_string()
}

#[test]
fn local_defaults_equal_the_dev_stack() {
    let template = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    let samconfig = std::fs::read_to_string(repo().join("samconfig.toml")).expect("samconfig.toml");
    let period = match DEV_QUOTA_PERIOD {
        QuotaPeriod::Day => "DAY",
        QuotaPeriod::Week => "WEEK",
        QuotaPeriod::Month => "MONTH",
    };
    for (param, local) in [
        ("ThrottleRateLimit", DEV_RATE_LIMIT.to_string()),
        ("ThrottleBurstLimit", DEV_BURST_LIMIT.to_string()),
        ("QuotaLimit", DEV_QUOTA_LIMIT.to_string()),
        ("QuotaPeriod", period.to_string()),
    ] {
        assert_eq!(
            template_default(&template, param),
            local,
            "template.yaml {param} vs s3gate serve"
        );
        assert_eq!(
            samconfig_dev(&samconfig, param),
            local,
            "samconfig.toml dev {param} vs s3gate serve"
        );
    }
    assert_eq!(template_default(&template, "StageName"), "dev");
}

/// `s3gate serve` as a process; returns it and its base URL once it listens.
pub(crate) fn spawn_serve(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3gate"));
    cmd.arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .current_dir(repo());
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    for var in ["S3GATE_API_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("s3gate serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let url = first.rsplit(' ').next().expect("url").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn interrupt_and_wait(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "serve exited with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "serve still running 10 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn serve_process_with_another_store_and_clean_shutdown() {
    // A second store, holding a bucket the sample data does not have.
    let other = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(other.path().join("other-bucket/x")).expect("mkdir");
    std::fs::write(
        other.path().join("other-bucket/x/only-here.bin"),
        b"\x00\x01second store\xff",
    )
    .expect("write");
    let store = s3gate::local::EmbeddedStore::start(
        other.path(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("second store");
    let (ak, sk) = store.credentials();
    let endpoint = store.endpoint();
    let (child, url) = spawn_serve(
        &[
            "--endpoint-url",
            &endpoint,
            "--bucket",
            "other-bucket",
            "--api-key",
            KEY,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", ak),
            ("AWS_SECRET_ACCESS_KEY", sk),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let c = client();
    let resp = keyed_get(&c, format!("{url}x/only-here.bin"), KEY).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.bytes().await.expect("body").as_ref(),
        b"\x00\x01second store\xff"
    );
    let resp = keyed_get(&c, format!("{url}icons/logo.png"), KEY).await;
    assert_eq!(
        resp.status(),
        404,
        "the embedded sample data is not in this store"
    );
    interrupt_and_wait(child);
}

#[tokio::test]
async fn serve_process_default_store_env_key_and_data_flag() {
    let (child, url) = spawn_serve(&[], &[("S3GATE_API_KEY", OTHER_KEY)]);
    let c = client();
    let resp = c
        .get(format!("{url}partnerimages/67/28/67286576.jpeg"))
        .header("x-api-key", OTHER_KEY)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.bytes().await.expect("body").as_ref(),
        sample("partnerimages/67/28/67286576.jpeg").as_slice()
    );
    interrupt_and_wait(child);

    let data = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(data.path().join("images")).expect("mkdir");
    std::fs::write(data.path().join("images/mine.txt"), b"mine").expect("write");
    let (child, url) = spawn_serve(
        &[
            "--data",
            data.path().to_str().expect("path"),
            "--api-key",
            KEY,
        ],
        &[],
    );
    let resp = keyed_get(&c, format!("{url}mine.txt"), KEY).await;
    assert_eq!(resp.bytes().await.expect("body").as_ref(), b"mine");
    interrupt_and_wait(child);
}

pub(crate) fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// curl as a child process, awaited without blocking the runtime that
/// serves it.
async fn curl(args: &[&str]) -> String {
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-H",
            &format!("x-api-key: {KEY}"),
        ])
        .args(args)
        .output()
        .await
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn real_curl_follows_redirects_for_downloads_uploads_and_deletes() {
    if !curl_available() {
        eprintln!("SKIPPED: curl is not installed; the -L redirect tests need it");
        return;
    }
    // The 20 MB upload below shares two cores with the rest of the suite.
    let fx = Fixture::with(&[("allow-write", "true"), ("s3-timeout", "20")]).await;
    let big: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fx.put(
        "videos/big.bin",
        big.clone(),
        Some("application/octet-stream"),
    )
    .await;
    let gateway = Gateway::start(
        fx.app.clone(),
        GatewayConfig::dev(vec![KEY.to_string()]),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway");
    let base = format!("http://{}/dev/", gateway.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("big.bin");
    let out_s = out.to_str().expect("path");

    // 20 MB: over the inline limit, so a 307 to the store, followed by curl.
    let code = curl(&[
        "-L",
        "-o",
        out_s,
        "-w",
        "%{http_code} %{num_redirects}",
        &format!("{base}videos/big.bin"),
    ])
    .await;
    assert_eq!(code, "200 1");
    assert!(
        std::fs::read(&out).expect("read") == big,
        "20 MB download differs"
    );

    // Upload with --upload-file (PUT), then read it back through the API.
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, sample("partnerimages/67/28/67286576.jpeg")).expect("write");
    let code = curl(&[
        "-L",
        "--upload-file",
        photo.to_str().expect("p"),
        "-w",
        "%{http_code}",
        &format!("{base}uploads/photo.jpg"),
    ])
    .await;
    assert_eq!(code, "200");
    let c = client();
    let resp = keyed_get(&c, format!("{base}uploads/photo.jpg"), KEY).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(
        resp.bytes().await.expect("body").as_ref(),
        sample("partnerimages/67/28/67286576.jpeg").as_slice()
    );

    // Delete it with -X DELETE.
    let code = curl(&[
        "-L",
        "-X",
        "DELETE",
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        &format!("{base}uploads/photo.jpg"),
    ])
    .await;
    assert_eq!(code, "204");
    let resp = keyed_get(&c, format!("{base}uploads/photo.jpg"), KEY).await;
    assert_eq!(resp.status(), 404);

    // Conditional and ranged requests over HTTP.
    let resp = keyed_get(&c, format!("{base}icons/logo.png"), KEY).await;
    let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
    let resp = c
        .get(format!("{base}icons/logo.png"))
        .header("x-api-key", KEY)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"], etag.as_str());
    let resp = c
        .get(format!("{base}icons/logo.png"))
        .header("x-api-key", KEY)
        .header("range", "bytes=1-3")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes 1-3/{}", sample("icons/logo.png").len())
    );
    assert_eq!(
        resp.bytes().await.expect("body").as_ref(),
        &sample("icons/logo.png")[1..=3]
    );
    gateway.shutdown().await;
}
