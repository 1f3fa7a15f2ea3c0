//! Where objects come from. [`S3Store`] wraps one `aws_sdk_s3::Client`,
//! built once at start; this module is the only place SDK types and SDK
//! errors exist, and where the quirks of particular stores are handled and
//! named. Everything above it sees [`ObjectMeta`], bytes and
//! [`StoreError`], which knows nothing of HTTP answers.

mod buckets;
pub mod client;
mod error;
mod opened;
mod presign;
mod s3;

use std::time::SystemTime;

pub use client::sdk_config_from_env;
pub use error::StoreError;
pub use opened::{Chunks, Opened};
pub use s3::S3Store;

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
