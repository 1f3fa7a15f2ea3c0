//! Every setting of the function, declared once: its name (the flag
//! `--key-prefix`, the variable `S3GATE_KEY_PREFIX`), default and help, in
//! the order the README lists them.

/// One setting: its flag name (`--key-prefix`), environment variable
/// (`S3GATE_KEY_PREFIX`), default and help text.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub help: &'static str,
    pub default: Option<&'static str>,
    pub boolean: bool,
}

impl Setting {
    pub fn env_var(&self) -> String {
        env_var(self.name)
    }
}

/// `key-prefix` -> `S3GATE_KEY_PREFIX`.
pub fn env_var(name: &str) -> String {
    format!("S3GATE_{}", name.to_ascii_uppercase().replace('-', "_"))
}

const fn setting(name: &'static str, default: Option<&'static str>, help: &'static str) -> Setting {
    Setting {
        name,
        help,
        default,
        boolean: false,
    }
}

const fn flag(name: &'static str, default: &'static str, help: &'static str) -> Setting {
    Setting {
        name,
        help,
        default: Some(default),
        boolean: true,
    }
}

/// Every setting of the function, in the order the README lists them.
pub const SETTINGS: &[Setting] = &[
    setting(
        "bucket",
        None,
        "S3 bucket to serve (single-bucket mode; the local default is `images`)",
    ),
    setting(
        "buckets",
        None,
        "bucket mode: comma-separated allowlist of buckets; paths become `/{bucket}/{key}` and other buckets answer as absent (404 NoSuchBucket)",
    ),
    setting(
        "admin-key-ids",
        None,
        "comma-separated API Gateway key ids allowed on the admin routes (bucket create/delete, `/id/`); none: those routes answer 403",
    ),
    setting(
        "id-secret",
        None,
        "secret (at least 32 bytes) of opaque object ids; when set, `GET /o/{id}` serves the object an id names and `GET /id/{key}` (admin) makes ids",
    ),
    flag(
        "ids-only",
        "false",
        "with id-secret: every route that names a key answers 404; only `/o/{id}`, `/presign/o/{id}` and admin routes stay",
    ),
    setting(
        "key-prefix",
        Some(""),
        "prefix added to every key (e.g. `public/`)",
    ),
    setting(
        "cache-control",
        Some("public, max-age=86400"),
        "Cache-Control for objects stored without one",
    ),
    setting(
        "inline-limit",
        Some("4706379"),
        "largest object (bytes) returned inline as base64; the default is the most a Lambda response can carry",
    ),
    setting(
        "response-mode",
        Some("buffered"),
        "`buffered` (the body base64 in the response JSON, up to inline-limit) or `stream` (Lambda response streaming: the raw bytes as they arrive from S3, up to stream-limit; needs the API's STREAM integration)",
    ),
    setting(
        "stream-limit",
        Some("10485760"),
        "stream mode: largest object (bytes) streamed through the API; larger ones follow large-objects (at most 200 MiB, Lambda's cap)",
    ),
    setting(
        "large-objects",
        Some("redirect"),
        "objects over the inline limit: `redirect` (307 to a presigned URL) or `reject` (413)",
    ),
    setting(
        "presign-ttl",
        Some("300"),
        "lifetime of presigned URLs, in seconds",
    ),
    flag(
        "allow-write",
        "false",
        "answer PUT and DELETE with presigned redirects",
    ),
    flag(
        "allow-list",
        "false",
        "answer `GET /{prefix}/` with a JSON listing",
    ),
    flag(
        "require-api-key",
        "true",
        "refuse requests that carry no API key id (defence in depth behind API Gateway)",
    ),
    setting(
        "cors-origin",
        None,
        "allowed CORS origin (`*` or `https://host`); no CORS headers when unset",
    ),
    Setting {
        name: "force-path-style",
        help: "path-style S3 addressing; automatic (on) when an endpoint URL is set",
        default: None,
        boolean: true,
    },
    setting(
        "s3-timeout",
        Some("10"),
        "seconds an S3 call may take, retries and body included (well under API Gateway's 29 s)",
    ),
    flag(
        "transforms",
        "true",
        "resize and convert images on GET with w, h, fit, gravity, format, q, dpr (off: those parameters get a 400)",
    ),
    setting(
        "signing-secret",
        None,
        "HMAC-SHA256 secret (at least 32 bytes) for signed transform URLs; when set, a transform needs a valid `sig`",
    ),
    setting(
        "max-pixels",
        Some("50000000"),
        "largest source image, in pixels (from its header), that a transform decodes; larger ones get a 422",
    ),
    setting(
        "transform-timeout",
        Some("12"),
        "seconds a transform's decode, resize and encode may take, on top of s3-timeout (a transform request is cut at 27.5 s in all)",
    ),
    flag(
        "variant-cache",
        "false",
        "store each transformed image under variant-prefix and serve it from there next time (needs s3:PutObject there)",
    ),
    setting(
        "transform-queue",
        None,
        "transforms that may wait for a free slot (one runs per core); more get a 503 with Retry-After [default: 4 per core]",
    ),
    setting(
        "variant-prefix",
        Some("_variants/"),
        "folder (under key-prefix) of the variant cache; reserved: the API serves and accepts nothing under it",
    ),
    setting(
        "cache-ttl",
        Some("0"),
        "seconds the API Gateway stage cache keeps answers (template: CacheTtl with CacheSize on; 0: no cache): presigned URLs in 307s live this much longer, so a cached redirect is never expired; `s3gate serve` emulates the cache with it",
    ),
    flag(
        "metrics",
        "true",
        "CloudWatch Embedded Metric Format in each request's JSON log line (latency, storage latency, bytes, status class, cold start, transform time); written whatever RUST_LOG says",
    ),
];
