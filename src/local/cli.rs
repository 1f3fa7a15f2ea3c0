//! The `s3gate` command line: subcommands and their flags. The function's
//! settings become flags straight from [`crate::config::SETTINGS`], each
//! falling back to its `S3GATE_*` variable, so flags and environment share
//! one definition.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::{Config, ConfigError, SETTINGS, env_var};
use crate::handler::App;
use crate::local::EmbeddedStore;
use crate::local::gateway::{
    DEFAULT_MAX_CONNECTIONS, DEV_BURST_LIMIT, DEV_QUOTA_LIMIT, DEV_RATE_LIMIT, Gateway,
    GatewayConfig, QuotaPeriod,
};
use crate::storage::{S3Store, sdk_config_from_env};

/// The local default bucket: `sample-data/images/`.
pub const DEFAULT_BUCKET: &str = "images";
pub const DEFAULT_DATA: &str = "sample-data";

pub fn command() -> Command {
    Command::new("s3gate")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Serve S3 objects through API Gateway and Lambda, or locally with no AWS account")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(with_store_args(serve_command()))
        .subcommand(client_args(
            Command::new("get")
                .about("Download an object through a presigned URL from the API (streamed; stdout without -o)")
                .arg(Arg::new("key").required(true).help("object key, as in the API's URLs"))
                .arg(Arg::new("output").short('o').long("output").value_name("FILE").help("write here instead of stdout")),
        ))
        .subcommand(client_args(
            Command::new("put")
                .about("Upload a file through a presigned URL from the API (streamed; size and type signed)")
                .arg(Arg::new("key").required(true).help("object key, as in the API's URLs"))
                .arg(Arg::new("file").required(true).value_name("FILE"))
                .arg(Arg::new("content-type").long("content-type").value_name("TYPE").help("media type [default: by extension]")),
        ))
        .subcommand(
            Command::new("sign")
                .about("Sign a transform URL's parameters with S3GATE_SIGNING_SECRET; prints the query string to use")
                .arg(Arg::new("key").required(true).help("object key, as in the API's URLs (e.g. partnerimages/67/28/67286576.jpeg)"))
                .arg(Arg::new("params").required(true).value_name("QUERY").help("transform parameters, e.g. 'w=800&format=webp'"))
                .arg(
                    Arg::new("expires")
                        .long("expires")
                        .value_name("SECONDS")
                        .value_parser(clap::value_parser!(u64))
                        .help("the URL stops working this many seconds from now"),
                ),
        )
        .subcommand(with_store_args(
            Command::new("invoke")
                .about("Run the Lambda handler once on an API Gateway event file and print the response JSON")
                .arg(Arg::new("event").value_name("EVENT.json").required(true).help("API Gateway REST proxy event")),
        ))
}

fn serve_command() -> Command {
    Command::new("serve")
        .about("Run a local API Gateway (API keys, throttle, quota) in front of the handler and an embedded S3 store")
        .arg(Arg::new("addr").long("addr").value_name("HOST:PORT").default_value("127.0.0.1:3000").help("address of the local API Gateway"))
        .arg(Arg::new("stage").long("stage").default_value("dev").help("stage name, the first path segment"))
        .arg(
            Arg::new("api-key")
                .long("api-key")
                .value_name("KEY")
                .action(ArgAction::Append)
                .help("accepted x-api-key value; repeat for several [env: S3GATE_API_KEY]; generated and printed when absent"),
        )
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
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .help(format!("connections served at once; past it the longest idle one is closed [default: {DEFAULT_MAX_CONNECTIONS}]")),
        )
}

/// Where the API is and the key to call it with.
fn client_args(cmd: Command) -> Command {
    cmd.arg(
        Arg::new("url")
            .long("url")
            .value_name("URL")
            .help("the API URL with the stage, e.g. http://127.0.0.1:3000/dev [env: S3GATE_URL]"),
    )
    .arg(
        Arg::new("api-key")
            .long("api-key")
            .value_name("KEY")
            .help("the API key [env: S3GATE_API_KEY]"),
    )
}

