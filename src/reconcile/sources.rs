//! Fetching one campus day's statements: the bank's, the card system's load, debit, refund and
//! reversal records, and the billers' — every page, then checked whole before any row is used.
//!
//! A statement is trusted only if its rows add up to the count and sum it declares and, where
//! the upstream sends a file hash, the hash recomputed over every page matches. Anything else
//! (not produced yet, the upstream unreachable, an undecodable answer) becomes that upstream's
//! [`SourceState`] for the day, never an error of the run: the other statements still count.

use chrono::NaiveDate;
use serde::Serialize;

use crate::adapters::{AdapterError, BankHandle, BillersHandle, CardHandle};
use crate::store::reconcile::{RowKind, SourceReport, SourceState, TheirRow, Upstream};
use crate::wire::{
    self, BillerState, DailyRecordsQuery, ErrorCode, MAX_PAGE_SIZE, Page, ReconKind,
    StatementQuery, TradeState,
};

/// The upstreams reconciliation reads; `None` for one the configuration does not have.
#[derive(Clone, Default)]
pub struct Sources {
    pub bank: Option<BankHandle>,
    pub card: Option<CardHandle>,
    pub billers: Option<BillersHandle>,
}

/// One day's statements: each upstream's state, and the rows of the usable ones.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    pub reports: Vec<SourceReport>,
    pub rows: Vec<TheirRow>,
}

impl Fetched {
    pub fn usable(&self, upstream: Upstream) -> bool {
        self.reports
            .iter()
            .any(|r| r.upstream == upstream && r.state.usable())
    }
}

/// A statement as it came in, before checking.
struct Collected<R> {
    count: u64,
    sum_fen: i64,
    file_sha256: Option<String>,
    rows: Vec<R>,
}

/// Why a statement is not usable.
enum Unusable {
    Missing(String),
    Malformed(String),
}

impl From<AdapterError> for Unusable {
    fn from(e: AdapterError) -> Self {
        match e {
            // an answer we cannot decode is a statement in an unexpected shape
            AdapterError::Protocol(why) => Unusable::Malformed(why),
            AdapterError::Rejected { code, message } => {
                let not_ready = [
                    ErrorCode::BankStatementNotReady,
                    ErrorCode::RecordsNotReady,
                    ErrorCode::BillerStatementNotReady,
                ]
                .iter()
                .any(|c| c.as_u32() == code);
                let what = if not_ready {
                    "not available"
                } else {
                    "refused"
                };
                Unusable::Missing(format!("{what}: {code} {message}"))
            }
            other => Unusable::Missing(other.to_string()),
        }
    }
}

/// Read every page of a statement with `page(n)`.
async fn collect<R, F, Fut>(mut page: F) -> Result<Collected<R>, Unusable>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<(u64, i64, Option<String>, Page<R>), AdapterError>>,
{
    let mut rows = Vec::new();
    let mut n = 1;
    loop {
        let (count, sum_fen, file_sha256, p) = page(n).await?;
        let got = p.items.len();
        rows.extend(p.items);
        if got == 0 || rows.len() as u64 >= p.total {
            if rows.len() as u64 != p.total {
                return Err(Unusable::Malformed(format!(
                    "pages ended at {} rows of {}",
                    rows.len(),
                    p.total
                )));
            }
            return Ok(Collected {
                count,
                sum_fen,
                file_sha256,
                rows,
            });
        }
        n += 1;
    }
}

/// A statement that passed [`check`].
#[derive(Clone, Copy)]
struct Checked {
    count: u64,
    sum_fen: i64,
    hash_checked: bool,
}

impl Checked {
    fn state(self) -> SourceState {
        SourceState::Ok {
            count: self.count,
            sum_fen: self.sum_fen,
            hash_checked: self.hash_checked,
        }
    }
}

/// Count, sum and hash against the rows; `sum` is how this upstream sums its rows.
fn check<R: Serialize>(
    collected: &Collected<R>,
    sum: impl Fn(&R) -> i64,
) -> Result<Checked, Unusable> {
    let rows = &collected.rows;
    if rows.len() as u64 != collected.count {
        return Err(Unusable::Malformed(format!(
            "declares {} rows, carries {}",
            collected.count,
            rows.len()
        )));
    }
    let total: i64 = rows.iter().map(sum).sum();
    if total != collected.sum_fen {
        return Err(Unusable::Malformed(format!(
            "declares a sum of {} fen, rows add up to {total}",
            collected.sum_fen
        )));
    }
    let hash_checked = match &collected.file_sha256 {
        Some(sent) => {
            let ours = wire::statement_sha256(rows);
            if !sent.eq_ignore_ascii_case(&ours) {
                return Err(Unusable::Malformed(
                    "file hash does not match its rows".into(),
                ));
            }
            true
        }
        None => false,
    };
    Ok(Checked {
        count: collected.count,
        sum_fen: collected.sum_fen,
        hash_checked,
    })
}

fn state_word<T: Serialize>(state: &T) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn report(upstream: Upstream, outcome: Result<SourceState, Unusable>) -> SourceReport {
    let state = match outcome {
        Ok(state) => state,
        Err(Unusable::Missing(reason)) => SourceState::Missing { reason },
        Err(Unusable::Malformed(reason)) => SourceState::Malformed { reason },
    };
    SourceReport { upstream, state }
}

/// Page `page` of the statement of `date`, as the bank and the billers are both asked.
fn dated(date: NaiveDate, page: u32) -> StatementQuery {
    StatementQuery {
        date,
        page,
        page_size: MAX_PAGE_SIZE,
    }
}

