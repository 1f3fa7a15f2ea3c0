//! The stage cache, as API Gateway keeps it when `CacheSize` is set
//! (`s3gate serve --cache-ttl`): GET answers of the cached resources, keyed
//! by the same cache key parameters the template declares, each kept for
//! the TTL; entries over 1 MiB are not kept; past the capacity the least
//! recently used go. A client's `Cache-Control: max-age=0` does not bypass
//! it: API Gateway honours that only from IAM-signed callers allowed to
//! invalidate, never from API-key callers (it answers from the cache and
//! says so in a header). What is not cached: every method but GET, the
//! `presign/` and `id/` resources (their own, with caching off), and
//! streamed answers (API Gateway does not cache streams; the template
//! refuses the combination).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::HeaderMap;

use crate::request::{ID_OF_ROUTE, PRESIGN_ROUTE};

/// API Gateway's largest cached response.
pub const MAX_ENTRY: usize = 1_048_576;

/// Query parameters in the cache key: every one a cached route reads.
pub const KEY_QUERY: &[&str] = &[
    "w", "h", "fit", "gravity", "format", "q", "dpr", "sig", "expires", "limit", "token",
];
/// Request headers in the cache key: those that change the answer to a GET
/// of the same path (ranges, validators), and `Accept` when transforms are
/// on (`format=auto`).
pub const KEY_HEADERS: &[&str] = &[
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "If-Match",
    "If-Unmodified-Since",
    "If-Range",
];
/// The resources (first path segment) with caching off: the routes'
/// own, from the one place they are named.
pub const UNCACHED_ROUTES: &[&str] = &[PRESIGN_ROUTE, ID_OF_ROUTE];

/// The header API Gateway adds when it ignores a caller's `max-age=0`.
pub const IGNORED_INVALIDATION: &str =
    "199 Cache-control headers were ignored because the caller was unauthorized.";

struct Entry {
    response: std::sync::Arc<str>,
    size: usize,
    stored: Instant,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Last use -> key, for evicting the least recently used.
    by_use: BTreeMap<u64, String>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// The emulated cache cluster.
pub struct StageCache {
    ttl: Duration,
    capacity: usize,
    accept_in_key: bool,
    inner: Mutex<Inner>,
}

/// Hits and misses so far (API Gateway's `CacheHitCount`/`CacheMissCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub bytes: usize,
}

