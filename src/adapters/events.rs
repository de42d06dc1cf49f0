//! Typed telemetry events of the adapters: the only place in `adapters` that logs or records
//! metrics (STYLE habit 9).
//!
//! Why it exists: one definition of every metric name and label, with bounded label values
//! (`upstream`, `op`, `outcome` are `&'static str` from code, never from input), and one place
//! to check that no secret or personal data reaches a log line — events carry no request or
//! response bodies, no account numbers, no phone numbers. It must never take a `String` that
//! came from a user or an upstream.
//!
//! Metrics:
//! - `onecard_upstream_calls_total{upstream,op,outcome}` — every attempt, outcome ∈ ok,
//!   rejected, timeout, unavailable, breaker_open, rate_limited, saturated, protocol, config.
//! - `onecard_upstream_latency_seconds{upstream,op}` — histogram of the latency of attempts
//!   that reached the upstream (local refusals are not latency).
//! - `onecard_upstream_breaker_state{upstream}` — gauge, 0 closed, 1 half-open, 2 open.
//! - `onecard_upstream_restarts_total{upstream}` — adapter actors restarted by the keeper.

use std::time::Duration;

use super::policy::BreakerState;

/// One event at `warn` when `$warn` holds, else at `$quiet`: tracing takes the level only as a
/// constant, so the event is written once here for both.
macro_rules! warn_if {
    ($warn:expr, else $quiet:ident, $($event:tt)+) => {
        if $warn {
            tracing::warn!($($event)+)
        } else {
            tracing::$quiet!($($event)+)
        }
    };
}

/// One attempt of one upstream call finished.
pub struct UpstreamCalled {
    pub upstream: &'static str,
    pub op: &'static str,
    pub attempt: u32,
    pub outcome: &'static str,
    /// The protocol code of a business rejection or busy answer (bounded: documented codes).
    pub code: Option<u32>,
    pub latency: Duration,
    /// False when refused locally (breaker open, own rate limit, no slot): such attempts are
    /// counted but kept out of the latency histogram.
    pub reached_upstream: bool,
}

impl UpstreamCalled {
    pub fn emit(self) {
        let ms = self.latency.as_millis() as u64;
        let failed = !matches!(self.outcome, "ok" | "rejected");
        let what = if failed {
            "upstream call failed"
        } else {
            "upstream call"
        };
        warn_if!(
            failed,
            else debug,
            upstream = self.upstream,
            op = self.op,
            attempt = self.attempt,
            outcome = self.outcome,
            code = self.code,
            latency_ms = ms,
            "{what}"
        );
        metrics::counter!(
            "onecard_upstream_calls_total",
            "upstream" => self.upstream,
            "op" => self.op,
            "outcome" => self.outcome
        )
        .increment(1);
        if self.reached_upstream {
            metrics::histogram!(
                "onecard_upstream_latency_seconds",
                "upstream" => self.upstream,
                "op" => self.op
            )
            .record(self.latency.as_secs_f64());
        }
    }
}

/// A breaker changed state (also emitted once at start, as closed).
pub struct BreakerChanged {
    pub upstream: &'static str,
    pub state: BreakerState,
}

impl BreakerChanged {
    pub fn emit(self) {
        warn_if!(
            self.state != BreakerState::Closed,
            else info,
            upstream = self.upstream,
            state = self.state.as_str(),
            "breaker"
        );
        metrics::gauge!("onecard_upstream_breaker_state", "upstream" => self.upstream)
            .set(self.state.gauge());
    }
}

/// The keeper found an adapter actor dead and started a new one.
pub struct AdapterRestarted {
    pub upstream: &'static str,
    pub restarts: u64,
}

impl AdapterRestarted {
    pub fn emit(self) {
        tracing::error!(
            upstream = self.upstream,
            restarts = self.restarts,
            "adapter actor died; restarted"
        );
        metrics::counter!("onecard_upstream_restarts_total", "upstream" => self.upstream)
            .increment(1);
    }
}

/// Result of one adapter's health check (for `/healthz` and `onecard rules check`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub upstream: &'static str,
    pub ok: bool,
    pub breaker: &'static str,
    /// Short reason when not ok (an outcome label or an HTTP status), never a body.
    pub detail: String,
    pub latency_ms: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    /// The log lines `emit` writes, as the plain text formatter prints them (no time, no
    /// colours), at every level.
    fn logged(emit: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .without_time()
            .with_target(false)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // A log line caches process-wide whether anyone listens; another test thread (with
            // no subscriber) may have cached "no" for the lines `emit` writes.
            tracing::callsite::rebuild_interest_cache();
            emit()
        });
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn failures_log_at_warn_and_the_rest_below_with_the_same_fields() {
        let call = |attempt, outcome| UpstreamCalled {
            upstream: "card",
            op: "balance_get",
            attempt,
            outcome,
            code: None,
            latency: Duration::from_millis(70),
            reached_upstream: true,
        };
        let text = logged(|| {
            call(1, "ok").emit();
            call(2, "timeout").emit();
            for state in [BreakerState::Closed, BreakerState::Open] {
                BreakerChanged {
                    upstream: "card",
                    state,
                }
                .emit();
            }
        });
        assert_eq!(
            text,
            concat!(
                "DEBUG upstream call upstream=\"card\" op=\"balance_get\" attempt=1 outcome=\"ok\" latency_ms=70\n",
                " WARN upstream call failed upstream=\"card\" op=\"balance_get\" attempt=2 outcome=\"timeout\" latency_ms=70\n",
                " INFO breaker upstream=\"card\" state=\"closed\"\n",
                " WARN breaker upstream=\"card\" state=\"open\"\n",
            )
        );
    }

    #[test]
    fn metric_names_and_labels_are_the_documented_ones() {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.05, 0.1, 0.5, 1.0])
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            UpstreamCalled {
                upstream: "card",
                op: "balance_get",
                attempt: 1,
                outcome: "ok",
                code: None,
                latency: Duration::from_millis(70),
                reached_upstream: true,
            }
            .emit();
            UpstreamCalled {
                upstream: "card",
                op: "balance_get",
                attempt: 2,
                outcome: "breaker_open",
                code: None,
                latency: Duration::ZERO,
                reached_upstream: false,
            }
            .emit();
            BreakerChanged {
                upstream: "card",
                state: BreakerState::Open,
            }
            .emit();
            AdapterRestarted {
                upstream: "sms",
                restarts: 1,
            }
            .emit();
        });
        let text = handle.render();
        for line in [
            r#"onecard_upstream_calls_total{upstream="card",op="balance_get",outcome="ok"} 1"#,
            r#"onecard_upstream_calls_total{upstream="card",op="balance_get",outcome="breaker_open"} 1"#,
            r#"onecard_upstream_latency_seconds_bucket{upstream="card",op="balance_get",le="0.1"} 1"#,
            r#"onecard_upstream_latency_seconds_count{upstream="card",op="balance_get"} 1"#,
            r#"onecard_upstream_breaker_state{upstream="card"} 2"#,
            r#"onecard_upstream_restarts_total{upstream="sms"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
    }
}
