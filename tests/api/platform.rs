//! The WeChat platform side of operations: the access_token holder, key rotation, the
//! encrypted-only switch, pushing the menu, `onecard doctor`, and the metrics operators read.

use std::time::Duration;

use onecard::wechat::api::ApiClient;

use crate::helpers::*;

async fn sim_stats(app: &TestApp) -> serde_json::Value {
    app.get_json("/sim/wechat/stats").await
}

/// Many late replies at once after WeChat expired the token: one refresh, not a storm.
#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_for_many_pushes() {
    let Some(app) = spawn_app_alone(slow_options(100)) else {
        return;
    };
    let refreshes = "onecard_wechat_token_refreshes_total";
    // A first push fetches the token.
    let warm = openid("warm");
    app.wx.text(&warm, "慢300").await.unwrap();
    app.wait_pushed(&warm, 2, Duration::from_secs(5)).await;
    let before = sim_stats(&app).await["token_fetches"].as_u64().unwrap();
    assert_eq!(before, 1);
    let refreshes_before = app.metric(refreshes).await;
    // WeChat invalidates it (42001 on the next call).
    app.sim_act("/sim/wechat/expire_tokens", serde_json::json!({}))
        .await;
    let users: Vec<String> = (0..8).map(|i| openid(&format!("storm{i}"))).collect();
    let sends = users.iter().map(|u| app.wx.text(u, "慢300"));
    for ex in futures_util::future::join_all(sends).await {
        assert_eq!(ex.unwrap().body, "success");
    }
    for u in &users {
        let pushed = app.wait_pushed(u, 2, Duration::from_secs(5)).await;
        assert_eq!(pushed.len(), 2, "{u}: {pushed:?}");
    }
    let after = sim_stats(&app).await["token_fetches"].as_u64().unwrap();
    assert_eq!(
        after,
        before + 1,
        "exactly one refresh after the token expired"
    );
    assert_eq!(app.metric(refreshes).await - refreshes_before, 1.0);
}

#[tokio::test]
async fn rotated_token_and_aes_key_keep_working_during_the_switch() {
    const NEW_TOKEN: &str = "rotatedtoken2026";
    const NEW_KEY: &str = "Zx9wV8uT7sR6qP5oN4mL3kJ2iH1gF0eDcBa98765432";
    let app = spawn_app_with_settings(|s| {
        s.wechat.previous_token = s.wechat.token.clone();
        s.wechat.previous_encoding_aes_key = s.wechat.encoding_aes_key.clone();
        s.wechat.token = NEW_TOKEN.into();
        s.wechat.encoding_aes_key = NEW_KEY.into();
    });
    let user = openid("rotate");
    // WeChat still signing and encrypting with the old values.
    assert_eq!(app.say(&user, "帮助").await, help_text());
    // And with the new ones.
    let new = onecard::chat::WeChatClient::new(&app.base, NEW_TOKEN, Some(NEW_KEY), APP_ID, true)
        .unwrap();
    let ex = new.text(&user, "帮助").await.unwrap();
    assert_eq!(text_of(&ex), help_text(), "{}", ex.body);
    // Anything else is refused.
    let stranger =
        onecard::chat::WeChatClient::new(&app.base, "sometoken", Some(NEW_KEY), APP_ID, true)
            .unwrap();
    let refused = stranger.text(&user, "帮助").await.unwrap();
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (403, "bad msg_signature")
    );
}

#[tokio::test]
async fn the_menu_is_validated_and_pushed_through_the_api() {
    let app = spawn_app();
    let menu = onecard::rules::menu::Menu::load(std::path::Path::new("config/menu.toml")).unwrap();
    let api = ApiClient::new(
        &format!("{}/sim/wechat", app.base),
        APP_ID,
        APP_SECRET,
        Duration::from_secs(5),
    )
    .unwrap();
    let token = api.fetch_stable_token(false).await.unwrap();
    api.create_menu(&token.token, &menu.to_wechat_json())
        .await
        .unwrap();
    let stored = app.get_json("/sim/wechat/menu").await;
    assert_eq!(stored["button"].as_array().unwrap().len(), 3, "{stored}");
    // Every click key of the menu is answered by its rule's own reply: for a user not yet
    // bound, the binding prompt where the rule needs a bound card, else what the rule says.
    let user = openid("menu");
    for key in menu.click_keys() {
        let campus_before = campus_now();
        let ex = app
            .wx
            .event(&user, onecard::wechat::Event::Click { key: key.clone() })
            .await
            .unwrap();
        let reply = text_of(&ex);
        let expected = |campus_now| match click_rule(&key) {
            (_, true) => configured_message("binding.required"),
            (id, false) => match id.as_str() {
                "bind_card" => configured_message("bind.ask_student_id"),
                "feedback" => configured_message("feedback.ask"),
                "help" => help_text(),
                // Two rules share the key; their `when` windows (config/rules/chat.toml) pick.
                "staff_office_hours" | "staff_after_hours" => {
                    configured_reply(staff_rule_at(campus_now))
                }
                other => panic!("menu key {key} → rule {other}: add its reply here"),
            },
        };
        // A time window may turn between the click and reading the clock: either side is right.
        assert!(
            reply == expected(campus_before) || reply == expected(campus_now()),
            "menu key {key}: {reply:?}, expected {:?}",
            expected(campus_before)
        );
    }
}

/// The campus-local time now (config/demo.toml's `server.utc_offset_hours` = 8).
fn campus_now() -> chrono::NaiveDateTime {
    (chrono::Utc::now() + chrono::Duration::hours(8)).naive_utc()
}

