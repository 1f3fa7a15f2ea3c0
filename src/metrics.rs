//! Metrics as CloudWatch Embedded Metric Format (EMF), inside the one JSON
//! log line each request has: CloudWatch Logs extracts them, so there is no
//! second line and no API call. Written by hand (an `_aws` object and the
//! values beside the other fields): the format is a few keys, and the
//! crates for it pull in a metrics facade or a second logger.
//!
//! Per request: `Latency` and `StorageLatency` (ms, the S3 calls before the
//! answer's headers), `TransformTime` (ms, transforms only), `BytesOut`,
//! `Requests` (1) and `ColdStart` (1 on the process's first request). The
//! dimensions stay bounded: `Stage`, `Route` (a fixed list) and
//! `StatusClass`, in three sets (the stage; by status class, which the
//! template's gateway-4xx alarm subtracts; by route and status class);
//! never the key or the bucket.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The namespace the metrics land in.
pub const NAMESPACE: &str = "s3gate";

static WARM: AtomicBool = AtomicBool::new(false);

tokio::task_local! {
    /// Time one request spent waiting for the store and transforming.
    static TIMING: Timing;
}

#[derive(Default)]
struct Timing {
    storage: Cell<Duration>,
    transform: Cell<Duration>,
}

/// What a request's time went to, measured while `fut` runs.
pub async fn measured<F: std::future::Future>(fut: F) -> (F::Output, Spent) {
    TIMING
        .scope(Timing::default(), async {
            let out = fut.await;
            let spent = TIMING
                .try_with(|t| Spent {
                    storage: t.storage.get(),
                    transform: t.transform.get(),
                })
                .unwrap_or_default();
            (out, spent)
        })
        .await
}

/// Store and transform time of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub storage: Duration,
    pub transform: Duration,
}

/// Adds time spent waiting for the store (no-op outside a request).
pub fn add_storage(d: Duration) {
    let _ = TIMING.try_with(|t| t.storage.set(t.storage.get() + d));
}

/// Adds time spent transforming (no-op outside a request).
pub fn add_transform(d: Duration) {
    let _ = TIMING.try_with(|t| t.transform.set(t.transform.get() + d));
}

/// Whether this is the process's first request (a cold start); true once.
pub fn cold_start() -> bool {
    !WARM.swap(true, Ordering::AcqRel)
}

/// One request's figures.
#[derive(Debug, Clone)]
pub struct RequestMetrics<'a> {
    pub stage: &'a str,
    pub route: &'static str,
    pub status: u16,
    pub latency: Duration,
    pub spent: Spent,
    pub transformed: bool,
    pub bytes: u64,
    pub cold: bool,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl RequestMetrics<'_> {
    pub fn status_class(&self) -> &'static str {
        match self.status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        }
    }

    /// The EMF members to merge into the log line: the `_aws` directive,
    /// the dimension values and the metric values.
    pub fn emf(&self, now: SystemTime) -> Map<String, Value> {
        let mut metrics = vec![
            json!({"Name": "Requests", "Unit": "Count"}),
            json!({"Name": "Latency", "Unit": "Milliseconds"}),
            json!({"Name": "StorageLatency", "Unit": "Milliseconds"}),
            json!({"Name": "BytesOut", "Unit": "Bytes"}),
            json!({"Name": "ColdStart", "Unit": "Count"}),
        ];
        if self.transformed {
            metrics.push(json!({"Name": "TransformTime", "Unit": "Milliseconds"}));
        }
        let timestamp = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut m = Map::new();
        m.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stage"], ["Stage", "StatusClass"], ["Stage", "Route", "StatusClass"]],
                    "Metrics": metrics,
                }],
            }),
        );
        m.insert("Stage".into(), stage_dimension(self.stage).into());
        m.insert("Route".into(), self.route.into());
        m.insert("StatusClass".into(), self.status_class().into());
        m.insert("Requests".into(), 1.into());
        m.insert("Latency".into(), ms(self.latency).into());
        m.insert("StorageLatency".into(), ms(self.spent.storage).into());
        m.insert("BytesOut".into(), self.bytes.into());
        m.insert("ColdStart".into(), u8::from(self.cold).into());
        if self.transformed {
            m.insert("TransformTime".into(), ms(self.spent.transform).into());
        }
        m
    }
}

/// A stage name as API Gateway allows them (1-128 of `A-Za-z0-9_-`), or
/// `invalid`: the event's value reaches a dimension, which must stay
/// bounded even for a hand-made event.
fn stage_dimension(stage: &str) -> &str {
    let fits = (1..=128).contains(&stage.len())
        && stage
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fits { stage } else { "invalid" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_record_cloudwatch_accepts() {
        let r = RequestMetrics {
            stage: "dev",
            route: "transform",
            status: 404,
            latency: Duration::from_micros(12_345),
            spent: Spent {
                storage: Duration::from_micros(2_500),
                transform: Duration::from_millis(8),
            },
            transformed: true,
            bytes: 0,
            cold: false,
        };
        let m = r.emf(UNIX_EPOCH + Duration::from_secs(1_795_338_000));
        let aws = &m["_aws"];
        assert_eq!(aws["Timestamp"], 1_795_338_000_000u64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "s3gate");
        // Every dimension and metric a directive names is a member.
        for set in directive["Dimensions"].as_array().expect("sets") {
            for d in set.as_array().expect("set") {
                assert!(m[d.as_str().expect("name")].is_string(), "{d}");
            }
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            assert!(m[name].is_number(), "{name}");
        }
        assert_eq!(m["StatusClass"], "4xx");
        assert_eq!(m["Latency"], 12.345);
        assert_eq!(m["TransformTime"], 8.0);
        // No key, no bucket among the dimensions.
        let text = serde_json::to_string(&m).expect("json");
        assert!(!text.contains("\"Key\"") && !text.contains("\"Bucket\""));
        assert_eq!(stage_dimension("prod_2-eu"), "prod_2-eu");
        for odd in ["", "a b", "é", &"s".repeat(129), "x\"y"] {
            assert_eq!(stage_dimension(odd), "invalid", "{odd:?}");
        }
    }

    #[tokio::test]
    async fn time_is_summed_per_request_only() {
        add_storage(Duration::from_secs(9)); // outside a request: dropped
        let ((), spent) = measured(async {
            add_storage(Duration::from_millis(3));
            add_storage(Duration::from_millis(4));
            add_transform(Duration::from_millis(5));
        })
        .await;
        assert_eq!(spent.storage, Duration::from_millis(7));
        assert_eq!(spent.transform, Duration::from_millis(5));
        let ((), again) = measured(async {}).await;
        assert_eq!(again, Spent::default());
    }
}
