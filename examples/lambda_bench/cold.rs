//! One cold start of one function: a fresh process with Lambda's environment
//! variables, its own Runtime API, one first invoke and `warm` more, each
//! response checked against the object's bytes (a 307 is followed: its
//! `Location` is fetched and that body checked, `follow.rs`); then its peak
//! memory is read and the process group killed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use tokio::process::{Child, Command};

use crate::follow::{self, Fetched};
use crate::procstat;
use crate::runtime_api::{Answer, RuntimeApi, Waiter, lossy};

const INIT_TIMEOUT: Duration = Duration::from_secs(30);
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A function under test: `/bin/sh -c COMMAND` with Lambda's environment.
pub struct Function {
    pub label: String,
    pub command: String,
}

/// What one cold start measured; times in ms.
#[derive(Debug, Default)]
pub struct Cold {
    pub init_ms: Option<f64>,
    pub init_cpu_ms: Option<f64>,
    /// Spawn to the first response complete.
    pub first_ms: Option<f64>,
    /// First event handed out to its response complete.
    pub first_dur_ms: Option<f64>,
    pub warm_ms: Vec<f64>,
    /// Event handed out to the first payload byte (streamed), to the whole
    /// response (buffered), or to the first body byte of the GET that
    /// followed a 307.
    pub ttfb_ms: Vec<f64>,
    /// Event handed out to the last byte the client has: the end of the
    /// function's response, or of the GET that followed a 307.
    pub e2e_ms: Vec<f64>,
    /// Followed 307s: the GET sent to its first body byte.
    pub get_ttfb_ms: Vec<f64>,
    /// The first invoke, event to the last byte the client has.
    pub first_e2e_ms: Option<f64>,
    /// Event handed out to the first byte of the function's POST body.
    pub post_first_byte_ms: Vec<f64>,
    pub cpu_ms_per_invoke: Option<f64>,
    pub peak_rss_kib: u64,
    pub invokes: usize,
    pub ok: usize,
    pub streamed: usize,
    /// Answers that were a 307 whose `Location` was followed.
    pub redirected: usize,
    pub failures: Vec<String>,
}

