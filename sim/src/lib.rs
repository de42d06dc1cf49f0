//! Simulators of every upstream we cannot reach from a laptop or a test: the WeChat platform
//! API, the campus card system, the SMS platform, the public data services, the bank (银校转账)
//! and the billers (缴费).
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

pub mod bank;
pub mod billers;
pub mod campus;
pub mod card;
pub mod faults;
pub mod public_data;
pub mod sms;
mod statement;
pub mod upstream;
pub mod wechat;
pub mod wechat_mass;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

pub use bank::BankSimConfig;
pub use card::CardSimConfig;
pub use faults::Faults;
pub use wechat::WechatSimConfig;

use onecard_wire::Credentials;

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
    /// School policy of the simulated card system (limits, online 解挂, load hours).
    #[serde(default)]
    pub card: CardSimConfig,
    /// The co-operating bank (limits, service hours, share of 未决 answers).
    #[serde(default)]
    pub bank: BankSimConfig,
    /// Fault injection per upstream (`card`, `sms`, `public_data`, `bank`, `billers`, `wechat`);
    /// adjustable at run time through `POST /sim/faults/{upstream}`.
    #[serde(default)]
    pub faults: BTreeMap<String, Faults>,
    /// Generate new card transactions in the background ("live campus"). Off by default so
    /// that balances change only through the API.
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
            card: CardSimConfig::default(),
            bank: BankSimConfig::default(),
            faults: BTreeMap::new(),
            live_activity: false,
        }
    }
}

/// The app key / secret pair the school's gateways hand out to onecard (the defaults are the
/// credentials of docs/upstream-api.md §2.5, so the doc's vectors work against the simulator).
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
    "demo-secret-change-me".to_owned()
}

impl Default for UpstreamCredentials {
    fn default() -> Self {
        Self {
            app_key: default_app_key(),
            app_secret: default_app_secret(),
        }
    }
}

impl UpstreamCredentials {
    pub fn to_wire(&self) -> Credentials {
        Credentials::new(self.app_key.clone(), self.app_secret.clone())
    }
}

/// Wall clock of the simulators with an adjustable offset, so tests can jump past a 1-minute
/// window or a 5-minute token overlap without sleeping.
#[derive(Debug)]
pub struct SimClock {
    /// Seconds added to the system clock; only ever grows.
    offset_secs: AtomicI64,
    /// When set (not `i64::MIN`), time stands still here (plus the offset): for tests that must
    /// not see the wall clock tick between two calls.
    frozen_at: AtomicI64,
}

impl Default for SimClock {
    fn default() -> Self {
        Self {
            offset_secs: AtomicI64::new(0),
            frozen_at: AtomicI64::new(i64::MIN),
        }
    }
}

