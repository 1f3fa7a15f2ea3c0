//! Every rule about keys and routes: what a key may hold (its syntax, its
//! length with the prefix), which paths are routes rather than keys (the
//! presign route, the ids' routes), the reserved variant folder, bucket
//! mode's first segment, and percent-encoding. Pure and unit-tested here.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::KeyError;
use crate::limits::MAX_KEY_LEN;

/// `GET /presign/{key}` vends presigned URLs: keys under `presign/` cannot
/// be reached through the API, and the route's own prefix is not part of
/// the key it names.
pub const PRESIGN_ROUTE: &str = "presign/";

/// What the path points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One object; the key as the caller named it (without the prefix).
    Object(String),
    /// A "folder": the root (empty) or a prefix ending in `/`.
    Listing(String),
    /// `presign/{key}`: the object whose URL is asked for.
    Presign(String),
    /// A key under the variant cache's folder, which only s3gate writes:
    /// refused on every route.
    Reserved,
}

/// The rules a key is checked against beyond its syntax: the key prefix's
/// length (S3's 1,024 bytes include it) and the reserved folder, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    pub prefix_len: usize,
    /// Keys under this folder (relative to the key prefix) are
    /// [`Target::Reserved`].
    pub reserved: Option<String>,
}

impl KeyRules {
    /// Only the prefix's length; no reserved folder.
    pub fn prefix(prefix_len: usize) -> KeyRules {
        KeyRules {
            prefix_len,
            reserved: None,
        }
    }

    /// The target a decoded key names: the presign route, the reserved
    /// folder, a folder or an object.
    pub fn target(&self, key: &str) -> Result<Target, KeyError> {
        let (key, presign) = match key.strip_prefix(PRESIGN_ROUTE) {
            Some(rest) => (rest, true),
            None => (key, false),
        };
        let target = parse_key(key, self.prefix_len)?;
        let named = match &target {
            Target::Object(k) | Target::Listing(k) => k.as_str(),
            _ => "",
        };
        if self
            .reserved
            .as_deref()
            .is_some_and(|r| named.starts_with(r) || format!("{named}/") == r)
        {
            return Ok(Target::Reserved);
        }
        match (presign, target) {
            (true, Target::Object(k)) => Ok(Target::Presign(k)),
            // A folder has no presigned URL.
            (true, Target::Listing(_)) => Err(KeyError::EmptySegment),
            (_, t) => Ok(t),
        }
    }
}

/// RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay bare;
/// every other byte is percent-encoded. What signed transform URLs and the
/// CLI's request paths both use.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a key for a URL path, keeping `/` between segments: the
/// inverse of [`decode_path`] (what `s3gate get`/`put` send).
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Strictly percent-decodes a raw path (`/a%20b.jpg` -> `a b.jpg`).
pub fn decode_path(path: &str) -> Result<String, KeyError> {
    percent_decode(path.strip_prefix('/').unwrap_or(path)).ok_or(KeyError::BadPercentEncoding)
}

/// Strict percent-decoding: `%` must start two hex digits and the result
/// must be UTF-8. `+` stays `+`.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Checks a decoded key. A trailing `/` names a folder (a listing).
pub fn parse_key(key: &str, prefix_len: usize) -> Result<Target, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if prefix_len + key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong {
            len: prefix_len + key.len(),
            max: MAX_KEY_LEN,
        });
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacter);
    }
    let (body, folder) = match key.strip_suffix('/') {
        Some(body) => (body, true),
        None => (key, false),
    };
    if body.is_empty() {
        // "/" alone: an empty segment, not the root (the root is `GET /`).
        return Err(KeyError::EmptySegment);
    }
    for segment in body.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment),
            "." | ".." => return Err(KeyError::DotSegment),
            _ => {}
        }
    }
    Ok(if folder {
        Target::Listing(key.to_string())
    } else {
        Target::Object(key.to_string())
    })
}

