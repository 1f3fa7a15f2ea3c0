//! The response path of a GET, in memory: a fetched object turned into the
//! Lambda response JSON, as the function does it (`render` + `to_json` +
//! the raw-JSON hand-over) and as serde alone would (the naive path), for
//! 100 KiB, 1 MiB and 4 MiB objects.
//!
//! cargo bench --bench response

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use s3gate::Config;
use s3gate::response::{Reply, render};
use s3gate::storage::ObjectMeta;
use serde_json::value::RawValue;

fn object(size: usize) -> Reply {
    let body: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let meta = ObjectMeta {
        size: size as u64,
        content_type: Some("image/jpeg".into()),
        etag: Some("\"482c66ad6cd47338da51491769f63d89\"".into()),
        last_modified: Some(SystemTime::UNIX_EPOCH),
        ..ObjectMeta::default()
    };
    Reply::Object {
        key: "partnerimages/67/28/67286576.jpeg".into(),
        meta,
        body: Some(body),
        part: None,
    }
}

fn clone_reply(r: &Reply) -> Reply {
    match r {
        Reply::Object {
            key,
            meta,
            body,
            part,
        } => Reply::Object {
            key: key.clone(),
            meta: meta.clone(),
            body: body.clone(),
            part: *part,
        },
        _ => unreachable!("benchmarks build objects only"),
    }
}

fn response_path(c: &mut Criterion) {
    let config =
        Config::from_lookup(|k| (k == "bucket").then(|| "images".to_string())).expect("config");
    let mut group = c.benchmark_group("response");
    for size in [100 * 1024, 1024 * 1024, 4 * 1024 * 1024] {
        let reply = object(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("to_json_raw", size), &reply, |b, reply| {
            b.iter_batched(
                || clone_reply(reply),
                |reply| {
                    let json = render(reply, &config, "r").to_json();
                    // What lambda_runtime receives and then serializes.
                    let raw = RawValue::from_string(json).expect("valid JSON");
                    black_box(serde_json::to_vec(&raw).expect("json"))
                },
                criterion::BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("serde", size), &reply, |b, reply| {
            b.iter_batched(
                || clone_reply(reply),
                |reply| black_box(serde_json::to_vec(&render(reply, &config, "r")).expect("json")),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = response_path
}
criterion_main!(benches);
