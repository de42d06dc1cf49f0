//! News push: an operator publishes with a push through the admin listener, the push worker
//! delivers a template message to every bound user in the audience exactly once (counted in
//! the WeChat simulator's outbox), skips whoever said 「退订新闻」, and keeps going through
//! WeChat's limits.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::notices::news_file;

/// The template the test deployment pushes news with.
const TEMPLATE: &str = "NEWS_TEMPLATE_0001";

/// `n` bound users written into a store directory before the app opens it.
pub async fn seed_bindings(data_dir: &Path, n: usize) -> Vec<String> {
    let users: Vec<String> = (0..n).map(|i| format!("oPushTest{i:019}")).collect();
    let bindings = (0..n).map(|i| test_binding(&format!("2099{i:06}")));
    write_bindings(data_dir, users.iter().cloned().zip(bindings)).await;
    users
}

/// `n` users bound in a fresh store, and the app on it with `settings`: the store (kept for
/// a restart on it), the app and the users.
async fn push_app_with_users(
    n: usize,
    settings: fn(&mut onecard::settings::Settings),
) -> (OnDisk, TestApp, Vec<String>) {
    let disk = OnDisk::new();
    let users = seed_bindings(&disk.data, n).await;
    let app = push_app(&disk.data, settings);
    (disk, app, users)
}

fn push_app(data_dir: &Path, settings: fn(&mut onecard::settings::Settings)) -> TestApp {
    spawn_app_with(TestOptions {
        data_dir: Some(data_dir.to_path_buf()),
        settings,
        ..TestOptions::default()
    })
}

fn fast_push(s: &mut onecard::settings::Settings) {
    s.push.template_id = TEMPLATE.into();
    s.push.per_second = 2000;
    s.push.batch = 16;
    s.push.backoff_initial_ms = 100;
    s.push.backoff_max_ms = 400;
}

impl TestApp {
    /// Publish the news item `id` (titled `title`) with a push by `channel` (`template`,
    /// `mass`): the push job's id.
    async fn publish_pushed(&self, id: &str, title: &str, channel: &str) -> u64 {
        let file = json!({"name": format!("{id}.md"), "text": news_file(id, title, "everyone")});
        let published = self
            .admin(
                reqwest::Method::POST,
                "/content",
                Some(json!({ "files": [file], "push": channel })),
            )
            .await;
        assert_eq!(published["items"][0]["id"], id, "{published}");
        published["jobs"][0]["id"].as_u64().unwrap()
    }

    /// WeChat's limits in the simulator: `limits` as `/sim/wechat/limits` takes them.
    async fn wechat_limits(&self, limits: Value) {
        self.sim_act("/sim/wechat/limits", limits).await;
    }

