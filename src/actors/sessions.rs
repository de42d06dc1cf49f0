//! The session registry: per-user order for every message, and the [`SessionActor`] of each
//! user who is in the middle of a dialog.
//!
//! Most messages are stateless keyword replies. They need per-user order (a user's next
//! message must not overtake the one before), not a live actor: a *lane* per user with a
//! message in flight gives that order, and nothing is kept once the message is answered. The
//! session record is read from the store for such a message and written back only when the
//! router changed it. A user costs memory only while a message of theirs is in flight or a
//! dialog of theirs is open; an idle user costs nothing but their store record.
//!
//! When a message opens a dialog (binding, top-up, a ticket), a [`SessionActor`] takes the
//! user's record and their later messages until the dialog ends or the user goes idle; it stops
//! then, and the record stays in the store. Session actors run on the arbiter (thread) that
//! first served the user, or on `server.session_arbiters` dedicated arbiters by hash of the
//! openid. Every message — lane or actor — is routed by the router actor of the thread it is
//! on ([`RouterHandle`]).
//!
//! The registry and the lanes are sharded maps behind plain mutexes, never an actor, so finding
//! a user's place is never a queue that every callback waits in.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::router::{Routed, RouterHandle};
use super::session::{Deliver, SessionActor, SessionError};
use crate::domain::OpenId;
use crate::store::{SessionRecord, Store};
use crate::wechat::{InboundMessage, Reply};

const SHARDS: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    /// Users with a dialog open: their session actor.
    shards: Vec<Mutex<HashMap<OpenId, Addr<SessionActor>>>>,
    /// Users with a message in flight: who waits next (by hash of the openid; two users whose
    /// hashes collide merely take turns).
    lanes: Vec<Mutex<HashMap<u64, VecDeque<oneshot::Sender<()>>>>>,
    /// Dedicated session arbiters; empty = sessions live on the HTTP worker thread that first
    /// sees the user (no thread hop on the hot path; best when the server has one core).
    arbiters: Vec<actix_rt::ArbiterHandle>,
    hasher: std::collections::hash_map::RandomState,
    router: RouterHandle,
    store: Store,
    idle: Duration,
}

/// A user's turn: while it is held, no other message of the same user is handled. Dropping it
/// (also on panic or cancellation) hands the turn to the next message waiting, in arrival order.
struct Turn<'a> {
    sessions: &'a Sessions,
    hash: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut lanes = lock(self.sessions.lane_shard(self.hash));
        if let Entry::Occupied(mut lane) = lanes.entry(self.hash) {
            // A waiter that gave up (its callback was cancelled) is skipped.
            while let Some(next) = lane.get_mut().pop_front() {
                if next.send(()).is_ok() {
                    return;
                }
            }
            lane.remove();
        }
    }
}

/// A message waiting for its user's turn. If it is given up (the callback's task cancelled) after
/// the turn was handed to it, the turn goes on to the next message instead of being lost.
struct Waiting<'a> {
    rx: Option<oneshot::Receiver<()>>,
    sessions: &'a Sessions,
    hash: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                drop(Turn {
                    sessions: self.sessions,
                    hash: self.hash,
                });
            }
        }
    }
}

