//! The CPU pieces of the hot path, one by one: reading an ingested event (JSON envelope →
//! validated event) and signing a delivery (Standard Webhooks, one and two secrets).
//! The durable path end to end (HTTP, group commit, delivery) is measured by `krog-bench`.
//!
//! `cargo bench -p krog --bench hot_path`

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use krog::api::events::Incoming;
use krog::signing::{SigningKey, generate_secret, signature};

const EVENT: &str = include_str!("../../fixtures/booking-created.json");

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Bytes(EVENT.len() as u64));
    group.bench_function("ingest_parse_and_validate", |b| {
        b.iter(|| {
            let incoming: Incoming = serde_json::from_str(EVENT).unwrap();
            incoming.into_event().unwrap()
        })
    });
    let event = serde_json::from_str::<Incoming>(EVENT)
        .unwrap()
        .into_event()
        .unwrap();
    let body = event.data.as_bytes();
    let one = [SigningKey::parse(&generate_secret()).unwrap()];
    let two = [
        one[0].clone(),
        SigningKey::parse(&generate_secret()).unwrap(),
    ];
    group.bench_function("sign_one_secret", |b| {
        b.iter(|| signature(&one, &event.id, 1_764_000_000, body))
    });
    group.bench_function("sign_two_secrets_during_rotation", |b| {
        b.iter(|| signature(&two, &event.id, 1_764_000_000, body))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
