//! The live rule table: read lock-free on every message, replaced atomically on reload.
//!
//! Why it exists: operators edit rule files while the service runs. A reload (from the
//! directory watcher, or [`LiveRules::reload`]) validates the whole directory and swaps the new
//! [`RuleTable`] in with one `ArcSwap::store`; readers holding the old table finish with it. An
//! invalid edit never goes live: the old table keeps serving, every diagnostic is logged with
//! `file:line:col`, the error is counted (`onecard_rules_reload_errors_total`) and the service
//! is degraded (`onecard_rules_degraded`, [`LiveRules::last_errors`]) until the files are fixed.
//! Each table that goes live is kept through a [`SnapshotKeeper`], so a restart with broken
//! files starts with the last good rules instead of not at all.
//!
//! The watcher follows vector's `config/watcher.rs`: it watches the *directory* (editors save by
//! writing a temporary file and renaming it over the old one, which silences a watch on the
//! file's inode), debounces a burst of events until 200 ms of quiet, re-adds the watched path
//! after each burst to survive a replaced directory (e.g. a Kubernetes ConfigMap swap), and offers
//! a polling variant for network file systems. Dropping the [`RulesWatcher`] stops it.
//!
//! It must never block readers, and never swap in anything that did not pass [`load_dir`](super::load_dir)'s
//! validation.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode, Watcher};

use super::last_good::{Snapshot, SnapshotKeeper};
use super::load::{build, read_dir};
use super::{ActionCatalog, Diagnostic, RuleError, RuleTable};

/// Quiet time that ends a burst of file events.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// A burst never delays the reload longer than this, even if events keep coming.
const MAX_BURST: Duration = Duration::from_millis(700);
/// How often the watcher thread checks whether it was asked to stop.
const STOP_POLL: Duration = Duration::from_millis(250);

/// The live, hot-reloaded table. Cloning is cheap and every clone sees the same table.
#[derive(Clone)]
pub struct LiveRules {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    catalog: Arc<dyn ActionCatalog>,
    table: ArcSwap<RuleTable>,
    /// Keeps a copy of the files behind each table that goes live, for a restart with broken
    /// files (none in tools and unit tests).
    keeper: Option<Arc<dyn SnapshotKeeper>>,
    /// What the latest complete read of the files found. Held while a reload reads, builds and
    /// swaps, so reloads never race and a reader never sees a new table with old errors.
    status: Mutex<Status>,
}

#[derive(Default)]
struct Status {
    /// Fingerprint of the files the latest complete read saw (good or bad); an event that did
    /// not change them (an editor's swap file, a `touch`) does not rebuild or re-report.
    read: Option<u64>,
    /// Diagnostics of that read; empty when it went live.
    errors: Vec<Diagnostic>,
    /// Failed reloads since start (also the metric).
    reload_errors: u64,
}

/// A failed read is re-read after this pause: if the files changed meanwhile, the first read
/// caught an editor mid-write and its errors describe no file anyone saved.
const SETTLE: Duration = Duration::from_millis(100);
/// At most this many re-reads for one reload while the files keep changing.
const SETTLE_TRIES: usize = 5;

/// A build of the files read, with a copy of them for the snapshot (empty without a keeper).
type Settled = Result<(RuleTable, Vec<(PathBuf, String)>), Vec<Diagnostic>>;

fn fingerprint(files: &[(PathBuf, String)]) -> u64 {
    let mut h = DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}

impl LiveRules {
    /// Load and validate `dir`; fails with every diagnostic if the rules are invalid.
    pub fn load(dir: &Path, catalog: Arc<dyn ActionCatalog>) -> Result<Self, Vec<Diagnostic>> {
        let files = read_dir(dir)?;
        let fp = fingerprint(&files);
        let table = build(dir, files, catalog.as_ref())?;
        tracing::info!(dir = %dir.display(), rules = table.rule_count(), "rules loaded");
        Ok(Self::new(dir, catalog, table, None, Some(fp), Vec::new()))
    }

