//! Small durable values in the `counters` tree: (through `codes`) the verification codes and
//! their day counters.
//!
//! Keys are namespaced by their owner: `u:{openid}:…` for per-user entries (removed when the
//! user unsubscribes); `d:{campus day}:…` for day counters, which `codes` sweeps once the day
//! is over and which survive an unsubscribe on purpose (they are the limits).

use super::{StoreError, from_json};

#[derive(Clone)]
pub struct CountersRepo {
    tree: sled::Tree,
}

impl CountersRepo {
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self { tree }
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
