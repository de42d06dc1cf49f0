//! Every query answered from the simulators' actual data, and faults answered clearly.

use std::time::Duration;

use chrono::Datelike;
use onecard::store::orders::ManualClock;
use onecard::wire::{
    CardInfo, Grades, Lesson, Loans, Locker, Meetings, SignInStatus, Timetable, paths,
};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn balance_includes_the_pending_load() {
    let app = spawn_app();
    let user = openid("pending");
    app.bind(&user, "2024000002").await;
    assert!(
        app.sim_account("2024000002").await["pending_fen"]
            .as_i64()
            .unwrap()
            > 0,
        "李四 has a load waiting to be claimed"
    );
    let reply = app.say(&user, "余额").await;
    app.assert_balance_reply("2024000002", &reply).await;
}

#[tokio::test]
async fn transactions_are_paged_with_more() {
    let app = spawn_app();
    let user = openid("tx");
    app.bind(&user, "2024000001").await;
    let first = app.say(&user, "流水").await;
    // The recent days, as many as the reply names, counted in the card simulator.
    let days: i64 = whole_match::<1>(r"近(\d+)天共[\s\S]*", &first)[0]
        .parse()
        .unwrap();
    let today = campus_today();
    let recent = message("transactions.period.recent", json!({ "days": days }));
    let total = sim_transactions(
        &app,
        "2024000001",
        today - chrono::Duration::days(days),
        today,
    )
    .await;
    assert!(total > page_size(), "two pages at least: {total}");
    assert_transactions_page(&first, &recent, total, 1);
    let second = app.say(&user, "更多").await;
    assert_transactions_page(&second, &recent, total, 2);
    let day = app.say(&user, "流水 2026-01-01").await;
    let new_year = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_day_transactions(&app, "2024000001", new_year, &day).await;
    assert_eq!(
        app.say(&user, "流水 哪天").await,
        message("transactions.bad_day", json!({}))
    );
}

/// Transactions per page (`services.page_size` of config/demo.toml).
fn page_size() -> u64 {
    demo_settings(&Overrides::default())
        .services
        .page_size
        .into()
}

/// How many transactions the card simulator holds for `sno` from `from` to `to` (campus days).
pub(crate) async fn sim_transactions(
    app: &TestApp,
    sno: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> u64 {
    let list: Vec<serde_json::Value> = app
        .get(&format!(
            "/sim/card/accounts/{sno}/transactions?from={from}&to={to}"
        ))
        .await
        .json()
        .await
        .unwrap();
    list.len() as u64
}

/// Check that `reply` is page `page` of the `total` transactions of `period`: the header, one
/// line per transaction on the page (`MM-DD HH:MM 地点 ±金额 元，余额 …`) and 「更多」 while
/// pages are left.
pub(crate) fn assert_transactions_page(reply: &str, period: &str, total: u64, page: u64) {
    let size = page_size();
    let pages = total.div_ceil(size).max(1);
    let lines = size.min(total - (page - 1) * size) as usize;
    let line = r"\d\d-\d\d \d\d:\d\d [^\n]+ [+-]\d+\.\d\d 元，余额 -?\d+\.\d\d";
    let mut pattern = regex::escape(&format!(
        "{period}共 {total} 笔交易（第 {page}/{pages} 页）：\n"
    ));
    pattern += &vec![line; lines].join("\n");
    if page < pages {
        pattern += "\n回复「更多」查看下一页。";
    }
    whole_match::<0>(&pattern, reply);
}

/// Check that `reply` is the whole answer to 「流水」 for one `day` of `sno`: page one of the
/// day's transactions as the card simulator lists them, or the message that it has none.
pub(crate) async fn assert_day_transactions(
    app: &TestApp,
    sno: &str,
    day: chrono::NaiveDate,
    reply: &str,
) {
    let period = message(
        "transactions.period.day",
        json!({ "month": day.format("%m").to_string(), "day": day.format("%d").to_string() }),
    );
    match sim_transactions(app, sno, day, day).await {
        0 => assert_eq!(
            reply,
            message("transactions.empty", json!({ "period": period }))
        ),
        total => assert_transactions_page(reply, &period, total, 1),
    }
}

/// The 「更多」 cursor is part of the user's session record, so a restart between a page and
/// 「更多」 continues the same list.
#[tokio::test]
async fn more_after_a_restart_shows_the_next_page() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    copy_dir(std::path::Path::new("config/rules"), &rules);
    let opts = || TestOptions {
        data_dir: Some(tmp.path().join("data")),
        rules_dir: Some(rules.clone()),
        ..TestOptions::default()
    };
    let user = openid("more_restart");
    let sno = "2024000001";

    let app = spawn_app_with(opts());
    app.bind(&user, sno).await;
    let first = app.say(&user, "流水").await;
    assert_eq!(first, recent_transactions_reply(&app, sno, 1).await);
    app.stop().await;

    let app = spawn_app_with(opts());
    let second = app.say(&user, "更多").await;
    assert_eq!(second, recent_transactions_reply(&app, sno, 2).await);
    app.stop().await;
}

