//! The actor of one user in the middle of a dialog (binding, top-up, a ticket…): it holds the
//! user's record while the dialog is open and stops when the dialog ends or the user goes idle.
//!
//! Users without a dialog have no actor (their messages are routed in their turn by
//! [`super::sessions`]), so a session actor exists only where there is state worth keeping
//! close. Its handler awaits the router (which may await an upstream), so it returns an
//! [`AtomicResponse`]: actix then takes no other message for this actor until the future ends.
//! A plain `ResponseActFuture` would let a second message of the same user start while the
//! first is still waiting on the card system — exactly the race a money dialog cannot have.
//!
//! The record is written back to the store whenever a message changes it, so an idle stop or a
//! process restart resumes a half-finished dialog where it was.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::sessions::{Sessions, settle};
use crate::domain::OpenId;
use crate::store::SessionRecord;
use crate::wechat::{InboundMessage, Reply};

/// Deliver one inbound message; answers with the replies for it.
#[derive(Message)]
#[rtype(result = "Result<Vec<Reply>, SessionError>")]
pub struct Deliver {
    pub message: Arc<InboundMessage>,
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session actor is gone")]
    Gone,
    #[error("the router failed on this message (its actor is restarted)")]
    Router,
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub struct SessionActor {
    openid: OpenId,
    /// The user's record as last saved (it holds the open dialog).
    record: SessionRecord,
    sessions: Sessions,
    last_active: Instant,
}

impl SessionActor {
    pub fn new(openid: OpenId, record: SessionRecord, sessions: Sessions) -> Self {
        Self {
            openid,
            record,
            sessions,
            last_active: Instant::now(),
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(32);
        metrics::gauge!("onecard_sessions_live").increment(1.0);
        // Idle check: not deadline-critical, so an actix interval is fine here.
        let idle = self.sessions.idle();
        let every = (idle / 2).max(Duration::from_millis(50));
        ctx.run_interval(every, move |act, ctx| {
            if act.last_active.elapsed() >= idle {
                act.sessions.forget(&act.openid, &ctx.address());
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!("onecard_sessions_live").decrement(1.0);
        self.sessions.forget(&self.openid, &ctx.address());
    }
}

impl Handler<Deliver> for SessionActor {
    type Result = AtomicResponse<Self, Result<Vec<Reply>, SessionError>>;

    fn handle(&mut self, msg: Deliver, _ctx: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let sessions = self.sessions.clone();
        let openid = self.openid.clone();
        let before = self.record.clone();
        let fut = async move {
            let routed = sessions
                .router()
                .route(&openid, msg.message, before.clone(), msg.now)
                .await?;
            settle(sessions.store(), &openid, &before, routed).await
        };
        AtomicResponse::new(Box::pin(fut.into_actor(self).map(|settled, act, ctx| {
            act.last_active = Instant::now();
            let (replies, record) = settled?;
            let dialog_open = record.dialog.is_some();
            act.record = record;
            if !dialog_open {
                // Out of the registry before the reply goes out, so the user's next message
                // never reaches a stopping actor.
                act.sessions.forget(&act.openid, &ctx.address());
                ctx.stop();
            }
            Ok(replies)
        })))
    }
}
