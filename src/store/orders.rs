//! Orders: every top-up and payment as a durable record with an explicit state, and the
//! boundary a second storage backend implements.
//!
//! Why it exists: money must never be lost or doubled, so an order's state is persisted (and
//! on disk) before each external call, a 「确认」 retried by WeChat creates one order, and two
//! workers can never both move the same order. This module owns the order record, its states,
//! and [`OrderStore`]: async methods, **each one atomic unit** — create with an idempotency
//! key, a compare-and-set transition, an outbox claimed with a lease and acknowledged, the list
//! of unfinished orders. It is deliberately not a key-value API, so a backend on a replicated
//! SQL database can implement it with `INSERT … ON CONFLICT`, `UPDATE … WHERE state = $from`
//! and `SELECT … FOR UPDATE SKIP LOCKED` without touching callers. [`super::orders_sled`] is
//! today's implementation; `orders_contract` is the test suite every implementation passes.
//!
//! It must never call an upstream, never decide what a state means for the user, and never
//! return from a state change before the change is durable.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{Fen, OpenId, OrderId, StudentId};

/// Where an order is. Non-terminal states are resumed after a restart; terminal ones never
/// change again. The same states serve top-ups and payments: the debit is the bank (top-up)
/// or the card e-wallet (payment), the credit is the card's 过渡余额 (top-up) or the biller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Persisted, nothing sent anywhere yet.
    Created,
    /// The debit may have been sent: its outcome is known only by querying its key.
    Debiting,
    /// The source confirmed the debit.
    Debited,
    /// The credit may have been sent (or was accepted and completes later).
    Crediting,
    /// Top-ups that claim automatically: the 圈存 succeeded and the claim of 过渡余额 (领款)
    /// may have been sent. The money has arrived; only where it sits on the card is open.
    Claiming,
    /// Terminal: the money arrived.
    Succeeded,
    /// Terminal: refused before any money moved (or the debit was refused).
    Failed,
    /// The reversal of the debit may have been sent.
    Reversing,
    /// Terminal: the debit was undone; the user has their money back.
    Reversed,
    /// Terminal for the machine: a person must look at it (e.g. the reversal failed).
    NeedsManual,
}

impl OrderState {
    /// Nothing will move this order again without a person.
    pub fn is_terminal(self) -> bool {
        match self {
            OrderState::Succeeded
            | OrderState::Failed
            | OrderState::Reversed
            | OrderState::NeedsManual => true,
            OrderState::Created
            | OrderState::Debiting
            | OrderState::Debited
            | OrderState::Crediting
            | OrderState::Claiming
            | OrderState::Reversing => false,
        }
    }
}

/// What the order buys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderKind {
    /// 校园卡充值: bank → card.
    TopUp,
    /// 自助缴费: card e-wallet → a biller.
    Payment {
        biller_id: String,
        target_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        receivable_ids: Vec<String>,
        /// What the payer sends with it (a donor's message), passed to the biller as is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// [`OrderKind`] without its details: what a worker says it can drive when it claims tasks,
/// so tasks of kinds no running code handles stay queued instead of being claimed and lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindTag {
    TopUp,
    Payment,
}

impl OrderKind {
    pub fn tag(&self) -> KindTag {
        match self {
            OrderKind::TopUp => KindTag::TopUp,
            OrderKind::Payment { .. } => KindTag::Payment,
        }
    }
}

/// An order as the caller asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub id: OrderId,
    /// What makes a repeat the same order: e.g. the user's openid plus the WeChat message
    /// that confirmed it, so a redelivered or replayed 「确认」 finds this order again.
    pub idempotency_key: String,
    pub kind: OrderKind,
    pub openid: OpenId,
    pub sno: StudentId,
    /// The card account (账号) the money comes from or goes to.
    pub account: String,
    pub amount: Fen,
}

/// One state change, kept on the order so an operator sees its whole story.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub from: OrderState,
    pub to: OrderState,
    pub at_ms: i64,
    /// Why, in operator terms (an upstream code, "bank answer lost"); never personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The stored order: what was asked for and how far it got. The request is flattened, so the
/// stored JSON keeps one level, and the order derefs to it, so readers write `order.amount`.
/// Name `order.placed` only to take a field out of an owned order (`o.placed.id` moves the
/// id, which a deref cannot) or to hand on the whole request; otherwise read through the deref.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    #[serde(flatten)]
    pub placed: NewOrder,
    pub state: OrderState,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub history: Vec<StateChange>,
}

impl std::ops::Deref for Order {
    type Target = NewOrder;
    fn deref(&self) -> &NewOrder {
        &self.placed
    }
}

impl Order {
    /// The record a [`NewOrder`] becomes, in state [`OrderState::Created`].
    pub fn new(placed: NewOrder, now_ms: i64) -> Self {
        Self {
            placed,
            state: OrderState::Created,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            history: Vec::new(),
        }
    }
}

