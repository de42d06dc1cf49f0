//! Reconciliation (对账) records: what the upstreams' statements said, each campus day's
//! result, the holding pool of orders that may still show up on a later statement, and the
//! manual queue an operator works through.
//!
//! Why it exists: a difference found today may resolve itself tomorrow (a top-up at 23:40
//! lands on the bank's next day), and an operator's decision must outlive the run that raised
//! it. This module owns the record types and [`ReconStore`]: async methods, each one atomic
//! unit (the day's result, its rows, the pool and the queue are saved together, so a crash
//! never leaves a day half-recorded). [`super::reconcile_sled`] implements it.
//!
//! It must never call an upstream or decide how a record is classified (that is
//! `crate::reconcile`), and never return from a change before it is durable.

use std::future::Future;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::orders::OrderState;

/// The upstream a statement comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upstream {
    /// 银行 (银校转账): top-up debits and their reversals.
    Bank,
    /// 一卡通: 圈存 loads, e-wallet debits, refunds, load reversals.
    Card,
    /// 缴费方: every biller's payments.
    Billers,
}

impl Upstream {
    pub const ALL: [Upstream; 3] = [Upstream::Bank, Upstream::Card, Upstream::Billers];

    pub fn as_str(self) -> &'static str {
        match self {
            Upstream::Bank => "bank",
            Upstream::Card => "card",
            Upstream::Billers => "billers",
        }
    }
}

/// What kind of money record a statement row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// Bank: money out of the student's bank account (top-up).
    BankDebit,
    /// Bank: a debit given back (冲正).
    BankReversal,
    /// Card: 圈存 onto the card's 过渡余额 (top-up).
    CardLoad,
    /// Card: a load cancelled (冲正).
    CardLoadReverse,
    /// Card: e-wallet debit funding a payment.
    CardDebit,
    /// Card: money back to the e-wallet.
    CardRefund,
    /// Biller: a payment received.
    BillerPayment,
}

impl RowKind {
    pub fn upstream(self) -> Upstream {
        match self {
            RowKind::BankDebit | RowKind::BankReversal => Upstream::Bank,
            RowKind::CardLoad
            | RowKind::CardLoadReverse
            | RowKind::CardDebit
            | RowKind::CardRefund => Upstream::Card,
            RowKind::BillerPayment => Upstream::Billers,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::BankDebit => "bank_debit",
            RowKind::BankReversal => "bank_reversal",
            RowKind::CardLoad => "card_load",
            RowKind::CardLoadReverse => "card_load_reverse",
            RowKind::CardDebit => "card_debit",
            RowKind::CardRefund => "card_refund",
            RowKind::BillerPayment => "biller_payment",
        }
    }
}

/// One row of an upstream's statement, in our terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TheirRow {
    pub kind: RowKind,
    /// Our idempotency key as the upstream echoes it (发端流水号).
    pub out_trade_no: String,
    /// The upstream's own serial (接受方流水号).
    pub serial: String,
    /// The upstream's accounting day of the row.
    pub date: NaiveDate,
    pub amount_fen: i64,
    /// The upstream's state word as sent (`SUCCESS`, `REVERSED`, `ACCEPTED`, …), for the report.
    pub state: String,
    /// Whether the row moved money (a refused or still undecided row did not).
    pub moved: bool,
    /// Biller rows: which biller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biller_id: Option<String>,
    /// 学工号 as the upstream has it (bank and card rows), for the operator's line (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sno: Option<String>,
}

/// How one order (or one unknown key) came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Keys, amounts and states agree (一致).
    Matched,
    /// Waiting for a later statement (crossed the day cut, or still in progress): not yet a
    /// difference (等待对账).
    Held,
    /// We have money moved that the upstream does not show (我方有，对方无; 短款).
    OursOnly,
    /// The upstream shows a key we have no order for (单边账; 长款).
    TheirsOnly,
    /// Both sides have it, with different amounts (金额不符).
    AmountMismatch,
    /// The upstream moved the money, our order says it did not (or the reverse) (状态不符).
    StateMismatch,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Matched,
        Class::Held,
        Class::OursOnly,
        Class::TheirsOnly,
        Class::AmountMismatch,
        Class::StateMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Matched => "matched",
            Class::Held => "held",
            Class::OursOnly => "ours_only",
            Class::TheirsOnly => "theirs_only",
            Class::AmountMismatch => "amount_mismatch",
            Class::StateMismatch => "state_mismatch",
        }
    }

    /// A difference an accountant must see (matched and held lines are not).
    pub fn is_difference(self) -> bool {
        match self {
            Class::Matched | Class::Held => false,
            Class::OursOnly | Class::TheirsOnly | Class::AmountMismatch | Class::StateMismatch => {
                true
            }
        }
    }
}

/// What was done about a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    None,
    /// Kept in the holding pool for a later statement.
    Hold,
    /// The debit was given back automatically (bank 冲正 or card refund), by key.
    AutoReversed,
    /// The order was completed (补单): every upstream shows the money arrived.
    AutoCompleted,
    /// Waiting in the manual queue.
    Manual,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Hold => "hold",
            Action::AutoReversed => "auto_reversed",
            Action::AutoCompleted => "auto_completed",
            Action::Manual => "manual",
        }
    }
}

