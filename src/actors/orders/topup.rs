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
//! `created → debiting → debited → crediting → succeeded`, or `crediting → claiming →
//! succeeded` where the school claims 过渡余额 automatically (`[orders.topup] claim`);
//! `debiting → failed` (the bank refused); `crediting → reversing → reversed` (the load failed
//! for good: the load is cancelled by key, then the debit is reversed); `reversing →
//! needs_manual` (a reversal was refused or kept failing).

use serde::Deserialize;

use super::{
    After, OrderError, Transitions, after_failure, code_of, nothing_sent, trade_failure, transient,
};
use crate::adapters::{BankHandle, CardHandle};
use crate::domain::OrderStep;
use crate::settings::ClaimMode;
use crate::store::orders::{Claim, Order, OrderState, OrderStore};
use crate::wire::{
    BankDebit, ClaimPending, ErrorCode, LoadCreate, LoadSource, Reverse, ReverseState, TradeState,
};

/// How hard the machine tries before it gives up on a step.
#[derive(Clone, Debug)]
pub struct TopUpPolicy {
    /// Attempts at the bank debit whose outcome stays unknown (`PROCESSING`, no answer, the
    /// query failing) before the debit is reversed (冲正) by key, which is safe when unsure.
    pub debit_attempts: u32,
    /// Attempts at the 圈存 (with transient failures) before the debit is reversed.
    pub credit_attempts: u32,
    /// Attempts at the reversal before the order waits for a person.
    pub reverse_attempts: u32,
    /// Claim the loaded 过渡余额 online right after the 圈存 (`claim = "automatic"`).
    pub claim_after_load: bool,
    /// Sends of the claim that may fail before the order ends without it (the money then
    /// waits in 过渡余额; the top-up has succeeded all the same).
    pub claim_attempts: u32,
}

impl Default for TopUpPolicy {
    fn default() -> Self {
        Self {
            debit_attempts: 10,
            credit_attempts: 5,
            reverse_attempts: 8,
            claim_after_load: false,
            claim_attempts: 5,
        }
    }
}

/// `[orders.topup]`: what a user may top up, when, and how hard the machine tries.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopUpSettings {
    /// Smallest top-up, in yuan.
    pub min_yuan: i64,
    /// Largest top-up per order, in yuan.
    pub per_order_max_yuan: i64,
    /// Most a user may top up per campus day (orders not failed or reversed), in yuan.
    pub per_day_max_yuan: i64,
    /// The card system loads whole yuan only (Kingstar: 转账金额必须是整数).
    pub whole_yuan_only: bool,
    /// The 圈存 service window, campus time (`{ from = "07:30", to = "20:00" }`); absent =
    /// always open.
    pub service_hours: Option<ServiceHours>,
    /// Attempts at a bank debit whose outcome stays unknown before it is reversed (冲正).
    pub debit_attempts: u32,
    /// Sends of the 圈存 (load) that may fail before the bank debit is reversed.
    pub credit_attempts: u32,
    /// Sends of the reversal that may fail before the order waits for a person.
    pub reverse_attempts: u32,
    /// How the loaded 过渡余额 becomes spendable: `at_tap`, `on_request` (「领取」 claims it
    /// online) or `automatic` (the order claims it right after the 圈存).
    pub claim: ClaimMode,
    /// `automatic`: sends of the claim that may fail before the order ends without it.
    pub claim_attempts: u32,
}

impl Default for TopUpSettings {
    fn default() -> Self {
        let policy = TopUpPolicy::default();
        Self {
            min_yuan: 1,
            per_order_max_yuan: 500,
            per_day_max_yuan: 1_000,
            whole_yuan_only: true,
            service_hours: None,
            debit_attempts: policy.debit_attempts,
            credit_attempts: policy.credit_attempts,
            reverse_attempts: policy.reverse_attempts,
            claim: ClaimMode::default(),
            claim_attempts: policy.claim_attempts,
        }
    }
}

