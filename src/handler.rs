//! The use cases: a typed [`Request`] in, a [`Reply`] out. No transport
//! types here beyond the event and response wrappers in [`App::handle_event`],
//! which also writes the one log line per request.

use std::time::Instant;

use crate::conditional::{ByteRange, Conditions, Verdict};
use crate::config::{Config, ConfigError, LargeObjects};
use crate::error::Error;
use crate::request::{KeyRules, Method, PRESIGN_ROUTE, ProxyEvent, Request, Target};
use crate::response::{ProxyResponse, Reply, render};
use crate::storage::{Part, S3Store, StoreError, sdk_config_from_env};

/// S3's limit for a single PUT.
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// The configuration and the one S3 client, built once per process and lent
/// to every request.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: S3Store,
    /// Transforms run one per core at most (a local server under load
    /// queues them instead of holding dozens of decoded images at once).
    transforms: std::sync::Arc<tokio::sync::Semaphore>,
    /// Places for transforms running or waiting: the running ones plus
    /// `transform-queue`. A transform that finds none is a 503.
    admitted: std::sync::Arc<tokio::sync::Semaphore>,
    /// The key prefix's length and the reserved folder.
    pub key_rules: KeyRules,
    /// Bytes a transform's decoded pixels may take: set from the Lambda
    /// function's memory size, so a source that would not fit is a 422
    /// rather than an out-of-memory crash. `None` (local): no bound.
    pub memory_budget: Option<u64>,
    /// Largest AVIF output: what encodes within `transform-timeout` on the
    /// function's CPU share.
    pub avif_max_pixels: u64,
}

