//! Reconciliation (对账): every campus day, our orders against the bank's statement, the card
//! system's load/debit/refund/reversal records and the billers' statement.
//!
//! Why it exists: an order machine can only act on answers it got. A bank that committed a
//! debit and lost the answer, a record carried to the next day by a day cut, a biller that
//! booked a different amount — only the upstreams' own records show these. This module owns
//! one run of one day: fetch and check the statements ([`sources`]), match them with our
//! orders by key ([`matcher`]), give back money that left a student and never arrived or
//! complete an order whose money arrived everywhere ([`resolve`]), and save the day, its
//! holding pool and its manual queue in one unit (`store::reconcile`). [`report`] turns a day
//! into the accountant's CSV; [`schedule`] runs yesterday every morning.
//!
//! It must never move money except by an order's own step keys, never touch an amount
//! difference or an unknown key (those are for a person), and never fail a run because one
//! upstream's statement is missing or malformed: that is the upstream's state for the day.

pub mod matcher;
pub mod report;
pub mod resolve;
pub mod schedule;
pub mod sources;

#[cfg(test)]
mod day_tests;
#[cfg(test)]
mod matcher_tests;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::OrderId;
use crate::store::StoreError;
use crate::store::orders::{Order, OrderClock, OrderStore};
use crate::store::reconcile::{Action, Class, DayResult, DaySave, Held, ManualItem, ReconStore};
pub use matcher::{MatchRules, Outcome, Remedy};
pub use sources::{Fetched, Sources};

/// `[reconcile]`: the daily job and its policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileSettings {
    /// Run yesterday's reconciliation every day in `serve` and `demo`.
    pub enabled: bool,
    /// When, in campus time (`HH:MM`). Statements of D are produced from about 06:00 on D+1.
    pub run_at: String,
    /// Days an order may wait for the rows that would match it before it counts as a
    /// difference (a top-up at 23:40 is on the bank's next day).
    pub hold_days: u32,
    /// Give back money that left a student and never arrived, and complete orders whose
    /// money arrived everywhere, without waiting for a person.
    pub auto_resolve: bool,
    /// Where each day's CSV goes (`reconcile-YYYY-MM-DD.csv`); empty = `{data_dir}/reconcile`.
    pub report_dir: PathBuf,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            run_at: "07:00".into(),
            hold_days: 2,
            auto_resolve: true,
            report_dir: PathBuf::new(),
        }
    }
}

impl ReconcileSettings {
    /// The report directory, defaulting under the data directory.
    pub fn report_dir(&self, data_dir: &std::path::Path) -> PathBuf {
        if self.report_dir.as_os_str().is_empty() {
            data_dir.join("reconcile")
        } else {
            self.report_dir.clone()
        }
    }

    /// `run_at` as seconds after campus midnight.
    pub fn run_at_secs(&self) -> Option<u32> {
        let (h, m) = self.run_at.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 3600 + m * 60)
    }
}

/// Why a run could not finish (the upstreams' troubles are states in the result, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("report: {0}")]
    Report(#[from] report::ReportError),
}

/// Reconcile `date` and write its CSV as `{report_dir}/reconcile-{date}.csv`.
pub async fn run_and_report<O: OrderStore, R: ReconStore>(
    reconciler: &Reconciler<O, R>,
    date: NaiveDate,
    report_dir: &std::path::Path,
) -> Result<(DayResult, PathBuf), ReconcileError> {
    let result = reconciler.run_day(date).await?;
    let bytes = report::csv(
        &result,
        &report::Labels::builtin()?,
        reconciler.utc_offset_hours,
    )?;
    std::fs::create_dir_all(report_dir).map_err(report::ReportError::from)?;
    let path = report_dir.join(format!("reconcile-{date}.csv"));
    std::fs::write(&path, bytes).map_err(report::ReportError::from)?;
    Ok((result, path))
}

/// One reconciliation setup: stores, upstreams, policy. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler<O: OrderStore, R: ReconStore> {
    /// Our side of the match: the orders of the day.
    pub orders: O,
    /// Where day results, held rows and the operator's queue are kept.
    pub recon: R,
    /// Whose statements are read.
    pub sources: Sources,
    /// The policy: how long an order waits for its rows, whether differences are resolved
    /// without a person, when the daily run starts and where its report goes.
    pub settings: ReconcileSettings,
    /// The campus's offset from UTC: a day is a campus day.
    pub utc_offset_hours: i32,
    /// What "today" is: the daily job reconciles the day before.
    pub clock: std::sync::Arc<dyn OrderClock>,
}

/// The reconciler a process runs: on its own store and the adapters it started.
pub type SledReconciler = Reconciler<crate::store::SledOrders, crate::store::SledRecon>;

impl SledReconciler {
    /// Reconciliation of `store`'s orders against the statements of `adapters`, by `settings`.
    pub fn on(
        settings: &crate::settings::Settings,
        store: &crate::store::Store,
        adapters: &crate::adapters::Adapters,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            orders: store.orders()?,
            recon: store.reconcile()?,
            sources: Sources {
                bank: adapters.bank.clone(),
                card: Some(adapters.card.clone()),
                billers: adapters.billers.clone(),
            },
            settings: settings.reconcile.clone(),
            utc_offset_hours: settings.server.utc_offset_hours,
            clock: std::sync::Arc::new(crate::store::orders::SystemClock),
        })
    }
}

