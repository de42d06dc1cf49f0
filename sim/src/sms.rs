//! The simulated school SMS platform, docs/upstream-api.md §6: templated sends (to a phone or
//! to the phone on file for a 学工号), per-phone rate limits (1/min, 5/h, 10/day per sign),
//! blacklist, delivery receipts that arrive seconds later, and an outbox a test harness or the
//! demo page can read (`GET /sim/sms/outbox?phone=P`).
//!
//! Why it exists: binding by SMS code is the first thing a new user does; the demo and tests
//! need to read the code that was "sent". It owns the sent messages and the rate-limit counters.
//! It must never log message texts (they carry verification codes) or full phone numbers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use super::campus::{Rng, campus_time, mask_phone};
use super::upstream::{Ctx, Op, OpError, OpResult, parse, to_value};
use super::{SimState, lock};
use onecard_wire::{
    self as wire, ErrorCode, SmsDelivery, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery,
};

/// Templates the platform knows: id → text with `${param}` placeholders.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "SMS_BIND_CODE",
        "您正在绑定校园卡微信服务，验证码${code}，${minutes}分钟内有效。如非本人操作请忽略本短信。",
    ),
    (
        "SMS_VERIFY_CODE",
        "您的验证码为${code}，${minutes}分钟内有效，请勿泄露给他人。",
    ),
    (
        "SMS_LOSS_NOTICE",
        "您的校园卡（尾号${tail}）已于${time}挂失。如非本人操作，请尽快联系卡务中心。",
    ),
    (
        "SMS_LOAD_NOTICE",
        "您的校园卡已充值${amount}元，请在食堂任意POS机或自助圈存机领款。",
    ),
    (
        "SMS_LOW_BALANCE",
        "您的校园卡余额为${balance}元，请及时充值。",
    ),
];

/// Numbers on the platform's blacklist (3006).
pub const BLACKLIST: &[&str] = &["13900000000", "13800000099"];

/// A message the platform accepted.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SentSms {
    pub biz_id: String,
    pub out_id: String,
    pub phone: String,
    pub sign: String,
    pub template_id: String,
    pub params: BTreeMap<String, String>,
    /// What the handset shows: `【sign】text`.
    pub text: String,
    pub accepted_at: i64,
    /// When the carrier receipt arrives, and whether it says delivered.
    pub report_at: i64,
    pub delivered: bool,
}

#[derive(Default)]
struct SmsState {
    sent: Vec<SentSms>,
    /// (phone, sign) → accepted times
    rate: HashMap<(String, String), Vec<i64>>,
}

/// The SMS platform's state.
#[derive(Default)]
pub struct SmsSim {
    st: Mutex<SmsState>,
}

impl SmsSim {
    /// Messages sent to `phone`, oldest first.
    pub fn outbox(&self, phone: &str) -> Vec<SentSms> {
        lock(&self.st)
            .sent
            .iter()
            .filter(|m| m.phone == phone)
            .cloned()
            .collect()
    }
}

fn render(template: &str, params: &BTreeMap<String, String>) -> Result<String, OpError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| OpError::from(ErrorCode::TemplateNotFound))?;
        let name = &after[..end];
        let value = params
            .get(name)
            .ok_or_else(|| OpError::msg(ErrorCode::BadRequest, format!("缺少模板参数 {name}")))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn valid_phone(p: &str) -> bool {
    p.len() == 11
        && p.starts_with('1')
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.as_bytes()[1] >= b'3'
}

