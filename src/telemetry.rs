//! Logging set-up shared by the function and the command line tool: JSON
//! lines when Lambda asks for them (`AWS_LAMBDA_LOG_FORMAT=JSON`), text
//! otherwise; on stdout in the function, on stderr in the command line tool,
//! so `s3gate invoke` keeps stdout for the response. Request headers are never logged, so API key values never are.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

static JSON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
static STDOUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One log line where the other lines go (stdout in Lambda, stderr for the
/// command line tool); a closed stream is no reason to fail a request.
pub fn write_line(line: &str) {
    use std::io::Write;
    if STDOUT.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// The function's logging: as [`init`], on stdout, the stream CloudWatch's
/// documentation names for Embedded Metric Format lines (Lambda keeps both).
pub fn init_lambda() {
    STDOUT.store(true, std::sync::atomic::Ordering::Relaxed);
    init_to(true);
}

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
    init_to(false);
}

fn init_to(stdout: bool) {
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
    let writer = move || -> Box<dyn std::io::Write> {
        if stdout {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::stderr())
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // A second init (tests) is not an error worth failing for.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        let terminal = if stdout {
            std::io::stdout().is_terminal()
        } else {
            std::io::stderr().is_terminal()
        };
        builder.with_ansi(terminal).try_init()
    };
}
