//! The upstream wire protocol, shared by the adapters (clients) and the simulators (servers).
//!
//! Why it exists: docs/upstream-api.md is the contract a school's gateway implements; this
//! module is that document in types, so a client and a server built from it cannot disagree on
//! a header name, a canonical string or a field spelling. It owns request signing and
//! verification (HMAC-SHA256 over a canonical string, timestamp window, nonce cache), response
//! signing, the JSON envelope, the numeric error codes and the request/response body of every
//! operation (money is always integer fen in `*_fen` fields, never floats).
//!
//! What it must never do: perform I/O, read a clock, generate randomness or log. Callers pass
//! `now`, the nonce and the request id in, so every function here is deterministic and testable
//! with fixed vectors (the vector in the doc is asserted in the tests below).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

// ---------------------------------------------------------------------------------------------
// Headers and limits
// ---------------------------------------------------------------------------------------------

/// Header names (HTTP headers are case-insensitive; these are the canonical spellings).
pub mod headers {
    pub const APP_KEY: &str = "X-App-Key";
    pub const TIMESTAMP: &str = "X-Timestamp";
    pub const NONCE: &str = "X-Nonce";
    pub const SIGNATURE: &str = "X-Signature";
    pub const REQUEST_ID: &str = "X-Request-Id";
    pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
}

/// Accepted clock skew between the signer and the verifier, in seconds (either direction).
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;
/// How long a nonce is remembered: long enough that a request accepted at the edge of the
/// window cannot be replayed on the other edge (2 × window).
pub const NONCE_TTL_SECS: i64 = 2 * TIMESTAMP_WINDOW_SECS;
/// Nonce length bounds (ASCII letters, digits, `-`, `_`).
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 64;
/// `out_trade_no` / `out_id` / `Idempotency-Key`: 1..=32 of `[A-Za-z0-9_-]`.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 32;
/// Largest `page_size` a server must honour; bigger values are clamped, not rejected.
pub const MAX_PAGE_SIZE: u32 = 50;
/// Request bodies larger than this are rejected with [`ErrorCode::BadRequest`].
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every operation's path. All operations are `POST` with a JSON body; the signature also
/// covers a query string if one is present.
pub mod paths {
    // card system (一卡通)
    pub const CARD_ACCOUNT_GET: &str = "/api/v1/card/account/get";
    pub const CARD_BALANCE_GET: &str = "/api/v1/card/balance/get";
    pub const CARD_TRANSACTIONS_LIST: &str = "/api/v1/card/transactions/list";
    pub const CARD_INFO_GET: &str = "/api/v1/card/info/get";
    pub const CARD_PASSWORD_VERIFY: &str = "/api/v1/card/password/verify";
    pub const CARD_REPORT_LOSS: &str = "/api/v1/card/report_loss";
    pub const CARD_CANCEL_LOSS: &str = "/api/v1/card/cancel_loss";
    pub const CARD_FOUND_GET: &str = "/api/v1/card/found/get";
    pub const CARD_LOAD_CREATE: &str = "/api/v1/card/load/create";
    pub const CARD_LOAD_REVERSE: &str = "/api/v1/card/load/reverse";
    pub const CARD_PAY_DEBIT: &str = "/api/v1/card/pay/debit";
    pub const CARD_PAY_REFUND: &str = "/api/v1/card/pay/refund";
    pub const CARD_TRADE_QUERY: &str = "/api/v1/card/trade/query";
    pub const CARD_RECON_DAILY: &str = "/api/v1/card/recon/daily";
    // SMS platform
    pub const SMS_SEND: &str = "/api/v1/sms/send";
    pub const SMS_STATUS: &str = "/api/v1/sms/status";
    // public data store (read-only)
    pub const DATA_MEETINGS_LIST: &str = "/api/v1/data/meetings/list";
    pub const DATA_GRADES_LIST: &str = "/api/v1/data/grades/list";
    pub const DATA_TIMETABLE_GET: &str = "/api/v1/data/timetable/get";
    pub const DATA_LIBRARY_LOANS: &str = "/api/v1/data/library/loans";
    pub const DATA_LOCKER_GET: &str = "/api/v1/data/locker/get";
    // bank (银校转账) — declared only
    pub const BANK_BINDING_GET: &str = "/api/v1/bank/binding/get";
    pub const BANK_DEBIT: &str = "/api/v1/bank/debit";
    pub const BANK_QUERY: &str = "/api/v1/bank/query";
    pub const BANK_REVERSE: &str = "/api/v1/bank/reverse";
    pub const BANK_STATEMENT: &str = "/api/v1/bank/statement";
    // billers — declared only
    pub const BILLERS_CATALOG: &str = "/api/v1/billers/catalog";
    pub const BILLERS_LOCATIONS: &str = "/api/v1/billers/locations";
    pub const BILLERS_LOOKUP: &str = "/api/v1/billers/lookup";
    pub const BILLERS_PAY: &str = "/api/v1/billers/pay";
    pub const BILLERS_QUERY: &str = "/api/v1/billers/query";
    pub const BILLERS_STATEMENT: &str = "/api/v1/billers/statement";
    // health (unsigned, no envelope requirement beyond code 0)
    pub const HEALTH: &str = "/api/v1/health";
}

// ---------------------------------------------------------------------------------------------
// Credentials and signing
// ---------------------------------------------------------------------------------------------

/// One client's identity at an upstream. The secret never leaves this struct except into the
/// HMAC; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    pub app_key: String,
    pub app_secret: String,
}

impl Credentials {
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .finish()
    }
}

/// The headers a signed request carries. Set them all with [`SignedHeaders::pairs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    pub app_key: String,
    pub timestamp: i64,
    pub nonce: String,
    /// Lowercase hex HMAC-SHA256, 64 chars.
    pub signature: String,
    /// Echoed by the server in the envelope and the response header. Defaults to the nonce;
    /// not covered by the request signature (it is covered by the response signature).
    pub request_id: String,
    /// Present on writes; must equal the body's `out_trade_no` (or `out_id` for SMS).
    pub idempotency_key: Option<String>,
}

