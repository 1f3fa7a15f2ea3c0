//! `s3gate serve`: the local API Gateway in front of the handler and its
//! store. Every problem with the flags and the settings is reported at
//! once; settings that work but are probably not meant get a warning; the
//! banner shows a key only if it made one up.

use std::net::{Ipv4Addr, SocketAddr};

use clap::{Arg, ArgMatches, Command};

use super::backend::{self, Backend};
use super::error::CliError;
use super::gateway::{
    DEFAULT_MAX_CONNECTIONS, DEV_BURST_LIMIT, DEV_QUOTA_LIMIT, DEV_RATE_LIMIT, Gateway,
    GatewayConfig, QuotaPeriod,
};
use crate::config::{ConfigError, flags};

pub fn command() -> Command {
    backend::args(serve_command())
}

fn serve_command() -> Command {
    Command::new("serve")
        .about("Run a local API Gateway (API keys, throttle, quota) in front of the handler and an embedded S3 store")
        .arg(Arg::new("addr").long("addr").value_name("HOST:PORT").default_value("127.0.0.1:3000").help("address of the local API Gateway"))
        .arg(Arg::new("stage").long("stage").default_value("dev").help("stage name, the first path segment"))
        .arg(flags::accepted_api_keys())
        .arg(flags::admin_api_keys())
        .arg(
            Arg::new("rate-limit")
                .long("rate-limit")
                .value_name("RPS")
                .value_parser(clap::value_parser!(f64))
                .help(format!("usage plan throttle: steady requests per second per key [default: {DEV_RATE_LIMIT}]")),
        )
        .arg(
            Arg::new("burst-limit")
                .long("burst-limit")
                .value_parser(clap::value_parser!(u32))
                .help(format!("usage plan throttle: burst (token bucket size) per key [default: {DEV_BURST_LIMIT}]")),
        )
        .arg(
            Arg::new("quota-limit")
                .long("quota-limit")
                .value_parser(clap::value_parser!(u64))
                .help(format!("usage plan quota: requests per key per period [default: {DEV_QUOTA_LIMIT}]")),
        )
        .arg(
            Arg::new("quota-period")
                .long("quota-period")
                .value_parser(["DAY", "WEEK", "MONTH"])
                .help("usage plan quota period [default: DAY]"),
        )
        .arg(
            Arg::new("cache-size")
                .long("cache-size")
                .value_name("GB")
                .value_parser(["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"])
                .help("with --cache-ttl: the emulated stage cache's capacity, as API Gateway's CacheClusterSize [default: 0.5]"),
        )
        .arg(
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .help(format!("connections served at once; past it the longest idle one is closed [default: {DEFAULT_MAX_CONNECTIONS}]")),
        )
}

/// A line on stdout. A closed stdout (`serve | head -1`) is not an error
/// worth dying for: the server goes on.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A warning on stderr: a setting that works but is probably not meant.
fn warn(line: &str) {
    eprintln!("s3gate: warning: {line}");
}

