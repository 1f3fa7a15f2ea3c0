//! A GET whose response headers have arrived and whose body has not been
//! read: the caller decides on the headers, then reads the body (bounded by
//! what is left of the S3 timeout, checked against its announced length)
//! or drops it unread.

use aws_sdk_s3::primitives::ByteStream;

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
}

impl Opened {
    pub(super) fn new(
        meta: ObjectMeta,
        part: Option<Part>,
        length: u64,
        cut: bool,
        body: ByteStream,
        deadline: tokio::time::Instant,
    ) -> Opened {
        Opened {
            meta,
            part,
            length,
            cut,
            body,
            deadline,
        }
    }

    /// Reads the whole body into one buffer of the announced length, within
    /// what is left of the S3 timeout, and returns the part asked for. A
    /// body that ends early or runs long is an error, never a short 200.
    pub async fn read(self) -> Result<Vec<u8>, StoreError> {
        let body = tokio::time::timeout_at(self.deadline, read_exact(self.body, self.length))
            .await
            .map_err(|_| {
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
