//! Opaque object ids: `GET /o/{id}` serves an object without its caller
//! ever seeing the bucket or the key.
//!
//! An id is the base64url (no padding) of AES-256-SIV (RFC 5297, the
//! `aes-siv` crate) over the bucket and the key, under a key derived from
//! the `id-secret` setting. SIV is deterministic and misuse-resistant: the
//! same object always gets the same id (so caches work), and nothing but the
//! secret's holder can make or read one. Its 16-byte tag authenticates the
//! whole id: a tampered, truncated or foreign id does not decrypt, and the
//! handler answers it exactly as an absent object.
//!
//! Plaintext: one byte with the bucket's length, the bucket, the key.
//! Associated data: the format's version, so a later format cannot be
//! mistaken for this one.

use aes_siv::siv::Aes256Siv;
use hmac::{Hmac, KeyInit as _, Mac};

/// The shortest `id-secret` accepted.
pub const MIN_SECRET_LEN: usize = 32;
/// Longer ids than this are not tried (a key of 1,024 bytes and a bucket of
/// 63 make an id of about 1,470 characters).
const MAX_ID_LEN: usize = 2048;
const VERSION: &[u8] = b"s3gate-id-v1";

/// Makes and reads ids under one secret.
#[derive(Clone)]
pub struct Ids {
    /// The SIV key: two AES-256 keys (MAC, then CTR).
    key: [u8; 64],
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ids(..)")
    }
}

impl Ids {
    /// The SIV key is derived from the secret with HMAC-SHA256, so a
    /// secret of any length (and one shared with nothing else) makes a
    /// uniformly random 512-bit key.
    pub fn new(secret: &[u8]) -> Ids {
        let mut key = [0u8; 64];
        for (i, half) in key.chunks_mut(32).enumerate() {
            let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
                // HMAC takes a key of any length; kept total without a panic.
                continue;
            };
            mac.update(VERSION);
            mac.update(&[b'/', b'0' + i as u8]);
            half.copy_from_slice(&mac.finalize().into_bytes());
        }
        Ids { key }
    }

    fn cipher(&self) -> Aes256Siv {
        <Aes256Siv as aes_siv::KeyInit>::new((&self.key).into())
    }

    /// The id of `key` in `bucket`.
    pub fn encode(&self, bucket: &str, key: &str) -> String {
        let mut plain = Vec::with_capacity(1 + bucket.len() + key.len());
        // Bucket names are at most 63 bytes.
        plain.push(bucket.len().min(255) as u8);
        plain.extend_from_slice(bucket.as_bytes());
        plain.extend_from_slice(key.as_bytes());
        // Encrypting a byte string cannot fail (SIV's only limit is on the
        // number of associated-data items, and there is one).
        let sealed = self.cipher().encrypt([VERSION], &plain).unwrap_or_default();
        base64_simd::URL_SAFE_NO_PAD.encode_to_string(sealed)
    }

    /// The bucket and key an id names; `None` for anything this secret did
    /// not make, whatever the reason (no oracle).
    pub fn decode(&self, id: &str) -> Option<(String, String)> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return None;
        }
        let sealed = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(id).ok()?;
        let plain = self.cipher().decrypt([VERSION], &sealed).ok()?;
        let (&len, rest) = plain.split_first()?;
        let len = usize::from(len);
        if rest.len() < len {
            return None;
        }
        let (bucket, key) = rest.split_at(len);
        Some((
            String::from_utf8(bucket.to_vec()).ok()?,
            String::from_utf8(key.to_vec()).ok()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_stable() {
        let ids = Ids::new(SECRET);
        let key = "partnerimages/67/28/67286576.jpeg";
        let id = ids.encode("images", key);
        assert_eq!(id, ids.encode("images", key), "deterministic");
        assert_eq!(ids.decode(&id), Some(("images".into(), key.into())));
        assert!(!id.contains("partnerimages") && !id.contains("images"));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        // Another object, another bucket: other ids.
        assert_ne!(
            id,
            ids.encode("images", "partnerimages/67/28/67286577.jpeg")
        );
        assert_ne!(id, ids.encode("photos", key));
        let long = "k".repeat(1024);
        let id = ids.encode(&"b".repeat(63), &long);
        assert!(id.len() <= MAX_ID_LEN);
        assert_eq!(ids.decode(&id).map(|(_, k)| k), Some(long));
    }

    #[test]
    fn anything_else_is_none() {
        let ids = Ids::new(SECRET);
        let id = ids.encode("images", "a.jpg");
        let other = Ids::new(b"another secret of thirty-two bytes!!");
        assert_eq!(other.decode(&id), None, "foreign secret");
        assert_eq!(ids.decode(&id[..id.len() - 1]), None, "truncated");
        assert_eq!(ids.decode(&format!("{id}A")), None, "extended");
        for i in 0..id.len() {
            let mut bytes = id.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).expect("ascii");
            assert_eq!(ids.decode(&tampered), None, "tampered at {i}");
        }
        for garbage in [
            "",
            "x",
            "!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "a.jpg",
        ] {
            assert_eq!(ids.decode(garbage), None, "{garbage:?}");
        }
        assert_eq!(ids.decode(&"A".repeat(MAX_ID_LEN + 4)), None);
    }
}
