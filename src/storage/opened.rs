//! A GET whose response headers have arrived and whose body has not been
//! read: the caller decides on the headers, then reads the body whole
//! (bounded by what is left of the S3 timeout), or takes it chunk by chunk
//! as it arrives (each chunk bounded by the S3 timeout), or drops it unread.
//! Either way the body is checked against its announced length: one that
//! ends early or runs long is an error, never a short answer.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{ObjectMeta, Part, StoreError};

/// A GET whose headers have arrived and whose body has not been read.
#[derive(Debug)]
pub struct Opened {
    pub meta: ObjectMeta,
    /// The part of the object a range selected (the store's 206, or the
    /// part cut from a store's whole answer); `None`: the whole object.
    pub part: Option<Part>,
    /// Bytes the store sends (the whole object when it ignored a range).
    pub length: u64,
    /// The store ignored the range: `part` is cut from the whole body.
    cut: bool,
    body: ByteStream,
    deadline: tokio::time::Instant,
    /// How long one chunk of a streamed body may take (the S3 timeout).
    stall: Duration,
}

impl Opened {
    pub(super) fn new(
        meta: ObjectMeta,
        part: Option<Part>,
        length: u64,
        cut: bool,
        body: ByteStream,
        deadline: tokio::time::Instant,
        stall: Duration,
    ) -> Opened {
        Opened {
            meta,
            part,
            length,
            cut,
            body,
            deadline,
            stall,
        }
    }

    /// The body as it arrives, for streaming it on: chunks of the part
    /// asked for (cut here when the store ignored the range), each within
    /// the S3 timeout of the one before, however long the whole takes.
    pub fn into_chunks(self) -> Chunks {
        let keep = match (self.cut, self.part) {
            (true, Some(p)) => (p.start, p.end + 1),
            _ => (0, self.length),
        };
        Chunks {
            body: self.body,
            expected: self.length,
            received: 0,
            keep,
            stall: self.stall,
            done: false,
        }
    }

    /// Reads the whole body into one buffer of the announced length, within
    /// what is left of the S3 timeout, and returns the part asked for. A
    /// body that ends early or runs long is an error, never a short 200.
    pub async fn read(self) -> Result<Vec<u8>, StoreError> {
        let started = std::time::Instant::now();
        let body = tokio::time::timeout_at(self.deadline, read_exact(self.body, self.length)).await;
        crate::metrics::add_storage(started.elapsed());
        let body = body.map_err(|_| {
            StoreError::Timeout("the body did not arrive within the S3 timeout".into())
        })??;
        match (self.cut, self.part) {
            (true, Some(p)) => Ok(body[p.start as usize..=p.end as usize].to_vec()),
            _ => Ok(body),
        }
    }
}

async fn read_exact(mut body: ByteStream, size: u64) -> Result<Vec<u8>, StoreError> {
    let expected = usize::try_from(size)
        .map_err(|_| StoreError::Unavailable("object size overflow".into()))?;
    let mut buf = Vec::with_capacity(expected);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            let text = format!("{e:?}");
            if text.contains("Timeout") || text.contains("timed out") {
                StoreError::Timeout(format!("reading the body: {e}"))
            } else {
                StoreError::Unavailable(format!("reading the body: {e}"))
            }
        })?;
        if buf.len() + chunk.len() > expected {
            return Err(StoreError::Unavailable(format!(
                "body longer than its Content-Length of {expected} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() != expected {
        return Err(StoreError::Unavailable(format!(
            "body ended after {} of {expected} bytes",
            buf.len()
        )));
    }
    Ok(buf)
}

/// A body chunk by chunk (see [`Opened::into_chunks`]).
#[derive(Debug)]
pub struct Chunks {
    body: ByteStream,
    expected: u64,
    received: u64,
    /// The span of the store's body to pass on, `start..end`.
    keep: (u64, u64),
    stall: Duration,
    done: bool,
}

impl Chunks {
    /// The next piece of the body, `None` at its end; an error when a chunk
    /// does not come within the S3 timeout, or the body ends early or runs
    /// long. Small chunks that are already there are joined (up to 256
    /// KiB), so a store that writes in 4 KiB pieces does not cost a write
    /// each downstream.
    pub async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        if self.done {
            return None;
        }
        let mut joined: Option<bytes::BytesMut> = None;
        let mut first: Option<Bytes> = None;
        loop {
            let chunk = if first.is_none() && joined.is_none() {
                match tokio::time::timeout(self.stall, self.body.next()).await {
                    Ok(c) => c,
                    Err(_) => {
                        self.done = true;
                        return Some(Err(StoreError::Timeout(format!(
                            "no body bytes for {:?} after {} of {}",
                            self.stall, self.received, self.expected
                        ))));
                    }
                }
            } else if self.received < FIRST_PIECE as u64 {
                // The first piece goes at once (the time to first byte);
                // it joins only what is already there.
                match futures_lite_now(self.body.next()) {
                    Some(c) => c,
                    None => break,
                }
            } else {
                // Later pieces wait a moment for more: one write of up to
                // 256 KiB downstream instead of one per store chunk (each
                // costs a wake-up on both sides).
                match tokio::time::timeout(JOIN_WAIT, self.body.next()).await {
                    Ok(c) => c,
                    Err(_) => break,
                }
            };
            let chunk = match chunk {
                None => {
                    self.done = true;
                    if self.received != self.expected {
                        return Some(Err(StoreError::Unavailable(format!(
                            "body ended after {} of {} bytes",
                            self.received, self.expected
                        ))));
                    }
                    break;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(StoreError::Unavailable(format!(
                        "reading the body: {e}"
                    ))));
                }
                Some(Ok(c)) => c,
            };
            let at = self.received;
            self.received += chunk.len() as u64;
            if self.received > self.expected {
                self.done = true;
                return Some(Err(StoreError::Unavailable(format!(
                    "body longer than its Content-Length of {} bytes",
                    self.expected
                ))));
            }
            // The part of this chunk inside the span kept.
            let (lo, hi) = self.keep;
            let from = lo.saturating_sub(at).min(chunk.len() as u64) as usize;
            let to = hi.saturating_sub(at).min(chunk.len() as u64) as usize;
            let piece = chunk.slice(from..to.max(from));
            if piece.is_empty() {
                continue;
            }
            match (&mut joined, &first) {
                (None, None) => first = Some(piece),
                (None, Some(f)) => {
                    let mut j = bytes::BytesMut::with_capacity(JOIN_LIMIT);
                    j.extend_from_slice(f);
                    j.extend_from_slice(&piece);
                    first = None;
                    joined = Some(j);
                }
                (Some(j), _) => j.extend_from_slice(&piece),
            }
            let held =
                joined.as_ref().map_or(0, |j| j.len()) + first.as_ref().map_or(0, Bytes::len);
            if held >= JOIN_LIMIT {
                break;
            }
        }
        match (joined, first) {
            (Some(j), _) => Some(Ok(j.freeze())),
            (None, Some(f)) => Some(Ok(f)),
            (None, None) => None,
        }
    }
}

/// Up to this many bytes received are passed on as one piece.
const JOIN_LIMIT: usize = 256 * 1024;
/// The stream's first bytes are passed on as soon as they are there.
const FIRST_PIECE: usize = 64 * 1024;
/// How long a later piece waits for the store's next chunk before it goes.
const JOIN_WAIT: Duration = Duration::from_millis(2);

/// Polls a future once: its output if it is ready now.
fn futures_lite_now<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
