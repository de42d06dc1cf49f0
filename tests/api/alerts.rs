//! Alerts people choose, over real HTTP: 「提醒设置」 in chat, transactions made in the card
//! simulator (POS, loads, bill payments, a loss), the platform's feed consumer, and the alerts
//! counted in the WeChat simulator's outbox — one per alert, none missed or doubled across a
//! restart of the platform on the same sled directory.

use std::cell::RefCell;
use std::time::Duration;

use onecard::chat::WeChatClient;
use onecard::conformance::{Gateway, Upstream};
use onecard::domain::Fen;
use onecard::settings::Settings;
use onecard::startup::Profile;
use onecard::wire::{Credentials, paths};
use serde_json::{Value, json};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

fn quick_alerts(s: &mut Settings) {
    s.alerts.poll_interval_ms = 50;
    s.alerts.library_check_secs = 1;
    // Beyond WeChat's 5 customer-service messages per user message, alerts go as templates.
    s.wechat.fallback_template_id = "TPL-card-alert".into();
}

fn gateway(base: &str, upstream: Upstream, path: &str) -> Gateway {
    Gateway::new(
        upstream,
        &format!("{base}{path}"),
        Credentials::new("onecard-demo", "demo-secret-change-me"),
    )
}

/// A POS purchase in the card simulator; returns the transaction it recorded.
async fn pos(http: &reqwest::Client, sim_base: &str, sno: &str, fen: i64, offline: bool) -> Value {
    let r = http
        .post(format!("{sim_base}/sim/card/accounts/{sno}/pos"))
        .json(&json!({ "amount_fen": fen, "offline": offline }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// The transaction `trade_no` as the card system's feed carries it.
/// A signed card write whose `out_trade_no` is its idempotency key.
async fn card_write(card: &Gateway, path: &str, mut body: Value, prefix: &str) -> Value {
    let key = format!("{prefix}{}", rand::random::<u32>());
    body["out_trade_no"] = json!(key);
    let reply = card.write(path, &body, &key).await.unwrap();
    assert_eq!(reply.code(), Some(0), "{}", reply.describe());
    reply.data().clone()
}

async fn fed(card: &Gateway, trade_no: &str) -> Value {
    let feed = card
        .call(
            paths::CARD_TRANSACTIONS_FEED,
            &json!({ "cursor": 0, "limit": 500 }),
        )
        .await
        .unwrap();
    feed.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["transaction"]["trade_no"] == trade_no)
        .map(|i| i["transaction"].clone())
        .unwrap_or_else(|| panic!("{trade_no} not in the feed"))
}

/// `MM-DD HH:MM` in campus time, as alerts show a transaction's time.
fn campus_time(rfc3339: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%m-%d %H:%M")
        .to_string()
}

fn yuan(v: &Value) -> String {
    Fen(v.as_i64().unwrap()).yuan()
}

/// 「提醒设置」's answer (`alert.settings`): every alert as the defaults have it, except the
/// `switched_on` ones (kind, threshold in yuan or ""); `changed` once the user edited them.
fn prefs_reply(changed: bool, switched_on: &[(&str, &str)]) -> String {
    let kinds = [
        "low_balance",
        "large_transaction",
        "lost_card_use",
        "top_up",
        "payment",
        "library_due",
        "ticket_updates",
    ];
    let on_by_default = ["lost_card_use", "ticket_updates"];
    let items: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let set = switched_on.iter().find(|(k, _)| k == kind);
            json!({
                "n": i + 1,
                "kind": kind,
                "on": set.is_some() || on_by_default.contains(kind),
                "threshold": set.map_or("", |(_, t)| t),
            })
        })
        .collect();
    message_rendered(
        "alert.settings",
        json!({ "changed": changed, "items": items }),
    )
}

const LOSS_LINK: &str = "<a href=\"weixin://bizmsgmenu?msgmenucontent=挂失&msgmenuid=1\">挂失</a>（回复「挂失」或点菜单「挂失」）。";

