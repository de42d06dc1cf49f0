//! 过渡余额 over the real callback: a top-up's 圈存 leaves the money pending on the card account;
//! `[orders.topup] claim` decides how it becomes spendable — 「领取」 claims it online
//! (`on_request`), or the order claims it right after the load (`automatic`). Money is read
//! from the bank and card simulators' inspection endpoints before and after.

use serde_json::json;

use onecard::settings::{ClaimMode, Settings};

use crate::helpers::*;
use crate::money_helpers::*;

const ZHANG_SAN: &str = "2024000001";
/// 李四: 100 元 waiting in 过渡余额 from before (docs/upstream-api.md demo people).
const LI_SI: &str = "2024000002";

fn on_request(s: &mut Settings) {
    fast_orders(s);
    s.orders.topup.claim = ClaimMode::OnRequest;
}

fn automatic(s: &mut Settings) {
    fast_orders(s);
    s.orders.topup.claim = ClaimMode::Automatic;
    s.orders.topup.claim_attempts = 2;
}

/// The push of a 50 元 top-up whose money waits as 过渡余额, with the 「领取」 hint.
fn waiting_to_be_claimed(id: &str, card_fen: i64, pending_fen: i64) -> String {
    format!(
        "充值成功：50.00 元已圈存到您的校园卡（订单号 {id}）。\n当前余额 {} 元，另有过渡余额 {} 元待领取：回复「领取」即可领到卡上。",
        yuan(card_fen),
        yuan(pending_fen)
    )
}

/// What 「领取」 answers when it claims all that is pending for someone who holds `loaded`.
async fn claimed_all(app: &TestApp, sno: &str, loaded: Holdings) -> String {
    format!(
        "成功领取 {} 元过渡余额到您的校园卡（{}），当前余额 {} 元，可以直接使用。",
        yuan(loaded.pending_fen),
        app.masked_card(sno).await,
        yuan(loaded.card_fen + loaded.pending_fen)
    )
}

async fn nothing_pending(app: &TestApp, sno: &str, balance_fen: i64) -> String {
    format!(
        "您的校园卡（{}）没有待领取的过渡余额，可用余额 {} 元。",
        app.masked_card(sno).await,
        yuan(balance_fen)
    )
}

#[tokio::test]
async fn claiming_on_request_moves_exactly_what_was_pending_and_a_second_claim_finds_nothing() {
    let app = spawn_app_with_settings(on_request);
    let (user, before) = bound_holder(&app, "claim", ZHANG_SAN).await;

    let (id, told) = app.top_up_50(&user).await;
    assert_eq!(
        told,
        waiting_to_be_claimed(&id, before.card_fen, before.pending_fen + 5_000)
    );
    let loaded = app.holdings(ZHANG_SAN).await;
    assert_eq!(loaded.pending_fen, before.pending_fen + 5_000);

    assert_eq!(
        app.say(&user, "领取").await,
        claimed_all(&app, ZHANG_SAN, loaded).await
    );
    let after = app.holdings(ZHANG_SAN).await;
    assert_eq!(
        after,
        Holdings {
            card_fen: loaded.card_fen + loaded.pending_fen,
            pending_fen: 0,
            bank_fen: before.bank_fen.map(|b| b - 5_000),
        }
    );

    assert_eq!(
        app.say(&user, "领取").await,
        nothing_pending(&app, ZHANG_SAN, after.card_fen).await
    );
    assert_eq!(app.holdings(ZHANG_SAN).await, after, "nothing moved twice");
}

#[tokio::test]
async fn an_automatic_claim_after_a_top_up_leaves_nothing_pending_and_tells_the_spendable_balance()
{
    let app = spawn_app_with_settings(automatic);
    let (user, before) = bound_holder(&app, "auto", ZHANG_SAN).await;

    let (id, told) = app.top_up_50(&user).await;
    // everything that was pending is claimed with the new load
    let spendable = before.card_fen + before.pending_fen + 5_000;
    assert_eq!(
        told,
        format!(
            "充值成功：50.00 元已充入您的校园卡，可以直接使用（订单号 {id}）。\n当前余额 {} 元。",
            yuan(spendable)
        )
    );
    assert_eq!(
        app.holdings(ZHANG_SAN).await,
        Holdings {
            card_fen: spendable,
            pending_fen: 0,
            bank_fen: before.bank_fen.map(|b| b - 5_000),
        }
    );
    assert_eq!(
        app.say(&user, "领取").await,
        nothing_pending(&app, ZHANG_SAN, spendable).await
    );
}

#[tokio::test]
async fn a_claim_that_fails_after_the_load_leaves_the_top_up_succeeded_and_the_money_pending() {
    let app = spawn_app_with_settings(automatic);
    let (user, before) = bound_holder(&app, "claimfail", ZHANG_SAN).await;
    app.set_faults(
        "card",
        json!({"error_rate": 1.0, "ops": ["card/load/claim"]}),
    )
    .await;

    let (id, told) = app.top_up_50(&user).await;
    // the top-up is not failed or reversed: the money is on the card account, waiting
    assert_eq!(
        told,
        waiting_to_be_claimed(&id, before.card_fen, before.pending_fen + 5_000)
    );
    let loaded = Holdings {
        pending_fen: before.pending_fen + 5_000,
        bank_fen: before.bank_fen.map(|b| b - 5_000),
        ..before
    };
    assert_eq!(app.holdings(ZHANG_SAN).await, loaded);

    // once the card system claims again, 「领取」 moves it
    app.set_faults("card", json!({})).await;
    assert_eq!(
        app.say(&user, "领取").await,
        claimed_all(&app, ZHANG_SAN, loaded).await
    );
}

#[tokio::test]
async fn a_lost_card_cannot_claim_and_its_pending_money_stays_on_the_account() {
    let app = spawn_app_with_settings(on_request);
    let user = bound_user(&app, "lostclaim", LI_SI).await;
    app.say(&user, "挂失").await;
    app.say(&user, "确认").await;
    assert_eq!(app.sim_account(LI_SI).await["status"], "lost");
    let before = app.holdings(LI_SI).await;
    assert!(
        before.pending_fen > 0,
        "李四 has 过渡余额 waiting: {before:?}"
    );

    assert_eq!(
        app.say(&user, "领取").await,
        format!(
            "您的校园卡（{}）已挂失，过渡余额 {} 元暂时不能领取，款项仍在您的卡账户中，不会丢失。找回卡片并解挂后再回复「领取」；补办新卡请到一卡通服务中心。",
            app.masked_card(LI_SI).await,
            yuan(before.pending_fen)
        )
    );
    assert_eq!(app.holdings(LI_SI).await, before);
}
