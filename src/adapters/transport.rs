//! Signed JSON over HTTP to one upstream: the part every adapter's `client.rs` shares.
//!
//! Why it exists: building a request (fresh nonce, timestamp, HMAC signature, idempotency
//! key), reading a bounded response, checking its signature and envelope, and mapping every
//! failure to one precise [`AdapterError`] is the same for all upstreams and must not be
//! written three times. It owns the `reqwest::Client` (pooled, per-call and connect timeouts)
//! and runs every call under the upstream's [`Policy`]. It must never log or put into an error
//! any body content (errors from serde are scrubbed of quoted values), and never retry a write.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::events::Health;
use super::handle::Upstream;
use super::policy::{CallKind, Policy};
use super::{AdapterError, RateLimitSource, Unavailable, UpstreamConfig};
use crate::wire::{self, Credentials, Envelope, ErrorCode};

/// Responses bigger than this are refused (a page of 50 transactions is ≈ 20 KiB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// One upstream's HTTP client. Build it inside the arbiter that will use it (docs/rust-dependencies.md 1.2.2).
pub struct UpstreamClient {
    upstream: &'static str,
    /// Without a trailing `/`.
    base_url: String,
    creds: Credentials,
    http: reqwest::Client,
    policy: Arc<Policy>,
    require_signed_responses: bool,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("upstream", &self.upstream)
            .field("base_url", &self.base_url)
            .field("app_key", &self.creds.app_key)
            .finish_non_exhaustive()
    }
}

/// Which upstream an [`AdapterClient`] speaks to. Each adapter declares one empty marker type
/// with its name, so it implements its interface on its own `AdapterClient<Marker>` while
/// building the client and the health probe stay written once, here.
pub trait UpstreamName: 'static {
    /// The upstream's name in metrics, logs and the simulators' fault knobs.
    const UPSTREAM: &'static str;
}

/// One adapter's HTTP client: the shared [`UpstreamClient`] under the adapter's name. An
/// adapter's `client.rs` holds only its interface implemented on `AdapterClient<ItsMarker>`
/// (each method → path and request body).
pub struct AdapterClient<U> {
    pub(super) http: UpstreamClient,
    upstream: PhantomData<fn() -> U>,
}

impl<U: UpstreamName> AdapterClient<U> {
    pub fn new(cfg: &UpstreamConfig, policy: Arc<Policy>) -> Result<Self, AdapterError> {
        Ok(Self {
            http: UpstreamClient::new(U::UPSTREAM, cfg, policy)?,
            upstream: PhantomData,
        })
    }
}

impl<U> std::fmt::Debug for AdapterClient<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterClient")
            .field("http", &self.http)
            .finish()
    }
}

