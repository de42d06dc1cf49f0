//! The session registry: openid → the address of that user's [`SessionActor`].
//!
//! Sessions are spread over a fixed set of arbiters (one thread each) by a hash of the openid,
//! so all cores serve users while each user stays on one thread. The map is sharded behind
//! plain mutexes rather than held by an actor, so finding a session is never a queue that every
//! callback waits in.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::MailboxError;
use actix::prelude::*;

use super::router::{Router, fallback_text};
use super::session::{Deliver, SessionActor, SessionError};
use crate::domain::OpenId;
use crate::store::Store;
use crate::wechat::{InboundMessage, Reply};

const SHARDS: usize = 16;

#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<HashMap<OpenId, Addr<SessionActor>>>>,
    /// Dedicated session arbiters; empty = sessions live on the HTTP worker thread that first
    /// sees the user (no thread hop on the hot path; best when the server has one core).
    arbiters: Vec<actix_rt::ArbiterHandle>,
    hasher: std::collections::hash_map::RandomState,
    router: Arc<Router>,
    store: Store,
    idle: Duration,
}

impl Sessions {
    pub fn new(
        arbiters: Vec<actix_rt::ArbiterHandle>,
        router: Arc<Router>,
        store: Store,
        idle: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                arbiters,
                hasher: Default::default(),
                router,
                store,
                idle,
            }),
        }
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.inner.router
    }

    fn hash(&self, openid: &OpenId) -> usize {
        self.inner.hasher.hash_one(openid) as usize
    }

    fn shard(&self, openid: &OpenId) -> &Mutex<HashMap<OpenId, Addr<SessionActor>>> {
        self.shard_of(self.hash(openid))
    }

    fn shard_of(&self, hash: usize) -> &Mutex<HashMap<OpenId, Addr<SessionActor>>> {
        &self.inner.shards[hash % SHARDS]
    }

    fn address(&self, openid: &OpenId) -> Addr<SessionActor> {
        let hash = self.hash(openid);
        let mut shard = self
            .shard_of(hash)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(addr) = shard.get(openid)
            && addr.connected()
        {
            return addr.clone();
        }
        let arbiter = if self.inner.arbiters.is_empty() {
            actix_rt::Arbiter::current()
        } else {
            self.inner.arbiters[hash / SHARDS % self.inner.arbiters.len()].clone()
        };
        let (oid, router, store, sessions, idle) = (
            openid.clone(),
            self.inner.router.clone(),
            self.inner.store.clone(),
            self.clone(),
            self.inner.idle,
        );
        let addr = SessionActor::start_in_arbiter(&arbiter, move |_ctx| {
            SessionActor::new(oid, router, store, sessions, idle)
        });
        shard.insert(openid.clone(), addr.clone());
        addr
    }

    /// Hand one message to the user's session and wait for its replies. A session that died
    /// (its mailbox closed) is replaced and the message tried once more.
    pub async fn deliver(
        &self,
        openid: &OpenId,
        message: Arc<InboundMessage>,
        now: i64,
    ) -> Result<Vec<Reply>, SessionError> {
        for _attempt in 0..2 {
            let addr = self.address(openid);
            match addr
                .send(Deliver {
                    message: message.clone(),
                    now,
                })
                .await
            {
                Ok(result) => return result,
                Err(MailboxError::Closed) | Err(MailboxError::Timeout) => {
                    metrics::counter!("onecard_sessions_restarted_total").increment(1);
                    self.forget(openid, &addr);
                }
            }
        }
        Err(SessionError::Gone)
    }

    /// [`Sessions::deliver`], with the busy message if the session failed: what the user gets.
    pub async fn replies_for(
        &self,
        openid: &OpenId,
        message: Arc<InboundMessage>,
        now: i64,
    ) -> Vec<Reply> {
        match self.deliver(openid, message, now).await {
            Ok(replies) => replies,
            Err(e) => {
                tracing::error!(user = %openid.log_tag(), error = %e, "session failed");
                vec![Reply::Text(fallback_text("error.busy").to_owned())]
            }
        }
    }

    /// Remove `addr` from the registry if it is still the registered one (a stopping actor must
    /// not remove its replacement).
    pub fn forget(&self, openid: &OpenId, addr: &Addr<SessionActor>) {
        let mut shard = self
            .shard(openid)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shard.get(openid) == Some(addr) {
            shard.remove(openid);
        }
    }

    /// Sessions currently alive.
    pub fn live(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}