impl TopUpSettings {
    pub fn policy(&self) -> TopUpPolicy {
        TopUpPolicy {
            debit_attempts: self.debit_attempts.max(1),
            credit_attempts: self.credit_attempts.max(1),
            reverse_attempts: self.reverse_attempts.max(1),
            claim_after_load: self.claim == ClaimMode::Automatic,
            claim_attempts: self.claim_attempts.max(1),
        }
    }
}

/// A daily window in campus time, `from` inclusive, `to` exclusive; `from > to` spans midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawHours")]
pub struct ServiceHours {
    from_min: u32,
    to_min: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    from: String,
    to: String,
}

impl TryFrom<RawHours> for ServiceHours {
    type Error = String;
    fn try_from(raw: RawHours) -> Result<Self, Self::Error> {
        let parse = |s: &str| {
            crate::rules::load::parse_hhmm(s)
                .ok_or_else(|| format!("bad time `{s}`: use HH:MM (00:00 to 24:00)"))
        };
        Ok(Self {
            from_min: parse(&raw.from)?,
            to_min: parse(&raw.to)?,
        })
    }
}

impl ServiceHours {
    /// Whether `minute_of_day` (campus time) is inside the window.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        if self.from_min <= self.to_min {
            (self.from_min..self.to_min).contains(&minute_of_day)
        } else {
            minute_of_day >= self.from_min || minute_of_day < self.to_min
        }
    }

    /// `07:30–20:00`, as users are told.
    pub fn display(&self) -> String {
        let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{}–{}", hhmm(self.from_min), hhmm(self.to_min))
    }
}

/// Why a bank refusal ended an order: written into the `failed` transition's detail and read
/// back by [`refusal_code`], so the user is told the bank's reason.
const BANK_REFUSED: &str = "bank refused the debit";

/// Why a debit whose outcome never became known was reversed: written into the `reversing`
/// transition's detail and read back by [`debit_went_unresolved`].
const DEBIT_UNRESOLVED: &str = "bank debit unresolved";

/// Why an automatic claim did not happen: written into the `claiming → succeeded` detail and
/// read back by [`claimed_online`].
const CLAIM_FAILED: &str = "claim failed";

/// Whether the order's automatic claim moved its money into the spendable balance (or found
/// it there already): the user is told the money can be spent, not that it waits.
pub fn claimed_online(order: &Order) -> bool {
    order.history.iter().any(|c| {
        c.from == OrderState::Claiming
            && c.to == OrderState::Succeeded
            && !c
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with(CLAIM_FAILED))
    })
}

/// Whether the order was reversed because the bank never said whether it took the money (the
/// user is told the debit was undone *if* it happened, not that it happened).
pub fn debit_went_unresolved(order: &Order) -> bool {
    order.history.iter().any(|c| {
        c.to == OrderState::Reversing
            && c.detail
                .as_deref()
                .is_some_and(|d| d.starts_with(DEBIT_UNRESOLVED))
    })
}

/// The bank's refusal code of a failed top-up (`5101` insufficient funds, …), if it gave one.
pub fn refusal_code(order: &Order) -> Option<u32> {
    let detail = order
        .history
        .iter()
        .rev()
        .find(|c| c.to == OrderState::Failed)?
        .detail
        .as_deref()?;
    detail
        .strip_prefix(BANK_REFUSED)?
        .strip_prefix(": code ")?
        .parse()
        .ok()
}

/// Drives top-up orders one step per claimed task. Cheap to clone; the worker
/// ([`super::OrderWorker`]) claims the tasks and dispatches top-ups here.
#[derive(Clone)]
pub struct TopUpMachine<S: OrderStore> {
    store: S,
    bank: BankHandle,
    card: CardHandle,
    policy: TopUpPolicy,
}

