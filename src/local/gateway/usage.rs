//! The usage plan: API keys (compared in constant time), a token bucket per
//! key for the throttle and a counter per key and UTC period for the quota,
//! with API Gateway's periods (a day, a week from Monday, a calendar month).

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::Shared;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    pub fn parse(s: &str) -> Option<QuotaPeriod> {
        match s.to_ascii_uppercase().as_str() {
            "DAY" => Some(QuotaPeriod::Day),
            "WEEK" => Some(QuotaPeriod::Week),
            "MONTH" => Some(QuotaPeriod::Month),
            _ => None,
        }
    }

    /// The name the template and the flag use.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaPeriod::Day => "DAY",
            QuotaPeriod::Week => "WEEK",
            QuotaPeriod::Month => "MONTH",
        }
    }

    /// Which period a moment falls in (UTC, as API Gateway counts): days
    /// since the epoch, weeks starting Monday, or calendar months.
    pub(super) fn window(self, t: SystemTime) -> u64 {
        let days = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        match self {
            QuotaPeriod::Day => days,
            // 1970-01-01 was a Thursday; shift so weeks start on Monday.
            QuotaPeriod::Week => (days + 3) / 7,
            QuotaPeriod::Month => {
                let (y, m) = civil_year_month(days as i64);
                (y * 12 + m) as u64
            }
        }
    }
}

/// Year and month (1-12) of a day count since 1970-01-01 (Howard Hinnant's
/// civil-from-days).
fn civil_year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// One key's usage: a token bucket and a quota counter.
#[derive(Debug)]
pub(super) struct Usage {
    pub(super) tokens: f64,
    pub(super) refilled: Instant,
    pub(super) window: u64,
    pub(super) used: u64,
}

#[derive(Debug)]
pub(super) struct Key {
    pub(super) id: String,
    pub(super) value: String,
    pub(super) usage: Mutex<Usage>,
}

pub(super) enum Admission {
    Ok,
    Throttled,
    OverQuota,
}

impl Shared {
    /// The key whose value matches, compared in constant time (every key is
    /// compared, whatever matched first).
    pub(super) fn find_key(&self, presented: &str) -> Option<&Key> {
        let mut found = None;
        for key in &self.keys {
            if constant_time_eq(key.value.as_bytes(), presented.as_bytes()) {
                found = Some(key);
            }
        }
        found
    }

    pub(super) fn admit(&self, key: &Key) -> Admission {
        let Ok(mut u) = key.usage.lock() else {
            return Admission::Ok;
        };
        let now = Instant::now();
        let window = self.cfg.quota_period.window(SystemTime::now());
        if window != u.window {
            u.window = window;
            u.used = 0;
        }
        let burst = f64::from(self.cfg.burst_limit);
        u.tokens = (u.tokens + now.duration_since(u.refilled).as_secs_f64() * self.cfg.rate_limit)
            .min(burst);
        u.refilled = now;
        if u.tokens < 1.0 {
            return Admission::Throttled;
        }
        if u.used >= self.cfg.quota_limit {
            return Admission::OverQuota;
        }
        u.tokens -= 1.0;
        u.used += 1;
        Admission::Ok
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quota_windows() {
        let day = |d: u64| UNIX_EPOCH + Duration::from_secs(d * 86_400 + 3600);
        assert_eq!(QuotaPeriod::Day.window(day(10)), 10);
        // 1970-01-05 was a Monday: a new week starts there.
        assert_eq!(
            QuotaPeriod::Week.window(day(3)),
            QuotaPeriod::Week.window(day(0))
        );
        assert_ne!(
            QuotaPeriod::Week.window(day(4)),
            QuotaPeriod::Week.window(day(3))
        );
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(31), (1970, 2));
        assert_eq!(civil_year_month(20_779), (2026, 11)); // 2026-11-22
        assert_ne!(
            QuotaPeriod::Month.window(day(30)),
            QuotaPeriod::Month.window(day(31))
        );
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
