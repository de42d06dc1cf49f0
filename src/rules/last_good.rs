//! The rule files behind the last table that went live, kept outside the rules directory so a
//! restart with a broken file on disk still answers with them.
//!
//! Why it exists: a broken file saved while the service runs never goes live, but without a copy
//! of the good files the next restart would have nothing to serve and the account would go
//! silent until someone fixed the file. It owns the snapshot's shape (every file's name, text
//! and SHA-256) and the [`SnapshotKeeper`] seam; where the snapshot lives is the keeper's
//! business (the store implements it), so `rules` never touches the store itself.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every rule file of a table that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub files: Vec<SnapshotFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// File name inside the rules directory (`card.toml`).
    pub name: String,
    /// SHA-256 of `text`, hex: names the files that changed since, without diffing them.
    pub sha256: String,
    pub text: String,
}

/// Where the snapshot is kept. Implemented by the store; a failure to save is logged, never
/// fatal (the live table is not affected).
pub trait SnapshotKeeper: Send + Sync {
    fn save(&self, snapshot: &Snapshot) -> Result<(), KeeperError>;
    fn load(&self) -> Result<Option<Snapshot>, KeeperError>;
}

pub type KeeperError = Box<dyn std::error::Error + Send + Sync>;

impl Snapshot {
    /// The snapshot of files read from the rules directory.
    pub(crate) fn of(files: &[(PathBuf, String)]) -> Self {
        Self {
            files: files
                .iter()
                .map(|(path, text)| SnapshotFile {
                    name: file_name(path),
                    sha256: sha256(text),
                    text: text.clone(),
                })
                .collect(),
        }
    }

    /// The files as if they were in `dir`, so diagnostics and origins name the usual paths.
    pub(crate) fn files_in(&self, dir: &Path) -> Vec<(PathBuf, String)> {
        self.files
            .iter()
            .map(|f| (dir.join(&f.name), f.text.clone()))
            .collect()
    }

    /// Whether `files` hold exactly the snapshot's names and contents.
    pub(crate) fn matches(&self, files: &[(PathBuf, String)]) -> bool {
        self.changed(files).is_empty()
    }

    /// Names of the files that differ between the snapshot and `files`: changed, added or
    /// removed, in name order.
    pub(crate) fn changed(&self, files: &[(PathBuf, String)]) -> Vec<String> {
        let now: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| (file_name(p), sha256(t)))
            .collect();
        let mut names: Vec<String> = Vec::new();
        for (name, hash) in &now {
            if !self
                .files
                .iter()
                .any(|f| &f.name == name && &f.sha256 == hash)
            {
                names.push(name.clone());
            }
        }
        for f in &self.files {
            if !now.iter().any(|(n, _)| n == &f.name) {
                names.push(f.name.clone());
            }
        }
        names.sort();
        names.dedup();
        names
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_names_edited_added_and_removed_files() {
        let old = vec![
            (PathBuf::from("r/a.toml"), "a".to_owned()),
            (PathBuf::from("r/b.toml"), "b".to_owned()),
        ];
        let snap = Snapshot::of(&old);
        assert!(snap.matches(&old));
        let new = vec![
            (PathBuf::from("r/a.toml"), "a2".to_owned()),
            (PathBuf::from("r/c.toml"), "c".to_owned()),
        ];
        assert_eq!(snap.changed(&new), vec!["a.toml", "b.toml", "c.toml"]);
        assert_eq!(
            snap.files_in(Path::new("x")),
            vec![
                (PathBuf::from("x/a.toml"), "a".to_owned()),
                (PathBuf::from("x/b.toml"), "b".to_owned())
            ]
        );
        assert_eq!(
            snap.files[0].sha256,
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
    }
}