impl<S: OrderStore> Transitions for TopUpMachine<S> {
    type Store = S;
    fn store(&self) -> &S {
        &self.store
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

    /// Take the next step of `order` (a top-up) for the claimed `Advance` task.
    pub async fn advance(&self, claim: &Claim, order: &Order) -> Result<After, OrderError> {
        match order.state {
            OrderState::Created => {
                self.step(order, OrderState::Created, OrderState::Debiting, None)
                    .await
            }
            OrderState::Debiting => self.debit(order, claim.attempt).await,
            OrderState::Debited => {
                self.step(order, OrderState::Debited, OrderState::Crediting, None)
                    .await
            }
            OrderState::Crediting => self.credit(order, claim.attempt).await,
            OrderState::Claiming => self.claim(order, claim.attempt).await,
            OrderState::Reversing => self.reverse(order, claim.attempt).await,
            OrderState::Succeeded
            | OrderState::Failed
            | OrderState::Reversed
            | OrderState::NeedsManual => Ok(After::Ack),
        }
    }

    /// `debiting`: send the debit once; on any later attempt ask the bank by key first. An
    /// outcome still unknown after `debit_attempts` is settled by reversing the debit (冲正:
    /// the bank undoes it if it happened, refuses the original if it arrives later).
    async fn debit(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Debit);
        let (attempts, reverse) = (self.policy.debit_attempts, OrderState::Reversing);
        let unresolved =
            || self.debit_unresolved(order, attempt, attempts, DEBIT_UNRESOLVED, reverse);
        if attempt > 1 {
            match self.bank.query(&key).await {
                Ok(status) => match status.state {
                    TradeState::Success => return self.debited(order).await,
                    TradeState::Failed => {
                        return self.debit_refused(order, BANK_REFUSED.to_owned()).await;
                    }
                    TradeState::Reversed => {
                        let detail = Some("bank reports the debit reversed".to_owned());
                        return self
                            .step(order, OrderState::Debiting, OrderState::Reversed, detail)
                            .await;
                    }
                    TradeState::Processing => return unresolved().await,
                    // never arrived: sending it (with the same key) is safe
                    TradeState::NotFound => {}
                },
                Err(e) if nothing_sent(&e) => return Ok(After::NotSent),
                Err(_) => return unresolved().await,
            }
        }
        let request = BankDebit {
            sno: order.sno.as_str().to_owned(),
            amount_fen: order.amount,
            out_trade_no: key,
            purpose: crate::adapters::bank::PURPOSE_CAMPUS_CARD_LOAD.to_owned(),
        };
        match self.bank.debit(&request).await {
            Ok(result) => match result.state {
                TradeState::Success => self.debited(order).await,
                TradeState::Failed => self.debit_refused(order, BANK_REFUSED.to_owned()).await,
                TradeState::Processing | TradeState::Reversed | TradeState::NotFound => {
                    unresolved().await
                }
            },
            Err(e) if nothing_sent(&e) => Ok(After::NotSent),
            Err(e) if transient(&e) => unresolved().await,
            Err(e) => {
                let why = format!("{BANK_REFUSED}: {}", code_of(&e));
                self.debit_refused(order, why).await
            }
        }
    }

    /// `crediting`: load the card (same key every time; query it first after the first
    /// attempt); a refusal, or transient failures past the policy, reverse the debit.
    async fn credit(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Credit);
        let give_up = |why: String| self.give_up_credit(order, why);
        if attempt > 1 {
            match self.card.trade_status(&key).await {
                Ok(status) if status.state == TradeState::Success => {
                    return self.loaded(order).await;
                }
                Ok(status) if status.state == TradeState::Failed => {
                    let why = format!("card load refused: {}", trade_failure(&status));
                    return give_up(why).await;
                }
                Ok(status) if status.state == TradeState::NotFound => {}
                Err(e) if nothing_sent(&e) => return Ok(After::NotSent),
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
            amount_fen: order.amount,
            out_trade_no: key,
            source: LoadSource::Bank,
            source_ref: order.id.step_key(OrderStep::Debit),
        };
        match self.card.load(&request).await {
            Ok(result) if result.state == TradeState::Success => self.loaded(order).await,
            Ok(_) => Ok(After::Backoff),
            Err(e) => match after_failure(&e, attempt >= self.policy.credit_attempts) {
                Some(after) => Ok(after),
                None if transient(&e) => {
                    give_up(format!("card load failed {attempt} times: {}", code_of(&e))).await
                }
                None => give_up(format!("card load refused: {}", code_of(&e))).await,
            },
        }
    }

