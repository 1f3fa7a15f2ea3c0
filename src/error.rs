//! One error type for everything a request can go wrong with. Each variant
//! knows its HTTP status, a stable machine-readable code and the message a
//! caller may see; internal detail (SDK messages, bucket names) stays in the
//! `detail` fields, which are logged and never sent. Storage errors become
//! answers here, in one `From<StoreError>`, and nowhere else.

use std::fmt;

use crate::storage::StoreError;

/// Why a key taken from the request path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Missing,
    Empty,
    TooLong {
        len: usize,
        max: usize,
    },
    ControlCharacter,
    EmptySegment,
    DotSegment,
    BadPercentEncoding,
    /// Bucket mode: a first segment S3 would refuse as a bucket name.
    BucketName(&'static str),
    /// A `presign/` or `id/` route that reached the cached `/{proxy+}`
    /// resource (its path percent-encoded, `presign%2F...`) instead of its
    /// own uncached one: answered there, it could be cached for every key.
    RouteOnCachedResource,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Missing => write!(f, "the request names no object key"),
            KeyError::Empty => write!(f, "the object key is empty"),
            KeyError::TooLong { len, max } => {
                write!(
                    f,
                    "the object key is {len} bytes long; at most {max} are allowed"
                )
            }
            KeyError::ControlCharacter => write!(f, "the object key contains a control character"),
            KeyError::EmptySegment => write!(f, "the object key contains an empty path segment"),
            KeyError::DotSegment => write!(f, "the object key contains a '.' or '..' segment"),
            KeyError::BadPercentEncoding => write!(f, "the path has invalid percent-encoding"),
            KeyError::BucketName(why) => write!(f, "invalid bucket name: {why}"),
            KeyError::RouteOnCachedResource => write!(
                f,
                "presign/ and id/ are answered on their own resources (/presign/{{proxy+}}, \
                 /id/{{proxy+}}); write them plainly, not percent-encoded"
            ),
        }
    }
}

