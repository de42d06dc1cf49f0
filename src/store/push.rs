//! News push: jobs that deliver a published item to its audience, each recipient's outcome,
//! and who said 「退订新闻」.
//!
//! Three trees:
//! - `push_jobs`: job id (u64, big-endian) → [`PushJob`]. A job is created when an operator
//!   publishes with `--push` or runs `content push`; the push worker works through it and
//!   marks it done.
//! - `push_deliveries`: job id (big-endian) ++ openid → [`Delivery`]: one record per
//!   recipient, so a restart resumes where the last run stopped and never sends twice.
//! - `news_optout`: openid → when they unsubscribed from news pushes.
//!
//! The delivery record is the rule that keeps a push exactly-once: it says `sending` (with the
//! moment and the `client_msg_id`) *before* the request leaves, and `sent` / `failed` after
//! WeChat answered. A record still `sending` at start-up is in doubt; the worker decides what
//! to do with it (see `actors::push`). The caller flushes after each batch of changes.

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;
use crate::store::Audience;

/// How a job reaches its audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushChannel {
    /// 模板消息: one per user, within the daily quota of the template.
    Template,
    /// 群发 (`message/mass/sendall`): one call for everyone or a tag; a service account has
    /// four a month.
    Mass,
}

impl PushChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Mass => "mass",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "template" => Some(Self::Template),
            "mass" => Some(Self::Mass),
            _ => None,
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Finding the recipients (bindings matching the audience); safe to run again.
    Resolving,
    /// Sending to the recipients still pending.
    Sending,
    /// Every recipient has an outcome.
    Done,
    /// Given up as a whole (e.g. no mass-send quota left this month); `last_error` says why.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolving => "resolving",
            Self::Sending => "sending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Still work for the worker.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Resolving | Self::Sending)
    }
}

/// A mass send's progress: the tag it targets and WeChat's id once the send was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassSend {
    /// `None`: to every follower (`is_to_all`).
    pub tag_id: Option<u64>,
    /// `clientmsgid`: WeChat refuses a second send with the same one (45065) and names the
    /// first, so a send in doubt can be repeated safely.
    pub client_msg_id: String,
    pub msg_id: Option<u64>,
}

/// One push of one content item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushJob {
    pub id: u64,
    pub content_id: String,
    /// The item's title when the job was made (the list shows it after a withdrawal too).
    pub title: String,
    pub channel: PushChannel,
    pub audience: Audience,
    pub state: JobState,
    pub created_at: i64,
    #[serde(default)]
    pub finished_at: Option<i64>,
    /// Recipients found (template pushes and tag mass sends; 0 for a mass send to all).
    #[serde(default)]
    pub recipients: u64,
    /// Backing off: the worker leaves the job alone until this moment (unix seconds).
    #[serde(default)]
    pub not_before: i64,
    /// How many times WeChat's limits made the job wait.
    #[serde(default)]
    pub backoffs: u32,
    /// The last refusal or failure, for the operator (`errcode` and WeChat's words).
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub mass: Option<MassSend>,
}

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Not tried yet, or refused by WeChat in a way that means "not sent" (quota, rate).
    Pending,
    /// The request may have reached WeChat: written (and flushed) before it leaves.
    Sending {
        attempt_at: i64,
        client_msg_id: String,
    },
    Sent {
        msgid: u64,
        at: i64,
    },
    /// Said 「退订新闻」 before their turn came.
    Unsubscribed,
    /// WeChat refused for good (unfollowed 43004, invalid openid 40003 …).
    Failed {
        errcode: i64,
        at: i64,
    },
    /// Left `sending` longer than WeChat deduplicates a retry: whether it arrived is not
    /// known, and it is not sent again (a second copy would be worse than none).
    Unknown {
        attempt_at: i64,
    },
}

impl Delivery {
    /// Still to be worked on by the worker.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Pending | Self::Sending { .. })
    }
}

/// How a job's recipients stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub unsubscribed: u64,
    pub failed: u64,
    pub unknown: u64,
}

