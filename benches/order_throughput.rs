//! Figures for money, not a test: how many top-up orders per second the platform carries with
//! durable writes, and how much time a top-up adds over the bank's and card system's own.
//!
//! Everything is real except the upstreams' people: a sled store on disk (every state change
//! flushed before the next upstream call), the order worker and the top-up machine, the bank and
//! card adapters over loopback HTTP to the simulators served in this process. The simulators
//! answer at once (no injected latency) for the throughput, then with a fixed latency for the
//! added time.
//!
//! Run: `cargo bench --bench order_throughput` (`ORDERS=N` for the throughput run, default
//! 5000). Prints one line per figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{LocalBoxFuture, join_all};
use onecard::actors::orders::{
    After, OrderNotices, OrderWorker, TopUpMachine, TopUpPolicy, WorkerPolicy,
};
use onecard::adapters::{BankHandle, CardHandle, UpstreamConfig, bank, card};
use onecard::domain::{Fen, OpenId, OrderId, StudentId};
use onecard::sim::{SimConfig, SimState};
use onecard::store::orders::{NewOrder, Order, OrderKind, OrderState, OrderStore, OrderTask};
use onecard::store::{SledOrders, Store};
use serde_json::{Value, json};

/// The end of an order is only counted: what is measured is the money path.
struct Counted;

impl OrderNotices for Counted {
    fn tell<'a>(&'a self, _order: &'a Order) -> LocalBoxFuture<'a, After> {
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
/// about our side, not the simulated school's policy).
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
        let http = reqwest::Client::new();
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
            let normal = a["status"] == "normal";
            let banked = http
                .get(format!("{base}/sim/bank/accounts/{sno}"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if normal && banked {
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

    fn worker(&self, orders: &SledOrders, batch: usize) -> OrderWorker<SledOrders> {
        let machine = TopUpMachine::new(
            orders.clone(),
            self.bank.clone(),
            self.card.clone(),
            TopUpPolicy::default(),
        );
        OrderWorker::new(
            orders.clone(),
            Some(machine),
            Arc::new(Counted),
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `n` orders created as fast as 64 concurrent 「确认」 can, while the worker drives them; the
/// rate is orders that reached a terminal state per second of the whole run.
async fn throughput(bench: &Bench, n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 64).expect("store");
    let orders = store.orders().expect("orders");
    let worker = bench.worker(&orders, 256);
    let wake = worker.clone().spawn();
    let started = Instant::now();
    let creators = 64;
    join_all((0..creators).map(|c| {
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
    }))
    .await;
    let created = started.elapsed();
    loop {
        if orders
            .list_unfinished()
            .await
            .expect("unfinished")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = started.elapsed();
    let succeeded = orders
        .list_in_state(OrderState::Succeeded)
        .await
        .expect("succeeded")
        .len();
    println!(
        "throughput: {n} top-ups (durable store, simulators at 0 ms): {:.0} orders/s end to end ({succeeded} succeeded; created in {:.2} s, all terminal in {:.2} s)",
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
    let worker = bench.worker(&orders, 8);
    let mut whole = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        let created = orders
            .create(bench.order(i), Some(OrderTask::Advance))
            .await
            .expect("create");
        let id = created.order().id.clone();
        loop {
            worker.run_once().await.expect("round");
            let order = orders.get(&id).await.expect("get").expect("order");
            if order.state.is_terminal() {
                assert_eq!(order.state, OrderState::Succeeded, "{order:?}");
                break;
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
                amount_fen: 100,
                out_trade_no: format!("{id}D"),
                purpose: onecard::adapters::bank::PURPOSE_CAMPUS_CARD_LOAD.to_owned(),
            })
            .await
            .expect("debit");
        bench
            .card
            .load(&onecard::wire::LoadCreate {
                account: account.clone(),
                amount_fen: 100,
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

fn main() {
    let n: usize = std::env::var("ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    actix_web::rt::System::new().block_on(async move {
        let bench = Bench::start().await;
        throughput(&bench, n).await;
        added_latency(&bench, 0, 200).await;
        added_latency(&bench, 20, 100).await;
    });
}
