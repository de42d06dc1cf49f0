//! The alerts consumer: polls the card system's transaction feed (docs/upstream-api.md §5.15)
//! and the library loans of users who asked, decides which of each card holder's chosen alerts
//! a transaction sets off (`store::alerts`), and queues them for the pusher — which sends a
//! customer-service message inside WeChat's window and the template message otherwise.
//!
//! Exactly once across restarts: a batch's alerts, their markers, the daily counts and the feed
//! cursor past the batch are one store transaction, flushed before the pusher is kicked
//! (`AlertsRepo::commit`). A new `feed_id` (the card system rebuilt its feed) starts again from
//! 0; the markers keep it from repeating anything. It runs as one task on its own thread, never
//! on the callback path; a failed poll is logged and tried again after a pause.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::pusher::PusherHandle;
use crate::adapters::card::{TransactionFeedItem, TransactionFeedQuery};
use crate::adapters::{AdapterError, Adapters, RateLimitSource};
use crate::domain::{Fen, OpenId, StudentId};
use crate::rules::LiveRules;
use crate::store::{AlertKind, AlertPrefs, FeedCursor, PlannedAlert, Store};
use crate::wechat::Reply;
use crate::wire::{Direction, TxType};

/// `[alerts]`: the alerts consumer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSettings {
    /// Run the consumer (it needs `[upstreams]`).
    pub enabled: bool,
    /// Pause between feed polls when the feed has nothing new.
    pub poll_interval_ms: u64,
    /// Feed items asked for per poll (the gateway allows up to 500).
    pub batch: u32,
    /// How often the library loans of users with library alerts are checked.
    pub library_check_secs: u64,
    /// Alerts of one kind one user gets per campus day at most; the rest are dropped.
    pub daily_caps: DailyCaps,
}

impl Default for AlertsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 1000,
            batch: 200,
            library_check_secs: 6 * 3600,
            daily_caps: DailyCaps::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DailyCaps {
    pub low_balance: u32,
    pub large_transaction: u32,
    pub lost_card_use: u32,
    pub top_up: u32,
    pub payment: u32,
    pub library_due: u32,
    pub ticket_updates: u32,
}

impl Default for DailyCaps {
    fn default() -> Self {
        Self {
            low_balance: 2,
            large_transaction: 20,
            lost_card_use: 20,
            top_up: 10,
            payment: 10,
            library_due: 3,
            ticket_updates: 30,
        }
    }
}

impl DailyCaps {
    pub fn of(&self, kind: AlertKind) -> u32 {
        match kind {
            AlertKind::LowBalance => self.low_balance,
            AlertKind::LargeTransaction => self.large_transaction,
            AlertKind::LostCardUse => self.lost_card_use,
            AlertKind::TopUp => self.top_up,
            AlertKind::Payment => self.payment,
            AlertKind::LibraryDue => self.library_due,
            AlertKind::TicketUpdates => self.ticket_updates,
        }
    }
}

/// Longest pause after failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Markers older than this are pruned (they guard only against rerunning recent batches).
const MARKER_KEEP_SECS: i64 = 7 * 24 * 3600;
/// Library loans due within this many days set off an alert.
const LIBRARY_DUE_DAYS: i64 = 3;

/// Everything the consumer needs.
pub struct AlertsConsumer {
    pub store: Store,
    pub adapters: Adapters,
    pub rules: LiveRules,
    pub pusher: PusherHandle,
    pub settings: AlertsSettings,
    pub utc_offset_hours: i32,
}

impl AlertsConsumer {
    /// Start polling on `arbiter` (its own thread); runs until the arbiter stops.
    pub fn start(self, arbiter: &actix_rt::ArbiterHandle) {
        if !self.settings.enabled {
            tracing::info!("alerts consumer disabled ([alerts] enabled = false)");
            return;
        }
        // Spawned from inside the thread: the poll loop need not be `Send`.
        arbiter.spawn_fn(move || {
            actix_rt::spawn(async move { self.run().await });
        });
    }

