//! Adapters: one module per upstream system (card system, SMS platform, public data store),
//! each behind a supervised actor and a typed handle.
//!
//! Why it exists: the school's systems are slow, flaky and rate limited; this module is where
//! that stops. It owns the wire protocol ([`wire`], shared with the simulators), request
//! signing, timeouts, retries of idempotent reads, concurrency and rate limits and a circuit
//! breaker per upstream. It must never compose user-facing replies, never retry a write except
//! with the same idempotency key, and never log secrets or personal data.

pub mod wire;
