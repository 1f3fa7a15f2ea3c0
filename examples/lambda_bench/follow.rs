//! Following a 307, as the browser behind API Gateway would: an object over
//! s3gate's inline (or stream) limit is answered with `307` and a
//! `Location` header holding a presigned URL; the client then GETs the
//! object from S3 (here the embedded store on loopback). The GET is timed
//! from the harness's side; its bytes are checked like a direct answer's.
//! The function is not involved in the GET: it is back on `GET /next`.

use std::time::{Duration, Instant};

use crate::runtime_api::{Answer, DELIMITER};

/// One GET of a redirect's `Location`, timed.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// When the request was sent.
    pub sent: Instant,
    /// When the first body byte arrived.
    pub first_byte: Option<Instant>,
    /// When the last body byte arrived (or the GET failed).
    pub end: Instant,
    pub body: Vec<u8>,
    pub error: Option<String>,
}

/// The HTTP client that follows redirects: one per run, keep-alive, as a
/// browser keeps its connection to S3.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The `Location` of a function's answer that is a 307: API Gateway's
/// `statusCode` and `headers` (or `multiValueHeaders`), in a buffered JSON
/// document or a streamed response's prelude.
pub fn location(a: &Answer) -> Option<String> {
    if a.is_error || a.body_error.is_some() || a.error_trailer.is_some() {
        return None;
    }
    let doc = if a.streamed {
        &a.body[..a.payload_start?.checked_sub(DELIMITER.len())?]
    } else {
        &a.body[..]
    };
    let json: serde_json::Value = serde_json::from_slice(doc).ok()?;
    if json["statusCode"] != 307 {
        return None;
    }
    let find = |field: &str| {
        json[field]
            .as_object()?
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.clone())
    };
    match find("headers") {
        Some(serde_json::Value::String(v)) => Some(v),
        _ => find("multiValueHeaders")?
            .get(0)?
            .as_str()
            .map(str::to_string),
    }
}

/// GETs `url` and reads the whole body, timing the first and last byte.
pub async fn get(client: &reqwest::Client, url: &str) -> Fetched {
    let sent = Instant::now();
    let mut f = Fetched {
        status: 0,
        sent,
        first_byte: None,
        end: sent,
        body: Vec::new(),
        error: None,
    };
    match client.get(url).send().await {
        Ok(mut resp) => {
            f.status = resp.status().as_u16();
            if let Some(len) = resp.content_length() {
                f.body.reserve(usize::try_from(len).unwrap_or(0));
            }
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if !chunk.is_empty() {
                            f.first_byte.get_or_insert_with(Instant::now);
                        }
                        f.body.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        f.error = Some(format!("GET body: {e}"));
                        break;
                    }
                }
            }
        }
        Err(e) => f.error = Some(format!("GET: {e}")),
    }
    f.end = Instant::now();
    f
}

/// A followed redirect checks out: 200 and exactly the object's bytes.
pub fn check(f: &Fetched, object: &[u8]) -> Result<(), String> {
    if let Some(e) = &f.error {
        return Err(format!("after the 307, {e}"));
    }
    if f.status != 200 {
        let text = String::from_utf8_lossy(&f.body[..f.body.len().min(300)]).into_owned();
        return Err(format!("after the 307, GET answered {}: {text}", f.status));
    }
    if f.body != object {
        return Err(format!(
            "after the 307, GET body of {} bytes differs from the object",
            f.body.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &[u8], streamed: bool, payload_start: Option<usize>) -> Answer {
        let now = Instant::now();
        Answer {
            is_error: false,
            streamed,
            content_type: None,
            first_byte: Some(now),
            payload_first_byte: None,
            end: now,
            body: body.to_vec(),
            payload_start,
            error_trailer: None,
            body_error: None,
            over_cap: false,
        }
    }

    #[test]
    fn locations() {
        let buffered = br#"{"statusCode":307,"headers":{"Location":"http://a/b"},"body":"{}"}"#;
        assert_eq!(
            location(&answer(buffered, false, None)).as_deref(),
            Some("http://a/b")
        );
        let multi = br#"{"statusCode":307,"multiValueHeaders":{"location":["http://a/c"]}}"#;
        assert_eq!(
            location(&answer(multi, false, None)).as_deref(),
            Some("http://a/c")
        );
        let ok = br#"{"statusCode":200,"headers":{"Location":"http://a/b"}}"#;
        assert_eq!(location(&answer(ok, false, None)), None);
        let mut streamed = br#"{"statusCode":307,"headers":{"location":"http://a/d"}}"#.to_vec();
        streamed.extend_from_slice(&DELIMITER);
        let start = streamed.len();
        streamed.extend_from_slice(b"{}");
        assert_eq!(
            location(&answer(&streamed, true, Some(start))).as_deref(),
            Some("http://a/d")
        );
        assert_eq!(location(&answer(&streamed, true, None)), None);
    }
}
