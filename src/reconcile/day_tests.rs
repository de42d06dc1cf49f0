//! Two campus days reconciled against the bank, card and billers simulators over loopback
//! HTTP, with a real (temporary) sled store. Every difference is produced by real upstream
//! calls: a debit whose answer was lost after the bank committed, a key the bank has and we
//! do not, an amount the bank books one fen off, a record the bank leaves out, and a top-up
//! after the bank's 23:00 day cut. Money is read back from the simulators.

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::json;

use super::{ReconcileSettings, Reconciler, Sources, run_and_report};
use crate::adapters::{AdapterError, BankHandle, BillersHandle, CardHandle, UpstreamConfig};
use crate::adapters::{bank, billers, card};
use crate::domain::{Fen, OpenId, OrderId, OrderStep, StudentId};
use crate::sim::SimConfig;
use crate::sim::campus::local_secs;
use crate::sim::upstream::testkit::{self, Sim};
use crate::store::orders::{
    ManualClock, NewOrder, Order, OrderKind, OrderState, OrderStore, Transition,
};
use crate::store::reconcile::{Action, Class, DayResult, Line, ReconStore, SourceState, Upstream};
use crate::store::{SledOrders, SledRecon, Store};
use crate::wire::{
    BankDebit, BillerPay, BillerPayer, ClaimPending, DailyRecordsQuery, Debit, LoadCreate,
    LoadSource, ReconKind,
};

const SNO: &str = "2024000001";
const ACCOUNT: &str = "20001";
const OFFSET: i32 = 8;

struct World {
    sim: Sim,
    clock: Arc<ManualClock>,
    orders: SledOrders,
    recon: SledRecon,
    bank: BankHandle,
    card: CardHandle,
    billers: BillersHandle,
    reconciler: Reconciler<SledOrders, SledRecon>,
    dir: tempfile::TempDir,
    _store: Store,
}

async fn world() -> World {
    let sim = testkit::spawn(SimConfig {
        accounts: 100,
        ..SimConfig::default()
    })
    .await;
    sim.state.clock().freeze();
    let upstream = |mount: &str| {
        UpstreamConfig::new(
            format!("{}{mount}", sim.base),
            sim.creds.app_key.clone(),
            sim.creds.app_secret.clone(),
        )
    };
    let bank = bank::actor::start(&upstream("/sim/bank")).unwrap();
    let card = card::actor::start(&upstream("/sim/card")).unwrap();
    let billers = billers::actor::start(&upstream("/sim/billers")).unwrap();
    let store = Store::temporary().unwrap();
    let clock = ManualClock::starting_at(sim.state.clock().now() * 1000);
    let orders = store.orders_with_clock(clock.clone()).unwrap();
    let recon = store.reconcile().unwrap();
    let settings = ReconcileSettings {
        hold_days: 1,
        ..ReconcileSettings::default()
    };
    let sources = Sources {
        bank: Some(bank.clone()),
        card: Some(card.clone()),
        billers: Some(billers.clone()),
    };
    let reconciler = Reconciler {
        orders: orders.clone(),
        recon: recon.clone(),
        sources,
        settings,
        utc_offset_hours: OFFSET,
        clock: clock.clone(),
    };
    World {
        sim,
        clock,
        orders,
        recon,
        bank,
        card,
        billers,
        reconciler,
        dir: tempfile::tempdir().unwrap(),
        _store: store,
    }
}

impl World {
    /// Move the simulators (and our store's clock) to the next `hh:mm` campus time, always
    /// forward.
    fn at(&self, hh: i64, mm: i64) {
        let clock = self.sim.state.clock();
        let since_midnight = local_secs(clock.now());
        let ahead = (hh * 3600 + mm * 60 - since_midnight).rem_euclid(86_400);
        // already there: the same time tomorrow
        clock.advance(if ahead == 0 { 86_400 } else { ahead });
        let now_ms = clock.now() * 1000;
        self.clock.advance(std::time::Duration::from_millis(
            (now_ms - self.clock_ms()) as u64,
        ));
    }

    fn clock_ms(&self) -> i64 {
        use crate::store::orders::OrderClock;
        self.clock.now_ms()
    }

    fn campus_today(&self) -> NaiveDate {
        crate::sim::campus::local_date(self.sim.state.clock().now())
    }

    async fn faults(&self, upstream: &str, knobs: serde_json::Value) {
        let (status, _) = self
            .sim
            .post(&format!("/sim/faults/{upstream}"), knobs)
            .await;
        assert_eq!(status, 200);
    }

    fn bank_balance(&self) -> i64 {
        self.sim.state.bank().balance(&self.sim.state, SNO).unwrap()
    }