impl<U: UpstreamName> Upstream for AdapterClient<U> {
    fn health(&self) -> BoxFuture<'_, Health> {
        self.http.health().boxed()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// 32 lowercase hex chars from the thread RNG.
pub fn fresh_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Replace every `"…"` in a serde error text so no value from a body survives into an error.
fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for ch in text.chars() {
        if ch == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    out
}

impl UpstreamClient {
    pub fn new(
        upstream: &'static str,
        cfg: &UpstreamConfig,
        policy: Arc<Policy>,
    ) -> Result<Self, AdapterError> {
        let base_url = cfg.base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| AdapterError::Config(format!("{upstream}: base_url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AdapterError::Config(format!(
                "{upstream}: base_url must be http or https"
            )));
        }
        let timeout = cfg.timeout();
        // Extra roots for this upstream make reqwest set TLS up for this client alone.
        let builder = match cfg.ca_cert_path {
            Some(_) => reqwest::Client::builder(),
            None => crate::tls::client_builder(),
        };
        let mut builder = builder
            .timeout(timeout)
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms.max(1)).min(timeout))
            .pool_max_idle_per_host(cfg.concurrency.max(1))
            .pool_idle_timeout(Duration::from_millis(cfg.idle_connection_ms))
            .user_agent(concat!("onecard/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &cfg.ca_cert_path {
            let pem = std::fs::read(path).map_err(|e| {
                AdapterError::Config(format!("{upstream}: ca_cert_path {}: {e}", path.display()))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| AdapterError::Config(format!("{upstream}: ca_cert_path: {e}")))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let http = builder
            .build()
            .map_err(|e| AdapterError::Config(format!("{upstream}: http client: {e}")))?;
        Ok(Self {
            upstream,
            base_url,
            creds: cfg.credentials(),
            http,
            policy,
            require_signed_responses: cfg.require_signed_responses,
        })
    }

    pub fn upstream(&self) -> &'static str {
        self.upstream
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// For digests that must be keyed with the app secret (card passwords).
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// An idempotent read: retried under the policy on transient failures.
    pub async fn read<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        req: &impl Serialize,
    ) -> Result<Resp, AdapterError> {
        self.call(op, path, req, CallKind::Read, None).await
    }

    /// The outcome of a write by the key it was sent with (`{"out_trade_no":…}`, the same
    /// body at every upstream's `…/query`): a read, retried.
    pub async fn query_by_key<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        out_trade_no: &str,
    ) -> Result<Resp, AdapterError> {
        let req = wire::TradeQuery {
            out_trade_no: out_trade_no.to_owned(),
        };
        self.read(op, path, &req).await
    }

    /// A read about one person by 学工号 (`{"sno":…}`).
    pub async fn read_for_person<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        sno: &str,
    ) -> Result<Resp, AdapterError> {
        let req = wire::PersonRef {
            sno: sno.to_owned(),
        };
        self.read(op, path, &req).await
    }

    /// A write carrying its idempotency key (the body's `out_trade_no` / `out_id`): one
    /// attempt. After `Timeout` or `Unavailable` the outcome is unknown — query by the key.
    pub async fn write<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        req: &impl Serialize,
        idempotency_key: &str,
    ) -> Result<Resp, AdapterError> {
        if !wire::valid_idempotency_key(idempotency_key) {
            return Err(AdapterError::Protocol(format!(
                "{op}: idempotency key must be 1..=32 of [A-Za-z0-9_-]"
            )));
        }
        self.call(op, path, req, CallKind::Write, Some(idempotency_key))
            .await
    }

    /// A call that has side effects but no idempotency key (password checks count attempts):
    /// exactly one attempt, like a write.
    pub async fn write_unkeyed<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        req: &impl Serialize,
    ) -> Result<Resp, AdapterError> {
        self.call(op, path, req, CallKind::Write, None).await
    }

    /// Encode once, then run the attempts under the policy (which retries only reads).
    async fn call<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        req: &impl Serialize,
        kind: CallKind,
        idempotency_key: Option<&str>,
    ) -> Result<Resp, AdapterError> {
        let body = serde_json::to_vec(req).map_err(|e| {
            AdapterError::Protocol(format!("{op}: encode: {}", scrub(&e.to_string())))
        })?;
        self.policy
            .run(op, kind, |_| self.attempt(op, path, &body, idempotency_key))
            .await
    }

    async fn attempt<Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &'static str,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<Resp, AdapterError> {
        let nonce = fresh_nonce();
        let url = format!("{}{}", self.base_url, path);
        // The signature covers the path exactly as on the request line, including a prefix
        // the base URL may carry (`http://host/gw/card` → `/gw/card/api/v1/...`).
        let signed_path = match reqwest::Url::parse(&url) {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            },
            Err(e) => return Err(AdapterError::Config(format!("{op}: url: {e}"))),
        };
        let mut signed =
            wire::sign_request(&self.creds, "POST", &signed_path, body, unix_now(), &nonce);
        if let Some(key) = idempotency_key {
            signed = signed.with_idempotency_key(key);
        }
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(map_reqwest)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(AdapterError::Protocol(format!("{op}: response too large")));
            }
            bytes.extend_from_slice(&chunk);
        }
        self.check_response_signature(op, status, &signed.request_id, &headers, &bytes)?;
        decode(op, status, &signed.request_id, &bytes)
    }

    fn check_response_signature(
        &self,
        op: &'static str,
        status: u16,
        request_id: &str,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<(), AdapterError> {
        use wire::HeaderLookup;
        let sig = headers.header(wire::headers::SIGNATURE);
        let ts = headers
            .header(wire::headers::TIMESTAMP)
            .and_then(|t| wire::parse_timestamp(t.trim()));
        match (sig, ts) {
            (Some(sig), Some(ts)) => {
                wire::verify_response(&self.creds, status, request_id, ts, body, sig, unix_now())
                    .map_err(|e| AdapterError::Protocol(format!("{op}: response signature: {e}")))
            }
            // A bare 5xx (a proxy, or a gateway that lost its answer after committing) can only
            // say "unknown outcome"; refusing it as a protocol error would hide that a write
            // may have happened. Trusting it costs nothing: the caller queries by key.
            _ if self.require_signed_responses && status >= 500 => {
                Err(AdapterError::Unavailable(Unavailable::Status(status)))
            }
            _ if self.require_signed_responses => Err(AdapterError::Protocol(format!(
                "{op}: response is not signed"
            ))),
            _ => Ok(()),
        }
    }

    /// Unsigned `GET /api/v1/health`, outside the policy (a health check must not trip or be
    /// refused by the breaker), reporting the breaker state alongside.
    pub async fn health(&self) -> Health {
        let started = Instant::now();
        let result = self
            .http
            .get(format!("{}{}", self.base_url, wire::paths::HEALTH))
            .send()
            .await;
        let (ok, detail) = match result {
            Ok(r) if r.status().is_success() => (true, String::new()),
            Ok(r) => (false, format!("HTTP {}", r.status().as_u16())),
            Err(e) => (false, map_reqwest(e).outcome().to_owned()),
        };
        Health {
            upstream: self.upstream,
            ok,
            breaker: self.policy.breaker_state().as_str(),
            detail,
            latency_ms: started.elapsed().as_millis() as u64,
        }
    }
}

fn map_reqwest(e: reqwest::Error) -> AdapterError {
    if e.is_timeout() {
        AdapterError::Timeout
    } else if e.is_connect() {
        AdapterError::Unavailable(Unavailable::Connect)
    } else {
        AdapterError::Unavailable(Unavailable::Transport)
    }
}

