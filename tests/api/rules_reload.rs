//! Operators edit rule files while the platform runs.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Datelike;
use onecard::actions::ActionRegistry;
use onecard::wire::{BillerCatalog, Locations, paths};
use serde_json::json;

use crate::helpers::*;
use crate::isolation::healthy;

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

/// `/healthz` while `file` holds [`CANTEEN_BROKEN`] and the table that was `live` serves.
fn degraded(live: &serde_json::Value, file: &Path) -> serde_json::Value {
    serde_json::json!({
        "status": "degraded",
        "rules": live["rules"],
        "rule_errors": [format!(
            "{}:4:1: unknown key `acton`: did you mean `action`?",
            file.display()
        )],
    })
}

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
    let live = healthy(&app);
    assert_eq!(healthz(&app).await, live);

    // An invalid edit: the old table keeps serving, and /healthz says why, in the operator's
    // words, with file:line:col.
    std::fs::write(&file, CANTEEN_BROKEN).unwrap();
    assert_eq!(
        wait_for_health(&app, "degraded").await,
        degraded(&live, &file)
    );
    let ex = app.wx.text(&openid("after"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂今天 7:00 开门");

    // Fixed: live again, healthy again.
    std::fs::write(&file, CANTEEN).unwrap();
    assert_eq!(wait_for_health(&app, "ok").await, healthy(&app));
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
    let live = healthy(&app);
    app.stop().await;

    // Broken while the service was down: it starts anyway, with the rules that last went live.
    std::fs::write(&file, CANTEEN_BROKEN).unwrap();
    let app = spawn_app_with(disk.options());
    let ex = app.wx.text(&openid("restart"), "食堂").await.unwrap();
    assert_eq!(text_of(&ex), "食堂营业时间：6:30-21:00");
    assert_eq!(healthz(&app).await, degraded(&live, &file));

    // Fixing the file ends the degraded state without another restart.
    std::fs::write(
        &file,
        "[[rule]]\nid = \"op.canteen\"\nexact = [\"食堂\"]\nreply = \"食堂修好了\"\n",
    )
    .unwrap();
    assert_eq!(wait_for_health(&app, "ok").await, healthy(&app));
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
    assert_eq!(healthz(&app).await, healthy(&app));
}

/// Where a word of a `[words]` list is answered: the list; a word no shipped list has (added
/// to the list before its first use); who speaks (one user each, so that no dialog or rate
/// limit of another use is in the way); what they say first to reach the step that reads the
/// list (each answer is checked by that dialog's tests); the message with the word in it; and
/// its answer.
type WordUse<'a> = (
    &'static str,
    &'static str,
    &'static str,
    &'a [&'a str],
    &'static str,
    Answer,
);