    /// Load `dir` like [`load`](Self::load) and keep a copy of every table that goes live in
    /// `keeper`. If the files on disk are invalid, start with the last good copy instead,
    /// degraded: the diagnostics are logged as errors, [`last_errors`](Self::last_errors)
    /// holds them (and `/healthz` shows them), `onecard_rules_degraded` is 1. Fails only if
    /// the files are invalid and no good copy exists (or it no longer validates either).
    pub fn load_keeping_last_good(
        dir: &Path,
        catalog: Arc<dyn ActionCatalog>,
        keeper: Arc<dyn SnapshotKeeper>,
    ) -> Result<Self, Vec<Diagnostic>> {
        let read = read_dir(dir);
        let fp = read.as_deref().ok().map(fingerprint);
        let on_disk = read.clone().unwrap_or_default();
        let diags = match read.and_then(|files| build(dir, files, catalog.as_ref())) {
            Ok(table) => {
                tracing::info!(dir = %dir.display(), rules = table.rule_count(), "rules loaded");
                let live = Self::new(dir, catalog, table, Some(keeper), fp, Vec::new());
                live.save_snapshot(&on_disk);
                return Ok(live);
            }
            Err(diags) => diags,
        };
        let snapshot = match keeper.load() {
            Ok(Some(s)) => s,
            Ok(None) => return Err(diags),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the last good rules");
                return Err(diags);
            }
        };
        let table = match build(dir, snapshot.files_in(dir), catalog.as_ref()) {
            Ok(t) => t,
            Err(old) => {
                // E.g. an action the saved rules use was removed from this build.
                for d in &old {
                    tracing::error!(problem = %d, "the last good rules no longer load either");
                }
                return Err(diags);
            }
        };
        for d in &diags {
            tracing::error!(problem = %d, "rule file invalid");
        }
        tracing::error!(
            dir = %dir.display(),
            rules = table.rule_count(),
            changed = %snapshot.changed(&on_disk).join(", "),
            "the rule files are invalid; serving the last good rules until they are fixed"
        );
        Ok(Self::new(dir, catalog, table, Some(keeper), fp, diags))
    }

    fn new(
        dir: &Path,
        catalog: Arc<dyn ActionCatalog>,
        table: RuleTable,
        keeper: Option<Arc<dyn SnapshotKeeper>>,
        read: Option<u64>,
        errors: Vec<Diagnostic>,
    ) -> Self {
        publish_gauge(&table);
        publish_degraded(&errors);
        Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                catalog,
                table: ArcSwap::from_pointee(table),
                keeper,
                status: Mutex::new(Status {
                    read,
                    errors,
                    reload_errors: 0,
                }),
            }),
        }
    }

    /// Keep `files` as the last good rules, unless the kept copy already holds them.
    fn save_snapshot(&self, files: &[(PathBuf, String)]) {
        let Some(keeper) = &self.inner.keeper else {
            return;
        };
        if matches!(keeper.load(), Ok(Some(s)) if s.matches(files)) {
            return;
        }
        if let Err(e) = keeper.save(&Snapshot::of(files)) {
            tracing::warn!(error = %e, "cannot keep a copy of the rules; a restart with broken files would not start");
        }
    }

    /// The table serving right now (a lock-free load).
    pub fn current(&self) -> Arc<RuleTable> {
        self.inner.table.load_full()
    }

    /// The directory the rules are loaded from.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Manual reload: validate the whole directory and swap atomically, or keep the old table
    /// and return the diagnostics (also logged and counted).
    pub fn reload(&self) -> Result<(), Vec<Diagnostic>> {
        self.reload_inner(false).map(|_| ())
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        match self.inner.status.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Read and build until the files hold still; `None` if they are what the latest read saw
    /// and `skip_unchanged`.
    fn read_settled(
        &self,
        status: &Status,
        skip_unchanged: bool,
    ) -> Option<(Option<u64>, Settled)> {
        let dir = &self.inner.dir;
        let mut files = read_dir(dir);
        let mut tries = 0;
        loop {
            let fp = files.as_deref().ok().map(fingerprint);
            if skip_unchanged && fp.is_some() && fp == status.read {
                return None;
            }
            let built = files.and_then(|f| {
                let copy = if self.inner.keeper.is_some() {
                    f.clone()
                } else {
                    Vec::new()
                };
                build(dir, f, self.inner.catalog.as_ref()).map(|t| (t, copy))
            });
            if built.is_ok() || tries == SETTLE_TRIES {
                return Some((fp, built));
            }
            tries += 1;
            std::thread::sleep(SETTLE);
            files = read_dir(dir);
            if files.as_deref().ok().map(fingerprint) == fp {
                return Some((fp, built));
            }
        }
    }

    /// Reload unless the files are byte-for-byte what the latest read saw. `Ok(true)` if
    /// swapped.
    fn reload_inner(&self, skip_unchanged: bool) -> Result<bool, Vec<Diagnostic>> {
        let mut status = self.status();
        let Some((fp, built)) = self.read_settled(&status, skip_unchanged) else {
            return Ok(false);
        };
        status.read = fp;
        match built {
            Ok((table, files)) => {
                table.inherit_hits(&self.current());
                publish_gauge(&table);
                let rules = table.rule_count();
                // Errors first: whoever sees the new table sees no stale errors with it.
                status.errors.clear();
                publish_degraded(&status.errors);
                self.inner.table.store(Arc::new(table));
                self.save_snapshot(&files);
                metrics::counter!("onecard_rules_reloads_total").increment(1);
                tracing::info!(dir = %self.inner.dir.display(), rules, "rules reloaded");
                Ok(true)
            }
            Err(diags) => {
                status.errors = diags.clone();
                publish_degraded(&status.errors);
                status.reload_errors += 1;
                metrics::counter!("onecard_rules_reload_errors_total").increment(1);
                for d in &diags {
                    tracing::warn!(problem = %d, "rule reload rejected; the previous rules keep serving");
                }
                Err(diags)
            }
        }
    }

    /// Diagnostics of the latest complete read of the files if it failed (empty once a good
    /// read went live).
    pub fn last_errors(&self) -> Vec<Diagnostic> {
        self.status().errors.clone()
    }

    /// Whether the files on disk are invalid and older rules serve (a cheap check for
    /// `/healthz`; [`last_errors`](Self::last_errors) says why).
    pub fn is_degraded(&self) -> bool {
        !self.status().errors.is_empty()
    }

    /// Failed reloads since start (also `onecard_rules_reload_errors_total`).
    pub fn reload_errors(&self) -> u64 {
        self.status().reload_errors
    }

    /// Watch the rules directory with the platform's native watcher (inotify on Linux); a change
    /// is live within about a second. Dropping the returned guard stops watching.
    pub fn watch(&self) -> Result<RulesWatcher, RuleError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = notify::recommended_watcher(tx).map_err(|e| self.watch_err(e))?;
        self.start(Box::new(watcher), rx)
    }

    /// Like [`watch`](Self::watch), but polling every `interval` (for NFS and other file
    /// systems without change notification).
    pub fn watch_polling(&self, interval: Duration) -> Result<RulesWatcher, RuleError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let config = notify::Config::default()
            .with_poll_interval(interval)
            .with_compare_contents(true);
        let watcher = notify::PollWatcher::new(tx, config).map_err(|e| self.watch_err(e))?;
        self.start(Box::new(watcher), rx)
    }

    fn watch_err(&self, source: notify::Error) -> RuleError {
        RuleError::Watch {
            path: self.inner.dir.clone(),
            source,
        }
    }

    fn start(
        &self,
        mut watcher: Box<dyn Watcher + Send>,
        rx: Receiver<notify::Result<notify::Event>>,
    ) -> Result<RulesWatcher, RuleError> {
        watcher
            .watch(&self.inner.dir, RecursiveMode::NonRecursive)
            .map_err(|e| self.watch_err(e))?;
        let watcher = Arc::new(Mutex::new(watcher));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            live: self.clone(),
            watcher: Arc::downgrade(&watcher),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("rules-watcher".into())
            .spawn(move || worker.run(rx))
            .map_err(|source| RuleError::Io {
                path: self.inner.dir.clone(),
                source,
            })?;
        tracing::info!(dir = %self.inner.dir.display(), "watching rules directory");
        Ok(RulesWatcher {
            watcher: Some(watcher),
            stop,
            thread: Some(thread),
        })
    }
}

