//! Pusher: delivers replies that could not go out as the passive reply — results that missed
//! the callback budget, and the second and later replies of a rule that sends several.
//!
//! The store is the queue (`store::outbox`): a reply is written there, flushed, and only then
//! pushed; it leaves the store when WeChat accepted it. A message whose callback is answered
//! "success" before its result exists is itself kept as a job first, so a crash at any point
//! either runs the message again at start-up or pushes its stored replies — never neither.
//!
//! WeChat only accepts customer-service messages inside a window opened by the user: 5 messages
//! within 48 h after the user sends a message, 3 within 1 minute after a menu click, a follow or
//! a scan ([`ServiceWindows`] tracks both per user, fed by the callback). A push the window does
//! not allow, or that WeChat refuses (45015 / 45047), goes out as a template message where one
//! is configured; otherwise it is *held* and released when the user writes again. A reply still
//! undelivered after 48 h expires, and the user is told so at their next message
//! (`reply.expired` in the rules' `[messages]`).
//!
//! Each user's queue is worked through by its own short task, in order, on the pusher's own
//! thread; a semaphore bounds the pushes in flight, so one user's slow push never holds up
//! another's. Nothing lives only in a task: a task that dies leaves its replies in the store,
//! and the pusher's tick (every [`TICK`]) starts a fresh one; a stopped pusher thread is
//! replaced on the next use. On shutdown [`PusherHandle::drain`] waits for the message work in
//! flight and the pushes it produced, within a deadline; what is left resumes at the next start.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_rt::{Arbiter, ArbiterHandle, System};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::token_keeper::TokenKeeperHandle;
use crate::domain::OpenId;
use crate::rules::LiveRules;
use crate::store::{OutboxEntry, ReplyState, Store, StoreError, UnfinishedJob};
use crate::wechat::api::{ApiClient, ApiError, CustomMessage, TemplateMessage};
use crate::wechat::{InboundMessage, Reply};

const MESSAGE_WINDOW_SECS: i64 = 48 * 3600;
const MESSAGE_QUOTA: u32 = 5;
const EVENT_WINDOW_SECS: i64 = 60;
const EVENT_QUOTA: u32 = 3;
/// A reply not delivered within WeChat's longest window is stale: it expires.
const KEEP_SECS: i64 = MESSAGE_WINDOW_SECS;
/// How long a user who never writes again is remembered as owed an expiry notice.
const EXPIRY_NOTE_SECS: i64 = 30 * 24 * 3600;
/// Users whose windows are tracked in memory at most (the oldest are forgotten first; a user
/// not tracked is simply tried, and WeChat answers whether the window is open).
const WINDOWS_CAP: usize = 100_000;
/// Pushes in flight at most, over all users.
const PUSHES_IN_FLIGHT: usize = 32;
/// Retry of failed pushes, expiry, and restart of any queue left without a task.
pub const TICK: Duration = Duration::from_secs(10);

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the user did that opens a customer-service window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Message,
    /// Menu click (click / scancode types), follow or scan.
    Event,
}

#[derive(Debug, Default, Clone)]
struct Window {
    message_at: Option<i64>,
    sent_since_message: u32,
    event_at: Option<i64>,
    sent_since_event: u32,
}

impl Window {
    fn open_at(&self, now: i64) -> bool {
        self.message_at
            .is_some_and(|at| now - at < MESSAGE_WINDOW_SECS)
            || self.event_at.is_some_and(|at| now - at < EVENT_WINDOW_SECS)
    }

    fn last_activity(&self) -> i64 {
        self.message_at.max(self.event_at).unwrap_or(i64::MIN)
    }
}

/// Whether the windows we know of allow one more push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Allowed; one push was taken from the quota.
    Open,
    /// Known to be closed or used up.
    Closed,
    /// We know nothing of this user (restarted, or forgotten to bound memory): try, and let
    /// WeChat say.
    Unknown,
}

/// Per-user customer-service windows and quotas, as WeChat counts them. Bounded: an entry goes
/// when all its windows have closed, and at most [`WINDOWS_CAP`] users are tracked. Users are
/// keyed by a 64-bit hash of the openid (no string per user, no allocation per message; two
/// users colliding would only share a quota, and WeChat still has the last word).
#[derive(Clone)]
pub struct ServiceWindows {
    inner: Arc<Mutex<HashMap<u64, Window>>>,
    hasher: std::collections::hash_map::RandomState,
    cap: usize,
}

impl Default for ServiceWindows {
    fn default() -> Self {
        Self::with_cap(WINDOWS_CAP)
    }
}

impl ServiceWindows {
    pub fn with_cap(cap: usize) -> Self {
        Self {
            inner: Arc::default(),
            hasher: Default::default(),
            cap: cap.max(1),
        }
    }

