//! Checking signatures: a request on the server side (headers, app key, timestamp window,
//! HMAC in constant time, nonce not replayed, idempotency key shape) and a response on the
//! client side. Owns the bounded nonce cache ([`ReplayGuard`]) and [`WireError`], the reason a
//! check failed, which maps to exactly one protocol error code.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::envelope::ErrorCode;
use super::signing::{Credentials, canonical_request, ct_eq_str, hmac_hex, sign_response};
use super::{
    IDEMPOTENCY_KEY_MAX_LEN, NONCE_MAX_LEN, NONCE_MIN_LEN, NONCE_TTL_SECS, REQUEST_ID_MAX_LEN,
    TIMESTAMP_WINDOW_SECS, headers,
};

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
    if !within_window(now, timestamp) {
        return Err(WireError::TimestampOutOfWindow);
    }
    let expected = sign_response(creds, status, request_id, timestamp, body);
    if ct_eq_str(&expected, &signature.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(WireError::BadSignature)
    }
}

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

/// `X-Timestamp` as §2.1 writes it: plain decimal digits, no sign, no leading zero, no
/// spaces, within `i64`. `+1764062400` and `01764062400` are refused, not normalised.
pub fn parse_timestamp(raw: &str) -> Option<i64> {
    let plain = raw.bytes().all(|b| b.is_ascii_digit()) && !(raw.len() > 1 && raw.starts_with('0'));
    if plain { raw.parse().ok() } else { None }
}

/// `|now − timestamp| ≤ 300 s`, computed without overflow: a timestamp so far away that the
/// difference does not fit in an `i64` (`i64::MIN` from a hostile peer) is outside the window.
fn within_window(now: i64, timestamp: i64) -> bool {
    now.checked_sub(timestamp)
        .is_some_and(|d| d.unsigned_abs() <= TIMESTAMP_WINDOW_SECS.unsigned_abs())
}

/// `true` if `id` is a valid `X-Request-Id`: 1–64 chars of `[A-Za-z0-9_-]` (§2.1).
pub fn valid_request_id(id: &str) -> bool {
    (1..=REQUEST_ID_MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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

/// Verify a signed request (server side), in this order: headers present and well formed
/// (timestamp plain digits, nonce and request id of the documented alphabet) →
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
    let timestamp =
        parse_timestamp(timestamp_raw).ok_or(WireError::MalformedHeader(headers::TIMESTAMP))?;
    if !valid_nonce(nonce) {
        return Err(WireError::MalformedHeader(headers::NONCE));
    }
    if let Some(id) = headers.header(headers::REQUEST_ID)
        && !valid_request_id(id.trim())
    {
        return Err(WireError::MalformedHeader(headers::REQUEST_ID));
    }
    let creds = creds_lookup
        .credentials(app_key)
        .ok_or(WireError::UnknownAppKey)?;
    if !within_window(now, timestamp) {
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

#[cfg(test)]
mod tests {
    use super::within_window;
    use crate::signing::vectors::{BODY, NONCE, TS, demo};
    use crate::*;
    use proptest::prelude::*;

    fn headers_of(s: &SignedHeaders) -> Vec<(&'static str, String)> {
        s.pairs()
    }

    /// A lax parser accepted `+ts` and `0ts` (a client that sends them works against one
    /// gateway and not the next), and `i64::MIN` overflowed the window arithmetic (a panic in
    /// debug builds): all are `1001`, refused before any arithmetic.
    #[test]
    fn timestamps_are_plain_digits_and_extreme_values_never_overflow() {
        let guard = ReplayGuard::default();
        let path = "/api/v1/card/balance/get";
        let signed = sign_request(&demo(), "POST", path, BODY, TS, NONCE);
        for raw in [
            format!("+{TS}"),
            format!("0{TS}"),
            format!("{TS}.0"),
            format!(" {TS}x"),
            i64::MIN.to_string(),
            "99999999999999999999".to_owned(),
        ] {
            let mut h = headers_of(&signed);
            h[1].1 = raw.clone();
            assert_eq!(
                verify_request(&demo(), "POST", path, &h, BODY, TS, &guard),
                Err(WireError::MalformedHeader(headers::TIMESTAMP)),
                "{raw}"
            );
        }
        assert_eq!(parse_timestamp("0"), Some(0));
        assert_eq!(parse_timestamp(&i64::MAX.to_string()), Some(i64::MAX));
        // Extremes that do parse are outside the window, whatever `now` is.
        assert!(!within_window(i64::MAX, 0));
        assert!(!within_window(i64::MIN, i64::MAX));
        assert!(!within_window(0, i64::MIN));
        assert!(within_window(TS, TS + 300) && !within_window(TS, TS + 301));
        let resp = sign_response(&demo(), 200, "req-1", TS, b"{}");
        assert_eq!(
            verify_response(&demo(), 200, "req-1", i64::MIN, b"{}", &resp, TS),
            Err(WireError::TimestampOutOfWindow)
        );
    }

    /// The simulator used to truncate a long `X-Request-Id` to 64 chars and echo it: a request
    /// id outside §2.1's form is `1001`, never rewritten.
    #[test]
    fn a_malformed_request_id_is_refused_not_truncated() {
        let guard = ReplayGuard::default();
        let path = "/api/v1/card/balance/get";
        for id in ["x".repeat(65), "has space".to_owned(), "中文".to_owned()] {
            let signed =
                sign_request(&demo(), "POST", path, BODY, TS, NONCE).with_request_id(id.clone());
            assert_eq!(
                verify_request(
                    &demo(),
                    "POST",
                    path,
                    &headers_of(&signed),
                    BODY,
                    TS,
                    &guard
                ),
                Err(WireError::MalformedHeader(headers::REQUEST_ID)),
                "{id}"
            );
        }
        let ok =
            sign_request(&demo(), "POST", path, BODY, TS, NONCE).with_request_id("x".repeat(64));
        assert!(verify_request(&demo(), "POST", path, &headers_of(&ok), BODY, TS, &guard).is_ok());
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
    }
}
