//! The one log line of a request: what was asked, what was answered, how
//! long it took, and (with metrics on and JSON logs) its CloudWatch EMF
//! metrics in the same line.

use std::time::Instant;

use crate::request::{Method, Request, Target};

/// The route a request took, from a fixed list (a metric dimension: never
/// the key).
pub(super) fn route_kind(req: &Request) -> &'static str {
    if req.method == Method::Options {
        return "options";
    }
    match &req.target {
        Ok(Target::Object(_)) if crate::transform::is_transform(&req.query) => "transform",
        Ok(Target::Object(_)) => "object",
        Ok(Target::Listing(_) | Target::Bucket) => "listing",
        Ok(Target::Presign(_) | Target::PresignById(_)) => "presign",
        Ok(Target::ById(_)) => "by_id",
        Ok(Target::IdOf(_)) => "id",
        Ok(Target::Buckets) => "buckets",
        Ok(Target::Reserved | Target::UnknownBucket(_)) | Err(_) => "refused",
    }
}

/// The one log line of a request; a store's own words for a failure, when
/// there are any, go here and never to the caller. With metrics on and
/// JSON logs (Lambda's), the line carries them as CloudWatch EMF and is
/// written whatever the log filter says, so a `RUST_LOG=warn` cannot drop
/// them by accident.
pub(super) fn write(
    req: &Request,
    status: u16,
    bytes: u64,
    started: Instant,
    detail: Option<String>,
    metrics: Option<crate::metrics::RequestMetrics<'_>>,
) {
    let key = match &req.target {
        Ok(Target::Object(k) | Target::Listing(k) | Target::Presign(k) | Target::IdOf(k)) => {
            k.as_str()
        }
        _ => "",
    };
    let bucket = req.bucket.as_deref().unwrap_or_default();
    let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let method = req.method.as_str();
    if let Some(metrics) = metrics.filter(|_| crate::telemetry::json_logs()) {
        let now = std::time::SystemTime::now();
        let mut line = serde_json::Map::new();
        line.insert(
            "timestamp".into(),
            aws_smithy_types::DateTime::from(now)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default()
                .into(),
        );
        let (level, message) = match &detail {
            Some(_) => ("WARN", "storage failure"),
            None => ("INFO", "request"),
        };
        line.insert("level".into(), level.into());
        line.insert("message".into(), message.into());
        line.insert("request_id".into(), req.request_id.clone().into());
        line.insert("method".into(), method.into());
        line.insert("bucket".into(), bucket.into());
        line.insert("key".into(), key.into());
        line.insert("status".into(), status.into());
        line.insert("bytes".into(), bytes.into());
        line.insert("duration_ms".into(), duration_ms.into());
        if let Some(detail) = detail {
            line.insert("detail".into(), detail.into());
        }
        line.insert("target".into(), "s3gate::handler".into());
        line.extend(metrics.emf(now));
        crate::telemetry::write_line(&serde_json::Value::Object(line).to_string());
        return;
    }
    match detail {
        Some(detail) => tracing::warn!(
            request_id = %req.request_id, method, bucket, key, status, duration_ms,
            detail = %detail, "storage failure"
        ),
        None => tracing::info!(
            request_id = %req.request_id, method, bucket, key, status, bytes, duration_ms,
            "request"
        ),
    }
}
