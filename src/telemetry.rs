//! Logging set-up shared by the function and the command line tool: JSON
//! lines when Lambda asks for them (`AWS_LAMBDA_LOG_FORMAT=JSON`), text
//! otherwise; always on stderr, so `s3gate invoke` keeps stdout for the
//! response. Request headers are never logged, so API key values never are.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

static JSON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether log lines are JSON (Lambda's `AWS_LAMBDA_LOG_FORMAT=JSON`, which
/// the template sets): where metrics are written, as EMF needs JSON.
pub fn json_logs() -> bool {
    *JSON.get_or_init(|| {
        std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
    })
}

/// Level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info` for s3gate
/// and `warn` for the libraries.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| format!("warn,s3gate={}", l.to_ascii_lowercase()))
        }) // lambda_runtime logs whole events at trace level, headers and
        // API keys included: never below info, whatever is asked.
        .and_then(|f| {
            EnvFilter::try_new(format!(
                "{f},lambda_runtime=info,lambda_runtime_api_client=info"
            ))
            .ok()
        })
        .unwrap_or_else(|| EnvFilter::new("warn,s3gate=info"));
    let json = json_logs();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is not an error worth failing for.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}
