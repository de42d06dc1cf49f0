//! 校园卡充值 over the real callback: 「充值 50」 → the amount and the bank card → 「确认」 → one
//! order → bank debit → 圈存 → the user told by a pushed message. Money is read from the bank
//! and card simulators' inspection endpoints before and after.

use onecard::settings::Settings;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::money_helpers::*;

const ZHANG_SAN: &str = "2024000001";
/// 陈晓雨: 30 元 in the bank (docs/upstream-api.md demo people), so 50 元 is refused.
const CHEN_XIAOYU: &str = "2025000005";
/// 王五: the card is reported lost.
const WANG_WU: &str = "2024000003";

/// [`fast_orders`], and two failed sends per step before giving up. 过渡余额 is claimed by
/// tapping the card (`at_tap`), as at a school with a chip-wallet card system; claim.rs has
/// the online claims.
fn money_app() -> TestApp {
    spawn_app_with_settings(|s| {
        fast_orders(s);
        s.orders.topup.claim = onecard::settings::ClaimMode::AtTap;
        s.orders.topup.credit_attempts = 2;
        s.orders.topup.reverse_attempts = 2;
    })
}

/// [`money_app`], a user (`tag`) bound to `sno`, and what `sno` holds before any money moves.
async fn money_app_for(tag: &str, sno: &str) -> (TestApp, String, Holdings) {
    let app = money_app();
    let (user, before) = bound_holder(&app, tag, sno).await;
    (app, user, before)
}

/// [`fast_orders`], and at most 100 元 of top-ups a day.
fn at_most_100_a_day(s: &mut Settings) {
    fast_orders(s);
    s.orders.topup.per_day_max_yuan = 100;
}

/// [`fast_orders`], and a debit given up after three unanswered tries.
fn three_debit_tries(s: &mut Settings) {
    fast_orders(s);
    s.orders.topup.debit_attempts = 3;
}

/// The confirmation prompt for `amount` yuan as the user must see it.
async fn expected_prompt(app: &TestApp, sno: &str, amount: &str) -> String {
    let bank = app.bank_account(sno).await.expect("a bound bank card");
    let masked = bank["card_masked"].as_str().unwrap();
    format!(
        "请确认充值：\n金额：{amount} 元\n从：{}（尾号 {}）\n到：校园卡 {}\n回复「确认」充值，回复「取消」放弃。",
        bank["bank_name"].as_str().unwrap(),
        &masked[masked.len() - 4..],
        app.masked_card(sno).await,
    )
}

fn accepted(id: &str, amount: &str) -> String {
    format!("已提交充值订单 {id}（{amount} 元），正在从银行卡扣款并圈存到校园卡，完成后会通知您。")
}

/// 「充值 50」, answered with the confirmation prompt.
async fn ask_for_50(app: &TestApp, user: &str, sno: &str) {
    let prompt = app.say(user, "充值 50").await;
    assert_eq!(prompt, expected_prompt(app, sno, "50.00").await);
}

/// Ask for 50 元 and confirm: the order id.
async fn confirmed_top_up(app: &TestApp, user: &str, sno: &str) -> String {
    ask_for_50(app, user, sno).await;
    let (reply, id) = app.confirm_order(user).await;
    assert_eq!(reply, accepted(&id, "50.00"));
    id
}

/// What `before` becomes once `fen` left the bank and waits on the card as 过渡余额.
fn after_top_up(before: Holdings, fen: i64) -> Holdings {
    Holdings {
        pending_fen: before.pending_fen + fen,
        bank_fen: before.bank_fen.map(|b| b - fen),
        ..before
    }
}

/// [`confirmed_top_up`], then the order's end: the order id and the push that tells it.
async fn top_up_to_the_end(app: &TestApp, user: &str, sno: &str) -> (String, String) {
    let id = confirmed_top_up(app, user, sno).await;
    let [told] = <[String; 1]>::try_from(app.pushes(user, 1).await).unwrap();
    (id, told)
}

/// The push for a 50 元 top-up that reached the card of a person who held `before`.
fn topped_up(id: &str, before: Holdings) -> String {
    format!(
        "充值成功：50.00 元已圈存到您的校园卡（订单号 {id}）。\n当前余额 {} 元，另有过渡余额 {} 元待领取：在食堂任意 POS 机或自助圈存机刷卡即可领款。",
        yuan(before.card_fen),
        yuan(before.pending_fen + 5_000)
    )
}

