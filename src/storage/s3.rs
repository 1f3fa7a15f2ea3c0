//! The aws-sdk-s3 implementation: client construction (one client per
//! process, path-style for custom endpoints, bounded timeouts) and the
//! translation of SDK outcomes into [`ObjectMeta`] and [`StoreError`].

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::{Fetched, ObjectMeta, StoreError};
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
pub(crate) fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The whole operation (retries included) ends within `total`; one attempt
/// gets a third of it, so a hung connection is retried before time runs out.
pub(crate) fn timeouts(total: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(total.min(Duration::from_secs(2)))
        .operation_attempt_timeout(total / 3)
        .operation_timeout(total)
        .build()
}

/// HeadObject and GetObject outputs carry the same fields under the same
/// names but are different types.
macro_rules! object_meta {
    ($out:ident) => {
        ObjectMeta {
            size: $out
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            content_type: $out.content_type,
            etag: $out.e_tag,
            last_modified: $out.last_modified.and_then(to_system_time),
            cache_control: $out.cache_control,
            content_disposition: $out.content_disposition,
            content_encoding: $out.content_encoding,
        }
    };
}

/// Three attempts with short backoffs: a Lambda behind API Gateway has
/// seconds, not minutes, so retries must fit inside the S3 timeout (and a
/// refused connection must end as a 502 before that timeout turns it into a
/// 504).
pub(crate) fn retries(total: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff((total / 10).max(Duration::from_millis(50)))
}

/// The bucket, the prefix and one client.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    timeout: Duration,
}

impl S3Store {
    /// Builds the client from an SDK configuration. Path-style addressing is
    /// on when the setting says so or, by default, when an endpoint URL is
    /// set (local stores rarely resolve virtual-hosted bucket names).
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> S3Store {
        let path_style = config
            .force_path_style
            .unwrap_or(sdk.endpoint_url().is_some());
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            // Objects are served as stored; checksums are S3's to keep. This
            // also keeps CRC work off the hot path.
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        S3Store {
            client: Client::from_conf(s3),
            bucket: config.bucket.clone(),
            prefix: config.key_prefix.clone(),
            timeout: config.s3_timeout,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `{prefix}{key}`.
    pub fn s3_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        let call = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.s3_key(key))
            .send();
        let out = self.bounded(call).await?.map_err(classify)?;
        Ok(object_meta!(out))
    }

    /// GETs an object whose size is at most `limit`. The size comes from the
    /// response headers, before any of the body is read; a larger object is
    /// answered with [`Fetched::TooLarge`] and its body is dropped unread.
    /// The body goes into one buffer of the announced size, and a body that
    /// ends early (or runs long) is an error, never a short 200.
    /// A presigned GET URL for `key`, valid for `ttl`. Signing is local: no
    /// call to S3.
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let presigning = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Unavailable(format!("presigning config: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.s3_key(key))
            .presigned(presigning)
            .await
            .map_err(classify)?;
        Ok(req.uri().to_string())
    }

    pub async fn get(&self, key: &str, limit: u64) -> Result<Fetched, StoreError> {
        let work = async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.s3_key(key))
                .send()
                .await
                .map_err(classify)?;
            let meta = object_meta!(out);
            if meta.size > limit {
                return Ok(Fetched::TooLarge(meta));
            }
            let body = read_exact(out.body, meta.size).await?;
            Ok(Fetched::Body(meta, body))
        };
        self.bounded(work).await?
    }

    /// The SDK's operation timeout ends when the response headers arrive;
    /// this bounds the body as well.
    async fn bounded<T>(&self, fut: impl Future<Output = T>) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout + Duration::from_millis(250), fut)
            .await
            .map_err(|_| {
                StoreError::Timeout(format!("no complete answer within {:?}", self.timeout))
            })
    }
}

async fn read_exact(mut body: ByteStream, size: u64) -> Result<Vec<u8>, StoreError> {
    let expected = usize::try_from(size)
        .map_err(|_| StoreError::Unavailable("object size overflow".into()))?;
    let mut buf = Vec::with_capacity(expected);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            let text = format!("{e:?}");
            if text.contains("Timeout") || text.contains("timed out") {
                StoreError::Timeout(format!("reading the body: {e}"))
            } else {
                StoreError::Unavailable(format!("reading the body: {e}"))
            }
        })?;
        if buf.len() + chunk.len() > expected {
            return Err(StoreError::Unavailable(format!(
                "body longer than its Content-Length of {expected} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() != expected {
        return Err(StoreError::Unavailable(format!(
            "body ended after {} of {expected} bytes",
            buf.len()
        )));
    }
    Ok(buf)
}

fn to_system_time(t: DateTime) -> Option<SystemTime> {
    SystemTime::try_from(t).ok()
}

/// Maps any SDK failure to what it means for the caller.
pub(crate) fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&err));
    match &err {
        SdkError::TimeoutError(_) => StoreError::Timeout(detail),
        SdkError::DispatchFailure(f) if f.is_timeout() => StoreError::Timeout(detail),
        SdkError::DispatchFailure(_)
        | SdkError::ResponseError(_)
        | SdkError::ConstructionFailure(_) => StoreError::Unavailable(detail),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            match (status, s.err().code()) {
                (_, Some("NoSuchBucket")) => StoreError::Unavailable(detail),
                (404, _) | (_, Some("NoSuchKey" | "NotFound")) => StoreError::NotFound,
                (403, _) | (_, Some("AccessDenied")) => StoreError::Denied(detail),
                (503, _)
                | (
                    _,
                    Some(
                        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded",
                    ),
                ) => StoreError::Throttled(detail),
                (408, _) | (_, Some("RequestTimeout")) => StoreError::Timeout(detail),
                _ => StoreError::Unavailable(detail),
            }
        }
        _ => StoreError::Unavailable(detail),
    }
}