impl<O: OrderStore, R: ReconStore> Reconciler<O, R> {
    /// The campus day before the clock's today: what the daily job reconciles.
    pub fn yesterday(&self) -> NaiveDate {
        let rules = self.rules(NaiveDate::default());
        let today = rules.campus_day(self.clock.now_ms());
        today.pred_opt().unwrap_or(today)
    }

    fn rules(&self, date: NaiveDate) -> MatchRules {
        MatchRules {
            date,
            hold_days: self.settings.hold_days,
            utc_offset_hours: self.utc_offset_hours,
        }
    }

    /// `[start, end)` of a campus day in Unix ms.
    fn day_window(&self, date: NaiveDate) -> (i64, i64) {
        let midnight = date
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis();
        let start = midnight - i64::from(self.utc_offset_hours) * 3_600_000;
        (start, start + 86_400_000)
    }

    /// Our side of the join: the day's orders, the pool's, and every order a row of the day
    /// names (a late record of an earlier order).
    async fn our_orders(
        &self,
        date: NaiveDate,
        fetched: &Fetched,
    ) -> Result<Vec<Order>, StoreError> {
        let (start, end) = self.day_window(date);
        let mut orders = self.orders.list_created_between(start, end).await?;
        let mut seen: HashSet<String> = orders.iter().map(|o| o.id.to_string()).collect();
        let mut wanted: Vec<String> = self
            .recon
            .held()
            .await?
            .into_iter()
            .map(|h| h.order_id)
            .collect();
        wanted.extend(
            fetched
                .rows
                .iter()
                .filter_map(|r| r.out_trade_no.get(..r.out_trade_no.len().saturating_sub(1)))
                .map(str::to_owned),
        );
        for raw in wanted {
            if seen.contains(&raw) {
                continue;
            }
            let Ok(id) = OrderId::parse(&raw) else {
                continue;
            };
            if let Some(order) = self.orders.get(&id).await? {
                orders.push(order);
            }
            seen.insert(raw);
        }
        Ok(orders)
    }

    /// Reconcile one campus day: fetch, match, resolve the safe cases, save. Running a day
    /// again replaces its result (an operator's resolutions stay).
    pub async fn run_day(&self, date: NaiveDate) -> Result<DayResult, ReconcileError> {
        let fetched = sources::fetch_day(&self.sources, date).await;
        let orders = self.our_orders(date, &fetched).await?;
        // Rows kept from earlier days, so an order's whole story is judged.
        let mut rows = fetched.rows.clone();
        for order in &orders {
            rows.extend(self.recon.rows_with_prefix(order.id.as_str()).await?);
        }
        let rules = self.rules(date);
        let mut outcomes = matcher::reconcile(&rules, &orders, &rows, |u| fetched.usable(u));
        let mut audit = Vec::new();
        for outcome in &mut outcomes {
            if let Some(entry) = resolve::apply(
                &self.orders,
                &self.sources,
                self.settings.auto_resolve,
                date,
                outcome,
            )
            .await?
            {
                audit.push(entry);
            }
        }
        let now = self.clock.now_ms();
        let pooled: HashMap<String, Held> = self
            .recon
            .held()
            .await?
            .into_iter()
            .map(|h| (h.order_id.clone(), h))
            .collect();
        let mut save = DaySave {
            result: DayResult {
                date,
                run_at_ms: now,
                sources: fetched.reports.clone(),
                lines: Vec::with_capacity(outcomes.len()),
            },
            rows: fetched.rows,
            hold: Vec::new(),
            release: Vec::new(),
            manual: Vec::new(),
            audit,
        };
        for outcome in outcomes {
            let line = outcome.line;
            match (&outcome.order, line.class) {
                (Some(order), Class::Held) => save.hold.push(Held {
                    order_id: order.id.to_string(),
                    since: rules.campus_day(order.created_at_ms),
                    reason: line.detail.clone(),
                }),
                (Some(order), _) if pooled.contains_key(order.id.as_str()) => {
                    save.release.push(order.id.to_string());
                }
                _ => {}
            }
            if line.action == Action::Manual {
                save.manual.push(ManualItem {
                    id: format!("{date}/{}", line.key),
                    date,
                    line: line.clone(),
                    opened_at_ms: now,
                    resolution: None,
                });
            }
            save.result.lines.push(line);
        }
        let result = save.result.clone();
        self.recon.save_day(save).await?;
        let differences = result
            .lines
            .iter()
            .filter(|l| l.class.is_difference())
            .count();
        tracing::info!(%date, lines = result.lines.len(), differences, complete = result.complete(), "reconcile: day saved");
        metrics::counter!("onecard_reconcile_runs_total").increment(1);
        metrics::gauge!("onecard_reconcile_differences").set(differences as f64);
        Ok(result)
    }
}
