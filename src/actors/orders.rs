//! The top-up order machine (校园卡充值: bank debit → 圈存 onto the card), driven from the
//! orders store's task outbox.
//!
//! Why it exists: between "the user confirmed" and "the money is on the card" there are two
//! upstreams that can refuse, time out, or commit and lose their answer. This module owns the
//! one transition function for top-ups: each step persists the state that announces an
//! external call before making it, never re-sends a money write without first querying its
//! key (except the very first send), and ends every order in a terminal state or waiting for a
//! person. Work is claimed from the store with a lease, so a crashed worker's order is picked
//! up again when the lease expires, and any number of workers can run.
//!
//! It must never compose user text (that is the rules' job, from the order's state and detail),
//! never log a student number or a bank card, and never decide a money outcome from an answer
//! it did not get: an unknown outcome stays unknown until the key is queried.
//!
//! States (see `store::orders::OrderState`):
//! `created → debiting → debited → crediting → succeeded`;
//! `debiting → failed` (the bank refused); `crediting → reversing → reversed` (the load failed
//! for good: the load is cancelled by key, then the debit is reversed); `reversing →
//! needs_manual` (a reversal was refused or kept failing).

use std::time::Duration;

use crate::adapters::{AdapterError, BankHandle, CardHandle};
use crate::domain::OrderStep;
use crate::store::StoreError;
use crate::store::orders::{
    Claim, Order, OrderKind, OrderState, OrderStore, OrderTask, Transition, Transitioned,
};
use crate::wire::{BankDebit, LoadCreate, LoadSource, Reverse, ReverseState, TradeState};

/// How hard the machine tries before it gives up on a step.
#[derive(Clone, Debug)]
pub struct TopUpPolicy {
    /// A claimed order is this worker's for this long; then another worker may take it.
    pub lease: Duration,
    /// First delay before trying an unknown outcome again; doubles per attempt, capped at 32×.
    pub backoff_base: Duration,
    /// Attempts at the 圈存 (with transient failures) before the debit is reversed.
    pub credit_attempts: u32,
    /// Attempts at the reversal before the order waits for a person.
    pub reverse_attempts: u32,
    /// Tasks claimed per round.
    pub batch: usize,
}

impl Default for TopUpPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(2),
            credit_attempts: 5,
            reverse_attempts: 8,
            batch: 32,
        }
    }
}

/// Why a round could not run (the store failed). Upstream failures are not errors here: they
/// are outcomes the machine handles.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("orders store: {0}")]
    Store(#[from] StoreError),
}

/// What to do with the claimed task after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Finished with this task (a next step, if any, was queued with the transition).
    Ack,
    /// Outcome unknown or upstream unavailable: try again after a backoff.
    Backoff,
}

/// Drives top-up orders. Cheap to clone; run one [`Self::run_once`] loop per worker.
#[derive(Clone)]
pub struct TopUpMachine<S: OrderStore> {
    store: S,
    bank: BankHandle,
    card: CardHandle,
    policy: TopUpPolicy,
}