impl SignedHeaders {
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = request_id.into();
        self
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// `(name, value)` for every header to send, in a fixed order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (headers::APP_KEY, self.app_key.clone()),
            (headers::TIMESTAMP, self.timestamp.to_string()),
            (headers::NONCE, self.nonce.clone()),
            (headers::SIGNATURE, self.signature.clone()),
            (headers::REQUEST_ID, self.request_id.clone()),
        ];
        if let Some(key) = &self.idempotency_key {
            out.push((headers::IDEMPOTENCY_KEY, key.clone()));
        }
        out
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The query string in canonical form: split on `&`, drop empty segments, sort the raw
/// (still percent-encoded) `k=v` segments by bytes, join with `&`. No decoding, no re-encoding.
pub fn canonical_query(query: &str) -> String {
    let mut parts: Vec<&str> = query.split('&').filter(|s| !s.is_empty()).collect();
    parts.sort_unstable();
    parts.join("&")
}

/// The string that is signed:
/// `METHOD \n PATH \n CANONICAL_QUERY \n HEX_SHA256_BODY \n TIMESTAMP \n NONCE`.
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: i64,
    nonce: &str,
) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        canonical_query(query),
        sha256_hex(body),
        timestamp,
        nonce
    )
}

fn hmac_hex(secret: &str, message: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; fall back to an
    // impossible-to-match signature rather than panic if that ever changes.
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

fn ct_eq_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Sign a request. `path_and_query` is what goes on the request line (`/api/v1/..?a=1`),
/// `body` the exact bytes sent, `timestamp` Unix seconds, `nonce` 16..=64 chars of
/// `[A-Za-z0-9_-]`, fresh for every request (a retry is a new request with a new nonce).
pub fn sign_request(
    creds: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: i64,
    nonce: &str,
) -> SignedHeaders {
    let canonical = canonical_request(method, path_and_query, body, timestamp, nonce);
    SignedHeaders {
        app_key: creds.app_key.clone(),
        timestamp,
        nonce: nonce.to_owned(),
        signature: hmac_hex(&creds.app_secret, &canonical),
        request_id: nonce.to_owned(),
        idempotency_key: None,
    }
}

/// The string a response signature covers:
/// `RESPONSE \n HTTP_STATUS \n REQUEST_ID \n TIMESTAMP \n HEX_SHA256_BODY`.
pub fn canonical_response(status: u16, request_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "RESPONSE\n{status}\n{request_id}\n{timestamp}\n{}",
        sha256_hex(body)
    )
}

/// Signature for the `X-Signature` response header (with `X-Timestamp` and `X-Request-Id`).
pub fn sign_response(
    creds: &Credentials,
    status: u16,
    request_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    hmac_hex(
        &creds.app_secret,
        &canonical_response(status, request_id, timestamp, body),
    )
}

/// Check a response signature (client side). The timestamp window applies as for requests;
/// nonces are not used because the request id the client chose binds the response.
pub fn verify_response(
    creds: &Credentials,
    status: u16,
    request_id: &str,
    timestamp: i64,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<(), WireError> {
    if (now - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(WireError::TimestampOutOfWindow);
    }
    let expected = sign_response(creds, status, request_id, timestamp, body);
    if ct_eq_str(&expected, &signature.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(WireError::BadSignature)
    }
}

// ---------------------------------------------------------------------------------------------
// Verification (server side)
// ---------------------------------------------------------------------------------------------

/// Where the verifier finds the secret for an `X-App-Key`.
pub trait CredentialLookup {
    fn credentials(&self, app_key: &str) -> Option<Credentials>;
}

impl CredentialLookup for Credentials {
    fn credentials(&self, app_key: &str) -> Option<Credentials> {
        (self.app_key == app_key).then(|| self.clone())
    }
}

impl CredentialLookup for [Credentials] {
    fn credentials(&self, app_key: &str) -> Option<Credentials> {
        self.iter().find(|c| c.app_key == app_key).cloned()
    }
}

impl CredentialLookup for Vec<Credentials> {
    fn credentials(&self, app_key: &str) -> Option<Credentials> {
        self.as_slice().credentials(app_key)
    }
}

impl CredentialLookup for HashMap<String, Credentials> {
    fn credentials(&self, app_key: &str) -> Option<Credentials> {
        self.get(app_key).cloned()
    }
}

/// Adapts a closure `Fn(&str) -> Option<Credentials>` into a [`CredentialLookup`].
pub struct FnLookup<F>(pub F);

impl<F: Fn(&str) -> Option<Credentials>> CredentialLookup for FnLookup<F> {
    fn credentials(&self, app_key: &str) -> Option<Credentials> {
        (self.0)(app_key)
    }
}

/// Read access to request headers, whatever HTTP crate carries them (case-insensitive names).
pub trait HeaderLookup {
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for actix_web::http::header::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl HeaderLookup for reqwest::header::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl HeaderLookup for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl HeaderLookup for Vec<(&'static str, String)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn valid_nonce(nonce: &str) -> bool {
    (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `true` if `key` is a valid `out_trade_no` / `out_id` / `Idempotency-Key`.
pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=IDEMPOTENCY_KEY_MAX_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Remembers recently seen `(app_key, nonce)` pairs so a captured request cannot be replayed.
///
/// Memory is bounded: entries expire after [`NONCE_TTL_SECS`] and at most `capacity` live
/// entries are kept. When full of unexpired entries, new requests are refused with
/// [`WireError::NonceCacheFull`] (code 9000, retryable) rather than evicting a live nonce,
/// which would reopen the replay hole.
#[derive(Debug)]
pub struct ReplayGuard {
    capacity: usize,
    inner: Mutex<ReplayInner>,
}

#[derive(Debug, Default)]
struct ReplayInner {
    /// key → expiry (unix seconds).
    seen: HashMap<String, i64>,
    /// Insertion order for expiry sweeps; expiries are non-decreasing only if `now` is, so
    /// the sweep re-checks the map.
    order: VecDeque<(i64, String)>,
}

impl ReplayGuard {
    /// The default holds 100 000 nonces (≈ 10 MB worst case), i.e. ≈ 166 requests/s sustained
    /// over the 600 s TTL per process.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(ReplayInner::default()),
        }
    }

    /// Number of nonces currently remembered (for a gauge).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.seen.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record the nonce; `Err(NonceReplayed)` if it was seen within its TTL.
    pub fn check_and_remember(
        &self,
        app_key: &str,
        nonce: &str,
        now: i64,
    ) -> Result<(), WireError> {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            // A panic elsewhere while holding the lock; the data is still a valid map.
            Err(poisoned) => poisoned.into_inner(),
        };
        let inner = &mut *guard;
        while let Some((exp, _)) = inner.order.front() {
            if *exp > now {
                break;
            }
            if let Some((_, key)) = inner.order.pop_front()
                && inner.seen.get(&key).is_some_and(|e| *e <= now)
            {
                inner.seen.remove(&key);
            }
        }
        let key = format!("{app_key}\n{nonce}");
        if let Some(exp) = inner.seen.get(&key)
            && *exp > now
        {
            return Err(WireError::NonceReplayed);
        }
        if inner.seen.len() >= self.capacity {
            return Err(WireError::NonceCacheFull);
        }
        let exp = now + NONCE_TTL_SECS;
        inner.seen.insert(key.clone(), exp);
        inner.order.push_back((exp, key));
        Ok(())
    }
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

/// Verify a signed request (server side), in this order: headers present and well formed →
/// app key known → timestamp inside ±300 s of `now` → signature (constant-time) → nonce not
/// replayed (only remembered once the signature is good, so forged requests cannot fill the
/// cache) → `Idempotency-Key` well formed if present. Returns the caller's credentials.
pub fn verify_request<L, H>(
    creds_lookup: &L,
    method: &str,
    path_and_query: &str,
    headers: &H,
    body: &[u8],
    now: i64,
    guard: &ReplayGuard,
) -> Result<Credentials, WireError>
where
    L: CredentialLookup + ?Sized,
    H: HeaderLookup + ?Sized,
{
    let get = |name: &'static str| {
        headers
            .header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(WireError::MissingHeader(name))
    };
    let app_key = get(headers::APP_KEY)?;
    let timestamp_raw = get(headers::TIMESTAMP)?;
    let nonce = get(headers::NONCE)?;
    let signature = get(headers::SIGNATURE)?;
    let timestamp: i64 = timestamp_raw
        .parse()
        .map_err(|_| WireError::MalformedHeader(headers::TIMESTAMP))?;
    if !valid_nonce(nonce) {
        return Err(WireError::MalformedHeader(headers::NONCE));
    }
    let creds = creds_lookup
        .credentials(app_key)
        .ok_or(WireError::UnknownAppKey)?;
    if (now - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(WireError::TimestampOutOfWindow);
    }
    let expected = hmac_hex(
        &creds.app_secret,
        &canonical_request(method, path_and_query, body, timestamp, nonce),
    );
    if !ct_eq_str(&expected, &signature.to_ascii_lowercase()) {
        return Err(WireError::BadSignature);
    }
    guard.check_and_remember(app_key, nonce, now)?;
    if let Some(key) = headers.header(headers::IDEMPOTENCY_KEY)
        && !valid_idempotency_key(key.trim())
    {
        return Err(WireError::MalformedHeader(headers::IDEMPOTENCY_KEY));
    }
    Ok(creds)
}

/// Why a request (or a response) failed verification. Each maps to one [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    #[error("unknown app key")]
    UnknownAppKey,
    #[error("timestamp outside the ±300 s window")]
    TimestampOutOfWindow,
    #[error("signature does not match")]
    BadSignature,
    #[error("nonce already used")]
    NonceReplayed,
    #[error("nonce cache full; retry later")]
    NonceCacheFull,
}

