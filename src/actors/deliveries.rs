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
//! Memory is bounded: finished entries are kept for the window (≥ 60 s) and at most `capacity`
//! of them; the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::wechat::Reply;

pub type Replies = Arc<Vec<Reply>>;

/// One logical message and its (eventual) result.
pub struct Delivery {
    state: Mutex<State>,
    done: watch::Sender<Option<Replies>>,
}

enum State {
    Running {
        late: bool,
    },
    /// `pushed`: the result went (or goes) out through the pusher, so no delivery may
    /// answer it passively again.
    Done {
        pushed: bool,
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
    fn new() -> Self {
        Self {
            state: Mutex::new(State::Running { late: false }),
            done: watch::channel(None).0,
        }
    }

    /// Record the result. Returns what must still be pushed.
    pub fn complete(&self, replies: Vec<Reply>) -> (Replies, Completion) {
        let replies = Arc::new(replies);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let completion = match *state {
            State::Running { late: true } => Completion::PushAll,
            _ => Completion::PushRest,
        };
        *state = State::Done {
            pushed: completion == Completion::PushAll,
        };
        self.done.send_replace(Some(replies.clone()));
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
        let mut rx = self.done.subscribe();
        let wait = rx.wait_for(|v| v.is_some());
        let remaining = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(remaining, wait).await;
        // Decide under the lock: either the result arrived meanwhile, or this delivery is late.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            State::Done { pushed: true } => Waited::Late,
            State::Done { pushed: false } => match self.done.borrow().as_ref() {
                Some(r) => Waited::Ready(r.clone()),
                None => Waited::Late,
            },
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
}

struct Inner {
    map: HashMap<String, Arc<Delivery>>,
    order: VecDeque<(Instant, String)>,
}

pub enum Begin {
    /// First delivery: the caller starts the work.
    New(Arc<Delivery>),
    /// A retry: the caller waits for the existing result.
    Retry(Arc<Delivery>),
}

impl Deliveries {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            window: window.max(Duration::from_secs(60)),
            capacity: capacity.max(1),
        }
    }

    pub fn begin(&self, key: String) -> Begin {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Expire by age, then by capacity (oldest first).
        while let Some((at, _)) = inner.order.front() {
            if now.duration_since(*at) > self.window || inner.order.len() >= self.capacity {
                if let Some((_, k)) = inner.order.pop_front() {
                    inner.map.remove(&k);
                }
            } else {
                break;
            }
        }
        if let Some(existing) = inner.map.get(&key) {
            metrics::counter!("onecard_callback_dedup_hits_total").increment(1);
            return Begin::Retry(existing.clone());
        }
        let delivery = Arc::new(Delivery::new());
        inner.map.insert(key.clone(), delivery.clone());
        inner.order.push_back((now, key));
        Begin::New(delivery)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let d = Deliveries::new(Duration::from_secs(60), 10);
        let Begin::New(first) = d.begin("k".into()) else {
            panic!("first must be new")
        };
        let Begin::Retry(retry) = d.begin("k".into()) else {
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
        let d = Deliveries::new(Duration::from_secs(60), 10);
        let Begin::New(first) = d.begin("k".into()) else {
            panic!()
        };
        assert!(matches!(
            first.wait(Instant::now() + Duration::from_millis(10)).await,
            Waited::Late
        ));
        let (_, how) = first.complete(vec![text("slow")]);
        assert_eq!(how, Completion::PushAll);
        // A later retry of the same message must not answer it passively a second time.
        let Begin::Retry(again) = d.begin("k".into()) else {
            panic!()
        };
        assert!(matches!(
            again.wait(Instant::now() + Duration::from_millis(10)).await,
            Waited::Late
        ));
    }

    #[tokio::test]
    async fn capacity_bounds_memory() {
        let d = Deliveries::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            let _ = d.begin(format!("k{i}"));
        }
        assert!(d.len() <= 3);
    }
}
