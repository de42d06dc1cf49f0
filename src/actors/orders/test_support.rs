//! What the order machines' tests share: the simulators at a quiet hour, adapters with quick
//! retries, a fast worker policy, and the [`Harness`] every machine's test world is built on (a
//! temporary orders store, its worker, a notice sink that records the ends the worker announced,
//! and the rounds that drive an order until it reaches a state).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;

use super::{After, OrderNotices, OrderWorker, TopUpMachine, WorkerPolicy};
use crate::actors::payments::PaymentMachine;
use crate::adapters::UpstreamConfig;
use crate::domain::{Fen, OpenId, OrderId, StudentId};
use crate::sim::SimConfig;
use crate::sim::campus::local_secs;
use crate::sim::upstream::testkit::{self, Sim};
use crate::store::orders::{
    NewOrder, Order, OrderClock, OrderKind, OrderState, OrderStore, OrderTask,
};
use crate::store::{SledOrders, Store};

/// 张三, the seeded student the machines' tests move money for: his student number and his
/// card account (a normal card with 52.30 元).
pub const SNO: &str = "2024000001";
pub const ACCOUNT: &str = "20001";

/// The ends the worker announced, in order.
#[derive(Default)]
pub struct Told(pub Mutex<Vec<(OrderId, OrderState)>>);

impl OrderNotices for Told {
    fn tell<'a>(&'a self, order: &'a Order) -> LocalBoxFuture<'a, After> {
        self.0.lock().unwrap().push((order.id.clone(), order.state));
        Box::pin(async { After::Ack })
    }
}

/// The simulators, moved to 10:00 campus time: inside every service window, far from the
/// bank's 23:00 and the card system's 23:30 day cuts.
pub async fn sim_at_ten(config: SimConfig) -> Sim {
    let sim = testkit::spawn(config).await;
    let since_midnight = local_secs(sim.state.clock().now());
    sim.state
        .clock()
        .advance((10 * 3600 - since_midnight).rem_euclid(86_400));
    sim
}

/// One upstream of the simulators, with quick retries and a short breaker cooldown.
pub fn quick_upstream(sim: &Sim, mount: &str) -> UpstreamConfig {
    let mut c = UpstreamConfig::new(
        format!("{}{mount}", sim.base),
        sim.creds.app_key.clone(),
        sim.creds.app_secret.clone(),
    );
    c.backoff_base_ms = 5;
    c.breaker_cooldown_ms = 50;
    c
}

/// A worker that polls often; its backoff is longer than the breaker cooldown, so a retry is
/// not spent on an open breaker.
pub fn quick_worker_policy() -> WorkerPolicy {
    WorkerPolicy {
        lease: Duration::from_secs(10),
        batch: 8,
        poll: Duration::from_millis(10),
        backoff_base: Duration::from_millis(30),
    }
}

/// A machine's test world: the simulators, a fresh orders store in a temporary directory, the
/// worker that drives it, the ends the worker announced, and the upstream handles `U` the
/// machine uses. It derefs to `U`, so a test reads `w.store` and `w.bank` alike.
pub struct Harness<U> {
    pub sim: Sim,
    pub store: SledOrders,
    pub worker: OrderWorker<SledOrders>,
    pub told: Arc<Told>,
    pub upstreams: U,
    /// Builds the world's machine on a store (again after [`Harness::reopen`]).
    machine_on: MachineOn<U>,
    /// Holds the store's directory open for as long as the store is used.
    _dir: Store,
}

/// The machine a world tests, on the world's store and upstreams.
pub enum Machine {
    TopUp(TopUpMachine<SledOrders>),
    Payments(PaymentMachine<SledOrders>),
}

/// How a world builds its machine on a store from its upstream handles.
pub type MachineOn<U> = fn(&SledOrders, &U) -> Machine;

impl<U> std::ops::Deref for Harness<U> {
    type Target = U;
    fn deref(&self) -> &U {
        &self.upstreams
    }
}

