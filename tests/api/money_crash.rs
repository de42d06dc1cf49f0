//! Money under crashes and upstream faults, through real processes: the simulators run as their
//! own `onecard sim` (so the bank's, the card system's and the billers' money outlives every
//! crash of the platform), `onecard serve` is pointed at them, and many users top up (「充值 N」
//! → 「确认」) and pay (网费, 电费, 考试费, 捐赠) over the real signed callback at once, while the
//! server is SIGKILLed and restarted (the crash run) or every money call to an upstream fails
//! one time in five (the fault soak).
//!
//! Afterwards every order must be terminal (or waiting for a person), and for every user the
//! money must balance to the fen: what left the bank, what the card gained and what the billers
//! hold add up to nothing, and each equals what our orders say moved. Reconciliation of the
//! day (`onecard reconcile`) must end with no unexplained difference. Both runs print their
//! counts. Slow: `scripts/money-crash.sh` runs them in release mode.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onecard::chat::WeChatClient;
use onecard::domain::StudentId;
use onecard::store::Binding;
use onecard::wechat::Reply;
use rand::Rng as _;
use serde_json::{Value, json};

use crate::helpers::{
    Overrides, Proc, SimAndServe, answers_within, get_json_from, json_lines, loopback_http,
    post_ok, write_bindings,
};

mod ledger;

use crate::money_helpers::yuan;
use ledger::{Summary, classes, count_by, imbalances};

/// The knobs of one run, each overridable from the environment.
#[derive(Clone, Debug)]
struct Scenario {
    /// Bound users chatting at once (`MONEY_USERS`).
    users: usize,
    /// Top-ups and payments each user starts (`MONEY_ORDERS_PER_USER`).
    orders_per_user: usize,
    /// SIGKILLs of the server, each followed by a restart (`MONEY_KILLS`).
    kills: usize,
    /// Share of money calls to the bank, the card system and the billers that fail
    /// (`MONEY_FAULT_RATE`).
    fault_rate: f64,
}

impl Scenario {
    fn from_env(users: usize, orders_per_user: usize, kills: usize, fault_rate: f64) -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        }
        Self {
            users: var("MONEY_USERS", users),
            orders_per_user: var("MONEY_ORDERS_PER_USER", orders_per_user),
            kills: var("MONEY_KILLS", kills),
            fault_rate: var("MONEY_FAULT_RATE", fault_rate),
        }
    }
}

#[tokio::test]
#[ignore = "slow: run with scripts/money-crash.sh"]
async fn money_balances_to_the_fen_across_sigkills_of_the_server() {
    run(Scenario::from_env(250, 6, 5, 0.0)).await;
}

#[tokio::test]
#[ignore = "slow: run with scripts/money-crash.sh"]
async fn money_balances_to_the_fen_with_a_fifth_of_upstream_calls_failing() {
    run(Scenario::from_env(250, 10, 0, 0.2)).await;
}

/// What the run changes in config/demo.toml: more people, each allowed to pay 500 元 without
/// the card password; many users driven hard; quick retries and upstream timeouts; a dead
/// process's claims back after 5 s; no scheduled reconciliation (the run reconciles itself).
fn overrides() -> (Overrides, Overrides) {
    let sim = Overrides::default()
        .set("sim.accounts", 1000)
        .set("sim.card.nopwd_limit_fen", 50_000);
    let mut serve = Overrides::default()
        .set("server.session_arbiters", 2)
        .set("server.store_cache_mb", 32)
        .set("server.shutdown_budget_ms", 5000)
        .set("sessions.user_burst", 1000)
        .set("sessions.user_per_minute", 6000)
        .set("rules.hot_reload", false)
        .set("orders.lease_secs", 5)
        .set("orders.backoff_base_ms", 100)
        .set("orders.poll_ms", 50)
        .set("orders.batch", 64)
        .set("reconcile.enabled", false);
    for upstream in ["card", "sms", "public_data", "bank", "billers"] {
        serve = serve
            .set(&format!("upstreams.{upstream}.timeout_ms"), 1500)
            .set(&format!("upstreams.{upstream}.concurrency"), 64)
            .set(&format!("upstreams.{upstream}.rate_per_sec"), 5000)
            .set(&format!("upstreams.{upstream}.breaker_cooldown_ms"), 200);
    }
    (sim, serve)
}

