//! Building the application: every part wired together, bound to a port, ready to run.
//!
//! Actors are started here once, before the HTTP server, and their handles moved into the
//! route factory: a factory closure runs once per worker thread, so an actor started inside it
//! would exist once per worker. Session actors live on their own arbiters (one thread each),
//! and so does the pusher.
//!
//! Shutdown (SIGTERM or Ctrl-C) drains instead of dropping work: stop accepting connections,
//! let the callbacks and late results in flight finish and the pusher send what they produced
//! (within `server.shutdown_budget_ms`), then stop the workers and flush the store. Whatever
//! misses the budget is in the store and resumes at the next start.
//!
//! Two listeners: the public one serves only what WeChat and users reach (`/wechat`,
//! `/healthz`, and `/sim/…` under [`Profile::Demo`]); the admin one (`server.admin_listen`,
//! loopback by default) serves `/metrics` and stops after the public one. Production never
//! mounts the simulators: they hand out binding codes to anyone who asks.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

use crate::actions::{ActionRegistry, Services};
use crate::actors::deliveries::Deliveries;
use crate::actors::orders::{ChatNotices, OrderWorker, TopUpMachine, WorkerHandle};
use crate::actors::payments::PaymentMachine;
use crate::actors::push::{PushDeps, PushHandle};
use crate::actors::pusher::PusherHandle;
use crate::actors::router::{Router, RouterHandle};
use crate::actors::sessions::Sessions;
use crate::actors::token_keeper::TokenKeeperHandle;
use crate::http::{CallbackState, health::HealthState};
use crate::reconcile::SledReconciler;
use crate::rules::{Diagnostic, LiveRules};
use crate::settings::Settings;
use crate::store::Store;
use crate::store::orders::{OrderClock, SystemClock};
use crate::wechat::api::ApiClient;
use crate::wechat::{Codec, CodecConfig};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("rule files are invalid:\n{}", Diagnostic::one_per_line(.0))]
    Rules(Vec<Diagnostic>),
    #[error("WeChat settings: {0}")]
    WeChat(String),
    #[error("upstream settings: {0}")]
    Upstreams(String),
    #[error("server: {0}")]
    Server(std::io::Error),
    #[error("content: {0}")]
    Content(#[from] crate::store::ContentError),
    #[error(
        "the settings have a [sim] section (in the file or from an ONECARD__SIM__* variable), \
         but `serve` never serves the simulators: they hand out binding codes and accept any \
         credentials. Remove [sim] (and the ONECARD__SIM__* variables) for production, or run \
         `onecard demo` to try the platform"
    )]
    SimulatorsInProduction,
    #[error(
        "the settings have a [sim] section, but this binary was built without the simulators \
         (cargo feature `sim`); build with default features to run `onecard demo`"
    )]
    SimulatorsNotBuilt,
}

/// The simulators' state when they are built in; without them nothing can be mounted.
#[cfg(feature = "sim")]
type Simulators = crate::sim::SimState;
#[cfg(not(feature = "sim"))]
type Simulators = std::convert::Infallible;

/// Which simulators to mount: none in production (a `[sim]` section there is refused), the
/// configured ones in the demo.
fn simulators(
    profile: Profile,
    section: Option<&crate::settings::SimSection>,
) -> Result<Option<Simulators>, StartupError> {
    match (profile, section) {
        (Profile::Production, Some(_)) => Err(StartupError::SimulatorsInProduction),
        (_, None) => Ok(None),
        #[cfg(feature = "sim")]
        (Profile::Demo, Some(cfg)) => Ok(Some(crate::sim::SimState::new(cfg.clone()))),
        #[cfg(not(feature = "sim"))]
        (Profile::Demo, Some(_)) => Err(StartupError::SimulatorsNotBuilt),
    }
}

