//! Exactly-once feel for WeChat's retried deliveries, inside the callback budget.
//!
//! WeChat retries a message it got no answer to (three deliveries, about 5 s apart). Each
//! delivery is keyed (messages: FromUserName and MsgId; events: FromUserName, CreateTime, Event
//! and EventKey — MsgId alone has collided across users in other SDKs). The first delivery
//! starts the work; a retry that arrives while it runs waits for the same result, and one that
//! arrives later gets the remembered result: the work runs once, every delivery sees the same
//! reply.
//!
//! When the result is not ready within the budget, the waiting callback marks the delivery
//! *late* and answers "success"; whoever completes a late delivery hands its replies to the
//! pusher. The late flag and the result are decided under one lock, so a reply is either
//! answered passively or pushed — never both, never neither.
//!
//! Two windows, because a retry and a replay need different things:
//! - For the *reply window* (20 s by default: WeChat's last retry comes ~10 s after the first
//!   delivery) a delivery is *live*: it keeps its result, and a retry is answered with the same
//!   reply. A delivery whose work is still running stays live until it is done.
//! - For the rest of the *dedup window*, and longer when its request's timestamp stays valid
//!   longer, only the key is kept (a few dozen bytes): a byte-for-byte replay that the timestamp
//!   check still lets through is recognised ([`Begin::Seen`]) and answered "success" without
//!   running the action again. Start-up refuses a dedup window shorter than the timestamp window.
//!
//! Memory is bounded by count and by bytes, whatever an outsider sends: a key is kept as 128
//! bits of its SHA-256 (an event's EventKey can be 64 KiB; 2^64 work to collide two on purpose),
//! replies are counted by their text; when the byte cap is reached the oldest live delivery
//! drops its result, and when the count cap is reached the key forgotten first goes. Both
//! windows are also applied on a schedule ([`Deliveries::sweep`]), so a platform that has gone
//! quiet holds nothing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::wechat::Reply;

/// How long a delivery keeps its result by default: WeChat makes three attempts ~5 s apart, so
/// its last retry arrives ~10 s after the first (docs/wechat-protocol.md §5.1).
pub const DEFAULT_REPLY_WINDOW: Duration = Duration::from_secs(20);

/// Approximate bytes a live delivery costs besides its replies' text: the `Delivery` (mutexes,
/// notifier, its `Arc`), the reply list, and its slots in the live map and queue.
pub const LIVE_ENTRY_BYTES: usize = 128 + 40 + 32 + 48 + 40;

/// Approximate bytes a remembered key costs once its result is dropped: its digest and expiry
/// in the map (24 bytes, with the map's slack) and in the expiry heap (24 bytes).
pub const SEEN_ENTRY_BYTES: usize = 32 + 24;

type Key = [u8; 16];

pub type Replies = Arc<Vec<Reply>>;

/// One logical message and its (eventual) result.
pub struct Delivery {
    state: Mutex<State>,
    /// Wakes the callbacks waiting for the result.
    done: Notify,
    /// Reply bytes counted against the owner's byte cap: `None` once the owner forgot this
    /// delivery (a late `complete` then counts nothing).
    counted: Mutex<Option<usize>>,
    owner_bytes: Arc<AtomicUsize>,
}

enum State {
    Running {
        late: bool,
    },
    /// `pushed`: the result went (or goes) out through the pusher, so no delivery may
    /// answer it passively again.
    Done {
        pushed: bool,
        replies: Replies,
    },
}

/// What `complete` tells the completer to do with the replies.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    /// A callback is (or will be) answering passively with the first reply: push only the rest.
    PushRest,
    /// Every callback already answered "success": push all replies.
    PushAll,
}

/// What a waiting callback gets.
pub enum Waited {
    Ready(Replies),
    /// The budget ran out first; the replies will be pushed.
    Late,
}