/// Map an HTTP answer to the operation's data or a precise error (docs/upstream-api.md §3).
fn decode<Resp: DeserializeOwned>(
    op: &'static str,
    status: u16,
    request_id: &str,
    bytes: &[u8],
) -> Result<Resp, AdapterError> {
    let envelope: Envelope<serde_json::Value> = match serde_json::from_slice(bytes) {
        Ok(env) => env,
        Err(_) => {
            return Err(match status {
                429 => AdapterError::RateLimited(RateLimitSource::Upstream),
                500..=599 => AdapterError::Unavailable(Unavailable::Status(status)),
                _ => AdapterError::Protocol(format!("{op}: HTTP {status} without an envelope")),
            });
        }
    };
    if !envelope.request_id.is_empty() && envelope.request_id != request_id {
        return Err(AdapterError::Protocol(format!(
            "{op}: envelope answers another request"
        )));
    }
    if envelope.code == 0 {
        if !(200..300).contains(&status) {
            return Err(AdapterError::Protocol(format!(
                "{op}: HTTP {status} with code 0"
            )));
        }
        let data = envelope.data.unwrap_or(serde_json::Value::Null);
        return serde_json::from_value(data)
            .map_err(|e| AdapterError::Protocol(format!("{op}: data: {}", scrub(&e.to_string()))));
    }
    let code = envelope.code;
    Err(match ErrorCode::from_u32(code) {
        Some(ErrorCode::RateLimited) => AdapterError::RateLimited(RateLimitSource::Upstream),
        Some(ErrorCode::SystemBusy | ErrorCode::UpstreamUnavailable | ErrorCode::BillerBusy) => {
            AdapterError::Unavailable(Unavailable::Busy(code))
        }
        Some(
            ErrorCode::MissingSignature
            | ErrorCode::BadSignature
            | ErrorCode::TimestampOutOfWindow
            | ErrorCode::NonceReplayed
            | ErrorCode::AppNotAuthorised
            | ErrorCode::BadRequest
            | ErrorCode::IdempotencyKeyMismatch
            | ErrorCode::UnknownOperation,
        ) => AdapterError::Protocol(format!("{op}: upstream refused the request: code {code}")),
        _ if (500..600).contains(&status) => AdapterError::Unavailable(Unavailable::Status(status)),
        _ => AdapterError::Rejected {
            code,
            message: envelope.message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Balance;

    #[test]
    fn scrub_removes_every_quoted_value() {
        assert_eq!(
            scrub(r#"invalid type: string "张三", expected i64 at "x""#),
            r#"invalid type: string "…", expected i64 at "…""#
        );
        assert_eq!(
            scrub("missing field `balance_fen`"),
            "missing field `balance_fen`"
        );
    }

    #[test]
    fn envelopes_map_to_precise_errors() {
        let busy = r#"{"code":9000,"message":"系统繁忙","request_id":"r"}"#.as_bytes();
        assert_eq!(
            decode::<Balance>("op", 503, "r", busy),
            Err(AdapterError::Unavailable(Unavailable::Busy(9000)))
        );
        let limited =
            r#"{"code":1006,"message":"调用次数超限","request_id":"r","data":null}"#.as_bytes();
        assert_eq!(
            decode::<Balance>("op", 429, "r", limited),
            Err(AdapterError::RateLimited(RateLimitSource::Upstream))
        );
        let missing =
            r#"{"code":2001,"message":"账户信息不存在","request_id":"r","data":null}"#.as_bytes();
        assert_eq!(
            decode::<Balance>("op", 200, "r", missing),
            Err(AdapterError::Rejected {
                code: 2001,
                message: "账户信息不存在".into()
            })
        );
        let sig = r#"{"code":1002,"message":"签名检验失败","request_id":"r"}"#.as_bytes();
        assert!(matches!(
            decode::<Balance>("op", 401, "r", sig),
            Err(AdapterError::Protocol(_))
        ));
        assert_eq!(
            decode::<Balance>("op", 502, "r", b"<html>bad gateway</html>"),
            Err(AdapterError::Unavailable(Unavailable::Status(502)))
        );
        assert!(matches!(
            decode::<Balance>("op", 200, "other", missing),
            Err(AdapterError::Protocol(_))
        ));
        let wrong =
            r#"{"code":0,"message":"ok","request_id":"r","data":{"account":"张三"}}"#.as_bytes();
        match decode::<Balance>("op", 200, "r", wrong) {
            Err(AdapterError::Protocol(text)) => assert!(!text.contains("张三"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            status in 100u16..600,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let _ = decode::<Balance>("op", status, "r", &body);
        }

        #[test]
        fn decoding_any_envelope_code_never_panics(status in 100u16..600, code in 0u32..10_000) {
            let body = format!(r#"{{"code":{code},"message":"m","request_id":"r","data":null}}"#);
            let r = decode::<Balance>("op", status, "r", body.as_bytes());
            proptest::prop_assert!(r.is_err());
        }
    }
}
