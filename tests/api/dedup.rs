//! WeChat's retried deliveries: processed once, every delivery answered the same.

use std::time::{Duration, Instant};

use crate::helpers::*;

/// Two replies, the second pushed: a message whose push is known to come after the pushes of
/// the messages before it.
const MARKER_RULE: &str = r#"
[[rule]]
id = "test.marker"
exact = ["标记"]
replies = [{ text = "收到标记" }, { text = "标记之后" }]
"#;

#[tokio::test]
async fn concurrent_retries_of_one_msgid_are_answered_identically_and_processed_once() {
    let app = spawn_app_with(TestOptions {
        extra_rules: vec![
            ("test_slow.toml", SLOW_RULE.to_owned()),
            ("test_marker.toml", MARKER_RULE.to_owned()),
        ],
        actions: actions_with_slow,
        ..TestOptions::default()
    });
    let user = openid("retry");
    let msg = app.wx.text_message(&user, "慢300");
    let (a, b, c) = tokio::join!(
        app.wx.send(&msg),
        app.wx.deliver(&msg),
        app.wx.deliver(&msg)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(text_of(&a), "慢慢来：300 毫秒");
    assert_eq!(text_of(&a), text_of(&b));
    assert_eq!(text_of(&b), text_of(&c));
    assert_eq!(slow_calls(&user), 1, "the action must run once");
    // A late retry gets the remembered reply, still without running the action again.
    let d = app.wx.deliver(&msg).await.unwrap();
    assert_eq!(text_of(&d), "慢慢来：300 毫秒");
    assert_eq!(slow_calls(&user), 1);
    // The second reply of the rule went out once, through the customer-service API. A later
    // message of the same user is handled after this one: once its own second reply has been
    // pushed, a duplicate of the first would already be there.
    assert_eq!(app.say(&user, "标记").await, "收到标记");
    let deadline = Instant::now() + Duration::from_secs(10);
    let pushed = loop {
        let pushed = app.pushed(&user).await;
        if pushed.last().is_some_and(|p| p == "标记之后") {
            break pushed;
        }
        assert!(
            Instant::now() < deadline,
            "the marker was never pushed: {pushed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(pushed, ["第二条回复", "标记之后"], "no duplicate pushes");
}

#[tokio::test]
async fn the_same_msgid_from_two_users_is_two_messages() {
    let app = slow_app(4000);
    let (u1, u2) = (openid("msgid1"), openid("msgid2"));
    let mut m1 = app.wx.text_message(&u1, "慢10");
    let mut m2 = app.wx.text_message(&u2, "慢10");
    if let (
        onecard::wechat::InboundBody::Text { msg_id: a, .. },
        onecard::wechat::InboundBody::Text { msg_id: b, .. },
    ) = (&mut m1.body, &mut m2.body)
    {
        *a = 424242;
        *b = 424242;
    }
    let (r1, r2) = tokio::join!(app.wx.send(&m1), app.wx.send(&m2));
    assert_eq!(text_of(&r1.unwrap()), "慢慢来：10 毫秒");
    assert_eq!(text_of(&r2.unwrap()), "慢慢来：10 毫秒");
    assert_eq!((slow_calls(&u1), slow_calls(&u2)), (1, 1));
}

#[tokio::test]
async fn one_users_messages_are_handled_in_order() {
    let app = slow_app(4000);
    let user = openid("order");
    // The first message is slow; the second, sent once the first's action has started, must
    // wait for it inside the session instead of running alongside it.
    let first = app.wx.text_message(&user, "慢400");
    let second = app.wx.text_message(&user, "慢1");
    let (a, b) = tokio::join!(app.wx.send(&first), async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while slow_calls(&user) == 0 {
            assert!(Instant::now() < deadline, "the first message never ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        app.wx.send(&second).await
    });
    assert_eq!(text_of(&a.unwrap()), "慢慢来：400 毫秒");
    assert_eq!(text_of(&b.unwrap()), "慢慢来：1 毫秒");
    assert_eq!(
        slow_steps(&user),
        [
            SlowStep::Started(400),
            SlowStep::Finished(400),
            SlowStep::Started(1),
            SlowStep::Finished(1)
        ],
        "the second message ran alongside the first"
    );
}

#[tokio::test]
async fn a_retry_after_the_reply_is_dropped_gets_success_and_is_not_processed_again() {
    // The reply is kept only for WeChat's retries (here 1 s); until the dedup window ends the
    // message is still recognised, so a later retry or replay must not run the action again.
    let app = spawn_app_with(TestOptions {
        settings: |s| s.sessions.dedup_reply_secs = 1,
        ..slow_action_options()
    });
    let user = openid("dropped");
    let msg = app.wx.text_message(&user, "慢10");
    let first = app.wx.send(&msg).await.unwrap();
    assert_eq!(text_of(&first), "慢慢来：10 毫秒");
    // Retry until the reply window has passed: each retry before it gets the same reply.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let after = loop {
        let retry = app.wx.deliver(&msg).await.unwrap();
        if retry.reply.is_none() {
            break retry;
        }
        assert_eq!(text_of(&retry), "慢慢来：10 毫秒");
        assert!(
            std::time::Instant::now() < deadline,
            "the reply was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((after.status, after.body.as_str()), (200, "success"));
    assert_eq!(slow_calls(&user), 1, "the action must run once");
    // The rule's second reply went out once, and the late retry pushed nothing.
    let pushed = app.wait_pushed(&user, 1, Duration::from_secs(3)).await;
    assert_eq!(pushed, vec!["第二条回复".to_string()]);
    let again = app.wx.deliver(&msg).await.unwrap();
    assert_eq!((again.status, again.body.as_str()), (200, "success"));
    assert_eq!(slow_calls(&user), 1);
    assert_eq!(app.pushed(&user).await, vec!["第二条回复".to_string()]);
}
