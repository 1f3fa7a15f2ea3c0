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

pub mod cache;
mod event;
mod front;
mod usage;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use event::to_http;
use usage::{Key, Usage};
pub use usage::{QuotaPeriod, constant_time_eq};

use crate::handler::App;

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

/// The front door's settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub stage: String,
    /// Accepted `x-api-key` values.
    pub api_keys: Vec<String>,
    /// Accepted too; their ids are the function's admin key ids.
    pub admin_keys: Vec<String>,
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
    /// The emulated stage cache: its TTL and capacity in bytes (`None`:
    /// no cache, API Gateway's default).
    pub cache: Option<(Duration, usize)>,
}

impl GatewayConfig {
    /// Every key with the id the gateway gives it, as API Gateway gives
    /// each key an id: `local00001`, … in order, the admin keys last.
    pub fn keys_with_ids(&self) -> impl Iterator<Item = (String, &String)> {
        self.api_keys
            .iter()
            .chain(&self.admin_keys)
            .enumerate()
            .map(|(i, value)| (format!("local{:05}", i + 1), value))
    }

    /// The ids of the admin keys (what `admin-key-ids` must hold).
    pub fn admin_key_ids(&self) -> Vec<String> {
        self.keys_with_ids()
            .skip(self.api_keys.len())
            .map(|(id, _)| id)
            .collect()
    }

    pub fn dev(api_keys: Vec<String>) -> GatewayConfig {
        GatewayConfig {
            stage: "dev".to_string(),
            api_keys,
            admin_keys: Vec::new(),
            rate_limit: DEV_RATE_LIMIT,
            burst_limit: DEV_BURST_LIMIT,
            quota_limit: DEV_QUOTA_LIMIT,
            quota_period: DEV_QUOTA_PERIOD,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            cache: None,
        }
    }
}

struct Shared {
    app: App,
    cfg: GatewayConfig,
    cache: Option<cache::StageCache>,
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

/// A running gateway; dropping it (or [`Gateway::shutdown`]) stops it.
pub struct Gateway {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Gateway {
    /// Binds `addr` and serves until stopped.
    pub async fn start(app: App, cfg: GatewayConfig, addr: SocketAddr) -> std::io::Result<Gateway> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let now = Instant::now();
        let window = cfg.quota_period.window(SystemTime::now());
        let keys = cfg
            .keys_with_ids()
            .map(|(id, value)| Key {
                id,
                value: value.clone(),
                usage: Mutex::new(Usage {
                    tokens: f64::from(cfg.burst_limit),
                    refilled: now,
                    window,
                    used: 0,
                }),
            })
            .collect();
        let stage_cache = cfg
            .cache
            .map(|(ttl, bytes)| cache::StageCache::new(ttl, bytes, app.config.transforms));
        let shared = Arc::new(Shared {
            cache: stage_cache,
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
        let kept = shared.clone();
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
                                let resp = front::serve(&shared, req, peer).await;
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
        Ok(Gateway {
            addr,
            stop,
            done,
            shared: kept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The emulated stage cache's hits and misses (`None`: no cache).
    pub fn cache_stats(&self) -> Option<cache::CacheStats> {
        self.shared.cache.as_ref().map(cache::StageCache::stats)
    }

    /// Stops accepting, lets requests in flight finish (up to 5 s), returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}
