//! The only reader of settings. Every setting is declared once in
//! [`SETTINGS`]; the Lambda function reads them from `S3GATE_*` environment
//! variables, and the command line tool gets the same table as flags whose
//! environment variable clap reads (`flags`), so the two can never
//! disagree. Values are validated once, at start, and every problem is
//! reported together.

use std::fmt;
use std::time::Duration;

use crate::limits::{MAX_INLINE_LIMIT, MAX_KEY_LEN, MAX_PRESIGN_TTL, MAX_STREAM_LIMIT};
use crate::media::is_header_value;
use crate::request::{
    BY_ID_ROUTE, ID_OF_ROUTE, KeyRules, PRESIGN_ROUTE, ROUTE_NAMES, check_bucket,
};

mod checks;
#[cfg(feature = "local")]
pub mod flags;
mod settings;

use checks::{boolean, check_origin, number, seconds};
pub use settings::{SETTINGS, Setting, env_var};

/// How the function answers Lambda: the whole response as JSON (the body
/// base64), or a stream (a JSON prelude, then the raw bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Buffered,
    Stream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LargeObjects {
    Redirect,
    Reject,
}

/// The validated configuration. Built once at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The one bucket served (single-bucket mode); empty in bucket mode.
    pub bucket: String,
    /// Bucket mode: the allowlist (the first path segment names one).
    pub buckets: Option<Vec<String>>,
    /// API Gateway key ids that may use the admin routes (bucket create and
    /// delete, `/id/`).
    pub admin_key_ids: Vec<String>,
    /// Secret of the opaque object ids; `None`: no id routes.
    pub id_secret: Option<Secret>,
    /// Only the id routes (and admin routes) answer; every route naming a
    /// key is a 404.
    pub ids_only: bool,
    pub key_prefix: String,
    pub cache_control: String,
    pub inline_limit: u64,
    pub response_mode: ResponseMode,
    /// Stream mode's largest object; `inline_limit` does not apply there.
    pub stream_limit: u64,
    pub large_objects: LargeObjects,
    pub presign_ttl: Duration,
    pub allow_write: bool,
    pub allow_list: bool,
    pub require_api_key: bool,
    pub cors_origin: Option<String>,
    /// `None`: automatic (path-style when an endpoint URL is configured).
    pub force_path_style: Option<bool>,
    pub s3_timeout: Duration,
    pub transforms: bool,
    /// Secret bytes; `None`: transforms are not signed.
    pub signing_secret: Option<Secret>,
    pub max_pixels: u64,
    pub transform_timeout: Duration,
    pub variant_cache: bool,
    pub variant_prefix: String,
    /// `None`: four per core.
    pub transform_queue: Option<usize>,
    /// EMF metrics in each request's JSON log line.
    pub metrics: bool,
    /// The stage cache's TTL in front of the function (zero: none).
    pub cache_ttl: Duration,
    /// The Lambda function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB):
    /// it bounds a transform's pixels and its AVIF size. `None` outside
    /// Lambda (no bound).
    pub function_memory_mb: Option<u64>,
}

