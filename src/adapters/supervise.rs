//! The actor every adapter runs in, and the keeper that brings it back when it dies.
//!
//! Why it exists: each upstream gets its own actor on its own arbiter, so its HTTP client and
//! its connection pool live on one runtime (docs/rust-dependencies.md 1.2.2) and a slow upstream occupies only
//! its own thread. actix's `Supervisor` restarts an actor that *stops*, not one that panics
//! (docs/rust-dependencies.md 1.2.1): after a panic in the actor's handler every `send` fails
//! with `MailboxError::Closed`. [`Kept`] therefore notices a dead mailbox — on a periodic check
//! and on every failed send — and starts a fresh actor from the adapter's builder, counting
//! restarts in a metric. A panic inside a call's future (where the client code runs) loses only
//! that call's answer (`ActorDown`); the actor lives on.
//!
//! It owns the actor's mailbox deadline (calls never wait forever) and the mapping of
//! `MailboxError` to [`AdapterError`]. A call that finds the mailbox closed never reached the
//! client: a read is then re-sent once to the new actor, a write is not (its caller treats the
//! outcome as unknown and queries by its key, like any other failed write).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::prelude::*;
use actix_rt::ArbiterHandle;

use super::events::AdapterRestarted;
use super::{AdapterError, Unavailable};

/// Builds the adapter's client; runs inside the adapter's arbiter, again after each restart.
pub type Builder<C> = Arc<dyn Fn() -> Result<C, AdapterError> + Send + Sync>;

/// The future a call runs inside the actor (not `Send`: it lives on the adapter's thread).
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>>>>;

/// "Run this against your client": the one message an adapter actor handles. The closure is
/// called on the actor's thread and its future runs there, concurrently with other calls
/// (the policy's semaphore, not the mailbox, bounds concurrency).
pub struct Invoke<C, T> {
    f: Box<dyn FnOnce(Arc<C>) -> LocalFuture<T> + Send>,
}

impl<C: 'static, T: 'static> Message for Invoke<C, T> {
    type Result = Result<T, AdapterError>;
}

/// The actor: holds the client (or the error that prevented building it).
pub struct AdapterActor<C> {
    upstream: &'static str,
    client: Result<Arc<C>, AdapterError>,
    builder: Builder<C>,
    mailbox_capacity: usize,
}

impl<C: Send + Sync + 'static> AdapterActor<C> {
    fn new(upstream: &'static str, builder: Builder<C>, mailbox_capacity: usize) -> Self {
        let client = builder().map(Arc::new);
        if let Err(e) = &client {
            tracing::error!(upstream, error = %e, "adapter client could not be built");
        }
        Self {
            upstream,
            client,
            builder,
            mailbox_capacity,
        }
    }
}

impl<C: Send + Sync + 'static> Actor for AdapterActor<C> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        tracing::debug!(upstream = self.upstream, "adapter actor started");
    }
}

impl<C: Send + Sync + 'static> Supervised for AdapterActor<C> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.client = (self.builder)().map(Arc::new);
    }
}

impl<C: Send + Sync + 'static, T: Send + 'static> Handler<Invoke<C, T>> for AdapterActor<C> {
    type Result = ResponseFuture<Result<T, AdapterError>>;

    fn handle(&mut self, msg: Invoke<C, T>, _ctx: &mut Self::Context) -> Self::Result {
        match &self.client {
            Ok(client) => (msg.f)(Arc::clone(client)),
            Err(e) => {
                let e = e.clone();
                Box::pin(async move { Err(e) })
            }
        }
    }
}

/// A supervised adapter actor plus its keeper. Cheap to clone; the keeper task ends when the
/// last clone is dropped.
pub struct Kept<C: Send + Sync + 'static> {
    inner: Arc<KeptInner<C>>,
}

impl<C: Send + Sync + 'static> Clone for Kept<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct KeptInner<C: Send + Sync + 'static> {
    upstream: &'static str,
    addr: Mutex<Addr<AdapterActor<C>>>,
    arbiter: ArbiterHandle,
    builder: Builder<C>,
    mailbox_capacity: usize,
    /// Mailbox deadline: the policy's worst case plus a margin.
    deadline: Duration,
    restarts: AtomicU64,
    /// Set by [`Kept::stop`]: the keeper exits and nothing is restarted any more.
    stopped: AtomicBool,
}