impl Sessions {
    pub fn new(
        arbiters: Vec<actix_rt::ArbiterHandle>,
        router: RouterHandle,
        store: Store,
        idle: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                lanes: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                arbiters,
                hasher: Default::default(),
                router,
                store,
                idle,
            }),
        }
    }

    pub fn router(&self) -> &RouterHandle {
        &self.inner.router
    }

    fn hash(&self, openid: &OpenId) -> u64 {
        self.inner.hasher.hash_one(openid)
    }

    fn shard(&self, openid: &OpenId) -> &Mutex<HashMap<OpenId, Addr<SessionActor>>> {
        &self.inner.shards[self.hash(openid) as usize % SHARDS]
    }

    fn lane_shard(&self, hash: u64) -> &Mutex<HashMap<u64, VecDeque<oneshot::Sender<()>>>> {
        &self.inner.lanes[hash as usize % SHARDS]
    }

    /// Wait for the user's turn (FIFO among that user's messages).
    async fn turn(&self, openid: &OpenId) -> Turn<'_> {
        let hash = self.hash(openid);
        let waiting = {
            let mut lanes = lock(self.lane_shard(hash));
            match lanes.entry(hash) {
                Entry::Vacant(free) => {
                    free.insert(VecDeque::new());
                    None
                }
                Entry::Occupied(mut busy) => {
                    let (tx, rx) = oneshot::channel();
                    busy.get_mut().push_back(tx);
                    Some(rx)
                }
            }
        };
        if let Some(rx) = waiting {
            let mut waiting = Waiting {
                rx: Some(rx),
                sessions: self,
                hash,
            };
            if let Some(rx) = waiting.rx.as_mut() {
                // Err only if the holder vanished without handing over; the turn is ours then.
                let _ = rx.await;
            }
            waiting.rx = None;
        }
        Turn {
            sessions: self,
            hash,
        }
    }

    /// The session actor of a user with a dialog open.
    fn session_of(&self, openid: &OpenId) -> Option<Addr<SessionActor>> {
        lock(self.shard(openid))
            .get(openid)
            .filter(|addr| addr.connected())
            .cloned()
    }

    /// Start the session actor of a user whose dialog just opened, holding their record.
    fn start_session(&self, openid: &OpenId, record: SessionRecord) {
        let arbiter = if self.inner.arbiters.is_empty() {
            actix_rt::Arbiter::current()
        } else {
            let i = (self.hash(openid) as usize / SHARDS) % self.inner.arbiters.len();
            self.inner.arbiters[i].clone()
        };
        let (oid, sessions) = (openid.clone(), self.clone());
        let addr = SessionActor::start_in_arbiter(&arbiter, move |_ctx| {
            SessionActor::new(oid, record, sessions)
        });
        lock(self.shard(openid)).insert(openid.clone(), addr);
    }

    pub(super) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(super) fn idle(&self) -> Duration {
        self.inner.idle
    }

    /// Hand one message to the user's session and wait for its replies: in the user's turn, to
    /// their session actor if a dialog is open, else routed directly with their stored record.
    pub async fn deliver(
        &self,
        openid: &OpenId,
        message: Arc<InboundMessage>,
        now: i64,
    ) -> Result<Vec<Reply>, SessionError> {
        let _turn = self.turn(openid).await;
        if let Some(addr) = self.session_of(openid) {
            match addr
                .send(Deliver {
                    message: message.clone(),
                    now,
                })
                .await
            {
                Ok(result) => return result,
                // It stopped (idle) before taking the message; its record is in the store.
                Err(_) => {
                    metrics::counter!("onecard_sessions_restarted_total").increment(1);
                    self.forget(openid, &addr);
                }
            }
        }
        let store = &self.inner.store;
        let before = match store.sessions().get(openid) {
            Ok(record) => record.unwrap_or_default(),
            Err(e) => {
                tracing::error!(user = %openid.log_tag(), error = %e, "cannot load session; starting fresh");
                SessionRecord::default()
            }
        };
        let routed = self
            .inner
            .router
            .route(openid, message, before.clone(), now)
            .await?;
        let (replies, after) = settle(store, openid, &before, routed).await?;
        if after.dialog.is_some() {
            self.start_session(openid, after);
        }
        Ok(replies)
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
                vec![Reply::Text(self.inner.router.say("error.busy"))]
            }
        }
    }

    /// Remove `addr` from the registry if it is still the registered one (a stopping actor must
    /// not remove its replacement).
    pub fn forget(&self, openid: &OpenId, addr: &Addr<SessionActor>) {
        let mut shard = lock(self.shard(openid));
        if shard.get(openid) == Some(addr) {
            shard.remove(openid);
        }
    }

    /// Session actors alive (users with a dialog open).
    pub fn live(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Users with a message in flight.
    pub fn in_flight(&self) -> usize {
        self.inner.lanes.iter().map(|s| lock(s).len()).sum()
    }
}

/// What a routed message leaves behind: the user forgotten (unsubscribe), or their record
/// written back — only if the router changed it (most messages change nothing, and a write per
/// message would be most of the store's work). Returns the replies and the record as it now is.
pub(super) async fn settle(
    store: &Store,
    openid: &OpenId,
    before: &SessionRecord,
    routed: Routed,
) -> Result<(Vec<Reply>, SessionRecord), SessionError> {
    if routed.forget_user {
        store.forget_user(openid).await?;
        tracing::info!(user = %openid.log_tag(), "user unsubscribed; personal data removed");
        return Ok((Vec::new(), SessionRecord::default()));
    }
    if routed.record != *before
        && let Err(e) = store.sessions().put(openid, &routed.record)
    {
        tracing::error!(user = %openid.log_tag(), error = %e, "cannot save session");
    }
    Ok((routed.replies, routed.record))
}
