//! `card/load/claim` (领款 online): every pending load (过渡余额) of an account becomes
//! spendable at once, as a tap at a POS or a kiosk does, for schools whose card accounts are
//! online. Zero net: the statement and the feed get one `CLAIM` (pending → spendable), the
//! day records one `CLAIM` row, and the claimed loads can no longer be reversed (2211).
//!
//! Idempotent by `out_trade_no` like every write (the gateway replays the first answer, a
//! refusal included). Refused with 2202 on a card that is not normal (lost, frozen, closed)
//! and with 2214 when nothing is pending.

use serde_json::Value;

use super::state::{live_mut, not_found, record_trade, record_tx, sim, take_pending, wechat_tx};
use crate::upstream::{Ctx, OpResult, parse, to_value};
use crate::{SimState, lock};
use onecard_wire::domain::Fen;
use onecard_wire::{CardStatus, ClaimPending, ClaimResult, ErrorCode, TradeKind, TxType};

pub(super) fn load_claim(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: ClaimPending = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if live.status() != CardStatus::Normal {
        return Err(ErrorCode::StatusNotNormal.into());
    }
    if live.pending <= 0 {
        return Err(ErrorCode::NothingToClaim.into());
    }
    let (before, loads) = take_pending(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let claimed: i64 = loads.iter().map(|(amount, _)| amount).sum();
    if claimed <= 0 {
        return Err(ErrorCode::NothingToClaim.into());
    }
    let balance = before + claimed;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Claim,
        &q.account,
        claimed,
        TxType::Claim,
        'K',
    );
    record_tx(
        &mut st,
        &q.account,
        wechat_tx(&trade, "CLAIM", "领款", "在线领款", true, balance),
    );
    to_value(&ClaimResult {
        claimed_fen: Fen(claimed),
        balance_fen_after: Fen(balance),
        trade_no: trade.trade_no,
        acc_date: trade.acc_date,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use onecard_wire::paths;

    use super::super::test_support::{balance, day_records, sim, today, trade, write_code};

    #[actix_web::test]
    async fn a_claim_moves_every_pending_load_once_and_replays_by_key() {
        let s = sim().await;
        let before = balance(&s, "20001").await;
        let (spendable, pending) = (
            before["balance_fen"].as_i64().unwrap(),
            before["pending_fen"].as_i64().unwrap(),
        );
        for (key, fen) in [("LD0201", 2000), ("LD0202", 3000)] {
            let load = json!({"account": "20001", "amount_fen": fen, "out_trade_no": key, "source": "bank", "source_ref": "B"});
            assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, load).await.0, 0);
        }
        let claim = json!({"account": "20001", "out_trade_no": "KL0001"});
        let (code, first) = write_code(&s, paths::CARD_LOAD_CLAIM, claim.clone()).await;
        assert_eq!(code, 0);
        let claimed = pending + 5000;
        assert_eq!(first["claimed_fen"], claimed);
        assert_eq!(first["balance_fen_after"], spendable + claimed);
        let after = balance(&s, "20001").await;
        assert_eq!(
            (after["balance_fen"].as_i64(), after["pending_fen"].as_i64()),
            (Some(spendable + claimed), Some(0))
        );

        // same key, same body: the first answer again, nothing moves twice
        let (code, again) = write_code(&s, paths::CARD_LOAD_CLAIM, claim.clone()).await;
        assert_eq!((code, &again), (0, &first));
        assert_eq!(
            balance(&s, "20001").await["balance_fen"],
            spendable + claimed
        );
        // same key, another account: a different request under a used key
        let other = json!({"account": "20002", "out_trade_no": "KL0001"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CLAIM, other).await.0, 2009);
        // a new key with nothing pending: 2214, replayed as such
        let empty = json!({"account": "20001", "out_trade_no": "KL0002"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CLAIM, empty.clone())
                .await
                .0,
            2214
        );
        let load = json!({"account": "20001", "amount_fen": 1000, "out_trade_no": "LD0203", "source": "bank", "source_ref": "B"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, load).await.0, 0);
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CLAIM, empty).await.0,
            2214,
            "a refusal replays under its key even once something is pending"
        );

        let q = trade(&s, "KL0001").await;
        assert_eq!(q["state"], "SUCCESS");
        assert_eq!(q["kind"], "claim");
        assert_eq!(q["amount_fen"], claimed);
        assert_eq!(q["trade_no"], first["trade_no"]);

        // a claimed load cannot be reversed any more
        let rev = json!({"orig_out_trade_no": "LD0201", "out_trade_no": "RV0201"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_REVERSE, rev).await.0, 2211);

        // the statement has one CLAIM for the total, incoming, ending at the new balance
        let tx = today(&s, "20001", Some("CLAIM")).await;
        assert_eq!(tx["total"], 1);
        assert_eq!(tx["items"][0]["trade_no"], first["trade_no"]);
        assert_eq!(tx["items"][0]["direction"], "in");
        assert_eq!(tx["items"][0]["amount_fen"], claimed);
        assert_eq!(tx["items"][0]["balance_after_fen"], spendable + claimed);

        // the day records list it as a claim, apart from the loads
        s.state.clock().advance(2 * 86_400);
        let acc_date = first["acc_date"].as_str().unwrap();
        let claims = day_records(&s, acc_date, "claim").await;
        assert_eq!(
            (claims["count"].as_u64(), claims["sum_fen"].as_i64()),
            (Some(1), Some(claimed))
        );
        assert_eq!(claims["page"]["items"][0]["out_trade_no"], "KL0001");
        assert_eq!(claims["page"]["items"][0]["type"], "CLAIM");
        let loads = day_records(&s, acc_date, "load").await;
        assert_eq!(loads["count"], 3);
    }

    #[actix_web::test]
    async fn a_claim_on_a_card_that_is_not_normal_is_refused_and_moves_nothing() {
        let s = sim().await;
        // 20003 (王五) is reported lost, 20004 frozen
        for account in ["20003", "20004"] {
            let money = |b: serde_json::Value| (b["balance_fen"].clone(), b["pending_fen"].clone());
            let before = balance(&s, account).await;
            let claim = json!({"account": account, "out_trade_no": format!("KL{account}")});
            assert_eq!(write_code(&s, paths::CARD_LOAD_CLAIM, claim).await.0, 2202);
            let after = balance(&s, account).await;
            assert_eq!(money(after), money(before), "{account}");
        }
        let nobody = json!({"account": "99", "out_trade_no": "KL99"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CLAIM, nobody).await.0, 2001);
    }
}
