//! Adapters: one module per upstream system (card system, SMS platform, public data store,
//! bank, billers), each behind a supervised actor and a typed handle.
//!
//! Why it exists: the school's systems are slow, flaky and rate limited; this module is where
//! that stops. It owns the signed HTTP calls (built on the protocol
//! types of [`crate::wire`], shared with the simulators), timeouts, retries of idempotent
//! reads, concurrency and rate limits and a circuit breaker per upstream ([`policy`]), and the actor + keeper that isolate each upstream
//! ([`supervise`]). It must never compose user-facing replies (the actions turn
//! [`AdapterError`]'s variants into replies), never retry a write except with the same idempotency key, and
//! never log secrets or personal data (only [`events`] logs, and it masks).
//!
//! Layout per upstream: `mod.rs` (the interface trait, an [`handle::Upstream`], and its
//! types), `client.rs` (the interface implemented on the one generic
//! [`transport::AdapterClient`], which signs, sends, verifies and decodes) and `actor.rs` (the
//! typed methods callers use, e.g. `card.balance("42940").await?`, on the one generic
//! [`handle::AdapterHandle`], which also carries start, health, restarts and stop).
//!
//! Why every upstream has all three: the trait is the seam ([`handle::AdapterHandle::start_with`]
//! runs any implementation of it, a fake or a school's own integration, behind the same actor
//! and handle, so one upstream can be replaced without touching its callers); the client is
//! the only code that knows the wire paths; the handle runs a call inside the supervised actor
//! and decides whether it may be re-sent. So each operation is written three times with one line of substance
//! each: declared (`fn debit<'a>(&'a self, req: &'a BankDebit) -> BoxFuture<…>`), mapped to
//! its path and body (`self.http.write("debit", paths::BANK_DEBIT, req, &req.out_trade_no)`),
//! and wrapped as a read or a write (`self.write_with(req.clone(), BankSystem::debit)`).
//! Everything the three have in common is written once in [`transport`] and [`handle`]; what
//! is left looks alike from one upstream to the next because a signature names its operation
//! and its types, and a macro generating them would hide exactly those.
//!
//! Call [`start`] from inside the actix System, once, before the HTTP server: each adapter gets
//! its own arbiter (thread), its own `reqwest::Client` built there (docs/rust-dependencies.md 1.2.2) and a keeper
//! that restarts it if it dies (actix's Supervisor does not cover panics, docs/rust-dependencies.md 1.2.1).

pub mod bank;
pub mod billers;
pub mod card;
#[cfg(test)]
mod contract_tests;
pub mod events;
pub mod handle;
#[cfg(test)]
mod money_sim_tests;
pub mod policy;
pub mod public_data;
#[cfg(test)]
mod resend_tests;
#[cfg(test)]
mod sim_e2e_tests;
#[cfg(test)]
mod sim_roundtrip_tests;
pub mod sms;
pub mod supervise;
pub mod transport;

use std::time::Duration;

use serde::Deserialize;

use crate::wire;

pub use bank::{BankHandle, BankSystem};
pub use billers::{Billers, BillersHandle};
pub use card::{CardHandle, CardSystem};
pub use policy::BreakerState;
pub use public_data::{PublicData, PublicDataHandle};
pub use sms::{SmsHandle, SmsPlatform};

/// Why an upstream call failed. Variants are precise so the caller can choose the reply;
/// none of them carries personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The call (or the wait for the adapter's mailbox) ran past its deadline. For a write
    /// the outcome is **unknown**: query it by its idempotency key before doing anything else.
    #[error("upstream call timed out")]
    Timeout,
    /// The upstream cannot serve now; nothing was done (except possibly for `Status`/
    /// `Transport` on a write, which are treated like a timeout by the order machine).
    #[error("upstream unavailable: {0}")]
    Unavailable(Unavailable),
    /// Too many calls per second, by our own limiter or by the upstream (code 1006 / 429).
    #[error("rate limited by {0:?}")]
    RateLimited(RateLimitSource),
    /// Every concurrency slot for this upstream stayed busy for the whole call timeout.
    #[error("too many calls in flight")]
    Saturated,
    /// A business answer from the upstream, e.g. 2001 account not found, 2301 insufficient
    /// funds. See docs/upstream-api.md §3 and [`wire::ErrorCode`].
    #[error("upstream rejected the request: {code} {message}")]
    Rejected { code: u32, message: String },
    /// The upstream answered something that is not the protocol (bad JSON, missing data, bad
    /// response signature) or refused our signing (1001–1005, 1007–1009): a bug or a
    /// misconfiguration, never retried.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The adapter's configuration cannot work (bad URL, unreadable CA file, …).
    #[error("adapter configuration: {0}")]
    Config(String),
}

