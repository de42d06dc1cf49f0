//! Fault injection for the simulated upstreams: latency (fixed or a p50/p99 log-normal), an error
//! rate (HTTP 503 `9000 系统繁忙`), a rate-limit rate (HTTP 429 `1006`), a timeout rate (the request hangs past any sane client
//! timeout), lost responses (the write commits, the answer never arrives — the nasty case for
//! money), and down windows (`9001`, HTTP 503).
//!
//! Why it exists: adapters promise timeouts, retries and circuit breakers; these knobs let the
//! demo and the tests prove it. It owns the current fault settings per upstream (`card`, `sms`,
//! `public_data`, `wechat`), settable from config and at run time through
//! `POST /sim/faults/{upstream}`. It must never decide business outcomes: a fault happens
//! before an operation runs (or, for lost responses, after it committed) and never changes it.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::campus::local_secs;

/// The upstreams that take faults.
pub const UPSTREAMS: &[&str] = &["card", "sms", "public_data", "bank", "billers", "wechat"];

/// A daily window (campus time, `HH:MM`) during which the upstream is down; `from > to` wraps
/// midnight (e.g. `23:30`–`00:30`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownWindow {
    pub from: String,
    pub to: String,
}

fn hhmm(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
}

/// Fault settings of one upstream. Everything off by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Fixed extra latency per request.
    pub latency_ms: Option<u64>,
    /// Log-normal latency with this median …
    pub p50_ms: Option<u64>,
    /// … and this 99th percentile (ignored without `p50_ms`).
    pub p99_ms: Option<u64>,
    /// Share of requests answered HTTP 503 with code 9000 before anything happens.
    pub error_rate: f64,
    /// Share of requests answered HTTP 429 with code 1006 (调用次数超限) before anything
    /// happens, as a gateway's own rate limit would.
    pub rate_limited_rate: f64,
    /// Share of requests that hang for `hang_ms` and then get a 503.
    pub timeout_rate: f64,
    /// How long a "timeout" hangs.
    pub hang_ms: u64,
    /// Share of requests that are executed but whose answer is replaced by a bare HTTP 503.
    pub lost_response_rate: f64,
    /// Down now (9001, HTTP 503), regardless of windows.
    pub down: bool,
    /// Daily down windows (campus time).
    pub down_windows: Vec<DownWindow>,
    /// Only requests whose path ends with one of these (`load/create`, `bank/reverse`) take
    /// the faults; empty = every request. Lets a test fail one step of a flow and not the next.
    pub ops: Vec<String>,
    /// What goes wrong with this upstream's daily statement (bank, card, billers).
    pub statement: StatementFaults,
}

/// Faults of a daily statement, the ways real 对账文件 fail (docs/campus-domain.md §6, §10.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatementFaults {
    /// No statement for any day: answered like one not produced yet, "对账文件不存在".
    pub missing: bool,
    /// The statement comes in an unexpected shape (an amount as text, `"12.50元"`).
    pub malformed: bool,
    /// The file hash sent does not match the rows.
    pub bad_hash: bool,
    /// These `out_trade_no`s are left out of the statement (a record the upstream lost).
    pub omit: Vec<String>,
    /// These `out_trade_no`s appear one fen more than was moved.
    pub amount_off_by_one_fen: Vec<String>,
}

impl StatementFaults {
    /// The rows as the faulty upstream reports them (before counting, summing and hashing).
    pub fn rows<R>(
        &self,
        rows: Vec<R>,
        key: impl Fn(&R) -> &str,
        amount: impl Fn(&mut R) -> &mut i64,
    ) -> Vec<R> {
        rows.into_iter()
            .filter(|r| !self.omit.iter().any(|k| k == key(r)))
            .map(|mut r| {
                if self.amount_off_by_one_fen.iter().any(|k| k == key(&r)) {
                    *amount(&mut r) += 1;
                }
                r
            })
            .collect()
    }

    /// The file hash as sent.
    pub fn hash(&self, real: String) -> String {
        if self.bad_hash {
            real.chars().rev().collect()
        } else {
            real
        }
    }

    /// The answer as sent: with `malformed`, the first row's amount (or the count, for an
    /// empty page) becomes text.
    pub fn shape(&self, mut answer: serde_json::Value) -> serde_json::Value {
        if self.malformed {
            match answer.pointer_mut("/page/items/0/amount_fen") {
                Some(amount) => *amount = serde_json::Value::from("12.50元"),
                None => answer["count"] = serde_json::Value::from("许多"),
            }
        }
        answer
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: None,
            p50_ms: None,
            p99_ms: None,
            error_rate: 0.0,
            rate_limited_rate: 0.0,
            timeout_rate: 0.0,
            hang_ms: 30_000,
            lost_response_rate: 0.0,
            down: false,
            down_windows: Vec::new(),
            ops: Vec::new(),
            statement: StatementFaults::default(),
        }
    }
}

/// Why a fault setting was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    #[error("unknown upstream {0:?}; known: card, sms, public_data, bank, billers, wechat")]
    UnknownUpstream(String),
    #[error("{0} must be between 0 and 1")]
    Rate(&'static str),
    #[error("p99_ms must be at least p50_ms")]
    Percentiles,
    #[error("down window times must be HH:MM")]
    Window,
}

