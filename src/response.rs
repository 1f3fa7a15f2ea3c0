//! Reply -> the JSON a Lambda returns to API Gateway. Every response has a
//! `Content-Type` (lambda_http and API Gateway treat a body without one as
//! text, which corrupts images), binary bodies are base64 with
//! `isBase64Encoded: true`, and error bodies are the one JSON shape DESIGN.md
//! gives. Headers taken from S3 metadata are an allow-list, each value
//! checked, so object metadata can never inject a header.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use base64::Engine;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::config::{Config, is_header_value};
use crate::error::Error;
use crate::storage::{ListPage, ObjectMeta, Part, Presigned};

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
    Error(Error),
}

/// A response body: text (JSON, sent as is) or bytes (sent as base64 with
/// `isBase64Encoded: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

/// The Lambda proxy response API Gateway expects. Written with both
/// `headers` and `multiValueHeaders` (as lambda_http does) so that API
/// Gateway, `sam local` and the local gateway all read it the same way.
/// Binary bodies stay bytes until [`ProxyResponse::to_json`] writes their
/// base64 straight into the response JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyResponse {
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

impl ProxyResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_base64_encoded(&self) -> bool {
        matches!(self.body, Some(Body::Binary(_)))
    }

    /// The body bytes as the client receives them.
    pub fn body_bytes(&self) -> &[u8] {
        match &self.body {
            None => &[],
            Some(Body::Text(t)) => t.as_bytes(),
            Some(Body::Binary(b)) => b,
        }
    }

    /// The response JSON, written once into a buffer of the exact size:
    /// base64 goes straight into it, with no intermediate string and no
    /// escaping pass over megabytes that cannot need escaping.
    pub fn to_json(&self) -> String {
        let single = serde_json::to_string(&Single(&self.headers)).unwrap_or_else(|_| "{}".into());
        let multi = serde_json::to_string(&Multi(&self.headers)).unwrap_or_else(|_| "{}".into());
        let text = match &self.body {
            Some(Body::Text(t)) => Some(serde_json::to_string(t).unwrap_or_else(|_| "\"\"".into())),
            _ => None,
        };
        let body_len = match (&self.body, &text) {
            (Some(Body::Binary(b)), _) => b.len().div_ceil(3) * 4 + 2,
            (_, Some(t)) => t.len(),
            _ => 0,
        };
        let mut out = String::with_capacity(96 + single.len() + multi.len() + body_len);
        out.push_str("{\"statusCode\":");
        out.push_str(&self.status_code.to_string());
        out.push_str(",\"headers\":");
        out.push_str(&single);
        out.push_str(",\"multiValueHeaders\":");
        out.push_str(&multi);
        match (&self.body, text) {
            (Some(Body::Binary(bytes)), _) => {
                out.push_str(",\"body\":\"");
                // SIMD (AVX2/SSE4.1 detected at run time, NEON on Graviton):
                // ~5x the scalar encoder on a 4 MiB image.
                base64_simd::STANDARD.encode_append(bytes, &mut out);
                out.push('"');
            }
            (_, Some(t)) => {
                out.push_str(",\"body\":");
                out.push_str(&t);
            }
            _ => {}
        }
        out.push_str(",\"isBase64Encoded\":");
        out.push_str(if self.is_base64_encoded() {
            "true}"
        } else {
            "false}"
        });
        out
    }
}

struct Single<'a>(&'a [(String, String)]);
impl Serialize for Single<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct Multi<'a>(&'a [(String, String)]);
impl Serialize for Multi<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &[v])?;
        }
        m.end()
    }
}

