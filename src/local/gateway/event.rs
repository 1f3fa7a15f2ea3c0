//! The two JSON documents of an invoke, as API Gateway writes and reads
//! them: the REST proxy event for an HTTP request (`/{proxy+}`, `/`, or
//! the uncached `/presign/{proxy+}` and `/id/{proxy+}`, the
//! path decoded, every body base64 because `BinaryMediaTypes` is `*/*`),
//! and the Lambda response back into HTTP (`multiValueHeaders` winning, the
//! body base64-decoded).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::usage::Key;

/// The REST proxy event API Gateway would send for this request.
#[allow(clippy::too_many_arguments)]
pub(super) fn build_event(
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
    // `+` is a space and `%XX` a byte, as in a form; a malformed escape is
    // kept as written.
    let pairs = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes());
    for (k, v) in pairs {
        let (k, v) = (k.into_owned(), v.into_owned());
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
    // The template's resources: `/presign/{proxy+}` and `/id/{proxy+}`
    // (caching off) take paths whose first segment is literally theirs, and
    // hand over what follows; `/{proxy+}` takes the rest.
    let own = |raw: &str, proxy: &str| {
        super::cache::UNCACHED_ROUTES
            .iter()
            .copied()
            .find(|r| raw.starts_with(r) && proxy.starts_with(r) && proxy.len() > r.len())
    };
    let (resource, path, path_parameters) = match (raw_rest, proxy) {
        (Some(raw), Some(proxy)) => match own(raw, proxy) {
            Some(route) => (
                format!("/{route}{{proxy+}}"),
                format!("/{raw}"),
                json!({ "proxy": &proxy[route.len()..] }),
            ),
            None => (
                "/{proxy+}".to_string(),
                format!("/{raw}"),
                json!({ "proxy": proxy }),
            ),
        },
        _ => ("/".to_string(), "/".to_string(), Value::Null),
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
        "body": if body.is_empty() { Value::Null } else { Value::from(base64_simd::STANDARD.encode_to_string(body)) },
        "isBase64Encoded": !body.is_empty(),
    })
}

/// The Lambda response JSON as API Gateway turns it into HTTP: status,
/// `headers` merged with `multiValueHeaders` (the latter winning), and the
/// body base64-decoded when `isBase64Encoded` (binary media types `*/*`).
pub fn to_http(json: &str, head: bool) -> Result<Response<Full<Bytes>>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let body = match (
        v.get("body").and_then(Value::as_str),
        v["isBase64Encoded"].as_bool().unwrap_or(false),
    ) {
        (None, _) => Bytes::new(),
        (Some(b), true) => Bytes::from(
            base64_simd::STANDARD
                .decode_to_vec(b)
                .map_err(|e| format!("invalid base64 body: {e}"))?,
        ),
        (Some(b), false) => Bytes::from(b.to_string()),
    };
    let body_len = body.len();
    // The transport sets Content-Length from the body (HEAD keeps the
    // function's, which is the object's size).
    let mut resp =
        status_and_headers(&v, head)?.map(|()| Full::new(if head { Bytes::new() } else { body }));
    if !head {
        resp.headers_mut()
            .insert("content-length", HeaderValue::from(body_len));
    }
    Ok(resp)
}

/// A streamed response's prelude as API Gateway reads it: the status and
/// headers (the function's `Content-Length` kept, so a stream cut short is
/// seen as such); the body follows as it arrives.
pub fn from_prelude(prelude: &str) -> Result<Response<()>, String> {
    let v: Value = serde_json::from_str(prelude).map_err(|e| e.to_string())?;
    status_and_headers(&v, true)
}

/// Status and headers of a Lambda response or prelude: `headers` merged
/// with `multiValueHeaders` (the latter winning). `Content-Length` is kept
/// only with `keep_length`.
fn status_and_headers(v: &Value, keep_length: bool) -> Result<Response<()>, String> {
    let status = v["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("no valid statusCode")?;
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
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    for (name, values) in merged {
        if name.eq_ignore_ascii_case("content-length") && !keep_length {
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
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

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
