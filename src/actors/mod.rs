//! The actors on the message path and the ones beside it.
//!
//! - [`sessions`]: each user's turn (their messages are handled strictly one at a time:
//!   "充值 50" then "确认" can never race), and the registry of session actors.
//! - [`session`]: the actor of a user with a dialog open; it stops when the dialog ends or the
//!   user goes idle. Dialog state is saved to the store, so an idle stop or a restart loses
//!   nothing, and users without a dialog cost no actor at all.
//! - [`router`]: matches a message against the live rule table, runs the rule's action and
//!   renders the reply; one router actor per arbiter (thread), all sharing the one rule table,
//!   so routing never crosses threads and no single mailbox serialises the platform.
//! - [`deliveries`]: exactly-once feel: WeChat's retries of one message share one result, and
//!   a result that misses the callback budget is pushed instead.
//! - [`pusher`] and [`token_keeper`]: replies after the deadline through the customer-service
//!   API, within WeChat's per-user window and quotas, with one holder of the access_token. The
//!   store is the pusher's queue; [`late`] runs again at start-up what a stop interrupted.
//!
//! Supervision: actix's `Supervisor` restarts an actor that stops, not one that panics (the
//! mailbox just closes). So every long-lived actor here is reached through a handle that
//! notices a closed mailbox and starts a fresh actor, and no handler unwraps input.

pub mod alerts;
pub mod deliveries;
pub mod late;
pub mod orders;
pub mod payments;
pub mod push;
pub mod pusher;
pub mod router;
pub mod session;
pub mod sessions;
pub mod token_keeper;
