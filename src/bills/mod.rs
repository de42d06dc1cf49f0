//! Bills computed from the card system's transactions: the monthly bill (spent by category,
//! top-ups, compared with last month) and the personal "fun bill" (趣味账单) for a term or a
//! year, with where a person stands among their cohort.
//!
//! Everything here is pure: transactions in, numbers out. Fetching is [`fetch`], the cohort
//! distributions are [`cohorts`], and the words are the rule files' (`config/rules/bills*.toml`):
//! no Chinese is composed here, only names an operator configured (category names).

pub mod cohorts;
pub mod fetch;
pub mod link;
pub mod personal;
mod settings;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike};
use serde::Serialize;

pub use settings::{BillsSettings, CategoryRule, Term};

use crate::domain::Fen;
use crate::wire::{Direction, Transaction, TxType};

/// A meal before this time of day counts as breakfast for "earliest breakfast".
const BREAKFAST_UNTIL: (u32, u32) = (10, 0);
/// Card systems post night-batch corrections around 03:00; nobody has breakfast before 05:00.
const BREAKFAST_FROM: (u32, u32) = (5, 0);

/// Where one transaction falls in the bill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Money spent; the index of its configured category, or None for "other".
    Spent(Option<usize>),
    /// Money put on the card by the person (bank 圈存, cash, online, a claim of 过渡余额).
    TopUp,
    /// Other money in: subsidies, refunds, reversals, adjustments.
    OtherIn,
}

/// Classifies transactions with the configured categories.
#[derive(Clone, Debug)]
pub struct Classifier<'a> {
    categories: &'a [CategoryRule],
    offset: FixedOffset,
}

impl<'a> Classifier<'a> {
    pub fn new(categories: &'a [CategoryRule], utc_offset_hours: i32) -> Self {
        Self {
            categories,
            offset: crate::settings::campus_offset(utc_offset_hours),
        }
    }

    fn kind(&self, t: &Transaction) -> Kind {
        match t.direction {
            Direction::Out => Kind::Spent(self.categories.iter().position(|c| c.matches(t))),
            Direction::In => match t.tx_type {
                TxType::LoadBank | TxType::LoadCash | TxType::LoadOnline | TxType::Claim => {
                    Kind::TopUp
                }
                _ => Kind::OtherIn,
            },
        }
    }

    fn is_meal(&self, t: &Transaction) -> bool {
        matches!(self.kind(t), Kind::Spent(Some(i)) if self.categories[i].meals)
    }

    /// Campus-local time of a transaction.
    fn local(&self, t: &Transaction) -> DateTime<FixedOffset> {
        t.occurred_at.with_timezone(&self.offset)
    }
}

/// One category's share of the money spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CategoryTotal {
    /// The configured name, or None for spending no category claims.
    pub name: Option<String>,
    pub spent: Fen,
    pub count: u32,
}

/// One period's money, in and out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub spent: Fen,
    pub spent_count: u32,
    pub topped_up: Fen,
    pub other_in: Fen,
    /// Configured categories in configuration order (those with spending), then "other".
    pub by_category: Vec<CategoryTotal>,
}

/// Sums a period's transactions.
pub fn summarise(classifier: &Classifier<'_>, txs: &[Transaction]) -> Summary {
    let n = classifier.categories.len();
    let mut spent_by = vec![(0i64, 0u32); n + 1];
    let mut s = Summary::default();
    for t in txs {
        match classifier.kind(t) {
            Kind::Spent(category) => {
                let slot = &mut spent_by[category.unwrap_or(n)];
                slot.0 += t.amount_fen.fen();
                slot.1 += 1;
                s.spent.0 += t.amount_fen.fen();
                s.spent_count += 1;
            }
            Kind::TopUp => s.topped_up.0 += t.amount_fen.fen(),
            Kind::OtherIn => s.other_in.0 += t.amount_fen.fen(),
        }
    }
    s.by_category = spent_by
        .into_iter()
        .enumerate()
        .filter(|(_, (_, count))| *count > 0)
        .map(|(i, (fen, count))| CategoryTotal {
            name: classifier.categories.get(i).map(|c| c.name.clone()),
            spent: Fen(fen),
            count,
        })
        .collect();
    s
}

/// A calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(day: NaiveDate) -> Self {
        Self {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("months start on the 1st")
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn last_day(self) -> NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .expect("a month has a last day")
    }
}

/// The monthly bill: this month against the one before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MonthlyBill {
    pub month: Month,
    pub this: Summary,
    pub previous: Summary,
}

