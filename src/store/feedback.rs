//! Users' free-text feedback (「反馈」), kept for the back office.
//!
//! Anyone who follows the account can write here, so it is bounded: a length per entry, a count
//! per user per campus day, and a count per user kept at all. An index by openid
//! (`feedback_by_user`: `{openid}\0{id}` → time) makes both the caps and the deletion on
//! unsubscribe a prefix scan of one user's entries, never a scan of all feedback.
//!
//! One user's messages are handled one at a time (the session actor), so the count-then-insert
//! here cannot race with itself; the entry and its index line are written in one transaction.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{StoreError, campus_day, to_json};
use crate::domain::OpenId;

/// Longest entry kept, in characters.
pub const FEEDBACK_MAX_CHARS: usize = 500;
/// Entries one user may leave per campus day.
pub const FEEDBACK_PER_USER_PER_DAY: usize = 5;
/// Entries kept per user at most (until the back office handles them or the user leaves).
pub const FEEDBACK_PER_USER_KEPT: usize = 50;

#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    Kept,
    TooLong { max_chars: usize },
    DailyLimit { per_day: usize },
    UserFull { kept: usize },
}

#[derive(Clone)]
pub struct FeedbackRepo {
    db: sled::Db,
    entries: sled::Tree,
    by_user: sled::Tree,
}

fn user_prefix(openid: &OpenId) -> Vec<u8> {
    let mut prefix = openid.as_str().as_bytes().to_vec();
    prefix.push(0);
    prefix
}

impl FeedbackRepo {
    pub(super) fn new(db: sled::Db, entries: sled::Tree, by_user: sled::Tree) -> Self {
        Self {
            db,
            entries,
            by_user,
        }
    }

