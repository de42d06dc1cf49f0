//! The server half of docs/upstream-api.md, shared by the card, SMS and public-data
//! simulators: fault injection, request verification (`wire::verify_request`: app key,
//! timestamp window, HMAC signature, nonce replay), operation dispatch, idempotent writes and the
//! signed JSON envelope.
//!
//! Why it exists: every simulated gateway must refuse unsigned, wrongly signed and replayed
//! requests exactly as documented and replay writes by key; doing it once here keeps the three
//! simulators honest and identical. It owns each upstream's replay guard and idempotency store.
//! It must never re-implement signing (that is `crate::wire`) and never log request bodies,
//! secrets or signatures.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, NaiveDate};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::faults::Outcome;
use super::{SimState, lock};
use onecard_wire::{self as wire, Credentials, Envelope, ErrorCode, Page, ReplayGuard};

/// A business or protocol refusal: the code plus an optional specific message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl From<ErrorCode> for OpError {
    fn from(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
        }
    }
}

impl OpError {
    pub fn msg(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
        }
    }
    fn message(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| self.code.default_message().to_owned())
    }
}

pub type OpResult = Result<Value, OpError>;

/// Who is calling and when.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub creds: Credentials,
    pub now: i64,
}

/// One operation of an upstream.
pub struct Op {
    pub path: &'static str,
    /// For writes: the body field holding the idempotency key and the code for "same key,
    /// different body".
    pub write: Option<(&'static str, ErrorCode)>,
    pub run: fn(&SimState, &Ctx, Value) -> OpResult,
}

/// Parse a request body into its wire type; any mismatch is `1007`.
pub fn parse<T: DeserializeOwned>(v: Value) -> Result<T, OpError> {
    serde_json::from_value(v)
        .map_err(|e| OpError::msg(ErrorCode::BadRequest, format!("请求格式错误: {e}")))
}

/// The years a request's date may name: the simulated campus derives weeks, day cuts and
/// generated history from a date, and that arithmetic must stay in range (a year outside is a
/// value out of range, `1007`).
const DATE_YEARS: std::ops::RangeInclusive<i32> = 1970..=2200;

/// Parse a request whose `date_fields` are dates. A present date field holding anything but a
/// `YYYY-MM-DD` date within [`DATE_YEARS`] is `1007` naming that field (the first such, in
/// `date_fields` order); any other mismatch is `1007` in serde's words, as with [`parse`]
/// (docs/upstream-api.md §3, §4.1).
pub fn parse_dated<T: DeserializeOwned>(v: Value, date_fields: &[&str]) -> Result<T, OpError> {
    match date_fields
        .iter()
        .find(|field| v.get(field).is_some_and(|d| !is_campus_date(d)))
    {
        Some(field) => Err(OpError::msg(
            ErrorCode::BadRequest,
            format!("{field} 必须是 YYYY-MM-DD"),
        )),
        None => parse(v),
    }
}

/// A `YYYY-MM-DD` string naming a day in [`DATE_YEARS`].
fn is_campus_date(v: &Value) -> bool {
    v.as_str()
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .is_some_and(|d| DATE_YEARS.contains(&d.year()))
}

/// Serialize a wire answer.
pub fn to_value<T: serde::Serialize>(t: &T) -> OpResult {
    serde_json::to_value(t).map_err(|_| OpError::from(ErrorCode::SystemBusy))
}

/// Longest date range a query may cover, both ends included (docs/upstream-api.md §4.1): a
/// leap year, `2024-01-01`..=`2024-12-31`.
pub const MAX_RANGE_DAYS: i64 = 366;

/// `true` when `from..=to` spans more than [`MAX_RANGE_DAYS`] calendar days.
pub fn range_too_long(from: chrono::NaiveDate, to: chrono::NaiveDate) -> bool {
    (to - from).num_days() + 1 > MAX_RANGE_DAYS
}

/// One page of `rows` (docs/upstream-api.md §4.1): `page` and `page_size` start at 1 (`0` is
/// `1007`), a `page_size` over 50 is clamped, `total` counts every row.
pub fn paginate<T>(rows: Vec<T>, page: u32, page_size: u32) -> Result<Page<T>, OpError> {
    if page == 0 || page_size == 0 {
        return Err(OpError::msg(
            ErrorCode::BadRequest,
            "page 与 page_size 须为正整数",
        ));
    }
    let page_size = page_size.min(wire::MAX_PAGE_SIZE);
    let total = rows.len() as u64;
    let skip = (page as usize - 1).saturating_mul(page_size as usize);
    let items = rows
        .into_iter()
        .skip(skip)
        .take(page_size as usize)
        .collect();
    Ok(Page {
        total,
        page,
        page_size,
        items,
    })
}

/// The stored outcome of a write, replayed for the same key and body.
#[derive(Clone, Debug)]
pub struct WriteRecord {
    pub op: &'static str,
    pub body: Value,
    pub result: Result<Value, OpError>,
    pub at: i64,
}

/// Per-upstream server state: credentials, nonce cache, idempotency store.
pub struct Gateway {
    pub name: &'static str,
    creds: Vec<Credentials>,
    guard: ReplayGuard,
    /// (app key, idempotency key) → record. Holding this lock across a write also serialises
    /// concurrent writes with the same key.
    writes: Mutex<HashMap<(String, String), WriteRecord>>,
}

impl Gateway {
    pub fn new(name: &'static str, creds: Vec<Credentials>) -> Self {
        Self {
            name,
            creds,
            guard: ReplayGuard::default(),
            writes: Mutex::new(HashMap::new()),
        }
    }

