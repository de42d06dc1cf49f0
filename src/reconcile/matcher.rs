//! The matcher: our orders against the upstreams' rows, by key, in one hash join.
//!
//! Every row's `out_trade_no` is one of our step keys (`OrderId::step_key`: the order id plus
//! one letter), so rows are grouped by order id in a hash map and each order takes its group
//! out in O(1); what is left in the map has no order (单边账). Per order, what its state says
//! moved at the money's source and destination is compared with what the rows say moved.
//!
//! Pure: no store, no upstream, no clock. The campus day of the run decides how long an order
//! may wait in the holding pool, so running the same day twice gives the same lines.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use crate::domain::OrderId;
use crate::store::orders::{Order, OrderKind, OrderState};
use crate::store::reconcile::{Action, Class, Line, RowKind, TheirRow, Upstream};

/// What the run should do about a line beyond recording it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// Nothing (matched, held, or left to a person).
    None,
    /// The money left the source but never arrived and our order ended without it: give the
    /// debit back by key (bank 冲正 for a top-up, card refund for a payment).
    ReverseDebit,
    /// Both the source and the destination moved the money but our order ended without it:
    /// complete the order (补单).
    Complete,
}

/// One classified line, with the order it is about and the proposed remedy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub line: Line,
    pub order: Option<Order>,
    pub remedy: Remedy,
}

/// What the matcher needs besides orders and rows.
#[derive(Clone, Copy, Debug)]
pub struct MatchRules {
    /// The campus day being reconciled.
    pub date: NaiveDate,
    /// An order may wait this many days after its own campus day for the rows that would
    /// match it (day cuts at 23:00 or 23:30 put a late order on the upstream's next day).
    pub hold_days: u32,
    pub utc_offset_hours: i32,
}

impl MatchRules {
    /// The campus day an order was created on.
    pub fn campus_day(&self, at_ms: i64) -> NaiveDate {
        let shifted = at_ms + i64::from(self.utc_offset_hours) * 3_600_000;
        chrono::DateTime::from_timestamp_millis(shifted)
            .unwrap_or_default()
            .date_naive()
    }

    fn may_wait(&self, order: &Order) -> bool {
        let age = (self.date - self.campus_day(order.created_at_ms)).num_days();
        age < i64::from(self.hold_days)
    }
}

