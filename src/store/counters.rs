//! Durable counters and locks for limits that must survive a restart (codes per phone per
//! day, wrong tries before a lock-out). governor is for bursts; these are for rules.
//!
//! Keys are namespaced by their owner: `u:{openid}:…` for per-user entries (removed when the
//! user unsubscribes), `p:{phone}:…` for per-phone entries.

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Window {
    /// Start of the current window (unix secs) and hits inside it.
    start: i64,
    count: u32,
}

#[derive(Clone)]
pub struct CountersRepo {
    tree: sled::Tree,
}

impl CountersRepo {
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// Count one hit in a fixed window of `window_secs` and return the hits in the window,
    /// this one included.
    pub fn hit(&self, key: &str, now: i64, window_secs: i64) -> Result<u32, StoreError> {
        let mut result = 0;
        self.tree.fetch_and_update(key, |old| {
            let mut w: Window = old
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            if now - w.start >= window_secs || now < w.start {
                w = Window {
                    start: now,
                    count: 0,
                };
            }
            w.count = w.count.saturating_add(1);
            result = w.count;
            Some(to_json(&w))
        })?;
        Ok(result)
    }

    /// Hits in the current window without counting one.
    pub fn peek(&self, key: &str, now: i64, window_secs: i64) -> Result<u32, StoreError> {
        match self.tree.get(key)? {
            Some(b) => {
                let w: Window = from_json("counters", &b)?;
                Ok(if now - w.start >= window_secs {
                    0
                } else {
                    w.count
                })
            }
            None => Ok(0),
        }
    }

    /// Store an arbitrary small JSON value (a pending code, a lock-until time).
    pub fn put_value(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.tree.insert(key, to_json(value))?;
        Ok(())
    }

    pub fn get_value(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        match self.tree.get(key)? {
            Some(b) => Ok(Some(from_json("counters", &b)?)),
            None => Ok(None),
        }
    }

    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.tree.remove(key)?;
        Ok(())
    }

    pub fn remove_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        for item in self.tree.scan_prefix(prefix) {
            let (k, _) = item?;
            self.tree.remove(k)?;
        }
        Ok(())
    }
}