impl WireError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::MissingHeader(_) | WireError::MalformedHeader(_) => {
                ErrorCode::MissingSignature
            }
            WireError::UnknownAppKey => ErrorCode::AppNotAuthorised,
            WireError::TimestampOutOfWindow => ErrorCode::TimestampOutOfWindow,
            WireError::BadSignature => ErrorCode::BadSignature,
            WireError::NonceReplayed => ErrorCode::NonceReplayed,
            WireError::NonceCacheFull => ErrorCode::SystemBusy,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope and error codes
// ---------------------------------------------------------------------------------------------

/// Every response body: `{"code":0,"message":"ok","request_id":"…","data":{…}}`.
/// `data` is present (non-null) exactly when `code == 0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: u32,
    pub message: String,
    pub request_id: String,
    #[serde(default = "none")]
    pub data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Envelope<T> {
    pub fn ok(request_id: impl Into<String>, data: T) -> Self {
        Self {
            code: 0,
            message: "ok".to_owned(),
            request_id: request_id.into(),
            data: Some(data),
        }
    }

    pub fn error(
        request_id: impl Into<String>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.as_u32(),
            message: message.into(),
            request_id: request_id.into(),
            data: None,
        }
    }

    /// The known code, if this client knows it (servers may add codes).
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_u32(self.code)
    }
}

macro_rules! error_codes {
    ($( $(#[$m:meta])* $name:ident = $num:literal, $http:literal, $text:literal; )*) => {
        /// Numeric result codes. `0` is success; ranges: 1xxx protocol, 2xxx card, 3xxx SMS,
        /// 4xxx public data, 5xxx bank, 6xxx billers, 9xxx transient.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$m])* $name, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$name, )* ];

            pub fn as_u32(self) -> u32 {
                match self { $( ErrorCode::$name => $num, )* }
            }

            pub fn from_u32(code: u32) -> Option<Self> {
                match code { $( $num => Some(ErrorCode::$name), )* _ => None }
            }

            /// The HTTP status a server answers with for this code.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$name => $http, )* }
            }

            /// The documented default `message` (Chinese, as a vendor would send it).
            pub fn default_message(self) -> &'static str {
                match self { $( ErrorCode::$name => $text, )* }
            }
        }
    };
}

