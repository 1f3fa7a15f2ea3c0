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
//!
//! As lambda_runtime does: a 4xx from the Runtime API on a response (e.g.
//! one over Lambda's 6 MB) is logged and the loop goes on; the invocation
//! id is echoed; each invoke runs in a span carrying the request id. Beyond
//! it: a response that would not fit is replaced by a 413 JSON before it is
//! sent, and the request's budget never passes the invoke's deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use lambda_runtime_api_client::{PooledClient, body::Body, build_request};
use tracing::Instrument;

use crate::config::ResponseMode;
use crate::error::Error;
use crate::limits::LAMBDA_RESPONSE_CAP;
use crate::response::{Reply, render};
use crate::{App, ProxyEvent};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
/// Time kept back from the invoke's deadline to send the answer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(300);

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client of the Runtime API at `AWS_LAMBDA_RUNTIME_API` (host:port).
pub struct RuntimeApi {
    client: PooledClient,
}

/// One invocation handed out by `next`.
pub struct Invocation {
    pub request_id: String,
    /// `Lambda-Runtime-Invocation-Id`, echoed on the answer when present.
    pub invocation_id: Option<String>,
    /// Time left until `Lambda-Runtime-Deadline-Ms`, when it was sent.
    pub remaining: Option<Duration>,
}

impl RuntimeApi {
    pub fn from_env() -> Result<RuntimeApi, BoxError> {
        let host = std::env::var("AWS_LAMBDA_RUNTIME_API")
            .map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda")?;
        let uri: http::Uri = format!("http://{host}").parse()?;
        // TCP_NODELAY: hyper's connector leaves Nagle on, and a streamed
        // response's last small write then waits for the delayed ACK of
        // the one before (~40 ms at the end of every stream, measured with
        // scripts/bench-lambda.sh STREAM=1; strace showed the stall).
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        Ok(RuntimeApi {
            client: PooledClient::builder()
                .with_connector(connector)
                .with_endpoint(uri)
                .build(),
        })
    }

    pub(super) fn client(&self) -> &PooledClient {
        &self.client
    }

    /// What the Runtime API said to a POST. A 4xx (a response over
    /// Lambda's limit, an invocation already answered) is Lambda's to
    /// report to the caller: logged, and the loop goes on. A 5xx means the
    /// runtime must exit.
    pub(super) fn settled(path: &str, status: StatusCode, text: &[u8]) -> Result<(), BoxError> {
        let text = String::from_utf8_lossy(text);
        if status.is_server_error() {
            return Err(format!("Runtime API answered {status} to {path}: {text}").into());
        }
        if !status.is_success() {
            tracing::error!(%status, path, answer = %text, "Runtime API refused an answer");
        }
        Ok(())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        invocation_id: Option<&str>,
        body: Body,
    ) -> Result<(StatusCode, HeaderMap, impl AsRef<[u8]> + use<>), BoxError> {
        let mut req = build_request()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(id) = invocation_id {
            req = req.header("lambda-runtime-invocation-id", id);
        }
        let (parts, body) = self.client.call(req.body(body)?).await?.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }

    /// Posts an answer (see [`RuntimeApi::settled`] for what is made of
    /// the Runtime API's reply).
    async fn post(
        &self,
        path: &str,
        invocation_id: Option<&str>,
        body: Body,
    ) -> Result<(), BoxError> {
        let (status, _, bytes) = self.call(Method::POST, path, invocation_id, body).await?;
        Self::settled(path, status, bytes.as_ref())
    }

    /// Waits for the next event: the invocation, and its event parsed.
    pub async fn next(&self) -> Result<(Invocation, Result<ProxyEvent, String>), BoxError> {
        let (status, headers, body) = self.call(Method::GET, NEXT, None, Body::empty()).await?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(body.as_ref());
            return Err(format!("Runtime API answered {status} to {NEXT}: {text}").into());
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header("lambda-runtime-aws-request-id")
            .ok_or("the Runtime API sent an event without a request id")?;
        // The id goes back in a path: nothing but what a path carries as is.
        if request_id.is_empty()
            || !request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!("unexpected request id {request_id:?}").into());
        }
        let remaining = header("lambda-runtime-deadline-ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(|ms| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Duration::from_millis(ms).saturating_sub(now)
            });
        let inv = Invocation {
            request_id: request_id.to_string(),
            invocation_id: header("lambda-runtime-invocation-id").map(str::to_string),
            remaining,
        };
        Ok((inv, ProxyEvent::from_slice(body.as_ref())))
    }

    /// Sends the response JSON as it is (no re-validation, no copy).
    pub async fn respond(&self, inv: &Invocation, json: String) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{}/response", inv.request_id);
        self.post(&path, inv.invocation_id.as_deref(), Body::from(json))
            .await
    }

    /// Reports an invocation that could not be handled (an event that is not
    /// an API Gateway REST proxy event).
    pub async fn fail(&self, inv: &Invocation, kind: &str, message: &str) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{}/error", inv.request_id);
        let body = serde_json::json!({"errorType": kind, "errorMessage": message}).to_string();
        self.post(&path, inv.invocation_id.as_deref(), Body::from(body))
            .await
    }

    /// Reports a failed init (bad configuration), so Lambda shows the reason.
    pub async fn init_failed(&self, message: &str) -> Result<(), BoxError> {
        let body = serde_json::json!({"errorType": "Runtime.InvalidConfiguration", "errorMessage": message})
            .to_string();
        self.post("/2018-06-01/runtime/init/error", None, Body::from(body))
            .await
    }
}

/// Serves events until the Runtime API fails (then Lambda restarts the
/// process).
pub async fn run(api: &RuntimeApi, app: &App) -> Result<(), BoxError> {
    loop {
        let (inv, event) = api.next().await?;
        let span = tracing::info_span!("invoke", requestId = %inv.request_id);
        match event {
            Ok(event) if app.config.response_mode == ResponseMode::Stream => {
                let budget = inv.remaining.map(|r| r.saturating_sub(DEADLINE_MARGIN));
                let answer = app.answer(event, budget).instrument(span.clone()).await;
                api.respond_streaming(&inv, answer).instrument(span).await?;
            }
            Ok(event) => {
                let json = answer(app, event, inv.remaining).instrument(span).await;
                api.respond(&inv, json).await?;
            }
            Err(message) => {
                span.in_scope(|| tracing::warn!(error = %message, "invalid event"));
                api.fail(&inv, "InvalidEvent", &message).await?;
            }
        }
    }
}

/// The response JSON for one event, within the invoke's deadline and
/// Lambda's response limit.
pub async fn answer(app: &App, event: ProxyEvent, remaining: Option<Duration>) -> String {
    let request_id = event
        .request_context
        .as_ref()
        .and_then(|c| c.request_id.clone())
        .unwrap_or_default();
    let budget = remaining.map(|r| r.saturating_sub(DEADLINE_MARGIN));
    let json = app.handle_event_within(event, budget).await.to_json();
    if json.len() as u64 <= LAMBDA_RESPONSE_CAP {
        return json;
    }
    // The object fitted the inline limit but its headers (stored metadata)
    // pushed the whole answer over what Lambda accepts.
    tracing::error!(
        bytes = json.len(),
        "response over Lambda's limit; answering 413"
    );
    let too_large = Error::TooLarge {
        size: json.len() as u64,
        limit: LAMBDA_RESPONSE_CAP,
    };
    render(Reply::Error(too_large), &app.config, &request_id).to_json()
}
