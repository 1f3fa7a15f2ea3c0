//! [`S3Store`]: the operations s3gate asks of a bucket's objects (head, a
//! GET opened before its body is read, list, put), each bounded by the S3
//! timeout, with SDK outcomes turned into [`ObjectMeta`] and [`StoreError`];
//! the bucket's own operations are in `buckets.rs`, presigning in
//! `presign.rs`.
//! Where a store answers a range differently from S3, the difference is
//! handled here and named, so callers see S3's behaviour on any store.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::primitives::{ByteStream, DateTime};

use super::error::classify;
use super::opened::Opened;
use super::{ListPage, Listed, ObjectMeta, Part, StoreError};
use crate::conditional::{ByteRange, Conditions, TagList};
use crate::config::Config;

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

/// The request's validators on a HeadObject or GetObject builder (same
/// setters, different types), so S3 itself can answer 304 and 412.
macro_rules! with_validators {
    ($builder:expr, $c:expr) => {
        $builder
            .set_if_match($c.if_match.as_ref().and_then(TagList::header_for_store))
            .set_if_none_match(
                $c.if_none_match
                    .as_ref()
                    .and_then(TagList::header_for_store),
            )
            .set_if_modified_since($c.if_modified_since.map(DateTime::from))
            .set_if_unmodified_since($c.if_unmodified_since.map(DateTime::from))
    };
}

/// The bucket, the prefix and one client.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub(super) client: Client,
    pub(super) bucket: String,
    prefix: String,
    timeout: Duration,
    scope: Scope,
}