    fn key(&self, openid: &OpenId) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(openid)
    }

    pub fn record(&self, openid: &OpenId, kind: Interaction, at: i64) {
        let key = self.key(openid);
        let mut map = lock(&self.inner);
        if map.len() >= self.cap && !map.contains_key(&key) {
            map.retain(|_, w| w.open_at(at));
            if map.len() >= self.cap {
                // Make room for a sixteenth of the cap at once, least recent users first, so a
                // campus-wide burst costs one scan per many new users, not one per user.
                let evict = (self.cap / 16).max(1).min(map.len());
                let mut by_age: Vec<(i64, u64)> =
                    map.iter().map(|(k, w)| (w.last_activity(), *k)).collect();
                by_age.select_nth_unstable(evict - 1);
                for (_, k) in &by_age[..evict] {
                    map.remove(k);
                }
            }
        }
        let w = map.entry(key).or_default();
        match kind {
            Interaction::Message => {
                w.message_at = Some(at);
                w.sent_since_message = 0;
            }
            Interaction::Event => {
                w.event_at = Some(at);
                w.sent_since_event = 0;
            }
        }
    }

    /// Take one push from the user's quota if a window allows it.
    pub fn try_consume(&self, openid: &OpenId, now: i64) -> Allowance {
        let key = self.key(openid);
        let mut map = lock(&self.inner);
        let Some(w) = map.get_mut(&key) else {
            return Allowance::Unknown;
        };
        if let Some(at) = w.message_at
            && now - at < MESSAGE_WINDOW_SECS
            && w.sent_since_message < MESSAGE_QUOTA
        {
            w.sent_since_message += 1;
            return Allowance::Open;
        }
        if let Some(at) = w.event_at
            && now - at < EVENT_WINDOW_SECS
            && w.sent_since_event < EVENT_QUOTA
        {
            w.sent_since_event += 1;
            return Allowance::Open;
        }
        Allowance::Closed
    }

    /// Forget users whose windows have all closed — message and event windows alike.
    pub fn sweep(&self, now: i64) {
        let mut map = lock(&self.inner);
        map.retain(|_, w| w.open_at(now));
        if map.capacity() > 4 * map.len().max(1024) {
            map.shrink_to_fit();
        }
        metrics::gauge!("onecard_pusher_windows").set(map.len() as f64);
    }

    pub fn forget(&self, openid: &OpenId) {
        let key = self.key(openid);
        lock(&self.inner).remove(&key);
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How one push attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Custom,
    Template,
    /// The window is closed and no template went out: hold it for the user's next message.
    WindowClosed,
    /// WeChat could not be reached or was busy: try again on the next tick.
    Failed,
    /// WeChat refuses this message for good (e.g. the user unfollowed).
    Rejected,
}

/// 45015: the window is closed; 45047: its quota is used up.
fn closed_window(e: &ApiError) -> bool {
    matches!(e.errcode(), Some(45015 | 45047))
}

/// Worth trying again later: WeChat unreachable or busy, or our token holder unavailable.
fn transient(e: &ApiError) -> bool {
    match e {
        ApiError::Transport(_)
        | ApiError::Decode(_)
        | ApiError::Config(_)
        | ApiError::Unavailable(_) => true,
        ApiError::Platform { errcode, .. } => matches!(errcode, -1 | 45009) || e.is_token_invalid(),
    }
}

/// One user's queue is being worked through; a kick meanwhile asks for another pass.
struct Slot {
    task: u64,
    again: bool,
    release: bool,
}

struct Inner {
    api: ApiClient,
    tokens: TokenKeeperHandle,
    store: Store,
    /// The `[messages]` table, for the expiry notice.
    rules: LiveRules,
    windows: ServiceWindows,
    template_id: Option<String>,
    /// Users with held replies or an expiry to be told of: checked in memory on every message.
    waiting: Mutex<HashSet<OpenId>>,
    /// Users whose queue a task is working through now.
    active: Mutex<HashMap<OpenId, Slot>>,
    next_task: AtomicU64,
    pushes: Semaphore,
    /// The thread pushes run on (replaced if it ever stops).
    arbiter: Mutex<ArbiterHandle>,
    /// Message work that may still produce replies (callbacks in flight, resumed jobs).
    work: TaskTracker,
    /// Queue passes in progress.
    passes: TaskTracker,
}

/// The handle the callback, start-up and shutdown use. Cheap to clone.
#[derive(Clone)]
pub struct PusherHandle {
    inner: Arc<Inner>,
}

/// Removes the user's slot when its task ends, even by panic — unless a newer task owns it.
struct SlotGuard {
    inner: Arc<Inner>,
    openid: OpenId,
    task: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut active = lock(&self.inner.active);
        if active
            .get(&self.openid)
            .is_some_and(|s| s.task == self.task)
        {
            active.remove(&self.openid);
        }
    }
}