    /// The 圈存 succeeded: the order has too, unless the school claims automatically, in which
    /// case `claiming` is persisted before the claim is sent.
    async fn loaded(&self, order: &Order) -> Result<After, OrderError> {
        let next = if self.policy.claim_after_load {
            OrderState::Claiming
        } else {
            OrderState::Succeeded
        };
        self.step(order, OrderState::Crediting, next, None).await
    }

    /// `claiming`: move the loaded 过渡余额 into the spendable balance under the order's claim
    /// key. The card system answers a repeated key with its first answer, so every attempt
    /// sends the same request and the money is claimed once however often it is sent. The
    /// top-up has succeeded whatever happens here (the money is on the card account): a claim
    /// refused, or failing `claim_attempts` times, leaves it in 过渡余额 for 「领取」 or a tap.
    async fn claim(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let request = ClaimPending {
            account: order.account.clone(),
            out_trade_no: order.id.step_key(OrderStep::Claim),
        };
        let detail = match self.card.claim_pending(&request).await {
            Ok(_) => None,
            // tapped at a POS in between: the money is spendable already
            Err(e) if e.code() == Some(ErrorCode::NothingToClaim) => {
                Some("nothing left to claim".to_owned())
            }
            Err(e) => match after_failure(&e, attempt >= self.policy.claim_attempts) {
                Some(after) => return Ok(after),
                None => Some(format!("{CLAIM_FAILED}: {}", code_of(&e))),
            },
        };
        self.step(order, OrderState::Claiming, OrderState::Succeeded, detail)
            .await
    }