    /// Wait until push job `id` is no longer open; return its report.
    pub async fn wait_job(&self, id: u64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let jobs = self.admin(reqwest::Method::GET, "/push/jobs", None).await;
            let job = jobs
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["id"] == id)
                .cloned()
                .expect("job listed");
            if job["state"] == "done" || job["state"] == "failed" {
                return job;
            }
            assert!(Instant::now() < deadline, "job still open: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Template messages each user received whose link is the article `id`.
    pub async fn received(&self, users: &[String], id: &str) -> Vec<usize> {
        let link = format!("{}/h5/articles/{id}", self.base);
        let mut counts = Vec::with_capacity(users.len());
        for user in users {
            let outbox = self.wx.outbox(user).await.unwrap();
            counts.push(
                outbox
                    .iter()
                    .filter(|m| m["kind"] == "template" && m["url"] == link)
                    .count(),
            );
        }
        counts
    }
}

#[tokio::test]
async fn publish_with_push_reaches_every_bound_user_once_and_skips_who_unsubscribed() {
    let (_disk, app, users) = push_app_with_users(30, fast_push).await;

    let quitter = &users[3];
    assert_eq!(
        app.say(quitter, "退订新闻").await,
        configured_message("news.unsubscribed")
    );
    assert_eq!(
        app.say(quitter, "退订新闻").await,
        configured_message("news.already_unsubscribed")
    );

    let job_id = app
        .publish_pushed("upgrade", "一卡通系统升级完成", "template")
        .await;
    let job = app.wait_job(job_id, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["recipients"], 30);
    assert_eq!(
        (
            &job["counts"]["sent"],
            &job["counts"]["unsubscribed"],
            &job["counts"]["pending"],
            &job["counts"]["failed"]
        ),
        (&json!(29), &json!(1), &json!(0), &json!(0))
    );

    let counts = app.received(&users, "upgrade").await;
    let expected: Vec<usize> = (0..30).map(|i| usize::from(i != 3)).collect();
    assert_eq!(counts, expected);
    // What a user got: the configured template, the item's fields, its page.
    let got = app.wx.outbox(&users[0]).await.unwrap();
    assert_eq!(got[0]["template_id"], TEMPLATE);
    assert_eq!(got[0]["data"]["keyword1"]["value"], "一卡通系统升级完成");
    assert_eq!(got[0]["data"]["keyword2"]["value"], "2026-01-05 09:00");
    assert_eq!(
        got[0]["data"]["keyword3"]["value"],
        "一卡通系统升级完成，新增线上补卡。"
    );

    assert_eq!(
        app.say(quitter, "订阅新闻").await,
        configured_message("news.subscribed")
    );
    // Subscribed again: the next push reaches them.
    let again = app
        .admin(
            reqwest::Method::POST,
            "/content/upgrade/push?channel=template",
            None,
        )
        .await;
    let job = app
        .wait_job(again["id"].as_u64().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(job["counts"]["sent"], 30, "{job}");
    assert_eq!(app.received(&users[3..4], "upgrade").await, vec![1]);
}

/// The push and fallback templates of `config/demo.toml`, as `onecard demo` runs with them.
fn demo_templates(s: &mut onecard::settings::Settings) {
    let demo = onecard::settings::Settings::load(Path::new("config/demo.toml")).unwrap();
    s.push.template_id = demo.push.template_id;
    s.push.template_fields = demo.push.template_fields;
    s.wechat.fallback_template_id = demo.wechat.fallback_template_id;
    // The simulated account knows only the demo's templates, as the demo runs it.
    if let (Some(sim), Some(demo_sim)) = (s.sim.as_mut(), demo.sim) {
        sim.wechat.templates = demo_sim.wechat.templates;
    }
}

#[tokio::test]
async fn the_demo_configs_template_push_is_delivered_to_every_bound_user() {
    let demo = onecard::settings::Settings::load(Path::new("config/demo.toml")).unwrap();
    // The demo's simulated account has both templates the demo sends with (any other: 40037).
    assert_eq!(
        demo.sim.as_ref().unwrap().wechat.templates,
        [
            demo.push.template_id.clone(),
            demo.wechat.fallback_template_id.clone()
        ]
    );
    let (_disk, app, users) = push_app_with_users(3, demo_templates).await;

    let job_id = app
        .publish_pushed("demo-news", "一卡通系统升级完成", "template")
        .await;
    let job = app.wait_job(job_id, Duration::from_secs(60)).await;
    assert_eq!(
        (
            &job["state"],
            &job["counts"]["sent"],
            &job["counts"]["failed"]
        ),
        (&json!("done"), &json!(3), &json!(0)),
        "{job}"
    );
    assert_eq!(app.received(&users, "demo-news").await, vec![1, 1, 1]);
    let got = app.wx.outbox(&users[0]).await.unwrap();
    assert_eq!(
        (got.len(), got[0]["template_id"].as_str()),
        (1, Some(demo.push.template_id.as_str()))
    );
    assert_eq!(got[0]["data"]["keyword1"]["value"], "一卡通系统升级完成");
}

#[tokio::test]
async fn pushing_a_draft_or_an_unknown_item_is_refused_with_the_reason() {
    let (_disk, app, _users) = push_app_with_users(1, fast_push).await;
    let draft =
        news_file("later", "草稿", "everyone").replace("+++\n正文", "draft = true\n+++\n正文");
    app.admin(
        reqwest::Method::POST,
        "/content",
        Some(json!({"files": [{"name": "later.md", "text": draft}]})),
    )
    .await;
    let refused = |status: u16, error: &str| (status, json!({ "error": error }));
    let push = |path: &'static str| app.admin_call(reqwest::Method::POST, path, None);
    let (status, body) = push("/content/later/push?channel=template").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        refused(400, "`later` is draft: only published items are pushed")
    );
    let (status, body) = push("/content/nope/push?channel=mass").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        refused(404, "no content item `nope`")
    );
}