impl PusherHandle {
    /// Start the pusher on `arbiter` (its own thread). Users with held replies or an expiry
    /// notice are loaded from the store; due replies wait for [`PusherHandle::resume_due`].
    pub fn start(
        api: ApiClient,
        tokens: TokenKeeperHandle,
        store: Store,
        template_id: Option<String>,
        rules: LiveRules,
        arbiter: ArbiterHandle,
    ) -> Self {
        let outbox = store.outbox();
        let mut waiting: HashSet<OpenId> = HashSet::new();
        match (
            outbox.users_with(ReplyState::Held),
            outbox.users_with_expired(),
        ) {
            (Ok(held), Ok(expired)) => waiting.extend(held.into_iter().chain(expired)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot read held replies; they go out on the next tick")
            }
        }
        let handle = Self {
            inner: Arc::new(Inner {
                api,
                tokens,
                store,
                rules,
                windows: ServiceWindows::default(),
                template_id,
                waiting: Mutex::new(waiting),
                active: Mutex::default(),
                next_task: AtomicU64::new(0),
                pushes: Semaphore::new(PUSHES_IN_FLIGHT),
                arbiter: Mutex::new(arbiter),
                work: TaskTracker::new(),
                passes: TaskTracker::new(),
            }),
        };
        handle.start_ticking();
        handle
    }

    pub fn windows(&self) -> &ServiceWindows {
        &self.inner.windows
    }

    /// The user did something that opens a window; a message also releases held replies.
    pub fn record_interaction(&self, openid: &OpenId, kind: Interaction, at: i64) {
        self.inner.windows.record(openid, kind, at);
        if kind != Interaction::Message {
            return;
        }
        // A pass in progress may be about to hold this user's replies (WeChat just refused
        // one): it is not in `waiting` yet, so ask it for a releasing pass as well.
        let held = lock(&self.inner.waiting).contains(openid);
        if held || lock(&self.inner.active).contains_key(openid) {
            self.kick(openid, true);
        }
    }

    /// The user unfollowed: forget their windows (the store forgets their replies).
    pub fn forget(&self, openid: &OpenId) {
        self.inner.windows.forget(openid);
        lock(&self.inner.waiting).remove(openid);
    }

    /// Run message work that may end in [`PusherHandle::hand_over`], tracked so that a
    /// shutdown waits for it. Runs on the calling thread.
    pub fn spawn_work(&self, work: impl Future<Output = ()> + 'static) {
        actix_rt::spawn(self.inner.work.track_future(work));
    }

    /// The callback is about to answer "success" before the result of `message` exists: keep
    /// the message, so a crash runs it again at start-up. Called under the delivery's lock (see
    /// `deliveries::Delivery::wait_or_keep`), so it is written before anyone can hand the
    /// result over; [`PusherHandle::flush`] makes it durable before "success" goes out.
    pub fn keep_job(&self, openid: &OpenId, message: &InboundMessage, received_at: i64) {
        let kept = self.inner.store.outbox().keep_job(
            openid,
            &message.dedup_key(),
            &message.to_xml(),
            received_at,
        );
        match kept {
            Ok(()) => metrics::counter!("onecard_pusher_late_jobs_total").increment(1),
            Err(e) => {
                tracing::error!(user = %openid.log_tag(), error = %e, "cannot keep a late message; its reply lives in memory only")
            }
        }
    }

    /// Make kept jobs durable.
    pub async fn flush(&self) {
        if let Err(e) = self.inner.store.flush().await {
            tracing::error!(error = %e, "cannot flush kept late messages");
        }
    }

    /// Replies to push: stored (retiring the late job `job` in the same transaction), flushed,
    /// then pushed in order. If the store fails they are still pushed, from memory.
    pub async fn hand_over(&self, openid: &OpenId, job: Option<&str>, replies: Vec<Reply>) {
        if replies.is_empty() && job.is_none() {
            return;
        }
        let stored = self
            .inner
            .store
            .outbox()
            .hand_over(openid, job, &replies, now_unix());
        let stored = match stored {
            Ok(()) => self.inner.store.flush().await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(()) if replies.is_empty() => {}
            Ok(()) => self.kick(openid, false),
            Err(e) => {
                tracing::error!(user = %openid.log_tag(), error = %e, "cannot store replies; pushing them from memory");
                let (inner, openid) = (self.inner.clone(), openid.clone());
                self.spawn(async move { push_from_memory(&inner, &openid, replies).await });
            }
        }
    }

    /// Replies someone else queued in the store (and flushed) for `openid`: push them now.
    pub fn push_queued(&self, openid: &OpenId) {
        self.kick(openid, false);
    }

    /// Late messages left without a result by the last run.
    pub fn unfinished_jobs(&self) -> Result<Vec<UnfinishedJob>, StoreError> {
        self.inner.store.outbox().unfinished_jobs()
    }

    /// Start pushing every due reply in the store (at start-up).
    pub fn resume_due(&self) {
        let users = self.kick_due();
        if users > 0 {
            tracing::info!(users, "resuming replies kept by the last run");
        }
    }

