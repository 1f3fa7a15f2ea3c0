//! Signed transform URLs: `sig` = HMAC-SHA256 over the key and the sorted
//! parameters, base64url without padding, checked in constant time. With
//! `expires` (Unix seconds, signed like the rest) a URL stops working at
//! that second.
//!
//! The signed string is `{key}\n{name}={value}&...`: the object key as the
//! API sees it (no stage, no key prefix), then every parameter except `sig`,
//! sorted by name, names and values percent-encoded (RFC 3986, unreserved
//! characters left bare). Any client can build it; `s3gate sign` does.

use std::collections::HashMap;

use base64_simd::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::utf8_percent_encode;

use crate::request::UNRESERVED;

type HmacSha256 = Hmac<sha2::Sha256>;

/// The shortest secret accepted (bytes): as long as the HMAC's output.
pub const MIN_SECRET_LEN: usize = 32;

/// Why a signed request was refused (each a 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Invalid,
    Expired,
    BadExpires,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "this API only serves signed transforms: the sig parameter is missing"
            }
            Refusal::Invalid => "the signature does not match this key and these parameters",
            Refusal::Expired => "the signed URL has expired",
            Refusal::BadExpires => "expires: expected Unix seconds",
        }
    }
}

/// RFC 3986 percent-encoding, unreserved characters bare.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The string that is signed.
pub fn canonical<'a>(key: &str, params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| *k != "sig")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{key}\n{}", query.join("&"))
}

/// The HMAC of `message`. HMAC takes a key of any length, so this is never
/// `None`; if it were, nothing would sign or verify (fail closed), rather
/// than fall back to some other key.
fn mac(secret: &[u8], message: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(message.as_bytes());
    Some(mac)
}

/// `sig` for a key and its parameters.
pub fn sign<'a>(
    secret: &[u8],
    key: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    mac(secret, &canonical(key, params)).map_or_else(String::new, |m| {
        URL_SAFE_NO_PAD.encode_to_string(m.finalize().into_bytes())
    })
}

/// Checks `sig` (and `expires`, when present) of a request's query.
pub fn verify(
    secret: &[u8],
    key: &str,
    query: &HashMap<String, Vec<String>>,
    now_unix: u64,
) -> Result<(), Refusal> {
    let sig = query
        .get("sig")
        .and_then(|v| v.first())
        .ok_or(Refusal::Missing)?;
    let tag = URL_SAFE_NO_PAD
        .decode_to_vec(sig.as_bytes())
        .map_err(|_| Refusal::Invalid)?;
    let params = query
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())));
    // `verify_slice` compares in constant time (and refuses a wrong length).
    mac(secret, &canonical(key, params))
        .ok_or(Refusal::Invalid)?
        .verify_slice(&tag)
        .map_err(|_| Refusal::Invalid)?;
    // Only a signed `expires` is read, so it cannot be moved.
    if let Some(exp) = query.get("expires").and_then(|v| v.first()) {
        let exp: u64 = exp.parse().map_err(|_| Refusal::BadExpires)?;
        if now_unix > exp {
            return Err(Refusal::Expired);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn canonical_form_is_sorted_and_encoded() {
        assert_eq!(
            canonical(
                "a b/c.jpg",
                [("w", "800"), ("format", "webp"), ("sig", "x")]
            ),
            "a b/c.jpg\nformat=webp&w=800"
        );
        assert_eq!(encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn valid_tampered_and_expired() {
        let params = [("w", "800"), ("format", "webp"), ("expires", "2000")];
        let sig = sign(SECRET, "k.jpg", params);
        let mut q = crate::transform::tests::q(&params);
        q.insert("sig".into(), vec![sig.clone()]);
        assert_eq!(verify(SECRET, "k.jpg", &q, 1999), Ok(()));
        assert_eq!(verify(SECRET, "k.jpg", &q, 2001), Err(Refusal::Expired));
        assert_eq!(verify(SECRET, "other.jpg", &q, 0), Err(Refusal::Invalid));
        assert_eq!(
            verify(b"another secret of 32 bytes......", "k.jpg", &q, 0),
            Err(Refusal::Invalid)
        );
        let mut t = q.clone();
        t.insert("w".into(), vec!["801".into()]);
        assert_eq!(verify(SECRET, "k.jpg", &t, 0), Err(Refusal::Invalid));
        let mut t = q.clone();
        t.insert("expires".into(), vec!["9999999999".into()]);
        assert_eq!(verify(SECRET, "k.jpg", &t, 0), Err(Refusal::Invalid));
        let mut t = q.clone();
        t.insert("sig".into(), vec![sig[..40].to_string()]);
        assert_eq!(verify(SECRET, "k.jpg", &t, 0), Err(Refusal::Invalid));
        let mut t = q;
        t.remove("sig");
        assert_eq!(verify(SECRET, "k.jpg", &t, 0), Err(Refusal::Missing));
    }
}
