//! Call policy for one upstream: circuit breaker, rate limit, concurrency limit, timeout and
//! retries with exponential backoff and jitter (uniform in [d/2, d]).
//!
//! Why it exists: so a slow or failing upstream costs its callers a fast, precise error instead
//! of a stalled reply, and never touches the other upstreams (each has its own `Policy`). It
//! owns the breaker state and the limiters; it must never retry anything but an idempotent
//! read, and never hold a concurrency slot while sleeping between attempts.
//!
//! Order per attempt: breaker admission → rate limiter (a short wait is allowed, then
//! [`AdapterError::RateLimited`]) → concurrency slot (waited for at most the call timeout, then
//! [`AdapterError::Saturated`]) → the call, bounded by the timeout.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::sync::Semaphore;

use super::events::{BreakerChanged, UpstreamCalled};
use super::{AdapterError, RateLimitSource, Unavailable, UpstreamConfig};
use crate::store::orders::OrderClock;

/// Whether a call may be repeated safely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Idempotent read: retried on transient failures.
    Read,
    /// Write with an idempotency key: one attempt; the order machine decides what next.
    Write,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// Gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

#[derive(Debug)]
struct Breaker {
    state: BreakerState,
    consecutive_failures: u32,
    threshold: u32,
    cooldown_ms: i64,
    /// When it opened, in the policy's clock's milliseconds.
    opened_at_ms: Option<i64>,
    /// Only one call passes while half-open; the rest fail fast until it settles.
    probe_in_flight: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    Normal,
    Probe,
}

impl Breaker {
    fn admit(&mut self, now_ms: i64) -> Option<Admission> {
        match self.state {
            BreakerState::Closed => Some(Admission::Normal),
            BreakerState::Open => {
                let cooled = self
                    .opened_at_ms
                    .is_none_or(|at| now_ms.saturating_sub(at) >= self.cooldown_ms);
                if cooled {
                    self.state = BreakerState::HalfOpen;
                    self.probe_in_flight = true;
                    Some(Admission::Probe)
                } else {
                    None
                }
            }
            BreakerState::HalfOpen => {
                if self.probe_in_flight {
                    None
                } else {
                    self.probe_in_flight = true;
                    Some(Admission::Probe)
                }
            }
        }
    }

    fn on_success(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.opened_at_ms = None;
        self.probe_in_flight = false;
    }

    fn on_failure(&mut self, now_ms: i64) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.state == BreakerState::HalfOpen || self.consecutive_failures >= self.threshold {
            self.state = BreakerState::Open;
            self.opened_at_ms = Some(now_ms);
        }
        self.probe_in_flight = false;
    }

    fn on_neutral(&mut self, was_probe: bool) {
        if was_probe {
            self.probe_in_flight = false;
        }
    }
}

/// What an attempt's result means for the breaker.
fn verdict<T>(result: &Result<T, AdapterError>) -> Verdict {
    match result {
        // a business answer proves the upstream is up
        Ok(_) | Err(AdapterError::Rejected { .. }) => Verdict::Healthy,
        Err(AdapterError::Timeout) => Verdict::Sick,
        Err(AdapterError::Unavailable(u)) => match u {
            Unavailable::Status(_)
            | Unavailable::Connect
            | Unavailable::Transport
            | Unavailable::Busy(_) => Verdict::Sick,
            Unavailable::BreakerOpen | Unavailable::ActorDown => Verdict::Neutral,
        },
        Err(_) => Verdict::Neutral,
    }
}

enum Verdict {
    Healthy,
    Sick,
    Neutral,
}

/// One upstream's policy. Shared (`Arc`) by the adapter's client across actor restarts, so the
/// breaker state survives a restart.
pub struct Policy {
    upstream: &'static str,
    semaphore: Arc<Semaphore>,
    limiter: DefaultDirectRateLimiter,
    breaker: Mutex<Breaker>,
    /// What the breaker's cooldown is measured on (`UpstreamConfig::clock`).
    clock: Arc<dyn OrderClock>,
    retries: u32,
    timeout: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
    /// Longest we wait for the rate limiter before giving up with `RateLimited`.
    rate_wait_max: Duration,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("upstream", &self.upstream)
            .field("breaker", &self.breaker_state())
            .field("available_permits", &self.semaphore.available_permits())
            .finish_non_exhaustive()
    }
}

