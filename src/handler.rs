//! The use cases: a typed [`Request`] in, a [`Reply`] out. No transport
//! types here beyond the event and response wrappers in [`App::handle_event`],
//! which also writes the one log line per request.

use std::time::Instant;

use crate::config::{Config, ConfigError, LargeObjects};
use crate::error::Error;
use crate::request::{Method, ProxyEvent, Request, Target};
use crate::response::{ProxyResponse, Reply, render};
use crate::storage::{Fetched, S3Store, StoreError, sdk_config_from_env};

/// Methods the object routes answer when writes are off.
const ALLOW_READ: &str = "GET, HEAD";

/// The configuration and the one S3 client, built once per process and lent
/// to every request.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: S3Store,
}

impl App {
    pub fn new(config: Config, store: S3Store) -> App {
        App { config, store }
    }

    /// Configuration from `S3GATE_*`, the client from the SDK's environment.
    pub async fn from_env() -> Result<App, ConfigError> {
        let config = Config::from_env()?;
        let sdk = sdk_config_from_env(&config, None).await;
        let store = S3Store::new(&sdk, &config);
        Ok(App { config, store })
    }

    /// One API Gateway event in, one Lambda proxy response out. Never fails:
    /// expected failures are responses.
    pub async fn handle_event(&self, event: ProxyEvent) -> ProxyResponse {
        let started = Instant::now();
        let req = Request::from_event(event, self.config.key_prefix.len());
        let reply = self.handle(&req).await;
        let (bytes, detail) = match &reply {
            Reply::Object { meta, body, .. } => (body.as_ref().map_or(0, |_| meta.size), None),
            Reply::Error(Error::Upstream { detail, .. }) => (0, Some(detail.clone())),
            _ => (0, None),
        };
        let key = match &req.target {
            Ok(Target::Object(k) | Target::Listing(k)) => k.as_str(),
            Err(_) => "",
        };
        let response = render(reply, &self.config, &req.request_id);
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

    /// Decides the answer. The API key check comes first (as at API Gateway),
    /// then the method, then the key.
    pub async fn handle(&self, req: &Request) -> Reply {
        match self.decide(req).await {
            Ok(reply) => reply,
            Err(err) => Reply::Error(err),
        }
    }

    async fn decide(&self, req: &Request) -> Result<Reply, Error> {
        if self.config.require_api_key && req.api_key_id.is_none() {
            return Err(Error::Forbidden(
                "this API requires an API key (x-api-key header)",
            ));
        }
        let head = match &req.method {
            Method::Get => false,
            Method::Head => true,
            other => {
                return Err(Error::MethodNotAllowed {
                    method: other.as_str().to_string(),
                    allow: ALLOW_READ,
                });
            }
        };
        let key = match req.target.clone().map_err(Error::BadKey)? {
            Target::Object(key) => key,
            Target::Listing(_) => return Err(Error::ListingDisabled),
        };
        if head {
            let meta = self
                .store
                .head(&key)
                .await
                .map_err(|e| self.store_error(req, e))?;
            return Ok(Reply::Object {
                key,
                meta,
                body: None,
            });
        }
        match self
            .store
            .get(&key, self.config.inline_limit)
            .await
            .map_err(|e| self.store_error(req, e))?
        {
            Fetched::Body(meta, body) => Ok(Reply::Object {
                key,
                meta,
                body: Some(body),
            }),
            Fetched::TooLarge(meta) => match self.config.large_objects {
                LargeObjects::Reject => Err(Error::TooLarge {
                    size: meta.size,
                    limit: self.config.inline_limit,
                }),
                LargeObjects::Redirect => {
                    let location = self
                        .store
                        .presign_get(&key, self.config.presign_ttl)
                        .await
                        .map_err(|e| self.store_error(req, e))?;
                    Ok(Reply::Redirect { location })
                }
            },
        }
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