/// The clock the top-up checks (the 圈存 window, the day's total) judge by: in the demo the
/// simulated campus's business time, so `POST /sim/clock/advance` moves the window along with
/// the card system's and the bank's day; the system clock otherwise.
fn business_clock(sim: Option<&Simulators>) -> Arc<dyn OrderClock> {
    match sim {
        #[cfg(feature = "sim")]
        Some(state) => Arc::new(SimulatedCampusClock(state.clone())),
        _ => Arc::new(SystemClock),
    }
}

/// The simulators' clock (whole seconds) as an [`OrderClock`].
#[cfg(feature = "sim")]
struct SimulatedCampusClock(crate::sim::SimState);

#[cfg(feature = "sim")]
impl OrderClock for SimulatedCampusClock {
    fn now_ms(&self) -> i64 {
        self.0.clock().now().saturating_mul(1000)
    }
}

/// What the process is for, which decides whether the simulators may be mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `onecard serve`: the platform alone, pointed at real upstreams; `[sim]` is refused.
    Production,
    /// `onecard demo` and the tests: the simulators of `[sim]` are served under `/sim/` on the
    /// public listener and the upstream URLs may point at them.
    Demo,
}

/// What a running application exposes to the CLI and to tests.
#[derive(Clone)]
pub struct AppHandles {
    pub store: Store,
    pub rules: LiveRules,
    pub tokens: TokenKeeperHandle,
    pub pusher: PusherHandle,
    /// The news push worker.
    pub push: PushHandle,
    pub sessions: Sessions,
    /// `http://127.0.0.1:PORT` (the public listener)
    pub base_url: String,
    /// `http://127.0.0.1:PORT` of the admin listener (`/metrics`)
    pub admin_url: String,
}

pub struct Application {
    port: u16,
    server: Server,
    /// The admin listener runs on its own (spawned); stopped after the public one.
    admin: ServerHandle,
    handles: AppHandles,
    // Kept alive for as long as the application runs.
    _watcher: Option<crate::rules::reload::RulesWatcher>,
    _arbiters: Vec<actix_rt::Arbiter>,
    shutdown_budget: Duration,
}

impl Application {
    /// Build everything and bind the listeners. Must run inside an actix System.
    pub async fn build(settings: Settings, profile: Profile) -> Result<Self, StartupError> {
        Self::build_with_actions(settings, ActionRegistry::builtin(), profile).await
    }

