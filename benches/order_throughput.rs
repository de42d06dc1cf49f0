//! Figures for money, not a test: how many top-up orders per second the platform carries with
//! durable writes, and how much time a top-up adds over the bank's and card system's own.
//!
//! Everything is real except the upstreams' people: a sled store on disk (every state change
//! flushed before the next upstream call), the order worker and the top-up machine, the bank and
//! card adapters over loopback HTTP to the simulators served in this process. The simulators
//! answer at once (no injected latency) for the throughput, then with a fixed latency for the
//! added time. Their clock stands at 10:00 campus time, inside every service window, so the
//! figures do not depend on the hour the bench is run.
//!
//! Every wait has a deadline: when one passes (or no order has ended for 20 s), the bench
//! prints the orders still open (counted by state, the last steps of a few) and exits with
//! status 1 instead of hanging.
//!
//! Run: `cargo bench --bench order_throughput` (`ORDERS=N` for the throughput run, default
//! 5000; `DEADLINE_SECS=S` for it to finish, default 100). Prints one line per figure.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{LocalBoxFuture, join_all};
use onecard::actors::orders::{
    After, OrderNotices, OrderWorker, TopUpMachine, TopUpPolicy, WorkerPolicy,
};
use onecard::adapters::{BankHandle, CardHandle, UpstreamConfig, bank, card};
use onecard::domain::{Fen, OpenId, OrderId, StudentId};
use onecard::sim::campus::local_secs;
use onecard::sim::{SimConfig, SimState};
use onecard::store::orders::{NewOrder, Order, OrderKind, OrderState, OrderStore, OrderTask};
use onecard::store::{SledOrders, Store};
use serde_json::{Value, json};

/// The end of an order is only counted: what is measured is the money path. Counting the
/// notices tells the throughput run that every order ended without scanning the store (a scan
/// of thousands of orders every few milliseconds runs on the worker's own thread).
#[derive(Default)]
struct Counted(Mutex<HashSet<OrderId>>);

impl Counted {
    fn ended(&self) -> usize {
        self.0.lock().expect("counted").len()
    }
}

impl OrderNotices for Counted {
    fn tell<'a>(&'a self, order: &'a Order) -> LocalBoxFuture<'a, After> {
        self.0.lock().expect("counted").insert(order.id.clone());
        Box::pin(async { After::Ack })
    }
}

struct Bench {
    base: String,
    http: reqwest::Client,
    bank: BankHandle,
    card: CardHandle,
    /// (学工号, card account) of people with a bank card bound.
    people: Vec<(String, String)>,
}

/// The simulators on 127.0.0.1:0 with two workers, limits out of the way (the figures are
/// about our side, not the simulated school's policy), the clock frozen at 10:00 campus time.
async fn simulators() -> (String, SimState) {
    let mut cfg = SimConfig {
        accounts: 400,
        ..SimConfig::default()
    };
    cfg.card.single_limit_fen = i64::MAX / 4;
    cfg.card.day_limit_fen = i64::MAX / 4;
    cfg.card.wallet_cap_fen = i64::MAX / 4;
    cfg.bank.single_limit_fen = i64::MAX / 4;
    cfg.bank.day_limit_fen = i64::MAX / 4;
    let state = SimState::new(cfg);
    state.clock().freeze();
    let since_midnight = local_secs(state.clock().now());
    state
        .clock()
        .advance((10 * 3600 - since_midnight).rem_euclid(86_400));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let s = state.clone();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().configure(onecard::sim::configure(s.clone()))
    })
    .workers(2)
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    (base, state)
}

