//! One request at the front door, in the order API Gateway takes it: the
//! request's size, its Host, the stage and resource, the method, the API
//! key and usage plan, the path's encoding, the body's size and arrival;
//! then the event to the function and its answer back to HTTP. Refusals
//! are API Gateway's own `{"message"}` answers.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::event::{build_event, from_prelude, to_http};
use super::usage::Admission;
use super::{INTEGRATION_TIMEOUT, MAX_REQUEST_BODY, MAX_REQUEST_HEAD, METHODS, Shared};
use crate::config::ResponseMode;
use crate::handler::Answer;
use crate::lambda::event::ProxyEvent;
use crate::request::decode_path;

/// What the gateway answers with: a body in memory, or one relayed as it
/// arrives (stream mode), whose failure cuts the connection.
pub type GatewayBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, crate::lambda::runtime::BoxError>;

fn full(resp: Response<Full<Bytes>>) -> Response<GatewayBody> {
    resp.map(|b| b.map_err(|never| match never {}).boxed_unsync())
}

impl Shared {
    /// One of API Gateway's own answers: `{"message"}` JSON, its error type
    /// and request id, and the CORS origin the template's gateway responses
    /// add (so a browser can read a 403 or a 429).
    fn refuse(
        &self,
        status: StatusCode,
        message: &str,
        error_type: &str,
        request_id: &str,
    ) -> Response<Full<Bytes>> {
        let body = json!({ "message": message }).to_string();
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_str(error_type).unwrap_or(HeaderValue::from_static("Error")),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", v);
        }
        if let Some(origin) = self
            .app
            .config
            .cors_origin
            .as_deref()
            .and_then(|o| HeaderValue::from_str(o).ok())
        {
            h.insert("access-control-allow-origin", origin);
        }
        resp
    }
}