/// A bank or card-system row: a person's trade, whose money moved once it succeeded (a
/// reversed trade moved too, then went back).
fn trade_row(
    kind: RowKind,
    state: TradeState,
    out_trade_no: String,
    serial: String,
    date: NaiveDate,
    amount_fen: i64,
    sno: String,
) -> TheirRow {
    TheirRow {
        kind,
        moved: matches!(state, TradeState::Success | TradeState::Reversed),
        state: state_word(&state),
        out_trade_no,
        serial,
        date,
        amount_fen,
        biller_id: None,
        sno: Some(sno),
    }
}

async fn bank_rows(
    bank: &BankHandle,
    date: NaiveDate,
) -> Result<(SourceState, Vec<TheirRow>), Unusable> {
    let collected = collect(|page| async move {
        let s = bank.statement(&dated(date, page)).await?;
        Ok((s.count, s.sum_fen.fen(), s.file_sha256, s.page))
    })
    .await?;
    let state = check(&collected, |r| match r.row_type.as_str() {
        "REVERSAL" => -r.amount_fen.fen(),
        _ => r.amount_fen.fen(),
    })?
    .state();
    let mut rows = Vec::with_capacity(collected.rows.len());
    for r in collected.rows {
        let kind = match r.row_type.as_str() {
            "DEBIT" => RowKind::BankDebit,
            "REVERSAL" => RowKind::BankReversal,
            other => {
                return Err(Unusable::Malformed(format!("unknown row type {other:?}")));
            }
        };
        rows.push(trade_row(
            kind,
            r.state,
            r.out_trade_no,
            r.bank_trade_no,
            date,
            r.amount_fen.fen(),
            r.sno,
        ));
    }
    Ok((state, rows))
}

async fn card_rows(
    card: &CardHandle,
    date: NaiveDate,
) -> Result<(SourceState, Vec<TheirRow>), Unusable> {
    // Not `ReconKind::Claim`: a claim (领款) moves a load from 过渡余额 into the spendable
    // balance inside the card system, zero net, with nothing at the bank or in our orders' money
    // to match it against; the load it claimed is matched as a load.
    let kinds = [
        (ReconKind::Load, RowKind::CardLoad),
        (ReconKind::Reversal, RowKind::CardLoadReverse),
        (ReconKind::Debit, RowKind::CardDebit),
        (ReconKind::Refund, RowKind::CardRefund),
    ];
    let (mut count, mut sum_fen, mut all_hashed) = (0, 0, true);
    let mut rows = Vec::new();
    for (recon, kind) in kinds {
        let collected = collect(|page| async move {
            let q = DailyRecordsQuery {
                acc_date: date,
                kind: recon,
                page,
                page_size: MAX_PAGE_SIZE,
            };
            let s = card.daily_records(&q).await?;
            Ok((s.count, s.sum_fen.fen(), s.file_sha256, s.page))
        })
        .await?;
        let checked = check(&collected, |r| r.amount_fen.fen())?;
        count += checked.count;
        sum_fen += checked.sum_fen;
        all_hashed &= checked.hash_checked;
        rows.extend(collected.rows.into_iter().map(|r| {
            trade_row(
                kind,
                r.state,
                r.out_trade_no,
                r.trade_no,
                date,
                r.amount_fen.fen(),
                r.sno,
            )
        }));
    }
    let state = SourceState::Ok {
        count,
        sum_fen,
        hash_checked: all_hashed,
    };
    Ok((state, rows))
}

async fn biller_rows(
    billers: &BillersHandle,
    date: NaiveDate,
) -> Result<(SourceState, Vec<TheirRow>), Unusable> {
    let collected = collect(|page| async move {
        let s = billers.statement(&dated(date, page)).await?;
        Ok((s.count, s.sum_fen.fen(), s.file_sha256, s.page))
    })
    .await?;
    let state = check(&collected, |r| r.amount_fen.fen())?.state();
    let rows = collected
        .rows
        .into_iter()
        .map(|r| TheirRow {
            kind: RowKind::BillerPayment,
            moved: matches!(r.state, BillerState::Success | BillerState::Accepted),
            state: state_word(&r.state),
            out_trade_no: r.out_trade_no,
            serial: r.biller_trade_no,
            date,
            amount_fen: r.amount_fen.fen(),
            biller_id: r.biller_id,
            sno: None,
        })
        .collect();
    Ok((state, rows))
}

/// Fetch every configured upstream's statement of `date`.
pub async fn fetch_day(sources: &Sources, date: NaiveDate) -> Fetched {
    let mut fetched = Fetched::default();
    let mut take =
        |upstream, outcome: Option<Result<(SourceState, Vec<TheirRow>), Unusable>>| match outcome {
            None => fetched.reports.push(SourceReport {
                upstream,
                state: SourceState::NotConfigured,
            }),
            Some(Ok((state, rows))) => {
                fetched.reports.push(SourceReport { upstream, state });
                fetched.rows.extend(rows);
            }
            Some(Err(why)) => fetched.reports.push(report(upstream, Err(why))),
        };
    let bank = match &sources.bank {
        Some(bank) => Some(bank_rows(bank, date).await),
        None => None,
    };
    take(Upstream::Bank, bank);
    let card = match &sources.card {
        Some(card) => Some(card_rows(card, date).await),
        None => None,
    };
    take(Upstream::Card, card);
    let billers = match &sources.billers {
        Some(billers) => Some(biller_rows(billers, date).await),
        None => None,
    };
    take(Upstream::Billers, billers);
    for r in &fetched.reports {
        match &r.state {
            SourceState::Ok { .. } | SourceState::NotConfigured => {}
            SourceState::Missing { reason } | SourceState::Malformed { reason } => {
                tracing::warn!(upstream = r.upstream.as_str(), %date, reason, "reconcile: statement not usable");
            }
        }
    }
    fetched
}