/// 张三, who held `before`, is told his order `id` of 50 元 went through, and the bank was
/// debited once.
async fn assert_topped_up_once(app: &TestApp, user: &str, id: &str, before: Holdings) {
    assert_eq!(app.pushes(user, 1).await, [topped_up(id, before)]);
    assert_eq!(
        app.holdings(ZHANG_SAN).await,
        after_top_up(before, 5_000),
        "debited once"
    );
}

/// Every 圈存 the card system is asked for fails.
async fn fail_every_load(app: &TestApp) {
    app.set_faults(
        "card",
        json!({"error_rate": 1.0, "ops": ["card/load/create"]}),
    )
    .await;
}

#[tokio::test]
async fn topping_up_50_moves_50_yuan_from_bank_to_card_and_tells_the_new_balance() {
    let (app, user, before) = money_app_for("topup", ZHANG_SAN).await;

    let (id, told) = top_up_to_the_end(&app, &user, ZHANG_SAN).await;
    assert_eq!(told, topped_up(&id, before));
    assert_eq!(app.holdings(ZHANG_SAN).await, after_top_up(before, 5_000));
    // 「领取」 says what waits and where to claim it
    assert_eq!(
        app.say(&user, "领取").await,
        format!(
            "您的校园卡（{}）有过渡余额 {} 元待领取（可用余额 {} 元）。在食堂任意 POS 机刷卡消费或在自助圈存机上选择「领款」，即可领到卡上。",
            app.masked_card(ZHANG_SAN).await,
            yuan(before.pending_fen + 5_000),
            yuan(before.card_fen)
        )
    );
}

#[tokio::test]
async fn topping_up_without_an_amount_asks_for_one_and_cancel_moves_nothing() {
    let (app, user, before) = money_app_for("ask", ZHANG_SAN).await;
    assert_eq!(
        app.say(&user, "充值").await,
        "请回复要充值的金额（元），例如「50」。回复「取消」可退出。"
    );
    assert_eq!(
        app.say(&user, "五十").await,
        "没看懂金额，请回复整数金额（元），例如「50」。回复「取消」可退出。"
    );
    assert_eq!(
        app.say(&user, "20").await,
        expected_prompt(&app, ZHANG_SAN, "20.00").await
    );
    assert_eq!(app.say(&user, "取消").await, "已取消当前操作。");
    assert_eq!(app.holdings(ZHANG_SAN).await, before);
}

#[tokio::test]
async fn a_double_confirm_and_a_retried_delivery_make_one_order_and_one_debit() {
    let (app, user, before) = money_app_for("twice", ZHANG_SAN).await;
    ask_for_50(&app, &user, ZHANG_SAN).await;
    // the bank is down, so the order is still being debited when the user asks again
    app.set_faults("bank", json!({"down": true, "ops": ["bank/debit"]}))
        .await;
    // WeChat delivers the same 「确认」 three times (its retries), then the user types it again
    let confirm = app.wx.text_message(&user, "确认");
    let first = text_of(&app.wx.send(&confirm).await.unwrap());
    let id = order_id_in(&first);
    assert_eq!(first, accepted(&id, "50.00"));
    for _ in 0..2 {
        assert_eq!(text_of(&app.wx.deliver(&confirm).await.unwrap()), first);
    }
    assert_eq!(
        app.say(&user, "确认").await,
        format!("这笔充值已经提交过了（订单号 {id}，50.00 元），不会重复扣款。完成后会通知您。")
    );
    app.set_faults("bank", json!({})).await;
    assert_topped_up_once(&app, &user, &id, before).await;
    assert_eq!(app.pushed(&user).await.len(), 1, "one notice");
}

#[tokio::test]
async fn a_bank_answer_lost_after_the_debit_is_queried_and_the_bank_debits_once() {
    let (app, user, before) = money_app_for("lost", ZHANG_SAN).await;
    ask_for_50(&app, &user, ZHANG_SAN).await;
    // every bank answer is lost after the bank did the work
    app.set_faults("bank", json!({"lost_response_rate": 1.0}))
        .await;
    let (_, id) = app.confirm_order(&user).await;
    app.wait_for_bank(ZHANG_SAN, before.bank_fen.unwrap() - 5_000)
        .await;
    app.set_faults("bank", json!({})).await;
    assert_topped_up_once(&app, &user, &id, before).await;
}

