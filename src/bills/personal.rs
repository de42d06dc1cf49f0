//! One person's bills, read from the card system: the monthly bill and the fun bill with its
//! cohort ranks. Used by the chat actions and by the H5 page / API alike.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::{Value, json};

use super::cohorts::{Period, college_key, grade_key, grade_year};
use super::{
    BillsSettings, Classifier, FunBill, Month, MonthlyBill, Summary, fetch, fun_bill,
    percent_below, summarise,
};
use crate::adapters::{AdapterError, CardHandle};
use crate::store::{Binding, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BillError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Upstream(#[from] AdapterError),
}

/// The monthly bill of `month`, counted up to `today` (a month in progress is partial).
pub async fn monthly(
    card: &CardHandle,
    settings: &BillsSettings,
    utc_offset_hours: i32,
    account: &str,
    month: Month,
    today: NaiveDate,
) -> Result<MonthlyBill, AdapterError> {
    let classifier = Classifier::new(&settings.categories, utc_offset_hours);
    let previous = month.previous();
    let this_to = month.last_day().min(today);
    let (this, prev) = futures_util::try_join!(
        fetch::transactions(card, account, month.first_day(), this_to, None),
        fetch::transactions(
            card,
            account,
            previous.first_day(),
            previous.last_day(),
            None
        ),
    )?;
    Ok(MonthlyBill {
        month,
        this: summarise(&classifier, &this),
        previous: summarise(&classifier, &prev),
    })
}

/// Where a person stands in one cohort.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rank {
    /// Share of the cohort that spent less (0–100).
    pub percent_below: u8,
    pub cohort_size: usize,
}

/// The fun bill with what the page and the chat show around it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunBillReport {
    pub period: Period,
    pub bill: FunBill,
    pub college: String,
    pub college_rank: Option<Rank>,
    /// Enrolment year and customer type (e.g. 2024, 本科) for students.
    pub grade: Option<(u32, String)>,
    pub grade_rank: Option<Rank>,
}

/// The fun bill of `binding`'s card for `period` (None if the period has not started).
pub async fn fun(
    store: &Store,
    card: &CardHandle,
    settings: &BillsSettings,
    utc_offset_hours: i32,
    binding: &Binding,
    period: Period,
    today: NaiveDate,
) -> Result<Option<FunBillReport>, BillError> {
    let Some((from, to)) = period.until(today) else {
        return Ok(None);
    };
    let account = card.primary_account(&binding.student_id).await?;
    let txs = fetch::transactions(card, &account.account, from, to, None).await?;
    let classifier = Classifier::new(&settings.categories, utc_offset_hours);
    let bill = fun_bill(&classifier, from, to, &txs);
    let bills = store.bills()?;
    let rank = |key: Option<String>| -> Result<Option<Rank>, StoreError> {
        let Some(key) = key else { return Ok(None) };
        Ok(bills
            .cohort(&period.key, &key)?
            .filter(|c| c.totals_fen.len() >= settings.cohort_min.max(1))
            .map(|c| Rank {
                percent_below: percent_below(&c.totals_fen, bill.summary.spent.0),
                cohort_size: c.totals_fen.len(),
            }))
    };
    let college_rank = rank((!account.dept.is_empty()).then(|| college_key(&account.dept)))?;
    let grade_rank = rank(grade_key(&account))?;
    Ok(Some(FunBillReport {
        grade: grade_year(&account).map(|y| (y, account.cust_type_name.clone())),
        college: account.dept,
        period,
        bill,
        college_rank,
        grade_rank,
    }))
}

/// Template fields of a period's money (`spent_yuan`, `categories`, …), for the rule files
/// and the page.
pub fn summary_fields(s: &Summary) -> Value {
    let total = s.spent.0.max(1);
    let categories: Vec<Value> = s
        .by_category
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "spent_yuan": c.spent.yuan(),
                "percent": c.spent.0 * 100 / total,
                "count": c.count,
            })
        })
        .collect();
    json!({
        "spent_yuan": s.spent.yuan(),
        "spent_count": s.spent_count,
        "topped_up_yuan": s.topped_up.yuan(),
        "other_in_yuan": s.other_in.yuan(),
        "categories": categories,
    })
}

fn rank_fields(rank: &Option<Rank>) -> Value {
    match rank {
        Some(r) => json!({ "percent_below": r.percent_below, "size": r.cohort_size }),
        None => Value::Null,
    }
}

impl FunBillReport {
    /// Template fields of the fun bill, shared by the chat reply, the page and its JSON API.
    /// Dates are numbers (`month`, `day`), so the words around them stay in the templates.
    pub fn fields(&self) -> Value {
        let b = &self.bill;
        let day = |d: NaiveDate| json!({ "month": d.month(), "day": d.day() });
        json!({
            "term": self.period.term,
            "year": self.period.year,
            "from": day(b.from),
            "to": day(b.to),
            "spent_yuan": b.summary.spent.yuan(),
            "spend_days": b.spend_days,
            "meals": b.meals,
            "summary": summary_fields(&b.summary),
            "favourite": b.favourite.as_ref().map(|f| json!({
                "place": f.place, "visits": f.visits, "spent_yuan": f.spent.yuan(),
            })),
            "breakfast": b.earliest_breakfast.as_ref().map(|m| json!({
                "month": m.date.month(), "day": m.date.day(),
                "time": m.time.format("%H:%M").to_string(), "place": m.place,
            })),
            "biggest_meal": b.biggest_meal.as_ref().map(|m| json!({
                "month": m.date.month(), "day": m.date.day(),
                "place": m.place, "amount_yuan": m.amount.yuan(),
            })),
            "top_month": b.top_month.as_ref().map(|(m, fen)| json!({
                "year": m.year, "month": m.month, "spent_yuan": fen.yuan(),
            })),
            "college": self.college,
            "college_rank": rank_fields(&self.college_rank),
            "grade": self.grade.as_ref().map(|(y, kind)| json!({ "year": y, "kind": kind })),
            "grade_rank": rank_fields(&self.grade_rank),
        })
    }
}
