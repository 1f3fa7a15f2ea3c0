//! One object: GET (validators, then the range, then the size check, then
//! the body, each decided on the response headers before any of the body
//! is read), HEAD (what GET would answer, without the body), objects over
//! the inline limit, and writes, which are redirects to presigned URLs.

use super::{App, settle};
use crate::conditional::Conditions;
use crate::config::{LargeObjects, ResponseMode};
use crate::error::Error;
use crate::media::content_type;
use crate::request::{Method, Request};
use crate::response::Reply;
use crate::storage::StoreError;

impl App {
    /// `GET /{key}`.
    pub(super) async fn get(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let cond = &req.conditions;
        let asked = cond.asked_range();
        let mut opened = match self.store.open(&key, cond, asked).await {
            Ok(opened) => opened,
            Err(StoreError::NotModified(meta)) => return Ok(Reply::NotModified { meta: *meta }),
            Err(StoreError::RangeNotSatisfiable) => {
                // The validators and If-Range come before the range (RFC
                // 9110 §13.2.2): decide them on the object's metadata.
                let meta = self.store.head(&key, &Conditions::default()).await?;
                if let Some(answer) = settle(cond, &meta) {
                    return answer;
                }
                if cond
                    .effective_range(meta.etag.as_deref(), meta.last_modified)
                    .is_some()
                {
                    return Err(Error::RangeNotSatisfiable { size: meta.size });
                }
                // If-Range did not match: the whole object.
                self.store.open(&key, &Conditions::default(), None).await?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(answer) = settle(cond, &opened.meta) {
            return answer;
        }
        let wanted = cond.effective_range(opened.meta.etag.as_deref(), opened.meta.last_modified);
        if asked.is_some() && wanted.is_none() {
            // If-Range did not match: the whole object, current version.
            opened = self.store.open(&key, &Conditions::default(), None).await?;
        }
        // What would be sent, or what would have to be read to send it (a
        // store that ignores ranges sends the whole object).
        if opened.length > self.config.body_limit() {
            let sent = opened.part.map_or(opened.meta.size, |p| p.len());
            let kind = content_type(opened.meta.content_type.as_deref(), &key);
            return self.too_large(&key, sent, &kind).await;
        }
        let (meta, part) = (opened.meta.clone(), opened.part);
        if self.config.response_mode == ResponseMode::Stream {
            // The body goes on as it arrives, after the headers.
            return Ok(Reply::Stream {
                key,
                meta,
                part,
                opened: Box::new(opened),
            });
        }
        let body = match opened.read().await {
            Ok(body) => body,
            // A body cut short (a reset, a close) is read once more, pinned
            // to the same ETag and part.
            Err(StoreError::Unavailable(detail)) => {
                tracing::warn!(request_id = %req.request_id, key, detail = %detail, "body cut short; reading it again");
                self.store.read_again(&key, &meta, part).await?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Reply::Object {
            key,
            meta,
            body: Some(body),
            part,
        })
    }

    /// `HEAD /{key}`: the GET headers, 304/412 for validators, the redirect
    /// (or 413) over the inline limit; `Range` is ignored.
    pub(super) async fn head(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let meta = match self.store.head(&key, &req.conditions).await {
            Err(StoreError::NotModified(meta)) => return Ok(Reply::NotModified { meta: *meta }),
            other => other?,
        };
        if let Some(answer) = settle(&req.conditions, &meta) {
            return answer;
        }
        if meta.size > self.config.body_limit() {
            let kind = content_type(meta.content_type.as_deref(), &key);
            return self.too_large(&key, meta.size, &kind).await;
        }
        Ok(Reply::Object {
            key,
            meta,
            body: None,
            part: None,
        })
    }

    /// An object (or part) over the inline limit: a redirect to a presigned
    /// GET, or 413 when large objects are rejected.
    pub(super) async fn too_large(&self, key: &str, size: u64, kind: &str) -> Result<Reply, Error> {
        match self.config.large_objects {
            LargeObjects::Reject => Err(Error::TooLarge {
                size,
                limit: self.config.body_limit(),
            }),
            LargeObjects::Redirect => {
                // Behind a stage cache the 307 may be served for up to its
                // TTL: the URL outlives it by the usual lifetime.
                let ttl = self.config.presign_ttl + self.config.cache_ttl;
                let presigned = self
                    .store
                    .presigned("GET", key, ttl, None, Some(kind))
                    .await?;
                Ok(Reply::Redirect {
                    location: presigned.url,
                })
            }
        }
    }

    /// `PUT` or `DELETE /{key}` with writes on: a 307 to a presigned URL
    /// for the same method, so the bytes go between the client and S3 and
    /// the function never holds them.
    pub(super) async fn write(&self, method: &Method, key: String) -> Result<Reply, Error> {
        let presigned = self
            .store
            .presigned(method.as_str(), &key, self.config.presign_ttl, None, None)
            .await?;
        Ok(Reply::Redirect {
            location: presigned.url,
        })
    }
}
