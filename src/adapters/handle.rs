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
    use futures_util::FutureExt;

    use super::*;

    /// A one-operation interface, as a new adapter would declare it.
    trait Echo: Upstream {
        fn echo<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<String, AdapterError>>;
    }

    struct FakeEcho;

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
            async move { Ok(format!("echo: {text}")) }.boxed()
        }
    }

    fn start_echo() -> AdapterHandle<dyn Echo> {
        let builder: Builder<Box<dyn Echo>> = Arc::new(|| Ok(Box::new(FakeEcho) as Box<dyn Echo>));
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
}