    async fn run(self) {
        let idle = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let mut backoff = idle;
        let mut next_library = tokio::time::Instant::now();
        loop {
            match self.poll_once().await {
                Ok(true) => {
                    backoff = idle;
                    continue;
                }
                Ok(false) => backoff = idle,
                // Our own limiter was full for a moment (other card calls took the rate): the
                // card system is fine, so the next poll comes at the usual interval.
                Err(AlertsError::Card(AdapterError::RateLimited(RateLimitSource::Local))) => {
                    metrics::counter!("onecard_alerts_poll_errors_total").increment(1);
                    tracing::debug!("alerts: feed poll waited out by our own card rate limit");
                    backoff = idle;
                }
                Err(e) => {
                    metrics::counter!("onecard_alerts_poll_errors_total").increment(1);
                    tracing::warn!(error = %e, "alerts: feed poll failed; trying again");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            if tokio::time::Instant::now() >= next_library {
                next_library = tokio::time::Instant::now()
                    + Duration::from_secs(self.settings.library_check_secs.max(1));
                if let Err(e) = self.check_library().await {
                    tracing::warn!(error = %e, "alerts: library check failed");
                }
                self.prune();
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// One poll: handle a batch of feed items. Returns whether more are waiting.
    async fn poll_once(&self) -> Result<bool, AlertsError> {
        let repo = self.store.alerts();
        let stored = repo.cursor()?;
        let mut query = TransactionFeedQuery {
            cursor: stored.as_ref().map_or(0, |c| c.seq),
            limit: self.settings.batch,
        };
        let mut feed = self.adapters.card.transactions_feed(&query).await?;
        if let Some(c) = &stored
            && c.feed_id != feed.feed_id
        {
            tracing::warn!(
                "alerts: the card system's feed was rebuilt; starting from its beginning"
            );
            query.cursor = 0;
            feed = self.adapters.card.transactions_feed(&query).await?;
        }
        if feed.oldest_seq > query.cursor + 1 {
            metrics::counter!("onecard_alerts_feed_gaps_total").increment(1);
            tracing::error!(
                cursor = query.cursor,
                oldest = feed.oldest_seq,
                "alerts: the feed no longer holds items after our cursor; those alerts are lost"
            );
        }
        if feed.items.is_empty() && stored.as_ref().is_some_and(|c| c.feed_id == feed.feed_id) {
            return Ok(false);
        }
        let now = chrono::Utc::now().timestamp();
        let mut planned = Vec::new();
        for item in &feed.items {
            planned.extend(self.plan(&feed.feed_id, item, now)?);
        }
        let cursor = FeedCursor {
            feed_id: feed.feed_id.clone(),
            seq: feed.next_cursor,
        };
        self.commit(&planned, Some(&cursor), now).await?;
        for item in &feed.items {
            let at = item.transaction.occurred_at.timestamp();
            metrics::histogram!("onecard_alerts_feed_lag_seconds").record((now - at).max(0) as f64);
        }
        Ok(feed.has_more)
    }

    async fn commit(
        &self,
        planned: &[PlannedAlert],
        cursor: Option<&FeedCursor>,
        now: i64,
    ) -> Result<(), AlertsError> {
        let caps = &self.settings.daily_caps;
        let done = self
            .store
            .alerts()
            .commit(planned, cursor, |k| caps.of(k), now)?;
        self.store.flush().await?;
        for p in planned {
            metrics::counter!("onecard_alerts_planned_total", "kind" => p.kind.as_str())
                .increment(1);
        }
        metrics::counter!("onecard_alerts_capped_total").increment(done.capped as u64);
        for openid in &done.queued {
            self.pusher.push_queued(openid);
        }
        Ok(())
    }

    /// The alerts one feed item sets off for its card holder, by their switches.
    fn plan(
        &self,
        feed_id: &str,
        item: &TransactionFeedItem,
        now: i64,
    ) -> Result<Vec<PlannedAlert>, AlertsError> {
        let Ok(sno) = StudentId::parse(&item.sno) else {
            return Ok(Vec::new());
        };
        let Some(openid) = self.store.bindings().owner_of(&sno)? else {
            return Ok(Vec::new());
        };
        let prefs = self.store.alerts().prefs(&openid)?;
        let tx = &item.transaction;
        let fields = json!({
            "amount": tx.amount_fen.yuan(),
            "balance": tx.balance_after_fen.yuan(),
            "merchant": tx.merchant_name,
            "location": tx.location,
            "time": self.local_time(&tx.occurred_at),
            "type_name": tx.type_name,
            "pending": tx.remark == "pending",
            "incoming": tx.direction == Direction::In,
        });
        let day = self.campus_day(now);
        let mut out = Vec::new();
        for (kind, extra) in kinds_set_off(&prefs, item) {
            let mut f = fields.clone();
            if let (Some(obj), Some(extra)) = (f.as_object_mut(), extra) {
                obj.insert("threshold".into(), Value::String(Fen(extra).yuan()));
            }
            let Some(reply) = self.render(kind, &f) else {
                continue;
            };
            out.push(PlannedAlert {
                openid: openid.clone(),
                kind,
                dedup: format!("{feed_id}:{}:{}", item.seq, kind.as_str()),
                day: day.clone(),
                reply,
            });
        }
        Ok(out)
    }

    /// Library loans due within 3 days, for users who asked; each loan and due date once.
    async fn check_library(&self) -> Result<(), AlertsError> {
        let users = self.store.alerts().with_library_due()?;
        let now = chrono::Utc::now().timestamp();
        let today = self.local_date(now);
        let mut planned = Vec::new();
        for openid in users {
            let Some(binding) = self.store.bindings().get(&openid)? else {
                continue;
            };
            let loans = match self
                .adapters
                .public_data
                .library_loans(&binding.student_id)
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "alerts: library loans unavailable");
                    continue;
                }
            };
            for loan in loans.items {
                let days = (loan.due_at - today).num_days();
                if !(0..=LIBRARY_DUE_DAYS).contains(&days) {
                    continue;
                }
                let fields =
                    json!({ "title": loan.title, "due": loan.due_at.to_string(), "days": days });
                if let Some(reply) = self.render(AlertKind::LibraryDue, &fields) {
                    planned.push(PlannedAlert {
                        openid: openid.clone(),
                        kind: AlertKind::LibraryDue,
                        dedup: format!(
                            "lib:{}:{}:{}",
                            binding.student_id.as_str(),
                            loan.barcode,
                            loan.due_at
                        ),
                        day: today.to_string(),
                        reply,
                    });
                }
            }
        }
        if !planned.is_empty() {
            self.commit(&planned, None, now).await?;
        }
        Ok(())
    }

    fn prune(&self) {
        let now = chrono::Utc::now().timestamp();
        let today = self.campus_day(now);
        match self.store.alerts().prune(now - MARKER_KEEP_SECS, &today) {
            Ok(n) if n > 0 => tracing::info!(dropped = n, "alerts: old markers pruned"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alerts: pruning failed"),
        }
    }

    fn render(&self, kind: AlertKind, fields: &Value) -> Option<Reply> {
        let key = format!("alert.{}", kind.as_str());
        match self.rules.current().message(&key, fields) {
            Ok(text) => Some(Reply::Text(text)),
            Err(e) => {
                tracing::error!(message = %key, error = %e, "alert message failed to render; not sent");
                None
            }
        }
    }

    fn local_date(&self, now: i64) -> chrono::NaiveDate {
        local_date(now, self.utc_offset_hours)
    }

    fn campus_day(&self, now: i64) -> String {
        campus_day(now, self.utc_offset_hours)
    }

    fn local_time(&self, at: &chrono::DateTime<chrono::FixedOffset>) -> String {
        let offset = crate::settings::campus_offset(self.utc_offset_hours);
        at.with_timezone(&offset).format("%m-%d %H:%M").to_string()
    }
}

/// Which of the holder's switches a transaction trips, with the threshold where one applies.
fn kinds_set_off(prefs: &AlertPrefs, item: &TransactionFeedItem) -> Vec<(AlertKind, Option<i64>)> {
    let tx = &item.transaction;
    let out_going = tx.direction == Direction::Out;
    let mut kinds = Vec::new();
    if item.card_lost && prefs.lost_card_use && out_going {
        kinds.push((AlertKind::LostCardUse, None));
    }
    if let Some(limit) = prefs.large_transaction_fen
        && out_going
        && tx.amount_fen.fen() >= limit
    {
        kinds.push((AlertKind::LargeTransaction, Some(limit)));
    }
    // Only when this transaction takes the balance below the threshold: one alert per crossing.
    if let Some(threshold) = prefs.low_balance_fen
        && out_going
        && tx.balance_after_fen.fen() < threshold
        && tx.balance_after_fen.fen() + tx.amount_fen.fen() >= threshold
    {
        kinds.push((AlertKind::LowBalance, Some(threshold)));
    }
    let is_top_up = matches!(
        tx.tx_type,
        TxType::LoadBank | TxType::LoadCash | TxType::LoadOnline
    );
    if is_top_up && prefs.top_up {
        kinds.push((AlertKind::TopUp, None));
    }
    let is_payment = matches!(tx.tx_type, TxType::BillPay | TxType::Refund);
    if is_payment && prefs.payment {
        kinds.push((AlertKind::Payment, None));
    }
    kinds
}

#[derive(Debug, thiserror::Error)]
enum AlertsError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("card system: {0}")]
    Card(#[from] crate::adapters::AdapterError),
}

/// What became of one ticket update for its reporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReporterUpdate {
    /// Queued for the pusher (customer-service message, else the template).
    Queued,
    /// The reporter switched ticket updates off in 「提醒设置」.
    SwitchedOff,
    /// The reporter already had today's `alerts.daily_caps.ticket_updates` updates.
    DailyCap,
    /// This change was queued before (a repeated request).
    AlreadyQueued,
}

impl ReporterUpdate {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::SwitchedOff => "switched_off",
            Self::DailyCap => "daily_cap",
            Self::AlreadyQueued => "already_queued",
        }
    }
}

