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
        .subcommand(with_store_args(
            Command::new("invoke")
                .about("Run the Lambda handler once on an API Gateway event file and print the response JSON")
                .arg(Arg::new("event").value_name("EVENT.json").required(true).help("API Gateway REST proxy event")),
        ))
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
        _ => Ok(()),
    }
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
    let json = serde_json::to_string(&response)
        .map_err(|e| CliError::Input(format!("serializing the response: {e}")))?;
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
