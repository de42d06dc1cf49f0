//! Orders in motion: the worker that claims order tasks from the store and the machines that
//! take each order one step at a time.
//!
//! Why it exists: an order's next step is a task in the store's outbox (written in the same
//! atomic unit as the state change that asked for it), so the only thing that moves money is
//! this worker claiming tasks with a lease. A crash loses nothing: the lease runs out and the
//! task is claimed again, by this process after a restart or by another node. It owns the
//! dispatch by [`OrderKind`](crate::store::orders::OrderKind), the retry and backoff policy,
//! and telling the user how an order ended.
//!
//! It must never claim a task of a kind no running machine drives (such tasks stay queued,
//! untouched), never count an attempt when nothing was sent, and never log a student number
//! or a bank card.
//!
//! - [`topup`]: the top-up machine (bank debit → 圈存).
//! - [`worker`]: the claim loop and the dispatch.
//! - [`notices`]: the user's notice, durable through the pusher's outbox.

pub mod notices;
#[cfg(test)]
pub(crate) mod test_support;
pub mod topup;
pub mod worker;

use crate::adapters::{AdapterError, Unavailable};
use crate::store::StoreError;
use crate::store::orders::{Order, OrderState, OrderStore, OrderTask, Transition, Transitioned};

pub use notices::{ChatNotices, OrderNotices};
pub use topup::{ServiceHours, TopUpMachine, TopUpPolicy, TopUpSettings};
pub use worker::{OrderWorker, WorkerHandle, WorkerPolicy};

/// Why a round could not run (the store failed). Upstream failures are not errors here: they
/// are outcomes the machines handle.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("orders store: {0}")]
    Store(#[from] StoreError),
}

/// What to do with the claimed task after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Finished with this task (a next step, if any, was queued with the transition).
    Ack,
    /// Sent, outcome unknown or failed in passing: try again after a backoff; the attempt
    /// counts towards giving up.
    Backoff,
    /// Nothing was sent (breaker open, our own limiter, no free slot): try again after a
    /// backoff without counting an attempt.
    NotSent,
}

/// Worth trying again: the upstream may answer differently later.
pub(crate) fn transient(e: &AdapterError) -> bool {
    match e {
        AdapterError::Timeout
        | AdapterError::Unavailable(_)
        | AdapterError::RateLimited(_)
        | AdapterError::Saturated
        // a protocol or configuration fault is fixed by a person, then the order goes on
        | AdapterError::Protocol(_)
        | AdapterError::Config(_) => true,
        AdapterError::Rejected { .. } => false,
    }
}

/// The call never left this process (or was refused before the upstream did anything), so it
/// is no attempt: an open breaker must not use up an order's retries.
pub(crate) fn nothing_sent(e: &AdapterError) -> bool {
    match e {
        AdapterError::Unavailable(Unavailable::BreakerOpen | Unavailable::Connect)
        | AdapterError::RateLimited(_)
        | AdapterError::Saturated => true,
        AdapterError::Unavailable(
            Unavailable::Status(_)
            | Unavailable::Transport
            | Unavailable::Busy(_)
            | Unavailable::ActorDown,
        )
        | AdapterError::Timeout
        | AdapterError::Rejected { .. }
        | AdapterError::Protocol(_)
        | AdapterError::Config(_) => false,
    }
}

/// A failed call in a machine's terms: put back (nothing was sent, so no attempt), back off
/// (worth another attempt, and `exhausted` says none is left), or `None` = give up.
pub(crate) fn after_failure(e: &AdapterError, exhausted: bool) -> Option<After> {
    if nothing_sent(e) {
        Some(After::NotSent)
    } else if transient(e) && !exhausted {
        Some(After::Backoff)
    } else {
        None
    }
}

/// What the order machines do alike, over the store each holds: persist a transition together
/// with the task that follows it.
pub(crate) trait Transitions {
    type Store: OrderStore;

    fn store(&self) -> &Self::Store;

    /// Persist `from → to` and queue the next step, or the user's notice when `to` ends the
    /// order. A transition someone else already made is logged, not an error: the task is done.
    async fn step(
        &self,
        order: &Order,
        from: OrderState,
        to: OrderState,
        detail: Option<String>,
    ) -> Result<After, OrderError> {
        let next = if to.is_terminal() {
            OrderTask::NotifyUser
        } else {
            OrderTask::Advance
        };
        let mut change = Transition::new(from, to).then(next);
        change.detail = detail;
        match self.store().transition(&order.id, change).await? {
            Transitioned::Applied(_) | Transitioned::AlreadyApplied(_) => {}
            Transitioned::Conflict { current } => {
                let kind = order.kind.tag();
                tracing::warn!(order = %order.id, ?kind, ?from, ?to, ?current, "order moved by someone else");
            }
        }
        Ok(After::Ack)
    }

    /// `debiting → debited`: the debit went through, as its answer or a query of its key says.
    async fn debited(&self, order: &Order) -> Result<After, OrderError> {
        self.step(order, OrderState::Debiting, OrderState::Debited, None)
            .await
    }