impl Policy {
    pub fn new(upstream: &'static str, cfg: &UpstreamConfig) -> Self {
        let rate = NonZeroU32::new(cfg.rate_per_sec.max(1)).unwrap_or(NonZeroU32::MIN);
        let policy = Self {
            upstream,
            semaphore: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(rate)),
            breaker: Mutex::new(Breaker {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                threshold: cfg.breaker_failures.max(1),
                cooldown_ms: i64::try_from(cfg.breaker_cooldown_ms).unwrap_or(i64::MAX),
                opened_at_ms: None,
                probe_in_flight: false,
            }),
            clock: Arc::clone(&cfg.clock),
            retries: cfg.retries,
            timeout: cfg.timeout(),
            backoff_base: Duration::from_millis(cfg.backoff_base_ms.max(1)),
            backoff_max: Duration::from_millis((cfg.backoff_base_ms.max(1) * 16).min(5_000)),
            rate_wait_max: Duration::from_millis(250),
        };
        BreakerChanged {
            upstream,
            state: BreakerState::Closed,
        }
        .emit();
        policy
    }

    pub fn upstream(&self) -> &'static str {
        self.upstream
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.lock_breaker().state
    }

    /// The longest a call through this policy can take (all attempts, waits and backoffs);
    /// adapter handles use it, plus a margin, as their mailbox deadline.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.retries + 1;
        // per attempt: rate wait + slot wait (≤ timeout) + the call (≤ timeout)
        let per_attempt = self.rate_wait_max + self.timeout * 2;
        per_attempt * attempts + self.backoff_max * self.retries
    }

    fn lock_breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        match self.breaker.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Backoff before attempt `n + 1` (n ≥ 1): `d = base · 2^(n-1)` capped, then uniform in [d/2, d].
    fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << (n - 1).min(16))
            .min(self.backoff_max);
        let ms = exp.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
    }

    /// Run `attempt` under the policy. `attempt(n)` must build a fresh request each time (a
    /// new nonce); it is called at most once for writes.
    pub async fn run<T, F, Fut>(
        &self,
        op: &'static str,
        kind: CallKind,
        mut attempt: F,
    ) -> Result<T, AdapterError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, AdapterError>>,
    {
        let max_attempts = match kind {
            CallKind::Read => self.retries + 1,
            CallKind::Write => 1,
        };
        let mut n = 0;
        let mut failed: Option<AdapterError> = None;
        loop {
            n += 1;
            let result = self.once(op, n, &mut attempt).await;
            match result {
                Err(e) if n < max_attempts && e.is_retryable() => {
                    failed = Some(e);
                    tokio::time::sleep(self.backoff(n)).await;
                }
                // The retry was refused by the breaker the earlier failures opened: the call
                // did reach the upstream, so report how it failed there, not "nothing sent".
                Err(AdapterError::Unavailable(Unavailable::BreakerOpen)) if failed.is_some() => {
                    return Err(
                        failed.unwrap_or(AdapterError::Unavailable(Unavailable::BreakerOpen))
                    );
                }
                result => return result,
            }
        }
    }

    async fn once<T, F, Fut>(
        &self,
        op: &'static str,
        n: u32,
        attempt: &mut F,
    ) -> Result<T, AdapterError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, AdapterError>>,
    {
        let started = Instant::now();
        let result = self.guarded(n, attempt).await;
        UpstreamCalled {
            upstream: self.upstream,
            op,
            attempt: n,
            outcome: match &result {
                Ok(_) => "ok",
                Err(e) => e.outcome(),
            },
            code: match &result {
                Err(AdapterError::Rejected { code, .. }) => Some(*code),
                Err(AdapterError::Unavailable(Unavailable::Busy(code))) => Some(*code),
                _ => None,
            },
            latency: started.elapsed(),
            reached_upstream: !matches!(
                result,
                Err(AdapterError::Unavailable(
                    Unavailable::BreakerOpen | Unavailable::ActorDown
                )) | Err(AdapterError::RateLimited(RateLimitSource::Local))
                    | Err(AdapterError::Saturated)
                    | Err(AdapterError::Config(_))
            ),
        }
        .emit();
        result
    }

    async fn guarded<T, F, Fut>(&self, n: u32, attempt: &mut F) -> Result<T, AdapterError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, AdapterError>>,
    {
        let admission = self.lock_breaker().admit(self.clock.now_ms());
        let Some(admission) = admission else {
            return Err(AdapterError::Unavailable(Unavailable::BreakerOpen));
        };
        if admission == Admission::Probe {
            self.emit_state(BreakerState::HalfOpen);
        }
        // Whatever happens below — including this future being dropped — a probe must be
        // released, or the breaker would stay half-open with no probe forever.
        let mut probe = ProbeGuard {
            policy: self,
            armed: admission == Admission::Probe,
        };

        self.wait_for_rate().await?;
        let _permit = match tokio::time::timeout(self.timeout, self.semaphore.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(AdapterError::Unavailable(Unavailable::ActorDown)),
            Err(_) => return Err(AdapterError::Saturated),
        };
        let result = match tokio::time::timeout(self.timeout, attempt(n)).await {
            Ok(r) => r,
            Err(_) => Err(AdapterError::Timeout),
        };

        let before = self.breaker_state();
        {
            let mut breaker = self.lock_breaker();
            match verdict(&result) {
                Verdict::Healthy => breaker.on_success(),
                Verdict::Sick => breaker.on_failure(self.clock.now_ms()),
                Verdict::Neutral => breaker.on_neutral(probe.armed),
            }
        }
        probe.armed = false;
        let after = self.breaker_state();
        if after != before {
            self.emit_state(after);
        }
        result
    }

    async fn wait_for_rate(&self) -> Result<(), AdapterError> {
        match self.limiter.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                if wait > self.rate_wait_max {
                    return Err(AdapterError::RateLimited(RateLimitSource::Local));
                }
                tokio::time::sleep(wait).await;
                self.limiter
                    .check()
                    .map_err(|_| AdapterError::RateLimited(RateLimitSource::Local))
            }
        }
    }

    fn emit_state(&self, state: BreakerState) {
        BreakerChanged {
            upstream: self.upstream,
            state,
        }
        .emit();
    }
}