fn remote(m: &ArgMatches) -> Result<crate::local::client::Remote, CliError> {
    let url = m
        .get_one::<String>("url")
        .cloned()
        .or_else(|| std::env::var("S3GATE_URL").ok())
        .ok_or_else(|| CliError::Input("no API URL: pass --url or set S3GATE_URL".to_string()))?;
    let key = m
        .get_one::<String>("api-key")
        .cloned()
        .or_else(|| std::env::var("S3GATE_API_KEY").ok())
        .unwrap_or_default();
    crate::local::client::Remote::new(&url, &key)
}

async fn get(m: &ArgMatches) -> Result<(), CliError> {
    let key = m.get_one::<String>("key").cloned().unwrap_or_default();
    let out = m.get_one::<String>("output").map(PathBuf::from);
    let n = remote(m)?.get(&key, out.as_deref()).await?;
    if let Some(path) = out {
        eprintln!("s3gate: {key} -> {} ({n} bytes)", path.display());
    }
    Ok(())
}

async fn put(m: &ArgMatches) -> Result<(), CliError> {
    let key = m.get_one::<String>("key").cloned().unwrap_or_default();
    let file = m
        .get_one::<String>("file")
        .map(PathBuf::from)
        .unwrap_or_default();
    let content_type = m.get_one::<String>("content-type").cloned();
    let n = remote(m)?.put(&key, &file, content_type.as_deref()).await?;
    eprintln!("s3gate: {} -> {key} ({n} bytes)", file.display());
    Ok(())
}

/// Flags shared by every subcommand that runs the handler: the settings and
/// where the objects come from.
fn with_store_args(mut cmd: Command) -> Command {
    for s in SETTINGS {
        let mut arg = Arg::new(s.name)
            .long(s.name)
            .help(format!("{} [env: {}]", s.help, s.env_var()))
            .action(ArgAction::Set);
        if s.boolean {
            arg = arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_parser(["true", "false"]);
        }
        cmd = cmd.arg(arg);
    }
    cmd.arg(
        Arg::new("data")
            .long("data")
            .value_name("DIR")
            .help(format!("folder the embedded store serves, each top folder a bucket [default: {DEFAULT_DATA}]")),
    )
    .arg(
        Arg::new("endpoint-url")
            .long("endpoint-url")
            .value_name("URL")
            .help("use this S3-compatible endpoint (or real S3 with `https://s3.REGION.amazonaws.com`) instead of the embedded store; credentials from the SDK's usual chain"),
    )
}

/// Where the handler's objects come from for this run. Keeps the embedded
/// store alive as long as it is needed.
pub struct Backend {
    pub app: App,
    pub embedded: Option<EmbeddedStore>,
}

impl Backend {
    /// Reads the settings (flags over `S3GATE_*`), then either starts the
    /// embedded store over the data folder or builds a client for
    /// `--endpoint-url` from the SDK's environment.
    pub async fn from_matches(m: &ArgMatches) -> Result<Backend, CliError> {
        let endpoint = m.get_one::<String>("endpoint-url").cloned();
        let embedded_mode = endpoint.is_none();
        let config = config_from_matches(m, embedded_mode).map_err(CliError::Config)?;
        if let Some(url) = endpoint {
            let sdk = sdk_config_from_env(&config, Some(&url)).await;
            let store = S3Store::new(&sdk, &config);
            return Ok(Backend {
                app: App::new(config, store),
                embedded: None,
            });
        }
        let data = data_dir(m.get_one::<String>("data").map(PathBuf::from))?;
        let embedded = EmbeddedStore::start(&data, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|e| {
                CliError::Io(
                    format!("starting the embedded store over {}", data.display()),
                    e,
                )
            })?;
        let store = embedded.s3_store(&config).await;
        Ok(Backend {
            app: App::new(config, store),
            embedded: Some(embedded),
        })
    }

    /// Whether the configured bucket exists (a HeadBucket, bounded by the
    /// S3 timeout); a store that cannot say counts as yes.
    pub async fn bucket_exists(&self) -> bool {
        let call = self
            .app
            .store
            .client()
            .head_bucket()
            .bucket(self.app.store.bucket())
            .send();
        match tokio::time::timeout(self.app.config.s3_timeout, call).await {
            Ok(Err(e)) => e.as_service_error().is_none_or(|s| !s.is_not_found()),
            _ => true,
        }
    }
}