    /// Build with a custom action registry: the built-ins plus a school's own actions.
    pub async fn build_with_actions(
        mut settings: Settings,
        actions: ActionRegistry,
        profile: Profile,
    ) -> Result<Self, StartupError> {
        let sim = simulators(profile, settings.sim.as_ref())?;
        warn_about_upstream_trust(&settings, profile);
        let listener =
            TcpListener::bind(&settings.server.listen).map_err(|source| StartupError::Listen {
                addr: settings.server.listen.clone(),
                source,
            })?;
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let base_url = format!("http://127.0.0.1:{port}");
        settings.resolve_self_urls(&base_url);
        let admin_listener =
            TcpListener::bind(&settings.server.admin_listen).map_err(|source| {
                StartupError::Listen {
                    addr: settings.server.admin_listen.clone(),
                    source,
                }
            })?;
        let admin_url = format!(
            "http://127.0.0.1:{}",
            admin_listener
                .local_addr()
                .map_err(StartupError::Server)?
                .port()
        );

        std::fs::create_dir_all(&settings.server.data_dir).map_err(|e| {
            crate::store::StoreError::Engine(format!(
                "cannot create {}: {e}",
                settings.server.data_dir.display()
            ))
        })?;
        let store = Store::open(&settings.server.data_dir, settings.server.store_cache_mb)?
            .with_code_secret(&settings.binding.code_secret);
        seed_content(&store, &settings).await?;

        let actions = Arc::new(actions);
        let rules = LiveRules::load_keeping_last_good(
            &settings.rules.dir,
            actions.clone(),
            Arc::new(store.rules_snapshot()),
        )
        .map_err(StartupError::Rules)?;
        let watcher = if settings.rules.hot_reload {
            match rules.watch() {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "rule hot reload unavailable; use `onecard rules check` and restart");
                    None
                }
            }
        } else {
            None
        };

        let w = &settings.wechat;
        if w.encrypted_only.is_some() {
            return Err(StartupError::WeChat(
                "`encrypted_only` was replaced by `mode` = \"safe\", \"compatible\" or \"plain\" (docs/SECURITY.md); remove it".into(),
            ));
        }
        let codec = Codec::new(CodecConfig {
            tokens: [&w.token, &w.previous_token]
                .into_iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            aes_keys: [&w.encoding_aes_key, &w.previous_encoding_aes_key]
                .into_iter()
                .filter(|k| !k.is_empty())
                .cloned()
                .collect(),
            app_id: w.app_id.clone(),
            timestamp_window_secs: w.timestamp_window_secs,
            mode: w.mode,
            original_id: Some(w.original_id.clone()),
            replay_cache_capacity: w.replay_cache_capacity,
        })
        .map_err(|e| StartupError::WeChat(e.to_string()))?;
        if settings.sessions.dedup_window_secs
            < settings.wechat.timestamp_window_secs.unsigned_abs()
        {
            return Err(StartupError::WeChat(format!(
                "sessions.dedup_window_secs ({}) must be at least wechat.timestamp_window_secs ({}): a replay the timestamp check lets through would run its action again",
                settings.sessions.dedup_window_secs, settings.wechat.timestamp_window_secs
            )));
        }
        let api = ApiClient::new(
            &w.api_base,
            &w.app_id,
            &w.app_secret,
            Duration::from_secs(10),
        )
        .map_err(|e| StartupError::WeChat(e.to_string()))?;
        let tokens = TokenKeeperHandle::start(
            api.clone(),
            w.use_stable_token,
            Duration::from_secs(w.token_refresh_margin_secs),
        );
        let template = Some(w.fallback_template_id.clone()).filter(|t| !t.is_empty());
        let push_arbiter = actix_rt::Arbiter::new();
        let media = crate::actions::WeChatMedia::new(api.clone(), tokens.clone());
        let pusher = PusherHandle::start(
            api.clone(),
            tokens.clone(),
            store.clone(),
            template,
            rules.clone(),
            push_arbiter.handle(),
        );

        let adapters = match &settings.upstreams {
            None => {
                tracing::warn!(
                    "no [upstreams] configured: campus services answer that they are unavailable"
                );
                None
            }
            Some(cfg) => Some(
                crate::adapters::start(cfg)
                    .await
                    .map_err(|e| StartupError::Upstreams(e.to_string()))?,
            ),
        };
        let orders_worker =
            start_orders_worker(&store, &settings, adapters.as_ref(), &pusher, &rules)?;
        if let Some(adapters) = &adapters {
            crate::actors::alerts::AlertsConsumer {
                store: store.clone(),
                adapters: adapters.clone(),
                rules: rules.clone(),
                pusher: pusher.clone(),
                settings: settings.alerts.clone(),
                utc_offset_hours: settings.server.utc_offset_hours,
            }
            .start(&push_arbiter.handle());
        }
        let news_push = PushHandle::start(
            PushDeps {
                store: store.clone(),
                api,
                tokens: tokens.clone(),
                rules: rules.clone(),
                adapters: adapters.clone(),
                settings: settings.push.clone(),
                public_url: settings.services.public_url.clone(),
                utc_offset_hours: settings.server.utc_offset_hours,
            },
            &push_arbiter.handle(),
        );
        let services = Services {
            store: store.clone(),
            adapters: adapters.clone(),
            settings: settings.services.clone(),
            binding: settings.binding.clone(),
            payments: settings.payments.clone(),
            utc_offset_hours: settings.server.utc_offset_hours,
            media: Some(media),
            bills: settings.bills.clone(),
            money: Some(crate::actions::money::Money {
                orders: store.orders()?,
                worker: orders_worker,
                topup: settings.orders.topup.clone(),
                clock: business_clock(sim.as_ref()),
            }),
        };
        let upstreams = adapters.as_ref().zip(settings.upstreams.as_ref());
        let cohort_job = upstreams.map(|(a, cfg)| crate::bills::cohorts::CohortJob {
            store: store.clone(),
            card: a.card.clone(),
            pace: Arc::new(crate::bills::fetch::BatchPace::half_of(
                cfg.card.rate_per_sec,
            )),
            settings: settings.bills.clone(),
            utc_offset_hours: settings.server.utc_offset_hours,
        });
        if let Some(job) = &cohort_job {
            job.clone().spawn_daily();
        }
        let s = &settings.sessions;
        let router = Arc::new(Router::new(
            rules.clone(),
            actions,
            services,
            s.dialog_ttl_secs,
            s.user_burst,
            s.user_per_minute,
        ));
        let n_arbiters = settings.server.session_arbiters;
        let mut arbiters: Vec<actix_rt::Arbiter> =
            (0..n_arbiters).map(|_| actix_rt::Arbiter::new()).collect();
        let sessions = Sessions::new(
            arbiters.iter().map(|a| a.handle()).collect(),
            RouterHandle::new(router.clone()),
            store.clone(),
            Duration::from_secs(s.idle_secs),
        );
        arbiters.push(push_arbiter);
        crate::actors::late::resume(&sessions, &pusher);
        let deliveries = Arc::new(
            Deliveries::new(
                Duration::from_secs(s.dedup_window_secs),
                s.dedup_capacity,
                s.dedup_max_bytes,
            )
            .with_reply_window(Duration::from_secs(s.dedup_reply_secs)),
        );

        let deliveries_for_sweep = deliveries.clone();
        let codec_for_sweep = codec.clone();
        let callback = web::Data::new(CallbackState {
            codec,
            sessions: sessions.clone(),
            deliveries,
            pusher: pusher.clone(),
            budget: Duration::from_millis(settings.server.callback_budget_ms),
        });
        let health = web::Data::new(HealthState {
            rules: rules.clone(),
            store: store.clone(),
            prometheus: crate::telemetry::metrics_handle(),
        });
        let h5 = web::Data::new(crate::http::h5::H5State::new(
            store.clone(),
            settings.server.utc_offset_hours,
        ));
        let bill_pages = adapters.as_ref().map(|a| {
            web::Data::new(crate::http::bills::BillPages {
                card: a.card.clone(),
                settings: settings.bills.clone(),
                utc_offset_hours: settings.server.utc_offset_hours,
            })
        });
        let cohort_job = cohort_job.map(web::Data::new);
        let body_limit = settings.server.body_limit_bytes;
        let admin_health = health.clone();
        let ticket_desk = web::Data::new(crate::actions::tickets_desk::TicketDesk::new(
            store.clone(),
            rules.clone(),
            crate::actors::alerts::TicketUpdates::new(
                store.clone(),
                pusher.clone(),
                &settings.alerts,
                settings.server.utc_offset_hours,
            ),
        ));
        let content_admin = web::Data::new(crate::http::content_admin::ContentAdmin {
            store: store.clone(),
            push: news_push.clone(),
            utc_offset_hours: settings.server.utc_offset_hours,
        });
        let reconciler = reconciler(&settings, &store, adapters.as_ref())?;
        let money_desk = web::Data::new(crate::actions::money_desk::MoneyDesk::new(
            store.orders()?,
            store.reconcile()?,
            reconciler.clone(),
            settings.reconcile.report_dir(&settings.server.data_dir),
            settings.server.utc_offset_hours,
        ));
        let mut server = HttpServer::new(move || {
            let app = App::new()
                .configure(crate::http::public_routes(
                    callback.clone(),
                    health.clone(),
                    body_limit,
                ))
                .configure(crate::http::h5::routes(h5.clone()))
                .configure(crate::http::bills::routes(h5.clone(), bill_pages.clone()));
            match &sim {
                #[cfg(feature = "sim")]
                Some(state) => app.configure(crate::sim::configure(state.clone())),
                #[cfg(not(feature = "sim"))]
                Some(never) => match *never {},
                None => app,
            }
        })
        // Signals are ours: actix's own SIGTERM handling would stop the workers without
        // waiting for late replies.
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_budget_ms.div_ceil(1000))
        .listen(listener)
        .map_err(StartupError::Server)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.run();
        // One worker is plenty for scrapes; `run_until_stopped` stops it after the public one.
        let admin = HttpServer::new(move || {
            App::new()
                .configure(crate::http::admin_routes(
                    admin_health.clone(),
                    ticket_desk.clone(),
                    content_admin.clone(),
                ))
                .configure(crate::http::bills::admin_routes(cohort_job.clone()))
                .configure(crate::http::admin_money::routes(money_desk.clone()))
        })
        .workers(1)
        .disable_signals()
        .listen(admin_listener)
        .map_err(StartupError::Server)?
        .run();
        let admin_handle = admin.handle();
        actix_web::rt::spawn(admin);

        spawn_housekeeping(router, deliveries_for_sweep, codec_for_sweep);
        if settings.reconcile.enabled {
            spawn_reconciliation(&settings, reconciler);
        }

        Ok(Self {
            port,
            server,
            admin: admin_handle,
            handles: AppHandles {
                store,
                rules,
                tokens,
                pusher,
                push: news_push,
                sessions,
                base_url,
                admin_url,
            },
            _watcher: watcher,
            _arbiters: arbiters,
            shutdown_budget: Duration::from_millis(settings.server.shutdown_budget_ms),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handles(&self) -> &AppHandles {
        &self.handles
    }

    /// The admin listener's server, for whoever runs the public one through `into_parts`.
    pub fn admin_server(&self) -> ServerHandle {
        self.admin.clone()
    }

    /// Serve until the process is told to stop (SIGTERM / Ctrl-C), then drain (see the module
    /// docs) and flush the store.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Self {
            server,
            handles,
            shutdown_budget,
            admin,
            _watcher,
            _arbiters,
            ..
        } = self;
        let control = server.handle();
        let mut running = actix_web::rt::spawn(server);
        let served = tokio::select! {
            served = &mut running => served,
            () = stop_signal() => {
                let deadline = Instant::now() + shutdown_budget;
                tracing::info!(budget_ms = shutdown_budget.as_millis() as u64, "stop signal: draining");
                control.pause().await;
                let drained = handles.pusher.drain(deadline).await;
                control.stop(true).await;
                tracing::info!(drained, "stopped");
                running.await
            }
        };
        admin.stop(true).await;
        served
            .map_err(|e| StartupError::Server(std::io::Error::other(e.to_string())))?
            .map_err(StartupError::Server)?;
        handles.store.flush().await?;
        Ok(())
    }

    /// Split into the public server future (to spawn) and the handles (tests). The admin
    /// listener keeps running until the actix System stops.
    pub fn into_parts(
        self,
    ) -> (
        Server,
        AppHandles,
        Option<crate::rules::reload::RulesWatcher>,
        Vec<actix_rt::Arbiter>,
    ) {
        (self.server, self.handles, self._watcher, self._arbiters)
    }
}

