//! The `s3gate` command line: subcommands and their flags. The function's
//! settings become flags straight from [`crate::config::SETTINGS`], each
//! falling back to its `S3GATE_*` variable, so flags and environment share
//! one definition.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::{Config, ConfigError, SETTINGS, env_var};
use crate::handler::App;
use crate::local::EmbeddedStore;
use crate::local::gateway::{
    DEV_BURST_LIMIT, DEV_QUOTA_LIMIT, DEV_QUOTA_PERIOD, DEV_RATE_LIMIT, Gateway, GatewayConfig,
    QuotaPeriod,
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
        let data = data_dir(m.get_one::<String>("data").map(PathBuf::from));
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

/// `--data`, else `./sample-data`, else the `sample-data` beside the crate's
/// manifest (so `cargo run` works from any folder of a checkout).
fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag {
        return dir;
    }
    let here = PathBuf::from(DEFAULT_DATA);
    if here.is_dir() {
        return here;
    }
    let beside_manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_DATA);
    if beside_manifest.is_dir() {
        beside_manifest
    } else {
        here
    }
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

async fn serve(m: &ArgMatches) -> Result<(), CliError> {
    let addr: SocketAddr = m
        .get_one::<String>("addr")
        .map(String::as_str)
        .unwrap_or("127.0.0.1:3000")
        .parse()
        .map_err(|e| CliError::Input(format!("--addr: {e}")))?;
    let stage = m
        .get_one::<String>("stage")
        .cloned()
        .unwrap_or_else(|| "dev".to_string());
    if stage.is_empty()
        || !stage
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(CliError::Input(format!(
            "--stage {stage:?}: letters, digits and underscores only"
        )));
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
    if let Some(bad) = api_keys
        .iter()
        .find(|k| k.len() < 20 || !k.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(CliError::Input(format!(
            "API key {:?}...: API Gateway keys are at least 20 printable characters",
            &bad.chars().take(4).collect::<String>()
        )));
    }
    let generated = api_keys.is_empty();
    if generated {
        api_keys.push(generated_key());
    }
    let quota_period = m
        .get_one::<String>("quota-period")
        .and_then(|p| QuotaPeriod::parse(p))
        .unwrap_or(DEV_QUOTA_PERIOD);
    let cfg = GatewayConfig {
        stage: stage.clone(),
        api_keys: api_keys.clone(),
        rate_limit: m
            .get_one::<f64>("rate-limit")
            .copied()
            .unwrap_or(DEV_RATE_LIMIT),
        burst_limit: m
            .get_one::<u32>("burst-limit")
            .copied()
            .unwrap_or(DEV_BURST_LIMIT),
        quota_limit: m
            .get_one::<u64>("quota-limit")
            .copied()
            .unwrap_or(DEV_QUOTA_LIMIT),
        quota_period,
    };
    if !(cfg.rate_limit.is_finite() && cfg.rate_limit >= 0.0) {
        return Err(CliError::Input(
            "--rate-limit: expected a number of requests per second".to_string(),
        ));
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
    let gateway = Gateway::start(backend.app.clone(), cfg, addr)
        .await
        .map_err(|e| CliError::Io(format!("binding the local API Gateway to {addr}"), e))?;
    let url = format!("http://{}/{stage}/", gateway.addr());
    let key = &api_keys[0];
    println!("s3gate: local API Gateway at {url}");
    println!("  bucket:  {bucket} ({source})");
    println!(
        "  API key: {key}{}",
        if generated {
            " (generated; pass --api-key to choose one)"
        } else {
            ""
        }
    );
    println!(
        "  usage plan: {} req/s, burst {}, quota {} per {}",
        m.get_one::<f64>("rate-limit")
            .copied()
            .unwrap_or(DEV_RATE_LIMIT),
        m.get_one::<u32>("burst-limit")
            .copied()
            .unwrap_or(DEV_BURST_LIMIT),
        m.get_one::<u64>("quota-limit")
            .copied()
            .unwrap_or(DEV_QUOTA_LIMIT),
        m.get_one::<String>("quota-period")
            .cloned()
            .unwrap_or_else(|| "DAY".to_string())
    );
    println!(
        "  try:     curl -H \"x-api-key: {key}\" -o photo.jpeg {url}partnerimages/67/28/67286576.jpeg"
    );
    println!("Press Ctrl-C to stop.");
    wait_for_signal().await;
    println!("s3gate: stopping");
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

/// 40 random hex characters.
fn generated_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < 40 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
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
    println!("{}", query.join("&"));
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
    let event = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "event file {path:?} is not an API Gateway proxy event: {e}"
        ))
    })?;
    let backend = Backend::from_matches(m).await?;
    let response = backend.app.handle_event(event).await;
    let json = response.to_json();
    println!("{json}");
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