fn publish_gauge(table: &RuleTable) {
    metrics::gauge!("onecard_rules_loaded_count").set(table.rule_count() as f64);
    for w in table.warnings() {
        tracing::warn!(problem = %w, "rule warning; the rules are live");
    }
}

/// 1 while the files on disk are invalid and older rules serve.
fn publish_degraded(errors: &[Diagnostic]) {
    metrics::gauge!("onecard_rules_degraded").set(if errors.is_empty() { 0.0 } else { 1.0 });
}

/// Keeps the directory watched; drop it to stop.
pub struct RulesWatcher {
    watcher: Option<Arc<Mutex<Box<dyn Watcher + Send>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for RulesWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the watcher drops its event sender, which also wakes the thread.
        self.watcher.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for RulesWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesWatcher").finish_non_exhaustive()
    }
}

struct Worker {
    live: LiveRules,
    /// Weak, so dropping the [`RulesWatcher`] really drops the watcher.
    watcher: Weak<Mutex<Box<dyn Watcher + Send>>>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self, rx: Receiver<notify::Result<notify::Event>>) {
        // Set while the directory cannot be watched (removed, being replaced): retried on every
        // tick until it can, then the rules are reloaded.
        let mut broken = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match rx.recv_timeout(STOP_POLL) {
                Ok(Ok(event)) if relevant(&event) => {}
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => {
                    // The backend lost track (queue overflow, removed directory…): re-add the
                    // watch and reload speculatively.
                    tracing::warn!(error = %e, "rules watcher error; re-adding the watch");
                }
                Err(RecvTimeoutError::Timeout) if broken => {}
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Debounce: consume the burst until DEBOUNCE of quiet (bounded by MAX_BURST).
            let started = Instant::now();
            loop {
                match rx.recv_timeout(DEBOUNCE) {
                    Ok(_) if started.elapsed() < MAX_BURST => continue,
                    Ok(_) | Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let was_broken = broken;
            broken = !self.readd(!was_broken);
            if broken {
                continue;
            }
            if was_broken {
                tracing::info!(dir = %self.live.dir().display(), "rules directory is back; watching it again");
            }
            // Errors are logged and counted inside.
            let _ = self.live.reload_inner(true);
        }
    }

    /// Re-add the directory watch to resolve inode changes (vector does the same). Returns
    /// whether the directory is watched; logs a failure only if `log` (once per outage).
    fn readd(&self, log: bool) -> bool {
        let Some(watcher) = self.watcher.upgrade() else {
            return false;
        };
        let mut w = match watcher.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let dir = self.live.dir();
        let _ = w.unwatch(dir);
        match w.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => true,
            Err(e) => {
                if log {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the rules directory; retrying");
                }
                false
            }
        }
    }
}