/// What to do with an order once a change is durable: written in the same atomic unit as
/// the change, so a crash between the two cannot lose the follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderTask {
    /// Take the order's next step (or find out how the last one ended).
    Advance,
    /// Tell the user how the order ended.
    NotifyUser,
}

impl OrderTask {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderTask::Advance => "advance",
            OrderTask::NotifyUser => "notify_user",
        }
    }
}

/// A compare-and-set on an order's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: OrderState,
    pub to: OrderState,
    pub detail: Option<String>,
    /// Queued in the same atomic unit when the change applies. An order has at most one
    /// pending task of each kind; queuing one again replaces it.
    pub then: Option<OrderTask>,
}

impl Transition {
    pub fn new(from: OrderState, to: OrderState) -> Self {
        Self {
            from,
            to,
            detail: None,
            then: None,
        }
    }

    pub fn because(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn then(mut self, task: OrderTask) -> Self {
        self.then = Some(task);
        self
    }
}

/// The answer to [`OrderStore::create`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// A new order, durable.
    Created(Order),
    /// The key was seen before: the order it created then, whatever state it is in now. The
    /// caller compares amounts if a repeat could differ.
    Existing(Order),
}

impl Created {
    pub fn order(&self) -> &Order {
        match self {
            Created::Created(o) | Created::Existing(o) => o,
        }
    }
}

/// The answer to [`OrderStore::transition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transitioned {
    /// The order was in `from` and is now in `to`, durably; the task (if any) is queued.
    Applied(Order),
    /// The order is already in `to` (a replay of the same step): nothing changed.
    AlreadyApplied(Order),
    /// The order is in another state: someone else moved it. Nothing changed.
    Conflict { current: OrderState },
}

/// A claimed task: the claimer owns it until `lease_until_ms`, then anyone may claim it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub order_id: OrderId,
    pub task: OrderTask,
    /// 1 for the first claim of this task, 2 after one lease expired or a retry, …
    pub attempt: u32,
    pub lease_until_ms: i64,
    /// Proves ownership to [`OrderStore::ack`]: a claimer whose lease expired and was taken
    /// over cannot acknowledge the new owner's work.
    pub token: u64,
}

/// The answer to [`OrderStore::ack`] and [`OrderStore::retry_later`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acked {
    Done,
    /// The lease expired and someone else claimed the task (or it is gone): this claimer
    /// must stop; the new owner carries on.
    LeaseLost,
}

