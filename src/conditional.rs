//! HTTP validators and ranges (RFC 9110 §13 and §14), pure: parsing the
//! request headers, comparing entity tags, and deciding what an object's
//! ETag, date and size mean for a conditional or ranged request. The storage
//! layer passes the same conditions to S3 so that real S3 sends no bytes for
//! a 304; this module decides again, so the answer is right on any store
//! (s3s-fs 0.14 ignores the conditions).

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// An entity tag as sent: `"abc"` or `W/"abc"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    /// The quoted opaque tag, quotes included.
    pub tag: String,
}

impl EntityTag {
    pub fn parse(s: &str) -> Option<EntityTag> {
        let s = s.trim();
        let (weak, rest) = match s.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
        // etagc = %x21 / %x23-7E / obs-text; no quote inside.
        if inner.bytes().any(|b| b == b'"' || b < 0x21 || b == 0x7f) {
            return None;
        }
        Some(EntityTag {
            weak,
            tag: rest.to_string(),
        })
    }

    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.tag == other.tag
    }

    pub fn to_header(&self) -> String {
        if self.weak {
            format!("W/{}", self.tag)
        } else {
            self.tag.clone()
        }
    }
}

/// `If-Match` / `If-None-Match`: `*` or a list of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList {
    Any,
    Tags(Vec<EntityTag>),
}

impl TagList {
    /// `None` for a value that does not parse (the header is then ignored).
    pub fn parse(s: &str) -> Option<TagList> {
        if s.trim() == "*" {
            return Some(TagList::Any);
        }
        let tags: Option<Vec<EntityTag>> = split_tags(s)
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .map(EntityTag::parse)
            .collect();
        tags.filter(|t| !t.is_empty()).map(TagList::Tags)
    }

    /// The header to pass on to a store, or `None` when nothing is left to
    /// pass: the empty list an `If-Match` that did not parse becomes, or a
    /// list of tags none of which a store could hold. RFC 9110 lets a tag
    /// carry bytes over 0x7F (obs-text), but S3's ETags are ASCII, so such a
    /// tag can never match, and a store may refuse the header outright
    /// (s3s answers 400 InvalidArgument, which would reach the caller as a
    /// 502). Those tags are left out; s3gate still decides the condition
    /// itself with the whole list (no match: 200 for If-None-Match, 412 for
    /// If-Match).
    pub fn header_for_store(&self) -> Option<String> {
        match self {
            TagList::Any => Some("*".to_string()),
            TagList::Tags(tags) => {
                let ascii: Vec<String> = tags
                    .iter()
                    .filter(|t| t.tag.is_ascii())
                    .map(EntityTag::to_header)
                    .collect();
                (!ascii.is_empty()).then(|| ascii.join(", "))
            }
        }
    }

