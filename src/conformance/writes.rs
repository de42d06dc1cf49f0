//! Idempotent writes (docs/upstream-api.md §4.3): the same key and body replays the first
//! answer, the same key with another body is the upstream's "duplicate key" code, and the key
//! can be looked up afterwards. Runs only with [`Fixtures::writes`]: these calls load, debit and
//! report a card lost (and restore it), send one SMS to the fixture person's phone, debit the
//! person's bank card 1 元 (reversed) and pay 1 元 to the fixture biller target (not undoable).

use serde_json::{Value, json};

use super::client::{Gateway, now};
use super::reads::{Shape, judge, shape};
use super::signing::expect_code;
use super::{Fixtures, Report, Upstream, Verdict};
use crate::wire::{self, ErrorCode, paths};

/// One write to try twice, then with a changed body.
struct Write {
    path: &'static str,
    key: String,
    body: Value,
    shape: Shape,
}

impl Write {
    fn new(path: &'static str, key: &str, shape: Shape, body: Value) -> Self {
        let key = key.to_owned();
        Self {
            path,
            key,
            body,
            shape,
        }
    }
}

/// The upstream's "same key, different body" code; `None` for one without writes.
fn duplicate_code(upstream: Upstream) -> Option<ErrorCode> {
    match upstream {
        Upstream::Card => Some(ErrorCode::CardDuplicateKeyMismatch),
        Upstream::Sms => Some(ErrorCode::SmsDuplicateKeyMismatch),
        Upstream::Bank => Some(ErrorCode::BankDuplicateKeyMismatch),
        Upstream::Billers => Some(ErrorCode::BillerDuplicateKeyMismatch),
        Upstream::PublicData => None,
    }
}

/// Keys unique to this run: `CK` + a tag + the time in hex (≤ 32 chars).
fn key(tag: &str) -> String {
    format!("CK{tag}{:x}", now())
}

fn writes(gw: &Gateway, f: &Fixtures) -> Vec<Write> {
    let digest = wire::password_digest(gw.creds(), &f.account, &f.password);
    match gw.upstream {
        Upstream::Card => {
            let (load, reverse, debit, refund) = (key("LD"), key("RV"), key("DB"), key("RF"));
            let (loss, cancel) = (key("RL"), key("CL"));
            vec![
                Write::new(
                    paths::CARD_LOAD_CREATE,
                    &load,
                    shape::<wire::LoadResult>,
                    json!({"account": f.account, "amount_fen": 100, "out_trade_no": load, "source": "bank", "source_ref": key("SRC")}),
                ),
                Write::new(
                    paths::CARD_LOAD_REVERSE,
                    &reverse,
                    shape::<wire::ReverseResult>,
                    json!({"orig_out_trade_no": load, "out_trade_no": reverse}),
                ),
                Write::new(
                    paths::CARD_PAY_DEBIT,
                    &debit,
                    shape::<wire::DebitResult>,
                    json!({"account": f.account, "amount_fen": 100, "out_trade_no": debit, "biller_id": "conformance", "target_id": f.sno, "remark": "conformance"}),
                ),
                Write::new(
                    paths::CARD_PAY_REFUND,
                    &refund,
                    shape::<wire::DebitResult>,
                    json!({"orig_out_trade_no": debit, "out_trade_no": refund, "amount_fen": 100}),
                ),
                Write::new(
                    paths::CARD_REPORT_LOSS,
                    &loss,
                    shape::<wire::LossResult>,
                    json!({"account": f.account, "out_trade_no": loss, "channel": "wechat"}),
                ),
                Write::new(
                    paths::CARD_CANCEL_LOSS,
                    &cancel,
                    shape::<wire::LossResult>,
                    json!({"account": f.account, "out_trade_no": cancel, "password_digest": digest}),
                ),
            ]
        }
        Upstream::Sms => {
            let out_id = key("SM");
            vec![Write::new(
                paths::SMS_SEND,
                &out_id,
                shape::<wire::SmsSendResult>,
                json!({"sno": f.sno, "sign": "校园一卡通", "template_id": "SMS_VERIFY_CODE", "params": {"code": "000000", "minutes": "5"}, "out_id": out_id}),
            )]
        }
        Upstream::Bank => {
            let (debit, reverse) = (key("BD"), key("BR"));
            vec![
                Write::new(
                    paths::BANK_DEBIT,
                    &debit,
                    shape::<wire::BankDebitResult>,
                    json!({"sno": f.sno, "amount_fen": 100, "out_trade_no": debit, "purpose": "campus_card_load"}),
                ),
                Write::new(
                    paths::BANK_REVERSE,
                    &reverse,
                    shape::<wire::ReverseResult>,
                    json!({"orig_out_trade_no": debit, "out_trade_no": reverse}),
                ),
            ]
        }
        Upstream::Billers => {
            let pay = key("BP");
            vec![Write::new(
                paths::BILLERS_PAY,
                &pay,
                shape::<wire::BillerPayResult>,
                json!({"biller_id": f.biller_id, "target_id": f.biller_target, "amount_fen": 100, "out_trade_no": pay, "payer": {"sno": f.sno, "card_out_trade_no": key("BC")}}),
            )]
        }
        Upstream::PublicData => Vec::new(),
    }
}

