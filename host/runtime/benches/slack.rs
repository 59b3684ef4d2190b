//! `slack` on the booking-updated fixture: through the runtime (fresh instance per event, limits
//! on; and a reused instance, as krog runs a subscription's events) vs natively; plus where the
//! runtime's time goes.
//!
//! `cargo bench -p krog-runtime --bench slack`
//!
//! `KROG_BENCH_SLACK_WASM=<path>` runs another build of the slack plugin through the runtime
//! (e.g. to compare allocators or build flags); the native side is always this workspace's.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use envelope::parse_event;
use krog_runtime::{Runtime, RuntimeConfig, catalog};

#[path = "../tests/common/envelope.rs"]
mod envelope;

const CONFIG: &str = r#"{"locale":"en"}"#;

fn bench(c: &mut Criterion) {
    let event = parse_event(include_str!("../../../fixtures/booking-updated.json")).unwrap();
    let raw = krog_sdk::RawEvent {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        timestamp: event.timestamp.clone(),
        tenant: event.tenant.clone(),
        data: event.data.clone(),
    };
    let wasm = match std::env::var_os("KROG_BENCH_SLACK_WASM") {
        Some(path) => std::fs::read(&path).expect("KROG_BENCH_SLACK_WASM names a readable file"),
        None => catalog::builtin("slack").unwrap().wasm.to_vec(),
    };
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = runtime.load(&wasm).unwrap();
    let execution = runtime.transform(&module, &event, CONFIG).unwrap();
    eprintln!("fuel per event: {}", execution.fuel_consumed);

    let mut group = c.benchmark_group("slack");
    group.bench_function("wasm_fresh_instance", |b| {
        b.iter(|| runtime.transform(&module, &event, CONFIG).unwrap())
    });
    let reusing = Runtime::new(RuntimeConfig {
        instance_reuse: 256,
        ..Default::default()
    })
    .unwrap();
    let reused_module = reusing.load(&wasm).unwrap();
    group.bench_function("wasm_reused_instance", |b| {
        b.iter(|| {
            reusing
                .transform_in("sub_bench", &reused_module, &event, CONFIG)
                .unwrap()
        })
    });
    group.bench_function("native", |b| {
        b.iter(|| krog_sdk::run::<krog_plugin_slack::Slack>(&raw, CONFIG).unwrap())
    });
    group.finish();

    // Phase breakdown: medians over many calls.
    let mut phases: [Vec<Duration>; 4] = Default::default();
    for _ in 0..5000 {
        for (i, d) in runtime
            .phase_timings(&module, &event, CONFIG)
            .into_iter()
            .enumerate()
        {
            phases[i].push(d);
        }
    }
    for (name, mut samples) in ["store", "instantiate", "call", "drop"]
        .into_iter()
        .zip(phases)
    {
        samples.sort();
        eprintln!("phase {name}: median {:?}", samples[samples.len() / 2]);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