    async fn order(&self, kind: OrderKind, amount: i64) -> Order {
        let new = NewOrder {
            id: OrderId::generate(self.clock_ms()),
            idempotency_key: format!("wx-{}", OrderId::generate(0)),
            kind,
            openid: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
            sno: StudentId::parse(SNO).unwrap(),
            account: ACCOUNT.to_owned(),
            amount: Fen(amount),
        };
        self.orders.create(new, None).await.unwrap().order().clone()
    }

    async fn step(&self, order: &Order, from: OrderState, to: OrderState) {
        self.orders
            .transition(&order.id, Transition::new(from, to))
            .await
            .unwrap();
    }

    async fn bank_debit(&self, order: &Order) -> Result<(), AdapterError> {
        let req = BankDebit {
            sno: SNO.into(),
            amount_fen: order.amount,
            out_trade_no: order.id.step_key(OrderStep::Debit),
            purpose: bank::PURPOSE_CAMPUS_CARD_LOAD.into(),
        };
        self.bank.debit(&req).await.map(|_| ())
    }

    /// A top-up taken through the bank and the card system, every state persisted first.
    async fn top_up(&self, amount: i64) -> Order {
        let o = self.loaded(amount).await;
        self.step(&o, OrderState::Crediting, OrderState::Succeeded)
            .await;
        o
    }

    /// A top-up whose 过渡余额 the order claimed right after the load (`claim = "automatic"`).
    async fn top_up_claimed(&self, amount: i64) -> Order {
        let o = self.loaded(amount).await;
        self.step(&o, OrderState::Crediting, OrderState::Claiming)
            .await;
        let claim = ClaimPending {
            account: ACCOUNT.into(),
            out_trade_no: o.id.step_key(OrderStep::Claim),
        };
        self.card.claim_pending(&claim).await.unwrap();
        self.step(&o, OrderState::Claiming, OrderState::Succeeded)
            .await;
        o
    }

    /// A top-up up to its successful 圈存, still `crediting`.
    async fn loaded(&self, amount: i64) -> Order {
        let o = self.order(OrderKind::TopUp, amount).await;
        self.step(&o, OrderState::Created, OrderState::Debiting)
            .await;
        self.bank_debit(&o).await.unwrap();
        self.step(&o, OrderState::Debiting, OrderState::Debited)
            .await;
        self.step(&o, OrderState::Debited, OrderState::Crediting)
            .await;
        let load = LoadCreate {
            account: ACCOUNT.into(),
            amount_fen: Fen(amount),
            out_trade_no: o.id.step_key(OrderStep::Credit),
            source: LoadSource::Bank,
            source_ref: o.id.step_key(OrderStep::Debit),
        };
        self.card.load(&load).await.unwrap();
        o
    }

    /// A network-fee payment: card e-wallet debit, then the biller.
    async fn pay_net(&self, amount: i64) -> Order {
        let kind = OrderKind::Payment {
            biller_id: "net".into(),
            target_id: SNO.into(),
            receivable_ids: vec![],
            note: None,
        };
        let o = self.order(kind, amount).await;
        self.step(&o, OrderState::Created, OrderState::Debiting)
            .await;
        let debit = Debit {
            account: ACCOUNT.into(),
            amount_fen: Fen(amount),
            out_trade_no: o.id.step_key(OrderStep::Debit),
            biller_id: "net".into(),
            target_id: SNO.into(),
            remark: String::new(),
            password_digest: None,
        };
        self.card.debit(&debit, None).await.unwrap();
        self.step(&o, OrderState::Debiting, OrderState::Debited)
            .await;
        self.step(&o, OrderState::Debited, OrderState::Crediting)
            .await;
        let pay = BillerPay {
            biller_id: "net".into(),
            target_id: SNO.into(),
            amount_fen: Fen(amount),
            receivable_ids: vec![],
            out_trade_no: o.id.step_key(OrderStep::Credit),
            payer: BillerPayer {
                sno: SNO.into(),
                card_out_trade_no: o.id.step_key(OrderStep::Debit),
            },
            message: None,
        };
        self.billers.pay(&pay).await.unwrap();
        self.step(&o, OrderState::Crediting, OrderState::Succeeded)
            .await;
        o
    }
}

fn line_of<'a>(day: &'a DayResult, order: &Order) -> &'a Line {
    day.lines
        .iter()
        .find(|l| l.order_id.as_deref() == Some(order.id.as_str()))
        .unwrap_or_else(|| panic!("no line for {}: {:#?}", order.id, day.lines))
}

