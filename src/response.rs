//! Reply -> status, headers and body. Every response has a `Content-Type`
//! (lambda_http and API Gateway treat a body without one as text, which
//! corrupts images), and every error body is the one JSON shape
//! `{"message", "code", "requestId"}`. Headers taken from S3 metadata are an
//! allow-list, each value checked, so object metadata can never inject a
//! header. How the result is written for Lambda is `crate::lambda`'s.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Serialize;

use crate::conditional::http_date;
use crate::config::Config;
use crate::error::Error;
use crate::lambda::response::{Body, ProxyResponse};
use crate::media::{content_type, is_disposition, is_header_value};
use crate::storage::{ListPage, ObjectMeta, Opened, Part, Presigned};

/// Sent with every object: a served SVG (or HTML, or XML) cannot run script
/// or load anything; it is shown as a sandboxed document.
pub const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// What the handler decided; turned into a [`ProxyResponse`] by [`render`].
#[derive(Debug)]
pub enum Reply {
    /// 200 with the object, or 206 with `part` of it; `body` is `None` for
    /// HEAD.
    Object {
        key: String,
        meta: ObjectMeta,
        body: Option<Vec<u8>>,
        part: Option<Part>,
    },
    /// A 200 or 206 whose body is passed on as it arrives (stream mode):
    /// rendered as `Object`, its body taken out first with
    /// [`Reply::take_stream`].
    Stream {
        key: String,
        meta: ObjectMeta,
        part: Option<Part>,
        opened: Box<Opened>,
    },
    /// 304: the validators and caching headers, no body.
    NotModified {
        meta: ObjectMeta,
    },
    /// 307 to a presigned URL.
    Redirect {
        location: String,
    },
    /// 200 JSON listing of a folder.
    Listing {
        folder: String,
        page: ListPage,
    },
    /// 200 JSON `{"URL", "Method", "Header", "ExpiresAt"}`.
    Presigned {
        presigned: Presigned,
        expires_at: SystemTime,
    },
    /// A transformed image (an `Object` or `NotModified` inside): no
    /// `Accept-Ranges` (ranges are not served on variants) and, when the
    /// format came from `Accept`, `Vary: Accept`.
    Variant {
        inner: Box<Reply>,
        vary: bool,
    },
    /// 204 answer to OPTIONS (a CORS preflight when `cors-origin` is set).
    Options {
        allow: String,
    },
    /// A small JSON answer that is never cached (the buckets, a created
    /// bucket, an object's id).
    Json {
        status: u16,
        body: serde_json::Value,
    },
    /// 204 with no body (a deleted bucket).
    NoContent,
    Error(Error),
}

impl Reply {
    /// The body to stream, if any, and the answer to render without it.
    pub fn take_stream(self) -> (Reply, Option<Opened>) {
        match self {
            Reply::Stream {
                key,
                meta,
                part,
                opened,
            } => (
                Reply::Object {
                    key,
                    meta,
                    body: None,
                    part,
                },
                Some(*opened),
            ),
            other => (other, None),
        }
    }

    /// The answer inside a transformed image's wrapper (or this one).
    pub fn inner(&self) -> &Reply {
        match self {
            Reply::Variant { inner, .. } => inner,
            other => other,
        }
    }
}