/// Flags first, then `S3GATE_*`; in embedded mode the bucket defaults to
/// `images`.
pub fn config_from_matches(m: &ArgMatches, embedded_mode: bool) -> Result<Config, ConfigError> {
    Config::from_lookup(|name| {
        m.get_one::<String>(name)
            .cloned()
            .or_else(|| std::env::var_os(env_var(name)).map(|v| v.to_string_lossy().into_owned()))
            .or_else(|| (embedded_mode && name == "bucket").then(|| DEFAULT_BUCKET.to_string()))
    })
}

/// `--data`, else `./sample-data`: the folder given, or the one here. No
/// fallback to the source checkout (with `--allow-write` that would write
/// into it).
fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    let here = PathBuf::from(DEFAULT_DATA);
    if here.is_dir() {
        return Ok(here);
    }
    Err(CliError::Input(format!(
        "no ./{DEFAULT_DATA} folder here: run from the s3gate checkout, or pass --data DIR (each top folder a bucket)"
    )))
}

/// Runs the command line; returns the process exit code.
pub async fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), CliError> {
    let matches = command()
        .try_get_matches_from(args)
        .map_err(CliError::Usage)?;
    match matches.subcommand() {
        Some(("invoke", m)) => invoke(m).await,
        Some(("serve", m)) => serve(m).await,
        Some(("get", m)) => get(m).await,
        Some(("put", m)) => put(m).await,
        Some(("sign", m)) => sign(m),
        _ => Ok(()),
    }
}

/// A line on stdout. A closed stdout (`serve | head -1`) is not an error
/// worth dying for: the server goes on.
fn say(line: &str) {
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
    let mut api_keys: Vec<String> = m
        .get_many::<String>("api-key")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if api_keys.is_empty()
        && let Ok(from_env) = std::env::var("S3GATE_API_KEY")
    {
        api_keys.extend(
            from_env
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string),
        );
    }
    // No part of a key in the message: it may be a real one, mistyped.
    let bad_keys = api_keys
        .iter()
        .filter(|k| k.len() < 20 || !k.bytes().all(|b| b.is_ascii_graphic()))
        .count();
    if bad_keys > 0 {
        problems.push(format!(
            "--api-key: {bad_keys} API key(s) too short or not printable: API Gateway keys are at least 20 printable characters"
        ));
    }
    let generated = api_keys.is_empty();
    if generated {
        match super::random::hex(20) {
            Ok(key) => api_keys.push(key),
            Err(e) => problems.push(format!("generating an API key: {e}")),
        }
    }
    let mut cfg = GatewayConfig::dev(api_keys);
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

