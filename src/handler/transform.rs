//! `GET /{key}?w=…&format=…`: a resized or converted image. The order of
//! work: parameters (400) → signature (403) → the source's first 64 KiB,
//! whose header gives type and pixel count (422 before any decoding) → the
//! variant's ETag (304 without transforming) → the variant cache → a place
//! in the transform queue (503) → the whole source → decode, resize, encode
//! on a blocking thread under the request's deadline → the variant cache.
//! The steps are below, one function each; the codecs are
//! `crate::transform`'s.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::{App, settle};
use crate::conditional::{ByteRange, Conditions, http_date};
use crate::error::Error;
use crate::limits::MAX_KEY_LEN;
use crate::request::Request;
use crate::response::Reply;
use crate::storage::{ObjectMeta, StoreError};
use crate::transform::failure::Failure;
use crate::transform::probe::{Probe, Upright};
use crate::transform::{self as t, Format, Spec, pipeline, probe};

/// A source whose header has been read.
struct Source {
    meta: ObjectMeta,
    /// The first bytes, or all of them when `complete`.
    head: Vec<u8>,
    complete: bool,
    probe: Probe,
    up: Upright,
}

impl App {
    pub(super) async fn transform(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let spec = self.transform_spec(req)?;
        let source = self.probe_source(req, &key, &spec).await?;
        let (format, vary) = self.output_format(req, &source, &spec)?;
        let variant = |inner: Reply| Reply::Variant {
            inner: Box::new(inner),
            vary,
        };
        // The variant's identity: known before any decoding, so a
        // revalidation is answered without transforming.
        let (id, mut meta) = variant_meta(&source.meta, &spec, format);
        if let Some(answer) = settle(&req.conditions, &meta) {
            return answer.map(variant);
        }
        let cache_key = self.cache_key(&key, &id, format);
        if let Some(ck) = &cache_key
            && let Some(hit) = self.cached_variant(req, &key, ck, &meta, format).await?
        {
            return Ok(variant(hit));
        }
        let original = source.meta.clone();
        let bytes = self.run(req, &key, source, &spec, format).await?;
        meta.size = bytes.len() as u64;
        let cached = match &cache_key {
            Some(ck) => self.store_variant(req, ck, &bytes, format, &original).await,
            None => false,
        };
        if meta.size > self.config.body_limit() {
            return match (&cache_key, cached) {
                (Some(ck), true) => {
                    Ok(variant(self.too_large(ck, meta.size, format.mime()).await?))
                }
                _ => Err(Error::TooLarge {
                    size: meta.size,
                    limit: self.config.body_limit(),
                }),
            };
        }
        Ok(variant(Reply::Object {
            key,
            meta,
            body: Some(bytes),
            part: None,
        }))
    }

    /// The parameters (400) and, when signing is on, the signature (403).
    fn transform_spec(&self, req: &Request) -> Result<Spec, Error> {
        if !self.config.transforms {
            return Err(Error::BadRequest(
                "image transforms (w, h, fit, gravity, format, q, dpr) are not enabled on this API"
                    .to_string(),
            ));
        }
        let spec = Spec::from_query(&req.query)
            .map_err(|e| Error::BadRequest(e.to_string()))?
            .ok_or_else(|| Error::BadRequest("no transform parameter".to_string()))?;
        if let Some(secret) = &self.config.signing_secret {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // The path as the caller named it: the key in single-bucket
            // mode, `{bucket}/{key}` in bucket mode, `o/{id}` by id.
            t::sign::verify(&secret.0, &req.path, &req.query, now)
                .map_err(|r| Error::SignatureRefused(r.message()))?;
        }
        Ok(spec)
    }

