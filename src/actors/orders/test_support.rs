//! What the order machines' tests share: the simulators at a quiet hour, adapters with quick
//! retries, a fast worker policy, a temporary orders store, a notice sink that records the ends
//! the worker announced, and the rounds that drive an order until it reaches a state.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;

use super::{After, OrderNotices, OrderWorker, WorkerPolicy};
use crate::adapters::UpstreamConfig;
use crate::domain::{Fen, OpenId, OrderId, StudentId};
use crate::sim::SimConfig;
use crate::sim::campus::local_secs;
use crate::sim::upstream::testkit::{self, Sim};
use crate::store::orders::{NewOrder, Order, OrderKind, OrderState, OrderStore, OrderTask};
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

/// A fresh orders store in a temporary directory, on the system clock. The [`Store`] holds the
/// directory: keep it as long as the orders are used.
pub fn temporary_orders() -> (SledOrders, Store) {
    let dir = Store::temporary().unwrap();
    (dir.orders().unwrap(), dir)
}

/// Create an order with its first step queued. The OpenID is a fixed one: the machines never
/// read it.
pub async fn place(
    store: &SledOrders,
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
    let created = store.create(order, Some(OrderTask::Advance)).await.unwrap();
    created.order().id.clone()
}

/// Run the worker's rounds until the order's state satisfies `done` (at most 30 s).
pub async fn drive_until(
    worker: &OrderWorker<SledOrders>,
    store: &SledOrders,
    id: &OrderId,
    done: impl Fn(OrderState) -> bool,
) -> Order {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        worker.run_once().await.unwrap();
        let order = store.get(id).await.unwrap().unwrap();
        if done(order.state) {
            return order;
        }
        assert!(Instant::now() < deadline, "stuck: {order:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Set one simulated upstream's fault knobs (`json!({})` clears them).
pub async fn faults(sim: &Sim, upstream: &str, knobs: serde_json::Value) {
    let (status, _) = sim.post(&format!("/sim/faults/{upstream}"), knobs).await;
    assert_eq!(status, 200);
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