/// Everything a cold start needs besides the function.
pub struct Setup<'a> {
    pub env: &'a [(String, String)],
    pub event: &'a [u8],
    pub object: &'a [u8],
    pub warm: usize,
    pub log: PathBuf,
    /// Follows 307s.
    pub http: &'a reqwest::Client,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(f: &Function, s: &Setup<'_>, seq: &mut u64) -> Cold {
    let mut cold = Cold::default();
    let mut api = match RuntimeApi::start().await {
        Ok(api) => api,
        Err(e) => {
            cold.failures.push(format!("runtime API: {e}"));
            return cold;
        }
    };
    let spawned = Instant::now();
    let child = std::fs::File::create(&s.log)
        .and_then(|log| Ok((log.try_clone()?, log)))
        .and_then(|(out, err)| {
            Command::new("/bin/sh")
                .arg("-c")
                .arg(&f.command)
                .env_clear()
                .envs(s.env.iter().map(|(k, v)| (k, v)))
                .env("AWS_LAMBDA_RUNTIME_API", api.host())
                .env("AWS_LAMBDA_FUNCTION_NAME", &f.label)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
        });
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            cold.failures.push(format!("spawn {:?}: {e}", f.command));
            return cold;
        }
    };
    let pgid = child.id().unwrap_or(0);
    // The function stays parked on its last `GET /next` until it is killed:
    // an answer to that request would make it exit before its RSS is read.
    let parked = match drive(&mut api, &mut child, pgid, spawned, f, s, seq, &mut cold).await {
        Ok(parked) => Some(parked),
        Err(e) => {
            let init = api.init_error().map(|e| format!("; init error: {e}"));
            let tail = log_tail(&s.log);
            cold.failures
                .push(format!("{e}{}; log tail: {tail}", init.unwrap_or_default()));
            None
        }
    };
    cold.peak_rss_kib = procstat::peak_rss_kib(pgid);
    // The whole group: the shell and anything it started.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill().await;
    drop(parked);
    cold
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    api: &mut RuntimeApi,
    child: &mut Child,
    pgid: u32,
    spawned: Instant,
    f: &Function,
    s: &Setup<'_>,
    seq: &mut u64,
    cold: &mut Cold,
) -> Result<Waiter, String> {
    let waiter = wait_next(api, child, INIT_TIMEOUT).await?;
    cold.init_ms = Some(ms(waiter.arrived - spawned));
    cold.init_cpu_ms = Some(procstat::cpu_ns(pgid) as f64 / 1e6);
    let (handed, answer) = invoke(api, child, waiter, f, s, seq).await?;
    let fetched = follow(s.http, &answer).await;
    cold.first_ms = Some(ms(answer.end - spawned));
    cold.first_dur_ms = Some(ms(answer.end - handed));
    let end = fetched.as_ref().map_or(answer.end, |g| g.end);
    cold.first_e2e_ms = Some(ms(end - handed));
    record(cold, &answer, fetched.as_ref(), s.object);
    let mut cpu_start = None;
    for _ in 0..s.warm {
        let waiter = wait_next(api, child, INVOKE_TIMEOUT).await?;
        cpu_start.get_or_insert_with(|| procstat::cpu_ns(pgid));
        let (handed, answer) = invoke(api, child, waiter, f, s, seq).await?;
        // The client follows a 307 while the function waits on `GET
        // /next`: the GET is the store's work (in this process), and CPU is
        // read from the function's process group only.
        let fetched = follow(s.http, &answer).await;
        cold.warm_ms.push(ms(answer.end - handed));
        let (ttfb, end) = match (&fetched, answer.streamed, answer.payload_first_byte) {
            (Some(g), _, _) => (g.first_byte, g.end),
            (None, true, first) => (first, answer.end),
            (None, false, _) => (Some(answer.end), answer.end),
        };
        cold.ttfb_ms.extend(ttfb.map(|at| ms(at - handed)));
        cold.e2e_ms.push(ms(end - handed));
        if let Some(g) = &fetched {
            cold.get_ttfb_ms
                .extend(g.first_byte.map(|at| ms(at - g.sent)));
        }
        cold.post_first_byte_ms
            .extend(answer.first_byte.map(|at| ms(at - handed)));
        record(cold, &answer, fetched.as_ref(), s.object);
    }
    // Back on `/next`: all the work of the warm invokes is done.
    let parked = wait_next(api, child, INVOKE_TIMEOUT).await?;
    if let Some(start) = cpu_start {
        let used = procstat::cpu_ns(pgid).saturating_sub(start);
        cold.cpu_ms_per_invoke = Some(used as f64 / 1e6 / s.warm as f64);
    }
    Ok(parked)
}

/// A 307 with a `Location`: the client's GET of it.
async fn follow(http: &reqwest::Client, answer: &Answer) -> Option<Fetched> {
    let url = follow::location(answer)?;
    Some(follow::get(http, &url).await)
}

fn record(cold: &mut Cold, answer: &Answer, fetched: Option<&Fetched>, object: &[u8]) {
    cold.invokes += 1;
    cold.streamed += usize::from(answer.streamed);
    cold.redirected += usize::from(fetched.is_some());
    match check(answer, fetched, object) {
        Ok(()) => cold.ok += 1,
        // A few messages are enough to see what went wrong.
        Err(e) if cold.failures.len() < 3 => cold.failures.push(e),
        Err(_) => {}
    }
}

async fn wait_next(
    api: &mut RuntimeApi,
    child: &mut Child,
    limit: Duration,
) -> Result<Waiter, String> {
    tokio::select! {
        waiter = api.next_waiter() => waiter.ok_or_else(|| "runtime API stopped".to_string()),
        status = child.wait() => Err(format!("function exited ({}) before GET /next", exit(status))),
        _ = tokio::time::sleep(limit) => Err(format!("no GET /next within {limit:?}")),
    }
}