impl<C: Send + Sync + 'static> KeptInner<C> {
    fn spawn(&self) -> Addr<AdapterActor<C>> {
        let upstream = self.upstream;
        let builder = Arc::clone(&self.builder);
        let capacity = self.mailbox_capacity;
        Supervisor::start_in_arbiter(&self.arbiter, move |_ctx| {
            AdapterActor::new(upstream, builder, capacity)
        })
    }

    fn current(&self) -> Addr<AdapterActor<C>> {
        match self.addr.lock() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Restart the actor if its mailbox is closed. Returns whether it restarted.
    fn ensure_alive(&self) -> bool {
        if self.stopped.load(Ordering::SeqCst) {
            return false;
        }
        let mut guard = match self.addr.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.connected() {
            return false;
        }
        *guard = self.spawn();
        let restarts = self.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        AdapterRestarted {
            upstream: self.upstream,
            restarts,
        }
        .emit();
        true
    }
}

impl<C: Send + Sync + 'static> Kept<C> {
    /// Start the actor on `arbiter` and a keeper on the current arbiter that checks it every
    /// `check_every`. Must be called inside an actix System.
    pub fn start(
        upstream: &'static str,
        arbiter: ArbiterHandle,
        builder: Builder<C>,
        deadline: Duration,
        mailbox_capacity: usize,
        check_every: Duration,
    ) -> Self {
        let inner = KeptInner {
            upstream,
            addr: Mutex::new(Supervisor::start_in_arbiter(&arbiter, {
                let builder = Arc::clone(&builder);
                move |_ctx| AdapterActor::new(upstream, builder, mailbox_capacity.max(1))
            })),
            arbiter,
            builder,
            mailbox_capacity: mailbox_capacity.max(1),
            deadline,
            restarts: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        };
        let inner = Arc::new(inner);
        let weak: Weak<KeptInner<C>> = Arc::downgrade(&inner);
        actix_rt::spawn(async move {
            loop {
                tokio::time::sleep(check_every).await;
                match weak.upgrade() {
                    Some(inner) if !inner.stopped.load(Ordering::SeqCst) => {
                        inner.ensure_alive();
                    }
                    _ => break,
                }
            }
        });
        Self { inner }
    }

    pub fn upstream(&self) -> &'static str {
        self.inner.upstream
    }

    /// How many times the keeper restarted the actor.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    /// Whether the actor's mailbox is open right now.
    pub fn is_alive(&self) -> bool {
        self.inner.current().connected()
    }

    /// Stop the adapter's arbiter (its thread). Calls after this fail with `ActorDown`.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.arbiter.stop();
    }

    /// Run `f` against the client inside the actor, within the mailbox deadline.
    /// `idempotent` reads are re-sent once to a restarted actor if the first one was dead.
    pub async fn invoke<T, F>(&self, idempotent: bool, f: F) -> Result<T, AdapterError>
    where
        T: Send + 'static,
        F: Fn(Arc<C>) -> LocalFuture<T> + Send + Clone + 'static,
    {
        // the arbiter stops asynchronously: without this a call made right after `stop` could
        // still reach the actor
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(AdapterError::Unavailable(Unavailable::ActorDown));
        }
        match self.send_once(f.clone()).await {
            Err(MailboxError::Closed) => {
                let restarted = self.inner.ensure_alive();
                if restarted && idempotent {
                    self.send_once(f).await.unwrap_or_else(|e| Err(mailbox(e)))
                } else {
                    Err(AdapterError::Unavailable(Unavailable::ActorDown))
                }
            }
            Err(e) => Err(mailbox(e)),
            Ok(result) => result,
        }
    }

    async fn send_once<T, F>(&self, f: F) -> Result<Result<T, AdapterError>, MailboxError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<C>) -> LocalFuture<T> + Send + 'static,
    {
        let addr = self.inner.current();
        addr.send(Invoke { f: Box::new(f) })
            .timeout(self.inner.deadline)
            .await
    }
}