/// Whether an event may change the rules: not a mere read, and not only about editor scratch
/// files (`.card.toml.swp`, `card.toml~`). Kubernetes' `..data` swaps count.
fn relevant(event: &notify::Event) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    if event.paths.is_empty() {
        return true;
    }
    event.paths.iter().any(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.starts_with("..")
            || (!name.starts_with('.') && !name.ends_with('~') && !name.ends_with(".swp"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load::tests::RegistryActions;
    use crate::rules::{RenderedReply, Trigger};
    use std::fs;

    fn rule(reply: &str) -> String {
        format!("[[rule]]\nid = \"hi\"\nexact = [\"你好\"]\nreply = \"{reply}\"\n")
    }

    fn now() -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap()
    }

    fn reply(live: &LiveRules) -> String {
        let table = live.current();
        let m = table.route(&Trigger::Text("你好"), now()).unwrap();
        match m
            .replies
            .render_plain(&serde_json::json!({}), &[])
            .unwrap()
            .remove(0)
        {
            RenderedReply::Text(t) => t,
            other => panic!("{other:?}"),
        }
    }

    /// How long a test waits for the watcher: generous, because a loaded 2-core machine can
    /// stall the watcher thread for seconds; a healthy run takes well under one.
    const DEADLINE: Duration = Duration::from_secs(15);

    /// Poll `cond` until it holds or `limit` passes; returns the time it took.
    fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn setup() -> (tempfile::TempDir, LiveRules) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("chat.toml"), rule("旧的回复")).unwrap();
        let live = LiveRules::load(dir.path(), Arc::new(RegistryActions::new())).unwrap();
        (dir, live)
    }

    #[test]
    fn an_edit_goes_live_without_a_restart() {
        let (dir, live) = setup();
        let _w = live.watch().unwrap();
        assert_eq!(reply(&live), "旧的回复");
        fs::write(dir.path().join("chat.toml"), rule("新的回复")).unwrap();
        let took = within(DEADLINE, || reply(&live) == "新的回复");
        assert!(took.is_some(), "the edit did not go live");
        assert_eq!(live.reload_errors(), 0);
    }

    #[test]
    fn editor_style_write_temp_and_rename_is_picked_up() {
        let (dir, live) = setup();
        let _w = live.watch().unwrap();
        // vim/VS Code style: write a temporary file, then rename it over the original.
        let tmp = dir.path().join(".chat.toml.swp");
        fs::write(&tmp, rule("改名保存")).unwrap();
        fs::rename(&tmp, dir.path().join("chat.toml")).unwrap();
        assert!(
            within(DEADLINE, || reply(&live) == "改名保存").is_some(),
            "rename-over did not go live"
        );
        // And the watch survives it: a second edit is picked up too.
        fs::write(dir.path().join("chat.toml"), rule("再改一次")).unwrap();
        assert!(within(DEADLINE, || reply(&live) == "再改一次").is_some());
    }

    #[test]
    fn an_invalid_edit_keeps_the_old_table_and_counts_an_error() {
        let (dir, live) = setup();
        let _w = live.watch().unwrap();
        fs::write(
            dir.path().join("chat.toml"),
            "[[rule]]\nid = \"hi\"\nexact = [\"你好\"]\naction = \"nope\"\n",
        )
        .unwrap();
        assert!(
            within(DEADLINE, || live.reload_errors() >= 1).is_some(),
            "the invalid edit was not noticed"
        );
        assert_eq!(reply(&live), "旧的回复");
        let errors = live.last_errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
        let actions = crate::actions::ActionRegistry::builtin().names();
        assert_eq!(
            errors[0].message,
            format!("unknown action `nope` (actions: {})", actions.join(", "))
        );
        // Fixing the file makes it live again and clears the errors: the errors are cleared
        // before the table is swapped, so whoever sees the new table sees no stale error.
        fs::write(dir.path().join("chat.toml"), rule("修好了")).unwrap();
        assert!(within(DEADLINE, || reply(&live) == "修好了").is_some());
        assert_eq!(live.last_errors(), Vec::<Diagnostic>::new());
        assert_eq!(live.reload_errors(), 1);
    }

    #[test]
    fn manual_reload_swaps_or_keeps_and_carries_hit_counts() {
        let (dir, live) = setup();
        reply(&live);
        reply(&live);
        fs::write(dir.path().join("chat.toml"), "[[rule]]\nid = \"hi\"\n").unwrap();
        let diags = live.reload().unwrap_err();
        assert_eq!(diags.len(), 1);
        assert_eq!(live.reload_errors(), 1);
        assert_eq!(reply(&live), "旧的回复");
        fs::write(dir.path().join("chat.toml"), rule("手动")).unwrap();
        live.reload().unwrap();
        assert_eq!(reply(&live), "手动");
        // two hits before (plus the one above) survive the swap
        assert_eq!(live.current().hit_counts(), vec![("hi".to_owned(), 4)]);
    }

    #[test]
    fn dropping_the_watcher_stops_reloading() {
        let (dir, live) = setup();
        let w = live.watch().unwrap();
        drop(w);
        // A second, still-watching table over the same directory is the witness: once it has
        // picked the edit up, the dropped watcher would have too.
        let witness = LiveRules::load(dir.path(), Arc::new(RegistryActions::new())).unwrap();
        let _ww = witness.watch().unwrap();
        fs::write(dir.path().join("chat.toml"), rule("不该生效")).unwrap();
        assert!(within(DEADLINE, || reply(&witness) == "不该生效").is_some());
        assert_eq!(reply(&live), "旧的回复");
    }

    #[test]
    fn a_replaced_directory_is_watched_again() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("rules");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("chat.toml"), rule("旧的回复")).unwrap();
        let live = LiveRules::load(&dir, Arc::new(RegistryActions::new())).unwrap();
        let _w = live.watch().unwrap();
        // Kubernetes/deploy-tool style: the whole directory is swapped for a new one.
        let staged = parent.path().join("rules.new");
        fs::create_dir(&staged).unwrap();
        fs::write(staged.join("chat.toml"), rule("新目录")).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        fs::rename(&staged, &dir).unwrap();
        assert!(
            within(DEADLINE, || reply(&live) == "新目录").is_some(),
            "the replaced directory was not picked up"
        );
        fs::write(dir.join("chat.toml"), rule("之后的修改")).unwrap();
        assert!(within(DEADLINE, || reply(&live) == "之后的修改").is_some());
    }

    #[test]
    fn polling_watcher_also_picks_up_edits() {
        let (dir, live) = setup();
        // The poll watcher takes its first snapshot inside `watch`, so an edit right after it
        // is a change.
        let _w = live.watch_polling(Duration::from_millis(100)).unwrap();
        fs::write(dir.path().join("chat.toml"), rule("轮询")).unwrap();
        assert!(within(DEADLINE, || reply(&live) == "轮询").is_some());
    }
}
