//! Logs and metrics, set up once per process.
//!
//! Logs go through `tracing` with structured fields (level from `RUST_LOG`, default `info`).
//! Metrics go through the `metrics` facade into one Prometheus recorder that `/metrics`
//! renders. Both are process-global: tests start many apps in one process, so installing is
//! idempotent and every app shares the recorder.

use std::fmt;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets (seconds): callbacks are sub-millisecond when all is well and must never
/// approach WeChat's 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.0, 5.0, 10.0,
];

/// Install the tracing subscriber. `test_sink` sends logs nowhere unless `TEST_LOG` is set,
/// so test output stays readable.
pub fn init_logging(test_sink: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: journald, files and pipes get plain text to search.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let result = if test_sink && std::env::var_os("TEST_LOG").is_none() {
        builder.with_writer(std::io::sink).try_init()
    } else {
        builder.try_init()
    };
    // A second init in the same process (tests) is expected and harmless.
    let _ = result;
}

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn metrics_handle() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (a test harness): render an empty registry.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// `Debug` for our error types: the message and its whole cause chain, one cause per line, so a
/// log line or a failed test shows why and not only what.
pub(crate) fn error_chain_fmt(
    e: &impl std::error::Error,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    writeln!(f, "{e}")?;
    let mut current = e.source();
    while let Some(cause) = current {
        writeln!(f, "Caused by:\n\t{cause}")?;
        current = cause.source();
    }
    Ok(())
}