    /// A pass for every user with a due reply and no pass running. Returns how many users.
    fn kick_due(&self) -> usize {
        match self.inner.store.outbox().users_with(ReplyState::Due) {
            Ok(users) => {
                for u in &users {
                    self.kick(u, false);
                }
                users.len()
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read due replies");
                0
            }
        }
    }

    /// Shutdown: wait until `deadline` for the message work in flight, then for the pushes it
    /// produced. Whatever is not done by then stays in the store for the next start. Returns
    /// whether everything finished.
    pub async fn drain(&self, deadline: Instant) -> bool {
        let deadline = tokio::time::Instant::from_std(deadline);
        self.inner.work.close();
        let work_done = tokio::time::timeout_at(deadline, self.inner.work.wait())
            .await
            .is_ok();
        self.inner.passes.close();
        let pushes_done = tokio::time::timeout_at(deadline, self.inner.passes.wait())
            .await
            .is_ok();
        self.flush().await;
        let outbox = self.inner.store.outbox();
        let left = outbox.users_with(ReplyState::Due).map_or(0, |u| u.len());
        if work_done && pushes_done {
            tracing::info!(users_with_due_replies = left, "pusher drained");
        } else {
            tracing::warn!(
                late_jobs = outbox.jobs_len(),
                users_with_due_replies = left,
                "drain deadline passed; the rest resumes at the next start"
            );
        }
        work_done && pushes_done
    }

    /// Ask for a pass over the user's queue (starting one unless one is running).
    fn kick(&self, openid: &OpenId, release: bool) {
        let task = {
            let mut active = lock(&self.inner.active);
            if let Some(slot) = active.get_mut(openid) {
                slot.again = true;
                slot.release |= release;
                return;
            }
            let task = self.inner.next_task.fetch_add(1, Ordering::Relaxed);
            active.insert(
                openid.clone(),
                Slot {
                    task,
                    again: false,
                    release,
                },
            );
            task
        };
        let guard = SlotGuard {
            inner: self.inner.clone(),
            openid: openid.clone(),
            task,
        };
        self.spawn(async move { work_through(guard).await });
    }

    /// Run on the pusher's thread, tracked for the drain; replace the thread if it stopped.
    fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let fut = self.inner.passes.track_future(fut);
        let mut arbiter = lock(&self.inner.arbiter);
        if arbiter.spawn(fut) {
            return;
        }
        if System::try_current().is_none() {
            tracing::error!(
                "pusher thread stopped outside the runtime; replies resume at the next start"
            );
            return;
        }
        tracing::error!("pusher thread was gone; starting a new one");
        metrics::counter!("onecard_actor_restarts_total", "actor" => "pusher").increment(1);
        *arbiter = Arbiter::new().handle();
        drop(arbiter);
        self.start_ticking();
        // The pass that failed to start is picked up by the new thread's first tick.
    }

    fn start_ticking(&self) {
        let handle = self.clone();
        let arbiter = lock(&self.inner.arbiter).clone();
        arbiter.spawn(async move {
            let mut every = tokio::time::interval(TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                // Its own task, so a panic in one tick does not end the ticking.
                let h = handle.clone();
                actix_rt::spawn(async move { h.tick() });
            }
        });
    }

    /// Expire stale replies, retry failed pushes, restart queues left without a task.
    fn tick(&self) {
        let now = now_unix();
        self.inner.windows.sweep(now);
        let outbox = self.inner.store.outbox();
        match outbox.expire_older_than(now - KEEP_SECS, now) {
            Ok(users) => {
                metrics::counter!("onecard_pusher_expired_users_total")
                    .increment(users.len() as u64);
                lock(&self.inner.waiting).extend(users);
            }
            Err(e) => tracing::error!(error = %e, "cannot expire stale replies"),
        }
        if let Err(e) = outbox.forget_expired_before(now - EXPIRY_NOTE_SECS) {
            tracing::error!(error = %e, "cannot drop old expiry notes");
        }
        metrics::gauge!("onecard_pusher_stored_replies").set(outbox.len() as f64);
        metrics::gauge!("onecard_pusher_late_jobs").set(outbox.jobs_len() as f64);
        self.kick_due();
    }
}

/// One user's queue, in order, until nothing due is left (or the window closed, or WeChat is
/// unreachable); another pass if kicked meanwhile.
async fn work_through(guard: SlotGuard) {
    let inner = guard.inner.clone();
    let openid = guard.openid.clone();
    let mut release = {
        let mut active = lock(&inner.active);
        match active.get_mut(&openid) {
            Some(slot) if slot.task == guard.task => std::mem::take(&mut slot.release),
            _ => return,
        }
    };
    loop {
        if let Err(e) = one_pass(&inner, &openid, release).await {
            tracing::error!(user = %openid.log_tag(), error = %e, "cannot work through kept replies; retrying on the next tick");
        }
        // Decide and give up the slot under one lock, so a kick is never missed in between.
        let mut active = lock(&inner.active);
        match active.get_mut(&openid) {
            Some(slot) if slot.task == guard.task && slot.again => {
                slot.again = false;
                release = std::mem::take(&mut slot.release);
            }
            Some(slot) if slot.task == guard.task => {
                active.remove(&openid);
                return;
            }
            _ => return,
        }
    }
}

