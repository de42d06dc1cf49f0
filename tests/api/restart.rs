//! A restart in the middle of a dialog resumes it from the store.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn restart_with_a_half_finished_dialog_restores_it_from_sled() {
    let disk = OnDisk::new();
    let user = openid("restart");

    let app = spawn_app_with(disk.options());
    let asked = app.wx.text(&user, "反馈").await.unwrap();
    assert_eq!(text_of(&asked), configured_message("feedback.ask"));
    app.stop().await;

    let app = spawn_app_with(disk.options());
    // The dialog continues after the restart.
    let thanks = app.wx.text(&user, "二食堂的饺子很好吃").await.unwrap();
    assert_eq!(text_of(&thanks), configured_message("feedback.thanks"));
    // The dialog is over: the next text is routed normally again.
    let help = app.wx.text(&user, "帮助").await.unwrap();
    assert_eq!(text_of(&help), help_text());
    app.stop().await;
}

#[tokio::test]
async fn unsubscribe_removes_the_users_data_and_a_new_subscribe_starts_fresh() {
    let app = spawn_app();
    let user = openid("unsub");
    let asked = app.wx.text(&user, "反馈").await.unwrap();
    assert_eq!(text_of(&asked), configured_message("feedback.ask"));
    app.unsubscribe(&user).await;
    let welcome = app.subscribe(&user).await;
    assert_eq!(text_of(&welcome), configured_reply("welcome"));
    // The old feedback dialog is gone: "帮助" is help, not feedback text.
    let help = app.wx.text(&user, "帮助").await.unwrap();
    assert_eq!(text_of(&help), help_text());
}

/// A panicking action kills the router actor of its thread; the callback still answers (with
/// the busy message), the failure is counted, and the user's next message is served normally
/// (by a fresh router actor where the old one died).
#[tokio::test]
async fn a_crashing_router_is_restarted_and_the_callback_still_answers() {
    let Some(app) = spawn_app_alone(TestOptions {
        extra_rules: vec![(
            "test_crash.toml",
            "[[rule]]\nid = \"test.crash\"\nexact = [\"崩溃\"]\naction = \"crash\"\nreply = \"不会到这里\"\n".to_owned(),
        )],
        actions: actions_with_crash,
        ..TestOptions::default()
    }) else {
        return;
    };
    let failures = "onecard_router_failures_total";
    let failures_before = app.metric(failures).await;
    let user = openid("crash");
    let ex = app.wx.text(&user, "崩溃").await.unwrap();
    assert_eq!(ex.status, 200);
    assert_eq!(text_of(&ex), "系统繁忙，请稍后再试。");
    assert_eq!(app.say(&user, "帮助").await, help_text());
    assert_eq!(app.metric(failures).await - failures_before, 1.0);
}

/// A reply held for the user's next message (the window was closed) is useless after WeChat's
/// 48 h window: it is dropped, and when the user writes again they are told, with the text of
/// `reply.expired` in the rules' `[messages]`.
#[tokio::test]
async fn a_reply_held_past_48_hours_expires_and_the_user_is_told_at_their_next_message() {
    use onecard::domain::OpenId;
    use onecard::store::Store;
    use onecard::wechat::Reply;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let user = openid("expired");
    {
        // What a previous run left: one reply held since 49 hours ago.
        let store = Store::open(&data, 16).unwrap();
        let outbox = store.outbox();
        let oid = OpenId::parse(&user).unwrap();
        let held_since = chrono::Utc::now().timestamp() - 49 * 3600;
        outbox
            .hand_over(&oid, None, &[Reply::Text("旧的回复".into())], held_since)
            .unwrap();
        outbox.hold(&outbox.entries(&oid).unwrap()).unwrap();
        store.flush().await.unwrap();
    }
    let app = spawn_app_with(TestOptions {
        data_dir: Some(data.clone()),
        ..TestOptions::default()
    });
    let help = app.say(&user, "帮助").await;
    assert_eq!(help, help_text());

    let messages: toml::Table = std::fs::read_to_string("config/rules/_messages.toml")
        .unwrap()
        .parse()
        .unwrap();
    let notice = messages["messages"]["reply.expired"]
        .as_str()
        .unwrap()
        .replace("{{ count }}", "1");
    // The stale reply would have gone out before the notice: only the notice arrives.
    let pushed = app.wait_pushed(&user, 1, Duration::from_secs(10)).await;
    assert_eq!(pushed, vec![notice]);
}