/// A topic typed with capitals is answered as typed: rules match on the lower-cased text, but
/// what a rule captures comes from the user's own words.
#[tokio::test]
async fn a_guide_topic_typed_with_capitals_is_quoted_as_typed() {
    let app = spawn_app();
    let user = openid("guide_case");
    assert_eq!(
        app.say(&user, "指南 WiFi").await,
        "没有找到与「WiFi」相关的指南。回复「指南」查看全部主题，或回复「人工客服」联系工作人员。"
    );
    // Full-width letters are still folded to ASCII, capitals kept.
    assert_eq!(
        app.say(&user, "指南　ＶＰＮ").await,
        "没有找到与「VPN」相关的指南。回复「指南」查看全部主题，或回复「人工客服」联系工作人员。"
    );
}

#[tokio::test]
async fn card_info_report_loss_and_lost_and_found() {
    let app = spawn_app();
    let user = openid("loss");
    app.bind(&user, "2024000001").await;
    assert_eq!(
        app.say(&user, "卡片信息").await,
        card_info_reply(
            &app,
            "2024000001",
            &configured_message("card.status.normal")
        )
        .await
    );
    assert_eq!(
        app.say(&user, "失卡").await,
        message("lost.not_lost", json!({}))
    );
    // Report loss needs an explicit confirmation.
    let card = json!({ "card_no_masked": app.masked_card("2024000001").await });
    assert_eq!(
        app.say(&user, "挂失").await,
        message("loss.confirm", card.clone())
    );
    assert_eq!(
        app.say(&user, "算了").await,
        message("loss.kept", json!({}))
    );
    assert_eq!(app.sim_account("2024000001").await["status"], "normal");
    app.say(&user, "挂失").await;
    let done = app.say(&user, "确认").await;
    assert_eq!(done, message("loss.done", card.clone()));
    assert_eq!(app.sim_account("2024000001").await["status"], "lost");
    assert_eq!(app.say(&user, "挂失").await, message("loss.already", card));
    assert_eq!(
        app.say(&user, "卡片信息").await,
        card_info_reply(&app, "2024000001", &configured_message("card.status.lost")).await
    );
}

/// 「卡片信息」's whole answer for `sno`: the holder, the card's number, type and dates as the
/// card system lists the card, and its state named `status`.
pub(crate) async fn card_info_reply(app: &TestApp, sno: &str, status: &str) -> String {
    let account = app.sim_account(sno).await;
    let info: CardInfo = app
        .upstream_read(
            "/sim/card",
            paths::CARD_INFO_GET,
            json!({ "account": account["account"] }),
        )
        .await;
    configured_reply_with(
        "card_info",
        json!({
            "name_masked": masked_name(account["name"].as_str().unwrap()),
            "card_no_masked": app.masked_card(sno).await,
            "card_type": info.card_type_name,
            "status": status,
            "issued": info.issue_date.to_string(),
            "expires": info.expire_date.to_string(),
        }),
    )
}

#[tokio::test]
async fn a_found_card_is_reported_with_where_to_collect_it() {
    let app = spawn_app();
    let user = openid("found");
    app.bind(&user, "2024000003").await;
    let reply = app.say(&user, "失卡").await;
    // Where and when are the card system's; the rest is the rule's reply, whole.
    let [_found_at, _place, _hours] =
        template_match(&configured_reply("find_lost_card"), json!({}), &reply);
}