/// One user of the run: a WeChat user bound to a person who has a bank card bound.
#[derive(Clone, Debug)]
struct User {
    openid: String,
    sno: String,
}

/// Money of one person as the upstreams hold it, in fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Money {
    bank: i64,
    /// Spendable plus 过渡余额: a claim moves money between them, never out.
    card: i64,
    /// What the billers hold from this payer (payments accepted or completed).
    billers: i64,
}

/// What the users saw, counted.
#[derive(Default)]
struct Tally {
    /// 「确认」 sent.
    confirmations: usize,
    /// Order ids the users were shown (passive replies); each must exist.
    acknowledged: HashSet<String>,
    /// 「确认」 whose answer was lost in a crash and that WeChat delivered again.
    redelivered: usize,
    /// Dialogs cut by a crash.
    interrupted: usize,
    /// First lines of the replies that ended a dialog before 「确认」 (refusals), counted.
    refused: BTreeMap<String, usize>,
}

/// Where the simulators and the server answer, shared by every chatting user.
struct Endpoints {
    sim_base: String,
    serve_url: String,
    http: reqwest::Client,
    wx: WeChatClient,
}

/// The simulators' process and the server (re)started beside them, and where they answer.
struct Deployment {
    procs: SimAndServe,
    net: Arc<Endpoints>,
}

impl Deployment {
    async fn new() -> Self {
        let (sim, serve) = overrides();
        let procs = SimAndServe::start_demo(sim, serve).await;
        let net = Endpoints {
            sim_base: procs.sim_base.clone(),
            serve_url: procs.serve_url(),
            // No pooled connections: one the server is closing (a kill) would fail the next call.
            http: loopback_http()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            wx: procs.wechat(),
        };
        Self {
            procs,
            net: Arc::new(net),
        }
    }

    fn data(&self) -> PathBuf {
        self.procs.data()
    }

    fn serve_config(&self) -> PathBuf {
        self.procs.serve_config()
    }

    async fn serve(&mut self) -> Proc {
        self.procs.serve().await
    }

    /// Stop the server as an operator does (SIGTERM), waiting for it to exit.
    async fn stop(&self, mut serve: Proc) {
        serve.signal("TERM");
        let status = serve.wait_exit(Duration::from_secs(60)).await;
        assert!(status.success(), "{status:?}\n{}", serve.logs());
    }
    /// `onecard orders list` on the stopped server's data: every order in `state` (or every
    /// unfinished one).
    fn orders(&self, state: Option<&str>) -> Vec<Value> {
        let data = self.data();
        let mut args = vec!["orders", "list", "--json", "--data", data.to_str().unwrap()];
        if let Some(state) = state {
            args.extend(["--state", state]);
        }
        json_lines(&self.procs.cli(&args))
    }

    fn all_orders(&self) -> Vec<Value> {
        let mut all = self.orders(None);
        for state in ["succeeded", "failed", "reversed", "needs_manual"] {
            all.extend(self.orders(Some(state)));
        }
        all
    }

