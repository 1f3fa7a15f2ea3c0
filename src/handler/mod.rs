//! The use cases: a typed [`Request`] in, a [`Reply`] out, one file each
//! (objects, listings, presigned URLs, transforms). This file builds the
//! [`App`], bounds each request by its deadline, checks what every request
//! needs (the API key id, a body that decodes, a key that parses), sends
//! each method × target to its use case, and writes the one log line per
//! request.

mod access;
mod bucket;
mod by_id;
mod listing;
mod log;
mod object;
mod presign;
mod transform;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::conditional::{Conditions, Verdict};
use crate::config::{Config, ConfigError, ResponseMode};
use crate::error::{Error, UpstreamKind};
use crate::ids::Ids;
use crate::lambda::event::ProxyEvent;
use crate::lambda::response::ProxyResponse;
use crate::request::{KeyRules, Method, Request, Target};
use crate::response::{Reply, render};
use crate::storage::{ObjectMeta, Opened, S3Store, sdk_config_from_env};

/// The configuration and the one S3 client, built once per process and lent
/// to every request.
#[derive(Debug, Clone)]
pub struct App {
    /// Shared: a bucket-mode request works on a copy of the app scoped to
    /// its bucket ([`App::in_bucket`]).
    pub config: Arc<Config>,
    pub store: S3Store,
    /// Transforms run one per core at most (a local server under load
    /// queues them instead of holding dozens of decoded images at once).
    transforms: Arc<Semaphore>,
    /// Places for transforms running or waiting: the running ones plus
    /// `transform-queue`. A transform that finds none is a 503.
    admitted: Arc<Semaphore>,
    /// The key prefix's length and the reserved folder.
    pub key_rules: KeyRules,
    /// Bytes a transform's decoded pixels may take: set from the Lambda
    /// function's memory size, so a source that would not fit is a 422
    /// rather than an out-of-memory crash. `None` (local): no bound.
    pub memory_budget: Option<u64>,
    /// Largest AVIF output: what encodes within `transform-timeout` on the
    /// function's CPU share.
    pub avif_max_pixels: u64,
    /// Opaque object ids, when `id-secret` is set.
    pub ids: Option<Ids>,
}

impl App {
    pub fn new(config: Config, store: S3Store) -> App {
        let cores = crate::transform::concurrency();
        let queue = config.transform_queue.unwrap_or(4 * cores);
        let memory_mb = config.function_memory_mb;
        App {
            key_rules: config.key_rules(),
            memory_budget: memory_mb.map(crate::transform::geometry::memory_budget),
            avif_max_pixels: crate::transform::geometry::avif_max_pixels(
                config.transform_timeout,
                memory_mb,
            ),
            ids: config.id_secret.as_ref().map(|s| Ids::new(&s.0)),
            config: Arc::new(config),
            store,
            transforms: Arc::new(Semaphore::new(cores)),
            admitted: Arc::new(Semaphore::new(cores + queue)),
        }
    }

    /// Configuration from `S3GATE_*`, the client from the SDK's environment.
    pub async fn from_env() -> Result<App, ConfigError> {
        let config = Config::from_env()?;
        let sdk = sdk_config_from_env(&config, None).await;
        let store = S3Store::new(&sdk, &config);
        Ok(App::new(config, store))
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
        left: Option<Duration>,
    ) -> ProxyResponse {
        // In buffered mode no answer has a body still to stream; a stream
        // mode caller uses `answer` and passes the body on.
        self.answer(event, left).await.response
    }

