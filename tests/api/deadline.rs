//! The deadline: a reply not ready within the budget is answered "success" at once and pushed
//! later through the customer-service API; nothing is lost, nothing is sent twice.

use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn a_slow_action_is_answered_success_then_pushed() {
    let Some(app) = spawn_app_alone(slow_options(300)) else {
        return;
    };
    let fallbacks = "onecard_callback_deadline_fallbacks_total";
    let fallbacks_before = app.metric(fallbacks).await;
    let user = openid("slow");
    let started = Instant::now();
    let ex = app.wx.text(&user, "慢1200").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "answered within the budget"
    );
    assert_eq!((ex.status, ex.body.as_str()), (200, "success"));
    let pushed = app.wait_pushed(&user, 2, Duration::from_secs(30)).await;
    assert_eq!(
        pushed,
        vec!["慢慢来：1200 毫秒".to_string(), "第二条回复".to_string()]
    );
    assert_eq!(app.metric(fallbacks).await - fallbacks_before, 1.0);
}

/// WeChat delivers an unanswered message three times, about 5 s apart. Replayed for real
/// against an action slower than the budget: the action runs once, every delivery is answered
/// within the budget, and the reply reaches the user exactly once.
#[tokio::test]
async fn wechats_retry_schedule_against_a_slow_action() {
    let app = slow_app(4000);
    let user = openid("schedule");
    let msg = app.wx.text_message(&user, "慢7000");
    let t0 = Instant::now();
    let first = app.wx.send(&msg).await.unwrap();
    assert!(t0.elapsed() < Duration::from_millis(4600));
    tokio::time::sleep_until((t0 + Duration::from_secs(5)).into()).await;
    let second = app.wx.deliver(&msg).await.unwrap();
    tokio::time::sleep_until((t0 + Duration::from_secs(10)).into()).await;
    let third = app.wx.deliver(&msg).await.unwrap();
    for ex in [&first, &second, &third] {
        assert_eq!((ex.status, ex.body.as_str()), (200, "success"));
    }
    assert_eq!(slow_calls(&user), 1);
    let pushed = app.wait_pushed(&user, 2, Duration::from_secs(30)).await;
    assert_eq!(
        pushed,
        vec!["慢慢来：7000 毫秒".to_string(), "第二条回复".to_string()]
    );
}

/// The customer-service window is closed (the user only clicked a menu more than a minute
/// ago, as far as WeChat knows) and no fallback template is configured: the reply is kept and
/// delivered with the user's next message.
#[tokio::test]
async fn a_reply_the_window_does_not_allow_is_kept_for_the_next_message() {
    let app = spawn_app_with(TestOptions {
        settings: |s| s.wechat.fallback_template_id.clear(),
        ..slow_options(200)
    });
    let user = openid("window");
    // Deliver without telling the simulator: WeChat knows of no interaction, so pushes fail.
    let msg = app.wx.text_message(&user, "慢600");
    let ex = app.wx.deliver(&msg).await.unwrap();
    assert_eq!(ex.body, "success");
    // Wait until WeChat has refused the push (45015); the reply is held, nothing delivered.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats: serde_json::Value = app.get("/sim/wechat/stats").await.json().await.unwrap();
        if stats["custom_refused"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "no push was tried: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.pushed(&user).await.is_empty());
    // The user writes again: the kept replies go out first.
    let _ = app.wx.text(&user, "帮助").await.unwrap();
    let pushed = app.wait_pushed(&user, 2, Duration::from_secs(30)).await;
    assert_eq!(
        pushed[..2],
        ["慢慢来：600 毫秒".to_string(), "第二条回复".to_string()]
    );
}

/// With a fallback template configured, a reply the customer-service window does not allow
/// goes out at once as a template message instead of waiting for the user's next message.
#[tokio::test]
async fn a_closed_window_falls_back_to_the_configured_template_message() {
    let app = spawn_app_with(TestOptions {
        settings: |s| s.wechat.fallback_template_id = "TPL_REPLY".into(),
        ..slow_options(200)
    });
    let user = openid("template");
    // Not reported to the simulator: WeChat knows of no interaction, custom pushes get 45015.
    let msg = app.wx.text_message(&user, "慢500");
    assert_eq!(app.wx.deliver(&msg).await.unwrap().body, "success");
    let outbox = {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let o = app.wx.outbox(&user).await.unwrap();
            if o.len() >= 2 || std::time::Instant::now() > deadline {
                break o;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert!(
        outbox
            .iter()
            .all(|m| m["kind"] == "template" && m["template_id"] == "TPL_REPLY"),
        "{outbox:?}"
    );
    assert_eq!(onecard::chat::pushed_text(&outbox[0]), "慢慢来：500 毫秒");
}

// ---- a menu click whose answer is slower than the callback budget and the pusher's tick ----

use onecard::actions::{ActionDef, ActionFuture, ActionInput, ActionOutput, ActionRegistry};

/// Longer than one pusher tick, which sweeps the customer-service windows.
const SLOW_CLICK_MS: u64 = onecard::actors::pusher::TICK.as_millis() as u64 + 1500;

fn slow_click(_input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(SLOW_CLICK_MS)).await;
        Ok(ActionOutput::fields(
            serde_json::json!({ "waited_ms": SLOW_CLICK_MS }),
        ))
    })
}

fn actions_with_slow_click() -> ActionRegistry {
    let mut r = ActionRegistry::builtin();
    r.register(ActionDef {
        name: "slow_click",
        fields: &["waited_ms"],
        messages: &[],
        words: &[],
        run: slow_click,
    });
    r
}

/// A user who only clicked a menu has a 1-minute window (3 pushes). A sweep of closed windows
/// used to forget users without a message window, so a late answer to a click was held
/// instead of pushed.
#[tokio::test]
async fn a_click_only_users_late_reply_is_pushed_within_the_click_window() {
    let app = spawn_app_with(TestOptions {
        budget_ms: 300,
        extra_rules: vec![(
            "test_slow_click.toml",
            "[[rule]]\nid = \"test.slow_click\"\nclick = [\"SLOW_CLICK\"]\naction = \"slow_click\"\nreply = \"点击结果：{{ waited_ms }} 毫秒\"\n".to_owned(),
        )],
        actions: actions_with_slow_click,
        ..TestOptions::default()
    });
    let user = openid("click");
    let clicked = Instant::now();
    let ex = app
        .wx
        .event(
            &user,
            onecard::wechat::Event::Click {
                key: "SLOW_CLICK".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!((ex.status, ex.body.as_str()), (200, "success"));
    let outbox = {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let o = app.wx.outbox(&user).await.unwrap();
            if !o.is_empty() || Instant::now() > deadline {
                break o;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    // A customer-service message, accepted by WeChat inside the click's minute.
    assert_eq!(outbox[0]["kind"], "custom", "{outbox:?}");
    assert_eq!(
        onecard::chat::pushed_text(&outbox[0]),
        format!("点击结果：{SLOW_CLICK_MS} 毫秒")
    );
    assert!(clicked.elapsed() < Duration::from_secs(60));
}