/// The same JSON as [`ProxyResponse::to_json`], through serde (slower for
/// large bodies; the function and the local gateway use `to_json`).
impl Serialize for ProxyResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("statusCode", &self.status_code)?;
        m.serialize_entry("headers", &Single(&self.headers))?;
        m.serialize_entry("multiValueHeaders", &Multi(&self.headers))?;
        match &self.body {
            Some(Body::Text(t)) => m.serialize_entry("body", t)?,
            Some(Body::Binary(b)) => m.serialize_entry("body", &base64_of(b))?,
            None => {}
        }
        m.serialize_entry("isBase64Encoded", &self.is_base64_encoded())?;
        m.end()
    }
}

/// Builds the response for `reply`.
pub fn render(reply: Reply, config: &Config, request_id: &str) -> ProxyResponse {
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
            let content_type = content_type(&meta, &key);
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

/// A stored Content-Disposition is sent only when it is a clean header value
/// of type `inline` or `attachment` (RFC 6266): clients disagree on what an
/// unknown type means. s3gate sends none of its own: without one a browser
/// shows the object inline and names a saved copy after the URL's last
/// segment, which is the key's.
fn is_disposition(v: &str) -> bool {
    let kind = v.split(';').next().unwrap_or_default().trim();
    is_header_value(v)
        && (kind.eq_ignore_ascii_case("inline") || kind.eq_ignore_ascii_case("attachment"))
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

fn base64_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut out);
    out
}

pub fn http_date(t: SystemTime) -> String {
    DateTime::from(t).fmt(Format::HttpDate).unwrap_or_default()
}

/// A media type as RFC 9110 §8.3.1 writes it: `type/subtype`, each a
/// token, then `; name=value` parameters (value a token or a quoted
/// string), printable ASCII only.
pub fn is_media_type(s: &str) -> bool {
    fn token(t: &str) -> bool {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }
    fn value(v: &str) -> bool {
        match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(q) => q
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b) && b != b'"'),
            None => token(v),
        }
    }
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or_default();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    token(kind)
        && token(sub)
        && parts.all(|p| {
            p.trim_start_matches([' ', '\t'])
                .split_once('=')
                .is_some_and(|(n, v)| token(n) && value(v))
        })
}

/// The stored type unless it is missing or S3's generic default, then the
/// type the extension names, then `application/octet-stream`.
pub fn content_type(meta: &ObjectMeta, key: &str) -> String {
    match meta.content_type.as_deref() {
        Some(t)
            if !t.is_empty()
                && is_header_value(t)
                && !t.eq_ignore_ascii_case("binary/octet-stream")
                && !t.eq_ignore_ascii_case("application/octet-stream") =>
        {
            t.to_string()
        }
        _ => by_extension(key)
            .unwrap_or("application/octet-stream")
            .to_string(),
    }
}

/// Types a browser shows inline without running anything: images other
/// than SVG, video, audio. Anything else (SVG, HTML, XML, text, unknown) can
/// be a document with script when opened directly; s3gate serves it under
/// its sandboxing CSP, and S3 (a presigned URL) as a download.
pub fn safe_inline(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    let essence = t.split(';').next().unwrap_or("").trim();
    (essence.starts_with("image/") && !essence.contains("svg"))
        || essence.starts_with("video/")
        || essence.starts_with("audio/")
}