async fn one_pass(inner: &Inner, openid: &OpenId, release: bool) -> Result<(), StoreError> {
    let outbox = inner.store.outbox();
    let now = now_unix();
    if release {
        for e in outbox.entries(openid)? {
            if e.pending.created_at < now - KEEP_SECS {
                outbox.expire(&e, now)?;
            }
        }
        let expired = outbox.take_expired(openid)?;
        if expired > 0 {
            let notice = expiry_notice(&inner.rules, expired);
            outbox.hand_over(openid, None, &[notice], now)?;
            metrics::counter!("onecard_pusher_expiry_notices_total").increment(1);
        }
        let released = outbox.release(openid)?;
        lock(&inner.waiting).remove(openid);
        inner.store.flush().await?;
        tracing::info!(user = %openid.log_tag(), released, expired, "user wrote: held replies released");
    }
    let entries = outbox.entries(openid)?;
    for (i, entry) in entries.iter().enumerate() {
        if entry.pending.state != ReplyState::Due {
            continue;
        }
        if entry.pending.created_at < now - KEEP_SECS {
            outbox.expire(entry, now)?;
            lock(&inner.waiting).insert(openid.clone());
            continue;
        }
        let reply: Reply = entry.pending.reply.clone().into();
        match deliver_one(inner, openid, &reply, Some(entry.client_msg_id())).await {
            outcome @ (Outcome::Custom | Outcome::Template) => {
                let via = if outcome == Outcome::Custom {
                    "custom"
                } else {
                    "template"
                };
                metrics::counter!("onecard_pusher_sent_total", "via" => via).increment(1);
                outbox.remove(entry)?;
                // Flushed at once: a restart must not send it a second time.
                inner.store.flush().await?;
            }
            Outcome::Rejected => {
                metrics::counter!("onecard_pusher_dropped_total").increment(1);
                tracing::error!(user = %openid.log_tag(), "WeChat refuses this reply for good; dropped");
                outbox.remove(entry)?;
                inner.store.flush().await?;
            }
            Outcome::WindowClosed => {
                // Keep the rest behind it too, so the user sees them in order.
                let rest: Vec<OutboxEntry> = entries[i..]
                    .iter()
                    .filter(|e| e.pending.state == ReplyState::Due)
                    .cloned()
                    .collect();
                outbox.hold(&rest)?;
                inner.store.flush().await?;
                lock(&inner.waiting).insert(openid.clone());
                metrics::counter!("onecard_pusher_kept_total").increment(rest.len() as u64);
                tracing::info!(user = %openid.log_tag(), kept = rest.len(), "replies held for the user's next message");
                return Ok(());
            }
            Outcome::Failed => {
                metrics::counter!("onecard_pusher_retries_total").increment(1);
                return Ok(());
            }
        }
    }
    Ok(())
}

fn expiry_notice(rules: &LiveRules, count: u32) -> Reply {
    Reply::Text(
        rules
            .current()
            .say("reply.expired", &serde_json::json!({ "count": count })),
    )
}

/// Last resort when the store cannot keep them.
async fn push_from_memory(inner: &Inner, openid: &OpenId, replies: Vec<Reply>) {
    for reply in &replies {
        let outcome = deliver_one(inner, openid, reply, None).await;
        if !matches!(outcome, Outcome::Custom | Outcome::Template) {
            metrics::counter!("onecard_pusher_dropped_total").increment(1);
            tracing::error!(user = %openid.log_tag(), ?outcome, "reply lost: the store failed and WeChat did not take it");
        }
    }
}

