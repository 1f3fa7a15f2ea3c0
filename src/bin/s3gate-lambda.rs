//! The Lambda function (`bootstrap`): configuration and one S3 client at
//! init, then one API Gateway REST proxy event per invoke, through the
//! Runtime API loop in `s3gate::lambda::runtime`. Invalid settings stop the function
//! at init with every problem listed (reported on `/init/error` too).

use s3gate::App;
use s3gate::lambda::runtime::{self, RuntimeApi};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    s3gate::telemetry::init_lambda();
    let api = match RuntimeApi::from_env() {
        Ok(api) => api,
        Err(err) => {
            eprintln!("s3gate-lambda: {err}");
            std::process::exit(2);
        }
    };
    let app = match App::from_env().await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("s3gate-lambda: {err}");
            let _ = api.init_failed(&err.to_string()).await;
            std::process::exit(2);
        }
    };
    if let Err(err) = runtime::run(&api, &app).await {
        tracing::error!("Runtime API: {err}");
        eprintln!("s3gate-lambda: Runtime API: {err}");
        std::process::exit(1);
    }
}
