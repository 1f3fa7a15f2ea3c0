//! What a body is: content types by extension, the types a browser shows
//! without running anything, media-type syntax, and the header-value check
//! every header taken from outside (object metadata, settings, parameters)
//! passes before it is sent.

/// Printable ASCII and tab: what may go into a response header as is.
pub fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
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

/// A stored Content-Disposition is sent only when it is a clean header value
/// of type `inline` or `attachment` (RFC 6266): clients disagree on what an
/// unknown type means. s3gate sends none of its own: without one a browser
/// shows the object inline and names a saved copy after the URL's last
/// segment, which is the key's.
pub fn is_disposition(v: &str) -> bool {
    let kind = v.split(';').next().unwrap_or_default().trim();
    is_header_value(v)
        && (kind.eq_ignore_ascii_case("inline") || kind.eq_ignore_ascii_case("attachment"))
}

/// The stored type unless it is missing or S3's generic default, then the
/// type the extension names, then `application/octet-stream`.
pub fn content_type(stored: Option<&str>, key: &str) -> String {
    match stored {
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
                content_type(stored, key),
                want,
                "stored {stored:?} key {key:?}"
            );
        }
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
}