error_codes! {
    Ok = 0, 200, "ok";
    // 1xxx protocol
    MissingSignature = 1001, 401, "缺少签名或签名头格式错误";
    BadSignature = 1002, 401, "签名检验失败";
    TimestampOutOfWindow = 1003, 401, "时间戳无效";
    NonceReplayed = 1004, 401, "请求重放";
    AppNotAuthorised = 1005, 403, "应用未授权";
    RateLimited = 1006, 429, "调用次数超限";
    BadRequest = 1007, 400, "请求格式错误";
    IdempotencyKeyMismatch = 1008, 400, "Idempotency-Key 与请求体不一致";
    UnknownOperation = 1009, 404, "接口不存在";
    // 20xx card: lookup and general
    AccountNotFound = 2001, 200, "账户信息不存在";
    CardDuplicateKeyMismatch = 2009, 200, "发端流水号重复且请求内容不一致";
    RangeTooLong = 2010, 200, "查询时间范围过长";
    // 21xx card status and security
    AlreadyLost = 2103, 200, "账户已挂失";
    NotLost = 2104, 200, "账户未挂失";
    CardClosed = 2105, 200, "持卡人已销户";
    PasswordWrong = 2106, 200, "账户密码错误";
    PasswordLocked = 2107, 200, "密码错误次数过多，已锁定";
    CardFrozen = 2108, 200, "账户已冻结";
    NotAllowedOnline = 2110, 200, "该业务不支持线上办理";
    // 22xx loads (圈存) and their reversal
    OverWalletCap = 2201, 200, "持卡人钱包余额超过限制";
    StatusNotNormal = 2202, 200, "一卡通状态不正常";
    DayClosed = 2203, 200, "一卡通后台已日结";
    OutOfServiceHours = 2204, 200, "不在服务时间内";
    AmountInvalid = 2205, 200, "金额不合法";
    CannotReverse = 2211, 200, "该交易不允许冲正";
    ReverseWindowClosed = 2212, 200, "已日结，不能冲正";
    // 23xx e-wallet debits and refunds
    InsufficientFunds = 2301, 200, "账户余额不足";
    OverSingleLimit = 2304, 200, "超过单笔消费限额";
    OverDayLimit = 2305, 200, "超过日消费限额";
    RefundExceedsOriginal = 2306, 200, "退款金额超过原交易";
    OriginalNotFound = 2307, 200, "原交易不存在";
    PasswordRequired = 2308, 200, "需要验证密码";
    // 24xx reconciliation
    RecordsNotReady = 2403, 200, "对账数据未生成";
    // 3xxx SMS
    SmsRateLimitMinute = 3001, 200, "触发分钟级流控";
    SmsRateLimitHour = 3002, 200, "触发小时级流控";
    SmsRateLimitDay = 3003, 200, "触发天级流控";
    InvalidPhone = 3004, 200, "手机号码格式错误";
    TemplateNotFound = 3005, 200, "短信模板不存在";
    PhoneBlacklisted = 3006, 200, "号码在黑名单中";
    NoPhoneOnFile = 3007, 200, "未登记手机号";
    SmsDuplicateKeyMismatch = 3009, 200, "out_id 重复且请求内容不一致";
    SmsNotFound = 3010, 200, "短信记录不存在";
    // 4xxx public data
    PersonNotFound = 4001, 200, "查无此人";
    GradesNotPublished = 4002, 200, "成绩尚未发布";
    TermNotFound = 4003, 200, "学期不存在";
    ReaderNotFound = 4004, 200, "读者不存在";
    // 5xxx bank (declared)
    BankNotBound = 5001, 200, "账户未绑定银行卡";
    BankDuplicateKeyMismatch = 5009, 200, "发端流水号重复且请求内容不一致";
    BankInsufficientFunds = 5101, 200, "银行卡余额不足";
    BankCardLost = 5102, 200, "银行卡已挂失";
    BankAccountAbnormal = 5103, 200, "银行账户状态异常";
    BankOverLimit = 5104, 200, "超过银行限额";
    BankOutOfServiceHours = 5105, 200, "不在银行服务时间内";
    BankNetwork = 5106, 200, "银行网络故障或未签到";
    BankReverseWindowClosed = 5201, 200, "已日切，不能冲正";
    BankStatementNotReady = 5301, 200, "对账文件未生成";
    // 6xxx billers (declared)
    BillerTargetNotFound = 6001, 200, "缴费对象不存在";
    MeterOffline = 6002, 200, "暂时无法获得电表电量及状态信息，请稍后再试";
    AmountOutOfRange = 6003, 200, "金额超出范围";
    BillerDayLimit = 6004, 200, "超过当日缴费限额";
    AlreadyPaid = 6005, 200, "已缴费";
    BillerBusy = 6006, 200, "缴费系统繁忙";
    WindowClosed = 6007, 200, "不在缴费时间内";
    QuotaFull = 6008, 200, "名额已满";
    BillerDuplicateKeyMismatch = 6009, 200, "发端流水号重复且请求内容不一致";
    BillerStatementNotReady = 6301, 200, "对账文件未生成";
    // 9xxx transient
    SystemBusy = 9000, 503, "系统繁忙";
    UpstreamUnavailable = 9001, 503, "上游系统不可用";
}

impl ErrorCode {
    /// Transient: a read may be retried with a new nonce. Writes are never blindly retried;
    /// they are re-sent with the same `out_trade_no` or queried by it.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::SystemBusy
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::RateLimited
                | ErrorCode::BillerBusy
        )
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.as_u32())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        ErrorCode::from_u32(n).ok_or_else(|| serde::de::Error::custom(format!("unknown code {n}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Common body types
// ---------------------------------------------------------------------------------------------

/// State of a write looked up by its idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    /// 未决: ask again later with the same key; never re-send with a new key.
    Processing,
    Success,
    Failed,
    Reversed,
    NotFound,
}

/// Query any write by the key it was sent with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeQuery {
    pub out_trade_no: String,
}

/// A page of items. `page` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
    pub items: Vec<T>,
}

fn default_page() -> u32 {
    1
}
fn default_page_size() -> u32 {
    20
}

// ---------------------------------------------------------------------------------------------
// Card system (一卡通)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 学工号
    Sno,
    /// transaction card number (交易卡号) or printed number (显示卡号)
    CardNo,
    /// ledger account (账号)
    Account,
}

/// `card/account/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountQuery {
    pub id_type: IdType,
    pub id: String,
}

/// 正常 / 挂失 / 冻结 / 注销; precedence closed > lost > frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Normal,
    Lost,
    Frozen,
    Closed,
}

/// The independent flags behind [`CardStatus`] (lost and frozen can coexist).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFlags {
    pub lost: bool,
    pub frozen: bool,
    pub expired: bool,
    pub dormant: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// ledger account (账号), the key for every other card operation
    pub account: String,
    pub sno: String,
    pub name: String,
    /// customer type code and name, e.g. `"40"`, `"本科"`
    pub cust_type: String,
    pub cust_type_name: String,
    /// card type code and name, e.g. `"1"`, `"正式卡"`
    pub card_type: String,
    pub card_type_name: String,
    pub status: CardStatus,
    pub flags: CardFlags,
    pub dept: String,
    /// `YYYY-MM-DD`
    pub expire_date: String,
    /// phone on file, already masked by the card system (`138****1234`); absent if none
    pub phone_masked: Option<String>,
    pub card_no: String,
    pub card_no_display: String,
}

/// Several cards per person exist; the first is the primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    pub accounts: Vec<Account>,
}

