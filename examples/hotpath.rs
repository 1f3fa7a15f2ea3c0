//! The function's hot path, in one process, for profiling: an embedded store
//! with one object, then N invokes of the handler on a GET event, each
//! written to the response JSON the function posts. Prints CPU per invoke (the store's share included).
//!
//! cargo run --release --example hotpath -- [BYTES=4194304] [N=50]
//! perf record -e cpu-clock -g target/release/examples/hotpath 4194304 200
//!
//! With `AWS_ENDPOINT_URL` set, the object comes from that store instead
//! (as the function is configured in Lambda: `S3GATE_*`, the SDK's
//! environment), and only the function's work runs in this process:
//! `S3GATE_BUCKET=images AWS_ENDPOINT_URL=http://127.0.0.1:9000 … hotpath KEY N`

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use s3gate::local::EmbeddedStore;
use s3gate::{App, Config, ProxyEvent};

/// CPU time of the main thread, where the current-thread runtime runs the
/// handler and the store's HTTP side (its file reads run on blocking
/// threads and are not counted), in ms.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e6)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        let key = args
            .first()
            .cloned()
            .unwrap_or_else(|| "partnerimages/67/28/large.jpeg".to_string());
        let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50);
        let app = App::from_env().await.expect("config");
        return measure(&app, &key, n).await;
    }
    let size: usize = args
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4 * 1024 * 1024);
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let dir = std::env::temp_dir().join(format!("s3gate-hotpath-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    std::fs::write(dir.join("images/obj.jpg"), &bytes).expect("write");
    let store = EmbeddedStore::start(&dir, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("store");
    let config =
        Config::from_lookup(|k| (k == "bucket").then(|| "images".to_string())).expect("config");
    let app = App::new(config.clone(), store.s3_store(&config).await);
    measure(&app, "obj.jpg", n).await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Warm-up, then `n` invokes of GET `key`; prints wall and CPU per invoke.
async fn measure(app: &App, key: &str, n: usize) {
    let event = serde_json::json!({
        "httpMethod": "GET", "resource": "/{proxy+}", "path": format!("/{key}"),
        "pathParameters": {"proxy": key},
        "requestContext": {"requestId": "r", "stage": "dev", "identity": {"apiKeyId": "k"}},
    })
    .to_string();
    for _ in 0..3 {
        let ev: ProxyEvent = serde_json::from_str(&event).expect("event");
        let resp = app.handle_event(ev).await;
        assert_eq!(resp.status_code, 200, "{:?}", resp.body);
    }
    let mut total = 0usize;
    let (t0, c0) = (Instant::now(), cpu_ms());
    for _ in 0..n {
        let ev: ProxyEvent = serde_json::from_str(&event).expect("event");
        let resp = app.handle_event(ev).await;
        // What the function posts to the Runtime API, as it posts it.
        total += resp.to_json().len();
    }
    let wall = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let cpu = (cpu_ms() - c0) / n as f64;
    println!(
        "{key} x {n}: {wall:.2} ms wall, {cpu:.2} ms CPU per invoke (main thread); {total} bytes out"
    );
}
