//! A fake Lambda function for `--self-test`: the harness binary itself, run
//! as `lambda_bench --fake-function MODE`, answering each event with the
//! object's bytes read straight from the data folder (no S3 client), over
//! hand-written HTTP/1.1 so the wire format is exactly what the Runtime API
//! must accept:
//!
//! - `buffered`: one JSON response, base64 body (what s3gate sends today);
//! - `stream`: `Lambda-Runtime-Function-Response-Mode: streaming`, chunked:
//!   prelude, 8 NUL bytes, payload in 64 KiB chunks (what
//!   `S3GATE_RESPONSE_MODE=stream` will send);
//! - `stream-error`: half the payload, then the error trailers;
//! - `client-stream`, `client-stream-error`: the same through
//!   lambda_runtime_api_client's hyper client, which s3gate's runtime uses;
//! - `redirect`: a buffered 307 whose `Location` is a presigned GET of the
//!   object in the embedded store (what s3gate answers over its limits);
//! - `redirect-wrong`: the same for a key that does not exist.

use std::path::PathBuf;

use aws_sdk_s3::presigning::PresigningConfig;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends one request on a fresh connection, its body in `parts` 10 ms
/// apart; returns status, headers, body.
async fn call(
    host: &str,
    head: &str,
    parts: &[Vec<u8>],
) -> Result<(u16, String, Vec<u8>), BoxError> {
    let mut stream = TcpStream::connect(host).await?;
    stream.write_all(head.as_bytes()).await?;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        stream.write_all(part).await?;
    }
    let mut reader = BufReader::new(stream);
    let (mut headers, mut line) = (String::new(), String::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 || line == "\r\n" {
            break;
        }
        headers.push_str(&line.to_ascii_lowercase());
    }
    let status = headers.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let len = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await?;
    Ok((status, headers, body))
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

pub async fn run(mode: &str) -> Result<(), BoxError> {
    let host = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let data = PathBuf::from(std::env::var("LAMBDA_BENCH_DATA")?);
    let b64 = base64_simd::STANDARD;
    let s3 = mode.starts_with("redirect").then(s3_client).transpose()?;
    loop {
        let next = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapid\r\nConnection: close\r\n\r\n";
        let (status, headers, event) = call(&host, next, &[]).await?;
        if status != 200 {
            return Err(format!("/next answered {status}").into());
        }
        let id = headers
            .lines()
            .find_map(|l| l.strip_prefix("lambda-runtime-aws-request-id:"))
            .map(|v| v.trim().to_string())
            .ok_or("no request id")?;
        let event: serde_json::Value = serde_json::from_slice(&event)?;
        let key = event["pathParameters"]["proxy"].as_str().unwrap_or("");
        let path = format!("/2018-06-01/runtime/invocation/{id}/response");
        if let Some(s3) = &s3 {
            let key = match mode {
                "redirect" => key.to_string(),
                _ => format!("{key}.missing"),
            };
            let presigned = s3
                .get_object()
                .bucket("images")
                .key(key)
                .presigned(PresigningConfig::expires_in(
                    std::time::Duration::from_secs(300),
                )?)
                .await?;
            let url = presigned.uri();
            let json = serde_json::json!({
                "statusCode": 307,
                "headers": {"Location": url, "Content-Type": "application/json"},
                "multiValueHeaders": {"Location": [url], "Content-Type": ["application/json"]},
                "body": serde_json::json!({"location": url}).to_string(),
                "isBase64Encoded": false,
            })
            .to_string();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: rapid\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                json.len()
            );
            let (status, _, answer) = call(&host, &head, &[json.into_bytes()]).await?;
            if status != 202 {
                let text = String::from_utf8_lossy(&answer);
                return Err(format!("/response answered {status}: {text}").into());
            }
            continue;
        }
        let object = std::fs::read(data.join("images").join(key))?;
        if let Some(client_mode) = mode.strip_prefix("client-") {
            stream_with_client(&host, &path, &object, client_mode == "stream").await?;
            continue;
        }
        let (head, body) = if mode == "buffered" {
            let json = serde_json::json!({
                "statusCode": 200,
                "headers": {"Content-Type": "image/jpeg"},
                "multiValueHeaders": {},
                "body": b64.encode_to_string(&object),
                "isBase64Encoded": true,
            })
            .to_string();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: rapid\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                json.len()
            );
            (head, vec![json.into_bytes()])
        } else {
            let prelude =
                r#"{"statusCode":200,"headers":{"Content-Type":"image/jpeg"},"cookies":[]}"#;
            let mut body = chunk(prelude.as_bytes());
            body.extend(chunk(&[0; 8]));
            let cut = if mode == "stream" {
                object.len()
            } else {
                object.len() / 2
            };
            // The first payload chunk, then a pause: the self-test checks
            // that the time to first byte comes before the end.
            let mut parts = object[..cut].chunks(64 * 1024);
            body.extend(chunk(parts.next().unwrap_or_default()));
            let mut rest = Vec::new();
            for part in parts {
                rest.extend(chunk(part));
            }
            rest.extend_from_slice(b"0\r\n");
            if mode != "stream" {
                let error = r#"{"errorType":"Fake.MidStream","errorMessage":"cut on purpose"}"#;
                let trailers = format!(
                    "Lambda-Runtime-Function-Error-Type: Fake.MidStream\r\nLambda-Runtime-Function-Error-Body: {}\r\n",
                    b64.encode_to_string(error)
                );
                rest.extend_from_slice(trailers.as_bytes());
            }
            rest.extend_from_slice(b"\r\n");
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: rapid\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nLambda-Runtime-Function-Response-Mode: streaming\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\nContent-Type: application/vnd.awslambda.http-integration-response\r\n\r\n"
            );
            (head, vec![body, rest])
        };
        let (status, _, answer) = call(&host, &head, &body).await?;
        if status != 202 {
            let text = String::from_utf8_lossy(&answer);
            return Err(format!("/response answered {status}: {text}").into());
        }
    }
}

