//! `s3gate`, the command line tool: thin on purpose. It parses, starts
//! logging and hands over to [`s3gate::local::cli`]; errors are printed once
//! and the process exits 2.

use s3gate::local::cli;
use s3gate::local::error::CliError;

#[tokio::main]
async fn main() {
    s3gate::telemetry::init();
    match cli::run(std::env::args_os()).await {
        Ok(()) => {}
        Err(CliError::Usage(e)) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("s3gate: {e}");
            std::process::exit(2);
        }
    }
}