    /// `onecard reconcile --date D` against the simulators' process: its summary.
    fn reconcile(&self, date: &str) -> String {
        let (cfg, data) = (self.serve_config(), self.data());
        let out_dir = self.procs.dir.path().join("reconcile");
        let stdout = self.procs.cli(&[
            "reconcile",
            "--date",
            date,
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        // the summary, without the log lines the command writes beside it
        stdout
            .lines()
            .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn manual_queue(&self) -> String {
        let (cfg, data) = (self.serve_config(), self.data());
        self.procs.cli(&[
            "reconcile",
            "queue",
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
    }
}

impl Endpoints {
    async fn sim_get(&self, path: &str) -> Value {
        get_json_from(&self.http, &format!("{}{path}", self.sim_base)).await
    }

    async fn sim_post(&self, path: &str, body: Value) {
        post_ok(&self.http, &format!("{}{path}", self.sim_base), body).await;
    }

    /// People with a normal card and a bank card bound for 银校转账 (not reported lost).
    async fn pick_users(&self, n: usize) -> Vec<(User, Value)> {
        let accounts = self.sim_get("/sim/card/accounts?limit=1000").await;
        let mut picked = Vec::new();
        for a in accounts.as_array().unwrap() {
            if picked.len() == n {
                break;
            }
            let sno = a["id"].as_str().unwrap();
            if a["status"] != "normal" {
                continue;
            }
            // 404: no bank account at all
            let bank: Value = self
                .http
                .get(format!("{}/sim/bank/accounts/{sno}", self.sim_base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or_default();
            if bank["bound"] != true || bank["card_lost"] != false {
                continue;
            }
            let user = User {
                openid: format!("oMoney{:022}", picked.len()),
                sno: sno.to_owned(),
            };
            picked.push((user, a.clone()));
        }
        assert_eq!(picked.len(), n, "the simulator has {n} such people");
        picked
    }

    async fn money(&self, sno: &str) -> Money {
        let bank = self.sim_get(&format!("/sim/bank/accounts/{sno}")).await;
        let card = self.sim_get(&format!("/sim/card/accounts/{sno}")).await;
        let paid = self
            .sim_get(&format!("/sim/billers/payments?payer={sno}"))
            .await;
        Money {
            bank: bank["balance_fen"].as_i64().unwrap(),
            card: card["balance_fen"].as_i64().unwrap() + card["pending_fen"].as_i64().unwrap(),
            billers: paid
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["state"] == "SUCCESS" || p["state"] == "ACCEPTED")
                .map(|p| p["amount_fen"].as_i64().unwrap())
                .sum(),
        }
    }

    async fn money_of(&self, users: &[User]) -> HashMap<String, Money> {
        let mut all = HashMap::new();
        for u in users {
            all.insert(u.sno.clone(), self.money(&u.sno).await);
        }
        all
    }

    /// Every money call to the bank, the card system and the billers fails with `rate`:
    /// a third hang past our timeout, a third are refused (503), a third commit and lose
    /// their answer.
    async fn set_faults(&self, rate: f64) {
        let each = 1.0 - (1.0 - rate).powf(1.0 / 3.0);
        let knobs = |ops: &[&str]| {
            if rate == 0.0 {
                json!({})
            } else {
                json!({
                    "timeout_rate": each,
                    "hang_ms": 2500,
                    "error_rate": each,
                    "lost_response_rate": each,
                    "ops": ops,
                })
            }
        };
        self.sim_post(
            "/sim/faults/bank",
            knobs(&["bank/debit", "bank/query", "bank/reverse"]),
        )
        .await;
        self.sim_post(
            "/sim/faults/card",
            knobs(&[
                "card/load/create",
                "card/load/reverse",
                "card/pay/debit",
                "card/pay/refund",
                "card/trade/query",
            ]),
        )
        .await;
        self.sim_post(
            "/sim/faults/billers",
            knobs(&["billers/pay", "billers/query"]),
        )
        .await;
    }
}

/// Write the users' bindings into the store before the server first opens it (binding each
/// through the SMS dialog is the binding tests' business, and slow).
async fn seed_bindings(data: &Path, users: &[(User, Value)]) {
    let bindings = users.iter().map(|(user, account)| {
        let binding = Binding {
            student_id: StudentId::parse(&user.sno).unwrap(),
            name: account["name"].as_str().unwrap().to_owned(),
            bound_at: chrono::Utc::now().timestamp(),
            phone_masked: "138****0000".into(),
            account: account["account"].as_str().unwrap().to_owned(),
            card_no: account["card_no_display"].as_str().unwrap().to_owned(),
            phone: None,
        };
        (user.openid.clone(), binding)
    });
    write_bindings(data, bindings).await;
}

/// What a user does next.
#[derive(Clone, Copy, Debug)]
enum Errand {
    TopUp { yuan: u32 },
    NetworkFee,
    Electricity { room: u32, yuan: u32 },
    ExamFee,
    Donation { yuan: u32 },
}

fn errand(r: &mut impl rand::Rng) -> Errand {
    match r.random_range(0..10) {
        0..=4 => Errand::TopUp {
            yuan: r.random_range(1..=6) * 10,
        },
        5 => Errand::NetworkFee,
        6 => Errand::Electricity {
            room: r.random_range(1..=20),
            yuan: r.random_range(2..=20),
        },
        7 => Errand::ExamFee,
        _ => Errand::Donation {
            yuan: r.random_range(1..=15),
        },
    }
}

/// The turns of an errand: what the user says, and how the answer must start for the dialog
/// to go on. The last turn is always 「确认」.
fn turns(e: Errand) -> Vec<(String, &'static str)> {
    let say = |s: &str, expect: &'static str| (s.to_owned(), expect);
    match e {
        Errand::TopUp { yuan } => vec![say(&format!("充值 {yuan}"), "请确认充值"), say("确认", "")],
        Errand::NetworkFee => vec![
            say("网费", "校园网账号"),
            say("1", "请核对缴费信息"),
            say("确认", ""),
        ],
        Errand::Electricity { room, yuan } => vec![
            say("电费", "请选择"),
            say("7", "西苑7号楼"),
            say(&format!("6{room:02}"), "西苑7号楼6"),
            say(&yuan.to_string(), "请核对缴费信息"),
            say("确认", ""),
        ],
        Errand::ExamFee => vec![say("考试费", "请核对缴费信息"), say("确认", "")],
        Errand::Donation { yuan } => vec![
            say("捐赠", "感谢您对母校的支持"),
            say("1", "图书馆建设基金"),
            say(&yuan.to_string(), "请回复捐赠留言"),
            say("无", "请核对捐赠信息"),
            say("确认", ""),
        ],
    }
}

fn reply_text(ex: &onecard::chat::Exchange) -> String {
    match &ex.reply {
        Some(Reply::Text(t)) => t.clone(),
        Some(Reply::News(a)) => a.title.clone(),
        None => String::new(),
    }
}

/// A refusal's first line with amounts and numbers as `N`, so the same reason counts once
/// whoever was refused (「校园卡余额 N 元，不足以支付…」, not one line per balance).
fn refusal_reason(first_line: &str) -> String {
    let numbers = regex::Regex::new(r"\d+(\.\d+)?").unwrap();
    let general = numbers.replace_all(first_line, "N");
    general.chars().take(22).collect()
}

fn order_ids(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"O\d{8}[0-9A-Z]{12}").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

/// One user's errands, one after another. A dialog cut by a crash ends with 「取消」 once the
/// server is back; a 「确认」 whose answer was lost is delivered again, as WeChat retries.
async fn chat(d: Arc<Endpoints>, user: User, errands: usize, tally: Arc<Mutex<Tally>>) {
    let healthz = format!("{}/healthz", d.serve_url);
    for _ in 0..errands {
        let e = errand(&mut rand::rng());
        for (text, expect) in turns(e) {
            let msg = d.wx.text_message(&user.openid, &text);
            let confirm = expect.is_empty();
            if confirm {
                tally.lock().unwrap().confirmations += 1;
            }
            let answer = match d.wx.send(&msg).await {
                Ok(ex) if ex.status == 200 => Some(reply_text(&ex)),
                _ => None,
            };
            let answer = match answer {
                Some(a) => a,
                None => {
                    tally.lock().unwrap().interrupted += 1;
                    answers_within(&healthz, Duration::from_secs(120)).await;
                    if confirm {
                        tally.lock().unwrap().redelivered += 1;
                        if let Ok(ex) = d.wx.deliver(&msg).await {
                            let ids = order_ids(&reply_text(&ex));
                            tally.lock().unwrap().acknowledged.extend(ids);
                        }
                    } else {
                        let _ = d.wx.text(&user.openid, "取消").await;
                    }
                    break;
                }
            };
            if confirm {
                tally
                    .lock()
                    .unwrap()
                    .acknowledged
                    .extend(order_ids(&answer));
                break;
            }
            if !answer.starts_with(expect) {
                let first = answer.lines().next().unwrap_or("<no reply>");
                *tally
                    .lock()
                    .unwrap()
                    .refused
                    .entry(refusal_reason(first))
                    .or_default() += 1;
                let _ = d.wx.text(&user.openid, "取消").await;
                break;
            }
        }
    }
}

/// SIGKILL the server `kills` times at random moments while `busy` says work is going on,
/// starting it again each time. Returns the running server and the kills done.
async fn chaos(
    d: &mut Deployment,
    mut serve: Proc,
    kills: usize,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> (Proc, usize) {
    let mut killed = 0;
    while killed < kills && !done.load(std::sync::atomic::Ordering::SeqCst) {
        let wait = rand::rng().random_range(1_500..6_000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        serve.kill_hard();
        killed += 1;
        serve = d.serve().await;
    }
    (serve, killed)
}

/// SIGKILL the server at `kills` random points of the load itself, read as the share of the
/// expected 「确认」 already sent, so the kills cut dialogs and confirmations however fast the
/// machine runs the load (a timer alone lets a fast run finish before the first kill). Stops
/// early when the load is done; the rest are the caller's to make.
async fn chaos_during_load(
    d: &mut Deployment,
    mut serve: Proc,
    kills: usize,
    expected: usize,
    tally: Arc<Mutex<Tally>>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> (Proc, usize) {
    let mut marks: Vec<usize> = (0..kills)
        .map(|_| rand::rng().random_range(expected / 20..expected * 3 / 4 + 1))
        .collect();
    marks.sort_unstable();
    let mut killed = 0;
    for mark in marks {
        while tally.lock().unwrap().confirmations < mark {
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                return (serve, killed);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        serve.kill_hard();
        killed += 1;
        serve = d.serve().await;
    }
    (serve, killed)
}

async fn run(scenario: Scenario) {
    let started = Instant::now();
    println!("money run: {scenario:?}");
    let mut d = Deployment::new().await;
    let net = d.net.clone();
    let picked = net.pick_users(scenario.users).await;
    seed_bindings(&d.data(), &picked).await;
    let users: Vec<User> = picked.into_iter().map(|(u, _)| u).collect();
    let before = net.money_of(&users).await;
    net.set_faults(scenario.fault_rate).await;

    let serve = d.serve().await;
    let load_started = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chats: Vec<_> = users
        .iter()
        .map(|u| {
            tokio::spawn(chat(
                net.clone(),
                u.clone(),
                scenario.orders_per_user,
                tally.clone(),
            ))
        })
        .collect();
    let load_done = done.clone();
    let load = tokio::spawn(async move {
        for c in chats {
            c.await.unwrap();
        }
        load_done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let (serve, mut kills) = chaos_during_load(
        &mut d,
        serve,
        scenario.kills,
        scenario.users * scenario.orders_per_user,
        tally.clone(),
        done.clone(),
    )
    .await;
    load.await.unwrap();
    let load_secs = load_started.elapsed().as_secs_f64();
    // Kills the load outlasted happen while the orders are still moving.
    let (mut serve, late) = chaos(
        &mut d,
        serve,
        scenario.kills - kills,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .await;
    kills += late;

    // Faults off; the meters credit accepted electricity within 120 s of simulated time.
    net.set_faults(0.0).await;
    net.sim_post("/sim/clock/advance", json!({"secs": 150}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let drain_started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        d.stop(serve).await;
        let open = d.orders(None);
        if open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} orders still open: {:?}",
            open.len(),
            count_by(&open, |o| o["state"].to_string())
        );
        serve = d.serve().await;
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();

    let orders = d.all_orders();
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    let ids: HashSet<String> = orders
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let unknown: Vec<&String> = tally.acknowledged.difference(&ids).collect();
    assert!(
        unknown.is_empty(),
        "users were shown orders that do not exist: {unknown:?}"
    );
    assert!(
        orders.len() <= tally.confirmations,
        "{} orders from {} confirmations",
        orders.len(),
        tally.confirmations
    );

    let after = net.money_of(&users).await;
    let wrong_before_reconcile = imbalances(&users, &before, &after, &orders);
    println!(
        "\norders: {} from {} confirmations ({} shown to users; {} dialogs cut by a crash, {} confirmations delivered again)",
        orders.len(),
        tally.confirmations,
        tally.acknowledged.len(),
        tally.interrupted,
        tally.redelivered
    );
    let kind_state = |o: &Value| {
        format!(
            "{:<8} {}",
            o["kind"].as_str().unwrap_or("?"),
            o["state"].as_str().unwrap_or("?")
        )
    };
    for (k, n) in count_by(&orders, kind_state) {
        println!("  {k:<24} {n:>6}");
    }
    let reasons = count_by(
        &orders
            .iter()
            .filter(|o| o["state"] != "succeeded")
            .cloned()
            .collect::<Vec<_>>(),
        |o| {
            let reason = o["history"]
                .as_array()
                .and_then(|h| h.iter().rev().find_map(|c| c["detail"].as_str()))
                .unwrap_or("-");
            format!("{:<12} {reason}", o["state"].as_str().unwrap_or("?"))
        },
    );
    println!("why orders did not succeed:");
    for (k, n) in reasons {
        println!("  {k:<60} {n:>6}");
    }
    println!("dialogs refused before 「确认」:");
    for (k, n) in &tally.refused {
        println!("  {k:<30} {n:>6}");
    }
    let total = |f: fn(&Money) -> i64, m: &HashMap<String, Money>| m.values().map(f).sum::<i64>();
    println!(
        "money moved: bank {} 元, card {} 元, billers {} 元 (sum {} 元)",
        yuan(total(|m| m.bank, &after) - total(|m| m.bank, &before)),
        yuan(total(|m| m.card, &after) - total(|m| m.card, &before)),
        yuan(total(|m| m.billers, &after) - total(|m| m.billers, &before)),
        yuan(
            total(|m| m.bank + m.card + m.billers, &after)
                - total(|m| m.bank + m.card + m.billers, &before)
        ),
    );
    println!(
        "people whose money disagrees with the orders before reconciliation: {}",
        wrong_before_reconcile.len()
    );
    for w in wrong_before_reconcile.iter().take(10) {
        println!("  {w}");
    }

    // Reconcile each campus day the orders were made on, once the statements are out (T+1
    // from 06:00): a first run settles what is safe, a second must find nothing left.
    net.sim_post("/sim/clock/advance", json!({"secs": 30 * 3600}))
        .await;
    let days: std::collections::BTreeSet<String> = orders
        .iter()
        .map(|o| {
            let ms = o["created_at_ms"].as_i64().unwrap() + 8 * 3_600_000;
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let mut last = BTreeMap::new();
    for day in &days {
        let first = d.reconcile(day);
        println!("reconciliation, first run:\n{first}");
        let again = d.reconcile(day);
        println!("reconciliation, second run:\n{again}");
        last = classes(&again);
        for class in [
            "ours_only",
            "theirs_only",
            "amount_mismatch",
            "state_mismatch",
        ] {
            assert_eq!(
                last.get(class).copied().unwrap_or(0),
                0,
                "{class} left on {day}:\n{again}\nmanual queue:\n{}",
                d.manual_queue()
            );
        }
    }
    let orders = d.all_orders();
    let after = net.money_of(&users).await;
    let wrong = imbalances(&users, &before, &after, &orders);
    let summary = Summary {
        scenario: &scenario,
        kills,
        orders: &orders,
        tally: &tally,
        before: &before,
        after: &after,
        out_of_balance: wrong.len(),
        reconciled: &last,
        secs: [load_secs, drain_secs, started.elapsed().as_secs_f64()],
    };
    println!("{summary}");
    assert!(
        wrong.is_empty(),
        "{} people's money disagrees with the orders:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(kills, scenario.kills);
    drop(d.procs);
}
