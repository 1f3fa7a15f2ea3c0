//! Bucket mode's bucket routes: `GET /` (the allowlisted buckets that
//! exist), `PUT /{bucket}` (create, admin) and `DELETE /{bucket}` (delete,
//! admin). `GET /{bucket}` is the listing of `listing.rs`.

use tokio::task::JoinSet;

use super::App;
use crate::error::Error;
use crate::request::Request;
use crate::response::Reply;
use crate::storage::StoreError;

/// A `CreateBucketConfiguration` body larger than this is not one.
const MAX_CONFIGURATION: usize = 4096;

impl App {
    /// `GET /`: one HeadBucket per allowlisted name, at once. Listing all
    /// buckets would need `s3:ListAllMyBuckets` on `*` and would name
    /// buckets off the allowlist; a HeadBucket needs only what the
    /// allowlisted buckets' listing grants. A bucket of another account
    /// (403) is not listed; any other failure fails the answer (a partial
    /// list would look like a true one).
    pub(super) async fn list_buckets(&self) -> Result<Reply, Error> {
        let names = self.config.buckets.clone().unwrap_or_default();
        let mut heads = JoinSet::new();
        for (i, name) in names.iter().enumerate() {
            let store = self.store.for_bucket(name);
            heads.spawn(async move { (i, store.bucket_exists().await) });
        }
        let mut found = vec![false; names.len()];
        while let Some(done) = heads.join_next().await {
            let Ok((i, exists)) = done else {
                return Err(Error::Upstream {
                    kind: crate::error::UpstreamKind::Unavailable,
                    detail: "a HeadBucket task failed".into(),
                });
            };
            found[i] = match exists {
                Ok(exists) => exists,
                Err(StoreError::Denied(detail)) => {
                    tracing::warn!(bucket = %names[i], detail = %detail, "allowlisted bucket answers 403: not listed");
                    false
                }
                Err(e) => return Err(e.into()),
            };
        }
        let buckets: Vec<&String> = names
            .iter()
            .zip(found)
            .filter_map(|(name, f)| f.then_some(name))
            .collect();
        Ok(Reply::Json {
            status: 200,
            body: serde_json::json!({ "buckets": buckets }),
        })
    }

    /// `PUT /{bucket}` (admin): creates the bucket in the function's region.
    /// An optional `CreateBucketConfiguration` body, as in AWS's tutorial,
    /// may name that region. An existing bucket is a 409 in every region
    /// (S3 itself answers 200 in us-east-1 when the bucket is yours): the
    /// HeadBucket before says so, and CreateBucket's own 409 covers a
    /// bucket made in between.
    pub(super) async fn create_bucket(&self, req: &Request) -> Result<Reply, Error> {
        let region = self.store.region().unwrap_or_else(|| "us-east-1".into());
        if let Some(asked) = location_constraint(&req.body_bytes())?
            && asked != region
        {
            return Err(Error::BadRequest(format!(
                "LocationConstraint {asked:?}: this API creates buckets in its own region, {region}"
            )));
        }
        match self.store.bucket_exists().await {
            Ok(true) => return Err(Error::BucketExists { ours: true }),
            Err(StoreError::Denied(_)) => return Err(Error::BucketExists { ours: false }),
            Ok(false) => {}
            Err(e) => return Err(e.into()),
        }
        self.store.create_bucket().await?;
        Ok(Reply::Json {
            status: 200,
            body: serde_json::json!({ "bucket": self.store.bucket(), "region": region }),
        })
    }

    /// `DELETE /{bucket}` (admin): 204, or 409 `BucketNotEmpty` as S3
    /// answers (the store decides, in one call: a check here first would
    /// race with uploads).
    pub(super) async fn delete_bucket(&self) -> Result<Reply, Error> {
        self.store.delete_bucket().await?;
        Ok(Reply::NoContent)
    }
}

