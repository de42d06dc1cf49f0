//! Who holds which card and what it holds: account lookup, balance, card info, the password
//! check, and the inspection list of accounts.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::CardSimConfig;
use super::state::{AccountView, Live, live_mut, not_found, sim};
use crate::campus::{CardSeed, Person, campus_time, local_date};
use crate::upstream::{Ctx, OpError, OpResult, parse, to_value};
use crate::{SimState, lock};
use onecard_wire::domain::Fen;
use onecard_wire::{
    self as wire, AccountList, AccountQuery, AccountRef, Balance, CardFlags, CardInfo, ErrorCode,
    IdType, PasswordVerify, PasswordVerifyResult,
};

pub(super) fn wire_account(
    p: &Person,
    ci: usize,
    live: &Live,
    today: NaiveDate,
) -> Option<wire::Account> {
    let c = p.cards.get(ci)?;
    let (cust_type, cust_type_name) = p.kind.cust_type();
    Some(wire::Account {
        account: c.account.clone(),
        sno: p.sno.clone(),
        name: p.name.clone(),
        cust_type: cust_type.to_owned(),
        cust_type_name: cust_type_name.to_owned(),
        card_type: c.card_type.to_owned(),
        card_type_name: c.card_type_name.to_owned(),
        status: live.status(),
        flags: flags(live, c, today),
        dept: p.dept.clone(),
        expire_date: c.expire_date,
        phone_masked: p.phone.as_deref().map(crate::campus::mask_phone),
        card_no: c.card_no.clone(),
        card_no_display: c.card_no_display.clone(),
    })
}

pub(super) fn flags(live: &Live, c: &CardSeed, today: NaiveDate) -> CardFlags {
    CardFlags {
        lost: live.lost,
        frozen: live.frozen || live.password_locked,
        expired: c.expire_date < today,
        dormant: false,
    }
}

pub(super) fn account_get(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountQuery = parse(body)?;
    let (campus, card) = sim(state);
    let found: Vec<(&Person, usize)> = match q.id_type {
        IdType::Sno => campus
            .person_by_sno(&q.id)
            .map(|p| (0..p.cards.len()).map(|ci| (p, ci)).collect())
            .unwrap_or_default(),
        IdType::CardNo => campus.by_card_no(&q.id).into_iter().collect(),
        IdType::Account => campus.by_account(&q.id).into_iter().collect(),
    };
    if found.is_empty() {
        return Err(not_found());
    }
    let today = local_date(ctx.now);
    let mut st = lock(&card.st);
    let mut accounts = Vec::new();
    for (p, ci) in found {
        let Some(c) = p.cards.get(ci) else { continue };
        let Some(live) = live_mut(&mut st, campus, &c.account) else {
            continue;
        };
        accounts.extend(wire_account(p, ci, live, today));
    }
    to_value(&AccountList { accounts })
}

pub(super) fn balance_get(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountRef = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let cfg = &card.cfg;
    to_value(&Balance {
        account: q.account,
        balance_fen: Fen(live.balance),
        pending_fen: Fen(live.pending),
        subsidy_pending_fen: Fen(live.subsidy_pending),
        day_spent_fen: Fen(live.spent_on(local_date(ctx.now))),
        single_limit_fen: Fen(cfg.single_limit_fen),
        day_limit_fen: Fen(cfg.day_limit_fen),
        nopwd_limit_fen: Fen(cfg.nopwd_limit_fen),
        wallet_cap_fen: Fen(cfg.wallet_cap_fen),
        as_of: campus_time(ctx.now),
    })
}

pub(super) fn info_get(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountRef = parse(body)?;
    let (campus, card) = sim(state);
    let (p, ci) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let c = p.cards.get(ci).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    to_value(&CardInfo {
        account: q.account.clone(),
        card_no: c.card_no.clone(),
        card_no_display: c.card_no_display.clone(),
        card_type: c.card_type.to_owned(),
        card_type_name: c.card_type_name.to_owned(),
        status: live.status(),
        flags: flags(live, c, local_date(ctx.now)),
        issue_date: c.issue_date,
        expire_date: c.expire_date,
        lost_at: live.lost.then(|| live.lost_at.map(campus_time)).flatten(),
        loss_effective_at: live
            .lost
            .then(|| live.loss_effective_at.map(campus_time))
            .flatten(),
        loss_channel: if live.lost { live.loss_channel } else { None },
    })
}

