//! The back office's side of money: list and read orders, the manual queues, closing a
//! reconciliation item, running a day's reconciliation and reading its result and CSV — what
//! `onecard orders` and `onecard reconcile` do, through the admin listener while the server
//! runs (it holds the store) or straight on a stopped server's data directory. Both paths call
//! this one desk, so an operator sees the same lines either way.
//!
//! It owns the operator's view of an order (its state, amount, the step keys to look it up
//! upstream, its history) and the filters of the lists. It must never move an order's state:
//! the machines and the reconciliation's own automatic cases do that; an operator closes a
//! reconciliation item with a note, audited by the store.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{OrderId, OrderStep, StudentId};
use crate::reconcile::{ReconcileError, Reconciler, report};
use crate::store::orders::{Order, OrderKind, OrderState, OrderStore};
use crate::store::reconcile::{DayResult, ManualItem, ReconStore, Resolution, Resolved};
use crate::store::{SledOrders, SledRecon, StoreError};

/// Longest operator note on a closed item.
const NOTE_MAX_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    /// The item was closed before; nothing changed.
    #[error("{0}")]
    Refused(String),
    /// This process has no upstreams to reconcile against.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
}

/// Which orders a list shows; every given filter applies.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub state: Option<OrderState>,
    /// The card holder (学工号).
    pub sno: Option<StudentId>,
    /// Created on this campus day.
    pub day: Option<NaiveDate>,
}

impl OrderFilter {
    /// From the words an operator types (`needs_manual`, `2024000001`, `2026-11-30`).
    pub fn parse(
        state: Option<&str>,
        sno: Option<&str>,
        day: Option<&str>,
    ) -> Result<Self, DeskError> {
        let state = state
            .map(|s| {
                serde_json::from_value::<OrderState>(Value::String(s.to_owned())).map_err(|_| {
                    DeskError::BadInput(format!(
                        "unknown state {s:?}: use created, debiting, debited, crediting, claiming, succeeded, failed, reversing, reversed or needs_manual"
                    ))
                })
            })
            .transpose()?;
        let sno = sno
            .map(|s| StudentId::parse(s).map_err(|e| DeskError::BadInput(format!("{s:?}: {e}"))))
            .transpose()?;
        let day = day.map(parse_date).transpose()?;
        Ok(Self { state, sno, day })
    }

    fn keeps(&self, order: &Order, window: Option<(i64, i64)>) -> bool {
        self.state.is_none_or(|s| order.state == s)
            && self.sno.as_ref().is_none_or(|s| order.sno == *s)
            && window.is_none_or(|(from, to)| (from..to).contains(&order.created_at_ms))
    }
}

/// A campus day as typed (`YYYY-MM-DD`).
pub fn parse_date(text: &str) -> Result<NaiveDate, DeskError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| DeskError::BadInput(format!("{text:?} is not a date (YYYY-MM-DD)")))
}

/// A reconciliation run as the operator gets it back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DayRun {
    pub result: DayResult,
    /// Where the server wrote the day's CSV.
    pub csv_path: PathBuf,
}

/// The desk: the stores, and the reconciler where upstreams are configured. Cheap to clone.
#[derive(Clone)]
pub struct MoneyDesk {
    orders: SledOrders,
    recon: SledRecon,
    /// `None` without `[upstreams]`: runs are refused, stored days can still be read.
    reconciler: Option<Reconciler<SledOrders, SledRecon>>,
    report_dir: PathBuf,
    utc_offset_hours: i32,
    /// One run at a time from the desk: two runs of one day would race to save it.
    running: Arc<tokio::sync::Mutex<()>>,
}

