//! Building the one aws-sdk-s3 client: the SDK's own configuration chain
//! (region, credentials, the endpoint from `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL`), s3gate's HTTPS client, and timeouts and retries that
//! fit inside API Gateway's 29 s.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::config::Config;

/// The SDK's own configuration chain (region, credentials, and the endpoint
/// from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`), with s3gate's HTTP client
/// and timeouts. Nothing here touches the network: credentials are resolved
/// lazily on the first request. `endpoint_url` overrides the environment's.
pub async fn sdk_config_from_env(
    config: &Config,
    endpoint_url: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts(config.s3_timeout))
        .retry_config(retries(config.s3_timeout));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// One HTTPS client (rustls with ring, which cross-compiles for Graviton
/// without a C toolchain beyond what cargo-lambda brings).
pub fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The whole operation (retries included) ends within `total`; one attempt
/// gets a third of it, so a hung connection is retried before time runs out.
pub fn timeouts(total: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(total.min(Duration::from_secs(2)))
        .operation_attempt_timeout(total / 3)
        .operation_timeout(total)
        .build()
}

/// Three attempts with short backoffs: a Lambda behind API Gateway has
/// seconds, not minutes, so retries must fit inside the S3 timeout (and a
/// refused connection must end as a 502 before that timeout turns it into a
/// 504).
pub fn retries(total: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff((total / 10).max(Duration::from_millis(50)))
}