    /// Keep `text` from `openid`, unless it is too long or the user has reached a cap.
    pub fn add(
        &self,
        openid: &OpenId,
        text: &str,
        now: i64,
        utc_offset_hours: i32,
    ) -> Result<Kept, StoreError> {
        if text.chars().count() > FEEDBACK_MAX_CHARS {
            return Ok(Kept::TooLong {
                max_chars: FEEDBACK_MAX_CHARS,
            });
        }
        let today = campus_day(now, utc_offset_hours);
        let (mut kept, mut today_count) = (0, 0);
        for item in self.by_user.scan_prefix(user_prefix(openid)) {
            let (_, at) = item?;
            kept += 1;
            let at = i64::from_be_bytes(at.as_ref().try_into().unwrap_or_default());
            if campus_day(at, utc_offset_hours) == today {
                today_count += 1;
            }
        }
        if today_count >= FEEDBACK_PER_USER_PER_DAY {
            return Ok(Kept::DailyLimit {
                per_day: FEEDBACK_PER_USER_PER_DAY,
            });
        }
        if kept >= FEEDBACK_PER_USER_KEPT {
            return Ok(Kept::UserFull { kept });
        }
        let id = self.db.generate_id()?.to_be_bytes();
        let mut index_key = user_prefix(openid);
        index_key.extend_from_slice(&id);
        let record = to_json(&serde_json::json!({
            "openid": openid.as_str(), "text": text, "at": now,
        }));
        (&self.entries, &self.by_user)
            .transaction(|(entries, by_user)| {
                entries.insert(&id[..], record.clone())?;
                by_user.insert(index_key.clone(), &now.to_be_bytes()[..])?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx_error)?;
        Ok(Kept::Kept)
    }

    /// Remove every entry of `openid` (on unsubscribe). Returns how many there were.
    pub fn remove_user(&self, openid: &OpenId) -> Result<usize, StoreError> {
        let prefix = user_prefix(openid);
        let mut removed = 0;
        for item in self.by_user.scan_prefix(&prefix) {
            let (index_key, _) = item?;
            let id = index_key[prefix.len()..].to_vec();
            (&self.entries, &self.by_user)
                .transaction(|(entries, by_user)| {
                    entries.remove(id.as_slice())?;
                    by_user.remove(index_key.as_ref())?;
                    Ok::<(), ConflictableTransactionError<StoreError>>(())
                })
                .map_err(tx_error)?;
            removed += 1;
        }
        Ok(removed)
    }

    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// Index entries written before the index existed (once, at open: when the index is empty
    /// and there are entries).
    pub(super) fn index_old_entries(&self) -> Result<(), StoreError> {
        if !self.by_user.is_empty() || self.entries.is_empty() {
            return Ok(());
        }
        for item in self.entries.iter() {
            let (id, value) = item?;
            let Ok(record) = serde_json::from_slice::<serde_json::Value>(&value) else {
                continue;
            };
            let (Some(openid), Some(at)) = (record["openid"].as_str(), record["at"].as_i64())
            else {
                continue;
            };
            let mut index_key = openid.as_bytes().to_vec();
            index_key.push(0);
            index_key.extend_from_slice(&id);
            self.by_user.insert(index_key, &at.to_be_bytes()[..])?;
        }
        Ok(())
    }
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// 2025-12-01 00:00 campus time at UTC+8.
    const CAMPUS_MIDNIGHT: i64 = 1_764_547_200 - 8 * 3600;

    fn user(n: u32) -> OpenId {
        OpenId::parse(&format!("oFeedback{n:018}")).unwrap()
    }

    #[test]
    fn five_entries_per_user_per_campus_day_of_at_most_500_characters() {
        let store = Store::temporary().unwrap();
        let feedback = store.feedback();
        let now = CAMPUS_MIDNIGHT + 3600;
        assert_eq!(
            feedback.add(&user(1), &"长".repeat(501), now, 8).unwrap(),
            Kept::TooLong { max_chars: 500 }
        );
        for i in 0..5 {
            assert_eq!(
                feedback
                    .add(&user(1), &"好".repeat(500), now + i, 8)
                    .unwrap(),
                Kept::Kept
            );
        }
        assert_eq!(
            feedback.add(&user(1), "再来一条", now + 10, 8).unwrap(),
            Kept::DailyLimit { per_day: 5 }
        );
        // Another user is not affected; the same user can write again the next campus day.
        assert_eq!(feedback.add(&user(2), "你好", now, 8).unwrap(), Kept::Kept);
        assert_eq!(
            feedback
                .add(&user(1), "第二天", CAMPUS_MIDNIGHT + 86_400, 8)
                .unwrap(),
            Kept::Kept
        );
        assert_eq!(feedback.count(), 7);
    }

    #[test]
    fn at_most_fifty_entries_are_kept_per_user() {
        let store = Store::temporary().unwrap();
        let feedback = store.feedback();
        for day in 0..10 {
            for i in 0..5 {
                let at = CAMPUS_MIDNIGHT + day * 86_400 + i;
                assert_eq!(feedback.add(&user(3), "意见", at, 8).unwrap(), Kept::Kept);
            }
        }
        assert_eq!(
            feedback
                .add(&user(3), "意见", CAMPUS_MIDNIGHT + 10 * 86_400, 8)
                .unwrap(),
            Kept::UserFull { kept: 50 }
        );
    }

    #[test]
    fn entries_kept_before_the_index_existed_are_indexed_at_open() {
        let store = Store::temporary().unwrap();
        let old = serde_json::json!({ "openid": user(4).as_str(), "text": "旧意见", "at": 1 });
        store
            .inner
            .feedback
            .insert(7u64.to_be_bytes(), to_json(&old))
            .unwrap();
        store.feedback().index_old_entries().unwrap();
        assert_eq!(store.feedback().remove_user(&user(4)).unwrap(), 1);
        assert_eq!(store.feedback().count(), 0);
    }

    #[test]
    fn removing_a_user_takes_only_their_entries() {
        let store = Store::temporary().unwrap();
        let feedback = store.feedback();
        for n in 1..=3 {
            feedback.add(&user(n), "意见", CAMPUS_MIDNIGHT, 8).unwrap();
            feedback
                .add(&user(n), "建议", CAMPUS_MIDNIGHT + 1, 8)
                .unwrap();
        }
        assert_eq!(feedback.remove_user(&user(2)).unwrap(), 2);
        assert_eq!(feedback.count(), 4);
        assert_eq!(feedback.remove_user(&user(2)).unwrap(), 0);
    }
}