impl Bench {
    async fn start() -> Self {
        let (base, state) = simulators().await;
        let creds = state.config().upstream.clone();
        let upstream = |mount: &str| {
            let mut c = UpstreamConfig::new(
                format!("{base}{mount}"),
                creds.app_key.clone(),
                creds.app_secret.clone(),
            );
            // our own limits sized for the run: the figure is the order path, not the limiter
            c.rate_per_sec = 1_000_000;
            c.concurrency = 128;
            c
        };
        let bank = bank::actor::start(&upstream("/sim/bank")).expect("bank adapter");
        let card = card::actor::start(&upstream("/sim/card")).expect("card adapter");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let accounts: Vec<Value> = http
            .get(format!("{base}/sim/card/accounts?limit=400"))
            .send()
            .await
            .expect("accounts")
            .json()
            .await
            .expect("accounts json");
        let mut people = Vec::new();
        for a in accounts {
            let sno = a["id"].as_str().unwrap_or_default().to_owned();
            if a["status"] != "normal" {
                continue;
            }
            // 404: no bank account at all
            let bank: Value = match http
                .get(format!("{base}/sim/bank/accounts/{sno}"))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
                _ => continue,
            };
            if bank["bound"] == true && bank["card_lost"] == false {
                people.push((sno, a["account"].as_str().unwrap_or_default().to_owned()));
            }
        }
        assert!(
            people.len() > 100,
            "people with a bank card: {}",
            people.len()
        );
        Self {
            base,
            http,
            bank,
            card,
            people,
        }
    }

    async fn latency(&self, ms: u64) {
        for upstream in ["bank", "card"] {
            let r = self
                .http
                .post(format!("{}/sim/faults/{upstream}", self.base))
                .json(&json!({ "latency_ms": ms }))
                .send()
                .await
                .expect("faults");
            assert!(r.status().is_success());
        }
    }

    fn worker(
        &self,
        orders: &SledOrders,
        batch: usize,
        ended: Arc<Counted>,
    ) -> OrderWorker<SledOrders> {
        let machine = TopUpMachine::new(
            orders.clone(),
            self.bank.clone(),
            self.card.clone(),
            TopUpPolicy::default(),
        );
        OrderWorker::new(
            orders.clone(),
            Some(machine),
            ended,
            WorkerPolicy {
                lease: Duration::from_secs(30),
                batch,
                poll: Duration::from_millis(2),
                backoff_base: Duration::from_millis(50),
            },
        )
    }

    /// A 1 元 top-up for the i-th person.
    fn order(&self, i: usize) -> NewOrder {
        let (sno, account) = &self.people[i % self.people.len()];
        NewOrder {
            id: OrderId::generate(chrono::Utc::now().timestamp_millis()),
            idempotency_key: format!("bench:{}", OrderId::generate(0)),
            kind: OrderKind::TopUp,
            openid: OpenId::parse(&format!("oBench{i:022}")).expect("openid"),
            sno: StudentId::parse(sno).expect("sno"),
            account: account.clone(),
            amount: Fen(100),
        }
    }
}

/// The throughput run gives up when no order has ended for this long.
const STALL: Duration = Duration::from_secs(20);

/// The deadline of a wait passed: say which orders are stuck where, and stop the bench.
async fn stuck(what: &str, orders: &SledOrders, waited: Duration) -> ! {
    let open = orders.list_unfinished().await.expect("unfinished");
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for o in &open {
        *by_state.entry(format!("{:?}", o.state)).or_default() += 1;
    }
    eprintln!(
        "STUCK: {what}: {} orders not terminal after {:.1} s: {by_state:?}",
        open.len(),
        waited.as_secs_f64()
    );
    let now = chrono::Utc::now().timestamp_millis();
    for o in open.iter().take(5) {
        eprintln!(
            "  {} {:?}, last change {} ms ago:",
            o.id,
            o.state,
            now - o.updated_at_ms
        );
        for c in o.history.iter().rev().take(4).rev() {
            eprintln!(
                "    {:?} → {:?} {}",
                c.from,
                c.to,
                c.detail.as_deref().unwrap_or("")
            );
        }
    }
    std::process::exit(1);
}

