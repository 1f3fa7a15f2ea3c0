//! The API Gateway REST (v1) proxy event, as JSON: the fields s3gate reads,
//! `null` accepted wherever API Gateway may send it, and the one check of
//! what a REST proxy event always has, shared by the Lambda loop and
//! `s3gate invoke`.

use std::collections::HashMap;

use serde::Deserialize;

/// The fields of an API Gateway REST (v1) proxy event that s3gate reads.
/// Unknown fields are ignored and `null` is accepted wherever API Gateway
/// may send it, so any event API Gateway or `sam local` produces parses.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProxyEvent {
    pub http_method: Option<String>,
    pub path: Option<String>,
    pub resource: Option<String>,
    pub headers: Option<HashMap<String, Option<String>>>,
    pub multi_value_headers: Option<HashMap<String, Option<Vec<String>>>>,
    pub query_string_parameters: Option<HashMap<String, Option<String>>>,
    pub multi_value_query_string_parameters: Option<HashMap<String, Option<Vec<String>>>>,
    pub path_parameters: Option<HashMap<String, Option<String>>>,
    pub request_context: Option<RequestContext>,
    pub body: Option<String>,
    pub is_base64_encoded: Option<bool>,
}

impl ProxyEvent {
    /// Parses an event, refusing JSON that is not an API Gateway REST proxy
    /// event: one that is not an object, or lacks what API Gateway always
    /// sends (`httpMethod` and `path` as strings, a `requestContext`
    /// object). `s3gate invoke` and the Lambda loop refuse the same events.
    pub fn from_slice(json: &[u8]) -> Result<ProxyEvent, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Shape {
            #[allow(dead_code)]
            http_method: String,
            #[allow(dead_code)]
            path: String,
            #[allow(dead_code)]
            request_context: serde_json::Map<String, serde_json::Value>,
        }
        let refuse = |e: serde_json::Error| {
            format!(
                "not an API Gateway proxy event (a REST proxy event is a JSON object with httpMethod, path and requestContext): {e}"
            )
        };
        serde_json::from_slice::<Shape>(json).map_err(refuse)?;
        serde_json::from_slice(json).map_err(refuse)
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub stage: Option<String>,
    pub http_method: Option<String>,
    pub identity: Option<Identity>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Identity {
    pub api_key_id: Option<String>,
    pub source_ip: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_without_the_rest_proxy_shape_are_refused() {
        for bad in [
            "[]",
            "{}",
            "3",
            "null",
            r#"{"httpMethod":"GET","path":"/a"}"#,
            r#"{"httpMethod":"GET","requestContext":{}}"#,
            r#"{"path":"/a","requestContext":{}}"#,
            r#"{"httpMethod":1,"path":"/a","requestContext":{}}"#,
            r#"{"httpMethod":"GET","path":"/a","requestContext":[]}"#,
        ] {
            let err = ProxyEvent::from_slice(bad.as_bytes()).expect_err(bad);
            assert!(err.contains("REST proxy event"), "{bad}: {err}");
        }
        assert!(
            ProxyEvent::from_slice(br#"{"httpMethod":"GET","path":"/a","requestContext":{}}"#)
                .is_ok()
        );
    }
}
