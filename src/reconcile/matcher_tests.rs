//! The matcher, one test per class, with orders created at chosen campus times and a run
//! date that moves day by day (the holding pool's clock).

use chrono::NaiveDate;

use super::matcher::{MatchRules, Outcome, Remedy, mask_sno, reconcile};
use crate::domain::{Fen, OpenId, OrderId, OrderStep, StudentId};
use crate::store::orders::{NewOrder, Order, OrderKind, OrderState};
use crate::store::reconcile::{Action, Class, RowKind, TheirRow, Upstream};

const OFFSET: i32 = 8;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Unix ms of a campus time (`+08:00`).
fn campus(date: &str, hh_mm: &str) -> i64 {
    let t = chrono::NaiveTime::parse_from_str(hh_mm, "%H:%M").unwrap();
    day(date).and_time(t).and_utc().timestamp_millis() - i64::from(OFFSET) * 3_600_000
}

fn order(kind: OrderKind, state: OrderState, created_at_ms: i64, amount: i64) -> Order {
    let placed = NewOrder {
        id: OrderId::generate(created_at_ms),
        idempotency_key: format!("k{created_at_ms}{amount}"),
        kind,
        openid: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
        sno: StudentId::parse("2024000001").unwrap(),
        account: "20001".into(),
        amount: Fen(amount),
    };
    Order {
        state,
        ..Order::new(placed, created_at_ms)
    }
}

fn top_up(state: OrderState, at: i64) -> Order {
    order(OrderKind::TopUp, state, at, 5_000)
}

fn payment(state: OrderState, at: i64) -> Order {
    let kind = OrderKind::Payment {
        biller_id: "net".into(),
        target_id: "2024000001".into(),
        receivable_ids: vec![],
        note: None,
    };
    order(kind, state, at, 3_000)
}

fn row(order: &Order, kind: RowKind, date: &str) -> TheirRow {
    let step = match kind {
        RowKind::BankDebit | RowKind::BankReversal | RowKind::CardDebit => OrderStep::Debit,
        RowKind::CardLoad | RowKind::BillerPayment => OrderStep::Credit,
        RowKind::CardLoadReverse => OrderStep::CancelCredit,
        RowKind::CardRefund => OrderStep::Reverse,
    };
    TheirRow {
        kind,
        out_trade_no: order.id.step_key(step),
        serial: format!("S-{}", kind.as_str()),
        date: day(date),
        amount_fen: order.amount.fen(),
        state: "SUCCESS".into(),
        moved: true,
        biller_id: None,
        sno: Some(order.sno.to_string()),
    }
}

fn rules(date: &str) -> MatchRules {
    MatchRules {
        date: day(date),
        hold_days: 2,
        utc_offset_hours: OFFSET,
    }
}

fn run(date: &str, orders: &[Order], rows: &[TheirRow]) -> Vec<Outcome> {
    reconcile(&rules(date), orders, rows, |_| true)
}

fn only(outcomes: Vec<Outcome>) -> Outcome {
    assert_eq!(outcomes.len(), 1, "{outcomes:#?}");
    outcomes.into_iter().next().unwrap()
}

#[test]
fn a_top_up_on_both_statements_is_matched() {
    let o = top_up(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let rows = [
        row(&o, RowKind::BankDebit, "2026-11-30"),
        row(&o, RowKind::CardLoad, "2026-11-30"),
    ];
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::Matched);
    assert_eq!(out.line.action, Action::None);
    assert_eq!(out.line.key, o.id.step_key(OrderStep::Debit));
    assert_eq!(
        (out.line.ours_fen, out.line.theirs_fen),
        (Some(5_000), Some(5_000))
    );
    assert_eq!(out.line.serials, "S-bank_debit;S-card_load");
    assert_eq!(out.line.sno_masked, "2024****01");
    assert_eq!(out.remedy, Remedy::None);
}