impl Faults {
    pub fn validate(&self) -> Result<(), FaultError> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("rate_limited_rate", self.rate_limited_rate),
            ("timeout_rate", self.timeout_rate),
            ("lost_response_rate", self.lost_response_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FaultError::Rate(name));
            }
        }
        if let (Some(p50), Some(p99)) = (self.p50_ms, self.p99_ms)
            && p99 < p50
        {
            return Err(FaultError::Percentiles);
        }
        if self
            .down_windows
            .iter()
            .any(|w| hhmm(&w.from).is_none() || hhmm(&w.to).is_none())
        {
            return Err(FaultError::Window);
        }
        Ok(())
    }

    fn is_down(&self, now: i64) -> bool {
        if self.down {
            return true;
        }
        let t = local_secs(now);
        self.down_windows.iter().any(|w| {
            let (Some(a), Some(b)) = (hhmm(&w.from), hhmm(&w.to)) else {
                return false;
            };
            if a <= b {
                (a..b).contains(&t)
            } else {
                t >= a || t < b
            }
        })
    }

    fn latency(&self, rng: &mut impl rand::Rng) -> Duration {
        let mut ms = self.latency_ms.unwrap_or(0) as f64;
        if let Some(p50) = self.p50_ms {
            let p50 = p50.max(1) as f64;
            let p99 = self.p99_ms.map_or(p50 * 4.0, |p| p.max(1) as f64);
            // log-normal: median p50, z(0.99) = 2.326
            let sigma = (p99 / p50).ln() / 2.326;
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            ms += (p50.ln() + sigma * z).exp().min(120_000.0);
        }
        Duration::from_millis(ms as u64)
    }
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Run it normally.
    Proceed,
    /// Answer 503 / 9000 without running it.
    Error,
    /// Answer 429 / 1006 without running it.
    RateLimited,
    /// Hang for the duration, then 503, without running it.
    Hang(Duration),
    /// Answer 503 / 9001: the upstream is down.
    Down,
    /// Run it, then answer a bare 503 instead of the result.
    LoseResponse,
}

/// The plan for one request: wait this long, then [`Outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub delay: Duration,
    pub outcome: Outcome,
}

/// Current fault settings of every upstream.
#[derive(Debug, Default)]
pub struct FaultBoard {
    by_upstream: RwLock<BTreeMap<String, Faults>>,
}

impl FaultBoard {
    /// From config; unknown upstream names and invalid settings are logged and skipped.
    pub fn new(initial: &BTreeMap<String, Faults>) -> Self {
        let board = Self::default();
        for (name, f) in initial {
            if let Err(e) = board.set(name, f.clone()) {
                tracing::warn!(upstream = %name, error = %e, "sim: ignoring fault config");
            }
        }
        board
    }

    pub fn set(&self, upstream: &str, faults: Faults) -> Result<(), FaultError> {
        if !UPSTREAMS.contains(&upstream) {
            return Err(FaultError::UnknownUpstream(upstream.to_owned()));
        }
        faults.validate()?;
        let mut map = self.by_upstream.write().unwrap_or_else(|e| e.into_inner());
        map.insert(upstream.to_owned(), faults);
        Ok(())
    }

    pub fn get(&self, upstream: &str) -> Faults {
        let map = self.by_upstream.read().unwrap_or_else(|e| e.into_inner());
        map.get(upstream).cloned().unwrap_or_default()
    }

    /// Every upstream's settings (defaults included).
    pub fn all(&self) -> BTreeMap<String, Faults> {
        UPSTREAMS
            .iter()
            .map(|u| ((*u).to_owned(), self.get(u)))
            .collect()
    }

    /// Roll the dice for one request at `now`.
    pub fn plan(&self, upstream: &str, now: i64) -> Plan {
        self.plan_for(upstream, None, now)
    }

