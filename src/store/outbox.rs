//! Replies waiting for WeChat: everything the pusher still owes a user, kept on disk so that a
//! crash or a restart loses nothing.
//!
//! Three trees, each keyed by the user's openid first so that one user's records are one prefix
//! scan (and `forget` on unsubscribe never scans everyone's):
//! - `outbox`: replies not yet accepted by WeChat, in order. A reply is *due* (the pusher sends
//!   it now) or *held* (the customer-service window was closed: it waits for the user's next
//!   message). A reply leaves this tree only when WeChat accepted it, or when it expired.
//! - `late_jobs`: messages whose callback was answered "success" before their result existed.
//!   The record is written before that "success" and replaced by the replies in one
//!   transaction when the result is known; one still here at start-up is run again.
//! - `outbox_expired`: per user, how many replies expired undelivered (WeChat's 48 h window),
//!   so the user can be told at their next message.
//!
//! The caller flushes the store after each change it must not lose.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;
use crate::wechat::Reply;

/// A key and value to insert into the replies tree.
pub(crate) type Row = (Vec<u8>, Vec<u8>);

/// A reply WeChat has not accepted yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReply {
    pub reply: StoredReply,
    pub created_at: i64,
    /// Records written before replies could be due were all held for the user's next message.
    #[serde(default)]
    pub state: ReplyState,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyState {
    /// To be pushed now (and again after a restart).
    Due,
    /// The window was closed: waits for the user's next message.
    #[default]
    Held,
}

/// The store's own copy of a reply, so the protocol type can change without a migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredReply {
    Text {
        content: String,
    },
    News {
        title: String,
        description: String,
        pic_url: String,
        url: String,
    },
}

impl From<&Reply> for StoredReply {
    fn from(r: &Reply) -> Self {
        match r {
            Reply::Text(content) => StoredReply::Text {
                content: content.clone(),
            },
            Reply::News(a) => StoredReply::News {
                title: a.title.clone(),
                description: a.description.clone(),
                pic_url: a.pic_url.clone(),
                url: a.url.clone(),
            },
        }
    }
}

impl From<StoredReply> for Reply {
    fn from(r: StoredReply) -> Self {
        match r {
            StoredReply::Text { content } => Reply::Text(content),
            StoredReply::News {
                title,
                description,
                pic_url,
                url,
            } => Reply::News(crate::wechat::Article {
                title,
                description,
                pic_url,
                url,
            }),
        }
    }
}

/// One stored reply and its place in the user's queue.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// openid, 0, sequence number (big-endian): the user's replies sort in the order they were
    /// produced.
    key: Vec<u8>,
    pub pending: PendingReply,
}

impl OutboxEntry {
    /// This reply's `client_msg_id` for a template message: the same on every attempt (the
    /// sequence number is never reused), so a send repeated after a lost answer is delivered
    /// once (WeChat keeps one message per openid + `client_msg_id` for 10 minutes).
    pub fn client_msg_id(&self) -> String {
        let seq = self
            .key
            .len()
            .checked_sub(8)
            .and_then(|at| <[u8; 8]>::try_from(&self.key[at..]).ok())
            .map_or(0, u64::from_be_bytes);
        format!("onecard-reply-{seq}")
    }
}

/// A message answered "success" whose result was not known yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JobRecord {
    /// The inbound message as WeChat sent it (XML), to run it again after a crash.
    message: String,
    received_at: i64,
}

/// A late message still without a result (found at start-up: the process stopped first).
#[derive(Debug, Clone)]
pub struct UnfinishedJob {
    pub openid: OpenId,
    /// The delivery's dedup key: names the job when its result is handed over.
    pub key: String,
    /// The inbound message XML.
    pub message: String,
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct ExpiredRecord {
    count: u32,
    /// When the last reply expired (markers themselves expire after a while).
    at: i64,
}

#[derive(Clone)]
pub struct OutboxRepo {
    replies: sled::Tree,
    jobs: sled::Tree,
    expired: sled::Tree,
    db: sled::Db,
}

fn prefix(openid: &OpenId) -> Vec<u8> {
    let mut p = openid.as_str().as_bytes().to_vec();
    p.push(0);
    p
}

fn job_key(openid: &OpenId, key: &str) -> Vec<u8> {
    let mut k = prefix(openid);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The openid a key starts with.
fn owner(key: &[u8]) -> Option<OpenId> {
    let end = key.iter().position(|b| *b == 0).unwrap_or(key.len());
    OpenId::parse(&String::from_utf8_lossy(&key[..end])).ok()
}

fn abort_free<T>(result: Result<T, TransactionError<()>>) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        TransactionError::Abort(()) => StoreError::Engine("transaction aborted".into()),
        TransactionError::Storage(e) => e.into(),
    })
}