    pub fn to_header(&self) -> String {
        match self {
            TagList::Any => "*".to_string(),
            TagList::Tags(tags) => tags
                .iter()
                .map(EntityTag::to_header)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn matches(&self, etag: Option<&EntityTag>, strong: bool) -> bool {
        match (self, etag) {
            (TagList::Any, _) => true,
            (TagList::Tags(_), None) => false,
            (TagList::Tags(tags), Some(e)) => tags
                .iter()
                .any(|t| if strong { t.strong_eq(e) } else { t.weak_eq(e) }),
        }
    }
}

/// Commas may appear inside quoted tags; split only outside quotes.
fn split_tags(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`); empty if it cannot be
/// written (a time before 0001 or after 9999).
pub fn http_date(t: SystemTime) -> String {
    DateTime::from(t).fmt(Format::HttpDate).unwrap_or_default()
}

pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    DateTime::from_str(s.trim(), Format::HttpDate)
        .ok()
        .and_then(|d| SystemTime::try_from(d).ok())
}

fn secs(t: SystemTime) -> i64 {
    DateTime::from(t).secs()
}

/// `If-Range`: a strong tag or a date; anything else cannot match, so the
/// range is ignored (RFC 9110 §13.1.5: the whole representation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfRange {
    Tag(EntityTag),
    Date(SystemTime),
    Invalid,
}

/// S3's largest object (5 TiB). Every byte position s3gate sends to a store
/// is at most this: a larger one names a byte no object has, and some
/// stores cast positions to `i64` (s3s-fs 0.14 panics on a suffix of 2^63).
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;

/// A single byte range as asked (`a-b`, `a-`, `-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    FromTo(u64, u64),
    From(u64),
    Suffix(u64),
}

/// What the `Range` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    One(ByteRange),
    /// Several ranges: answered with the whole object (RFC 9110 allows it).
    Many,
}

impl ByteRange {
    /// The header form S3 takes.
    pub fn to_header(self) -> String {
        match self.bounded() {
            ByteRange::FromTo(a, b) => format!("bytes={a}-{b}"),
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// The same request with every position at most [`MAX_OBJECT_SIZE`]:
    /// what it selects from any object S3 can hold is unchanged (a start
    /// past that is unsatisfiable either way).
    pub fn bounded(self) -> ByteRange {
        let b = |n: u64| n.min(MAX_OBJECT_SIZE);
        match self {
            ByteRange::FromTo(a, z) => ByteRange::FromTo(b(a), b(z)),
            ByteRange::From(a) => ByteRange::From(b(a)),
            ByteRange::Suffix(n) => ByteRange::Suffix(b(n)),
        }
    }

    /// The inclusive byte span within an object of `size` bytes, or `None`
    /// when the range is unsatisfiable (416).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::FromTo(a, b) if a < size => Some((a, b.min(size - 1))),
            ByteRange::From(a) if a < size => Some((a, size - 1)),
            ByteRange::Suffix(n) if n > 0 && size > 0 => Some((size - n.min(size), size - 1)),
            _ => None,
        }
    }
}

/// `None`: no usable Range header (absent, another unit, or malformed),
/// which RFC 9110 says to ignore.
pub fn parse_range(s: &str) -> Option<RangeRequest> {
    let (unit, set) = s.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut parsed = Vec::with_capacity(specs.len());
    for spec in &specs {
        let (a, b) = spec.split_once('-')?;
        // Any number of digits: one past u64 selects as u64::MAX does (past
        // any object), so it saturates rather than making the range
        // malformed.
        let num = |x: &str| -> Option<u64> {
            if x.is_empty() || !x.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(x.parse().unwrap_or(u64::MAX))
        };
        parsed.push(match (a.trim(), b.trim()) {
            ("", n) => ByteRange::Suffix(num(n)?),
            (a, "") => ByteRange::From(num(a)?),
            (a, b) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return None;
                }
                ByteRange::FromTo(a, b)
            }
        });
    }
    match parsed.as_slice() {
        [] => None,
        [one] => Some(RangeRequest::One(*one)),
        _ => Some(RangeRequest::Many),
    }
}

/// The validator headers of a request, parsed. What a value that does not
/// parse means is decided per header: `If-None-Match`, `If-Modified-Since`
/// and `If-Unmodified-Since` are then ignored (RFC 9110 §13.1.2-4); an
/// `If-Match` that does not parse cannot match any representation (412, as
/// S3 answers); an `If-Range` that does not parse cannot match, so the range
/// is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<TagList>,
    pub if_none_match: Option<TagList>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
    pub if_range: Option<IfRange>,
    pub range: Option<RangeRequest>,
}

/// What the validators say about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    NotModified,
    PreconditionFailed,
}

impl Conditions {
    pub fn from_header(get: impl Fn(&str) -> Option<String>) -> Conditions {
        Conditions {
            if_match: get("if-match")
                .map(|v| TagList::parse(&v).unwrap_or(TagList::Tags(Vec::new()))),
            if_none_match: get("if-none-match").and_then(|v| TagList::parse(&v)),
            if_modified_since: get("if-modified-since").and_then(|v| parse_http_date(&v)),
            if_unmodified_since: get("if-unmodified-since").and_then(|v| parse_http_date(&v)),
            if_range: get("if-range").map(|v| {
                let parsed = if v.trim_start().starts_with('"') {
                    EntityTag::parse(&v).map(IfRange::Tag)
                } else {
                    parse_http_date(&v).map(IfRange::Date)
                };
                parsed.unwrap_or(IfRange::Invalid)
            }),
            range: get("range").and_then(|v| parse_range(&v)),
        }
    }

