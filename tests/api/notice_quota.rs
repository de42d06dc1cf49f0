//! The daily cap of an alert kind other than ticket updates: with
//! `alerts.daily_caps.large_transaction` set low, purchases in the card simulator beyond the
//! cap give no more alerts that campus day.

use std::time::{Duration, Instant};

use onecard::settings::Settings;
use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(30);
/// Large-payment alerts one user gets a campus day in these tests.
const CAP: u32 = 2;

fn capped_alerts(s: &mut Settings) {
    s.alerts.poll_interval_ms = 50;
    s.alerts.daily_caps.large_transaction = CAP;
}

impl TestApp {
    /// Wait until the metric `series` reads `value`.
    async fn wait_metric(&self, series: &str, value: f64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.metric(series).await;
            if now == value {
                return;
            }
            assert!(
                now < value && Instant::now() < deadline,
                "{series} = {now}, want {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn large_payments_beyond_the_daily_cap_give_no_more_alerts_that_day() {
    // Alone: the capped counter is the process's, so only then is its change this test's.
    let Some(app) = spawn_app_alone(TestOptions {
        settings: capped_alerts,
        ..TestOptions::default()
    }) else {
        return;
    };
    let sno = app
        .sim_accounts(80)
        .await
        .iter()
        .find(|a| can_bind(a) && a["balance_fen"].as_i64() >= Some(1000))
        .and_then(|a| a["id"].as_str())
        .expect("a demo card holder with 10 元 on a normal card")
        .to_owned();
    let user = openid("capped");
    app.bind(&user, &sno).await;
    app.say(&user, "提醒设置").await;
    app.say(&user, "2 1").await;
    assert_eq!(
        app.say(&user, "完成").await,
        "提醒设置已保存。随时回复「提醒设置」修改。"
    );

    let capped_before = app.metric("onecard_alerts_capped_total").await;
    let purchases = CAP as usize + 2;
    let mut bought = Vec::new();
    for _ in 0..purchases {
        bought.push(
            app.post_json(
                &format!("/sim/card/accounts/{sno}/pos"),
                json!({ "amount_fen": 100, "offline": false }),
            )
            .await,
        );
    }
    // Every purchase beyond the cap is counted capped: all of them were read from the feed.
    app.wait_metric(
        "onecard_alerts_capped_total",
        capped_before + f64::from(CAP),
    )
    .await;

    let alerted = app.wait_pushed(&user, CAP as usize, WAIT).await;
    let expected: Vec<String> = bought[..CAP as usize]
        .iter()
        .map(|t| {
            message_rendered(
                "alert.large_transaction",
                json!({
                    // `MM-DD HH:MM` in campus time, as alerts show a transaction's time.
                    "time": chrono::DateTime::parse_from_rfc3339(t["occurred_at"].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&onecard::settings::campus_offset(8))
                        .format("%m-%d %H:%M")
                        .to_string(),
                    "merchant": t["merchant_name"],
                    "location": t["location"],
                    "amount": "1.00",
                    "threshold": "1.00",
                    "balance": onecard::domain::Fen(t["balance_after_fen"].as_i64().unwrap()).yuan(),
                }),
            )
        })
        .collect();
    assert_eq!(alerted, expected);
    assert_eq!(app.pushed_kinds(&user).await, ["custom"; CAP as usize]);
}