    /// The answer to one event: the response (status, headers, and the
    /// body when it is in memory) and, in stream mode, the object's body
    /// still to be passed on as it arrives. The request's budget covers
    /// everything up to the response headers; a streamed body is bounded
    /// chunk by chunk instead.
    pub async fn answer(&self, event: ProxyEvent, left: Option<Duration>) -> Answer {
        let started = Instant::now();
        let mut req = Request::from_event(event, &self.key_rules);
        let budget = self.budget(&req, left);
        // Inner steps (a transform's wait and work) end a little before the
        // whole request does, so they answer for themselves.
        req.deadline = Instant::now() + budget.saturating_sub(Duration::from_millis(300));
        let (reply, spent) =
            crate::metrics::measured(tokio::time::timeout(budget, self.handle(&req))).await;
        let reply = match reply {
            Ok(reply) => reply,
            // Cut off while transforming: the transform's time, not the
            // store's (an AVIF encode cannot be interrupted).
            Err(_) if req.transforming.load(Ordering::Acquire) => {
                Reply::Error(Error::TransformTimeout(self.config.transform_timeout))
            }
            Err(_) => Reply::Error(Error::Upstream {
                kind: UpstreamKind::Timeout,
                detail: format!("the request took longer than {budget:?}"),
            }),
        };
        let (reply, mut stream) = reply.take_stream();
        let mut detail = match reply.inner() {
            Reply::Error(err) => err.detail().map(str::to_string),
            _ => None,
        };
        let mut response = render(reply, &self.config, &req.request_id);
        let head = req.method == Method::Head;
        // The body sent: an object's (or part's) bytes, or what s3gate
        // wrote itself (an error, a listing, a presign answer); none for a
        // HEAD.
        let mut bytes = match &stream {
            _ if head => 0,
            Some(s) => s.part.map_or(s.meta.size, |p| p.len()),
            None => response.body_bytes().len() as u64,
        };
        if head {
            head_only(&mut response);
            stream = None;
        }
        // Streamed, the status and headers go in a prelude that API Gateway
        // reads up to 16 KiB: headers from stored metadata past that are a
        // 413 (buffered mode's envelope over 6 MB is one too), decided here
        // so that the function, `serve` and `invoke` answer alike and the
        // log line says what was sent. The prelude is made once, here.
        let mut prelude = None;
        if self.config.response_mode == ResponseMode::Stream {
            let made = response.prelude();
            if made.len() > crate::limits::MAX_PRELUDE {
                detail = Some(format!("a prelude of {} bytes, over 16 KiB", made.len()));
                response = render(
                    Reply::Error(Error::HeadersTooLarge {
                        size: made.len() as u64,
                        limit: crate::limits::MAX_PRELUDE as u64,
                    }),
                    &self.config,
                    &req.request_id,
                );
                bytes = if head {
                    0
                } else {
                    response.body_bytes().len() as u64
                };
                if head {
                    head_only(&mut response);
                }
                stream = None;
                prelude = Some(response.prelude());
            } else {
                prelude = Some(made);
            }
        }
        let metrics = self.config.metrics.then(|| crate::metrics::RequestMetrics {
            stage: &req.stage,
            route: log::route_kind(&req),
            status: response.status_code,
            latency: started.elapsed(),
            spent,
            transformed: spent.transform > Duration::ZERO,
            bytes,
            cold: crate::metrics::cold_start(),
        });
        log::write(&req, response.status_code, bytes, started, detail, metrics);
        Answer {
            response,
            stream,
            prelude,
        }
    }

    /// One deadline for the whole request, however many S3 calls it makes:
    /// the answer is a 504 JSON well before API Gateway's 29 s (and before
    /// the function's own timeout, when that is shorter). A transform adds
    /// its own time, and stays under API Gateway's 29 s.
    fn budget(&self, req: &Request, left: Option<Duration>) -> Duration {
        let work = if crate::transform::is_transform(&req.query)
            && matches!(req.method, Method::Get | Method::Head)
        {
            (self.config.s3_timeout + self.config.transform_timeout).min(Duration::from_secs(26))
        } else {
            self.config.s3_timeout
        };
        let budget = work + Duration::from_millis(1500);
        left.map_or(budget, |left| budget.min(left))
    }

    /// Decides the answer. The API key check comes first (as at API Gateway;
    /// a CORS preflight carries no key), then the method, then the key.
    pub async fn handle(&self, req: &Request) -> Reply {
        // Boxed: the decision's future is large and deeply nested; one
        // allocation per request keeps callers' futures small.
        match Box::pin(self.dispatch(req)).await {
            Ok(reply) => reply,
            // One bucket, and it is not there: a setting is wrong, which is
            // the API's failure, not the caller's.
            Err(Error::NoSuchBucket(detail)) if self.config.buckets.is_none() => {
                Reply::Error(Error::Upstream {
                    kind: UpstreamKind::Unavailable,
                    detail: detail.unwrap_or_else(|| "no such bucket".into()),
                })
            }
            Err(err) => Reply::Error(err),
        }
    }

    /// The same app on another bucket (bucket mode).
    pub fn in_bucket(&self, bucket: &str) -> App {
        App {
            store: self.store.for_bucket(bucket),
            ..self.clone()
        }
    }

