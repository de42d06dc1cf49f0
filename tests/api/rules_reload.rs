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

#[tokio::test]
async fn a_saved_edit_is_live_within_a_second_and_an_invalid_edit_never_goes_live() {
    let app = spawn_app();
    let user = openid("reload");
    let file = app.rules_dir.join("zz_operator.toml");
    std::fs::write(
        &file,
        "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nreply = \"食堂营业时间：6:30-21:00\"\n",
    )
    .unwrap();
    let (ok, took) = wait_for_reply(
        &app,
        &user,
        "食堂",
        "食堂营业时间：6:30-21:00",
        Duration::from_secs(3),
    )
    .await;
    assert!(ok, "new rule not live after {took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    // An editor-style save (write a temp file, rename over the original).
    let tmp = app.rules_dir.join(".zz_operator.toml.swp");
    std::fs::write(
        &tmp,
        "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nreply = \"食堂今天 7:00 开门\"\n",
    )
    .unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let (ok, took) = wait_for_reply(
        &app,
        &user,
        "食堂",
        "食堂今天 7:00 开门",
        Duration::from_secs(3),
    )
    .await;
    assert!(ok, "renamed-over edit not live after {took:?}");

    // An invalid edit: the old table keeps serving and the error is counted.
    std::fs::write(
        &file,
        "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nacton = \"oops\"\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ex = app.wx.text(&openid("after"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂今天 7:00 开门");
    let metrics = app.metrics().await;
    let errors = metrics
        .lines()
        .find(|l| l.starts_with("onecard_rules_reload_errors_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "reload error not counted:\n{metrics}");
}
