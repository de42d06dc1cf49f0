//! 「账单」 and 「趣味账单」 over the real callback, the card simulator over loopback HTTP, and
//! the cohort job through the admin listener. Every expected number is computed here from the
//! card simulator's own transaction list (`GET /sim/card/accounts/{学工号}/transactions`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc};
use onecard::bills::{BillsSettings, CategoryRule};
use onecard::settings::Settings;
use onecard::wire::TxType;
use serde_json::Value;

use crate::helpers::{
    TestApp, TestOptions, can_bind, openid, page_text, spawn_app_alone, spawn_app_with_settings,
    whole_match,
};
use crate::money_helpers::yuan;

const COHORT_MIN: usize = 3;

/// The test's categories, in their configured order: name, merchant id prefixes, transaction
/// types, whether a visit is a meal. The settings are built from it and a test classifies
/// the simulator's transactions with it.
const CATEGORIES: [(&str, &[&str], &[TxType], bool); 4] = [
    ("食堂", &["M01"], &[], true),
    ("超市购物", &["M02"], &[], false),
    ("洗浴热水", &["M03"], &[], false),
    ("生活缴费", &[], &[TxType::BillPay, TxType::Fee], false),
];

fn with_bills(s: &mut Settings) {
    s.bills = BillsSettings {
        categories: CATEGORIES
            .iter()
            .map(|(name, prefixes, types, meals)| CategoryRule {
                name: (*name).into(),
                merchant_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
                types: types.to_vec(),
                meals: *meals,
            })
            .collect(),
        terms: Vec::new(),
        cohort_min: COHORT_MIN,
        ..BillsSettings::default()
    };
}

fn app() -> TestApp {
    spawn_app_with_settings(with_bills)
}

/// The first of [`CATEGORIES`] a spending transaction falls in (None = 其他): one of its
/// types, or a merchant id starting with one of its prefixes.
fn category_of(t: &Value) -> Option<&'static str> {
    let merchant = t["merchant_id"].as_str().unwrap();
    let ty: TxType = serde_json::from_value(t["type"].clone()).unwrap();
    CATEGORIES
        .iter()
        .find(|(_, prefixes, types, _)| {
            types.contains(&ty) || prefixes.iter().any(|p| merchant.starts_with(p))
        })
        .map(|(name, ..)| *name)
}

/// Whether a spending transaction is a meal (its category's meals are counted).
fn is_meal(t: &Value) -> bool {
    CATEGORIES
        .iter()
        .any(|(name, .., meals)| *meals && category_of(t) == Some(*name))
}

/// The money spent in each category, in the configured order, then 其他; only those with
/// spending.
fn by_category(spending: &[&Value]) -> Vec<(&'static str, i64)> {
    let names = CATEGORIES.iter().map(|(name, ..)| Some(*name));
    names
        .chain([None])
        .filter_map(|name| {
            let of: Vec<i64> = spending
                .iter()
                .filter(|t| category_of(t) == name)
                .map(|t| fen(t))
                .collect();
            (!of.is_empty()).then(|| (name.unwrap_or("其他"), of.iter().sum()))
        })
        .collect()
}

/// The fun bill's reply split after its 「完整账单：」 label: the text, then the page's link.
/// A reply without it (say, the 「success」 of an answer that missed the callback budget) is
/// shown whole in the failure.
fn split_at_link(reply: &str) -> (&str, &str) {
    let label = "完整账单：";
    match reply.find(label) {
        Some(at) => reply.split_at(at + label.len()),
        None => panic!("the fun bill's reply has no {label} link: {reply:?}"),
    }
}

fn campus() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

fn today() -> NaiveDate {
    Utc::now().with_timezone(&campus()).date_naive()
}

