//! 校园卡充值 over the real callback: 「充值 50」 → the amount and the bank card → 「确认」 → one
//! order → bank debit → 圈存 → the user told by a pushed message. Money is read from the bank
//! and card simulators' inspection endpoints before and after.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const ZHANG_SAN: &str = "2024000001";
/// 陈晓雨: 30 元 in the bank (docs/upstream-api.md demo people), so 50 元 is refused.
const CHEN_XIAOYU: &str = "2025000005";
/// 王五: the card is reported lost.
const WANG_WU: &str = "2024000003";

/// The worker retries within milliseconds, two failed sends per step before giving up.
fn money_app() -> TestApp {
    spawn_app_with(TestOptions {
        settings: |s| {
            s.orders.backoff_base_ms = 20;
            s.orders.poll_ms = 20;
            s.orders.topup.credit_attempts = 2;
            s.orders.topup.reverse_attempts = 2;
        },
        ..TestOptions::default()
    })
}

impl TestApp {
    async fn bank_account(&self, sno: &str) -> Value {
        self.get(&format!("/sim/bank/accounts/{sno}"))
            .await
            .json()
            .await
            .unwrap()
    }

    async fn bank_balance(&self, sno: &str) -> i64 {
        self.bank_account(sno).await["balance_fen"]
            .as_i64()
            .unwrap()
    }

    /// (spendable, 过渡余额) on the card.
    async fn card_money(&self, sno: &str) -> (i64, i64) {
        let a = self.sim_account(sno).await;
        (
            a["balance_fen"].as_i64().unwrap(),
            a["pending_fen"].as_i64().unwrap(),
        )
    }

    /// The confirmation prompt for `amount_yuan` as the user must see it.
    async fn expected_prompt(&self, sno: &str, amount: &str) -> String {
        let bank = self.bank_account(sno).await;
        let masked = bank["card_masked"].as_str().unwrap();
        let card_no = self.sim_account(sno).await["card_no_display"]
            .as_str()
            .unwrap()
            .to_owned();
        format!(
            "请确认充值：\n金额：{amount} 元\n从：{}（尾号 {}）\n到：校园卡 ****{}\n回复「确认」充值，回复「取消」放弃。",
            bank["bank_name"].as_str().unwrap(),
            &masked[masked.len() - 4..],
            &card_no[card_no.len() - 4..],
        )
    }

