//! Names and labels inside replies (a card's state, a weekday, a period) come from the message
//! tables (config/rules/campus_messages.toml), exactly as a student reads them.

use chrono::{Datelike, Duration, Utc};

use crate::helpers::*;

/// config/demo.toml's campus offset (`server.utc_offset_hours`).
const CAMPUS_OFFSET_HOURS: i64 = 8;

const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

fn status_line(reply: &str) -> &str {
    reply
        .lines()
        .find(|l| l.starts_with("状态："))
        .unwrap_or_else(|| panic!("no status line in {reply:?}"))
}

#[tokio::test]
async fn card_info_names_the_card_state_before_and_after_reporting_it_lost() {
    let app = spawn_app();
    let user = openid("labels");
    app.bind(&user, "2024000001").await;
    assert_eq!(app.sim_account("2024000001").await["status"], "normal");
    assert_eq!(status_line(&app.say(&user, "卡片信息").await), "状态：正常");
    app.say(&user, "挂失").await;
    app.say(&user, "确认").await;
    assert_eq!(app.sim_account("2024000001").await["status"], "lost");
    assert_eq!(
        status_line(&app.say(&user, "卡片信息").await),
        "状态：已挂失"
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
    // Either "… 的课程（N 节）：" or "… 没有课程安排。", both headed by the day's label.
    assert!(reply.starts_with(&format!("{label} ")), "{reply}");
}

#[tokio::test]
async fn transactions_name_their_period() {
    let app = spawn_app();
    let user = openid("labels");
    app.bind(&user, "2024000001").await;
    let recent = app.say(&user, "流水").await;
    assert!(recent.starts_with("近30天共 "), "{recent}");
    let day = app.say(&user, "流水 2026-01-01").await;
    assert!(
        day.starts_with("01月01日共 ") || day == "01月01日没有交易记录。",
        "{day}"
    );
}
