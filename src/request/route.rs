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

/// `GET|HEAD /o/{id}` serves the object an opaque id names (with ids on).
pub const BY_ID_ROUTE: &str = "o/";
/// `GET /id/{key}` (admin) answers the id of an object (with ids on).
pub const ID_OF_ROUTE: &str = "id/";
/// Bucket names that would clash with a route in bucket mode (`o` and `id`
/// are too short for S3 anyway).
pub const ROUTE_NAMES: &[&str] = &["presign", "id", "o"];

/// What the path points at. In bucket mode the bucket is beside it, in
/// [`Route::bucket`].
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
    /// Bucket mode, `/`: the allowlisted buckets that exist.
    Buckets,
    /// Bucket mode, `/{bucket}` or `/{bucket}/`: its listing (GET), its
    /// creation (PUT), its deletion (DELETE).
    Bucket,
    /// Bucket mode: a bucket not on the allowlist, and what the path names
    /// in it. It answers as an allowlisted bucket that S3 does not have
    /// (the key's syntax, the method and an admin route's key are checked
    /// as for any bucket, then 404 `NoSuchBucket`), and nothing is asked of
    /// S3.
    UnknownBucket(Box<Target>),
    /// `o/{id}`: the object an opaque id names (the id is checked by the
    /// handler, which holds the secret).
    ById(String),
    /// `presign/o/{id}`: a presigned GET for the object an id names.
    PresignById(String),
    /// `id/{key}`: the id of an object (admin).
    IdOf(String),
}

impl Target {
    /// The routes the template serves from resources of their own with
    /// caching off: presigned URLs and ids (admin), here or in a bucket off
    /// the allowlist.
    pub fn is_uncached_route(&self) -> bool {
        match self {
            Target::Presign(_) | Target::PresignById(_) | Target::IdOf(_) => true,
            Target::UnknownBucket(named) => named.is_uncached_route(),
            _ => false,
        }
    }
}

/// A path's bucket (bucket mode) and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub bucket: Option<String>,
    pub target: Result<Target, KeyError>,
}

/// The rules a path is checked against beyond a key's syntax: the key
/// prefix's length (S3's 1,024 bytes include it), the reserved folder, the
/// bucket allowlist (bucket mode) and whether the id routes are on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    pub prefix_len: usize,
    /// Keys under this folder (relative to the key prefix) are
    /// [`Target::Reserved`].
    pub reserved: Option<String>,
    /// Bucket mode: the first segment of every path names a bucket, and
    /// only these are served.
    pub buckets: Option<Vec<String>>,
    /// `o/`, `presign/o/` and `id/` are routes (they shadow keys there).
    pub ids: bool,
}

impl KeyRules {
    /// Only the prefix's length; no reserved folder, one bucket, no ids.
    pub fn prefix(prefix_len: usize) -> KeyRules {
        KeyRules {
            prefix_len,
            ..KeyRules::default()
        }
    }

    /// The route a decoded path (without its leading `/`) names.
    pub fn route(&self, path: &str) -> Route {
        let plain = |target| Route {
            bucket: None,
            target,
        };
        if self.ids {
            if let Some(id) = path
                .strip_prefix(PRESIGN_ROUTE)
                .and_then(|p| p.strip_prefix(BY_ID_ROUTE))
            {
                return plain(Ok(Target::PresignById(id.to_string())));
            }
            if let Some(id) = path.strip_prefix(BY_ID_ROUTE) {
                return plain(Ok(Target::ById(id.to_string())));
            }
            if let Some(rest) = path.strip_prefix(ID_OF_ROUTE) {
                return object_only(self.object_route(rest, false), Target::IdOf);
            }
        }
        if let Some(rest) = path.strip_prefix(PRESIGN_ROUTE) {
            return object_only(self.object_route(rest, false), Target::Presign);
        }
        self.object_route(path, true)
    }

    /// A path naming an object, a folder or (on the bare routes) the root,
    /// a bucket or the buckets.
    fn object_route(&self, path: &str, bare: bool) -> Route {
        let Some(allowed) = &self.buckets else {
            let target = if bare && path.is_empty() {
                Ok(Target::Listing(String::new()))
            } else {
                self.target(path)
            };
            return Route {
                bucket: None,
                target,
            };
        };
        if path.is_empty() {
            return Route {
                bucket: None,
                target: if bare {
                    Ok(Target::Buckets)
                } else {
                    Err(KeyError::Empty)
                },
            };
        }
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        if let Err(why) = check_bucket(bucket) {
            return Route {
                bucket: None,
                target: Err(KeyError::BucketName(why)),
            };
        }
        let target = if key.is_empty() {
            Ok(Target::Bucket)
        } else {
            self.target(key)
        };
        if !allowed.iter().any(|b| b == bucket) {
            return Route {
                bucket: None,
                target: target.map(|t| Target::UnknownBucket(Box::new(t))),
            };
        }
        Route {
            bucket: Some(bucket.to_string()),
            target,
        }
    }