impl OutboxRepo {
    pub(super) fn new(
        replies: sled::Tree,
        jobs: sled::Tree,
        expired: sled::Tree,
        db: sled::Db,
    ) -> Self {
        Self {
            replies,
            jobs,
            expired,
            db,
        }
    }

    fn new_key(&self, openid: &OpenId) -> Result<Vec<u8>, StoreError> {
        let mut key = prefix(openid);
        key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        Ok(key)
    }

    /// Remember a message whose callback is about to be answered "success" before its result
    /// exists. The caller flushes before answering.
    pub fn keep_job(
        &self,
        openid: &OpenId,
        key: &str,
        message_xml: &str,
        received_at: i64,
    ) -> Result<(), StoreError> {
        let record = JobRecord {
            message: message_xml.to_owned(),
            received_at,
        };
        self.jobs.insert(job_key(openid, key), to_json(&record))?;
        Ok(())
    }

    /// Late messages still without a result, oldest key first.
    pub fn unfinished_jobs(&self) -> Result<Vec<UnfinishedJob>, StoreError> {
        let mut out = Vec::new();
        for item in self.jobs.iter() {
            let (k, v) = item?;
            let Some(openid) = owner(&k) else { continue };
            let record: JobRecord = from_json("late_jobs", &v)?;
            let key = String::from_utf8_lossy(&k[openid.as_str().len() + 1..]).into_owned();
            out.push(UnfinishedJob {
                openid,
                key,
                message: record.message,
                received_at: record.received_at,
            });
        }
        Ok(out)
    }

