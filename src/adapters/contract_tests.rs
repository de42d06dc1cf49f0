//! Contract tests: the real adapters (actor, handle, policy, transport) against a tiny HTTP/1.1
//! server on 127.0.0.1:0 that records every request and answers from a script.
//!
//! They pin what goes over the wire (exact signed headers and bodies) and the behaviour under
//! failure (reads retried with fresh nonces, writes never, breaker open → half-open → closed,
//! timeouts, the concurrency limit, one slow upstream not delaying another).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;
use crate::domain::{Fen, StudentId};
use crate::wire::{self, Credentials, ReplayGuard};

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    /// lowercase names
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

struct Reply {
    status: u16,
    body: String,
    delay: Duration,
    /// sign the response with these credentials (docs §2.4)
    sign_with: Option<Credentials>,
    tamper_signature: bool,
}

impl Reply {
    fn ok(data: serde_json::Value) -> Self {
        Self::envelope(200, 0, "ok", data)
    }
    fn code(status: u16, code: u32, message: &str) -> Self {
        Self::envelope(status, code, message, serde_json::Value::Null)
    }
    fn envelope(status: u16, code: u32, message: &str, data: serde_json::Value) -> Self {
        // request_id is filled in by the server from the request
        Self {
            status,
            body: serde_json::json!({"code": code, "message": message, "request_id": "{RID}", "data": data})
                .to_string(),
            delay: Duration::ZERO,
            sign_with: None,
            tamper_signature: false,
        }
    }
    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    fn signed(mut self, creds: Credentials) -> Self {
        self.sign_with = Some(creds);
        self
    }
}

type Script = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

struct TestServer {
    base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    max_in_flight: Arc<AtomicUsize>,
}