/// The local gateway's settings from the flags, every problem collected.
fn gateway_config(m: &ArgMatches, problems: &mut Vec<String>) -> (SocketAddr, GatewayConfig, bool) {
    let addr = m
        .get_one::<String>("addr")
        .map(String::as_str)
        .unwrap_or("127.0.0.1:3000");
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| {
        problems.push(format!("--addr {addr:?}: {e}"));
        SocketAddr::from((Ipv4Addr::LOCALHOST, 3000))
    });
    let stage = m
        .get_one::<String>("stage")
        .cloned()
        .unwrap_or_else(|| "dev".to_string());
    if stage.is_empty()
        || !stage
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        problems.push(format!(
            "--stage {stage:?}: letters, digits and underscores only"
        ));
    }
    let keys = |name: &str| -> Vec<String> {
        m.get_many::<String>(name)
            .map(|v| {
                v.map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    // An empty key on the command line is a mistake (an unset variable,
    // `--admin-api-key "$ADMIN"`), never a key to drop quietly.
    for flag in ["api-key", "admin-api-key"] {
        let typed = m.value_source(flag) == Some(clap::parser::ValueSource::CommandLine);
        let empty = m
            .get_many::<String>(flag)
            .is_some_and(|mut v| v.any(|k| k.trim().is_empty()));
        if typed && empty {
            problems.push(format!(
                "--{flag}: an empty key (is the variable you meant to pass set?)"
            ));
        }
    }
    let mut api_keys = keys("api-key");
    let admin_keys = keys("admin-api-key");
    // No part of a key in the message: it may be a real one, mistyped.
    for (flag, given) in [("--api-key", &api_keys), ("--admin-api-key", &admin_keys)] {
        let bad_keys = given
            .iter()
            .filter(|k| k.len() < 20 || !k.bytes().all(|b| b.is_ascii_graphic()))
            .count();
        if bad_keys > 0 {
            problems.push(format!(
                "{flag}: {bad_keys} API key(s) too short or not printable: API Gateway keys are at least 20 printable characters"
            ));
        }
    }
    if admin_keys.iter().any(|k| api_keys.contains(k)) {
        problems.push(
            "--admin-api-key: a key given with --api-key too; API Gateway keys are unique"
                .to_string(),
        );
    }
    let generated = api_keys.is_empty();
    if generated {
        match super::random::hex(20) {
            Ok(key) => api_keys.push(key),
            Err(e) => problems.push(format!("generating an API key: {e}")),
        }
    }
    let mut cfg = GatewayConfig::dev(api_keys);
    cfg.admin_keys = admin_keys;
    cfg.stage = stage;
    if let Some(r) = m.get_one::<f64>("rate-limit") {
        cfg.rate_limit = *r;
    }
    if !(cfg.rate_limit.is_finite() && cfg.rate_limit >= 0.0) {
        problems.push("--rate-limit: expected a number of requests per second".to_string());
    }
    if let Some(b) = m.get_one::<u32>("burst-limit") {
        cfg.burst_limit = *b;
    }
    if let Some(q) = m.get_one::<u64>("quota-limit") {
        cfg.quota_limit = *q;
    }
    if let Some(p) = m
        .get_one::<String>("quota-period")
        .and_then(|p| QuotaPeriod::parse(p))
    {
        cfg.quota_period = p;
    }
    if let Some(n) = m.get_one::<usize>("max-connections") {
        cfg.max_connections = *n;
    }
    (addr, cfg, generated)
}

pub async fn run(m: &ArgMatches) -> Result<(), CliError> {
    // Every problem at once: the gateway's flags and the settings.
    let mut problems = Vec::new();
    let (addr, cfg, generated) = gateway_config(m, &mut problems);
    let default_bucket = m
        .get_one::<String>("endpoint-url")
        .is_none()
        .then_some(backend::DEFAULT_BUCKET);
    match flags::config(m, default_bucket, &cfg.admin_key_ids()) {
        Ok(_) if problems.is_empty() => {}
        Ok(_) => return Err(CliError::Config(ConfigError { problems })),
        Err(e) => {
            problems.extend(e.problems);
            return Err(CliError::Config(ConfigError { problems }));
        }
    }
    // What a 0 in the usage plan does, as API Gateway's token bucket does
    // it: a burst or quota of 0 refuses every keyed request; a rate of 0
    // never refills the bucket, so the burst is all there is.
    for (name, zero, what) in [
        (
            "--burst-limit",
            cfg.burst_limit == 0,
            "every keyed request will get a 429",
        ),
        (
            "--quota-limit",
            cfg.quota_limit == 0,
            "every keyed request will get a 429",
        ),
        (
            "--rate-limit",
            cfg.rate_limit == 0.0 && cfg.burst_limit > 0,
            "the bucket never refills: after the first --burst-limit requests of a key, every one gets a 429",
        ),
    ] {
        if zero {
            warn(&format!(
                "{name} is 0: {what}, as API Gateway answers such a usage plan"
            ));
        }
    }
    let backend = Backend::from_matches(m, &cfg.admin_key_ids()).await?;
    let mut cfg = cfg;
    let cache_ttl = backend.app.config.cache_ttl;
    if !cache_ttl.is_zero() {
        let gb: f64 = m
            .get_one::<String>("cache-size")
            .and_then(|g| g.parse().ok())
            .unwrap_or(0.5);
        cfg.cache = Some((cache_ttl, (gb * 1e9) as usize));
    }
    let buckets = match &backend.app.config.buckets {
        Some(list) => list.join(", "),
        None => backend.app.config.bucket.clone(),
    };
    let source = match &backend.embedded {
        Some(store) => format!("embedded S3 store on {}", store.endpoint()),
        None => m
            .get_one::<String>("endpoint-url")
            .cloned()
            .unwrap_or_default(),
    };
    for bucket in backend.missing_buckets().await {
        let what = if backend.app.config.buckets.is_some() {
            "its objects answer 404 NoSuchBucket until it is created (PUT /{bucket} with an admin key)"
        } else {
            "every object request will answer 502 until it exists"
        };
        warn(&format!("bucket {bucket:?} is not in {source}: {what}"));
    }
    let stage = cfg.stage.clone();
    let (rate, burst, quota, period) = (
        cfg.rate_limit,
        cfg.burst_limit,
        cfg.quota_limit,
        cfg.quota_period,
    );
    let first_key = cfg.api_keys.first().cloned().unwrap_or_default();
    let cache = cfg.cache;
    let admin_ids = cfg.admin_key_ids();
    let gateway = Gateway::start(backend.app.clone(), cfg, addr)
        .await
        .map_err(|e| CliError::Io(format!("binding the local API Gateway to {addr}"), e))?;
    let url = format!("http://{}/{stage}/", gateway.addr());
    say(&format!("s3gate: local API Gateway at {url}"));
    match backend.app.config.buckets {
        Some(_) => say(&format!(
            "  buckets: {buckets} ({source}; paths are /{{bucket}}/{{key}})"
        )),
        None => say(&format!("  bucket:  {buckets} ({source})")),
    }
    if !admin_ids.is_empty() {
        say(&format!(
            "  admin keys: {} (ids {})",
            admin_ids.len(),
            admin_ids.join(", ")
        ));
    }
    // A key the user chose is theirs to know; only a generated one is shown.
    let shown = if generated {
        say(&format!(
            "  API key: {first_key} (generated; pass --api-key to choose one)"
        ));
        first_key
    } else {
        say("  API key: as given with --api-key or S3GATE_API_KEY (not shown)");
        "<your key>".to_string()
    };
    say(&format!(
        "  usage plan: {rate} req/s, burst {burst}, quota {quota} per {}",
        period.as_str()
    ));
    if let Some((ttl, bytes)) = cache {
        say(&format!(
            "  stage cache: GET answers kept {} s, {:.1} GB (API Gateway's, emulated)",
            ttl.as_secs(),
            bytes as f64 / 1e9
        ));
    }
    let sample = "partnerimages/67/28/67286576.jpeg";
    let try_path = match &backend.app.config.buckets {
        None => format!("-o photo.jpeg {url}{sample}"),
        Some(list) if list.iter().any(|b| b == backend::DEFAULT_BUCKET) => {
            format!("-o photo.jpeg {url}{}/{sample}", backend::DEFAULT_BUCKET)
        }
        Some(_) => url.clone(),
    };
    say(&format!(
        "  try:     curl -H \"x-api-key: {shown}\" {try_path}"
    ));
    say("Press Ctrl-C to stop.");
    wait_for_signal().await;
    say("s3gate: stopping");
    gateway.shutdown().await;
    drop(backend);
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
