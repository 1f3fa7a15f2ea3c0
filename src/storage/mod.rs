//! Where objects come from. [`S3Store`] wraps one `aws_sdk_s3::Client`,
//! built once at start; this module is the only place SDK types and SDK
//! errors exist. Everything above it sees [`ObjectMeta`], bytes and
//! [`StoreError`].

mod s3;

use std::time::SystemTime;

pub use s3::{S3Store, sdk_config_from_env};
#[cfg(feature = "local")]
pub(crate) use s3::{http_client, retries, timeouts};

use crate::error::{Error, UpstreamKind};

/// What S3 knows about an object, as far as a response needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
}

/// The outcome of a GET whose size was checked before its body was read.
#[derive(Debug)]
pub enum Fetched {
    Body(ObjectMeta, Vec<u8>),
    /// Over the inline limit: the body was never downloaded.
    TooLarge(ObjectMeta),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    /// S3 answers 403 both when the role may not read the key and, without
    /// `s3:ListBucket`, when the key does not exist.
    Denied(String),
    Throttled(String),
    Timeout(String),
    Unavailable(String),
}

impl StoreError {
    pub fn into_error(self) -> Error {
        let (kind, detail) = match self {
            // A 403 from S3 is, for a role without s3:ListBucket, how a
            // missing key looks: answer 404 and keep the difference in logs.
            StoreError::NotFound | StoreError::Denied(_) => return Error::NotFound,
            StoreError::Throttled(d) => (UpstreamKind::Throttled, d),
            StoreError::Timeout(d) => (UpstreamKind::Timeout, d),
            StoreError::Unavailable(d) => (UpstreamKind::Unavailable, d),
        };
        Error::Upstream { kind, detail }
    }
}
