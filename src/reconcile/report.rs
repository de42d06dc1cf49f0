//! A day's reconciliation as a CSV an accountant opens in Excel: UTF-8 with a byte-order mark
//! (without it Excel reads Chinese as mojibake), CRLF lines, amounts in yuan with two
//! decimals. Three blocks: each upstream's statement state with its count and sum, counts and
//! sums per class, then every line that is not matched (differences and held orders).
//!
//! Every Chinese word comes from `config/reconcile/report.toml`.

use std::collections::HashMap;

use serde::Deserialize;

use crate::domain::Fen;
use crate::store::reconcile::{Class, DayResult, Line, SourceState};

const LABELS_TOML: &str = include_str!("../../config/reconcile/report.toml");

/// The report's words.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    report: HashMap<String, String>,
    headers: Headers,
    upstreams: HashMap<String, String>,
    source_states: HashMap<String, String>,
    classes: HashMap<String, String>,
    actions: HashMap<String, String>,
    order_kinds: HashMap<String, String>,
    order_states: HashMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Headers {
    sources: Vec<String>,
    classes: Vec<String>,
    lines: Vec<String>,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("config/reconcile/report.toml: {0}")]
    Labels(#[from] toml::de::Error),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the CSV: {0}")]
    Io(#[from] std::io::Error),
}

impl Labels {
    /// The words shipped in `config/reconcile/report.toml`.
    pub fn builtin() -> Result<Self, ReportError> {
        Ok(toml::from_str(LABELS_TOML)?)
    }

    fn word<'a>(table: &'a HashMap<String, String>, key: &'a str) -> &'a str {
        // a word missing from the table shows its key: still readable, and a test keeps the
        // table complete
        table.get(key).map_or(key, String::as_str)
    }
    fn report(&self, key: &'static str) -> &str {
        Self::word(&self.report, key)
    }
    fn class(&self, class: Class) -> &str {
        Self::word(&self.classes, class.as_str())
    }
}

fn yuan(fen: i64) -> String {
    Fen(fen).yuan()
}

/// Excel runs a cell that starts with `=`, `+` or `@` as a formula; upstream text never does.
fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn campus_time(at_ms: i64, utc_offset_hours: i32) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms + i64::from(utc_offset_hours) * 3_600_000)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn order_kind(labels: &Labels, raw: &str) -> String {
    match raw.split_once(':') {
        Some((kind, biller)) => format!("{}:{biller}", Labels::word(&labels.order_kinds, kind)),
        None => Labels::word(&labels.order_kinds, raw).to_owned(),
    }
}

fn line_record(labels: &Labels, date: &str, line: &Line) -> Vec<String> {
    let state_ours = line.state_ours.map_or(String::new(), |s| {
        let key = serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Labels::word(&labels.order_states, &key).to_owned()
    });
    vec![
        date.to_owned(),
        labels.class(line.class).to_owned(),
        cell(line.order_id.as_deref().unwrap_or("")),
        cell(&line.key),
        order_kind(labels, &line.order_kind),
        Labels::word(&labels.upstreams, line.upstream.as_str()).to_owned(),
        cell(&line.serials),
        cell(&line.sno_masked),
        line.ours_fen.map_or(String::new(), yuan),
        line.theirs_fen.map_or(String::new(), yuan),
        yuan(line.diff_fen()),
        state_ours,
        cell(&line.state_theirs),
        Labels::word(&labels.actions, line.action.as_str()).to_owned(),
        cell(&line.detail),
    ]
}