    /// `reversing`: cancel the load by key (so a late original cannot land), then reverse
    /// the bank debit. Both are idempotent, so every attempt runs both.
    async fn reverse(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let manual = |why: String| self.to_a_person(order, OrderState::Reversing, why);
        let exhausted = attempt >= self.policy.reverse_attempts;
        let cancel = Reverse {
            orig_out_trade_no: order.id.step_key(OrderStep::Credit),
            out_trade_no: order.id.step_key(OrderStep::CancelCredit),
        };
        match self.card.reverse_load(&cancel).await {
            Ok(_) => {}
            Err(e) => {
                return match after_failure(&e, exhausted) {
                    Some(after) => Ok(after),
                    None => manual(format!("card load cancel failed: {}", code_of(&e))).await,
                };
            }
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
            Err(e) => match after_failure(&e, exhausted) {
                Some(after) => Ok(after),
                None => manual(format!("bank reversal failed: {}", code_of(&e))).await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! The machine against the bank and card simulators over loopback HTTP, with a real
    //! (temporary) sled store. Money is read back from the simulators.

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::actors::orders::test_support::*;
    use crate::adapters::AdapterError;
    use crate::adapters::{bank, card};
    use crate::domain::{Fen, OrderId};
    use crate::sim::SimConfig;
    use crate::store::orders::OrderState::{
        Claiming, Crediting, Debited, Debiting, NeedsManual, Reversed, Reversing, Succeeded,
    };
    use crate::store::orders::{ManualClock, OrderKind, OrderTask, SystemClock};

    /// The top-up machine's test world.
    type World = Harness<Upstreams>;

    struct Upstreams {
        bank: BankHandle,
        card: CardHandle,
        /// `claim = "automatic"`: the machine claims 过渡余额 after the 圈存.
        claim_after_load: bool,
    }

    async fn world() -> World {
        world_with(None, false).await
    }

    /// [`world`] at a school that claims 过渡余额 automatically after each 圈存.
    async fn claiming_world() -> World {
        world_with(None, true).await
    }

    /// A world whose card adapter measures its breaker cooldown on `card_clock`, where given
    /// (a manual clock keeps the breaker open until the test moves it).
    async fn world_with(card_clock: Option<Arc<ManualClock>>, claim_after_load: bool) -> World {
        let sim = sim_at_ten(SimConfig {
            accounts: 100,
            ..SimConfig::default()
        })
        .await;
        let bank = bank::actor::start(&quick_upstream(&sim, "/sim/bank")).unwrap();
        let mut card_upstream = quick_upstream(&sim, "/sim/card");
        if let Some(clock) = card_clock {
            card_upstream.clock = clock;
        }
        let card = card::actor::start(&card_upstream).unwrap();
        let upstreams = Upstreams {
            bank,
            card,
            claim_after_load,
        };
        Harness::new(sim, upstreams, |store, up| {
            let policy = TopUpPolicy {
                debit_attempts: 3,
                credit_attempts: 3,
                reverse_attempts: 3,
                claim_after_load: up.claim_after_load,
                claim_attempts: 3,
            };
            let machine =
                TopUpMachine::new(store.clone(), up.bank.clone(), up.card.clone(), policy);
            Machine::TopUp(machine)
        })
    }

    impl World {
        /// The next start after a crash: the same files, opened by a clock at which the dead
        /// worker's lease has run out.
        fn restart_after_the_lease(&mut self, dir: &std::path::Path) {
            let later = ManualClock::starting_at(chrono::Utc::now().timestamp_millis() + 11_000);
            self.reopen(dir, later);
        }

        /// The orders not yet ended, with their states.
        async fn unfinished(&self) -> Vec<(OrderId, OrderState)> {
            self.store
                .list_unfinished()
                .await
                .unwrap()
                .into_iter()
                .map(|o| (o.placed.id, o.state))
                .collect()
        }

        async fn top_up(&self, amount_fen: i64) -> OrderId {
            let key = format!("wx-{amount_fen}");
            self.place(OrderKind::TopUp, SNO, ACCOUNT, amount_fen, key)
                .await
        }

        /// A worker claims the order's retry as soon as it is due and dies holding its lease.
        async fn crash_holding_the_retry(&self) -> Vec<Claim> {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let claims = self.store.claim(Duration::from_secs(10), 8).await.unwrap();
                if !claims.is_empty() {
                    return claims;
                }
                assert!(Instant::now() < deadline, "the retry never came due");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }

        /// A 50-yuan top-up whose debit the bank committed but whose answer was lost: the
        /// order waits in `Debiting`. With the bank's balance and the 过渡余额 from before.
        async fn debit_committed_answer_lost(&self) -> (OrderId, i64, i64) {
            let (bank_before, pending_before) = (self.bank_balance(), self.card_pending().await);
            let id = self.top_up(5_000).await;
            self.drive_until(&id, |s| s == Debiting).await;
            self.faults("bank", json!({"lost_response_rate": 1.0}))
                .await;
            assert_eq!(self.worker.run_once().await.unwrap(), 1);
            // the bank took the money; we only saw a bare 503
            assert_eq!(self.bank_balance(), bank_before - 5_000);
            (id, bank_before, pending_before)
        }

        /// The bank answers again; the order ends `Succeeded` with the 50 yuan moved once.
        async fn succeeds_debited_once(&self, id: &OrderId, bank_before: i64, pending_before: i64) {
            self.faults("bank", json!({})).await;
            let order = self.drive_until(id, OrderState::is_terminal).await;
            assert_eq!(order.state, Succeeded);
            assert_eq!(self.bank_balance(), bank_before - 5_000, "debited once");
            assert_eq!(self.card_pending().await, pending_before + 5_000);
        }

        fn bank_balance(&self) -> i64 {
            self.sim.state.bank().balance(&self.sim.state, SNO).unwrap()
        }

        /// 过渡余额 as the card system holds it (read without our adapter and its breaker).
        fn sim_pending(&self) -> i64 {
            self.sim_card().1
        }

        /// (spendable, 过渡余额) as the card system holds them.
        fn sim_card(&self) -> (i64, i64) {
            let v = self
                .sim
                .state
                .card()
                .view(self.sim.state.campus(), SNO)
                .unwrap();
            (v.balance_fen, v.pending_fen)
        }

        /// The `CLAIM` transactions on the card's statement today: (trade number, amount).
        fn claims_today(&self) -> Vec<(String, i64)> {
            let today = crate::sim::campus::local_date(self.sim.state.clock().now());
            crate::sim::card::transactions_between(&self.sim.state, ACCOUNT, today, today)
                .unwrap()
                .into_iter()
                .filter(|t| t.tx_type == crate::wire::TxType::Claim)
                .map(|t| (t.trade_no, t.amount_fen.fen()))
                .collect()
        }

        async fn card_pending(&self) -> i64 {
            self.card.balance(ACCOUNT).await.unwrap().pending_fen.fen()
        }
    }

    /// The smallest whole-yuan load (loads must be whole yuan) that exceeds the wallet cap.
    fn over_the_cap(balance: &crate::wire::Balance) -> i64 {
        let room =
            balance.wallet_cap_fen.fen() - balance.balance_fen.fen() - balance.pending_fen.fen();
        (room / 100 + 1) * 100
    }

    #[actix_rt::test]
    async fn a_top_up_moves_the_money_from_bank_to_card_once() {
        let w = world().await;
        let (bank_before, pending_before) = (w.bank_balance(), w.card_pending().await);
        let id = w.top_up(5_000).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(path(&order), [Debiting, Debited, Crediting, Succeeded]);
        assert_eq!(w.bank_balance(), bank_before - 5_000);
        assert_eq!(w.card_pending().await, pending_before + 5_000);
        assert_eq!(w.store.list_unfinished().await.unwrap(), []);
    }

    #[actix_rt::test]
    async fn a_bank_answer_lost_after_commit_is_queried_and_never_debited_twice() {
        let w = world().await;
        let (id, bank_before, pending_before) = w.debit_committed_answer_lost().await;
        assert_eq!(
            w.state_of(&id).await,
            Debiting,
            "outcome unknown, nothing assumed"
        );
        w.succeeds_debited_once(&id, bank_before, pending_before)
            .await;
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
        assert_eq!(order.state, Reversed);
        assert_eq!(
            detail_into(&order, Reversing),
            Some("card load refused: code 2201")
        );
        assert_eq!(w.bank_balance(), bank_before, "the debit was reversed");
        assert_eq!(w.card_pending().await, balance.pending_fen.fen());
    }

    #[actix_rt::test]
    async fn a_card_system_that_keeps_failing_gets_the_debit_reversed_once_it_answers() {
        let w = world().await;
        let (bank_before, pending_before) = (w.bank_balance(), w.card_pending().await);
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == Debited).await;
        w.faults("card", json!({"error_rate": 1.0})).await;
        // the load is retried with backoff, then given up: the debit is to be reversed
        let order = w.drive_until(&id, |s| s == Reversing).await;
        assert_eq!(
            order.history.last().and_then(|c| c.detail.as_deref()),
            Some("card load unconfirmed after 3 attempts")
        );
        // the card system answers again: the load is cancelled by key, the bank refunds
        w.faults("card", json!({})).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, Reversed);
        assert_eq!(w.bank_balance(), bank_before);
        assert_eq!(w.card_pending().await, pending_before);
    }

    #[actix_rt::test]
    async fn a_debit_that_never_resolves_is_reversed_and_its_late_original_refused() {
        let w = world().await;
        let (bank_before, pending_before) = (w.bank_balance(), w.card_pending().await);
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == Debiting).await;
        // neither the debit nor any query of it gets through: its outcome stays unknown
        w.faults(
            "bank",
            json!({"error_rate": 1.0, "ops": ["bank/debit", "bank/query"]}),
        )
        .await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(path(&order), [Debiting, Reversing, Reversed]);
        assert_eq!(
            detail_into(&order, Reversing),
            Some("bank debit unresolved after 3 attempts")
        );
        w.faults("bank", json!({})).await;
        // the original debit, delayed on the way, reaches the bank after its reversal
        let late = BankDebit {
            sno: SNO.to_owned(),
            amount_fen: Fen(5_000),
            out_trade_no: id.step_key(OrderStep::Debit),
            purpose: crate::adapters::bank::PURPOSE_CAMPUS_CARD_LOAD.to_owned(),
        };
        match w.bank.debit(&late).await {
            Err(AdapterError::Rejected { code, .. }) => assert_eq!(code, 5202),
            other => panic!("the late original went through: {other:?}"),
        }
        // and so is a load with the order's key: the reversal cancelled it by key first
        let late_load = LoadCreate {
            account: ACCOUNT.to_owned(),
            amount_fen: Fen(5_000),
            out_trade_no: id.step_key(OrderStep::Credit),
            source: LoadSource::Bank,
            source_ref: id.step_key(OrderStep::Debit),
        };
        match w.card.load(&late_load).await {
            Err(AdapterError::Rejected { code, .. }) => assert_eq!(code, 2213),
            other => panic!("the late load went through: {other:?}"),
        }
        assert_eq!(w.bank_balance(), bank_before, "nothing taken");
        assert_eq!(w.card_pending().await, pending_before, "nothing loaded");
    }

