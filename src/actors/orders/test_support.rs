//! What the order machines' tests share: the simulators at a quiet hour, adapters with quick
//! retries, a fast worker policy, and a notice sink that records the ends the worker announced.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use super::{After, OrderNotices, WorkerPolicy};
use crate::adapters::UpstreamConfig;
use crate::domain::OrderId;
use crate::sim::campus::local_secs;
use crate::sim::upstream::testkit::Sim;
use crate::store::orders::{Order, OrderState};

/// The ends the worker announced, in order.
#[derive(Default)]
pub struct Told(pub Mutex<Vec<(OrderId, OrderState)>>);

impl OrderNotices for Told {
    fn tell<'a>(&'a self, order: &'a Order) -> LocalBoxFuture<'a, After> {
        self.0.lock().unwrap().push((order.id.clone(), order.state));
        Box::pin(async { After::Ack })
    }
}

/// Move the simulators' clock to 10:00 campus time: inside every service window, far from the
/// bank's 23:00 and the card system's 23:30 day cuts.
pub fn at_ten_in_the_morning(sim: &Sim) {
    let since_midnight = local_secs(sim.state.clock().now());
    sim.state
        .clock()
        .advance((10 * 3600 - since_midnight).rem_euclid(86_400));
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
