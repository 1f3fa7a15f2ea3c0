//! A minimal Lambda Runtime API (the `2018-06-01` HTTP interface a function
//! polls) on a loopback port, one per cold start so that a killed process's
//! leftover connections can never take the next process's events.
//!
//! `GET …/invocation/next` parks until the driver hands it an event; `POST
//! …/invocation/{id}/response` and `…/error` are read frame by frame, so the
//! arrival of the first body byte, of the first payload byte after a streamed
//! response's prelude, and of the end of the body are all timed here, where
//! Lambda's own front end would see them. Both response modes are accepted:
//! buffered (one JSON document, capped at Lambda's 6 MB like Lambda does: a
//! 413 to the function) and streamed (`Lambda-Runtime-Function-Response-Mode:
//! streaming`, chunked: JSON prelude, 8 NUL bytes, raw payload, and HTTP
//! trailers for a mid-stream error).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Lambda's cap on a buffered (synchronous) response payload.
pub const BUFFERED_CAP: usize = 6_291_556;
/// The delimiter between a streamed response's JSON prelude and its payload.
pub const DELIMITER: [u8; 8] = [0; 8];
const PREFIX: &str = "/2018-06-01/runtime/";

/// A function parked on `GET /next`.
pub struct Waiter {
    /// When its `GET /next` arrived.
    pub arrived: Instant,
    event: oneshot::Sender<Event>,
}

struct Event {
    request_id: String,
    function_name: String,
    body: Bytes,
}

/// What the function sent for one invocation, with its timings.
#[derive(Debug)]
pub struct Answer {
    /// `…/error` rather than `…/response`.
    pub is_error: bool,
    pub streamed: bool,
    pub content_type: Option<String>,
    /// The first byte of the request body (any mode).
    pub first_byte: Option<Instant>,
    /// Streamed: the first payload byte after the prelude's 8 NUL bytes.
    pub payload_first_byte: Option<Instant>,
    /// The end of the body (trailers included).
    pub end: Instant,
    pub body: Vec<u8>,
    /// Streamed: where the payload starts in `body`, once the delimiter came.
    pub payload_start: Option<usize>,
    /// `Lambda-Runtime-Function-Error-Type` / `-Body` trailers.
    pub error_trailer: Option<(String, String)>,
    /// The body broke off (connection closed, bad chunking).
    pub body_error: Option<String>,
    /// Buffered body over Lambda's 6 MB; the function got a 413.
    pub over_cap: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<String>>,
}

/// A running Runtime API. Dropping it closes the listener and every
/// connection.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    waiters: mpsc::UnboundedReceiver<Waiter>,
    _stop: watch::Sender<bool>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (waiters_tx, waiters) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let conn_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let mut stop_accept = stopped.clone();
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                    _ = stop_accept.changed() => return,
                };
                let _ = socket.set_nodelay(true);
                let (shared, waiters_tx) = (conn_shared.clone(), waiters_tx.clone());
                let mut stop_conn = stopped.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        route(shared.clone(), waiters_tx.clone(), req)
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = stop_conn.changed() => {}
                    }
                });
            }
        });
        Ok(RuntimeApi {
            addr,
            shared,
            waiters,
            _stop: stop,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The next function parked on `GET /next` (cancel-safe).
    pub async fn next_waiter(&mut self) -> Option<Waiter> {
        self.waiters.recv().await
    }

    /// Hands `event` to a parked function; returns when it was handed out and
    /// where the answer will arrive. `None`: that connection is gone.
    pub fn hand_out(
        &self,
        waiter: Waiter,
        request_id: &str,
        function_name: &str,
        event: Bytes,
    ) -> Option<(Instant, oneshot::Receiver<Answer>)> {
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(request_id.to_string(), tx);
        let handed = Instant::now();
        let sent = waiter.event.send(Event {
            request_id: request_id.to_string(),
            function_name: function_name.to_string(),
            body: event,
        });
        if sent.is_err() {
            lock(&self.shared.pending).remove(request_id);
            return None;
        }
        Some((handed, rx))
    }

    /// What the function posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        lock(&self.shared.init_error).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp
}

async fn route(
    shared: Arc<Shared>,
    waiters: mpsc::UnboundedSender<Waiter>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(reply(StatusCode::NOT_FOUND, "{}"));
    };
    let post = req.method() == Method::POST;
    Ok(match rest {
        "invocation/next" if req.method() == Method::GET => next(waiters).await,
        "init/error" if post => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let text = body.map_or_else(|e| e.to_string(), |b| lossy(&b));
            *lock(&shared.init_error) = Some(text);
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        _ if post => match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, kind @ ("response" | "error"))) => {
                let id = id.to_string();
                answer(&shared, &id, kind == "error", req).await
            }
            _ => reply(StatusCode::NOT_FOUND, "{}"),
        },
        _ => reply(StatusCode::NOT_FOUND, "{}"),
    })
}

