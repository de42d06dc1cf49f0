//! The money operations: loads (圈存, pending until claimed) and their reversal, debits (代扣)
//! and refunds, and the trade query by idempotency key. A load reversal that finds no load
//! records its key, so the load arriving after all is refused (2213), never credited.

use serde_json::Value;

use super::acc_date;
use super::accounts::check_password;
use super::feed::feed_push;
use super::state::{Trade, live_mut, not_found, record_trade, record_tx, sim, wechat_tx};
use crate::campus::{local_date, local_secs};
use crate::upstream::{Ctx, OpError, OpResult, parse, to_value};
use crate::{SimState, lock};
use onecard_wire::domain::Fen;
use onecard_wire::{
    self as wire, CardStatus, Debit, DebitResult, ErrorCode, LoadCreate, LoadResult, LoadSource,
    Refund, Reverse, ReverseResult, ReverseState, TradeKind, TradeQuery, TradeState, TradeStatus,
    TxType,
};

pub(crate) fn in_window(w: &crate::faults::DownWindow, now: i64) -> bool {
    let parse = |s: &str| -> Option<i64> {
        let (h, m) = s.split_once(':')?;
        let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
        ((0..=24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
    };
    let (Some(a), Some(b)) = (parse(&w.from), parse(&w.to)) else {
        return true;
    };
    let t = local_secs(now);
    if a <= b {
        (a..b).contains(&t)
    } else {
        t >= a || t < b
    }
}

pub(super) fn load_create(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: LoadCreate = parse(body)?;
    let amount = q.amount_fen.fen();
    let (campus, card) = sim(state);
    let cfg = &card.cfg;
    let mut st = lock(&card.st);
    if st
        .reversed_unseen
        .contains(&(ctx.creds.app_key.clone(), q.out_trade_no.clone()))
    {
        return Err(ErrorCode::LoadAlreadyReversed.into());
    }
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if amount <= 0 || amount % 100 != 0 {
        return Err(OpError::msg(
            ErrorCode::AmountInvalid,
            "圈存金额必须是正整数元",
        ));
    }
    if live.status() != CardStatus::Normal {
        return Err(ErrorCode::StatusNotNormal.into());
    }
    if let Some(w) = &cfg.load_hours
        && !in_window(w, ctx.now)
    {
        return Err(ErrorCode::OutOfServiceHours.into());
    }
    if live.balance + live.pending + amount > cfg.wallet_cap_fen {
        return Err(ErrorCode::OverWalletCap.into());
    }
    live.pending += amount;
    let pending_after = live.pending;
    let balance = live.balance;
    let (tx, source, wire_type) = match q.source {
        LoadSource::Bank => (TxType::LoadBank, "银行圈存", "LOAD_BANK"),
        LoadSource::Online => (TxType::LoadOnline, "在线充值", "LOAD_ONLINE"),
        LoadSource::Cash => (TxType::LoadCash, "现金充值", "LOAD_CASH"),
    };
    let slot = (ctx.creds.app_key.clone(), q.out_trade_no.clone());
    live.unclaimed.push((slot, amount, source));
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Load,
        &q.account,
        amount,
        tx,
        'Q',
    );
    // In the feed, not the journal: the money is pending (待领款) until claimed, and the claim
    // is its own transaction.
    feed_push(
        &mut st,
        &q.account,
        false,
        wechat_tx(&trade, wire_type, source, source, true, balance),
        "pending",
    );
    to_value(&LoadResult {
        trade_no: trade.trade_no,
        acc_date: trade.acc_date,
        state: TradeState::Success,
        pending_fen_after: Fen(pending_after),
    })
}

pub(super) fn load_reverse(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Reverse = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let (orig_slot, orig) = st.original(ctx, &q.orig_out_trade_no, TradeKind::Load);
    let Some(orig) = orig else {
        st.reversed_unseen.insert(orig_slot);
        return to_value(&ReverseResult {
            state: ReverseState::NothingToReverse,
            trade_no: None,
        });
    };
    if orig.state == TradeState::Reversed {
        return to_value(&ReverseResult {
            state: ReverseState::Reversed,
            trade_no: orig.reversed_by,
        });
    }
    if orig.acc_date < acc_date(ctx.now) {
        return Err(ErrorCode::ReverseWindowClosed.into());
    }
    let live = live_mut(&mut st, campus, &orig.account).ok_or_else(not_found)?;
    let still_pending = live.unclaimed.iter().position(|(k, _, _)| *k == orig_slot);
    let Some(pos) = still_pending.filter(|_| !orig.claimed && live.pending >= orig.amount) else {
        return Err(ErrorCode::CannotReverse.into());
    };
    live.unclaimed.remove(pos);
    live.pending -= orig.amount;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::LoadReverse,
        &orig.account,
        orig.amount,
        TxType::Reversal,
        'R',
    );
    if let Some(t) = st.trades.get_mut(&orig_slot) {
        t.state = TradeState::Reversed;
        t.reversed_by = Some(trade.trade_no.clone());
    }
    to_value(&ReverseResult {
        state: ReverseState::Reversed,
        trade_no: Some(trade.trade_no),
    })
}