#[tokio::test]
async fn a_bank_refusal_fails_the_order_and_says_why() {
    let (app, user, before) = money_app_for("poor", CHEN_XIAOYU).await;
    assert!(
        before.bank_fen.unwrap() < 5_000,
        "the demo person has less than 50 元"
    );
    let (id, told) = top_up_to_the_end(&app, &user, CHEN_XIAOYU).await;
    assert_eq!(
        told,
        format!("充值未成功：银行卡余额不足，银行没有扣款（订单号 {id}，50.00 元）。")
    );
    assert_eq!(app.holdings(CHEN_XIAOYU).await, before);
}

#[tokio::test]
async fn a_load_that_keeps_failing_is_reversed_and_the_money_returns_to_the_bank() {
    let (app, user, before) = money_app_for("reverse", ZHANG_SAN).await;
    fail_every_load(&app).await;
    let (id, told) = top_up_to_the_end(&app, &user, ZHANG_SAN).await;
    assert_eq!(
        told,
        format!(
            "充值未成功：银行已扣款，但校园卡圈存没有完成，50.00 元已退回您的银行卡（冲正，订单号 {id}）。到账时间以银行为准。"
        )
    );
    assert_eq!(app.holdings(ZHANG_SAN).await, before);
}

#[tokio::test]
async fn a_reversal_that_keeps_failing_leaves_the_order_to_a_person_and_says_so() {
    let (app, user, before) = money_app_for("manual", ZHANG_SAN).await;
    fail_every_load(&app).await;
    app.set_faults("bank", json!({"error_rate": 1.0, "ops": ["bank/reverse"]}))
        .await;
    let (id, told) = top_up_to_the_end(&app, &user, ZHANG_SAN).await;
    assert_eq!(
        told,
        format!(
            "充值遇到问题：银行已扣款 50.00 元，但圈存和自动退款都没有完成（订单号 {id}）。工作人员会在 1 个工作日内人工处理，款项不会丢失。如有疑问请联系一卡通服务中心并提供订单号。"
        )
    );
    // the debit stands and the card got nothing: exactly what the operator must put right
    assert_eq!(
        app.holdings(ZHANG_SAN).await,
        Holdings {
            bank_fen: before.bank_fen.map(|b| b - 5_000),
            ..before
        }
    );
}

#[tokio::test]
async fn a_lost_card_is_refused_before_any_debit() {
    let (app, user, before) = money_app_for("lostcard", WANG_WU).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        format!(
            "您的校园卡（{}）已挂失，暂时不能充值。找回卡片并解挂后即可充值；补办新卡请到一卡通服务中心。本次没有扣款。",
            app.masked_card(WANG_WU).await
        )
    );
    assert_eq!(app.holdings(WANG_WU).await, before);
}

#[tokio::test]
async fn amounts_and_limits_are_refused_before_any_debit() {
    let app = spawn_app_with_settings(at_most_100_a_day);
    let (user, before) = bound_holder(&app, "limits", ZHANG_SAN).await;
    assert_eq!(
        app.say(&user, "充值 50.5").await,
        "圈存金额必须是整数元，请重新输入，例如「50」。回复「取消」可退出。"
    );
    assert_eq!(
        app.say(&user, "600").await,
        "单笔充值不能超过 500 元，请重新输入金额。回复「取消」可退出。"
    );
    assert_eq!(app.say(&user, "取消").await, "已取消当前操作。");
    // 50 + 50 today, then nothing more
    for _ in 0..2 {
        confirmed_top_up(&app, &user, ZHANG_SAN).await;
    }
    assert_eq!(
        app.say(&user, "充值 1").await,
        "每天最多充值 100 元，今天还可以充值 0.00 元。本次没有扣款。"
    );
    app.pushes(&user, 2).await;
    assert_eq!(app.holdings(ZHANG_SAN).await, after_top_up(before, 10_000));
}