/// Check a password digest, counting failures. `Ok(true)` = right, `Ok(false)` = wrong (attempt
/// counted), `Err(2107)` = locked, `Err(1007)` = not a digest at all (no attempt used: a
/// client bug must not lock a student's card).
pub(super) fn check_password(
    cfg: &CardSimConfig,
    ctx: &Ctx,
    p: &Person,
    account: &str,
    live: &mut Live,
    digest: &str,
) -> Result<bool, OpError> {
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpError::msg(
            ErrorCode::BadRequest,
            "password_digest 须为 64 位十六进制",
        ));
    }
    if live.password_locked {
        return Err(ErrorCode::PasswordLocked.into());
    }
    let expected = wire::password_digest(&ctx.creds, account, &p.password);
    let ok = bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        digest.to_ascii_lowercase().as_bytes(),
    ));
    if ok {
        live.wrong_passwords = 0;
    } else {
        live.wrong_passwords += 1;
        if live.wrong_passwords >= cfg.password_attempts {
            live.password_locked = true;
            return Err(ErrorCode::PasswordLocked.into());
        }
    }
    Ok(ok)
}

pub(super) fn password_verify(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: PasswordVerify = parse(body)?;
    let (campus, card) = sim(state);
    let (p, _) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let ok = check_password(&card.cfg, ctx, p, &q.account, live, &q.password_digest)?;
    to_value(&PasswordVerifyResult {
        ok,
        attempts_left: card
            .cfg
            .password_attempts
            .saturating_sub(live.wrong_passwords),
    })
}