async fn invoke(
    api: &mut RuntimeApi,
    child: &mut Child,
    waiter: Waiter,
    f: &Function,
    s: &Setup<'_>,
    seq: &mut u64,
) -> Result<(Instant, Answer), String> {
    *seq += 1;
    let id = format!("8e1c2a4f-0000-4000-8000-{:012x}", *seq);
    let event = String::from_utf8_lossy(s.event).replace("REQUEST_ID", &id);
    let (handed, rx) = api
        .hand_out(waiter, &id, &f.label, Bytes::from(event))
        .ok_or("the function's GET /next connection closed")?;
    tokio::select! {
        answer = rx => answer.map(|a| (handed, a)).map_err(|_| "runtime API stopped".to_string()),
        status = child.wait() => Err(format!("function exited ({}) during an invoke", exit(status))),
        _ = tokio::time::sleep(INVOKE_TIMEOUT) => Err(format!("no response within {INVOKE_TIMEOUT:?}")),
    }
}

fn exit(status: std::io::Result<std::process::ExitStatus>) -> String {
    status.map_or_else(|e| e.to_string(), |s| s.to_string())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).map(|b| lossy(&b)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Status 200 and exactly the object's bytes, as API Gateway would get them;
/// or a 307 whose `Location` (`fetched`) gave exactly the object's bytes.
pub fn check(a: &Answer, fetched: Option<&Fetched>, object: &[u8]) -> Result<(), String> {
    let short = |b: &[u8]| lossy(&b[..b.len().min(300)]);
    if let Some(e) = &a.body_error {
        return Err(format!("response body broke off: {e}"));
    }
    if a.is_error {
        return Err(format!("function error: {}", short(&a.body)));
    }
    if a.over_cap {
        return Err(format!(
            "{} bytes: over Lambda's 6 MB response limit",
            a.body.len()
        ));
    }
    let b64 = base64_simd::STANDARD;
    if a.streamed
        && let Some((kind, body)) = &a.error_trailer
    {
        let body = b64
            .decode_to_vec(body)
            .map_or_else(|_| body.clone(), |b| lossy(&b));
        return Err(format!(
            "mid-stream error {kind}: {}",
            short(body.as_bytes())
        ));
    }
    if let Some(g) = fetched {
        return follow::check(g, object);
    }
    if a.streamed {
        let wanted = "application/vnd.awslambda.http-integration-response";
        if a.content_type.as_deref() != Some(wanted) {
            return Err(format!("streamed with Content-Type {:?}", a.content_type));
        }
        let start = a
            .payload_start
            .ok_or("streamed without the 8-NUL delimiter")?;
        let prelude: serde_json::Value = serde_json::from_slice(&a.body[..start - 8])
            .map_err(|e| format!("prelude is not JSON: {e}"))?;
        if prelude["statusCode"] != 200 {
            return Err(format!("status {} (streamed)", prelude["statusCode"]));
        }
        if &a.body[start..] != object {
            return Err(format!(
                "streamed payload of {} bytes differs from the object",
                a.body.len() - start
            ));
        }
        return Ok(());
    }
    let json: serde_json::Value =
        serde_json::from_slice(&a.body).map_err(|e| format!("response is not JSON: {e}"))?;
    if json["statusCode"] != 200 {
        return Err(format!(
            "status {}: {}",
            json["statusCode"],
            short(json["body"].to_string().as_bytes())
        ));
    }
    if json["isBase64Encoded"] != true {
        return Err("isBase64Encoded is not true".to_string());
    }
    let body = b64
        .decode_to_vec(json["body"].as_str().unwrap_or_default())
        .map_err(|e| format!("body is not base64: {e}"))?;
    if body != object {
        return Err(format!(
            "body of {} bytes differs from the object",
            body.len()
        ));
    }
    Ok(())
}