/// Push one reply: a customer-service message while the window allows, else the template
/// message, which carries `client_msg_id` (a stored reply's own) so that sending it again after
/// an answer was lost does not deliver it twice.
async fn deliver_one(
    inner: &Inner,
    openid: &OpenId,
    reply: &Reply,
    client_msg_id: Option<String>,
) -> Outcome {
    let _permit = inner.pushes.acquire().await;
    let tokens = &inner.tokens;
    let mut window_closed = false;
    match inner.windows.try_consume(openid, now_unix()) {
        Allowance::Closed => window_closed = true,
        Allowance::Open | Allowance::Unknown => {
            let msg = CustomMessage::from_reply(openid.as_str(), reply);
            let api = &inner.api;
            let sent = tokens
                .call(|t| {
                    let (api, msg) = (api.clone(), msg.clone());
                    async move { api.send_custom(&t, &msg).await }
                })
                .await;
            match sent {
                Ok(()) => return Outcome::Custom,
                Err(e) if closed_window(&e) => window_closed = true,
                Err(e) if transient(&e) => {
                    tracing::warn!(user = %openid.log_tag(), error = %e, "customer-service push failed; will retry");
                    return Outcome::Failed;
                }
                Err(e) => {
                    tracing::warn!(user = %openid.log_tag(), errcode = ?e.errcode(), error = %e, "customer-service push refused")
                }
            }
        }
    }
    if let Some(template_id) = &inner.template_id {
        let msg = fallback_template(template_id, openid, reply, client_msg_id);
        let api = &inner.api;
        let sent = tokens
            .call(|t| {
                let (api, msg) = (api.clone(), msg.clone());
                async move { api.send_template(&t, &msg).await }
            })
            .await;
        match sent {
            Ok(_) => return Outcome::Template,
            Err(e) if transient(&e) => return Outcome::Failed,
            Err(e) => {
                tracing::warn!(user = %openid.log_tag(), errcode = ?e.errcode(), error = %e, "template fallback refused")
            }
        }
    }
    if window_closed {
        Outcome::WindowClosed
    } else {
        Outcome::Rejected
    }
}

/// `<a href="…">label</a>` in a text reply: the only markup a customer-service text carries.
static LINK: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?s)<a\b([^>]*)>(.*?)</a>").expect("valid regex"));
static HREF: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r#"\bhref="([^"]*)""#).expect("valid regex"));

/// The template message that stands in for `reply` when the window is closed. A template shows
/// its fields as plain text and opens one page (`url`), so a text's links become their labels
/// (the sentence around a menu link says what to send or tap) and the first web link becomes
/// the template's `url`; a news card's page is the `url`. The text goes in field `content`.
fn fallback_template(
    template_id: &str,
    openid: &OpenId,
    reply: &Reply,
    client_msg_id: Option<String>,
) -> TemplateMessage {
    let (content, url) = match reply {
        Reply::Text(text) => {
            let url = LINK
                .captures_iter(text)
                .filter_map(|link| Some(HREF.captures(link.get(1)?.as_str())?.get(1)?.as_str()))
                .find(|href| is_web_link(href))
                .map(str::to_owned);
            (LINK.replace_all(text, "$2").into_owned(), url)
        }
        Reply::News(a) => (
            format!("{}\n{}", a.title, a.description),
            Some(a.url.clone()).filter(|u| is_web_link(u)),
        ),
    };
    TemplateMessage {
        touser: openid.as_str().to_owned(),
        template_id: template_id.to_owned(),
        url,
        client_msg_id,
        data: [("content".to_owned(), content)].into_iter().collect(),
    }
}