async fn serve(m: &ArgMatches) -> Result<(), CliError> {
    // Every problem at once: the gateway's flags and the settings.
    let mut problems = Vec::new();
    let (addr, cfg, generated) = gateway_config(m, &mut problems);
    let embedded_mode = m.get_one::<String>("endpoint-url").is_none();
    match config_from_matches(m, embedded_mode) {
        Ok(_) if problems.is_empty() => {}
        Ok(_) => return Err(CliError::Config(ConfigError { problems })),
        Err(e) => {
            problems.extend(e.problems);
            return Err(CliError::Config(ConfigError { problems }));
        }
    }
    // API Gateway refuses every request of a plan with a rate, burst or
    // quota of 0.
    for (name, zero) in [
        ("--rate-limit", cfg.rate_limit == 0.0),
        ("--burst-limit", cfg.burst_limit == 0),
        ("--quota-limit", cfg.quota_limit == 0),
    ] {
        if zero {
            warn(&format!(
                "{name} is 0: every keyed request will get a 429, as API Gateway answers such a usage plan (rate, burst and quota)"
            ));
        }
    }
    let backend = Backend::from_matches(m).await?;
    let bucket = backend.app.config.bucket.clone();
    let source = match &backend.embedded {
        Some(store) => format!("embedded S3 store on {}", store.endpoint()),
        None => m
            .get_one::<String>("endpoint-url")
            .cloned()
            .unwrap_or_default(),
    };
    if !backend.bucket_exists().await {
        warn(&format!(
            "bucket {bucket:?} is not in {source}: every object request will answer 502 until it exists"
        ));
    }
    let stage = cfg.stage.clone();
    let (rate, burst, quota, period) = (
        cfg.rate_limit,
        cfg.burst_limit,
        cfg.quota_limit,
        cfg.quota_period,
    );
    let first_key = cfg.api_keys.first().cloned().unwrap_or_default();
    let gateway = Gateway::start(backend.app.clone(), cfg, addr)
        .await
        .map_err(|e| CliError::Io(format!("binding the local API Gateway to {addr}"), e))?;
    let url = format!("http://{}/{stage}/", gateway.addr());
    say(&format!("s3gate: local API Gateway at {url}"));
    say(&format!("  bucket:  {bucket} ({source})"));
    // A key the user chose is theirs to know; only a generated one is shown.
    let shown = if generated {
        say(&format!(
            "  API key: {first_key} (generated; pass --api-key to choose one)"
        ));
        first_key
    } else {
        say("  API key: as given with --api-key or S3GATE_API_KEY");
        "$S3GATE_API_KEY".to_string()
    };
    say(&format!(
        "  usage plan: {rate} req/s, burst {burst}, quota {quota} per {}",
        period.as_str()
    ));
    say(&format!(
        "  try:     curl -H \"x-api-key: {shown}\" -o photo.jpeg {url}partnerimages/67/28/67286576.jpeg"
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

/// `s3gate sign KEY 'w=800&format=webp' [--expires SECONDS]`.
fn sign(m: &ArgMatches) -> Result<(), CliError> {
    use crate::transform::sign;
    let var = env_var("signing-secret");
    let secret = std::env::var(&var).unwrap_or_default();
    if secret.len() < sign::MIN_SECRET_LEN {
        return Err(CliError::Input(format!(
            "{var} must hold the API's signing secret (at least {} bytes)",
            sign::MIN_SECRET_LEN
        )));
    }
    let key = m.get_one::<String>("key").cloned().unwrap_or_default();
    let key = key.trim_start_matches('/').to_string();
    // A signature for a key the API refuses would never be used.
    crate::local::client::check_key(&key)?;
    let raw = m.get_one::<String>("params").cloned().unwrap_or_default();
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in raw
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if k == "sig" || k == "expires" {
            continue;
        }
        params.push((k, v));
    }
    if let Some(secs) = m.get_one::<u64>("expires") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        params.push(("expires".to_string(), (now + secs).to_string()));
    }
    let sig = sign::sign(
        secret.as_bytes(),
        &key,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    params.push(("sig".to_string(), sig));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", sign::encode(k), sign::encode(v)))
        .collect();
    say(&query.join("&"));
    Ok(())
}

fn percent_decode(s: &str) -> Result<String, CliError> {
    crate::request::percent_decode(s)
        .ok_or_else(|| CliError::Input(format!("{s:?}: bad percent-encoding")))
}

async fn invoke(m: &ArgMatches) -> Result<(), CliError> {
    let path = m.get_one::<String>("event").cloned().unwrap_or_default();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Io(format!("reading event file {path:?}"), e))?;
    let event = crate::request::ProxyEvent::from_slice(text.as_bytes())
        .map_err(|e| CliError::Input(format!("event file {path:?}: {e}")))?;
    let backend = Backend::from_matches(m).await?;
    let response = backend.app.handle_event(event).await;
    say(&response.to_json());
    Ok(())
}

/// The command line's own errors: what went wrong, said once.
#[derive(Debug)]
pub enum CliError {
    Usage(clap::Error),
    Config(ConfigError),
    Io(String, std::io::Error),
    Input(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(e) => write!(f, "{e}"),
            CliError::Config(e) => write!(f, "{e}"),
            CliError::Io(what, e) => write!(f, "{what}: {e}"),
            CliError::Input(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for CliError {}
