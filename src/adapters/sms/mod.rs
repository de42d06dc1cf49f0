//! The SMS platform adapter: templated messages (binding codes, notices) and their delivery
//! status.
//!
//! Why it exists: binding a card depends on a code reaching the phone on file, and the SMS
//! platform is rate limited per phone (1/min, 5/h, 10/day) and occasionally slow. It owns the
//! [`SmsPlatform`] trait, its client and actor. It must never log a phone number or a code,
//! and never re-send a message except with the same `out_id` (so a retry cannot text twice).
//! Sending by `sno` lets the platform use the phone on file, so onecard needs no full number.

pub mod actor;
pub mod client;

use futures_util::future::BoxFuture;

pub use crate::wire::{SmsDelivery, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery};
pub use actor::SmsHandle;
pub use client::SmsClient;

use super::AdapterError;
use super::handle::Upstream;

pub const UPSTREAM: &str = "sms";

/// What onecard asks of the SMS platform.
///
/// Alike the other adapters' traits by design: see `src/adapters/mod.rs`.
pub trait SmsPlatform: Upstream {
    /// `sms/send` (write, key `out_id`).
    fn send<'a>(&'a self, req: &'a SmsSend) -> BoxFuture<'a, Result<SmsSendResult, AdapterError>>;

    /// `sms/status` by `biz_id` or `out_id` (read).
    fn status<'a>(
        &'a self,
        query: &'a SmsStatusQuery,
    ) -> BoxFuture<'a, Result<SmsStatus, AdapterError>>;
}