/// `json!` view for `GET /sim/card/accounts?limit=N`.
pub fn list_accounts(state: &SimState, limit: usize) -> Value {
    let campus = state.campus();
    let views: Vec<AccountView> = campus
        .people()
        .iter()
        .take(limit)
        .filter_map(|p| state.card().view(campus, &p.sno))
        .collect();
    json!(views)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use onecard_wire::paths;

    use super::super::test_support::{CARD, balance, digest, read, sim};

    #[actix_web::test]
    async fn account_lookup_by_sno_card_no_and_account() {
        let s = sim().await;
        let d = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "sno", "id": "2024000001"}),
        )
        .await;
        let acc = &d["accounts"][0];
        assert_eq!(d["accounts"].as_array().unwrap().len(), 1);
        assert_eq!(acc["account"], "20001");
        assert_eq!(acc["name"], "张三");
        assert_eq!(acc["status"], "normal");
        assert_eq!(acc["phone_masked"], "138****0001");
        assert_eq!(acc["cust_type_name"], "本科");
        assert_eq!(
            acc["flags"],
            json!({"lost": false, "frozen": false, "expired": false, "dormant": false})
        );
        let card_no = acc["card_no"].as_str().unwrap().to_owned();
        let by_card = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "card_no", "id": card_no}),
        )
        .await;
        assert_eq!(by_card["accounts"][0]["sno"], "2024000001");
        let multi = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "sno", "id": "2024000006"}),
        )
        .await;
        assert_eq!(multi["accounts"].as_array().unwrap().len(), 2);
        assert_eq!(multi["accounts"][1]["card_type_name"], "过渡临时卡");
        let lost = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "account", "id": "20003"}),
        )
        .await;
        assert_eq!(lost["accounts"][0]["status"], "lost");
        let none = s
            .call(
                CARD,
                paths::CARD_ACCOUNT_GET,
                json!({"id_type": "sno", "id": "1999999999"}),
            )
            .await;
        assert_eq!((none.status, none.code()), (200, 2001));
        assert_eq!(none.body["message"], "账户信息不存在");
        // No full phone number leaves the signed API.
        assert!(!none.body.to_string().contains("13800000001"));
        assert!(!serde_json::to_string(&d).unwrap().contains("13800000001"));
    }

    #[actix_web::test]
    async fn balance_shows_pending_and_limits() {
        let s = sim().await;
        let b = balance(&s, "20002").await;
        assert_eq!(b["balance_fen"], 1280);
        assert_eq!(b["pending_fen"], 10000);
        assert_eq!(b["wallet_cap_fen"], 100000);
        assert_eq!(b["nopwd_limit_fen"], 2000);
        assert!(b["as_of"].as_str().unwrap().ends_with("+08:00"));
        let (_, v) = s.get("/sim/card/accounts/2024000002").await;
        assert_eq!(
            (v["balance_fen"].as_i64(), v["pending_fen"].as_i64()),
            (Some(1280), Some(10000))
        );
        let (_, claimed) = s
            .post("/sim/card/accounts/2024000002/claim", json!({}))
            .await;
        assert_eq!(claimed["claimed_fen"], 10000);
        let b = balance(&s, "20002").await;
        assert_eq!(
            (b["balance_fen"].as_i64(), b["pending_fen"].as_i64()),
            (Some(11280), Some(0))
        );
    }

    #[actix_web::test]
    async fn password_locks_after_five_wrong_attempts() {
        let s = sim().await;
        let verify =
            |pw: &str| json!({"account": "20001", "password_digest": digest(&s, "20001", pw)});
        assert_eq!(
            read(&s, paths::CARD_PASSWORD_VERIFY, verify("123456")).await,
            json!({"ok": true, "attempts_left": 5})
        );
        for left in (1..5).rev() {
            assert_eq!(
                read(&s, paths::CARD_PASSWORD_VERIFY, verify("111111")).await,
                json!({"ok": false, "attempts_left": left})
            );
        }
        assert_eq!(
            s.call(CARD, paths::CARD_PASSWORD_VERIFY, verify("111111"))
                .await
                .code(),
            2107
        );
        assert_eq!(
            s.call(CARD, paths::CARD_PASSWORD_VERIFY, verify("123456"))
                .await
                .code(),
            2107
        );
        // A locked card shows `frozen` (§5's precedence), until the card office resets it.
        let info = read(&s, paths::CARD_INFO_GET, json!({"account": "20001"})).await;
        assert_eq!(
            (&info["status"], &info["flags"]["frozen"]),
            (&json!("frozen"), &json!(true))
        );
        let (status, _) = s
            .post(
                "/sim/card/accounts/2024000001/reset_password_lock",
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let info = read(&s, paths::CARD_INFO_GET, json!({"account": "20001"})).await;
        assert_eq!(
            (&info["status"], &info["flags"]["frozen"]),
            (&json!("normal"), &json!(false))
        );
        assert_eq!(
            read(&s, paths::CARD_PASSWORD_VERIFY, verify("123456")).await,
            json!({"ok": true, "attempts_left": 5})
        );
    }

    /// A client sending a digest in the wrong form (base64, the plain password) used up the
    /// student's attempts: a malformed digest is a bad request and costs nothing.
    #[actix_web::test]
    async fn a_malformed_password_digest_is_a_bad_request_not_a_used_attempt() {
        let s = sim().await;
        for malformed in ["123456", &"g".repeat(64), &"a".repeat(63)] {
            let a = s
                .call(
                    CARD,
                    paths::CARD_PASSWORD_VERIFY,
                    json!({"account": "20001", "password_digest": malformed}),
                )
                .await;
            assert_eq!((a.status, a.code()), (400, 1007), "{malformed}");
        }
        let wrong = json!({"account": "20001", "password_digest": digest(&s, "20001", "000000")});
        assert_eq!(
            read(&s, paths::CARD_PASSWORD_VERIFY, wrong).await,
            json!({"ok": false, "attempts_left": 4})
        );
    }
}
