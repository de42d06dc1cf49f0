//! The card adapter's health check: an unsigned `GET /api/v1/health` through the actor, plus
//! the breaker state. Used by `/healthz` and at start-up; it never trips the breaker.

use super::CardHandle;
use crate::adapters::events::Health;

pub async fn check(handle: &CardHandle) -> Health {
    handle.health().await
}
