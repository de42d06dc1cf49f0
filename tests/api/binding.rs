//! Binding a campus card with an SMS code: the happy path, wrong codes, resend limits, a
//! restart in the middle, and one card ↔ one WeChat user. The limits under attack are in
//! `binding_limits`.

use serde_json::json;

use crate::helpers::*;

const ZHANG: &str = "2024000001";
const ZHANG_PHONE: &str = "13800000001";

#[tokio::test]
async fn binding_happy_path_sends_a_code_to_the_phone_on_file_and_binds() {
    let app = spawn_app();
    let user = openid("bind");
    // Unbound users asking for their balance are led to binding.
    assert_eq!(
        app.say(&user, "余额").await,
        "该功能需要先绑定校园卡，请回复「绑定」开始绑定。"
    );
    assert_eq!(
        app.say(&user, "绑定").await,
        message("bind.ask_student_id", json!({}))
    );
    let sent = app.say(&user, ZHANG).await;
    // The phone on file, masked: never the full number.
    assert_eq!(
        sent,
        message(
            "bind.ask_code",
            json!({ "phone_masked": masked_phone(ZHANG_PHONE) })
        )
    );
    let sms = app.sms_texts(ZHANG_PHONE).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    let code = app.latest_code(ZHANG_PHONE).await;
    assert_eq!(
        sms[0],
        format!(
            "【校园一卡通】您正在绑定校园卡微信服务，验证码{code}，5分钟内有效。如非本人操作请忽略本短信。"
        )
    );
    let done = app.say(&user, &code).await;
    assert_eq!(done, app.bind_done(ZHANG).await);
    // Bound: the balance is the simulator's.
    let balance = app.say(&user, "余额").await;
    app.assert_balance_reply(ZHANG, &balance).await;
    // Binding again is refused politely.
    assert_eq!(
        app.say(&user, "绑定").await,
        message("bind.already", json!({ "student_id": ZHANG }))
    );
}

#[tokio::test]
async fn binding_with_wrong_code_five_times_spends_the_code() {
    let app = spawn_app();
    let user = openid("wrong");
    app.say(&user, "绑定").await;
    app.say(&user, "2024000002").await;
    let code = app.latest_code("13800000002").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..5).rev() {
        assert_eq!(
            app.say(&user, wrong).await,
            format!("验证码不正确，您还可以再试 {left} 次。")
        );
    }
    assert_eq!(
        app.say(&user, wrong).await,
        "验证码已连续输错 5 次，已经作废。请回复「重发」获取新的验证码。"
    );
    // Even the right code does not help now; a new one is needed (after the resend interval).
    assert_eq!(
        app.say(&user, &code).await,
        "验证码已连续输错 5 次，已经作废。请回复「重发」获取新的验证码。"
    );
    assert_resend_refused(&app.say(&user, "重发").await);
    assert_eq!(
        app.say(&user, "余额").await,
        "该功能需要先绑定校园卡，请回复「绑定」开始绑定。"
    );
}

#[tokio::test]
async fn binding_with_wrong_code_then_right_one() {
    let app = spawn_app();
    let user = openid("wrongright");
    app.say(&user, "绑定").await;
    app.say(&user, "2025000005").await;
    let code = app.latest_code("13800000005").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        app.say(&user, wrong).await,
        message("bind.bad_code", json!({ "tries_left": 4 }))
    );
    assert_eq!(
        app.say(&user, "12ab").await,
        message("bind.code_format", json!({}))
    );
    assert_eq!(
        app.say(&user, &code).await,
        app.bind_done("2025000005").await
    );
}

#[tokio::test]
async fn a_second_code_within_a_minute_is_refused() {
    let app = spawn_app();
    let user = openid("resend");
    app.say(&user, "绑定").await;
    app.say(&user, "2024000006").await;
    assert_resend_refused(&app.say(&user, "重发").await);
    assert_eq!(app.sms_texts("13800000006").await.len(), 1, "only one SMS");
}

#[tokio::test]
async fn one_card_binds_to_one_wechat_user() {
    let app = spawn_app();
    let (first, second) = (openid("owner"), openid("thief"));
    app.bind(&first, "2024000003").await;
    app.say(&second, "绑定").await;
    assert_eq!(
        app.say(&second, "2024000003").await,
        message("bind.card_taken", json!({ "student_id": "2024000003" }))
    );
    // Unbinding frees the card (with an explicit confirmation).
    let card_no_masked = app.masked_card("2024000003").await;
    let card = json!({ "card_no_masked": card_no_masked });
    assert_eq!(
        app.say(&first, "解绑").await,
        message("unbind.confirm", card.clone())
    );
    assert_eq!(app.say(&first, "确认").await, message("unbind.done", card));
    assert_eq!(
        app.say(&first, "余额").await,
        message("binding.required", json!({}))
    );
}

#[tokio::test]
async fn restart_in_the_middle_of_binding_continues_with_the_same_code() {
    let disk = OnDisk::new();
    let user = openid("restartbind");
    let app = spawn_app_with(disk.options());
    app.say(&user, "绑定").await;
    app.say(&user, "2023000010").await;
    let code = app.latest_code("13800000010").await;
    app.stop().await;

    // The simulators restart too (same seed, fresh state); the code lives in our store.
    let app = spawn_app_with(disk.options());
    let done = app.say(&user, &code).await;
    assert_eq!(done, app.bind_done("2023000010").await);
    let balance = app.say(&user, "余额").await;
    app.assert_balance_reply("2023000010", &balance).await;
    app.stop().await;
}

#[tokio::test]
async fn bind_phone_verifies_the_new_number() {
    let app = spawn_app();
    let user = openid("phone");
    app.bind(&user, "2024000001").await;
    assert_eq!(
        app.say(&user, "绑定手机").await,
        message("phone.ask", json!({}))
    );
    assert_eq!(
        app.say(&user, "12345").await,
        message("phone.invalid", json!({}))
    );
    let phone = json!({ "phone_masked": "139****5678" });
    assert_eq!(
        app.say(&user, "13912345678").await,
        message("phone.ask_code", phone.clone())
    );
    let code = app.latest_code("13912345678").await;
    assert_eq!(app.say(&user, &code).await, message("phone.done", phone));
}

/// 「重发」 within the resend interval (60 s) is refused, naming a wait of at most that long.
fn assert_resend_refused(reply: &str) {
    let [wait] = message_match("bind.too_soon", json!({}), reply);
    let wait: i64 = wait.parse().unwrap();
    let interval = demo_settings(&Overrides::default()).binding.resend_secs;
    assert!((1..=interval).contains(&wait), "{reply}");
}
