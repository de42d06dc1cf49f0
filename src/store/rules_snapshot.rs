//! The last good rule files (see `rules::last_good`): one JSON record, replaced whenever a new
//! rule table goes live, read at start-up when the files on disk are invalid.

use crate::rules::last_good::{KeeperError, Snapshot, SnapshotKeeper};

use super::{from_json, to_json};

const KEY: &str = "rules:last_good";

#[derive(Clone)]
pub struct RulesSnapshotRepo {
    tree: sled::Tree,
    db: sled::Db,
}

impl RulesSnapshotRepo {
    pub(super) fn new(tree: sled::Tree, db: sled::Db) -> Self {
        Self { tree, db }
    }
}

impl SnapshotKeeper for RulesSnapshotRepo {
    fn save(&self, snapshot: &Snapshot) -> Result<(), KeeperError> {
        self.tree.insert(KEY, to_json(snapshot))?;
        // Flushed now: the point of the copy is to survive the next restart.
        self.db.flush()?;
        Ok(())
    }

    fn load(&self) -> Result<Option<Snapshot>, KeeperError> {
        match self.tree.get(KEY)? {
            Some(bytes) => Ok(Some(from_json("snapshots", &bytes)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_saved_snapshot_is_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![(
            std::path::PathBuf::from("rules/a.toml"),
            "[[rule]]\n".to_owned(),
        )];
        {
            let store = Store::open(dir.path(), 8).unwrap();
            assert_eq!(store.rules_snapshot().load().unwrap(), None);
            store.rules_snapshot().save(&Snapshot::of(&files)).unwrap();
        }
        let store = Store::open(dir.path(), 8).unwrap();
        assert_eq!(
            store.rules_snapshot().load().unwrap(),
            Some(Snapshot::of(&files))
        );
    }
}