/// The region a `CreateBucketConfiguration` body names, if any. The body
/// is read strictly: an optional XML declaration, the root element with at
/// most S3's namespace, at most one `LocationConstraint`, nothing else.
/// Anything else is a 400 (a silently ignored typo would create the bucket
/// somewhere it was not asked for).
pub fn location_constraint(body: &[u8]) -> Result<Option<String>, Error> {
    let bad = |why: &str| {
        Error::BadRequest(format!(
            "the body is not a CreateBucketConfiguration: {why}"
        ))
    };
    if body.len() > MAX_CONFIGURATION {
        return Err(bad("too long"));
    }
    let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
    // A UTF-8 byte order mark may open the document; a declaration, if
    // any, comes first.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rest = text.trim();
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.starts_with("<?xml") && !text.starts_with("<?xml") {
        return Err(bad("the XML declaration must open the body"));
    }
    if let Some(decl) = rest.strip_prefix("<?xml") {
        let end = decl
            .find("?>")
            .ok_or_else(|| bad("unterminated XML declaration"))?;
        if !xml_declaration(&decl[..end]) {
            return Err(bad(
                "the XML declaration is not version 1.0 in UTF-8 (version, encoding, standalone)",
            ));
        }
        rest = decl[end + 2..].trim_start();
    }
    let open = rest
        .strip_prefix("<CreateBucketConfiguration")
        .ok_or_else(|| bad("expected a <CreateBucketConfiguration> element"))?;
    let end = open.find('>').ok_or_else(|| bad("unterminated element"))?;
    let attributes = open[..end].trim();
    let self_closing = attributes.ends_with('/');
    let attributes = attributes.trim_end_matches('/').trim();
    if !attributes.is_empty() && attributes != r#"xmlns="http://s3.amazonaws.com/doc/2006-03-01/""# {
        return Err(bad("unexpected attributes (only S3's xmlns is allowed)"));
    }
    rest = open[end + 1..].trim();
    if self_closing {
        return if rest.is_empty() {
            Ok(None)
        } else {
            Err(bad("text after the element"))
        };
    }
    let mut region = None;
    if let Some(inner) = rest.strip_prefix("<LocationConstraint>") {
        let end = inner
            .find("</LocationConstraint>")
            .ok_or_else(|| bad("unterminated <LocationConstraint>"))?;
        let value = inner[..end].trim();
        if value.is_empty()
            || value.len() > 32
            || !value
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return Err(bad("LocationConstraint is not a region name"));
        }
        region = Some(value.to_string());
        rest = inner[end + "</LocationConstraint>".len()..].trim();
    }
    match rest.strip_prefix("</CreateBucketConfiguration>") {
        Some(after) if after.trim().is_empty() => Ok(region),
        Some(_) => Err(bad("text after the element")),
        None => Err(bad(
            "only <LocationConstraint> may be inside <CreateBucketConfiguration>",
        )),
    }
}

/// What may follow `<?xml` up to `?>`: `version="1.0"`, then optionally
/// `encoding` naming UTF-8 (the body is UTF-8) and `standalone` yes or no,
/// in that order, single or double quotes.
fn xml_declaration(inside: &str) -> bool {
    let mut rest = inside;
    let mut pairs = Vec::new();
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == rest.len() {
            return false; // attributes are separated by white space
        }
        let Some((name, after)) = trimmed.split_once('=') else {
            return false;
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            return false;
        };
        let Some((value, tail)) = after[1..].split_once(quote) else {
            return false;
        };
        pairs.push((name.trim(), value));
        rest = tail;
    }
    let mut pairs = pairs.into_iter().peekable();
    if pairs.next() != Some(("version", "1.0")) {
        return false;
    }
    if let Some((_, v)) = pairs.next_if(|(n, _)| *n == "encoding")
        && !v.eq_ignore_ascii_case("utf-8")
    {
        return false;
    }
    if let Some((_, v)) = pairs.next_if(|(n, _)| *n == "standalone")
        && !matches!(v, "yes" | "no")
    {
        return false;
    }
    pairs.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_bodies() {
        let ok = |body: &str, want: Option<&str>| {
            assert_eq!(
                location_constraint(body.as_bytes()).ok(),
                Some(want.map(str::to_string)),
                "{body:?}"
            );
        };
        ok("", None);
        ok("  \n", None);
        ok(
            r#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-west-2</LocationConstraint></CreateBucketConfiguration>"#,
            Some("us-west-2"),
        );
        ok(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateBucketConfiguration>\n  <LocationConstraint>eu-west-1</LocationConstraint>\n</CreateBucketConfiguration>\n",
            Some("eu-west-1"),
        );
        ok(
            "<CreateBucketConfiguration></CreateBucketConfiguration>",
            None,
        );
        ok("<CreateBucketConfiguration/>", None);
        ok("\u{feff}<CreateBucketConfiguration/>", None);
        ok(
            "<?xml version='1.0' encoding='utf-8' standalone='yes'?><CreateBucketConfiguration/>",
            None,
        );
        ok("<?xml version=\"1.0\"?><CreateBucketConfiguration/>", None);
        for bad in [
            "{\"region\":\"us-east-1\"}",
            "<CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint>us-east-1</CreateBucketConfiguration>",
            "<CreateBucketConfiguration><Location>x</Location></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint>US EAST</LocationConstraint></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint></LocationConstraint></CreateBucketConfiguration>",
            "<CreateBucketConfiguration foo=\"1\"></CreateBucketConfiguration>",
            "<CreateBucketConfiguration></CreateBucketConfiguration><x/>",
            "<?xml version=\"1.0\"<CreateBucketConfiguration/>",
            // Found accepted by a hostile pass: the declaration is read too.
            "<?xml version=\"1.0\" <evil>?><CreateBucketConfiguration/>",
            "<?xml version=\"1.0\" aaaa?><CreateBucketConfiguration/>",
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><CreateBucketConfiguration/>",
            "<?xml version=\"2.0\"?><CreateBucketConfiguration/>",
            "<?xml encoding=\"UTF-8\" version=\"1.0\"?><CreateBucketConfiguration/>",
            "<?xml version=\"1.0\"encoding=\"UTF-8\"?><CreateBucketConfiguration/>",
            "<?xml?><CreateBucketConfiguration/>",
            "  <?xml version=\"1.0\"?><CreateBucketConfiguration/>",
            "<CreateBucketConfigurationX/>",
        ] {
            assert!(
                matches!(
                    location_constraint(bad.as_bytes()),
                    Err(Error::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
        assert!(location_constraint(&[0xff, 0xfe]).is_err());
        assert!(location_constraint(" ".repeat(5000).as_bytes()).is_err());
    }
}