impl Delivery {
    fn new(owner_bytes: Arc<AtomicUsize>) -> Self {
        Self {
            state: Mutex::new(State::Running { late: false }),
            done: Notify::new(),
            counted: Mutex::new(Some(0)),
            owner_bytes,
        }
    }

    /// Stop counting this delivery's replies; returns the bytes it had counted.
    fn uncount(&self) -> usize {
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        counted.take().unwrap_or(0)
    }

    /// Record the result. Returns what must still be pushed.
    pub fn complete(&self, replies: Vec<Reply>) -> (Replies, Completion) {
        let bytes: usize = replies.iter().map(Reply::text_bytes).sum();
        if let Some(counted) = self
            .counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            *counted += bytes;
            self.owner_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        let replies = Arc::new(replies);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let completion = match *state {
            State::Running { late: true } => Completion::PushAll,
            _ => Completion::PushRest,
        };
        *state = State::Done {
            pushed: completion == Completion::PushAll,
            replies: replies.clone(),
        };
        drop(state);
        self.done.notify_waiters();
        (replies, completion)
    }

    fn is_running(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(|p| p.into_inner()),
            State::Running { .. }
        )
    }

    /// Wait for the result until `deadline`.
    pub async fn wait(&self, deadline: Instant) -> Waited {
        self.wait_or_keep(deadline, || {}).await
    }

    /// [`Delivery::wait`], and if this call is the one that makes the delivery late, run
    /// `keep` first under the same lock: whoever completes the delivery sees it late only
    /// after `keep` ran (the pusher keeps the message there before "success" is answered).
    pub async fn wait_or_keep(&self, deadline: Instant, keep: impl FnOnce()) -> Waited {
        // Registered before the state is read, so a result completed in between still wakes us.
        let notified = self.done.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let running = matches!(
            *self.state.lock().unwrap_or_else(|p| p.into_inner()),
            State::Running { .. }
        );
        if running {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(remaining, notified).await;
        }
        // Decide under the lock: either the result arrived meanwhile, or this delivery is late.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            State::Done { pushed: true, .. } => Waited::Late,
            State::Done {
                pushed: false,
                replies,
            } => Waited::Ready(replies.clone()),
            State::Running { late: true } => Waited::Late,
            State::Running { late: false } => {
                keep();
                *state = State::Running { late: true };
                Waited::Late
            }
        }
    }
}

pub struct Deliveries {
    inner: Mutex<Inner>,
    /// How long a key is remembered at least (a replay inside it is recognised).
    window: Duration,
    /// How long a delivery keeps its result for WeChat's retries (at most `window`).
    reply_window: Duration,
    capacity: usize,
    max_bytes: usize,
    /// Reply text bytes of every live delivery (kept up to date by `Delivery::complete`).
    reply_bytes: Arc<AtomicUsize>,
    /// Forget times are milliseconds since this instant (8 bytes a key instead of 16).
    epoch: Instant,
}

#[derive(Default)]
struct Inner {
    /// Every remembered key → when it is forgotten (ms since `epoch`).
    seen: HashMap<Key, u64>,
    /// Forget order, soonest first: one entry per key in `seen`.
    forget: BinaryHeap<Reverse<(u64, Key)>>,
    /// The deliveries still holding their result, each with the end of its reply window.
    live: HashMap<Key, (Arc<Delivery>, Instant)>,
    /// Live deliveries in the order their reply window ends (one length for all, so insertion
    /// order). An entry whose key has left `live`, or has come back since, is skipped.
    live_order: VecDeque<(Instant, Key)>,
}

pub enum Begin {
    /// First delivery: the caller starts the work.
    New(Arc<Delivery>),
    /// A retry inside the reply window: the caller waits for the existing result.
    Retry(Arc<Delivery>),
    /// Seen before, and its result is no longer kept: a late retry or a replay. The work is
    /// not run again, and there is nothing to answer but "success".
    Seen,
}

