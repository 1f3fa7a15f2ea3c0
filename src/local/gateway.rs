//! The local API Gateway: what API Gateway does in front of the function,
//! on 127.0.0.1. It checks the API key (403 `{"message":"Forbidden"}`), the
//! usage plan's throttle (a token bucket, 429 `{"message":"Too Many
//! Requests"}`) and quota (429 `{"message":"Limit Exceeded"}`), turns the
//! HTTP request into the REST proxy event API Gateway sends (`/{proxy+}`,
//! `pathParameters.proxy` decoded, every body base64 because
//! `BinaryMediaTypes` is `*/*`), runs the handler on the event's JSON, and
//! turns the Lambda response JSON back into HTTP as API Gateway does
//! (`multiValueHeaders`, base64 decoded). Both JSON documents go through
//! serde exactly as they do in Lambda: no shortcut around serialization.
//!
//! Like API Gateway's front end it also bounds its clients: a request line
//! and headers of at most 10,240 bytes (414/431 JSON), a declared body of
//! at most 10 MB (413 at once), headers within 10 s and a body within 30 s
//! (the connection is closed; 408 for a stalled body), and at most
//! `max_connections` connections, the longest idle one closed to make room.
//! Its own answers carry the CORS origin, as the template's gateway
//! responses do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::handler::App;
use crate::request::{ProxyEvent, decode_path};

/// The dev stack's usage plan (`template.yaml` defaults, `samconfig.toml`
/// dev overrides); a test fails if they drift apart.
pub const DEV_RATE_LIMIT: f64 = 10.0;
pub const DEV_BURST_LIMIT: u32 = 20;
pub const DEV_QUOTA_LIMIT: u64 = 10_000;
pub const DEV_QUOTA_PERIOD: QuotaPeriod = QuotaPeriod::Day;
/// API Gateway's integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// API Gateway's payload limit for a request.
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;
/// API Gateway's limit on the request line and header values together.
pub const MAX_REQUEST_HEAD: usize = 10_240;
/// Connections served at once by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// The methods API Gateway's `ANY` covers; anything else (a lower-case
/// `get`, `PROPFIND`) matches no method of the API.
const METHODS: &[&str] = &["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    pub fn parse(s: &str) -> Option<QuotaPeriod> {
        match s.to_ascii_uppercase().as_str() {
            "DAY" => Some(QuotaPeriod::Day),
            "WEEK" => Some(QuotaPeriod::Week),
            "MONTH" => Some(QuotaPeriod::Month),
            _ => None,
        }
    }

    /// The name the template and the flag use.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaPeriod::Day => "DAY",
            QuotaPeriod::Week => "WEEK",
            QuotaPeriod::Month => "MONTH",
        }
    }

    /// Which period a moment falls in (UTC, as API Gateway counts): days
    /// since the epoch, weeks starting Monday, or calendar months.
    fn window(self, t: SystemTime) -> u64 {
        let days = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        match self {
            QuotaPeriod::Day => days,
            // 1970-01-01 was a Thursday; shift so weeks start on Monday.
            QuotaPeriod::Week => (days + 3) / 7,
            QuotaPeriod::Month => {
                let (y, m) = civil_year_month(days as i64);
                (y * 12 + m) as u64
            }
        }
    }
}

/// Year and month (1-12) of a day count since 1970-01-01 (Howard Hinnant's
/// civil-from-days).
fn civil_year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// The front door's settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub stage: String,
    /// Accepted `x-api-key` values.
    pub api_keys: Vec<String>,
    pub rate_limit: f64,
    pub burst_limit: u32,
    pub quota_limit: u64,
    pub quota_period: QuotaPeriod,
    /// A connection that has not sent a whole request head by then is
    /// closed (also between requests on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// A request body that has not arrived whole by then: 408, closed.
    pub body_read_timeout: Duration,
    /// Connections open at once; past it the longest idle one is closed.
    pub max_connections: usize,
}

