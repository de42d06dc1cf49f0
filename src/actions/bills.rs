//! 「账单」: the monthly bill (spent by category, top-ups, against last month) and
//! 「趣味账单」: the fun bill of this term or a year, with the person's cohort ranks and a link
//! to its page. The numbers come from [`crate::bills`]; the words from the rule files.

use chrono::{Datelike, NaiveDate};
use serde_json::json;

use super::support::{adapters, argument, binding, today, upstream, yuan};
use super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput};
use crate::bills::cohorts::Period;
use crate::bills::personal::{self, BillError};
use crate::bills::{Month, link};
use crate::rules::RuleTable;

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "monthly_bill",
            fields: &[
                "year",
                "month",
                "partial",
                "spent_yuan",
                "spent_count",
                "topped_up_yuan",
                "other_in_yuan",
                "categories",
                "previous_year",
                "previous_month",
                "previous_spent_yuan",
                "change_yuan",
                "spent_more",
                "spent_less",
            ],
            messages: &["bill.empty", "bill.bad_month"],
            words: &["this_month", "last_month"],
            run: monthly_bill,
        },
        ActionDef {
            name: "fun_bill",
            fields: &[
                "term",
                "year",
                "from",
                "to",
                "spent_yuan",
                "spend_days",
                "meals",
                "summary",
                "favourite",
                "breakfast",
                "biggest_meal",
                "top_month",
                "college",
                "college_rank",
                "grade",
                "grade_rank",
                "link",
            ],
            messages: &["funbill.empty", "funbill.not_started", "funbill.bad_year"],
            words: &[],
            run: fun_bill,
        },
    ]
}

/// The month a person named: a word of the `last_month` or `this_month` lists (「上月」
/// 「本月」 …), `10月`, `2026-10`, `2026年10月`; none = this month. A bare month later than this
/// one is last year's.
pub fn parse_month(words: &RuleTable, arg: Option<&str>, today: NaiveDate) -> Option<Month> {
    let this = Month::of(today);
    let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
        return Some(this);
    };
    if words.is_word("last_month", arg) {
        return Some(this.previous());
    }
    if words.is_word("this_month", arg) {
        return Some(this);
    }
    let arg = arg.trim_end_matches('份').trim_end_matches('月');
    let (year, month) = match arg.split_once(['-', '/', '年']) {
        Some((y, m)) => (Some(y.parse::<i32>().ok()?), m.parse::<u32>().ok()?),
        None => (None, arg.parse::<u32>().ok()?),
    };
    if !(1..=12).contains(&month) {
        return None;
    }
    let year = year.unwrap_or(if month > this.month {
        this.year - 1
    } else {
        this.year
    });
    let named = Month { year, month };
    (named <= this && year >= 2000).then_some(named)
}

fn monthly_bill(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let today = today(&input);
        let Some(month) = parse_month(input.messages, argument(&input).as_deref(), today) else {
            return Ok(ActionOutput::message("bill.bad_month", json!({})));
        };
        let bill = personal::monthly(
            &adapters(&input)?.card,
            &input.services.bills,
            input.services.utc_offset_hours,
            &b.account,
            month,
            today,
        )
        .await
        .map_err(upstream("card"))?;
        let previous = month.previous();
        if bill.this.spent_count == 0 && bill.this.topped_up.0 == 0 && bill.this.other_in.0 == 0 {
            return Ok(ActionOutput::message(
                "bill.empty",
                json!({ "year": month.year, "month": month.month }),
            ));
        }
        let change = bill.change();
        let mut fields = personal::summary_fields(&bill.this);
        let extra = json!({
            "year": month.year,
            "month": month.month,
            "partial": month == Month::of(today),
            "previous_year": previous.year,
            "previous_month": previous.month,
            "previous_spent_yuan": yuan(bill.previous.spent.0),
            "change_yuan": yuan(change.0.abs()),
            "spent_more": change.0 > 0,
            "spent_less": change.0 < 0,
        });
        if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        Ok(ActionOutput::fields(fields))
    })
}

fn bill_error(e: BillError) -> ActionError {
    match e {
        BillError::Store(e) => ActionError::Store(e),
        BillError::Upstream(e) => upstream("card")(e),
    }
}

fn fun_bill(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let today = today(&input);
        let settings = &input.services.bills;
        let (period, year_claim) = match argument(&input) {
            None => (Period::current(settings, today), 0),
            Some(arg) => match arg.trim().trim_end_matches('年').parse::<i32>() {
                Ok(y) if (2000..=today.year()).contains(&y) => (Period::year(y), y),
                _ => return Ok(ActionOutput::message("funbill.bad_year", json!({}))),
            },
        };
        let year = period.year;
        let report = personal::fun(
            &input.services.store,
            &adapters(&input)?.card,
            settings,
            input.services.utc_offset_hours,
            b,
            period,
            today,
        )
        .await
        .map_err(bill_error)?;
        let Some(report) = report else {
            return Ok(ActionOutput::message(
                "funbill.not_started",
                json!({ "year": year }),
            ));
        };
        if report.bill.summary.spent_count == 0 {
            return Ok(ActionOutput::message(
                "funbill.empty",
                json!({ "year": year, "term": report.period.term }),
            ));
        }
        let expires = input.now + i64::from(settings.link_ttl_hours) * 3600;
        let token = link::sign(
            &input.services.store.link_key(),
            input.openid,
            year_claim,
            expires,
        );
        let mut fields = report.fields();
        if let Some(f) = fields.as_object_mut() {
            f.insert(
                "link".into(),
                json!(format!(
                    "{}/h5/bills/fun?t={token}",
                    input.services.settings.public_url.trim_end_matches('/')
                )),
            );
        }
        Ok(ActionOutput::fields(fields))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(year: i32, month: u32) -> Option<Month> {
        Some(Month { year, month })
    }

    #[test]
    fn months_in_the_forms_students_type() {
        let words = crate::rules::load::tests::shipped_table();
        let parse_month = |arg, today| parse_month(&words, arg, today);
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        assert_eq!(parse_month(None, today), m(2026, 3));
        assert_eq!(parse_month(Some("上月"), today), m(2026, 2));
        assert_eq!(parse_month(Some("上个月"), today), m(2026, 2));
        assert_eq!(parse_month(Some("本月"), today), m(2026, 3));
        assert_eq!(parse_month(Some("2月"), today), m(2026, 2));
        assert_eq!(parse_month(Some("2月份"), today), m(2026, 2));
        // A month still to come this year means last year's.
        assert_eq!(parse_month(Some("11月"), today), m(2025, 11));
        assert_eq!(parse_month(Some("2025-11"), today), m(2025, 11));
        assert_eq!(parse_month(Some("2025年11月"), today), m(2025, 11));
        assert_eq!(parse_month(Some("13月"), today), None);
        assert_eq!(parse_month(Some("2027-01"), today), None);
        assert_eq!(parse_month(Some("好多钱"), today), None);
    }
}