pub(super) fn biller_name(id: &str) -> &'static str {
    match id {
        "elec" => "电控缴费",
        "net" => "网费缴费",
        "photo" => "照片采集费",
        "library" => "图书馆罚款",
        "exam" => "考试报名费",
        "donation" => "校友捐赠",
        _ => "代扣代缴",
    }
}

pub(super) fn pay_debit(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Debit = parse(body)?;
    let amount = q.amount_fen.fen();
    let (campus, card) = sim(state);
    let cfg = &card.cfg;
    let (p, _) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if amount <= 0 {
        return Err(ErrorCode::AmountInvalid.into());
    }
    if live.status() != CardStatus::Normal {
        return Err(ErrorCode::StatusNotNormal.into());
    }
    if amount > cfg.single_limit_fen {
        return Err(ErrorCode::OverSingleLimit.into());
    }
    let today = local_date(ctx.now);
    if live.spent_on(today) + amount > cfg.day_limit_fen {
        return Err(ErrorCode::OverDayLimit.into());
    }
    let password_ok = match &q.password_digest {
        None => None,
        Some(d) => Some(check_password(cfg, ctx, p, &q.account, live, d)?),
    };
    match password_ok {
        None if amount > cfg.nopwd_limit_fen => {
            return Err(ErrorCode::PasswordRequired.into());
        }
        Some(false) => return Err(ErrorCode::PasswordWrong.into()),
        None | Some(true) => {}
    }
    if live.balance < amount {
        return Err(ErrorCode::InsufficientFunds.into());
    }
    live.balance -= amount;
    live.day_spent = (today, live.spent_on(today) + amount);
    let balance = live.balance;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Debit,
        &q.account,
        amount,
        TxType::BillPay,
        'D',
    );
    record_tx(
        &mut st,
        &q.account,
        wechat_tx(
            &trade,
            "BILL_PAY",
            "代扣代缴",
            biller_name(&q.biller_id),
            false,
            balance,
        ),
    );
    debit_result(trade, balance)
}

pub(super) fn pay_refund(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Refund = parse(body)?;
    let amount = q.amount_fen.fen();
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let (orig_slot, orig) = st.original(ctx, &q.orig_out_trade_no, TradeKind::Debit);
    let Some(orig) = orig else {
        return Err(ErrorCode::OriginalNotFound.into());
    };
    if amount <= 0 {
        return Err(ErrorCode::AmountInvalid.into());
    }
    if orig.refunded + amount > orig.amount {
        return Err(ErrorCode::RefundExceedsOriginal.into());
    }
    if let Some(t) = st.trades.get_mut(&orig_slot) {
        t.refunded += amount;
    }
    let live = live_mut(&mut st, campus, &orig.account).ok_or_else(not_found)?;
    live.balance += amount;
    let balance = live.balance;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Refund,
        &orig.account,
        amount,
        TxType::Refund,
        'F',
    );
    record_tx(
        &mut st,
        &orig.account,
        wechat_tx(&trade, "REFUND", "退款", "代扣代缴", true, balance),
    );
    debit_result(trade, balance)
}

/// A debit's or refund's answer: its trade and the balance it left.
fn debit_result(trade: Trade, balance: i64) -> OpResult {
    to_value(&DebitResult {
        trade_no: trade.trade_no,
        acc_date: trade.acc_date,
        balance_after_fen: Fen(balance),
    })
}

