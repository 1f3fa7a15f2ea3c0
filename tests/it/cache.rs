//! The emulated API Gateway stage cache (`s3gate serve --cache-ttl`), over
//! real HTTP: a hit outlives the object for the TTL and not after; every
//! differing key misses; no cached answer reaches a request it does not fit
//! (a 206 or 304 for a plain GET, a transform for the original, one
//! bucket's object for another's path, an admin answer for another key, an
//! expired presigned URL); `max-age=0` from an API-key caller is ignored;
//! HEAD, the presign and id resources and answers over 1 MiB are not kept.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use s3gate::local::gateway::{Gateway, GatewayConfig};

use crate::support::{Fixture, Got, client, sample, send};

const KEY: &str = "cache-key-aaaaaaaaaaaaaaaaaaaaaaa";
const ADMIN: &str = "cache-admin-bbbbbbbbbbbbbbbbbbbbb";
const JPEG: &str = "partnerimages/67/28/67286576.jpeg";

async fn cached_gateway(fx: &Fixture, ttl: Duration) -> (Gateway, String) {
    let mut cfg = GatewayConfig::dev(vec![KEY.into()]);
    cfg.admin_keys = vec![ADMIN.into()];
    cfg.rate_limit = 100_000.0;
    cfg.burst_limit = 100_000;
    cfg.cache = Some((ttl, 500_000_000));
    let gw = Gateway::start(
        fx.app.clone(),
        cfg,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway");
    let base = format!("http://{}/dev", gw.addr());
    (gw, base)
}

async fn get(base: &str, path: &str, key: &str, headers: &[(&str, &str)]) -> Got {
    request("GET", base, path, key, headers).await
}

async fn request(method: &str, base: &str, path: &str, key: &str, headers: &[(&str, &str)]) -> Got {
    send(method, &format!("{base}{path}"), Some(key), headers, None).await
}

fn remove(fx: &Fixture, bucket: &str, key: &str) {
    std::fs::remove_file(fx.dir.path().join(bucket).join(key)).expect("removed from the store");
}

#[tokio::test]
async fn a_hit_outlives_the_object_for_the_ttl_and_not_after() {
    let fx = Fixture::with(&[("cache-ttl", "2")]).await;
    let (gw, base) = cached_gateway(&fx, Duration::from_secs(2)).await;
    let first = get(&base, &format!("/{JPEG}"), KEY, &[]).await;
    assert_eq!(first.status, 200);
    remove(&fx, "images", JPEG);
    let hit = get(&base, &format!("/{JPEG}"), KEY, &[]).await;
    assert_eq!(hit.status, 200, "served from the cache");
    assert_eq!(hit.body, sample(JPEG));
    assert_ne!(
        hit.headers["x-amzn-requestid"], first.headers["x-amzn-requestid"],
        "each request has its own id"
    );
    // HEAD is not cached: it reaches the function, which has no object.
    assert_eq!(
        request("HEAD", &base, &format!("/{JPEG}"), KEY, &[])
            .await
            .status,
        404
    );
    // A caller's max-age=0 does not bypass it (API-key callers cannot
    // invalidate), and the answer says so.
    let fresh = get(
        &base,
        &format!("/{JPEG}"),
        KEY,
        &[("Cache-Control", "max-age=0")],
    )
    .await;
    assert_eq!(fresh.status, 200);
    assert!(
        fresh.headers["warning"]
            .to_str()
            .expect("ascii")
            .starts_with("199 "),
        "{:?}",
        fresh.headers
    );
    let stats = gw.cache_stats().expect("cache on");
    assert_eq!((stats.hits, stats.misses), (2, 1), "{stats:?}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        get(&base, &format!("/{JPEG}"), KEY, &[]).await.status,
        404,
        "past the TTL"
    );
    let stats = gw.cache_stats().expect("cache on");
    println!(
        "emulated stage cache: {} hits, {} misses",
        stats.hits, stats.misses
    );
    assert_eq!((stats.hits, stats.misses), (2, 2), "{stats:?}");
}

#[tokio::test]
async fn no_cached_answer_reaches_a_request_it_does_not_fit() {
    let fx = Fixture::with(&[("cache-ttl", "60")]).await;
    let (gw, base) = cached_gateway(&fx, Duration::from_secs(60)).await;
    let path = format!("/{JPEG}");
    // A 206 first: a plain GET is another key.
    let part = get(&base, &path, KEY, &[("Range", "bytes=0-9")]).await;
    assert_eq!(part.status, 206);
    let plain = get(&base, &path, KEY, &[]).await;
    assert_eq!((plain.status, plain.body.len()), (200, sample(JPEG).len()));
    // A 304 for one validator: no validator gets the 200.
    let etag = plain.headers["etag"].to_str().expect("etag").to_string();
    assert_eq!(
        get(&base, &path, KEY, &[("If-None-Match", &etag)])
            .await
            .status,
        304
    );
    assert_eq!(get(&base, &path, KEY, &[]).await.body, sample(JPEG));
    assert_eq!(
        get(&base, &path, KEY, &[("If-None-Match", "\"other\"")])
            .await
            .status,
        200
    );
    // A transform and the original; two sizes; two Accept headers.
    let small = get(&base, &format!("{path}?w=40&format=png"), KEY, &[]).await;
    assert!(small.body.starts_with(b"\x89PNG"));
    let other = get(&base, &format!("{path}?w=30&format=png"), KEY, &[]).await;
    assert_ne!(small.body, other.body);
    assert_eq!(get(&base, &path, KEY, &[]).await.body, sample(JPEG));
    let avif = get(
        &base,
        &format!("{path}?w=40&format=auto"),
        KEY,
        &[("Accept", "image/avif")],
    )
    .await;
    let webp = get(
        &base,
        &format!("{path}?w=40&format=auto"),
        KEY,
        &[("Accept", "image/webp")],
    )
    .await;
    assert_eq!(avif.headers["content-type"], "image/avif");
    assert_eq!(webp.headers["content-type"], "image/webp");
    let before = gw.cache_stats().expect("cache");
    // Every request above but the repeats was a miss.
    assert_eq!(before.hits, 2, "{before:?}");
    assert!(before.misses >= 7, "{before:?}");
}

#[tokio::test]
async fn uncached_routes_and_large_answers_are_never_kept() {
    let fx = Fixture::with(&[
        ("cache-ttl", "60"),
        ("id-secret", "cache-id-secret-0123456789abcdef0123"),
        ("admin-key-ids", "local00002"),
    ])
    .await;
    let big = vec![7u8; 1_100_000];
    fx.write("big.bin", &big);
    let (gw, base) = cached_gateway(&fx, Duration::from_secs(60)).await;
    // The admin's /id/ answer is not kept for another key.
    let id = get(&base, &format!("/id/{JPEG}"), ADMIN, &[]).await;
    assert_eq!(id.status, 200);
    assert_eq!(
        get(&base, &format!("/id/{JPEG}"), KEY, &[]).await.status,
        403
    );
    // Presign answers are signed afresh each time.
    for _ in 0..2 {
        assert_eq!(
            get(&base, &format!("/presign/{JPEG}"), KEY, &[])
                .await
                .status,
            200
        );
    }
    // Over 1 MiB: not kept.
    assert_eq!(get(&base, "/big.bin", KEY, &[]).await.body, big);
    remove(&fx, "images", "big.bin");
    assert_eq!(get(&base, "/big.bin", KEY, &[]).await.status, 404);
    let stats = gw.cache_stats().expect("cache");
    assert_eq!(stats.hits, 0, "{stats:?}");
    assert_eq!(
        stats.entries, 1,
        "only the 404 of big.bin is kept: {stats:?}"
    );
}

/// Should a `presign/` or `id/` path reach the cached `/{proxy+}` resource
/// (written `presign%2F…`, if API Gateway routed it there), the function
/// refuses it: its answer could be cached and handed to every key.
#[tokio::test]
async fn the_uncached_routes_are_refused_on_the_cached_resource() {
    let fx = Fixture::with(&[
        ("id-secret", "cache-id-secret-0123456789abcdef0123"),
        ("admin-key-ids", "adminkey01"),
    ])
    .await;
    let on = |resource: &str, proxy: &str| {
        let mut ev = crate::support::event("GET", "x");
        ev["resource"] = resource.into();
        ev["requestContext"]["resourcePath"] = resource.into();
        ev["pathParameters"]["proxy"] = proxy.into();
        ev["requestContext"]["identity"]["apiKeyId"] = "adminkey01".into();
        ev
    };
    for proxy in [
        format!("presign/{JPEG}"),
        format!("id/{JPEG}"),
        "presign/o/AAAA".to_string(),
    ] {
        fx.run(on("/{proxy+}", &proxy))
            .await
            .assert_error(400, "InvalidKey", &proxy);
    }
    // On their own resources they answer; `o/` belongs to the cached one.
    assert_eq!(fx.run(on("/presign/{proxy+}", JPEG)).await.status, 200);
    assert_eq!(fx.run(on("/id/{proxy+}", JPEG)).await.status, 200);
    assert_eq!(fx.run(on("/{proxy+}", "o/AAAA")).await.status, 404);
}

#[tokio::test]
async fn a_cached_redirect_never_hands_out_an_expired_url() {
    // Objects over 1 KB are 307s; URLs live 1 s, the cache keeps 3 s.
    let fx = Fixture::with(&[
        ("cache-ttl", "3"),
        ("presign-ttl", "1"),
        ("inline-limit", "1000"),
    ])
    .await;
    let (_gw, base) = cached_gateway(&fx, Duration::from_secs(3)).await;
    let first = get(&base, &format!("/{JPEG}"), KEY, &[]).await;
    assert_eq!(first.status, 307);
    let location = first.headers["location"].to_str().expect("url").to_string();
    assert!(
        location.contains("X-Amz-Expires=4"),
        "presign-ttl + cache-ttl: {location}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let cached = get(&base, &format!("/{JPEG}"), KEY, &[]).await;
    assert_eq!(
        cached.headers["location"], first.headers["location"],
        "from the cache"
    );
    let followed = client().get(&location).send().await.expect("S3");
    assert_eq!(followed.status(), 200, "still valid at the end of the TTL");
}

#[tokio::test]
async fn one_buckets_object_never_answers_for_another() {
    let fx = Fixture::with(&[("buckets", "images,docs"), ("cache-ttl", "60")]).await;
    std::fs::create_dir_all(fx.dir.path().join("docs/partnerimages/67/28")).expect("mkdir");
    std::fs::write(fx.dir.path().join("docs").join(JPEG), b"docs copy").expect("write");
    let (_gw, base) = cached_gateway(&fx, Duration::from_secs(60)).await;
    assert_eq!(
        get(&base, &format!("/images/{JPEG}"), KEY, &[]).await.body,
        sample(JPEG)
    );
    assert_eq!(
        get(&base, &format!("/docs/{JPEG}"), KEY, &[]).await.body,
        b"docs copy"
    );
}

#[test]
fn caching_and_streaming_are_refused_together() {
    let map = [
        ("bucket", "images"),
        ("cache-ttl", "60"),
        ("response-mode", "stream"),
    ];
    let e = s3gate::Config::from_lookup(|n| {
        map.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    })
    .expect_err("refused");
    assert!(e.to_string().contains("does not cache streamed"), "{e}");
}

/// The emulator keys answers exactly as the template tells API Gateway to.
#[test]
fn the_emulated_keys_are_the_templates() {
    use s3gate::local::gateway::cache::{KEY_HEADERS, KEY_QUERY, UNCACHED_ROUTES};
    let text =
        std::fs::read_to_string(crate::support::repo().join("template.yaml")).expect("template");
    let template = crate::support::yaml(&text).expect("yaml");
    let paths = &template["Resources"]["Api"]["Properties"]["DefinitionBody"]["paths"];
    let keys = &paths["/{proxy+}"]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
        ["Fn::If"];
    assert_eq!(keys[0], "TransformsOn", "{keys}");
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|k| k.as_str().expect("name").to_string())
            .collect()
    };
    let mut want: Vec<String> = vec!["method.request.path.proxy".into()];
    want.extend(
        KEY_QUERY
            .iter()
            .map(|q| format!("method.request.querystring.{q}")),
    );
    want.extend(
        KEY_HEADERS
            .iter()
            .map(|h| format!("method.request.header.{h}")),
    );
    let mut without = names(&keys[2]);
    without.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(without, sorted, "without transforms");
    let mut with = names(&keys[1]);
    with.sort();
    sorted.push("method.request.header.Accept".into());
    sorted.sort();
    assert_eq!(with, sorted, "with transforms");
    for route in UNCACHED_ROUTES {
        let resource = format!("/{route}{{proxy+}}");
        assert!(paths[&resource].is_object(), "{resource} in the template");
        assert!(
            paths[&resource]["get"].is_null(),
            "{resource} has no cached GET"
        );
    }
}