    /// The stored write for `key` of `app_key`, if that key was ever committed.
    pub fn write_record(&self, app_key: &str, key: &str) -> Option<WriteRecord> {
        lock(&self.writes)
            .get(&(app_key.to_owned(), key.to_owned()))
            .cloned()
    }
}

/// An upstream's operation table and gateway, selected by the route.
pub struct Service {
    pub gateway: fn(&SimState) -> &Gateway,
    pub ops: &'static [Op],
    /// Where the upstream is mounted, e.g. `/sim/card` (its base URL's path).
    pub mount: &'static str,
}

impl Service {
    /// Mount the gateway inside the `/sim` scope: `POST {mount}/api/v1/...` (signed) and the
    /// unsigned `GET {mount}/api/v1/health`.
    pub(crate) fn routes(&'static self, cfg: &mut web::ServiceConfig) {
        let within_sim = self.mount.strip_prefix("/sim").unwrap_or(self.mount);
        cfg.route(
            &format!("{within_sim}/api/v1/health"),
            web::get().to(move |state: web::Data<SimState>| {
                let name = (self.gateway)(&state).name;
                health(state, name)
            }),
        )
        .route(
            &format!("{within_sim}/api/v1/{{tail:.*}}"),
            web::post().to(
                move |state: web::Data<SimState>, req: HttpRequest, body: web::Bytes| {
                    serve(state, self, req, body)
                },
            ),
        );
    }
}

fn envelope_response(
    status: u16,
    request_id: &str,
    code: ErrorCode,
    message: String,
    data: Option<Value>,
    creds: Option<&Credentials>,
    now: i64,
) -> HttpResponse {
    let env = Envelope {
        code: code.as_u32(),
        message,
        request_id: request_id.to_owned(),
        data,
    };
    let body = serde_json::to_vec(&env).unwrap_or_default();
    let status_code =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    let mut resp = HttpResponse::build(status_code);
    resp.content_type("application/json; charset=utf-8")
        .insert_header((wire::headers::REQUEST_ID, request_id.to_owned()));
    if let Some(creds) = creds {
        let sig = wire::sign_response(creds, status, request_id, now, &body);
        resp.insert_header((wire::headers::TIMESTAMP, now.to_string()))
            .insert_header((wire::headers::SIGNATURE, sig));
    }
    resp.body(body)
}

fn error_response(
    request_id: &str,
    err: &OpError,
    creds: Option<&Credentials>,
    now: i64,
) -> HttpResponse {
    envelope_response(
        err.code.http_status(),
        request_id,
        err.code,
        err.message(),
        None,
        creds,
        now,
    )
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `GET {mount}/api/v1/health`: unsigned liveness of the gateway (503 when down).
pub async fn health(state: web::Data<SimState>, upstream: &'static str) -> HttpResponse {
    let plan = state.faults().plan(upstream, state.clock().now());
    let now = chrono::Utc::now().timestamp();
    if plan.outcome == Outcome::Down {
        let e = OpError::from(ErrorCode::UpstreamUnavailable);
        return error_response("", &e, None, now);
    }
    envelope_response(
        200,
        "",
        ErrorCode::Ok,
        "ok".into(),
        Some(serde_json::json!({})),
        None,
        now,
    )
}

/// Serve one signed operation of `svc`.
pub async fn serve(
    state: web::Data<SimState>,
    svc: &'static Service,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let gw = (svc.gateway)(&state);
    // Echo the request id only in its documented form (§2.1): a malformed one is refused by
    // verification below and answered with an empty id, never truncated or replaced.
    let request_id = match header(&req, wire::headers::REQUEST_ID) {
        Some(id) => id,
        None => header(&req, wire::headers::NONCE).unwrap_or(""),
    };
    let request_id = if wire::valid_request_id(request_id) {
        request_id.to_owned()
    } else {
        String::new()
    };

    // Every envelope is signed when we know the caller's app key (docs/upstream-api.md §2.4).
    let creds_for_key = header(&req, wire::headers::APP_KEY)
        .and_then(|k| gw.creds.iter().find(|c| c.app_key == k).cloned());

    // 1. Faults happen before anything else, like a gateway that is slow or gone.
    let plan = state
        .faults()
        .plan_for(gw.name, Some(req.path()), state.clock().now());
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    // Signatures use the wall clock; business logic the (advanceable) simulated clock.
    let now = chrono::Utc::now().timestamp();
    let sim_now = state.clock().now();
    let refuse =
        |code: ErrorCode| error_response(&request_id, &code.into(), creds_for_key.as_ref(), now);
    match plan.outcome {
        Outcome::Down => return refuse(ErrorCode::UpstreamUnavailable),
        Outcome::Error => return refuse(ErrorCode::SystemBusy),
        Outcome::RateLimited => return refuse(ErrorCode::RateLimited),
        Outcome::Hang(d) => {
            tokio::time::sleep(d).await;
            return HttpResponse::ServiceUnavailable().finish();
        }
        Outcome::Proceed | Outcome::LoseResponse => {}
    }

    // 2. Signature, timestamp, nonce (docs/upstream-api.md §2.3).
    let path = req.path();
    let path_and_query = match req.query_string() {
        "" => path.to_owned(),
        q => format!("{path}?{q}"),
    };
    if body.len() > wire::MAX_BODY_BYTES {
        return refuse(ErrorCode::BadRequest);
    }
    // The canonical path is the request-line path, base-URL prefix included (§2.2): a client
    // that signs only `/api/v1/...` behind a prefixed base URL is refused here as it would be in
    // production.
    let verified = wire::verify_request(
        gw.creds.as_slice(),
        req.method().as_str(),
        &path_and_query,
        req.headers(),
        &body,
        now,
        &gw.guard,
    );
    let creds = match verified {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(upstream = gw.name, error = %e, "sim: refused unsigned or bad request");
            metrics::counter!("onecard_sim_upstream_refused_total", "upstream" => gw.name, "code" => e.code().as_u32().to_string())
                .increment(1);
            return refuse(e.code());
        }
    };

    // 3. Operation.
    let op_path = path.strip_prefix(svc.mount).unwrap_or(path);
    let Some(op) = svc.ops.iter().find(|o| o.path == op_path) else {
        return error_response(
            &request_id,
            &ErrorCode::UnknownOperation.into(),
            Some(&creds),
            now,
        );
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let e = OpError::msg(ErrorCode::BadRequest, "请求体必须是 JSON 对象");
            return error_response(&request_id, &e, Some(&creds), now);
        }
    };
    let ctx = Ctx {
        creds: creds.clone(),
        now: sim_now,
    };
    let result = match op.write {
        None => (op.run)(&state, &ctx, value),
        Some((field, dup_code)) => {
            match run_write(&state, gw, op, &ctx, &req, value, field, dup_code) {
                Ok(r) => r,
                Err(e) => Err(e),
            }
        }
    };
    metrics::counter!("onecard_sim_upstream_requests_total", "upstream" => gw.name, "code" => result.as_ref().err().map_or(0, |e| e.code.as_u32()).to_string())
        .increment(1);
    if plan.outcome == Outcome::LoseResponse {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match result {
        Ok(data) => envelope_response(
            200,
            &request_id,
            ErrorCode::Ok,
            "ok".into(),
            Some(data),
            Some(&creds),
            now,
        ),
        Err(e) => error_response(&request_id, &e, Some(&creds), now),
    }
}

/// Idempotent write: header = body key (`1008`), same key + same body replays the stored result
/// (failures too), same key + different body is `dup_code`.
#[allow(clippy::too_many_arguments)]
fn run_write(
    state: &SimState,
    gw: &Gateway,
    op: &Op,
    ctx: &Ctx,
    req: &HttpRequest,
    body: Value,
    field: &str,
    dup_code: ErrorCode,
) -> Result<OpResult, OpError> {
    let key = body
        .get(field)
        .and_then(Value::as_str)
        .filter(|k| wire::valid_idempotency_key(k))
        .ok_or_else(|| OpError::msg(ErrorCode::BadRequest, format!("{field} 缺失或格式错误")))?
        .to_owned();
    if header(req, wire::headers::IDEMPOTENCY_KEY) != Some(key.as_str()) {
        return Err(ErrorCode::IdempotencyKeyMismatch.into());
    }
    let mut writes = lock(&gw.writes);
    let slot = (ctx.creds.app_key.clone(), key);
    if let Some(rec) = writes.get(&slot) {
        if rec.body == body && rec.op == op.path {
            return Ok(rec.result.clone());
        }
        return Err(dup_code.into());
    }
    let result = (op.run)(state, ctx, body.clone());
    // A malformed body never committed anything: do not pin the key to it.
    if result
        .as_ref()
        .err()
        .is_some_and(|e| e.code == ErrorCode::BadRequest)
    {
        return Ok(result);
    }
    writes.insert(
        slot,
        WriteRecord {
            op: op.path,
            body,
            result: result.clone(),
            at: ctx.now,
        },
    );
    Ok(result)
}

/// A simulator on a real port and a client that signs like the adapters do (the request-line
/// path with the mount prefix, fresh nonce, `Idempotency-Key` on writes). Shared by the simulators' unit tests.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit {
    use rand::Rng as _;
    use serde_json::Value;