    /// This app, or a copy scoped to the request's bucket (bucket mode).
    fn scoped(&self, bucket: Option<&str>) -> Cow<'_, App> {
        match bucket {
            Some(b) => Cow::Owned(self.in_bucket(b)),
            None => Cow::Borrowed(self),
        }
    }

    async fn dispatch(&self, req: &Request) -> Result<Reply, Error> {
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
        if self.hidden_by_ids_only(req) {
            return Err(Error::NotFound);
        }
        match req.target.clone().map_err(Error::BadKey)? {
            // Off the allowlist: the same use cases on a store that answers
            // every operation as an absent bucket without asking S3, so
            // every check before S3 is made as for any bucket.
            Target::UnknownBucket(named) => {
                let app = App {
                    store: self.store.off_allowlist(),
                    ..self.clone()
                };
                app.routed(req, *named).await
            }
            target => self.routed(req, target).await,
        }
    }

    /// The use case of a method and target.
    async fn routed(&self, req: &Request, target: Target) -> Result<Reply, Error> {
        let read = matches!(req.method, Method::Get | Method::Head);
        match target {
            Target::Buckets if read => self.list_buckets().await,
            Target::Bucket => {
                let app = self.scoped(req.bucket.as_deref());
                match req.method {
                    Method::Get | Method::Head => app.list(req, String::new()).await,
                    Method::Put => {
                        self.require_admin(req)?;
                        app.create_bucket(req).await
                    }
                    Method::Delete => {
                        self.require_admin(req)?;
                        app.delete_bucket().await
                    }
                    _ => Err(self.not_allowed(req, &Target::Bucket)),
                }
            }
            Target::IdOf(key) if read => {
                self.require_admin(req)?;
                self.scoped(req.bucket.as_deref()).id_of(req, key).await
            }
            Target::ById(id) if read => self.by_id(req, &id).await,
            Target::PresignById(id) if read => self.presign_by_id(req, &id).await,
            target @ (Target::Buckets
            | Target::IdOf(_)
            | Target::ById(_)
            | Target::PresignById(_)) => Err(self.not_allowed(req, &target)),
            target => {
                self.scoped(req.bucket.as_deref())
                    .object_routes(req, target)
                    .await
            }
        }
    }

    /// The routes of one bucket (the only one, or the request's): objects,
    /// folders, presigned URLs, transforms, writes.
    async fn object_routes(&self, req: &Request, target: Target) -> Result<Reply, Error> {
        let transform = crate::transform::is_transform(&req.query);
        // HEAD answers what GET would (its body is dropped in
        // handle_event).
        match (&req.method, target) {
            // The variant cache's folder is written by s3gate alone: nothing
            // under it is served, listed, presigned or accepted.
            (_, Target::Reserved) => Err(Error::Forbidden(
                "this folder is reserved for the variant cache",
            )),
            (Method::Get | Method::Head, Target::Presign(key)) => self.presign(req, key).await,
            (Method::Get | Method::Head, Target::Listing(_)) if transform => {
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
            (Method::Get | Method::Head, Target::Object(key)) if transform => {
                self.transform(req, key).await
            }
            // A signature signs a transform: alone it is a mistake, not
            // something to ignore.
            (Method::Get | Method::Head, Target::Object(_))
                if crate::transform::SIGNING_PARAMS
                    .iter()
                    .any(|p| req.query.contains_key(*p)) =>
            {
                let name = crate::transform::SIGNING_PARAMS
                    .iter()
                    .find(|p| req.query.contains_key(**p))
                    .copied()
                    .unwrap_or("sig");
                Err(Error::BadRequest(format!(
                    "{name}: signs a transform; give it with the transform parameters (w, h, fit, gravity, format, q, dpr)"
                )))
            }
            (Method::Get, Target::Object(key)) => self.get(req, key).await,
            (Method::Head, Target::Object(key)) => self.head(req, key).await,
            (Method::Put | Method::Delete, Target::Object(key)) if self.config.allow_write => {
                self.write(&req.method, key).await
            }
            (_, target) => Err(self.not_allowed(req, &target)),
        }
    }
}

/// What [`App::answer`] gives: the response, and in stream mode its
/// prelude and the body still to stream.
#[derive(Debug)]
pub struct Answer {
    pub response: ProxyResponse,
    pub stream: Option<Opened>,
    pub prelude: Option<String>,
}

impl Answer {
    /// The streamed prelude: as made by [`App::answer`], or made now.
    pub fn take_prelude(&mut self) -> String {
        self.prelude
            .take()
            .unwrap_or_else(|| self.response.prelude())
    }
}

/// A HEAD answer has the GET headers, `Content-Length` included (none on a
/// 304 or 204, which have no content to measure), and never a body.
fn head_only(response: &mut ProxyResponse) {
    if response.header("content-length").is_none() && !matches!(response.status_code, 204 | 304) {
        let len = response.body_bytes().len();
        response
            .headers
            .push(("Content-Length".to_string(), len.to_string()));
    }
    response.body = None;
}

/// The validators' answer when it is not "go on": a 304 with the
/// object's validators, or a 412. RFC 9110 §13.2.2, on any store (some
/// ignore the conditions s3gate passes on).
fn settle(conditions: &Conditions, meta: &ObjectMeta) -> Option<Result<Reply, Error>> {
    match conditions.evaluate(meta.etag.as_deref(), meta.last_modified) {
        Verdict::NotModified => Some(Ok(Reply::NotModified { meta: meta.clone() })),
        Verdict::PreconditionFailed => Some(Err(Error::PreconditionFailed)),
        Verdict::Proceed => None,
    }
}
