//! Body types of the SMS platform: send (idempotent by `out_id`) and delivery status.

use std::collections::BTreeMap;

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
    /// RFC 3339
    pub accepted_at: String,
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
    pub send_time: String,
    pub report_time: Option<String>,
}