fn send(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: SmsSend = parse(body)?;
    let phone = match (&q.phone, &q.sno) {
        (Some(phone), None) => phone.clone(),
        (None, Some(sno)) => state
            .campus()
            .person_by_sno(sno)
            .and_then(|p| p.phone.clone())
            .ok_or_else(|| OpError::from(ErrorCode::NoPhoneOnFile))?,
        _ => {
            return Err(OpError::msg(
                ErrorCode::BadRequest,
                "phone 与 sno 必须且只能填一个",
            ));
        }
    };
    if !valid_phone(&phone) {
        return Err(ErrorCode::InvalidPhone.into());
    }
    if q.sign.trim().is_empty() {
        return Err(OpError::msg(ErrorCode::BadRequest, "sign 不能为空"));
    }
    let template = TEMPLATES
        .iter()
        .find(|(id, _)| *id == q.template_id)
        .map(|(_, t)| *t)
        .ok_or_else(|| OpError::from(ErrorCode::TemplateNotFound))?;
    if BLACKLIST.contains(&phone.as_str()) {
        return Err(ErrorCode::PhoneBlacklisted.into());
    }
    let text = format!("【{}】{}", q.sign, render(template, &q.params)?);
    let mut st = lock(&state.sms().st);
    let times = st.rate.entry((phone.clone(), q.sign.clone())).or_default();
    times.retain(|t| ctx.now - t < 86_400);
    let within = |secs: i64| times.iter().filter(|t| ctx.now - **t < secs).count();
    if within(60) >= 1 {
        return Err(ErrorCode::SmsRateLimitMinute.into());
    }
    if within(3600) >= 5 {
        return Err(ErrorCode::SmsRateLimitHour.into());
    }
    if times.len() >= 10 {
        return Err(ErrorCode::SmsRateLimitDay.into());
    }
    times.push(ctx.now);
    let n = st.sent.len() as u64 + 1;
    let biz_id = format!("B{}{:06}", ctx.now, n);
    let mut r = Rng::derive(state.config().seed, &[n, ctx.now as u64]);
    // Receipts 2–20 s later; ~1.5 % undelivered (never for the documented demo numbers).
    let report_at = ctx.now + r.range(2, 20);
    let delivered = phone.starts_with("1380000") || !r.chance(0.015);
    st.sent.push(SentSms {
        biz_id: biz_id.clone(),
        out_id: q.out_id.clone(),
        phone: phone.clone(),
        sign: q.sign.clone(),
        template_id: q.template_id.clone(),
        params: q.params.clone(),
        text,
        accepted_at: ctx.now,
        report_at,
        delivered,
    });
    metrics::counter!("onecard_sim_sms_sent_total").increment(1);
    to_value(&SmsSendResult {
        biz_id,
        accepted_at: campus_time(ctx.now),
        phone_masked: mask_phone(&phone),
    })
}

fn status(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: SmsStatusQuery = parse(body)?;
    if q.biz_id.is_none() && q.out_id.is_none() {
        return Err(OpError::msg(
            ErrorCode::BadRequest,
            "biz_id 或 out_id 至少填一个",
        ));
    }
    let st = lock(&state.sms().st);
    let m = st
        .sent
        .iter()
        .find(|m| {
            q.biz_id.as_ref().is_none_or(|b| *b == m.biz_id)
                && q.out_id.as_ref().is_none_or(|o| *o == m.out_id)
        })
        .ok_or_else(|| OpError::from(ErrorCode::SmsNotFound))?;
    let reported = ctx.now >= m.report_at;
    to_value(&SmsStatus {
        biz_id: m.biz_id.clone(),
        out_id: m.out_id.clone(),
        status: match (reported, m.delivered) {
            (false, _) => SmsDelivery::Sending,
            (true, true) => SmsDelivery::Delivered,
            (true, false) => SmsDelivery::Failed,
        },
        err_code: reported.then(|| if m.delivered { "DELIVRD" } else { "UNDELIV" }.to_owned()),
        send_time: campus_time(m.accepted_at),
        report_time: reported.then(|| campus_time(m.report_at)),
    })
}

