//! Measurements, not checks: ignored by default, run in release with
//! `cargo test --release --test api -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use crate::helpers::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Balance queries of bound users through the whole stack (signed + encrypted callback,
/// session, router, card adapter with signing, the card simulator at 20 ms, reply encrypted),
/// with 16 users querying concurrently.
#[tokio::test]
#[ignore = "measurement; run with --ignored --nocapture in release"]
async fn balance_latency_through_the_whole_stack() {
    let app = spawn_app();
    let accounts = app.sim_accounts(120).await;
    let snos: Vec<String> = accounts
        .iter()
        .filter(|a| can_bind(a))
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .take(16)
        .collect();
    let users: Vec<String> = (0..snos.len())
        .map(|i| openid(&format!("lat{i}")))
        .collect();
    for (u, s) in users.iter().zip(&snos) {
        app.bind(u, s).await;
    }
    app.set_faults("card", serde_json::json!({ "latency_ms": 20 }))
        .await;
    let per_user = 60;
    let started = Instant::now();
    let tasks = users.iter().zip(&snos).map(|(u, sno)| {
        let app = &app;
        async move {
            let mut lat = Vec::with_capacity(per_user);
            let mut replies = Vec::with_capacity(per_user);
            for _ in 0..per_user {
                let t = Instant::now();
                let ex = app.wx.text(u, "余额").await.unwrap();
                lat.push(t.elapsed());
                replies.push(text_of(&ex));
            }
            (sno, lat, replies)
        }
    });
    let answered = futures_util::future::join_all(tasks).await;
    let wall = started.elapsed();
    // Every answer is the whole balance reply (nothing moves the balances meanwhile).
    let mut all: Vec<Duration> = Vec::new();
    for (sno, lat, replies) in answered {
        for reply in replies {
            app.assert_balance_reply(sno, &reply).await;
        }
        all.extend(lat);
    }
    all.sort();
    println!(
        "RESULT balance_query requests={} concurrency={} card_latency=20ms p50={:.1}ms p99={:.1}ms max={:.1}ms req/s={:.0}",
        all.len(),
        users.len(),
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3,
        all.len() as f64 / wall.as_secs_f64()
    );
}