#[derive(Clone)]
pub struct PushRepo {
    jobs: sled::Tree,
    deliveries: sled::Tree,
    optout: sled::Tree,
}

fn delivery_key(job: u64, openid: &OpenId) -> Vec<u8> {
    let mut k = job.to_be_bytes().to_vec();
    k.extend_from_slice(openid.as_str().as_bytes());
    k
}

fn delivery_owner(key: &[u8]) -> Option<OpenId> {
    OpenId::parse(&String::from_utf8_lossy(key.get(8..)?)).ok()
}

impl PushRepo {
    pub(super) fn new(jobs: sled::Tree, deliveries: sled::Tree, optout: sled::Tree) -> Self {
        Self {
            jobs,
            deliveries,
            optout,
        }
    }

    /// A new job for `content_id`, numbered after the last one.
    pub fn create_job(
        &self,
        content_id: &str,
        title: &str,
        channel: PushChannel,
        audience: Audience,
        now: i64,
    ) -> Result<PushJob, StoreError> {
        loop {
            let id = match self.jobs.last()? {
                Some((k, _)) => u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8])) + 1,
                None => 1,
            };
            let job = PushJob {
                id,
                content_id: content_id.to_owned(),
                title: title.to_owned(),
                channel,
                audience: audience.clone(),
                state: JobState::Resolving,
                created_at: now,
                finished_at: None,
                recipients: 0,
                not_before: 0,
                backoffs: 0,
                last_error: None,
                mass: None,
            };
            // Two creators at once: the loser takes the next number.
            let swapped =
                self.jobs
                    .compare_and_swap(id.to_be_bytes(), None::<&[u8]>, Some(to_json(&job)))?;
            if swapped.is_ok() {
                return Ok(job);
            }
        }
    }

    pub fn job(&self, id: u64) -> Result<Option<PushJob>, StoreError> {
        match self.jobs.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(from_json("push_jobs", &v)?)),
            None => Ok(None),
        }
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Result<Vec<PushJob>, StoreError> {
        self.jobs
            .iter()
            .values()
            .map(|v| from_json("push_jobs", &v?))
            .collect()
    }

    pub fn save_job(&self, job: &PushJob) -> Result<(), StoreError> {
        self.jobs.insert(job.id.to_be_bytes(), to_json(job))?;
        Ok(())
    }

    /// Add recipients as pending; one already recorded keeps its outcome (resolving again
    /// after a restart adds only who is missing). Returns how many were new.
    pub fn add_recipients(&self, job: u64, openids: &[OpenId]) -> Result<u64, StoreError> {
        let pending = to_json(&Delivery::Pending);
        let mut added = 0;
        for openid in openids {
            let swapped = self.deliveries.compare_and_swap(
                delivery_key(job, openid),
                None::<&[u8]>,
                Some(pending.as_slice()),
            )?;
            if swapped.is_ok() {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Up to `limit` recipients still open (pending or in doubt), in openid order, starting
    /// after `after` (exclusive) when given.
    pub fn open_deliveries(
        &self,
        job: u64,
        after: Option<&OpenId>,
        limit: usize,
    ) -> Result<Vec<(OpenId, Delivery)>, StoreError> {
        let prefix = job.to_be_bytes();
        let start = match after {
            Some(openid) => {
                let mut k = delivery_key(job, openid);
                k.push(0);
                k
            }
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for item in self.deliveries.range(start..) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let delivery: Delivery = from_json("push_deliveries", &v)?;
            if !delivery.is_open() {
                continue;
            }
            if let Some(openid) = delivery_owner(&k) {
                out.push((openid, delivery));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Write many outcomes at once (atomically: a batch is applied whole or not at all).
    pub fn record(&self, job: u64, outcomes: &[(OpenId, Delivery)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (openid, delivery) in outcomes {
            batch.insert(delivery_key(job, openid), to_json(delivery));
        }
        self.deliveries.apply_batch(batch)?;
        Ok(())
    }

    pub fn delivery(&self, job: u64, openid: &OpenId) -> Result<Option<Delivery>, StoreError> {
        match self.deliveries.get(delivery_key(job, openid))? {
            Some(v) => Ok(Some(from_json("push_deliveries", &v)?)),
            None => Ok(None),
        }
    }

    pub fn counts(&self, job: u64) -> Result<DeliveryCounts, StoreError> {
        let mut c = DeliveryCounts::default();
        for item in self.deliveries.scan_prefix(job.to_be_bytes()) {
            let (_, v) = item?;
            match from_json::<Delivery>("push_deliveries", &v)? {
                Delivery::Pending => c.pending += 1,
                Delivery::Sending { .. } => c.sending += 1,
                Delivery::Sent { .. } => c.sent += 1,
                Delivery::Unsubscribed => c.unsubscribed += 1,
                Delivery::Failed { .. } => c.failed += 1,
                Delivery::Unknown { .. } => c.unknown += 1,
            }
        }
        Ok(c)
    }

    /// 「退订新闻」 (`false`) / 「订阅新闻」 (`true`). Returns whether anything changed.
    pub fn set_news_subscribed(
        &self,
        openid: &OpenId,
        subscribed: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let previous = if subscribed {
            self.optout.remove(openid.as_str())?
        } else {
            self.optout.insert(openid.as_str(), to_json(&now))?
        };
        Ok(previous.is_some() == subscribed)
    }

    /// Whether news pushes reach this user (everyone is, until they say 「退订新闻」).
    pub fn news_subscribed(&self, openid: &OpenId) -> Result<bool, StoreError> {
        Ok(!self.optout.contains_key(openid.as_str())?)
    }

    /// The user unfollowed: their choice goes with everything else we hold about them.
    pub fn forget(&self, openid: &OpenId) -> Result<(), StoreError> {
        self.optout.remove(openid.as_str())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn user(n: u32) -> OpenId {
        OpenId::parse(&format!("oPushUser{n:019}")).unwrap()
    }

    #[test]
    fn jobs_are_numbered_in_order_and_recipients_are_added_once() {
        let store = Store::temporary().unwrap();
        let push = store.push();
        let a = push
            .create_job("n1", "标题", PushChannel::Template, Audience::Everyone, 10)
            .unwrap();
        let b = push
            .create_job("n2", "标题", PushChannel::Mass, Audience::Students, 11)
            .unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(push.add_recipients(1, &[user(1), user(2)]).unwrap(), 2);
        push.record(1, &[(user(1), Delivery::Sent { msgid: 7, at: 12 })])
            .unwrap();
        // Resolving again after a restart keeps the outcome already recorded.
        assert_eq!(
            push.add_recipients(1, &[user(1), user(2), user(3)])
                .unwrap(),
            1
        );
        let open: Vec<OpenId> = push
            .open_deliveries(1, None, 10)
            .unwrap()
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(open, vec![user(2), user(3)]);
        assert_eq!(
            push.open_deliveries(1, Some(&user(2)), 10).unwrap().len(),
            1
        );
        assert!(push.open_deliveries(2, None, 10).unwrap().is_empty());
        let c = push.counts(1).unwrap();
        assert_eq!((c.sent, c.pending), (1, 2));
    }

    #[test]
    fn unsubscribing_from_news_is_remembered_per_user() {
        let store = Store::temporary().unwrap();
        let push = store.push();
        assert!(push.news_subscribed(&user(1)).unwrap());
        assert!(push.set_news_subscribed(&user(1), false, 5).unwrap());
        assert!(!push.set_news_subscribed(&user(1), false, 6).unwrap());
        assert!(!push.news_subscribed(&user(1)).unwrap());
        assert!(push.news_subscribed(&user(2)).unwrap());
        assert!(push.set_news_subscribed(&user(1), true, 7).unwrap());
        assert!(push.news_subscribed(&user(1)).unwrap());
    }
}