/// A demo card holder with at least 30 元 and a library loan due within 3 days, and those loans' titles and dates.
async fn holder_with_a_loan_due_soon(app: &TestApp) -> (String, Vec<(String, String, i64)>) {
    let data = gateway(&app.base, Upstream::PublicData, "/sim/data");
    let accounts = app.sim_accounts(80).await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    for a in accounts {
        // Enough money for the purchases below.
        if !can_bind(&a) || a["balance_fen"].as_i64() < Some(3000) {
            continue;
        }
        let sno = a["id"].as_str().unwrap().to_owned();
        let Ok(loans) = data
            .call(paths::DATA_LIBRARY_LOANS, &json!({ "sno": sno }))
            .await
        else {
            continue;
        };
        let due: Vec<(String, String, i64)> = loans.data()["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                let d =
                    chrono::NaiveDate::parse_from_str(l["due_at"].as_str()?, "%Y-%m-%d").ok()?;
                let days = (d - today).num_days();
                (0..=3).contains(&days).then(|| {
                    (
                        l["title"].as_str().unwrap().to_owned(),
                        l["due_at"].as_str().unwrap().to_owned(),
                        days,
                    )
                })
            })
            .collect();
        if !due.is_empty() && due.len() <= 3 {
            return (sno, due);
        }
    }
    panic!("no demo card holder has a loan due within 3 days");
}

