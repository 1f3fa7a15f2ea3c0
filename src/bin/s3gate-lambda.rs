//! The Lambda function (`bootstrap`): configuration and one S3 client at
//! init, then one API Gateway REST proxy event per invoke. Invalid settings
//! stop the function at init with every problem listed.

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use s3gate::{App, ProxyEvent};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    s3gate::telemetry::init();
    let app = match App::from_env().await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("s3gate-lambda: {err}");
            std::process::exit(2);
        }
    };
    let app = &app;
    // The response JSON is written once by `to_json` (base64 straight into
    // an exact-size buffer) and handed over as raw JSON, so serde_json does
    // not escape-scan megabytes of base64 again.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ProxyEvent>| async move {
            let json = app.handle_event(event.payload).await.to_json();
            Ok::<Box<RawValue>, lambda_runtime::Error>(RawValue::from_string(json)?)
        },
    ))
    .await
}
