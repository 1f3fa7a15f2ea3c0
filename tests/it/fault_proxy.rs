//! Faults between the handler's S3 client and the real in-process store.
//!
//! A small proxy sits on the client's endpoint and forwards each request's
//! bytes unchanged to the store. SigV4 signs the `Host` header, which names
//! the proxy on both legs, so the store checks signatures as usual. The
//! proxy asks both sides for `Connection: close`, so every SDK attempt is a
//! connection of its own and a fault can hit every attempt or only the
//! first. Faults: the port closed, a reset or a close before or inside the
//! response head, a reset inside the body, a body cut short, a stalled
//! answer, a trickling body, a body with no or a wrong `Content-Length`, and
//! S3 error answers (500 `InternalError`, 503 `SlowDown`) the proxy writes
//! itself.
//!
//! Each ends as a JSON 502/503/504 within the S3 timeout plus the handler's
//! 1.5 s, never as a 200 with the wrong bytes; a fault before the response
//! head is complete, on the first attempt only, is retried by the SDK into a
//! 200; and once the proxy passes through again the same `App` serves exact
//! bytes.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s3gate::App;
use s3gate::storage::S3Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{Fixture, Wire, config, event, sample};

/// The `s3-timeout` setting every test here uses.
const S3_TIMEOUT: &str = "1";
const TIMEOUT: Duration = Duration::from_secs(1);
/// The longest any faulty request may take: the S3 timeout, the handler's
/// 1.5 s on top, and slack for a shared two-core machine.
const BOUND: Duration = Duration::from_millis(3000);

const JPEG: &str = "partnerimages/67/28/67286576.jpeg";
/// Large enough that mid-body faults land well inside the body.
const BIG: &str = "fault-proxy/big.jpeg";
const BIG_LEN: usize = 256 * 1024;
const SPAN: (usize, usize) = (1000, 200_999);
const RANGE: &str = "bytes=1000-200999";

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Fault {
    #[default]
    PassThrough,
    /// Reads the request, then resets the connection (TCP RST) unanswered.
    ResetBeforeAnswer,
    /// Forwards this many bytes of the response head, then closes cleanly.
    CutHead(usize),
    /// Forwards the response head and this many body bytes, then resets.
    ResetMidBody(usize),
    /// Forwards the head (its `Content-Length` unchanged) and this many body
    /// bytes, then closes cleanly.
    Truncate(usize),
    /// Holds the store's whole answer this long before sending any of it.
    SlowFirstByte(Duration),
    /// Sends the head at once, then `chunk` body bytes per `every`.
    SlowBody { chunk: usize, every: Duration },
    /// Drops the head's `Content-Length` and sends this many body bytes,
    /// the end marked by the close alone.
    NoLength(usize),
    /// Says `Content-Length` is this many and sends as many, a consistent
    /// HTTP message (the `Content-Range` unchanged).
    WrongLength(usize),
    /// Answers itself, without the store: this status and an S3 XML error
    /// with this code.
    Answer(u16, &'static str),
}

#[derive(Debug, Default)]
struct Plan {
    fault: Fault,
    /// Connections still to get `fault`; `usize::MAX` is every one.
    left: usize,
    /// Connections accepted since the plan was set.
    connections: usize,
}

impl Plan {
    fn next(&mut self) -> Fault {
        self.connections += 1;
        match self.left {
            0 => Fault::PassThrough,
            usize::MAX => self.fault,
            _ => {
                self.left -= 1;
                self.fault
            }
        }
    }
}

/// A proxy on a loopback port in front of `upstream`.
pub(crate) struct FaultProxy {
    pub(crate) addr: SocketAddr,
    upstream: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    accepting: Option<JoinHandle<()>>,
}

impl FaultProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("proxy binds");
        let mut proxy = FaultProxy {
            addr: listener.local_addr().expect("proxy address"),
            upstream,
            plan: Arc::default(),
            accepting: None,
        };
        proxy.accepting = Some(proxy.accept(listener));
        proxy
    }

    fn accept(&self, listener: TcpListener) -> JoinHandle<()> {
        let plan = Arc::clone(&self.plan);
        let upstream = self.upstream;
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let fault = plan.lock().expect("plan").next();
                tokio::spawn(async move {
                    // The client gives up on purpose in most cases; its
                    // side of the story is what the tests check.
                    let _ = serve(socket, upstream, fault).await;
                });
            }
        })
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `times` connections get `fault` (`usize::MAX`: all of
    /// them); later ones pass through. Resets the connection count.
    pub(crate) fn plan(&self, fault: Fault, times: usize) {
        *self.plan.lock().expect("plan") = Plan {
            fault,
            left: times,
            connections: 0,
        };
    }

    pub(crate) fn fail_every(&self, fault: Fault) {
        self.plan(fault, usize::MAX);
    }

    pub(crate) fn fail_first(&self, fault: Fault) {
        self.plan(fault, 1);
    }

    pub(crate) fn pass(&self) {
        self.plan(Fault::PassThrough, 0);
    }

    pub(crate) fn connections(&self) -> usize {
        self.plan.lock().expect("plan").connections
    }

    /// Stops listening: connecting to the port is refused.
    async fn close(&mut self) {
        if let Some(task) = self.accepting.take() {
            task.abort();
            // Awaiting the aborted task drops the listener before we go on.
            let _ = task.await;
        }
    }

    /// Listens on the same port again.
    async fn reopen(&mut self) {
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.accepting = Some(self.accept(listener));
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("could not bind {} again", self.addr);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = &self.accepting {
            task.abort();
        }
    }
}

