//! A reply promised later survives the process: the real binary (`onecard serve`) is killed or
//! told to stop while a late reply is in flight, with the WeChat and campus simulators in a
//! separate `onecard sim` process so that what WeChat received is counted across the restart.
//! The store is read back with `onecard store export`, as an operator would.

use std::time::{Duration, Instant};

use onecard::chat::{WeChatClient, pushed_text};
use serde_json::{Value, json};

use crate::helpers::{
    Overrides, Proc, SimAndServe, get_json_from, json_lines, loopback_http, masked_name,
    masked_phone, message, openid, post_ok, text_of,
};

const STUDENT: &str = "2024000001";
/// The card system's answer takes this long; the callback budget is far below it.
const SLOW_CARD_MS: u64 = 4000;

/// What this test changes in the demo: a callback budget far below the slow card system, one
/// session thread, the store and the card answer given time, the rule files left alone.
fn overrides() -> (Overrides, Overrides) {
    let sim = Overrides::default().set("sim.accounts", 300);
    let serve = Overrides::default()
        .set("server.callback_budget_ms", 500)
        .set("server.session_arbiters", 1)
        .set("server.shutdown_budget_ms", 20_000)
        .set("sessions.user_burst", 100)
        .set("rules.hot_reload", false)
        .set("upstreams.card.timeout_ms", 15_000);
    (sim, serve)
}

/// The simulators in their own process and the platform beside them, with a WeChat to chat.
struct Deployment {
    procs: SimAndServe,
    http: reqwest::Client,
    wx: WeChatClient,
}

impl Deployment {
    async fn new() -> Self {
        let (sim, serve) = overrides();
        let procs = SimAndServe::start_demo(sim, serve).await;
        let wx = procs.wechat();
        Self {
            procs,
            // No pooled connections: a kept-alive connection the server is just closing (its
            // 5 s idle timeout, or a restart) would fail the next request.
            http: loopback_http().pool_max_idle_per_host(0).build().unwrap(),
            wx,
        }
    }

    async fn serve(&mut self) -> Proc {
        self.procs.serve().await
    }

    async fn sim_get(&self, path: &str) -> Value {
        get_json_from(&self.http, &format!("{}{path}", self.procs.sim_base)).await
    }

    async fn card_latency(&self, ms: u64) {
        let url = format!("{}/sim/faults/card", self.procs.sim_base);
        post_ok(&self.http, &url, json!({ "latency_ms": ms })).await;
    }

    async fn say(&self, user: &str, text: &str) -> String {
        text_of(&self.wx.text(user, text).await.unwrap())
    }

    /// Bind the student through the real dialog; the code is read from the SMS simulator.
    async fn bind(&self, user: &str) {
        let account = self.sim_get(&format!("/sim/card/accounts/{STUDENT}")).await;
        let phone = account["phone"].as_str().unwrap().to_owned();
        self.say(user, "绑定").await;
        let sent = self.say(user, STUDENT).await;
        let phone_masked = masked_phone(&phone);
        assert_eq!(
            sent,
            message("bind.ask_code", json!({ "phone_masked": phone_masked }))
        );
        let sms = self
            .sim_get(&format!("/sim/sms/outbox?phone={phone}"))
            .await;
        let last = sms.as_array().unwrap().last().unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned();
        let code: String = last.chars().filter(char::is_ascii_digit).take(6).collect();
        let done = self.say(user, &code).await;
        let name_masked = masked_name(account["name"].as_str().unwrap());
        assert_eq!(
            done,
            message(
                "bind.done",
                json!({ "name_masked": name_masked, "student_id": STUDENT })
            )
        );
    }

    /// What WeChat accepted for the user, as texts.
    async fn delivered(&self, user: &str) -> Vec<String> {
        let outbox = self
            .sim_get(&format!("/sim/wechat/outbox?openid={user}"))
            .await;
        outbox.as_array().unwrap().iter().map(pushed_text).collect()
    }