    /// The source's first bytes: its type, size and orientation decide
    /// before any decoding (422 for what will not be transformed).
    async fn probe_source(&self, req: &Request, key: &str, spec: &Spec) -> Result<Source, Error> {
        let first = Some(ByteRange::FromTo(0, t::PROBE_BYTES - 1));
        let opened = match self.store.open(key, &Conditions::default(), first).await {
            Ok(o) => o,
            Err(StoreError::RangeNotSatisfiable) => {
                return Err(Error::Unprocessable(
                    "the object is empty, not an image".to_string(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let meta = opened.meta.clone();
        if meta.size > t::MAX_SOURCE_BYTES {
            return Err(Error::Unprocessable(format!(
                "the object is {} bytes; transforms read at most {} (it can still be fetched without transform parameters)",
                meta.size,
                t::MAX_SOURCE_BYTES
            )));
        }
        let mut head = match opened.read().await {
            Ok(b) => b,
            Err(StoreError::Unavailable(_)) => self.store.read_again(key, &meta, None).await?,
            Err(e) => return Err(e.into()),
        };
        let mut complete = head.len() as u64 == meta.size;
        let probe = match probe::probe(&head, complete)
            .map_err(|f| refused(req, key, f, self.config.transform_timeout))?
        {
            Some(p) => p,
            None => {
                // The frame header sits after a large metadata block.
                head = self.store.read_again(key, &meta, None).await?;
                complete = true;
                probe::probe(&head, true)
                    .map_err(|f| refused(req, key, f, self.config.transform_timeout))?
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
        let up = probe::upright_plan(&head, probe, spec).map_err(Error::Unprocessable)?;
        Ok(Source {
            meta,
            head,
            complete,
            probe,
            up,
        })
    }

    /// The output format (from `format=` and `Accept`; whether it varies by
    /// `Accept`), refused when its decoding would not fit the function's
    /// memory.
    fn output_format(
        &self,
        req: &Request,
        source: &Source,
        spec: &Spec,
    ) -> Result<(Format, bool), Error> {
        let (probe, plan) = (source.probe, source.up.plan);
        let out_pixels = u64::from(plan.canvas.0) * u64::from(plan.canvas.1);
        let (format, vary) = t::negotiate::choose_format_within(
            spec.format,
            probe.kind,
            req.header("accept"),
            out_pixels,
            self.avif_max_pixels,
        )
        .map_err(Error::Unprocessable)?;
        if let Some(budget) = self.memory_budget {
            let need = probe::decode_memory(&source.head, probe, &source.up, format);
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
        Ok((format, vary))
    }

    /// Where the variant is cached, when the cache is on and the key fits.
    fn cache_key(&self, key: &str, id: &str, format: Format) -> Option<String> {
        let ck = t::variant_key(&self.config.variant_prefix, key, id, format);
        (self.config.variant_cache && self.config.key_prefix.len() + ck.len() <= MAX_KEY_LEN)
            .then_some(ck)
    }

    /// The variant from the cache: its bytes, or a redirect to it when it is
    /// over the inline limit. `None`: not there, or not readable (then it
    /// is transformed again).
    async fn cached_variant(
        &self,
        req: &Request,
        key: &str,
        ck: &str,
        meta: &ObjectMeta,
        format: Format,
    ) -> Result<Option<Reply>, Error> {
        let hit = match self.store.open(ck, &Conditions::default(), None).await {
            Ok(hit) => hit,
            Err(StoreError::NotFound | StoreError::Denied(_)) => return Ok(None),
            Err(e) => {
                tracing::warn!(request_id = %req.request_id, key = %ck, error = ?e, "variant cache lookup failed; transforming");
                return Ok(None);
            }
        };
        if hit.meta.size > self.config.body_limit() {
            return Ok(Some(
                self.too_large(ck, hit.meta.size, format.mime()).await?,
            ));
        }
        match hit.read().await {
            Ok(body) => {
                tracing::debug!(request_id = %req.request_id, key = %ck, "variant cache hit");
                let meta = ObjectMeta {
                    size: body.len() as u64,
                    ..meta.clone()
                };
                Ok(Some(Reply::Object {
                    key: key.to_string(),
                    meta,
                    body: Some(body),
                    part: None,
                }))
            }
            Err(e) => {
                tracing::warn!(request_id = %req.request_id, key = %ck, error = ?e, "variant cache read failed; transforming");
                Ok(None)
            }
        }
    }

    /// The transform itself: a place among the transforms running or
    /// waiting (else a 503 at once, before the whole source is read), the
    /// whole source, a slot (one per core), then decode, resize and encode
    /// on a blocking thread. The wait for a slot counts against
    /// `transform-timeout`: it is the transform's time, never reported as
    /// the store's.
    async fn run(
        &self,
        req: &Request,
        key: &str,
        source: Source,
        spec: &Spec,
        format: Format,
    ) -> Result<Vec<u8>, Error> {
        let _admitted = self.admitted.try_acquire().map_err(|_| Error::Busy)?;
        let bytes = if source.complete {
            source.head
        } else {
            drop(source.head);
            self.store.read_again(key, &source.meta, None).await?
        };
        let limit = self.config.transform_timeout;
        let deadline = (Instant::now() + limit).min(req.deadline);
        // Not a guard: a request cut off by its deadline drops this future,
        // and the flag must still say what it was doing.
        req.transforming.store(true, Ordering::Release);
        let _slot = tokio::time::timeout_at(deadline.into(), self.transforms.acquire())
            .await
            .map_err(|_| Error::TransformTimeout(limit))?
            .map_err(|_| Error::Unprocessable("the server is shutting down".to_string()))?;
        let (probe, work_spec) = (source.probe, spec.clone());
        let started = std::time::Instant::now();
        let output = tokio::task::spawn_blocking(move || {
            pipeline::run(&bytes, probe, &work_spec, format, deadline)
        })
        .await;
        crate::metrics::add_transform(started.elapsed());
        let output = output
            .map_err(|_| Error::Unprocessable("the image could not be transformed".to_string()))?
            .map_err(|f| refused(req, key, f, limit))?;
        req.transforming.store(false, Ordering::Release);
        Ok(output.bytes)
    }

    /// Writes the variant to the cache; whether it is there now (a failed
    /// write is logged, and the answer is sent all the same).
    async fn store_variant(
        &self,
        req: &Request,
        ck: &str,
        bytes: &[u8],
        format: Format,
        source: &ObjectMeta,
    ) -> bool {
        let put = self
            .store
            .put(
                ck,
                bytes.to_vec(),
                format.mime(),
                source.cache_control.as_deref(),
                source.etag.as_deref(),
            )
            .await;
        if let Err(e) = &put {
            tracing::warn!(request_id = %req.request_id, key = %ck, error = ?e, "variant cache write failed");
        }
        put.is_ok()
    }
}

/// The variant's id (its ETag without quotes) and metadata: the source's
/// version, the parameters as they take effect and the output format.
fn variant_meta(source: &ObjectMeta, spec: &Spec, format: Format) -> (String, ObjectMeta) {
    let version = source
        .etag
        .clone()
        .unwrap_or_else(|| format!("{}-{:?}", source.size, source.last_modified.map(http_date)));
    let id = t::variant_id(&version, spec, format);
    let meta = ObjectMeta {
        size: 0,
        content_type: Some(format.mime().to_string()),
        etag: Some(format!("\"{id}\"")),
        last_modified: source.last_modified,
        cache_control: source.cache_control.clone(),
        content_disposition: None,
        content_encoding: None,
    };
    (id, meta)
}

/// A pipeline's refusal as the caller sees it; a codec's own words go to
/// the log only.
fn refused(req: &Request, key: &str, failure: Failure, limit: std::time::Duration) -> Error {
    match failure {
        Failure::Unprocessable { public, detail } => {
            if let Some(detail) = detail {
                tracing::warn!(request_id = %req.request_id, key = %key, detail = %detail, "image refused");
            }
            Error::Unprocessable(public)
        }
        Failure::TimedOut => Error::TransformTimeout(limit),
    }
}