impl SimClock {
    /// Current simulated time, unix seconds.
    pub fn now(&self) -> i64 {
        let frozen = self.frozen_at.load(Ordering::Relaxed);
        let base = if frozen == i64::MIN {
            chrono::Utc::now().timestamp()
        } else {
            frozen
        };
        base.saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Stop the clock at the current wall time; only [`SimClock::advance`] moves it after this.
    pub fn freeze(&self) {
        let _ = self.frozen_at.compare_exchange(
            i64::MIN,
            chrono::Utc::now().timestamp(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Move simulated time forward by `secs` (negative values are ignored; the total offset is
    /// capped at 100 years so no date arithmetic downstream can overflow).
    pub fn advance(&self, secs: i64) {
        const MAX_OFFSET: i64 = 100 * 366 * 86_400;
        if secs > 0 {
            let _ = self
                .offset_secs
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                    Some(o.saturating_add(secs).min(MAX_OFFSET))
                });
        }
    }
}

struct Inner {
    cfg: SimConfig,
    clock: SimClock,
    wechat: wechat::WechatSim,
    campus: campus::Campus,
    card: card::CardSim,
    bank: bank::BankSim,
    billers: billers::BillersSim,
    sms: sms::SmsSim,
    faults: faults::FaultBoard,
    card_gw: upstream::Gateway,
    sms_gw: upstream::Gateway,
    data_gw: upstream::Gateway,
    bank_gw: upstream::Gateway,
    billers_gw: upstream::Gateway,
    /// The live-activity task is started once, by the first worker that mounts the routes.
    live_started: AtomicBool,
}

/// Every simulator's state behind one `Arc`; cheap to clone into each actix worker.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

impl SimState {
    /// Build every simulator; generates the campus (≈ 5 000 people: tens of milliseconds).
    pub fn new(cfg: SimConfig) -> Self {
        let clock = SimClock::default();
        let t0 = clock.now();
        let creds = vec![cfg.upstream.to_wire()];
        Self {
            inner: Arc::new(Inner {
                wechat: wechat::WechatSim::new(cfg.wechat.clone()),
                campus: campus::Campus::generate(cfg.seed, cfg.accounts, t0),
                card: card::CardSim::new(cfg.card.clone()),
                bank: bank::BankSim::new(cfg.bank.clone()),
                billers: billers::BillersSim::default(),
                sms: sms::SmsSim::default(),
                faults: faults::FaultBoard::new(&cfg.faults),
                card_gw: upstream::Gateway::new("card", creds.clone()),
                sms_gw: upstream::Gateway::new("sms", creds.clone()),
                data_gw: upstream::Gateway::new("public_data", creds.clone()),
                bank_gw: upstream::Gateway::new("bank", creds.clone()),
                billers_gw: upstream::Gateway::new("billers", creds),
                live_started: AtomicBool::new(false),
                clock,
                cfg,
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

    /// The generated campus (people, cards, history as of the start).
    pub fn campus(&self) -> &campus::Campus {
        &self.inner.campus
    }

    /// The card system's live state.
    pub fn card(&self) -> &card::CardSim {
        &self.inner.card
    }

    /// The bank's state.
    pub fn bank(&self) -> &bank::BankSim {
        &self.inner.bank
    }

    /// The billers' state.
    pub fn billers(&self) -> &billers::BillersSim {
        &self.inner.billers
    }

    /// The SMS platform's state.
    pub fn sms(&self) -> &sms::SmsSim {
        &self.inner.sms
    }

    /// Fault settings of every upstream.
    pub fn faults(&self) -> &faults::FaultBoard {
        &self.inner.faults
    }

    pub(crate) fn card_gateway(&self) -> &upstream::Gateway {
        &self.inner.card_gw
    }
    fn sms_gateway(&self) -> &upstream::Gateway {
        &self.inner.sms_gw
    }
    fn data_gateway(&self) -> &upstream::Gateway {
        &self.inner.data_gw
    }
    pub(crate) fn bank_gateway(&self) -> &upstream::Gateway {
        &self.inner.bank_gw
    }
    pub(crate) fn billers_gateway(&self) -> &upstream::Gateway {
        &self.inner.billers_gw
    }

    fn start_live_activity(&self) {
        if !self.inner.cfg.live_activity || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if self.inner.live_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                let now = state.clock().now();
                let people = state.campus().people();
                let mut r = campus::Rng::derive(state.config().seed, &[n, 0x11FE]);
                for _ in 0..5 {
                    let p = r.pick(people);
                    if let Some(c) = p.cards.first() {
                        let amount = r.range(6, 20) * 100 + r.range(0, 1) * 50;
                        state
                            .card()
                            .live_consume(state.campus(), &c.account, amount, now);
                    }
                }
            }
        });
    }
}

/// The five signed upstreams, each mounted at its base URL's path (`http://HOST:PORT/sim/card`
/// …) with its own gateway and operation table.
static UPSTREAMS: [upstream::Service; 5] = [
    upstream::Service {
        gateway: SimState::card_gateway,
        ops: card::OPS,
        mount: "/sim/card",
    },
    upstream::Service {
        gateway: SimState::sms_gateway,
        ops: sms::OPS,
        mount: "/sim/sms",
    },
    upstream::Service {
        gateway: SimState::data_gateway,
        ops: public_data::OPS,
        mount: "/sim/data",
    },
    upstream::Service {
        gateway: SimState::bank_gateway,
        ops: bank::OPS,
        mount: "/sim/bank",
    },
    upstream::Service {
        gateway: SimState::billers_gateway,
        ops: billers::OPS,
        mount: "/sim/billers",
    },
];

/// Mount every simulator route under `/sim/...` on an actix-web App:
///
/// - `/sim/wechat/...` the WeChat API (base URL for our client) + inspection;
/// - `/sim/card`, `/sim/sms`, `/sim/data`, `/sim/bank`, `/sim/billers`: base URLs of the gateways
///   (`POST {base}/api/v1/...`, signed per docs/upstream-api.md);
/// - `/sim/card/accounts`, `/sim/bank/accounts/{学工号}`, `/sim/data/loans/{学工号}`, `/sim/sms/outbox`, `/sim/faults`, `/sim/clock/advance`: inspection
///   and knobs for demos and tests (unsigned).
pub fn configure(state: SimState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        state.start_live_activity();
        cfg.service(
            web::scope("/sim")
                .app_data(web::Data::new(state))
                .app_data(web::JsonConfig::default().limit(256 * 1024))
                .route("/clock", web::get().to(get_clock))
                .route("/clock/advance", web::post().to(advance_clock))
                .route("/clock/freeze", web::post().to(freeze_clock))
                .route("/faults", web::get().to(get_faults))
                .route("/faults/{upstream}", web::post().to(set_faults))
                .service(
                    web::scope("/wechat")
                        .wrap(actix_web::middleware::from_fn(wechat::faults_mw))
                        .configure(wechat::routes),
                )
                .configure(|cfg| UPSTREAMS.iter().for_each(|service| service.routes(cfg)))
                .configure(card::http::routes)
                .route("/sms/outbox", web::get().to(sms_outbox))
                .route("/data/loans/{id}", web::get().to(get_library_loans))
                .route("/bank/accounts/{id}", web::get().to(get_bank_account))
                .route("/billers/payments", web::get().to(billers::list_payments))
                .route(
                    "/billers/meters/{room}/offline",
                    web::post().to(billers::switch_meter),
                ),
        );
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    secs: i64,
}

/// `POST /sim/clock/advance {"secs":N}`: jump the simulators' clock forward.
async fn advance_clock(state: web::Data<SimState>, body: web::Json<AdvanceBody>) -> HttpResponse {
    state.clock().advance(body.secs);
    HttpResponse::Ok().json(json!({ "now": state.clock().now() }))
}

/// `GET /sim/clock`: the simulators' current business time.
async fn get_clock(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "now": state.clock().now() }))
}

/// `POST /sim/clock/freeze`: stop business time (only `advance` moves it afterwards).
async fn freeze_clock(state: web::Data<SimState>) -> HttpResponse {
    state.clock().freeze();
    HttpResponse::Ok().json(json!({ "now": state.clock().now() }))
}

/// `GET /sim/faults`: every upstream's fault settings.
async fn get_faults(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.faults().all())
}

