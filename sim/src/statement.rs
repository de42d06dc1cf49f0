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

use crate::campus::local_ts;
use crate::faults::StatementFaults;
use crate::upstream::{OpError, OpResult, paginate, to_value};
use onecard_wire::{
    self as wire, BankStatementRow, BillerStatementRow, DailyRecord, ErrorCode, Page,
};

/// A row of a statement.
pub(crate) trait StatementRow: Serialize {
    /// The upstream's own trade number: orders rows of the same instant.
    fn trade_no(&self) -> &str;
    /// The caller's key, as the `omit` and `amount_off_by_one_fen` faults name it.
    fn out_trade_no(&self) -> &str;
    fn amount_fen_mut(&mut self) -> &mut i64;
    /// What the row adds to the statement's `sum_fen`.
    fn sum_fen(&self) -> i64;
}

/// A day's statement, before the upstream's answer type wraps it.
pub(crate) struct Statement<R> {
    pub count: u64,
    pub sum_fen: i64,
    pub file_sha256: Option<String>,
    pub page: Page<R>,
}

/// Whether the statement of `day` may be served at `now`: it is ready `ready_secs` after
/// midnight of the next day (`not_ready` before that); a `missing` fault means never
/// (`not_ready` with `missing_message`).
pub(crate) fn ready(
    faults: &StatementFaults,
    day: NaiveDate,
    ready_secs: i64,
    now: i64,
    not_ready: ErrorCode,
    missing_message: &str,
) -> Result<(), OpError> {
    if faults.missing {
        return Err(OpError::msg(not_ready, missing_message));
    }
    if now < local_ts(day.succ_opt().unwrap_or(day), ready_secs) {
        return Err(not_ready.into());
    }
    Ok(())
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

// The three row types are the protocol's own structs (crate::wire), alike in their key and
// amount fields: each names its trade number differently, and the bank's reversal counts
// negative.

/// `impl StatementRow` for a row type whose trade number is field `$trade_no` and whose
/// amount adds to the sum as `$sum_fen` (the row's own amount unless given).
macro_rules! statement_row {
    ($row:ty, $trade_no:ident) => {
        statement_row!($row, $trade_no, |row: &$row| row.amount_fen.fen());
    };
    ($row:ty, $trade_no:ident, $sum_fen:expr) => {
        impl StatementRow for $row {
            fn trade_no(&self) -> &str {
                &self.$trade_no
            }
            fn out_trade_no(&self) -> &str {
                &self.out_trade_no
            }
            fn amount_fen_mut(&mut self) -> &mut i64 {
                &mut self.amount_fen.0
            }
            fn sum_fen(&self) -> i64 {
                ($sum_fen)(self)
            }
        }
    };
}

statement_row!(DailyRecord, trade_no);
statement_row!(BillerStatementRow, biller_trade_no);
// A reversal gives the debit back.
statement_row!(BankStatementRow, bank_trade_no, |row: &BankStatementRow| {
    if row.row_type == "DEBIT" {
        row.amount_fen.fen()
    } else {
        -row.amount_fen.fen()
    }
});