/// An S3 client for the embedded store from Lambda's environment variables,
/// only to presign (no request is sent).
fn s3_client() -> Result<aws_sdk_s3::Client, BoxError> {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(var("AWS_REGION")?))
        .endpoint_url(var("AWS_ENDPOINT_URL")?)
        .credentials_provider(Credentials::new(
            var("AWS_ACCESS_KEY_ID")?,
            var("AWS_SECRET_ACCESS_KEY")?,
            None,
            None,
            "lambda_bench",
        ))
        .force_path_style(true)
        .build();
    Ok(aws_sdk_s3::Client::from_conf(conf))
}

/// A streamed response sent the way s3gate's runtime sends its answers:
/// lambda_runtime_api_client's pooled hyper client, a channel body, the
/// error as trailers declared in `Trailer` (hyper drops undeclared ones).
async fn stream_with_client(
    host: &str,
    path: &str,
    object: &[u8],
    whole: bool,
) -> Result<(), BoxError> {
    use hyper::body::Bytes;
    use lambda_runtime_api_client::{PooledClient, body::Body, build_request};

    let client = PooledClient::builder()
        .with_endpoint(format!("http://{host}").parse()?)
        .build();
    let (mut tx, body) = Body::channel();
    let req = build_request()
        .method("POST")
        .uri(path)
        .header("lambda-runtime-function-response-mode", "streaming")
        .header("trailer", "Lambda-Runtime-Function-Error-Type")
        .header("trailer", "Lambda-Runtime-Function-Error-Body")
        .header(
            "content-type",
            "application/vnd.awslambda.http-integration-response",
        )
        .body(body)?;
    let response = client.call(req);
    let prelude = r#"{"statusCode":200,"headers":{"Content-Type":"image/jpeg"},"cookies":[]}"#;
    let cut = if whole {
        object.len()
    } else {
        object.len() / 2
    };
    let mut parts = object[..cut].chunks(64 * 1024);
    let first = parts.next().unwrap_or_default();
    let send = async move {
        tx.send_data(Bytes::from_static(prelude.as_bytes())).await?;
        tx.send_data(Bytes::from_static(&[0; 8])).await?;
        tx.send_data(Bytes::copy_from_slice(first)).await?;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        for part in parts {
            tx.send_data(Bytes::copy_from_slice(part)).await?;
        }
        if !whole {
            let error = r#"{"errorType":"Fake.MidStream","errorMessage":"cut on purpose"}"#;
            let b64 = base64_simd::STANDARD.encode_to_string(error);
            let mut trailers = hyper::HeaderMap::new();
            trailers.insert(
                "lambda-runtime-function-error-type",
                "Fake.MidStream".parse()?,
            );
            trailers.insert("lambda-runtime-function-error-body", b64.parse()?);
            tx.send_trailers(trailers).await?;
        }
        // Dropping the sender ends the body (after the trailers, if any).
        drop(tx);
        Ok::<(), BoxError>(())
    };
    let (response, sent) = tokio::join!(response, send);
    sent?;
    let status = response?.status();
    if status != 202 {
        return Err(format!("/response answered {status}").into());
    }
    Ok(())
}
