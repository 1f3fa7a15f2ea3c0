//! `GET /presign/{key}?method=GET|PUT|DELETE[&contentLength=N][&contentType=T]`:
//! a presigned URL and the headers the client must send with it. PUT and
//! DELETE only with writes on; a PUT signs `Content-Length` and
//! `Content-Type` when given, so the upload cannot be larger or of another
//! type. Each parameter is given at most once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::App;
use crate::error::Error;
use crate::limits::MAX_SINGLE_PUT;
use crate::media::{by_extension, is_media_type};
use crate::request::{PRESIGN_ROUTE, Request};
use crate::response::Reply;

impl App {
    pub(super) async fn presign(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let method = req.single("method")?.unwrap_or("GET").to_ascii_uppercase();
        let bad = |name: &str, why: &str| Error::BadRequest(format!("{name}: {why}"));
        let content_length = match req.single("contentLength")? {
            None => None,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= MAX_SINGLE_PUT => Some(n),
                Ok(_) => {
                    return Err(bad(
                        "contentLength",
                        "over S3's 5 GiB limit for one PUT; larger files need a multipart upload, which s3gate does not presign",
                    ));
                }
                Err(_) => {
                    return Err(bad(
                        "contentLength",
                        &format!("{v:?} is not a whole number of bytes"),
                    ));
                }
            },
        };
        let content_type = req.single("contentType")?;
        if content_type.is_some_and(|t| t.len() > 255 || !is_media_type(t)) {
            return Err(bad(
                "contentType",
                "expected a media type such as image/jpeg",
            ));
        }
        if method != "PUT" && (content_length.is_some() || content_type.is_some()) {
            return Err(bad(
                "contentLength",
                "contentLength and contentType apply to PUT only",
            ));
        }
        let ttl = self.config.presign_ttl;
        let presigned = match method.as_str() {
            "GET" => {
                let kind = by_extension(&key).unwrap_or("application/octet-stream");
                self.store
                    .presigned("GET", &key, ttl, None, Some(kind))
                    .await?
            }
            "PUT" | "DELETE" if !self.config.allow_write => return Err(Error::WritesDisabled),
            // An object written under `presign/` could never be read
            // through the API (a presigned DELETE still cleans one up).
            "PUT" if key.starts_with(PRESIGN_ROUTE) => {
                return Err(bad(
                    "key",
                    "keys under presign/ cannot be uploaded: GET /presign/... is the presign route",
                ));
            }
            "PUT" => {
                self.store
                    .presigned("PUT", &key, ttl, content_length, content_type)
                    .await?
            }
            "DELETE" => {
                self.store
                    .presigned("DELETE", &key, ttl, None, None)
                    .await?
            }
            other => {
                return Err(bad(
                    "method",
                    &format!("{other:?}: expected GET, PUT or DELETE"),
                ));
            }
        };
        Ok(Reply::Presigned {
            presigned,
            // Whole seconds, as the signature's own expiry counts them.
            expires_at: whole_seconds(SystemTime::now() + ttl),
        })
    }
}

/// A time cut to its whole second.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let since = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(since)
}
