//! Native cost of one event through `krog_sdk::run` (config parse, event parse, transform).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use krog_plugin_slack::Slack;
use krog_sdk::RawEvent;

const UPDATED: &str = include_str!("../../../fixtures/booking-updated.json");
const CREATED: &str = include_str!("../../../fixtures/booking-created.json");

fn bench(c: &mut Criterion) {
    let updated = RawEvent::from_envelope(UPDATED, "t_bench").unwrap();
    let created = RawEvent::from_envelope(CREATED, "t_bench").unwrap();
    c.bench_function("run/updated/default", |b| {
        b.iter(|| krog_sdk::run::<Slack>(black_box(&updated), black_box("")).unwrap())
    });
    c.bench_function("run/created/en-contact", |b| {
        b.iter(|| {
            krog_sdk::run::<Slack>(
                black_box(&created),
                black_box(
                    r#"{"locale":"en","timezone":"Europe/Oslo","include_client_contact":true}"#,
                ),
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
