//! The store: every piece of state that must survive a restart, behind typed repositories.
//!
//! sled (pinned to the stable 0.34.7 line) is reached only from this module, so another engine
//! can replace it without touching callers: nothing outside `store` sees a `sled::` type.
//! Values are JSON (readable with `onecard store export`, stable across field additions);
//! keys are UTF-8 strings.
//!
//! Durability: sled fsyncs in the background every 500 ms. Writes whose loss a user would
//! notice (a binding, a queued reply, a counter that enforces a limit) await
//! [`Store::flush`] before they are acknowledged; session dialog state rides the background
//! flush because losing the last half-second of a dialog only repeats a question.

mod alerts;
mod bills;
mod bindings;
mod codes;
mod content;
mod counters;
mod durable;
mod feedback;
pub mod orders;
#[cfg(test)]
mod orders_contract;
pub mod orders_sled;
mod outbox;
mod push;
pub mod reconcile;
pub mod reconcile_sled;
mod rules_snapshot;
mod sessions;
mod tickets;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use durable::flush_durably;

pub use alerts::{AlertKind, AlertPrefs, AlertsRepo, Committed, FeedCursor, PlannedAlert};
pub use bills::{BillsRepo, CohortTotals};
pub use bindings::{Binding, BindingsRepo};
pub use codes::{Check, CodeLimits, CodesRepo, Issue, Purpose, campus_day};
pub use content::{
    Audience, Category, ContentError, ContentItem, ContentRepo, ContentState, GuideTopic,
    ItemField, Reader, parse_document, read_dir as read_content_dir, read_document,
};
pub use counters::CountersRepo;
pub use feedback::{
    FEEDBACK_MAX_CHARS, FEEDBACK_PER_USER_KEPT, FEEDBACK_PER_USER_PER_DAY, FeedbackRepo, Kept,
};
pub use orders::OrderStore;
pub use orders_sled::SledOrders;
pub use outbox::{OutboxEntry, OutboxRepo, PendingReply, ReplyState, StoredReply, UnfinishedJob};
pub use push::{Delivery, DeliveryCounts, JobState, MassSend, PushChannel, PushJob, PushRepo};
pub use reconcile::ReconStore;
pub use reconcile_sled::SledRecon;
pub use rules_snapshot::RulesSnapshotRepo;
pub use sessions::{Dialog, MoreCursor, SessionRecord, SessionsRepo};
pub use tickets::{
    Actor, Change, Photo, PhotoInfo, Ticket, TicketCategory, TicketError, TicketEvent, TicketState,
    TicketsRepo,
};

use crate::domain::OpenId;

/// The `meta` key of the generated code key.
const CODE_KEY: &str = "code_key";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine error: {0}")]
    Engine(String),
    #[error("corrupt record in {tree}: {source}")]
    Corrupt {
        tree: &'static str,
        source: serde_json::Error,
    },
    #[error("that card is already bound to another WeChat user")]
    CardTaken,
    #[error("this WeChat user is already bound to a card")]
    AlreadyBound,
    #[error("no order {0}")]
    OrderNotFound(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

/// Handle to the whole store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    inner: Arc<Trees>,
    /// Key of the HMACs over verification codes and limit-counter keys: from the config when
    /// set there, else generated once and kept in the `meta` tree.
    code_key: Arc<[u8]>,
}

struct Trees {
    sessions: sled::Tree,
    bindings: sled::Tree,
    bindings_by_student: sled::Tree,
    outbox: sled::Tree,
    late_jobs: sled::Tree,
    outbox_expired: sled::Tree,
    counters: sled::Tree,
    audit: sled::Tree,
    feedback: sled::Tree,
    /// `{openid}\0{feedback id}` → time: one user's feedback without scanning it all.
    feedback_by_user: sled::Tree,
    content: sled::Tree,
    /// Copies kept for a restart (the last good rule files).
    snapshots: sled::Tree,
    tickets: sled::Tree,
    alert_prefs: sled::Tree,
    /// The alerts consumer's cursor, markers and daily counts.
    alerts: sled::Tree,
    push_jobs: sled::Tree,
    /// job id ++ openid → one recipient's outcome.
    push_deliveries: sled::Tree,
    /// Users who said 「退订新闻」.
    news_optout: sled::Tree,
}