    pub fn is_conditional(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_modified_since.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// RFC 9110 §13.2.2, for GET and HEAD of an existing object.
    pub fn evaluate(&self, etag: Option<&str>, last_modified: Option<SystemTime>) -> Verdict {
        let etag = etag.and_then(EntityTag::parse);
        if let Some(list) = &self.if_match {
            if !list.matches(etag.as_ref(), true) {
                return Verdict::PreconditionFailed;
            }
        } else if let (Some(since), Some(modified)) = (self.if_unmodified_since, last_modified)
            && secs(modified) > secs(since)
        {
            return Verdict::PreconditionFailed;
        }
        if let Some(list) = &self.if_none_match {
            if list.matches(etag.as_ref(), false) {
                return Verdict::NotModified;
            }
        } else if let (Some(since), Some(modified)) = (self.if_modified_since, last_modified)
            && secs(modified) <= secs(since)
        {
            return Verdict::NotModified;
        }
        Verdict::Proceed
    }

    /// The range to ask a store for: none when `If-Range` cannot match
    /// whatever the object is (it does not parse, or names a weak tag).
    pub fn asked_range(&self) -> Option<ByteRange> {
        match (&self.range, &self.if_range) {
            (_, Some(IfRange::Invalid)) => None,
            (Some(RangeRequest::One(r)), _) => Some(*r),
            _ => None,
        }
    }

    /// The single range to serve, after `If-Range`: `None` means the whole
    /// object.
    pub fn effective_range(
        &self,
        etag: Option<&str>,
        last_modified: Option<SystemTime>,
    ) -> Option<ByteRange> {
        let Some(RangeRequest::One(range)) = self.range else {
            return None;
        };
        match &self.if_range {
            None => Some(range),
            Some(IfRange::Tag(want)) => {
                let current = etag.and_then(EntityTag::parse)?;
                want.strong_eq(&current).then_some(range)
            }
            Some(IfRange::Date(date)) => {
                let modified = last_modified?;
                (secs(modified) == secs(*date)).then_some(range)
            }
            Some(IfRange::Invalid) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn c(pairs: &[(&str, &str)]) -> Conditions {
        Conditions::from_header(|n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    const ETAG: &str = "\"abc\"";
    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }
    const MOD: u64 = 1_700_000_000;
    fn date(secs: u64) -> String {
        http_date(t(secs))
    }

    #[test]
    fn stores_get_only_the_tags_they_could_hold() {
        let store = |v: &str| TagList::parse(v).and_then(|l| l.header_for_store());
        assert_eq!(store("*").as_deref(), Some("*"));
        assert_eq!(store("\"a\", W/\"b\"").as_deref(), Some("\"a\", W/\"b\""));
        assert_eq!(store("\"é\""), None);
        assert_eq!(store("W/\"é\", \"a\"").as_deref(), Some("\"a\""));
        // Left out for the store, still decided here: no match.
        let v = c(&[("if-match", "\"é\"")]).evaluate(Some(ETAG), Some(t(MOD)));
        assert_eq!(v, Verdict::PreconditionFailed);
    }

    #[test]
    fn validators() {
        let cases: Vec<(Vec<(&str, String)>, Verdict)> = vec![
            (vec![], Verdict::Proceed),
            (vec![("if-none-match", ETAG.into())], Verdict::NotModified),
            (
                vec![("if-none-match", "W/\"abc\"".into())],
                Verdict::NotModified,
            ),
            (
                vec![("if-none-match", "\"x\", \"abc\"".into())],
                Verdict::NotModified,
            ),
            (vec![("if-none-match", "\"x\"".into())], Verdict::Proceed),
            (vec![("if-none-match", "*".into())], Verdict::NotModified),
            (vec![("if-none-match", "garbage".into())], Verdict::Proceed),
            (vec![("if-modified-since", date(MOD))], Verdict::NotModified),
            (
                vec![("if-modified-since", date(MOD + 10))],
                Verdict::NotModified,
            ),
            (vec![("if-modified-since", date(MOD - 1))], Verdict::Proceed),
            (
                vec![("if-modified-since", "yesterday".into())],
                Verdict::Proceed,
            ),
            // If-None-Match wins over If-Modified-Since.
            (
                vec![
                    ("if-none-match", "\"x\"".into()),
                    ("if-modified-since", date(MOD)),
                ],
                Verdict::Proceed,
            ),
            (vec![("if-match", ETAG.into())], Verdict::Proceed),
            (
                vec![("if-match", "W/\"abc\"".into())],
                Verdict::PreconditionFailed,
            ),
            (
                vec![("if-match", "\"x\"".into())],
                Verdict::PreconditionFailed,
            ),
            (vec![("if-match", "*".into())], Verdict::Proceed),
            (vec![("if-unmodified-since", date(MOD))], Verdict::Proceed),
            (
                vec![("if-unmodified-since", date(MOD - 1))],
                Verdict::PreconditionFailed,
            ),
            (
                vec![("if-match", "\"x\"".into()), ("if-none-match", ETAG.into())],
                Verdict::PreconditionFailed,
            ),
            // An If-Match that does not parse cannot match (S3 answers 412).
            (
                vec![("if-match", "garbage".into())],
                Verdict::PreconditionFailed,
            ),
            // An If-Unmodified-Since that does not parse is ignored.
            (
                vec![("if-unmodified-since", "soon".into())],
                Verdict::Proceed,
            ),
        ];
        for (headers, want) in cases {
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(
                c(&pairs).evaluate(Some(ETAG), Some(t(MOD))),
                want,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn ranges() {
        use ByteRange::*;
        for (header, want) in [
            ("bytes=0-99", Some(RangeRequest::One(FromTo(0, 99)))),
            ("bytes=100-", Some(RangeRequest::One(From(100)))),
            ("bytes=-5", Some(RangeRequest::One(Suffix(5)))),
            ("bytes=-0", Some(RangeRequest::One(Suffix(0)))),
            ("BYTES = 1-2", Some(RangeRequest::One(FromTo(1, 2)))),
            ("bytes=0-1,5-6", Some(RangeRequest::Many)),
            ("bytes=5-1", None),
            ("bytes=a-b", None),
            ("bytes=-", None),
            ("bytes=", None),
            ("items=0-1", None),
            ("0-1", None),
            ("bytes=+1-2", None),
            // Numbers past u64 saturate: past any object, not malformed.
            (
                "bytes=99999999999999999999999-",
                Some(RangeRequest::One(From(u64::MAX))),
            ),
            (
                "bytes=-18446744073709551616",
                Some(RangeRequest::One(Suffix(u64::MAX))),
            ),
            (
                "bytes=1-99999999999999999999999",
                Some(RangeRequest::One(FromTo(1, u64::MAX))),
            ),
            ("bytes=99999999999999999999999-1", None),
        ] {
            assert_eq!(parse_range(header), want, "{header:?}");
        }
        // Positions past S3's largest object are bounded before they are sent.
        for (range, header) in [
            (Suffix(u64::MAX), format!("bytes=-{MAX_OBJECT_SIZE}")),
            (From(1 << 63), format!("bytes={MAX_OBJECT_SIZE}-")),
            (FromTo(0, u64::MAX), format!("bytes=0-{MAX_OBJECT_SIZE}")),
            (FromTo(1, 2), "bytes=1-2".to_string()),
        ] {
            assert_eq!(range.to_header(), header, "{range:?}");
        }
        for (range, size, want) in [
            (FromTo(0, 99), 10, Some((0, 9))),
            (FromTo(10, 20), 10, None),
            (From(9), 10, Some((9, 9))),
            (From(10), 10, None),
            (Suffix(3), 10, Some((7, 9))),
            (Suffix(30), 10, Some((0, 9))),
            (Suffix(0), 10, None),
            (From(0), 0, None),
            (Suffix(1), 0, None),
        ] {
            assert_eq!(range.resolve(size), want, "{range:?} of {size}");
        }
    }

    #[test]
    fn if_range() {
        let base = [("range", "bytes=0-1")];
        assert!(c(&base).effective_range(Some(ETAG), Some(t(MOD))).is_some());
        let with = |v: &str| {
            let pairs = [("range", "bytes=0-1"), ("if-range", v)];
            c(&pairs).effective_range(Some(ETAG), Some(t(MOD)))
        };
        assert!(with(ETAG).is_some());
        assert!(with("\"old\"").is_none());
        assert!(with("W/\"abc\"").is_none(), "If-Range needs a strong match");
        assert!(with(&date(MOD)).is_some());
        assert!(with(&date(MOD - 5)).is_none());
        // A value that does not parse cannot match: the whole object.
        for bad in ["garbage", "\"open", "Mon, 99 Foo 2026"] {
            assert!(with(bad).is_none(), "{bad}");
            let pairs = [("range", "bytes=0-1"), ("if-range", bad)];
            assert_eq!(c(&pairs).asked_range(), None, "{bad}");
        }
        assert_eq!(c(&base).asked_range(), Some(ByteRange::FromTo(0, 1)));
        assert!(
            c(&[("range", "bytes=0-1,3-4")])
                .effective_range(Some(ETAG), None)
                .is_none()
        );
    }

    #[test]
    fn tag_lists_keep_commas_inside_quotes() {
        assert_eq!(
            TagList::parse("\"a,b\", W/\"c\""),
            Some(TagList::Tags(vec![
                EntityTag {
                    weak: false,
                    tag: "\"a,b\"".into()
                },
                EntityTag {
                    weak: true,
                    tag: "\"c\"".into()
                }
            ]))
        );
        assert_eq!(TagList::parse("\"a\", bad"), None);
    }
}
