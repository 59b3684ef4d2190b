//! What a transform costs in each language, in one run: the Rust `slack`, the JavaScript
//! `teams` (QuickJS) and the Python `reminder` (CPython), all from the catalog, on the
//! booking-updated fixture: per event with a fresh instance and with a reused one (as krog runs
//! a subscription's events), and, printed before the measurements, each component's size,
//! compile time, load time from a precompiled artifact, fuel per event and memory per instance.
//!
//! `cargo bench -p krog-runtime --bench guests`
//!
//! Compiled components are kept in `target/test-artifact-cache-runtime` (the runtime tests'
//! cache): a component found there is loaded, and its compile time is printed as `cached`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use krog_runtime::{Runtime, RuntimeConfig, catalog, command::parse_event};

const GUESTS: &[(&str, &str)] = &[
    ("slack", r#"{"locale":"en"}"#),
    ("teams", r#"{"locale":"en"}"#),
    ("reminder", r#"{"locale":"en"}"#),
];

fn bench(c: &mut Criterion) {
    let event = parse_event(include_str!("../../../fixtures/booking-updated.json")).unwrap();
    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifact-cache-runtime");
    let config = |reuse| RuntimeConfig {
        instance_reuse: reuse,
        cache_dir: Some(cache.clone()),
        cache_key: Some([9; 32]),
        ..Default::default()
    };
    let fresh = Runtime::new(config(1)).unwrap();
    let reusing = Runtime::new(config(256)).unwrap();
    let mut group = c.benchmark_group("guests");
    for (name, plugin_config) in GUESTS {
        let wasm = catalog::builtin(name).unwrap().wasm;
        let compiled_before = fresh.stats().compiled;
        let started = Instant::now();
        let module = fresh.load(wasm).unwrap();
        let compile = match fresh.stats().compiled > compiled_before {
            true => format!("{:.0} ms", started.elapsed().as_secs_f64() * 1e3),
            false => "cached".to_string(),
        };
        let artifact = std::fs::metadata(cache.join(format!("{}.cwasm", module.sha256())))
            .map(|m| m.len())
            .unwrap_or(0);
        let started = Instant::now();
        let reused_module = reusing.load(wasm).unwrap();
        let load = started.elapsed();
        let execution = fresh.transform(&module, &event, plugin_config).unwrap();
        let memory = fresh.memory_after_call(&module, &event, plugin_config);
        eprintln!(
            "{name}: component {} bytes, artifact {artifact} bytes, compile {compile}, load from \
             artifact {:.1} ms, fuel per event {}, memory per instance {:.1} MiB",
            wasm.len(),
            load.as_secs_f64() * 1e3,
            execution.fuel_consumed,
            memory as f64 / (1 << 20) as f64,
        );
        group.bench_function(format!("{name}/fresh_instance"), |b| {
            b.iter(|| fresh.transform(&module, &event, plugin_config).unwrap())
        });
        group.bench_function(format!("{name}/reused_instance"), |b| {
            b.iter(|| {
                reusing
                    .transform_in("sub_bench", &reused_module, &event, plugin_config)
                    .unwrap()
            })
        });
    }
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
