//! The benchmark's data: deterministic JPEG-like objects, put into the
//! embedded store through S3, and the API Gateway event that asks for each.

use s3gate::local::EmbeddedStore;
use serde_json::json;

/// Size label, key, bytes, event.
pub type Object = (String, String, Vec<u8>, Vec<u8>);

/// JPEG-like and deterministic: FF D8 FF E0, then xorshift bytes, FF D9.
pub fn object(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    let head = [0xFF, 0xD8, 0xFF, 0xE0];
    let n = head.len().min(len);
    out[..n].copy_from_slice(&head[..n]);
    if len >= 6 {
        out[len - 2..].copy_from_slice(&[0xFF, 0xD9]);
    }
    out
}

/// An API Gateway REST proxy event for GET `key` (`REQUEST_ID` is replaced
/// per invoke).
pub fn event(key: &str) -> Vec<u8> {
    json!({
        "resource": "/{proxy+}", "path": format!("/{key}"), "httpMethod": "GET",
        "headers": {"Accept": "image/*", "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                    "x-api-key": "bench-api-key-0123456789abcdef"},
        "multiValueHeaders": {"Accept": ["image/*"], "Host": ["a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"],
                              "x-api-key": ["bench-api-key-0123456789abcdef"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": key}, "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "x1y2z3", "stage": "dev",
            "requestId": "REQUEST_ID", "resourcePath": "/{proxy+}", "httpMethod": "GET",
            "path": format!("/dev/{key}"), "apiId": "a1b2c3d4e5", "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "lambda_bench",
                         "apiKey": "bench-api-key-0123456789abcdef", "apiKeyId": "benchkey01"},
        },
        "body": null, "isBase64Encoded": false,
    })
    .to_string()
    .into_bytes()
}

/// Puts the objects through S3, as a real bucket gets them: s3s-fs then
/// keeps their ETag and Content-Type beside the file. A file merely copied
/// into the folder has no Content-Type and its MD5 recomputed on every GET
/// (about 8 ms for 4 MiB, 100 ms for 50 MiB, added to every function's
/// latency).
pub async fn upload(store: &EmbeddedStore, objects: &[Object]) -> Result<(), String> {
    let config = s3gate::Config::from_lookup(|k| (k == "bucket").then(|| "images".to_string()))
        .map_err(|e| e.to_string())?;
    let sdk = store.sdk_config(&config).await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true);
    let s3 = aws_sdk_s3::Client::from_conf(conf.build());
    for (_, key, bytes, _) in objects {
        s3.put_object()
            .bucket("images")
            .key(key)
            .content_type("image/jpeg")
            .body(bytes.clone().into())
            .send()
            .await
            .map_err(|e| format!("PutObject {key}: {e:?}"))?;
    }
    Ok(())
}