/// The rule 「人工客服」 answers with at campus time `at`: office hours are Monday–Friday
/// 08:30–17:30 (config/rules/chat.toml).
fn staff_rule_at(at: chrono::NaiveDateTime) -> &'static str {
    use chrono::{Datelike, NaiveTime, Weekday};
    let weekday = !matches!(at.weekday(), Weekday::Sat | Weekday::Sun);
    let open =
        NaiveTime::from_hms_opt(8, 30, 0).unwrap()..NaiveTime::from_hms_opt(17, 30, 0).unwrap();
    if weekday && open.contains(&at.time()) {
        "staff_office_hours"
    } else {
        "staff_after_hours"
    }
}

/// The id of the first rule of config/rules whose `click` list holds `key`, and whether it
/// needs a bound card.
fn click_rule(key: &str) -> (String, bool) {
    let mut paths: Vec<_> = std::fs::read_dir("config/rules")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let file: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let rules = file.get("rule").and_then(toml::Value::as_array);
        for rule in rules.into_iter().flatten() {
            let clicks = rule.get("click").and_then(toml::Value::as_array);
            if clicks
                .into_iter()
                .flatten()
                .any(|k| k.as_str() == Some(key))
            {
                let id = rule["id"].as_str().unwrap().to_owned();
                let bound = rule.get("requires_binding").and_then(toml::Value::as_bool);
                return (id, bound == Some(true));
            }
        }
    }
    panic!("no rule answers menu key {key}");
}

#[tokio::test]
async fn doctor_passes_a_correct_callback_and_explains_a_wrong_token() {
    let app = spawn_app();
    let url = format!("{}/wechat", app.base);
    let port = url.split(':').nth(2).unwrap().trim_end_matches("/wechat");
    let mut settings = demo_settings(&Overrides::default());
    // What every run says first: the test's port is not one WeChat calls.
    let opening = format!(
        "checking {url} as WeChat would (app_id {APP_ID})\n  warn  port {port}: WeChat only calls ports 80 and 443; put a proxy in front\n  ok    messages must be addressed to {ORIGINAL_ID}\n"
    );

    let report = onecard::doctor::diagnose(&url, &settings.wechat).await;
    let text = report.lines.join("\n");
    assert!(report.ok, "{text}");
    let passed = "  ok    URL verification: echostr echoed exactly\n  ok    forged signatures are refused\n  ok    signed safe-mode message accepted in ";
    let [_ms] = whole_match(
        &format!(
            r"{}(\d+){}",
            regex::escape(&format!("{opening}{passed}")),
            regex::escape(" ms, reply decrypted and verified")
        ),
        &text,
    );

    settings.wechat.token = "wrongtoken".into();
    let report = onecard::doctor::diagnose(&url, &settings.wechat).await;
    assert!(!report.ok);
    assert_eq!(
        report.lines.join("\n"),
        format!(
            "{opening}  FAIL  URL verification refused (403 \"bad signature\"): the Token configured on the server differs from this one, or the server's clock is off\n  ok    forged signatures are refused\n  FAIL  signed message refused: HTTP 403 \"bad msg_signature\" — Token or EncodingAESKey differs between WeChat and the server"
        )
    );
}

#[tokio::test]
async fn metrics_cover_what_operators_watch() {
    let Some(app) = spawn_app_alone(TestOptions::default()) else {
        return;
    };
    let replied = r#"onecard_callback_requests_total{kind="text",outcome="replied"}"#;
    let timed = "onecard_callback_duration_seconds_count";
    let help_hits = r#"onecard_rules_hits_total{rule="help"}"#;
    let dedup_hits = "onecard_callback_dedup_hits_total";
    let mut before = Vec::new();
    for series in [replied, timed, help_hits, dedup_hits] {
        before.push(app.metric(series).await);
    }
    let user = openid("metrics");
    app.say(&user, "帮助").await;
    // 「你好」, then WeChat's retry of the very same message: answered again from the
    // remembered reply (a hit), not run again.
    let msg = app.wx.text_message(&user, "你好");
    app.wx.send(&msg).await.unwrap();
    app.wx.deliver(&msg).await.unwrap();
    let mut counted = Vec::new();
    for (series, before) in [replied, timed, help_hits, dedup_hits]
        .into_iter()
        .zip(before)
    {
        counted.push((series, app.metric(series).await - before));
    }
    assert_eq!(
        counted,
        vec![
            (replied, 3.0),
            (timed, 3.0),
            (help_hits, 1.0),
            (dedup_hits, 1.0),
        ]
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_dialog_in_progress_answers_without_a_hit_for_the_rule_it_took_the_message_from() {
    let app = spawn_app_with(default_rule_renamed("fallback_in_dialog"));
    let hits = r#"onecard_rules_hits_total{rule="fallback_in_dialog"}"#;
    let user = openid("hits-in-dialog");
    let unmatched = "今天食堂吃什么";
    assert_eq!(
        app.say(&user, "绑定").await,
        message("bind.ask_student_id", serde_json::json!({}))
    );
    // Only the default rule matches it, but the bind dialog answers it (as a student ID).
    assert_eq!(
        app.say(&user, unmatched).await,
        message("bind.bad_student_id", serde_json::json!({}))
    );
    assert_eq!(
        app.say(&user, "取消").await,
        configured_message("dialog.cancelled")
    );
    // Outside the dialog the default rule answers the same text: that is its one hit.
    assert_eq!(
        app.say(&user, unmatched).await,
        configured_reply("fallback")
    );
    assert_eq!(app.metric(hits).await, 1.0);
}
