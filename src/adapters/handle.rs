//! The one typed handle every adapter is used through: [`AdapterHandle<T>`], where `T` is the
//! adapter's interface (`dyn CardSystem`, `dyn BankSystem`, …).
//!
//! Why it exists: starting an adapter from its config section, running a call inside its
//! supervised actor with copied arguments, the health probe through the actor, `Debug`,
//! restarts and stop are the same for every upstream. Here they are written once; an adapter
//! adds only its interface, its HTTP client and an `impl AdapterHandle<dyn Its> { … }` block
//! of typed methods, each one line over [`AdapterHandle::read`] or [`AdapterHandle::write`].
//! It must never decide retries itself: reads may be re-sent to a restarted actor (the keeper
//! in [`super::supervise`] does that), writes never are.

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::events::Health;
use super::policy::Policy;
use super::supervise::{Builder, Kept, LocalFuture, boxed, start_on_own_arbiter};
use super::transport::{AdapterClient, UpstreamName};
use super::{AdapterError, UpstreamConfig};

/// What the generic handle needs of every adapter interface besides its own operations.
pub trait Upstream: Send + Sync + 'static {
    /// Unsigned `GET /api/v1/health` plus the breaker state; never trips the breaker.
    fn health(&self) -> BoxFuture<'_, Health>;
}

/// The typed handle to one supervised adapter. Cheap to clone; callers use the adapter's
/// typed methods (`card.balance("42940").await?`), never the actor.
pub struct AdapterHandle<T: ?Sized + Upstream> {
    kept: Kept<Box<T>>,
}

impl<T: ?Sized + Upstream> Clone for AdapterHandle<T> {
    fn clone(&self) -> Self {
        Self {
            kept: self.kept.clone(),
        }
    }
}

impl<T: ?Sized + Upstream> std::fmt::Debug for AdapterHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterHandle")
            .field("upstream", &self.kept.upstream())
            .field("restarts", &self.kept.restarts())
            .finish()
    }
}

/// One operation of an adapter's interface that takes one argument, named as a path
/// (`CardSystem::balance`, `BankSystem::debit`): what [`AdapterHandle::read_with`] and
/// [`AdapterHandle::write_with`] run inside the actor.
pub type Op<T, B, R> = for<'a> fn(&'a T, &'a B) -> BoxFuture<'a, Result<R, AdapterError>>;

/// Margin over the policy's worst case (all attempts and backoffs) for the mailbox deadline,
/// so the policy's own timeout answers first and the mailbox deadline only catches a stuck
/// actor.
const MAILBOX_MARGIN: Duration = Duration::from_millis(500);

impl<T: ?Sized + Upstream> AdapterHandle<T> {
    /// Start the adapter named `upstream` from its config section. `connect` builds the
    /// client: once here, so a configuration that cannot work fails now, then inside the
    /// adapter's own arbiter (docs/rust-dependencies.md 1.2.2) and again after each restart. Call inside the
    /// actix System.
    pub fn start<F>(
        upstream: &'static str,
        cfg: &UpstreamConfig,
        connect: F,
    ) -> Result<Self, AdapterError>
    where
        F: Fn(&UpstreamConfig, Arc<Policy>) -> Result<Box<T>, AdapterError> + Send + Sync + 'static,
    {
        let policy = Arc::new(Policy::new(upstream, cfg));
        connect(cfg, Arc::clone(&policy))?;
        let deadline = policy.worst_case() + MAILBOX_MARGIN;
        let cfg = cfg.clone();
        let builder: Builder<Box<T>> = Arc::new(move || connect(&cfg, Arc::clone(&policy)));
        Self::start_with(upstream, builder, deadline)
    }

    /// Start the adapter whose client is the generic HTTP client under the marker `U` (its
    /// name and its implementation of the interface), seen as the interface by `as_interface`
    /// (`|client| client`: the compiler turns the box into `Box<dyn …>`).
    pub fn start_client<U: UpstreamName>(
        cfg: &UpstreamConfig,
        as_interface: fn(Box<AdapterClient<U>>) -> Box<T>,
    ) -> Result<Self, AdapterError> {
        Self::start(U::UPSTREAM, cfg, move |cfg, policy| {
            AdapterClient::<U>::new(cfg, policy).map(|client| as_interface(Box::new(client)))
        })
    }

    /// Run any implementation of the interface (a fake in tests) behind the actor, keeper
    /// and deadline.
    pub fn start_with(
        upstream: &'static str,
        builder: Builder<Box<T>>,
        deadline: Duration,
    ) -> Result<Self, AdapterError> {
        Ok(Self {
            kept: start_on_own_arbiter(upstream, builder, deadline)?,
        })
    }