    async fn wait_for_bank(&self, sno: &str, fen: i64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.bank_balance(sno).await != fen {
            assert!(Instant::now() < deadline, "the bank never reached {fen}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The card number as replies show it: `****` and the last four digits.
async fn masked_card(app: &TestApp, sno: &str) -> String {
    let no = app.sim_account(sno).await["card_no_display"]
        .as_str()
        .unwrap()
        .to_owned();
    format!("****{}", &no[no.len() - 4..])
}

fn order_id_in(text: &str) -> String {
    let re = regex::Regex::new(r"O\d{8}[0-9A-Z]{12}").unwrap();
    re.find(text)
        .unwrap_or_else(|| panic!("no order id in {text}"))
        .as_str()
        .to_owned()
}

fn accepted(id: &str, amount: &str) -> String {
    format!("已提交充值订单 {id}（{amount} 元），正在从银行卡扣款并圈存到校园卡，完成后会通知您。")
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Bind, ask for 50 元 and confirm: the order id.
async fn confirmed_top_up(app: &TestApp, user: &str, sno: &str) -> String {
    let prompt = app.say(user, "充值 50").await;
    assert_eq!(prompt, app.expected_prompt(sno, "50.00").await);
    let reply = app.say(user, "确认").await;
    let id = order_id_in(&reply);
    assert_eq!(reply, accepted(&id, "50.00"));
    id
}

#[tokio::test]
async fn topping_up_50_moves_50_yuan_from_bank_to_card_and_tells_the_new_balance() {
    let app = money_app();
    let user = openid("topup");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let (balance, pending) = app.card_money(ZHANG_SAN).await;

    let id = confirmed_top_up(&app, &user, ZHANG_SAN).await;

    let told = app.wait_pushed(&user, 1, Duration::from_secs(30)).await;
    assert_eq!(
        told,
        [format!(
            "充值成功：50.00 元已圈存到您的校园卡（订单号 {id}）。\n当前余额 {} 元，另有过渡余额 {} 元待领取：在食堂任意 POS 机或自助圈存机刷卡即可领款。",
            yuan(balance),
            yuan(pending + 5_000)
        )]
    );
    assert_eq!(app.bank_balance(ZHANG_SAN).await, bank_before - 5_000);
    assert_eq!(app.card_money(ZHANG_SAN).await, (balance, pending + 5_000));
    // 「领取」 says what waits and where to claim it
    assert_eq!(
        app.say(&user, "领取").await,
        format!(
            "您的校园卡（{}）有过渡余额 {} 元待领取（可用余额 {} 元）。在食堂任意 POS 机刷卡消费或在自助圈存机上选择「领款」，即可领到卡上。",
            masked_card(&app, ZHANG_SAN).await,
            yuan(pending + 5_000),
            yuan(balance)
        )
    );
}

#[tokio::test]
async fn topping_up_without_an_amount_asks_for_one_and_cancel_moves_nothing() {
    let app = money_app();
    let user = openid("ask");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
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
        app.expected_prompt(ZHANG_SAN, "20.00").await
    );
    assert_eq!(app.say(&user, "取消").await, "已取消当前操作。");
    assert_eq!(app.bank_balance(ZHANG_SAN).await, bank_before);
}

#[tokio::test]
async fn a_double_confirm_and_a_retried_delivery_make_one_order_and_one_debit() {
    let app = money_app();
    let user = openid("twice");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        app.expected_prompt(ZHANG_SAN, "50.00").await
    );
    // WeChat delivers the same 「确认」 three times (its retries), then the user types it again
    let confirm = app.wx.text_message(&user, "确认");
    let first = text_of(&app.wx.send(&confirm).await.unwrap());
    let id = order_id_in(&first);
    assert_eq!(first, accepted(&id, "50.00"));
    for _ in 0..2 {
        assert_eq!(text_of(&app.wx.deliver(&confirm).await.unwrap()), first);
    }
    let again = app.say(&user, "确认").await;
    let pending =
        format!("这笔充值已经提交过了（订单号 {id}，50.00 元），不会重复扣款。完成后会通知您。");
    let done =
        format!("这笔充值已经提交过了（订单号 {id}，50.00 元），不会重复扣款。结果已通知您。");
    assert!(again == pending || again == done, "{again}");
    let told = app.wait_pushed(&user, 1, Duration::from_secs(30)).await;
    assert!(told[0].starts_with(&format!(
        "充值成功：50.00 元已圈存到您的校园卡（订单号 {id}）"
    )));
    assert_eq!(
        app.bank_balance(ZHANG_SAN).await,
        bank_before - 5_000,
        "debited once"
    );
    assert_eq!(app.pushed(&user).await.len(), 1, "one notice");
}

#[tokio::test]
async fn a_bank_answer_lost_after_the_debit_is_queried_and_the_bank_debits_once() {
    let app = money_app();
    let user = openid("lost");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let (_, pending) = app.card_money(ZHANG_SAN).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        app.expected_prompt(ZHANG_SAN, "50.00").await
    );
    // every bank answer is lost after the bank did the work
    app.set_faults("bank", json!({"lost_response_rate": 1.0}))
        .await;
    let id = order_id_in(&app.say(&user, "确认").await);
    app.wait_for_bank(ZHANG_SAN, bank_before - 5_000).await;
    app.set_faults("bank", json!({})).await;
    let told = app.wait_pushed(&user, 1, Duration::from_secs(30)).await;
    assert!(
        told[0].starts_with(&format!(
            "充值成功：50.00 元已圈存到您的校园卡（订单号 {id}）"
        )),
        "{told:?}"
    );
    assert_eq!(
        app.bank_balance(ZHANG_SAN).await,
        bank_before - 5_000,
        "debited once"
    );
    assert_eq!(app.card_money(ZHANG_SAN).await.1, pending + 5_000);
}

#[tokio::test]
async fn a_bank_refusal_fails_the_order_and_says_why() {
    let app = money_app();
    let user = openid("poor");
    app.bind(&user, CHEN_XIAOYU).await;
    let bank_before = app.bank_balance(CHEN_XIAOYU).await;
    assert!(bank_before < 5_000, "the demo person has less than 50 元");
    let card_before = app.card_money(CHEN_XIAOYU).await;
    let id = confirmed_top_up(&app, &user, CHEN_XIAOYU).await;
    let told = app.wait_pushed(&user, 1, Duration::from_secs(30)).await;
    assert_eq!(
        told,
        [format!(
            "充值未成功：银行卡余额不足，银行没有扣款（订单号 {id}，50.00 元）。"
        )]
    );
    assert_eq!(app.bank_balance(CHEN_XIAOYU).await, bank_before);
    assert_eq!(app.card_money(CHEN_XIAOYU).await, card_before);
}

#[tokio::test]
async fn a_load_that_keeps_failing_is_reversed_and_the_money_returns_to_the_bank() {
    let app = money_app();
    let user = openid("reverse");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let card_before = app.card_money(ZHANG_SAN).await;
    app.set_faults(
        "card",
        json!({"error_rate": 1.0, "ops": ["card/load/create"]}),
    )
    .await;
    let id = confirmed_top_up(&app, &user, ZHANG_SAN).await;
    let told = app.wait_pushed(&user, 1, Duration::from_secs(30)).await;
    assert_eq!(
        told,
        [format!(
            "充值未成功：银行已扣款，但校园卡圈存没有完成，50.00 元已退回您的银行卡（冲正，订单号 {id}）。到账时间以银行为准。"
        )]
    );
    assert_eq!(app.bank_balance(ZHANG_SAN).await, bank_before);
    assert_eq!(app.card_money(ZHANG_SAN).await, card_before);
}

#[tokio::test]
async fn a_reversal_that_keeps_failing_leaves_the_order_to_a_person_and_says_so() {
    let app = money_app();
    let user = openid("manual");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let card_before = app.card_money(ZHANG_SAN).await;
    app.set_faults(
        "card",
        json!({"error_rate": 1.0, "ops": ["card/load/create"]}),
    )
    .await;
    app.set_faults("bank", json!({"error_rate": 1.0, "ops": ["bank/reverse"]}))
        .await;
    let id = confirmed_top_up(&app, &user, ZHANG_SAN).await;
    let told = app.wait_pushed(&user, 1, Duration::from_secs(30)).await;
    assert_eq!(
        told,
        [format!(
            "充值遇到问题：银行已扣款 50.00 元，但圈存和自动退款都没有完成（订单号 {id}）。工作人员会在 1 个工作日内人工处理，款项不会丢失。如有疑问请联系一卡通服务中心并提供订单号。"
        )]
    );
    // the debit stands and the card got nothing: exactly what the operator must put right
    assert_eq!(app.bank_balance(ZHANG_SAN).await, bank_before - 5_000);
    assert_eq!(app.card_money(ZHANG_SAN).await, card_before);
}

#[tokio::test]
async fn a_lost_card_is_refused_before_any_debit() {
    let app = money_app();
    let user = openid("lostcard");
    app.bind(&user, WANG_WU).await;
    let bank_before = app.bank_balance(WANG_WU).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        format!(
            "您的校园卡（{}）已挂失，暂时不能充值。找回卡片并解挂后即可充值；补办新卡请到一卡通服务中心。本次没有扣款。",
            masked_card(&app, WANG_WU).await
        )
    );
    assert_eq!(app.bank_balance(WANG_WU).await, bank_before);
}

#[tokio::test]
async fn amounts_and_limits_are_refused_before_any_debit() {
    let app = spawn_app_with(TestOptions {
        settings: |s| {
            s.orders.backoff_base_ms = 20;
            s.orders.poll_ms = 20;
            s.orders.topup.per_day_max_yuan = 100;
        },
        ..TestOptions::default()
    });
    let user = openid("limits");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
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
        app.say(&user, "充值 50").await;
        let reply = app.say(&user, "确认").await;
        assert!(reply.starts_with("已提交充值订单"), "{reply}");
    }
    assert_eq!(
        app.say(&user, "充值 1").await,
        "每天最多充值 100 元，今天还可以充值 0.00 元。本次没有扣款。"
    );
    app.wait_pushed(&user, 2, Duration::from_secs(30)).await;
    assert_eq!(app.bank_balance(ZHANG_SAN).await, bank_before - 10_000);
}

