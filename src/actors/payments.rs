//! The payment order machine (自助缴费: card e-wallet debit → biller credit), driven from the
//! orders store's task outbox like the top-up machine in [`super::orders`].
//!
//! Why it exists: a payment touches two systems that can each refuse, time out, or commit and
//! lose their answer, and the biller may accept a payment now and complete it minutes later
//! (a dorm meter is credited by its controller). This module owns the one transition function
//! for payments: each step persists the state that announces an external call before making
//! it, never re-sends a money write without first querying its key (except the very first
//! send), and ends every order terminal or waiting for a person.
//!
//! It must never compose user text (the rules render the notice from the order's state and
//! detail), never log a student number, room or payer, and never refund a payment whose biller
//! outcome it does not know: only a biller's own refusal (or its answer that it never saw the
//! key) lets the money go back to the card; an outcome that stays unknown goes to a person.
//!
//! States (see `store::orders::OrderState`):
//! `created → debiting → debited → crediting → succeeded`;
//! `debiting → failed` (the card system refused: lost card, balance, limits);
//! `debiting → needs_manual` (the debit's outcome stayed unknown through every attempt);
//! `crediting → reversing → reversed` (the biller refused, failed later, or never got the
//! payment: the card debit is refunded by key); `crediting → needs_manual` (accepted but never
//! completed, or unreachable for good); `reversing → needs_manual` (the refund kept failing).

use super::orders::{
    After, OrderError, Transitions, after_failure, code_of, nothing_sent, trade_failure, transient,
};
use crate::adapters::{BillersHandle, CardHandle};
use crate::domain::OrderStep;
use crate::store::orders::{Claim, Order, OrderKind, OrderState, OrderStore};
use crate::wire::{
    BillerPay, BillerPayResult, BillerPayer, BillerState, Debit, Refund, TradeState,
};

/// How hard the machine tries before it gives up on a step (`[orders]` in the settings).
#[derive(Clone, Debug)]
pub struct PaymentPolicy {
    /// Attempts at the card debit whose outcome stays unknown (no answer, the query failing)
    /// before the order waits for a person (reconciliation then settles it by the card's
    /// records: refunded if it was taken).
    pub debit_attempts: u32,
    /// Sends to the biller (transient failures, or answers that it never saw the key) before
    /// the debit is refunded.
    pub credit_attempts: u32,
    /// Attempts at the refund before the order waits for a person.
    pub refund_attempts: u32,
    /// A payment whose biller outcome is still open (accepted and not completed, or the
    /// biller unreachable) this long after it was sent waits for a person.
    pub unresolved_after: std::time::Duration,
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        Self {
            debit_attempts: 10,
            credit_attempts: 5,
            refund_attempts: 8,
            unresolved_after: std::time::Duration::from_secs(6 * 3600),
        }
    }
}

/// Drives payment orders. Cheap to clone.
#[derive(Clone)]
pub struct PaymentMachine<S: OrderStore> {
    store: S,
    card: CardHandle,
    billers: BillersHandle,
    policy: PaymentPolicy,
}

/// What the payment is for, as the machine needs it.
struct Payee<'a> {
    biller_id: &'a str,
    target_id: &'a str,
    receivable_ids: &'a [String],
    note: Option<&'a str>,
}

fn payee(order: &Order) -> Option<Payee<'_>> {
    match &order.kind {
        OrderKind::Payment {
            biller_id,
            target_id,
            receivable_ids,
            note,
        } => Some(Payee {
            biller_id,
            target_id,
            receivable_ids,
            note: note.as_deref(),
        }),
        OrderKind::TopUp => None,
    }
}

impl<S: OrderStore> Transitions for PaymentMachine<S> {
    type Store = S;
    fn store(&self) -> &S {
        &self.store
    }
}

impl<S: OrderStore> PaymentMachine<S> {
    pub fn new(store: S, card: CardHandle, billers: BillersHandle, policy: PaymentPolicy) -> Self {
        Self {
            store,
            card,
            billers,
            policy,
        }
    }

