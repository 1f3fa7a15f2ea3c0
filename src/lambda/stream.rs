//! Lambda response streaming, as API Gateway's STREAM integration reads it:
//! a `POST …/response` with `Lambda-Runtime-Function-Response-Mode:
//! streaming`, chunked, whose body is a JSON prelude (status, headers as
//! single strings, repeated ones also in `multiValueHeaders`), 8 NUL bytes,
//! then the raw body, passed on from S3 chunk by chunk as it arrives; no
//! base64, and memory does not grow with the object.
//!
//! lambda_runtime's own `StreamResponse` is not used: it writes a mid-stream
//! error into the body bytes and carries on, and its prelude sends a
//! repeated header as an array. Here a failure before the first body byte
//! is an ordinary prelude with the JSON error (the handler made it); one
//! after it ends the stream with the Runtime API's error trailers
//! (`Lambda-Runtime-Function-Error-Type`, `-Body`), so the client sees a
//! transfer cut short against the announced `Content-Length`, never a
//! silently short file. hyper writes trailers only when the request
//! declares them in `Trailer` headers, so both are declared.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::body::sender::Sender;
use lambda_runtime_api_client::build_request;

use super::runtime::{BoxError, Invocation, RuntimeApi};
use crate::handler::Answer;
use crate::storage::StoreError;

pub const CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";
pub const ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type";
pub const ERROR_BODY: &str = "Lambda-Runtime-Function-Error-Body";
/// Between the prelude and the body.
pub const DELIMITER: [u8; 8] = [0; 8];

/// What went wrong after the first body byte: reported in the trailers.
#[derive(Debug)]
pub struct MidStream(pub StoreError);

impl RuntimeApi {
    /// Streams one answer to `…/invocation/{id}/response`. A store failure
    /// mid-body is logged and reported in the trailers (the invoke then
    /// counts as failed); a Runtime API that goes away is an `Err`.
    pub async fn respond_streaming(
        &self,
        inv: &Invocation,
        answer: Answer,
    ) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{}/response", inv.request_id);
        let (mut tx, body) = Body::channel();
        let mut req = build_request()
            .method(Method::POST)
            .uri(&path)
            .header("lambda-runtime-function-response-mode", "streaming")
            .header(http::header::TRANSFER_ENCODING, "chunked")
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(http::header::TRAILER, ERROR_TYPE)
            .header(http::header::TRAILER, ERROR_BODY);
        if let Some(id) = &inv.invocation_id {
            req = req.header("lambda-runtime-invocation-id", id.as_str());
        }
        // hyper reads the body only while the call is driven.
        let call = tokio::spawn(self.client().call(req.body(body)?));
        let fed = feed(&mut tx, answer).await;
        if let Err(Fed::MidStream(err)) = &fed {
            tracing::warn!(error = ?err, "the body failed mid-stream; reporting it in the trailers");
            tx.send_trailers(error_trailers(err)).await?;
        }
        drop(tx);
        let answered = call.await??;
        if let Err(Fed::Gone(e)) = fed {
            return Err(format!("the Runtime API stopped reading the stream: {e}").into());
        }
        let (parts, body) = answered.into_parts();
        let text = body.collect().await?.to_bytes();
        RuntimeApi::settled(&path, parts.status, &text)
    }
}

enum Fed {
    /// The store failed after the prelude.
    MidStream(StoreError),
    /// The Runtime API stopped taking data.
    Gone(BoxError),
}

/// The prelude, the delimiter, then the body: from memory, or from S3 as
/// it arrives.
async fn feed(tx: &mut Sender, mut answer: Answer) -> Result<(), Fed> {
    let gone = |e: lambda_runtime_api_client::Error| Fed::Gone(e.into());
    let head = answer.take_prelude();
    let response = answer.response;
    tx.send_data(head.into()).await.map_err(gone)?;
    tx.send_data(Bytes::from_static(&DELIMITER))
        .await
        .map_err(gone)?;
    match answer.stream {
        None => {
            let body = Bytes::copy_from_slice(response.body_bytes());
            if !body.is_empty() {
                tx.send_data(body).await.map_err(gone)?;
            }
        }
        Some(opened) => {
            let mut chunks = opened.into_chunks();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(Fed::MidStream)?;
                tx.send_data(chunk).await.map_err(gone)?;
            }
        }
    }
    Ok(())
}

/// `Lambda-Runtime-Function-Error-Type` and `-Body` (base64 of the JSON
/// error, as the Node and Go runtimes send it).
fn error_trailers(err: &StoreError) -> HeaderMap {
    let kind = match err {
        StoreError::Timeout(_) => "S3gate.BodyTimeout",
        _ => "S3gate.BodyFailed",
    };
    let body = serde_json::json!({
        "errorType": kind,
        "errorMessage": "the object's body could not be read to its end; the response was cut",
    })
    .to_string();
    let mut map = HeaderMap::new();
    map.insert(ERROR_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&base64_simd::STANDARD.encode_to_string(body)) {
        map.insert(ERROR_BODY, v);
    }
    map
}

#[cfg(test)]
mod tests {
    use crate::lambda::response::Body as ResponseBody;
    use crate::lambda::response::ProxyResponse;

    #[test]
    fn the_prelude_has_single_string_headers() {
        let r = ProxyResponse {
            status_code: 206,
            headers: vec![
                ("Content-Type".into(), "image/png".into()),
                ("Vary".into(), "Origin".into()),
                ("Vary".into(), "Accept".into()),
            ],
            body: Some(ResponseBody::Binary(vec![1, 2])),
        };
        let v: serde_json::Value = serde_json::from_str(&r.prelude()).expect("JSON");
        assert_eq!(v["statusCode"], 206);
        assert_eq!(v["headers"]["Vary"], "Origin, Accept");
        assert_eq!(v["headers"]["Content-Type"], "image/png");
        assert_eq!(
            v["multiValueHeaders"]["Vary"],
            serde_json::json!(["Origin", "Accept"])
        );
        assert_eq!(v["cookies"], serde_json::json!([]));
        assert!(!r.prelude().contains('\0'));
    }
}
