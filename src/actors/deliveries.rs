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
//! A delivery is remembered for the window, and longer when its request's timestamp stays
//! valid longer: a byte-for-byte replay that the timestamp check still lets through then meets
//! the remembered result instead of running the action a second time. Start-up refuses a window
//! shorter than the timestamp window.
//!
//! Memory is bounded by count and by bytes, whatever an outsider sends: a key is kept as 128
//! bits of its SHA-256 (an event's EventKey can be 64 KiB; 2^64 work to collide two on purpose),
//! replies are counted by their text, and when either cap is reached the entry expiring first
//! goes. Entries past their window are swept on a schedule too ([`Deliveries::sweep`]), so a
//! platform that has gone quiet holds none.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::wechat::Reply;

/// Approximate bytes a remembered delivery costs besides its replies' text: the key digest,
/// the `Delivery` (mutexes, notifier, its `Arc`), the reply list, and the map and heap slots.
pub const ENTRY_BYTES: usize = 16 + 128 + 40 + 32 + 40;

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
    owner_bytes: Arc<std::sync::atomic::AtomicUsize>,
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
    fn new(owner_bytes: Arc<std::sync::atomic::AtomicUsize>) -> Self {
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
            self.owner_bytes
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
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
    window: Duration,
    capacity: usize,
    max_bytes: usize,
    /// Reply text bytes of every remembered delivery (kept up to date by `Delivery::complete`).
    reply_bytes: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Arc<Delivery>>,
    /// Expiry order, soonest first.
    expiry: BinaryHeap<Reverse<(Instant, Key)>>,
}

pub enum Begin {
    /// First delivery: the caller starts the work.
    New(Arc<Delivery>),
    /// A retry: the caller waits for the existing result.
    Retry(Arc<Delivery>),
}

impl Deliveries {
    /// `window`: how long a result is remembered at least; `capacity` and `max_bytes` bound the
    /// memory (entries × [`ENTRY_BYTES`] + reply text).
    pub fn new(window: Duration, capacity: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            window,
            capacity: capacity.max(1),
            max_bytes,
            reply_bytes: Arc::default(),
        }
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
        if let Some(existing) = inner.map.get(&key) {
            metrics::counter!("onecard_callback_dedup_hits_total").increment(1);
            Begin::Retry(existing.clone())
        } else {
            let delivery = Arc::new(Delivery::new(self.reply_bytes.clone()));
            inner.map.insert(key, delivery.clone());
            inner
                .expiry
                .push(Reverse((now + self.window.max(replayable_for), key)));
            Begin::New(delivery)
        }
    }

    /// Forget what is past its window, and give back the room a burst left behind; then report
    /// the size. Runs on the housekeeping schedule: `begin` expires only while traffic flows.
    pub fn sweep(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.expire(&mut inner, Instant::now());
        if inner.map.capacity() > 4 * inner.map.len().max(1024) {
            inner.map.shrink_to_fit();
            inner.expiry.shrink_to_fit();
        }
        metrics::gauge!("onecard_callback_dedup_entries").set(inner.map.len() as f64);
        metrics::gauge!("onecard_callback_dedup_bytes").set(self.bytes(inner.map.len()) as f64);
    }

    /// Expire by age, then make room under both caps (the entry expiring first goes).
    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some(Reverse((at, k))) = inner.expiry.peek().copied() {
            let full =
                inner.map.len() >= self.capacity || self.bytes(inner.map.len()) > self.max_bytes;
            if at > now && !full {
                break;
            }
            if at > now {
                metrics::counter!("onecard_callback_dedup_evictions_total").increment(1);
            }
            inner.expiry.pop();
            if let Some(gone) = inner.map.remove(&k) {
                let bytes = gone.uncount();
                self.reply_bytes
                    .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn bytes(&self, entries: usize) -> usize {
        entries * ENTRY_BYTES + self.reply_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate bytes held: entries × [`ENTRY_BYTES`] plus reply text.
    pub fn approx_bytes(&self) -> usize {
        self.bytes(self.len())
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
        let waiter = tokio::spawn(async move {
            match retry.wait(Instant::now() + Duration::from_secs(2)).await {
                Waited::Ready(r) => r,
                Waited::Late => panic!("should not be late"),
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
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
        // Each entry costs its fixed size plus 300 bytes of reply, never the 64 KiB key.
        let per_entry = ENTRY_BYTES + 300;
        assert_eq!(d.len(), max_bytes / per_entry + 1);
        assert!(
            d.approx_bytes() <= max_bytes + per_entry,
            "{}",
            d.approx_bytes()
        );
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