pub(super) fn trade_query(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: TradeQuery = parse(body)?;
    let gw = state.card_gateway();
    let not_found = TradeStatus {
        out_trade_no: q.out_trade_no.clone(),
        state: TradeState::NotFound,
        kind: None,
        trade_no: None,
        acc_date: None,
        amount_fen: None,
        error_code: None,
        error_message: None,
    };
    let Some(rec) = gw.write_record(&ctx.creds.app_key, &q.out_trade_no) else {
        return to_value(&not_found);
    };
    let kind = match rec.op {
        wire::paths::CARD_REPORT_LOSS => Some(TradeKind::ReportLoss),
        wire::paths::CARD_CANCEL_LOSS => Some(TradeKind::CancelLoss),
        wire::paths::CARD_LOAD_CREATE => Some(TradeKind::Load),
        wire::paths::CARD_LOAD_REVERSE => Some(TradeKind::LoadReverse),
        wire::paths::CARD_LOAD_CLAIM => Some(TradeKind::Claim),
        wire::paths::CARD_PAY_DEBIT => Some(TradeKind::Debit),
        wire::paths::CARD_PAY_REFUND => Some(TradeKind::Refund),
        _ => None,
    };
    let answer = match rec.result {
        Err(e) => TradeStatus {
            state: TradeState::Failed,
            kind,
            amount_fen: rec.body.get("amount_fen").and_then(Value::as_i64).map(Fen),
            error_code: Some(e.code.as_u32()),
            error_message: Some(
                e.message
                    .unwrap_or_else(|| e.code.default_message().to_owned()),
            ),
            ..not_found
        },
        Ok(_) => {
            let st = lock(&state.card().st);
            match st
                .trades
                .get(&(ctx.creds.app_key.clone(), q.out_trade_no.clone()))
            {
                Some(t) => TradeStatus {
                    state: t.state,
                    kind: Some(t.kind),
                    trade_no: Some(t.trade_no.clone()),
                    acc_date: Some(t.acc_date),
                    amount_fen: Some(Fen(t.amount)),
                    ..not_found
                },
                // A reversal that found nothing to reverse committed nothing either.
                None => TradeStatus {
                    state: TradeState::Success,
                    kind,
                    ..not_found
                },
            }
        }
    };
    to_value(&answer)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::SimConfig;
    use crate::upstream::testkit::spawn;
    use onecard_wire::paths;

    use super::super::test_support::{
        CARD, balance, day_records, digest, read, sim, today, trade, write_code,
    };

    #[actix_web::test]
    async fn load_is_idempotent_reversible_and_queryable_by_key() {
        let s = sim().await;
        let load = json!({"account": "20001", "amount_fen": 5000, "out_trade_no": "LD0001", "source": "bank", "source_ref": "BK0001"});
        let (code, first) = write_code(&s, paths::CARD_LOAD_CREATE, load.clone()).await;
        assert_eq!(code, 0);
        assert_eq!(first["state"], "SUCCESS");
        assert_eq!(first["pending_fen_after"], 5000);
        let (_, again) = write_code(&s, paths::CARD_LOAD_CREATE, load.clone()).await;
        assert_eq!(
            again, first,
            "same key, same body: the original answer, no second credit"
        );
        assert_eq!(balance(&s, "20001").await["pending_fen"], 5000);
        let mut changed = load.clone();
        changed["amount_fen"] = json!(10000);
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, changed).await.0,
            2009
        );
        // The header must carry the same key.
        let a = s
            .write(CARD, paths::CARD_LOAD_CREATE, load.clone(), "OTHERKEY")
            .await;
        assert_eq!((a.status, a.code()), (400, 1008));
        let q = trade(&s, "LD0001").await;
        assert_eq!(q["state"], "SUCCESS");
        assert_eq!(q["kind"], "load");
        assert_eq!(q["amount_fen"], 5000);
        assert_eq!(q["trade_no"], first["trade_no"]);
        let missing = trade(&s, "NEVER").await;
        assert_eq!(missing["state"], "NOT_FOUND");
        assert_eq!(missing["kind"], Value::Null);

        let rev = json!({"orig_out_trade_no": "LD0001", "out_trade_no": "RV0001"});
        let (code, r) = write_code(&s, paths::CARD_LOAD_REVERSE, rev.clone()).await;
        assert_eq!((code, r["state"].as_str()), (0, Some("REVERSED")));
        assert_eq!(balance(&s, "20001").await["pending_fen"], 0);
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_REVERSE, rev).await.1["state"],
            "REVERSED"
        );
        let again = json!({"orig_out_trade_no": "LD0001", "out_trade_no": "RV0002"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_REVERSE, again).await.1,
            r,
            "already reversed: REVERSED with the first reversal's trade_no"
        );
        assert_eq!(trade(&s, "LD0001").await["state"], "REVERSED");
        let nothing = json!({"orig_out_trade_no": "GHOST", "out_trade_no": "RV0003"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_REVERSE, nothing).await.1,
            json!({"state": "NOTHING_TO_REVERSE", "trade_no": null})
        );
        // the original, delayed on the way, arrives after its reversal: refused, nothing loaded
        let late = json!({"account": "20001", "amount_fen": 5000, "out_trade_no": "GHOST", "source": "bank", "source_ref": "BKGHOST"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, late).await.0, 2213);
        assert_eq!(balance(&s, "20001").await["pending_fen"], 0);

        // A claimed load cannot be reversed.
        let load2 = json!({"account": "20001", "amount_fen": 2000, "out_trade_no": "LD0002", "source": "online", "source_ref": "WX1"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, load2).await.0, 0);
        s.post("/sim/card/accounts/2024000001/claim", json!({}))
            .await;
        let rev2 = json!({"orig_out_trade_no": "LD0002", "out_trade_no": "RV0004"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_REVERSE, rev2).await.0, 2211);
        let b = balance(&s, "20001").await;
        assert_eq!(b["balance_fen"], 7230);
        let tx = today(&s, "20001", Some("CLAIM")).await;
        assert_eq!(tx["items"][0]["amount_fen"], 2000);
        assert_eq!(tx["items"][0]["balance_after_fen"], 7230);
    }

    #[actix_web::test]
    async fn load_refusals_are_recorded_and_replayed() {
        let s = sim().await;
        let odd = json!({"account": "20001", "amount_fen": 5050, "out_trade_no": "LD0100", "source": "bank", "source_ref": "B"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, odd.clone()).await.0,
            2205
        );
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, odd).await.0,
            2205,
            "failures replay too"
        );
        let q = trade(&s, "LD0100").await;
        assert_eq!(
            (q["state"].as_str(), q["error_code"].as_u64()),
            (Some("FAILED"), Some(2205))
        );
        let cap = json!({"account": "20010", "amount_fen": 2000, "out_trade_no": "LD0101", "source": "bank", "source_ref": "B"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, cap).await.0, 2201);
        let lost = json!({"account": "20003", "amount_fen": 2000, "out_trade_no": "LD0102", "source": "bank", "source_ref": "B"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, lost).await.0, 2202);
        let nobody = json!({"account": "99", "amount_fen": 2000, "out_trade_no": "LD0103", "source": "bank", "source_ref": "B"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, nobody).await.0,
            2001
        );
    }

    #[actix_web::test]
    async fn debit_limits_password_and_refunds() {
        // A high day limit: what the student already spent today before t0 depends on the hour.
        let card = crate::CardSimConfig {
            day_limit_fen: 30_000,
            ..Default::default()
        };
        let s = spawn(SimConfig {
            accounts: 300,
            card,
            ..SimConfig::default()
        })
        .await;
        let debit = |key: &str, amount: i64, pw: Option<String>| {
            let mut b = json!({"account": "20001", "amount_fen": amount, "out_trade_no": key, "biller_id": "elec", "target_id": "XY7-609", "remark": "电费"});
            if let Some(pw) = pw {
                b["password_digest"] = json!(pw);
            }
            b
        };
        assert_eq!(
            write_code(&s, paths::CARD_PAY_DEBIT, debit("DB1", 3000, None))
                .await
                .0,
            2308
        );
        assert_eq!(
            write_code(
                &s,
                paths::CARD_PAY_DEBIT,
                debit("DB2", 3000, Some(digest(&s, "20001", "000000")))
            )
            .await
            .0,
            2106
        );
        assert_eq!(
            write_code(&s, paths::CARD_PAY_DEBIT, debit("DB3", 6000, None))
                .await
                .0,
            2304
        );
        let (code, ok) = write_code(
            &s,
            paths::CARD_PAY_DEBIT,
            debit("DB4", 3000, Some(digest(&s, "20001", "123456"))),
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(ok["balance_after_fen"], 2230);
        let (code, small) = write_code(&s, paths::CARD_PAY_DEBIT, debit("DB5", 1500, None)).await;
        assert_eq!((code, small["balance_after_fen"].as_i64()), (0, Some(730)));
        assert_eq!(
            write_code(&s, paths::CARD_PAY_DEBIT, debit("DB6", 1000, None))
                .await
                .0,
            2301
        );
        let refund = |key: &str, amount: i64| json!({"orig_out_trade_no": "DB4", "out_trade_no": key, "amount_fen": amount});
        let (code, r) = write_code(&s, paths::CARD_PAY_REFUND, refund("RF1", 1000)).await;
        assert_eq!((code, r["balance_after_fen"].as_i64()), (0, Some(1730)));
        assert_eq!(
            write_code(&s, paths::CARD_PAY_REFUND, refund("RF2", 2001))
                .await
                .0,
            2306
        );
        assert_eq!(
            write_code(&s, paths::CARD_PAY_REFUND, refund("RF3", 2000))
                .await
                .0,
            0
        );
        let ghost = json!({"orig_out_trade_no": "NOPE", "out_trade_no": "RF4", "amount_fen": 1});
        assert_eq!(write_code(&s, paths::CARD_PAY_REFUND, ghost).await.0, 2307);
        let tx = today(&s, "20001", None).await;
        let types: Vec<&str> = tx["items"]
            .as_array()
            .unwrap()
            .iter()
            .take(4)
            .map(|t| t["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["REFUND", "REFUND", "BILL_PAY", "BILL_PAY"]);
        assert_eq!(tx["items"][0]["balance_after_fen"], 3730);
        // Day records are ready at 06:00 the next day.
        let day = balance(&s, "20001").await;
        assert_eq!(day["balance_fen"], 3730);
        let acc_date = ok["acc_date"].as_str().unwrap().to_owned();
        let recon = json!({"acc_date": acc_date, "kind": "all"});
        assert_eq!(
            s.call(CARD, paths::CARD_RECON_DAILY, recon.clone())
                .await
                .code(),
            2403
        );
        s.state.clock().advance(2 * 86_400);
        let r = read(&s, paths::CARD_RECON_DAILY, recon).await;
        assert_eq!(r["count"], 4);
        assert_eq!(r["sum_fen"], 3000 + 1500 + 1000 + 2000);
        let debits = day_records(&s, &acc_date, "debit").await;
        assert_eq!(debits["count"], 2);
        assert_eq!(debits["page"]["items"][0]["out_trade_no"], "DB4");
        assert_eq!(debits["page"]["items"][0]["sno"], "2024000001");
        assert_eq!(debits["page"]["items"][0]["type"], "BILL_PAY");
    }

    #[actix_web::test]
    async fn debits_stop_at_the_day_limit() {
        let s = sim().await;
        let pw = digest(&s, "20010", "123456");
        let spent_before = balance(&s, "20010").await["day_spent_fen"]
            .as_i64()
            .unwrap();
        let mut spent = spent_before;
        let mut refused = None;
        for i in 0..10 {
            let body = json!({"account": "20010", "amount_fen": 5000, "out_trade_no": format!("DL{i}"), "biller_id": "net", "target_id": "2023000010", "password_digest": pw});
            match write_code(&s, paths::CARD_PAY_DEBIT, body).await.0 {
                0 => spent += 5000,
                code => {
                    refused = Some(code);
                    break;
                }
            }
        }
        assert_eq!(refused, Some(2305));
        assert!(spent <= 10_000 && spent + 5000 > 10_000, "spent {spent}");
        let b = balance(&s, "20010").await;
        assert_eq!(b["day_spent_fen"].as_i64(), Some(spent));
        assert_eq!(
            b["balance_fen"].as_i64(),
            Some(99_000 - (spent - spent_before))
        );
    }
}