impl App {
    pub fn new(config: Config, store: S3Store) -> App {
        let cores = crate::transform::concurrency();
        let queue = config.transform_queue.unwrap_or(4 * cores);
        App {
            key_rules: KeyRules::from_config(&config),
            config,
            store,
            transforms: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)),
            admitted: std::sync::Arc::new(tokio::sync::Semaphore::new(cores + queue)),
            memory_budget: None,
            avif_max_pixels: crate::transform::MAX_AVIF_PIXELS,
        }
    }

    /// Configuration from `S3GATE_*`, the client from the SDK's environment.
    pub async fn from_env() -> Result<App, ConfigError> {
        let config = Config::from_env()?;
        let sdk = sdk_config_from_env(&config, None).await;
        let store = S3Store::new(&sdk, &config);
        let mut app = App::new(config, store);
        let memory_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .ok()
            .and_then(|mb| mb.trim().parse::<u64>().ok());
        app.memory_budget = memory_mb.map(crate::transform::memory_budget);
        app.avif_max_pixels =
            crate::transform::avif_max_pixels(app.config.transform_timeout, memory_mb);
        Ok(app)
    }

    /// One API Gateway event in, one Lambda proxy response out. Never fails:
    /// expected failures are responses.
    pub async fn handle_event(&self, event: ProxyEvent) -> ProxyResponse {
        self.handle_event_within(event, None).await
    }

    /// As `handle_event`, with the time the caller has left (the Lambda
    /// invoke's deadline): the request's budget never goes past it.
    pub async fn handle_event_within(
        &self,
        event: ProxyEvent,
        left: Option<std::time::Duration>,
    ) -> ProxyResponse {
        let started = Instant::now();
        let mut req = Request::from_event(event, &self.key_rules);
        // One deadline for the whole request, however many S3 calls it
        // makes: the answer is a 504 JSON well before API Gateway's 29 s
        // (and before the function's own timeout, when that is shorter).
        // A transform adds its own time, and stays under API Gateway's 29 s.
        let work = if crate::transform::is_transform(&req.query)
            && matches!(req.method, Method::Get | Method::Head)
        {
            (self.config.s3_timeout + self.config.transform_timeout)
                .min(std::time::Duration::from_secs(26))
        } else {
            self.config.s3_timeout
        };
        let budget = work + std::time::Duration::from_millis(1500);
        let budget = left.map_or(budget, |left| budget.min(left));
        // Inner steps (a transform's wait and work) end a little before the
        // whole request does, so they answer for themselves.
        req.deadline =
            Instant::now() + budget.saturating_sub(std::time::Duration::from_millis(300));
        let reply = match tokio::time::timeout(budget, self.handle(&req)).await {
            Ok(reply) => reply,
            // Cut off while transforming: the transform's time, not the
            // store's (an AVIF encode cannot be interrupted).
            Err(_) if req.transforming.load(std::sync::atomic::Ordering::Acquire) => {
                Reply::Error(Error::TransformTimeout(self.config.transform_timeout))
            }
            Err(_) => Reply::Error(Error::Upstream {
                kind: crate::error::UpstreamKind::Timeout,
                detail: format!("the request took longer than {budget:?}"),
            }),
        };
        let inner = match &reply {
            Reply::Variant { inner, .. } => inner.as_ref(),
            other => other,
        };
        let (bytes, detail) = match inner {
            Reply::Object { body, .. } => (body.as_ref().map_or(0, Vec::len), None),
            Reply::Error(Error::Upstream { detail, .. }) => (0, Some(detail.clone())),
            _ => (0, None),
        };
        let key = match &req.target {
            Ok(Target::Object(k) | Target::Listing(k) | Target::Presign(k)) => k.as_str(),
            Ok(Target::Reserved) | Err(_) => "",
        };
        let mut response = render(reply, &self.config, &req.request_id);
        if req.method == Method::Head {
            // A HEAD answer has the GET headers, Content-Length included,
            // and never a body.
            if response.header("content-length").is_none() {
                let len = response.body_bytes().len();
                response
                    .headers
                    .push(("Content-Length".to_string(), len.to_string()));
            }
            response.body = None;
        }
        let status = response.status_code;
        let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        if let Some(detail) = detail {
            tracing::warn!(
                request_id = %req.request_id, method = req.method.as_str(), key, status, duration_ms,
                detail = %detail, "storage failure"
            );
        } else {
            tracing::info!(
                request_id = %req.request_id, method = req.method.as_str(), key, status, bytes, duration_ms,
                "request"
            );
        }
        response
    }

    /// Decides the answer. The API key check comes first (as at API Gateway;
    /// a CORS preflight carries no key), then the method, then the key.
    pub async fn handle(&self, req: &Request) -> Reply {
        // Boxed: the decision's future is large and deeply nested; one
        // allocation per request keeps callers' futures small.
        match Box::pin(self.decide(req)).await {
            Ok(reply) => reply,
            Err(err) => Reply::Error(err),
        }
    }

    /// The methods a target answers with the current settings: a folder
    /// (and the root) and the presign route are read-only; an object key
    /// takes PUT and DELETE with writes on. `None` (a key that does not
    /// parse) gets the object list.
    pub fn allow(&self, target: Option<&Target>) -> String {
        match target {
            Some(Target::Listing(_) | Target::Presign(_) | Target::Reserved) => {
                "GET, HEAD, OPTIONS"
            }
            _ if self.config.allow_write => "GET, HEAD, PUT, DELETE, OPTIONS",
            _ => "GET, HEAD, OPTIONS",
        }
        .to_string()
    }

    async fn decide(&self, req: &Request) -> Result<Reply, Error> {
        if req.method == Method::Options {
            return Ok(Reply::Options {
                allow: match &req.target {
                    Ok(target) => self.allow(Some(target)),
                    // A refused key under `presign/` is still the read-only
                    // presign route.
                    Err(_) if req.presign_route => "GET, HEAD, OPTIONS".to_string(),
                    Err(_) => self.allow(None),
                },
            });
        }
        if self.config.require_api_key && req.api_key_id.is_none() {
            return Err(Error::Forbidden(
                "this API requires an API key (x-api-key header)",
            ));
        }
        if req.bad_base64_body {
            return Err(Error::BadRequest(
                "the body is marked isBase64Encoded but is not valid base64".into(),
            ));
        }
        let target = req.target.clone().map_err(Error::BadKey)?;
        match (&req.method, target) {
            // The variant cache's folder is written by s3gate alone: nothing
            // under it is served, listed, presigned or accepted.
            (_, Target::Reserved) => Err(Error::Forbidden(
                "this folder is reserved for the variant cache",
            )),
            // HEAD answers what GET would (its body is dropped in
            // handle_event).
            (Method::Get | Method::Head, Target::Presign(key)) => self.presign(req, key).await,
            (Method::Get | Method::Head, Target::Listing(_))
                if crate::transform::is_transform(&req.query) =>
            {
                let name = crate::transform::PARAMS
                    .iter()
                    .find(|p| req.query.contains_key(**p))
                    .copied()
                    .unwrap_or("w");
                Err(Error::BadRequest(format!(
                    "{name}: transform parameters apply to an image, not to a folder listing"
                )))
            }
            (Method::Get | Method::Head, Target::Listing(folder)) => self.list(req, folder).await,
            (Method::Get | Method::Head, Target::Object(key))
                if crate::transform::is_transform(&req.query) =>
            {
                self.transform(req, key).await
            }
            (Method::Get, Target::Object(key)) => self.get(req, key).await,
            (Method::Head, Target::Object(key)) => {
                let meta = self.store.head(&key, &req.conditions).await;
                let meta = match meta {
                    Err(StoreError::NotModified(meta)) => {
                        return Ok(Reply::NotModified { meta: *meta });
                    }
                    other => other.map_err(|e| self.store_error(req, e))?,
                };
                match req
                    .conditions
                    .evaluate(meta.etag.as_deref(), meta.last_modified)
                {
                    Verdict::NotModified => Ok(Reply::NotModified { meta }),
                    Verdict::PreconditionFailed => Err(Error::PreconditionFailed),
                    // HEAD answers what GET would: a redirect (or 413) for an
                    // object over the inline limit.
                    Verdict::Proceed if meta.size > self.config.inline_limit => {
                        let kind = crate::response::content_type(&meta, &key);
                        self.too_large(req, &key, meta.size, &kind).await
                    }
                    Verdict::Proceed => Ok(Reply::Object {
                        key,
                        meta,
                        body: None,
                        part: None,
                    }),
                }
            }
            (Method::Put | Method::Delete, Target::Object(key)) if self.config.allow_write => {
                let ttl = self.config.presign_ttl;
                let location = if req.method == Method::Put {
                    self.store
                        .presigned("PUT", &key, ttl, None, None)
                        .await
                        .map(|p| p.url)
                } else {
                    self.store
                        .presigned("DELETE", &key, ttl, None, None)
                        .await
                        .map(|p| p.url)
                };
                Ok(Reply::Redirect {
                    location: location.map_err(|e| self.store_error(req, e))?,
                })
            }
            (method, target) => Err(Error::MethodNotAllowed {
                method: method.as_str().to_string(),
                allow: self.allow(Some(&target)),
            }),
        }
    }

    /// GET of one object: validators, then the range, then the size check,
    /// then the body. Each decision is made on the response headers, before
    /// any of the body is read.
    async fn get(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let cond = &req.conditions;
        let asked = cond.asked_range();
        let first = match self.store.open(&key, cond, asked).await {
            // Some stores (s3s-fs 0.14) fail a suffix range longer than the
            // object instead of answering the whole of it: ask for the
            // whole object and cut the range here.
            Err(StoreError::Unavailable(_)) if matches!(asked, Some(ByteRange::Suffix(_))) => {
                self.store.open(&key, cond, None).await
            }
            other => other,
        };
        let mut opened = match first {
            Ok(o) => o,
            Err(StoreError::NotModified(meta)) => return Ok(Reply::NotModified { meta: *meta }),
            Err(StoreError::RangeNotSatisfiable) => {
                // The validators and If-Range come before the range (RFC
                // 9110 §13.2.2): decide them on the object's metadata.
                let meta = self.store.head(&key, &Conditions::default()).await;
                let meta = meta.map_err(|e| self.store_error(req, e))?;
                match cond.evaluate(meta.etag.as_deref(), meta.last_modified) {
                    Verdict::NotModified => return Ok(Reply::NotModified { meta }),
                    Verdict::PreconditionFailed => return Err(Error::PreconditionFailed),
                    Verdict::Proceed => {}
                }
                if cond
                    .effective_range(meta.etag.as_deref(), meta.last_modified)
                    .is_some()
                {
                    return Err(Error::RangeNotSatisfiable { size: meta.size });
                }
                // If-Range did not match: the whole object.
                self.store
                    .open(&key, &Conditions::default(), None)
                    .await
                    .map_err(|e| self.store_error(req, e))?
            }
            Err(e) => return Err(self.store_error(req, e)),
        };
        match cond.evaluate(opened.meta.etag.as_deref(), opened.meta.last_modified) {
            Verdict::NotModified => return Ok(Reply::NotModified { meta: opened.meta }),
            Verdict::PreconditionFailed => return Err(Error::PreconditionFailed),
            Verdict::Proceed => {}
        }
        let wanted = cond.effective_range(opened.meta.etag.as_deref(), opened.meta.last_modified);
        if asked.is_some() && wanted.is_none() {
            // If-Range did not match: the whole object, current version.
            opened = self
                .store
                .open(&key, &Conditions::default(), None)
                .await
                .map_err(|e| self.store_error(req, e))?;
        }
        let size = opened.meta.size;
        // A store that ignored Range (answered 200) still gets the range
        // applied here.
        let local_span = match (wanted, opened.part) {
            (Some(r), None) => match r.resolve(size) {
                Some(span) => Some(span),
                None => return Err(Error::RangeNotSatisfiable { size }),
            },
            _ => None,
        };
        let sent = match (opened.part, local_span) {
            (Some(p), _) => p.len(),
            (None, Some((a, b))) => b - a + 1,
            (None, None) => size,
        };
        if sent > self.config.inline_limit
            || (local_span.is_some() && size > self.config.inline_limit)
        {
            let kind = crate::response::content_type(&opened.meta, &key);
            return self.too_large(req, &key, sent, &kind).await;
        }
        let part = opened.part;
        let meta = opened.meta.clone();
        let mut body = match opened.read().await {
            Ok(body) => body,
            // A body cut short (a reset, a close) is read once more, pinned
            // to the same ETag and part; the SDK does not retry once the
            // headers are in.
            Err(StoreError::Unavailable(detail)) => {
                tracing::warn!(request_id = %req.request_id, key, detail = %detail, "body cut short; reading it again");
                self.read_again(&key, &meta, part)
                    .await
                    .map_err(|e| self.store_error(req, e))?
            }
            Err(e) => return Err(self.store_error(req, e)),
        };
        let part = match (part, local_span) {
            (Some(p), _) => Some(p),
            (None, Some((a, b))) => {
                body = body[a as usize..=b as usize].to_vec();
                Some(Part {
                    start: a,
                    end: b,
                    total: size,
                })
            }
            (None, None) => None,
        };
        Ok(Reply::Object {
            key,
            meta,
            body: Some(body),
            part,
        })
    }

    /// An object (or part) over the inline limit: a redirect to a presigned
    /// The second read of a body that was cut short: the same part of the
    /// same version (`If-Match` on the ETag), or an error. A changed object
    /// is a 502, never a mix of two versions.
    async fn read_again(
        &self,
        key: &str,
        meta: &crate::storage::ObjectMeta,
        part: Option<Part>,
    ) -> Result<Vec<u8>, StoreError> {
        let pinned = Conditions {
            if_match: meta
                .etag
                .as_deref()
                .and_then(crate::conditional::TagList::parse),
            ..Conditions::default()
        };
        let range = part.map(|p| ByteRange::FromTo(p.start, p.end));
        let again = match self.store.open(key, &pinned, range).await {
            Err(StoreError::PreconditionFailed) => {
                return Err(StoreError::Unavailable(
                    "the object changed while it was read".into(),
                ));
            }
            other => other?,
        };
        if again.part != part || again.meta.etag != meta.etag {
            return Err(StoreError::Unavailable(
                "the second read answered another part or version".into(),
            ));
        }
        again.read().await
    }

    /// GET, or 413 when large objects are rejected.
    async fn too_large(
        &self,
        req: &Request,
        key: &str,
        size: u64,
        kind: &str,
    ) -> Result<Reply, Error> {
        match self.config.large_objects {
            LargeObjects::Reject => Err(Error::TooLarge {
                size,
                limit: self.config.inline_limit,
            }),
            LargeObjects::Redirect => {
                let location = self
                    .store
                    .presigned("GET", key, self.config.presign_ttl, None, Some(kind))
                    .await
                    .map(|p| p.url)
                    .map_err(|e| self.store_error(req, e))?;
                Ok(Reply::Redirect { location })
            }
        }
    }

    /// `GET /presign/{key}?method=GET|PUT|DELETE[&contentLength=N][&contentType=T]`:
    /// a presigned URL and the headers the client must send with it. PUT
    /// and DELETE only with writes on; a PUT signs `Content-Length` and
    /// `Content-Type` when given, so the upload cannot be larger or of
    /// another type.
    async fn presign(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let method = req.single("method")?.unwrap_or("GET").to_ascii_uppercase();
        let bad = |name: &str, why: &str| Error::BadRequest(format!("{name}: {why}"));
        let content_length = match req.single("contentLength")? {
            None => None,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= MAX_SINGLE_PUT => Some(n),
                Ok(_) => {
                    return Err(bad(
                        "contentLength",
                        "over S3's 5 GiB limit for one PUT; larger files need a multipart upload, which s3gate does not presign",
                    ));
                }
                Err(_) => {
                    return Err(bad(
                        "contentLength",
                        &format!("{v:?} is not a whole number of bytes"),
                    ));
                }
            },
        };
        let content_type = req.single("contentType")?.map(str::to_string);
        if let Some(t) = &content_type
            && (t.len() > 255 || !crate::response::is_media_type(t))
        {
            return Err(bad(
                "contentType",
                "expected a media type such as image/jpeg",
            ));
        }
        if method != "PUT" && (content_length.is_some() || content_type.is_some()) {
            return Err(bad(
                "contentLength",
                "contentLength and contentType apply to PUT only",
            ));
        }
        let ttl = self.config.presign_ttl;
        let presigned = match method.as_str() {
            "GET" => {
                let kind =
                    crate::response::by_extension(&key).unwrap_or("application/octet-stream");
                self.store
                    .presigned("GET", &key, ttl, None, Some(kind))
                    .await
            }
            "PUT" | "DELETE" if !self.config.allow_write => return Err(Error::WritesDisabled),
            "PUT" if key.starts_with(PRESIGN_ROUTE) => {
                return Err(bad(
                    "key",
                    "keys under presign/ cannot be uploaded: GET /presign/... is the presign route",
                ));
            }
            "PUT" => {
                self.store
                    .presigned("PUT", &key, ttl, content_length, content_type.as_deref())
                    .await
            }
            "DELETE" => self.store.presigned("DELETE", &key, ttl, None, None).await,
            other => {
                return Err(bad(
                    "method",
                    &format!("{other:?}: expected GET, PUT or DELETE"),
                ));
            }
        }
        .map_err(|e| self.store_error(req, e))?;
        Ok(Reply::Presigned {
            presigned,
            // Whole seconds, as the signature's own expiry counts them.
            expires_at: whole_seconds(std::time::SystemTime::now() + ttl),
        })
    }

    /// A folder listing, when enabled: `?limit=` (1-1000, default 1000) and
    /// `?token=` for the next page.
    async fn list(&self, req: &Request, folder: String) -> Result<Reply, Error> {
        if !self.config.allow_list {
            return Err(Error::ListingDisabled);
        }
        let limit = match req.single("limit")? {
            None => 1000,
            Some(l) => match l.parse::<i32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(Error::BadRequest(format!(
                        "limit {l:?}: expected a whole number from 1 to 1000"
                    )));
                }
            },
        };
        let token = req.single("token")?.filter(|t| !t.is_empty());
        if token.is_some_and(|t| t.len() > 1024 || t.chars().any(char::is_control)) {
            return Err(Error::BadRequest(
                "token: not a continuation token from this API".to_string(),
            ));
        }
        match self.store.list(&folder, token, limit).await {
            Ok(mut page) => {
                // The reserved folder is not shown (it is refused anyway).
                if let Some(reserved) = &self.key_rules.reserved {
                    page.folders.retain(|f| !f.starts_with(reserved.as_str()));
                    page.objects
                        .retain(|o| !o.key.starts_with(reserved.as_str()));
                }
                Ok(Reply::Listing { folder, page })
            }
            // A made-up token is the caller's mistake, not the store's.
            Err(StoreError::Unavailable(d)) if token.is_some() && d.contains("InvalidArgument") => {
                Err(Error::BadRequest(
                    "token: not a continuation token from this API".to_string(),
                ))
            }
            Err(e) => Err(self.store_error(req, e)),
        }
    }

    /// `GET /{key}?w=...`: a resized or converted image (see
    /// `crate::transform` for the order of work).
    async fn transform(&self, req: &Request, key: String) -> Result<Reply, Error> {
        use crate::transform::{self as t, pipeline};
        if !self.config.transforms {
            return Err(Error::BadRequest(
                "image transforms (w, h, fit, gravity, format, q, dpr) are not enabled on this API"
                    .to_string(),
            ));
        }
        let spec = t::Spec::from_query(&req.query)
            .map_err(|e| Error::BadRequest(e.to_string()))?
            .ok_or_else(|| Error::BadRequest("no transform parameter".to_string()))?;
        if let Some(secret) = &self.config.signing_secret {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            t::sign::verify(&secret.0, &key, &req.query, now)
                .map_err(|r| Error::SignatureRefused(r.message()))?;
        }
        // The header first: type and pixel count decide before any decoding.
        let opened = match self
            .store
            .open(
                &key,
                &Conditions::default(),
                Some(ByteRange::FromTo(0, t::PROBE_BYTES - 1)),
            )
            .await
        {
            Ok(o) => o,
            Err(StoreError::RangeNotSatisfiable) => {
                return Err(Error::Unprocessable(
                    "the object is empty, not an image".to_string(),
                ));
            }
            Err(e) => return Err(self.store_error(req, e)),
        };
        let source = opened.meta.clone();
        if source.size > t::MAX_SOURCE_BYTES {
            return Err(Error::Unprocessable(format!(
                "the object is {} bytes; transforms read at most {} (it can still be fetched without transform parameters)",
                source.size,
                t::MAX_SOURCE_BYTES
            )));
        }
        let mut head = match opened.read().await {
            Ok(b) => b,
            Err(StoreError::Unavailable(_)) => self
                .read_again(&key, &source, None)
                .await
                .map_err(|e| self.store_error(req, e))?,
            Err(e) => return Err(self.store_error(req, e)),
        };
        let mut complete = head.len() as u64 == source.size;
        let unprocessable = |f: pipeline::Failure| match f {
            pipeline::Failure::Unprocessable { public, detail } => {
                if let Some(detail) = detail {
                    tracing::warn!(request_id = %req.request_id, key = %key, detail = %detail, "image refused");
                }
                Error::Unprocessable(public)
            }
            pipeline::Failure::TimedOut => Error::TransformTimeout(self.config.transform_timeout),
        };
        let probe = match pipeline::probe(&head, complete).map_err(unprocessable)? {
            Some(p) => p,
            None => {
                // The frame header sits after a large metadata block.
                head = self
                    .read_again(&key, &source, None)
                    .await
                    .map_err(|e| self.store_error(req, e))?;
                complete = true;
                pipeline::probe(&head, true)
                    .map_err(unprocessable)?
                    .ok_or_else(|| Error::Unprocessable("the image header is damaged".into()))?
            }
        };
        let pixels = u64::from(probe.width) * u64::from(probe.height);
        if pixels > self.config.max_pixels {
            return Err(Error::Unprocessable(format!(
                "the image is {}×{} = {pixels} pixels, over this API's limit of {} for transforms",
                probe.width, probe.height, self.config.max_pixels
            )));
        }
        // The geometry of the upright picture (EXIF orientation 5-8 swaps
        // the sides).
        let up = pipeline::upright_plan(&head, probe, &spec).map_err(Error::Unprocessable)?;
        let plan = up.plan;
        let out_pixels = u64::from(plan.canvas.0) * u64::from(plan.canvas.1);
        let (format, vary) = t::choose_format_within(
            spec.format,
            probe.kind,
            req.header("accept"),
            out_pixels,
            self.avif_max_pixels,
        )
        .map_err(Error::Unprocessable)?;
        if let Some(budget) = self.memory_budget {
            let need = pipeline::decode_memory(&head, probe, &up, format);
            if need > budget {
                return Err(Error::Unprocessable(format!(
                    "transforming this {}×{} image needs about {} MB, more than this function's memory allows ({} MB for pixels); raise its MemorySize or lower max-pixels",
                    probe.width,
                    probe.height,
                    need >> 20,
                    budget >> 20
                )));
            }
        }
        // The variant's identity: known before any decoding, so a
        // revalidation is answered without transforming.
        let source_version = source.etag.clone().unwrap_or_else(|| {
            format!(
                "{}-{:?}",
                source.size,
                source.last_modified.map(crate::response::http_date)
            )
        });
        let id = t::variant_id(&source_version, &spec, format);
        let mut meta = crate::storage::ObjectMeta {
            size: 0,
            content_type: Some(format.mime().to_string()),
            etag: Some(format!("\"{id}\"")),
            last_modified: source.last_modified,
            cache_control: source.cache_control.clone(),
            content_disposition: None,
            content_encoding: None,
        };
        let variant = |inner: Reply| Reply::Variant {
            inner: Box::new(inner),
            vary,
        };
        match req
            .conditions
            .evaluate(meta.etag.as_deref(), meta.last_modified)
        {
            Verdict::NotModified => return Ok(variant(Reply::NotModified { meta })),
            Verdict::PreconditionFailed => return Err(Error::PreconditionFailed),
            Verdict::Proceed => {}
        }
        let cache_key = t::variant_key(&self.config.variant_prefix, &key, &id, format);
        let cache_key = (self.config.variant_cache
            && self.config.key_prefix.len() + cache_key.len() <= crate::config::MAX_KEY_LEN)
            .then_some(cache_key);
        if let Some(ck) = &cache_key {
            match self.store.open(ck, &Conditions::default(), None).await {
                Ok(hit) if hit.meta.size > self.config.inline_limit => {
                    return Ok(variant(
                        self.too_large(req, ck, hit.meta.size, format.mime())
                            .await?,
                    ));
                }
                Ok(hit) => match hit.read().await {
                    Ok(body) => {
                        meta.size = body.len() as u64;
                        tracing::debug!(request_id = %req.request_id, key = %ck, "variant cache hit");
                        return Ok(variant(Reply::Object {
                            key,
                            meta,
                            body: Some(body),
                            part: None,
                        }));
                    }
                    Err(e) => {
                        tracing::warn!(request_id = %req.request_id, key = %ck, error = ?e, "variant cache read failed; transforming");
                    }
                },
                Err(StoreError::NotFound | StoreError::Denied(_)) => {}
                Err(e) => {
                    tracing::warn!(request_id = %req.request_id, key = %ck, error = ?e, "variant cache lookup failed; transforming");
                }
            }
        }
        // A place among the transforms running or waiting, or a 503 at
        // once (before the whole source is read).
        let _admitted = self.admitted.try_acquire().map_err(|_| Error::Busy)?;
        let bytes = if complete {
            head
        } else {
            drop(head);
            self.read_again(&key, &source, None)
                .await
                .map_err(|e| self.store_error(req, e))?
        };
        // The run itself: at most one per core, the request's deadline
        // covering the wait for a slot too (the wait is the transform's
        // time, never reported as the store's).
        let limit = self.config.transform_timeout;
        let deadline = (Instant::now() + limit).min(req.deadline);
        // Not a guard: a request cut off by its deadline drops this future,
        // and the flag must still say what it was doing.
        req.transforming
            .store(true, std::sync::atomic::Ordering::Release);
        let _permit = tokio::time::timeout_at(deadline.into(), self.transforms.acquire())
            .await
            .map_err(|_| Error::TransformTimeout(limit))?
            .map_err(|_| Error::Unprocessable("the server is shutting down".to_string()))?;
        let work_spec = spec.clone();
        let output = tokio::task::spawn_blocking(move || {
            pipeline::run(&bytes, probe, &work_spec, format, deadline)
        })
        .await
        .map_err(|_| Error::Unprocessable("the image could not be transformed".to_string()))?
        .map_err(unprocessable)?;
        req.transforming
            .store(false, std::sync::atomic::Ordering::Release);
        meta.size = output.bytes.len() as u64;
        let mut cached = false;
        if let Some(ck) = &cache_key {
            match self
                .store
                .put(
                    ck,
                    output.bytes.clone(),
                    format.mime(),
                    source.cache_control.as_deref(),
                    source.etag.as_deref(),
                )
                .await
            {
                Ok(()) => cached = true,
                Err(e) => {
                    tracing::warn!(request_id = %req.request_id, key = %ck, error = ?e, "variant cache write failed");
                }
            }
        }
        if meta.size > self.config.inline_limit {
            return match (&cache_key, cached) {
                (Some(ck), true) => Ok(variant(
                    self.too_large(req, ck, meta.size, format.mime()).await?,
                )),
                _ => Err(Error::TooLarge {
                    size: meta.size,
                    limit: self.config.inline_limit,
                }),
            };
        }
        Ok(variant(Reply::Object {
            key,
            meta,
            body: Some(output.bytes),
            part: None,
        }))
    }

    fn store_error(&self, req: &Request, err: StoreError) -> Error {
        if let StoreError::Denied(detail) = &err {
            // Without s3:ListBucket a missing key is a 403 from S3; with it,
            // this is a permissions problem worth seeing in the logs.
            tracing::warn!(request_id = %req.request_id, detail = %detail, "S3 denied access; answering 404");
        }
        err.into_error()
    }
}

/// A time cut to its whole second.
fn whole_seconds(t: std::time::SystemTime) -> std::time::SystemTime {
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(since)
}