    /// Queue replies as due, and — in the same transaction — retire the late job that produced
    /// them, so a restart either runs the job again or pushes its replies, never both.
    pub fn hand_over(
        &self,
        openid: &OpenId,
        job: Option<&str>,
        replies: &[Reply],
        now: i64,
    ) -> Result<(), StoreError> {
        let rows = self.due_rows(openid, replies, now)?;
        let job = job.map(|k| job_key(openid, k));
        abort_free((&self.jobs, &self.replies).transaction(|(jobs, replies)| {
            if let Some(k) = &job {
                jobs.remove(k.as_slice())?;
            }
            for (k, v) in &rows {
                replies.insert(k.as_slice(), v.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        }))
    }

    /// The rows that queue `replies` as due, for a producer that writes them in its own
    /// transaction together with [`OutboxRepo::replies_tree`] (so its own bookkeeping and the
    /// queued replies land together) and flushes; the pusher then sends them when kicked.
    pub(crate) fn due_rows(
        &self,
        openid: &OpenId,
        replies: &[Reply],
        now: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::with_capacity(replies.len());
        for r in replies {
            let pending = PendingReply {
                reply: r.into(),
                created_at: now,
                state: ReplyState::Due,
            };
            rows.push((self.new_key(openid)?, to_json(&pending)));
        }
        Ok(rows)
    }

    pub(crate) fn replies_tree(&self) -> &sled::Tree {
        &self.replies
    }

    /// Every stored reply of a user, in order.
    pub fn entries(&self, openid: &OpenId) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.replies.scan_prefix(prefix(openid)) {
            let (k, v) = item?;
            out.push(OutboxEntry {
                key: k.to_vec(),
                pending: from_json("outbox", &v)?,
            });
        }
        Ok(out)
    }

    /// WeChat accepted it (or it can never be sent): forget it.
    pub fn remove(&self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        Ok(self.replies.remove(&entry.key)?.is_some())
    }

    /// The window was closed: these wait for the user's next message.
    pub fn hold(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
        for e in entries {
            let pending = PendingReply {
                state: ReplyState::Held,
                ..e.pending.clone()
            };
            self.set_if_present(&e.key, &pending)?;
        }
        Ok(())
    }

    /// Rewrite a record only if it is still there: a concurrent push or expiry may have
    /// removed it, and it must not come back.
    fn set_if_present(&self, key: &[u8], pending: &PendingReply) -> Result<(), StoreError> {
        let value = to_json(pending);
        self.replies
            .update_and_fetch(key, |old| old.map(|_| value.clone()))?;
        Ok(())
    }

    /// The user wrote: every held reply becomes due. Returns how many.
    pub fn release(&self, openid: &OpenId) -> Result<usize, StoreError> {
        let mut n = 0;
        for e in self.entries(openid)? {
            if e.pending.state == ReplyState::Held {
                let due = PendingReply {
                    state: ReplyState::Due,
                    ..e.pending.clone()
                };
                self.set_if_present(&e.key, &due)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// A reply that can no longer be sent: remove it and count it for the user's next message.
    pub fn expire(&self, entry: &OutboxEntry, now: i64) -> Result<(), StoreError> {
        if self.replies.remove(&entry.key)?.is_none() {
            return Ok(());
        }
        let Some(openid) = owner(&entry.key) else {
            return Ok(());
        };
        self.expired.update_and_fetch(openid.as_str(), |old| {
            let count = old
                .and_then(|v| serde_json::from_slice::<ExpiredRecord>(v).ok())
                .map_or(0, |r| r.count);
            Some(to_json(&ExpiredRecord {
                count: count.saturating_add(1),
                at: now,
            }))
        })?;
        Ok(())
    }

    /// Expire every reply created before `cutoff`. Returns the users that lost one.
    pub fn expire_older_than(&self, cutoff: i64, now: i64) -> Result<Vec<OpenId>, StoreError> {
        let mut old = Vec::new();
        for item in self.replies.iter() {
            let (k, v) = item?;
            let pending: PendingReply = from_json("outbox", &v)?;
            if pending.created_at < cutoff {
                old.push(OutboxEntry {
                    key: k.to_vec(),
                    pending,
                });
            }
        }
        let mut users: Vec<OpenId> = Vec::new();
        for e in &old {
            self.expire(e, now)?;
            if let Some(o) = owner(&e.key)
                && users.last() != Some(&o)
            {
                users.push(o);
            }
        }
        Ok(users)
    }

    /// How many of the user's replies expired since they were last told, and forget it.
    pub fn take_expired(&self, openid: &OpenId) -> Result<u32, StoreError> {
        Ok(match self.expired.remove(openid.as_str())? {
            Some(v) => from_json::<ExpiredRecord>("outbox_expired", &v)?.count,
            None => 0,
        })
    }

    /// Drop expiry notes older than `cutoff` (a user who never writes again is never told).
    pub fn forget_expired_before(&self, cutoff: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.expired.iter() {
            let (k, v) = item?;
            let record: ExpiredRecord = from_json("outbox_expired", &v)?;
            if record.at < cutoff {
                self.expired.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Users with a reply in `state`, each once.
    pub fn users_with(&self, state: ReplyState) -> Result<Vec<OpenId>, StoreError> {
        let mut users: Vec<OpenId> = Vec::new();
        for item in self.replies.iter() {
            let (k, v) = item?;
            let pending: PendingReply = from_json("outbox", &v)?;
            if pending.state == state
                && let Some(o) = owner(&k)
                && users.last() != Some(&o)
            {
                users.push(o);
            }
        }
        Ok(users)
    }

    /// Users to tell that a reply expired.
    pub fn users_with_expired(&self) -> Result<Vec<OpenId>, StoreError> {
        let mut users = Vec::new();
        for item in self.expired.iter() {
            let (k, _) = item?;
            users.extend(owner(&k));
        }
        Ok(users)
    }

    /// Everything kept for a user (unsubscribe).
    pub fn forget(&self, openid: &OpenId) -> Result<(), StoreError> {
        for tree in [&self.replies, &self.jobs] {
            for item in tree.scan_prefix(prefix(openid)) {
                let (k, _) = item?;
                tree.remove(k)?;
            }
        }
        self.expired.remove(openid.as_str())?;
        Ok(())
    }

    /// Replies not yet accepted by WeChat.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Late messages without a result yet.
    pub fn jobs_len(&self) -> usize {
        self.jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn user(n: u8) -> OpenId {
        OpenId::parse(&format!("oOutboxTestUser00000000000{n:02}")).unwrap()
    }

    fn text(s: &str) -> Reply {
        Reply::Text(s.into())
    }

    fn texts(entries: &[OutboxEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match Reply::from(e.pending.reply.clone()) {
                Reply::Text(t) => t,
                Reply::News(a) => a.title,
            })
            .collect()
    }

    #[test]
    fn handing_over_a_late_result_retires_its_job_in_the_same_step() {
        let store = Store::temporary().unwrap();
        let outbox = store.outbox();
        let u = user(1);
        outbox.keep_job(&u, "m:u:1", "<xml/>", 100).unwrap();
        let jobs = outbox.unfinished_jobs().unwrap();
        assert_eq!(
            (jobs.len(), jobs[0].key.as_str(), jobs[0].received_at),
            (1, "m:u:1", 100)
        );
        outbox
            .hand_over(&u, Some("m:u:1"), &[text("a"), text("b")], 101)
            .unwrap();
        assert_eq!(outbox.jobs_len(), 0);
        let entries = outbox.entries(&u).unwrap();
        assert_eq!(texts(&entries), ["a", "b"]);
        assert!(entries.iter().all(|e| e.pending.state == ReplyState::Due));
    }

    #[test]
    fn held_replies_wait_for_release_and_keep_their_order() {
        let store = Store::temporary().unwrap();
        let outbox = store.outbox();
        let u = user(2);
        outbox
            .hand_over(&u, None, &[text("1"), text("2"), text("3")], 10)
            .unwrap();
        let entries = outbox.entries(&u).unwrap();
        assert!(outbox.remove(&entries[0]).unwrap());
        outbox.hold(&entries[1..]).unwrap();
        assert_eq!(outbox.users_with(ReplyState::Due).unwrap(), vec![]);
        assert_eq!(
            outbox.users_with(ReplyState::Held).unwrap(),
            vec![u.clone()]
        );
        assert_eq!(outbox.release(&u).unwrap(), 2);
        let entries = outbox.entries(&u).unwrap();
        assert_eq!(texts(&entries), ["2", "3"]);
        assert!(entries.iter().all(|e| e.pending.state == ReplyState::Due));
    }

    #[test]
    fn expired_replies_are_counted_once_for_the_users_next_message() {
        let store = Store::temporary().unwrap();
        let outbox = store.outbox();
        let (old, new) = (user(3), user(4));
        outbox
            .hand_over(&old, None, &[text("x"), text("y")], 1_000)
            .unwrap();
        outbox.hand_over(&new, None, &[text("z")], 9_000).unwrap();
        assert_eq!(
            outbox.expire_older_than(5_000, 9_000).unwrap(),
            vec![old.clone()]
        );
        assert!(outbox.entries(&old).unwrap().is_empty());
        assert_eq!(outbox.entries(&new).unwrap().len(), 1);
        assert_eq!(outbox.users_with_expired().unwrap(), vec![old.clone()]);
        assert_eq!(outbox.take_expired(&old).unwrap(), 2);
        assert_eq!(outbox.take_expired(&old).unwrap(), 0);
    }

    #[test]
    fn expiry_notes_themselves_expire() {
        let store = Store::temporary().unwrap();
        let outbox = store.outbox();
        let u = user(5);
        outbox.hand_over(&u, None, &[text("x")], 0).unwrap();
        outbox.expire_older_than(10, 20).unwrap();
        assert_eq!(outbox.forget_expired_before(20).unwrap(), 0);
        assert_eq!(outbox.forget_expired_before(21).unwrap(), 1);
        assert_eq!(outbox.take_expired(&u).unwrap(), 0);
    }

    #[test]
    fn forget_removes_replies_jobs_and_notes_of_one_user_only() {
        let store = Store::temporary().unwrap();
        let outbox = store.outbox();
        let (gone, stays) = (user(6), user(7));
        for u in [&gone, &stays] {
            outbox.keep_job(u, "k", "<xml/>", 1).unwrap();
            outbox.hand_over(u, None, &[text("r")], 1).unwrap();
        }
        outbox.hand_over(&gone, None, &[text("old")], 0).unwrap();
        outbox.expire_older_than(1, 2).unwrap();
        outbox.forget(&gone).unwrap();
        assert!(outbox.entries(&gone).unwrap().is_empty());
        assert_eq!(outbox.take_expired(&gone).unwrap(), 0);
        assert_eq!(outbox.entries(&stays).unwrap().len(), 1);
        let jobs = outbox.unfinished_jobs().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].openid, stays);
    }

    #[test]
    fn records_from_before_due_replies_existed_read_as_held() {
        let old: PendingReply =
            serde_json::from_str(r#"{"reply":{"type":"text","content":"hi"},"created_at":5}"#)
                .unwrap();
        assert_eq!(old.state, ReplyState::Held);
    }
}
