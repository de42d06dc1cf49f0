//! Body types of the SMS platform: send (idempotent by `out_id`) and delivery status.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// `sms/send` (write; `out_id` is the idempotency key). Exactly one of `phone` / `sno`:
/// with `sno` the platform sends to the phone on file, so we never need the full number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sno: Option<String>,
    /// 短信签名, e.g. 校园一卡通
    pub sign: String,
    pub template_id: String,
    pub params: BTreeMap<String, String>,
    pub out_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSendResult {
    pub biz_id: String,
    /// RFC 3339 on the wire
    pub accepted_at: DateTime<FixedOffset>,
    /// where it went, masked (`138****1234`)
    pub phone_masked: String,
}

/// `sms/status`: by `biz_id` or by `out_id` (at least one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsStatusQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SmsDelivery {
    Sending,
    Delivered,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsStatus {
    pub biz_id: String,
    pub out_id: String,
    pub status: SmsDelivery,
    /// carrier code: DELIVRD | UNDELIV | EXPIRED | REJECTD
    pub err_code: Option<String>,
    /// RFC 3339 on the wire
    pub send_time: DateTime<FixedOffset>,
    pub report_time: Option<DateTime<FixedOffset>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::round_trip;

    #[test]
    fn a_send_is_accepted_at_a_time() {
        let r: SmsSendResult = round_trip(
            r#"{"biz_id":"B1","accepted_at":"2025-11-25T12:03:04+08:00","phone_masked":"138****1234"}"#,
        );
        assert_eq!(r.accepted_at.to_rfc3339(), "2025-11-25T12:03:04+08:00");
        assert!(
            serde_json::from_str::<SmsSendResult>(
                r#"{"biz_id":"B1","accepted_at":"2025-11-25 12:03","phone_masked":"138****1234"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn a_status_is_sent_and_reported_at_times_or_not_yet() {
        let s: SmsStatus = round_trip(
            r#"{"biz_id":"B1","out_id":"O1","status":"DELIVERED","err_code":"DELIVRD","send_time":"2025-11-25T12:03:04+08:00","report_time":"2025-11-25T12:03:09+08:00"}"#,
        );
        assert_eq!(
            s.report_time.map(|t| (t - s.send_time).num_seconds()),
            Some(5)
        );
        let sending: SmsStatus = round_trip(
            r#"{"biz_id":"B1","out_id":"O1","status":"SENDING","err_code":null,"send_time":"2025-11-25T12:03:04+08:00","report_time":null}"#,
        );
        assert_eq!(sending.report_time, None);
    }
}