#[actix_rt::test]
async fn two_days_with_every_class_of_difference_from_real_upstream_calls() {
    let w = world().await;
    w.at(10, 0);
    let d = w.campus_today();
    let bank_at_start = w.bank_balance();
    let pending_at_start = w.card.balance(ACCOUNT).await.unwrap().pending_fen.fen();

    let matched = w.top_up(5_000).await;
    let paid = w.pay_net(1_500).await;

    // The bank commits a debit and its answer is lost; the order gave up on it.
    let lost = w.order(OrderKind::TopUp, 5_000).await;
    w.step(&lost, OrderState::Created, OrderState::Debiting)
        .await;
    w.faults("bank", json!({"lost_response_rate": 1.0})).await;
    assert!(w.bank_debit(&lost).await.is_err(), "the answer is lost");
    w.faults("bank", json!({})).await;
    w.step(&lost, OrderState::Debiting, OrderState::Failed)
        .await;
    assert_eq!(w.bank_balance(), bank_at_start - 10_000, "the bank took it");

    // A debit at the bank with a key that is no order of ours.
    let stray_key = "EXT20261130STRAY1";
    let stray = BankDebit {
        sno: SNO.into(),
        amount_fen: Fen(2_000),
        out_trade_no: stray_key.into(),
        purpose: bank::PURPOSE_CAMPUS_CARD_LOAD.into(),
    };
    w.bank.debit(&stray).await.unwrap();

    // The bank books one top-up a fen off, and leaves another out of its statement.
    let off = w.top_up(3_000).await;
    let omitted = w.top_up(4_000).await;
    let statement = json!({"statement": {
        "amount_off_by_one_fen": [off.id.step_key(OrderStep::Debit)],
        "omit": [omitted.id.step_key(OrderStep::Debit)],
    }});
    w.faults("bank", statement).await;

    // 23:10: after the bank's 23:00 cut (its next day), before the card's 23:30 cut.
    w.at(23, 10);
    let late = w.top_up(6_000).await;

    // The statements of D are produced at 06:00 the next morning.
    w.at(7, 0);
    let (day1, csv_path) = run_and_report(&w.reconciler, d, w.dir.path())
        .await
        .unwrap();
    assert!(day1.complete(), "{:#?}", day1.sources);
    assert_eq!(
        day1.sources[0].state,
        SourceState::Ok {
            count: 4,
            sum_fen: 5_000 + 5_000 + 2_000 + 3_001,
            hash_checked: true
        },
        "bank: matched, lost, stray, a fen off; omitted and after-the-cut missing: {:#?}",
        day1.sources
    );
    assert_eq!(line_of(&day1, &matched).class, Class::Matched);
    assert_eq!(line_of(&day1, &paid).class, Class::Matched);
    let amount = line_of(&day1, &off);
    assert_eq!(
        (amount.class, amount.action, amount.diff_fen()),
        (Class::AmountMismatch, Action::Manual, 1)
    );
    assert_eq!(line_of(&day1, &omitted).class, Class::Held);
    let late_line = line_of(&day1, &late);
    assert_eq!(
        (late_line.class, late_line.detail.as_str()),
        (Class::Held, "waiting for the bank record")
    );
    // The bank's day is cut: no reversal any more, so the card is loaded instead (补单).
    let completed = line_of(&day1, &lost);
    assert_eq!(
        (completed.class, completed.action, completed.upstream),
        (Class::StateMismatch, Action::AutoCompleted, Upstream::Bank)
    );
    let theirs = day1
        .lines
        .iter()
        .find(|l| l.key == stray_key)
        .expect("the stray debit");
    assert_eq!(
        (theirs.class, theirs.theirs_fen, theirs.action),
        (Class::TheirsOnly, Some(2_000), Action::Manual)
    );

    // The lost debit reached the student's card, once, and the order says so.
    let lost_now = w.orders.get(&lost.id).await.unwrap().unwrap();
    assert_eq!(lost_now.state, OrderState::Succeeded);
    assert_eq!(
        w.bank_balance(),
        bank_at_start - 5_000 - 5_000 - 2_000 - 3_000 - 4_000 - 6_000
    );
    let pending = w.card.balance(ACCOUNT).await.unwrap().pending_fen.fen();
    assert_eq!(
        pending,
        pending_at_start + 5_000 + 5_000 + 3_000 + 4_000 + 6_000
    );

    // The manual queue holds exactly the two differences a person must look at.
    let queue = w.recon.manual_items(true).await.unwrap();
    let mut queued: Vec<_> = queue.iter().map(|i| i.line.class).collect();
    queued.sort();
    assert_eq!(queued, [Class::TheirsOnly, Class::AmountMismatch]);
    let pool: Vec<_> = w
        .recon
        .held()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.order_id)
        .collect();
    assert_eq!(pool.len(), 2);
    assert!(pool.contains(&late.id.to_string()) && pool.contains(&omitted.id.to_string()));

    let csv = std::fs::read(&csv_path).unwrap();
    assert_eq!(&csv[..3], b"\xEF\xBB\xBF", "UTF-8 with a BOM for Excel");
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{d},对方有我方无（单边账）,,{stray_key},"))),
        "{text}"
    );

    // Day 2: the late top-up's bank row arrives; the omitted one never does.
    w.at(7, 0);
    let d2 = d.succ_opt().unwrap();
    let day2 = w.reconciler.run_day(d2).await.unwrap();
    assert_eq!(line_of(&day2, &late).class, Class::Matched, "{:#?}", day2);
    let ours = line_of(&day2, &omitted);
    assert_eq!(
        (ours.class, ours.upstream, ours.diff_fen(), ours.action),
        (Class::OursOnly, Upstream::Bank, -4_000, Action::Manual)
    );
    // the order completed by reconciliation shows its card load on the card's next day
    assert_eq!(line_of(&day2, &lost).class, Class::Matched);
    assert_eq!(w.recon.held().await.unwrap(), []);
    assert_eq!(w.recon.manual_items(true).await.unwrap().len(), 3);
}