/// The specific reason behind [`AdapterError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("circuit breaker open")]
    BreakerOpen,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("cannot connect")]
    Connect,
    #[error("transport error")]
    Transport,
    /// 9000 系统繁忙, 9001 upstream of upstream down, 6006 biller busy.
    #[error("upstream busy (code {0})")]
    Busy(u32),
    /// The adapter actor died and is being restarted.
    #[error("adapter restarting")]
    ActorDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitSource {
    Local,
    Upstream,
}

impl AdapterError {
    /// Worth another attempt of an *idempotent read*, after a backoff.
    pub fn is_retryable(&self) -> bool {
        match self {
            AdapterError::Timeout => true,
            AdapterError::Unavailable(u) => !matches!(u, Unavailable::BreakerOpen),
            AdapterError::RateLimited(src) => *src == RateLimitSource::Upstream,
            AdapterError::Saturated
            | AdapterError::Rejected { .. }
            | AdapterError::Protocol(_)
            | AdapterError::Config(_) => false,
        }
    }

    /// The documented error code, for `Rejected` answers this client knows.
    pub fn code(&self) -> Option<wire::ErrorCode> {
        match self {
            AdapterError::Rejected { code, .. } => wire::ErrorCode::from_u32(*code),
            _ => None,
        }
    }

    /// Bounded label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            AdapterError::Timeout => "timeout",
            AdapterError::Unavailable(Unavailable::BreakerOpen) => "breaker_open",
            AdapterError::Unavailable(_) => "unavailable",
            AdapterError::RateLimited(_) => "rate_limited",
            AdapterError::Saturated => "saturated",
            AdapterError::Rejected { .. } => "rejected",
            AdapterError::Protocol(_) => "protocol",
            AdapterError::Config(_) => "config",
        }
    }
}

/// One upstream's section, e.g. `[upstreams.card]`. Every key but the three identity keys has
/// a default.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `https://ecard-gw.example.edu.cn` (paths `/api/v1/…` are appended).
    pub base_url: String,
    pub app_key: String,
    pub app_secret: String,
    /// Per attempt, including connect. The adapter handle's deadline is derived from it.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long a kept-alive connection may sit idle and still be reused. Under the gateway's
    /// own keep-alive (5 s on actix-web and Apache by default), so that no call goes out on a
    /// connection the gateway is closing at that moment: a read would be retried, but a write
    /// would end with its outcome unknown.
    #[serde(default = "defaults::idle_connection_ms")]
    pub idle_connection_ms: u64,
    /// Calls in flight at once to this upstream.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Sustained calls per second (burst = the same number).
    #[serde(default = "defaults::rate_per_sec")]
    pub rate_per_sec: u32,
    /// Extra attempts for idempotent reads (writes are never retried here).
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    /// Consecutive failures that open the breaker.
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call may pass.
    #[serde(default = "defaults::breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
    /// First backoff between read attempts; doubles each time, with jitter.
    #[serde(default = "defaults::backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Refuse responses without a valid `X-Signature` (docs/upstream-api.md §2.4). On by
    /// default: an unsigned answer could come from anyone between us and the gateway.
    #[serde(default = "defaults::require_signed_responses")]
    pub require_signed_responses: bool,
    /// PEM file with the school's private CA, if its gateway uses one.
    #[serde(default)]
    pub ca_cert_path: Option<std::path::PathBuf>,
    /// What the breaker's cooldown is measured on: the wall clock, or in tests a clock moved
    /// by hand, so a cooldown passes without sleeping. Not a setting.
    #[serde(skip, default = "defaults::clock")]
    pub clock: std::sync::Arc<dyn crate::store::orders::OrderClock>,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("base_url", &self.base_url)
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field("timeout_ms", &self.timeout_ms)
            .field("concurrency", &self.concurrency)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("retries", &self.retries)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown_ms", &self.breaker_cooldown_ms)
            .finish_non_exhaustive()
    }
}

