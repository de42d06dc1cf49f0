//! Where a person stands among their cohort: a batch job reads every bound person's spending
//! for a period from the card system and keeps, per cohort (a college, a grade), the sorted
//! totals — nothing else. The fun bill ranks one person's total against them. A student's own
//! script cannot do this: it sees only its owner's transactions.
//!
//! The job runs daily at `bills.cohort_refresh_at` (campus time), once at start-up when the
//! current period has nothing yet, and on demand from the admin listener
//! (`POST /bills/cohorts/refresh`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use super::fetch::BatchPace;
use super::{BillsSettings, Classifier, fetch, summarise};
use crate::adapters::{AdapterError, CardHandle};
use crate::store::{CohortTotals, Store, StoreError};
use crate::wire::Account;

#[derive(Debug, thiserror::Error)]
pub enum CohortError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the card system is unavailable: {0}")]
    Upstream(#[from] AdapterError),
}

/// The span a fun bill covers: a configured term, or a calendar year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    /// Stable key of the distributions (`term:2026-09-01..2027-01-17`, `year:2026`).
    pub key: String,
    /// The term's configured name; None for a calendar year.
    pub term: Option<String>,
    pub year: i32,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The term covering `today`, else this calendar year.
    pub fn current(settings: &BillsSettings, today: NaiveDate) -> Self {
        match settings.term_of(today) {
            Some(t) => Self {
                key: format!("term:{}..{}", t.from, t.to),
                term: Some(t.name.clone()),
                year: t.from.year(),
                from: t.from,
                to: t.to,
            },
            None => Self::year(today.year()),
        }
    }

    pub fn year(year: i32) -> Self {
        let day = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("a valid calendar day");
        Self {
            key: format!("year:{year}"),
            term: None,
            year,
            from: day(1, 1),
            to: day(12, 31),
        }
    }

    /// The days of the period that have happened by `today` (None if it has not started).
    pub fn until(&self, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        (self.from <= today).then(|| (self.from, self.to.min(today)))
    }
}

/// The cohorts a card holder belongs to: their college, and their grade (enrolment year from
/// the 学工号 and the customer type, e.g. 2024 本科). Staff numbers carry no enrolment year
/// in a form we can trust, so staff are ranked by college only.
pub fn cohort_keys(account: &Account) -> Vec<String> {
    let mut keys = Vec::new();
    if !account.dept.is_empty() {
        keys.push(college_key(&account.dept));
    }
    if let Some(key) = grade_key(account) {
        keys.push(key);
    }
    keys
}

pub fn college_key(dept: &str) -> String {
    format!("college:{dept}")
}

/// `grade:2024:本科`, for students whose 学工号 starts with a plausible enrolment year.
pub fn grade_key(account: &Account) -> Option<String> {
    let year = grade_year(account)?;
    Some(format!("grade:{year}:{}", account.cust_type_name))
}

pub fn grade_year(account: &Account) -> Option<u32> {
    let year: u32 = account.sno.get(..4)?.parse().ok()?;
    let student = ["本科", "研究生", "硕士", "博士", "专科"]
        .iter()
        .any(|k| account.cust_type_name.contains(k));
    (student && (1990..=2100).contains(&year)).then_some(year)
}

/// What one refresh did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    pub period: String,
    pub people: usize,
    pub counted: usize,
    /// People whose account or transactions could not be read (not counted; retried next run).
    pub failed: usize,
    pub cohorts: usize,
}

/// Recompute `period`'s distributions from every binding and replace the stored ones, reading
/// the card system at `pace`.
pub async fn refresh(
    store: &Store,
    card: &CardHandle,
    pace: &BatchPace,
    settings: &BillsSettings,
    utc_offset_hours: i32,
    period: &Period,
    today: NaiveDate,
) -> Result<RefreshReport, CohortError> {
    let bindings = store.bindings().all()?;
    let mut report = RefreshReport {
        period: period.key.clone(),
        people: bindings.len(),
        ..RefreshReport::default()
    };
    let Some((from, to)) = period.until(today) else {
        return Ok(report);
    };
    let classifier = Classifier::new(&settings.categories, utc_offset_hours);
    let classifier = &classifier;
    let results: Vec<Result<(Vec<String>, i64), AdapterError>> =
        futures_util::stream::iter(bindings)
            .map(|(_, binding)| async move {
                pace.turn().await;
                let account = card.primary_account(&binding.student_id).await?;
                let txs = fetch::transactions(card, &account.account, from, to, Some(pace)).await?;
                Ok((cohort_keys(&account), summarise(classifier, &txs).spent.0))
            })
            .buffer_unordered(settings.cohort_concurrency.max(1))
            .collect()
            .await;
    let mut cohorts: HashMap<String, Vec<i64>> = HashMap::new();
    for result in results {
        match result {
            Ok((keys, spent)) => {
                report.counted += 1;
                for k in keys {
                    cohorts.entry(k).or_default().push(spent);
                }
            }
            Err(e) => {
                report.failed += 1;
                tracing::debug!(error = %e, "cohort refresh skipped a person");
            }
        }
    }
    if report.counted == 0 && report.failed > 0 {
        // Keep yesterday's distributions rather than replace them with nothing.
        return Err(CohortError::Upstream(AdapterError::Timeout));
    }
    let computed_at = Utc::now().timestamp();
    let mut stored: Vec<(String, CohortTotals)> = cohorts
        .into_iter()
        .map(|(k, mut totals_fen)| {
            totals_fen.sort_unstable();
            (
                k,
                CohortTotals {
                    totals_fen,
                    computed_at,
                },
            )
        })
        .collect();
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    report.cohorts = stored.len();
    store.bills()?.replace_period(&period.key, &stored)?;
    store.flush().await?;
    tracing::info!(
        period = %report.period,
        people = report.people,
        counted = report.counted,
        failed = report.failed,
        cohorts = report.cohorts,
        "cohort distributions refreshed"
    );
    Ok(report)
}