/// `card/balance/get`, `card/info/get`, `card/found/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub account: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub account: String,
    /// spendable
    pub balance_fen: i64,
    /// 过渡余额: loaded but not yet claimed at a POS or kiosk
    pub pending_fen: i64,
    /// 补助 waiting to be claimed
    pub subsidy_pending_fen: i64,
    pub day_spent_fen: i64,
    pub single_limit_fen: i64,
    pub day_limit_fen: i64,
    /// 免密额度
    pub nopwd_limit_fen: i64,
    /// balance + pending may not exceed this
    pub wallet_cap_fen: i64,
    /// RFC 3339
    pub as_of: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// money into the spendable balance
    In,
    /// money out of it
    Out,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxType {
    Consume,
    LoadBank,
    LoadCash,
    LoadOnline,
    Claim,
    Subsidy,
    Refund,
    BillPay,
    Fee,
    Reversal,
    Adjust,
    Transfer,
    /// a type this client does not know yet (servers may add types)
    #[serde(other)]
    Other,
}

/// `card/transactions/list`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionsQuery {
    pub account: String,
    /// `YYYY-MM-DD`, inclusive, by trade date
    pub from: String,
    /// `YYYY-MM-DD`, inclusive
    pub to: String,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub tx_type: Option<TxType>,
}

/// Newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub trade_no: String,
    /// RFC 3339
    pub occurred_at: String,
    /// accounting date `YYYY-MM-DD` (may be the next day after the day cut)
    pub acc_date: String,
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// vendor name, e.g. 持卡人消费
    pub type_name: String,
    pub direction: Direction,
    /// magnitude, always ≥ 0; the sign is `direction`
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    pub merchant_id: String,
    pub merchant_name: String,
    pub terminal_id: String,
    pub location: String,
    #[serde(default)]
    pub remark: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossChannel {
    Wechat,
    Phone,
    Web,
    Counter,
    Kiosk,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    pub account: String,
    pub card_no: String,
    pub card_no_display: String,
    pub card_type: String,
    pub card_type_name: String,
    pub status: CardStatus,
    pub flags: CardFlags,
    /// `YYYY-MM-DD`
    pub issue_date: String,
    pub expire_date: String,
    /// RFC 3339, when the loss was reported / becomes effective on offline terminals
    pub lost_at: Option<String>,
    pub loss_effective_at: Option<String>,
    pub loss_channel: Option<LossChannel>,
}

/// `card/password/verify`. `password_digest` = hex(HMAC-SHA256(app_secret,
/// "PWD\n" + account + "\n" + password)) — see [`password_digest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordVerify {
    pub account: String,
    pub password_digest: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordVerifyResult {
    pub ok: bool,
    pub attempts_left: u32,
}

/// How a card password travels: never in clear, bound to the account and the app secret.
pub fn password_digest(creds: &Credentials, account: &str, password: &str) -> String {
    hmac_hex(&creds.app_secret, &format!("PWD\n{account}\n{password}"))
}

/// `card/report_loss` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLoss {
    pub account: String,
    pub out_trade_no: String,
    pub channel: LossChannel,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossResult {
    pub trade_no: String,
    pub status: CardStatus,
    /// RFC 3339; offline terminals honour the loss from this moment
    pub effective_at: String,
}

/// `card/cancel_loss` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelLoss {
    pub account: String,
    pub out_trade_no: String,
    pub password_digest: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundStatus {
    Waiting,
    Collected,
}

/// `card/found/get`: is my lost card at a service point?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundCard {
    pub found: bool,
    pub place: Option<String>,
    /// RFC 3339
    pub found_at: Option<String>,
    pub pickup_hours: Option<String>,
    pub status: Option<FoundStatus>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    Bank,
    Online,
    Cash,
}

/// `card/load/create` (圈存入账, write): credits `pending_fen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadCreate {
    pub account: String,
    pub amount_fen: i64,
    pub out_trade_no: String,
    pub source: LoadSource,
    /// the counterparty's serial (e.g. the bank debit's `out_trade_no`)
    pub source_ref: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResult {
    pub trade_no: String,
    pub acc_date: String,
    pub state: TradeState,
    pub pending_fen_after: i64,
}

/// `card/load/reverse` (冲正, write). Idempotent; reversing an unknown or failed load answers
/// `NOTHING_TO_REVERSE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverse {
    pub orig_out_trade_no: String,
    pub out_trade_no: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReverseState {
    Reversed,
    NothingToReverse,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseResult {
    pub state: ReverseState,
    pub trade_no: Option<String>,
}

/// `card/pay/debit` (e-wallet payment to a biller, write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debit {
    pub account: String,
    pub amount_fen: i64,
    pub out_trade_no: String,
    pub biller_id: String,
    pub target_id: String,
    #[serde(default)]
    pub remark: String,
    /// required above `nopwd_limit_fen` (else 2308)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_digest: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitResult {
    pub trade_no: String,
    pub acc_date: String,
    pub balance_after_fen: i64,
}

/// `card/pay/refund` (write), partial refunds allowed up to the original amount in total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub orig_out_trade_no: String,
    pub out_trade_no: String,
    pub amount_fen: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeKind {
    ReportLoss,
    CancelLoss,
    Load,
    LoadReverse,
    Debit,
    Refund,
}

/// `card/trade/query` answer, for any card write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeStatus {
    pub out_trade_no: String,
    pub state: TradeState,
    pub kind: Option<TradeKind>,
    pub trade_no: Option<String>,
    pub acc_date: Option<String>,
    pub amount_fen: Option<i64>,
    /// for `FAILED`: the code and message the write answered with
    pub error_code: Option<u32>,
    pub error_message: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconKind {
    Load,
    Debit,
    Refund,
    Reversal,
    All,
}

