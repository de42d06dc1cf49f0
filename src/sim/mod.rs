//! Simulators of every upstream we cannot reach from a laptop or a test: the WeChat platform
//! API, the campus card system, the SMS platform and the public data services.
//!
//! They exist so that `onecard demo`, `onecard sim` and the integration tests exercise the real
//! HTTP clients against servers that behave like the real systems: the same JSON shapes and
//! error codes, realistic data, quotas, latency and injected faults. This module owns the
//! simulators' in-memory state ([`SimState`]), their configuration ([`SimConfig`]) and the
//! actix-web routes under `/sim/` ([`configure`]).
//!
//! It must never be reachable from the production message path: nothing outside `startup`/`cli`
//! constructs a [`SimState`], and the simulators never read the platform's store. State is
//! in memory only; a restart starts a fresh, deterministic world from the seed.

pub mod campus;
pub mod wechat;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::web;
use serde::Deserialize;

pub use wechat::WechatSimConfig;

/// Configuration of all simulators (`[sim]` in the config file). Every field has a default, so
/// an empty section gives a working demo world.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// The simulated WeChat platform: the account's credentials and token lifetime.
    #[serde(default)]
    pub wechat: WechatSimConfig,
    /// Seed of the deterministic campus generator: same seed, same campus.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of card accounts in the generated campus (students and staff).
    #[serde(default = "default_accounts")]
    pub accounts: usize,
    /// Credentials the adapters sign upstream requests with (card, SMS, public data).
    #[serde(default)]
    pub upstream: UpstreamCredentials,
    /// Fault injection per upstream, keyed by upstream name (`card`, `sms`, `public_data`,
    /// `wechat`); adjustable at run time through `POST /sim/faults/{upstream}`.
    #[serde(default)]
    pub faults: std::collections::BTreeMap<String, serde_json::Value>,
    /// Generate new transactions in the background ("live campus"). Off by default so that
    /// balances change only through the API.
    #[serde(default)]
    pub live_activity: bool,
}

fn default_seed() -> u64 {
    20_260_901
}
fn default_accounts() -> usize {
    5_000
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            wechat: WechatSimConfig::default(),
            seed: default_seed(),
            accounts: default_accounts(),
            upstream: UpstreamCredentials::default(),
            faults: Default::default(),
            live_activity: false,
        }
    }
}

/// The app key / secret pair an upstream gateway hands out to onecard.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCredentials {
    #[serde(default = "default_app_key")]
    pub app_key: String,
    #[serde(default = "default_app_secret")]
    pub app_secret: String,
}

fn default_app_key() -> String {
    "onecard-demo".to_owned()
}
fn default_app_secret() -> String {
    "sim-upstream-secret-change-me".to_owned()
}

impl Default for UpstreamCredentials {
    fn default() -> Self {
        Self {
            app_key: default_app_key(),
            app_secret: default_app_secret(),
        }
    }
}

/// Wall clock of the simulators with an adjustable offset, so tests can jump past a 1-minute
/// window or a 5-minute token overlap without sleeping.
#[derive(Debug, Default)]
pub struct SimClock {
    /// Seconds added to the system clock; only ever grows.
    offset_secs: AtomicI64,
}

impl SimClock {
    /// Current simulated time, unix seconds.
    pub fn now(&self) -> i64 {
        chrono::Utc::now().timestamp() + self.offset_secs.load(Ordering::Relaxed)
    }
    /// Move simulated time forward by `secs` (negative values are ignored).
    pub fn advance(&self, secs: i64) {
        if secs > 0 {
            self.offset_secs.fetch_add(secs, Ordering::Relaxed);
        }
    }
}

struct Inner {
    cfg: SimConfig,
    clock: SimClock,
    wechat: wechat::WechatSim,
}

/// Every simulator's state behind one `Arc`; cheap to clone into each actix worker.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

impl SimState {
    pub fn new(cfg: SimConfig) -> Self {
        let wechat = wechat::WechatSim::new(cfg.wechat.clone());
        Self {
            inner: Arc::new(Inner {
                cfg,
                clock: SimClock::default(),
                wechat,
            }),
        }
    }

    /// The configuration the simulators were built from.
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// The simulators' clock (shared by all of them).
    pub fn clock(&self) -> &SimClock {
        &self.inner.clock
    }

    /// The WeChat platform simulator (tests may inspect it directly).
    pub fn wechat(&self) -> &wechat::WechatSim {
        &self.inner.wechat
    }
}

/// Mount every simulator route under `/sim/...` on an actix-web App.
pub fn configure(state: SimState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::scope("/sim")
                .app_data(web::Data::new(state))
                .app_data(web::JsonConfig::default().limit(256 * 1024))
                .route("/clock/advance", web::post().to(advance_clock))
                .service(web::scope("/wechat").configure(wechat::routes)),
        );
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    secs: i64,
}

/// `POST /sim/clock/advance {"secs":N}`: jump the simulators' clock forward.
async fn advance_clock(
    state: web::Data<SimState>,
    body: web::Json<AdvanceBody>,
) -> web::Json<serde_json::Value> {
    state.clock().advance(body.secs);
    web::Json(serde_json::json!({ "now": state.clock().now() }))
}

/// Lock a mutex, recovering the data if a previous holder panicked: a simulator must keep
/// serving even after a bug in one request.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
