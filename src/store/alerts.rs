//! Alerts people choose (提醒): each user's switches, and the bookkeeping that lets the feed
//! consumer survive a restart without missing or doubling an alert.
//!
//! It owns two trees: `alert_prefs` (openid → [`AlertPrefs`]) and `alerts` (the feed cursor,
//! one marker per alert queued, and per-user daily counts for the caps). A batch of alerts is
//! committed in one transaction together with the replies it queues in the outbox and the
//! cursor that passes them: a crash before the commit handles the batch again, a crash after it
//! finds the markers — so each alert is queued exactly once. It never sends anything: the
//! pusher delivers what is queued.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{OutboxRepo, StoreError, from_json, to_json};
use crate::domain::OpenId;
use crate::wechat::Reply;

/// The kinds of alert, each with its own switch and daily cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    LowBalance,
    LargeTransaction,
    LostCardUse,
    TopUp,
    Payment,
    LibraryDue,
    TicketUpdates,
}

impl AlertKind {
    /// In the order 「提醒设置」 numbers them (1–7).
    pub const ALL: [AlertKind; 7] = [
        Self::LowBalance,
        Self::LargeTransaction,
        Self::LostCardUse,
        Self::TopUp,
        Self::Payment,
        Self::LibraryDue,
        Self::TicketUpdates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowBalance => "low_balance",
            Self::LargeTransaction => "large_transaction",
            Self::LostCardUse => "lost_card_use",
            Self::TopUp => "top_up",
            Self::Payment => "payment",
            Self::LibraryDue => "library_due",
            Self::TicketUpdates => "ticket_updates",
        }
    }
}

/// One user's switches. Amounts in fen; `None` = off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertPrefs {
    /// Alert when the balance falls below this.
    pub low_balance_fen: Option<i64>,
    /// Alert on each payment of at least this.
    pub large_transaction_fen: Option<i64>,
    pub lost_card_use: bool,
    pub top_up: bool,
    pub payment: bool,
    pub library_due: bool,
    pub ticket_updates: bool,
}

impl Default for AlertPrefs {
    /// Only what protects the user or answers what they asked for is on by default: a lost card
    /// being used, and their own repair tickets.
    fn default() -> Self {
        Self {
            low_balance_fen: None,
            large_transaction_fen: None,
            lost_card_use: true,
            top_up: false,
            payment: false,
            library_due: false,
            ticket_updates: true,
        }
    }
}

impl AlertPrefs {
    pub fn is_on(&self, kind: AlertKind) -> bool {
        match kind {
            AlertKind::LowBalance => self.low_balance_fen.is_some(),
            AlertKind::LargeTransaction => self.large_transaction_fen.is_some(),
            AlertKind::LostCardUse => self.lost_card_use,
            AlertKind::TopUp => self.top_up,
            AlertKind::Payment => self.payment,
            AlertKind::LibraryDue => self.library_due,
            AlertKind::TicketUpdates => self.ticket_updates,
        }
    }
}

/// An alert the consumer decided to send, not yet committed.
#[derive(Debug, Clone)]
pub struct PlannedAlert {
    pub openid: OpenId,
    pub kind: AlertKind,
    /// Unique per alert and stable across runs (e.g. feed id, seq, kind): the marker.
    pub dedup: String,
    /// The campus day (`YYYY-MM-DD`) the daily cap counts in.
    pub day: String,
    pub reply: Reply,
}

/// What a commit did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Users with newly queued alerts (to kick the pusher for).
    pub queued: Vec<OpenId>,
    /// Already queued by an earlier run.
    pub duplicates: usize,
    /// Over the kind's daily cap: dropped (and marked, so a restart does not retry them).
    pub capped: usize,
}

/// Where the consumer is in the card system's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedCursor {
    pub feed_id: String,
    pub seq: u64,
}

const CURSOR_KEY: &[u8] = b"cursor";
const MARKER_PREFIX: &str = "m:";
const COUNT_PREFIX: &str = "n:";

#[derive(Clone)]
pub struct AlertsRepo {
    prefs: sled::Tree,
    state: sled::Tree,
    outbox: OutboxRepo,
}

impl AlertsRepo {
    pub(super) fn new(prefs: sled::Tree, state: sled::Tree, outbox: OutboxRepo) -> Self {
        Self {
            prefs,
            state,
            outbox,
        }
    }

    pub fn prefs(&self, openid: &OpenId) -> Result<AlertPrefs, StoreError> {
        match self.prefs.get(openid.as_str().as_bytes())? {
            Some(v) => from_json("alert_prefs", &v),
            None => Ok(AlertPrefs::default()),
        }
    }

    /// The caller flushes.
    pub fn set_prefs(&self, openid: &OpenId, prefs: &AlertPrefs) -> Result<(), StoreError> {
        self.prefs
            .insert(openid.as_str().as_bytes(), to_json(prefs))?;
        Ok(())
    }

    /// Users who switched library-due alerts on (checked on a schedule, not from the feed).
    pub fn with_library_due(&self) -> Result<Vec<OpenId>, StoreError> {
        let mut out = Vec::new();
        for item in self.prefs.iter() {
            let (k, v) = item?;
            let prefs: AlertPrefs = from_json("alert_prefs", &v)?;
            if prefs.library_due
                && let Ok(openid) = OpenId::parse(&String::from_utf8_lossy(&k))
            {
                out.push(openid);
            }
        }
        Ok(out)
    }