fn local(t: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(t["occurred_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&campus())
}

fn out(t: &Value) -> bool {
    t["direction"] == "out"
}

fn fen(t: &Value) -> i64 {
    t["amount_fen"].as_i64().unwrap()
}

impl TestApp {
    async fn sim_transactions(&self, sno: &str, from: NaiveDate, to: NaiveDate) -> Vec<Value> {
        let r = self
            .get(&format!(
                "/sim/card/accounts/{sno}/transactions?from={from}&to={to}"
            ))
            .await;
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }

    /// Students (with a phone, so they can bind) of the college with the most of them.
    async fn classmates(&self, n: usize) -> Vec<String> {
        let all = self.sim_accounts(300).await;
        let mut by_dept: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in &all {
            if a["kind"] == "本科" && can_bind(a) {
                by_dept
                    .entry(a["dept"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(a["id"].as_str().unwrap().to_owned());
            }
        }
        let (_, people) = by_dept
            .into_iter()
            .max_by_key(|(_, p)| p.len())
            .expect("students in the simulator");
        assert!(people.len() >= n, "a college with {n} students");
        people.into_iter().take(n).collect()
    }
}

#[actix_web::test]
async fn last_months_bill_adds_up_by_category_against_the_month_before() {
    let app = app();
    let sno = app.classmates(1).await.remove(0);
    let user = openid("bill");
    app.bind(&user, &sno).await;

    let this = today();
    let first_of_this = this.with_day(1).unwrap();
    let last_month_end = first_of_this.pred_opt().unwrap();
    let last_month_start = last_month_end.with_day(1).unwrap();
    let before_end = last_month_start.pred_opt().unwrap();
    let before_start = before_end.with_day(1).unwrap();
    let month = app
        .sim_transactions(&sno, last_month_start, last_month_end)
        .await;
    let before = app.sim_transactions(&sno, before_start, before_end).await;

    let spent: i64 = month.iter().filter(|t| out(t)).map(fen).sum();
    let count = month.iter().filter(|t| out(t)).count();
    let topped_up: i64 = month
        .iter()
        .filter(|t| {
            !out(t)
                && matches!(
                    t["type"].as_str().unwrap(),
                    "LOAD_BANK" | "LOAD_CASH" | "LOAD_ONLINE" | "CLAIM"
                )
        })
        .map(fen)
        .sum();
    let other_in: i64 = month.iter().filter(|t| !out(t)).map(fen).sum::<i64>() - topped_up;
    let before_spent: i64 = before.iter().filter(|t| out(t)).map(fen).sum();
    assert!(count > 0, "a month of campus life has spending");

    let mut lines = vec![
        format!(
            "{}年{}月账单",
            last_month_start.year(),
            last_month_start.month()
        ),
        format!("支出 {} 元，共 {count} 笔", yuan(spent)),
    ];
    let spending: Vec<&Value> = month.iter().filter(|t| out(t)).collect();
    for (name, sum) in by_category(&spending) {
        lines.push(format!(
            "· {name} {} 元（{}%）",
            yuan(sum),
            sum * 100 / spent
        ));
    }
    let mut income = format!("充值 {} 元", yuan(topped_up));
    if other_in != 0 {
        income.push_str(&format!("，补助及退款 {} 元", yuan(other_in)));
    }
    lines.push(income);
    let pm = before_start.month();
    let change = spent - before_spent;
    let comparison = if change > 0 {
        format!("比{pm}月多花了 {} 元", yuan(change))
    } else if change < 0 {
        format!("比{pm}月少花了 {} 元", yuan(-change))
    } else {
        format!("和{pm}月花得一样多")
    };
    lines.push(format!(
        "{comparison}（{pm}月支出 {} 元）。",
        yuan(before_spent)
    ));
    lines.push("回复「账单 上月」看上个月，「趣味账单」看本学期。".into());

    assert_eq!(app.say(&user, "账单 上月").await, lines.join("\n"));
    assert_eq!(
        app.say(&user, "账单 13月").await,
        "没看懂要查哪个月，可以回复「账单」「账单 上月」或「账单 10月」。"
    );
    app.stop().await;
}

/// The fun bill's highlights, computed the plain way from the simulator's list.
struct Expected {
    spent: i64,
    days: usize,
    meals: usize,
    /// The canteen visited most: its name, the visits, the money spent there.
    favourite: (String, usize, i64),
    breakfast: (NaiveDate, String, String),
    biggest: (NaiveDate, String, i64),
    top_month: (u32, i64),
    by_category: Vec<(&'static str, i64)>,
}

fn expected(txs: &[Value], from: NaiveDate, to: NaiveDate) -> Expected {
    let spending: Vec<&Value> = txs
        .iter()
        .filter(|t| out(t) && (from..=to).contains(&local(t).date_naive()))
        .collect();
    let meals: Vec<&Value> = spending.iter().copied().filter(|t| is_meal(t)).collect();
    let mut visits: HashMap<String, (usize, i64)> = HashMap::new();
    for m in &meals {
        let place = visits
            .entry(m["merchant_name"].as_str().unwrap().to_owned())
            .or_default();
        place.0 += 1;
        place.1 += fen(m);
    }
    let (place, (visits, spent_there)) = visits
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(&a.0)))
        .unwrap();
    let five = NaiveTime::from_hms_opt(5, 0, 0).unwrap();
    let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap();
    let breakfast = meals
        .iter()
        .filter(|m| (five..ten).contains(&local(m).time()))
        .min_by_key(|m| (local(m).time(), local(m).date_naive()))
        .unwrap();
    let biggest = meals
        .iter()
        .max_by(|a, b| {
            fen(a)
                .cmp(&fen(b))
                .then(local(b).date_naive().cmp(&local(a).date_naive()))
        })
        .unwrap();
    let mut by_month: BTreeMap<u32, i64> = BTreeMap::new();
    for t in &spending {
        *by_month.entry(local(t).month()).or_default() += fen(t);
    }
    let top_month = by_month
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .unwrap();
    Expected {
        spent: spending.iter().map(|t| fen(t)).sum(),
        days: spending
            .iter()
            .map(|t| local(t).date_naive())
            .collect::<HashSet<_>>()
            .len(),
        meals: meals.len(),
        favourite: (place, visits, spent_there),
        breakfast: (
            local(breakfast).date_naive(),
            local(breakfast).format("%H:%M").to_string(),
            breakfast["merchant_name"].as_str().unwrap().to_owned(),
        ),
        biggest: (
            local(biggest).date_naive(),
            biggest["merchant_name"].as_str().unwrap().to_owned(),
            fen(biggest),
        ),
        top_month,
        by_category: by_category(&spending),
    }
}

#[actix_web::test]
async fn the_fun_bill_ranks_a_student_in_their_college_and_links_to_its_page() {
    let app = spawn_app_with_settings(|s| {
        with_bills(s);
        // The job's pace has a test of its own (below): here the refresh reads three people's
        // years in a moment rather than at half the demo's card rate.
        if let Some(upstreams) = s.upstreams.as_mut() {
            upstreams.card.rate_per_sec = 1000;
        }
    });
    let people = app.classmates(COHORT_MIN).await;
    let users: Vec<String> = people.iter().map(|_| openid("fun")).collect();
    for (user, sno) in users.iter().zip(&people) {
        app.bind(user, sno).await;
    }
    let to = today();
    let from = NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap();

    // Before the cohort job has run there is no rank; the rest is there.
    let me = &people[0];
    let mine = app.sim_transactions(me, from, to).await;
    let e = expected(&mine, from, to);
    let dept = app.sim_account(me).await["dept"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = |rank: Option<String>| {
        let mut s = format!(
            "{}年趣味账单（1月1日—{}月{}日）\n一共消费 {} 元，{} 天有消费，在食堂吃了 {} 顿饭。\n最爱的食堂：{}，去了 {} 次。\n最早的早餐：{}月{}日 {}，{}。\n最丰盛的一餐：{}月{}日，{} {} 元。\n花钱最多的月份：{}月（{} 元）。\n",
            to.year(),
            to.month(),
            to.day(),
            yuan(e.spent),
            e.days,
            e.meals,
            e.favourite.0,
            e.favourite.1,
            e.breakfast.0.month(),
            e.breakfast.0.day(),
            e.breakfast.1,
            e.breakfast.2,
            e.biggest.0.month(),
            e.biggest.0.day(),
            e.biggest.1,
            yuan(e.biggest.2),
            e.top_month.0,
            yuan(e.top_month.1),
        );
        if let Some(rank) = rank {
            s.push_str(&rank);
        }
        s.push_str("完整账单：");
        s
    };
    let reply = app.say(&users[0], "趣味账单").await;
    let (text, _) = split_at_link(&reply);
    assert_eq!(text, body(None));

    // The operator's refresh reads every bound person's year from the card system.
    let report = app
        .admin(reqwest::Method::POST, "/bills/cohorts/refresh", None)
        .await;
    assert_eq!(report["people"], COHORT_MIN);
    assert_eq!(report["counted"], COHORT_MIN);
    assert_eq!(report["failed"], 0);

    let mut totals = Vec::new();
    for sno in &people {
        let txs = app.sim_transactions(sno, from, to).await;
        totals.push(txs.iter().filter(|t| out(t)).map(fen).sum::<i64>());
    }
    let below = totals.iter().filter(|t| **t < e.spent).count();
    let percent = below * 100 / totals.len();
    let rank = format!("在{dept}，你的消费超过了 {percent}% 的同学。\n");
    // The grade cohort: those of the three who enrolled in the same year.
    let grade = &me[..4];
    let same_year: Vec<i64> = people
        .iter()
        .zip(&totals)
        .filter(|(sno, _)| &sno[..4] == grade)
        .map(|(_, t)| *t)
        .collect();
    let grade_percent = (same_year.len() >= COHORT_MIN).then(|| {
        let below = same_year.iter().filter(|t| **t < e.spent).count();
        below * 100 / same_year.len()
    });
    let grade_line = match grade_percent {
        Some(p) => format!("在{grade}级本科同学中，超过了 {p}%。\n"),
        None => String::new(),
    };
    let reply = app.say(&users[0], "趣味账单").await;
    let (text, link) = split_at_link(&reply);
    assert_eq!(text, body(Some(format!("{rank}{grade_line}"))));

    // The link opens the page and its JSON for this person only, and cannot be altered.
    // The whole link is the service's address and the page; only the signed token is open.
    let [token] = whole_match::<1>(
        &format!(
            r"{}/h5/bills/fun\?t=([A-Za-z0-9_.=-]+)",
            regex::escape(&app.base)
        ),
        link,
    );
    let path = format!("/h5/bills/fun?t={token}");
    let page = app.get(&path).await;
    assert_eq!(page.status().as_u16(), 200);
    // The page: its title, then the same highlights and ranks, and where the money went.
    let title = format!("{}年趣味账单", to.year());
    let mut seen = vec![
        title.clone(),
        title,
        format!("1月1日 — {}月{}日", to.month(), to.day()),
        "一共消费".to_owned(),
        format!("{} 元", yuan(e.spent)),
        format!("{} 天有消费，在食堂吃了 {} 顿饭", e.days, e.meals),
        format!(
            "最爱的食堂：{}，去了 {} 次，花了 {} 元",
            e.favourite.0,
            e.favourite.1,
            yuan(e.favourite.2)
        ),
        format!(
            "最早的一顿早餐：{}月{}日 {}，在{}",
            e.breakfast.0.month(),
            e.breakfast.0.day(),
            e.breakfast.1,
            e.breakfast.2
        ),
        format!(
            "最丰盛的一餐：{}月{}日在{}，{} 元",
            e.biggest.0.month(),
            e.biggest.0.day(),
            e.biggest.1,
            yuan(e.biggest.2)
        ),
        format!(
            "花钱最多的月份：{}月，{} 元",
            e.top_month.0,
            yuan(e.top_month.1)
        ),
        format!("在{dept}，你的消费超过了 {percent}% 的同学"),
    ];
    if let Some(p) = grade_percent {
        seen.push(format!("在{grade}级本科同学中，超过了 {p}%"));
    }
    for (name, sum) in &e.by_category {
        seen.push((*name).to_owned());
        seen.push(format!("{} 元（{}%）", yuan(*sum), sum * 100 / e.spent));
    }
    assert_eq!(page_text(&page.text().await.unwrap()), seen.join("\n"));
    let json: Value = app
        .get(&format!("/h5/api/bills/fun?t={token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["spent_yuan"], yuan(e.spent));
    assert_eq!(json["college_rank"]["percent_below"], percent);
    assert_eq!(json["college_rank"]["size"], COHORT_MIN);
    let mut forged = token.to_owned();
    forged.replace_range(2..3, if &forged[2..3] == "A" { "B" } else { "A" });
    let refused = app.get(&format!("/h5/api/bills/fun?t={forged}")).await;
    assert_eq!(refused.status().as_u16(), 403);
    app.stop().await;
}

/// Card calls our own rate limiter refused so far, over every operation.
async fn card_calls_refused_by_our_limit(app: &TestApp) -> f64 {
    app.metrics()
        .await
        .lines()
        .filter(|l| {
            l.starts_with("onecard_upstream_calls_total{")
                && l.contains("upstream=\"card\"")
                && l.contains("outcome=\"rate_limited\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The cohort job reads every bound person's year from the card system, several calls a
/// person, so a refresh of many people outruns our rate for the card system. It takes only
/// half of that rate, so nothing meanwhile is refused by our own limiter: not its own calls,
/// and not the alerts consumer's feed polls (each refused poll made alerts an interval or
/// more late after every start-up, when the job runs).
#[actix_web::test]
async fn the_cohort_job_leaves_half_the_card_rate_to_chat_and_the_feed_poll() {
    /// Our rate for the card system in this test (calls a second, and the limiter's burst).
    const CARD_RATE: usize = 20;
    let Some(app) = spawn_app_alone(TestOptions {
        settings: |s| {
            with_bills(s);
            if let Some(upstreams) = s.upstreams.as_mut() {
                upstreams.card.rate_per_sec = CARD_RATE as u32;
            }
            // Four polls a second: within the half the job leaves.
            s.alerts.poll_interval_ms = 250;
        },
        ..TestOptions::default()
    }) else {
        return;
    };
    // Just enough people that the job's card calls (one account lookup and a page of 50 per
    // person, at least one) are more than the limiter's burst and a second of its rate: a
    // job that does not pace itself is refused by our own limiter within a second. At half
    // the rate the refresh takes a little over four seconds.
    let (from, to) = (
        NaiveDate::from_ymd_opt(today().year(), 1, 1).unwrap(),
        today(),
    );
    let accounts = app.sim_accounts(300).await;
    let mut people = Vec::new();
    let mut calls = 0;
    for account in accounts.iter().filter(|a| can_bind(a)) {
        if calls > 2 * CARD_RATE {
            break;
        }
        let sno = account["id"].as_str().unwrap();
        let pages = app.sim_transactions(sno, from, to).await.len().div_ceil(50);
        calls += 1 + pages.max(1);
        people.push(sno);
    }
    assert!(
        calls > 2 * CARD_RATE,
        "demo cards whose holders can bind, with a year of transactions: {calls} calls"
    );
    for sno in &people {
        app.bind(&openid("pace"), sno).await;
    }
    let refused_before = card_calls_refused_by_our_limit(&app).await;
    let poll_errors_before = app.metric("onecard_alerts_poll_errors_total").await;
    let list_calls =
        r#"onecard_upstream_calls_total{upstream="card",op="transactions_list",outcome="ok"}"#;
    let listed_before = app.metric(list_calls).await;

    let r = app
        .http
        .post(format!("{}/bills/cohorts/refresh", app.admin_base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["counted"], people.len(), "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    // Exactly one call a page: nothing else lists transactions here (no chat, and the sim's
    // live activity is off), and a call our limiter refused is not an `ok` one.
    let pages = calls - people.len();
    assert_eq!(
        app.metric(list_calls).await - listed_before,
        pages as f64,
        "transaction pages the job read"
    );
    assert_eq!(
        card_calls_refused_by_our_limit(&app).await - refused_before,
        0.0
    );
    assert_eq!(
        app.metric("onecard_alerts_poll_errors_total").await - poll_errors_before,
        0.0
    );
    app.stop().await;
}