#[test]
fn a_failed_order_with_no_rows_is_matched_as_nothing_moved() {
    let o = payment(OrderState::Failed, campus("2026-11-30", "10:00"));
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &[]));
    assert_eq!(out.line.class, Class::Matched);
    assert_eq!(out.line.detail, "no money moved");
}

#[test]
fn a_reversed_top_up_with_debit_and_reversal_is_matched() {
    let o = top_up(OrderState::Reversed, campus("2026-11-30", "10:00"));
    let rows = [
        row(&o, RowKind::BankDebit, "2026-11-30"),
        row(&o, RowKind::BankReversal, "2026-11-30"),
    ];
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::Matched);
    assert_eq!(out.line.detail, "money moved and was given back");
}

#[test]
fn a_succeeded_order_missing_at_the_bank_is_held_then_ours_only() {
    let o = top_up(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let rows = [row(&o, RowKind::CardLoad, "2026-11-30")];
    for date in ["2026-11-30", "2026-12-01"] {
        let out = only(run(date, std::slice::from_ref(&o), &rows));
        assert_eq!(out.line.class, Class::Held, "{date}");
        assert_eq!(out.line.action, Action::Hold);
        assert_eq!(out.line.detail, "waiting for the bank record");
    }
    // hold_days = 2: on the second day after its own, it is a difference
    let out = only(run("2026-12-02", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::OursOnly);
    assert_eq!(out.line.upstream, Upstream::Bank);
    assert_eq!(out.line.action, Action::Manual);
    assert_eq!(out.line.diff_fen(), -5_000);
    assert_eq!(out.line.detail, "no bank record after 2 days");
}

#[test]
fn a_key_we_have_no_order_for_is_theirs_only() {
    let ghost = top_up(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let mut foreign = row(&ghost, RowKind::BankDebit, "2026-11-30");
    foreign.out_trade_no = "MANUAL-0001".into();
    let rows = [row(&ghost, RowKind::BankDebit, "2026-11-30"), foreign];
    let out = run("2026-11-30", &[], &rows);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.line.class == Class::TheirsOnly));
    assert!(out.iter().all(|o| o.line.action == Action::Manual));
    assert!(out.iter().all(|o| o.remedy == Remedy::None));
    let keys: Vec<_> = out.iter().map(|o| o.line.key.as_str()).collect();
    assert!(keys.contains(&"MANUAL-0001"));
    assert!(keys.contains(&ghost.id.step_key(OrderStep::Debit).as_str()));
    assert_eq!(out[0].line.theirs_fen, Some(5_000));
}

#[test]
fn a_row_with_another_amount_is_an_amount_mismatch_never_resolved_automatically() {
    let o = payment(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let mut biller = row(&o, RowKind::BillerPayment, "2026-11-30");
    biller.amount_fen += 1;
    let rows = [row(&o, RowKind::CardDebit, "2026-11-30"), biller];
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::AmountMismatch);
    assert_eq!(out.line.upstream, Upstream::Billers);
    assert_eq!(out.line.diff_fen(), 1);
    assert_eq!(out.line.action, Action::Manual);
    assert_eq!(out.remedy, Remedy::None);
}

#[test]
fn a_bank_debit_on_a_failed_top_up_is_a_state_mismatch_to_reverse() {
    let o = top_up(OrderState::Failed, campus("2026-11-30", "10:00"));
    let rows = [row(&o, RowKind::BankDebit, "2026-11-30")];
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::StateMismatch);
    assert_eq!(out.line.upstream, Upstream::Bank);
    assert_eq!(out.line.diff_fen(), 5_000);
    assert_eq!(out.line.detail, "bank took the money, it never arrived");
    assert_eq!(out.remedy, Remedy::ReverseDebit);
}

