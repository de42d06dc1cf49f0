//! onecard — a campus card (校园一卡通) service behind a WeChat Official Account.
//!
//! # Layout
//!
//! One straight message path, and nothing reaches back up it (docs/ARCHITECTURE.md):
//!
//! ```text
//! WeChat ──POST /wechat──► http::callback ──► actors::deliveries ──► actors::sessions
//!                          verify, decrypt,    dedup: retries wait     the user's turn; a dialog
//!                          parse, replay       for the first result    → that user's SessionActor
//!                                                                            │
//!                            actors::router: this thread's RouterActor ◄─────┘
//!                            rules::LiveRules (hot reloaded) → actions::* → template
//!                                                                            │
//!                            adapters::* (card, SMS, public data, bank, billers)
//! replies: passive XML inside the budget, or "success" and actors::pusher later
//! beside the path: actors::orders (money), actors::push (news), actors::alerts (card feed),
//! actors::token_keeper, and the daily jobs (bills cohorts, reconciliation)
//! ```
//!
//! - [`wechat`] the WeChat protocol: signatures, WXBizMsgCrypt, inbound XML, replies, API client.
//! - [`http`] actix-web routes: the callback, H5 pages, the admin listener; the single place
//!   errors become HTTP statuses.
//! - [`actors`] deliveries, sessions, router, pusher, token keeper, orders and payments, news
//!   push, alerts.
//! - [`rules`] operator-edited reply rules: load, validate, match, render, hot reload.
//! - [`actions`] what a rule can do besides fixed text: card, binding, public info, money,
//!   payments, bills, notices, tickets, alerts.
//! - [`adapters`] one module per upstream system, behind one generic supervised handle.
//! - [`bills`] monthly and fun bills computed from card transactions; cohort distributions.
//! - [`reconcile`] 对账: our orders against the bank's, card system's and billers' daily
//!   statements; holding pool, automatic safe resolutions, manual queue, the CSV report.
//! - [`store`] sled behind typed repositories; nothing else touches sled.
//! - [`wire`] the upstream protocol in types: signing, verification, envelope, bodies.
//! - [`sim`] simulators of every upstream, speaking the [`wire`] protocol.
//! - [`conformance`] the kit that checks any gateway (ours or a school's) against the [`wire`]
//!   protocol: `onecard upstream check`.
//! - [`cli`], [`chat`], [`doctor`] the command line, the WeChat player, the set-up check;
//!   [`settings`], [`startup`], [`telemetry`], [`tls`] configuration, wiring, logs and metrics,
//!   the TLS setup the outbound HTTP clients share.

pub mod actions;
pub mod actors;
pub mod adapters;
pub mod bills;
pub mod chat;
pub mod cli;
pub mod conformance;
pub mod doctor;
pub mod http;
pub mod reconcile;
pub mod rules;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod wechat;

/// The simulators: the top-level `sim/` crate (`onecard-sim`), built in with the default
/// feature `sim` for `onecard demo`, `onecard sim` and the tests.
#[cfg(feature = "sim")]
pub use onecard_sim as sim;
/// The upstream protocol in types: the top-level `wire/` crate (`onecard-wire`).
pub use onecard_wire as wire;
/// The domain newtypes (`Fen`, `OpenId`, `Phone`, …), in the shared `onecard-wire` crate.
pub use onecard_wire::domain;