#[tokio::test]
async fn public_information_queries() {
    let app = spawn_app();
    let user = openid("public");
    app.bind(&user, "2025000005").await;
    assert_eq!(
        app.say(&user, "借阅").await,
        loans_reply(&app, "2025000005").await
    );
    assert_eq!(
        app.say(&user, "成绩").await,
        grades_reply(&app, "2025000005").await
    );
    let timetable = app.say(&user, "课表 本周").await;
    assert_eq!(timetable, week_timetable(&app, "2025000005", 0).await);
    let tomorrow = app.say(&user, "课表 明天").await;
    let day = campus_today() + chrono::Duration::days(1);
    assert_eq!(tomorrow, day_timetable(&app, "2025000005", day).await);
    let staff = openid("staff");
    app.bind(&staff, "2008900001").await;
    // Staff have no transcript: the reply names no (blank) term.
    assert_eq!(
        app.say(&staff, "成绩").await,
        "暂未查到您的成绩，成绩录入后即可查询。"
    );
    let meetings = app.say(&staff, "会议").await;
    assert_eq!(meetings, meetings_reply(&app, "2008900001").await);
    assert_ne!(
        meetings, "您近期没有会议安排。",
        "the demo staff member has meetings"
    );
    let zhang = openid("locker");
    app.bind(&zhang, "2024000001").await;
    assert_eq!(
        app.say(&zhang, "存包柜").await,
        locker_reply(&app, "2024000001").await
    );
}