/// The types an image and asset bucket holds; anything else is served as
/// `application/octet-stream`.
pub fn by_extension(key: &str) -> Option<&'static str> {
    let ext = key.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" | "jpe" | "jfif" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "avif" => "image/avif",
        "svg" | "svgz" => "image/svg+xml",
        "ico" => "image/x-icon",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "jxl" => "image/jxl",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "xml" => "application/xml",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "zip" => "application/zip",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn inline_safe_types() {
        for t in [
            "image/png",
            "image/jpeg",
            "IMAGE/WEBP",
            "video/mp4",
            "audio/mpeg",
            "image/avif; q=1",
        ] {
            assert!(safe_inline(t), "{t}");
        }
        for t in [
            "image/svg+xml",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "text/xml",
            "application/octet-stream",
            "text/plain",
            "multipart/x-mixed-replace",
            "",
        ] {
            assert!(!safe_inline(t), "{t}");
        }
    }

    use super::*;

    fn meta(ct: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            content_type: ct.map(str::to_string),
            size: 3,
            ..Default::default()
        }
    }

    #[test]
    fn content_type_is_never_missing() {
        for (stored, key, want) in [
            (Some("image/png"), "a.jpg", "image/png"),
            (Some("binary/octet-stream"), "a.JPG", "image/jpeg"),
            (Some("application/octet-stream"), "a.svg", "image/svg+xml"),
            (None, "a.webp", "image/webp"),
            (None, "a.avif", "image/avif"),
            (None, "a.gif", "image/gif"),
            (None, "noext", "application/octet-stream"),
            (None, "a.weird", "application/octet-stream"),
            (
                Some("image/png\r\nSet-Cookie: x=1"),
                "a.bin",
                "application/octet-stream",
            ),
            (Some(""), "a.png", "image/png"),
        ] {
            assert_eq!(
                content_type(&meta(stored), key),
                want,
                "stored {stored:?} key {key:?}"
            );
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

    #[test]
    fn media_types() {
        for (t, ok) in [
            ("image/png", true),
            ("image/svg+xml", true),
            ("text/plain; charset=utf-8", true),
            ("text/plain;charset=\"utf-8\"", true),
            ("application/vnd.api+json", true),
            ("a", false),
            ("image/", false),
            ("/png", false),
            ("image/png;", false),
            ("image/png; charset", false),
            ("image/p ng", false),
            ("image/png\r\nx: y", false),
            ("", false),
        ] {
            assert_eq!(is_media_type(t), ok, "{t:?}");
        }
    }

    #[test]
    fn stored_disposition_passes_only_when_clean() {
        for (stored, passes) in [
            ("inline", true),
            ("attachment", true),
            ("Attachment; filename=\"a b.png\"", true),
            ("inline; filename*=UTF-8''%C3%A9t%C3%A9.png", true),
            ("", false),
            ("form-data; name=\"x\"", false),
            ("attachmentx", false),
            ("inline\r\nSet-Cookie: a=b", false),
            ("attachment; filename=\"\u{7f}.png\"", false),
            ("attachment; filename=\"été.png\"", false),
        ] {
            assert_eq!(is_disposition(stored), passes, "{stored:?}");
        }
    }

    #[test]
    fn serializes_like_api_gateway_expects() {
        let png = ProxyResponse {
            status_code: 200,
            headers: vec![
                ("Content-Type".into(), "image/png".into()),
                ("ETag".into(), "\"a\\\"b\"".into()),
            ],
            body: Some(Body::Binary(vec![0, 1])),
        };
        let v: serde_json::Value = serde_json::from_str(&png.to_json()).expect("to_json is JSON");
        assert_eq!(
            v,
            serde_json::json!({"statusCode": 200, "headers": {"Content-Type": "image/png", "ETag": "\"a\\\"b\""},
                "multiValueHeaders": {"Content-Type": ["image/png"], "ETag": ["\"a\\\"b\""]}, "body": "AAE=",
                "isBase64Encoded": true})
        );
        // The fast writer and serde agree, byte for byte, for every body kind
        // and sizes around base64's padding.
        for body in [
            None,
            Some(Body::Text("{\"message\":\"é\\n\u{1}\"}".into())),
            Some(Body::Binary(Vec::new())),
            Some(Body::Binary(vec![255])),
            Some(Body::Binary(vec![1, 2])),
            Some(Body::Binary((0..=255).collect())),
        ] {
            let r = ProxyResponse {
                status_code: 404,
                headers: png.headers.clone(),
                body,
            };
            let fast = r.to_json();
            assert_eq!(fast, serde_json::to_string(&r).expect("serde"), "{r:?}");
            assert!(
                fast.capacity() <= fast.len() + 128,
                "buffer grew: {} for {}",
                fast.capacity(),
                fast.len()
            );
        }
    }
}