    #[actix_rt::test]
    async fn a_reversal_that_keeps_failing_waits_for_a_person() {
        let w = world().await;
        let balance = w.card.balance(ACCOUNT).await.unwrap();
        let amount = over_the_cap(&balance);
        let bank_before = w.bank_balance();
        let id = w.top_up(amount).await;
        w.drive_until(&id, |s| s == Reversing).await;
        w.faults("bank", json!({"error_rate": 1.0})).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, NeedsManual);
        // 9000 busy, three times (fewer than the breaker's five failures)
        assert_eq!(
            order.history.last().and_then(|c| c.detail.as_deref()),
            Some("bank reversal failed: unavailable")
        );
        // the money is still at the bank's side of the ledger, for the operator to return
        assert_eq!(w.bank_balance(), bank_before - amount);
        assert_eq!(w.store.list_unfinished().await.unwrap(), []);
    }

    #[actix_rt::test]
    async fn an_open_breaker_sends_nothing_and_uses_up_no_attempt() {
        // the breaker's cooldown passes only when this clock moves, and nothing moves it
        let w = world_with(Some(ManualClock::starting_at(0)), false).await;
        let pending_before = w.sim_pending();
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == Debited).await;
        // the card system fails until the breaker opens; it stays open
        w.faults("card", json!({"error_rate": 1.0})).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while w.card.balance(ACCOUNT).await
            != Err(AdapterError::Unavailable(
                crate::adapters::Unavailable::BreakerOpen,
            ))
        {
            assert!(Instant::now() < deadline, "the breaker never opened");
        }
        w.faults("card", json!({})).await;
        // many more claims than the policy's 3 attempts, none of them sent
        let mut claims = 0;
        while claims < 10 {
            claims += w.worker.run_once().await.unwrap();
            assert!(Instant::now() < deadline, "only {claims} claims");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(w.state_of(&id).await, Crediting, "not given up");
        assert_eq!(w.sim_pending(), pending_before, "nothing loaded");
    }

    #[actix_rt::test]
    async fn payment_tasks_stay_queued_for_the_machine_that_drives_payments() {
        let w = world().await;
        let electricity = OrderKind::Payment {
            biller_id: "elec".into(),
            target_id: "R-1-101".into(),
            receivable_ids: Vec::new(),
            note: None,
        };
        let key = "wx-payment".to_owned();
        let payment = w.place(electricity, SNO, ACCOUNT, 3_000, key).await;
        let top_up = w.top_up(5_000).await;
        w.drive_until(&top_up, OrderState::is_terminal).await;
        // the end is announced; then nothing else is ours
        while w.worker.run_once().await.unwrap() > 0 {}
        let left = w
            .store
            .claim_kinds(
                &[crate::store::orders::KindTag::Payment],
                Duration::from_secs(1),
                8,
            )
            .await
            .unwrap();
        assert_eq!(
            left.iter()
                .map(|c| (&c.order_id, c.task, c.attempt))
                .collect::<Vec<_>>(),
            [(&payment, OrderTask::Advance, 1)]
        );
        assert_eq!(
            *w.told.0.lock().unwrap(),
            [(top_up, Succeeded)],
            "the top-up's end was announced once"
        );
    }

    #[actix_rt::test]
    async fn an_order_cut_off_mid_debit_resumes_from_the_reopened_store_and_debits_once() {
        let mut w = world().await;
        let dir = tempfile::tempdir().unwrap();
        w.reopen(dir.path(), Arc::new(SystemClock));
        let (id, bank_before, pending_before) = w.debit_committed_answer_lost().await;
        // a worker claims the retry and dies holding its lease: the process is gone
        let held = w.crash_holding_the_retry().await;
        assert_eq!(held[0].order_id, id);
        w.restart_after_the_lease(dir.path());
        assert_eq!(w.unfinished().await, [(id.clone(), Debiting)]);
        w.succeeds_debited_once(&id, bank_before, pending_before)
            .await;
    }

    #[actix_rt::test]
    async fn an_automatic_claim_makes_the_loaded_money_spendable_once() {
        let w = claiming_world().await;
        let (balance, pending) = w.sim_card();
        let bank_before = w.bank_balance();
        let id = w.top_up(5_000).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(
            path(&order),
            [Debiting, Debited, Crediting, Claiming, Succeeded]
        );
        assert!(claimed_online(&order));
        assert_eq!(w.sim_card(), (balance + pending + 5_000, 0));
        assert_eq!(w.bank_balance(), bank_before - 5_000);
        assert_eq!(
            w.claims_today()
                .iter()
                .map(|(_, fen)| *fen)
                .collect::<Vec<_>>(),
            [pending + 5_000]
        );
    }

    #[actix_rt::test]
    async fn a_claim_that_keeps_failing_ends_the_top_up_succeeded_with_the_money_pending() {
        let w = claiming_world().await;
        let (balance, pending) = w.sim_card();
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == Claiming).await;
        w.faults(
            "card",
            json!({"error_rate": 1.0, "ops": ["card/load/claim"]}),
        )
        .await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, Succeeded, "not failed, not reversed");
        assert_eq!(
            order.history.last().and_then(|c| c.detail.as_deref()),
            Some("claim failed: unavailable")
        );
        assert!(!claimed_online(&order));
        assert_eq!(w.sim_card(), (balance, pending + 5_000), "still 过渡余额");
        assert_eq!(w.claims_today(), []);
    }

    #[actix_rt::test]
    async fn a_crash_between_the_load_and_the_claim_resumes_and_claims_once() {
        let mut w = claiming_world().await;
        let dir = tempfile::tempdir().unwrap();
        w.reopen(dir.path(), Arc::new(SystemClock));
        let (balance, pending) = w.sim_card();
        let id = w.top_up(5_000).await;
        w.drive_until(&id, |s| s == Claiming).await;
        // the claim goes out and the card system commits it; the answer is lost
        w.faults(
            "card",
            json!({"lost_response_rate": 1.0, "ops": ["card/load/claim"]}),
        )
        .await;
        assert_eq!(w.worker.run_once().await.unwrap(), 1);
        assert_eq!(w.sim_card(), (balance + pending + 5_000, 0));
        assert_eq!(w.state_of(&id).await, Claiming, "outcome unknown");
        // a worker claims the retry and dies holding its lease: the process is gone
        let held = w.crash_holding_the_retry().await;
        assert_eq!(held[0].order_id, id);
        w.faults("card", json!({})).await;
        w.restart_after_the_lease(dir.path());
        assert_eq!(w.unfinished().await, [(id.clone(), Claiming)]);
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, Succeeded);
        assert!(
            claimed_online(&order),
            "the resent key answered the first claim"
        );
        assert_eq!(w.sim_card(), (balance + pending + 5_000, 0));
        assert_eq!(w.claims_today().len(), 1, "claimed once");
    }
}
