//! Names and labels inside replies (a card's state, a weekday, a period) come from the message
//! tables (config/rules/campus_messages.toml), exactly as a student reads them.

use chrono::{Datelike, Duration, Utc};

use serde_json::json;

use crate::helpers::*;
use crate::queries::{
    assert_day_transactions, card_info_reply, day_timetable, recent_transactions_reply,
};

/// config/demo.toml's campus offset (`server.utc_offset_hours`).
const CAMPUS_OFFSET_HOURS: i64 = 8;

const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

#[tokio::test]
async fn card_info_names_the_card_state_before_and_after_reporting_it_lost() {
    let app = spawn_app();
    let user = openid("labels");
    app.bind(&user, "2024000001").await;
    assert_eq!(app.sim_account("2024000001").await["status"], "normal");
    // The whole answer as the card system lists the card, with the state's name.
    assert_eq!(
        app.say(&user, "卡片信息").await,
        card_info_reply(&app, "2024000001", "正常").await
    );
    app.say(&user, "挂失").await;
    app.say(&user, "确认").await;
    assert_eq!(app.sim_account("2024000001").await["status"], "lost");
    assert_eq!(
        app.say(&user, "卡片信息").await,
        card_info_reply(&app, "2024000001", "已挂失").await
    );
}

#[tokio::test]
async fn timetable_for_tomorrow_is_headed_by_the_date_and_weekday() {
    let app = spawn_app();
    let user = openid("labels");
    app.bind(&user, "2025000005").await;
    let tomorrow =
        (Utc::now() + Duration::hours(CAMPUS_OFFSET_HOURS)).date_naive() + Duration::days(1);
    let label = format!(
        "{}（{}）",
        tomorrow.format("%m月%d日"),
        WEEKDAYS[tomorrow.weekday().num_days_from_monday() as usize]
    );
    let reply = app.say(&user, "课表 明天").await;
    // The whole day as the public data store lists it, headed by the day's label (either
    // "… 的课程（N 节）：" or "… 没有课程安排。").
    assert_eq!(reply, day_timetable(&app, "2025000005", tomorrow).await);
    assert_eq!(
        reply.split_once(' ').map(|(head, _)| head),
        Some(label.as_str()),
        "{reply}"
    );
}

#[tokio::test]
async fn transactions_name_their_period() {
    let app = spawn_app();
    let user = openid("labels");
    app.bind(&user, "2024000001").await;
    // 「流水」 is the last 30 days, page one, as the card simulator lists them.
    let recent = app.say(&user, "流水").await;
    assert_eq!(
        recent,
        recent_transactions_reply(&app, "2024000001", 1).await
    );
    let day = app.say(&user, "流水 2026-01-01").await;
    let period = message(
        "transactions.period.day",
        json!({ "month": "01", "day": "01" }),
    );
    assert_eq!(period, "01月01日");
    let new_year = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_day_transactions(&app, "2024000001", new_year, &day).await;
}
