//! Binding a campus card with an SMS code: the happy path, wrong codes, resend limits, a
//! restart in the middle, and one card ↔ one WeChat user. The limits under attack are in
//! `binding_limits`.

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
    assert!(app.say(&user, "绑定").await.contains("学号"));
    let sent = app.say(&user, ZHANG).await;
    assert!(
        sent.contains("138****0001"),
        "the phone is shown masked: {sent}"
    );
    assert!(!sent.contains(ZHANG_PHONE), "never the full phone: {sent}");
    let sms = app.sms_texts(ZHANG_PHONE).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0].contains("验证码"), "{sms:?}");
    let code = app.latest_code(ZHANG_PHONE).await;
    let done = app.say(&user, &code).await;
    assert!(done.contains("绑定成功") && done.contains("张*"), "{done}");
    // Bound: the balance is the simulator's.
    let balance = app.say(&user, "余额").await;
    app.assert_balance_reply(ZHANG, &balance).await;
    // Binding again is refused politely.
    assert!(app.say(&user, "绑定").await.contains("已绑定"));
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
    assert!(app.say(&user, "重发").await.contains("秒后"));
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
    assert!(app.say(&user, wrong).await.contains("不正确"));
    assert!(app.say(&user, "12ab").await.contains("6 位"));
    assert!(app.say(&user, &code).await.contains("绑定成功"));
}

#[tokio::test]
async fn a_second_code_within_a_minute_is_refused() {
    let app = spawn_app();
    let user = openid("resend");
    app.say(&user, "绑定").await;
    app.say(&user, "2024000006").await;
    let again = app.say(&user, "重发").await;
    assert!(again.contains("秒后"), "{again}");
    assert_eq!(app.sms_texts("13800000006").await.len(), 1, "only one SMS");
}

#[tokio::test]
async fn one_card_binds_to_one_wechat_user() {
    let app = spawn_app();
    let (first, second) = (openid("owner"), openid("thief"));
    app.bind(&first, "2024000003").await;
    app.say(&second, "绑定").await;
    let reply = app.say(&second, "2024000003").await;
    assert!(reply.contains("另一个微信号"), "{reply}");
    // Unbinding frees the card (with an explicit confirmation).
    assert!(app.say(&first, "解绑").await.contains("确认"));
    assert!(app.say(&first, "确认").await.contains("已解除"));
    assert!(app.say(&first, "余额").await.contains("绑定"));
}

#[tokio::test]
async fn restart_in_the_middle_of_binding_continues_with_the_same_code() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, rules) = (tmp.path().join("data"), tmp.path().join("rules"));
    copy_dir(std::path::Path::new("config/rules"), &rules);
    let opts = || TestOptions {
        data_dir: Some(data.clone()),
        rules_dir: Some(rules.clone()),
        ..TestOptions::default()
    };
    let user = openid("restartbind");
    let app = spawn_app_with(opts());
    app.say(&user, "绑定").await;
    app.say(&user, "2023000010").await;
    let code = app.latest_code("13800000010").await;
    app.stop().await;

    // The simulators restart too (same seed, fresh state); the code lives in our store.
    let app = spawn_app_with(opts());
    let done = app.say(&user, &code).await;
    assert!(done.contains("绑定成功"), "{done}");
    let balance = app.say(&user, "余额").await;
    app.assert_balance_reply("2023000010", &balance).await;
    app.stop().await;
}

#[tokio::test]
async fn bind_phone_verifies_the_new_number() {
    let app = spawn_app();
    let user = openid("phone");
    app.bind(&user, "2024000001").await;
    assert!(app.say(&user, "绑定手机").await.contains("手机号"));
    assert!(app.say(&user, "12345").await.contains("格式不正确"));
    let sent = app.say(&user, "13912345678").await;
    assert!(sent.contains("139****5678"), "{sent}");
    let code = app.latest_code("13912345678").await;
    assert!(app.say(&user, &code).await.contains("绑定成功"));
}