/// SIGTERM (service managers) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Say at start-up what weakens trust in the school's gateway: unsigned responses accepted,
/// or plain `http://` to it in production (the demo's own simulators are on loopback).
fn warn_about_upstream_trust(settings: &Settings, profile: Profile) {
    let Some(upstreams) = &settings.upstreams else {
        return;
    };
    for (upstream, section) in upstreams.sections() {
        if !section.require_signed_responses {
            tracing::warn!(
                upstream,
                "require_signed_responses = false: unsigned answers from this upstream are \
                 believed, so anyone on the path to it can forge balances and results"
            );
        }
        if profile == Profile::Production && section.base_url.starts_with("http://") {
            tracing::error!(
                upstream,
                base_url = %section.base_url,
                "INSECURE: this upstream is reached over plain http://; card numbers, phone \
                 numbers and the request signatures cross the network readable by anyone on \
                 the path. Use https:// (ca_cert_path for the school's own CA)"
            );
        }
    }
}

/// The order worker: claims order tasks for the life of the process, resuming whatever the
/// last run left unfinished. Top-ups are driven only where a bank is configured, payments
/// only where billers are.
fn start_orders_worker(
    store: &Store,
    settings: &Settings,
    adapters: Option<&crate::adapters::Adapters>,
    pusher: &PusherHandle,
    rules: &LiveRules,
) -> Result<WorkerHandle, StartupError> {
    let orders = store.orders()?;
    let topup = adapters.and_then(|a| {
        a.bank.clone().map(|bank| {
            TopUpMachine::new(
                orders.clone(),
                bank,
                a.card.clone(),
                settings.orders.topup.policy(),
            )
        })
    });
    let notices = ChatNotices::new(
        pusher.clone(),
        rules.clone(),
        adapters.map(|a| a.card.clone()),
        settings.orders.topup.claim,
    );
    let payments = adapters.and_then(|a| {
        a.billers.clone().map(|billers| {
            PaymentMachine::new(
                orders.clone(),
                a.card.clone(),
                billers,
                settings.orders.payment_policy(),
            )
        })
    });
    let mut worker = OrderWorker::new(
        orders,
        topup,
        Arc::new(notices),
        settings.orders.worker_policy(),
    );
    if let Some(payments) = payments {
        worker = worker.with_payments(payments);
    }
    Ok(worker.spawn())
}