#[tokio::test]
async fn each_alert_type_fires_once_from_transactions_in_the_card_simulator() {
    let app = spawn_app_with_settings(quick_alerts);
    let (sno, due_soon) = holder_with_a_loan_due_soon(&app).await;
    let user = openid("alerts");
    app.bind(&user, &sno).await;
    let card = gateway(&app.base, Upstream::Card, "/sim/card");
    let account = app.sim_account(&sno).await["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let defaults = app.say(&user, "提醒设置").await;
    assert_eq!(
        defaults,
        "您的提醒设置：\n1. 余额不足提醒：关\n2. 大额消费提醒：关\n3. 挂失卡消费警告：开\n4. 充值到账提醒：关\n5. 缴费结果提醒：关\n6. 图书到期提醒：关\n7. 报修进度提醒：开\n回复数字开关一项；回复「1 20」设为余额低于 20 元时提醒，「2 100」设为单笔 100 元及以上时提醒；回复「完成」结束设置。"
    );
    assert_eq!(defaults, prefs_reply(false, &[]));
    let balance = app.sim_account(&sno).await["balance_fen"].as_i64().unwrap();
    // Low balance: below (balance − 10 元), so a 15 元 purchase crosses it.
    let threshold = Fen(balance - 1000).yuan();
    let low = ("low_balance", threshold.as_str());
    assert_eq!(
        app.say(&user, &format!("1 {threshold}")).await,
        prefs_reply(true, &[low])
    );
    assert_eq!(
        app.say(&user, "2 10").await,
        prefs_reply(true, &[low, ("large_transaction", "10.00")])
    );
    for n in ["4", "5", "6"] {
        app.say(&user, n).await;
    }
    assert_eq!(
        app.say(&user, "完成").await,
        "提醒设置已保存。随时回复「提醒设置」修改。"
    );

    let mut expected = Vec::new();
    // 1–2: one 15 元 purchase is both large and takes the balance below the threshold.
    let t = pos(&app.http, &app.base, &sno, 1500, false).await;
    let (time, merchant, location) = (
        campus_time(&t["occurred_at"]),
        t["merchant_name"].as_str().unwrap().to_owned(),
        t["location"].as_str().unwrap().to_owned(),
    );
    expected.push(format!("【大额消费提醒】您的校园卡 {time} 在{merchant}（{location}）消费 15.00 元（达到您设置的 10.00 元），余额 {} 元。如非本人消费，请立即{LOSS_LINK}", yuan(&t["balance_after_fen"])));
    expected.push(format!("【余额不足提醒】您的校园卡 {time} 在{merchant}消费 15.00 元，余额 {} 元，已低于您设置的 {threshold} 元。回复「充值」了解充值方式。如非本人消费，请立即{LOSS_LINK}", yuan(&t["balance_after_fen"])));
    // The library check runs on its own schedule: wait for it before the next transactions, so
    // the order of the outbox is known.
    let got = app.wait_pushed(&user, 2 + due_soon.len(), WAIT).await;
    let library: Vec<String> = due_soon
        .iter()
        .map(|(title, due, days)| {
            let when = if *days == 0 { "（今天）".to_owned() } else { format!("（还有 {days} 天）") };
            format!("【图书到期提醒】《{title}》将于 {due} 到期{when}，请按时归还；回复「借阅」查看全部借阅。")
        })
        .collect();
    let mut first: Vec<String> = got.clone();
    first.sort();
    let mut want: Vec<String> = expected
        .iter()
        .cloned()
        .chain(library.iter().cloned())
        .collect();
    want.sort();
    assert_eq!(first, want);
    expected = got;

    // 3: a top-up (online, pending until claimed).
    let load = card_write(
        &card,
        paths::CARD_LOAD_CREATE,
        json!({ "account": account, "amount_fen": 2000, "source": "online", "source_ref": "wx" }),
        "W",
    )
    .await;
    let t = fed(&card, load["trade_no"].as_str().unwrap()).await;
    expected.push(format!("【充值到账提醒】{} 在线充值 20.00 元已到账，待领款：在食堂消费机或圈存机刷一下卡即可领取。", campus_time(&t["occurred_at"])));
    assert_eq!(app.wait_pushed(&user, expected.len(), WAIT).await, expected);

    // 4: a bill payment.
    let paid = card_write(&card, paths::CARD_PAY_DEBIT, json!({ "account": account, "amount_fen": 500, "biller_id": "electricity", "target_id": "10-101" }), "W").await;
    let t = fed(&card, paid["trade_no"].as_str().unwrap()).await;
    expected.push(format!(
        "【缴费结果提醒】{} {}缴费 5.00 元已从校园卡扣款，余额 {} 元。",
        campus_time(&t["occurred_at"]),
        t["merchant_name"].as_str().unwrap(),
        yuan(&t["balance_after_fen"])
    ));
    assert_eq!(app.wait_pushed(&user, expected.len(), WAIT).await, expected);

    // 5: the card is reported lost; an offline terminal that has not heard of it yet takes 3 元.
    card_write(
        &card,
        paths::CARD_REPORT_LOSS,
        json!({ "account": account, "channel": "counter" }),
        "W",
    )
    .await;
    let t = pos(&app.http, &app.base, &sno, 300, true).await;
    expected.push(format!("【挂失卡消费警告】您已挂失的校园卡 {} 在{}（{}）有一笔 3.00 元的消费。如非本人所为，请携带证件到一卡通服务中心处理（电话 010-12345678）。", campus_time(&t["occurred_at"]), t["merchant_name"].as_str().unwrap(), t["location"].as_str().unwrap()));
    assert_eq!(app.wait_pushed(&user, expected.len(), WAIT).await, expected);
    // The user last wrote before these: five went as customer-service messages, the sixth as
    // the template message.
    assert_eq!(
        app.pushed_kinds(&user).await,
        ["custom", "custom", "custom", "custom", "custom", "template"]
    );
}

/// A demo card holder who can bind, with at least `fen` on the card.
async fn holder_with(app: &TestApp, fen: i64) -> String {
    let accounts = app.sim_accounts(80).await;
    accounts
        .iter()
        .find(|a| can_bind(a) && a["balance_fen"].as_i64() >= Some(fen))
        .and_then(|a| a["id"].as_str())
        .expect("a demo card holder with money on a normal card")
        .to_owned()
}

/// A holder with at least 10 元, bound to a fresh user (`tag`) who asked through 「提醒设置」
/// for an alert on every payment of 1 元 or more: (学工号, user).
async fn alerted_on_every_payment(app: &TestApp, tag: &str) -> (String, String) {
    let sno = holder_with(app, 1000).await;
    let user = openid(tag);
    app.bind(&user, &sno).await;
    app.say(&user, "提醒设置").await;
    assert_eq!(
        app.say(&user, "2 1").await,
        prefs_reply(true, &[("large_transaction", "1.00")])
    );
    app.say(&user, "完成").await;
    (sno, user)
}

#[tokio::test]
async fn a_large_payment_alert_sent_as_a_template_says_how_to_report_the_loss_in_plain_text() {
    let app = spawn_app_with_settings(quick_alerts);
    let (sno, user) = alerted_on_every_payment(&app, "alerttpl").await;
    // WeChat allows 5 customer-service messages after the user's last message: the sixth
    // alert goes as the template message.
    let mut paid = Vec::new();
    for _ in 0..6 {
        paid.push(pos(&app.http, &app.base, &sno, 100, false).await);
    }
    app.wait_pushed(&user, 6, WAIT).await;
    let mut outbox = app.wx.outbox(&user).await.unwrap();
    let mut template = outbox.pop().unwrap();
    template.as_object_mut().unwrap().remove("at");
    // The stored alert's own id: a send repeated after a lost answer is delivered once.
    let client_msg_id = template.as_object_mut().unwrap().remove("client_msg_id");
    let client_msg_id = client_msg_id.as_ref().and_then(Value::as_str);
    let [_seq] = whole_match(r"onecard-reply-(\d+)", client_msg_id.unwrap_or_default());
    let text = large_payment_template_text(&paid[5]);
    assert_eq!(
        template,
        json!({
            "kind": "template",
            "touser": user,
            "template_id": "TPL-card-alert",
            "data": { "content": { "value": text } },
        })
    );
    // The customer-service messages before it keep the one-tap link.
    let custom: Vec<Value> = outbox
        .iter()
        .map(|m| json!([m["kind"], m["text"]["content"]]))
        .collect();
    let expected: Vec<Value> = paid[..5]
        .iter()
        .map(|tx| json!(["custom", large_payment_text(tx, LOSS_LINK)]))
        .collect();
    assert_eq!(custom, expected);
}

/// The template text of the large-payment alert for a 1.00 元 purchase `tx` (threshold 1 元):
/// how to report the loss in plain text.
fn large_payment_template_text(tx: &Value) -> String {
    large_payment_text(tx, "挂失（回复「挂失」或点菜单「挂失」）。")
}

/// The large-payment alert for a 1.00 元 purchase `tx` (threshold 1 元), ending with `loss`:
/// how to report the card lost.
fn large_payment_text(tx: &Value, loss: &str) -> String {
    format!(
        "【大额消费提醒】您的校园卡 {} 在{}（{}）消费 1.00 元（达到您设置的 1.00 元），余额 {} 元。如非本人消费，请立即{loss}",
        campus_time(&tx["occurred_at"]),
        tx["merchant_name"].as_str().unwrap(),
        tx["location"].as_str().unwrap(),
        yuan(&tx["balance_after_fen"])
    )
}

/// Two days after the user last wrote, WeChat refuses customer-service messages and the alert
/// goes as the template message. WeChat delivers it but the answer is lost, so the platform
/// sends it again: the user must see it once (WeChat keeps one per openid + `client_msg_id`).
#[tokio::test]
async fn a_template_alert_whose_answer_was_lost_is_delivered_once() {
    let app = spawn_app_with_settings(quick_alerts);
    let (sno, user) = alerted_on_every_payment(&app, "alertlost").await;
    app.advance_sim_clock(49 * 3600).await;
    app.set_faults(
        "wechat",
        json!({ "lost_response_rate": 1.0, "ops": ["message/template/send"] }),
    )
    .await;

    let first = pos(&app.http, &app.base, &sno, 100, false).await;
    assert_eq!(app.wait_pushed(&user, 1, WAIT).await.len(), 1);
    app.set_faults("wechat", json!({})).await;
    // The next alert waits behind the first in the user's queue: once it arrives, the first
    // has been sent again and answered.
    let second = pos(&app.http, &app.base, &sno, 100, false).await;
    app.wait_pushed(&user, 2, WAIT).await;

    let outbox = app.wx.outbox(&user).await.unwrap();
    let sent: Vec<(&str, &str)> = outbox
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap(),
                m["data"]["content"]["value"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let (first_text, second_text) = (
        large_payment_template_text(&first),
        large_payment_template_text(&second),
    );
    assert_eq!(
        sent,
        [
            ("template", first_text.as_str()),
            ("template", second_text.as_str())
        ]
    );
    assert_ne!(outbox[0]["client_msg_id"], outbox[1]["client_msg_id"]);
    let stats = app.get_json("/sim/wechat/stats").await;
    assert!(
        stats["template_deduplicated"].as_u64() >= Some(1),
        "the first alert was sent again: {stats}"
    );
}

thread_local! {
    /// The simulator host the next platform in this test points at (settings are a plain fn).
    static SIM_HOST: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The platform alone (as `serve`): no simulators of its own, WeChat and every upstream at
/// [`SIM_HOST`], another process's simulators.
fn beside_the_sims(s: &mut Settings) {
    let host = SIM_HOST.with(|h| h.borrow().clone());
    s.sim = None;
    s.wechat.api_base = format!("{host}{}", s.wechat.api_base);
    for (_, upstream) in s.upstreams.as_mut().unwrap().sections_mut() {
        upstream.base_url = format!("{host}{}", upstream.base_url);
    }
}

/// [`beside_the_sims`], alerts polled quickly, no library check during the test.
fn platform_against_sims(s: &mut Settings) {
    beside_the_sims(s);
    quick_alerts(s);
    s.alerts.library_check_secs = 3600;
}

#[tokio::test]
async fn no_alert_is_missed_or_doubled_across_a_restart_of_the_platform() {
    // The card system and WeChat outlive the platform: they are another process.
    let sims = spawn_app();
    SIM_HOST.with(|h| *h.borrow_mut() = sims.base.clone());
    let data = tempfile::tempdir().unwrap();
    let opts = || TestOptions {
        settings: platform_against_sims,
        profile: Profile::Production,
        data_dir: Some(data.path().to_path_buf()),
        ..TestOptions::default()
    };
    let platform = spawn_app_with(opts());
    let wx = |p: &TestApp| {
        WeChatClient::new(&sims.base, TOKEN, Some(AES_KEY), APP_ID, true)
            .unwrap()
            .with_callback_url(&format!("{}/wechat", p.base))
    };
    let user = openid("restart");
    let sno = "2024000001";
    let phone = sims.sim_account(sno).await["phone"]
        .as_str()
        .unwrap()
        .to_owned();
    let chat = wx(&platform);
    let say = |text: &'static str| {
        let chat = &chat;
        let user = &user;
        async move { text_of(&chat.text(user, text).await.unwrap()) }
    };
    say("绑定").await;
    chat.text(&user, sno).await.unwrap();
    let code = sims.latest_code(&phone).await;
    assert_eq!(
        text_of(&chat.text(&user, &code).await.unwrap()),
        sims.bind_done(sno).await
    );
    say("提醒设置").await;
    assert_eq!(
        say("2 1").await,
        prefs_reply(true, &[("large_transaction", "1.00")])
    );
    say("完成").await;

    let amounts_pushed = |pushed: &[String]| -> Vec<String> {
        pushed
            .iter()
            .map(|p| {
                p.split("消费 ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .unwrap_or(p)
                    .to_owned()
            })
            .collect()
    };
    for fen in [200, 210] {
        pos(&sims.http, &sims.base, sno, fen, false).await;
    }
    assert_eq!(
        amounts_pushed(&sims.wait_pushed(&user, 2, WAIT).await),
        ["2.00", "2.10"]
    );

    platform.stop().await;
    // While the platform is down the card keeps being used.
    for fen in [300, 310] {
        pos(&sims.http, &sims.base, sno, fen, false).await;
    }
    let platform = spawn_app_with(opts());
    assert_eq!(
        amounts_pushed(&sims.wait_pushed(&user, 4, WAIT).await),
        ["2.00", "2.10", "3.00", "3.10"]
    );
    // One more after the restart: it arrives after the others and nothing came twice.
    pos(&sims.http, &sims.base, sno, 400, false).await;
    assert_eq!(
        amounts_pushed(&sims.wait_pushed(&user, 5, WAIT).await),
        ["2.00", "2.10", "3.00", "3.10", "4.00"]
    );
    platform.stop().await;
}

// ---- the delay from a card transaction to its alert (a figure: scripts/alert-latency.sh) ----

thread_local! {
    /// The feed poll interval the measured platform runs with.
    static POLL_MS: RefCell<u64> = const { RefCell::new(1000) };
}

/// The platform as `serve` runs it against another process's simulators, polling the feed at
/// [`POLL_MS`], with the demo's fallback template for users whose window is closed.
fn measured_platform(s: &mut Settings) {
    beside_the_sims(s);
    s.alerts.poll_interval_ms = POLL_MS.with(|p| *p.borrow());
    s.alerts.library_check_secs = 3600;
    // Every purchase is measured: none may be dropped by the daily cap.
    s.alerts.daily_caps.large_transaction = u32::MAX;
    s.wechat.fallback_template_id = "TPL-card-alert".into();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// N purchases (`ALERT_LATENCY_N`, default 300) at random moments on 20 demo cards whose holders
/// asked for an alert on every payment; each alert's delay is from just before the purchase is
/// made in the card simulator until the WeChat simulator's outbox holds it (watched every 5 ms).
/// The consumer polls the feed every `alerts.poll_interval_ms` of config/demo.toml (or
/// `ALERT_POLL_MS`), so the delay is bounded by about one interval; printed as ratios to it.
#[tokio::test]
#[ignore = "a figure, not a test: run with scripts/alert-latency.sh"]
async fn alert_latency() {
    use std::collections::HashMap;
    use std::time::Instant;

    use onecard::domain::OpenId;
    use onecard::store::{AlertPrefs, Store};

    const USERS: usize = 20;
    let n: usize = std::env::var("ALERT_LATENCY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let poll_ms: u64 = std::env::var("ALERT_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            Settings::load(std::path::Path::new("config/demo.toml"))
                .unwrap()
                .alerts
                .poll_interval_ms
        });
    let sims = spawn_app();
    SIM_HOST.with(|h| *h.borrow_mut() = sims.base.clone());
    POLL_MS.with(|p| *p.borrow_mut() = poll_ms);

    // Cards with money for every purchase below, bound to users who want every payment alerted.
    let per_user = n.div_ceil(USERS) as i64;
    let accounts = sims.sim_accounts(300).await;
    let holders: Vec<String> = accounts
        .iter()
        .filter(|a| {
            a["status"] == "normal" && a["balance_fen"].as_i64() >= Some(per_user * 500 + 1000)
        })
        .take(USERS)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(holders.len(), USERS, "demo cards with enough money");
    let users: Vec<String> = (0..USERS).map(|i| openid(&format!("latency{i}"))).collect();
    let data = tempfile::tempdir().unwrap();
    {
        let store = Store::open(data.path(), 16).unwrap();
        for (user, sno) in users.iter().zip(&holders) {
            let openid = OpenId::parse(user).unwrap();
            store.bindings().bind(&openid, &test_binding(sno)).unwrap();
            let prefs = AlertPrefs {
                large_transaction_fen: Some(1),
                ..AlertPrefs::default()
            };
            store.alerts().set_prefs(&openid, &prefs).unwrap();
        }
        store.flush().await.unwrap();
    }
    let platform = spawn_app_with(TestOptions {
        settings: measured_platform,
        profile: Profile::Production,
        data_dir: Some(data.path().to_path_buf()),
        ..TestOptions::default()
    });

    // Watch the outbox: each user's alerts arrive in the order of their purchases.
    let started = Instant::now();
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<String, Vec<f64>>::new()));
    let watcher = {
        let (http, base, arrivals) = (sims.http.clone(), sims.base.clone(), arrivals.clone());
        tokio::spawn(async move {
            loop {
                let got = get_json_from(&http, &format!("{base}/sim/wechat/received")).await;
                let at = started.elapsed().as_secs_f64();
                {
                    let mut seen = arrivals.lock().unwrap();
                    for (user, count) in got["counts"].as_object().unwrap() {
                        let times = seen.entry(user.clone()).or_default();
                        while (times.len() as u64) < count.as_u64().unwrap() {
                            times.push(at);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // Purchases at random moments (mean gap a twentieth of the poll interval), so they fall
    // at every phase of the consumer's poll.
    let mut made: HashMap<String, Vec<f64>> = HashMap::new();
    for i in 0..n {
        let who = i % USERS;
        let gap = rand::random::<u64>() % (poll_ms / 10).max(2);
        tokio::time::sleep(Duration::from_millis(gap)).await;
        made.entry(users[who].clone())
            .or_default()
            .push(started.elapsed().as_secs_f64());
        pos(&sims.http, &sims.base, &holders[who], 100 + i as i64, false).await;
    }
    // Wait while alerts keep coming: the run fails only when none has arrived for a minute
    // (a loaded machine, or a process stopped for a while, only makes them late), and then
    // says whose are missing.
    let stall = Duration::from_secs(60);
    let (mut arrived, mut last_progress) = (0, Instant::now());
    while arrived < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now_arrived: usize = arrivals.lock().unwrap().values().map(Vec::len).sum();
        if now_arrived > arrived {
            (arrived, last_progress) = (now_arrived, Instant::now());
        }
        if last_progress.elapsed() > stall {
            let seen = arrivals.lock().unwrap();
            let missing: Vec<String> = made
                .iter()
                .filter_map(|(user, times)| {
                    let got = seen.get(user).map_or(0, Vec::len);
                    (got != times.len()).then(|| format!("{user}: {got} of {}", times.len()))
                })
                .collect();
            panic!("only {arrived} of {n} alerts arrived, none for {stall:?}: {missing:?}");
        }
    }
    watcher.abort();
    let seen = arrivals.lock().unwrap().clone();
    let mut delays_ms: Vec<f64> = Vec::with_capacity(n);
    for (user, times) in &made {
        let got = &seen[user];
        assert_eq!(got.len(), times.len(), "one alert per purchase for {user}");
        delays_ms.extend(times.iter().zip(got).map(|(t, a)| (a - t) * 1000.0));
    }
    delays_ms.sort_by(f64::total_cmp);
    let (p50, p90, p99, max) = (
        percentile(&delays_ms, 50.0),
        percentile(&delays_ms, 90.0),
        percentile(&delays_ms, 99.0),
        delays_ms[n - 1],
    );
    let poll = poll_ms as f64;
    println!(
        "alert delay, {n} purchases on {USERS} cards (card simulator POS → alert in the WeChat simulator's outbox):"
    );
    println!("  feed poll interval (alerts.poll_interval_ms): {poll_ms} ms");
    println!(
        "  p50 {p50:.0} ms ({:.2} × interval), p90 {p90:.0} ms ({:.2} ×), p99 {p99:.0} ms ({:.2} ×), max {max:.0} ms ({:.2} ×)",
        p50 / poll,
        p90 / poll,
        p99 / poll,
        max / poll
    );
    // The machine's load during the run, since the figure depends on it.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "  load average (1, 5, 15 min): {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    drop(platform);
}