/// What kind of storage failure happened; decides 502, 503 or 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// The store could not be reached, broke the connection or answered 5xx.
    Unavailable,
    /// The store asked us to slow down (503 SlowDown and friends).
    Throttled,
    /// The store did not answer within the configured S3 timeout.
    Timeout,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad key: {0}")]
    BadKey(KeyError),
    #[error("not found")]
    NotFound,
    /// S3 refused access. Answered exactly like [`Error::NotFound`]: for a
    /// role without `s3:ListBucket` that is how a missing key looks, and the
    /// difference (kept in the log) is no business of the caller's.
    #[error("access denied: {0}")]
    Denied(String),
    #[error("listing is not enabled")]
    ListingDisabled,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String, allow: String },
    #[error("object of {size} bytes is over the inline limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    /// Stream mode: the headers (from the object's stored metadata) make a
    /// prelude over what API Gateway reads.
    #[error("the response headers take {size} bytes, over {limit}")]
    HeadersTooLarge { size: u64, limit: u64 },
    #[error("storage {kind:?}: {detail}")]
    Upstream { kind: UpstreamKind, detail: String },
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("writes are not enabled")]
    WritesDisabled,
    /// A transform of an image s3gate will not or cannot process.
    #[error("unprocessable image: {0}")]
    Unprocessable(String),
    /// A signed transform URL that does not verify.
    #[error("signature refused: {0}")]
    SignatureRefused(&'static str),
    /// Decode, resize and encode (and the wait for a free slot) took
    /// longer than `transform-timeout`.
    #[error("transform took longer than {0:?}")]
    TransformTimeout(std::time::Duration),
    /// Every transform slot is taken and the queue behind them is full.
    #[error("the transform queue is full")]
    Busy,
    /// Bucket mode: a bucket off the allowlist, or one S3 does not have
    /// (the detail, logged, says which). In single-bucket mode the handler
    /// turns the store's "no such bucket" into a 502: a setting is wrong.
    #[error("no such bucket")]
    NoSuchBucket(Option<String>),
    /// `PUT /{bucket}` on a bucket that exists: ours, or someone else's.
    #[error("the bucket exists")]
    BucketExists { ours: bool },
    #[error("the bucket is not empty")]
    BucketNotEmpty,
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::BadKey(_) | Error::BadRequest(_) => 400,
            Error::Forbidden(_) => 403,
            Error::NotFound | Error::Denied(_) | Error::ListingDisabled => 404,
            Error::NoSuchBucket(_) => 404,
            Error::BucketExists { .. } | Error::BucketNotEmpty => 409,
            Error::MethodNotAllowed { .. } => 405,
            Error::PreconditionFailed => 412,
            Error::RangeNotSatisfiable { .. } => 416,
            Error::WritesDisabled => 403,
            Error::SignatureRefused(_) => 403,
            Error::Unprocessable(_) => 422,
            Error::TransformTimeout(_) => 504,
            Error::Busy => 503,
            Error::TooLarge { .. } | Error::HeadersTooLarge { .. } => 413,
            Error::Upstream { kind, .. } => match kind {
                UpstreamKind::Unavailable => 502,
                UpstreamKind::Throttled => 503,
                UpstreamKind::Timeout => 504,
            },
        }
    }

    /// A stable code for clients to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadKey(KeyError::BucketName(_)) => "InvalidBucketName",
            Error::BadKey(_) => "InvalidKey",
            Error::BadRequest(_) => "BadRequest",
            Error::Forbidden(_) => "Forbidden",
            Error::NotFound | Error::Denied(_) | Error::ListingDisabled => "NotFound",
            Error::MethodNotAllowed { .. } => "MethodNotAllowed",
            Error::NoSuchBucket(_) => "NoSuchBucket",
            Error::BucketExists { ours: true } => "BucketAlreadyOwnedByYou",
            Error::BucketExists { ours: false } => "BucketAlreadyExists",
            Error::BucketNotEmpty => "BucketNotEmpty",
            Error::PreconditionFailed => "PreconditionFailed",
            Error::RangeNotSatisfiable { .. } => "RangeNotSatisfiable",
            Error::WritesDisabled => "Forbidden",
            Error::SignatureRefused(_) => "InvalidSignature",
            Error::Unprocessable(_) => "UnprocessableImage",
            Error::TransformTimeout(_) => "GatewayTimeout",
            Error::Busy => "ServiceUnavailable",
            Error::TooLarge { .. } => "PayloadTooLarge",
            Error::HeadersTooLarge { .. } => "HeadersTooLarge",
            Error::Upstream { kind, .. } => match kind {
                UpstreamKind::Unavailable => "BadGateway",
                UpstreamKind::Throttled => "ServiceUnavailable",
                UpstreamKind::Timeout => "GatewayTimeout",
            },
        }
    }

    /// The message a caller sees: no bucket, no SDK text, no stack.
    pub fn public_message(&self) -> String {
        match self {
            Error::BadKey(e) => e.to_string(),
            Error::BadRequest(m) => m.clone(),
            Error::Forbidden(why) => (*why).to_string(),
            Error::NotFound | Error::Denied(_) => "no object at this key".to_string(),
            Error::ListingDisabled => "listing is not enabled on this API".to_string(),
            Error::NoSuchBucket(_) => "no such bucket".to_string(),
            Error::BucketExists { ours: true } => "the bucket already exists".to_string(),
            Error::BucketExists { ours: false } => {
                "the bucket name is taken by another account".to_string()
            }
            Error::BucketNotEmpty => {
                "the bucket is not empty: delete its objects first".to_string()
            }
            Error::MethodNotAllowed { method, allow } => {
                format!("method {method} is not allowed here; allowed: {allow}")
            }
            Error::PreconditionFailed => {
                "a precondition (If-Match or If-Unmodified-Since) does not hold".to_string()
            }
            Error::RangeNotSatisfiable { size } => {
                format!("the requested range is not satisfiable; the object is {size} bytes")
            }
            Error::WritesDisabled => "writes are not enabled on this API".to_string(),
            Error::SignatureRefused(why) => (*why).to_string(),
            Error::Unprocessable(why) => why.clone(),
            Error::TransformTimeout(limit) => format!(
                "the image transform did not finish within {:.1} s (waiting for a free transform slot included); try again, or ask for a smaller size or for jpeg or webp",
                limit.as_secs_f64()
            ),
            Error::Busy => {
                "too many image transforms are running or waiting here; try again in a moment"
                    .to_string()
            }
            Error::TooLarge { size, limit } => format!(
                "the object is {size} bytes, over this API's {limit}-byte limit for a response; \
                 ask for a presigned URL instead"
            ),
            Error::HeadersTooLarge { size, limit } => format!(
                "the object's stored metadata makes {size} bytes of response headers, over the \
                 {limit} bytes this API can send; it cannot be served through the API"
            ),
            Error::Upstream { kind, .. } => match kind {
                UpstreamKind::Unavailable => "the storage backend failed; try again".to_string(),
                UpstreamKind::Throttled => {
                    "the storage backend is busy; try again shortly".to_string()
                }
                UpstreamKind::Timeout => "the storage backend did not answer in time".to_string(),
            },
        }
    }

    /// What is logged beside the answer and never sent: the store's own
    /// words for a failure.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Upstream { detail, .. }
            | Error::Denied(detail)
            | Error::NoSuchBucket(Some(detail)) => Some(detail),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Error {
        let (kind, detail) = match err {
            StoreError::NotFound => return Error::NotFound,
            StoreError::Denied(detail) => return Error::Denied(detail),
            StoreError::PreconditionFailed => return Error::PreconditionFailed,
            StoreError::NoSuchBucket(detail) => return Error::NoSuchBucket(Some(detail)),
            StoreError::BucketExists { ours } => return Error::BucketExists { ours },
            StoreError::BucketNotEmpty => return Error::BucketNotEmpty,
            StoreError::BadToken => {
                return Error::BadRequest("token: not a continuation token from this API".into());
            }
            // Callers answer these themselves (304 with headers, 416 with
            // the size); reaching here means a store contradicting itself.
            StoreError::NotModified(_) | StoreError::RangeNotSatisfiable => (
                UpstreamKind::Unavailable,
                "unexpected conditional answer".to_string(),
            ),
            StoreError::Throttled(d) => (UpstreamKind::Throttled, d),
            StoreError::Timeout(d) => (UpstreamKind::Timeout, d),
            StoreError::InvalidArgument(d) | StoreError::Unavailable(d) => {
                (UpstreamKind::Unavailable, d)
            }
        };
        Error::Upstream { kind, detail }
    }
}
