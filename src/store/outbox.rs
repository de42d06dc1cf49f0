//! Replies waiting for delivery: a reply that could not be pushed (the customer-service window
//! was closed or its quota used up) waits here, flushed to disk, until the user writes again.
//! Nothing is dropped silently.

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;
use crate::wechat::Reply;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReply {
    pub reply: StoredReply,
    pub created_at: i64,
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

#[derive(Clone)]
pub struct OutboxRepo {
    tree: sled::Tree,
    db: sled::Db,
}

fn prefix(openid: &OpenId) -> Vec<u8> {
    let mut p = openid.as_str().as_bytes().to_vec();
    p.push(0);
    p
}

impl OutboxRepo {
    pub(super) fn new(tree: sled::Tree, db: sled::Db) -> Self {
        Self { tree, db }
    }

    /// Queue replies for a user, in order. The caller flushes the store.
    pub fn push(&self, openid: &OpenId, replies: &[Reply], now: i64) -> Result<(), StoreError> {
        for r in replies {
            let mut key = prefix(openid);
            key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
            let pending = PendingReply {
                reply: r.into(),
                created_at: now,
            };
            self.tree.insert(key, to_json(&pending))?;
        }
        Ok(())
    }

    /// Remove and return every queued reply of a user, oldest first.
    pub fn take_all(&self, openid: &OpenId) -> Result<Vec<PendingReply>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix(openid)) {
            let (k, v) = item?;
            out.push(from_json("outbox", &v)?);
            self.tree.remove(k)?;
        }
        Ok(out)
    }

    pub fn has_pending(&self, openid: &OpenId) -> Result<bool, StoreError> {
        Ok(self.tree.scan_prefix(prefix(openid)).next().is_some())
    }

    /// Users with queued replies (loaded at start so the callback path can check in memory).
    pub fn users_with_pending(&self) -> Result<Vec<OpenId>, StoreError> {
        let mut users: Vec<OpenId> = Vec::new();
        for item in self.tree.iter() {
            let (k, _) = item?;
            let end = k.iter().position(|b| *b == 0).unwrap_or(k.len());
            if let Ok(o) = OpenId::parse(&String::from_utf8_lossy(&k[..end]))
                && users.last() != Some(&o)
            {
                users.push(o);
            }
        }
        Ok(users)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