/// Stop the simulators' clock and move it forward to `hh:mm` campus time: the platform judges
/// the 圈存 window by the simulated campus's business time in the demo.
async fn campus_time_is(app: &TestApp, hh: i64, mm: i64) {
    app.sim_act("/sim/clock/freeze", json!({})).await;
    let now: Value = app.get("/sim/clock").await.json().await.unwrap();
    let since_midnight = onecard::sim::campus::local_secs(now["now"].as_i64().unwrap());
    let secs = (hh * 3600 + mm * 60 - since_midnight).rem_euclid(86_400);
    app.advance_sim_clock(secs.unsigned_abs()).await;
}

#[tokio::test]
async fn a_closed_service_window_is_refused_before_any_debit() {
    let app = spawn_app_with_settings(|s| {
        let text = "[orders.topup]\nservice_hours = { from = \"07:30\", to = \"20:00\" }";
        let parsed: onecard::settings::Settings = toml::from_str(text).unwrap();
        s.orders.topup.service_hours = parsed.orders.topup.service_hours;
    });
    let (user, before) = bound_holder(&app, "closed", ZHANG_SAN).await;
    // The test once read the wall clock to place the window and the platform read it again to
    // judge it; now both go by the one clock the test sets.
    campus_time_is(&app, 6, 0).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        "现在不在圈存服务时间（每天 07:30–20:00），请在服务时间内再充值。本次没有扣款。"
    );
    assert_eq!(app.holdings(ZHANG_SAN).await, before);
    // the same user once the window has opened
    campus_time_is(&app, 10, 0).await;
    ask_for_50(&app, &user, ZHANG_SAN).await;
}

#[tokio::test]
async fn a_card_without_a_bound_bank_card_is_refused_before_any_debit() {
    let app = money_app();
    // someone with a phone on file, a normal card and no bank card bound for 银校转账
    let accounts = app.sim_accounts(300).await;
    let mut unbound = None;
    for a in &accounts {
        let sno = a["id"].as_str().unwrap();
        if can_bind(a) && app.bank_account(sno).await.is_none() {
            unbound = Some(sno.to_owned());
            break;
        }
    }
    let sno = unbound.expect("a person without a bank card among the first 300");
    let user = bound_user(&app, "nobank", &sno).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        "您的校园卡还没有绑定银行卡，暂时不能在微信中充值。请携带校园卡和银行卡到一卡通服务中心或自助圈存机办理绑定。"
    );
}

#[actix_web::test]
async fn a_debit_the_bank_never_confirms_is_reversed_and_its_late_original_refused() {
    let app = spawn_app_with_settings(three_debit_tries);
    let (user, before) = bound_holder(&app, "unresolved", ZHANG_SAN).await;
    // neither the debit nor any query of it gets an answer: the bank never says what it did
    app.set_faults(
        "bank",
        json!({"error_rate": 1.0, "ops": ["bank/debit", "bank/query"]}),
    )
    .await;
    let (id, told) = top_up_to_the_end(&app, &user, ZHANG_SAN).await;
    assert_eq!(
        told,
        format!(
            "充值未成功：银行一直没有确认这笔扣款，已向银行撤销（冲正，订单号 {id}）。如果您的银行卡已被扣款，50.00 元会退回，到账时间以银行为准。"
        )
    );
    app.set_faults("bank", json!({})).await;
    // the original debit, delayed on the way, reaches the bank after its reversal: refused
    let bank = onecard::adapters::bank::actor::start(&onecard::adapters::UpstreamConfig::new(
        format!("{}/sim/bank", app.base),
        "onecard-demo",
        "demo-secret-change-me",
    ))
    .unwrap();
    let late = onecard::wire::BankDebit {
        sno: ZHANG_SAN.to_owned(),
        amount_fen: onecard::domain::Fen(5_000),
        out_trade_no: format!("{id}D"),
        purpose: "campus_card_load".to_owned(),
    };
    match bank.debit(&late).await {
        Err(onecard::adapters::AdapterError::Rejected { code, .. }) => assert_eq!(code, 5202),
        other => panic!("the late original went through: {other:?}"),
    }
    assert_eq!(app.holdings(ZHANG_SAN).await, before, "nothing moved");
}
