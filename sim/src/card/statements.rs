//! What happened on a card: transactions by date range (the live journal, then the generated
//! history) and the day records the reconciliation reads.

use chrono::NaiveDate;
use serde_json::Value;

use super::state::{live_mut, not_found, sim};
use super::{RECORDS, acc_date};
use crate::campus::{GenTx, campus_time, local_date};
use crate::upstream::{Ctx, OpError, OpResult, paginate, parse_dated, range_too_long, to_value};
use crate::{SimState, lock, statement};
use onecard_wire::domain::Fen;
use onecard_wire::{
    DailyRecord, DailyRecords, DailyRecordsQuery, Direction, ErrorCode, ReconKind, TradeKind,
    Transaction, TransactionsQuery, TxType,
};

pub(super) fn tx_type(s: &str) -> TxType {
    match s {
        "CONSUME" => TxType::Consume,
        "LOAD_BANK" => TxType::LoadBank,
        "LOAD_CASH" => TxType::LoadCash,
        "LOAD_ONLINE" => TxType::LoadOnline,
        "CLAIM" => TxType::Claim,
        "SUBSIDY" => TxType::Subsidy,
        "REFUND" => TxType::Refund,
        "BILL_PAY" => TxType::BillPay,
        "FEE" => TxType::Fee,
        "REVERSAL" => TxType::Reversal,
        "ADJUST" => TxType::Adjust,
        "TRANSFER" => TxType::Transfer,
        _ => TxType::Other,
    }
}

pub(super) fn wire_tx(t: &GenTx) -> Transaction {
    Transaction {
        trade_no: t.trade_no.clone(),
        occurred_at: campus_time(t.at),
        acc_date: acc_date(t.at),
        tx_type: tx_type(t.tx_type),
        type_name: t.type_name.to_owned(),
        direction: if t.incoming {
            Direction::In
        } else {
            Direction::Out
        },
        amount_fen: Fen(t.amount_fen),
        balance_after_fen: Fen(t.balance_after_fen),
        merchant_id: t.merchant_id.to_owned(),
        merchant_name: t.merchant_name.to_owned(),
        terminal_id: t.terminal_id.clone(),
        location: t.location.clone(),
        remark: String::new(),
    }
}

pub(super) fn transactions_list(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: TransactionsQuery = parse_dated(body, &["from", "to"])?;
    let (from, to) = (q.from, q.to);
    if from > to {
        return Err(OpError::msg(ErrorCode::BadRequest, "from 晚于 to"));
    }
    if range_too_long(from, to) {
        return Err(ErrorCode::RangeTooLong.into());
    }
    let all = transactions_between(state, &q.account, from, to)
        .ok_or_else(not_found)?
        .into_iter()
        .filter(|t| q.direction.is_none_or(|d| d == t.direction))
        .filter(|t| q.tx_type.is_none_or(|ty| ty == t.tx_type));
    to_value(&paginate(all.collect(), q.page, q.page_size)?)
}

