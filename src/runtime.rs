//! The Lambda Runtime API loop of the function: `GET …/invocation/next`, run
//! the handler, `POST …/invocation/{id}/response` with the JSON bytes that
//! `ProxyResponse::to_json` wrote, sent as they are.
//!
//! lambda_runtime's own loop would validate that JSON again
//! (`RawValue::from_string` parses all of it) and copy it once more
//! (`serde_json::to_vec`): for a 4 MiB image that is 5.6 MB scanned and
//! copied twice per invoke. The HTTP side is still lambda_runtime's: its
//! Runtime API client (`lambda_runtime_api_client`), connection pool and
//! request builder. An event that does not parse is reported to Lambda on
//! `…/error`; a failing configuration on `…/init/error` before exit.

use http_body_util::BodyExt;
use lambda_http::http::{self, Method};
use lambda_runtime_api_client::{PooledClient, body::Body, build_request};

use crate::{App, ProxyEvent};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client of the Runtime API at `AWS_LAMBDA_RUNTIME_API` (host:port).
pub struct RuntimeApi {
    client: PooledClient,
}

/// One invocation handed out by `next`.
pub struct Invocation {
    pub request_id: String,
    pub event: Result<ProxyEvent, serde_json::Error>,
}

impl RuntimeApi {
    pub fn from_env() -> Result<RuntimeApi, BoxError> {
        let host = std::env::var("AWS_LAMBDA_RUNTIME_API")
            .map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda")?;
        let uri: http::Uri = format!("http://{host}").parse()?;
        Ok(RuntimeApi {
            client: PooledClient::builder().with_endpoint(uri).build(),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<(http::HeaderMap, Vec<u8>), BoxError> {
        let req = build_request()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)?;
        let (parts, body) = self.client.call(req).await?.into_parts();
        let bytes = body.collect().await?.to_bytes().to_vec();
        if !parts.status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(format!("Runtime API answered {} to {path}: {text}", parts.status).into());
        }
        Ok((parts.headers, bytes))
    }

    /// Waits for the next event.
    pub async fn next(&self) -> Result<Invocation, BoxError> {
        let (headers, body) = self.call(Method::GET, NEXT, Body::empty()).await?;
        let request_id = headers
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .ok_or("the Runtime API sent an event without a request id")?;
        // The id goes back in a path: nothing but what a path carries as is.
        if request_id.is_empty()
            || !request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!("unexpected request id {request_id:?}").into());
        }
        Ok(Invocation {
            request_id: request_id.to_string(),
            event: serde_json::from_slice(&body),
        })
    }

    /// Sends the response JSON as it is (no re-validation, no copy).
    pub async fn respond(&self, request_id: &str, json: String) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
        self.call(Method::POST, &path, Body::from(json)).await?;
        Ok(())
    }

    /// Reports an invocation that could not be handled (an event that is not
    /// an API Gateway REST proxy event).
    pub async fn fail(&self, request_id: &str, kind: &str, message: &str) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/error");
        let body = serde_json::json!({"errorType": kind, "errorMessage": message}).to_string();
        self.call(Method::POST, &path, Body::from(body)).await?;
        Ok(())
    }

    /// Reports a failed init (bad configuration), so Lambda shows the reason.
    pub async fn init_failed(&self, message: &str) -> Result<(), BoxError> {
        let body = serde_json::json!({"errorType": "Runtime.InvalidConfiguration", "errorMessage": message})
            .to_string();
        self.call(
            Method::POST,
            "/2018-06-01/runtime/init/error",
            Body::from(body),
        )
        .await?;
        Ok(())
    }
}

/// Serves events until the Runtime API fails (then Lambda restarts the
/// process).
pub async fn run(api: &RuntimeApi, app: &App) -> Result<(), BoxError> {
    loop {
        let inv = api.next().await?;
        match inv.event {
            Ok(event) => {
                let json = app.handle_event(event).await.to_json();
                api.respond(&inv.request_id, json).await?;
            }
            Err(err) => {
                tracing::warn!(request_id = %inv.request_id, error = %err, "not an API Gateway REST proxy event");
                let message = format!("not an API Gateway REST proxy event: {err}");
                api.fail(&inv.request_id, "InvalidEvent", &message).await?;
            }
        }
    }
}