/// Builds the response for `reply`.
pub fn render(reply: Reply, config: &Config, request_id: &str) -> ProxyResponse {
    // A stream not taken out is dropped unread: the headers are the same.
    let (reply, _) = reply.take_stream();
    if let Reply::Variant { inner, vary } = reply {
        let mut response = render(*inner, config, request_id);
        response
            .headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("Accept-Ranges"));
        if vary && response.status_code < 400 {
            match response
                .headers
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("Vary"))
            {
                Some((_, v)) => v.push_str(", Accept"),
                None => response
                    .headers
                    .push(("Vary".to_string(), "Accept".to_string())),
            }
        }
        return response;
    }
    let mut headers: Vec<(String, String)> = Vec::with_capacity(12);
    let mut add = |k: &str, v: String| headers.push((k.to_string(), v));
    let (status_code, body) = match reply {
        Reply::Object {
            key,
            meta,
            body,
            part,
        } => {
            let content_type = content_type(meta.content_type.as_deref(), &key);
            // Any object opened as a page (SVG, HTML, XML uploaded by anyone
            // with a key) gets no script and no origin; images embedded
            // with <img> are unaffected by CSP.
            add("Content-Security-Policy", SVG_CSP.to_string());
            add("Content-Type", content_type);
            match part {
                Some(p) => {
                    add("Content-Length", p.len().to_string());
                    add(
                        "Content-Range",
                        format!("bytes {}-{}/{}", p.start, p.end, p.total),
                    );
                }
                None => add("Content-Length", meta.size.to_string()),
            }
            validators_and_caching(&mut add, &meta, config);
            if let Some(v) = meta.content_disposition.filter(|v| is_disposition(v)) {
                add("Content-Disposition", v);
            }
            if let Some(v) = meta.content_encoding.filter(|v| is_header_value(v)) {
                add("Content-Encoding", v);
            }
            add("Accept-Ranges", "bytes".to_string());
            add("X-Content-Type-Options", "nosniff".to_string());
            let status = if part.is_some() { 206 } else { 200 };
            match body {
                Some(bytes) => (status, Some(Body::Binary(bytes))),
                None => (status, None),
            }
        }
        Reply::NotModified { meta } => {
            validators_and_caching(&mut add, &meta, config);
            (304, None)
        }
        // Handled above; kept total without a panic.
        Reply::Variant { inner, .. } => return render(*inner, config, request_id),
        Reply::Stream { .. } => return render(reply_without_stream(reply), config, request_id),
        Reply::Listing { folder, page } => {
            add("Content-Type", "application/json".to_string());
            add("Cache-Control", "no-cache".to_string());
            add("X-Content-Type-Options", "nosniff".to_string());
            (200, Some(Body::Text(listing_body(&folder, &page))))
        }
        Reply::Presigned {
            presigned,
            expires_at,
        } => {
            add("Content-Type", "application/json".to_string());
            add("Cache-Control", "no-store".to_string());
            add("X-Content-Type-Options", "nosniff".to_string());
            (
                200,
                Some(Body::Text(presigned_body(&presigned, expires_at))),
            )
        }
        Reply::Options { allow } => {
            add("Allow", allow.clone());
            if config.cors_origin.is_some() {
                add("Access-Control-Allow-Methods", allow);
                add(
                    "Access-Control-Allow-Headers",
                    "x-api-key, range, if-none-match, if-modified-since, if-match, if-unmodified-since, if-range, content-type"
                        .to_string(),
                );
                add("Access-Control-Max-Age", "600".to_string());
            }
            add("Content-Type", "text/plain; charset=utf-8".to_string());
            (204, None)
        }
        Reply::Json { status, body } => {
            add("Content-Type", "application/json".to_string());
            add("Cache-Control", "no-store".to_string());
            add("X-Content-Type-Options", "nosniff".to_string());
            (status, Some(Body::Text(body.to_string())))
        }
        Reply::NoContent => {
            add("Content-Type", "application/json".to_string());
            add("Cache-Control", "no-store".to_string());
            (204, None)
        }
        Reply::Redirect { location } => {
            let location_for_body = location.clone();
            add("Location", location);
            add("Cache-Control", "no-store".to_string());
            add("Content-Type", "application/json".to_string());
            add("X-Content-Type-Options", "nosniff".to_string());
            let body = serde_json::json!({
                "message": "the object is served from a presigned URL; follow the redirect",
                "location": location_for_body,
                "requestId": request_id,
            });
            (307, Some(Body::Text(body.to_string())))
        }
        Reply::Error(err) => {
            match &err {
                Error::MethodNotAllowed { allow, .. } => add("Allow", allow.clone()),
                Error::RangeNotSatisfiable { size } => {
                    add("Content-Range", format!("bytes */{size}"))
                }
                Error::Upstream {
                    kind: crate::error::UpstreamKind::Throttled,
                    ..
                }
                | Error::Busy => add("Retry-After", "1".to_string()),
                _ => {}
            }
            add("Content-Type", "application/json".to_string());
            add("Cache-Control", "no-store".to_string());
            add("X-Content-Type-Options", "nosniff".to_string());
            (err.status(), Some(Body::Text(error_body(&err, request_id))))
        }
    };
    if let Some(origin) = &config.cors_origin {
        headers.push(("Access-Control-Allow-Origin".to_string(), origin.clone()));
        headers.push((
            "Access-Control-Expose-Headers".to_string(),
            "ETag, Content-Length, Content-Range, Last-Modified".to_string(),
        ));
        if origin != "*" {
            headers.push(("Vary".to_string(), "Origin".to_string()));
        }
    }
    ProxyResponse {
        status_code,
        headers,
        body,
    }
}

