//! Every query answered from the simulators' actual data, and faults answered clearly.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn balance_includes_the_pending_load() {
    let app = spawn_app();
    let user = openid("pending");
    app.bind(&user, "2024000002").await;
    let acct = app.sim_account("2024000002").await;
    let (bal, pending) = (
        acct["balance_fen"].as_i64().unwrap(),
        acct["pending_fen"].as_i64().unwrap(),
    );
    let reply = app.say(&user, "余额").await;
    assert!(reply.contains(&onecard::domain::Fen(bal).yuan()), "{reply}");
    assert!(
        reply.contains(&onecard::domain::Fen(pending).yuan()) && reply.contains("过渡余额"),
        "{reply}"
    );
}

#[tokio::test]
async fn transactions_are_paged_with_more() {
    let app = spawn_app();
    let user = openid("tx");
    app.bind(&user, "2024000001").await;
    let first = app.say(&user, "流水").await;
    assert!(
        first.contains("第 1/") && first.contains("回复「更多」"),
        "{first}"
    );
    let second = app.say(&user, "更多").await;
    assert!(second.contains("第 2/"), "{second}");
    let day = app.say(&user, "流水 2026-01-01").await;
    assert!(day.contains("01月01日"), "{day}");
    assert!(app.say(&user, "流水 哪天").await.contains("没看懂"));
}

#[tokio::test]
async fn card_info_report_loss_and_lost_and_found() {
    let app = spawn_app();
    let user = openid("loss");
    app.bind(&user, "2024000001").await;
    let info = app.say(&user, "卡片信息").await;
    assert!(info.contains("张*") && info.contains("正常"), "{info}");
    assert!(app.say(&user, "失卡").await.contains("没有挂失记录"));
    // Report loss needs an explicit confirmation.
    assert!(app.say(&user, "挂失").await.contains("回复「确认」"));
    assert!(app.say(&user, "算了").await.contains("取消挂失"));
    assert_eq!(app.sim_account("2024000001").await["status"], "normal");
    app.say(&user, "挂失").await;
    let done = app.say(&user, "确认").await;
    assert!(
        done.contains("已挂失") && done.contains("服务中心"),
        "{done}"
    );
    assert_eq!(app.sim_account("2024000001").await["status"], "lost");
    assert!(app.say(&user, "挂失").await.contains("已处于挂失状态"));
    assert!(app.say(&user, "卡片信息").await.contains("已挂失"));
}

#[tokio::test]
async fn a_found_card_is_reported_with_where_to_collect_it() {
    let app = spawn_app();
    let user = openid("found");
    app.bind(&user, "2024000003").await;
    let reply = app.say(&user, "失卡").await;
    assert!(
        reply.contains("已被拾到") && reply.contains("领取"),
        "{reply}"
    );
}

#[tokio::test]
async fn public_information_queries() {
    let app = spawn_app();
    let user = openid("public");
    app.bind(&user, "2025000005").await;
    let loans = app.say(&user, "借阅").await;
    assert!(
        loans.contains("3 本") && loans.contains("已超期"),
        "{loans}"
    );
    let grades = app.say(&user, "成绩").await;
    assert!(
        grades.contains("学期成绩") && grades.contains("绩点"),
        "{grades}"
    );
    let timetable = app.say(&user, "课表 本周").await;
    assert!(
        timetable.contains("第 ") && timetable.contains("周"),
        "{timetable}"
    );
    let tomorrow = app.say(&user, "课表 明天").await;
    assert!(tomorrow.contains("月"), "{tomorrow}");
    let staff = openid("staff");
    app.bind(&staff, "2008900001").await;
    // Staff have no transcript: the reply names no (blank) term.
    assert_eq!(
        app.say(&staff, "成绩").await,
        "暂未查到您的成绩，成绩录入后即可查询。"
    );
    let meetings = app.say(&staff, "会议").await;
    assert!(meetings.contains("会议"), "{meetings}");
    let zhang = openid("locker");
    app.bind(&zhang, "2024000001").await;
    let locker = app.say(&zhang, "存包柜").await;
    assert!(locker.contains("号柜"), "{locker}");
}