pub async fn check(gw: &Gateway, f: &Fixtures, report: &mut Report) {
    let area = gw.area("writes");
    let Some(duplicate_code) = duplicate_code(gw.upstream) else {
        return;
    };
    let duplicate_code = u64::from(duplicate_code.as_u32());
    if !f.writes {
        report.push(
            area,
            "same key + same body replays the first answer (§4.3)",
            Verdict::Skip(
                "writes move money and send SMS: run with --writes against a test account"
                    .to_owned(),
            ),
        );
        return;
    }
    for w in writes(gw, f) {
        let first = gw.write(w.path, &w.body, &w.key).await;
        let second = gw.write(w.path, &w.body, &w.key).await;
        let verdict = match (&first, &second) {
            (Ok(a), Ok(b)) if (a.status, a.code(), a.data()) == (b.status, b.code(), b.data()) => {
                Verdict::Pass
            }
            (Ok(a), Ok(b)) => Verdict::Fail(format!(
                "first {} {}, again {} {}",
                a.describe(),
                a.data(),
                b.describe(),
                b.data()
            )),
            (Err(e), _) | (_, Err(e)) => Verdict::Fail(e.clone()),
        };
        report.push(
            area.clone(),
            format!("{}: same key + same body replays the first answer", w.path),
            verdict,
        );
        let first_code = first.as_ref().ok().and_then(|r| r.code());
        let verdict = match first {
            Ok(r) if r.code() != Some(0) => Verdict::Skip(format!(
                "the write was refused ({}); nothing to type-check",
                r.describe()
            )),
            other => judge(other, w.shape, &[]),
        };
        report.push(
            area.clone(),
            format!("{}: answer has the documented field types", w.path),
            verdict,
        );
        let mut changed = w.body.clone();
        changed["conformance"] = json!("changed");
        report.push(
            area.clone(),
            format!(
                "{}: same key + another body → {} (HTTP 200)",
                w.path, duplicate_code
            ),
            expect_code(
                gw.write(w.path, &changed, &w.key).await,
                200,
                duplicate_code,
            ),
        );
        if let Some(lookup) = lookup(gw, &w.key, first_code) {
            report.push(
                area.clone(),
                format!("{}: the key can be looked up", w.path),
                lookup.await,
            );
        }
    }
}

/// Look the key up (`trade/query`, `sms/status`, `bank/query`) and compare with the first
/// answer: committed → `SUCCESS` (or `PROCESSING`/`REVERSED`), refused → `FAILED` or
/// `NOT_FOUND`.
fn lookup<'a>(
    gw: &'a Gateway,
    key: &'a str,
    first_code: Option<u64>,
) -> Option<impl std::future::Future<Output = Verdict> + 'a> {
    let (path, body): (&str, Value) = match gw.upstream {
        Upstream::Card => (paths::CARD_TRADE_QUERY, json!({"out_trade_no": key})),
        Upstream::Sms => (paths::SMS_STATUS, json!({"out_id": key})),
        Upstream::Bank => (paths::BANK_QUERY, json!({"out_trade_no": key})),
        Upstream::Billers => (paths::BILLERS_QUERY, json!({"out_trade_no": key})),
        Upstream::PublicData => return None,
    };
    Some(async move {
        let reply = match gw.call(path, &body).await {
            Ok(r) => r,
            Err(e) => return Verdict::Fail(e),
        };
        if gw.upstream == Upstream::Sms {
            return match first_code {
                Some(0) => judge(Ok(reply), shape::<wire::SmsStatus>, &[]),
                _ => expect_code(Ok(reply), 200, 3010),
            };
        }
        if reply.code() != Some(0) {
            return Verdict::Fail(format!("{path}: got {}", reply.describe()));
        }
        let state = reply.data()["state"].as_str().unwrap_or("").to_owned();
        let fits = match first_code {
            // A biller may still be crediting the payment (ACCEPTED, §9).
            Some(0) => ["SUCCESS", "PROCESSING", "REVERSED", "ACCEPTED"].contains(&state.as_str()),
            _ => ["FAILED", "NOT_FOUND"].contains(&state.as_str()),
        };
        if fits {
            Verdict::Pass
        } else {
            Verdict::Fail(format!(
                "{path}: state {state} after a write answered code {}",
                first_code.map_or("none".to_owned(), |c| c.to_string())
            ))
        }
    })
}