/// The CSV bytes of a day.
pub fn csv(
    result: &DayResult,
    labels: &Labels,
    utc_offset_hours: i32,
) -> Result<Vec<u8>, ReportError> {
    let mut out = "\u{FEFF}".as_bytes().to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        let date = result.date.to_string();
        w.write_record([labels.report("date"), date.as_str()])?;
        let completeness = if result.complete() {
            labels.report("complete")
        } else {
            labels.report("incomplete")
        };
        w.write_record([labels.report("result"), completeness])?;
        let generated = campus_time(result.run_at_ms, utc_offset_hours);
        w.write_record([labels.report("generated_at"), generated.as_str()])?;
        w.write_record([""])?;

        w.write_record(&labels.headers.sources)?;
        for source in &result.sources {
            let name = Labels::word(&labels.upstreams, source.upstream.as_str());
            let record: Vec<String> = match &source.state {
                SourceState::Ok {
                    count,
                    sum_fen,
                    hash_checked,
                } => vec![
                    name.to_owned(),
                    Labels::word(&labels.source_states, "ok").to_owned(),
                    count.to_string(),
                    yuan(*sum_fen),
                    if *hash_checked {
                        labels.report("hash_checked").to_owned()
                    } else {
                        labels.report("hash_not_provided").to_owned()
                    },
                    String::new(),
                ],
                SourceState::Missing { reason } | SourceState::Malformed { reason } => {
                    let state = if matches!(source.state, SourceState::Missing { .. }) {
                        "missing"
                    } else {
                        "malformed"
                    };
                    vec![
                        name.to_owned(),
                        Labels::word(&labels.source_states, state).to_owned(),
                        String::new(),
                        String::new(),
                        String::new(),
                        cell(reason),
                    ]
                }
                SourceState::NotConfigured => vec![
                    name.to_owned(),
                    Labels::word(&labels.source_states, "not_configured").to_owned(),
                ],
            };
            w.write_record(&record)?;
        }
        w.write_record([""])?;

        w.write_record(&labels.headers.classes)?;
        let (mut n, mut ours, mut theirs) = (0usize, 0i64, 0i64);
        for class in Class::ALL {
            let lines: Vec<&Line> = result.lines.iter().filter(|l| l.class == class).collect();
            let o: i64 = lines.iter().filter_map(|l| l.ours_fen).sum();
            let t: i64 = lines.iter().filter_map(|l| l.theirs_fen).sum();
            let d: i64 = lines.iter().map(|l| l.diff_fen()).sum();
            w.write_record([
                labels.class(class).to_owned(),
                lines.len().to_string(),
                yuan(o),
                yuan(t),
                yuan(d),
            ])?;
            n += lines.len();
            ours += o;
            theirs += t;
        }
        w.write_record([
            labels.report("total").to_owned(),
            n.to_string(),
            yuan(ours),
            yuan(theirs),
            yuan(theirs - ours),
        ])?;
        w.write_record([""])?;

        w.write_record(&labels.headers.lines)?;
        for line in result.lines.iter().filter(|l| l.class != Class::Matched) {
            w.write_record(line_record(labels, &date, line))?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::orders::OrderState;
    use crate::store::reconcile::{Action, SourceReport, Upstream};

    fn line(class: Class, key: &str, ours: Option<i64>, theirs: i64, action: Action) -> Line {
        Line {
            class,
            order_id: ours.map(|_| "O20261130ABCDEFGHJKMN".to_owned()),
            key: key.into(),
            order_kind: if ours.is_some() {
                "top_up".into()
            } else {
                String::new()
            },
            upstream: Upstream::Bank,
            serials: "BK2026113000000001".into(),
            sno_masked: "2024****01".into(),
            ours_fen: ours,
            theirs_fen: Some(theirs),
            state_ours: ours.map(|_| OrderState::Failed),
            state_theirs: "bank_debit SUCCESS".into(),
            action,
            detail: "bank took the money, it never arrived".into(),
        }
    }

    #[test]
    fn the_csv_opens_in_excel_with_every_difference_on_a_line() {
        let result = DayResult {
            date: "2026-11-30".parse().unwrap(),
            // 2026-11-30T23:00:00Z = 07:00 on 12-01 campus time
            run_at_ms: 1_796_079_600_000,
            sources: vec![
                SourceReport {
                    upstream: Upstream::Bank,
                    state: SourceState::Ok {
                        count: 2,
                        sum_fen: 7_000,
                        hash_checked: true,
                    },
                },
                SourceReport {
                    upstream: Upstream::Card,
                    state: SourceState::Missing {
                        reason: "not available: 2403 对账数据未生成".into(),
                    },
                },
                SourceReport {
                    upstream: Upstream::Billers,
                    state: SourceState::NotConfigured,
                },
            ],
            lines: vec![
                line(
                    Class::StateMismatch,
                    "O20261130ABCDEFGHJKMND",
                    Some(0),
                    5_000,
                    Action::AutoCompleted,
                ),
                line(
                    Class::TheirsOnly,
                    "=HYPERLINK(1)",
                    None,
                    2_000,
                    Action::Manual,
                ),
                line(
                    Class::Matched,
                    "O20261130ZZZZZZZZZZZZD",
                    Some(100),
                    100,
                    Action::None,
                ),
            ],
        };
        let bytes = csv(&result, &Labels::builtin().unwrap(), 8).unwrap();
        let expected = "\u{FEFF}对账日期,2026-11-30\r\n\
对账结果,不完整：有对账文件缺失或异常，补齐后请重新对账\r\n\
生成时间,2026-12-01 07:00:00\r\n\
\"\"\r\n\
对账来源,状态,笔数,金额(元),文件校验,说明\r\n\
银行,正常,2,70.00,已校验,\r\n\
一卡通,缺失,,,,not available: 2403 对账数据未生成\r\n\
缴费方,未接入\r\n\
\"\"\r\n\
类别,笔数,我方金额(元),对方金额(元),差额(元)\r\n\
一致,1,1.00,1.00,0.00\r\n\
等待对账（跨日挂起）,0,0.00,0.00,0.00\r\n\
我方有对方无（短款）,0,0.00,0.00,0.00\r\n\
对方有我方无（单边账）,1,0.00,20.00,20.00\r\n\
金额不符,0,0.00,0.00,0.00\r\n\
状态不符,1,0.00,50.00,50.00\r\n\
合计,3,1.00,71.00,70.00\r\n\
\"\"\r\n\
对账日期,类别,订单号,流水号,业务,差异方,对方流水号,学工号,我方金额(元),对方金额(元),差额(元),我方状态,对方状态,处理,说明\r\n\
2026-11-30,状态不符,O20261130ABCDEFGHJKMN,O20261130ABCDEFGHJKMND,校园卡充值,银行,BK2026113000000001,2024****01,0.00,50.00,50.00,失败,bank_debit SUCCESS,已自动补单,\"bank took the money, it never arrived\"\r\n\
2026-11-30,对方有我方无（单边账）,,'=HYPERLINK(1),,银行,BK2026113000000001,2024****01,,20.00,20.00,,bank_debit SUCCESS,待人工处理,\"bank took the money, it never arrived\"\r\n";
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    }

    #[test]
    fn every_class_action_state_and_upstream_has_a_word() {
        use crate::store::reconcile::Upstream;
        let labels = Labels::builtin().unwrap();
        for class in Class::ALL {
            assert!(labels.classes.contains_key(class.as_str()), "{class:?}");
        }
        for action in [
            Action::None,
            Action::Hold,
            Action::AutoReversed,
            Action::AutoCompleted,
            Action::Manual,
        ] {
            assert!(labels.actions.contains_key(action.as_str()), "{action:?}");
        }
        for upstream in Upstream::ALL {
            assert!(labels.upstreams.contains_key(upstream.as_str()));
        }
        for state in [
            OrderState::Created,
            OrderState::Debiting,
            OrderState::Debited,
            OrderState::Crediting,
            OrderState::Claiming,
            OrderState::Succeeded,
            OrderState::Failed,
            OrderState::Reversing,
            OrderState::Reversed,
            OrderState::NeedsManual,
        ] {
            let key = serde_json::to_value(state).unwrap();
            assert!(
                labels.order_states.contains_key(key.as_str().unwrap()),
                "{state:?}"
            );
        }
        assert_eq!(labels.headers.lines.len(), 15);
    }
}
