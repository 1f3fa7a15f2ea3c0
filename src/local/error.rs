//! The command line's own errors: what went wrong, said once, exit 2.

use crate::config::ConfigError;

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