/// `POST /sim/faults/{upstream}` with a [`Faults`] JSON body (missing fields = off).
async fn set_faults(
    state: web::Data<SimState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let upstream = path.into_inner();
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return HttpResponse::BadRequest().json(json!({"error": e.to_string()})),
    };
    match state.faults().set(&upstream, faults) {
        Ok(()) => HttpResponse::Ok().json(state.faults().get(&upstream)),
        Err(e @ faults::FaultError::UnknownUpstream(_)) => {
            HttpResponse::NotFound().json(json!({"error": e.to_string()}))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({"error": e.to_string()})),
    }
}

/// `GET /sim/bank/accounts/{id}` (学工号): the person's bank account with `balance_fen`.
async fn get_bank_account(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    match state.bank().view(&state, &id) {
        Some(v) => HttpResponse::Ok().json(v),
        None => HttpResponse::NotFound().json(json!({"error": "no such bank account"})),
    }
}

/// `GET /sim/data/loans/{id}` (学工号): the person's library loans with their overdue fines, as
/// `library/loans` answers them (the library-fine biller's receivables are the same).
async fn get_library_loans(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    match public_data::loans_of(&state, &id) {
        Ok(loans) => HttpResponse::Ok().json(loans),
        Err(_) => HttpResponse::NotFound().json(json!({"error": "no such reader"})),
    }
}

/// `GET /sim/sms/outbox?phone=P`: messages sent to P, oldest first, each with its `text`.
async fn sms_outbox(
    state: web::Data<SimState>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    match q.get("phone") {
        Some(phone) => HttpResponse::Ok().json(state.sms().outbox(phone)),
        None => HttpResponse::BadRequest().json(json!({"error": "phone is required"})),
    }
}

/// Lock a mutex, recovering the data if a previous holder panicked: a simulator must keep
/// serving even after a bug in one request.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_config_parses_and_empty_config_is_the_default_world() {
        let readme = include_str!("README.md");
        let start = readme
            .find("```toml\n[sim]")
            .map(|i| i + "```toml\n".len())
            .unwrap();
        let end = start + readme[start..].find("```").unwrap();
        let table: toml::Table = toml::from_str(&readme[start..end]).unwrap();
        let cfg: SimConfig = table["sim"].clone().try_into().unwrap();
        assert_eq!(cfg.accounts, 5000);
        assert_eq!(
            cfg.card.load_hours.as_ref().map(|w| w.from.as_str()),
            Some("05:00")
        );
        assert_eq!(cfg.faults["card"].p99_ms, Some(300));
        let empty: SimConfig = toml::from_str("").unwrap();
        assert_eq!(empty.upstream.app_key, "onecard-demo");
        assert_eq!(empty.wechat.token_ttl_secs, 7200);
        assert!(
            toml::from_str::<SimConfig>("acounts = 3").is_err(),
            "typos are errors"
        );
    }

    #[test]
    fn clock_only_moves_forward() {
        let c = SimClock::default();
        let t = c.now();
        c.advance(-100);
        assert!(c.now() >= t);
        c.advance(3600);
        assert!(c.now() >= t + 3600);
        c.freeze();
        let frozen = c.now();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(c.now(), frozen);
        c.advance(5);
        assert_eq!(c.now(), frozen + 5);
    }
}
