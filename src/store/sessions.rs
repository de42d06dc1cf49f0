//! Session records: a user's dialog state and reply bookkeeping, restored when their session
//! actor starts again (after an idle stop or a restart of the whole process).

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;

/// A multi-step conversation in progress, e.g. binding: which action owns it, which step it is
/// at and what it has collected so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dialog {
    pub action: String,
    pub step: String,
    #[serde(default)]
    pub data: serde_json::Value,
    pub started_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub dialog: Option<Dialog>,
    /// When the default reply was last sent (it has a per-user cooldown, like WeChat's own).
    pub last_default_reply_at: Option<i64>,
    /// Where the last paged list stopped ("回复 更多" continues it).
    #[serde(default)]
    pub more: Option<serde_json::Value>,
}

#[derive(Clone)]
pub struct SessionsRepo {
    tree: sled::Tree,
}

impl SessionsRepo {
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn get(&self, openid: &OpenId) -> Result<Option<SessionRecord>, StoreError> {
        match self.tree.get(openid.as_str())? {
            Some(bytes) => Ok(Some(from_json("sessions", &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn put(&self, openid: &OpenId, record: &SessionRecord) -> Result<(), StoreError> {
        if *record == SessionRecord::default() {
            self.tree.remove(openid.as_str())?;
        } else {
            self.tree.insert(openid.as_str(), to_json(record))?;
        }
        Ok(())
    }

    pub fn remove(&self, openid: &OpenId) -> Result<(), StoreError> {
        self.tree.remove(openid.as_str())?;
        Ok(())
    }
}