/// Which bucket a store stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The one bucket of the configuration.
    Configured,
    /// Bucket mode: the request's allowlisted bucket.
    Request,
    /// Bucket mode: a bucket off the allowlist. Every operation answers
    /// `NoSuchBucket` without asking S3, so the handler's own checks run as
    /// for any bucket and the answer is an absent bucket's.
    OffAllowlist,
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
            // A stalled body is caught by the request's own deadline
            // (`Opened::read`); the SDK's throughput check would read the
            // clock on every body chunk of every download.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        S3Store {
            client: Client::from_conf(s3),
            bucket: config.bucket.clone(),
            prefix: config.key_prefix.clone(),
            timeout: config.s3_timeout,
            scope: Scope::Configured,
        }
    }

    /// The raw client, for tests that set up objects: it bypasses
    /// [`S3Store::bounded`] and the off-allowlist refusal, so s3gate's own
    /// code never calls it.
    #[doc(hidden)]
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The same client and settings on another bucket (bucket mode: one per
    /// request, a few string copies).
    pub fn for_bucket(&self, bucket: &str) -> S3Store {
        S3Store {
            bucket: bucket.to_string(),
            // A store off the allowlist stays refused, whatever it is
            // scoped to.
            scope: match self.scope {
                Scope::OffAllowlist => Scope::OffAllowlist,
                _ => Scope::Request,
            },
            ..self.clone()
        }
    }

    /// A store for a bucket off the allowlist: every operation (calls and
    /// presigning alike) is a `NoSuchBucket` that never reaches S3.
    pub fn off_allowlist(&self) -> S3Store {
        S3Store {
            bucket: String::new(),
            scope: Scope::OffAllowlist,
            ..self.clone()
        }
    }

    pub(super) fn refuse_off_allowlist(&self) -> Result<(), StoreError> {
        match self.scope {
            Scope::OffAllowlist => Err(StoreError::NoSuchBucket(
                "a bucket off the allowlist: S3 not asked".into(),
            )),
            _ => Ok(()),
        }
    }

    /// `{prefix}{key}`.
    pub fn s3_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn head(&self, key: &str, conditions: &Conditions) -> Result<ObjectMeta, StoreError> {
        let request = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.s3_key(key));
        let call = with_validators!(request, conditions).send();
        let out = match self.bounded(call).await?.map_err(classify) {
            // Quirk: HeadObject's 404 has no body, so S3 cannot say whether
            // the key or the bucket is missing (GetObject says
            // NoSuchBucket). In bucket mode, where a missing bucket is an
            // answer and the role may HeadBucket, HeadBucket tells them
            // apart, so a HEAD answers what the GET would; only a 404 pays
            // for the second call, and when HeadBucket cannot tell, the 404
            // stands.
            Err(StoreError::NotFound) if self.scope == Scope::Request => {
                return Err(match self.bucket_exists().await {
                    Ok(false) => StoreError::NoSuchBucket(format!(
                        "HeadObject 404 and HeadBucket 404: bucket {} does not exist",
                        self.bucket
                    )),
                    _ => StoreError::NotFound,
                });
            }
            other => other?,
        };
        declared_length(out.content_length)?;
        Ok(object_meta!(out))
    }

    /// Starts a GET: sends the request (with the caller's validators and
    /// range, so real S3 answers 304/412/416 itself and sends no bytes) and
    /// returns once the response headers are in. The caller looks at the
    /// metadata and then either reads the body or drops it unread. A range
    /// is answered as S3 answers it whatever the store does (see
    /// [`Opened::part`]).
    pub async fn open(
        &self,
        key: &str,
        conditions: &Conditions,
        range: Option<ByteRange>,
    ) -> Result<Opened, StoreError> {
        let started = tokio::time::Instant::now();
        let out = match self.get_object(key, conditions, range).await {
            // Quirk: a store that fails a suffix range longer than the
            // object (s3s-fs 0.14 seeks before the file's start) instead of
            // sending all of it. The whole object is asked for; the range
            // is cut below, as for a store that ignores ranges.
            Err(StoreError::Unavailable(_)) if matches!(range, Some(ByteRange::Suffix(_))) => {
                self.get_object(key, conditions, None).await?
            }
            other => other?,
        };
        let sent = out.content_range.as_deref().and_then(Part::parse);
        let length = declared_length(out.content_length)?;
        if let Some(p) = sent
            && p.len() != length
        {
            return Err(StoreError::Unavailable(format!(
                "a {length}-byte body for the {}-byte part {}-{}",
                p.len(),
                p.start,
                p.end
            )));
        }
        let mut meta = object_meta!(out);
        // The object's size, not the part's.
        meta.size = sent.map_or(length, |p| p.total);
        // Quirk: a store that ignores `Range` and answers 200 with the
        // whole object. The part asked for is cut from it after reading.
        let (part, cut) = match (sent, range) {
            (None, Some(r)) => {
                let (start, end) = r
                    .resolve(meta.size)
                    .ok_or(StoreError::RangeNotSatisfiable)?;
                let part = Part {
                    start,
                    end,
                    total: meta.size,
                };
                (Some(part), true)
            }
            (sent, _) => (sent, false),
        };
        Ok(Opened::new(
            meta,
            part,
            length,
            cut,
            out.body,
            started + self.timeout,
            self.timeout,
        ))
    }

    async fn get_object(
        &self,
        key: &str,
        conditions: &Conditions,
        range: Option<ByteRange>,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.s3_key(key));
        let call = with_validators!(request, conditions)
            .set_range(range.map(ByteRange::to_header))
            .send();
        self.bounded(call).await?.map_err(classify)
    }

    /// Reads a body once more after it was cut short (a reset, a close;
    /// the SDK does not retry once the headers are in): the same part of the
    /// same version (`If-Match` on the ETag), or an error. A changed object
    /// is an error, never a mix of two versions.
    pub async fn read_again(
        &self,
        key: &str,
        meta: &ObjectMeta,
        part: Option<Part>,
    ) -> Result<Vec<u8>, StoreError> {
        let pinned = Conditions {
            if_match: meta.etag.as_deref().and_then(TagList::parse),
            ..Conditions::default()
        };
        let range = part.map(|p| ByteRange::FromTo(p.start, p.end));
        let again = match self.open(key, &pinned, range).await {
            Err(StoreError::PreconditionFailed) => {
                return Err(StoreError::Unavailable(
                    "the object changed while it was read".into(),
                ));
            }
            other => other?,
        };
        if again.part != part || again.meta.etag != meta.etag {
            return Err(StoreError::Unavailable(
                "the second read answered another part or version".into(),
            ));
        }
        again.read().await
    }

    /// Lists one page of a folder: objects and sub-folders under `folder`
    /// (relative to the key prefix), at most `limit` entries.
    pub async fn list(
        &self,
        folder: &str,
        token: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StoreError> {
        let call = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.s3_key(folder))
            .delimiter("/")
            .max_keys(limit)
            .set_continuation_token(token.map(str::to_string))
            .send();
        let out = match self.bounded(call).await?.map_err(classify) {
            // A made-up continuation token is the caller's mistake, not the
            // store's: S3 answers it with 400 InvalidArgument.
            Err(StoreError::InvalidArgument(_)) if token.is_some() => {
                return Err(StoreError::BadToken);
            }
            other => other?,
        };
        let strip = |k: &str| {
            k.strip_prefix(self.prefix.as_str())
                .unwrap_or(k)
                .to_string()
        };
        Ok(ListPage {
            objects: out
                .contents
                .unwrap_or_default()
                .into_iter()
                .map(|o| Listed {
                    key: strip(o.key.as_deref().unwrap_or_default()),
                    size: o.size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: o.e_tag,
                    last_modified: o.last_modified.and_then(to_system_time),
                })
                .collect(),
            folders: out
                .common_prefixes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.prefix.map(|p| strip(&p)))
                .collect(),
            next_token: out
                .next_continuation_token
                .filter(|_| out.is_truncated.unwrap_or(false)),
        })
    }

    /// Writes one object (the variant cache: a transformed image, small by
    /// construction). The source's ETag goes along as metadata, for people
    /// looking at the bucket.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: Option<&str>,
        source_etag: Option<&str>,
    ) -> Result<(), StoreError> {
        let call = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.s3_key(key))
            .content_type(content_type)
            .set_cache_control(cache_control.map(str::to_string))
            .set_metadata(source_etag.map(|e| {
                std::collections::HashMap::from([(
                    "source-etag".to_string(),
                    e.trim_matches('"').to_string(),
                )])
            }))
            .body(ByteStream::from(body))
            .send();
        self.bounded(call).await?.map_err(classify)?;
        Ok(())
    }

    /// The SDK's operation timeout ends when the response headers arrive;
    /// this bounds the body as well.
    pub(super) async fn bounded<T>(&self, fut: impl Future<Output = T>) -> Result<T, StoreError> {
        // Off the allowlist, the call is dropped unpolled: nothing is sent.
        self.refuse_off_allowlist()?;
        let started = std::time::Instant::now();
        let out = tokio::time::timeout(self.timeout + Duration::from_millis(250), fut)
            .await
            .map_err(|_| {
                StoreError::Timeout(format!("no complete answer within {:?}", self.timeout))
            });
        crate::metrics::add_storage(started.elapsed());
        out
    }
}

/// S3 always sends `Content-Length`. Without it a body cut short cannot be
/// told from a whole one (it would be served as a short 200), and a HEAD
/// would report a size of 0.
fn declared_length(content_length: Option<i64>) -> Result<u64, StoreError> {
    content_length
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| StoreError::Unavailable("an answer without a valid Content-Length".into()))
}

fn to_system_time(t: DateTime) -> Option<SystemTime> {
    SystemTime::try_from(t).ok()
}