/// Periodic chores: forget idle rate-limiter keys, and remembered deliveries and (nonce,
/// signature) pairs past their window (so quiet users cost nothing), keep the metrics recorder's histograms from growing. (The
/// pusher keeps its own windows and queue on its own tick.)
fn spawn_housekeeping(router: Arc<Router>, deliveries: Arc<Deliveries>, codec: Codec) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            router.sweep_limiters();
            deliveries.sweep();
            codec.sweep_replays(chrono::Utc::now().timestamp());
            crate::telemetry::metrics_handle().run_upkeep();
        }
    });
}

/// The reconciler (对账) on the adapters this process uses; `None` without `[upstreams]`.
fn reconciler(
    settings: &Settings,
    store: &Store,
    adapters: Option<&crate::adapters::Adapters>,
) -> Result<Option<SledReconciler>, StartupError> {
    let Some(adapters) = adapters else {
        return Ok(None);
    };
    Ok(Some(SledReconciler::on(settings, store, adapters)?))
}

/// The daily reconciliation of yesterday.
fn spawn_reconciliation(settings: &Settings, reconciler: Option<SledReconciler>) {
    let Some(reconciler) = reconciler else {
        tracing::warn!("reconcile.enabled but no [upstreams]: nothing to reconcile against");
        return;
    };
    let dir = settings.reconcile.report_dir(&settings.server.data_dir);
    crate::reconcile::schedule::spawn_daily(reconciler, dir);
}

/// Publish the content directory's files when the content store is empty (a fresh demo), so
/// 「公告」 and 「指南」 have something to show. Later edits go through `onecard content publish`.
async fn seed_content(store: &Store, settings: &Settings) -> Result<(), StartupError> {
    let dir = &settings.services.content_dir;
    if dir.as_os_str().is_empty() || !store.content().is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let items = crate::store::read_content_dir(dir, settings.server.utc_offset_hours, now)?;
    for item in &items {
        store.content().put(item)?;
    }
    store.flush().await?;
    tracing::info!(items = items.len(), dir = %dir.display(), "published the content directory into an empty store");
    Ok(())
}
