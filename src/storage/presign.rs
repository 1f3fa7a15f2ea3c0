//! Presigned URLs: signed locally with the client's credentials, never a
//! call to S3 (and none for a bucket off the allowlist).

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;

use super::error::classify;
use super::{Presigned, S3Store, StoreError};

impl S3Store {
    /// A presigned URL for GET, PUT or DELETE and the headers the client
    /// must send with it. A PUT signs `Content-Length` and `Content-Type`
    /// when given. Signing is local.
    pub async fn presigned(
        &self,
        method: &str,
        key: &str,
        ttl: Duration,
        content_length: Option<u64>,
        content_type: Option<&str>,
    ) -> Result<Presigned, StoreError> {
        self.refuse_off_allowlist()?;
        let key = self.s3_key(key);
        let req = match method {
            "PUT" => self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .set_content_length(content_length.and_then(|n| i64::try_from(n).ok()))
                .set_content_type(content_type.map(str::to_string))
                .presigned(presigning(ttl)?)
                .await
                .map_err(classify)?,
            "DELETE" => self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(presigning(ttl)?)
                .await
                .map_err(classify)?,
            // For a GET, `content_type` is the type s3gate decided for the
            // object: S3 is told to answer with it (a stored `text/html` on
            // `x.png` comes back as `image/png`), and anything but a plain
            // image, video or audio type as a download, since S3 sends none
            // of s3gate's sandboxing headers. Both are signed.
            _ => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_response_content_type(content_type.map(str::to_string))
                .set_response_content_disposition(
                    content_type
                        .filter(|t| !crate::media::safe_inline(t))
                        .map(|_| "attachment".to_string()),
                )
                .presigned(presigning(ttl)?)
                .await
                .map_err(classify)?,
        };
        Ok(Presigned {
            url: req.uri().to_string(),
            method: req.method().to_string(),
            headers: req
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, StoreError> {
    PresigningConfig::expires_in(ttl)
        .map_err(|e| StoreError::Unavailable(format!("presigning config: {e}")))
}