/// S3's naming rules for general purpose buckets: checked at start for the
/// configured bucket and allowlist (a typo is reported then, not as a 502 on
/// the first request), and on every request in bucket mode (a name S3 would
/// refuse is a 400 before the allowlist is consulted).
pub fn check_bucket(b: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&b.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return Err("may hold only lowercase letters, digits, '.' and '-'");
    }
    let first = b.as_bytes()[0];
    let last = b.as_bytes()[b.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err("must begin and end with a letter or digit");
    }
    if b.contains("..") {
        return Err("may not hold two adjacent periods");
    }
    if b.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("may not be formatted as an IP address");
    }
    if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| b.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| b.ends_with(s))
    {
        return Err("uses a prefix or suffix S3 reserves");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_rules() {
        for (b, ok) in [
            ("images", true),
            ("my.images-2", true),
            ("abc", true),
            (&"a".repeat(63), true),
            ("ab", false),
            (&"a".repeat(64), false),
            ("Images", false),
            ("-images", false),
            ("images-", false),
            ("im ages", false),
            ("im..ages", false),
            ("192.168.5.4", false),
            ("xn--images", false),
            ("images-s3alias", false),
        ] {
            assert_eq!(check_bucket(b).is_ok(), ok, "bucket {b:?}");
        }
    }

    #[test]
    fn key_rules() {
        let long = "a".repeat(MAX_KEY_LEN + 1);
        let cases: &[(&str, Result<Target, KeyError>)] = &[
            (
                "partnerimages/67/28/67286576.jpeg",
                Ok(Target::Object("partnerimages/67/28/67286576.jpeg".into())),
            ),
            (
                "photos/summer 2026/beach+sea ☀.webp",
                Ok(Target::Object("photos/summer 2026/beach+sea ☀.webp".into())),
            ),
            ("100%.jpg", Ok(Target::Object("100%.jpg".into()))),
            ("a.b/..c/d..", Ok(Target::Object("a.b/..c/d..".into()))),
            ("photos/", Ok(Target::Listing("photos/".into()))),
            ("", Err(KeyError::Empty)),
            ("/", Err(KeyError::EmptySegment)),
            ("/etc/passwd", Err(KeyError::EmptySegment)),
            ("a//b", Err(KeyError::EmptySegment)),
            ("a//", Err(KeyError::EmptySegment)),
            ("..", Err(KeyError::DotSegment)),
            ("a/../b", Err(KeyError::DotSegment)),
            ("./a", Err(KeyError::DotSegment)),
            ("a/.", Err(KeyError::DotSegment)),
            ("a\u{0}b", Err(KeyError::ControlCharacter)),
            ("a\nb", Err(KeyError::ControlCharacter)),
            ("a\u{7f}b", Err(KeyError::ControlCharacter)),
            ("a\u{85}b", Err(KeyError::ControlCharacter)),
            (
                &long,
                Err(KeyError::TooLong {
                    len: MAX_KEY_LEN + 1,
                    max: MAX_KEY_LEN,
                }),
            ),
        ];
        for (key, want) in cases {
            assert_eq!(&parse_key(key, 0), want, "key {key:?}");
        }
    }

    #[test]
    fn prefix_counts_towards_the_length() {
        let key = "k".repeat(1000);
        assert!(parse_key(&key, 24).is_ok());
        assert_eq!(
            parse_key(&key, 25),
            Err(KeyError::TooLong {
                len: 1025,
                max: 1024
            })
        );
    }

    #[test]
    fn percent_decoding_is_strict() {
        for (raw, want) in [
            ("/a%20b.jpg", Ok("a b.jpg".to_string())),
            (
                "/photos%2Fsunset.webp",
                Ok("photos/sunset.webp".to_string()),
            ),
            ("/%E2%98%80.png", Ok("☀.png".to_string())),
            ("/a+b", Ok("a+b".to_string())),
            ("/bad%zz", Err(KeyError::BadPercentEncoding)),
            ("/bad%2", Err(KeyError::BadPercentEncoding)),
            ("/bad%", Err(KeyError::BadPercentEncoding)),
            ("/bad%FF", Err(KeyError::BadPercentEncoding)),
        ] {
            assert_eq!(decode_path(raw), want, "path {raw:?}");
        }
    }

    #[test]
    fn the_presign_route_and_the_reserved_folder() {
        let rules = KeyRules {
            prefix_len: 10,
            reserved: Some("_variants/".into()),
        };
        let long = format!("presign/{}", "k".repeat(MAX_KEY_LEN - 10));
        for (key, want) in [
            ("presign/a.jpg", Ok(Target::Presign("a.jpg".into()))),
            (
                long.as_str(),
                Ok(Target::Presign("k".repeat(MAX_KEY_LEN - 10))),
            ),
            ("presign/a/", Err(KeyError::EmptySegment)),
            ("presign/../a", Err(KeyError::DotSegment)),
            ("_variants/a.jpg/x.webp", Ok(Target::Reserved)),
            ("_variants/", Ok(Target::Reserved)),
            ("_variants", Ok(Target::Reserved)),
            ("presign/_variants/a", Ok(Target::Reserved)),
            ("_variantsx/a", Ok(Target::Object("_variantsx/a".into()))),
            ("a/_variants/b", Ok(Target::Object("a/_variants/b".into()))),
        ] {
            assert_eq!(rules.target(key), want, "{key:?}");
        }
        assert!(matches!(
            rules.target(&format!("{long}k")),
            Err(KeyError::TooLong { len: 1025, .. })
        ));
    }
}