    use crate::{SimConfig, SimState, configure};
    use onecard_wire::{self as wire, Credentials};

    pub struct Sim {
        pub base: String,
        pub state: SimState,
        pub creds: Credentials,
        pub http: reqwest::Client,
    }

    /// Start the simulators on 127.0.0.1:0 (inside an `#[actix_web::test]`).
    pub async fn spawn(cfg: SimConfig) -> Sim {
        let state = SimState::new(cfg);
        // Business time stands still unless a test advances it (signatures use the wall clock).
        state.clock().freeze();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let s = state.clone();
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new().configure(configure(s.clone()))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        let creds = state.config().upstream.to_wire();
        Sim {
            base,
            state,
            creds,
            http: reqwest::Client::new(),
        }
    }

    /// The simulators with a campus of `accounts` people (the demo users first).
    pub async fn spawn_campus(accounts: usize) -> Sim {
        spawn(SimConfig {
            accounts,
            ..SimConfig::default()
        })
        .await
    }

    pub fn nonce() -> String {
        let mut r = rand::rng();
        (0..24)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[r.random_range(0..36)]))
            .collect()
    }

    pub struct Answer {
        pub status: u16,
        pub body: Value,
        pub headers: reqwest::header::HeaderMap,
        pub bytes: Vec<u8>,
    }

    impl Answer {
        pub fn code(&self) -> u64 {
            self.body["code"].as_u64().unwrap_or(u64::MAX)
        }
        pub fn data(&self) -> &Value {
            &self.body["data"]
        }

        /// The answer's own signature, checked as a client would (over the wall clock), and
        /// its request id, which the signature covers.
        pub fn verify_signature(&self, creds: &Credentials) -> Result<String, wire::WireError> {
            let header = |name: &str| {
                self.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
            };
            let rid = header(wire::headers::REQUEST_ID).to_owned();
            let ts: i64 = header(wire::headers::TIMESTAMP).parse().unwrap_or(0);
            wire::verify_response(
                creds,
                self.status,
                &rid,
                ts,
                &self.bytes,
                header(wire::headers::SIGNATURE),
                chrono::Utc::now().timestamp(),
            )?;
            Ok(rid)
        }
    }

    impl Sim {
        /// A call that must succeed (`code` 0): its `data`.
        pub async fn ok(&self, mount: &str, path: &str, body: Value) -> Value {
            let a = self.call(mount, path, body).await;
            assert_eq!(a.code(), 0, "{path}: {}", a.body);
            a.data().clone()
        }

        /// Send `headers` + `body` to `{base}{mount}{path}` as is.
        pub async fn raw(
            &self,
            mount: &str,
            path: &str,
            headers: Vec<(&'static str, String)>,
            body: Vec<u8>,
        ) -> Answer {
            let mut req = self
                .http
                .post(format!("{}{mount}{path}", self.base))
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.expect("body").to_vec();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Answer {
                status,
                body,
                headers,
                bytes,
            }
        }

        /// Signed headers for `{mount}{path}`: the full request-line path, as §2.2 says.
        pub fn sign(
            &self,
            mount: &str,
            path: &str,
            body: &[u8],
            key: Option<&str>,
        ) -> Vec<(&'static str, String)> {
            let mut h = wire::sign_request(
                &self.creds,
                "POST",
                &format!("{mount}{path}"),
                body,
                chrono::Utc::now().timestamp(),
                &nonce(),
            );
            if let Some(k) = key {
                h = h.with_idempotency_key(k);
            }
            h.pairs()
        }

        /// A signed read.
        pub async fn call(&self, mount: &str, path: &str, body: Value) -> Answer {
            let bytes = serde_json::to_vec(&body).expect("json");
            let headers = self.sign(mount, path, &bytes, None);
            self.raw(mount, path, headers, bytes).await
        }

        /// A signed write with its idempotency key.
        pub async fn write(&self, mount: &str, path: &str, body: Value, key: &str) -> Answer {
            let bytes = serde_json::to_vec(&body).expect("json");
            let headers = self.sign(mount, path, &bytes, Some(key));
            self.raw(mount, path, headers, bytes).await
        }

        pub async fn get(&self, path: &str) -> (u16, Value) {
            let resp = self
                .http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }

        pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
            let resp = self
                .http
                .post(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::testkit::{Sim, nonce, spawn_campus};

    use onecard_wire::{self as wire, paths};

    const BAL: &str = paths::CARD_BALANCE_GET;

    async fn sim() -> Sim {
        spawn_campus(200).await
    }

    #[actix_web::test]
    async fn signed_request_gets_a_signed_envelope() {
        let s = sim().await;
        let a = s.call("/sim/card", BAL, json!({"account": "20001"})).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.code(), 0);
        assert_eq!(a.body["message"], "ok");
        assert_eq!(a.data()["balance_fen"], 5230);
        let rid = a.verify_signature(&s.creds).unwrap();
        assert_eq!(a.body["request_id"], rid);
    }

    /// A date field holding anything but a date the campus calendar reaches is `1007` (HTTP
    /// 400) naming the field, whichever operation asks for a date; anything else unreadable
    /// keeps serde's words.
    #[actix_web::test]
    async fn a_date_that_is_not_a_date_is_1007_naming_its_field() {
        let s = sim().await;
        let range = |from: serde_json::Value, to: serde_json::Value| json!({"account": "20001", "from": from, "to": to});
        let cases = [
            (
                "/sim/card",
                paths::CARD_TRANSACTIONS_LIST,
                range(json!("2025-11-31"), json!("2025-11-30")),
                "from",
            ),
            (
                "/sim/card",
                paths::CARD_TRANSACTIONS_LIST,
                range(json!("2025-11-01"), json!("1969-12-31")),
                "to",
            ),
            (
                "/sim/card",
                paths::CARD_RECON_DAILY,
                json!({"acc_date": "2025/11/24", "kind": "all"}),
                "acc_date",
            ),
            (
                "/sim/data",
                paths::DATA_MEETINGS_LIST,
                json!({"sno": "2024000001", "from": "2025-11-01", "to": 20251130}),
                "to",
            ),
            // Both dates wrong: the first is named.
            (
                "/sim/card",
                paths::CARD_TRANSACTIONS_LIST,
                range(json!("2025/11/01"), json!(null)),
                "from",
            ),
            // The body is checked before the person is looked up (an unknown sno is 4001).
            (
                "/sim/data",
                paths::DATA_MEETINGS_LIST,
                json!({"sno": "1999999999", "from": "2025-02-30", "to": "2025-03-01"}),
                "from",
            ),
            (
                "/sim/bank",
                paths::BANK_STATEMENT,
                json!({"date": "昨天"}),
                "date",
            ),
            (
                "/sim/billers",
                paths::BILLERS_STATEMENT,
                json!({"date": "2201-01-01"}),
                "date",
            ),
        ];
        for (mount, path, body, field) in cases {
            let a = s.call(mount, path, body).await;
            assert_eq!(
                (a.status, &a.body["code"], &a.body["message"], a.data()),
                (
                    400,
                    &json!(1007),
                    &json!(format!("{field} 必须是 YYYY-MM-DD")),
                    &json!(null)
                ),
                "{path} {field}"
            );
        }
        let no_date = s
            .call("/sim/bank", paths::BANK_STATEMENT, json!({"page": 1}))
            .await;
        assert_eq!(
            (no_date.status, &no_date.body["message"]),
            (400, &json!("请求格式错误: missing field `date`"))
        );
    }

    /// A client that signed `/api/v1/...` behind a prefixed base URL passed against the
    /// simulator and failed in production: the simulator now verifies exactly §2.2's path.
    #[actix_web::test]
    async fn a_signature_over_the_path_without_the_base_url_prefix_is_refused() {
        let s = sim().await;
        let body = br#"{"account":"20001"}"#.to_vec();
        let without_prefix = s.sign("", BAL, &body, None);
        let refused = s.raw("/sim/card", BAL, without_prefix, body.clone()).await;
        assert_eq!((refused.status, refused.code()), (401, 1002));
        let with_prefix = s.sign("/sim/card", BAL, &body, None);
        assert_eq!(s.raw("/sim/card", BAL, with_prefix, body).await.code(), 0);
    }

    #[actix_web::test]
    async fn unsigned_wrongly_signed_stale_and_replayed_requests_are_refused() {
        let s = sim().await;
        let body = br#"{"account":"20001"}"#.to_vec();
        let unsigned = s.raw("/sim/card", BAL, vec![], body.clone()).await;
        assert_eq!((unsigned.status, unsigned.code()), (401, 1001));
        assert_eq!(unsigned.body["data"], serde_json::Value::Null);

        let mut h = s.sign("/sim/card", BAL, &body, None);
        h[3].1 = "0".repeat(64);
        let wrong = s.raw("/sim/card", BAL, h, body.clone()).await;
        assert_eq!((wrong.status, wrong.code()), (401, 1002));
        assert_eq!(wrong.body["message"], "签名检验失败");

        let tampered = s.sign("/sim/card", BAL, &body, None);
        let other = br#"{"account":"20002"}"#.to_vec();
        assert_eq!(s.raw("/sim/card", BAL, tampered, other).await.code(), 1002);

        let old = wire::sign_request(
            &s.creds,
            "POST",
            BAL,
            &body,
            chrono::Utc::now().timestamp() - 301,
            &nonce(),
        );
        let stale = s.raw("/sim/card", BAL, old.pairs(), body.clone()).await;
        assert_eq!((stale.status, stale.code()), (401, 1003));

        let stranger = wire::Credentials::new("someone", "else");
        let h = wire::sign_request(
            &stranger,
            "POST",
            BAL,
            &body,
            chrono::Utc::now().timestamp(),
            &nonce(),
        );
        let unknown = s.raw("/sim/card", BAL, h.pairs(), body.clone()).await;
        assert_eq!((unknown.status, unknown.code()), (403, 1005));

        let h = s.sign("/sim/card", BAL, &body, None);
        assert_eq!(
            s.raw("/sim/card", BAL, h.clone(), body.clone())
                .await
                .code(),
            0
        );
        let replay = s.raw("/sim/card", BAL, h, body.clone()).await;
        assert_eq!((replay.status, replay.code()), (401, 1004));

        let nope = s
            .call("/sim/card", "/api/v1/card/teleport", json!({}))
            .await;
        assert_eq!((nope.status, nope.code()), (404, 1009));
        let bad = s.call("/sim/card", BAL, json!({"acct": 1})).await;
        assert_eq!((bad.status, bad.code()), (400, 1007));
        // Each upstream has its own gateway: a card nonce is not an SMS nonce, but still signed.
        let sms = s
            .call("/sim/sms", paths::SMS_STATUS, json!({"biz_id": "B0"}))
            .await;
        assert_eq!(sms.code(), 3010);
        let (status, health) = s.get("/sim/card/api/v1/health").await;
        assert_eq!((status, health["code"].as_u64()), (200, Some(0)));
    }

    #[actix_web::test]
    async fn clock_endpoints_freeze_and_advance_business_time() {
        let s = sim().await;
        let (_, a) = s.get("/sim/clock").await;
        let (status, b) = s.post("/sim/clock/advance", json!({"secs": 90})).await;
        assert_eq!(status, 200);
        assert_eq!(b["now"].as_i64().unwrap(), a["now"].as_i64().unwrap() + 90);
        assert_eq!(s.post("/sim/clock/freeze", json!({})).await.1, b);
        assert_eq!(
            s.post("/sim/clock/advance", json!({"secs": "x"})).await.0,
            400
        );
    }

    #[actix_web::test]
    async fn fault_knobs_error_down_lost_response_and_latency() {
        let s = sim().await;
        let (status, _) = s.post("/sim/faults/card", json!({"error_rate": 1.0})).await;
        assert_eq!(status, 200);
        let a = s.call("/sim/card", BAL, json!({"account": "20001"})).await;
        assert_eq!((a.status, a.code()), (503, 9000));
        a.verify_signature(&s.creds)
            .expect("fault envelopes are signed too");
        // Other upstreams are unaffected.
        assert_eq!(
            s.call(
                "/sim/data",
                paths::DATA_LOCKER_GET,
                json!({"sno": "2024000001"})
            )
            .await
            .code(),
            0
        );

        s.post("/sim/faults/card", json!({"down": true})).await;
        let a = s.call("/sim/card", BAL, json!({"account": "20001"})).await;
        assert_eq!((a.status, a.code()), (503, 9001));
        assert_eq!(s.get("/sim/card/api/v1/health").await.0, 503);

        // Lost response: the load commits, the client sees a bare 503, the key tells the truth.
        s.post("/sim/faults/card", json!({"lost_response_rate": 1.0}))
            .await;
        let load = json!({"account": "20001", "amount_fen": 5000, "out_trade_no": "LDLOST1", "source": "bank", "source_ref": "BK1"});
        let a = s
            .write(
                "/sim/card",
                paths::CARD_LOAD_CREATE,
                load.clone(),
                "LDLOST1",
            )
            .await;
        assert_eq!(a.status, 503);
        assert!(a.bytes.is_empty());
        s.post("/sim/faults/card", json!({})).await;
        let q = s
            .call(
                "/sim/card",
                paths::CARD_TRADE_QUERY,
                json!({"out_trade_no": "LDLOST1"}),
            )
            .await;
        assert_eq!(q.data()["state"], "SUCCESS");
        let again = s
            .write("/sim/card", paths::CARD_LOAD_CREATE, load, "LDLOST1")
            .await;
        assert_eq!(
            again.data()["pending_fen_after"],
            5000,
            "re-sent with the same key: one effect"
        );

        s.post("/sim/faults/card", json!({"latency_ms": 250})).await;
        let t = Instant::now();
        assert_eq!(
            s.call("/sim/card", BAL, json!({"account": "20001"}))
                .await
                .code(),
            0
        );
        assert!(t.elapsed().as_millis() >= 250);

        s.post(
            "/sim/faults/sms",
            json!({"timeout_rate": 1.0, "hang_ms": 300}),
        )
        .await;
        let t = Instant::now();
        let a = s
            .call("/sim/sms", paths::SMS_STATUS, json!({"biz_id": "B0"}))
            .await;
        assert_eq!(a.status, 503);
        assert!(t.elapsed().as_millis() >= 300);

        let (_, all) = s.get("/sim/faults").await;
        assert_eq!(all["card"]["latency_ms"], 250);
        assert_eq!(all["sms"]["hang_ms"], 300);
        assert_eq!(all["public_data"]["error_rate"], 0.0);
        assert_eq!(s.post("/sim/faults/atm", json!({})).await.0, 404);
        assert_eq!(
            s.post("/sim/faults/card", json!({"error_rate": 2})).await.0,
            400
        );
        assert_eq!(s.post("/sim/faults/card", json!({"typo": 1})).await.0, 400);
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::Ctx;
    use crate::{SimConfig, SimState, bank, billers, card, public_data, sms};

    fn state() -> &'static SimState {
        static STATE: std::sync::OnceLock<SimState> = std::sync::OnceLock::new();
        STATE.get_or_init(|| {
            SimState::new(SimConfig {
                accounts: 50,
                ..SimConfig::default()
            })
        })
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            (0u32..400).prop_map(|n| json!(n)),
            "[0-9]{1,12}".prop_map(|s| json!(s)),
            "(19|20|21|99)[0-9]{2}-[01][0-9]-[0-3][0-9]".prop_map(|s| json!(s)),
            "[a-z_]{0,12}".prop_map(|s| json!(s)),
            Just(json!("2024000001")),
            Just(json!("20001")),
            Just(json!(null)),
        ]
    }

    const FIELDS: &[&str] = &[
        "account",
        "id_type",
        "id",
        "from",
        "to",
        "page",
        "page_size",
        "direction",
        "type",
        "amount_fen",
        "out_trade_no",
        "orig_out_trade_no",
        "source",
        "source_ref",
        "channel",
        "password_digest",
        "biller_id",
        "target_id",
        "acc_date",
        "kind",
        "sno",
        "term",
        "week",
        "phone",
        "sign",
        "template_id",
        "params",
        "out_id",
        "biz_id",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Whatever JSON object arrives, no operation panics: it answers data or a code.
        #[test]
        fn no_operation_panics_on_any_body(
            op in 0usize..(card::OPS.len() + sms::OPS.len() + public_data::OPS.len() + bank::OPS.len() + billers::OPS.len()),
            fields in proptest::collection::vec((0usize..FIELDS.len(), scalar()), 0..8),
        ) {
            let mut body = serde_json::Map::new();
            for (f, v) in fields {
                body.insert(FIELDS[f].to_owned(), v);
            }
            let all: Vec<&super::Op> = card::OPS.iter().chain(sms::OPS).chain(public_data::OPS).chain(bank::OPS).chain(billers::OPS).collect();
            let ctx = Ctx { creds: state().config().upstream.to_wire(), now: state().clock().now() };
            let _ = (all[op].run)(state(), &ctx, Value::Object(body));
        }
    }
}