struct ProbeGuard<'a> {
    policy: &'a Policy,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.policy.lock_breaker().on_neutral(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::orders::ManualClock;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn cfg() -> UpstreamConfig {
        let mut c = UpstreamConfig::new("http://unused", "k", "s");
        c.timeout_ms = 200;
        c.retries = 2;
        c.breaker_failures = 3;
        c.breaker_cooldown_ms = 100;
        c.backoff_base_ms = 1;
        c.rate_per_sec = 1000;
        c
    }

    /// A policy whose breaker cooldown passes only when the test moves the clock.
    fn on_manual_clock(mut c: UpstreamConfig) -> (Policy, Arc<ManualClock>) {
        let clock = ManualClock::starting_at(0);
        c.clock = clock.clone();
        (Policy::new("test", &c), clock)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn reads_are_retried_on_transient_errors_but_writes_are_not() {
        rt().block_on(async {
            let p = Policy::new("test", &cfg());
            let calls = AtomicU32::new(0);
            let r: Result<(), _> = p
                .run("op", CallKind::Read, |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(AdapterError::Unavailable(Unavailable::Status(502)))
                })
                .await;
            assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::Status(502))));
            assert_eq!(calls.load(Ordering::SeqCst), 3);

            let p = Policy::new("test", &cfg());
            calls.store(0, Ordering::SeqCst);
            let r: Result<(), _> = p
                .run("op", CallKind::Write, |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(AdapterError::Timeout)
                })
                .await;
            assert_eq!(r, Err(AdapterError::Timeout));
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn business_rejections_are_not_retried_and_keep_the_breaker_closed() {
        rt().block_on(async {
            let p = Policy::new("test", &cfg());
            let calls = AtomicU32::new(0);
            for _ in 0..5 {
                let _: Result<(), _> = p
                    .run("op", CallKind::Read, |_| async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err(AdapterError::Rejected {
                            code: 2001,
                            message: "账户信息不存在".into(),
                        })
                    })
                    .await;
            }
            assert_eq!(calls.load(Ordering::SeqCst), 5);
            assert_eq!(p.breaker_state(), BreakerState::Closed);
        });
    }

    #[test]
    fn breaker_opens_then_half_opens_then_closes_on_success() {
        rt().block_on(async {
            let mut c = cfg();
            c.retries = 0;
            let (p, clock) = on_manual_clock(c);
            let calls = AtomicU32::new(0);
            let fail = |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(AdapterError::Unavailable(Unavailable::Connect))
            };
            for _ in 0..3 {
                let _ = p.run("op", CallKind::Read, fail).await;
            }
            assert_eq!(p.breaker_state(), BreakerState::Open);
            // open: fails fast without calling
            let r = p.run("op", CallKind::Read, fail).await;
            assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::BreakerOpen)));
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            // still open a millisecond before the cool-down (100 ms) ends
            clock.advance(Duration::from_millis(99));
            let r = p.run("op", CallKind::Read, fail).await;
            assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::BreakerOpen)));
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            // after the cool-down one probe passes; its failure re-opens
            clock.advance(Duration::from_millis(1));
            let _ = p.run("op", CallKind::Read, fail).await;
            assert_eq!(calls.load(Ordering::SeqCst), 4);
            assert_eq!(p.breaker_state(), BreakerState::Open);
            // re-opened with a fresh cool-down, counted from the failed probe
            clock.advance(Duration::from_millis(99));
            let r = p.run("op", CallKind::Read, fail).await;
            assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::BreakerOpen)));
            assert_eq!(calls.load(Ordering::SeqCst), 4);
            // next probe succeeds: closed again
            clock.advance(Duration::from_millis(1));
            let r = p.run("op", CallKind::Read, |_| async { Ok(7) }).await;
            assert_eq!(r, Ok(7));
            assert_eq!(p.breaker_state(), BreakerState::Closed);
        });
    }

    #[test]
    fn half_open_lets_one_probe_through_and_a_dropped_probe_is_released() {
        rt().block_on(async {
            let mut c = cfg();
            c.retries = 0;
            c.breaker_failures = 1;
            let (p, clock) = on_manual_clock(c);
            let _ = p
                .run("op", CallKind::Read, |_| async {
                    Err::<(), _>(AdapterError::Timeout)
                })
                .await;
            assert_eq!(p.breaker_state(), BreakerState::Open);
            clock.advance(Duration::from_millis(100));
            // a probe that never finishes, dropped by a short outer timeout
            let slow = p.run("op", CallKind::Read, |_| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<(), AdapterError>(())
            });
            let dropped = tokio::time::timeout(Duration::from_millis(20), slow).await;
            assert!(dropped.is_err());
            assert_eq!(p.breaker_state(), BreakerState::HalfOpen);
            // the probe slot was released: the next call is the new probe and closes it
            let r = p.run("op", CallKind::Read, |_| async { Ok(1) }).await;
            assert_eq!(r, Ok(1));
            assert_eq!(p.breaker_state(), BreakerState::Closed);
        });
    }

    #[test]
    fn slow_attempts_time_out() {
        rt().block_on(async {
            let mut c = cfg();
            c.retries = 0;
            c.timeout_ms = 30;
            let p = Policy::new("test", &c);
            let r = p
                .run("op", CallKind::Read, |_| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<(), AdapterError>(())
                })
                .await;
            assert_eq!(r, Err(AdapterError::Timeout));
        });
    }

    #[test]
    fn the_local_rate_limit_sheds_a_burst() {
        rt().block_on(async {
            let mut c = cfg();
            // the slowest rate, so the margin is widest: only a stall of 750 ms between two
            // calls of the burst would let one through
            c.rate_per_sec = 1;
            c.retries = 0;
            let p = Policy::new("test", &c);
            let mut limited = 0;
            for _ in 0..4 {
                if let Err(AdapterError::RateLimited(RateLimitSource::Local)) =
                    p.run("op", CallKind::Read, |_| async { Ok(()) }).await
                {
                    limited += 1;
                }
            }
            // burst of 1, then a 1,000 ms wait > 250 ms allowed → refused
            assert_eq!(limited, 3);
        });
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut c = cfg();
        c.backoff_base_ms = 100;
        let p = Policy::new("test", &c);
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!((50..=100).contains(&(b1.as_millis() as u64)), "{b1:?}");
            let b3 = p.backoff(3);
            assert!((200..=400).contains(&(b3.as_millis() as u64)), "{b3:?}");
            assert!(p.backoff(30) <= Duration::from_millis(1600));
        }
    }
}
