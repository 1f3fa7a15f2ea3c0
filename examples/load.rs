//! A bounded load generator for `s3gate serve`: N concurrent clients send
//! GETs to the local gateway for a fixed time, then it prints requests per
//! second, latency percentiles and the status counts. Loopback only: it
//! refuses any other host.
//!
//! cargo run --release --example load -- URL API_KEY [CLIENTS] [SECONDS]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: load URL API_KEY [CLIENTS=8] [SECONDS=10]");
        std::process::exit(2);
    }
    let url = args[0].clone();
    let key = args[1].clone();
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let seconds: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(120);
    let host = url
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    if !(host == "127.0.0.1" || host == "localhost" || host == "[::1]") {
        eprintln!("load: {host} is not a loopback address; refusing");
        std::process::exit(2);
    }
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut bytes = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.get(&url).header("x-api-key", &key).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        bytes += resp.bytes().await.map_or(0, |b| b.len() as u64);
                        *statuses.entry(status).or_default() += 1;
                    }
                    Err(_) => *statuses.entry(0).or_default() += 1,
                }
                latencies.push(t.elapsed());
            }
            (latencies, statuses, bytes)
        });
    }
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut bytes = 0;
    while let Some(Ok((l, s, b))) = tasks.join_next().await {
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        bytes += b;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "clients {clients}  requests {}  seconds {elapsed:.1}  req/s {:.0}  MB/s {:.1}  p50 {:.2} ms  p99 {:.2} ms  statuses {statuses:?}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        bytes as f64 / elapsed / 1e6,
        pct(0.50),
        pct(0.99),
    );
}
