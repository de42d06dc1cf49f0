//! [`OrderStore`] on sled: each method is one sled transaction (or one compare-and-swap per
//! claimed task), followed by `flush_async` before it returns, so an acknowledged change
//! survives a process kill.
//!
//! Four trees:
//! - `orders`: order id → the order (JSON).
//! - `order_keys`: idempotency key → order id; the create transaction checks it.
//! - `orders_open`: created-at (big-endian ms) + order id → nothing; the unfinished orders in
//!   creation order, so start-up does not scan finished ones.
//! - `order_tasks`: `{order id}/{task}` → the queued task with its lease (JSON).
//! - `orders_by_user`: openid, 0, created-at (big-endian ms), order id → nothing; one user's
//!   orders in creation order (per-day limits).
//!
//! Transaction closures only read and write these trees (sled may run a closure more than
//! once); ids, tokens and the time are taken before or after, never inside.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::orders::{
    Acked, Claim, Created, KindTag, NewOrder, Order, OrderClock, OrderStore, OrderTask,
    StateChange, Transition, Transitioned,
};
use super::{StoreError, from_json, to_json};
use crate::domain::OrderId;

/// The sled-backed orders repository. Cheap to clone.
#[derive(Clone)]
pub struct SledOrders {
    db: sled::Db,
    orders: sled::Tree,
    keys: sled::Tree,
    open: sled::Tree,
    tasks: sled::Tree,
    by_user: sled::Tree,
    clock: Arc<dyn OrderClock>,
}

impl std::fmt::Debug for SledOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledOrders")
            .field("orders", &self.orders.len())
            .field("open", &self.open.len())
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

/// A queued task as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StoredTask {
    order_id: OrderId,
    task: OrderTask,
    due_at_ms: i64,
    /// Claimed until then (with `token`), or free.
    lease_until_ms: Option<i64>,
    token: Option<u64>,
    attempt: u32,
    /// Queued again while claimed: the claimer's ack releases it instead of removing it, so
    /// the step that was queued during the claim is not lost.
    again: bool,
}

impl StoredTask {
    fn fresh(order_id: OrderId, task: OrderTask, now_ms: i64) -> Self {
        Self {
            order_id,
            task,
            due_at_ms: now_ms,
            lease_until_ms: None,
            token: None,
            attempt: 0,
            again: false,
        }
    }
}

fn task_key(order_id: &OrderId, task: OrderTask) -> String {
    format!("{order_id}/{}", task.as_str())
}

