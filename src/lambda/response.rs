//! The Lambda proxy response API Gateway reads: status, `headers` and
//! `multiValueHeaders`, and a body that is text (JSON, sent as is) or bytes
//! (base64 with `isBase64Encoded: true`). The fast writer puts the base64
//! straight into the JSON; a serde implementation of the same JSON is kept
//! as its reference, and a test holds the two equal byte for byte.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// A response body: text (JSON, sent as is) or bytes (sent as base64 with
/// `isBase64Encoded: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

/// The Lambda proxy response API Gateway expects. Written with both
/// `headers` and `multiValueHeaders` (as lambda_http does) so that API
/// Gateway, `sam local` and the local gateway all read it the same way.
/// Binary bodies stay bytes until [`ProxyResponse::to_json`] writes their
/// base64 straight into the response JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyResponse {
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

impl ProxyResponse {
    /// The prelude of a streamed response: `{"statusCode", "headers",
    /// "multiValueHeaders", "cookies"}`. A header given more than once is
    /// joined with commas in `headers` (a deployed gateway answers 502 to an
    /// array there) and listed whole in `multiValueHeaders`; s3gate sets no
    /// cookies.
    pub fn prelude(&self) -> String {
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in &self.headers {
            match single.get_mut(name) {
                Some(serde_json::Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(value);
                }
                _ => {
                    single.insert(name.clone(), value.clone().into());
                }
            }
            let list = multi
                .entry(name.clone())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut() {
                list.push(value.clone().into());
            }
        }
        serde_json::json!({
            "statusCode": self.status_code,
            "headers": single,
            "multiValueHeaders": multi,
            "cookies": [],
        })
        .to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_base64_encoded(&self) -> bool {
        matches!(self.body, Some(Body::Binary(_)))
    }

    /// The body bytes as the client receives them.
    pub fn body_bytes(&self) -> &[u8] {
        match &self.body {
            None => &[],
            Some(Body::Text(t)) => t.as_bytes(),
            Some(Body::Binary(b)) => b,
        }
    }

    /// The response JSON, written once into a buffer of the exact size:
    /// base64 goes straight into it, with no intermediate string and no
    /// escaping pass over megabytes that cannot need escaping.
    pub fn to_json(&self) -> String {
        let single = serde_json::to_string(&Single(&self.headers)).unwrap_or_else(|_| "{}".into());
        let multi = serde_json::to_string(&Multi(&self.headers)).unwrap_or_else(|_| "{}".into());
        let text = match &self.body {
            Some(Body::Text(t)) => Some(serde_json::to_string(t).unwrap_or_else(|_| "\"\"".into())),
            _ => None,
        };
        let body_len = match (&self.body, &text) {
            (Some(Body::Binary(b)), _) => b.len().div_ceil(3) * 4 + 2,
            (_, Some(t)) => t.len(),
            _ => 0,
        };
        let mut out = String::with_capacity(96 + single.len() + multi.len() + body_len);
        out.push_str("{\"statusCode\":");
        out.push_str(&self.status_code.to_string());
        out.push_str(",\"headers\":");
        out.push_str(&single);
        out.push_str(",\"multiValueHeaders\":");
        out.push_str(&multi);
        match (&self.body, text) {
            (Some(Body::Binary(bytes)), _) => {
                out.push_str(",\"body\":\"");
                // SIMD (AVX2/SSE4.1 detected at run time, NEON on Graviton):
                // ~5x the scalar encoder on a 4 MiB image.
                base64_simd::STANDARD.encode_append(bytes, &mut out);
                out.push('"');
            }
            (_, Some(t)) => {
                out.push_str(",\"body\":");
                out.push_str(&t);
            }
            _ => {}
        }
        out.push_str(",\"isBase64Encoded\":");
        out.push_str(if self.is_base64_encoded() {
            "true}"
        } else {
            "false}"
        });
        out
    }
}

struct Single<'a>(&'a [(String, String)]);
impl Serialize for Single<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct Multi<'a>(&'a [(String, String)]);
impl Serialize for Multi<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &[v])?;
        }
        m.end()
    }
}

/// The same JSON as [`ProxyResponse::to_json`], through serde (slower for
/// large bodies; the function and the local gateway use `to_json`).
impl Serialize for ProxyResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("statusCode", &self.status_code)?;
        m.serialize_entry("headers", &Single(&self.headers))?;
        m.serialize_entry("multiValueHeaders", &Multi(&self.headers))?;
        match &self.body {
            Some(Body::Text(t)) => m.serialize_entry("body", t)?,
            Some(Body::Binary(b)) => m.serialize_entry("body", &base64_of(b))?,
            None => {}
        }
        m.serialize_entry("isBase64Encoded", &self.is_base64_encoded())?;
        m.end()
    }
}

fn base64_of(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_api_gateway_expects() {
        let png = ProxyResponse {
            status_code: 200,
            headers: vec![
                ("Content-Type".into(), "image/png".into()),
                ("ETag".into(), "\"a\\\"b\"".into()),
            ],
            body: Some(Body::Binary(vec![0, 1])),
        };
        let v: serde_json::Value = serde_json::from_str(&png.to_json()).expect("to_json is JSON");
        assert_eq!(
            v,
            serde_json::json!({"statusCode": 200, "headers": {"Content-Type": "image/png", "ETag": "\"a\\\"b\""},
                "multiValueHeaders": {"Content-Type": ["image/png"], "ETag": ["\"a\\\"b\""]}, "body": "AAE=",
                "isBase64Encoded": true})
        );
        // The fast writer and serde agree, byte for byte, for every body kind
        // and sizes around base64's padding.
        for body in [
            None,
            Some(Body::Text("{\"message\":\"é\\n\u{1}\"}".into())),
            Some(Body::Binary(Vec::new())),
            Some(Body::Binary(vec![255])),
            Some(Body::Binary(vec![1, 2])),
            Some(Body::Binary((0..=255).collect())),
        ] {
            let r = ProxyResponse {
                status_code: 404,
                headers: png.headers.clone(),
                body,
            };
            let fast = r.to_json();
            assert_eq!(fast, serde_json::to_string(&r).expect("serde"), "{r:?}");
            assert!(
                fast.capacity() <= fast.len() + 128,
                "buffer grew: {} for {}",
                fast.capacity(),
                fast.len()
            );
        }
    }
}