/// The exact answer to a [`WordUse`]'s message.
enum Answer {
    Whole(String),
    /// The message `key` whole with `fields`; the one placeholder left open (a wait in
    /// seconds, an order id) is whatever the reply holds there.
    Message(&'static str, serde_json::Value),
    /// Page one of the day's 「流水」 in the card simulator.
    DayTransactions(chrono::NaiveDate),
    /// 「课表」 for the day as the public data store lists it.
    Timetable(chrono::NaiveDate),
    /// 「课表 本周」 (0) or 「课表 下周」 (1) as the public data store lists it.
    Week(u32),
    /// A repair ticket filed without a photo, under whatever number it was given.
    TicketFiled,
    /// What the app answers the user's same question naming the month by number: that
    /// month's bill, never the refusal of a month it cannot read.
    SameBillAs(String),
}

/// Add each `(list, word)` to its `[words]` list in the app's rule files, in one edit as an
/// editor saves it (a temp file renamed over the old one), and return once the reload it
/// causes is live: `onecard_rules_reloads_total` has counted it (the app runs alone, so every
/// reload counted is its own). One reload for all the words: each waits out the watcher's
/// quiet time.
async fn add_words(app: &TestApp, words: &[(&str, &str)]) {
    let file = app.rules_dir.join("_messages.toml");
    let mut edited = std::fs::read_to_string(&file).unwrap();
    for (list, word) in words {
        let before = edited.clone();
        edited = before.replacen(
            &format!("\n{list} = ["),
            &format!("\n{list} = [\"{word}\", "),
            1,
        );
        assert_ne!(edited, before, "_messages.toml has the list `{list}`");
    }
    let reloads = app.metric("onecard_rules_reloads_total").await;
    let tmp = app.rules_dir.join("._messages.toml.swp");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let start = Instant::now();
    while app.metric("onecard_rules_reloads_total").await == reloads {
        assert!(
            start.elapsed() < DEADLINE,
            "adding {words:?} never went live"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What 「确认」 to a 12 元 donation answers: the order taken, named as the billers' catalog
/// names donations (its id is left open).
async fn donation_accepted(app: &TestApp) -> Answer {
    let catalog: BillerCatalog = app
        .upstream_read("/sim/billers", paths::BILLERS_CATALOG, json!({}))
        .await;
    let donation = catalog.items.iter().find(|b| b.biller_id == "donation");
    let item = &donation.expect("the billers take donations").name;
    Answer::Message(
        "pay.accepted",
        json!({ "item": item, "amount_yuan": "12.00" }),
    )
}

/// The quote of a 12 元 donation to the billers' first project, without a message, paid from
/// the card of `sno`.
async fn quiet_donation_quote(app: &TestApp, sno: &str) -> String {
    let projects: Locations = app
        .upstream_read(
            "/sim/billers",
            paths::BILLERS_LOCATIONS,
            json!({ "biller_id": "donation", "level": "project" }),
        )
        .await;
    let balance = app.sim_account(sno).await["balance_fen"].as_i64().unwrap();
    let yuan = |fen: i64| onecard::domain::Fen(fen).yuan();
    message_rendered(
        "pay.donation.quote",
        json!({
            "project": projects.items[0].name,
            "amount_yuan": "12.00",
            "has_message": false,
            "message": "",
            "card_no_masked": app.masked_card(sno).await,
            "balance_yuan": yuan(balance),
            "balance_after_yuan": yuan(balance - 1200),
        }),
    )
}

/// Every `[words]` list but `cancel` (its own test is above) is read from the rule files by
/// the actions that declare it: a word an operator adds to the list is answered as the
/// shipped words are, once the edit is live.
#[tokio::test]
async fn a_word_an_operator_adds_to_any_list_is_answered_by_the_dialogs_that_read_it() {
    let Some(app) = spawn_app_alone(TestOptions {
        settings: crate::payments::with_billers,
        ..TestOptions::default()
    }) else {
        return;
    };
    let today = crate::queries::campus_today();
    let date = |days: i64| today + chrono::Duration::days(days);
    let last_month = today.with_day(1).unwrap() - chrono::Duration::days(1);
    let bill_of = |d: chrono::NaiveDate| format!("账单 {}", d.format("%Y-%m"));
    let (zhang, student) = ("2024000001", "2025000005");
    // Cards that can bind and pay a 12 元 donation.
    let others: Vec<String> = app
        .sim_accounts(100)
        .await
        .iter()
        .filter(|a| can_bind(a) && a["id"] != zhang && a["id"] != student)
        .filter(|a| a["balance_fen"].as_i64() >= Some(1200))
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        others.len() >= 8,
        "8 demo cards besides zhang's and the student's that can bind and pay 12 元, among the first 100: {} found",
        others.len()
    );
    // Who binds which card first (a newcomer never binds; the reporter needs no binding).
    let people: HashMap<&str, Option<&str>> = HashMap::from([
        ("zhang", Some(zhang)),
        ("loser", Some(others[0].as_str())),
        ("newcomer", None),
        ("verifier", Some(others[2].as_str())),
        ("alerted", Some(others[3].as_str())),
        ("reporter", None),
        ("spender", Some(others[4].as_str())),
        ("student", Some(student)),
        ("budgeter", Some(others[5].as_str())),
        ("donor", Some(others[6].as_str())),
        ("quietdonor", Some(others[7].as_str())),
    ]);
    let newcomers_card = others[1].as_str();
    let card = json!({ "card_no_masked": app.masked_card(&others[0]).await });
    let donated = donation_accepted(&app).await;
    let quote = quiet_donation_quote(&app, &others[7]).await;
    let donate: &[&str] = &["捐赠", "1", "12"];
    let donate_quietly: &[&str] = &["捐赠", "1", "12", "无"];
    let spent_on = |days: i64| Answer::DayTransactions(date(days));
    let lessons_on = |days: i64| Answer::Timetable(date(days));
    #[rustfmt::skip]
    let uses: [WordUse; 21] = [
        // 充值 needs a bank card: 张三 has one.
        ("confirm", "没问题", "zhang", &["充值 50"], "没问题", Answer::Message("topup.accepted", json!({ "amount_yuan": "50.00" }))),
        ("confirm", "没问题", "loser", &["挂失"], "没问题", Answer::Whole(message("loss.done", card.clone()))),
        ("confirm", "没问题", "loser", &["解绑"], "没问题", Answer::Whole(message("unbind.done", card))),
        ("confirm", "没问题", "donor", donate_quietly, "没问题", donated),
        ("resend", "再来一条", "newcomer", &["绑定", newcomers_card], "再来一条", Answer::Message("bind.too_soon", json!({}))),
        ("resend", "再来一条", "verifier", &["绑定手机 13912345678"], "再来一条", Answer::Message("phone.too_soon", json!({}))),
        ("done", "设置好了", "alerted", &["提醒设置"], "设置好了", Answer::Whole(configured_message("alert.settings_done"))),
        ("skip", "免了", "reporter", &["报修", "2", "一食堂二楼 3 号窗口", "刷卡没有反应"], "免了", Answer::TicketFiled),
        ("skip", "免了", "quietdonor", donate, "免了", Answer::Whole(quote)),
        ("today", "今儿", "spender", &[], "流水 今儿", spent_on(0)),
        ("today", "今儿", "student", &[], "课表 今儿", lessons_on(0)),
        ("yesterday", "昨儿", "spender", &[], "流水 昨儿", spent_on(-1)),
        ("yesterday", "昨儿", "student", &[], "课表 昨儿", lessons_on(-1)),
        ("day_before_yesterday", "前儿", "spender", &[], "流水 前儿", spent_on(-2)),
        ("day_before_yesterday", "前儿", "student", &[], "课表 前儿", lessons_on(-2)),
        ("tomorrow", "明儿", "student", &[], "课表 明儿", lessons_on(1)),
        ("tomorrow", "明儿", "spender", &[], "流水 明儿", spent_on(1)),
        ("this_week", "这礼拜", "student", &[], "课表 这礼拜", Answer::Week(0)),
        ("next_week", "下礼拜", "student", &[], "课表 下礼拜", Answer::Week(1)),
        ("this_month", "当月", "budgeter", &[], "账单 当月", Answer::SameBillAs(bill_of(today))),
        ("last_month", "上一个月", "budgeter", &[], "账单 上一个月", Answer::SameBillAs(bill_of(last_month))),
    ];

    // None of the words means anything in the shipped lists.
    let shipped = onecard::rules::load_dir(&app.rules_dir, &ActionRegistry::builtin()).unwrap();
    for (list, word, ..) in &uses {
        assert!(!shipped.is_word(list, word), "`{list}` has {word}");
    }

    let mut lists = HashSet::new();
    let words: Vec<(&str, &str)> = uses
        .iter()
        .filter(|(list, ..)| lists.insert(*list))
        .map(|(list, word, ..)| (*list, *word))
        .collect();
    add_words(&app, &words).await;

    let mut users: HashMap<&str, String> = HashMap::new();
    for (list, _, who, opening, say, answer) in &uses {
        if !users.contains_key(who) {
            let user = openid(who);
            if let Some(sno) = people[who] {
                app.bind(&user, sno).await;
            }
            users.insert(*who, user);
        }
        let user = &users[who];
        for text in *opening {
            app.say(user, text).await;
        }
        let reply = app.say(user, say).await;
        let sno = people[who].unwrap_or_default();
        let context = format!("`{list}`: 「{say}」");
        match answer {
            Answer::Whole(text) => assert_eq!(&reply, text, "{context}"),
            Answer::Message(key, fields) => {
                let [_open] = message_match(key, fields.clone(), &reply);
            }
            Answer::DayTransactions(day) => {
                crate::queries::assert_day_transactions(&app, sno, *day, &reply).await
            }
            Answer::Timetable(day) => assert_eq!(
                reply,
                crate::queries::day_timetable(&app, sno, *day).await,
                "{context}"
            ),
            Answer::Week(ahead) => assert_eq!(
                reply,
                crate::queries::week_timetable(&app, sno, *ahead).await,
                "{context}"
            ),
            Answer::TicketFiled => {
                let ticket_no = crate::tickets::ticket_no_in(&reply);
                let filed = json!({ "ticket_no": ticket_no, "photo": false });
                assert_eq!(reply, message_rendered("repair.done", filed), "{context}");
            }
            Answer::SameBillAs(by_number) => {
                let bill = app.say(user, by_number).await;
                assert_ne!(bill, configured_message("bill.bad_month"), "{by_number}");
                assert_eq!(reply, bill, "{context}");
            }
        }
    }
}