/// Parks until the driver hands out an event, then sends it with the
/// headers Lambda sends.
async fn next(waiters: mpsc::UnboundedSender<Waiter>) -> Response<Full<Bytes>> {
    let (tx, rx) = oneshot::channel();
    let waiter = Waiter {
        arrived: Instant::now(),
        event: tx,
    };
    if waiters.send(waiter).is_err() {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "{}");
    }
    let Ok(event) = rx.await else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "{}");
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        event.function_name
    );
    let mut resp = Response::new(Full::new(event.body));
    let h = resp.headers_mut();
    let pairs = [
        ("content-type", "application/json".to_string()),
        ("lambda-runtime-aws-request-id", event.request_id.clone()),
        // 25 s: the template's function timeout.
        ("lambda-runtime-deadline-ms", (now_ms + 25_000).to_string()),
        ("lambda-runtime-invocation-id", event.request_id.clone()),
        ("lambda-runtime-invoked-function-arn", arn),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = value.parse() {
            h.insert(name, value);
        }
    }
    resp
}

/// Reads a `/response` or `/error` body frame by frame, timing it.
async fn answer(
    shared: &Shared,
    id: &str,
    is_error: bool,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(tx) = lock(&shared.pending).remove(id) else {
        return reply(
            StatusCode::BAD_REQUEST,
            r#"{"errorType":"InvalidRequestID","errorMessage":"unknown or answered request id"}"#,
        );
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let streamed = !is_error
        && header("lambda-runtime-function-response-mode").as_deref() == Some("streaming");
    let content_type = header("content-type");
    let mut body = req.into_body();
    let mut buf = Vec::new();
    let mut scan = StreamScan::default();
    let (mut first_byte, mut trailers, mut body_error) = (None, None, None);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        };
        let now = Instant::now();
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => {
                first_byte.get_or_insert(now);
                buf.extend_from_slice(&data);
                if streamed {
                    scan.feed(&buf, now);
                }
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    let get = |n: &str| t.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
                    if let Some(kind) = get("lambda-runtime-function-error-type") {
                        let body = get("lambda-runtime-function-error-body").unwrap_or_default();
                        trailers = Some((kind, body));
                    }
                }
            }
        }
    }
    let over_cap = !streamed && buf.len() > BUFFERED_CAP;
    let answer = Answer {
        is_error,
        streamed,
        content_type,
        first_byte,
        payload_first_byte: scan.payload_first_byte,
        end: Instant::now(),
        body: buf,
        payload_start: scan.payload_start,
        error_trailer: trailers,
        body_error,
        over_cap,
    };
    let _ = tx.send(answer);
    if over_cap {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"errorType":"RequestEntityTooLarge","errorMessage":"response over 6291556 bytes"}"#,
        );
    }
    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

/// Finds the end of a streamed response's prelude as the body grows.
#[derive(Default)]
pub struct StreamScan {
    scanned: usize,
    pub payload_start: Option<usize>,
    pub payload_first_byte: Option<Instant>,
}

impl StreamScan {
    /// `buf` is everything received so far; `now` when its last part came.
    pub fn feed(&mut self, buf: &[u8], now: Instant) {
        if self.payload_start.is_none() {
            // The prelude is JSON, which has no NUL byte: the first run of 8
            // NULs is the delimiter. Rescan 7 bytes in case it was split.
            let from = self.scanned.saturating_sub(DELIMITER.len() - 1);
            self.payload_start = buf[from..]
                .windows(DELIMITER.len())
                .position(|w| w == DELIMITER)
                .map(|p| from + p + DELIMITER.len());
            self.scanned = buf.len();
        }
        if let Some(start) = self.payload_start
            && self.payload_first_byte.is_none()
            && buf.len() > start
        {
            self.payload_first_byte = Some(now);
        }
    }
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_split_across_frames() {
        let now = Instant::now();
        let mut scan = StreamScan::default();
        let mut buf = br#"{"statusCode":200}"#.to_vec();
        buf.extend_from_slice(&[0; 5]);
        scan.feed(&buf, now);
        assert_eq!(scan.payload_start, None, "5 NULs are no delimiter");
        buf.extend_from_slice(&[0; 3]);
        scan.feed(&buf, now);
        assert_eq!(scan.payload_start, Some(26));
        assert_eq!(scan.payload_first_byte, None, "no payload byte yet");
        buf.push(0xFF);
        scan.feed(&buf, now);
        assert_eq!(scan.payload_first_byte, Some(now));
    }
}