/// The request line and header values, as API Gateway counts them against
/// its 10,240 bytes.
fn head_size(parts: &hyper::http::request::Parts) -> usize {
    let line = parts.method.as_str().len() + parts.uri.to_string().len() + 10;
    parts
        .headers
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

pub(super) async fn serve(
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<GatewayBody> {
    let request_id = crate::local::random::request_id();
    let refuse = |status, message: &str, error_type: &str| {
        full(shared.refuse(status, message, error_type, &request_id))
    };
    // What API Gateway's front end refuses before any routing.
    let uri_len = req.uri().to_string().len();
    if uri_len > MAX_REQUEST_HEAD {
        return refuse(
            StatusCode::URI_TOO_LONG,
            "Request-URI Too Long",
            "RequestUriTooLongException",
        );
    }
    let (parts, body) = req.into_parts();
    if head_size(&parts) > MAX_REQUEST_HEAD {
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
            "RequestHeaderFieldsTooLargeException",
        );
    }
    if !parts.headers.contains_key(hyper::header::HOST) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "BadRequestException",
        );
    }
    let raw_path = parts.uri.path().to_string();
    let stage = &shared.cfg.stage;
    // The API has two resources, `/` and `/{proxy+}` under the stage, each
    // with the methods of `ANY`. Anything else is API Gateway's "Missing
    // Authentication Token".
    let rest = if raw_path == format!("/{stage}") || raw_path == format!("/{stage}/") {
        None
    } else if let Some(rest) = raw_path.strip_prefix(&format!("/{stage}/")) {
        Some(rest.to_string())
    } else {
        return refuse(
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    };
    if !METHODS.contains(&parts.method.as_str()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    }
    // OPTIONS (the CORS preflight) needs no key, as in template.yaml;
    // every other method does, and counts against the usage plan.
    let key = if parts.method == hyper::Method::OPTIONS {
        None
    } else {
        let presented = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(key) = shared.find_key(presented) else {
            return refuse(StatusCode::FORBIDDEN, "Forbidden", "ForbiddenException");
        };
        match shared.admit(key) {
            Admission::Ok => {}
            Admission::Throttled => {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    "TooManyRequestsException",
                );
            }
            Admission::OverQuota => {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Limit Exceeded",
                    "LimitExceededException",
                );
            }
        }
        Some(key)
    };
    // decode_path drops one leading '/', so `/dev//a.png` keeps its
    // empty segment (and is refused) rather than becoming `a.png`.
    let proxy = match rest.as_deref().map(|r| decode_path(&format!("/{r}"))) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "BadRequestException",
            );
        }
    };
    // A declared body over the limit is refused before any of it is read.
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Too Long",
            "RequestTooLongException",
        );
    }
    let collected = tokio::time::timeout(
        shared.cfg.body_read_timeout,
        Limited::new(body, MAX_REQUEST_BODY).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Too Long",
                "RequestTooLongException",
            );
        }
        Err(_) => {
            let mut resp = refuse(
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
                "RequestTimeoutException",
            );
            resp.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
            return resp;
        }
    };
    // The stage cache answers before the function, after the key and the
    // usage plan (a hit counts against the plan, as in API Gateway).
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let cache_key = shared
        .cache
        .as_ref()
        .filter(|_| shared.app.config.response_mode == ResponseMode::Buffered)
        .and_then(|c| c.key(&parts.method, proxy.as_deref(), &query, &parts.headers));
    if let (Some(cache), Some(ck)) = (&shared.cache, &cache_key)
        && let Some(hit) = cache.get(ck)
        && let Ok(resp) = to_http(&hit, false)
    {
        let mut resp = full(resp);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        // An API-key caller's `max-age=0` is ignored, and said to be.
        let wants_fresh = parts
            .headers
            .get_all(hyper::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("max-age=0"))
            });
        if wants_fresh {
            resp.headers_mut().insert(
                hyper::header::WARNING,
                HeaderValue::from_static(super::cache::IGNORED_INVALIDATION),
            );
        }
        return resp;
    }
    let event = build_event(
        &parts,
        stage,
        rest.as_deref(),
        proxy.as_deref(),
        &body,
        key,
        &request_id,
        peer,
    );
    // The event crosses the same JSON boundary it crosses in Lambda.
    let event_json = event.to_string();
    let Ok(ev) = serde_json::from_str::<ProxyEvent>(&event_json) else {
        return refuse(
            StatusCode::BAD_GATEWAY,
            "Internal server error",
            "InternalServerErrorException",
        );
    };
    let head = parts.method == hyper::Method::HEAD;
    let answered = match shared.app.config.response_mode {
        ResponseMode::Buffered => {
            let handled = tokio::time::timeout(INTEGRATION_TIMEOUT, shared.app.handle_event(ev));
            handled.await.map(|resp| {
                let json = resp.to_json();
                if let (Some(cache), Some(ck)) = (&shared.cache, cache_key) {
                    cache.put(ck, &json, resp.body_bytes().len());
                }
                to_http(&json, head).ok().map(full)
            })
        }
        // The time to the prelude is bounded as a buffered answer is; the
        // body then comes as it arrives, each chunk within the S3 timeout.
        ResponseMode::Stream => {
            tokio::time::timeout(INTEGRATION_TIMEOUT, shared.app.answer(ev, None))
                .await
                .map(|answer| relay(answer, head, &request_id))
        }
    };
    match answered {
        Ok(Some(mut resp)) => {
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert("x-amzn-requestid", v);
            }
            resp
        }
        Ok(None) => refuse(
            StatusCode::BAD_GATEWAY,
            "Internal server error",
            "InternalServerErrorException",
        ),
        Err(_) => refuse(
            StatusCode::GATEWAY_TIMEOUT,
            "Endpoint request timed out",
            "IntegrationTimeout",
        ),
    }
}

/// A streamed answer as API Gateway's STREAM integration relays it: the
/// prelude read as JSON for the status and headers, then the body bytes as
/// they come. A body that fails mid-stream ends the response without its
/// last chunk, so the client sees a transfer cut short (logged with the
/// request's id).
fn relay(mut answer: Answer, head: bool, request_id: &str) -> Option<Response<GatewayBody>> {
    let resp = from_prelude(&answer.take_prelude()).ok()?;
    let request_id = request_id.to_string();
    let body: GatewayBody = match answer.stream {
        Some(opened) if !head => {
            let chunks = futures_util::stream::unfold(opened.into_chunks(), move |mut c| {
                let request_id = request_id.clone();
                async move {
                    c.next().await.map(|r| {
                    let frame = r.map(hyper::body::Frame::data).map_err(|e| {
                        tracing::warn!(request_id, error = ?e, "the body failed mid-stream; cutting the connection");
                        crate::lambda::runtime::BoxError::from(format!("{e:?}"))
                    });
                    (frame, c)
                })
                }
            });
            http_body_util::StreamBody::new(chunks).boxed_unsync()
        }
        _ => {
            let bytes = if head {
                Bytes::new()
            } else {
                Bytes::copy_from_slice(answer.response.body_bytes())
            };
            Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync()
        }
    };
    Some(resp.map(|()| body))
}
