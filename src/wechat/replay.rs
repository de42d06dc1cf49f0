//! Replayed (nonce, signature) pairs: a logged callback URL must not authenticate a new body.
//!
//! Why it exists: in plain mode `signature` covers token, timestamp and nonce but not the body,
//! and every callback URL (so every proxy access log line) carries it. Whoever reads one line
//! could post any body under it until the timestamp leaves the window. So every accepted pair
//! is remembered, with a digest of its body, until then: the same pair with the same body is a
//! retry (the caller's dedup path answers it), with another body it is refused.
//!
//! Memory is bounded by construction: an entry is two 128-bit SHA-256 prefixes and a time,
//! whatever the nonce, signature or body an outsider chose (passing another body off under a
//! logged pair takes a second preimage of 128 bits), and there are at most `capacity` entries
//! (the one expiring first makes room). Only requests that passed the signature check are
//! recorded, so a flood of forged requests adds nothing. Expired pairs also go on a schedule
//! ([`ReplayGuard::sweep`]), so a quiet platform holds none. It holds no clock: callers pass
//! `now_unix`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::error::WeChatError;

/// The first 128 bits of a SHA-256.
type Digest16 = [u8; 16];

fn digest16(hasher: Sha256) -> Digest16 {
    let mut out = [0; 16];
    out.copy_from_slice(&hasher.finalize()[..16]);
    out
}

/// Approximate bytes one remembered pair costs: key and body digests, the expiry, and the
/// hash-map and heap slots holding them.
pub const ENTRY_BYTES: usize = 16 + 16 + 8 + 8 + 24 + 16;

/// What a remembered pair says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The pair is new: the request goes on as usual.
    First,
    /// The same pair with the same body: a retry (WeChat's, or a byte-for-byte replay).
    Retry,
}

pub struct ReplayGuard {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// (nonce, signature) digest → (body digest, expiry).
    seen: HashMap<Digest16, (Digest16, i64)>,
    /// Expiry order, soonest first.
    expiry: BinaryHeap<Reverse<(i64, Digest16)>>,
}

impl std::fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Record an authenticated request. `expires_at` is the last Unix second at which its
    /// timestamp still passes the window check; after it the pair cannot be replayed anyway.
    pub fn check(
        &self,
        nonce: &str,
        signature: &str,
        body: &[u8],
        expires_at: i64,
        now_unix: i64,
    ) -> Result<Seen, WeChatError> {
        let key = digest16(
            Sha256::new()
                .chain_update(nonce.as_bytes())
                .chain_update([0])
                .chain_update(signature.as_bytes()),
        );
        let body_digest = digest16(Sha256::new().chain_update(body));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.expire(&mut inner, now_unix);
        let seen = match inner.seen.get(&key) {
            Some((digest, _)) if *digest == body_digest => Ok(Seen::Retry),
            Some(_) => Err(WeChatError::ReplayedNonce),
            None => {
                inner.seen.insert(key, (body_digest, expires_at));
                inner.expiry.push(Reverse((expires_at, key)));
                Ok(Seen::First)
            }
        };
        metrics::gauge!("onecard_wechat_replay_cache_entries").set(inner.seen.len() as f64);
        seen
    }

    /// Forget the pairs whose timestamp has left the window, and give back the room a burst
    /// left behind. Runs on the housekeeping schedule: `check` expires only while traffic flows.
    pub fn sweep(&self, now_unix: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.expire(&mut inner, now_unix);
        if inner.seen.capacity() > 4 * inner.seen.len().max(1024) {
            inner.seen.shrink_to_fit();
            inner.expiry.shrink_to_fit();
        }
        metrics::gauge!("onecard_wechat_replay_cache_entries").set(inner.seen.len() as f64);
    }

    /// Forget what has expired, then make room under the cap (the pair expiring first goes).
    fn expire(&self, inner: &mut Inner, now_unix: i64) {
        while let Some(Reverse((at, k))) = inner.expiry.peek().copied() {
            if at >= now_unix && inner.seen.len() < self.capacity {
                break;
            }
            if at >= now_unix {
                metrics::counter!("onecard_wechat_replay_cache_evictions_total").increment(1);
            }
            inner.expiry.pop();
            inner.seen.remove(&k);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.seen.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_pair_same_body_is_a_retry_and_another_body_is_refused() {
        let g = ReplayGuard::new(10);
        assert_eq!(g.check("1", "sig", b"a", 400, 100).unwrap(), Seen::First);
        assert_eq!(g.check("1", "sig", b"a", 400, 101).unwrap(), Seen::Retry);
        let err = g.check("1", "sig", b"b", 400, 102).unwrap_err();
        assert!(matches!(err, WeChatError::ReplayedNonce));
        assert_eq!(err.reason(), "replayed nonce");
        // Another nonce or signature is another request.
        assert_eq!(g.check("2", "sig", b"b", 400, 102).unwrap(), Seen::First);
        assert_eq!(g.check("1", "sig2", b"b", 400, 102).unwrap(), Seen::First);
    }

    #[test]
    fn a_pair_is_remembered_until_its_timestamp_leaves_the_window() {
        let g = ReplayGuard::new(10);
        g.check("1", "sig", b"a", 400, 100).unwrap();
        assert!(g.check("1", "sig", b"b", 400, 400).is_err());
        // At 401 the timestamp check refuses the request before it gets here.
        assert_eq!(g.check("1", "sig", b"b", 700, 401).unwrap(), Seen::First);
    }

    #[test]
    fn a_quiet_platform_holds_no_pairs_after_the_sweep() {
        let g = ReplayGuard::new(10);
        g.check("1", "sig", b"a", 400, 100).unwrap();
        g.check("2", "sig", b"a", 500, 100).unwrap();
        g.sweep(450);
        assert_eq!(g.len(), 1, "the pair still replayable stays");
        g.sweep(501);
        assert!(g.is_empty());
    }

    #[test]
    fn memory_is_bounded_by_count_whatever_the_input_size() {
        let g = ReplayGuard::new(100);
        let huge = "n".repeat(64 * 1024);
        for i in 0..1000 {
            g.check(&format!("{huge}{i}"), &huge, huge.as_bytes(), 10_000 + i, 0)
                .unwrap();
        }
        assert_eq!(g.len(), 100);
        // The survivors are the ones expiring last.
        assert_eq!(
            g.check(&format!("{huge}999"), &huge, huge.as_bytes(), 10_999, 0)
                .unwrap(),
            Seen::Retry
        );
    }
}