#[tokio::test]
async fn a_failing_upstream_gets_a_clear_reply_and_recovers() {
    const BUSY: &str = "系统繁忙，请稍后再试。";
    let clock = ManualClock::starting_at(0);
    let app = spawn_app_with(TestOptions {
        breaker_clock: Some(clock.clone()),
        ..TestOptions::default()
    });
    let user = openid("fault");
    app.bind(&user, "2024000001").await;
    app.set_faults("card", serde_json::json!({ "error_rate": 1.0 }))
        .await;
    assert_eq!(app.say(&user, "余额").await, BUSY);
    // Static rules and other upstreams are unaffected.
    assert_eq!(app.say(&user, "帮助").await, help_text());
    assert_eq!(
        app.say(&user, "借阅").await,
        loans_reply(&app, "2024000001").await
    );
    // Failures go on until the breaker opens (5 in a row; a read is tried 3 times).
    for _ in 0..2 {
        assert_eq!(app.say(&user, "余额").await, BUSY);
    }
    // The card system is well again, but the breaker is open: until its cool-down has passed
    // on its clock, it answers for the card system.
    app.set_faults("card", serde_json::json!({})).await;
    assert_eq!(app.say(&user, "余额").await, BUSY);
    // The cool-down (500 ms) passes: one probe goes through and closes the breaker. The
    // alerts poll may be that probe, and a balance asked meanwhile still finds it half-open.
    clock.advance(Duration::from_millis(500));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reply = app.say(&user, "余额").await;
        if reply != BUSY {
            app.assert_balance_reply("2024000001", &reply).await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the breaker never closed after its cool-down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_timing_out_upstream_is_answered_clearly() {
    // A client that gives up after 300 ms rather than the default 2 s: the same timeouts and
    // retries, in a second instead of six.
    let app = spawn_app_with_settings(|s| {
        if let Some(upstreams) = s.upstreams.as_mut() {
            upstreams.public_data.timeout_ms = 300;
        }
    });
    let user = openid("timeout");
    app.bind(&user, "2024000001").await;
    app.set_faults(
        "public_data",
        serde_json::json!({ "timeout_rate": 1.0, "hang_ms": 10000 }),
    )
    .await;
    let ex = app.wx.text(&user, "借阅").await.unwrap();
    // The read is retried; on a slow machine the answer may come after the budget: then it
    // is pushed.
    let reply = match ex.reply {
        Some(_) => text_of(&ex),
        None => app
            .wait_pushed(&user, 1, Duration::from_secs(15))
            .await
            .join(""),
    };
    // every try hangs for 10 s, longer than the client waits: a timeout, said as one
    assert_eq!(reply, "系统响应超时，请稍后再试。");
    // Nothing hangs: static replies are still instant.
    assert_eq!(app.say(&user, "帮助").await, help_text());
}

/// The slow-upstream push, end to end with the simulator's latency knob: the card system
/// answers after 1.5 s, the callback budget is 500 ms.
#[tokio::test]
async fn a_slow_card_system_is_answered_success_and_the_balance_pushed() {
    // The user binds under the usual budget: on a loaded machine the bind dialog alone can
    // take longer than 500 ms. The app then restarts with the short one.
    let disk = OnDisk::new();
    let user = openid("slowcard");
    let app = spawn_app_with(disk.options());
    app.bind(&user, "2024000001").await;
    app.stop().await;
    let app = spawn_app_with(TestOptions {
        budget_ms: 500,
        ..disk.options()
    });
    app.set_faults("card", serde_json::json!({ "latency_ms": 1500 }))
        .await;
    let ex = app.wx.text(&user, "余额").await.unwrap();
    assert_eq!(ex.body, "success");
    let pushed = app.wait_pushed(&user, 1, Duration::from_secs(5)).await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    app.assert_balance_reply("2024000001", &pushed[0]).await;
}

#[tokio::test]
async fn per_user_rate_limit_answers_politely() {
    let app = spawn_app_with_settings(|s| s.sessions.user_burst = 10);
    let user = openid("flood");
    let (help, slow_down) = (help_text(), message("rate.limited", json!({})));
    let mut replies = Vec::new();
    for _ in 0..15 {
        replies.push(app.say(&user, "帮助").await);
    }
    // The burst of 10 is answered; then the limit answers, politely, at least once.
    assert_eq!(replies[..10], vec![help.clone(); 10]);
    assert!(
        replies[10..].iter().all(|r| *r == help || *r == slow_down),
        "{replies:#?}"
    );
    assert!(replies.contains(&slow_down), "{replies:#?}");
    // Another user is not affected.
    assert_eq!(app.say(&openid("calm"), "帮助").await, help_text());
}

#[tokio::test]
async fn unmatched_messages_after_the_default_reply_still_get_a_pointer_to_help() {
    let app = spawn_app();
    let user = openid("lost-newcomer");
    let full = configured_reply("fallback");
    let hint = configured_message("default.hint");
    assert_eq!(app.say(&user, "今天食堂吃什么").await, full);
    // Inside the cooldown: never silence, a one-line hint instead of the full text again.
    assert_eq!(app.say(&user, "宿舍几点关门").await, hint);
    assert_eq!(app.say(&user, "明天下雨吗").await, hint);
    // Matched keywords are unaffected.
    assert_eq!(app.say(&user, "你好").await, configured_reply("greeting"));
}

/// 「借阅」 for `sno`: the loans the library lists, soonest due first, each overdue or due
/// within 3 days marked, as the rule file renders them.
async fn loans_reply(app: &TestApp, sno: &str) -> String {
    let loans: Loans = app
        .upstream_read(
            "/sim/data",
            paths::DATA_LIBRARY_LOANS,
            json!({ "sno": sno }),
        )
        .await;
    if loans.items.is_empty() {
        return message("library.none", json!({}));
    }
    let today = campus_today();
    let mut sorted = loans.items;
    sorted.sort_by_key(|l| l.due_at);
    let (mut overdue_count, mut due_soon_count) = (0, 0);
    let mut items = Vec::new();
    for l in &sorted {
        let due = l.due_at;
        let overdue = l.overdue_days > 0 || due < today;
        let due_soon = !overdue && due - today <= chrono::Duration::days(3);
        // The same fields the action gives the template, on purpose: here they are worked out
        // from the library's own list, so a wrong mark in the reply shows.
        overdue_count += usize::from(overdue);
        due_soon_count += usize::from(due_soon);
        items.push(json!({
            "title": l.title,
            "due_date": l.due_at,
            "overdue": overdue,
            "overdue_days": l.overdue_days,
            "due_soon": due_soon,
            "fine_yuan": l.fine_fen.yuan(),
        }));
    }
    configured_reply_with(
        "library_loans",
        json!({
            "count": items.len(),
            "overdue_count": overdue_count,
            "due_soon_count": due_soon_count,
            "fine_yuan": loans.total_fine_fen.yuan(),
            "items": items,
        }),
    )
}

/// 「成绩」 for `sno`: the latest term's grades the registry lists, with the credits and the
/// credit-weighted grade point average, as the rule file renders them.
async fn grades_reply(app: &TestApp, sno: &str) -> String {
    let grades: Grades = app
        .upstream_read("/sim/data", paths::DATA_GRADES_LIST, json!({ "sno": sno }))
        .await;
    let term = grades.terms.iter().max().unwrap().clone();
    let rows: Vec<_> = grades.items.iter().filter(|g| g.term == term).collect();
    let tenths = |t: u32| format!("{}.{}", t / 10, t % 10);
    let (weighted, graded): (u64, u64) = rows
        .iter()
        .filter_map(|g| Some((g.grade_point_hundredths? as u64, g.credit_tenths as u64)))
        .fold((0, 0), |(w, c), (gp, credit)| (w + gp * credit, c + credit));
    let items: Vec<_> = rows
        .iter()
        .map(|g| json!({ "course": g.course_name, "score": g.score, "credit": tenths(g.credit_tenths) }))
        .collect();
    configured_reply_with(
        "grades",
        json!({
            "term": term,
            "terms": grades.terms,
            "count": items.len(),
            "items": items,
            "gpa": format!("{:.2}", weighted as f64 / graded as f64 / 100.0),
            "credits": tenths(rows.iter().map(|g| g.credit_tenths).sum()),
        }),
    )
}

/// 「存包柜」 for `sno`: the locker the public data store assigns, as the rule file renders it.
async fn locker_reply(app: &TestApp, sno: &str) -> String {
    let locker: Locker = app
        .upstream_read("/sim/data", paths::DATA_LOCKER_GET, json!({ "sno": sno }))
        .await;
    assert!(locker.assigned, "{sno} has a locker in the demo data");
    configured_reply_with(
        "locker",
        json!({
            "count": 1,
            "items": [{
                "place": locker.location,
                "box_no": locker.locker_no,
                "since": locker.assigned_at,
                "until": locker.expires_at,
            }],
        }),
    )
}

/// The campus date today (UTC+8, as the demo settings say).
pub(crate) fn campus_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// Page `page` of 「流水」 (the last 30 days) for `sno`, from the card system's own list, as the
/// rule file renders it.
pub(crate) async fn recent_transactions_reply(app: &TestApp, sno: &str, page: u32) -> String {
    let today = campus_today();
    let account = app.sim_account(sno).await["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let page_size = onecard::settings::ServicesSettings::default().page_size;
    let list: onecard::wire::Page<onecard::wire::Transaction> = app
        .upstream_read(
            "/sim/card",
            paths::CARD_TRANSACTIONS_LIST,
            json!({
                "account": account,
                "from": (today - chrono::Duration::days(30)).format("%Y-%m-%d").to_string(),
                "to": today.format("%Y-%m-%d").to_string(),
                "page": page,
                "page_size": page_size,
            }),
        )
        .await;
    let pages = list.total.div_ceil(page_size as u64).max(1);
    let mut text = format!("近30天共 {} 笔交易（第 {page}/{pages} 页）：\n", list.total);
    for t in &list.items {
        let at = t.occurred_at + chrono::Duration::hours(8);
        let sign = match t.direction {
            onecard::wire::Direction::In => "+",
            onecard::wire::Direction::Out => "-",
        };
        let place = if t.merchant_name.is_empty() {
            &t.type_name
        } else {
            &t.merchant_name
        };
        text += &format!(
            "{} {place} {sign}{} 元，余额 {}\n",
            at.naive_utc().format("%m-%d %H:%M"),
            t.amount_fen.yuan(),
            t.balance_after_fen.yuan(),
        );
    }
    if (page as u64) < pages {
        text += "回复「更多」查看下一页。";
    }
    text.trim_end().to_owned()
}

/// 「会议」 for `sno`: the meetings the public data store lists from a week ago to 30 days
/// ahead, as the rule file renders them.
async fn meetings_reply(app: &TestApp, sno: &str) -> String {
    let today = campus_today();
    let from = (today - chrono::Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let to = (today + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let list: Meetings = app
        .upstream_read(
            "/sim/data",
            paths::DATA_MEETINGS_LIST,
            json!({ "sno": sno, "from": from, "to": to }),
        )
        .await;
    if list.items.is_empty() {
        return "您近期没有会议安排。".to_owned();
    }
    let mut text = format!("您近期有 {} 个会议：\n", list.items.len());
    for m in &list.items {
        let start = m.start + chrono::Duration::hours(8);
        let status = match m.status {
            SignInStatus::Signed => "已签到",
            SignInStatus::Late => "迟到签到",
            SignInStatus::Absent => "未签到",
            SignInStatus::Leave => "请假",
        };
        text += &format!(
            "{} {}（{}）{status}\n",
            start.naive_utc().format("%m-%d %H:%M"),
            m.name,
            m.room
        );
    }
    text.trim_end().to_owned()
}

async fn timetable_of(app: &TestApp, sno: &str, week: Option<u32>) -> Timetable {
    let mut query = json!({ "sno": sno });
    if let Some(week) = week {
        let current = Box::pin(timetable_of(app, sno, None)).await;
        query = json!({ "sno": sno, "term": current.term, "week": week });
    }
    app.upstream_read("/sim/data", paths::DATA_TIMETABLE_GET, query)
        .await
}

fn period(l: &Lesson) -> String {
    if l.start_section == l.end_section {
        l.start_section.to_string()
    } else {
        format!("{}-{}", l.start_section, l.end_section)
    }
}

const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

/// 「课表 本周」 (`weeks_ahead` 0) or 「课表 下周」 (1): that teaching week's lessons as the
/// public data store lists them.
pub(crate) async fn week_timetable(app: &TestApp, sno: &str, weeks_ahead: u32) -> String {
    let current = timetable_of(app, sno, None).await;
    let table = match weeks_ahead {
        0 => current,
        ahead => timetable_of(app, sno, Some(current.week_no + ahead)).await,
    };
    let mut lessons: Vec<&Lesson> = table.items.iter().collect();
    lessons.sort_by_key(|l| (l.weekday, l.start_section));
    let label = format!("第 {} 周", table.week_no);
    if lessons.is_empty() {
        return format!("{label} 没有课程安排。");
    }
    let mut text = format!("{label} 的课程（{} 节）：\n", lessons.len());
    for l in lessons {
        text += &format!(
            "{}第 {} 节 {}，{}，{}\n",
            WEEKDAYS[l.weekday as usize - 1],
            period(l),
            l.course_name,
            l.location,
            l.teacher
        );
    }
    text + "回复「课表 明天」「课表 本周」查看其他日期。"
}

/// 「课表」 for one `day` (「课表 明天」, 「课表 11-20」): that day's lessons in its teaching week,
/// counted from this one, as the public data store lists them.
pub(crate) async fn day_timetable(app: &TestApp, sno: &str, day: chrono::NaiveDate) -> String {
    let monday = |d: chrono::NaiveDate| {
        d - chrono::Duration::days(d.weekday().num_days_from_monday().into())
    };
    let weeks_ahead = (monday(day) - monday(campus_today())).num_weeks();
    let current = timetable_of(app, sno, None).await;
    let table = match weeks_ahead {
        0 => current,
        ahead => {
            let week_no = (i64::from(current.week_no) + ahead).max(1);
            timetable_of(app, sno, Some(week_no as u32)).await
        }
    };
    let weekday = day.weekday().number_from_monday() as u8;
    let mut lessons: Vec<&Lesson> = table
        .items
        .iter()
        .filter(|l| l.weekday == weekday)
        .collect();
    lessons.sort_by_key(|l| l.start_section);
    let label = format!(
        "{}（{}）",
        day.format("%m月%d日"),
        WEEKDAYS[weekday as usize - 1]
    );
    if lessons.is_empty() {
        return format!("{label} 没有课程安排。");
    }
    let mut text = format!("{label} 的课程（{} 节）：\n", lessons.len());
    for l in lessons {
        text += &format!(
            "第 {} 节 {}，{}，{}\n",
            period(l),
            l.course_name,
            l.location,
            l.teacher
        );
    }
    text + "回复「课表 明天」「课表 本周」查看其他日期。"
}