/// A secret that never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Every problem found in the settings, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `S3GATE_*` from the process environment, and the function's
    /// memory size from Lambda's own variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(|name| {
            std::env::var_os(env_var(name)).map(|v| v.to_string_lossy().into_owned())
        })?;
        config.function_memory_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .ok()
            .and_then(|mb| mb.trim().parse::<u64>().ok());
        Ok(config)
    }

    /// The largest object answered through the API (inline in buffered
    /// mode, streamed in stream mode); larger ones follow `large-objects`.
    pub fn body_limit(&self) -> u64 {
        match self.response_mode {
            ResponseMode::Buffered => self.inline_limit,
            ResponseMode::Stream => self.stream_limit,
        }
    }

    /// The key rules these settings give: the prefix's length, and the
    /// variant folder reserved whenever transforms or the variant cache are
    /// on (a variant written while the cache is off would be served once it
    /// is on).
    pub fn key_rules(&self) -> KeyRules {
        KeyRules {
            prefix_len: self.key_prefix.len(),
            reserved: (self.transforms || self.variant_cache).then(|| self.variant_prefix.clone()),
            buckets: self.buckets.clone(),
            ids: self.id_secret.is_some(),
        }
    }

    /// Builds the configuration from any source of raw values (environment,
    /// flags, a test's table), keyed by setting name.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let raw = |name: &str| -> Option<String> {
            get(name).or_else(|| {
                SETTINGS
                    .iter()
                    .find(|s| s.name == name)
                    .and_then(|s| s.default.map(str::to_string))
            })
        };

        let list = |name: &str| -> Option<Vec<String>> {
            raw(name).filter(|v| !v.trim().is_empty()).map(|v| {
                v.split(',')
                    .map(|b| b.trim().to_string())
                    .filter(|b| !b.is_empty())
                    .collect()
            })
        };
        let buckets = list("buckets");
        if let Some(names) = &buckets {
            for b in names {
                if let Err(why) = check_bucket(b) {
                    problems.push(format!("buckets: {b:?} {why}"));
                } else if ROUTE_NAMES.contains(&b.as_str()) {
                    problems.push(format!(
                        "buckets: {b:?} is a route of this API (/{b}/...), so it cannot name a bucket"
                    ));
                }
            }
        }
        let bucket = match (raw("bucket").filter(|b| !b.is_empty()), &buckets) {
            (None, None) => {
                problems.push(format!(
                    "{} is not set: name the bucket to serve (or the allowlist, {}, for bucket mode)",
                    env_var("bucket"),
                    env_var("buckets")
                ));
                String::new()
            }
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "{} and {} are both set: one bucket, or bucket mode's allowlist, not both",
                    env_var("bucket"),
                    env_var("buckets")
                ));
                String::new()
            }
            (None, Some(_)) => String::new(),
            (Some(b), None) => {
                if let Err(why) = check_bucket(&b) {
                    problems.push(format!("bucket {b:?}: {why}"));
                }
                b
            }
        };
        let admin_key_ids = list("admin-key-ids").unwrap_or_default();
        if let Some(bad) = admin_key_ids
            .iter()
            .find(|k| k.len() > 128 || !k.bytes().all(|c| c.is_ascii_alphanumeric()))
        {
            problems.push(format!(
                "admin-key-ids {bad:?}: an API key id is letters and digits (API Gateway's are 10 characters)"
            ));
        }
        let id_secret = raw("id-secret").filter(|v| !v.is_empty());
        if let Some(secret) = &id_secret
            && secret.len() < crate::ids::MIN_SECRET_LEN
        {
            problems.push(format!(
                "id-secret: {} bytes; at least {} are needed",
                secret.len(),
                crate::ids::MIN_SECRET_LEN
            ));
        }
        let id_secret = id_secret.map(|s| Secret(s.into_bytes()));
        let ids_only = boolean(&raw, "ids-only", &mut problems).unwrap_or(false);
        if ids_only && id_secret.is_none() {
            problems
                .push("ids-only is on but id-secret is not set: no route would answer".to_string());
        }

        let key_prefix = raw("key-prefix").unwrap_or_default();
        if key_prefix.starts_with('/') {
            problems.push(format!(
                "key-prefix {key_prefix:?}: must not start with '/'"
            ));
        }
        // A folder boundary: with `public` alone, `/-archive/x` would read
        // `public-archive/x`, outside the intended folder.
        if !key_prefix.is_empty() && !key_prefix.ends_with('/') {
            problems.push(format!(
                "key-prefix {key_prefix:?}: must end with '/' (a folder), or be empty"
            ));
        }
        if key_prefix.chars().any(char::is_control) {
            problems.push(format!(
                "key-prefix {key_prefix:?}: contains a control character"
            ));
        }
        if key_prefix.len() >= MAX_KEY_LEN {
            problems.push(format!(
                "key-prefix is {} bytes: must be under {MAX_KEY_LEN}",
                key_prefix.len()
            ));
        }

        let cache_control = raw("cache-control").unwrap_or_default();
        if cache_control.is_empty() || !is_header_value(&cache_control) {
            problems.push(format!(
                "cache-control {cache_control:?}: must be a non-empty header value of printable ASCII"
            ));
        }

        let inline_limit = number(&raw, "inline-limit", 1, MAX_INLINE_LIMIT, &mut problems);

        let response_mode = match raw("response-mode").as_deref() {
            Some("buffered") | None => ResponseMode::Buffered,
            Some("stream") => ResponseMode::Stream,
            Some(other) => {
                problems.push(format!(
                    "response-mode {other:?}: expected `buffered` or `stream`"
                ));
                ResponseMode::Buffered
            }
        };
        let stream_limit = number(&raw, "stream-limit", 1, MAX_STREAM_LIMIT, &mut problems);

        let large_objects = match raw("large-objects").as_deref() {
            Some("reject") => LargeObjects::Reject,
            Some("redirect") | None => LargeObjects::Redirect,
            Some(other) => {
                problems.push(format!(
                    "large-objects {other:?}: expected `redirect` or `reject`"
                ));
                LargeObjects::Redirect
            }
        };

        let presign_ttl = Duration::from_secs(number(
            &raw,
            "presign-ttl",
            1,
            MAX_PRESIGN_TTL,
            &mut problems,
        ));

        let allow_write = boolean(&raw, "allow-write", &mut problems).unwrap_or(false);
        let allow_list = boolean(&raw, "allow-list", &mut problems).unwrap_or(false);
        let require_api_key = boolean(&raw, "require-api-key", &mut problems).unwrap_or(true);
        let force_path_style = boolean(&raw, "force-path-style", &mut problems);

        let cors_origin = raw("cors-origin").filter(|o| !o.is_empty());
        if let Some(origin) = &cors_origin
            && let Err(why) = check_origin(origin)
        {
            problems.push(format!("cors-origin {origin:?}: {why}"));
        }

        let s3_timeout = seconds(
            &raw,
            "s3-timeout",
            (0.1, 20.0),
            10,
            " (the function has 25 s)",
            &mut problems,
        );

        let transforms = boolean(&raw, "transforms", &mut problems).unwrap_or(true);
        let signing_secret = raw("signing-secret").filter(|v| !v.is_empty());
        if let Some(secret) = &signing_secret
            && secret.len() < crate::transform::sign::MIN_SECRET_LEN
        {
            problems.push(format!(
                "signing-secret: {} bytes; at least {} are needed",
                secret.len(),
                crate::transform::sign::MIN_SECRET_LEN
            ));
        }
        let signing_secret = signing_secret.map(|s| Secret(s.into_bytes()));
        let max_pixels = number(&raw, "max-pixels", 1, 200_000_000, &mut problems);
        let transform_timeout = seconds(
            &raw,
            "transform-timeout",
            (0.5, 20.0),
            12,
            "",
            &mut problems,
        );
        let variant_cache = boolean(&raw, "variant-cache", &mut problems).unwrap_or(false);
        let transform_queue = raw("transform-queue")
            .is_some()
            .then(|| number(&raw, "transform-queue", 0, 10_000, &mut problems) as usize);
        let variant_prefix = raw("variant-prefix").unwrap_or_default();
        if variant_prefix.is_empty()
            || !variant_prefix.ends_with('/')
            || variant_prefix.starts_with('/')
            || variant_prefix.len() > 128
            || variant_prefix.contains("//")
            || variant_prefix.chars().any(char::is_control)
            || variant_prefix.starts_with(PRESIGN_ROUTE)
            || (id_secret.is_some()
                && (variant_prefix.starts_with(BY_ID_ROUTE)
                    || variant_prefix.starts_with(ID_OF_ROUTE)))
        {
            problems.push(format!(
                "variant-prefix {variant_prefix:?}: expected a folder such as `_variants/` (ends with '/', no leading '/', not presign/ nor, with ids on, o/ or id/; at most 128 bytes)"
            ));
        }

        let metrics = boolean(&raw, "metrics", &mut problems).unwrap_or(true);
        // API Gateway's cache TTL is 0 to 3,600 s.
        let cache_ttl = Duration::from_secs(number(&raw, "cache-ttl", 0, 3600, &mut problems));
        if !cache_ttl.is_zero() && response_mode == ResponseMode::Stream {
            problems.push(
                "cache-ttl with response-mode stream: API Gateway does not cache streamed answers"
                    .to_string(),
            );
        }

        if problems.is_empty() {
            Ok(Config {
                metrics,
                cache_ttl,
                bucket,
                buckets,
                admin_key_ids,
                id_secret,
                ids_only,
                key_prefix,
                cache_control,
                inline_limit,
                response_mode,
                stream_limit,
                large_objects,
                presign_ttl,
                allow_write,
                allow_list,
                require_api_key,
                cors_origin,
                force_path_style,
                s3_timeout,
                transforms,
                signing_secret,
                max_pixels,
                transform_timeout,
                variant_cache,
                variant_prefix,
                transform_queue,
                function_memory_mb: None,
            })
        } else {
            Err(ConfigError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{ENVELOPE_RESERVE, LAMBDA_RESPONSE_CAP};
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn defaults_with_only_a_bucket() {
        let c = from(&[("bucket", "images")]).expect("valid");
        assert_eq!(c.bucket, "images");
        assert_eq!(c.key_prefix, "");
        assert_eq!(c.inline_limit, MAX_INLINE_LIMIT);
        assert_eq!(c.large_objects, LargeObjects::Redirect);
        assert!(c.require_api_key);
        assert!(!c.allow_write && !c.allow_list);
        assert_eq!(c.force_path_style, None);
        assert_eq!(c.s3_timeout, Duration::from_secs(10));
    }

    #[test]
    fn default_inline_limit_fits_a_lambda_response() {
        let base64_len = MAX_INLINE_LIMIT.div_ceil(3) * 4;
        assert!(base64_len + ENVELOPE_RESERVE <= LAMBDA_RESPONSE_CAP);
        let next = (MAX_INLINE_LIMIT + 3).div_ceil(3) * 4;
        assert!(
            next + ENVELOPE_RESERVE > LAMBDA_RESPONSE_CAP,
            "limit is not the largest that fits"
        );
        let declared = SETTINGS
            .iter()
            .find(|s| s.name == "inline-limit")
            .and_then(|s| s.default);
        assert_eq!(declared, Some(MAX_INLINE_LIMIT.to_string().as_str()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = from(&[
            ("bucket", "Bad_Bucket"),
            ("inline-limit", "lots"),
            ("large-objects", "explode"),
            ("allow-write", "yes"),
            ("presign-ttl", "0"),
            ("cors-origin", "example.com"),
            ("s3-timeout", "60"),
            ("key-prefix", "/abs"),
        ])
        .expect_err("invalid");
        // "/abs" breaks two rules: a leading '/' and no trailing '/'.
        assert_eq!(err.problems.len(), 9, "{err}");
        let text = err.to_string();
        for needle in [
            "Bad_Bucket",
            "lots",
            "explode",
            "yes",
            "presign-ttl",
            "example.com",
            "60",
            "/abs",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }

    #[test]
    fn missing_bucket_names_the_variable() {
        let err = from(&[]).expect_err("no bucket");
        assert!(err.to_string().contains("S3GATE_BUCKET"), "{err}");
    }

    #[test]
    fn booleans_and_limits() {
        let c = from(&[
            ("bucket", "images"),
            ("allow-write", "true"),
            ("require-api-key", "false"),
            ("force-path-style", "true"),
            ("inline-limit", "1000"),
            ("cors-origin", "https://app.example.com:8443"),
        ])
        .expect("valid");
        assert!(c.allow_write);
        assert!(!c.require_api_key);
        assert_eq!(c.force_path_style, Some(true));
        assert_eq!(c.inline_limit, 1000);
        assert_eq!(
            c.cors_origin.as_deref(),
            Some("https://app.example.com:8443")
        );
        let too_big = (MAX_INLINE_LIMIT + 1).to_string();
        assert!(from(&[("bucket", "images"), ("inline-limit", too_big.as_str())]).is_err());
    }

    #[test]
    fn key_prefix_is_a_folder() {
        for (prefix, ok) in [
            ("", true),
            ("public/", true),
            ("a/b/", true),
            ("public", false),
            ("/x/", false),
        ] {
            let got = from(&[("bucket", "images"), ("key-prefix", prefix)]);
            assert_eq!(got.is_ok(), ok, "prefix {prefix:?}: {got:?}");
        }
    }

    #[test]
    fn s3_timeout_fits_inside_the_function_timeout() {
        assert!(from(&[("bucket", "images"), ("s3-timeout", "20")]).is_ok());
        assert!(from(&[("bucket", "images"), ("s3-timeout", "21")]).is_err());
    }

    #[test]
    fn env_names() {
        assert_eq!(env_var("key-prefix"), "S3GATE_KEY_PREFIX");
        assert_eq!(env_var("require-api-key"), "S3GATE_REQUIRE_API_KEY");
    }
}
