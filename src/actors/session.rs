//! One actor per WeChat user: that user's messages are handled strictly one at a time.
//!
//! The handler awaits the router (which may await an upstream), so it returns an
//! [`AtomicResponse`]: actix then takes no other message for this actor until the future ends.
//! A plain `ResponseActFuture` would let a second message of the same user start while the
//! first is still waiting on the card system — exactly the race a money dialog cannot have.
//!
//! The session record (dialog state, default-reply cooldown) is loaded from the store when the
//! actor starts and written back whenever a message changes it, so an idle stop or a process
//! restart resumes a half-finished binding where it was.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::router::Router;
use super::sessions::Sessions;
use crate::domain::OpenId;
use crate::store::{SessionRecord, Store};
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
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub struct SessionActor {
    openid: OpenId,
    record: SessionRecord,
    router: Arc<Router>,
    store: Store,
    sessions: Sessions,
    idle: Duration,
    last_active: Instant,
}

impl SessionActor {
    pub fn new(
        openid: OpenId,
        router: Arc<Router>,
        store: Store,
        sessions: Sessions,
        idle: Duration,
    ) -> Self {
        Self {
            openid,
            record: SessionRecord::default(),
            router,
            store,
            sessions,
            idle,
            last_active: Instant::now(),
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(32);
        match self.store.sessions().get(&self.openid) {
            Ok(Some(record)) => self.record = record,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(user = %self.openid.log_tag(), error = %e, "cannot load session; starting fresh")
            }
        }
        metrics::gauge!("onecard_sessions_live").increment(1.0);
        // Idle check: not deadline-critical, so an actix interval is fine here.
        let every = (self.idle / 2).max(Duration::from_millis(50));
        ctx.run_interval(every, |act, ctx| {
            if act.last_active.elapsed() >= act.idle {
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
        let router = self.router.clone();
        let openid = self.openid.clone();
        let record = self.record.clone();
        let fut = async move { router.route(&openid, &msg.message, record, msg.now).await };
        AtomicResponse::new(Box::pin(fut.into_actor(self).then(|routed, act, _ctx| {
            let store = act.store.clone();
            let openid = act.openid.clone();
            let result: ResponseActFuture<Self, Result<Vec<Reply>, SessionError>> =
                if routed.forget_user {
                    act.record = SessionRecord::default();
                    Box::pin(
                        async move {
                            store.forget_user(&openid).await?;
                            tracing::info!(user = %openid.log_tag(), "user unsubscribed; personal data removed");
                            Ok(Vec::new())
                        }
                        .into_actor(act),
                    )
                } else {
                    if routed.record != act.record {
                        if let Err(e) = store.sessions().put(&openid, &routed.record) {
                            tracing::error!(user = %openid.log_tag(), error = %e, "cannot save session");
                        }
                        act.record = routed.record;
                    }
                    act.last_active = Instant::now();
                    Box::pin(fut::ready(Ok(routed.replies)))
                };
            result
        })))
    }
}