    /// An idempotent read: `op(client, args)` runs inside the actor; `args` are copied in
    /// (again if the read is re-sent to a restarted actor).
    pub async fn read<A, R, F>(&self, args: A, op: F) -> Result<R, AdapterError>
    where
        A: Clone + Send + 'static,
        R: Send + 'static,
        F: Fn(Arc<Box<T>>, A) -> LocalFuture<R> + Clone + Send + 'static,
    {
        self.run(true, args, op).await
    }

    /// A write (or any call that must not be repeated): sent once. After a timeout the
    /// outcome is unknown; the caller queries it by its idempotency key.
    pub async fn write<A, R, F>(&self, args: A, op: F) -> Result<R, AdapterError>
    where
        A: Clone + Send + 'static,
        R: Send + 'static,
        F: Fn(Arc<Box<T>>, A) -> LocalFuture<R> + Clone + Send + 'static,
    {
        self.run(false, args, op).await
    }

    /// [`Self::read`] of one interface operation on `args`:
    /// `self.read_with(account.to_owned(), CardSystem::balance)`.
    pub async fn read_with<A, B, R>(&self, args: A, op: Op<T, B, R>) -> Result<R, AdapterError>
    where
        A: Borrow<B> + Clone + Send + 'static,
        B: ?Sized + 'static,
        R: Send + 'static,
    {
        self.run(true, args, call(op)).await
    }

    /// [`Self::write`] of one interface operation on `args`:
    /// `self.write_with(req.clone(), BankSystem::debit)`.
    pub async fn write_with<A, B, R>(&self, args: A, op: Op<T, B, R>) -> Result<R, AdapterError>
    where
        A: Borrow<B> + Clone + Send + 'static,
        B: ?Sized + 'static,
        R: Send + 'static,
    {
        self.run(false, args, call(op)).await
    }

    async fn run<A, R, F>(&self, idempotent: bool, args: A, op: F) -> Result<R, AdapterError>
    where
        A: Clone + Send + 'static,
        R: Send + 'static,
        F: Fn(Arc<Box<T>>, A) -> LocalFuture<R> + Clone + Send + 'static,
    {
        self.kept
            .invoke(idempotent, move |client: Arc<Box<T>>| {
                op(client, args.clone())
            })
            .await
    }

    /// Health through the actor, so a dead actor shows as unhealthy.
    pub async fn health(&self) -> Health {
        let upstream = self.kept.upstream();
        self.read((), |c: Arc<Box<T>>, ()| {
            boxed(async move { Ok(c.health().await) })
        })
        .await
        .unwrap_or_else(|e| Health {
            upstream,
            ok: false,
            breaker: "unknown",
            detail: e.outcome().to_owned(),
            latency_ms: 0,
        })
    }

    /// The upstream's name in metrics and logs.
    pub fn upstream(&self) -> &'static str {
        self.kept.upstream()
    }

    /// Restarts performed by the keeper since start.
    pub fn restarts(&self) -> u64 {
        self.kept.restarts()
    }

    /// Stop the adapter's arbiter (orderly shutdown, tests). Later calls fail with
    /// `Unavailable(ActorDown)`.
    pub fn stop(&self) {
        self.kept.stop();
    }
}