/// Every transaction of a ledger account with a trade date in `from..=to`, newest first (the
/// live journal, then the generated history); None for an unknown account.
pub fn transactions_between(
    state: &SimState,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Option<Vec<Transaction>> {
    let (campus, card) = sim(state);
    let (p, ci) = campus.by_account(account)?;
    let live_part: Vec<GenTx> = {
        let mut st = lock(&card.st);
        let live = live_mut(&mut st, campus, account)?;
        live.journal
            .iter()
            .rev()
            .filter(|t| (from..=to).contains(&local_date(t.at)))
            .cloned()
            .collect()
    };
    Some(
        live_part
            .into_iter()
            .chain(campus.history(p, ci, from, to))
            .map(|t| wire_tx(&t))
            .collect(),
    )
}

pub(super) fn recon_daily(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let (q, faults) = statement::open::<DailyRecordsQuery>(state, ctx.now, body, &RECORDS)?;
    let day = q.acc_date;
    let (campus, card) = sim(state);
    let st = lock(&card.st);
    let rows: Vec<(i64, DailyRecord)> = st
        .trades
        .iter()
        .filter(|((app, _), t)| *app == ctx.creds.app_key && t.acc_date == day)
        .filter(|(_, t)| match q.kind {
            ReconKind::Load => t.kind == TradeKind::Load,
            ReconKind::Debit => t.kind == TradeKind::Debit,
            ReconKind::Refund => t.kind == TradeKind::Refund,
            ReconKind::Reversal => t.kind == TradeKind::LoadReverse,
            ReconKind::Claim => t.kind == TradeKind::Claim,
            ReconKind::All => !matches!(t.kind, TradeKind::ReportLoss | TradeKind::CancelLoss),
        })
        .map(|((_, key), t)| {
            let sno = campus
                .by_account(&t.account)
                .map(|(p, _)| p.sno.clone())
                .unwrap_or_default();
            (
                t.at,
                DailyRecord {
                    acc_date: t.acc_date,
                    trade_no: t.trade_no.clone(),
                    out_trade_no: key.clone(),
                    account: t.account.clone(),
                    sno,
                    tx_type: t.tx_type,
                    amount_fen: Fen(t.amount),
                    state: t.state,
                    occurred_at: campus_time(t.at),
                },
            )
        })
        .collect();
    statement::serve(&faults, rows, q.page, q.page_size, |s| DailyRecords {
        acc_date: day,
        count: s.count,
        sum_fen: Fen(s.sum_fen),
        file_sha256: s.file_sha256,
        page: s.page,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::campus::local_date;

    use onecard_wire::paths;

    use super::super::test_support::{CARD, read, sim};

    #[actix_web::test]
    async fn transactions_page_newest_first_with_filters_and_range_checks() {
        let s = sim().await;
        let today = local_date(s.state.clock().now());
        // 120 days always reach into term time, even from the middle of a vacation.
        let (from, to) = (today - chrono::Days::new(120), today);
        let q = |page: u32, size: u32| json!({"account": "20001", "from": from, "to": to, "page": page, "page_size": size});
        let p1 = read(&s, paths::CARD_TRANSACTIONS_LIST, q(1, 10)).await;
        let total = p1["total"].as_u64().unwrap();
        assert!(
            total > 20,
            "a month of a student's card has many records: {total}"
        );
        let items = p1["items"].as_array().unwrap();
        assert_eq!(items.len(), 10);
        assert_eq!(
            items[0]["balance_after_fen"], 5230,
            "newest record ends at today's balance"
        );
        for w in items.windows(2) {
            assert!(w[0]["occurred_at"].as_str() >= w[1]["occurred_at"].as_str());
        }
        let p2 = read(&s, paths::CARD_TRANSACTIONS_LIST, q(2, 10)).await;
        assert_ne!(p2["items"][0], items[0]);
        let big = read(&s, paths::CARD_TRANSACTIONS_LIST, q(1, 500)).await;
        assert_eq!(big["page_size"], 50);
        let loads = read(
            &s,
            paths::CARD_TRANSACTIONS_LIST,
            json!({"account": "20001", "from": from, "to": to, "direction": "in"}),
        )
        .await;
        assert!(
            loads["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["direction"] == "in")
        );
        let t = &items[0];
        for field in [
            "trade_no",
            "acc_date",
            "type",
            "type_name",
            "merchant_id",
            "merchant_name",
            "terminal_id",
            "location",
        ] {
            assert!(
                t[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field}: {t}"
            );
        }
        let long = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                json!({"account": "20001", "from": "2024-01-01", "to": "2025-06-01"}),
            )
            .await;
        assert_eq!(long.code(), 2010);
        let backwards = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                json!({"account": "20001", "from": to, "to": from}),
            )
            .await;
        assert_eq!(backwards.code(), 1007);
    }

    /// An integrator could not tell whether "> 366 days" counted both ends, nor what page 0
    /// meant: a range holds at most 366 days with both ends included, and page / page_size
    /// start at 1.
    #[actix_web::test]
    async fn ranges_count_both_ends_and_pages_start_at_one() {
        let s = sim().await;
        let range = |from: &str, to: &str| json!({"account": "20001", "from": from, "to": to});
        let leap_year = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                range("2024-01-01", "2024-12-31"),
            )
            .await;
        assert_eq!(leap_year.code(), 0, "366 days, both ends included");
        let one_more = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                range("2024-01-01", "2025-01-01"),
            )
            .await;
        assert_eq!((one_more.status, one_more.code()), (200, 2010));
        for (page, page_size) in [(0, 20), (1, 0)] {
            let zero = s
                .call(
                    CARD,
                    paths::CARD_TRANSACTIONS_LIST,
                    json!({"account": "20001", "from": "2025-01-01", "to": "2025-01-31", "page": page, "page_size": page_size}),
                )
                .await;
            assert_eq!(
                (zero.status, zero.code()),
                (400, 1007),
                "page {page}, page_size {page_size}"
            );
        }
    }
}