fn reply_without_stream(reply: Reply) -> Reply {
    reply.take_stream().0
}

/// ETag, Last-Modified and Cache-Control: what a 200, 206 and 304 share.
fn validators_and_caching(add: &mut impl FnMut(&str, String), meta: &ObjectMeta, config: &Config) {
    if let Some(etag) = meta.etag.clone().filter(|v| is_header_value(v)) {
        add("ETag", etag);
    }
    if let Some(t) = meta.last_modified {
        add("Last-Modified", http_date(t));
    }
    let cache = meta
        .cache_control
        .clone()
        .filter(|v| !v.is_empty() && is_header_value(v))
        .unwrap_or_else(|| config.cache_control.clone());
    add("Cache-Control", cache);
}

/// `{"prefix", "objects": [{"key","size","etag","lastModified"}], "folders", "nextToken"}`.
fn listing_body(folder: &str, page: &ListPage) -> String {
    let objects: Vec<serde_json::Value> = page
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key,
                "size": o.size,
                "etag": o.etag,
                "lastModified": o.last_modified.map(|t| DateTime::from(t).fmt(Format::DateTime).unwrap_or_default()),
            })
        })
        .collect();
    serde_json::json!({
        "prefix": folder,
        "objects": objects,
        "folders": page.folders,
        "nextToken": page.next_token,
    })
    .to_string()
}

/// The headers a client must send, grouped by lower-case name (`host` is in
/// the URL already).
fn presigned_body(p: &Presigned, expires_at: SystemTime) -> String {
    let mut header = serde_json::Map::new();
    for (k, v) in &p.headers {
        let k = k.to_ascii_lowercase();
        if k == "host" {
            continue;
        }
        match header.get_mut(&k).and_then(serde_json::Value::as_array_mut) {
            Some(list) => list.push(v.clone().into()),
            None => {
                header.insert(k, serde_json::json!([v]));
            }
        }
    }
    serde_json::json!({
        "URL": p.url,
        "Method": p.method,
        "Header": header,
        "ExpiresAt": DateTime::from(expires_at).fmt(Format::DateTime).unwrap_or_default(),
    })
    .to_string()
}

/// `{"message": …, "code": …, "requestId": …}`.
pub fn error_body(err: &Error, request_id: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        message: String,
        code: &'a str,
        request_id: &'a str,
    }
    let body = Body {
        message: err.public_message(),
        code: err.code(),
        request_id,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ct: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            content_type: ct.map(str::to_string),
            size: 3,
            ..Default::default()
        }
    }

    #[test]
    fn metadata_cannot_inject_headers() {
        let config =
            Config::from_lookup(|n| (n == "bucket").then(|| "images".to_string())).expect("config");
        let m = ObjectMeta {
            cache_control: Some("max-age=1\r\nSet-Cookie: a=b".into()),
            content_disposition: Some("inline\nX-Evil: 1".into()),
            etag: Some("\"abc\"".into()),
            ..meta(Some("image/svg+xml"))
        };
        let r = render(
            Reply::Object {
                key: "a.svg".into(),
                meta: m,
                body: Some(b"<svg/>".to_vec()),
                part: None,
            },
            &config,
            "r",
        );
        assert_eq!(r.header("cache-control"), Some("public, max-age=86400"));
        assert_eq!(r.header("content-disposition"), None);
        assert_eq!(r.header("content-security-policy"), Some(SVG_CSP));
        assert_eq!(r.header("etag"), Some("\"abc\""));
        assert!(r.is_base64_encoded());
        assert_eq!(r.body_bytes(), b"<svg/>");
    }
}
