//! The actors on the message path and the ones beside it.
//!
//! - [`sessions`]: the registry that finds or starts the [`session::SessionActor`] of an
//!   openid, spreading sessions over a fixed set of arbiters (threads) by hash of the openid.
//! - [`session`]: one actor per user, so one user's messages are handled strictly one at a
//!   time ("充值 50" then "确认" can never race); dialog state is loaded from and saved to the
//!   store, so an idle stop or a restart loses nothing.
//! - [`router`]: matches a message against the live rule table, runs the rule's action and
//!   renders the reply. It is a plain shared value, not an actor: a single router mailbox would
//!   serialise every user of the platform, and per-user ordering is already the session's job.
//! - [`deliveries`]: exactly-once feel: WeChat's retries of one message share one result, and
//!   a result that misses the callback budget is pushed instead.
//! - [`pusher`] and [`token_keeper`]: replies after the deadline through the customer-service
//!   API, within WeChat's per-user window and quotas, with one holder of the access_token. The
//!   store is the pusher's queue; [`late`] runs again at start-up what a stop interrupted.
//!
//! Supervision: actix's `Supervisor` restarts an actor that stops, not one that panics (the
//! mailbox just closes). So every long-lived actor here is reached through a handle that
//! notices a closed mailbox and starts a fresh actor, and no handler unwraps input.

pub mod deliveries;
pub mod late;
pub mod orders;
pub mod pusher;
pub mod router;
pub mod session;
pub mod sessions;
pub mod token_keeper;
