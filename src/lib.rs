//! onecard — a campus card (校园一卡通) service behind a WeChat Official Account.
//!
//! # Layout
//!
//! One straight message path, and nothing reaches back up it:
//!
//! ```text
//! WeChat ──POST /wechat──► http::callback ──► actors::sessions ──► actors::session (one per openid)
//!                          verify, decrypt,     spawn / find         one message at a time,
//!                          parse, dedup                               dialog state in store
//!                                                                          │
//!                                                 actors::router ◄─────────┘
//!                                                 rules::RuleTable (hot reloaded) + actions
//!                                                                          │
//!                                                 adapters::* (card, sms, public data, ...)
//! replies: passive XML inside the budget, or "success" and actors::pusher later
//! ```
//!
//! - [`wechat`] the WeChat protocol: signatures, WXBizMsgCrypt, inbound XML, replies, API client.
//! - [`http`] actix-web routes; the single place errors become HTTP statuses.
//! - [`actors`] sessions, router, pusher, token keeper, adapter keeper.
//! - [`rules`] operator-edited reply rules: load, validate, match, render, hot reload.
//! - [`actions`] what a rule can do besides fixed text: card, public info, notices, binding.
//! - [`adapters`] one module per upstream system, behind typed handles.
//! - [`bills`] monthly and fun bills computed from card transactions; cohort distributions.
//! - [`reconcile`] 对账: our orders against the bank's, card system's and billers' daily
//!   statements; holding pool, automatic safe resolutions, manual queue, the CSV report.
//! - [`store`] sled behind typed repositories; nothing else touches sled.
//! - [`wire`] the upstream protocol in types: signing, verification, envelope, bodies.
//! - [`sim`] simulators of every upstream, speaking the [`wire`] protocol.
//! - [`conformance`] the kit that checks any gateway (ours or a school's) against the [`wire`]
//!   protocol: `onecard upstream check`.

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
pub mod wechat;

/// The simulators: the top-level `sim/` crate (`onecard-sim`), built in with the default
/// feature `sim` for `onecard demo`, `onecard sim` and the tests.
#[cfg(feature = "sim")]
pub use onecard_sim as sim;
/// The upstream protocol in types: the top-level `wire/` crate (`onecard-wire`).
pub use onecard_wire as wire;
/// The domain newtypes (`Fen`, `OpenId`, `Phone`, …), in the shared `onecard-wire` crate.
pub use onecard_wire::domain;