impl GatewayConfig {
    pub fn dev(api_keys: Vec<String>) -> GatewayConfig {
        GatewayConfig {
            stage: "dev".to_string(),
            api_keys,
            rate_limit: DEV_RATE_LIMIT,
            burst_limit: DEV_BURST_LIMIT,
            quota_limit: DEV_QUOTA_LIMIT,
            quota_period: DEV_QUOTA_PERIOD,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// One key's usage: a token bucket and a quota counter.
#[derive(Debug)]
struct Usage {
    tokens: f64,
    refilled: Instant,
    window: u64,
    used: u64,
}

#[derive(Debug)]
struct Key {
    id: String,
    value: String,
    usage: Mutex<Usage>,
}

enum Admission {
    Ok,
    Throttled,
    OverQuota,
}

struct Shared {
    app: App,
    cfg: GatewayConfig,
    keys: Vec<Key>,
    conns: Registry,
}

/// The open connections, oldest first, and whether each is serving a
/// request: what to close when the limit is reached.
#[derive(Default)]
struct Registry {
    open: Mutex<std::collections::BTreeMap<u64, Arc<ConnState>>>,
}

#[derive(Default)]
struct ConnState {
    /// Requests being served on it (0: waiting for a request head).
    busy: std::sync::atomic::AtomicUsize,
    close: tokio::sync::Notify,
}

impl Registry {
    /// Asks the longest-open connection that is not serving a request to
    /// close. An idle or slow client never locks out a working one.
    fn close_oldest_idle(&self) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        let idle = open
            .iter()
            .find(|(_, c)| c.busy.load(std::sync::atomic::Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        if let Some(conn) = idle.and_then(|id| open.remove(&id)) {
            conn.close.notify_one();
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }
}

/// Marks a connection busy while a request is served.
struct Busy(Arc<ConnState>);

impl Busy {
    fn new(conn: &Arc<ConnState>) -> Busy {
        conn.busy.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Busy(conn.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0
            .busy
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Shared {
    /// The key whose value matches, compared in constant time (every key is
    /// compared, whatever matched first).
    fn find_key(&self, presented: &str) -> Option<&Key> {
        let mut found = None;
        for key in &self.keys {
            if constant_time_eq(key.value.as_bytes(), presented.as_bytes()) {
                found = Some(key);
            }
        }
        found
    }

    fn admit(&self, key: &Key) -> Admission {
        let Ok(mut u) = key.usage.lock() else {
            return Admission::Ok;
        };
        let now = Instant::now();
        let window = self.cfg.quota_period.window(SystemTime::now());
        if window != u.window {
            u.window = window;
            u.used = 0;
        }
        let burst = f64::from(self.cfg.burst_limit);
        u.tokens = (u.tokens + now.duration_since(u.refilled).as_secs_f64() * self.cfg.rate_limit)
            .min(burst);
        u.refilled = now;
        if u.tokens < 1.0 {
            return Admission::Throttled;
        }
        if u.used >= self.cfg.quota_limit {
            return Admission::OverQuota;
        }
        u.tokens -= 1.0;
        u.used += 1;
        Admission::Ok
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A running gateway; dropping it (or [`Gateway::shutdown`]) stops it.
pub struct Gateway {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Binds `addr` and serves until stopped.
    pub async fn start(app: App, cfg: GatewayConfig, addr: SocketAddr) -> std::io::Result<Gateway> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let now = Instant::now();
        let window = cfg.quota_period.window(SystemTime::now());
        let keys = cfg
            .api_keys
            .iter()
            .enumerate()
            .map(|(i, value)| Key {
                id: format!("local{:05}", i + 1),
                value: value.clone(),
                usage: Mutex::new(Usage {
                    tokens: f64::from(cfg.burst_limit),
                    refilled: now,
                    window,
                    used: 0,
                }),
            })
            .collect();
        let shared = Arc::new(Shared {
            app,
            cfg,
            keys,
            conns: Registry::default(),
        });
        let (stop, mut stopped) = watch::channel(false);
        let slots = Arc::new(tokio::sync::Semaphore::new(
            shared.cfg.max_connections.max(1),
        ));
        let mut http = hyper::server::conn::http1::Builder::new();
        // hyper's header timeout only runs with a timer.
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(shared.cfg.header_read_timeout);
        let done = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            let mut next_id = 0u64;
            loop {
                // A slot first: at the limit, the longest idle connection
                // is closed to make room.
                let slot = match slots.clone().try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => {
                        shared.conns.close_oldest_idle();
                        tokio::select! {
                            slot = slots.clone().acquire_owned() => match slot {
                                Ok(slot) => slot,
                                Err(_) => break,
                            },
                            _ = stopped.changed() => break,
                        }
                    }
                };
                let (socket, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(conn) => conn,
                        // Out of file descriptors or similar: back off
                        // rather than spin.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = stopped.changed() => break,
                };
                let _ = socket.set_nodelay(true);
                next_id += 1;
                let id = next_id;
                let state = Arc::new(ConnState::default());
                if let Ok(mut open) = shared.conns.open.lock() {
                    open.insert(id, state.clone());
                }
                let shared = shared.clone();
                let http = http.clone();
                let mut stopped = stopped.clone();
                conns.spawn(async move {
                    let _slot = slot;
                    let service = {
                        let (shared, state) = (shared.clone(), state.clone());
                        hyper::service::service_fn(move |req| {
                            let (shared, busy) = (shared.clone(), Busy::new(&state));
                            async move {
                                let resp = serve(&shared, req, peer).await;
                                drop(busy);
                                Ok::<_, Infallible>(resp)
                            }
                        })
                    };
                    let conn = http.serve_connection(TokioIo::new(socket), service);
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopped.changed() => {
                            // Finish the request in flight, then close.
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                        }
                        _ = state.close.notified() => {
                            // Closed to make room: an idle connection goes
                            // at once, a half-sent head within a second.
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                        }
                    }
                    shared.conns.remove(id);
                });
                while conns.try_join_next().is_some() {}
            }
            while conns.join_next().await.is_some() {}
        });
        Ok(Gateway { addr, stop, done })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish (up to 5 s), returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
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

async fn serve(shared: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let request_id = super::random::request_id();
    let refuse = |status, message: &str, error_type: &str| {
        shared.refuse(status, message, error_type, &request_id)
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
    let response_json = match serde_json::from_str::<ProxyEvent>(&event_json) {
        Ok(ev) => {
            match tokio::time::timeout(INTEGRATION_TIMEOUT, shared.app.handle_event(ev)).await {
                Ok(resp) => Some(resp.to_json()),
                Err(_) => {
                    return refuse(
                        StatusCode::GATEWAY_TIMEOUT,
                        "Endpoint request timed out",
                        "IntegrationTimeout",
                    );
                }
            }
        }
        Err(_) => None,
    };
    match response_json.and_then(|j| to_http(&j, parts.method == hyper::Method::HEAD).ok()) {
        Some(mut resp) => {
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert("x-amzn-requestid", v);
            }
            resp
        }
        None => refuse(
            StatusCode::BAD_GATEWAY,
            "Internal server error",
            "InternalServerErrorException",
        ),
    }
}

/// The REST proxy event API Gateway would send for this request.
#[allow(clippy::too_many_arguments)]
fn build_event(
    parts: &hyper::http::request::Parts,
    stage: &str,
    raw_rest: Option<&str>,
    proxy: Option<&str>,
    body: &Bytes,
    key: Option<&Key>,
    request_id: &str,
    peer: SocketAddr,
) -> Value {
    let mut headers = serde_json::Map::new();
    let mut multi: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert(name.as_str().to_string(), Value::from(value.clone()));
        match multi.get_mut(name.as_str()).and_then(Value::as_array_mut) {
            Some(list) => list.push(Value::from(value)),
            None => {
                multi.insert(name.as_str().to_string(), json!([value]));
            }
        }
    }
    let mut query = serde_json::Map::new();
    let mut multi_query: serde_json::Map<String, Value> = serde_json::Map::new();
    for pair in parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode_query(k);
        let v = decode_query(v);
        query.insert(k.clone(), Value::from(v.clone()));
        match multi_query.get_mut(&k).and_then(Value::as_array_mut) {
            Some(list) => list.push(Value::from(v)),
            None => {
                multi_query.insert(k, json!([v]));
            }
        }
    }
    let nullable = |m: serde_json::Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let method = parts.method.as_str();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let user_agent = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok());
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let (resource, path, path_parameters) = match (raw_rest, proxy) {
        (Some(raw), Some(proxy)) => ("/{proxy+}", format!("/{raw}"), json!({ "proxy": proxy })),
        _ => ("/", "/".to_string(), Value::Null),
    };
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": nullable(headers),
        "multiValueHeaders": nullable(multi),
        "queryStringParameters": nullable(query),
        "multiValueQueryStringParameters": nullable(multi_query),
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "local",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": now.as_millis() as u64,
            "identity": {
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
                "apiKey": key.map(|k| k.value.as_str()),
                "apiKeyId": key.map(|k| k.id.as_str()),
            },
            "path": format!("/{stage}{path}"),
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "domainName": host,
        },
        // BinaryMediaTypes */*: every request body reaches the function as base64.
        "body": if body.is_empty() { Value::Null } else { Value::from(base64::engine::general_purpose::STANDARD.encode(body)) },
        "isBase64Encoded": !body.is_empty(),
    })
}

fn decode_query(s: &str) -> String {
    let plus = s.replace('+', " ");
    decode_path(&plus).unwrap_or(plus)
}

/// The Lambda response JSON as API Gateway turns it into HTTP: status,
/// `headers` merged with `multiValueHeaders` (the latter winning), and the
/// body base64-decoded when `isBase64Encoded` (binary media types `*/*`).
pub fn to_http(json: &str, head: bool) -> Result<Response<Full<Bytes>>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let status = v["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("no valid statusCode")?;
    let body = match (
        v.get("body").and_then(Value::as_str),
        v["isBase64Encoded"].as_bool().unwrap_or(false),
    ) {
        (None, _) => Bytes::new(),
        (Some(b), true) => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("invalid base64 body: {e}"))?,
        ),
        (Some(b), false) => Bytes::from(b.to_string()),
    };
    let mut merged: Vec<(String, Vec<String>)> = Vec::new();
    let mut put = |name: &str, values: Vec<String>| match merged
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(entry) => entry.1 = values,
        None => merged.push((name.to_string(), values)),
    };
    if let Some(h) = v["headers"].as_object() {
        for (k, val) in h {
            if let Some(s) = val.as_str() {
                put(k, vec![s.to_string()]);
            }
        }
    }
    if let Some(h) = v["multiValueHeaders"].as_object() {
        for (k, vals) in h {
            if let Some(list) = vals.as_array() {
                put(
                    k,
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                );
            }
        }
    }
    let body_len = body.len();
    let mut resp = Response::new(Full::new(if head { Bytes::new() } else { body }));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    for (name, values) in merged {
        // The transport sets Content-Length from the body (HEAD keeps the
        // function's, which is the object's size).
        if name.eq_ignore_ascii_case("content-length") && !head {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for value in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name.clone(), value);
            }
        }
    }
    if !head {
        headers.insert("content-length", HeaderValue::from(body_len));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_windows() {
        let day = |d: u64| UNIX_EPOCH + Duration::from_secs(d * 86_400 + 3600);
        assert_eq!(QuotaPeriod::Day.window(day(10)), 10);
        // 1970-01-05 was a Monday: a new week starts there.
        assert_eq!(
            QuotaPeriod::Week.window(day(3)),
            QuotaPeriod::Week.window(day(0))
        );
        assert_ne!(
            QuotaPeriod::Week.window(day(4)),
            QuotaPeriod::Week.window(day(3))
        );
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(31), (1970, 2));
        assert_eq!(civil_year_month(20_779), (2026, 11)); // 2026-11-22
        assert_ne!(
            QuotaPeriod::Month.window(day(30)),
            QuotaPeriod::Month.window(day(31))
        );
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn lambda_json_back_to_http() {
        let r = to_http(
            r#"{"statusCode":200,"headers":{"Content-Type":"image/png","Vary":"x"},
                "multiValueHeaders":{"Vary":["Accept","Origin"]},"body":"AAEC","isBase64Encoded":true}"#,
            false,
        )
        .expect("valid");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        let vary: Vec<_> = r.headers().get_all("vary").iter().collect();
        assert_eq!(vary, ["Accept", "Origin"]);
        assert_eq!(r.headers()["content-length"], "3");
        assert!(
            to_http(
                r#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
                false
            )
            .is_err()
        );
        assert!(to_http(r#"{"body":""}"#, false).is_err());
    }
}
