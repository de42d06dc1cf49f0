//! The order worker: claims due tasks from the orders store with a lease and dispatches each by
//! the order's kind, then settles the task (ack, retry after a backoff, or put back uncounted).
//!
//! Runs from start-up (`serve` and `demo`) for the life of the process. Resuming after a
//! restart needs no separate pass: every unfinished order has a queued task (the store writes
//! it in the same atomic unit as the state change), and a task the dead process had claimed is
//! claimable again when its lease runs out. The worker wakes on a short poll, or at once when
//! [`WorkerHandle::wake`] is called (an order was just created).
//!
//! It claims only the kinds it has a machine for, so a task of another kind stays queued as it
//! was, for the process that drives it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::Notify;

use super::notices::OrderNotices;
use super::topup::TopUpMachine;
use super::{After, OrderError};
use crate::actors::payments::PaymentMachine;
use crate::store::orders::{Claim, KindTag, OrderKind, OrderStore, OrderTask};

/// How the worker claims and retries.
#[derive(Clone, Debug)]
pub struct WorkerPolicy {
    /// A claimed task is this worker's for this long; then anyone may claim it again. Longer
    /// than the slowest step (a query and a send, each within the upstream timeout).
    pub lease: Duration,
    /// Tasks claimed (and worked on concurrently) per round.
    pub batch: usize,
    /// How often to look for due tasks when nothing woke the worker.
    pub poll: Duration,
    /// First delay before a retry; doubles per attempt, capped at 32×.
    pub backoff_base: Duration,
}

impl Default for WorkerPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            batch: 32,
            poll: Duration::from_millis(200),
            backoff_base: Duration::from_secs(2),
        }
    }
}

/// Claims and dispatches order tasks. Cheap to clone.
#[derive(Clone)]
pub struct OrderWorker<S: OrderStore> {
    store: S,
    /// `None` where no bank is configured: top-up tasks then stay queued.
    topup: Option<TopUpMachine<S>>,
    /// `None` where no billers are configured: payment tasks then stay queued.
    payments: Option<PaymentMachine<S>>,
    notices: Arc<dyn OrderNotices>,
    policy: WorkerPolicy,
}

impl<S: OrderStore> OrderWorker<S> {
    pub fn new(
        store: S,
        topup: Option<TopUpMachine<S>>,
        notices: Arc<dyn OrderNotices>,
        policy: WorkerPolicy,
    ) -> Self {
        Self {
            store,
            topup,
            payments: None,
            notices,
            policy,
        }
    }

    /// Drive payment orders too.
    pub fn with_payments(mut self, payments: PaymentMachine<S>) -> Self {
        self.payments = Some(payments);
        self
    }

    /// The kinds this worker drives; tasks of other kinds are never claimed.
    fn kinds(&self) -> Vec<KindTag> {
        let mut kinds = Vec::new();
        if self.topup.is_some() {
            kinds.push(KindTag::TopUp);
        }
        if self.payments.is_some() {
            kinds.push(KindTag::Payment);
        }
        kinds
    }

    /// Claim due tasks and take one step on each (concurrently). Returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, OrderError> {
        let kinds = self.kinds();
        if kinds.is_empty() {
            return Ok(0);
        }
        let claims = self
            .store
            .claim_kinds(&kinds, self.policy.lease, self.policy.batch)
            .await?;
        let results = join_all(claims.iter().map(|claim| self.handle(claim))).await;
        for result in results {
            result?;
        }
        Ok(claims.len())
    }

    async fn handle(&self, claim: &Claim) -> Result<(), OrderError> {
        let Some(order) = self.store.get(&claim.order_id).await? else {
            tracing::warn!(order = %claim.order_id, "task of a missing order dropped");
            self.store.ack(claim).await?;
            return Ok(());
        };
        let after = match (&order.kind, claim.task) {
            (OrderKind::TopUp, OrderTask::Advance) => match &self.topup {
                Some(machine) => machine.advance(claim, &order).await?,
                None => After::NotSent,
            },
            (OrderKind::Payment { .. }, OrderTask::Advance) => match &self.payments {
                Some(machine) => machine.advance(claim, &order).await?,
                None => After::NotSent,
            },
            (OrderKind::TopUp | OrderKind::Payment { .. }, OrderTask::NotifyUser) => {
                self.notices.tell(&order).await
            }
        };
        match after {
            After::Ack => self.store.ack(claim).await?,
            After::Backoff => {
                self.store
                    .retry_later(claim, self.backoff(claim.attempt))
                    .await?
            }
            After::NotSent => {
                self.store
                    .put_back(claim, self.backoff(claim.attempt))
                    .await?
            }
        };
        Ok(())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.policy.backoff_base * 2u32.pow(attempt.clamp(1, 6) - 1)
    }

    /// Run rounds until the process ends, on the current actix/tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let wake = Arc::new(Notify::new());
        let handle = WorkerHandle { wake: wake.clone() };
        actix_rt::spawn(async move {
            match self.store.list_unfinished().await {
                Ok(open) if !open.is_empty() => {
                    tracing::info!(orders = open.len(), "resuming unfinished orders")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot list unfinished orders"),
            }
            loop {
                let handled = match self.run_once().await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::error!(error = %e, "order round failed; trying again");
                        0
                    }
                };
                if handled == 0 {
                    let _ = tokio::time::timeout(self.policy.poll, wake.notified()).await;
                }
            }
        });
        handle
    }
}

/// Wakes the running worker (an order was created and its first step is due now).
#[derive(Clone, Debug, Default)]
pub struct WorkerHandle {
    wake: Arc<Notify>,
}

impl WorkerHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
