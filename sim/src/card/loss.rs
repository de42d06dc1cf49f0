//! 挂失 / 解挂 and lost-and-found (失卡招领).

use serde_json::Value;

use super::LOSS_EFFECTIVE_AFTER_SECS;
use super::accounts::check_password;
use super::state::{live_mut, not_found, record_trade, sim};
use crate::campus::campus_time;
use crate::upstream::{Ctx, OpResult, parse, to_value};
use crate::{SimState, lock};
use onecard_wire::{
    AccountRef, CancelLoss, CardStatus, ErrorCode, FoundCard, FoundStatus, LossResult, ReportLoss,
    TradeKind, TxType,
};

pub(super) fn report_loss(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: ReportLoss = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if live.closed {
        return Err(ErrorCode::CardClosed.into());
    }
    if live.lost {
        return Err(ErrorCode::AlreadyLost.into());
    }
    live.lost = true;
    live.lost_at = Some(ctx.now);
    live.loss_effective_at = Some(ctx.now + LOSS_EFFECTIVE_AFTER_SECS);
    live.loss_channel = Some(q.channel);
    live.found = None;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::ReportLoss,
        &q.account,
        0,
        TxType::Other,
        'L',
    );
    to_value(&LossResult {
        trade_no: trade.trade_no,
        status: CardStatus::Lost,
        effective_at: campus_time(ctx.now + LOSS_EFFECTIVE_AFTER_SECS),
    })
}

pub(super) fn cancel_loss(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: CancelLoss = parse(body)?;
    let (campus, card) = sim(state);
    if !card.cfg.cancel_loss_online {
        return Err(ErrorCode::NotAllowedOnline.into());
    }
    let (p, _) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if live.closed {
        return Err(ErrorCode::CardClosed.into());
    }
    if !live.lost {
        return Err(ErrorCode::NotLost.into());
    }
    if !check_password(&card.cfg, ctx, p, &q.account, live, &q.password_digest)? {
        return Err(ErrorCode::PasswordWrong.into());
    }
    live.lost = false;
    live.lost_at = None;
    live.loss_effective_at = None;
    live.loss_channel = None;
    if let Some(f) = live.found.as_mut() {
        f.2 = true;
    }
    let status = live.status();
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::CancelLoss,
        &q.account,
        0,
        TxType::Other,
        'U',
    );
    to_value(&LossResult {
        trade_no: trade.trade_no,
        status,
        effective_at: campus_time(ctx.now + LOSS_EFFECTIVE_AFTER_SECS),
    })
}

pub(super) fn found_get(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountRef = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let answer = match &live.found {
        Some((place, at, collected)) => FoundCard {
            found: true,
            place: Some(place.clone()),
            found_at: Some(campus_time(*at)),
            pickup_hours: Some("周一至周五 08:00-17:00".to_owned()),
            status: Some(if *collected {
                FoundStatus::Collected
            } else {
                FoundStatus::Waiting
            }),
        },
        None => FoundCard {
            found: false,
            place: None,
            found_at: None,
            pickup_hours: None,
            status: None,
        },
    };
    to_value(&answer)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use onecard_wire::paths;

    use super::super::test_support::{digest, read, sim, write_code};

    #[actix_web::test]
    async fn report_loss_then_cancel_with_password_and_lost_and_found() {
        let s = sim().await;
        let (code, r) = write_code(
            &s,
            paths::CARD_REPORT_LOSS,
            json!({"account": "20001", "out_trade_no": "RL1", "channel": "wechat"}),
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(r["status"], "lost");
        let info = read(&s, paths::CARD_INFO_GET, json!({"account": "20001"})).await;
        assert_eq!(
            (info["status"].as_str(), info["loss_channel"].as_str()),
            (Some("lost"), Some("wechat"))
        );
        assert_eq!(info["loss_effective_at"], r["effective_at"]);
        assert_eq!(
            write_code(
                &s,
                paths::CARD_REPORT_LOSS,
                json!({"account": "20001", "out_trade_no": "RL2", "channel": "wechat"})
            )
            .await
            .0,
            2103
        );
        let (_, v) = s.get("/sim/card/accounts/2024000001").await;
        assert_eq!(v["status"], "lost");
        let cancel = |key: &str, pw: &str| json!({"account": "20001", "out_trade_no": key, "password_digest": digest(&s, "20001", pw)});
        assert_eq!(
            write_code(&s, paths::CARD_CANCEL_LOSS, cancel("CL1", "999999"))
                .await
                .0,
            2106
        );
        let (code, c) = write_code(&s, paths::CARD_CANCEL_LOSS, cancel("CL2", "123456")).await;
        assert_eq!((code, c["status"].as_str()), (0, Some("normal")));
        assert_eq!(
            write_code(&s, paths::CARD_CANCEL_LOSS, cancel("CL3", "123456"))
                .await
                .0,
            2104
        );
        assert_eq!(
            write_code(
                &s,
                paths::CARD_REPORT_LOSS,
                json!({"account": "20009", "out_trade_no": "RL3", "channel": "wechat"})
            )
            .await
            .0,
            2105
        );

        let found = read(&s, paths::CARD_FOUND_GET, json!({"account": "20003"})).await;
        assert_eq!(found["found"], true);
        assert_eq!(found["status"], "waiting");
        assert!(
            found["place"].as_str().unwrap().contains("服务台")
                || found["place"].as_str().unwrap().contains("室")
                || found["place"].as_str().unwrap().contains("中心")
        );
        let none = read(&s, paths::CARD_FOUND_GET, json!({"account": "20001"})).await;
        assert_eq!(
            none,
            json!({"found": false, "place": null, "found_at": null, "pickup_hours": null, "status": null})
        );
        s.post(
            "/sim/card/accounts/2024000001/found",
            json!({"place": "图书馆总服务台"}),
        )
        .await;
        assert_eq!(
            read(&s, paths::CARD_FOUND_GET, json!({"account": "20001"})).await["place"],
            "图书馆总服务台"
        );
    }
}