/// One request on one connection, with `fault` applied.
async fn serve(mut client: TcpStream, upstream: SocketAddr, fault: Fault) -> io::Result<()> {
    client.set_nodelay(true)?;
    let (head, mut body) = read_head(&mut client).await?;
    let wanted = content_length(&head).unwrap_or(0);
    while body.len() < wanted {
        let mut buf = [0u8; 16 * 1024];
        match client.read(&mut buf).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => body.extend_from_slice(&buf[..n]),
        }
    }
    match fault {
        Fault::ResetBeforeAnswer => {
            client.set_zero_linger()?;
            return Ok(());
        }
        Fault::Answer(status, code) => {
            return answer(client, status, code, head.starts_with(b"HEAD ")).await;
        }
        _ => {}
    }

    let mut store = TcpStream::connect(upstream).await?;
    store.set_nodelay(true)?;
    store.write_all(&connection_close(&head)).await?;
    store.write_all(&body).await?;
    let (head, mut answer) = read_head(&mut store).await?;
    // The store closes after its answer: the rest of the stream is the body.
    store.read_to_end(&mut answer).await?;
    let head = connection_close(&head);

    match fault {
        Fault::CutHead(n) => {
            client.write_all(&head[..n.min(head.len())]).await?;
            client.shutdown().await
        }
        Fault::ResetMidBody(n) => {
            client.write_all(&head).await?;
            client.write_all(&answer[..n.min(answer.len())]).await?;
            client.flush().await?;
            // Let the client read what it got before the reset hits it.
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.set_zero_linger()?;
            Ok(())
        }
        Fault::Truncate(n) => {
            client.write_all(&head).await?;
            client.write_all(&answer[..n.min(answer.len())]).await?;
            client.shutdown().await
        }
        Fault::SlowBody { chunk, every } => {
            client.write_all(&head).await?;
            for piece in answer.chunks(chunk) {
                tokio::time::sleep(every).await;
                client.write_all(piece).await?;
            }
            client.shutdown().await
        }
        Fault::NoLength(n) | Fault::WrongLength(n) => {
            let length = match fault {
                Fault::WrongLength(_) => vec![format!("content-length: {n}")],
                _ => Vec::new(),
            };
            client
                .write_all(&rewrite_head(&head, &["content-length"], &length))
                .await?;
            client.write_all(&answer[..n.min(answer.len())]).await?;
            client.shutdown().await
        }
        Fault::SlowFirstByte(hold) => {
            tokio::time::sleep(hold).await;
            client.write_all(&head).await?;
            client.write_all(&answer).await?;
            client.shutdown().await
        }
        Fault::PassThrough | Fault::ResetBeforeAnswer | Fault::Answer(..) => {
            client.write_all(&head).await?;
            client.write_all(&answer).await?;
            client.shutdown().await
        }
    }
}