/// One line of a day's result: an order (with every upstream row of it), or an unknown key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub class: Class,
    /// Our order, if we have one for the key.
    pub order_id: Option<String>,
    /// The key the line is about: the order's debit key, or the unknown key.
    pub key: String,
    /// `top_up`, or `payment:{biller_id}`, or empty for an unknown key.
    pub order_kind: String,
    /// The upstream the difference is on (for a matched line: the money's source).
    pub upstream: Upstream,
    /// The upstream serials of every row of this line, `;`-separated.
    pub serials: String,
    /// 学工号, masked (first 4 and last 2 kept).
    pub sno_masked: String,
    /// What our order says moved at `upstream`, in fen.
    pub ours_fen: Option<i64>,
    /// What the upstream's rows say moved, in fen.
    pub theirs_fen: Option<i64>,
    pub state_ours: Option<OrderState>,
    /// The upstream rows' kinds and states, e.g. `bank_debit SUCCESS; card_load SUCCESS`.
    pub state_theirs: String,
    pub action: Action,
    /// Why, in operator terms (never personal data beyond the masked 学工号).
    pub detail: String,
}

impl Line {
    /// theirs − ours, in fen (what the upstream holds beyond our records).
    pub fn diff_fen(&self) -> i64 {
        self.theirs_fen.unwrap_or(0) - self.ours_fen.unwrap_or(0)
    }
}

/// How one upstream's statement for the day came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SourceState {
    /// Fetched whole; count and sum agree with the rows; `hash_checked` when the upstream
    /// sent a file hash and it matched.
    Ok {
        count: u64,
        sum_fen: i64,
        hash_checked: bool,
    },
    /// No statement for the day: not produced (yet), refused, or the upstream could not be
    /// reached. Running the day again later fetches it again.
    Missing { reason: String },
    /// A statement in a shape we cannot trust: undecodable, count/sum not matching its rows,
    /// or a file hash that does not match.
    Malformed { reason: String },
    /// No such upstream in the configuration (e.g. no billers section).
    NotConfigured,
}

impl SourceState {
    pub fn usable(&self) -> bool {
        matches!(self, SourceState::Ok { .. })
    }
}

/// One upstream's part of a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    pub upstream: Upstream,
    pub state: SourceState,
}

/// A campus day's reconciliation, as stored and reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayResult {
    pub date: NaiveDate,
    /// When the run finished (Unix ms).
    pub run_at_ms: i64,
    pub sources: Vec<SourceReport>,
    /// Every order and unknown key looked at, matched ones included.
    pub lines: Vec<Line>,
}

impl DayResult {
    /// Every upstream's statement came in whole.
    pub fn complete(&self) -> bool {
        self.sources
            .iter()
            .all(|s| s.state.usable() || s.state == SourceState::NotConfigured)
    }
}

/// An order waiting in the holding pool for a later statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub order_id: String,
    /// The campus day of the order (the pool's clock starts there).
    pub since: NaiveDate,
    pub reason: String,
}

/// A difference waiting for a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualItem {
    /// `{date}/{key}`: stable across re-runs of the same day.
    pub id: String,
    pub date: NaiveDate,
    pub line: Line,
    pub opened_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// How an operator closed a manual item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub by: String,
    pub note: String,
    pub at_ms: i64,
}

/// The answer to [`ReconStore::resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    Resolved(ManualItem),
    /// Closed before (by whom and why is on the item); nothing changed.
    AlreadyResolved(ManualItem),
    NotFound,
}

/// Everything a run saves, in one atomic unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaySave {
    pub result: DayResult,
    /// The usable statements' rows (kept, so a later day sees an order's earlier rows).
    pub rows: Vec<TheirRow>,
    /// Orders to hold (replacing any earlier entry of the same order).
    pub hold: Vec<Held>,
    /// Orders leaving the pool (decided this run).
    pub release: Vec<String>,
    /// New manual items; an item of the same id already in the queue keeps its resolution.
    pub manual: Vec<ManualItem>,
    /// Audit entries of what this run did automatically.
    pub audit: Vec<serde_json::Value>,
}

/// The reconciliation repository. Every method is one atomic unit; changes are durable
/// before it returns. Implemented by [`super::reconcile_sled::SledRecon`].
pub trait ReconStore: Clone + Send + Sync + 'static {
    /// Save a run: the day's result (replacing an earlier run of the same day), its rows, the
    /// pool changes, the manual items and the audit entries.
    fn save_day(&self, save: DaySave) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn day(
        &self,
        date: NaiveDate,
    ) -> impl Future<Output = Result<Option<DayResult>, StoreError>> + Send;

    /// Every stored row whose key starts with `prefix` (an order id: all its steps' rows).
    fn rows_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<TheirRow>, StoreError>> + Send;

    /// The holding pool, oldest first.
    fn held(&self) -> impl Future<Output = Result<Vec<Held>, StoreError>> + Send;

    /// The manual queue: open items only, or every item; oldest first.
    fn manual_items(
        &self,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<ManualItem>, StoreError>> + Send;

    /// Close a manual item with an operator's note; audited.
    fn resolve(
        &self,
        id: &str,
        resolution: Resolution,
    ) -> impl Future<Output = Result<Resolved, StoreError>> + Send;
}