    /// The target a decoded key (the part after any bucket) names: the
    /// reserved folder, a folder or an object.
    pub fn target(&self, key: &str) -> Result<Target, KeyError> {
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
        Ok(target)
    }
}

/// A route (`presign/`, `id/`) that names one object: its key, as `wrap`
/// makes it the route's target; a folder, a bucket or the buckets have no
/// presigned URL and no id. Inside a bucket off the allowlist too, which
/// stays off it.
fn object_only(route: Route, wrap: fn(String) -> Target) -> Route {
    let named = |t: Target| match t {
        Target::Object(k) => Ok(wrap(k)),
        Target::Listing(_) | Target::Bucket | Target::Buckets => Err(KeyError::EmptySegment),
        other => Ok(other),
    };
    let target = route.target.and_then(|t| match t {
        Target::UnknownBucket(inner) => named(*inner).map(|t| Target::UnknownBucket(Box::new(t))),
        other => named(other),
    });
    Route { target, ..route }
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
            ..KeyRules::default()
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
            assert_eq!(rules.route(key).target, want, "{key:?}");
        }
        assert!(matches!(
            rules.route(&format!("{long}k")).target,
            Err(KeyError::TooLong { len: 1025, .. })
        ));
    }

    #[test]
    fn bucket_mode_routes() {
        let rules = KeyRules {
            prefix_len: 0,
            reserved: Some("_variants/".into()),
            buckets: Some(vec!["images".into(), "docs.2".into()]),
            ids: true,
        };
        let route = |p: &str| {
            let r = rules.route(p);
            (r.bucket, r.target)
        };
        let b = |name: &str| Some(name.to_string());
        let obj = |k: &str| Ok(Target::Object(k.to_string()));
        assert_eq!(route(""), (None, Ok(Target::Buckets)));
        assert_eq!(route("images"), (b("images"), Ok(Target::Bucket)));
        assert_eq!(route("images/"), (b("images"), Ok(Target::Bucket)));
        assert_eq!(route("images/a/b c.jpg"), (b("images"), obj("a/b c.jpg")));
        assert_eq!(
            route("docs.2/a/"),
            (b("docs.2"), Ok(Target::Listing("a/".into())))
        );
        assert_eq!(
            route("images/_variants/x"),
            (b("images"), Ok(Target::Reserved))
        );
        assert_eq!(
            route("images//x"),
            (b("images"), Err(KeyError::EmptySegment))
        );
        // Off the allowlist: unknown, with what it names checked as in any
        // bucket; never a bucket to ask S3 about.
        let off = |t: Target| Ok(Target::UnknownBucket(Box::new(t)));
        assert_eq!(
            route("other/a.jpg"),
            (None, off(Target::Object("a.jpg".into())))
        );
        assert_eq!(route("other"), (None, off(Target::Bucket)));
        assert_eq!(route("other/_variants/x"), (None, off(Target::Reserved)));
        assert_eq!(
            route("other/../a"),
            (None, rules.route("images/../a").target)
        );
        assert!(route("other/../a").1.is_err());
        assert_eq!(
            route("presign/other/a.jpg"),
            (None, off(Target::Presign("a.jpg".into())))
        );
        assert_eq!(
            route("id/other/a.jpg"),
            (None, off(Target::IdOf("a.jpg".into())))
        );
        assert_eq!(route("id/other"), (None, Err(KeyError::EmptySegment)));
        // A name S3 refuses: a 400 before the allowlist.
        for bad in ["Images/a", "ab/a", "a..b/x", "10.0.0.1/x", &"a".repeat(64)] {
            assert!(
                matches!(route(bad).1, Err(KeyError::BucketName(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            route("presign/images/a.jpg"),
            (b("images"), Ok(Target::Presign("a.jpg".into())))
        );
        assert_eq!(
            route("presign/images"),
            (b("images"), Err(KeyError::EmptySegment))
        );
        assert_eq!(route("presign/"), (None, Err(KeyError::Empty)));
        assert_eq!(
            route("id/images/a.jpg"),
            (b("images"), Ok(Target::IdOf("a.jpg".into())))
        );
        assert_eq!(route("o/AbC-_"), (None, Ok(Target::ById("AbC-_".into()))));
        assert_eq!(
            route("presign/o/AbC"),
            (None, Ok(Target::PresignById("AbC".into())))
        );
    }

    #[test]
    fn id_routes_shadow_keys_only_when_on() {
        let mut rules = KeyRules::prefix(0);
        assert_eq!(rules.route("o/x").target, Ok(Target::Object("o/x".into())));
        assert_eq!(
            rules.route("id/x").target,
            Ok(Target::Object("id/x".into()))
        );
        rules.ids = true;
        assert_eq!(rules.route("o/x").target, Ok(Target::ById("x".into())));
        assert_eq!(rules.route("id/x").target, Ok(Target::IdOf("x".into())));
        assert_eq!(rules.route("id/x/").target, Err(KeyError::EmptySegment));
        assert_eq!(rules.route("").target, Ok(Target::Listing(String::new())));
        // `o` and `id` alone stay keys.
        assert_eq!(rules.route("o").target, Ok(Target::Object("o".into())));
    }
}