/// `card/recon/daily`: every money record of one accounting day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecordsQuery {
    pub acc_date: String,
    pub kind: ReconKind,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecord {
    pub acc_date: String,
    pub trade_no: String,
    pub out_trade_no: String,
    pub account: String,
    pub sno: String,
    #[serde(rename = "type")]
    pub tx_type: TxType,
    pub amount_fen: i64,
    pub state: TradeState,
    pub occurred_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecords {
    pub acc_date: String,
    /// totals over the whole day (all pages) for the requested kind
    pub count: u64,
    pub sum_fen: i64,
    pub page: Page<DailyRecord>,
}

// ---------------------------------------------------------------------------------------------
// SMS platform
// ---------------------------------------------------------------------------------------------

/// `sms/send` (write; `out_id` is the idempotency key). Exactly one of `phone` / `sno`:
/// with `sno` the platform sends to the phone on file, so we never need the full number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sno: Option<String>,
    /// 短信签名, e.g. 校园一卡通
    pub sign: String,
    pub template_id: String,
    pub params: BTreeMap<String, String>,
    pub out_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSendResult {
    pub biz_id: String,
    /// RFC 3339
    pub accepted_at: String,
    /// where it went, masked (`138****1234`)
    pub phone_masked: String,
}

/// `sms/status`: by `biz_id` or by `out_id` (at least one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsStatusQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SmsDelivery {
    Sending,
    Delivered,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsStatus {
    pub biz_id: String,
    pub out_id: String,
    pub status: SmsDelivery,
    /// carrier code: DELIVRD | UNDELIV | EXPIRED | REJECTD
    pub err_code: Option<String>,
    pub send_time: String,
    pub report_time: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Public data store (read-only)
// ---------------------------------------------------------------------------------------------

/// `data/meetings/list`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingsQuery {
    pub sno: String,
    /// `YYYY-MM-DD`, inclusive
    pub from: String,
    pub to: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInStatus {
    /// 已签到
    Signed,
    /// 未签到
    Absent,
    /// 请假
    Leave,
    /// 迟到
    Late,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    pub meeting_id: String,
    pub name: String,
    pub room: String,
    /// RFC 3339
    pub start: String,
    pub end: String,
    pub status: SignInStatus,
    pub signed_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meetings {
    pub items: Vec<Meeting>,
}

/// `data/grades/list`; no `term` = all published terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradesQuery {
    pub sno: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// `2025-2026-1`
    pub term: String,
    pub course_code: String,
    pub course_name: String,
    /// credits × 10 (3.5 学分 = 35), to stay integer
    pub credit_tenths: u32,
    /// 必修 | 选修 | 限选 …
    pub category: String,
    /// as published: "92", "优秀", "缺考"
    pub score: String,
    /// grade point × 100 (3.70 = 370); absent when not applicable
    pub grade_point_hundredths: Option<u32>,
    /// 正常 | 补考 | 重修
    pub exam_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grades {
    pub terms: Vec<String>,
    pub items: Vec<Grade>,
}

/// `data/timetable/get`; no `term` = current term, no `week` = current week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimetableQuery {
    pub sno: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    pub course_name: String,
    pub teacher: String,
    pub location: String,
    /// 1 = Monday … 7 = Sunday
    pub weekday: u8,
    pub start_section: u8,
    pub end_section: u8,
    /// the teaching weeks this lesson runs in
    pub weeks: Vec<u32>,
}

/// Only the lessons of `week_no` are listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timetable {
    pub term: String,
    /// `YYYY-MM-DD`, Monday of week 1
    pub term_start: String,
    pub week_no: u32,
    pub items: Vec<Lesson>,
}

/// `data/library/loans`, `data/locker/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRef {
    pub sno: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loan {
    pub barcode: String,
    pub title: String,
    pub author: String,
    /// `YYYY-MM-DD`
    pub borrowed_at: String,
    pub due_at: String,
    pub renew_count: u32,
    /// 0 when not overdue
    pub overdue_days: u32,
    pub fine_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loans {
    pub items: Vec<Loan>,
    pub total_fine_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locker {
    pub assigned: bool,
    pub locker_no: Option<String>,
    pub location: Option<String>,
    /// `YYYY-MM-DD`
    pub assigned_at: Option<String>,
    pub expires_at: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Bank (银校转账) — declared for the payments issue
// ---------------------------------------------------------------------------------------------

/// `bank/binding/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankBinding {
    pub bound: bool,
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    /// first 6 + last 4
    pub card_masked: Option<String>,
    pub holder_name_masked: Option<String>,
    pub bound_at: Option<String>,
}

/// `bank/debit` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDebit {
    pub sno: String,
    pub amount_fen: i64,
    pub out_trade_no: String,
    /// `campus_card_load`
    pub purpose: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDebitResult {
    pub bank_trade_no: Option<String>,
    pub bank_date: String,
    pub state: TradeState,
}

/// `bank/query` answer (`bank/reverse` takes [`Reverse`], answers [`ReverseResult`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTradeStatus {
    pub out_trade_no: String,
    pub state: TradeState,
    pub bank_trade_no: Option<String>,
    pub amount_fen: Option<i64>,
}

/// `bank/statement`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementQuery {
    pub date: String,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankStatementRow {
    pub bank_date: String,
    pub bank_trade_no: String,
    pub out_trade_no: String,
    pub card_masked: String,
    pub sno: String,
    pub amount_fen: i64,
    /// DEBIT | REVERSAL
    #[serde(rename = "type")]
    pub row_type: String,
    pub state: TradeState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankStatement {
    pub date: String,
    pub count: u64,
    pub sum_fen: i64,
    pub page: Page<BankStatementRow>,
}

// ---------------------------------------------------------------------------------------------
// Billers — declared for the payments issue
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountRule {
    Any,
    Fixed,
    Receivable,
}

/// `billers/catalog` answer items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Biller {
    pub biller_id: String,
    pub name: String,
    pub amount_rule: AmountRule,
    pub min_fen: i64,
    pub max_fen: i64,
    pub day_max_fen: i64,
    pub unit_price_fen: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerCatalog {
    pub items: Vec<Biller>,
}

/// `billers/locations` (electricity): `level` campus | building | floor | room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationsQuery {
    pub biller_id: String,
    pub level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locations {
    pub items: Vec<Location>,
}

/// `billers/lookup`: `target` is the room id, the student number, …
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerLookup {
    pub biller_id: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivable {
    pub id: String,
    pub item: String,
    pub amount_fen: i64,
    pub due: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerTarget {
    pub target_id: String,
    pub display_name: String,
    /// kWh × 100
    pub remaining_kwh_hundredths: Option<i64>,
    pub balance_fen: Option<i64>,
    pub used_traffic_mb: Option<i64>,
    pub quota_mb: Option<i64>,
    pub receivables: Vec<Receivable>,
    /// vendor free text, e.g. 当前余额517.05元,当前剩余电量957.50度
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPayer {
    pub sno: String,
    /// the card debit's `out_trade_no` that funded this payment
    pub card_out_trade_no: String,
}

/// `billers/pay` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPay {
    pub biller_id: String,
    pub target_id: String,
    pub amount_fen: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivable_ids: Vec<String>,
    pub out_trade_no: String,
    pub payer: BillerPayer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillerState {
    Accepted,
    Success,
    Failed,
    NotFound,
}

/// `billers/pay` and `billers/query` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPayResult {
    pub out_trade_no: String,
    pub biller_trade_no: Option<String>,
    pub state: BillerState,
    pub completed_at: Option<String>,
    pub fail_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerStatementRow {
    pub date: String,
    pub biller_trade_no: String,
    pub out_trade_no: String,
    pub target_id: String,
    pub amount_fen: i64,
    pub state: BillerState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerStatement {
    pub date: String,
    pub count: u64,
    pub sum_fen: i64,
    pub page: Page<BillerStatementRow>,
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn demo() -> Credentials {
        Credentials::new("onecard-demo", "demo-secret-change-me")
    }

    const BODY: &[u8] = br#"{"account":"42940"}"#;
    const NONCE: &str = "3f7a9c0e5b2d4e61";
    const TS: i64 = 1_764_062_400; // 2025-11-25T09:20:00Z

    /// The vectors printed in docs/upstream-api.md §2.5 (cross-checked with Python's hmac).
    #[test]
    fn fixed_signing_vector_matches_the_document() {
        let canonical = canonical_request("post", "/api/v1/card/balance/get", BODY, TS, NONCE);
        assert_eq!(
            canonical,
            "POST\n/api/v1/card/balance/get\n\n\
             725bb9dee3be9fabb239119f1982fa1768de11a03100ae492431cbaf6cf3c556\n\
             1764062400\n3f7a9c0e5b2d4e61"
        );
        let signed = sign_request(&demo(), "POST", "/api/v1/card/balance/get", BODY, TS, NONCE);
        assert_eq!(
            signed.signature,
            "1ea664d2500aadd314e2c74fc4118d8b2f99486daa1db9d6d82c832ab90a127b"
        );
        assert_eq!(
            signed.pairs(),
            vec![
                ("X-App-Key", "onecard-demo".to_owned()),
                ("X-Timestamp", "1764062400".to_owned()),
                ("X-Nonce", NONCE.to_owned()),
                ("X-Signature", signed.signature.clone()),
                ("X-Request-Id", NONCE.to_owned()),
            ]
        );
        let signed_q = sign_request(
            &demo(),
            "POST",
            "/api/v1/card/transactions/list?page=2&account=42940&from=2025-11-01",
            b"",
            TS,
            NONCE,
        );
        assert_eq!(
            signed_q.signature,
            "341bd63bf56a643ce3404119562efecab82f8f5a57a585cf51fc1633c12d5b69"
        );
        let rbody = br#"{"code":0,"message":"ok","request_id":"req-1","data":{"account":"42940"}}"#;
        assert_eq!(
            sign_response(&demo(), 200, "req-1", TS + 1, rbody),
            "2121f8cb403e94e4408dc40d30b8eb83b6fee6328fed66acb545dc8c5fd49cc7"
        );
        assert_eq!(
            password_digest(&demo(), "42940", "123456"),
            "22daa56a99dd660d012525f8de7f6573435430022f95e29b82deb11d4f4089d8"
        );
    }

    #[test]
    fn query_is_sorted_raw_without_decoding() {
        assert_eq!(canonical_query("b=2&a=1&&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("x=%E4%B8%AD&c"), "c&x=%E4%B8%AD");
        assert_eq!(canonical_query(""), "");
    }

    fn headers_of(s: &SignedHeaders) -> Vec<(&'static str, String)> {
        s.pairs()
    }

    #[test]
    fn a_signed_request_verifies_once_and_replay_is_refused() {
        let guard = ReplayGuard::default();
        let s = sign_request(&demo(), "POST", "/api/v1/card/balance/get", BODY, TS, NONCE)
            .with_request_id("req-1");
        let h = headers_of(&s);
        let ok = verify_request(
            &demo(),
            "POST",
            "/api/v1/card/balance/get",
            &h,
            BODY,
            TS + 10,
            &guard,
        );
        assert_eq!(ok.map(|c| c.app_key), Ok("onecard-demo".to_owned()));
        let again = verify_request(
            &demo(),
            "POST",
            "/api/v1/card/balance/get",
            &h,
            BODY,
            TS + 11,
            &guard,
        );
        assert_eq!(again, Err(WireError::NonceReplayed));
        assert_eq!(WireError::NonceReplayed.code().as_u32(), 1004);
    }

    #[test]
    fn tampering_with_any_signed_part_fails() {
        let guard = ReplayGuard::default();
        let s = sign_request(
            &demo(),
            "POST",
            "/api/v1/card/balance/get?x=1",
            BODY,
            TS,
            NONCE,
        );
        let h = headers_of(&s);
        let path = "/api/v1/card/balance/get?x=1";
        let cases: Vec<(&str, &str, &[u8])> = vec![
            ("GET", path, BODY),
            ("POST", "/api/v1/card/info/get?x=1", BODY),
            ("POST", "/api/v1/card/balance/get?x=2", BODY),
            ("POST", path, br#"{"account":"42941"}"#),
        ];
        for (m, p, b) in cases {
            assert_eq!(
                verify_request(&demo(), m, p, &h, b, TS, &guard),
                Err(WireError::BadSignature),
                "{m} {p}"
            );
        }
        let other = Credentials::new("onecard-demo", "another-secret");
        assert_eq!(
            verify_request(&other, "POST", path, &h, BODY, TS, &guard),
            Err(WireError::BadSignature)
        );
        // forged requests must not burn the nonce
        assert!(verify_request(&demo(), "POST", path, &h, BODY, TS, &guard).is_ok());
    }

    #[test]
    fn timestamp_window_is_300_seconds_each_way() {
        let s = sign_request(&demo(), "POST", "/p", b"", TS, NONCE);
        let h = headers_of(&s);
        for (now, ok) in [
            (TS + 300, true),
            (TS - 300, true),
            (TS + 301, false),
            (TS - 301, false),
        ] {
            let guard = ReplayGuard::default();
            let r = verify_request(&demo(), "POST", "/p", &h, b"", now, &guard);
            assert_eq!(r.is_ok(), ok, "now = ts{:+}", now - TS);
            if !ok {
                assert_eq!(r, Err(WireError::TimestampOutOfWindow));
            }
        }
    }

    #[test]
    fn missing_or_malformed_headers_and_unknown_apps_are_named() {
        let guard = ReplayGuard::default();
        let s = sign_request(&demo(), "POST", "/p", b"", TS, NONCE);
        let mut h = headers_of(&s);
        h.retain(|(k, _)| *k != headers::NONCE);
        assert_eq!(
            verify_request(&demo(), "POST", "/p", &h, b"", TS, &guard),
            Err(WireError::MissingHeader("X-Nonce"))
        );
        let short = sign_request(&demo(), "POST", "/p", b"", TS, "short");
        assert_eq!(
            verify_request(&demo(), "POST", "/p", &headers_of(&short), b"", TS, &guard),
            Err(WireError::MalformedHeader("X-Nonce"))
        );
        let stranger = Credentials::new("stranger", "x");
        let s2 = sign_request(&stranger, "POST", "/p", b"", TS, NONCE);
        assert_eq!(
            verify_request(&demo(), "POST", "/p", &headers_of(&s2), b"", TS, &guard),
            Err(WireError::UnknownAppKey)
        );
        let bad_key =
            sign_request(&demo(), "POST", "/p", b"", TS, NONCE).with_idempotency_key("has space");
        assert_eq!(
            verify_request(
                &demo(),
                "POST",
                "/p",
                &headers_of(&bad_key),
                b"",
                TS,
                &guard
            ),
            Err(WireError::MalformedHeader("Idempotency-Key"))
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let guard = ReplayGuard::default();
        let s = sign_request(&demo(), "POST", "/p", b"", TS, NONCE);
        let lower: Vec<(String, String)> = s
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let borrowed: Vec<(&str, &str)> = lower
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert!(
            verify_request(&demo(), "POST", "/p", borrowed.as_slice(), b"", TS, &guard).is_ok()
        );
    }

    #[test]
    fn replay_guard_forgets_after_ttl_and_is_bounded() {
        let guard = ReplayGuard::new(2);
        assert!(guard.check_and_remember("a", "n1", 0).is_ok());
        assert!(guard.check_and_remember("a", "n2", 1).is_ok());
        assert_eq!(
            guard.check_and_remember("a", "n3", 2),
            Err(WireError::NonceCacheFull)
        );
        assert_eq!(
            guard.check_and_remember("a", "n1", 599),
            Err(WireError::NonceReplayed)
        );
        // n1 expires at 600, n2 at 601
        assert!(guard.check_and_remember("a", "n3", 600).is_ok());
        assert_eq!(guard.len(), 2);
        // same nonce, other app: independent
        assert_eq!(
            guard.check_and_remember("b", "n2", 600),
            Err(WireError::NonceCacheFull)
        );
        assert!(guard.check_and_remember("b", "n2", 601).is_ok());
    }

    #[test]
    fn response_signature_round_trips_and_binds_status_and_request_id() {
        let body = br#"{"code":0,"message":"ok","request_id":"req-1","data":{}}"#;
        let sig = sign_response(&demo(), 200, "req-1", TS, body);
        assert_eq!(
            verify_response(&demo(), 200, "req-1", TS, body, &sig, TS + 5),
            Ok(())
        );
        assert_eq!(
            verify_response(&demo(), 503, "req-1", TS, body, &sig, TS),
            Err(WireError::BadSignature)
        );
        assert_eq!(
            verify_response(&demo(), 200, "req-2", TS, body, &sig, TS),
            Err(WireError::BadSignature)
        );
    }

    #[test]
    fn envelope_has_the_documented_shape() {
        let ok = Envelope::ok(
            "req-1",
            AccountRef {
                account: "42940".into(),
            },
        );
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"code":0,"message":"ok","request_id":"req-1","data":{"account":"42940"}}"#
        );
        let err: Envelope<Balance> =
            Envelope::error("req-2", ErrorCode::AccountNotFound, "账户信息不存在");
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"code":2001,"message":"账户信息不存在","request_id":"req-2","data":null}"#
        );
        let parsed: Envelope<Balance> =
            serde_json::from_str(r#"{"code":9000,"message":"系统繁忙","request_id":"r"}"#).unwrap();
        assert_eq!(parsed.error_code(), Some(ErrorCode::SystemBusy));
        assert!(parsed.data.is_none());
    }

    #[test]
    fn error_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_u32()), "duplicate {}", c.as_u32());
            assert_eq!(ErrorCode::from_u32(c.as_u32()), Some(*c));
        }
        assert_eq!(ErrorCode::from_u32(1234), None);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert!(ErrorCode::SystemBusy.is_retryable());
        assert!(!ErrorCode::InsufficientFunds.is_retryable());
    }

    #[test]
    fn transaction_json_uses_type_and_fen_and_tolerates_new_types() {
        let json = r#"{"trade_no":"T1","occurred_at":"2025-11-25T12:03:04+08:00","acc_date":"2025-11-25",
            "type":"CONSUME","type_name":"持卡人消费","direction":"out","amount_fen":1250,
            "balance_after_fen":4830,"merchant_id":"M01","merchant_name":"第一食堂","terminal_id":"P0101",
            "location":"第一食堂二楼"}"#;
        let t: Transaction = serde_json::from_str(json).unwrap();
        assert_eq!(t.tx_type, TxType::Consume);
        assert_eq!(t.amount_fen, 1250);
        let new_type = json.replace("CONSUME", "CROWDFUND");
        let t2: Transaction = serde_json::from_str(&new_type).unwrap();
        assert_eq!(t2.tx_type, TxType::Other);
        // floats are refused for money
        let float = json.replace("1250", "12.5");
        assert!(serde_json::from_str::<Transaction>(&float).is_err());
    }

    #[test]
    fn optional_request_fields_are_omitted_not_null() {
        let q = TransactionsQuery {
            account: "42940".into(),
            from: "2025-11-01".into(),
            to: "2025-11-25".into(),
            page: 1,
            page_size: 20,
            direction: None,
            tx_type: Some(TxType::Consume),
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"account":"42940","from":"2025-11-01","to":"2025-11-25","page":1,"page_size":20,"type":"CONSUME"}"#
        );
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let d = format!("{:?}", demo());
        assert!(!d.contains("demo-secret"));
    }

    proptest! {
        #[test]
        fn any_signed_request_verifies(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            path in "/[a-z/]{1,20}",
            query in "[a-z0-9=&]{0,20}",
            nonce in "[A-Za-z0-9_-]{16,64}",
            skew in -300i64..=300,
        ) {
            let pq = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            let s = sign_request(&demo(), "POST", &pq, &body, TS, &nonce);
            let guard = ReplayGuard::default();
            prop_assert!(verify_request(&demo(), "POST", &pq, &s.pairs(), &body, TS + skew, &guard).is_ok());
        }

        #[test]
        fn query_order_does_not_matter(mut parts in proptest::collection::vec("[a-z]{1,3}=[0-9]{1,3}", 1..6)) {
            let a = sign_request(&demo(), "POST", &format!("/p?{}", parts.join("&")), b"", TS, NONCE);
            parts.reverse();
            let b = sign_request(&demo(), "POST", &format!("/p?{}", parts.join("&")), b"", TS, NONCE);
            prop_assert_eq!(a.signature, b.signature);
        }
    }
}
