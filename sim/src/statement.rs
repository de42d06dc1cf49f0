//! One way every simulated upstream serves a day's reconciliation statement (the card system's
//! day records, the bank's and the billers' statements, docs/upstream-api.md §5, §8, §9):
//! nothing before it is ready, then the day's rows in time order as the injected statement
//! faults leave them, counted, summed, hashed and paged.
//!
//! Each simulator still decides which rows belong to the day and wraps the result in its own
//! answer type; what they share (the order, the faults, the totals, the hash, the page) is here
//! so the three statements cannot drift apart.

use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::SimState;
use crate::campus::local_ts;
use crate::faults::StatementFaults;
use crate::upstream::{OpError, OpResult, paginate, parse_dated, to_value};
use onecard_wire::{
    self as wire, BankStatementRow, BillerStatementRow, DailyRecord, ErrorCode, Page,
};

/// A row of a statement. The three row types are the protocol's own structs (crate::wire),
/// alike in their key and amount fields; each names its trade number differently.
pub(crate) trait StatementRow: Serialize {
    /// The upstream's own trade number: orders rows of the same instant.
    fn trade_no(&self) -> &str;
    /// The caller's key, as the `omit` and `amount_off_by_one_fen` faults name it.
    fn out_trade_no(&self) -> &str;
    fn amount_fen(&self) -> i64;
    fn amount_fen_mut(&mut self) -> &mut i64;
    /// What the row adds to the statement's `sum_fen`: its amount, unless it gives money back.
    fn sum_fen(&self) -> i64 {
        self.amount_fen()
    }
}

/// A day's statement, before the upstream's answer type wraps it.
pub(crate) struct Statement<R> {
    pub count: u64,
    pub sum_fen: i64,
    pub file_sha256: Option<String>,
    pub page: Page<R>,
}

/// When an upstream's statement of a day may be served, and what it answers before that.
pub(crate) struct Schedule {
    /// The upstream's name in the fault table, whose statement faults apply.
    pub upstream: &'static str,
    /// The statement of D is ready this many seconds after midnight of D+1.
    pub ready_secs: i64,
    /// The code for "not ready yet" (and, under the `missing` fault, "never").
    pub not_ready: ErrorCode,
    /// The message under the `missing` fault.
    pub missing_message: &'static str,
}

/// A statement request: the day it asks for, and the body field that names that day.
pub(crate) trait DayQuery: DeserializeOwned {
    const DAY_FIELD: &'static str;
    fn day(&self) -> NaiveDate;
}

impl DayQuery for wire::StatementQuery {
    const DAY_FIELD: &'static str = "date";
    fn day(&self) -> NaiveDate {
        self.date
    }
}

impl DayQuery for wire::DailyRecordsQuery {
    const DAY_FIELD: &'static str = "acc_date";
    fn day(&self) -> NaiveDate {
        self.acc_date
    }
}

/// Read a statement request and check its day's statement may be served at `now`: it is ready
/// `schedule.ready_secs` after midnight of the next day (`not_ready` before that); a `missing`
/// fault means never (`not_ready` with `missing_message`). Answers the request and the
/// upstream's statement faults, for [`serve`].
pub(crate) fn open<Q: DayQuery>(
    state: &SimState,
    now: i64,
    body: Value,
    schedule: &Schedule,
) -> Result<(Q, StatementFaults), OpError> {
    let q: Q = parse_dated(body, &[Q::DAY_FIELD])?;
    let faults = state.faults().get(schedule.upstream).statement;
    if faults.missing {
        return Err(OpError::msg(schedule.not_ready, schedule.missing_message));
    }
    let day = q.day();
    if now < local_ts(day.succ_opt().unwrap_or(day), schedule.ready_secs) {
        return Err(schedule.not_ready.into());
    }
    Ok((q, faults))
}

/// The answer for `rows` (each with the instant it happened, in any order): sorted by time,
/// then by trade number; the faults applied; counted, summed, hashed and paged; wrapped by
/// `answer` in the upstream's type; then shaped by the `malformed` fault.
pub(crate) fn serve<R: StatementRow, A: Serialize>(
    faults: &StatementFaults,
    mut rows: Vec<(i64, R)>,
    page: u32,
    page_size: u32,
    answer: impl FnOnce(Statement<R>) -> A,
) -> OpResult {
    rows.sort_by(|a, b| (a.0, a.1.trade_no()).cmp(&(b.0, b.1.trade_no())));
    let rows: Vec<R> = faults.rows(
        rows.into_iter().map(|(_, r)| r).collect(),
        R::out_trade_no,
        R::amount_fen_mut,
    );
    let count = rows.len() as u64;
    let sum_fen = rows.iter().map(R::sum_fen).sum();
    let file_sha256 = Some(faults.hash(wire::statement_sha256(&rows)));
    let page = paginate(rows, page, page_size)?;
    to_value(&answer(Statement {
        count,
        sum_fen,
        file_sha256,
        page,
    }))
    .map(|answer| faults.shape(answer))
}

/// `impl StatementRow` for a row type whose trade number is field `$trade_no`: the accessors,
/// which only that field's name tells apart, then any `$override` of a default method.
macro_rules! statement_row {
    ($row:ty, $trade_no:ident $(, $($override:tt)*)?) => {
        impl StatementRow for $row {
            fn trade_no(&self) -> &str {
                &self.$trade_no
            }
            fn out_trade_no(&self) -> &str {
                &self.out_trade_no
            }
            fn amount_fen(&self) -> i64 {
                self.amount_fen.fen()
            }
            fn amount_fen_mut(&mut self) -> &mut i64 {
                &mut self.amount_fen.0
            }
            $($($override)*)?
        }
    };
}

statement_row!(DailyRecord, trade_no);
statement_row!(BillerStatementRow, biller_trade_no);
statement_row!(
    BankStatementRow,
    bank_trade_no,
    /// A reversal gives the debit back.
    fn sum_fen(&self) -> i64 {
        if self.row_type == "DEBIT" {
            self.amount_fen()
        } else {
            -self.amount_fen()
        }
    }
);
