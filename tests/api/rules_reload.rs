//! Operators edit rule files while the platform runs.

use std::time::{Duration, Instant};

use crate::helpers::*;

async fn wait_for_reply(
    app: &TestApp,
    user: &str,
    text: &str,
    expect: &str,
    within: Duration,
) -> (bool, Duration) {
    let start = Instant::now();
    while start.elapsed() < within {
        // A fresh user per poll: the per-user rate limit is not what this test is about.
        let _ = user;
        let ex = app.wx.text(&openid("poll"), text).await.unwrap();
        if text_of(&ex) == expect {
            return (true, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (false, start.elapsed())
}

/// How long a test waits for the watcher: generous, because a loaded 2-core machine can stall
/// it for seconds; a healthy run takes well under one.
const DEADLINE: Duration = Duration::from_secs(15);

async fn healthz(app: &TestApp) -> serde_json::Value {
    app.get("/healthz").await.json().await.unwrap()
}

/// Wait until `/healthz` shows `status` and return the whole document.
async fn wait_for_health(app: &TestApp, status: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let health = healthz(app).await;
        if health["status"] == status || start.elapsed() > DEADLINE {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CANTEEN: &str =
    "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nreply = \"食堂营业时间：6:30-21:00\"\n";
/// `acton` for `action`: the operator's typo.
const CANTEEN_BROKEN: &str =
    "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nacton = \"oops\"\n";

#[tokio::test]
async fn a_saved_edit_goes_live_and_an_invalid_edit_never_goes_live() {
    let app = spawn_app();
    let user = openid("reload");
    let file = app.rules_dir.join("zz_operator.toml");
    std::fs::write(&file, CANTEEN).unwrap();
    let (ok, took) =
        wait_for_reply(&app, &user, "食堂", "食堂营业时间：6:30-21:00", DEADLINE).await;
    assert!(ok, "new rule not live after {took:?}");

    // An editor-style save (write a temp file, rename over the original).
    let tmp = app.rules_dir.join(".zz_operator.toml.swp");
    std::fs::write(
        &tmp,
        "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nreply = \"食堂今天 7:00 开门\"\n",
    )
    .unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let (ok, took) = wait_for_reply(&app, &user, "食堂", "食堂今天 7:00 开门", DEADLINE).await;
    assert!(ok, "renamed-over edit not live after {took:?}");
    assert_eq!(healthz(&app).await["status"], "ok");

    // An invalid edit: the old table keeps serving, and /healthz says why, in the operator's
    // words, with file:line:col.
    std::fs::write(&file, CANTEEN_BROKEN).unwrap();
    let health = wait_for_health(&app, "degraded").await;
    assert_eq!(
        health["rule_errors"],
        serde_json::json!([format!(
            "{}:4:1: unknown key `acton`: did you mean `action`?",
            file.display()
        )])
    );
    let ex = app.wx.text(&openid("after"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂今天 7:00 开门");

    // Fixed: live again, healthy again.
    std::fs::write(&file, CANTEEN).unwrap();
    let health = wait_for_health(&app, "ok").await;
    assert_eq!(health.get("rule_errors"), None);
    let ex = app.wx.text(&openid("fixed"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂营业时间：6:30-21:00");
}

#[tokio::test]
async fn a_restart_with_a_broken_rule_file_answers_with_the_last_good_rules() {
    let disk = OnDisk::new();
    let file = disk.rules.join("zz_operator.toml");

    let app = spawn_app_with(disk.options());
    std::fs::write(&file, CANTEEN).unwrap();
    let (ok, took) = wait_for_reply(&app, "", "食堂", "食堂营业时间：6:30-21:00", DEADLINE).await;
    assert!(ok, "new rule not live after {took:?}");
    app.stop().await;

    // Broken while the service was down: it starts anyway, with the rules that last went live.
    std::fs::write(&file, CANTEEN_BROKEN).unwrap();
    let app = spawn_app_with(disk.options());
    let ex = app.wx.text(&openid("restart"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂营业时间：6:30-21:00");
    let health = healthz(&app).await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(
        health["rule_errors"],
        serde_json::json!([format!(
            "{}:4:1: unknown key `acton`: did you mean `action`?",
            file.display()
        )])
    );

    // Fixing the file ends the degraded state without another restart.
    std::fs::write(
        &file,
        "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nreply = \"食堂修好了\"\n",
    )
    .unwrap();
    let health = wait_for_health(&app, "ok").await;
    assert_eq!(health.get("rule_errors"), None);
    let ex = app.wx.text(&openid("fixed"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂修好了");
    app.stop().await;
}

#[tokio::test]
async fn the_default_rule_counts_only_the_messages_it_answered() {
    let app = spawn_app_with(default_rule_renamed("fallback_counted"));
    let user = openid("default-hits");
    let first = app.say(&user, "今天食堂吃什么").await;
    let second = app.say(&user, "图书馆几点关门").await;
    // The second is inside the default reply's cooldown: the hint answers, not the rule.
    assert_eq!(second, configured_message("default.hint"));
    assert_ne!(first, second);
    let metrics = app.metrics().await;
    let hits: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("onecard_rules_hits_total{rule=\"fallback_counted\"}"))
        .collect();
    assert_eq!(
        hits,
        vec!["onecard_rules_hits_total{rule=\"fallback_counted\"} 1"]
    );
}

#[tokio::test]
async fn a_cancel_word_an_operator_adds_ends_a_dialog_once_the_edit_is_live() {
    let app = spawn_app();
    let asked = configured_message("feedback.ask");
    let thanks = configured_message("feedback.thanks");
    let cancelled = configured_message("dialog.cancelled");

    // Before the edit 「算了」 is an answer like any other: the feedback dialog files it.
    let user = openid("words0");
    assert_eq!(app.say(&user, "反馈").await, asked);
    assert_eq!(app.say(&user, "算了").await, thanks);

    // The operator adds it to the `cancel` words (an editor-style save: temp file, rename).
    let words = app.rules_dir.join("_messages.toml");
    let shipped = std::fs::read_to_string(&words).unwrap();
    let edited = shipped.replace("cancel = [\"取消\"", "cancel = [\"算了\", \"取消\"");
    assert_ne!(
        edited, shipped,
        "the shipped cancel list starts with 「取消」"
    );
    let tmp = app.rules_dir.join("._messages.toml.swp");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, &words).unwrap();

    // Each try is a fresh user in a fresh dialog; until the edit is live 「算了」 is filed.
    let start = Instant::now();
    let live = loop {
        let user = openid("words");
        assert_eq!(app.say(&user, "反馈").await, asked);
        let reply = app.say(&user, "算了").await;
        if reply == cancelled {
            break Some(user);
        }
        assert_eq!(reply, thanks);
        if start.elapsed() > DEADLINE {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let user = live.expect("the new cancel word was not live in time");
    // The dialog is over: text no rule knows gets the default reply, not filed as feedback.
    assert_eq!(app.say(&user, "今天食堂吃什么").await, DEFAULT_REPLY);
    assert_eq!(healthz(&app).await["status"], "ok");
}
