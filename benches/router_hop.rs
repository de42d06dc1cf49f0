//! What the router actor costs a message: the same literal keyword reply routed by calling the
//! shared `Router` directly and through this thread's `RouterActor` (`RouterHandle::route`: the
//! thread-local address, a same-thread mailbox send and the reply), with the load benchmark's
//! bot (benches/load/rules/bench.toml and the shipped message tables). The difference is the hop;
//! divided by the time a whole callback takes at peak (one core's second over
//! `benches/load/run.sh`'s req/s) it is the share of throughput the hop costs.
//!
//! Run: `cargo bench --bench router_hop`.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // the fuzz properties; this bench uses only the rules folder they share
mod checks;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use onecard::actions::{ActionRegistry, Services};
use onecard::actors::router::{Router, RouterHandle};
use onecard::domain::OpenId;
use onecard::rules::reload::LiveRules;
use onecard::store::{SessionRecord, Store};
use onecard::wechat::{InboundBody, InboundMessage};

const NOW: i64 = 1_764_000_000;

/// The load benchmark's bot in a rules folder of its own, as benches/load/onecard.sh builds it:
/// its rule file beside the shipped message tables.
fn bench_rules(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    checks::prepare_rules_dir(&root.join("config/rules"), dir);
    std::fs::copy(
        root.join("benches/load/rules/bench.toml"),
        dir.join("bench.toml"),
    )
    .expect("copy bench.toml");
}

fn router(rules_dir: &Path, data_dir: &Path) -> Arc<Router> {
    let actions = Arc::new(ActionRegistry::builtin());
    let rules = LiveRules::load(rules_dir, actions.clone()).expect("bench rules load");
    let services = Services {
        store: Store::open(data_dir, 16).expect("store"),
        adapters: None,
        settings: Default::default(),
        payments: Default::default(),
        binding: Default::default(),
        utc_offset_hours: 8,
        media: None,
        bills: Default::default(),
        money: None,
    };
    // No per-user limit: the same user sends every message of the run.
    Arc::new(Router::new(
        rules,
        actions,
        services,
        300,
        u32::MAX,
        u32::MAX,
    ))
}

fn bench(c: &mut Criterion) {
    let rules_dir = tempfile::tempdir().expect("tempdir");
    let data_dir = tempfile::tempdir().expect("tempdir");
    bench_rules(rules_dir.path());
    let router = router(rules_dir.path(), data_dir.path());
    let handle = RouterHandle::new(router.clone());
    let openid = OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").expect("openid");
    let message = Arc::new(InboundMessage {
        to_user: "gh_benchmark0001".into(),
        from_user: openid.clone(),
        create_time: NOW,
        body: InboundBody::Text {
            content: "余额".into(),
            msg_id: 6_054_768_590_064_713_728,
        },
    });
    let system = actix_rt::System::new();
    // both paths must give the bot's reply, or the figure is of something else
    let direct = system.block_on(router.route(&openid, &message, SessionRecord::default(), NOW));
    let hopped = system
        .block_on(handle.route(&openid, message.clone(), SessionRecord::default(), NOW))
        .expect("routed");
    assert_eq!(
        format!("{:?}", direct.replies),
        format!("{:?}", hopped.replies)
    );

    let mut group = c.benchmark_group("router_hop");
    group.bench_function("direct", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    let routed = router
                        .route(&openid, &message, SessionRecord::default(), NOW)
                        .await;
                    std::hint::black_box(routed);
                }
                t0.elapsed()
            })
        })
    });
    group.bench_function("through_router_actor", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    let routed = handle
                        .route(&openid, message.clone(), SessionRecord::default(), NOW)
                        .await;
                    std::hint::black_box(routed.ok());
                }
                t0.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
