//! The public data adapter's health check (unsigned probe through the actor, plus breaker
//! state).

use super::PublicDataHandle;
use crate::adapters::events::Health;

pub async fn check(handle: &PublicDataHandle) -> Health {
    handle.health().await
}