impl MonthlyBill {
    /// Spent this month minus spent last month (negative: spent less).
    pub fn change(&self) -> Fen {
        Fen(self.this.spent.0 - self.previous.spent.0)
    }
}

/// A meal worth remembering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Meal {
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub place: String,
    pub amount: Fen,
}

/// The canteen someone went to most.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Favourite {
    pub place: String,
    pub visits: u32,
    pub spent: Fen,
}

/// The personal "fun bill" for a span of days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunBill {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub summary: Summary,
    /// Days with any spending.
    pub spend_days: u32,
    pub meals: u32,
    pub favourite: Option<Favourite>,
    pub earliest_breakfast: Option<Meal>,
    pub biggest_meal: Option<Meal>,
    /// The month with the most spending, and what was spent in it.
    pub top_month: Option<(Month, Fen)>,
}

/// Computes the fun bill of `txs` (any order) for `from..=to`.
pub fn fun_bill(
    classifier: &Classifier<'_>,
    from: NaiveDate,
    to: NaiveDate,
    txs: &[Transaction],
) -> FunBill {
    let breakfast_from = NaiveTime::from_hms_opt(BREAKFAST_FROM.0, BREAKFAST_FROM.1, 0)
        .expect("a valid time of day");
    let breakfast_until = NaiveTime::from_hms_opt(BREAKFAST_UNTIL.0, BREAKFAST_UNTIL.1, 0)
        .expect("a valid time of day");
    let mut days = std::collections::HashSet::new();
    let mut by_month: HashMap<Month, i64> = HashMap::new();
    let mut places: HashMap<&str, (u32, i64)> = HashMap::new();
    let mut meals = 0;
    let mut earliest: Option<Meal> = None;
    let mut biggest: Option<Meal> = None;
    for t in txs {
        if t.direction != Direction::Out {
            continue;
        }
        let at = classifier.local(t);
        let date = at.date_naive();
        if date < from || date > to {
            continue;
        }
        days.insert(date);
        *by_month.entry(Month::of(date)).or_default() += t.amount_fen.fen();
        if !classifier.is_meal(t) {
            continue;
        }
        meals += 1;
        let place = t.merchant_name.as_str();
        let slot = places.entry(place).or_default();
        slot.0 += 1;
        slot.1 += t.amount_fen.fen();
        let meal = || Meal {
            date,
            // Seconds say nothing to a person; minutes do.
            time: at.time().with_second(0).unwrap_or(at.time()),
            place: place.to_owned(),
            amount: t.amount_fen,
        };
        let time = at.time();
        if time >= breakfast_from
            && time < breakfast_until
            && earliest
                .as_ref()
                .is_none_or(|e| (time, date) < (e.time, e.date))
        {
            earliest = Some(meal());
        }
        if biggest.as_ref().is_none_or(|b| {
            (t.amount_fen, std::cmp::Reverse(date)) > (b.amount, std::cmp::Reverse(b.date))
        }) {
            biggest = Some(meal());
        }
    }
    // Ties go to the alphabetically first place / earliest month, so the bill is stable.
    let favourite = places
        .into_iter()
        .max_by(|a, b| (a.1.0, std::cmp::Reverse(a.0)).cmp(&(b.1.0, std::cmp::Reverse(b.0))))
        .map(|(place, (visits, spent))| Favourite {
            place: place.to_owned(),
            visits,
            spent: Fen(spent),
        });
    let top_month = by_month
        .into_iter()
        .max_by(|a, b| (a.1, std::cmp::Reverse(a.0)).cmp(&(b.1, std::cmp::Reverse(b.0))))
        .map(|(m, fen)| (m, Fen(fen)));
    let in_span: Vec<Transaction> = txs
        .iter()
        .filter(|t| (from..=to).contains(&classifier.local(t).date_naive()))
        .cloned()
        .collect();
    FunBill {
        from,
        to,
        summary: summarise(classifier, &in_span),
        spend_days: days.len() as u32,
        meals,
        favourite,
        earliest_breakfast: earliest,
        biggest_meal: biggest,
        top_month,
    }
}

/// The share (0–100, rounded down) of `sorted` that is strictly below `value`: "you spent
/// more than N% of your cohort". `sorted` must be ascending.
pub fn percent_below(sorted: &[i64], value: i64) -> u8 {
    if sorted.is_empty() {
        return 0;
    }
    let below = sorted.partition_point(|v| *v < value);
    (below * 100 / sorted.len()) as u8
}

#[cfg(test)]
mod tests;