    /// `debiting → failed`, saying why: the payer's side refused the debit; nothing was taken.
    async fn debit_refused(&self, order: &Order, why: String) -> Result<After, OrderError> {
        self.step(order, OrderState::Debiting, OrderState::Failed, Some(why))
            .await
    }

    /// `crediting → reversing`, saying why: the credit will not happen, so the debit goes back.
    async fn give_up_credit(&self, order: &Order, why: String) -> Result<After, OrderError> {
        let (from, to) = (OrderState::Crediting, OrderState::Reversing);
        self.step(order, from, to, Some(why)).await
    }

    /// `from → needs_manual`, saying why: the order waits for a person.
    async fn to_a_person(
        &self,
        order: &Order,
        from: OrderState,
        why: String,
    ) -> Result<After, OrderError> {
        self.step(order, from, OrderState::NeedsManual, Some(why))
            .await
    }

    /// A debit whose outcome is still unknown at its `attempt`-th attempt: back off and ask
    /// again, or, once `attempts` are spent, settle it by `debiting → settle` with the detail
    /// "`what` after N attempts" (a top-up reverses by key; a payment waits for a person).
    async fn debit_unresolved(
        &self,
        order: &Order,
        attempt: u32,
        attempts: u32,
        what: &str,
        settle: OrderState,
    ) -> Result<After, OrderError> {
        if attempt >= attempts {
            let why = format!("{what} after {attempt} attempts");
            self.step(order, OrderState::Debiting, settle, Some(why))
                .await
        } else {
            Ok(After::Backoff)
        }
    }
}

/// An upstream's answer in operator terms: `code 5101`, `timeout`, …
pub(crate) fn code_of(e: &AdapterError) -> String {
    match e {
        AdapterError::Rejected { code, .. } => format!("code {code}"),
        other => other.outcome().to_owned(),
    }
}

/// Why a card trade failed, as a query by key reports it: worded like [`code_of`].
pub(crate) fn trade_failure(status: &crate::wire::TradeStatus) -> String {
    status
        .error_code
        .map_or("failed".to_owned(), |c| format!("code {c}"))
}

/// `[orders]`: how the worker claims and retries, and each machine's policy.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersSettings {
    /// A claimed task is the worker's for this long (then another worker, or this one after a
    /// restart, takes it over). Must exceed the slowest step: two upstream calls.
    pub lease_secs: u64,
    /// First delay before a retry; doubles per attempt up to 32×.
    pub backoff_base_ms: u64,
    /// How often the worker looks for due tasks when not woken.
    pub poll_ms: u64,
    /// Tasks worked on concurrently per round.
    pub batch: usize,
    /// `[orders.topup]`: limits, the 圈存 service window and the top-up machine's retries.
    pub topup: TopUpSettings,
    /// Payments: attempts at a card debit whose outcome stays unknown before the order waits
    /// for a person.
    pub payment_debit_attempts: u32,
    /// Payments: sends to the biller that may fail (or that it never saw) before the card
    /// debit is refunded.
    pub payment_credit_attempts: u32,
    /// Payments: refund attempts before the order waits for a person.
    pub payment_refund_attempts: u32,
    /// Payments: an accepted payment the biller has not completed (or cannot be asked about)
    /// this long after it was sent waits for a person.
    pub payment_unresolved_secs: u64,
}

impl Default for OrdersSettings {
    fn default() -> Self {
        let worker = WorkerPolicy::default();
        let payment = crate::actors::payments::PaymentPolicy::default();
        Self {
            lease_secs: worker.lease.as_secs(),
            backoff_base_ms: worker.backoff_base.as_millis() as u64,
            poll_ms: worker.poll.as_millis() as u64,
            batch: worker.batch,
            topup: TopUpSettings::default(),
            payment_debit_attempts: payment.debit_attempts,
            payment_credit_attempts: payment.credit_attempts,
            payment_refund_attempts: payment.refund_attempts,
            payment_unresolved_secs: payment.unresolved_after.as_secs(),
        }
    }
}

impl OrdersSettings {
    pub fn worker_policy(&self) -> WorkerPolicy {
        WorkerPolicy {
            lease: std::time::Duration::from_secs(self.lease_secs.max(1)),
            batch: self.batch.max(1),
            poll: std::time::Duration::from_millis(self.poll_ms.max(10)),
            backoff_base: std::time::Duration::from_millis(self.backoff_base_ms.max(1)),
        }
    }

    pub fn payment_policy(&self) -> crate::actors::payments::PaymentPolicy {
        crate::actors::payments::PaymentPolicy {
            debit_attempts: self.payment_debit_attempts.max(1),
            credit_attempts: self.payment_credit_attempts.max(1),
            refund_attempts: self.payment_refund_attempts.max(1),
            unresolved_after: std::time::Duration::from_secs(self.payment_unresolved_secs.max(1)),
        }
    }
}
