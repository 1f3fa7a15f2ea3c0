//! On-the-fly image transforms: the query API (`w`, `h`, `fit`, `gravity`,
//! `format`, `q`, `dpr`), the geometry, format negotiation and the variant
//! identity. Everything here is plain data and arithmetic; the codecs are in
//! [`pipeline`], the signatures in [`sign`].
//!
//! The order of work (in `handler.rs`): parameters (400) → signature (403)
//! → the source's first 64 KiB, whose header gives type and pixel count
//! (422 before any decoding) → the variant's ETag (304 without
//! transforming) → the variant cache → the whole source → decode, resize,
//! encode on a blocking thread under the request's deadline.

pub mod decode;
pub mod encode;
pub mod failure;
pub mod geometry;
pub mod negotiate;
pub mod ops;
pub mod params;
pub mod pipeline;
pub mod probe;
pub mod sign;
pub mod webp;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub use params::{Fit, Format, FormatChoice, Gravity, ParamError, SourceKind, Spec};

/// The transform parameters. Any of them on a GET (or HEAD) makes it a
/// transform; without them the object is served byte for byte.
pub const PARAMS: &[&str] = &["w", "h", "fit", "gravity", "format", "q", "dpr"];
/// Taken with the transform parameters when signing is on.
pub const SIGNING_PARAMS: &[&str] = &["sig", "expires"];
/// Largest output side, in pixels (after `dpr`).
pub const MAX_SIDE: u32 = 4096;
/// Largest AVIF output: its encoder cannot be interrupted, so its work is
/// bounded before it starts (about 1.5 s of one core at 2 MP).
pub const MAX_AVIF_PIXELS: u64 = 2_000_000;
/// Largest source object a transform reads.
pub const MAX_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// How much of the source is read first for its header.
pub const PROBE_BYTES: u64 = 64 * 1024;
/// Part of every variant's identity: a new pipeline (codec versions,
/// defaults) makes new ETags and new cache keys.
pub const PIPELINE_VERSION: &str = "s3gate-transform-2";
/// `q` when the request does not give one.
pub const DEFAULT_QUALITY: u8 = 80;

/// How many transforms run at once: one per core the process may use
/// (the handler's semaphore, and the JPEG decoder's threads).
pub fn concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether a query asks for a transform at all.
pub fn is_transform(query: &HashMap<String, Vec<String>>) -> bool {
    PARAMS.iter().any(|p| query.contains_key(*p))
}

/// The variant's ETag and the hash naming it in the cache: the source's
/// version, the parameters as they take effect and the output format.
pub fn variant_id(source_etag: &str, spec: &Spec, format: Format) -> String {
    let mut h = Sha256::new();
    for part in [
        PIPELINE_VERSION,
        source_etag,
        &spec.canonical(),
        format.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The variant cache's key for a source key: `{prefix}{key}/{id}.{ext}`
/// (relative to the configured key prefix, like every key).
pub fn variant_key(prefix: &str, key: &str, id: &str, format: Format) -> String {
    format!("{prefix}{key}/{id}.{}", format.extension())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query as API Gateway hands it over (a name given twice has two
    /// values); shared with the signing tests.
    pub(crate) fn q(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    /// The transform these query pairs ask for (they must be valid).
    pub(crate) fn spec(pairs: &[(&str, &str)]) -> super::params::Spec {
        super::params::Spec::from_query(&q(pairs))
            .expect("valid")
            .expect("a transform")
    }
}