#[tokio::test]
async fn a_failing_upstream_gets_a_clear_reply_and_recovers() {
    let app = spawn_app();
    let user = openid("fault");
    app.bind(&user, "2024000001").await;
    app.set_faults("card", serde_json::json!({ "error_rate": 1.0 }))
        .await;
    assert_eq!(app.say(&user, "余额").await, "系统繁忙，请稍后再试。");
    // Static rules and other upstreams are unaffected.
    assert!(app.say(&user, "帮助").await.contains("余额"));
    assert!(app.say(&user, "借阅").await.contains("本图书"));
    // The breaker opens after repeated failures and answers at once.
    for _ in 0..6 {
        app.say(&openid("burst"), "帮助").await;
        let _ = app.say(&user, "余额").await;
    }
    let started = std::time::Instant::now();
    assert_eq!(app.say(&user, "余额").await, "系统繁忙，请稍后再试。");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "breaker should fail fast"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("onecard_upstream_breaker_state"),
        "{metrics}"
    );
    // Recovery: faults off, breaker half-opens after its cool-down, answers again.
    app.set_faults("card", serde_json::json!({})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut ok = false;
    for _ in 0..20 {
        if app.say(&user, "余额").await.contains("52.30") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "the card system never recovered");
}

#[tokio::test]
async fn a_timing_out_upstream_is_answered_clearly() {
    let app = spawn_app();
    let user = openid("timeout");
    app.bind(&user, "2024000001").await;
    app.set_faults(
        "public_data",
        serde_json::json!({ "timeout_rate": 1.0, "hang_ms": 10000 }),
    )
    .await;
    let ex = app.wx.text(&user, "借阅").await.unwrap();
    // The read is retried, so the answer may come after the budget: then it is pushed.
    let reply = match ex.reply {
        Some(_) => text_of(&ex),
        None => app
            .wait_pushed(&user, 1, Duration::from_secs(15))
            .await
            .join(""),
    };
    assert!(reply.contains("超时") || reply.contains("繁忙"), "{reply}");
    // Nothing hangs: static replies are still instant.
    assert!(app.say(&user, "帮助").await.contains("余额"));
}

/// The slow-upstream push, end to end with the simulator's latency knob: the card system
/// answers after 1.5 s, the callback budget is 500 ms.
#[tokio::test]
async fn a_slow_card_system_is_answered_success_and_the_balance_pushed() {
    let app = spawn_app_with(TestOptions {
        budget_ms: 500,
        ..TestOptions::default()
    });
    let user = openid("slowcard");
    app.bind(&user, "2024000001").await;
    app.set_faults("card", serde_json::json!({ "latency_ms": 1500 }))
        .await;
    let ex = app.wx.text(&user, "余额").await.unwrap();
    assert_eq!(ex.body, "success");
    let pushed = app.wait_pushed(&user, 1, Duration::from_secs(5)).await;
    assert!(pushed.iter().any(|p| p.contains("52.30")), "{pushed:?}");
}

#[tokio::test]
async fn per_user_rate_limit_answers_politely() {
    let app = spawn_app_with(TestOptions {
        settings: |s| s.sessions.user_burst = 10,
        ..TestOptions::default()
    });
    let user = openid("flood");
    let mut limited = false;
    for _ in 0..15 {
        if app.say(&user, "帮助").await.contains("频繁") {
            limited = true;
            break;
        }
    }
    assert!(
        limited,
        "15 messages in a burst should hit the per-user limit"
    );
    // Another user is not affected.
    assert!(app.say(&openid("calm"), "帮助").await.contains("余额"));
}

#[tokio::test]
async fn unmatched_messages_after_the_default_reply_still_get_a_pointer_to_help() {
    let app = spawn_app();
    let user = openid("lost-newcomer");
    let full =
        "抱歉，暂时没有理解您的意思。回复「帮助」查看可用功能，或回复「人工客服」联系工作人员。";
    let hint = "没有找到对应的功能，回复「帮助」查看可以办理的业务。";
    assert_eq!(app.say(&user, "今天食堂吃什么").await, full);
    // Inside the cooldown: never silence, a one-line hint instead of the full text again.
    assert_eq!(app.say(&user, "宿舍几点关门").await, hint);
    assert_eq!(app.say(&user, "明天下雨吗").await, hint);
    // Matched keywords are unaffected.
    assert_eq!(
        app.say(&user, "你好").await,
        "您好！回复「帮助」查看可以办理的业务。"
    );
}
