//! The Lambda function benchmark: functions run the way Lambda runs them
//! (a fresh process per cold start, Lambda's environment variables, the
//! Runtime API on loopback, served by `runtime_api`), reading objects from
//! s3gate's embedded S3 store, side by side, cold starts alternating between
//! functions. A 307 is followed: the harness GETs its `Location` from the
//! store and checks those bytes (`follow.rs`). Prints a Markdown table and
//! writes every figure as JSON.
//!
//! cargo run --release --example lambda_bench -- \
//!   --function s3gate='export S3GATE_BUCKET=images && exec target/release/s3gate-lambda' \
//!   --function python='cd bench/peer_python && exec python -m awslambdaric handler.handler' \
//!   [--binary s3gate=PATH] [--sizes 100k,4m] [--cold 5] [--warm 50] [--memory 256] \
//!   [--prime 1] [--env K=V]... [--json PATH]
//! cargo run --release --example lambda_bench -- --self-test
//!
//! `scripts/bench-lambda.sh` builds everything and runs it; docs/performance.md
//! says what each column means.

mod cold;
mod fake;
mod follow;
mod objects;
mod procstat;
mod report;
mod runtime_api;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use s3gate::local::EmbeddedStore;
use serde_json::json;

use cold::{Function, Setup};
use objects::{event, object, upload};
use report::Row;

const USAGE: &str = "usage: lambda_bench --function LABEL=COMMAND... [--binary LABEL=PATH]... \
[--sizes 100k,4m] [--cold N] [--warm M] [--memory MB] [--prime N] [--env K=V]... [--json PATH] \
| --self-test";

#[derive(Default)]
struct Args {
    functions: Vec<Function>,
    binaries: Vec<(String, PathBuf)>,
    sizes: Vec<(String, usize)>,
    cold: usize,
    warm: usize,
    memory: u32,
    prime: usize,
    env: Vec<(String, String)>,
    json: Option<PathBuf>,
    /// Hands the fake functions the data folder.
    self_test: bool,
}

fn pair(v: &str, what: &str) -> Result<(String, String), String> {
    match v.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{what} wants NAME=VALUE, got {v:?}")),
    }
}

/// `100k` (KiB), `4m` (MiB) or a byte count.
fn size(s: &str) -> Result<(String, usize), String> {
    let (n, unit) = match s.to_ascii_lowercase() {
        t if t.ends_with('k') => (t[..t.len() - 1].to_string(), 1024),
        t if t.ends_with('m') => (t[..t.len() - 1].to_string(), 1024 * 1024),
        t => (t, 1),
    };
    let n: usize = n.parse().map_err(|_| format!("bad size {s:?}"))?;
    Ok((s.to_string(), n * unit))
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        cold: 5,
        warm: 50,
        memory: 256,
        prime: 1,
        sizes: vec![size("100k")?, size("4m")?],
        ..Args::default()
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: &String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: bad number {v:?}"))
        };
        match flag.as_str() {
            "--function" => {
                let (label, command) = pair(value()?, flag)?;
                a.functions.push(Function { label, command });
            }
            "--binary" => {
                let (label, path) = pair(value()?, flag)?;
                a.binaries.push((label, path.into()));
            }
            "--sizes" => a.sizes = value()?.split(',').map(size).collect::<Result<_, _>>()?,
            "--cold" => a.cold = num(value()?)?.max(1),
            "--warm" => a.warm = num(value()?)?,
            "--memory" => {
                a.memory = num(value()?)?
                    .try_into()
                    .map_err(|_| "--memory: too large")?
            }
            "--prime" => a.prime = num(value()?)?,
            "--env" => a.env.push(pair(value()?, flag)?),
            "--json" => a.json = Some(value()?.into()),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    if a.functions.is_empty() {
        return Err(format!("no --function\n{USAGE}"));
    }
    Ok(a)
}

fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"arch": std::env::consts::ARCH, "cpu": model, "cores": cores, "kernel": kernel.trim()})
}