impl MoneyDesk {
    pub fn new(
        orders: SledOrders,
        recon: SledRecon,
        reconciler: Option<Reconciler<SledOrders, SledRecon>>,
        report_dir: PathBuf,
        utc_offset_hours: i32,
    ) -> Self {
        Self {
            orders,
            recon,
            reconciler,
            report_dir,
            utc_offset_hours,
            running: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// `[start, end)` of a campus day in Unix ms.
    fn day_window(&self, date: NaiveDate) -> (i64, i64) {
        let start = date
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
            - i64::from(self.utc_offset_hours) * 3_600_000;
        (start, start + 86_400_000)
    }

    /// Orders, oldest first. Without any filter: every unfinished order.
    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Value>, DeskError> {
        let window = filter.day.map(|d| self.day_window(d));
        // the narrowest list the store has an index (or a single scan) for, then the rest
        let list = match (window, &filter.sno, filter.state) {
            (Some((from, to)), _, _) => self.orders.list_created_between(from, to).await?,
            (None, Some(sno), _) => self.orders.list_for_student(sno).await?,
            (None, None, Some(state)) => self.orders.list_in_state(state).await?,
            (None, None, None) => self.orders.list_unfinished().await?,
        };
        Ok(list
            .iter()
            .filter(|o| filter.keeps(o, window))
            .map(order_view)
            .collect())
    }

    /// One order with its whole history.
    pub async fn order(&self, id: &str) -> Result<Value, DeskError> {
        let not_found = || DeskError::NotFound(format!("no order {id}"));
        let id = OrderId::parse(id).map_err(|_| not_found())?;
        let order = self.orders.get(&id).await?.ok_or_else(not_found)?;
        Ok(order_view(&order))
    }

    /// The reconciliation's manual queue: open items (or every item), oldest first.
    pub async fn queue(&self, all: bool) -> Result<Vec<ManualItem>, DeskError> {
        Ok(self.recon.manual_items(!all).await?)
    }

    /// Close a manual item with what was done and who did it; the store audits it.
    pub async fn resolve(&self, id: &str, by: &str, note: &str) -> Result<ManualItem, DeskError> {
        let (by, note) = (by.trim(), note.trim());
        if by.is_empty() || note.is_empty() {
            return Err(DeskError::BadInput(
                "say what was done (note) and who did it (by)".into(),
            ));
        }
        if note.chars().count() > NOTE_MAX_CHARS {
            return Err(DeskError::BadInput(format!(
                "the note is longer than {NOTE_MAX_CHARS} characters"
            )));
        }
        let resolution = Resolution {
            by: by.to_owned(),
            note: note.to_owned(),
            at_ms: chrono::Utc::now().timestamp_millis(),
        };
        match self.recon.resolve(id, resolution).await? {
            Resolved::Resolved(item) => {
                tracing::info!(item = %item.id, "reconcile item resolved by an operator");
                Ok(item)
            }
            Resolved::AlreadyResolved(item) => Err(DeskError::Refused(format!(
                "{} was already resolved by {}",
                item.id,
                item.resolution.map(|r| r.by).unwrap_or_default()
            ))),
            Resolved::NotFound => Err(DeskError::NotFound(format!("no manual item {id}"))),
        }
    }

    /// Reconcile a campus day (default: yesterday) and write its CSV.
    pub async fn run(&self, date: Option<NaiveDate>) -> Result<DayRun, DeskError> {
        let Some(reconciler) = &self.reconciler else {
            return Err(DeskError::Unavailable(
                "no [upstreams] configured: nothing to reconcile against".into(),
            ));
        };
        let date = date.unwrap_or_else(|| reconciler.yesterday());
        let _one_at_a_time = self.running.lock().await;
        let (result, csv_path) =
            crate::reconcile::run_and_report(reconciler, date, &self.report_dir).await?;
        Ok(DayRun { result, csv_path })
    }

    /// A day's stored result.
    pub async fn day(&self, date: NaiveDate) -> Result<DayResult, DeskError> {
        self.recon.day(date).await?.ok_or_else(|| {
            DeskError::NotFound(format!("{date} has not been reconciled (run it first)"))
        })
    }

    /// A day's CSV, rendered from its stored result (what the run wrote to the report dir).
    pub async fn day_csv(&self, date: NaiveDate) -> Result<Vec<u8>, DeskError> {
        let result = self.day(date).await?;
        let labels = report::Labels::builtin().map_err(ReconcileError::from)?;
        Ok(report::csv(&result, &labels, self.utc_offset_hours).map_err(ReconcileError::from)?)
    }
}

/// An order as an operator reads it: what it is, where it stands, the last reason, the keys
/// to look it up at the bank / card system / biller, and every state change.
pub fn order_view(order: &Order) -> Value {
    let (kind, biller_id, target_id) = match &order.kind {
        OrderKind::TopUp => ("top_up", None, None),
        OrderKind::Payment {
            biller_id,
            target_id,
            ..
        } => ("payment", Some(biller_id), Some(target_id)),
    };
    let reason = order.history.iter().rev().find_map(|c| c.detail.as_deref());
    let mut keys = json!({
        "debit": order.id.step_key(OrderStep::Debit),
        "credit": order.id.step_key(OrderStep::Credit),
        "cancel_credit": order.id.step_key(OrderStep::CancelCredit),
        "reverse": order.id.step_key(OrderStep::Reverse),
    });
    // only a top-up that claimed 过渡余额 automatically has a claim at the card system
    if order.history.iter().any(|c| c.to == OrderState::Claiming) {
        keys["claim"] = json!(order.id.step_key(OrderStep::Claim));
    }
    json!({
        "id": order.id.as_str(),
        "kind": kind,
        "biller_id": biller_id,
        "target_id": target_id,
        "state": order.state,
        "amount_fen": order.amount.fen(),
        "sno": order.sno.as_str(),
        "account": order.account,
        "created_at_ms": order.created_at_ms,
        "updated_at_ms": order.updated_at_ms,
        "reason": reason,
        "keys": keys,
        "history": order.history,
    })
}