/// `op` as the closure [`AdapterHandle::run`] sends into the actor: called on the actor's
/// client with the copied-in arguments.
fn call<T, A, B, R>(
    op: Op<T, B, R>,
) -> impl Fn(Arc<Box<T>>, A) -> LocalFuture<R> + Clone + Send + 'static
where
    T: ?Sized + Upstream,
    A: Borrow<B> + 'static,
    B: ?Sized + 'static,
    R: 'static,
{
    move |client: Arc<Box<T>>, args: A| boxed(async move { op(&**client, args.borrow()).await })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::FutureExt;

    use super::*;
    use crate::adapters::Unavailable;

    impl<T: ?Sized + Upstream> AdapterHandle<T> {
        /// `builder`'s implementation behind the actor, with a keeper that never checks
        /// during a test: an actor killed by [`Self::kill_actor`] comes back only when a call
        /// finds it dead, so that call is the one that restarts it (and is re-sent or not).
        pub(crate) fn start_with_idle_keeper(
            upstream: &'static str,
            builder: Builder<Box<T>>,
        ) -> Self {
            let arbiter = actix_rt::Arbiter::new();
            let deadline = Duration::from_secs(30);
            let never = Duration::from_secs(24 * 3600);
            Self {
                kept: Kept::start(upstream, arbiter.handle(), builder, deadline, 16, never),
            }
        }

        /// Kill the actor as a panic in its handler does; returns once it is dead.
        pub(crate) async fn kill_actor(&self) {
            self.kept.kill().await;
        }
    }

    /// A one-operation interface, as a new adapter would declare it.
    trait Echo: Upstream {
        fn echo<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<String, AdapterError>>;
    }

    /// Answers every call, counting them.
    struct FakeEcho {
        calls: Arc<AtomicUsize>,
    }

    impl Upstream for FakeEcho {
        fn health(&self) -> BoxFuture<'_, Health> {
            async {
                Health {
                    upstream: "echo",
                    ok: true,
                    breaker: "closed",
                    detail: String::new(),
                    latency_ms: 0,
                }
            }
            .boxed()
        }
    }

    impl Echo for FakeEcho {
        fn echo<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<String, AdapterError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(format!("echo: {text}")) }.boxed()
        }
    }

    /// Builds a [`FakeEcho`] (again after each restart) counting into `calls`.
    fn echo_builder(calls: &Arc<AtomicUsize>) -> Builder<Box<dyn Echo>> {
        let calls = Arc::clone(calls);
        Arc::new(move || {
            let calls = Arc::clone(&calls);
            Ok(Box::new(FakeEcho { calls }) as Box<dyn Echo>)
        })
    }

    fn start_echo() -> AdapterHandle<dyn Echo> {
        let builder = echo_builder(&Arc::default());
        AdapterHandle::start_with("echo", builder, Duration::from_secs(5)).unwrap()
    }

    #[actix_rt::test]
    async fn a_typed_call_runs_inside_the_actor_and_health_goes_through_it() {
        let echo = start_echo();
        let answer = echo
            .read("你好".to_owned(), |c: Arc<Box<dyn Echo>>, text| {
                boxed(async move { c.echo(&text).await })
            })
            .await;
        assert_eq!(answer, Ok("echo: 你好".to_owned()));
        assert!(echo.health().await.ok);
        assert_eq!(
            format!("{echo:?}"),
            r#"AdapterHandle { upstream: "echo", restarts: 0 }"#
        );
        echo.stop();
    }

    #[actix_rt::test]
    async fn a_stopped_adapter_reports_unhealthy_under_its_own_name() {
        let echo = start_echo();
        echo.stop();
        let health = echo.health().await;
        assert_eq!(
            (health.upstream, health.ok, health.detail.as_str()),
            ("echo", false, "unavailable")
        );
    }

    /// A call that finds the actor dead restarts it; a read is then sent to the new actor,
    /// a write is not (it comes back `ActorDown`, to be queried by its key). The same for
    /// each of the four ways a typed method calls.
    #[actix_rt::test]
    async fn after_the_actor_died_only_reads_are_sent_to_the_new_one() {
        let calls = Arc::new(AtomicUsize::new(0));
        let echo = AdapterHandle::start_with_idle_keeper("echo", echo_builder(&calls));
        let by_closure =
            |c: Arc<Box<dyn Echo>>, text: String| boxed(async move { c.echo(&text).await });
        let mut seen = Vec::new();
        echo.kill_actor().await;
        let answer = echo.read("a".to_owned(), by_closure).await;
        seen.push(("read", answer, calls.swap(0, Ordering::SeqCst)));
        echo.kill_actor().await;
        let answer = echo.read_with("b".to_owned(), Echo::echo).await;
        seen.push(("read_with", answer, calls.swap(0, Ordering::SeqCst)));
        echo.kill_actor().await;
        let answer = echo.write("c".to_owned(), by_closure).await;
        seen.push(("write", answer, calls.swap(0, Ordering::SeqCst)));
        echo.kill_actor().await;
        let answer = echo.write_with("d".to_owned(), Echo::echo).await;
        seen.push(("write_with", answer, calls.swap(0, Ordering::SeqCst)));
        let actor_down = Err(AdapterError::Unavailable(Unavailable::ActorDown));
        assert_eq!(
            seen,
            [
                ("read", Ok("echo: a".to_owned()), 1),
                ("read_with", Ok("echo: b".to_owned()), 1),
                ("write", actor_down.clone(), 0),
                ("write_with", actor_down, 0),
            ]
        );
        assert_eq!(echo.restarts(), 4);
        echo.stop();
    }
}
