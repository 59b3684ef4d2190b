//! Logs (tracing) and metrics (Prometheus text at `/metrics`). Every metric family krog
//! records is listed once, in [`METRICS`], with its help text and, for histograms, its buckets.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// What a metric family is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A histogram with these bucket bounds (a summary's quantiles read 0 after a quiet
    /// minute and cannot be added up over nodes; buckets can).
    Histogram(&'static [f64]),
}

/// Durations from a tenth of a millisecond to a second: commits and fsyncs.
const FAST_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Durations of an attempt: a plugin call and an HTTP round trip, up to past the delivery
/// timeout (15 s by default).
const ATTEMPT_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];

/// Writes per group commit (at most 256 settlements wait for one).
const COMMIT_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Every metric family krog records: name, kind, help.
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        "krog_events_accepted_total",
        Kind::Counter,
        "Events accepted by ingest (202), duplicates excluded.",
    ),
    (
        "krog_delivery_attempts_total",
        Kind::Counter,
        "Delivery attempts by outcome (succeeded, retrying, failed, skipped) and error kind (none, http_status, timeout, connect, a plugin failure kind …).",
    ),
    (
        "krog_delivery_attempt_seconds",
        Kind::Histogram(ATTEMPT_SECONDS),
        "Time of one attempt: transform, sign and POST.",
    ),
    (
        "krog_plugin_errors_total",
        Kind::Counter,
        "Plugin failures during deliveries, by kind.",
    ),
    (
        "krog_module_compiles_total",
        Kind::Counter,
        "Plugin modules compiled, by place (child_process or in_process).",
    ),
    (
        "krog_queue_depth",
        Kind::Gauge,
        "Deliveries accepted and waiting for a worker.",
    ),
    (
        "krog_event_commit_seconds",
        Kind::Histogram(FAST_SECONDS),
        "How long ingest waited for its event to be durable (group commit and fsync).",
    ),
    (
        "krog_group_commit_seconds",
        Kind::Histogram(FAST_SECONDS),
        "Duration of each group commit of the writer.",
    ),
    (
        "krog_group_commit_size",
        Kind::Histogram(COMMIT_SIZES),
        "Writes per group commit.",
    ),
    (
        "krog_group_commit_failures_total",
        Kind::Counter,
        "Group commits the database refused.",
    ),
    (
        "krog_checkpoint_seconds",
        Kind::Histogram(FAST_SECONDS),
        "SQLite: duration of each background WAL checkpoint.",
    ),
    (
        "krog_wal_pages",
        Kind::Gauge,
        "SQLite: pages in the write-ahead log after the last checkpoint.",
    ),
    (
        "krog_settlement_failures_total",
        Kind::Counter,
        "Attempts whose details could not be stored (stored without them).",
    ),
    (
        "krog_attempts_unrecorded_total",
        Kind::Counter,
        "Attempts whose record was lost; the delivery goes out again after its lease.",
    ),
    (
        "krog_deliveries_claim_lost_total",
        Kind::Counter,
        "Deliveries another node took over while they waited here.",
    ),
    (
        "krog_deliveries_spilled_total",
        Kind::Counter,
        "Fresh deliveries handed back to the scheduler because the dispatcher was full.",
    ),
    (
        "krog_deliveries_already_held_total",
        Kind::Counter,
        "Claimed deliveries this node already held in memory.",
    ),
    (
        "krog_claim_renewal_failures_total",
        Kind::Counter,
        "Renewals of this node's claims that failed.",
    ),
    (
        "krog_api_rate_limited_total",
        Kind::Counter,
        "API requests refused with 429 (per-key rate limit).",
    ),
    (
        "krog_retention_events_total",
        Kind::Counter,
        "Event payloads deleted by retention.",
    ),
    (
        "krog_retention_deliveries_total",
        Kind::Counter,
        "Delivery bodies deleted by retention.",
    ),
    (
        "krog_erasures_total",
        Kind::Counter,
        "Erasures of a person's data carried out.",
    ),
];

/// The process-wide Prometheus recorder; installed on first use (several apps in one test
/// process share it), with every family of [`METRICS`] described.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, kind, _) in METRICS {
            if let Kind::Histogram(buckets) = kind {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
                    .expect("the bucket lists are not empty");
            }
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then our handle renders nothing.
        let installed = metrics::set_global_recorder(recorder).is_ok();
        if installed {
            for (name, kind, help) in METRICS {
                match kind {
                    Kind::Counter => metrics::describe_counter!(*name, *help),
                    Kind::Gauge => metrics::describe_gauge!(*name, *help),
                    Kind::Histogram(_) => metrics::describe_histogram!(*name, *help),
                }
            }
        }
        handle
    })
}

/// `GET /metrics`.
pub async fn render() -> String {
    prometheus().render()
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `metrics::counter!`/`gauge!`/`histogram!` name in krog's sources, read from them.
    fn recorded_names() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut names = Vec::new();
        let mut dirs = vec![root.join("src"), root.join("runtime/src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for macro_ in ["counter!(", "gauge!(", "histogram!("] {
                        for (at, _) in text.match_indices(macro_) {
                            let rest = text[at + macro_.len()..].trim_start();
                            let name = rest.strip_prefix('"').and_then(|r| r.split('"').next());
                            // (This file's own list of macro names is no metric.)
                            if let Some(name) = name.filter(|n| {
                                !n.is_empty()
                                    && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                            }) {
                                names.push(name.to_owned());
                            }
                        }
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn every_metric_krog_records_has_help_and_histograms_have_buckets() {
        let names = recorded_names();
        assert!(names.len() > 10, "{names:?}");
        for name in names {
            let described = METRICS.iter().find(|(n, ..)| *n == name);
            assert!(
                described.is_some(),
                "{name} is recorded but not listed in METRICS"
            );
        }
        for (name, kind, help) in METRICS {
            assert!(!help.is_empty(), "{name}");
            if let Kind::Histogram(buckets) = kind {
                assert!(
                    buckets.windows(2).all(|w| w[0] < w[1]),
                    "{name}: buckets ascend"
                );
            }
        }
    }
}