#[tokio::test]
async fn a_closed_service_window_is_refused_before_any_debit() {
    let app = spawn_app_with(TestOptions {
        settings: |s| {
            // a one-hour window that starts two hours from now (campus time)
            let local = chrono::Utc::now() + chrono::Duration::hours(8);
            let from = local + chrono::Duration::hours(2);
            let to = from + chrono::Duration::hours(1);
            let text = format!(
                "[orders.topup]\nservice_hours = {{ from = \"{}\", to = \"{}\" }}",
                from.format("%H:%M"),
                to.format("%H:%M")
            );
            let parsed: onecard::settings::Settings = toml::from_str(&text).unwrap();
            s.orders.topup.service_hours = parsed.orders.topup.service_hours;
        },
        ..TestOptions::default()
    });
    let user = openid("closed");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let reply = app.say(&user, "充值 50").await;
    let local = chrono::Utc::now() + chrono::Duration::hours(8);
    let from = local + chrono::Duration::hours(2);
    let to = from + chrono::Duration::hours(1);
    assert_eq!(
        reply,
        format!(
            "现在不在圈存服务时间（每天 {}–{}），请在服务时间内再充值。本次没有扣款。",
            from.format("%H:%M"),
            to.format("%H:%M")
        )
    );
    assert_eq!(app.bank_balance(ZHANG_SAN).await, bank_before);
}

#[tokio::test]
async fn a_card_without_a_bound_bank_card_is_refused_before_any_debit() {
    let app = money_app();
    // someone with a phone on file, a normal card and no bank card bound for 银校转账
    let accounts: Vec<Value> = app
        .get("/sim/card/accounts?limit=300")
        .await
        .json()
        .await
        .unwrap();
    let mut unbound = None;
    for a in &accounts {
        let sno = a["id"].as_str().unwrap();
        if a["phone"].is_string()
            && a["status"] == "normal"
            && app.get(&format!("/sim/bank/accounts/{sno}")).await.status() == 404
        {
            unbound = Some(sno.to_owned());
            break;
        }
    }
    let sno = unbound.expect("a person without a bank card among the first 300");
    let user = openid("nobank");
    app.bind(&user, &sno).await;
    assert_eq!(
        app.say(&user, "充值 50").await,
        "您的校园卡还没有绑定银行卡，暂时不能在微信中充值。请携带校园卡和银行卡到一卡通服务中心或自助圈存机办理绑定。"
    );
}