#[actix_rt::test]
async fn missing_malformed_and_mis_hashed_statements_are_states_of_the_day() {
    let w = world().await;
    w.at(10, 0);
    let d = w.campus_today();
    let top_up = w.top_up(5_000).await;
    let paid = w.pay_net(1_500).await;
    w.faults("bank", json!({"statement": {"missing": true}}))
        .await;
    w.faults("card", json!({"statement": {"bad_hash": true}}))
        .await;
    w.faults("billers", json!({"statement": {"malformed": true}}))
        .await;
    w.at(7, 0);
    let day = w.reconciler.run_day(d).await.unwrap();
    assert!(!day.complete());
    let states: Vec<_> = day.sources.iter().map(|s| s.state.clone()).collect();
    assert_eq!(
        states[0],
        SourceState::Missing {
            reason: "not available: 5301 对账文件不存在".into()
        }
    );
    assert_eq!(
        states[1],
        SourceState::Malformed {
            reason: "file hash does not match its rows".into()
        }
    );
    assert!(
        matches!(&states[2], SourceState::Malformed { reason }
            if reason.contains("invalid type: string")),
        "{states:?}"
    );
    // nothing is judged against a statement that is not there
    assert_eq!(line_of(&day, &top_up).class, Class::Held);
    assert_eq!(line_of(&day, &paid).class, Class::Held);
    assert_eq!(w.recon.manual_items(true).await.unwrap(), []);

    // the statements come back: running the day again matches both
    for upstream in ["bank", "card", "billers"] {
        w.faults(upstream, json!({})).await;
    }
    let day = w.reconciler.run_day(d).await.unwrap();
    assert!(day.complete());
    assert_eq!(line_of(&day, &top_up).class, Class::Matched);
    assert_eq!(line_of(&day, &paid).class, Class::Matched);
    assert_eq!(w.recon.held().await.unwrap(), []);
}

#[actix_rt::test]
async fn claims_of_pending_money_are_in_the_card_records_and_never_a_difference() {
    let w = world().await;
    w.at(10, 0);
    let d = w.campus_today();
    // one top-up claimed by its order, one claimed later by 「领取」 (a claim no order makes)
    let automatic = w.top_up_claimed(5_000).await;
    let on_request = w.top_up(3_000).await;
    let claim = ClaimPending {
        account: ACCOUNT.into(),
        out_trade_no: "CLMONREQUEST0001".into(),
    };
    let claimed = w.card.claim_pending(&claim).await.unwrap();
    assert_eq!(claimed.claimed_fen, Fen(3_000));

    w.at(7, 0);
    let claims = w
        .card
        .daily_records(&DailyRecordsQuery {
            acc_date: d,
            kind: ReconKind::Claim,
            page: 1,
            page_size: 50,
        })
        .await
        .unwrap();
    assert_eq!((claims.count, claims.sum_fen), (2, Fen(5_000 + 3_000)));
    let day = w.reconciler.run_day(d).await.unwrap();
    assert!(day.complete(), "{:#?}", day.sources);
    let mut lines: Vec<_> = day
        .lines
        .iter()
        .map(|l| (l.order_id.clone(), l.class))
        .collect();
    lines.sort();
    let mut expected = vec![
        (Some(automatic.id.to_string()), Class::Matched),
        (Some(on_request.id.to_string()), Class::Matched),
    ];
    expected.sort();
    assert_eq!(lines, expected, "{:#?}", day.lines);
    assert_eq!(w.recon.manual_items(true).await.unwrap(), []);
    assert_eq!(w.recon.held().await.unwrap(), []);
}