fn transient(e: &AdapterError) -> bool {
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

fn code_of(e: &AdapterError) -> String {
    match e {
        AdapterError::Rejected { code, .. } => format!("code {code}"),
        other => other.outcome().to_owned(),
    }
}

impl<S: OrderStore> TopUpMachine<S> {
    pub fn new(store: S, bank: BankHandle, card: CardHandle, policy: TopUpPolicy) -> Self {
        Self {
            store,
            bank,
            card,
            policy,
        }
    }

    /// Claim due tasks and take one step on each. Returns how many tasks were handled.
    pub async fn run_once(&self) -> Result<usize, OrderError> {
        let claims = self
            .store
            .claim(self.policy.lease, self.policy.batch)
            .await?;
        for claim in &claims {
            let after = match claim.task {
                OrderTask::Advance => self.advance(claim).await?,
                // telling the user belongs to the chat side; the machine only records the end
                OrderTask::NotifyUser => After::Ack,
            };
            match after {
                After::Ack => self.store.ack(claim).await?,
                After::Backoff => {
                    let delay = self.policy.backoff_base * 2u32.pow(claim.attempt.min(5));
                    self.store.retry_later(claim, delay).await?
                }
            };
        }
        Ok(claims.len())
    }

    async fn advance(&self, claim: &Claim) -> Result<After, OrderError> {
        let Some(order) = self.store.get(&claim.order_id).await? else {
            return Ok(After::Ack);
        };
        if order.kind != OrderKind::TopUp {
            return Ok(After::Ack);
        }
        match order.state {
            OrderState::Created => {
                self.step(&order, OrderState::Created, OrderState::Debiting, None)
                    .await
            }
            OrderState::Debiting => self.debit(&order, claim.attempt).await,
            OrderState::Debited => {
                self.step(&order, OrderState::Debited, OrderState::Crediting, None)
                    .await
            }
            OrderState::Crediting => self.credit(&order, claim.attempt).await,
            OrderState::Reversing => self.reverse(&order, claim.attempt).await,
            OrderState::Succeeded
            | OrderState::Failed
            | OrderState::Reversed
            | OrderState::NeedsManual => Ok(After::Ack),
        }
    }

    /// Persist `from → to` and queue the next step (or the user's notice at the end).
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
        match self.store.transition(&order.id, change).await? {
            Transitioned::Applied(_) | Transitioned::AlreadyApplied(_) => {}
            Transitioned::Conflict { current } => {
                tracing::warn!(order = %order.id, ?from, ?to, ?current, "order moved by someone else");
            }
        }
        Ok(After::Ack)
    }

    /// `debiting`: send the debit once; on any later attempt ask the bank by key first.
    async fn debit(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Debit);
        if attempt > 1 {
            match self.bank.query(&key).await {
                Ok(status) => match status.state {
                    TradeState::Success => {
                        return self
                            .step(order, OrderState::Debiting, OrderState::Debited, None)
                            .await;
                    }
                    TradeState::Failed => {
                        let detail = Some("bank refused the debit".to_owned());
                        return self
                            .step(order, OrderState::Debiting, OrderState::Failed, detail)
                            .await;
                    }
                    TradeState::Reversed => {
                        let detail = Some("bank reports the debit reversed".to_owned());
                        return self
                            .step(order, OrderState::Debiting, OrderState::Reversed, detail)
                            .await;
                    }
                    TradeState::Processing => return Ok(After::Backoff),
                    // never arrived: sending it (with the same key) is safe
                    TradeState::NotFound => {}
                },
                Err(_) => return Ok(After::Backoff),
            }
        }
        let request = BankDebit {
            sno: order.sno.as_str().to_owned(),
            amount_fen: order.amount.fen(),
            out_trade_no: key,
            purpose: crate::adapters::bank::PURPOSE_CAMPUS_CARD_LOAD.to_owned(),
        };
        match self.bank.debit(&request).await {
            Ok(result) => match result.state {
                TradeState::Success => {
                    self.step(order, OrderState::Debiting, OrderState::Debited, None)
                        .await
                }
                TradeState::Failed => {
                    let detail = Some("bank refused the debit".to_owned());
                    self.step(order, OrderState::Debiting, OrderState::Failed, detail)
                        .await
                }
                TradeState::Processing | TradeState::Reversed | TradeState::NotFound => {
                    Ok(After::Backoff)
                }
            },
            Err(e) if transient(&e) => Ok(After::Backoff),
            Err(e) => {
                let detail = Some(format!("bank refused the debit: {}", code_of(&e)));
                self.step(order, OrderState::Debiting, OrderState::Failed, detail)
                    .await
            }
        }
    }

    /// `crediting`: load the card (same key every time; query it first after the first
    /// attempt); a refusal, or transient failures past the policy, reverse the debit.
    async fn credit(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Credit);
        let give_up = |why: String| async move {
            self.step(
                order,
                OrderState::Crediting,
                OrderState::Reversing,
                Some(why),
            )
            .await
        };
        if attempt > 1 {
            match self.card.trade_status(&key).await {
                Ok(status) if status.state == TradeState::Success => {
                    return self
                        .step(order, OrderState::Crediting, OrderState::Succeeded, None)
                        .await;
                }
                Ok(status) if status.state == TradeState::Failed => {
                    let code = status
                        .error_code
                        .map_or("failed".to_owned(), |c| format!("code {c}"));
                    return give_up(format!("card load refused: {code}")).await;
                }
                Ok(status) if status.state == TradeState::NotFound => {}
                Ok(_) | Err(_) => {
                    return if attempt >= self.policy.credit_attempts {
                        give_up(format!("card load unconfirmed after {attempt} attempts")).await
                    } else {
                        Ok(After::Backoff)
                    };
                }
            }
        }
        let request = LoadCreate {
            account: order.account.clone(),
            amount_fen: order.amount.fen(),
            out_trade_no: key,
            source: LoadSource::Bank,
            source_ref: order.id.step_key(OrderStep::Debit),
        };
        match self.card.load(&request).await {
            Ok(result) if result.state == TradeState::Success => {
                self.step(order, OrderState::Crediting, OrderState::Succeeded, None)
                    .await
            }
            Ok(_) => Ok(After::Backoff),
            Err(e) if transient(&e) => {
                if attempt >= self.policy.credit_attempts {
                    give_up(format!("card load failed {attempt} times: {}", code_of(&e))).await
                } else {
                    Ok(After::Backoff)
                }
            }
            Err(e) => give_up(format!("card load refused: {}", code_of(&e))).await,
        }
    }

    /// `reversing`: cancel the load by key (so a late original cannot land), then reverse
    /// the bank debit. Both are idempotent, so every attempt runs both.
    async fn reverse(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let manual = |why: String| async move {
            self.step(
                order,
                OrderState::Reversing,
                OrderState::NeedsManual,
                Some(why),
            )
            .await
        };
        let exhausted = attempt >= self.policy.reverse_attempts;
        let cancel = Reverse {
            orig_out_trade_no: order.id.step_key(OrderStep::Credit),
            out_trade_no: order.id.step_key(OrderStep::CancelCredit),
        };
        match self.card.reverse_load(&cancel).await {
            Ok(_) => {}
            Err(e) if transient(&e) && !exhausted => return Ok(After::Backoff),
            Err(e) => return manual(format!("card load cancel failed: {}", code_of(&e))).await,
        }
        let reversal = Reverse {
            orig_out_trade_no: order.id.step_key(OrderStep::Debit),
            out_trade_no: order.id.step_key(OrderStep::Reverse),
        };
        match self.bank.reverse(&reversal).await {
            Ok(result) => {
                let detail = match result.state {
                    ReverseState::Reversed => None,
                    ReverseState::NothingToReverse => Some("bank had nothing to reverse".into()),
                };
                self.step(order, OrderState::Reversing, OrderState::Reversed, detail)
                    .await
            }
            Err(e) if transient(&e) && !exhausted => Ok(After::Backoff),
            Err(e) => manual(format!("bank reversal failed: {}", code_of(&e))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The machine against the bank and card simulators over loopback HTTP, with a real
    //! (temporary) sled store. Money is read back from the simulators.

    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::adapters::{UpstreamConfig, bank, card};
    use crate::domain::{Fen, OpenId, OrderId, StudentId};
    use crate::sim::SimConfig;
    use crate::sim::campus::local_secs;
    use crate::sim::upstream::testkit::{self, Sim};
    use crate::store::orders::{NewOrder, SystemClock};
    use crate::store::{SledOrders, Store};

    const SNO: &str = "2024000001";
    const ACCOUNT: &str = "20001";

    struct World {
        sim: Sim,
        store: SledOrders,
        machine: TopUpMachine<SledOrders>,
        card: CardHandle,
        _dir: Store,
    }

    async fn world() -> World {
        let sim = testkit::spawn(SimConfig {
            accounts: 100,
            ..SimConfig::default()
        })
        .await;
        // 10:00 campus time: inside every service window, far from the 23:00 bank day cut
        let since_midnight = local_secs(sim.state.clock().now());
        sim.state
            .clock()
            .advance((10 * 3600 - since_midnight).rem_euclid(86_400));
        let upstream = |mount: &str| {
            let mut c = UpstreamConfig::new(
                format!("{}{mount}", sim.base),
                sim.creds.app_key.clone(),
                sim.creds.app_secret.clone(),
            );
            c.backoff_base_ms = 5;
            c.breaker_cooldown_ms = 50;
            c
        };
        let bank = bank::actor::start(&upstream("/sim/bank")).unwrap();
        let card = card::actor::start(&upstream("/sim/card")).unwrap();
        let dir = Store::temporary().unwrap();
        let store = dir
            .orders_with_clock(std::sync::Arc::new(SystemClock))
            .unwrap();
        let policy = TopUpPolicy {
            lease: Duration::from_secs(10),
            // longer than the breaker cooldown below, so a reversal is not spent on an open breaker
            backoff_base: Duration::from_millis(30),
            credit_attempts: 3,
            reverse_attempts: 3,
            batch: 8,
        };
        let machine = TopUpMachine::new(store.clone(), bank, card.clone(), policy);
        World {
            sim,
            store,
            machine,
            card,
            _dir: dir,
        }
    }

    impl World {
        async fn top_up(&self, amount_fen: i64) -> OrderId {
            let order = NewOrder {
                id: OrderId::generate(chrono::Utc::now().timestamp_millis()),
                idempotency_key: format!("wx-{amount_fen}"),
                kind: OrderKind::TopUp,
                openid: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
                sno: StudentId::parse(SNO).unwrap(),
                account: ACCOUNT.to_owned(),
                amount: Fen(amount_fen),
            };
            let created = self
                .store
                .create(order, Some(OrderTask::Advance))
                .await
                .unwrap();
            created.order().id.clone()
        }

        /// Take steps until the order's state satisfies `done` (at most 30 s).
        async fn drive_until(&self, id: &OrderId, done: impl Fn(OrderState) -> bool) -> Order {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                self.machine.run_once().await.unwrap();
                let order = self.store.get(id).await.unwrap().unwrap();
                if done(order.state) {
                    return order;
                }
                assert!(Instant::now() < deadline, "stuck: {order:?}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        fn bank_balance(&self) -> i64 {
            self.sim.state.bank().balance(&self.sim.state, SNO).unwrap()
        }

        async fn card_pending(&self) -> i64 {
            self.card.balance(ACCOUNT).await.unwrap().pending_fen
        }

        async fn faults(&self, upstream: &str, knobs: serde_json::Value) {
            let (status, _) = self
                .sim
                .post(&format!("/sim/faults/{upstream}"), knobs)
                .await;
            assert_eq!(status, 200);
        }
    }

    /// The smallest whole-yuan load (loads must be whole yuan) that exceeds the wallet cap.
    fn over_the_cap(balance: &crate::wire::Balance) -> i64 {
        let room = balance.wallet_cap_fen - balance.balance_fen - balance.pending_fen;
        (room / 100 + 1) * 100
    }

    fn path(order: &Order) -> Vec<OrderState> {
        order.history.iter().map(|c| c.to).collect()
    }

    #[actix_rt::test]
    async fn a_top_up_moves_the_money_from_bank_to_card_once() {
        let w = world().await;
        let (bank_before, pending_before) = (w.bank_balance(), w.card_pending().await);
        let id = w.top_up(5_000).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(
            path(&order),
            [
                OrderState::Debiting,
                OrderState::Debited,
                OrderState::Crediting,
                OrderState::Succeeded
            ]
        );
        assert_eq!(w.bank_balance(), bank_before - 5_000);
        assert_eq!(w.card_pending().await, pending_before + 5_000);
        assert_eq!(w.store.list_unfinished().await.unwrap(), []);
    }

    #[actix_rt::test]
    async fn a_bank_answer_lost_after_commit_is_queried_and_never_debited_twice() {
        let w = world().await;
        let (bank_before, pending_before) = (w.bank_balance(), w.card_pending().await);
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == OrderState::Debiting).await;
        w.faults("bank", json!({"lost_response_rate": 1.0})).await;
        w.machine.run_once().await.unwrap();
        // the bank took the money; we only saw a bare 503
        assert_eq!(w.bank_balance(), bank_before - 5_000);
        let order = w.store.get(&id).await.unwrap().unwrap();
        assert_eq!(
            order.state,
            OrderState::Debiting,
            "outcome unknown, nothing assumed"
        );
        w.faults("bank", json!({})).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, OrderState::Succeeded);
        assert_eq!(w.bank_balance(), bank_before - 5_000, "debited once");
        assert_eq!(w.card_pending().await, pending_before + 5_000);
    }

    #[actix_rt::test]
    async fn a_load_the_card_refuses_reverses_the_bank_debit() {
        let w = world().await;
        let balance = w.card.balance(ACCOUNT).await.unwrap();
        // whole yuan just over the wallet cap: the card system refuses the load (2201)
        let amount = over_the_cap(&balance);
        let bank_before = w.bank_balance();
        let id = w.top_up(amount).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, OrderState::Reversed);
        assert_eq!(
            order
                .history
                .iter()
                .find(|c| c.to == OrderState::Reversing)
                .and_then(|c| c.detail.as_deref()),
            Some("card load refused: code 2201")
        );
        assert_eq!(w.bank_balance(), bank_before, "the debit was reversed");
        assert_eq!(w.card_pending().await, balance.pending_fen);
    }

    #[actix_rt::test]
    async fn a_card_system_that_keeps_failing_gets_the_debit_reversed_once_it_answers() {
        let w = world().await;
        let (bank_before, pending_before) = (w.bank_balance(), w.card_pending().await);
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == OrderState::Debited).await;
        w.faults("card", json!({"error_rate": 1.0})).await;
        // the load is retried with backoff, then given up: the debit is to be reversed
        let order = w.drive_until(&id, |s| s == OrderState::Reversing).await;
        assert_eq!(
            order.history.last().and_then(|c| c.detail.as_deref()),
            Some("card load unconfirmed after 3 attempts")
        );
        // the card system answers again: the load is cancelled by key, the bank refunds
        w.faults("card", json!({})).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, OrderState::Reversed);
        assert_eq!(w.bank_balance(), bank_before);
        assert_eq!(w.card_pending().await, pending_before);
    }

    #[actix_rt::test]
    async fn a_reversal_that_keeps_failing_waits_for_a_person() {
        let w = world().await;
        let balance = w.card.balance(ACCOUNT).await.unwrap();
        let amount = over_the_cap(&balance);
        let bank_before = w.bank_balance();
        let id = w.top_up(amount).await;
        w.drive_until(&id, |s| s == OrderState::Reversing).await;
        w.faults("bank", json!({"error_rate": 1.0})).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, OrderState::NeedsManual);
        // 9000 busy, three times (fewer than the breaker's five failures)
        assert_eq!(
            order.history.last().and_then(|c| c.detail.as_deref()),
            Some("bank reversal failed: unavailable")
        );
        // the money is still at the bank's side of the ledger, for the operator to return
        assert_eq!(w.bank_balance(), bank_before - amount);
        assert_eq!(w.store.list_unfinished().await.unwrap(), []);
    }
}