    async fn wait_delivered(&self, user: &str, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.delivered(user).await;
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Records of one tree, read with `onecard store export` (the platform must be stopped).
    fn stored(&self, tree: &str) -> Vec<Value> {
        let data = self.procs.data();
        let exported = self
            .procs
            .cli(&["store", "export", "--data", data.to_str().unwrap()]);
        json_lines(&exported)
            .into_iter()
            .filter(|v| v["tree"] == tree)
            .collect()
    }

    /// The balance line the user gets, checked against the card system's own figure.
    async fn expected_balance_line(&self, user: &str) -> String {
        let passive = self.say(user, "余额").await;
        let account = self.sim_get(&format!("/sim/card/accounts/{STUDENT}")).await;
        let fen = onecard::domain::Fen(account["balance_fen"].as_i64().unwrap());
        let card_no = account["card_no_display"].as_str().unwrap();
        let line = passive.lines().next().unwrap().to_owned();
        assert_eq!(
            line,
            format!(
                "您的校园卡（****{}）当前余额为 {} 元。",
                &card_no[card_no.len() - 4..],
                fen.yuan()
            )
        );
        line
    }
}

/// A bound user (`tag`) asks 「余额」 while the card system takes [`SLOW_CARD_MS`]: WeChat got
/// "success" and the reply is promised later. The deployment, its server, the user and the
/// balance line the reply must start with.
async fn late_balance_in_flight(tag: &str) -> (Deployment, Proc, String, String) {
    let mut d = Deployment::new().await;
    let serve = d.serve().await;
    let user = openid(tag);
    d.bind(&user).await;
    let balance = d.expected_balance_line(&user).await;
    d.card_latency(SLOW_CARD_MS).await;
    let ex = d.wx.text(&user, "余额").await.unwrap();
    assert_eq!((ex.status, ex.body.as_str()), (200, "success"));
    (d, serve, user, balance)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn sigkill_with_a_late_reply_in_flight_delivers_it_once_after_restart() {
    let (mut d, mut serve, user, balance) = late_balance_in_flight("kill").await;
    serve.kill_hard();

    // The message was on disk before "success" went out.
    let jobs = d.stored("late_jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}\n{}", serve.logs());

    d.card_latency(0).await;
    let mut serve = d.serve().await;
    let got = d.wait_delivered(&user, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "{}", serve.logs());
    serve.signal("TERM");
    assert!(serve.wait_exit(Duration::from_secs(40)).await.success());

    // Stopped: nothing more can be sent. Exactly one reply, the balance, and nothing left over.
    let got = d.delivered(&user).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(first_line(&got[0]), balance);
    assert_eq!(d.stored("late_jobs"), Vec::<Value>::new());
    assert_eq!(d.stored("outbox"), Vec::<Value>::new());
    drop(d.procs);
}

#[tokio::test]
async fn sigterm_with_a_late_reply_in_flight_drains_it_before_exit() {
    let (mut d, mut serve, user, balance) = late_balance_in_flight("term").await;
    serve.signal("TERM");
    let status = serve.wait_exit(Duration::from_secs(40)).await;
    assert!(status.success(), "{status:?}\n{}", serve.logs());

    // Delivered before the process exited, once; the store holds nothing more to send.
    let got = d.delivered(&user).await;
    assert_eq!(got.len(), 1, "{got:?}\n{}", serve.logs());
    assert_eq!(first_line(&got[0]), balance);
    assert_eq!(d.stored("late_jobs"), Vec::<Value>::new());
    assert_eq!(d.stored("outbox"), Vec::<Value>::new());

    // A restart finds nothing to send again.
    d.card_latency(0).await;
    let mut serve = d.serve().await;
    serve.signal("TERM");
    assert!(serve.wait_exit(Duration::from_secs(40)).await.success());
    assert_eq!(d.delivered(&user).await.len(), 1);
}