impl StageCache {
    pub fn new(ttl: Duration, capacity: usize, accept_in_key: bool) -> StageCache {
        StageCache {
            ttl,
            capacity,
            accept_in_key,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The cache key of a request, or `None` when API Gateway would not
    /// cache it: not a GET, or on a resource with caching off.
    pub fn key(
        &self,
        method: &hyper::Method,
        proxy: Option<&str>,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> Option<String> {
        if method != hyper::Method::GET {
            return None;
        }
        let path = proxy.unwrap_or("");
        if UNCACHED_ROUTES.iter().any(|r| path.starts_with(r)) {
            return None;
        }
        let mut key = format!("path={path}");
        for name in KEY_QUERY {
            let values: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            key.push_str(&format!("\nq.{name}={values:?}"));
        }
        let accept = ["Accept"];
        let names = KEY_HEADERS
            .iter()
            .chain(accept.iter().filter(|_| self.accept_in_key));
        for name in names {
            let values: Vec<&str> = headers
                .get_all(*name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            key.push_str(&format!("\nh.{name}={values:?}"));
        }
        Some(key)
    }

    /// The cached response JSON for `key`, if fresh.
    pub fn get(&self, key: &str) -> Option<std::sync::Arc<str>> {
        let mut inner = self.inner.lock().ok()?;
        inner.clock += 1;
        let now = inner.clock;
        let fresh = inner
            .entries
            .get(key)
            .is_some_and(|e| e.stored.elapsed() < self.ttl);
        if !fresh {
            if let Some(stale) = inner.entries.remove(key) {
                inner.by_use.remove(&stale.used);
                inner.bytes -= stale.size;
            }
            inner.misses += 1;
            return None;
        }
        inner.hits += 1;
        let entry = inner.entries.get_mut(key)?;
        let old = std::mem::replace(&mut entry.used, now);
        let response = entry.response.clone();
        inner.by_use.remove(&old);
        inner.by_use.insert(now, key.to_string());
        Some(response)
    }

    /// Keeps a response (its JSON, and the size of its decoded body) unless
    /// it is over API Gateway's 1 MiB; evicts the least recently used past
    /// the capacity.
    pub fn put(&self, key: String, response: &str, body_len: usize) {
        if body_len > MAX_ENTRY || body_len > self.capacity {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.entries.remove(&key) {
            inner.by_use.remove(&old.used);
            inner.bytes -= old.size;
        }
        while inner.bytes + body_len > self.capacity {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.size;
            }
        }
        inner.bytes += body_len;
        inner.by_use.insert(now, key.clone());
        inner.entries.insert(
            key,
            Entry {
                response: response.into(),
                size: body_len,
                stored: Instant::now(),
                used: now,
            },
        );
    }

    pub fn stats(&self) -> CacheStats {
        match self.inner.lock() {
            Ok(i) => CacheStats {
                hits: i.hits,
                misses: i.misses,
                entries: i.entries.len(),
                bytes: i.bytes,
            },
            Err(_) => CacheStats {
                hits: 0,
                misses: 0,
                entries: 0,
                bytes: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        m
    }

    #[test]
    fn keys_keep_different_answers_apart() {
        let c = StageCache::new(Duration::from_secs(60), 1 << 20, true);
        let get = hyper::Method::GET;
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let plain = c.key(&get, Some("a.jpg"), &[], &h(&[])).expect("cached");
        for other in [
            c.key(&get, Some("b.jpg"), &[], &h(&[])),
            c.key(&get, Some("a.jpg"), &q(&[("w", "10")]), &h(&[])),
            c.key(&get, Some("a.jpg"), &[], &h(&[("Range", "bytes=0-1")])),
            c.key(&get, Some("a.jpg"), &[], &h(&[("If-None-Match", "\"x\"")])),
            c.key(&get, Some("a.jpg"), &[], &h(&[("Accept", "image/avif")])),
            c.key(&get, Some("b/a.jpg"), &[], &h(&[])),
        ] {
            assert_ne!(other.as_deref(), Some(plain.as_str()));
        }
        // Parameters the function does not read, and other headers, do not.
        assert_eq!(
            c.key(
                &get,
                Some("a.jpg"),
                &q(&[("utm", "x")]),
                &h(&[("User-Agent", "y")])
            ),
            Some(plain.clone())
        );
        assert_eq!(
            c.key(&hyper::Method::HEAD, Some("a.jpg"), &[], &h(&[])),
            None
        );
        assert_eq!(c.key(&get, Some("presign/a.jpg"), &[], &h(&[])), None);
        assert_eq!(c.key(&get, Some("id/a.jpg"), &[], &h(&[])), None);
        let no_accept = StageCache::new(Duration::from_secs(60), 1 << 20, false);
        assert_eq!(
            no_accept.key(&get, Some("a.jpg"), &[], &h(&[("Accept", "image/avif")])),
            no_accept.key(&get, Some("a.jpg"), &[], &h(&[]))
        );
    }

    #[test]
    fn ttl_size_and_capacity() {
        let c = StageCache::new(Duration::from_millis(50), 3000, false);
        c.put("a".into(), "A", 1000);
        assert_eq!(c.get("a").as_deref(), Some("A"));
        c.put("big".into(), "B", MAX_ENTRY + 1);
        assert_eq!(c.get("big"), None, "over 1 MiB: not kept");
        c.put("b".into(), "B", 1000);
        c.put("c".into(), "C", 1000);
        assert!(c.get("a").is_some(), "a used last");
        c.put("d".into(), "D", 1000);
        assert_eq!(c.get("b"), None, "least recently used evicted");
        assert!(c.get("a").is_some() && c.get("c").is_some() && c.get("d").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get("a"), None, "past the TTL");
        let s = c.stats();
        assert!(s.hits >= 5 && s.misses >= 3, "{s:?}");
    }
}
