//! What can go wrong with a store, typed, and how each SDK outcome becomes
//! one of these. This is the only place SDK errors are read, and where the
//! quirks of particular stores are named (the rest of s3gate sees
//! [`StoreError`] and nothing of the SDK; this module knows no API type).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::ObjectMeta;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    /// The bucket itself does not exist (a setting points at nothing, or in
    /// bucket mode an allowlisted bucket not created yet).
    NoSuchBucket(String),
    /// CreateBucket on a bucket that exists: ours
    /// (`BucketAlreadyOwnedByYou`) or another account's.
    BucketExists {
        ours: bool,
    },
    /// DeleteBucket on a bucket that holds objects.
    BucketNotEmpty,
    /// The store evaluated `If-None-Match`/`If-Modified-Since` (real S3 does).
    NotModified(Box<ObjectMeta>),
    /// The store evaluated `If-Match`/`If-Unmodified-Since`.
    PreconditionFailed,
    /// The store found the range unsatisfiable.
    RangeNotSatisfiable,
    /// S3 answers 403 both when the role may not read the key and, without
    /// `s3:ListBucket`, when the key does not exist.
    Denied(String),
    /// A continuation token the store did not issue (S3: 400
    /// InvalidArgument on a ListObjectsV2 with a made-up token).
    BadToken,
    /// The store refused an argument (400 InvalidArgument).
    InvalidArgument(String),
    Throttled(String),
    Timeout(String),
    Unavailable(String),
}

/// A 304 carries the validators and caching headers, no body.
fn meta_from_headers(raw: &HttpResponse) -> ObjectMeta {
    let h = |name: &str| raw.headers().get(name).map(str::to_string);
    ObjectMeta {
        etag: h("etag"),
        last_modified: h("last-modified").and_then(|d| crate::conditional::parse_http_date(&d)),
        cache_control: h("cache-control"),
        content_type: h("content-type"),
        ..ObjectMeta::default()
    }
}

/// Maps any SDK failure to what it means for the caller.
pub fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
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
                (304, _) => StoreError::NotModified(Box::new(meta_from_headers(s.raw()))),
                (412, _) | (_, Some("PreconditionFailed")) => StoreError::PreconditionFailed,
                (416, _) | (_, Some("InvalidRange")) => StoreError::RangeNotSatisfiable,
                (_, Some("NoSuchBucket")) => StoreError::NoSuchBucket(detail),
                (_, Some("BucketAlreadyOwnedByYou")) => StoreError::BucketExists { ours: true },
                (_, Some("BucketAlreadyExists")) => StoreError::BucketExists { ours: false },
                (_, Some("BucketNotEmpty")) => StoreError::BucketNotEmpty,
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
                (_, Some("InvalidArgument")) => StoreError::InvalidArgument(detail),
                _ => StoreError::Unavailable(detail),
            }
        }
        _ => StoreError::Unavailable(detail),
    }
}
