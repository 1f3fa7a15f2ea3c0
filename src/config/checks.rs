//! The checks each raw setting passes: numbers and durations in range,
//! booleans, bucket names and CORS origins. Each adds to the list of
//! problems instead of stopping, so all of them are reported together.

use std::time::Duration;

use super::SETTINGS;
use crate::media::is_header_value;

/// A duration in (fractional) seconds within `range`, else `default`
/// seconds and a problem.
pub fn seconds(
    raw: &impl Fn(&str) -> Option<String>,
    name: &str,
    range: (f64, f64),
    default: u64,
    note: &str,
    problems: &mut Vec<String>,
) -> Duration {
    match raw(name) {
        Some(s) => match s.trim().parse::<f64>() {
            Ok(secs) if (range.0..=range.1).contains(&secs) => Duration::from_secs_f64(secs),
            _ => {
                problems.push(format!(
                    "{name} {s:?}: expected seconds between {} and {}{note}",
                    range.0, range.1
                ));
                Duration::from_secs(default)
            }
        },
        None => Duration::from_secs(default),
    }
}

pub fn number(
    raw: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
    problems: &mut Vec<String>,
) -> u64 {
    let default = SETTINGS
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.default)
        .and_then(|d| d.parse().ok())
        .unwrap_or(min);
    match raw(name) {
        None => default,
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                problems.push(format!(
                    "{name} {s:?}: expected a whole number from {min} to {max}"
                ));
                default
            }
        },
    }
}

pub fn boolean(
    raw: &impl Fn(&str) -> Option<String>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<bool> {
    match raw(name)?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        "" => None,
        other => {
            problems.push(format!("{name} {other:?}: expected `true` or `false`"));
            None
        }
    }
}

pub fn check_origin(o: &str) -> Result<(), &'static str> {
    if o == "*" {
        return Ok(());
    }
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or("expected `*` or an origin such as https://example.com")?;
    if rest.is_empty() || rest.contains('/') || !is_header_value(rest) || rest.contains(' ') {
        return Err("an origin has a scheme and a host (and maybe a port), no path");
    }
    Ok(())
}
