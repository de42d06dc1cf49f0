//! The SMS adapter's health check (unsigned probe through the actor, plus breaker state).

use super::SmsHandle;
use crate::adapters::events::Health;

pub async fn check(handle: &SmsHandle) -> Health {
    handle.health().await
}