fn mailbox(e: MailboxError) -> AdapterError {
    match e {
        MailboxError::Timeout => AdapterError::Timeout,
        MailboxError::Closed => AdapterError::Unavailable(Unavailable::ActorDown),
    }
}

/// Start `builder`'s client in an actor on a new arbiter of its own, with a keeper checking it
/// every second. The mailbox holds up to 256 calls; `deadline` bounds each call. Fails
/// (instead of panicking) when called outside an actix System.
pub fn start_on_own_arbiter<C: Send + Sync + 'static>(
    upstream: &'static str,
    builder: Builder<C>,
    deadline: Duration,
) -> Result<Kept<C>, AdapterError> {
    if actix_rt::System::try_current().is_none() {
        return Err(AdapterError::Config(format!(
            "{upstream}: adapters must be started inside the actix System"
        )));
    }
    let arbiter = actix_rt::Arbiter::new();
    Ok(Kept::start(
        upstream,
        arbiter.handle(),
        builder,
        deadline,
        256,
        Duration::from_secs(1),
    ))
}

/// Box a future for [`Kept::invoke`] closures.
pub fn boxed<T, Fut>(fut: Fut) -> LocalFuture<T>
where
    Fut: Future<Output = Result<T, AdapterError>> + 'static,
{
    Box::pin(fut)
}

#[cfg(test)]
mod tests {
    use tokio::sync::Notify;

    use super::*;

