//! Memory under attack, measured on the real binary (`onecard demo` in its own process):
//! 20,000 distinct forged requests that are refused, then 20,000 genuine click events whose
//! EventKey is 64 KiB. Prints the server's RSS before and after each phase. A measurement, not
//! a check that runs in CI:
//!
//! `cargo test --release --test api -- --ignored --nocapture memory_under_attack`

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use onecard::chat::WeChatClient;
use onecard::wechat::Event;

use crate::helpers::{AES_KEY, APP_ID, TOKEN, free_port, loopback_http};

const REQUESTS: usize = 20_000;
const EVENT_KEY_BYTES: usize = 64 * 1024;
const CONCURRENCY: usize = 16;

/// The server process, killed when the measurement ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[tokio::test]
#[ignore = "measurement: 40,000 requests against the real binary; run with --release"]
async fn memory_under_attack() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_onecard"))
            .args(["demo", "--config", "config/demo.toml"])
            .env("RUST_LOG", "warn")
            .env("ONECARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("ONECARD__SERVER__DATA_DIR", tmp.path())
            // A 64 KiB EventKey is about 87 KiB once encrypted.
            .env("ONECARD__SERVER__BODY_LIMIT_BYTES", "262144")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start onecard demo"),
    );
    let pid = server.0.id();
    let http = loopback_http().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wx = WeChatClient::new(&base, TOKEN, Some(AES_KEY), APP_ID, true)
        .unwrap()
        .without_sim();
    // Warm up: one genuine message, so start-up allocations are not counted as attack cost.
    assert_eq!(
        wx.text("oMemoryWarmUp00000000000001", "帮助")
            .await
            .unwrap()
            .status,
        200
    );
    let before = rss_kib(pid);

    // Phase 1: distinct forged requests, three kinds, every one refused.
    let now = chrono::Utc::now().timestamp();
    let logged_xml = wx
        .text_message("oMemoryLogged0000000000001", "帮助")
        .to_xml();
    let (logged_query, logged_body) =
        wx.platform()
            .seal_inbound(&logged_xml, true, now, "1", "oMemoryLogged0000000000001");
    let (status, _) = post(&http, &base, &logged_query, logged_body.clone()).await;
    assert_eq!(status, 200);
    let refused: Vec<(u16, String)> = futures_util::stream::iter(0..REQUESTS)
        .map(|i| {
            let (http, base, wx) = (&http, &base, &wx);
            let (logged_query, logged_body) = (&logged_query, &logged_body);
            async move {
                let user = format!("oMemoryForged{i:015}");
                let filler = format!("{i:08}").repeat(1024);
                let xml = wx.text_message(&user, &filler).to_xml();
                let (query, body) = match i % 3 {
                    // Plaintext under a made-up signature.
                    0 => (
                        format!("signature={:040x}&timestamp={now}&nonce={i}", i),
                        xml,
                    ),
                    // Encrypted, but the msg_signature is not ours.
                    1 => {
                        let (q, b) =
                            wx.platform()
                                .seal_inbound(&xml, true, now, &i.to_string(), &user);
                        (q.replace("msg_signature=", "msg_signature=0"), b)
                    }
                    // A logged URL and its ciphertext, in another body.
                    _ => (
                        logged_query.clone(),
                        logged_body.replace("</xml>", &format!("<Pad>{filler}</Pad></xml>")),
                    ),
                };
                post(http, base, &query, body).await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert!(
        refused.iter().all(|(s, _)| *s == 403),
        "every forged request is refused"
    );
    let after_forged = rss_kib(pid);

    // Phase 2: genuine click events with 64 KiB EventKeys from 20 users (each a distinct
    // message, so each one is a new dedup entry).
    let answered: Vec<u16> = futures_util::stream::iter(0..REQUESTS)
        .map(|i| {
            let wx = &wx;
            async move {
                let user = format!("oMemoryClicker{:014}", i % 20);
                let key = format!("{i:08}").repeat(EVENT_KEY_BYTES / 8);
                let mut msg = wx.event_message(&user, Event::Click { key });
                msg.create_time += i as i64;
                wx.send(&msg).await.unwrap().status
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert!(
        answered.iter().all(|s| *s == 200),
        "every genuine event is answered"
    );
    let after_events = rss_kib(pid);

    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "RSS of onecard demo: {:.1} MiB before, {:.1} MiB after {REQUESTS} refused forgeries \
         (×{:.2}), {:.1} MiB after {REQUESTS} events with {} KiB EventKeys (×{:.2} of before)",
        mib(before),
        mib(after_forged),
        after_forged as f64 / before as f64,
        mib(after_events),
        EVENT_KEY_BYTES / 1024,
        after_events as f64 / before as f64,
    );
}

async fn post(http: &reqwest::Client, base: &str, query: &str, body: String) -> (u16, String) {
    let r = http
        .post(format!("{base}/wechat?{query}"))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
