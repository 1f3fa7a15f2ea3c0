//! Where the handler's objects come from for one run of `serve` or
//! `invoke`: the embedded store over a data folder (each top folder a
//! bucket), or any S3-compatible endpoint. Keeps the embedded store alive
//! as long as it is needed.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};

use super::EmbeddedStore;
use super::error::CliError;
use crate::config::flags;
use crate::handler::App;
use crate::storage::{S3Store, sdk_config_from_env};

/// The local default bucket: `sample-data/images/`.
pub const DEFAULT_BUCKET: &str = "images";
pub const DEFAULT_DATA: &str = "sample-data";

/// The flags of every subcommand that runs the handler: the settings and
/// where the objects come from.
pub fn args(cmd: Command) -> Command {
    cmd.args(flags::settings())
        .arg(
            Arg::new("data")
                .long("data")
                .value_name("DIR")
                .help(format!("folder the embedded store serves, each top folder a bucket [default: ./{DEFAULT_DATA}]")),
        )
        .arg(
            Arg::new("endpoint-url")
                .long("endpoint-url")
                .value_name("URL")
                .help("use this S3-compatible endpoint (or real S3 with `https://s3.REGION.amazonaws.com`) instead of the embedded store; credentials from the SDK's usual chain"),
        )
}

pub struct Backend {
    pub app: App,
    pub embedded: Option<EmbeddedStore>,
}

impl Backend {
    /// Reads the settings (flags over `S3GATE_*`), then either starts the
    /// embedded store over the data folder or builds a client for
    /// `--endpoint-url` from the SDK's environment.
    /// `admin_key_ids`: the local gateway's admin keys' ids.
    pub async fn from_matches(
        m: &ArgMatches,
        admin_key_ids: &[String],
    ) -> Result<Backend, CliError> {
        let endpoint = m.get_one::<String>("endpoint-url").cloned();
        let default_bucket = endpoint.is_none().then_some(DEFAULT_BUCKET);
        let config = flags::config(m, default_bucket, admin_key_ids).map_err(CliError::Config)?;
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

    /// The configured buckets (the one, or the allowlist) that do not exist
    /// (a HeadBucket each, bounded by the S3 timeout); a store that cannot
    /// say counts as yes.
    pub async fn missing_buckets(&self) -> Vec<String> {
        let config = &self.app.config;
        let names = config
            .buckets
            .clone()
            .unwrap_or_else(|| vec![config.bucket.clone()]);
        let mut missing = Vec::new();
        for name in names {
            let store = self.app.store.for_bucket(&name);
            if let Ok(Ok(false)) =
                tokio::time::timeout(config.s3_timeout, store.bucket_exists()).await
            {
                missing.push(name);
            }
        }
        missing
    }
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