impl<U> Harness<U> {
    /// A fresh store beside `sim`, driven by the machine `machine_on` builds on `upstreams`.
    pub fn new(sim: Sim, upstreams: U, machine_on: MachineOn<U>) -> Self {
        let dir = Store::temporary().unwrap();
        let store = dir.orders().unwrap();
        let told = Arc::new(Told::default());
        let worker = worker(&store, &told, machine_on(&store, &upstreams));
        Self {
            sim,
            store,
            worker,
            told,
            upstreams,
            machine_on,
            _dir: dir,
        }
    }

    /// Run on the store in `dir` from now on, read with `clock`. Every handle to the previous
    /// store is dropped first, so `dir` may be the directory in use: that is a restart.
    pub fn reopen(&mut self, dir: &Path, clock: Arc<dyn OrderClock>) {
        let placeholder = Store::temporary().unwrap();
        self.store = placeholder.orders().unwrap();
        self.rebuild_worker();
        self._dir = placeholder;
        let reopened = Store::open_when_released(dir, 16, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));
        self.store = reopened.orders_with_clock(clock).unwrap();
        self.rebuild_worker();
        self._dir = reopened;
    }

    /// A new worker for the current store (the old one holds the store it was built on).
    fn rebuild_worker(&mut self) {
        let machine = (self.machine_on)(&self.store, &self.upstreams);
        self.worker = worker(&self.store, &self.told, machine);
    }

    /// Create an order with its first step queued. The OpenID is a fixed one: the machines
    /// never read it.
    pub async fn place(
        &self,
        kind: OrderKind,
        sno: &str,
        account: &str,
        amount_fen: i64,
        idempotency_key: String,
    ) -> OrderId {
        let order = NewOrder {
            id: OrderId::generate(chrono::Utc::now().timestamp_millis()),
            idempotency_key,
            kind,
            openid: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
            sno: StudentId::parse(sno).unwrap(),
            account: account.to_owned(),
            amount: Fen(amount_fen),
        };
        let created = self
            .store
            .create(order, Some(OrderTask::Advance))
            .await
            .unwrap();
        created.order().id.clone()
    }

    /// The order's state in the store now.
    pub async fn state_of(&self, id: &OrderId) -> OrderState {
        self.store.get(id).await.unwrap().unwrap().state
    }

    /// Run the worker's rounds until the order's state satisfies `done` (at most 30 s).
    pub async fn drive_until(&self, id: &OrderId, done: impl Fn(OrderState) -> bool) -> Order {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.worker.run_once().await.unwrap();
            let order = self.store.get(id).await.unwrap().unwrap();
            if done(order.state) {
                return order;
            }
            assert!(Instant::now() < deadline, "stuck: {order:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Set one simulated upstream's fault knobs (`json!({})` clears them).
    pub async fn faults(&self, upstream: &str, knobs: serde_json::Value) {
        let (status, _) = self
            .sim
            .post(&format!("/sim/faults/{upstream}"), knobs)
            .await;
        assert_eq!(status, 200);
    }
}

/// A worker that drives `machine` only, polling often and reporting to `told`.
fn worker(store: &SledOrders, told: &Arc<Told>, machine: Machine) -> OrderWorker<SledOrders> {
    let worker =
        |topup| OrderWorker::new(store.clone(), topup, told.clone(), quick_worker_policy());
    match machine {
        Machine::TopUp(topup) => worker(Some(topup)),
        Machine::Payments(payments) => worker(None).with_payments(payments),
    }
}

/// The states the order went through, in order.
pub fn path(order: &Order) -> Vec<OrderState> {
    order.history.iter().map(|c| c.to).collect()
}

/// The detail written with the order's (first) move into `state`.
pub fn detail_into(order: &Order, state: OrderState) -> Option<&str> {
    order
        .history
        .iter()
        .find(|c| c.to == state)
        .and_then(|c| c.detail.as_deref())
}