mod defaults {
    pub fn timeout_ms() -> u64 {
        2_000
    }
    pub fn connect_timeout_ms() -> u64 {
        1_000
    }
    pub fn idle_connection_ms() -> u64 {
        4_000
    }
    pub fn concurrency() -> usize {
        16
    }
    pub fn rate_per_sec() -> u32 {
        50
    }
    pub fn retries() -> u32 {
        2
    }
    pub fn breaker_failures() -> u32 {
        5
    }
    pub fn breaker_cooldown_ms() -> u64 {
        10_000
    }
    pub fn backoff_base_ms() -> u64 {
        100
    }
    pub fn require_signed_responses() -> bool {
        true
    }
    pub fn clock() -> std::sync::Arc<dyn crate::store::orders::OrderClock> {
        std::sync::Arc::new(crate::store::orders::SystemClock)
    }
}

impl UpstreamConfig {
    /// A config with every default, for tests and the demo.
    pub fn new(
        base_url: impl Into<String>,
        app_key: impl Into<String>,
        app_secret: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            timeout_ms: defaults::timeout_ms(),
            connect_timeout_ms: defaults::connect_timeout_ms(),
            idle_connection_ms: defaults::idle_connection_ms(),
            concurrency: defaults::concurrency(),
            rate_per_sec: defaults::rate_per_sec(),
            retries: defaults::retries(),
            breaker_failures: defaults::breaker_failures(),
            breaker_cooldown_ms: defaults::breaker_cooldown_ms(),
            backoff_base_ms: defaults::backoff_base_ms(),
            require_signed_responses: defaults::require_signed_responses(),
            ca_cert_path: None,
            clock: defaults::clock(),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    pub fn credentials(&self) -> wire::Credentials {
        wire::Credentials::new(self.app_key.clone(), self.app_secret.clone())
    }
}

/// The `[upstreams]` table: one section per adapter. `bank` and `billers` are optional: a
/// deployment without them has no top-up or payments, everything else works.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptersConfig {
    pub card: UpstreamConfig,
    pub sms: UpstreamConfig,
    pub public_data: UpstreamConfig,
    #[serde(default)]
    pub bank: Option<UpstreamConfig>,
    #[serde(default)]
    pub billers: Option<UpstreamConfig>,
}

impl AdaptersConfig {
    /// From a parsed `[upstreams]` table.
    pub fn from_table(table: &toml::Table) -> Result<Self, AdapterError> {
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| AdapterError::Config(e.to_string()))
    }

    /// Every configured section with its name (`card`, `sms`, …).
    pub fn sections(&self) -> impl Iterator<Item = (&'static str, &UpstreamConfig)> {
        [
            ("card", Some(&self.card)),
            ("sms", Some(&self.sms)),
            ("public_data", Some(&self.public_data)),
            ("bank", self.bank.as_ref()),
            ("billers", self.billers.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, section)| section.map(|s| (name, s)))
    }

    /// As [`AdaptersConfig::sections`], to rewrite them (e.g. relative base URLs).
    pub fn sections_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut UpstreamConfig)> {
        [
            ("card", Some(&mut self.card)),
            ("sms", Some(&mut self.sms)),
            ("public_data", Some(&mut self.public_data)),
            ("bank", self.bank.as_mut()),
            ("billers", self.billers.as_mut()),
        ]
        .into_iter()
        .filter_map(|(name, section)| section.map(|s| (name, s)))
    }
}

/// The running adapters. Cheap to clone; hand clones to whoever calls upstreams.
#[derive(Clone)]
pub struct Adapters {
    pub card: CardHandle,
    pub sms: SmsHandle,
    pub public_data: PublicDataHandle,
    /// `None` when `[upstreams.bank]` is not configured.
    pub bank: Option<BankHandle>,
    /// `None` when `[upstreams.billers]` is not configured.
    pub billers: Option<BillersHandle>,
}

