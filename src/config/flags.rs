//! The settings as flags of the `s3gate` command line tool, built from the
//! same table the function reads. Each flag carries its `S3GATE_*`
//! environment variable, which clap reads on this module's behalf, so flags
//! win over the environment and nothing else in the tool reads either.
//! Values are not checked here but in [`Config::from_lookup`], so every
//! problem is still reported at once.

use clap::{Arg, ArgAction, ArgMatches};

use super::{Config, ConfigError, SETTINGS, Setting, env_var};

/// One flag per function setting (`--key-prefix`, `S3GATE_KEY_PREFIX`).
pub fn settings() -> impl Iterator<Item = Arg> {
    SETTINGS.iter().map(flag)
}

/// Settings whose value is a secret: `--help` never shows it, even when
/// its environment variable is set.
const SECRETS: &[&str] = &["signing-secret", "id-secret"];

/// One setting as a flag. A boolean is switched on by the bare flag
/// (`--allow-write`) and off by `--allow-write=false`. The default is the
/// function's, shown in the help but not given to clap (the configuration
/// applies it, so a flag never hides what the environment says).
pub fn flag(s: &Setting) -> Arg {
    let help = match s.default {
        Some(d) if !d.is_empty() => format!("{} [default: {d}]", s.help),
        _ => s.help.to_string(),
    };
    let arg = Arg::new(s.name)
        .long(s.name)
        .help(help)
        .env(s.env_var())
        .hide_env_values(SECRETS.contains(&s.name))
        .action(ArgAction::Set);
    if s.boolean {
        arg.num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
    } else {
        arg
    }
}

/// The flag of one named setting (`sign` takes only `signing-secret`).
pub fn named(name: &str) -> Option<Arg> {
    SETTINGS.iter().find(|s| s.name == name).map(flag)
}

/// The configuration from matched flags (or their environment variables);
/// `default_bucket` stands in when neither names a bucket nor an allowlist
/// (the embedded store's `images`). `admin_key_ids` are added to the
/// setting's (the local gateway's admin keys).
pub fn config(
    m: &ArgMatches,
    default_bucket: Option<&str>,
    admin_key_ids: &[String],
) -> Result<Config, ConfigError> {
    let given = |name: &str| m.try_get_one::<String>(name).ok().flatten().cloned();
    let bucket_mode = given("buckets").is_some_and(|b| !b.trim().is_empty());
    Config::from_lookup(|name| match name {
        "bucket" if !bucket_mode => given(name).or_else(|| default_bucket.map(str::to_string)),
        "admin-key-ids" if !admin_key_ids.is_empty() => {
            let mut ids: Vec<String> = given(name).into_iter().collect();
            ids.extend(admin_key_ids.iter().cloned());
            Some(ids.join(","))
        }
        _ => given(name),
    })
}

/// `--url`: the API to call, with its stage.
pub fn url() -> Arg {
    Arg::new("url")
        .long("url")
        .value_name("URL")
        .env(env_var("url"))
        .help("the API URL with the stage, e.g. http://127.0.0.1:3000/dev")
}

/// `--api-key` of the client commands: the key to call the API with.
pub fn api_key() -> Arg {
    Arg::new("api-key")
        .long("api-key")
        .value_name("KEY")
        .env(env_var("api-key"))
        .hide_env_values(true)
        .help("the API key")
}

/// `--api-key` of `serve`: the keys the local API Gateway accepts
/// (repeatable; the environment variable takes a comma-separated list).
pub fn accepted_api_keys() -> Arg {
    Arg::new("api-key")
        .long("api-key")
        .value_name("KEY")
        .env(env_var("api-key"))
        .hide_env_values(true)
        .value_delimiter(',')
        .action(ArgAction::Append)
        .help("accepted x-api-key value; repeat for several; generated and printed when absent")
}

/// `--admin-api-key` of `serve`: keys the local API Gateway accepts and
/// whose ids the function treats as admin keys (repeatable).
pub fn admin_api_keys() -> Arg {
    Arg::new("admin-api-key")
        .long("admin-api-key")
        .value_name("KEY")
        .env(env_var("admin-api-key"))
        .hide_env_values(true)
        .value_delimiter(',')
        .action(ArgAction::Append)
        .help("an admin key: accepted like --api-key, and its id is added to admin-key-ids (bucket create/delete, /id/); repeat for several")
}