/// CPU time this process has used (user + system), where Linux says (`/proc/self/stat`): on a
/// loaded machine the orders per CPU-second say more than the orders per second.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the command name (which may hold spaces) start at state, field 3
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    // USER_HZ is 100 on every Linux this runs on
    Some(Duration::from_millis((ticks(14)? + ticks(15)?) * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `n` orders created as fast as 64 concurrent 「确认」 can, while the worker drives them; the
/// rate is orders that reached a terminal state (and were announced) per second of the whole
/// run.
async fn throughput(bench: &Bench, n: usize, deadline: Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 64).expect("store");
    let orders = store.orders().expect("orders");
    let ended = Arc::new(Counted::default());
    let worker = bench.worker(&orders, 256, ended.clone());
    let wake = worker.clone().spawn();
    let (started, cpu_before) = (Instant::now(), cpu_time());
    let creators = 64;
    let create_all = join_all((0..creators).map(|c| {
        let (orders, wake) = (orders.clone(), wake.clone());
        async move {
            for i in (c..n).step_by(creators) {
                orders
                    .create(bench.order(i), Some(OrderTask::Advance))
                    .await
                    .expect("create");
                wake.wake();
            }
        }
    }));
    if tokio::time::timeout(deadline, create_all).await.is_err() {
        stuck("creating the orders", &orders, started.elapsed()).await;
    }
    let created = started.elapsed();
    // Slow is not stuck: give up at the deadline, or sooner when no order has ended for a while.
    let (mut seen, mut progressed) = (0, Instant::now());
    while seen < n {
        let now = ended.ended();
        if now > seen {
            (seen, progressed) = (now, Instant::now());
        }
        if progressed.elapsed() > STALL {
            let why = format!("throughput, no order ended for {} s", STALL.as_secs());
            stuck(&why, &orders, started.elapsed()).await;
        }
        if started.elapsed() > deadline {
            let why = format!("throughput, {seen} of {n} ended by the deadline");
            stuck(&why, &orders, started.elapsed()).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = started.elapsed();
    let cpu = match (cpu_before, cpu_time()) {
        (Some(before), Some(after)) => {
            let used = (after - before).as_secs_f64();
            format!(
                "; process CPU (ours and the simulators') {used:.1} s: {:.0} orders per CPU-second",
                n as f64 / used
            )
        }
        _ => String::new(),
    };
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for state in [
        OrderState::Succeeded,
        OrderState::Failed,
        OrderState::Reversed,
        OrderState::NeedsManual,
    ] {
        let count = orders.list_in_state(state).await.expect("in state").len();
        if count > 0 {
            by_state.insert(format!("{state:?}"), count);
        }
    }
    println!(
        "throughput: {n} top-ups (durable store, simulators at 0 ms): {:.0} orders/s end to end {by_state:?}; created in {:.2} s, all terminal in {:.2} s{cpu}",
        n as f64 / done.as_secs_f64(),
        created.as_secs_f64(),
        done.as_secs_f64(),
    );
}

/// One order at a time, from 「确认」 (create) to `succeeded`, against the time the two upstream
/// calls take on their own (the same adapters, fresh keys).
async fn added_latency(bench: &Bench, upstream_ms: u64, n: usize) {
    bench.latency(upstream_ms).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 64).expect("store");
    let orders = store.orders().expect("orders");
    let worker = bench.worker(&orders, 8, Arc::new(Counted::default()));
    // far beyond the four steps of one order, even on a loaded machine
    let per_order = Duration::from_secs(20) + Duration::from_millis(upstream_ms * 20);
    let mut whole = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        let created = orders
            .create(bench.order(i), Some(OrderTask::Advance))
            .await
            .expect("create");
        let id = created.order().id.clone();
        loop {
            let handled = worker.run_once().await.expect("round");
            let order = orders.get(&id).await.expect("get").expect("order");
            if order.state.is_terminal() {
                assert_eq!(order.state, OrderState::Succeeded, "{order:?}");
                break;
            }
            if t0.elapsed() > per_order {
                stuck("one top-up at a time", &orders, t0.elapsed()).await;
            }
            if handled == 0 {
                // a step is backing off: do not spin on the store meanwhile
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        whole.push(t0.elapsed());
    }
    let mut upstream = Vec::with_capacity(n);
    for i in 0..n {
        let (sno, account) = &bench.people[i % bench.people.len()];
        let id = OrderId::generate(chrono::Utc::now().timestamp_millis());
        let t0 = Instant::now();
        bench
            .bank
            .debit(&onecard::wire::BankDebit {
                sno: sno.clone(),
                amount_fen: onecard::domain::Fen(100),
                out_trade_no: format!("{id}D"),
                purpose: onecard::adapters::bank::PURPOSE_CAMPUS_CARD_LOAD.to_owned(),
            })
            .await
            .expect("debit");
        bench
            .card
            .load(&onecard::wire::LoadCreate {
                account: account.clone(),
                amount_fen: onecard::domain::Fen(100),
                out_trade_no: format!("{id}C"),
                source: onecard::wire::LoadSource::Bank,
                source_ref: format!("{id}D"),
            })
            .await
            .expect("load");
        upstream.push(t0.elapsed());
    }
    whole.sort();
    upstream.sort();
    let (w50, u50) = (percentile(&whole, 0.5), percentile(&upstream, 0.5));
    let (w99, u99) = (percentile(&whole, 0.99), percentile(&upstream, 0.99));
    println!(
        "latency: simulators at {upstream_ms} ms, {n} top-ups one at a time: order p50 {:.1} ms / p99 {:.1} ms; debit+load alone p50 {:.1} ms / p99 {:.1} ms; added by the order path p50 {:.1} ms ({:.2}× the upstreams' own)",
        ms(w50),
        ms(w99),
        ms(u50),
        ms(u99),
        ms(w50) - ms(u50),
        ms(w50) / ms(u50),
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n: usize = env_or("ORDERS", 5_000);
    let deadline = Duration::from_secs(env_or("DEADLINE_SECS", 100));
    actix_web::rt::System::new().block_on(async move {
        let bench = Bench::start().await;
        // the latencies first: the throughput run's worker polls until the process ends
        added_latency(&bench, 0, 200).await;
        added_latency(&bench, 20, 100).await;
        throughput(&bench, n, deadline).await;
    });
}