/// Time as the store sees it, in Unix milliseconds: the system clock in production, a
/// hand-moved clock in tests, so lease expiry is tested without sleeping.
pub trait OrderClock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl OrderClock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn starting_at(now_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            now_ms: AtomicI64::new(now_ms),
        })
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl OrderClock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// The orders repository. Every method is one atomic unit; every method that changes
/// something returns only once the change is durable. Implemented by
/// [`super::orders_sled::SledOrders`]; a replicated-database backend implements the same
/// trait and passes the same contract suite.
pub trait OrderStore: Clone + Send + Sync + 'static {
    /// Create the order unless its idempotency key exists; then return that order instead.
    /// `then` is queued with a new order (normally [`OrderTask::Advance`]).
    fn create(
        &self,
        order: NewOrder,
        then: Option<OrderTask>,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;

    fn get(&self, id: &OrderId) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    fn find_by_key(
        &self,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Move the order from `change.from` to `change.to` if, and only if, it is in `from`.
    /// `Err(OrderNotFound)` for an unknown id.
    fn transition(
        &self,
        id: &OrderId,
        change: Transition,
    ) -> impl Future<Output = Result<Transitioned, StoreError>> + Send;

    /// The orders of one user created at or after `since_ms`, oldest first: what per-day
    /// limits count and what the user's own list shows.
    fn list_for_user(
        &self,
        openid: &OpenId,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;

    /// Every order of one card holder (学工号), oldest first: what the service desk looks up
    /// for a student standing in front of it. A scan in this backend; an operator tool, not a
    /// request path.
    fn list_for_student(
        &self,
        sno: &StudentId,
    ) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;

    /// Every order in `state`, oldest first: the manual queue (`needs_manual`) and operators'
    /// lists. A scan in this backend; an operator tool, not a request path.
    fn list_in_state(
        &self,
        state: OrderState,
    ) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;

    /// Every order not in a terminal state, oldest first: what start-up resumes.
    fn list_unfinished(&self) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;

    /// Every order created in `[from_ms, to_ms)`, oldest first: one campus day's orders for
    /// reconciliation.
    fn list_created_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;

    /// Claim up to `limit` due tasks whose lease is free or expired, each for `lease`. Each
    /// task is claimed atomically: two concurrent claimers never get the same task.
    fn claim(
        &self,
        lease: Duration,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Claim>, StoreError>> + Send;

    /// [`Self::claim`], but only tasks of orders whose kind is in `kinds` (a task whose order
    /// is missing is claimable too, so it can be cleared). Tasks of other kinds are left
    /// untouched: not claimed, their attempt count unchanged.
    fn claim_kinds(
        &self,
        kinds: &[KindTag],
        lease: Duration,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Claim>, StoreError>> + Send;

    /// The claimed work is done: remove the task, if the claim still owns it.
    fn ack(&self, claim: &Claim) -> impl Future<Output = Result<Acked, StoreError>> + Send;

    /// The claimed work must be tried again after `delay` (backoff): release the lease and
    /// make the task due then, if the claim still owns it.
    fn retry_later(
        &self,
        claim: &Claim,
        delay: Duration,
    ) -> impl Future<Output = Result<Acked, StoreError>> + Send;

    /// Like [`Self::retry_later`], but the claim does not count as an attempt: nothing was
    /// sent (the upstream's breaker was open, our own limiter said wait), so the next claim
    /// has the same `attempt` this one had.
    fn put_back(
        &self,
        claim: &Claim,
        delay: Duration,
    ) -> impl Future<Output = Result<Acked, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Orders already on disk are one flat JSON object (the request's fields beside the
    /// state), and a stored order reads back as it was.
    #[test]
    fn an_order_is_stored_as_one_flat_json_object() {
        let placed = NewOrder {
            id: OrderId::parse("O20261202ABCDEFGHJKMN").unwrap(),
            idempotency_key: "wx-1".to_owned(),
            kind: OrderKind::TopUp,
            openid: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
            sno: StudentId::parse("2024000001").unwrap(),
            account: "20001".to_owned(),
            amount: Fen(5_000),
        };
        let order = Order::new(placed, 1_764_000_000_000);
        let stored = serde_json::to_value(&order).unwrap();
        assert_eq!(
            stored,
            json!({
                "id": "O20261202ABCDEFGHJKMN",
                "idempotency_key": "wx-1",
                "kind": {"type": "top_up"},
                "openid": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
                "sno": "2024000001",
                "account": "20001",
                "amount": 5000,
                "state": "created",
                "created_at_ms": 1_764_000_000_000_i64,
                "updated_at_ms": 1_764_000_000_000_i64,
                "history": [],
            })
        );
        assert_eq!(serde_json::from_value::<Order>(stored).unwrap(), order);
    }

    /// A payment's details sit inside `kind`, beside its tag, and the ones it may leave out
    /// read back as empty: serde's defaults inside an internally tagged enum that is itself
    /// inside a flattened struct.
    #[test]
    fn a_payment_keeps_its_details_inside_its_kind_and_may_omit_the_optional_ones() {
        let placed = NewOrder {
            id: OrderId::parse("O20261202ABCDEFGHJKMP").unwrap(),
            idempotency_key: "wx-2".to_owned(),
            kind: OrderKind::Payment {
                biller_id: "ELEC".to_owned(),
                target_id: "A1-203".to_owned(),
                receivable_ids: vec!["R1".to_owned(), "R2".to_owned()],
                note: Some("感谢母校".to_owned()),
            },
            openid: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
            sno: StudentId::parse("2024000001").unwrap(),
            account: "20001".to_owned(),
            amount: Fen(12_345),
        };
        let mut order = Order::new(placed, 1_764_000_000_000);
        order.state = OrderState::Debiting;
        order.updated_at_ms = 1_764_000_000_001;
        order.history.push(StateChange {
            from: OrderState::Created,
            to: OrderState::Debiting,
            at_ms: 1_764_000_000_001,
            detail: None,
        });
        let stored = serde_json::to_value(&order).unwrap();
        assert_eq!(
            stored,
            json!({
                "id": "O20261202ABCDEFGHJKMP",
                "idempotency_key": "wx-2",
                "kind": {
                    "type": "payment",
                    "biller_id": "ELEC",
                    "target_id": "A1-203",
                    "receivable_ids": ["R1", "R2"],
                    "note": "感谢母校",
                },
                "openid": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
                "sno": "2024000001",
                "account": "20001",
                "amount": 12345,
                "state": "debiting",
                "created_at_ms": 1_764_000_000_000_i64,
                "updated_at_ms": 1_764_000_000_001_i64,
                "history": [{"from": "created", "to": "debiting", "at_ms": 1_764_000_000_001_i64}],
            })
        );
        assert_eq!(
            serde_json::from_value::<Order>(stored.clone()).unwrap(),
            order
        );

        let mut without_details = stored;
        let kind = without_details["kind"].as_object_mut().unwrap();
        kind.remove("receivable_ids");
        kind.remove("note");
        let read = serde_json::from_value::<Order>(without_details).unwrap();
        assert_eq!(
            read.kind,
            OrderKind::Payment {
                biller_id: "ELEC".to_owned(),
                target_id: "A1-203".to_owned(),
                receivable_ids: Vec::new(),
                note: None,
            }
        );
    }
}
