//! Request and response signing: the canonical strings of docs/upstream-api.md §2 and their
//! HMAC-SHA256. Both sides use these functions, so a client and a server cannot disagree on
//! what is signed. Never reads a clock or draws a nonce: the caller passes both in.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::headers;

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

pub(super) fn hmac_hex(secret: &str, message: &str) -> String {
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

pub(super) fn ct_eq_str(a: &str, b: &str) -> bool {
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

/// The fixed inputs of the vectors in docs/upstream-api.md §2.5, shared by the tests here and
/// in [`super::verification`].
#[cfg(test)]
pub(super) mod vectors {
    use super::Credentials;

    pub fn demo() -> Credentials {
        Credentials::new("onecard-demo", "demo-secret-change-me")
    }

    pub const BODY: &[u8] = br#"{"account":"42940"}"#;
    pub const NONCE: &str = "3f7a9c0e5b2d4e61";
    pub const TS: i64 = 1_764_062_400; // 2025-11-25T09:20:00Z
}

#[cfg(test)]
mod tests {
    use super::vectors::{BODY, NONCE, TS, demo};
    use crate::*;
    use proptest::prelude::*;

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

    #[test]
    fn credentials_debug_hides_the_secret() {
        let d = format!("{:?}", demo());
        assert!(!d.contains("demo-secret"));
    }
    proptest! {
        #[test]
        fn query_order_does_not_matter(mut parts in proptest::collection::vec("[a-z]{1,3}=[0-9]{1,3}", 1..6)) {
            let a = sign_request(&demo(), "POST", &format!("/p?{}", parts.join("&")), b"", TS, NONCE);
            parts.reverse();
            let b = sign_request(&demo(), "POST", &format!("/p?{}", parts.join("&")), b"", TS, NONCE);
            prop_assert_eq!(a.signature, b.signature);
        }
    }
}
