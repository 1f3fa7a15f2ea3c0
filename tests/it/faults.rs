//! The store down, hanging or back: the handler answers 502/504 JSON within
//! a bounded time (the configured S3 timeout, far under API Gateway's 29 s)
//! and serves again once the store is back, with the same client.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use s3gate::App;
use s3gate::local::EmbeddedStore;

use crate::support::{Wire, config, event};

async fn get(app: &App, key: &str) -> (Wire, Duration) {
    let started = Instant::now();
    let ev = serde_json::from_value(event("GET", key)).expect("event");
    let wire = Wire::from(app.handle_event(ev).await);
    (wire, started.elapsed())
}

async fn start_on(dir: &std::path::Path, port: u16) -> EmbeddedStore {
    // The port was just released; the old listener may need a moment.
    for _ in 0..100 {
        match EmbeddedStore::start_with_credentials(
            dir,
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            "AKIAS3GATETEST000000".into(),
            "s3gate-test-secret-key-000000000000000000".into(),
        )
        .await
        {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("could not bind 127.0.0.1:{port} again");
}

#[tokio::test]
async fn store_down_then_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = dir.path().join("images");
    std::fs::create_dir_all(&bucket).expect("mkdir");
    std::fs::write(bucket.join("a.png"), b"\x89PNG-bytes").expect("write");

    let store = start_on(dir.path(), 0).await;
    let port = store.addr().port();
    let cfg = config(&[("s3-timeout", "2")]);
    let app = App::new(cfg.clone(), store.s3_store(&cfg).await);
    assert_eq!(get(&app, "a.png").await.0.status, 200);

    drop(store);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (down, took) = get(&app, "a.png").await;
    down.assert_error(502, "BadGateway", "store down");
    assert!(took < Duration::from_secs(4), "took {took:?}");

    let _back = start_on(dir.path(), port).await;
    let (up, _) = get(&app, "a.png").await;
    assert_eq!(up.status, 200, "after the store is back: {up:?}");
    assert_eq!(up.body, b"\x89PNG-bytes");
}

#[tokio::test]
async fn store_that_never_answers_times_out() {
    // Accepts connections and never says a word.
    let (addr, hold) = crate::support::bad_store(false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let real = EmbeddedStore::start(dir.path(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("store");
    let cfg = config(&[("s3-timeout", "1.5")]);
    // The real store's credentials, the silent listener's address.
    let sdk = real
        .sdk_config(&cfg)
        .await
        .into_builder()
        .endpoint_url(format!("http://{addr}"))
        .build();
    let app = App::new(cfg.clone(), s3gate::storage::S3Store::new(&sdk, &cfg));
    let (got, took) = get(&app, "a.png").await;
    got.assert_error(504, "GatewayTimeout", "hanging store");
    assert!(
        took >= Duration::from_millis(1000),
        "gave up too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "not bounded: {took:?}");
    hold.abort();
}

#[tokio::test]
async fn nothing_listening_is_a_502() {
    let port = {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let real = EmbeddedStore::start(dir.path(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("store");
    let cfg = config(&[("s3-timeout", "2")]);
    let sdk = real
        .sdk_config(&cfg)
        .await
        .into_builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let app = App::new(cfg.clone(), s3gate::storage::S3Store::new(&sdk, &cfg));
    let (got, took) = get(&app, "a.png").await;
    got.assert_error(502, "BadGateway", "connection refused");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let head = Wire::from(
        app.handle_event(serde_json::from_value(event("HEAD", "a.png")).expect("ev"))
            .await,
    );
    assert_eq!(head.status, 502);
}