/// Ticket updates go through the same bookkeeping as the feed's alerts: the reporter's switch,
/// the kind's daily cap, a marker per change, queued and flushed before the pusher is kicked.
/// Cheap to clone.
#[derive(Clone)]
pub struct TicketUpdates {
    store: Store,
    pusher: PusherHandle,
    daily_cap: u32,
    utc_offset_hours: i32,
}

impl TicketUpdates {
    pub fn new(
        store: Store,
        pusher: PusherHandle,
        settings: &AlertsSettings,
        utc_offset_hours: i32,
    ) -> Self {
        Self {
            store,
            pusher,
            daily_cap: settings.daily_caps.ticket_updates,
            utc_offset_hours,
        }
    }

    /// Queue `reply` for `openid` unless they switched ticket updates off or reached today's
    /// cap. `change` names the change uniquely (ticket number and history position), so a
    /// repeated call queues nothing twice.
    pub async fn tell(
        &self,
        openid: &OpenId,
        change: &str,
        reply: Reply,
    ) -> Result<ReporterUpdate, crate::store::StoreError> {
        let repo = self.store.alerts();
        if !repo.prefs(openid)?.is_on(AlertKind::TicketUpdates) {
            return Ok(ReporterUpdate::SwitchedOff);
        }
        let now = chrono::Utc::now().timestamp();
        let alert = PlannedAlert {
            openid: openid.clone(),
            kind: AlertKind::TicketUpdates,
            dedup: format!("ticket:{change}"),
            day: campus_day(now, self.utc_offset_hours),
            reply,
        };
        let done = repo.commit(&[alert], None, |_| self.daily_cap, now)?;
        self.store.flush().await?;
        Ok(if done.capped > 0 {
            metrics::counter!("onecard_alerts_capped_total").increment(1);
            ReporterUpdate::DailyCap
        } else if done.duplicates > 0 {
            ReporterUpdate::AlreadyQueued
        } else {
            metrics::counter!("onecard_alerts_planned_total", "kind" => AlertKind::TicketUpdates.as_str())
                .increment(1);
            self.pusher.push_queued(openid);
            ReporterUpdate::Queued
        })
    }
}

/// The campus day (`YYYY-MM-DD`) daily caps count in.
fn campus_day(now: i64, utc_offset_hours: i32) -> String {
    local_date(now, utc_offset_hours).to_string()
}

fn local_date(now: i64, utc_offset_hours: i32) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp(now + i64::from(utc_offset_hours) * 3600, 0)
        .unwrap_or_default()
        .date_naive()
}