fn user_prefix(openid: &crate::domain::OpenId) -> Vec<u8> {
    let mut key = openid.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

fn user_key(order: &Order) -> Vec<u8> {
    let mut key = user_prefix(&order.openid);
    key.extend_from_slice(&order.created_at_ms.to_be_bytes());
    key.extend_from_slice(order.id.as_str().as_bytes());
    key
}

fn open_key(order: &Order) -> Vec<u8> {
    let mut key = order.created_at_ms.to_be_bytes().to_vec();
    key.extend_from_slice(order.id.as_str().as_bytes());
    key
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn committed<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

/// Queue `task` for `order_id` inside a transaction: fresh if absent or free, marked
/// `again` if currently claimed.
fn queue_in(
    tasks: &sled::transaction::TransactionalTree,
    order_id: &OrderId,
    task: OrderTask,
    now_ms: i64,
) -> TxResult<()> {
    let key = task_key(order_id, task);
    let queued = match tasks.get(key.as_bytes())? {
        Some(bytes) => match from_json::<StoredTask>("order_tasks", &bytes) {
            Ok(existing) if existing.token.is_some() => StoredTask {
                again: true,
                ..existing
            },
            Ok(_) => StoredTask::fresh(order_id.clone(), task, now_ms),
            Err(e) => return abort(e),
        },
        None => StoredTask::fresh(order_id.clone(), task, now_ms),
    };
    tasks.insert(key.as_bytes(), to_json(&queued))?;
    Ok(())
}

impl SledOrders {
    pub(super) fn open(db: &sled::Db, clock: Arc<dyn OrderClock>) -> Result<Self, StoreError> {
        Ok(Self {
            db: db.clone(),
            orders: db.open_tree("orders")?,
            keys: db.open_tree("order_keys")?,
            open: db.open_tree("orders_open")?,
            tasks: db.open_tree("order_tasks")?,
            by_user: db.open_tree("orders_by_user")?,
            clock,
        })
    }

    fn load(&self, id: &[u8]) -> Result<Option<Order>, StoreError> {
        self.orders
            .get(id)?
            .map(|bytes| from_json("orders", &bytes))
            .transpose()
    }

    /// Every order that `keep` accepts, oldest first (a full scan: operator lists only).
    fn scan_sorted(&self, keep: impl Fn(&Order) -> bool) -> Result<Vec<Order>, StoreError> {
        sorted_where(self.orders.iter(), keep)
    }

    /// The orders an index names, in the index's order: each key ends with the order id, which
    /// starts at `id_at`; the scan stops at the first key without `prefix`.
    fn load_indexed(
        &self,
        keys: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        prefix: &[u8],
        id_at: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::new();
        for item in keys {
            let (key, _) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            if let Some(order) = self.load(&key[id_at..])? {
                out.push(order);
            }
        }
        Ok(out)
    }

    async fn durable(&self) -> Result<(), StoreError> {
        super::flush_durably(&self.db).await
    }

    /// Claim due, free tasks; with `kinds`, only those of orders of these kinds.
    async fn claim_matching(
        &self,
        kinds: Option<&[KindTag]>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claim>, StoreError> {
        let now = self.clock.now_ms();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut claims = Vec::new();
        for item in self.tasks.iter() {
            if claims.len() >= limit {
                break;
            }
            let (key, current) = item?;
            let task: StoredTask = from_json("order_tasks", &current)?;
            let leased = task.lease_until_ms.is_some_and(|until| until > now);
            if task.due_at_ms > now || leased {
                continue;
            }
            if let Some(kinds) = kinds {
                let order = self.load(task.order_id.as_str().as_bytes())?;
                if order.is_some_and(|o| !kinds.contains(&o.kind.tag())) {
                    continue;
                }
            }
            let token = self.db.generate_id()?;
            let claimed = StoredTask {
                lease_until_ms: Some(now.saturating_add(lease_ms)),
                token: Some(token),
                attempt: task.attempt + 1,
                again: false,
                ..task
            };
            let swapped =
                self.tasks
                    .compare_and_swap(&key, Some(&current), Some(to_json(&claimed)))?;
            if swapped.is_ok() {
                claims.push(Claim {
                    order_id: claimed.order_id,
                    task: claimed.task,
                    attempt: claimed.attempt,
                    lease_until_ms: now.saturating_add(lease_ms),
                    token,
                });
            }
        }
        if !claims.is_empty() {
            self.durable().await?;
        }
        Ok(claims)
    }

    /// Replace a claimed task if `claim` still owns it: `None` removes it.
    async fn settle(
        &self,
        claim: &Claim,
        next: impl Fn(StoredTask) -> Option<StoredTask>,
    ) -> Result<Acked, StoreError> {
        let key = task_key(&claim.order_id, claim.task);
        let Some(current) = self.tasks.get(key.as_bytes())? else {
            return Ok(Acked::LeaseLost);
        };
        let task: StoredTask = from_json("order_tasks", &current)?;
        if task.token != Some(claim.token) {
            return Ok(Acked::LeaseLost);
        }
        let replacement = next(task).map(|t| to_json(&t));
        let swapped = self
            .tasks
            .compare_and_swap(key.as_bytes(), Some(&current), replacement)?;
        if swapped.is_err() {
            return Ok(Acked::LeaseLost);
        }
        self.durable().await?;
        Ok(Acked::Done)
    }

    /// Free a claimed task to run again after `delay` (sooner if more work was queued while it
    /// was claimed), its attempt count lowered by `uncount`.
    async fn requeue(
        &self,
        claim: &Claim,
        delay: Duration,
        uncount: u32,
    ) -> Result<Acked, StoreError> {
        let due = self
            .clock
            .now_ms()
            .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        self.settle(claim, |task| {
            Some(StoredTask {
                due_at_ms: if task.again {
                    task.due_at_ms.min(due)
                } else {
                    due
                },
                lease_until_ms: None,
                token: None,
                again: false,
                attempt: task.attempt.saturating_sub(uncount),
                ..task
            })
        })
        .await
    }
}

/// The orders among `records` that `keep` accepts, oldest first (ties by id).
fn sorted_where(
    records: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    keep: impl Fn(&Order) -> bool,
) -> Result<Vec<Order>, StoreError> {
    let mut out = Vec::new();
    for item in records {
        let (_, bytes) = item?;
        let order: Order = from_json("orders", &bytes)?;
        if keep(&order) {
            out.push(order);
        }
    }
    out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    Ok(out)
}

impl OrderStore for SledOrders {
    async fn create(
        &self,
        order: NewOrder,
        then: Option<OrderTask>,
    ) -> Result<Created, StoreError> {
        let now = self.clock.now_ms();
        let record = Order::new(order, now);
        let bytes = to_json(&record);
        let outcome = committed(
            (
                &self.orders,
                &self.keys,
                &self.open,
                &self.tasks,
                &self.by_user,
            )
                .transaction(|(orders, keys, open, tasks, by_user)| {
                    if let Some(id) = keys.get(record.idempotency_key.as_bytes())? {
                        return match orders.get(&id)? {
                            Some(existing) => match from_json("orders", &existing) {
                                Ok(order) => Ok(Created::Existing(order)),
                                Err(e) => abort(e),
                            },
                            None => abort(StoreError::Engine(
                                "idempotency key points at a missing order".into(),
                            )),
                        };
                    }
                    if orders.get(record.id.as_str().as_bytes())?.is_some() {
                        return abort(StoreError::Engine(format!(
                            "order id {} already used by another key",
                            record.id
                        )));
                    }
                    orders.insert(record.id.as_str().as_bytes(), bytes.as_slice())?;
                    keys.insert(
                        record.idempotency_key.as_bytes(),
                        record.id.as_str().as_bytes(),
                    )?;
                    open.insert(open_key(&record), &[][..])?;
                    by_user.insert(user_key(&record), &[][..])?;
                    if let Some(task) = then {
                        queue_in(tasks, &record.id, task, now)?;
                    }
                    Ok(Created::Created(record.clone()))
                }),
        )?;
        // An existing order may have been written a moment ago by a concurrent create that
        // has not flushed yet; flushing here too means the caller never acts on a record
        // that a crash could still take back.
        self.durable().await?;
        Ok(outcome)
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.load(id.as_str().as_bytes())
    }

    async fn find_by_key(&self, idempotency_key: &str) -> Result<Option<Order>, StoreError> {
        match self.keys.get(idempotency_key.as_bytes())? {
            Some(id) => self.load(&id),
            None => Ok(None),
        }
    }

    async fn transition(
        &self,
        id: &OrderId,
        change: Transition,
    ) -> Result<Transitioned, StoreError> {
        let now = self.clock.now_ms();
        let outcome = committed((&self.orders, &self.open, &self.tasks).transaction(
            |(orders, open, tasks)| {
                let Some(bytes) = orders.get(id.as_str().as_bytes())? else {
                    return abort(StoreError::OrderNotFound(id.to_string()));
                };
                let mut order: Order = match from_json("orders", &bytes) {
                    Ok(o) => o,
                    Err(e) => return abort(e),
                };
                if order.state == change.to {
                    return Ok(Transitioned::AlreadyApplied(order));
                }
                if order.state != change.from {
                    return Ok(Transitioned::Conflict {
                        current: order.state,
                    });
                }
                order.history.push(StateChange {
                    from: change.from,
                    to: change.to,
                    at_ms: now,
                    detail: change.detail.clone(),
                });
                order.state = change.to;
                order.updated_at_ms = now;
                orders.insert(id.as_str().as_bytes(), to_json(&order))?;
                if change.to.is_terminal() {
                    open.remove(open_key(&order))?;
                }
                if let Some(task) = change.then {
                    queue_in(tasks, id, task, now)?;
                }
                Ok(Transitioned::Applied(order))
            },
        ))?;
        // Also when already applied: the caller may act on a state a concurrent transition
        // wrote a moment ago and has not flushed yet.
        self.durable().await?;
        Ok(outcome)
    }

    async fn list_for_user(
        &self,
        openid: &crate::domain::OpenId,
        since_ms: i64,
    ) -> Result<Vec<Order>, StoreError> {
        let prefix = user_prefix(openid);
        let mut from = prefix.clone();
        from.extend_from_slice(&since_ms.max(0).to_be_bytes());
        self.load_indexed(self.by_user.range(from..), &prefix, prefix.len() + 8)
    }

    async fn list_for_student(
        &self,
        sno: &crate::domain::StudentId,
    ) -> Result<Vec<Order>, StoreError> {
        self.scan_sorted(|o| o.sno == *sno)
    }

    async fn list_in_state(
        &self,
        state: super::orders::OrderState,
    ) -> Result<Vec<Order>, StoreError> {
        self.scan_sorted(|o| o.state == state)
    }

    async fn list_unfinished(&self) -> Result<Vec<Order>, StoreError> {
        // `open` keys: the creation time (8 bytes), then the order id
        self.load_indexed(self.open.iter(), &[], 8)
    }

    async fn list_created_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Order>, StoreError> {
        // Order ids start with their UTC creation date (`OrderId::generate`), so only the ids
        // of the UTC days around the window are read; a day of slack on each side covers any
        // campus offset and an id stamped a moment before the store's clock.
        let day_ms = 86_400_000;
        let mut prefixes: Vec<String> = Vec::new();
        let mut at = from_ms - day_ms;
        while at < to_ms + day_ms {
            let prefix = chrono::DateTime::from_timestamp_millis(at)
                .unwrap_or_default()
                .format("O%Y%m%d")
                .to_string();
            if !prefixes.contains(&prefix) {
                prefixes.push(prefix);
            }
            at += day_ms;
        }
        let records = prefixes
            .iter()
            .flat_map(|prefix| self.orders.scan_prefix(prefix.as_bytes()));
        sorted_where(records, |order| {
            (from_ms..to_ms).contains(&order.created_at_ms)
        })
    }

    async fn claim(&self, lease: Duration, limit: usize) -> Result<Vec<Claim>, StoreError> {
        self.claim_matching(None, lease, limit).await
    }

    async fn claim_kinds(
        &self,
        kinds: &[KindTag],
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claim>, StoreError> {
        self.claim_matching(Some(kinds), lease, limit).await
    }

    async fn ack(&self, claim: &Claim) -> Result<Acked, StoreError> {
        let now = self.clock.now_ms();
        self.settle(claim, |task| {
            task.again
                .then(|| StoredTask::fresh(task.order_id.clone(), task.task, now))
        })
        .await
    }

    async fn retry_later(&self, claim: &Claim, delay: Duration) -> Result<Acked, StoreError> {
        self.requeue(claim, delay, 0).await
    }

    async fn put_back(&self, claim: &Claim, delay: Duration) -> Result<Acked, StoreError> {
        // Not an attempt: the claim's count goes back to what it was.
        self.requeue(claim, delay, 1).await
    }
}

#[cfg(test)]
mod tests {
    //! The contract suite (`orders_contract`) against sled, one test per scenario, and what only
    //! a store on disk does.

    use std::sync::Arc;

    use super::super::Store;
    use super::super::orders::ManualClock;
    use super::super::orders_contract as contract;
    use super::*;

    fn sled_orders(clock: Arc<ManualClock>) -> SledOrders {
        Store::temporary()
            .expect("temporary store")
            .orders_with_clock(clock)
            .expect("orders trees")
    }

    contract::every_scenario!(sled_orders);

    #[tokio::test]
    async fn orders_and_their_tasks_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::starting_at(contract::T0);
        let id = {
            let store = Store::open(dir.path(), 16).unwrap();
            let orders = store.orders_with_clock(clock.clone()).unwrap();
            let created = orders
                .create(
                    contract::new_order("wx-msg-1", 5_000),
                    Some(OrderTask::Advance),
                )
                .await
                .unwrap();
            created.order().id.clone()
        };
        let store = Store::open(dir.path(), 16).unwrap();
        let orders = store.orders_with_clock(clock).unwrap();
        let unfinished = orders.list_unfinished().await.unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].id, id);
        let claims = orders.claim(Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(
            claims
                .iter()
                .map(|c| (&c.order_id, c.task))
                .collect::<Vec<_>>(),
            [(&id, OrderTask::Advance)]
        );
    }
}