async fn bench(a: &Args) -> Result<(Vec<Row>, serde_json::Value), String> {
    let dir = tempfile::Builder::new()
        .prefix("lambda-bench-")
        .tempdir()
        .map_err(|e| format!("temp folder: {e}"))?;
    std::fs::create_dir_all(dir.path().join("images")).map_err(|e| e.to_string())?;
    let store = EmbeddedStore::start(dir.path(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|e| format!("embedded store: {e}"))?;
    let mut objects = Vec::new();
    for (label, len) in &a.sizes {
        let key = format!("bench/{label}.jpg");
        let event = event(&key);
        objects.push((label.clone(), key, object(*len), event));
    }
    upload(&store, &objects).await?;
    let (access_key, secret_key) = store.credentials();
    let mut env: Vec<(String, String)> = [
        (
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        ),
        ("LANG", "C.UTF-8".into()),
        ("TZ", ":UTC".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", a.memory.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", access_key.into()),
        ("AWS_SECRET_ACCESS_KEY", secret_key.into()),
        ("AWS_ENDPOINT_URL", store.endpoint()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if a.self_test {
        env.push(("LAMBDA_BENCH_DATA".into(), dir.path().display().to_string()));
    }
    env.extend(a.env.iter().cloned());
    let http = follow::client(cold::INVOKE_TIMEOUT)?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let mut seq = 0;
    let setup = |i: usize, warm: usize, log: PathBuf| Setup {
        env: &env,
        event: &objects[i].3,
        object: &objects[i].2,
        warm,
        log,
        http: &http,
    };
    // Unrecorded cold starts first: page cache, Python's bytecode.
    for f in &a.functions {
        for n in 0..a.prime {
            let cold = cold::run(
                f,
                &setup(0, 1, logs.join(format!("{}-prime{n}.log", f.label))),
                &mut seq,
            )
            .await;
            if let Some(e) = cold.failures.first() {
                eprintln!("prime {}: {e}", f.label);
            }
        }
    }
    let mut rows = Vec::new();
    for (i, (label, _, bytes, _)) in objects.iter().enumerate() {
        let first_row = rows.len();
        for f in &a.functions {
            rows.push(Row {
                function: f.label.clone(),
                size: label.clone(),
                bytes: bytes.len(),
                colds: Vec::new(),
            });
        }
        for n in 0..a.cold {
            // A, B, A, B: both functions see the same state of the machine.
            for (j, f) in a.functions.iter().enumerate() {
                let log = logs.join(format!("{}-{label}-{n}.log", f.label));
                let cold = cold::run(f, &setup(i, a.warm, log), &mut seq).await;
                eprintln!(
                    "{} {label} cold {}/{}: init {:.1} ms, {}/{} ok{}",
                    f.label,
                    n + 1,
                    a.cold,
                    cold.init_ms.unwrap_or(f64::NAN),
                    cold.ok,
                    a.warm + 1,
                    cold.failures
                        .first()
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default()
                );
                rows[first_row + j].colds.push(cold);
            }
        }
    }
    drop(store);
    let planned = a.cold * (a.warm + 1);
    let binaries: Vec<_> = a
        .binaries
        .iter()
        .map(|(label, path)| {
            let bytes = std::fs::metadata(path).map(|m| m.len()).ok();
            json!({"function": label, "path": path, "bytes": bytes})
        })
        .collect();
    let doc = json!({
        "harness": "examples/lambda_bench (s3gate's Runtime API, s3gate's embedded S3 store on loopback)",
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "machine": machine(),
        "settings": {"sizes": a.sizes, "cold": a.cold, "warm": a.warm, "memory_mb": a.memory, "prime": a.prime,
                     "env": a.env, "cpu_source": procstat::cpu_source()},
        "functions": a.functions.iter().map(|f| json!({"label": f.label, "command": f.command})).collect::<Vec<_>>(),
        "binaries": binaries,
        "cost_formula": report::COST_FORMULA,
        "rows": rows.iter().map(|r| r.json(a.memory, planned)).collect::<Vec<_>>(),
    });
    Ok((rows, doc))
}

fn print(a: &Args, rows: &[Row], doc: &serde_json::Value) {
    let planned = a.cold * (a.warm + 1);
    println!("{}", report::TABLE_HEAD);
    for row in rows {
        println!("{}", row.table_line(a.memory, planned));
    }
    println!();
    println!(
        "{} cold starts x {} warm invokes per function and object, {} MB; machine: {}",
        a.cold, a.warm, a.memory, doc["machine"]
    );
    for (label, path) in &a.binaries {
        let size = std::fs::metadata(path).map_or("?".into(), |m| m.len().to_string());
        println!("bootstrap {label}: {size} bytes ({})", path.display());
    }
    println!("cost: {}", report::COST_FORMULA);
    if rows.iter().any(|r| r.mode() == "307+GET") {
        println!("{}", report::REDIRECT_NOTE);
    }
    for row in rows {
        for e in row.colds.iter().flat_map(|c| c.failures.first()).take(2) {
            println!("failure {} {}: {e}", row.function, row.size);
        }
    }
}

/// The harness against fake functions (this binary, `fake.rs`): buffered
/// and streamed responses must check out, a mid-stream error must not.
async fn self_test() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let fake = |mode: &str| Function {
        label: mode.to_string(),
        command: format!("exec '{}' --fake-function {mode}", exe.display()),
    };
    let a = Args {
        functions: [
            "buffered",
            "stream",
            "stream-error",
            "client-stream",
            "client-stream-error",
            "redirect",
            "redirect-wrong",
        ]
        .map(fake)
        .into(),
        sizes: vec![size("100k")?, size("4m")?],
        cold: 2,
        warm: 3,
        memory: 256,
        self_test: true,
        ..Args::default()
    };
    let (rows, doc) = bench(&a).await?;
    print(&a, &rows, &doc);
    let planned = a.cold * (a.warm + 1);
    let mut results = Vec::new();
    for r in &rows {
        let (ok, _) = r.ok(planned);
        let j = r.json(a.memory, planned);
        let (ttfb, p50) = (j["ttfb_p50_ms"].as_f64(), j["warm_p50_ms"].as_f64());
        let failures = r
            .colds
            .iter()
            .flat_map(|c| &c.failures)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        let (pass, why) = match r.function.as_str() {
            "buffered" => (
                ok == planned && r.mode() == "buffered",
                "all buffered responses check out",
            ),
            "stream" | "client-stream" => (
                ok == planned
                    && r.mode() == "stream"
                    && ttfb.zip(p50).is_some_and(|(t, p)| t + 5.0 < p),
                "all streamed responses check out, first byte >5 ms before the end",
            ),
            "redirect" => {
                let e2e = j["e2e_p50_ms"].as_f64();
                (
                    ok == planned
                        && r.mode() == "307+GET"
                        && j["get_ttfb_p50_ms"].as_f64().is_some()
                        && p50.zip(ttfb).is_some_and(|(p, t)| p < t)
                        && ttfb.zip(e2e).is_some_and(|(t, e)| t <= e),
                    "every 307 is followed and its GET checks out; 307 < first GET byte <= last",
                )
            }
            "redirect-wrong" => (
                ok == 0 && r.mode() == "307+GET" && failures.contains("GET answered 404"),
                "a 307 to a missing object fails its check",
            ),
            _ => (
                ok == 0 && failures.contains("Fake.MidStream"),
                "every mid-stream error is caught",
            ),
        };
        results.push(pass);
        println!(
            "{} {} {}: {why}",
            if pass { "PASS" } else { "FAIL" },
            r.function,
            r.size
        );
    }
    let failed = results.iter().filter(|p| !**p).count();
    println!(
        "self-test: {} passed, {failed} failed",
        results.len() - failed
    );
    if failed > 0 {
        return Err("self-test failed".into());
    }
    Ok(())
}

fn write_json(path: &Path, doc: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("--fake-function") => fake::run(argv.get(1).map_or("buffered", |s| s.as_str()))
            .await
            .map_err(|e| e.to_string()),
        Some("--self-test") => self_test().await,
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => match parse(&argv) {
            Ok(a) => match bench(&a).await {
                Ok((rows, doc)) => {
                    print(&a, &rows, &doc);
                    let written = a.json.as_deref().map_or(Ok(()), |p| write_json(p, &doc));
                    let ok = rows
                        .iter()
                        .all(|r| r.ok(a.cold * (a.warm + 1)).0 == a.cold * (a.warm + 1));
                    written.and(if ok {
                        Ok(())
                    } else {
                        Err("some responses failed their check".into())
                    })
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        eprintln!("lambda_bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_objects() {
        assert_eq!(size("100k"), Ok(("100k".to_string(), 102_400)));
        assert_eq!(size("4m"), Ok(("4m".to_string(), 4 << 20)));
        assert!(size("4x").is_err());
        let o = object(102_400);
        assert_eq!(
            (o.len(), &o[..3], &o[o.len() - 2..]),
            (102_400, &[0xFF, 0xD8, 0xFF][..], &[0xFF, 0xD9][..])
        );
        assert_eq!(o, object(102_400), "deterministic");
    }
}