    /// Roll the dice for one request to `path` (faults limited to `ops` apply only there).
    pub fn plan_for(&self, upstream: &str, path: Option<&str>, now: i64) -> Plan {
        let f = self.get(upstream);
        let targeted = f.ops.is_empty()
            || path.is_some_and(|p| f.ops.iter().any(|op| p.ends_with(op.as_str())));
        if !targeted {
            return Plan {
                delay: Duration::ZERO,
                outcome: Outcome::Proceed,
            };
        }
        let mut rng = rand::rng();
        let delay = f.latency(&mut rng);
        let outcome = if f.is_down(now) {
            Outcome::Down
        } else if f.timeout_rate > 0.0 && rng.random::<f64>() < f.timeout_rate {
            Outcome::Hang(Duration::from_millis(f.hang_ms))
        } else if f.rate_limited_rate > 0.0 && rng.random::<f64>() < f.rate_limited_rate {
            Outcome::RateLimited
        } else if f.error_rate > 0.0 && rng.random::<f64>() < f.error_rate {
            Outcome::Error
        } else if f.lost_response_rate > 0.0 && rng.random::<f64>() < f.lost_response_rate {
            Outcome::LoseResponse
        } else {
            Outcome::Proceed
        };
        if outcome != Outcome::Proceed {
            metrics::counter!("onecard_sim_faults_injected_total", "upstream" => upstream.to_owned())
                .increment(1);
        }
        Plan { delay, outcome }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campus::local_ts;

    #[test]
    fn faults_limited_to_ops_hit_only_those_requests() {
        let board = FaultBoard::default();
        let only_loads = Faults {
            error_rate: 1.0,
            ops: vec!["card/load/create".into()],
            ..Faults::default()
        };
        board.set("card", only_loads).unwrap();
        let outcome = |path: Option<&str>| board.plan_for("card", path, 0).outcome;
        assert_eq!(
            outcome(Some("/sim/card/api/v1/card/load/create")),
            Outcome::Error
        );
        assert_eq!(
            outcome(Some("/sim/card/api/v1/card/load/reverse")),
            Outcome::Proceed
        );
        assert_eq!(outcome(None), Outcome::Proceed, "health and the like");
    }

    #[test]
    fn defaults_inject_nothing() {
        let board = FaultBoard::default();
        for _ in 0..100 {
            assert_eq!(
                board.plan("card", 0),
                Plan {
                    delay: Duration::ZERO,
                    outcome: Outcome::Proceed
                }
            );
        }
    }

    #[test]
    fn rates_of_one_always_fire_in_priority_order() {
        let board = FaultBoard::default();
        let f = Faults {
            error_rate: 1.0,
            lost_response_rate: 1.0,
            ..Faults::default()
        };
        board.set("sms", f.clone()).unwrap();
        assert_eq!(board.plan("sms", 0).outcome, Outcome::Error);
        assert_eq!(board.plan("card", 0).outcome, Outcome::Proceed);
        board
            .set(
                "sms",
                Faults {
                    timeout_rate: 1.0,
                    hang_ms: 1500,
                    ..f
                },
            )
            .unwrap();
        assert_eq!(
            board.plan("sms", 0).outcome,
            Outcome::Hang(Duration::from_millis(1500))
        );
        board
            .set(
                "sms",
                Faults {
                    lost_response_rate: 1.0,
                    ..Faults::default()
                },
            )
            .unwrap();
        assert_eq!(board.plan("sms", 0).outcome, Outcome::LoseResponse);
    }

    #[test]
    fn error_rate_is_roughly_honoured() {
        let board = FaultBoard::default();
        board
            .set(
                "card",
                Faults {
                    error_rate: 0.3,
                    ..Faults::default()
                },
            )
            .unwrap();
        let errors = (0..2000)
            .filter(|_| board.plan("card", 0).outcome == Outcome::Error)
            .count();
        assert!((450..750).contains(&errors), "{errors}");
    }

    #[test]
    fn latency_fixed_and_percentiles() {
        let board = FaultBoard::default();
        board
            .set(
                "card",
                Faults {
                    latency_ms: Some(40),
                    ..Faults::default()
                },
            )
            .unwrap();
        assert_eq!(board.plan("card", 0).delay, Duration::from_millis(40));
        board
            .set(
                "card",
                Faults {
                    p50_ms: Some(50),
                    p99_ms: Some(300),
                    ..Faults::default()
                },
            )
            .unwrap();
        let mut ms: Vec<u128> = (0..4000)
            .map(|_| board.plan("card", 0).delay.as_millis())
            .collect();
        ms.sort_unstable();
        let p50 = ms[2000];
        let p99 = ms[3960];
        assert!((40..=60).contains(&p50), "p50 {p50}");
        assert!((200..=450).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn down_windows_wrap_midnight_and_bad_settings_are_refused() {
        let board = FaultBoard::default();
        let w = DownWindow {
            from: "23:30".into(),
            to: "00:30".into(),
        };
        board
            .set(
                "card",
                Faults {
                    down_windows: vec![w],
                    ..Faults::default()
                },
            )
            .unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 25).unwrap();
        assert_eq!(
            board
                .plan("card", local_ts(day, 23 * 3600 + 45 * 60))
                .outcome,
            Outcome::Down
        );
        assert_eq!(
            board.plan("card", local_ts(day, 15 * 60)).outcome,
            Outcome::Down
        );
        assert_eq!(
            board.plan("card", local_ts(day, 12 * 3600)).outcome,
            Outcome::Proceed
        );
        assert_eq!(
            board.set("atm", Faults::default()),
            Err(FaultError::UnknownUpstream("atm".into()))
        );
        assert_eq!(
            board.set(
                "card",
                Faults {
                    error_rate: 1.5,
                    ..Faults::default()
                }
            ),
            Err(FaultError::Rate("error_rate"))
        );
        assert_eq!(
            board.set(
                "card",
                Faults {
                    p50_ms: Some(100),
                    p99_ms: Some(10),
                    ..Faults::default()
                }
            ),
            Err(FaultError::Percentiles)
        );
        let bad = DownWindow {
            from: "25:00".into(),
            to: "x".into(),
        };
        assert_eq!(
            board.set(
                "card",
                Faults {
                    down_windows: vec![bad],
                    ..Faults::default()
                }
            ),
            Err(FaultError::Window)
        );
    }
}