/// An S3 error answer as S3 writes it (no body for HEAD).
async fn answer(mut client: TcpStream, status: u16, code: &str, head_only: bool) -> io::Result<()> {
    let reason = match status {
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the fault proxy</Message>\
         <RequestId>FAULTPROXY0000001</RequestId><HostId>fault-proxy</HostId></Error>"
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n\
         content-length: {}\r\nx-amz-request-id: FAULTPROXY0000001\r\n\
         connection: close\r\n\r\n",
        xml.len()
    );
    client.write_all(head.as_bytes()).await?;
    if !head_only {
        client.write_all(xml.as_bytes()).await?;
    }
    client.shutdown().await
}

/// Reads up to the end of an HTTP head: the head (with its blank line) and
/// whatever came after it in the same reads.
async fn read_head(stream: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        match stream.read(&mut chunk).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn header_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

fn content_length(head: &[u8]) -> Option<usize> {
    header_lines(head).skip(1).find_map(|line| {
        let text = std::str::from_utf8(line).ok()?;
        let (name, value) = text.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// The same head, byte for byte (signed headers included), with
/// `Connection: close` in place of any connection header.
fn connection_close(head: &[u8]) -> Vec<u8> {
    rewrite_head(
        head,
        &["connection", "keep-alive"],
        &["connection: close".to_string()],
    )
}

/// The head's lines less the headers named in `drop`, then the `add` lines.
fn rewrite_head(head: &[u8], drop: &[&str], add: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 64);
    for (i, line) in header_lines(head).enumerate() {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if i > 0 && drop.iter().any(|d| name.eq_ignore_ascii_case(d.as_bytes())) {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    for line in add {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One request the tests send through the handler.
#[derive(Debug, Clone, Copy)]
struct Ask {
    method: &'static str,
    key: &'static str,
    range: Option<&'static str>,
}

fn get(key: &'static str) -> Ask {
    Ask {
        method: "GET",
        key,
        range: None,
    }
}

fn ranged(key: &'static str, range: &'static str) -> Ask {
    Ask {
        method: "GET",
        key,
        range: Some(range),
    }
}

fn head(key: &'static str) -> Ask {
    Ask {
        method: "HEAD",
        key,
        range: None,
    }
}

impl Ask {
    fn event(&self) -> Value {
        let mut ev = event(self.method, self.key);
        if let Some(range) = self.range {
            ev["headers"]["Range"] = range.into();
            ev["multiValueHeaders"]["Range"] = serde_json::json!([range]);
        }
        ev
    }
}

/// A store with the sample data and a 256 KiB object, the proxy in front of
/// it, and an `App` whose S3 client goes through the proxy.
struct Rig {
    // Kept alive for the store.
    _fx: Fixture,
    proxy: FaultProxy,
    app: App,
    big: Vec<u8>,
}

impl Rig {
    async fn new() -> Rig {
        let fx = Fixture::with(&[("s3-timeout", S3_TIMEOUT)]).await;
        let big = pseudo_random(BIG_LEN);
        // Straight to the store, not through the proxy.
        fx.put(BIG, big.clone(), Some("image/jpeg")).await;
        let proxy = FaultProxy::start(fx._store.addr()).await;
        let cfg = config(&[("s3-timeout", S3_TIMEOUT)]);
        // The store's credentials, the proxy's address.
        let sdk = fx
            ._store
            .sdk_config(&cfg)
            .await
            .into_builder()
            .endpoint_url(proxy.endpoint())
            .build();
        let app = App::new(cfg.clone(), S3Store::new(&sdk, &cfg));
        Rig {
            _fx: fx,
            proxy,
            app,
            big,
        }
    }

    async fn call(&self, ask: Ask) -> (Wire, Duration) {
        let started = Instant::now();
        let ev = serde_json::from_value(ask.event()).expect("event parses");
        let wire = Wire::from(self.app.handle_event(ev).await);
        (wire, started.elapsed())
    }

    /// The status and bytes a healthy store gives for `ask`.
    fn healthy(&self, ask: Ask) -> (u16, Vec<u8>) {
        let full = if ask.key == BIG {
            self.big.clone()
        } else {
            sample(ask.key)
        };
        match (ask.method, ask.range) {
            ("HEAD", _) => (200, Vec::new()),
            (_, Some(RANGE)) => (206, full[SPAN.0..=SPAN.1].to_vec()),
            (_, Some(other)) => panic!("no expectation for range {other}"),
            _ => (200, full),
        }
    }

    /// Sends `ask` and checks the answer is exactly what a healthy store
    /// gives.
    async fn expect_ok(&self, ask: Ask, context: &str) -> Duration {
        let (got, took) = self.call(ask).await;
        let (status, body) = self.healthy(ask);
        assert_eq!(got.status, status, "{context}: {ask:?}: {got:?}");
        assert!(got.body == body, "{context}: {ask:?}: wrong bytes");
        if ask.method == "HEAD" {
            let size = if ask.key == BIG {
                BIG_LEN
            } else {
                sample(ask.key).len()
            };
            assert_eq!(
                got.header("content-length"),
                Some(size.to_string().as_str()),
                "{context}: {ask:?}"
            );
        }
        took
    }

    /// Sends `ask` and checks the error answer and that it came in time.
    async fn expect_error(&self, ask: Ask, status: u16, code: &str, context: &str) -> Duration {
        let (got, took) = self.call(ask).await;
        let context = format!("{context}: {ask:?}");
        if ask.method == "HEAD" {
            // The GET's status and headers, no body.
            assert_eq!(got.status, status, "{context}: {got:?}");
            assert_eq!(
                got.header("content-type"),
                Some("application/json"),
                "{context}"
            );
            assert!(got.body.is_empty(), "{context}: {got:?}");
        } else {
            got.assert_error(status, code, &context);
        }
        assert!(took < BOUND, "{context}: not bounded: took {took:?}");
        took
    }

    /// With the proxy passing through again, the same `App` serves exact
    /// bytes for the whole object, a range and a HEAD.
    async fn expect_recovered(&self, context: &str) {
        self.proxy.pass();
        let context = format!("after {context}");
        for ask in [get(JPEG), get(BIG), ranged(BIG, RANGE), head(BIG)] {
            self.expect_ok(ask, &context).await;
        }
        assert_eq!(
            self.proxy.connections(),
            4,
            "{context}: one connection per request, all through the proxy"
        );
    }
}

/// Deterministic bytes with no long runs (xorshift).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn pass_through_changes_nothing() {
    let rig = Rig::new().await;
    for ask in [
        get(JPEG),
        head(JPEG),
        get(BIG),
        ranged(BIG, RANGE),
        head(BIG),
    ] {
        rig.expect_ok(ask, "pass-through").await;
    }
    assert_eq!(rig.proxy.connections(), 5, "every request went through");
    rig.expect_recovered("pass-through").await;
}

#[tokio::test]
async fn connection_refused_is_a_502_before_the_timeout() {
    let mut rig = Rig::new().await;
    rig.proxy.close().await;
    for ask in [get(JPEG), ranged(BIG, RANGE), head(JPEG)] {
        let took = rig
            .expect_error(ask, 502, "BadGateway", "connection refused")
            .await;
        // Retries of a refused connection take milliseconds; waiting for
        // the timeout would turn this into a 504.
        assert!(took < TIMEOUT, "{ask:?}: took {took:?}");
    }
    rig.proxy.reopen().await;
    rig.expect_recovered("connection refused").await;
}

#[tokio::test]
async fn no_answer_is_retried_then_a_502() {
    let rig = Rig::new().await;
    // A reset, and a connection closed inside the status line or headers.
    for fault in [
        Fault::ResetBeforeAnswer,
        Fault::CutHead(0),
        Fault::CutHead(20),
    ] {
        for ask in [get(JPEG), ranged(BIG, RANGE), head(JPEG)] {
            rig.proxy.fail_every(fault);
            rig.expect_error(ask, 502, "BadGateway", &format!("{fault:?} every time"))
                .await;
            let attempts = rig.proxy.connections();
            assert!(
                (1..=3).contains(&attempts),
                "{fault:?} {ask:?}: {attempts} attempts, the SDK makes at most 3"
            );
        }
        for ask in [get(BIG), head(BIG)] {
            rig.proxy.fail_first(fault);
            rig.expect_ok(ask, &format!("{fault:?} on the first attempt"))
                .await;
            assert_eq!(rig.proxy.connections(), 2, "{fault:?} {ask:?}: one retry");
        }
        rig.expect_recovered(&format!("{fault:?}")).await;
    }
}

#[tokio::test]
async fn reset_inside_the_body_is_a_502_not_a_short_200() {
    let rig = Rig::new().await;
    let cases = [
        (get(BIG), Fault::ResetMidBody(64 * 1024)),
        (ranged(BIG, RANGE), Fault::ResetMidBody(1000)),
        (get(JPEG), Fault::ResetMidBody(500)),
        // The head and no byte of the body.
        (get(JPEG), Fault::ResetMidBody(0)),
    ];
    for (ask, fault) in cases {
        rig.proxy.fail_every(fault);
        rig.expect_error(ask, 502, "BadGateway", &format!("{fault:?}"))
            .await;
        // Once the headers are in, the SDK has handed the body over and
        // does not retry; s3gate reads the body once more, pinned to the
        // same ETag and part, and gives up after that.
        assert_eq!(rig.proxy.connections(), 2, "{ask:?} {fault:?}");
        // A fault on the first connection only: the second read serves the
        // exact bytes.
        rig.proxy.fail_first(fault);
        rig.expect_ok(ask, &format!("first {fault:?}")).await;
        assert_eq!(rig.proxy.connections(), 2, "{ask:?} first {fault:?}");
        rig.expect_recovered(&format!("{fault:?}")).await;
    }
}

#[tokio::test]
async fn truncated_body_is_a_502_not_a_short_200() {
    let rig = Rig::new().await;
    let jpeg_len = sample(JPEG).len();
    let cases = [
        (get(BIG), Fault::Truncate(100_000)),
        (ranged(BIG, RANGE), Fault::Truncate(10)),
        // One byte short.
        (get(JPEG), Fault::Truncate(jpeg_len - 1)),
        (get(JPEG), Fault::Truncate(0)),
    ];
    for (ask, fault) in cases {
        rig.proxy.fail_every(fault);
        rig.expect_error(ask, 502, "BadGateway", &format!("{fault:?}"))
            .await;
        // Read once more, cut short again: a 502.
        assert_eq!(rig.proxy.connections(), 2, "{ask:?} {fault:?}");
        rig.proxy.fail_first(fault);
        rig.expect_ok(ask, &format!("first {fault:?}")).await;
        rig.expect_recovered(&format!("{fault:?}")).await;
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_checked_is_a_502() {
    let rig = Rig::new().await;
    let jpeg_len = sample(JPEG).len();
    let cases = [
        // Without a Content-Length a body cut short looks whole: it was
        // served as an empty 200, an empty 206 that announced 200000
        // bytes, and a HEAD that said the object has 0 bytes.
        (get(JPEG), Fault::NoLength(0)),
        (ranged(BIG, RANGE), Fault::NoLength(0)),
        (head(JPEG), Fault::NoLength(0)),
        // Even whole, it cannot be told from a cut one.
        (get(JPEG), Fault::NoLength(jpeg_len)),
        // A 10-byte body for a 200000-byte part: it was served as a 206
        // announcing 200000 bytes with 10 in it.
        (ranged(BIG, RANGE), Fault::WrongLength(10)),
    ];
    for (ask, fault) in cases {
        rig.proxy.fail_every(fault);
        rig.expect_error(ask, 502, "BadGateway", &format!("{fault:?}"))
            .await;
        rig.expect_recovered(&format!("{fault:?}")).await;
    }
}

#[tokio::test]
async fn slow_first_byte_is_a_504_within_the_timeout() {
    let rig = Rig::new().await;
    let stall = Fault::SlowFirstByte(TIMEOUT * 3);
    for ask in [get(JPEG), ranged(BIG, RANGE), head(JPEG)] {
        rig.proxy.fail_every(stall);
        let took = rig
            .expect_error(ask, 504, "GatewayTimeout", "stalled on every attempt")
            .await;
        assert!(
            took >= TIMEOUT * 9 / 10,
            "{ask:?}: gave up before the timeout: {took:?}"
        );
    }
    // Each attempt gets a third of the timeout, so a stalled first attempt
    // leaves time for a retry.
    for ask in [get(BIG), head(BIG)] {
        rig.proxy.fail_first(stall);
        let took = rig.expect_ok(ask, "stalled first attempt").await;
        assert_eq!(rig.proxy.connections(), 2, "{ask:?}: one retry");
        assert!(took < TIMEOUT, "{ask:?}: took {took:?}");
    }
    rig.expect_recovered("stalled answers").await;
}

#[tokio::test]
async fn slow_body_is_a_504_within_the_timeout() {
    let rig = Rig::new().await;
    // 1 KiB per 50 ms: 256 KiB would take 13 s, the range 10 s.
    let trickle = Fault::SlowBody {
        chunk: 1024,
        every: Duration::from_millis(50),
    };
    for ask in [get(BIG), ranged(BIG, RANGE)] {
        rig.proxy.fail_every(trickle);
        let took = rig
            .expect_error(ask, 504, "GatewayTimeout", "trickling body")
            .await;
        assert!(
            took >= TIMEOUT * 9 / 10,
            "{ask:?}: gave up before the timeout: {took:?}"
        );
        assert_eq!(rig.proxy.connections(), 1, "{ask:?}");
    }
    // Slow but in time: the whole JPEG in about 140 ms.
    rig.proxy.fail_every(Fault::SlowBody {
        chunk: 256,
        every: Duration::from_millis(20),
    });
    rig.expect_ok(get(JPEG), "slow body within the timeout")
        .await;
    rig.expect_recovered("trickling bodies").await;
}

#[tokio::test]
async fn store_errors_are_retried_then_answered() {
    let rig = Rig::new().await;
    let internal = Fault::Answer(500, "InternalError");
    let slow_down = Fault::Answer(503, "SlowDown");
    let cases = [
        (get(JPEG), internal, 502, "BadGateway"),
        (ranged(BIG, RANGE), internal, 502, "BadGateway"),
        // A failed suffix range is asked again without the range (for
        // s3s-fs); both fail.
        (ranged(JPEG, "bytes=-100"), internal, 502, "BadGateway"),
        (head(JPEG), internal, 502, "BadGateway"),
        (get(JPEG), slow_down, 503, "ServiceUnavailable"),
        (ranged(BIG, RANGE), slow_down, 503, "ServiceUnavailable"),
        (head(JPEG), slow_down, 503, "ServiceUnavailable"),
    ];
    for (ask, fault, status, code) in cases {
        rig.proxy.fail_every(fault);
        let (got, took) = rig.call(ask).await;
        let context = format!("{fault:?} on every attempt: {ask:?}");
        if ask.method == "HEAD" {
            assert_eq!(got.status, status, "{context}: {got:?}");
            assert!(got.body.is_empty(), "{context}: {got:?}");
        } else {
            got.assert_error(status, code, &context);
        }
        assert!(took < BOUND, "{context}: took {took:?}");
        assert_eq!(
            got.header("retry-after"),
            (status == 503).then_some("1"),
            "{context}"
        );
        let attempts = rig.proxy.connections();
        assert!(
            (1..=6).contains(&attempts),
            "{context}: {attempts} attempts"
        );
    }
    for fault in [internal, slow_down] {
        for ask in [get(BIG), ranged(BIG, RANGE), head(BIG)] {
            rig.proxy.fail_first(fault);
            rig.expect_ok(ask, &format!("{fault:?} on the first attempt"))
                .await;
            assert_eq!(rig.proxy.connections(), 2, "{fault:?} {ask:?}: one retry");
        }
    }
    rig.expect_recovered("store errors").await;
}
