//! A deliberately raw client for one gateway: it signs exactly as docs/upstream-api.md §2.2
//! says (the request-line path, base-URL prefix included) but lets a check drop or spoil any
//! header or byte, and it checks the response signature (§2.4) of every reply it gets.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::{Report, Upstream, Verdict};
use crate::wire::{self, Credentials};

/// One reply as received.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The parsed body; `Null` when it is not JSON.
    pub body: Value,
}

impl Reply {
    /// The envelope's `code`, if the body is an envelope.
    pub fn code(&self) -> Option<u64> {
        self.body.get("code").and_then(Value::as_u64)
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `HTTP 401 code 1002 (签名检验失败)` — what a FAIL line shows.
    pub fn describe(&self) -> String {
        match self.code() {
            Some(code) => format!(
                "HTTP {} code {code} ({})",
                self.status,
                self.body["message"].as_str().unwrap_or("")
            ),
            None => format!("HTTP {} without an envelope", self.status),
        }
    }

    /// `true` when the request got past signature verification (§2.3 steps 1–6).
    pub fn verified(&self) -> bool {
        self.status == 200 && self.code().is_some_and(|c| !(1001..=1009).contains(&c))
    }
}

/// The gateway of one upstream, with the credentials onecard would use.
pub struct Gateway {
    pub upstream: Upstream,
    /// Without a trailing `/`.
    base_url: String,
    /// The base URL's path (`/sim/card`), empty when it has none: part of every signed path.
    prefix: String,
    creds: Credentials,
    http: reqwest::Client,
    /// Problems found in response signatures, by path; and how many replies were checked.
    signatures: Mutex<(usize, Vec<String>)>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstream", &self.upstream)
            .field("base_url", &self.base_url)
            .field("creds", &self.creds)
            .finish()
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Gateway {
    pub fn new(upstream: Upstream, base_url: &str, creds: Credentials) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let prefix = reqwest::Url::parse(&base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Self {
            upstream,
            base_url,
            prefix,
            creds,
            http: crate::tls::client_builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            signatures: Mutex::new((0, Vec::new())),
        }
    }

    /// `card/signing`, `sms/reads` …: the area column of the report.
    pub fn area(&self, what: &str) -> String {
        format!("{}/{what}", self.upstream.name())
    }

    pub fn creds(&self) -> &Credentials {
        &self.creds
    }

    /// The base URL's path prefix (empty when there is none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Headers signing `POST {prefix}{path}` now with a fresh nonce, as §2.2 says, plus the
    /// `Idempotency-Key` of a write.
    pub fn sign(&self, path: &str, body: &[u8], key: Option<&str>) -> Vec<(&'static str, String)> {
        let full = format!("{}{path}", self.prefix);
        let mut headers = self.sign_as(&self.creds, &full, body, now(), &fresh_nonce());
        if let Some(key) = key {
            headers.push((wire::headers::IDEMPOTENCY_KEY, key.to_owned()));
        }
        headers
    }

    /// Headers signing `signed_path` (exactly as given) with any credentials, time and nonce.
    pub fn sign_as(
        &self,
        creds: &Credentials,
        signed_path: &str,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> Vec<(&'static str, String)> {
        wire::sign_request(creds, "POST", signed_path, body, timestamp, nonce).pairs()
    }

    /// A signed read of `path` (relative to the base URL).
    pub async fn call(&self, path: &str, body: &Value) -> Result<Reply, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let headers = self.sign(path, &bytes, None);
        self.send(path, &headers, bytes, true).await
    }

    /// A signed write of `path` with its idempotency key in the header.
    pub async fn write(&self, path: &str, body: &Value, key: &str) -> Result<Reply, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let headers = self.sign(path, &bytes, Some(key));
        self.send(path, &headers, bytes, true).await
    }

    /// `POST {base}{path}` with exactly these headers and bytes. With `expect_signed`, the reply
    /// must carry a valid response signature and echo the request id (§2.4); a problem is
    /// recorded for [`Gateway::report_response_signatures`].
    pub async fn send(
        &self,
        path: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        expect_signed: bool,
    ) -> Result<Reply, String> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{path}: no answer: {e}"))?;
        let status = response.status().as_u16();
        let reply_headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{path}: body not read: {e}"))?;
        let reply = Reply {
            status,
            headers: reply_headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        if expect_signed {
            let expected_id = expected_request_id(headers);
            let problem = self
                .response_signature_problem(&reply, &expected_id, &bytes)
                .map(|p| format!("{path} ({}): {p}", reply.describe()));
            let mut seen = self
                .signatures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            seen.0 += 1;
            seen.1.extend(problem);
        }
        Ok(reply)
    }

    fn response_signature_problem(
        &self,
        reply: &Reply,
        expected_id: &str,
        bytes: &[u8],
    ) -> Option<String> {
        use wire::HeaderLookup;
        if reply.code().is_none() {
            return Some("not an envelope".to_owned());
        }
        if reply.body["request_id"].as_str() != Some(expected_id) {
            return Some(format!(
                "envelope request_id {} (expected {expected_id:?})",
                reply.body["request_id"]
            ));
        }
        if reply
            .headers
            .header(wire::headers::REQUEST_ID)
            .unwrap_or("")
            != expected_id
        {
            return Some(format!(
                "X-Request-Id header {:?} (expected {expected_id:?})",
                reply.headers.header(wire::headers::REQUEST_ID)
            ));
        }
        let Some(signature) = reply.headers.header(wire::headers::SIGNATURE) else {
            return Some("no X-Signature".to_owned());
        };
        let Some(timestamp) = reply
            .headers
            .header(wire::headers::TIMESTAMP)
            .and_then(wire::parse_timestamp)
        else {
            return Some("X-Timestamp missing or not plain digits".to_owned());
        };
        wire::verify_response(
            &self.creds,
            reply.status,
            expected_id,
            timestamp,
            bytes,
            signature,
            now(),
        )
        .err()
        .map(|e| format!("response signature: {e}"))
    }

    /// `GET {base}/api/v1/health`: (HTTP status, body).
    pub async fn health(&self) -> Result<(u16, Value), String> {
        let response = self
            .http
            .get(format!("{}{}", self.base_url, wire::paths::HEALTH))
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// One line: were all replies to a known app key signed and echoing the request id?
    pub fn report_response_signatures(&self, report: &mut Report) {
        let (checked, problems) = {
            let seen = self
                .signatures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (seen.0, seen.1.clone())
        };
        let verdict = if checked == 0 {
            Verdict::Skip("no reply to check".to_owned())
        } else if problems.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail(format!(
                "{} of {checked} replies: {}",
                problems.len(),
                problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        };
        report.push(
            self.area("responses"),
            "every envelope to a known app key is signed and echoes X-Request-Id (§2.4)",
            verdict,
        );
    }
}

/// The request id a server must echo: a well-formed `X-Request-Id`, else `""` when one was sent
/// malformed, else the nonce (§2.1).
fn expected_request_id(headers: &[(&'static str, String)]) -> String {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    match get(wire::headers::REQUEST_ID) {
        Some(id) if wire::valid_request_id(id) => id.to_owned(),
        Some(_) => String::new(),
        None => get(wire::headers::NONCE)
            .filter(|n| wire::valid_request_id(n))
            .unwrap_or("")
            .to_owned(),
    }
}

/// A fresh nonce, as the adapters make them.
pub fn fresh_nonce() -> String {
    crate::adapters::transport::fresh_nonce()
}