impl TestServer {
    fn start(script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (r, i, m) = (requests.clone(), in_flight.clone(), max_in_flight.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (r, i, m, s) = (r.clone(), i.clone(), m.clone(), script.clone());
                std::thread::spawn(move || serve(stream, r, i, m, s));
            }
        });
        Self {
            base_url,
            requests,
            max_in_flight,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn count_path(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

fn serve(
    stream: TcpStream,
    requests: Arc<Mutex<Vec<Recorded>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    script: Arc<Script>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let rec = Recorded {
            method,
            path,
            headers,
            body,
        };
        let n = {
            let mut all = requests.lock().unwrap();
            all.push(rec.clone());
            all.len() - 1
        };
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max_in_flight.fetch_max(now, Ordering::SeqCst);
        let reply = script(&rec, n);
        std::thread::sleep(reply.delay);
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let rid = rec.header("x-request-id").unwrap_or("").to_owned();
        let body = reply.body.replace("{RID}", &rid);
        let mut extra = String::new();
        if let Some(creds) = &reply.sign_with {
            let ts = unix_now();
            let mut sig = wire::sign_response(creds, reply.status, &rid, ts, body.as_bytes());
            if reply.tamper_signature {
                sig = sig.replace(&sig[..1], if &sig[..1] == "0" { "1" } else { "0" });
            }
            extra = format!("X-Request-Id: {rid}\r\nX-Timestamp: {ts}\r\nX-Signature: {sig}\r\n");
        }
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
            reply.status,
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn creds() -> Credentials {
    Credentials::new("onecard-test", "test-secret")
}

fn cfg(server: &TestServer) -> UpstreamConfig {
    let mut c = UpstreamConfig::new(&server.base_url, "onecard-test", "test-secret");
    // The fake upstream signs only when a test asks it to (`Reply::signed`).
    c.require_signed_responses = false;
    c.timeout_ms = 1_000;
    c.backoff_base_ms = 5;
    c.breaker_cooldown_ms = 200;
    c
}

/// Holds the fake upstream's answers until the test opens it, so "slow" is an event the test
/// controls, not a delay a loaded machine can outlast. Opens by itself after a minute, so a
/// failed test leaves no thread behind for long.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<usize>, std::sync::Condvar)>);

impl Gate {
    const OPEN: usize = usize::MAX;

    /// In the server's script: count this request as arrived, then wait until `arrived`
    /// requests have arrived (or the gate is open).
    fn hold_until(&self, arrived: usize) {
        let (count, changed) = &*self.0;
        let mut count = count.lock().unwrap();
        *count = count.saturating_add(1);
        changed.notify_all();
        let _ = changed
            .wait_timeout_while(count, Duration::from_secs(60), |n| *n < arrived)
            .unwrap();
    }

    fn open(&self) {
        let (count, changed) = &*self.0;
        *count.lock().unwrap() = Self::OPEN;
        changed.notify_all();
    }
}

/// A card system that answers every call with a balance once the gate is open.
fn held_balance_server(gate: &Gate) -> TestServer {
    let gate = gate.clone();
    TestServer::start(move |_, _| {
        gate.hold_until(Gate::OPEN);
        Reply::ok(balance_json())
    })
}

fn balance_json() -> serde_json::Value {
    serde_json::json!({"account":"42940","balance_fen":5230,"pending_fen":10000,"subsidy_pending_fen":0,
        "day_spent_fen":1850,"single_limit_fen":5000,"day_limit_fen":10000,"nopwd_limit_fen":2000,
        "wallet_cap_fen":100000,"as_of":"2025-11-25T12:03:04+08:00"})
}

/// A time the protocol cannot read fails the whole answer as a protocol error (the action
/// answers 系统繁忙 and logs it), never a blank or the raw text in a reply; it is not retried.
#[actix_rt::test]
async fn an_unreadable_time_in_an_answer_is_a_protocol_error() {
    let server = TestServer::start(|_, _| {
        let mut balance = balance_json();
        balance["as_of"] = "昨天下午".into();
        Reply::ok(balance)
    });
    let card = card::actor::start(&cfg(&server)).unwrap();
    let answer = card.balance("42940").await;
    assert!(
        matches!(answer, Err(AdapterError::Protocol(_))),
        "{answer:?}"
    );
    assert_eq!(server.count(), 1);
    card.stop();
}

#[actix_rt::test]
async fn a_read_is_signed_exactly_as_documented() {
    let server = TestServer::start(|_, _| Reply::ok(balance_json()));
    let card = card::actor::start(&cfg(&server)).unwrap();
    let balance = card.balance("42940").await.unwrap();
    assert_eq!(balance.balance_fen, Fen(5230));
    assert_eq!(balance.pending_fen, Fen(10000));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v1/card/balance/get");
    assert_eq!(r.body, br#"{"account":"42940"}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-app-key"), Some("onecard-test"));
    let nonce = r.header("x-nonce").unwrap();
    assert_eq!(nonce.len(), 32);
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(r.header("x-request-id"), Some(nonce));
    assert_eq!(r.header("idempotency-key"), None);
    let ts: i64 = r.header("x-timestamp").unwrap().parse().unwrap();
    assert!((unix_now() - ts).abs() <= 5);
    let expected = wire::sign_request(&creds(), "POST", &r.path, &r.body, ts, nonce);
    assert_eq!(r.header("x-signature"), Some(expected.signature.as_str()));
    // and the server-side verifier accepts exactly this request, once
    let pairs: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let guard = ReplayGuard::default();
    let verify = || {
        let now = unix_now();
        let headers = pairs.as_slice();
        wire::verify_request(&creds(), "POST", &r.path, headers, &r.body, now, &guard)
    };
    assert_eq!(verify(), Ok(creds()));
    assert_eq!(verify(), Err(wire::WireError::NonceReplayed));
    card.stop();
}

#[actix_rt::test]
async fn a_base_url_prefix_is_part_of_the_signed_path() {
    let server = TestServer::start(|_, _| Reply::ok(balance_json()));
    let mut c = cfg(&server);
    c.base_url = format!("{}/gw/card/", server.base_url);
    let card = card::actor::start(&c).unwrap();
    card.balance("42940").await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.path, "/gw/card/api/v1/card/balance/get");
    let ts: i64 = r.header("x-timestamp").unwrap().parse().unwrap();
    let nonce = r.header("x-nonce").unwrap();
    let expected = wire::sign_request(&creds(), "POST", &r.path, &r.body, ts, nonce);
    assert_eq!(r.header("x-signature"), Some(expected.signature.as_str()));
    card.stop();
}

#[actix_rt::test]
async fn reads_are_retried_with_fresh_nonces() {
    let server = TestServer::start(|_, n| {
        if n < 2 {
            Reply::code(503, 9000, "系统繁忙")
        } else {
            Reply::ok(balance_json())
        }
    });
    let card = card::actor::start(&cfg(&server)).unwrap();
    assert!(card.balance("42940").await.is_ok());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let nonces: std::collections::HashSet<_> =
        reqs.iter().map(|r| r.header("x-nonce").unwrap()).collect();
    assert_eq!(nonces.len(), 3);
    card.stop();
}

#[actix_rt::test]
async fn writes_carry_their_key_and_are_sent_once() {
    let server = TestServer::start(|_, _| Reply::code(503, 9000, "系统繁忙"));
    let card = card::actor::start(&cfg(&server)).unwrap();
    let r = card.report_loss("42940", "RL20251125A1").await;
    assert_eq!(r, Err(AdapterError::Unavailable(Unavailable::Busy(9000))));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/api/v1/card/report_loss");
    assert_eq!(reqs[0].header("idempotency-key"), Some("RL20251125A1"));
    assert_eq!(
        reqs[0].body,
        br#"{"account":"42940","out_trade_no":"RL20251125A1","channel":"wechat"}"#
    );
    // an invalid key never leaves the process
    let bad = card.report_loss("42940", "not a key!").await;
    assert!(matches!(bad, Err(AdapterError::Protocol(_))));
    assert_eq!(server.count(), 1);
    card.stop();
}

#[actix_rt::test]
async fn business_errors_are_rejections_and_not_retried() {
    let server = TestServer::start(|_, _| Reply::code(200, 2001, "账户信息不存在"));
    let card = card::actor::start(&cfg(&server)).unwrap();
    let r = card.balance("99999").await;
    assert_eq!(
        r,
        Err(AdapterError::Rejected {
            code: 2001,
            message: "账户信息不存在".into()
        })
    );
    assert_eq!(
        r.unwrap_err().code(),
        Some(wire::ErrorCode::AccountNotFound)
    );
    assert_eq!(server.count(), 1);
    card.stop();
}

#[actix_rt::test]
async fn the_breaker_opens_then_half_opens_then_closes() {
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    let server = TestServer::start(move |_, _| {
        if h.load(Ordering::SeqCst) {
            Reply::ok(balance_json())
        } else {
            Reply::code(503, 9001, "上游系统不可用")
        }
    });
    let mut c = cfg(&server);
    c.retries = 0;
    c.breaker_failures = 2;
    // The cool-down (200 ms) passes when the test says so, not while it sleeps.
    let clock = crate::store::orders::ManualClock::starting_at(0);
    c.clock = clock.clone();
    let card = card::actor::start(&c).unwrap();
    for _ in 0..2 {
        assert_eq!(
            card.balance("42940").await,
            Err(AdapterError::Unavailable(Unavailable::Busy(9001)))
        );
    }
    // open: refused locally, the upstream sees nothing
    assert_eq!(
        card.balance("42940").await,
        Err(AdapterError::Unavailable(Unavailable::BreakerOpen))
    );
    assert_eq!(server.count_path("/api/v1/card/balance/get"), 2);
    assert_eq!(card.health().await.breaker, "open");
    // after the cool-down the probe fails: open again
    clock.advance(Duration::from_millis(200));
    assert!(card.balance("42940").await.is_err());
    assert_eq!(server.count_path("/api/v1/card/balance/get"), 3);
    assert_eq!(
        card.balance("42940").await,
        Err(AdapterError::Unavailable(Unavailable::BreakerOpen))
    );
    // the upstream recovers; the next probe closes the breaker
    healthy.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_millis(200));
    assert!(card.balance("42940").await.is_ok());
    assert!(card.balance("42940").await.is_ok());
    assert_eq!(card.health().await.breaker, "closed");
    card.stop();
}

#[actix_rt::test]
async fn a_slow_upstream_times_out_within_the_configured_budget() {
    // the upstream never answers while the call waits: only the timeout can end it
    let gate = Gate::default();
    let server = held_balance_server(&gate);
    let mut c = cfg(&server);
    c.timeout_ms = 150;
    c.retries = 0;
    let card = card::actor::start(&c).unwrap();
    let started = Instant::now();
    assert_eq!(card.balance("42940").await, Err(AdapterError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(150));
    gate.open();
    card.stop();
}

#[actix_rt::test]
async fn concurrency_is_limited_per_upstream() {
    // the first two calls are held until both are in flight, so the two always overlap; every
    // answer then takes 100 ms, so calls past the limit would overlap too
    let gate = Gate::default();
    let server = TestServer::start({
        let gate = gate.clone();
        move |_, _| {
            gate.hold_until(2);
            Reply::ok(balance_json()).after(Duration::from_millis(100))
        }
    });
    let mut c = cfg(&server);
    c.timeout_ms = 60_000;
    c.concurrency = 2;
    let card = card::actor::start(&c).unwrap();
    let calls = (0..6).map(|_| card.balance("42940"));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(server.count(), 6);
    assert_eq!(server.max_in_flight.load(Ordering::SeqCst), 2);
    card.stop();
}

#[actix_rt::test]
async fn a_slow_card_system_does_not_delay_sms() {
    // the card system holds every answer until the SMS has gone out
    let gate = Gate::default();
    let slow = held_balance_server(&gate);
    let fast = TestServer::start(|_, _| {
        Reply::ok(
            serde_json::json!({"biz_id":"B1","accepted_at":"2025-11-25T12:03:04+08:00",
            "phone_masked":"138****1234"}),
        )
    });
    let mut card_config = cfg(&slow);
    card_config.timeout_ms = 60_000;
    let card = card::actor::start(&card_config).unwrap();
    let sms = sms::actor::start(&cfg(&fast)).unwrap();
    let busy = {
        let card = card.clone();
        actix_rt::spawn(async move {
            let all = (0..8).map(|_| card.balance("42940"));
            futures_util::future::join_all(all).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.count() == 0 {
        assert!(Instant::now() < deadline, "the card calls never went out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sno = StudentId::parse("2021012345").unwrap();
    let mut params = BTreeMap::new();
    params.insert("code".to_owned(), "482913".to_owned());
    let sent = sms
        .send_to_sno(&sno, "校园一卡通", "SMS_BIND_CODE", params, "SMS20251125A1")
        .await
        .unwrap();
    assert_eq!(sent.biz_id, "B1");
    assert!(
        !busy.is_finished(),
        "the SMS went out while the card calls waited"
    );
    let r = &fast.requests()[0];
    assert_eq!(r.path, "/api/v1/sms/send");
    assert_eq!(r.header("idempotency-key"), Some("SMS20251125A1"));
    assert_eq!(
        String::from_utf8(r.body.clone()).unwrap(),
        r#"{"sno":"2021012345","sign":"校园一卡通","template_id":"SMS_BIND_CODE","params":{"code":"482913"},"out_id":"SMS20251125A1"}"#
    );
    gate.open();
    let _ = busy.await;
    card.stop();
    sms.stop();
}

#[actix_rt::test]
async fn signed_responses_are_checked() {
    let good = TestServer::start(|_, _| Reply::ok(balance_json()).signed(creds()));
    let bad = TestServer::start(|_, _| {
        let mut r = Reply::ok(balance_json()).signed(creds());
        r.tamper_signature = true;
        r
    });
    let unsigned = TestServer::start(|_, _| Reply::ok(balance_json()));
    // what a gateway that lost its answer after committing sends: a bare 503
    let lost = TestServer::start(|_, _| Reply {
        status: 503,
        body: String::new(),
        delay: Duration::ZERO,
        sign_with: None,
        tamper_signature: false,
    });
    let strict = |s: &TestServer| {
        let mut c = cfg(s);
        c.require_signed_responses = true;
        c.retries = 0;
        c
    };
    let a = card::actor::start(&strict(&good)).unwrap();
    let b = card::actor::start(&strict(&bad)).unwrap();
    let c = card::actor::start(&strict(&unsigned)).unwrap();
    let d = card::actor::start(&strict(&lost)).unwrap();
    assert!(a.balance("42940").await.is_ok());
    assert!(matches!(
        b.balance("42940").await,
        Err(AdapterError::Protocol(_))
    ));
    assert!(matches!(
        c.balance("42940").await,
        Err(AdapterError::Protocol(_))
    ));
    // an unknown outcome stays unknown (the caller queries by key), not a protocol error
    assert_eq!(
        d.balance("42940").await,
        Err(AdapterError::Unavailable(Unavailable::Status(503)))
    );
    for h in [a, b, c, d] {
        h.stop();
    }
}

#[actix_rt::test]
async fn public_data_queries_send_the_documented_bodies() {
    let server = TestServer::start(|r, _| match r.path.as_str() {
        "/api/v1/data/grades/list" => Reply::ok(serde_json::json!({"terms":["2024-2025-2"],
            "items":[{"term":"2024-2025-2","course_code":"CS2001","course_name":"数据结构",
            "credit_tenths":35,"category":"必修","score":"92","grade_point_hundredths":370,
            "exam_type":"正常"}]})),
        "/api/v1/data/timetable/get" => Reply::ok(serde_json::json!({"term":"2025-2026-1",
            "term_start":"2025-09-08","week_no":12,"items":[]})),
        _ => Reply::code(404, 1009, "接口不存在"),
    });
    let data = public_data::actor::start(&cfg(&server)).unwrap();
    let sno = StudentId::parse("2021012345").unwrap();
    let grades = data.grades(&sno, Some("2024-2025-2")).await.unwrap();
    assert_eq!(grades.items[0].credit_tenths, 35);
    let tt = data.timetable(&sno, None, Some(12)).await.unwrap();
    assert_eq!(tt.week_no, 12);
    let reqs = server.requests();
    assert_eq!(
        reqs[0].body,
        br#"{"sno":"2021012345","term":"2024-2025-2"}"#
    );
    assert_eq!(reqs[1].body, br#"{"sno":"2021012345","week":12}"#);
    // an unknown operation is our bug: a protocol error, not retried
    assert!(matches!(
        data.library_loans(&sno).await,
        Err(AdapterError::Protocol(_))
    ));
    assert_eq!(server.count(), 3);
    data.stop();
}

#[actix_rt::test]
async fn start_builds_all_three_and_reports_health() {
    let server = TestServer::start(|r, _| {
        if r.path == "/api/v1/health" && r.method == "GET" {
            Reply::ok(serde_json::json!({}))
        } else {
            Reply::code(404, 1009, "接口不存在")
        }
    });
    let url = &server.base_url;
    let table: toml::Table = toml::from_str(&format!(
        "[card]\nbase_url='{url}'\napp_key='k'\napp_secret='s'\n\
         [sms]\nbase_url='{url}/'\napp_key='k'\napp_secret='s'\n\
         [public_data]\nbase_url='http://127.0.0.1:1'\napp_key='k'\napp_secret='s'\ntimeout_ms=300\n"
    ))
    .unwrap();
    let adapters = start(&AdaptersConfig::from_table(&table).unwrap())
        .await
        .unwrap();
    let health = adapters.health().await;
    assert_eq!(health.len(), 3);
    assert!(health[0].ok && health[1].ok, "{health:?}");
    assert_eq!(health[0].upstream, "card");
    assert!(!health[2].ok);
    assert_eq!(health[2].breaker, "closed");
    adapters.stop();
}

#[test]
fn start_outside_the_actix_system_is_an_error_not_a_panic() {
    let c = UpstreamConfig::new("http://127.0.0.1:1", "k", "s");
    assert!(matches!(
        card::actor::start(&c),
        Err(AdapterError::Config(_))
    ));
    let mut bad = c.clone();
    bad.base_url = "ftp://x".into();
    assert!(matches!(
        sms::actor::start(&bad),
        Err(AdapterError::Config(_))
    ));
}
