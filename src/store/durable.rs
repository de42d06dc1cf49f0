//! Waiting until a write is on disk, shared by every repository: [`flush_durably`].
//!
//! Why it exists: an order step, a claim and an ack each wait for their write to reach the
//! disk before the next upstream call, and a disk sync costs milliseconds. Callers that wait at
//! once share one sync (group commit): a flush that started after a caller's write covers it,
//! so a hundred orders in flight cost a few syncs, not a hundred. It must never let a caller go
//! before a flush that began after its write has finished.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::StoreError;

/// sled flushes that may wait at once, over every database of the process.
const CONCURRENT_FLUSHES: usize = 2;

/// Every `flush_async` of the process passes here. sled 0.34.7 runs each one on its IO thread
/// pool (seven threads), where it holds the engine's global read lock while it waits for the
/// log to reach the disk; the disk write is itself a job for that pool. With every pool thread
/// waiting in a flush and a transaction queued for the write lock, nothing could run the write:
/// the whole process hung (seen with 200 users confirming top-ups at once). Fewer flushes than
/// pool threads leave the write a thread; one flush makes everything before it durable anyway.
static FLUSH_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_FLUSHES);

/// One database's group commit. Callers take a ticket after their writes; a flush records the
/// tickets it covers (every one handed out before it started).
#[derive(Default)]
struct GroupCommit {
    /// Tickets handed out so far.
    issued: AtomicU64,
    /// Every ticket below this is on disk.
    durable: AtomicU64,
    /// One flush of this database at a time: the callers queued behind it find their ticket
    /// covered by the next one.
    flushing: tokio::sync::Mutex<()>,
    /// Flushes actually run (how well waits were shared).
    flushes: AtomicU64,
}

/// The group commit of each open database, by the address of sled's shared tree state (the
/// same for every clone of a `sled::Db`). An address reused by a later database is harmless:
/// its tickets continue above everything the earlier one made durable. Entries are never
/// removed: a few dozen bytes per database opened.
static GROUPS: LazyLock<Mutex<HashMap<usize, Arc<GroupCommit>>>> = LazyLock::new(Default::default);

fn group_of(db: &sled::Db) -> Arc<GroupCommit> {
    let tree: &sled::Tree = db;
    let id = std::ptr::from_ref(&**tree).addr();
    let mut groups = GROUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    groups.entry(id).or_default().clone()
}

/// Wait until everything written to `db` so far is on disk.
pub(crate) async fn flush_durably(db: &sled::Db) -> Result<(), StoreError> {
    let group = group_of(db);
    // Taken after this caller's writes: a flush that starts once the ticket exists covers them.
    let ticket = group.issued.fetch_add(1, Ordering::SeqCst);
    let _turn = group.flushing.lock().await;
    if group.durable.load(Ordering::SeqCst) > ticket {
        return Ok(());
    }
    let covers = group.issued.load(Ordering::SeqCst);
    {
        let _slot = FLUSH_SLOTS
            .acquire()
            .await
            .map_err(|_| StoreError::Engine("flush slots closed".into()))?;
        db.flush_async().await?;
    }
    group.flushes.fetch_add(1, Ordering::SeqCst);
    group.durable.fetch_max(covers, Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::future::join_all;

    use super::*;

    fn flushes(db: &sled::Db) -> u64 {
        group_of(db).flushes.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn callers_waiting_at_once_share_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let group = group_of(&db);
        let (flushes_before, issued_before) = (flushes(&db), group.issued.load(Ordering::SeqCst));
        // A flush in progress (its turn held here) while 64 callers write and queue behind it.
        let turn = group.flushing.lock().await;
        let waits: Vec<_> = (0..64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.insert(format!("k{i}"), "v").unwrap();
                    flush_durably(&db).await.unwrap();
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(30), async {
            while group.issued.load(Ordering::SeqCst) < issued_before + 64 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every caller took its ticket");
        drop(turn);
        join_all(waits).await.into_iter().for_each(Result::unwrap);
        // Once the turn is free, one flush covers every caller that was waiting.
        assert_eq!(flushes(&db) - flushes_before, 1);
    }

    #[tokio::test]
    async fn a_write_after_a_flush_gets_a_flush_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let before = flushes(&db);
        db.insert("a", "1").unwrap();
        flush_durably(&db).await.unwrap();
        db.insert("b", "2").unwrap();
        flush_durably(&db).await.unwrap();
        assert_eq!(flushes(&db) - before, 2);
        drop(db);
        let reopened = sled::open(dir.path()).unwrap();
        assert_eq!(reopened.get("b").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[tokio::test]
    async fn two_databases_are_flushed_each_for_itself() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (
            sled::open(one.path()).unwrap(),
            sled::open(two.path()).unwrap(),
        );
        let before = (flushes(&a), flushes(&b));
        a.insert("k", "v").unwrap();
        b.insert("k", "v").unwrap();
        flush_durably(&a).await.unwrap();
        flush_durably(&b).await.unwrap();
        assert_eq!((flushes(&a) - before.0, flushes(&b) - before.1), (1, 1));
    }
}