/// 学工号 for an operator's line: the first four and last two characters.
pub fn mask_sno(sno: &str) -> String {
    let chars: Vec<char> = sno.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

/// The order a step key belongs to, if it is one of ours in shape.
fn order_of(key: &str) -> Option<&str> {
    let stem = key.get(..key.len().checked_sub(1)?)?;
    OrderId::parse(stem).ok().map(|_| stem)
}

/// Which row kinds make up an order's source and destination, each with its sign.
struct Legs {
    source: Upstream,
    destination: Upstream,
    source_kinds: [(RowKind, i64); 2],
    destination_kinds: [(RowKind, i64); 2],
}

fn legs(kind: &OrderKind) -> Legs {
    match kind {
        OrderKind::TopUp => Legs {
            source: Upstream::Bank,
            destination: Upstream::Card,
            source_kinds: [(RowKind::BankDebit, 1), (RowKind::BankReversal, -1)],
            destination_kinds: [(RowKind::CardLoad, 1), (RowKind::CardLoadReverse, -1)],
        },
        OrderKind::Payment { .. } => Legs {
            source: Upstream::Card,
            destination: Upstream::Billers,
            source_kinds: [(RowKind::CardDebit, 1), (RowKind::CardRefund, -1)],
            // a payment has no biller-side reversal row; the pair keeps the shape
            destination_kinds: [(RowKind::BillerPayment, 1), (RowKind::BillerPayment, 0)],
        },
    }
}

fn net(rows: &[&TheirRow], kinds: &[(RowKind, i64); 2]) -> i64 {
    rows.iter()
        .filter(|r| r.moved)
        .filter_map(|r| {
            kinds
                .iter()
                .find(|(k, sign)| *k == r.kind && *sign != 0)
                .map(|(_, sign)| sign * r.amount_fen)
        })
        .sum()
}

fn describe(rows: &[&TheirRow]) -> (String, String) {
    let serials = rows
        .iter()
        .map(|r| r.serial.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let states = rows
        .iter()
        .map(|r| format!("{} {}", r.kind.as_str(), r.state))
        .collect::<Vec<_>>()
        .join("; ");
    (serials, states)
}

fn order_kind_label(kind: &OrderKind) -> String {
    match kind {
        OrderKind::TopUp => "top_up".to_owned(),
        OrderKind::Payment { biller_id, .. } => format!("payment:{biller_id}"),
    }
}

/// Classify every order and every row. `usable(upstream)` says whether that upstream's
/// statement came in whole today; an order that depends on a missing statement waits.
pub fn reconcile(
    rules: &MatchRules,
    orders: &[Order],
    rows: &[TheirRow],
    usable: impl Fn(Upstream) -> bool,
) -> Vec<Outcome> {
    // One row per (key, kind): a statement fetched twice, or stored and fetched again.
    let mut unique: BTreeMap<(&str, RowKind), &TheirRow> = BTreeMap::new();
    for row in rows {
        unique.insert((row.out_trade_no.as_str(), row.kind), row);
    }
    // Build side of the join: order id (or the bare key, for keys that are not ours) → rows.
    let mut by_order: HashMap<&str, Vec<&TheirRow>> = HashMap::new();
    for row in unique.values() {
        let stem = order_of(&row.out_trade_no).unwrap_or(row.out_trade_no.as_str());
        by_order.entry(stem).or_default().push(row);
    }
    // The money's path in order: debit, its reversal, then the credit.
    for rows in by_order.values_mut() {
        rows.sort_by_key(|r| (r.kind, r.date));
    }
    let mut out = Vec::with_capacity(orders.len() + by_order.len());
    for order in orders {
        let rows = by_order.remove(order.id.as_str()).unwrap_or_default();
        out.push(classify(rules, order, &rows, &usable));
    }
    // What is left has no order: 单边账, always for a person.
    let mut unknown: Vec<_> = by_order.into_iter().collect();
    unknown.sort_by(|a, b| a.0.cmp(b.0));
    for (key, rows) in unknown {
        let (serials, states) = describe(&rows);
        let theirs: i64 = rows
            .iter()
            .filter(|r| r.moved)
            .map(|r| match r.kind {
                RowKind::BankReversal | RowKind::CardLoadReverse | RowKind::CardRefund => {
                    -r.amount_fen
                }
                RowKind::BankDebit
                | RowKind::CardLoad
                | RowKind::CardDebit
                | RowKind::BillerPayment => r.amount_fen,
            })
            .sum();
        let first = rows[0];
        out.push(Outcome {
            line: Line {
                class: Class::TheirsOnly,
                order_id: None,
                key: first.out_trade_no.clone(),
                order_kind: String::new(),
                upstream: first.kind.upstream(),
                serials,
                sno_masked: first.sno.as_deref().map(mask_sno).unwrap_or_default(),
                ours_fen: None,
                theirs_fen: Some(theirs),
                state_ours: None,
                state_theirs: states,
                action: Action::Manual,
                detail: format!("no order of ours has key {key}"),
            },
            order: None,
            remedy: Remedy::None,
        });
    }
    out
}

fn classify(
    rules: &MatchRules,
    order: &Order,
    rows: &[&TheirRow],
    usable: &impl Fn(Upstream) -> bool,
) -> Outcome {
    let legs = legs(&order.kind);
    let amount = order.amount.fen();
    let source_net = net(rows, &legs.source_kinds);
    let destination_net = net(rows, &legs.destination_kinds);
    let (serials, states) = describe(rows);
    let may_wait = rules.may_wait(order);
    let line = |class: Class, upstream: Upstream, ours: i64, theirs: i64, detail: String| {
        let action = match class {
            Class::Matched => Action::None,
            Class::Held => Action::Hold,
            Class::OursOnly | Class::TheirsOnly | Class::AmountMismatch | Class::StateMismatch => {
                Action::Manual
            }
        };
        Line {
            class,
            order_id: Some(order.id.to_string()),
            key: order.id.step_key(crate::domain::OrderStep::Debit),
            order_kind: order_kind_label(&order.kind),
            upstream,
            serials: serials.clone(),
            sno_masked: mask_sno(order.sno.as_str()),
            ours_fen: Some(ours),
            theirs_fen: Some(theirs),
            state_ours: Some(order.state),
            state_theirs: states.clone(),
            action,
            detail,
        }
    };
    let outcome = |line: Line, remedy: Remedy| Outcome {
        line,
        order: Some(order.clone()),
        remedy,
    };
    let (src, dst) = (legs.source, legs.destination);

    // A row of a kind this order cannot have, or with another amount, is never explained by
    // waiting.
    let expected_kinds = [legs.source_kinds, legs.destination_kinds];
    if let Some(stray) = rows
        .iter()
        .find(|r| !expected_kinds.iter().flatten().any(|(k, _)| *k == r.kind))
    {
        let detail = format!(
            "a {} row on a {} order",
            stray.kind.as_str(),
            order_kind_label(&order.kind)
        );
        return outcome(
            line(
                Class::StateMismatch,
                stray.kind.upstream(),
                0,
                stray.amount_fen,
                detail,
            ),
            Remedy::None,
        );
    }
    if let Some(off) = rows.iter().find(|r| r.amount_fen != amount) {
        let detail = format!(
            "{} of {} fen against an order of {amount} fen",
            off.kind.as_str(),
            off.amount_fen
        );
        return outcome(
            line(
                Class::AmountMismatch,
                off.kind.upstream(),
                amount,
                off.amount_fen,
                detail,
            ),
            Remedy::None,
        );
    }
    // Which statements are needed to judge this order at all.
    for upstream in [src, dst] {
        if !usable(upstream) {
            let detail = format!("no usable {} statement", upstream.as_str());
            let class = if may_wait {
                Class::Held
            } else {
                Class::OursOnly
            };
            let ours = if order.state == OrderState::Succeeded {
                amount
            } else {
                0
            };
            let theirs = if upstream == src {
                source_net
            } else {
                destination_net
            };
            return outcome(line(class, upstream, ours, theirs, detail), Remedy::None);
        }
    }
    match order.state {
        OrderState::Created
        | OrderState::Debiting
        | OrderState::Debited
        | OrderState::Crediting
        | OrderState::Claiming
        | OrderState::Reversing => {
            if may_wait {
                let detail = "order still in progress".to_owned();
                outcome(line(Class::Held, src, 0, source_net, detail), Remedy::None)
            } else {
                let detail = format!("order still in progress after {} days", rules.hold_days);
                outcome(
                    line(Class::StateMismatch, src, 0, source_net, detail),
                    Remedy::None,
                )
            }
        }
        OrderState::Succeeded => {
            if source_net == amount && destination_net == amount {
                return outcome(
                    line(Class::Matched, src, amount, source_net, String::new()),
                    Remedy::None,
                );
            }
            let (upstream, theirs) = if source_net != amount {
                (src, source_net)
            } else {
                (dst, destination_net)
            };
            if may_wait {
                let detail = format!("waiting for the {} record", upstream.as_str());
                outcome(
                    line(Class::Held, upstream, amount, theirs, detail),
                    Remedy::None,
                )
            } else {
                let detail = format!(
                    "no {} record after {} days",
                    upstream.as_str(),
                    rules.hold_days
                );
                outcome(
                    line(Class::OursOnly, upstream, amount, theirs, detail),
                    Remedy::None,
                )
            }
        }
        OrderState::Failed | OrderState::Reversed | OrderState::NeedsManual => {
            if source_net == 0 && destination_net == 0 {
                let detail = if rows.is_empty() {
                    "no money moved".to_owned()
                } else {
                    "money moved and was given back".to_owned()
                };
                return outcome(line(Class::Matched, src, 0, 0, detail), Remedy::None);
            }
            // A reversal sent late in the day lands on the upstream's next day.
            if order.state == OrderState::Reversed && may_wait {
                let detail = "waiting for the reversal record".to_owned();
                return outcome(line(Class::Held, src, 0, source_net, detail), Remedy::None);
            }
            if source_net == amount && destination_net == amount {
                let detail = format!(
                    "both {} and {} show the money moved",
                    src.as_str(),
                    dst.as_str()
                );
                return outcome(
                    line(Class::StateMismatch, dst, 0, destination_net, detail),
                    Remedy::Complete,
                );
            }
            if source_net == amount && destination_net == 0 {
                let detail = format!("{} took the money, it never arrived", src.as_str());
                return outcome(
                    line(Class::StateMismatch, src, 0, source_net, detail),
                    Remedy::ReverseDebit,
                );
            }
            let (upstream, theirs) = if destination_net != 0 {
                (dst, destination_net)
            } else {
                (src, source_net)
            };
            let detail = format!(
                "{} shows {source_net} fen, {} shows {destination_net} fen",
                src.as_str(),
                dst.as_str()
            );
            outcome(
                line(Class::StateMismatch, upstream, 0, theirs, detail),
                Remedy::None,
            )
        }
    }
}