    /// Take one step on a claimed `Advance` task of a payment order. `claim.attempt` counts
    /// the attempts in the order's current state (1 = the first).
    pub async fn advance(&self, claim: &Claim, order: &Order) -> Result<After, OrderError> {
        let Some(payee) = payee(order) else {
            return Ok(After::Ack);
        };
        match order.state {
            OrderState::Created => {
                self.step(order, OrderState::Created, OrderState::Debiting, None)
                    .await
            }
            OrderState::Debiting => self.debit(order, &payee, claim.attempt).await,
            OrderState::Debited => {
                self.step(order, OrderState::Debited, OrderState::Crediting, None)
                    .await
            }
            OrderState::Crediting => self.credit(order, &payee, claim.attempt).await,
            OrderState::Reversing => self.refund(order, claim.attempt).await,
            // a top-up's step (过渡余额): no payment is ever moved there
            OrderState::Claiming
            | OrderState::Succeeded
            | OrderState::Failed
            | OrderState::Reversed
            | OrderState::NeedsManual => Ok(After::Ack),
        }
    }

    /// `debiting`: debit the e-wallet once; on any later attempt ask the card system by key.
    /// An outcome still unknown after `debit_attempts` waits for a person.
    async fn debit(
        &self,
        order: &Order,
        payee: &Payee<'_>,
        attempt: u32,
    ) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Debit);
        let (attempts, manual) = (self.policy.debit_attempts, OrderState::NeedsManual);
        let unresolved =
            || self.debit_unresolved(order, attempt, attempts, DEBIT_UNRESOLVED, manual);
        if attempt > 1 {
            match self.card.trade_status(&key).await {
                Ok(status) => match status.state {
                    TradeState::Success => return self.debited(order).await,
                    TradeState::Failed => {
                        let why = format!("{CARD_REFUSED}{}", trade_failure(&status));
                        return self.debit_refused(order, why).await;
                    }
                    TradeState::Processing | TradeState::Reversed => {
                        return unresolved().await;
                    }
                    // never arrived: sending it (with the same key) is safe
                    TradeState::NotFound => {}
                },
                Err(e) if nothing_sent(&e) => return Ok(After::NotSent),
                Err(_) => return unresolved().await,
            }
        }
        let request = Debit {
            account: order.account.clone(),
            amount_fen: order.amount,
            out_trade_no: key,
            biller_id: payee.biller_id.to_owned(),
            target_id: payee.target_id.to_owned(),
            remark: String::new(),
            password_digest: None,
        };
        match self.card.debit(&request, None).await {
            Ok(_) => self.debited(order).await,
            Err(e) if nothing_sent(&e) => Ok(After::NotSent),
            Err(e) if transient(&e) => unresolved().await,
            Err(e) => {
                let why = format!("{CARD_REFUSED}{}", code_of(&e));
                self.debit_refused(order, why).await
            }
        }
    }

    /// `crediting`: pay the biller (same key every time; query it first after the first
    /// attempt). Accepted payments are polled until they complete.
    async fn credit(
        &self,
        order: &Order,
        payee: &Payee<'_>,
        attempt: u32,
    ) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Credit);
        if attempt > 1 {
            match self.billers.query(&key).await {
                Ok(result) if result.state == BillerState::NotFound => {
                    if attempt > self.policy.credit_attempts {
                        let why =
                            format!("biller never received the payment after {attempt} attempts");
                        return self.give_up_credit(order, why).await;
                    }
                }
                Ok(result) => return self.credited(order, &result).await,
                Err(e) if nothing_sent(&e) => return Ok(After::NotSent),
                Err(_) => {
                    return if self.accepted_too_long(order) {
                        let why = "biller unreachable; outcome unknown".to_owned();
                        self.to_a_person(order, OrderState::Crediting, why).await
                    } else {
                        Ok(After::Backoff)
                    };
                }
            }
        }
        let request = BillerPay {
            biller_id: payee.biller_id.to_owned(),
            target_id: payee.target_id.to_owned(),
            amount_fen: order.amount,
            receivable_ids: payee.receivable_ids.to_vec(),
            out_trade_no: key,
            payer: BillerPayer {
                sno: order.sno.as_str().to_owned(),
                card_out_trade_no: order.id.step_key(OrderStep::Debit),
            },
            message: payee.note.map(str::to_owned),
        };
        match self.billers.pay(&request).await {
            Ok(result) => self.credited(order, &result).await,
            Err(e) if nothing_sent(&e) => Ok(After::NotSent),
            Err(e) if transient(&e) => Ok(After::Backoff),
            Err(e) => {
                self.give_up_credit(order, format!("{BILLER_REFUSED}{}", code_of(&e)))
                    .await
            }
        }
    }

    /// The biller's answer to a payment or a query of its key.
    async fn credited(&self, order: &Order, result: &BillerPayResult) -> Result<After, OrderError> {
        match result.state {
            BillerState::Success => {
                self.step(order, OrderState::Crediting, OrderState::Succeeded, None)
                    .await
            }
            BillerState::Failed => {
                let reason = result.fail_reason.as_deref().unwrap_or("failed");
                self.give_up_credit(order, format!("{BILLER_FAILED}{reason}"))
                    .await
            }
            BillerState::Accepted if self.accepted_too_long(order) => {
                let why = "biller accepted but did not complete".to_owned();
                self.to_a_person(order, OrderState::Crediting, why).await
            }
            // accepted (completes later), or an answer that contradicts our own send
            BillerState::Accepted | BillerState::NotFound => Ok(After::Backoff),
        }
    }

    /// Whether the order has been crediting longer than an accepted payment may take.
    fn accepted_too_long(&self, order: &Order) -> bool {
        let since = order
            .history
            .iter()
            .rev()
            .find(|c| c.to == OrderState::Crediting)
            .map_or(order.updated_at_ms, |c| c.at_ms);
        let limit_ms = i64::try_from(self.policy.unresolved_after.as_millis()).unwrap_or(i64::MAX);
        chrono::Utc::now().timestamp_millis() - since > limit_ms
    }

    /// `reversing`: refund the whole debit to the e-wallet by its own key.
    async fn refund(&self, order: &Order, attempt: u32) -> Result<After, OrderError> {
        let key = order.id.step_key(OrderStep::Reverse);
        let exhausted = attempt >= self.policy.refund_attempts;
        let manual = |why: String| self.to_a_person(order, OrderState::Reversing, why);
        if attempt > 1 {
            match self.card.trade_status(&key).await {
                Ok(status) => match status.state {
                    TradeState::Success => {
                        return self
                            .step(order, OrderState::Reversing, OrderState::Reversed, None)
                            .await;
                    }
                    TradeState::Failed => {
                        let why = format!("card refund refused: {}", trade_failure(&status));
                        return manual(why).await;
                    }
                    TradeState::NotFound => {}
                    TradeState::Processing | TradeState::Reversed => {
                        return if exhausted {
                            manual("card refund unconfirmed".to_owned()).await
                        } else {
                            Ok(After::Backoff)
                        };
                    }
                },
                Err(e) => {
                    return match after_failure(&e, exhausted) {
                        Some(after) => Ok(after),
                        None => manual(format!("card refund failed: {}", code_of(&e))).await,
                    };
                }
            }
        }
        let request = Refund {
            orig_out_trade_no: order.id.step_key(OrderStep::Debit),
            out_trade_no: key,
            amount_fen: order.amount,
        };
        match self.card.refund(&request).await {
            Ok(_) => {
                self.step(order, OrderState::Reversing, OrderState::Reversed, None)
                    .await
            }
            Err(e) => match after_failure(&e, exhausted) {
                Some(after) => Ok(after),
                None => manual(format!("card refund failed: {}", code_of(&e))).await,
            },
        }
    }
}