/// A page a template can open (not a `weixin://` action, which only works inside a chat).
fn is_web_link(href: &str) -> bool {
    href.starts_with("https://") || href.starts_with("http://") || href.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    use actix_web::{App, HttpResponse, HttpServer, web};
    use tokio::sync::Notify;

    type Openids = Arc<Mutex<Vec<String>>>;

    /// A stand-in for WeChat's API that holds every push to `slow_user` until `gate` opens,
    /// and records the openids of the pushes that arrived and that it accepted, in order.
    struct StubWeChat {
        base: String,
        arrived: Openids,
        accepted: Openids,
        gate: Arc<Notify>,
    }

    fn stub_wechat(slow_user: &str) -> StubWeChat {
        let (arrived, accepted): (Openids, Openids) = Default::default();
        let gate = Arc::new(Notify::new());
        let (arr, acc, g, slow) = (
            arrived.clone(),
            accepted.clone(),
            gate.clone(),
            slow_user.to_owned(),
        );
        let server = HttpServer::new(move || {
            let (arr, acc, g, slow) = (arr.clone(), acc.clone(), g.clone(), slow.clone());
            App::new().configure(token_route).route(
                "/cgi-bin/message/custom/send",
                web::post().to(move |body: web::Json<serde_json::Value>| {
                    let (arr, acc, g, slow) = (arr.clone(), acc.clone(), g.clone(), slow.clone());
                    async move {
                        let to = body["touser"].as_str().unwrap_or_default().to_owned();
                        lock(&arr).push(to.clone());
                        if to == slow {
                            g.notified().await;
                        }
                        lock(&acc).push(to);
                        HttpResponse::Ok().json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://{}", server.addrs()[0]);
        actix_rt::spawn(server.run());
        StubWeChat {
            base,
            arrived,
            accepted,
            gate,
        }
    }

    async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The stub's `stable_token`: always the same token.
    fn token_route(cfg: &mut web::ServiceConfig) {
        cfg.route(
            "/cgi-bin/stable_token",
            web::post().to(|| async {
                HttpResponse::Ok()
                    .json(serde_json::json!({"access_token": "T", "expires_in": 7200}))
            }),
        );
    }

    fn pusher_on(wechat: &StubWeChat, store: &Store, arbiter: ArbiterHandle) -> PusherHandle {
        pusher_at(&wechat.base, None, store, arbiter)
    }

    /// A pusher against the stub WeChat at `base`, falling back to `template_id` if given.
    fn pusher_at(
        base: &str,
        template_id: Option<&str>,
        store: &Store,
        arbiter: ArbiterHandle,
    ) -> PusherHandle {
        let api = ApiClient::new(base, "wxapp", "secret", Duration::from_secs(30)).unwrap();
        let tokens = TokenKeeperHandle::start(api.clone(), true, Duration::from_secs(60));
        let rules = LiveRules::load(
            std::path::Path::new("config/rules"),
            Arc::new(crate::actions::ActionRegistry::builtin()),
        )
        .unwrap();
        PusherHandle::start(
            api,
            tokens,
            store.clone(),
            template_id.map(str::to_owned),
            rules,
            arbiter,
        )
    }

    /// The pusher's thread stopped (it never should): the next push starts a new one instead
    /// of logging that the reply was kept while nothing sends it.
    #[actix_web::test]
    async fn a_stopped_pusher_thread_is_replaced_and_the_reply_still_goes_out() {
        let user = OpenId::parse("oOrphanPushUser000000000001").unwrap();
        let wechat = stub_wechat("nobody");
        let store = Store::temporary().unwrap();
        let arbiter = Arbiter::new();
        let pusher = pusher_on(&wechat, &store, arbiter.handle());
        arbiter.stop();
        let _ = arbiter.join();

        pusher
            .hand_over(&user, None, vec![Reply::Text("还在".into())])
            .await;
        let accepted = wechat.accepted.clone();
        wait_until("the push from the new thread", || {
            lock(&accepted).len() == 1
        })
        .await;
        assert_eq!(*lock(&accepted), vec![user.as_str().to_owned()]);
        wait_until("the store to be empty", || store.outbox().is_empty()).await;
    }

    #[actix_web::test]
    async fn one_users_slow_push_does_not_hold_up_another_users() {
        let slow = OpenId::parse("oSlowPushUser00000000000001").unwrap();
        let quick = OpenId::parse("oQuickPushUser0000000000001").unwrap();
        let wechat = stub_wechat(slow.as_str());
        let store = Store::temporary().unwrap();
        let pusher = pusher_on(&wechat, &store, Arbiter::new().handle());

        pusher
            .hand_over(
                &slow,
                None,
                vec![Reply::Text("慢".into()), Reply::Text("慢二".into())],
            )
            .await;
        let arrived = wechat.arrived.clone();
        wait_until("the slow push to reach WeChat", || {
            lock(&arrived).iter().any(|u| u == slow.as_str())
        })
        .await;
        pusher
            .hand_over(&quick, None, vec![Reply::Text("快".into())])
            .await;
        let accepted = wechat.accepted.clone();
        wait_until("the quick user's push", || {
            lock(&accepted).iter().any(|u| u == quick.as_str())
        })
        .await;
        assert_eq!(*lock(&accepted), vec![quick.as_str().to_owned()]);
        // The slow user's replies are still stored, and go out in order once WeChat answers.
        assert_eq!(store.outbox().entries(&slow).unwrap().len(), 2);
        wechat.gate.notify_one();
        wait_until("the first slow push", || lock(&accepted).len() == 2).await;
        wechat.gate.notify_one();
        wait_until("the second slow push", || lock(&accepted).len() == 3).await;
        wait_until("the store to be empty", || store.outbox().is_empty()).await;
    }

    /// An alert for a user outside the window goes as the template message; WeChat takes the
    /// first one but its answer is lost (no msgid), so the pusher sends it again. WeChat keeps
    /// one message per openid + `client_msg_id`: every attempt must carry the stored reply's
    /// id, or the user gets the alert twice. How many attempts there are is not fixed (the
    /// pusher's first tick may ask for another pass while the first is in flight), so the test
    /// counts what WeChat would deliver rather than the attempts.
    #[actix_web::test]
    async fn a_template_push_sent_again_after_a_lost_answer_is_delivered_once() {
        let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let seen = bodies.clone();
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            App::new()
                .configure(token_route)
                .route(
                    "/cgi-bin/message/custom/send",
                    web::post().to(|| async {
                        HttpResponse::Ok().json(
                            serde_json::json!({"errcode": 45015, "errmsg": "response out of time limit"}),
                        )
                    }),
                )
                .route(
                    "/cgi-bin/message/template/send",
                    web::post().to(move |body: web::Json<serde_json::Value>| {
                        let seen = seen.clone();
                        async move {
                            let mut all = lock(&seen);
                            all.push(body.into_inner());
                            // The first answer is cut short: taken, but no msgid comes back.
                            let answer = if all.len() == 1 {
                                serde_json::json!({"errcode": 0, "errmsg": "ok"})
                            } else {
                                serde_json::json!({"errcode": 0, "errmsg": "ok", "msgid": 7})
                            };
                            HttpResponse::Ok().json(answer)
                        }
                    }),
                )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://{}", server.addrs()[0]);
        actix_rt::spawn(server.run());
        let store = Store::temporary().unwrap();
        let pusher = pusher_at(&base, Some("TPL-alert"), &store, Arbiter::new().handle());

        pusher
            .hand_over(&user(), None, vec![Reply::Text("【大额消费提醒】".into())])
            .await;
        wait_until("the first template send", || !lock(&bodies).is_empty()).await;
        // Kept in the store after the lost answer; a later pass sends it again.
        wait_until("the pass to end", || {
            !lock(&pusher.inner.active).contains_key(&user())
        })
        .await;
        pusher.push_queued(&user());
        wait_until("the store to be empty", || store.outbox().is_empty()).await;
        let ids: Vec<Option<String>> = lock(&bodies)
            .iter()
            .map(|b| b["client_msg_id"].as_str().map(str::to_owned))
            .collect();
        assert!(
            ids.len() >= 2,
            "the first answer was lost, so it went again: {ids:?}"
        );
        // As WeChat counts: one per distinct id, every message without one.
        let without_id = ids.iter().filter(|id| id.is_none()).count();
        let distinct: HashSet<&String> = ids.iter().flatten().collect();
        assert_eq!(
            without_id + distinct.len(),
            1,
            "messages WeChat delivers: {ids:?}"
        );
        assert!(
            ids[0]
                .as_deref()
                .is_some_and(|id| id.starts_with("onecard-reply-")),
            "{ids:?}"
        );
    }

    fn user() -> OpenId {
        OpenId::parse("oWindowTestUser000000000001").unwrap()
    }

    #[test]
    fn a_fallback_template_shows_links_as_their_labels_and_opens_the_first_web_link() {
        let text = "如非本人消费，请立即<a href=\"weixin://bizmsgmenu?msgmenucontent=挂失&msgmenuid=1\">挂失</a>。\
                    详情见<a href=\"https://card.example.edu.cn/h5/bills/fun\">账单</a>和<a href=\"https://x.example/2\">说明</a>";
        let msg = fallback_template("T1", &user(), &Reply::Text(text.into()), None);
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            serde_json::json!({
                "touser": user().as_str(),
                "template_id": "T1",
                "url": "https://card.example.edu.cn/h5/bills/fun",
                "data": {"content": {"value": "如非本人消费，请立即挂失。详情见账单和说明"}},
            })
        );
        let plain = fallback_template("T1", &user(), &Reply::Text("余额 3.00 元".into()), None);
        assert_eq!(plain.url, None);
        assert_eq!(plain.data["content"], "余额 3.00 元");
    }

    #[test]
    fn a_fallback_template_for_a_news_card_opens_its_page() {
        let article = crate::wechat::Article {
            title: "停机维护".into(),
            description: "12 月 6 日 0:00–6:00".into(),
            pic_url: String::new(),
            url: "/h5/articles/maintenance-1206".into(),
        };
        let msg = fallback_template("T1", &user(), &Reply::News(article), None);
        assert_eq!(msg.url.as_deref(), Some("/h5/articles/maintenance-1206"));
        assert_eq!(msg.data["content"], "停机维护\n12 月 6 日 0:00–6:00");
    }

    #[test]
    fn a_click_only_window_survives_a_sweep_for_its_full_minute() {
        let w = ServiceWindows::default();
        w.record(&user(), Interaction::Event, 1_000);
        w.sweep(1_031);
        assert_eq!(w.try_consume(&user(), 1_031), Allowance::Open);
        w.sweep(1_059);
        assert_eq!(w.len(), 1);
        w.sweep(1_060);
        assert_eq!(w.len(), 0);
        assert_eq!(w.try_consume(&user(), 1_060), Allowance::Unknown);
    }

    #[test]
    fn an_event_window_allows_three_pushes_then_is_closed() {
        let w = ServiceWindows::default();
        w.record(&user(), Interaction::Event, 0);
        for _ in 0..3 {
            assert_eq!(w.try_consume(&user(), 10), Allowance::Open);
        }
        assert_eq!(w.try_consume(&user(), 10), Allowance::Closed);
    }

    #[test]
    fn windows_are_capped_and_the_least_recent_user_goes_first() {
        let w = ServiceWindows::with_cap(3);
        let users: Vec<OpenId> = (0..4)
            .map(|i| OpenId::parse(&format!("oWindowCapUser0000000000000{i}")).unwrap())
            .collect();
        for (i, u) in users.iter().enumerate() {
            w.record(u, Interaction::Message, 100 + i as i64);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.try_consume(&users[0], 200), Allowance::Unknown);
        assert_eq!(w.try_consume(&users[3], 200), Allowance::Open);
    }
}