impl Store {
    /// Open (or create) the store in `dir`. An open failure names the path and how to restore:
    /// the platform never silently starts empty over a damaged store.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.max(8) * 1024 * 1024)
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| {
                StoreError::Engine(format!(
                    "cannot open the store at {}: {e} (restore it from the last `onecard store export` file, or move the directory away to start empty)",
                    dir.display()
                ))
            })?;
        Self::from_db(db)
    }

    /// [`Store::open`], trying again for up to `within` while it fails: for tests and tools that
    /// reopen a store their own process has just let go of, whose last handle can be a flush
    /// finishing on sled's own thread a moment after its caller moved on. A store another
    /// process holds is still refused, once `within` has passed.
    pub fn open_when_released(
        dir: &Path,
        cache_mb: u64,
        within: Duration,
    ) -> Result<Self, StoreError> {
        let deadline = Instant::now() + within;
        loop {
            match Self::open(dir, cache_mb) {
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                opened => return opened,
            }
        }
    }

    /// A throwaway store in a temporary location (deleted on drop), for unit tests and benches.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let meta = db.open_tree("meta")?;
        let code_key: Arc<[u8]> = match meta.get(CODE_KEY)? {
            Some(key) if key.len() == 32 => Arc::from(key.as_ref()),
            _ => {
                let key: [u8; 32] = rand::random();
                meta.insert(CODE_KEY, &key[..])?;
                db.flush()?;
                Arc::from(&key[..])
            }
        };
        let inner = Trees {
            sessions: db.open_tree("sessions")?,
            bindings: db.open_tree("bindings")?,
            bindings_by_student: db.open_tree("bindings_by_student")?,
            outbox: db.open_tree("outbox")?,
            late_jobs: db.open_tree("late_jobs")?,
            outbox_expired: db.open_tree("outbox_expired")?,
            counters: db.open_tree("counters")?,
            audit: db.open_tree("audit")?,
            feedback: db.open_tree("feedback")?,
            feedback_by_user: db.open_tree("feedback_by_user")?,
            content: db.open_tree("content")?,
            snapshots: db.open_tree("snapshots")?,
            tickets: db.open_tree("tickets")?,
            alert_prefs: db.open_tree("alert_prefs")?,
            alerts: db.open_tree("alerts")?,
            push_jobs: db.open_tree("push_jobs")?,
            push_deliveries: db.open_tree("push_deliveries")?,
            news_optout: db.open_tree("news_optout")?,
        };
        let store = Self {
            db,
            inner: Arc::new(inner),
            code_key,
        };
        store.feedback().index_old_entries()?;
        Ok(store)
    }

    /// Use `secret` (from the config or environment) as the code key instead of the one kept
    /// in the store. Codes pending under the old key stop matching; they live five minutes.
    pub fn with_code_secret(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            self.code_key = Arc::from(secret.as_bytes());
        }
        self
    }

    pub fn sessions(&self) -> SessionsRepo {
        SessionsRepo::new(self.inner.sessions.clone())
    }
    pub fn bindings(&self) -> BindingsRepo {
        BindingsRepo::new(
            self.inner.bindings.clone(),
            self.inner.bindings_by_student.clone(),
        )
    }
    pub fn outbox(&self) -> OutboxRepo {
        OutboxRepo::new(
            self.inner.outbox.clone(),
            self.inner.late_jobs.clone(),
            self.inner.outbox_expired.clone(),
            self.db.clone(),
        )
    }
    pub fn counters(&self) -> CountersRepo {
        CountersRepo::new(self.inner.counters.clone())
    }
    pub fn rules_snapshot(&self) -> RulesSnapshotRepo {
        RulesSnapshotRepo::new(self.inner.snapshots.clone(), self.db.clone())
    }
    pub fn codes(&self) -> CodesRepo {
        CodesRepo::new(self.inner.counters.clone(), self.code_key.clone())
    }
    /// Orders (top-ups and payments) on the system clock; see [`orders::OrderStore`].
    pub fn orders(&self) -> Result<SledOrders, StoreError> {
        self.orders_with_clock(Arc::new(orders::SystemClock))
    }
    /// Orders on a given clock (tests move it by hand to expire leases).
    pub fn orders_with_clock(
        &self,
        clock: Arc<dyn orders::OrderClock>,
    ) -> Result<SledOrders, StoreError> {
        SledOrders::open(&self.db, clock)
    }
    /// Reconciliation results, holding pool and manual queue; see [`reconcile::ReconStore`].
    pub fn reconcile(&self) -> Result<SledRecon, StoreError> {
        SledRecon::open(&self.db)
    }
    pub fn content(&self) -> ContentRepo {
        ContentRepo::new(self.inner.content.clone())
    }
    /// Cohort spending distributions for the fun bill.
    pub fn bills(&self) -> Result<BillsRepo, StoreError> {
        BillsRepo::open(&self.db)
    }
    pub fn tickets(&self) -> TicketsRepo {
        TicketsRepo::new(self.inner.tickets.clone())
    }
    pub fn alerts(&self) -> AlertsRepo {
        AlertsRepo::new(
            self.inner.alert_prefs.clone(),
            self.inner.alerts.clone(),
            self.outbox(),
        )
    }
    pub fn push(&self) -> PushRepo {
        PushRepo::new(
            self.inner.push_jobs.clone(),
            self.inner.push_deliveries.clone(),
            self.inner.news_optout.clone(),
        )
    }

    /// Clear a card's binding counters for today (the service desk's unlock, after checking
    /// the owner's ID) and record who was unlocked in the audit trail. The caller flushes.
    pub fn unlock_card_binding(
        &self,
        student_id: &crate::domain::StudentId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let cleared = self
            .codes()
            .unlock(Purpose::Bind, student_id.as_str(), now)?;
        self.audit(&serde_json::json!({
            "event": "binding_unlocked",
            "student_id": student_id.as_str(),
            "cleared": cleared,
        }))?;
        Ok(cleared)
    }

    /// The key that signs links to personal pages (the fun bill), derived from the code key so
    /// a deployment has one secret to keep.
    pub fn link_key(&self) -> Vec<u8> {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.code_key)
            .expect("HMAC takes any key length");
        mac.update(b"onecard link key");
        mac.finalize().into_bytes().to_vec()
    }

    /// Wait until everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush_durably(&self.db).await
    }

    /// Append an audit event (who did what; never secrets or full personal numbers).
    pub fn audit(&self, event: &serde_json::Value) -> Result<(), StoreError> {
        let id = self.db.generate_id()?;
        let mut record = event.clone();
        if let Some(obj) = record.as_object_mut() {
            obj.insert("at".into(), chrono::Utc::now().timestamp().into());
        }
        self.inner
            .audit
            .insert(id.to_be_bytes(), to_json(&record))?;
        Ok(())
    }

    pub fn feedback(&self) -> FeedbackRepo {
        FeedbackRepo::new(
            self.db.clone(),
            self.inner.feedback.clone(),
            self.inner.feedback_by_user.clone(),
        )
    }

    /// Remove everything we hold about a user (WeChat requires it on unsubscribe): session,
    /// binding, queued replies, per-user counters, feedback and the news opt-out. Flushed before returning.
    pub async fn forget_user(&self, openid: &OpenId) -> Result<(), StoreError> {
        self.sessions().remove(openid)?;
        self.bindings().unbind(openid)?;
        self.outbox().forget(openid)?;
        self.counters()
            .remove_prefix(&format!("u:{}:", openid.as_str()))?;
        self.feedback().remove_user(openid)?;
        self.alerts().forget(openid)?;
        self.push().forget(openid)?;
        self.flush().await
    }

    /// Every tree as JSON lines `{"tree":..,"key":..,"value":..}`: the backup and migration format.
    pub fn export(&self, out: &mut dyn std::io::Write) -> Result<usize, StoreError> {
        let mut n = 0;
        for name in self.db.tree_names() {
            // The code key stays out of backups: a restore without it generates a new one,
            // which only voids codes pending at that moment.
            if name.as_ref() == b"meta" {
                continue;
            }
            let tree = self.db.open_tree(&name)?;
            let tree_name = String::from_utf8_lossy(&name).into_owned();
            for item in tree.iter() {
                let (k, v) = item?;
                let line = serde_json::json!({
                    "tree": tree_name,
                    "key": hex::encode(&k),
                    "value": String::from_utf8_lossy(&v),
                });
                writeln!(out, "{line}").map_err(|e| StoreError::Engine(e.to_string()))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Bytes on disk, for the `onecard_store_size_bytes` gauge.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { tree, source })
}
