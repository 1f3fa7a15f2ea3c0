//! Figures per function and object size: medians over cold starts, warm
//! percentiles over all warm invokes pooled, the Markdown table and the JSON.

use serde_json::{Value, json};

use crate::cold::Cold;

/// Lambda arm64 prices: per GB-second of duration, per request.
pub const GB_SECOND_USD: f64 = 0.000_013_333_4;
pub const REQUEST_USD: f64 = 0.20e-6;
pub const COST_FORMULA: &str = "$/M req = 0.20 + warm_p50_ms / 1000 * memory_MB / 1024 * 0.0000133334 * 1e6 (Lambda arm64: $0.20 per million requests, $0.0000133334 per GB-second; duration billed as measured here, not on Lambda's CPU share)";

/// All cold starts of one function on one object.
pub struct Row {
    pub function: String,
    pub size: String,
    pub bytes: usize,
    pub colds: Vec<Cold>,
}

/// Nearest-rank percentile of unsorted samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

fn median_of(colds: &[Cold], get: impl Fn(&Cold) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = colds.iter().filter_map(get).collect();
    percentile(&v, 50.0)
}

impl Row {
    fn pooled(&self, get: impl Fn(&Cold) -> &Vec<f64>) -> Vec<f64> {
        self.colds
            .iter()
            .flat_map(|c| get(c).iter().copied())
            .collect()
    }

    /// `307+GET`: every answer was a 307 whose `Location` the harness
    /// fetched (the function's figures stop at the 307).
    pub fn mode(&self) -> &'static str {
        let (all, streamed, redirected) = self.colds.iter().fold((0, 0, 0), |(a, s, r), c| {
            (a + c.invokes, s + c.streamed, r + c.redirected)
        });
        match (streamed, redirected) {
            (_, r) if all > 0 && r == all => "307+GET",
            (0, 0) => "buffered",
            (s, 0) if s == all => "stream",
            _ => "mixed",
        }
    }

    /// Checked responses (200, exact bytes) out of the planned invokes.
    pub fn ok(&self, planned: usize) -> (usize, usize) {
        (self.colds.iter().map(|c| c.ok).sum(), planned)
    }

    pub fn cost_per_million(&self, memory_mb: u32) -> Option<f64> {
        let p50 = percentile(&self.pooled(|c| &c.warm_ms), 50.0)?;
        let gb_seconds = p50 / 1000.0 * f64::from(memory_mb) / 1024.0;
        Some((REQUEST_USD + gb_seconds * GB_SECOND_USD) * 1e6)
    }

    pub fn json(&self, memory_mb: u32, planned: usize) -> Value {
        let warm = self.pooled(|c| &c.warm_ms);
        let ttfb = self.pooled(|c| &c.ttfb_ms);
        let post = self.pooled(|c| &c.post_first_byte_ms);
        let e2e = self.pooled(|c| &c.e2e_ms);
        let get_ttfb = self.pooled(|c| &c.get_ttfb_ms);
        let colds: Vec<Value> = self
            .colds
            .iter()
            .map(|c| {
                json!({
                    "init_ms": c.init_ms, "init_cpu_ms": c.init_cpu_ms, "first_ms": c.first_ms,
                    "first_invoke_ms": c.first_dur_ms, "warm_ms": c.warm_ms, "ttfb_ms": c.ttfb_ms,
                    "post_first_byte_ms": c.post_first_byte_ms, "e2e_ms": c.e2e_ms,
                    "get_ttfb_ms": c.get_ttfb_ms, "first_e2e_ms": c.first_e2e_ms,
                    "cpu_ms_per_invoke": c.cpu_ms_per_invoke,
                    "peak_rss_kib": c.peak_rss_kib, "invokes": c.invokes, "ok": c.ok,
                    "streamed": c.streamed, "redirected": c.redirected, "failures": c.failures,
                })
            })
            .collect();
        json!({
            "function": self.function, "size": self.size, "bytes": self.bytes, "mode": self.mode(),
            "ok": self.ok(planned).0, "planned_invokes": planned,
            "init_ms_median": median_of(&self.colds, |c| c.init_ms),
            "init_cpu_ms_median": median_of(&self.colds, |c| c.init_cpu_ms),
            "first_ms_median": median_of(&self.colds, |c| c.first_ms),
            "first_invoke_ms_median": median_of(&self.colds, |c| c.first_dur_ms),
            "warm_p50_ms": percentile(&warm, 50.0), "warm_p99_ms": percentile(&warm, 99.0),
            "ttfb_p50_ms": percentile(&ttfb, 50.0),
            "post_first_byte_p50_ms": percentile(&post, 50.0),
            "e2e_p50_ms": percentile(&e2e, 50.0), "e2e_p99_ms": percentile(&e2e, 99.0),
            "get_ttfb_p50_ms": percentile(&get_ttfb, 50.0),
            "first_e2e_ms_median": median_of(&self.colds, |c| c.first_e2e_ms),
            "cpu_ms_per_invoke_median": median_of(&self.colds, |c| c.cpu_ms_per_invoke),
            "peak_rss_mib_max": self.peak_rss_mib(),
            "cost_per_million_usd": self.cost_per_million(memory_mb),
            "cold_starts": colds,
        })
    }

    fn peak_rss_mib(&self) -> f64 {
        self.colds.iter().map(|c| c.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0
    }

    pub fn table_line(&self, memory_mb: u32, planned: usize) -> String {
        let f = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
        let warm = self.pooled(|c| &c.warm_ms);
        let ttfb = self.pooled(|c| &c.ttfb_ms);
        let e2e = self.pooled(|c| &c.e2e_ms);
        let (ok, planned) = self.ok(planned);
        let mark = if ok == planned { "" } else { " ✗" };
        let rss = self.peak_rss_mib();
        // More than the function's memory setting: Lambda would kill it.
        let over = if rss > f64::from(memory_mb) { " !" } else { "" };
        format!(
            "| {} | {} | {} | {ok}/{planned}{mark} | {} | {} | {} | {} | {} | {} | {} | {rss:.1}{over} | {} |",
            self.function,
            self.size,
            self.mode(),
            f(median_of(&self.colds, |c| c.init_ms), 1),
            f(median_of(&self.colds, |c| c.first_dur_ms), 1),
            f(percentile(&warm, 50.0), 2),
            f(percentile(&warm, 99.0), 2),
            f(percentile(&ttfb, 50.0), 2),
            f(percentile(&e2e, 50.0), 2),
            f(median_of(&self.colds, |c| c.cpu_ms_per_invoke), 2),
            f(self.cost_per_million(memory_mb), 4),
        )
    }
}

pub const TABLE_HEAD: &str = "| function | object | mode | ok | init ms | 1st invoke ms | warm p50 ms | warm p99 ms | TTFB p50 ms | e2e p50 ms | CPU ms/invoke | peak RSS MiB | $/M req |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// What the columns of a `307+GET` row mean (printed under the table when
/// there is one).
pub const REDIRECT_NOTE: &str = "307+GET: the function answered 307 with a presigned Location; the harness GETs it from the embedded store (loopback, keep-alive) and checks the bytes. warm p50/p99, 1st invoke and $/M req: the function's time, event to its 307 complete (what Lambda bills); TTFB: event to the first body byte of the GET; e2e: event to the last byte of the GET. CPU ms/invoke and peak RSS: the function's process group only; the GET is served by the store (in the harness's process), not by the function, and S3 bills it as a GET request.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