#[test]
fn a_failed_payment_the_biller_received_is_completed() {
    let o = payment(OrderState::Failed, campus("2026-11-30", "10:00"));
    let rows = [
        row(&o, RowKind::CardDebit, "2026-11-30"),
        row(&o, RowKind::BillerPayment, "2026-11-30"),
    ];
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::StateMismatch);
    assert_eq!(out.remedy, Remedy::Complete);
}

#[test]
fn a_card_load_without_a_bank_debit_is_left_to_a_person() {
    let o = top_up(OrderState::Failed, campus("2026-11-30", "10:00"));
    let rows = [row(&o, RowKind::CardLoad, "2026-11-30")];
    let out = only(run("2026-11-30", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::StateMismatch);
    assert_eq!(out.line.upstream, Upstream::Card);
    assert_eq!(out.remedy, Remedy::None);
    assert_eq!(out.line.action, Action::Manual);
}

#[test]
fn a_top_up_at_2340_waits_for_the_banks_next_day_then_matches() {
    // the bank's day cuts at 23:00: its debit is on the bank's 12-01
    let o = top_up(OrderState::Succeeded, campus("2026-11-30", "23:40"));
    let card = row(&o, RowKind::CardLoad, "2026-11-30");
    let out = only(run(
        "2026-11-30",
        std::slice::from_ref(&o),
        std::slice::from_ref(&card),
    ));
    assert_eq!(out.line.class, Class::Held);
    let bank = row(&o, RowKind::BankDebit, "2026-12-01");
    let out = only(run("2026-12-01", std::slice::from_ref(&o), &[card, bank]));
    assert_eq!(out.line.class, Class::Matched);
}

#[test]
fn an_order_still_in_progress_is_held_then_a_state_mismatch() {
    let o = top_up(OrderState::Crediting, campus("2026-11-30", "10:00"));
    let rows = [row(&o, RowKind::BankDebit, "2026-11-30")];
    let out = only(run("2026-12-01", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::Held);
    assert_eq!(out.line.detail, "order still in progress");
    let out = only(run("2026-12-02", std::slice::from_ref(&o), &rows));
    assert_eq!(out.line.class, Class::StateMismatch);
    assert_eq!(out.remedy, Remedy::None);
    assert_eq!(out.line.detail, "order still in progress after 2 days");
}

#[test]
fn a_missing_statement_holds_the_orders_that_need_it() {
    let o = top_up(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let rows = [row(&o, RowKind::CardLoad, "2026-11-30")];
    let bank_missing = |u: Upstream| u != Upstream::Bank;
    let out = only(reconcile(
        &rules("2026-11-30"),
        std::slice::from_ref(&o),
        &rows,
        bank_missing,
    ));
    assert_eq!(out.line.class, Class::Held);
    assert_eq!(out.line.detail, "no usable bank statement");
    let p = payment(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let rows = [
        row(&p, RowKind::CardDebit, "2026-11-30"),
        row(&p, RowKind::BillerPayment, "2026-11-30"),
    ];
    let out = only(reconcile(
        &rules("2026-11-30"),
        std::slice::from_ref(&p),
        &rows,
        bank_missing,
    ));
    assert_eq!(
        out.line.class,
        Class::Matched,
        "a payment does not need the bank"
    );
}

#[test]
fn the_same_row_fetched_twice_counts_once() {
    let o = top_up(OrderState::Succeeded, campus("2026-11-30", "10:00"));
    let bank = row(&o, RowKind::BankDebit, "2026-11-30");
    let card = row(&o, RowKind::CardLoad, "2026-11-30");
    let out = only(run(
        "2026-11-30",
        std::slice::from_ref(&o),
        &[bank.clone(), card, bank],
    ));
    assert_eq!(out.line.class, Class::Matched);
}

#[test]
fn student_numbers_are_masked_in_the_middle() {
    assert_eq!(mask_sno("2024000001"), "2024****01");
    assert_eq!(mask_sno("2008900001"), "2008****01");
    assert_eq!(mask_sno("12345"), "*****");
}