/// Every operation of the SMS gateway.
pub static OPS: &[Op] = &[
    Op {
        path: wire::paths::SMS_SEND,
        write: Some(("out_id", ErrorCode::SmsDuplicateKeyMismatch)),
        run: send,
    },
    Op {
        path: wire::paths::SMS_STATUS,
        write: None,
        run: status,
    },
];

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::upstream::testkit::{Sim, spawn_campus};
    use onecard_wire::paths;

    const SMS: &str = "/sim/sms";

    async fn sim() -> Sim {
        spawn_campus(100).await
    }

    fn bind(sno: &str, code: &str, out_id: &str) -> Value {
        json!({"sno": sno, "sign": "校园一卡通", "template_id": "SMS_BIND_CODE", "params": {"code": code, "minutes": "5"}, "out_id": out_id})
    }

    async fn send(s: &Sim, body: Value) -> (u64, Value) {
        let key = body["out_id"].as_str().unwrap().to_owned();
        let a = s.write(SMS, paths::SMS_SEND, body, &key).await;
        (a.code(), a.data().clone())
    }

    #[actix_web::test]
    async fn send_by_sno_reaches_the_phone_on_file_once_per_key() {
        let s = sim().await;
        let (code, r) = send(&s, bind("2024000001", "482913", "SMS0001")).await;
        assert_eq!(code, 0);
        assert_eq!(r["phone_masked"], "138****0001");
        assert!(r["biz_id"].as_str().unwrap().starts_with('B'));
        let (code, again) = send(&s, bind("2024000001", "482913", "SMS0001")).await;
        assert_eq!(
            (code, &again),
            (0, &r),
            "same out_id: same biz_id, no second message"
        );
        assert_eq!(
            send(&s, bind("2024000001", "000000", "SMS0001")).await.0,
            3009
        );
        let (status, out) = s.get("/sim/sms/outbox?phone=13800000001").await;
        assert_eq!(status, 200);
        let out = out.as_array().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0]["text"],
            "【校园一卡通】您正在绑定校园卡微信服务，验证码482913，5分钟内有效。如非本人操作请忽略本短信。"
        );
        assert_eq!(out[0]["biz_id"], r["biz_id"]);
        assert_eq!(
            s.get("/sim/sms/outbox?phone=13800000002").await.1,
            json!([])
        );
    }

    #[actix_web::test]
    async fn rate_limits_per_phone_minute_hour_day() {
        let s = sim().await;
        assert_eq!(send(&s, bind("2024000001", "1", "R1")).await.0, 0);
        assert_eq!(send(&s, bind("2024000001", "2", "R2")).await.0, 3001);
        // Another sign is another budget; another phone too.
        let mut other_sign = bind("2024000001", "3", "R3");
        other_sign["sign"] = json!("大连理工大学");
        assert_eq!(send(&s, other_sign).await.0, 0);
        assert_eq!(send(&s, bind("2024000002", "4", "R4")).await.0, 0);
        for i in 0..4 {
            s.state.clock().advance(61);
            assert_eq!(
                send(&s, bind("2024000001", "5", &format!("H{i}"))).await.0,
                0
            );
        }
        s.state.clock().advance(61);
        assert_eq!(send(&s, bind("2024000001", "6", "H9")).await.0, 3002);
        for i in 0..5 {
            s.state.clock().advance(3601);
            assert_eq!(
                send(&s, bind("2024000001", "7", &format!("D{i}"))).await.0,
                0,
                "{i}"
            );
        }
        s.state.clock().advance(3601);
        assert_eq!(send(&s, bind("2024000001", "8", "D9")).await.0, 3003);
        s.state.clock().advance(86_400);
        assert_eq!(send(&s, bind("2024000001", "9", "N1")).await.0, 0);
    }

    #[actix_web::test]
    async fn refusals_and_delivery_receipts() {
        let s = sim().await;
        let mut both = bind("2024000001", "1", "E1");
        both["phone"] = json!("13800000001");
        assert_eq!(send(&s, both).await.0, 1007);
        assert_eq!(
            send(&s, bind("2024000007", "1", "E2")).await.0,
            3007,
            "no phone on file"
        );
        let mut tpl = bind("2024000001", "1", "E3");
        tpl["template_id"] = json!("SMS_NOPE");
        assert_eq!(send(&s, tpl).await.0, 3005);
        let mut black = bind("2024000001", "1", "E4");
        black.as_object_mut().unwrap().remove("sno");
        black["phone"] = json!("13900000000");
        assert_eq!(send(&s, black.clone()).await.0, 3006);
        black["phone"] = json!("1234");
        black["out_id"] = json!("E5");
        assert_eq!(send(&s, black).await.0, 3004);
        let mut missing = bind("2024000001", "1", "E6");
        missing["params"] = json!({"code": "1"});
        assert_eq!(send(&s, missing).await.0, 1007);

        let (_, r) = send(&s, bind("2024000002", "777777", "OK1")).await;
        let st = s
            .call(SMS, paths::SMS_STATUS, json!({"out_id": "OK1"}))
            .await;
        assert_eq!(st.data()["status"], "SENDING");
        assert_eq!(st.data()["err_code"], Value::Null);
        s.state.clock().advance(21);
        let st = s
            .call(SMS, paths::SMS_STATUS, json!({"biz_id": r["biz_id"]}))
            .await;
        assert_eq!(st.data()["status"], "DELIVERED");
        assert_eq!(st.data()["err_code"], "DELIVRD");
        assert_eq!(
            s.call(SMS, paths::SMS_STATUS, json!({"out_id": "NOPE"}))
                .await
                .code(),
            3010
        );
    }
}