/// What the scheduled job needs.
#[derive(Clone)]
pub struct CohortJob {
    pub store: Store,
    pub card: CardHandle,
    /// Shared by every run (the daily one, the start-up one, an operator's), so runs that
    /// overlap still take only their share of the card system's rate together.
    pub pace: Arc<BatchPace>,
    pub settings: BillsSettings,
    pub utc_offset_hours: i32,
}

impl CohortJob {
    fn offset(&self) -> FixedOffset {
        crate::settings::campus_offset(self.utc_offset_hours)
    }

    fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.offset()).date_naive()
    }

    /// Refresh the current period now.
    pub async fn run_now(&self) -> Result<RefreshReport, CohortError> {
        let today = self.today();
        let period = Period::current(&self.settings, today);
        refresh(
            &self.store,
            &self.card,
            &self.pace,
            &self.settings,
            self.utc_offset_hours,
            &period,
            today,
        )
        .await
    }

    /// Run at start-up when the current period has nothing yet, then daily.
    pub fn spawn_daily(self) {
        actix_rt::spawn(async move {
            let period = Period::current(&self.settings, self.today());
            let empty = self
                .store
                .bills()
                .and_then(|b| b.has_period(&period.key))
                .map(|has| !has)
                .unwrap_or(true);
            if empty && let Err(e) = self.run_now().await {
                tracing::warn!(error = %e, "cohort distributions not computed at start-up");
            }
            loop {
                tokio::time::sleep(next_run_in(
                    &self.settings.cohort_refresh_at,
                    self.offset(),
                    Utc::now(),
                ))
                .await;
                if let Err(e) = self.run_now().await {
                    tracing::warn!(error = %e, "cohort distributions not refreshed; kept the last ones");
                }
            }
        });
    }
}

/// Time from `now` until the next `at` (`HH:MM`, campus time; unreadable = midnight).
pub fn next_run_in(at: &str, offset: FixedOffset, now: DateTime<Utc>) -> Duration {
    let at = NaiveTime::parse_from_str(at, "%H:%M").unwrap_or(NaiveTime::MIN);
    let local = now.with_timezone(&offset);
    let mut next = local.date_naive().and_time(at);
    if next <= local.naive_local() {
        next += chrono::Duration::days(1);
    }
    (next - local.naive_local())
        .to_std()
        .unwrap_or(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_is_later_today_or_tomorrow_in_campus_time() {
        // 2026-12-01 20:00 UTC is 04:00 on 12-02 in UTC+8.
        let now = DateTime::parse_from_rfc3339("2026-12-01T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let campus = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(
            next_run_in("04:30", campus, now),
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            next_run_in("03:00", campus, now),
            Duration::from_secs(23 * 3600)
        );
        assert_eq!(
            next_run_in("04:00", campus, now),
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn a_configured_term_wins_over_the_calendar_year() {
        let settings = BillsSettings {
            terms: vec![super::super::Term {
                name: "秋季学期".into(),
                from: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
                to: NaiveDate::from_ymd_opt(2027, 1, 17).unwrap(),
            }],
            ..BillsSettings::default()
        };
        let in_term = Period::current(&settings, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(in_term.key, "term:2026-09-01..2027-01-17");
        assert_eq!(
            in_term.until(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            Some((
                NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            ))
        );
        let summer = Period::current(&settings, NaiveDate::from_ymd_opt(2026, 7, 10).unwrap());
        assert_eq!(summer.key, "year:2026");
        assert_eq!(summer.from, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    }
}
