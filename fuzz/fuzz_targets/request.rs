//! Fuzzes the request parser with whatever a caller controls: the bytes are
//! an API Gateway event (JSON), or, when they are not JSON, a raw path, a
//! proxy key and header values. Never a panic; an accepted key is clean and
//! inside the prefix; in bucket mode a request reaches only an allowlisted
//! bucket; an accepted raw path decodes the same after re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3gate::conditional::Conditions;
use s3gate::request::{KeyRules, Target, decode_path, encode_key, parse_key};
use s3gate::{ProxyEvent, Request};

const PREFIX: &str = "public/";

fn check(target: &Result<Target, s3gate::error::KeyError>) {
    if let Ok(
        Target::Object(key) | Target::Listing(key) | Target::Presign(key) | Target::IdOf(key),
    ) = target
    {
        assert!(PREFIX.len() + key.len() <= s3gate::limits::MAX_KEY_LEN);
        assert!(!key.starts_with('/') && !key.contains("//"), "{key:?}");
        assert!(!key.chars().any(char::is_control), "{key:?}");
        assert!(key.split('/').all(|s| s != "." && s != ".."), "{key:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<ProxyEvent>(data) {
        let single = KeyRules {
            prefix_len: PREFIX.len(),
            reserved: Some("_variants/".to_string()),
            buckets: None,
            ids: true,
        };
        let allowed = vec!["images".to_string(), "docs.2".to_string()];
        let bucket_mode = KeyRules {
            buckets: Some(allowed.clone()),
            ..single.clone()
        };
        let req = Request::from_event(event.clone(), &single);
        check(&req.target);
        assert!(req.bucket.is_none());
        let req = Request::from_event(event, &bucket_mode);
        check(&req.target);
        if let Some(b) = &req.bucket {
            assert!(allowed.contains(b), "{b:?}");
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(&parse_key(text, PREFIX.len()));
    if let Ok(decoded) = decode_path(text) {
        assert_eq!(
            decode_path(&format!("/{}", encode_key(&decoded))),
            Ok(decoded.clone())
        );
        check(&parse_key(&decoded, PREFIX.len()));
    }
    let conditions = Conditions::from_header(|_| Some(text.to_string()));
    let _ = conditions.evaluate(Some("\"abc\""), None);
});