impl Adapters {
    /// Health of every upstream (one unsigned `GET /api/v1/health` each, concurrently).
    pub async fn health(&self) -> Vec<events::Health> {
        let (card, sms, public_data, bank, billers) = futures_util::join!(
            self.card.health(),
            self.sms.health(),
            self.public_data.health(),
            health_if_configured(self.bank.as_ref()),
            health_if_configured(self.billers.as_ref()),
        );
        let mut all = vec![card, sms, public_data];
        all.extend(bank);
        all.extend(billers);
        all
    }

    /// Stop the adapters' arbiters (tests, orderly shutdown).
    pub fn stop(&self) {
        self.card.stop();
        self.sms.stop();
        self.public_data.stop();
        if let Some(bank) = &self.bank {
            bank.stop();
        }
        if let Some(billers) = &self.billers {
            billers.stop();
        }
    }
}

async fn health_if_configured<T: ?Sized + handle::Upstream>(
    adapter: Option<&handle::AdapterHandle<T>>,
) -> Option<events::Health> {
    match adapter {
        Some(adapter) => Some(adapter.health().await),
        None => None,
    }
}

/// Start every adapter. Must run inside the actix System (it creates arbiters and spawns the
/// keepers on the current arbiter). Fails only on configuration that cannot work.
pub async fn start(cfg: &AdaptersConfig) -> Result<Adapters, AdapterError> {
    Ok(Adapters {
        card: card::actor::start(&cfg.card)?,
        sms: sms::actor::start(&cfg.sms)?,
        public_data: public_data::actor::start(&cfg.public_data)?,
        bank: cfg.bank.as_ref().map(bank::actor::start).transpose()?,
        billers: cfg
            .billers
            .as_ref()
            .map(billers::actor::start)
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_fill_everything_but_identity() {
        let table: toml::Table = toml::from_str(
            r#"
            [card]
            base_url = "http://127.0.0.1:9/"
            app_key = "k"
            app_secret = "s"
            timeout_ms = 800
            [sms]
            base_url = "http://127.0.0.1:9"
            app_key = "k"
            app_secret = "s"
            [public_data]
            base_url = "http://127.0.0.1:9"
            app_key = "k"
            app_secret = "s"
            "#,
        )
        .unwrap();
        let cfg = AdaptersConfig::from_table(&table).unwrap();
        assert_eq!(cfg.card.timeout_ms, 800);
        assert_eq!(cfg.sms.timeout_ms, 2000);
        assert_eq!(cfg.sms.retries, 2);
        assert_eq!(cfg.sms.breaker_failures, 5);
        assert!(cfg.bank.is_none());
        assert!(!format!("{:?}", cfg.card).contains("\"s\""));
    }

    #[test]
    fn the_demo_config_declares_every_upstream() {
        let text = std::fs::read_to_string("config/demo.toml").unwrap();
        let file: toml::Table = toml::from_str(&text).unwrap();
        let cfg = AdaptersConfig::from_table(file["upstreams"].as_table().unwrap()).unwrap();
        let names: Vec<(&str, &str)> = cfg
            .sections()
            .map(|(name, s)| (name, s.base_url.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("card", "/sim/card"),
                ("sms", "/sim/sms"),
                ("public_data", "/sim/data"),
                ("bank", "/sim/bank"),
                ("billers", "/sim/billers"),
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let table: toml::Table =
            toml::from_str("[card]\nbase_url='x'\napp_key='k'\napp_secret='s'\ntimeout=1\n")
                .unwrap();
        assert!(AdaptersConfig::from_table(&table).is_err());
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(AdapterError::Timeout.is_retryable());
        assert!(AdapterError::Unavailable(Unavailable::Status(502)).is_retryable());
        assert!(!AdapterError::Unavailable(Unavailable::BreakerOpen).is_retryable());
        assert!(!AdapterError::RateLimited(RateLimitSource::Local).is_retryable());
        assert!(
            !AdapterError::Rejected {
                code: 2001,
                message: String::new()
            }
            .is_retryable()
        );
    }
}