#[tokio::test]
async fn a_push_waits_out_wechat_quota_and_rate_refusals_and_finishes_once_each() {
    let (_disk, app, users) = push_app_with_users(40, fast_push).await;
    // WeChat allows this template 15 messages today, and 20 a second.
    let limits = |quota: u32| json!({"template_daily_quota": quota, "messages_per_second": 20});
    app.wechat_limits(limits(15)).await;

    let job_id = app
        .publish_pushed("quota", "食堂消费机更换通知", "template")
        .await;
    // The quota runs out: 15 sent, the rest wait while the job backs off on 45009. Read
    // between two batches, after one the quota refused: while a batch is out its recipients
    // are `sending`, and a batch soon after another meets the 20-a-second limit first (also
    // 45009, "api freq out of limit").
    let daily_quota = regex::Regex::new(
        "^WeChat API error 45009: reach max api daily quota limit rid: [0-9a-f]{16}$",
    )
    .unwrap();
    let quota_refused = |job: &Value| {
        job["last_error"]
            .as_str()
            .is_some_and(|e| daily_quota.is_match(e))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let stuck = loop {
        let jobs = app.admin(reqwest::Method::GET, "/push/jobs", None).await;
        let job = jobs[0].clone();
        if job["counts"]["sent"] == 15
            && job["counts"]["pending"] == 25
            && job["backoffs"].as_u64().unwrap() >= 2
            && quota_refused(&job)
        {
            break job;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stuck["state"], "sending");
    let stats = app.get_json("/sim/wechat/stats").await;
    assert_eq!(stats["template_sent"], 15, "{stats}");
    // The quota is raised (as `clear_quota` or the next day would): the job finishes.
    app.wechat_limits(limits(1000)).await;
    let job = app.wait_job(job_id, Duration::from_secs(60)).await;
    assert_eq!(job["counts"]["sent"], 40, "{job}");

    let got = app
        .get_json("/sim/wechat/received?kind=template&contains=/h5/articles/quota")
        .await;
    assert_eq!(
        (got["users"].as_u64(), got["messages"].as_u64()),
        (Some(40), Some(40))
    );
    assert!(users.iter().all(|u| got["counts"][u] == 1));
    let stats = app.get_json("/sim/wechat/stats").await;
    assert!(stats["template_refused"].as_u64().unwrap() >= 2, "{stats}");
}

#[tokio::test]
async fn a_mass_push_to_everyone_is_one_send_delivered_to_each_follower() {
    let (_disk, app, users) = push_app_with_users(3, fast_push).await;
    app.sim_act("/sim/wechat/followers", json!({"openids": users}))
        .await;
    let job_id = app.publish_pushed("mass", "寒假服务时间调整", "mass").await;
    let job = app.wait_job(job_id, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");
    let msg_id = job["mass"]["msg_id"].as_u64().unwrap();
    let outbox = app.wx.outbox(&users[0]).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["kind"], "mass");
    let text = outbox[0]["text"]["content"].as_str().unwrap();
    assert_eq!(
        text,
        format!(
            "【新闻】寒假服务时间调整\n一卡通系统升级完成，新增线上补卡。\n阅读全文：{}/h5/articles/mass\n回复「退订新闻」可退订新闻推送。",
            app.base
        )
    );
    let records = app.get_json("/sim/wechat/mass").await;
    assert_eq!(records[0]["msg_id"], msg_id);
    assert_eq!(records[0]["sent_count"], 3);
}

impl TestApp {
    /// Wait up to a minute until the simulator's inspection endpoint `path` answers what
    /// `done` accepts; return that answer.
    async fn wait_sim(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.get_json(path).await;
            if done(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "{path}: {got}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// WeChat delivers every template of a push but each answer is lost (a timeout, a cut body):
/// the job sends them again with its `client_msg_id`, and each user still has the news once.
#[tokio::test]
async fn a_template_push_whose_answers_are_lost_reaches_each_user_once() {
    let (_disk, app, users) = push_app_with_users(5, fast_push).await;
    app.set_faults(
        "wechat",
        json!({ "lost_response_rate": 1.0, "ops": ["message/template/send"] }),
    )
    .await;

    let job_id = app
        .publish_pushed("lost", "校园卡挂失流程调整", "template")
        .await;
    // Two attempts per user reach WeChat (the second after the first answer was lost): the
    // second is absorbed, so WeChat has delivered five.
    let attempts = |s: &Value| {
        s["template_sent"].as_u64().unwrap_or(0) + s["template_deduplicated"].as_u64().unwrap_or(0)
    };
    let stats = app
        .wait_sim("/sim/wechat/stats", |s| attempts(s) >= 10)
        .await;
    assert_eq!(stats["template_sent"], 5, "{stats}");
    app.set_faults("wechat", json!({})).await;
    let job = app.wait_job(job_id, Duration::from_secs(60)).await;
    assert_eq!(job["counts"]["sent"], 5, "{job}");

    assert_eq!(app.received(&users, "lost").await, vec![1; 5]);
    let stats = app.get_json("/sim/wechat/stats").await;
    assert_eq!(stats["template_sent"], 5, "{stats}");
}

/// The mass send goes out but its answer is lost: the job sends it again with its
/// `clientmsgid`, WeChat names the first send (45065), and each follower has it once.
#[tokio::test]
async fn a_mass_push_whose_answer_is_lost_is_sent_once() {
    let (_disk, app, users) = push_app_with_users(3, fast_push).await;
    app.sim_act("/sim/wechat/followers", json!({"openids": users}))
        .await;
    app.set_faults(
        "wechat",
        json!({ "lost_response_rate": 1.0, "ops": ["message/mass/sendall"] }),
    )
    .await;

    let job_id = app
        .publish_pushed("lostmass", "寒假服务时间调整", "mass")
        .await;
    let first = app
        .wait_sim("/sim/wechat/mass", |records| {
            records.as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
    app.set_faults("wechat", json!({})).await;
    let job = app.wait_job(job_id, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");

    let records = app.get_json("/sim/wechat/mass").await;
    assert_eq!(records, first, "one mass send");
    assert_eq!(job["mass"]["msg_id"], records[0]["msg_id"]);
    for user in &users {
        assert_eq!(app.pushed_kinds(user).await, ["mass"], "{user}");
    }
}

// ---- a real `onecard serve` killed halfway through a push -----------------------------------

/// What the kill test changes in config/demo.toml: few simulated people, one thread each, an
/// admin listener the test and the CLI can find, and a push pace that lets the test catch the
/// job halfway.
fn kill_overrides(admin_port: u16) -> (Overrides, Overrides) {
    let sim = Overrides::default().set("sim.accounts", 50);
    let serve = Overrides::default()
        .set("server.admin_listen", format!("127.0.0.1:{admin_port}"))
        .set("server.workers", 1)
        .set("server.session_arbiters", 1)
        .set("server.shutdown_budget_ms", 2000)
        .set("rules.hot_reload", false)
        .set("push.per_second", 400)
        .set("push.batch", 50)
        .set("push.concurrency", 8)
        .set("push.backoff_initial_ms", 200)
        .set("push.backoff_max_ms", 1000);
    (sim, serve)
}

/// Run a push to `n` bound users through real processes: publish with the CLI, SIGKILL the
/// server once half of them have it, start it again, and count what each user received.
async fn push_killed_halfway_reaches_each_user_once(n: usize) {
    let admin_port = free_port();
    let (sim, serve) = kill_overrides(admin_port);
    let mut procs = SimAndServe::start_demo(sim, serve).await;
    let users = seed_bindings(&procs.data(), n).await;
    let (sim_base, serve_cfg) = (procs.sim_base.clone(), procs.serve_config());
    let dir = procs.dir.path().to_owned();
    let admin = format!("http://127.0.0.1:{admin_port}");
    let admin_answers = |p: &Proc| {
        let (url, logs) = (format!("{admin}/metrics"), p.logs());
        async move {
            assert!(
                answers_within(&url, Duration::from_secs(60)).await,
                "{url} never answered:\n{logs}"
            );
        }
    };
    let http = loopback_http().pool_max_idle_per_host(0).build().unwrap();
    let mut first = procs.serve().await;
    admin_answers(&first).await;
    let started = Instant::now();

    let article = dir.join("push-halfway.md");
    std::fs::write(
        &article,
        news_file("push-halfway", "校园卡系统升级通知", "everyone"),
    )
    .unwrap();
    let stdout = procs.cli(&[
        "content",
        "publish",
        article.to_str().unwrap(),
        "--push",
        "template",
        "--config",
        serve_cfg.to_str().unwrap(),
    ]);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![
            "push-halfway\tpublished\t校园卡系统升级通知",
            "push job 1 created: push-halfway by template to everyone (see `onecard content jobs`)",
        ]
    );

    let received_url =
        format!("{sim_base}/sim/wechat/received?kind=template&contains=/h5/articles/push-halfway");
    let received = || get_json_from(&http, &received_url);
    // Kill it once half the users have the message.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = received().await["users"].as_u64().unwrap();
        if got >= n as u64 / 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} users reached:\n{}",
            first.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill_hard();
    let at_kill = received().await["users"].as_u64().unwrap();
    assert!(
        at_kill < n as u64,
        "the job finished before the kill ({at_kill})"
    );

    let second = procs.serve().await;
    admin_answers(&second).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    let job = loop {
        let jobs = get_json_from(&http, &format!("{admin}/push/jobs")).await;
        if jobs[0]["state"] == "done" {
            break jobs[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "job not done: {}\n{}",
            jobs[0],
            second.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["counts"]["sent"], n as u64, "{job}");
    assert_eq!(job["counts"]["unknown"], 0, "{job}");

    let got = received().await;
    let (reached, messages) = (
        got["users"].as_u64().unwrap_or(0),
        got["messages"].as_u64().unwrap_or(0),
    );
    println!(
        "push to {n} users, killed after {at_kill}: sent {}, received by {reached} users in {messages} messages (duplicates {}, missing {}), unknown {}, {:.1} s from publish to done",
        job["counts"]["sent"],
        messages.saturating_sub(reached),
        (n as u64).saturating_sub(reached),
        job["counts"]["unknown"],
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        (reached, messages),
        (n as u64, n as u64),
        "{at_kill} at the kill"
    );
    let counts = got["counts"].as_object().unwrap();
    assert!(users.iter().all(|u| counts.get(u) == Some(&json!(1))));

    // The operator's view, through the CLI.
    let stdout = procs.cli(&["content", "jobs", "--config", serve_cfg.to_str().unwrap()]);
    let row: Vec<&str> = stdout.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(
        &row[..10],
        &[
            "1",
            "done",
            "template",
            "push-halfway",
            &n.to_string(),
            &n.to_string(),
            "0",
            "0",
            "0",
            "0"
        ]
    );
}

#[tokio::test]
async fn push_to_600_users_killed_halfway_reaches_each_once() {
    push_killed_halfway_reaches_each_user_once(600).await;
}

/// The full-size run (`scripts/push-soak.sh`): 5,000 users, as the campus simulator has.
#[tokio::test]
#[ignore = "slow: run with scripts/push-soak.sh"]
async fn push_to_5000_users_killed_halfway_reaches_each_once() {
    push_killed_halfway_reaches_each_user_once(5000).await;
}

// ---- throughput figure (not a test: prints messages/s; scripts/push-bench.sh) ---------------

/// Push one item to `users` with the worker at `per_second` against a simulator that allows
/// `sim_rate` messages a second (0 = unlimited); returns (messages/s, back-offs).
async fn measure(app: &TestApp, users: usize, id: &str, sim_rate: u32) -> (f64, u64) {
    app.wechat_limits(json!({ "messages_per_second": sim_rate }))
        .await;
    let started = Instant::now();
    let job_id = app.publish_pushed(id, "吞吐测试", "template").await;
    let job = app.wait_job(job_id, Duration::from_secs(600)).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(job["counts"]["sent"], users as u64, "{job}");
    (users as f64 / secs, job["backoffs"].as_u64().unwrap())
}

#[tokio::test]
#[ignore = "a figure, not a test: run with scripts/push-bench.sh"]
async fn push_throughput() {
    const USERS: usize = 2000;
    // Our pace well above the simulator's limit, then matched to it, then no limit at all.
    let (disk, app, _users) = push_app_with_users(USERS, |s| {
        fast_push(s);
        s.push.per_second = 100_000;
        s.push.batch = 50;
        s.push.concurrency = 8;
        s.push.backoff_initial_ms = 200;
        s.push.backoff_max_ms = 1000;
    })
    .await;
    let (unlimited, _) = measure(&app, USERS, "bench-unlimited", 0).await;
    let (flooding, flooding_backoffs) = measure(&app, USERS, "bench-flooding", 200).await;
    println!("push throughput, {USERS} users, template messages over loopback HTTP:");
    println!("  no WeChat rate limit:                   {unlimited:8.0} messages/s");
    println!(
        "  WeChat allows 200/s, we send unpaced:   {flooding:8.0} messages/s ({flooding_backoffs} back-offs on 45009)"
    );
    app.stop().await;
    let paced = push_app(&disk.data, |s| {
        fast_push(s);
        s.push.per_second = 200;
        s.push.batch = 50;
        s.push.concurrency = 8;
    });
    let (matched, matched_backoffs) = measure(&paced, USERS, "bench-paced", 200).await;
    println!(
        "  WeChat allows 200/s, we pace at 200/s:  {matched:8.0} messages/s ({matched_backoffs} back-offs)"
    );
    println!(
        "  ratios: paced / limit = {:.2}, unpaced / limit = {:.2}, unlimited / limit = {:.1}",
        matched / 200.0,
        flooding / 200.0,
        unlimited / 200.0
    );
}
