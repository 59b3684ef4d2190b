//! What a transform costs in each language, in one run: the Rust `slack`, the JavaScript
//! `teams` (QuickJS) and the Python `reminder` (CPython), all from the catalog, on the
//! booking-updated fixture: per event with a fresh instance and with a reused one (as krog runs
//! a subscription's events), and, printed before the measurements, each component's size,
//! compile time, load time from a precompiled artifact, fuel per event and memory per instance.
//!
//! `cargo bench --workspace --bench guests`
//!
//! The compile time is of an in-process compile with no cache (krog compiles in a child
//! process, which adds the child's start). Compiled components are kept in
//! `target/test-artifact-cache-runtime` (the runtime tests' cache), from which the load time is
//! measured. "Reused" is as krog runs a subscription's events: an instance serves up to 256
//! events, so the figure includes a 256th of an instantiation.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use envelope::parse_event;
use krog_runtime::{Limits, Runtime, RuntimeConfig, catalog};

#[path = "../tests/common/envelope.rs"]
mod envelope;

const GUESTS: &[(&str, &str)] = &[
    ("slack", r#"{"locale":"en"}"#),
    ("teams", r#"{"locale":"en"}"#),
    ("reminder", r#"{"locale":"en"}"#),
];

fn bench(c: &mut Criterion) {
    let event = parse_event(include_str!("../../../fixtures/booking-updated.json")).unwrap();
    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifact-cache-runtime");
    // Default limits but for the time limit: a benchmark on shared cores must not fail a call
    // that was merely descheduled for 100 ms.
    let limits = Limits {
        timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let config = |reuse| RuntimeConfig {
        limits: limits.clone(),
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
        let uncached = Runtime::new(RuntimeConfig::default()).unwrap();
        let started = Instant::now();
        drop(uncached.load(wasm).unwrap());
        let compile = started.elapsed();
        drop(uncached);
        // Compiles and writes the artifact if the cache does not hold it yet.
        let module = fresh.load(wasm).unwrap();
        let artifact = std::fs::metadata(cache.join(format!("{}.cwasm", module.sha256())))
            .map(|m| m.len())
            .unwrap_or(0);
        let from_disk = reusing.stats().loaded_from_disk;
        let started = Instant::now();
        let reused_module = reusing.load(wasm).unwrap();
        let load = started.elapsed();
        assert_eq!(
            reusing.stats().loaded_from_disk,
            from_disk + 1,
            "{name}: the second runtime loads the artifact the first wrote"
        );
        let execution = fresh.transform(&module, &event, plugin_config).unwrap();
        let memory = fresh.memory_after_call(&module, &event, plugin_config);
        // The second call runs in the instance the first one left warm.
        let reused_call = || {
            reusing
                .transform_in("sub_fuel", &reused_module, &event, plugin_config)
                .unwrap()
                .fuel_consumed
        };
        reused_call();
        let warm = reused_call();
        eprintln!(
            "{name}: component {} bytes, artifact {artifact} bytes, compile {:.0} ms, load from \
             artifact {:.1} ms, fuel per event {} fresh / {warm} reused, memory per instance \
             {:.1} MiB",
            wasm.len(),
            compile.as_secs_f64() * 1e3,
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
