//! Where objects come from. [`S3Store`] wraps one `aws_sdk_s3::Client`,
//! built once at start; this module is the only place SDK types and SDK
//! errors exist. Everything above it sees [`ObjectMeta`], bytes and
//! [`StoreError`].

mod s3;

use std::time::SystemTime;

pub use s3::{Opened, S3Store, sdk_config_from_env};
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

/// The part of an object a ranged GET returned: inclusive span and the
/// object's full size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl Part {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// `bytes a-b/size`, as S3 and HTTP write it.
    pub fn parse(content_range: &str) -> Option<Part> {
        let rest = content_range.trim().strip_prefix("bytes ")?;
        let (span, total) = rest.split_once('/')?;
        let (a, b) = span.split_once('-')?;
        let part = Part {
            start: a.parse().ok()?,
            end: b.parse().ok()?,
            total: total.parse().ok()?,
        };
        (part.start <= part.end && part.end < part.total).then_some(part)
    }
}

/// A presigned request: where, how, and the headers that must go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
}

/// One page of a folder listing (delimiter `/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<Listed>,
    pub folders: Vec<String>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    /// The store evaluated `If-None-Match`/`If-Modified-Since` (real S3 does).
    NotModified(Box<ObjectMeta>),
    /// The store evaluated `If-Match`/`If-Unmodified-Since`.
    PreconditionFailed,
    /// The store found the range unsatisfiable.
    RangeNotSatisfiable,
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
            StoreError::PreconditionFailed => return Error::PreconditionFailed,
            // Callers answer these themselves (304 with headers, 416 with
            // the size); reaching here means a store contradicting itself.
            StoreError::NotModified(_) | StoreError::RangeNotSatisfiable => (
                UpstreamKind::Unavailable,
                "unexpected conditional answer".to_string(),
            ),
            StoreError::Throttled(d) => (UpstreamKind::Throttled, d),
            StoreError::Timeout(d) => (UpstreamKind::Timeout, d),
            StoreError::Unavailable(d) => (UpstreamKind::Unavailable, d),
        };
        Error::Upstream { kind, detail }
    }
}