    impl<C: Send + Sync + 'static> Kept<C> {
        /// Kill the actor the way a panic in its handler does (the keeper is not told), and
        /// return once its mailbox is closed.
        pub(crate) async fn kill(&self) {
            let addr = self.inner.current();
            addr.do_send(Invoke::<C, ()> {
                f: Box::new(|_| panic!("the actor is killed on purpose")),
            });
            until_gone(&addr, "the killed actor never died").await;
        }
    }

    /// Wait until `addr`'s mailbox is closed. Its thread may first print a panic's backtrace
    /// (RUST_BACKTRACE=1) or stop its arbiter, which on a loaded machine can take seconds.
    async fn until_gone<C: Send + Sync + 'static>(addr: &Addr<AdapterActor<C>>, failure: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while addr.connected() {
            assert!(tokio::time::Instant::now() < deadline, "{failure}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    struct Fake {
        generation: u64,
    }

    fn start_fake(check_every: Duration, deadline: Duration) -> (Kept<Fake>, Arc<AtomicU64>) {
        let built = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&built);
        let builder: Builder<Fake> = Arc::new(move || {
            Ok(Fake {
                generation: counter.fetch_add(1, Ordering::SeqCst) + 1,
            })
        });
        let arbiter = actix_rt::Arbiter::new();
        let kept = Kept::start("fake", arbiter.handle(), builder, deadline, 16, check_every);
        (kept, built)
    }

    #[actix_rt::test]
    async fn a_call_runs_against_the_client() {
        let (kept, _) = start_fake(Duration::from_secs(60), Duration::from_secs(5));
        let g = kept
            .invoke(true, |c: Arc<Fake>| boxed(async move { Ok(c.generation) }))
            .await;
        assert_eq!(g, Ok(1));
        kept.stop();
    }

    #[actix_rt::test]
    async fn a_panicking_actor_is_restarted_and_reads_go_on() {
        // A generous mailbox deadline: printing the panic's backtrace may take seconds.
        let (kept, built) = start_fake(Duration::from_secs(60), Duration::from_secs(30));
        // a panic in the handler itself (not in the returned future) kills the actor
        let r: Result<u64, _> = kept
            .invoke(false, |_c: Arc<Fake>| -> LocalFuture<u64> {
                panic!("boom");
            })
            .await;
        assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::ActorDown)));
        // the failed send already restarted it, or the next read does
        let g = kept
            .invoke(true, |c: Arc<Fake>| boxed(async move { Ok(c.generation) }))
            .await;
        assert_eq!(g, Ok(2));
        assert_eq!(built.load(Ordering::SeqCst), 2);
        assert_eq!(kept.restarts(), 1);
        kept.stop();
    }

    /// Where the client's code runs: actix runs the future a handler returns as a task of its
    /// own, so a panic there loses that call's answer (`Closed`) and leaves the actor alive.
    /// Nothing is restarted, so nothing is re-sent, read or write: the one call was made.
    #[actix_rt::test]
    async fn a_call_that_panics_loses_its_own_answer_and_is_not_sent_again() {
        let (kept, built) = start_fake(Duration::from_secs(60), Duration::from_secs(30));
        let calls = Arc::new(AtomicU64::new(0));
        for (kind, idempotent) in [("read", true), ("write", false)] {
            let counted = Arc::clone(&calls);
            let r: Result<u64, _> = kept
                .invoke(idempotent, move |_c: Arc<Fake>| {
                    let counted = Arc::clone(&counted);
                    boxed(async move {
                        counted.fetch_add(1, Ordering::SeqCst);
                        panic!("the upstream client panicked");
                    })
                })
                .await;
            assert_eq!(
                (r, calls.swap(0, Ordering::SeqCst)),
                (Err(AdapterError::Unavailable(Unavailable::ActorDown)), 1),
                "a {kind} whose call panicked"
            );
        }
        assert_eq!((kept.restarts(), built.load(Ordering::SeqCst)), (0, 1));
        let g = kept
            .invoke(true, |c: Arc<Fake>| boxed(async move { Ok(c.generation) }))
            .await;
        assert_eq!(g, Ok(1), "the same actor answers the next call");
        kept.stop();
    }

    /// An actor that dies while a call is in flight does not take the call's answer with it
    /// (the call runs as its own task), so a write in flight is never left without an answer
    /// to be guessed at, let alone sent again.
    #[actix_rt::test]
    async fn an_answer_in_flight_outlives_its_actor() {
        let (kept, _) = start_fake(Duration::from_secs(60), Duration::from_secs(30));
        let entered = Arc::new(Notify::new());
        let go_on = Arc::new(Notify::new());
        let call = actix_rt::spawn({
            let (kept, entered, go_on) = (kept.clone(), Arc::clone(&entered), Arc::clone(&go_on));
            async move {
                kept.invoke(false, move |c: Arc<Fake>| {
                    let (entered, go_on) = (Arc::clone(&entered), Arc::clone(&go_on));
                    boxed(async move {
                        entered.notify_one();
                        go_on.notified().await;
                        Ok(c.generation)
                    })
                })
                .await
            }
        });
        entered.notified().await;
        kept.kill().await;
        go_on.notify_one();
        assert_eq!(call.await.unwrap(), Ok(1));
        assert!(!kept.is_alive());
        kept.stop();
    }

    #[actix_rt::test]
    async fn the_keeper_restarts_a_dead_actor_on_its_own() {
        let (kept, _) = start_fake(Duration::from_millis(20), Duration::from_secs(5));
        // kill it without touching the handle's retry path
        kept.kill().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !(kept.restarts() > 0 && kept.is_alive()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(kept.is_alive());
        assert_eq!(kept.restarts(), 1);
        kept.stop();
    }

    #[actix_rt::test]
    async fn a_stopped_adapter_stays_stopped() {
        let (kept, built) = start_fake(Duration::from_millis(20), Duration::from_secs(5));
        kept.stop();
        // the arbiter stops on its own thread
        until_gone(&kept.inner.current(), "the actor never stopped").await;
        // what the keeper does on each check finds a dead actor and restarts nothing
        assert!(!kept.inner.ensure_alive());
        let r = kept
            .invoke(true, |c: Arc<Fake>| boxed(async move { Ok(c.generation) }))
            .await;
        assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::ActorDown)));
        assert_eq!(kept.restarts(), 0);
        // never rebuilt (the first build may or may not have run before the stop)
        assert!(built.load(Ordering::SeqCst) <= 1);
    }

    #[actix_rt::test]
    async fn a_stuck_call_hits_the_mailbox_deadline() {
        let (kept, _) = start_fake(Duration::from_secs(60), Duration::from_millis(300));
        let r: Result<(), _> = kept
            .invoke(true, |_c: Arc<Fake>| {
                boxed(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(())
                })
            })
            .await;
        assert_eq!(r, Err(AdapterError::Timeout));
        kept.stop();
    }
}
