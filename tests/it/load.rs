//! Load, test-sized: `s3gate serve` as a process (embedded store, usage plan
//! opened wide), 32 concurrent clients on loopback sending a fixed mix of
//! valid, conditional, ranged and invalid requests, a bounded number each.
//! Every valid request must succeed with the right bytes, every bad one must
//! get its 4xx, and the server's RSS must not grow across the run (checked
//! between the end of a warm-up half and the end of the second half).
//! Prints requests per second and peak RSS; more with
//! `S3GATE_LOAD_ROUNDS=5 S3GATE_LOAD_BIN=target/release/s3gate cargo test
//! --test it thirty_two -- --nocapture` (a release server; the clients stay
//! in the debug test binary).

use std::process::Stdio;
use std::time::Instant;

use crate::support::{keyed_get, repo, sample};

const KEY: &str = "load-key-0123456789abcdef";
const CLIENTS: usize = 32;
const JPEG: &str = "partnerimages/67/28/67286576.jpeg";

/// (method, path, extra header, expected status)
type Case = (&'static str, String, Option<(&'static str, String)>, u16);

fn mix(etag: &str) -> Vec<Case> {
    vec![
        ("GET", JPEG.into(), None, 200),
        ("HEAD", JPEG.into(), None, 200),
        ("GET", "icons/logo.svg".into(), None, 200),
        (
            "GET",
            JPEG.into(),
            Some(("if-none-match", etag.to_string())),
            304,
        ),
        (
            "GET",
            JPEG.into(),
            Some(("range", "bytes=0-99".into())),
            206,
        ),
        (
            "GET",
            JPEG.into(),
            Some(("range", "bytes=-100".into())),
            206,
        ),
        (
            "GET",
            JPEG.into(),
            Some(("range", "bytes=99999999-".into())),
            416,
        ),
        (
            "GET",
            JPEG.into(),
            Some(("if-match", "\"nope\"".into())),
            412,
        ),
        ("GET", "missing/none.jpg".into(), None, 404),
        ("GET", "a/%01b.jpg".into(), None, 400),
        ("GET", "a//b.jpg".into(), None, 400),
        ("GET", "icons/".into(), None, 200),
        ("POST", JPEG.into(), None, 405),
        (
            "GET",
            "presign/icons/logo.png?method=PATCH".into(),
            None,
            400,
        ),
    ]
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("VmRSS")
}

async fn round(
    client: &reqwest::Client,
    base: &str,
    etag: &str,
    per_client: usize,
) -> (usize, Vec<String>) {
    let jpeg = sample(JPEG);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (client, base, etag, jpeg) = (
            client.clone(),
            base.to_string(),
            etag.to_string(),
            jpeg.clone(),
        );
        tasks.spawn(async move {
            let mix = mix(&etag);
            let mut failures = Vec::new();
            for i in 0..per_client {
                let (method, path, header, want) = &mix[(c + i) % mix.len()];
                let mut req = client
                    .request(method.parse().expect("method"), format!("{base}{path}"))
                    .header("x-api-key", KEY);
                if let Some((name, value)) = header {
                    req = req.header(*name, value);
                }
                let outcome = match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                        let body_ok = match (*method, *want, path.as_str()) {
                            ("GET", 200, JPEG) => body == jpeg,
                            ("GET", 206, _) => body.len() == 100,
                            (_, w, _) if w >= 400 => {
                                serde_json::from_slice::<serde_json::Value>(&body)
                                    .is_ok_and(|v| v["code"].is_string())
                            }
                            _ => true,
                        };
                        (status == *want && body_ok).then_some(()).ok_or(format!(
                            "{method} {path} {header:?}: {status} (want {want}), body ok {body_ok}"
                        ))
                    }
                    Err(e) => Err(format!("{method} {path}: {e}")),
                };
                if let Err(f) = outcome {
                    failures.push(f);
                }
            }
            failures
        });
    }
    let mut failures = Vec::new();
    while let Some(f) = tasks.join_next().await {
        failures.extend(f.expect("client task"));
    }
    (CLIENTS * per_client, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_mixed_requests_no_failures_flat_rss() {
    // S3GATE_LOAD_BIN measures another build (e.g. target/release/s3gate).
    let bin =
        std::env::var("S3GATE_LOAD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_s3gate").into());
    let mut child = tokio::process::Command::new(bin)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--allow-list",
        ])
        .args(["--rate-limit", "1000000", "--burst-limit", "1000000"])
        .args(["--quota-limit", "1000000000"])
        .current_dir(repo())
        .env_remove("S3GATE_API_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("s3gate serve starts");
    let pid = child.id().expect("pid");
    let stdout = child.stdout.take().expect("stdout");
    let first = {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = lines.next_line().await.expect("read").expect("a line");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        first
    };
    let base = first.rsplit(' ').next().expect("url").to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    let etag = client
        .head(format!("{base}{JPEG}"))
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("HEAD")
        .headers()["etag"]
        .to_str()
        .expect("etag")
        .to_string();

    let rounds: usize = std::env::var("S3GATE_LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let per_client = 40 * rounds;
    // First half warms every path, pool and buffer; the second half must
    // not need more memory.
    let started = Instant::now();
    let (n1, f1) = round(&client, &base, &etag, per_client).await;
    let rss_warm = rss_kib(pid, "VmRSS:");
    let (n2, f2) = round(&client, &base, &etag, per_client).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = rss_kib(pid, "VmRSS:");
    let hwm = rss_kib(pid, "VmHWM:");
    let failures: Vec<String> = f1.into_iter().chain(f2).collect();
    let total = n1 + n2;
    println!(
        "load: {total} requests, {CLIENTS} clients, {:.0} req/s, {} failures; RSS {rss_warm} kB after the first half, {rss_end} kB at the end, peak {hwm} kB",
        total as f64 / elapsed,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        rss_end <= rss_warm + 4096,
        "RSS grew from {rss_warm} kB to {rss_end} kB over the second half"
    );
    // Still serving after the run.
    let resp = keyed_get(&client, format!("{base}{JPEG}"), KEY).await;
    assert_eq!(resp.status(), 200);
    child.start_kill().expect("kill");
    let _ = child.wait().await;
}