impl Deliveries {
    /// `window`: how long a key is remembered at least; `capacity` and `max_bytes` bound the
    /// memory (keys × [`SEEN_ENTRY_BYTES`] + live deliveries × [`LIVE_ENTRY_BYTES`] + their
    /// reply text). Results are kept for [`DEFAULT_REPLY_WINDOW`].
    pub fn new(window: Duration, capacity: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            window,
            reply_window: DEFAULT_REPLY_WINDOW.min(window),
            capacity: capacity.max(1),
            max_bytes,
            reply_bytes: Arc::default(),
            epoch: Instant::now(),
        }
    }

    /// Keep each result for `reply_window` (at most the dedup window) instead of the default.
    pub fn with_reply_window(mut self, reply_window: Duration) -> Self {
        self.reply_window = reply_window.min(self.window);
        self
    }

    /// The delivery of the message with identity `key`. `replayable_for`: how long the
    /// request's timestamp stays valid, so how long a byte-for-byte replay can still arrive.
    pub fn begin(&self, key: &str, replayable_for: Duration) -> Begin {
        let digest = Sha256::digest(key.as_bytes());
        let mut key: Key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.expire(&mut inner, now);
        if let Some((existing, _)) = inner.live.get(&key) {
            metrics::counter!("onecard_callback_dedup_hits_total").increment(1);
            return Begin::Retry(existing.clone());
        }
        if inner.seen.contains_key(&key) {
            metrics::counter!("onecard_callback_dedup_hits_total").increment(1);
            return Begin::Seen;
        }
        let delivery = Arc::new(Delivery::new(self.reply_bytes.clone()));
        let reply_until = now + self.reply_window;
        inner.live.insert(key, (delivery.clone(), reply_until));
        inner.live_order.push_back((reply_until, key));
        let forget_at = self.millis(now + self.window.max(replayable_for));
        inner.seen.insert(key, forget_at);
        inner.forget.push(Reverse((forget_at, key)));
        Begin::New(delivery)
    }

    /// Apply both windows, and give back the room a burst left behind; then report the size.
    /// Runs on the housekeeping schedule: `begin` expires only while traffic flows.
    pub fn sweep(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.expire(&mut inner, Instant::now());
        let keys = inner.seen.len().max(1024);
        if inner.seen.capacity() > 4 * keys {
            inner.seen.shrink_to_fit();
            inner.forget.shrink_to_fit();
        }
        let live = inner.live.len().max(1024);
        if inner.live.capacity() > 4 * live {
            inner.live.shrink_to_fit();
            inner.live_order.shrink_to_fit();
        }
        metrics::gauge!("onecard_callback_dedup_entries").set(inner.seen.len() as f64);
        metrics::gauge!("onecard_callback_dedup_live_entries").set(inner.live.len() as f64);
        metrics::gauge!("onecard_callback_dedup_bytes").set(self.bytes(&inner) as f64);
    }

    /// Drop results past their reply window (or the oldest ones while over the byte cap), then
    /// forget keys past their window (or the first to go while over either cap).
    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some(&(until, key)) = inner.live_order.front() {
            let over = self.bytes(inner) > self.max_bytes;
            if until > now && !over {
                break;
            }
            inner.live_order.pop_front();
            let Some((delivery, live_until)) = inner.live.get_mut(&key) else {
                continue;
            };
            if *live_until != until {
                continue;
            }
            // A retry must still be able to wait for a result that is not there yet.
            if !over && delivery.is_running() {
                *live_until = now + self.reply_window;
                inner.live_order.push_back((*live_until, key));
                continue;
            }
            if until > now {
                metrics::counter!("onecard_callback_dedup_evictions_total").increment(1);
            }
            self.drop_result(inner, &key);
        }
        let now_ms = self.millis(now);
        while let Some(&Reverse((at, key))) = inner.forget.peek() {
            let full = inner.seen.len() >= self.capacity || self.bytes(inner) > self.max_bytes;
            if at > now_ms && !full {
                break;
            }
            if at > now_ms {
                metrics::counter!("onecard_callback_dedup_evictions_total").increment(1);
            }
            inner.forget.pop();
            inner.seen.remove(&key);
            self.drop_result(inner, &key);
        }
    }

    fn drop_result(&self, inner: &mut Inner, key: &Key) {
        if let Some((gone, _)) = inner.live.remove(key) {
            self.reply_bytes
                .fetch_sub(gone.uncount(), Ordering::Relaxed);
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn bytes(&self, inner: &Inner) -> usize {
        inner.seen.len() * SEEN_ENTRY_BYTES
            + inner.live.len() * LIVE_ENTRY_BYTES
            + self.reply_bytes.load(Ordering::Relaxed)
    }

    /// Remembered keys (live or not).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.seen.len()).unwrap_or(0)
    }

    /// Deliveries still holding their result.
    pub fn live_len(&self) -> usize {
        self.inner.lock().map(|i| i.live.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate bytes held: keys × [`SEEN_ENTRY_BYTES`], live deliveries ×
    /// [`LIVE_ENTRY_BYTES`] and their reply text.
    pub fn approx_bytes(&self) -> usize {
        self.inner.lock().map(|i| self.bytes(&i)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Reply {
        Reply::Text(s.into())
    }

    #[tokio::test]
    async fn retry_waits_for_the_first_result() {
        let d = Deliveries::new(Duration::from_secs(60), 10, 1 << 20);
        let Begin::New(first) = d.begin("k", Duration::ZERO) else {
            panic!("first must be new")
        };
        let Begin::Retry(retry) = d.begin("k", Duration::ZERO) else {
            panic!("second must be a retry")
        };
        // a deadline no loaded machine reaches: the retry can only end with the result
        let waiter = tokio::spawn(async move {
            match retry.wait(Instant::now() + Duration::from_secs(60)).await {
                Waited::Ready(r) => r,
                Waited::Late => panic!("should not be late"),
            }
        });
        // let the retry start waiting: it is still waiting, as there is no result yet
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let (_, how) = first.complete(vec![text("hi")]);
        assert_eq!(how, Completion::PushRest);
        assert_eq!(*waiter.await.unwrap(), vec![text("hi")]);
    }

    #[tokio::test]
    async fn late_delivery_is_pushed_in_full_exactly_once() {
        let d = Deliveries::new(Duration::from_secs(60), 10, 1 << 20);
        let Begin::New(first) = d.begin("k", Duration::ZERO) else {
            panic!()
        };
        assert!(matches!(
            first.wait(Instant::now() + Duration::from_millis(10)).await,
            Waited::Late
        ));
        let (_, how) = first.complete(vec![text("slow")]);
        assert_eq!(how, Completion::PushAll);
        // A later retry of the same message must not answer it passively a second time.
        let Begin::Retry(again) = d.begin("k", Duration::ZERO) else {
            panic!()
        };
        assert!(matches!(
            again.wait(Instant::now() + Duration::from_millis(10)).await,
            Waited::Late
        ));
    }

    #[tokio::test]
    async fn capacity_bounds_memory() {
        let d = Deliveries::new(Duration::from_secs(60), 3, 1 << 20);
        for i in 0..10 {
            let _ = d.begin(&format!("k{i}"), Duration::ZERO);
        }
        assert_eq!(d.len(), 3);
    }

    #[tokio::test]
    async fn long_keys_and_replies_are_bounded_by_bytes() {
        let max_bytes = 64 * 1024;
        let d = Deliveries::new(Duration::from_secs(60), 1_000_000, max_bytes);
        let event_key = "k".repeat(64 * 1024);
        for i in 0..2000 {
            if let Begin::New(delivery) = d.begin(&format!("{event_key}{i}"), Duration::ZERO) {
                delivery.complete(vec![text(&"回".repeat(100))]);
            }
        }
        // A live entry costs its fixed size plus 300 bytes of reply, a remembered key its
        // fixed size: never the 64 KiB key. The cap holds before each new entry.
        let newest = SEEN_ENTRY_BYTES + LIVE_ENTRY_BYTES + 300;
        assert!(
            d.approx_bytes() <= max_bytes + newest,
            "{}",
            d.approx_bytes()
        );
        // The byte cap drops results first (only the newest keeps its reply), and keys only
        // once keys alone fill it.
        assert_eq!(d.live_len(), 1);
        assert_eq!(d.len(), max_bytes / SEEN_ENTRY_BYTES + 1);
    }

    #[tokio::test]
    async fn a_retry_within_the_reply_window_gets_the_result() {
        // a window no stall of a loaded machine outlasts
        let d = Deliveries::new(Duration::from_secs(60), 10, 1 << 20)
            .with_reply_window(Duration::from_secs(60));
        let Begin::New(first) = d.begin("k", Duration::ZERO) else {
            panic!()
        };
        first.complete(vec![text("hi")]);
        let Begin::Retry(retry) = d.begin("k", Duration::ZERO) else {
            panic!("a retry within the window is answered from the result")
        };
        let Waited::Ready(replies) = retry.wait(Instant::now()).await else {
            panic!("the result is there")
        };
        assert_eq!(*replies, vec![text("hi")]);
    }

    #[tokio::test]
    async fn a_retry_after_the_reply_window_is_recognised_and_not_run_again() {
        let window = Duration::from_millis(1);
        let d = Deliveries::new(Duration::from_secs(60), 10, 1 << 20).with_reply_window(window);
        let Begin::New(first) = d.begin("k", Duration::ZERO) else {
            panic!()
        };
        first.complete(vec![text("hi")]);
        // at least the window passes (a loaded machine only makes it longer)
        tokio::time::sleep(window * 5).await;
        assert!(matches!(d.begin("k", Duration::ZERO), Begin::Seen));
        assert_eq!((d.len(), d.live_len()), (1, 0));
        assert_eq!(d.approx_bytes(), SEEN_ENTRY_BYTES, "the reply text is gone");
    }

    #[tokio::test]
    async fn a_delivery_still_running_keeps_waiting_retries_past_the_reply_window() {
        let d = Deliveries::new(Duration::from_secs(60), 10, 1 << 20)
            .with_reply_window(Duration::from_millis(20));
        let Begin::New(first) = d.begin("k", Duration::ZERO) else {
            panic!()
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        let Begin::Retry(retry) = d.begin("k", Duration::ZERO) else {
            panic!("a running delivery must stay live")
        };
        first.complete(vec![text("slow")]);
        let Waited::Ready(replies) = retry.wait(Instant::now()).await else {
            panic!("the retry must get the result")
        };
        assert_eq!(*replies, vec![text("slow")]);
    }

    #[tokio::test]
    async fn a_quiet_platform_holds_no_deliveries_after_the_sweep() {
        let d = Deliveries::new(Duration::from_millis(30), 10, 1 << 20);
        for key in ["a", "b", "c"] {
            if let Begin::New(delivery) = d.begin(key, Duration::ZERO) {
                delivery.complete(vec![text("hi")]);
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        d.sweep();
        assert_eq!((d.len(), d.live_len(), d.approx_bytes()), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_delivery_is_kept_while_its_request_can_still_be_replayed() {
        let d = Deliveries::new(Duration::from_millis(50), 10, 1 << 20);
        let Begin::New(_) = d.begin("long", Duration::from_secs(60)) else {
            panic!()
        };
        let Begin::New(_) = d.begin("short", Duration::ZERO) else {
            panic!()
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(matches!(d.begin("long", Duration::ZERO), Begin::Retry(_)));
        assert!(matches!(d.begin("short", Duration::ZERO), Begin::New(_)));
    }
}
