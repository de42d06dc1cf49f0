//! Field types of every read (docs/upstream-api.md §4.1, §5–§9): each answer parses as the
//! documented type (integers where integers are due, enums spelled as written) and carries
//! every documented field, with `null` rather than omitted when a value is absent.

use chrono::{Days, FixedOffset, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::Gateway;
use super::{Fixtures, Report, Upstream, Verdict};
use crate::wire::{self, paths};

/// How an answer's `data` is checked against its documented type.
pub(super) type Shape = fn(&Value) -> Result<(), String>;

/// `data` parses as `T`, and every field `T` has is present in `data` (recursively).
pub(super) fn shape<T: DeserializeOwned + Serialize>(data: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(data.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    missing_fields(data, &back, "", &mut missing);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing field(s) {} (absent values are null, §4.1)",
            missing.join(", ")
        ))
    }
}

fn missing_fields(original: &Value, typed: &Value, at: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in t {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match o.get(k) {
                    None => out.push(here),
                    Some(ov) => missing_fields(ov, v, &here, out),
                }
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            for (i, (ov, tv)) in o.iter().zip(t).take(3).enumerate() {
                missing_fields(ov, tv, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// A code that means "nothing to show yet" rather than a difference, per read.
struct Read {
    path: &'static str,
    body: Value,
    shape: Shape,
    /// Codes that turn the check into a skip, with why (e.g. records not ready before 06:00).
    not_yet: &'static [(u64, &'static str)],
}

/// Today in the protocol's time zone, UTC+08:00 (§4.1).
fn campus_today() -> chrono::NaiveDate {
    let now = Utc::now();
    FixedOffset::east_opt(8 * 3600).map_or_else(
        || now.date_naive(),
        |tz| now.with_timezone(&tz).date_naive(),
    )
}

fn reads(gw: &Gateway, f: &Fixtures) -> Vec<Read> {
    let today = campus_today();
    let yesterday = today - Days::new(1);
    let month_ago = today - Days::new(30);
    let unknown_key = "CKUNKNOWNKEY0";
    match gw.upstream {
        Upstream::Card => vec![
            Read {
                path: paths::CARD_ACCOUNT_GET,
                body: json!({"id_type": "sno", "id": f.sno}),
                shape: shape::<wire::AccountList>,
                not_yet: &[],
            },
            Read {
                path: paths::CARD_BALANCE_GET,
                body: json!({"account": f.account}),
                shape: shape::<wire::Balance>,
                not_yet: &[],
            },
            Read {
                path: paths::CARD_TRANSACTIONS_LIST,
                body: json!({"account": f.account, "from": month_ago, "to": today, "page": 1, "page_size": 5}),
                shape: shape::<wire::Page<wire::Transaction>>,
                not_yet: &[],
            },
            Read {
                path: paths::CARD_INFO_GET,
                body: json!({"account": f.account}),
                shape: shape::<wire::CardInfo>,
                not_yet: &[],
            },
            Read {
                path: paths::CARD_FOUND_GET,
                body: json!({"account": f.account}),
                shape: shape::<wire::FoundCard>,
                not_yet: &[],
            },
            Read {
                path: paths::CARD_PASSWORD_VERIFY,
                body: json!({"account": f.account, "password_digest": wire::password_digest(gw.creds(), &f.account, &f.password)}),
                shape: |d| {
                    shape::<wire::PasswordVerifyResult>(d)?;
                    if d["ok"] == true {
                        Ok(())
                    } else {
                        Err(format!("the fixture password was not accepted: {d}"))
                    }
                },
                not_yet: &[],
            },
            Read {
                path: paths::CARD_TRADE_QUERY,
                body: json!({"out_trade_no": unknown_key}),
                shape: |d| {
                    shape::<wire::TradeStatus>(d)?;
                    if d["state"] == "NOT_FOUND" {
                        Ok(())
                    } else {
                        Err(format!(
                            "a key never used: state {} (expected NOT_FOUND)",
                            d["state"]
                        ))
                    }
                },
                not_yet: &[],
            },
            Read {
                path: paths::CARD_RECON_DAILY,
                body: json!({"acc_date": yesterday, "kind": "all", "page": 1, "page_size": 5}),
                shape: shape::<wire::DailyRecords>,
                not_yet: &[(2403, "yesterday's records are ready at 06:00 (+08:00)")],
            },
        ],
        Upstream::Sms => vec![],
        Upstream::PublicData => vec![
            Read {
                path: paths::DATA_MEETINGS_LIST,
                body: json!({"sno": f.sno, "from": month_ago, "to": today}),
                shape: shape::<wire::Meetings>,
                not_yet: &[],
            },
            Read {
                path: paths::DATA_GRADES_LIST,
                body: json!({"sno": f.sno}),
                shape: shape::<wire::Grades>,
                not_yet: &[],
            },
            Read {
                path: paths::DATA_TIMETABLE_GET,
                body: json!({"sno": f.sno}),
                shape: shape::<wire::Timetable>,
                not_yet: &[],
            },
            Read {
                path: paths::DATA_LIBRARY_LOANS,
                body: json!({"sno": f.sno}),
                shape: shape::<wire::Loans>,
                not_yet: &[(4004, "the fixture person has no library reader record")],
            },
            Read {
                path: paths::DATA_LOCKER_GET,
                body: json!({"sno": f.sno}),
                shape: shape::<wire::Locker>,
                not_yet: &[],
            },
        ],
        Upstream::Bank => vec![
            Read {
                path: paths::BANK_BINDING_GET,
                body: json!({"sno": f.sno}),
                shape: shape::<wire::BankBinding>,
                not_yet: &[(5001, "the fixture person has no bank card bound")],
            },
            Read {
                path: paths::BANK_QUERY,
                body: json!({"out_trade_no": unknown_key}),
                shape: shape::<wire::BankTradeStatus>,
                not_yet: &[],
            },
            Read {
                path: paths::BANK_STATEMENT,
                body: json!({"date": yesterday, "page": 1, "page_size": 5}),
                shape: shape::<wire::BankStatement>,
                not_yet: &[(5301, "yesterday's statement is not ready yet")],
            },
        ],
        Upstream::Billers => vec![
            Read {
                path: paths::BILLERS_CATALOG,
                body: json!({}),
                shape: shape::<wire::BillerCatalog>,
                not_yet: &[],
            },
            Read {
                path: paths::BILLERS_LOCATIONS,
                body: json!({"biller_id": "elec", "level": "campus"}),
                shape: shape::<wire::Locations>,
                not_yet: &[(6001, "the catalog has no biller `elec` with locations")],
            },
            Read {
                path: paths::BILLERS_LOOKUP,
                body: json!({"biller_id": f.biller_id, "target": f.biller_target}),
                shape: shape::<wire::BillerTarget>,
                not_yet: &[(6002, "the fixture target's meter is offline")],
            },
            Read {
                path: paths::BILLERS_QUERY,
                body: json!({"out_trade_no": unknown_key}),
                shape: shape::<wire::BillerPayResult>,
                not_yet: &[],
            },
            Read {
                path: paths::BILLERS_STATEMENT,
                body: json!({"date": yesterday, "page": 1, "page_size": 5}),
                shape: shape::<wire::BillerStatement>,
                not_yet: &[(6301, "yesterday's statement is not ready yet")],
            },
        ],
    }
}

/// Check one answer: code 0 (or a documented "not yet"), then its shape.
pub(super) fn judge(
    reply: Result<super::client::Reply, String>,
    shape: Shape,
    not_yet: &[(u64, &str)],
) -> Verdict {
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return Verdict::Fail(e),
    };
    if let Some((_, why)) = not_yet.iter().find(|(c, _)| reply.code() == Some(*c)) {
        return Verdict::Skip((*why).to_owned());
    }
    if reply.status != 200 || reply.code() != Some(0) {
        return Verdict::Fail(format!(
            "got {}, expected HTTP 200 code 0",
            reply.describe()
        ));
    }
    match shape(reply.data()) {
        Ok(()) => Verdict::Pass,
        Err(e) => Verdict::Fail(e),
    }
}

pub async fn check(gw: &Gateway, f: &Fixtures, report: &mut Report) {
    let area = gw.area("reads");
    for read in reads(gw, f) {
        let verdict = judge(
            gw.call(read.path, &read.body).await,
            read.shape,
            read.not_yet,
        );
        report.push(
            area.clone(),
            format!("{} → code 0 with the documented field types", read.path),
            verdict,
        );
    }
    match gw.upstream {
        Upstream::Sms => {
            let reply = gw
                .call(paths::SMS_STATUS, &json!({"out_id": "CKUNKNOWNKEY0"}))
                .await;
            report.push(
                area,
                format!("{}: an unknown out_id → 3010 (HTTP 200)", paths::SMS_STATUS),
                super::signing::expect_code(reply, 200, 3010),
            );
        }
        Upstream::Card => {
            let reply = gw
                .call(
                    paths::CARD_TRANSACTIONS_LIST,
                    &json!({"account": f.account, "from": "2024-01-01", "to": "2024-01-31", "page": 0}),
                )
                .await;
            report.push(
                area.clone(),
                format!(
                    "{}: page 0 → 1007 (HTTP 400)",
                    paths::CARD_TRANSACTIONS_LIST
                ),
                super::signing::expect_code(reply, 400, 1007),
            );
            let reply = gw
                .call(
                    paths::CARD_TRANSACTIONS_LIST,
                    &json!({"account": f.account, "from": "2024-01-01", "to": "2025-01-01"}),
                )
                .await;
            report.push(
                area,
                format!(
                    "{}: 367 days, both ends counted → 2010 (HTTP 200)",
                    paths::CARD_TRANSACTIONS_LIST
                ),
                super::signing::expect_code(reply, 200, 2010),
            );
        }
        _ => {}
    }
}