/// Why a debit whose outcome never became known waits for a person.
const DEBIT_UNRESOLVED: &str = "card debit unresolved";

/// Detail prefixes the notice reads to say why (see [`Outcome::of`]).
const CARD_REFUSED: &str = "card debit refused: ";
const BILLER_REFUSED: &str = "biller refused: ";
const BILLER_FAILED: &str = "biller failed: ";

/// How a finished payment ended, as the user is told. The rules' messages render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The biller has the money.
    Paid,
    /// Nothing was taken: the card system refused (with its code when known).
    Refused { card_code: Option<u32> },
    /// The biller did not take it and the money is back on the card.
    Refunded { biller_code: Option<u32> },
    /// A person is looking at it.
    Manual,
    /// Not finished yet.
    InProgress,
}

impl Outcome {
    pub fn of(order: &Order) -> Self {
        let detail_code = |prefix: &str| {
            order
                .history
                .iter()
                .rev()
                .filter_map(|c| c.detail.as_deref())
                .find_map(|d| d.strip_prefix(prefix))
                .and_then(|rest| rest.strip_prefix("code "))
                .and_then(|code| code.parse().ok())
        };
        match order.state {
            OrderState::Succeeded => Outcome::Paid,
            OrderState::Failed => Outcome::Refused {
                card_code: detail_code(CARD_REFUSED),
            },
            OrderState::Reversed => Outcome::Refunded {
                biller_code: detail_code(BILLER_REFUSED),
            },
            OrderState::NeedsManual => Outcome::Manual,
            OrderState::Created
            | OrderState::Debiting
            | OrderState::Debited
            | OrderState::Crediting
            | OrderState::Claiming
            | OrderState::Reversing => Outcome::InProgress,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The machine against the card and billers simulators over loopback HTTP, with a real
    //! (temporary) sled store. Money is read back from the simulators.

    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::actors::orders::test_support::*;
    use crate::adapters::{billers, card};
    use crate::domain::{Fen, OrderId};
    use crate::sim::SimConfig;
    use crate::sim::card::CardSimConfig;
    use crate::store::orders::OrderState::{
        Crediting, Debited, Debiting, Failed, NeedsManual, Reversed, Reversing, Succeeded,
    };

    /// The payment machine's test world.
    type World = Harness<Upstreams>;

    struct Upstreams {
        card: CardHandle,
        billers: BillersHandle,
    }

    async fn world() -> World {
        let sim = sim_at_ten(SimConfig {
            accounts: 100,
            // the exam fee (30 元) is paid without the card password here
            card: CardSimConfig {
                nopwd_limit_fen: 5_000,
                ..CardSimConfig::default()
            },
            ..SimConfig::default()
        })
        .await;
        let upstreams = Upstreams {
            card: card::actor::start(&quick_upstream(&sim, "/sim/card")).unwrap(),
            billers: billers::actor::start(&quick_upstream(&sim, "/sim/billers")).unwrap(),
        };
        Harness::new(sim, upstreams, |store, up| {
            let policy = PaymentPolicy {
                debit_attempts: 3,
                credit_attempts: 3,
                refund_attempts: 3,
                unresolved_after: Duration::from_secs(3600),
            };
            let machine =
                PaymentMachine::new(store.clone(), up.card.clone(), up.billers.clone(), policy);
            Machine::Payments(machine)
        })
    }

    impl World {
        async fn pay(
            &self,
            sno: &str,
            account: &str,
            biller: &str,
            target: &str,
            amount_fen: i64,
        ) -> OrderId {
            let kind = OrderKind::Payment {
                biller_id: biller.to_owned(),
                target_id: target.to_owned(),
                receivable_ids: Vec::new(),
                note: None,
            };
            let key = format!("pay-{}", OrderId::generate(0));
            self.place(kind, sno, account, amount_fen, key).await
        }

        /// The notices, once there is one (rounds run until then, at most 30 s).
        async fn told(&self) -> Vec<(OrderId, OrderState)> {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                self.run_once().await;
                let told = self.told.0.lock().unwrap().clone();
                if !told.is_empty() {
                    return told;
                }
                assert!(Instant::now() < deadline, "nobody was told");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        async fn run_once(&self) {
            self.worker.run_once().await.unwrap();
        }

        /// The e-wallet balance as the card simulator's inspection endpoint shows it.
        async fn balance(&self, sno: &str) -> i64 {
            let (status, account) = self.sim.get(&format!("/sim/card/accounts/{sno}")).await;
            assert_eq!(status, 200);
            account["balance_fen"].as_i64().unwrap()
        }

        async fn net_balance(&self, sno: &str) -> i64 {
            self.billers
                .lookup("net", sno)
                .await
                .unwrap()
                .balance_fen
                .unwrap()
                .fen()
        }

        /// A dorm room whose meter answers (`online`) or is offline (6002).
        async fn room(&self, online: bool) -> String {
            for f in 1..=6 {
                for r in 1..=20 {
                    let room = format!("XY7-{f}{r:02}");
                    if self.billers.lookup("elec", &room).await.is_ok() == online {
                        return room;
                    }
                }
            }
            panic!("no room with online = {online}");
        }
    }

    fn last_detail(order: &Order) -> Option<&str> {
        order.history.last().and_then(|c| c.detail.as_deref())
    }

    #[actix_rt::test]
    async fn a_network_fee_moves_the_money_from_card_to_biller_once() {
        let w = world().await;
        let (card_before, net_before) = (w.balance(SNO).await, w.net_balance(SNO).await);
        let id = w.pay(SNO, ACCOUNT, "net", SNO, 1_000).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(path(&order), [Debiting, Debited, Crediting, Succeeded]);
        assert_eq!(Outcome::of(&order), Outcome::Paid);
        assert_eq!(
            w.told().await,
            [(id.clone(), Succeeded)],
            "the user is told once"
        );
        assert_eq!(w.balance(SNO).await, card_before - 1_000);
        assert_eq!(w.net_balance(SNO).await, net_before + 1_000);
        assert_eq!(w.store.list_unfinished().await.unwrap(), []);
    }

    #[actix_rt::test]
    async fn electricity_accepted_is_polled_until_the_meter_is_credited() {
        let w = world().await;
        let room = w.room(true).await;
        let kwh_before = w.billers.lookup("elec", &room).await.unwrap();
        let card_before = w.balance(SNO).await;
        let id = w.pay(SNO, ACCOUNT, "elec", &room, 560).await;
        // accepted: the order stays crediting while the meter controller works
        let order = w.drive_until(&id, |s| s == Crediting).await;
        w.run_once().await;
        w.run_once().await;
        assert_eq!(w.state_of(&id).await, Crediting);
        assert_eq!(order.amount, Fen(560));
        assert_eq!(w.balance(SNO).await, card_before - 560);
        // the meter is credited within 120 s of simulated time
        w.sim.state.clock().advance(121);
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, Succeeded);
        let kwh_after = w.billers.lookup("elec", &room).await.unwrap();
        assert_eq!(
            kwh_after.remaining_kwh_hundredths.unwrap(),
            kwh_before.remaining_kwh_hundredths.unwrap() + 1_000,
            "5.60 元 at 0.56 元/度 is 10 度"
        );
    }

    #[actix_rt::test]
    async fn a_biller_refusing_after_the_debit_gets_the_money_refunded() {
        let w = world().await;
        let room = w.room(false).await;
        let card_before = w.balance(SNO).await;
        let id = w.pay(SNO, ACCOUNT, "elec", &room, 1_000).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(
            path(&order),
            [Debiting, Debited, Crediting, Reversing, Reversed]
        );
        assert_eq!(
            detail_into(&order, Reversing),
            Some("biller refused: code 6002")
        );
        assert_eq!(
            Outcome::of(&order),
            Outcome::Refunded {
                biller_code: Some(6002)
            }
        );
        assert_eq!(w.balance(SNO).await, card_before, "refunded to the fen");
    }

    #[actix_rt::test]
    async fn a_fixed_fee_paid_twice_is_refused_by_the_biller_and_refunded() {
        let w = world().await;
        let start = w.balance(SNO).await;
        let first = w.pay(SNO, ACCOUNT, "exam", SNO, 3_000).await;
        let first = w.drive_until(&first, OrderState::is_terminal).await;
        assert_eq!(first.state, Succeeded);
        assert_eq!(w.balance(SNO).await, start - 3_000);
        // 张三 tops up at a canteen kiosk, so the second debit has the balance to go through
        w.card
            .load(&crate::wire::LoadCreate {
                account: ACCOUNT.to_owned(),
                amount_fen: Fen(5_000),
                out_trade_no: "KIOSK1".to_owned(),
                source: crate::wire::LoadSource::Bank,
                source_ref: "KIOSK1".to_owned(),
            })
            .await
            .unwrap();
        let (status, _) = w
            .sim
            .post(&format!("/sim/card/accounts/{SNO}/claim"), json!({}))
            .await;
        assert_eq!(status, 200);
        let card_before = w.balance(SNO).await;
        let second = w.pay(SNO, ACCOUNT, "exam", SNO, 3_000).await;
        let second = w.drive_until(&second, OrderState::is_terminal).await;
        assert_eq!(second.state, Reversed);
        assert_eq!(
            Outcome::of(&second),
            Outcome::Refunded {
                biller_code: Some(6005)
            }
        );
        assert_eq!(w.balance(SNO).await, card_before, "the second is refunded");
    }

    #[actix_rt::test]
    async fn a_lost_card_or_a_short_balance_is_refused_before_anything_moves() {
        let w = world().await;
        // 王五's card is reported lost; 陈晓雨 has 3.50 元
        let lost = w
            .pay("2024000003", "20003", "net", "2024000003", 1_000)
            .await;
        let poor = w
            .pay("2025000005", "20005", "net", "2025000005", 1_000)
            .await;
        let poor_before = w.balance("2025000005").await;
        let lost = w.drive_until(&lost, OrderState::is_terminal).await;
        let poor = w.drive_until(&poor, OrderState::is_terminal).await;
        assert_eq!(path(&lost), [Debiting, Failed]);
        assert_eq!(
            Outcome::of(&lost),
            Outcome::Refused {
                card_code: Some(2202)
            }
        );
        assert_eq!(
            Outcome::of(&poor),
            Outcome::Refused {
                card_code: Some(2301)
            }
        );
        assert_eq!(w.balance("2025000005").await, poor_before);
    }

    #[actix_rt::test]
    async fn answers_lost_after_commit_are_queried_and_nothing_is_sent_twice() {
        let w = world().await;
        let (card_before, net_before) = (w.balance(SNO).await, w.net_balance(SNO).await);
        let id = w.pay(SNO, ACCOUNT, "net", SNO, 1_500).await;
        w.drive_until(&id, |s| s == Debiting).await;
        w.faults("card", json!({"lost_response_rate": 1.0})).await;
        w.run_once().await;
        assert_eq!(w.state_of(&id).await, Debiting);
        w.faults("card", json!({})).await;
        w.drive_until(&id, |s| s == Crediting).await;
        w.faults("billers", json!({"lost_response_rate": 1.0}))
            .await;
        w.run_once().await;
        assert_eq!(w.state_of(&id).await, Crediting);
        w.faults("billers", json!({})).await;
        assert_eq!(
            w.net_balance(SNO).await,
            net_before + 1_500,
            "the biller took it"
        );
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, Succeeded);
        assert_eq!(w.balance(SNO).await, card_before - 1_500, "debited once");
        assert_eq!(
            w.net_balance(SNO).await,
            net_before + 1_500,
            "credited once"
        );
    }

    #[actix_rt::test]
    async fn a_refund_that_keeps_failing_waits_for_a_person() {
        let w = world().await;
        let room = w.room(false).await;
        let card_before = w.balance(SNO).await;
        let id = w.pay(SNO, ACCOUNT, "elec", &room, 1_000).await;
        w.drive_until(&id, |s| s == Crediting).await;
        w.faults("card", json!({"error_rate": 1.0})).await;
        let order = w.drive_until(&id, OrderState::is_terminal).await;
        assert_eq!(order.state, NeedsManual);
        // "unavailable" or "breaker_open", depending on how the breaker counted the retries
        assert!(
            last_detail(&order).is_some_and(|d| d.starts_with("card refund failed: ")),
            "{order:?}"
        );
        assert_eq!(Outcome::of(&order), Outcome::Manual);
        w.faults("card", json!({})).await;
        // the money is with neither the biller nor the card: the operator returns it
        assert_eq!(w.balance(SNO).await, card_before - 1_000);
        assert_eq!(w.store.list_unfinished().await.unwrap(), []);
    }
}