    pub fn forget(&self, openid: &OpenId) -> Result<(), StoreError> {
        self.prefs.remove(openid.as_str().as_bytes())?;
        Ok(())
    }

    pub fn cursor(&self) -> Result<Option<FeedCursor>, StoreError> {
        match self.state.get(CURSOR_KEY)? {
            Some(v) => Ok(Some(from_json("alerts", &v)?)),
            None => Ok(None),
        }
    }

    /// Queue `alerts` (each at most once, within its kind's daily cap from `cap`) and, with
    /// them, move the cursor to `cursor` if given — one transaction. The caller flushes, then
    /// kicks the pusher for [`Committed::queued`].
    pub fn commit(
        &self,
        alerts: &[PlannedAlert],
        cursor: Option<&FeedCursor>,
        cap: impl Fn(AlertKind) -> u32,
        now: i64,
    ) -> Result<Committed, StoreError> {
        // Keys come from the database's id generator, which must not run inside a transaction.
        let mut rows = Vec::with_capacity(alerts.len());
        for a in alerts {
            rows.push(
                self.outbox
                    .due_rows(&a.openid, std::slice::from_ref(&a.reply), now)?,
            );
        }
        let cursor = cursor.map(to_json);
        let result = (&self.state, self.outbox.replies_tree()).transaction(|(state, replies)| {
            let mut done = Committed::default();
            for (a, rows) in alerts.iter().zip(&rows) {
                let marker = format!("{MARKER_PREFIX}{}", a.dedup);
                if state.get(marker.as_bytes())?.is_some() {
                    done.duplicates += 1;
                    continue;
                }
                state.insert(marker.as_bytes(), now.to_be_bytes().to_vec())?;
                let count_key = format!(
                    "{COUNT_PREFIX}{}:{}:{}",
                    a.day,
                    a.kind.as_str(),
                    a.openid.as_str()
                );
                let count = state
                    .get(count_key.as_bytes())?
                    .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if count >= cap(a.kind) {
                    done.capped += 1;
                    continue;
                }
                state.insert(count_key.as_bytes(), (count + 1).to_be_bytes().to_vec())?;
                for (k, v) in rows {
                    replies.insert(k.as_slice(), v.as_slice())?;
                }
                if !done.queued.contains(&a.openid) {
                    done.queued.push(a.openid.clone());
                }
            }
            if let Some(c) = &cursor {
                state.insert(CURSOR_KEY, c.as_slice())?;
            }
            Ok::<_, ConflictableTransactionError<()>>(done)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(()) => StoreError::Engine("transaction aborted".into()),
            TransactionError::Storage(e) => e.into(),
        })
    }

    /// Drop markers and daily counts older than `before` (markers) / days before `day` (counts):
    /// they only guard against a rerun of the last batches.
    pub fn prune(&self, before: i64, day: &str) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for item in self.state.scan_prefix(MARKER_PREFIX.as_bytes()) {
            let (k, v) = item?;
            let at = <[u8; 8]>::try_from(v.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MIN);
            if at < before {
                self.state.remove(k)?;
                dropped += 1;
            }
        }
        for item in self.state.scan_prefix(COUNT_PREFIX.as_bytes()) {
            let (k, _) = item?;
            let key_day = String::from_utf8_lossy(&k[COUNT_PREFIX.len()..])
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            if key_day.as_str() < day {
                self.state.remove(k)?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ReplyState, Store};

    fn alert(user: &OpenId, dedup: &str, kind: AlertKind) -> PlannedAlert {
        PlannedAlert {
            openid: user.clone(),
            kind,
            dedup: dedup.into(),
            day: "2026-12-01".into(),
            reply: Reply::Text(format!("提醒 {dedup}")),
        }
    }

    #[test]
    fn a_batch_is_queued_once_within_the_daily_cap_and_moves_the_cursor() {
        let store = Store::temporary().unwrap();
        let repo = store.alerts();
        let user = OpenId::parse("oAlertsUser000000000000001").unwrap();
        let batch = vec![
            alert(&user, "f:1:low", AlertKind::LowBalance),
            alert(&user, "f:2:low", AlertKind::LowBalance),
            alert(&user, "f:2:large", AlertKind::LargeTransaction),
        ];
        let cursor = FeedCursor {
            feed_id: "f".into(),
            seq: 2,
        };
        let cap = |k| if k == AlertKind::LowBalance { 1 } else { 5 };
        let first = repo.commit(&batch, Some(&cursor), cap, 100).unwrap();
        assert_eq!(
            first,
            Committed {
                queued: vec![user.clone()],
                duplicates: 0,
                capped: 1
            }
        );
        assert_eq!(repo.cursor().unwrap(), Some(cursor.clone()));
        // The same batch again (a rerun after a crash): nothing more is queued.
        let again = repo.commit(&batch, Some(&cursor), cap, 101).unwrap();
        assert_eq!((again.queued.len(), again.duplicates), (0, 3));
        let queued: Vec<String> = store
            .outbox()
            .entries(&user)
            .unwrap()
            .into_iter()
            .filter(|e| e.pending.state == ReplyState::Due)
            .map(|e| match Reply::from(e.pending.reply) {
                Reply::Text(t) => t,
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(queued, ["提醒 f:1:low", "提醒 f:2:large"]);
        assert_eq!(repo.prune(101, "2026-12-02").unwrap(), 5);
    }
}
