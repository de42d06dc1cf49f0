//! `onecard reconcile`: run a campus day's reconciliation against the configured upstreams and
//! write its CSV; list the manual queue; close an item with a note.
//!
//! Like the other store commands it opens the data directory itself, so the server must be
//! stopped (it holds the store) — or the server's own daily job does the run. Upstream URLs
//! that start with `/` (the demo's simulators) are taken relative to `--upstream-base`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use crate::reconcile::{Reconciler, Sources, run_and_report};
use crate::store::ReconStore;
use crate::store::reconcile::{Class, DayResult, Resolution, Resolved, SourceState};

/// Which store the command opens (the server holds the store's lock while it runs).
#[derive(Args)]
struct StoreArgs {
    /// Settings to take the data directory, upstreams and campus time offset from.
    #[arg(long, default_value = "config/demo.toml")]
    config: PathBuf,
    /// Data directory (default: the one in the settings).
    #[arg(long)]
    data: Option<PathBuf>,
}

impl StoreArgs {
    fn open(&self) -> anyhow::Result<(crate::store::Store, crate::settings::Settings)> {
        let settings = crate::settings::Settings::load(&self.config)
            .with_context(|| format!("loading settings from {}", self.config.display()))?;
        let dir = self
            .data
            .clone()
            .unwrap_or(settings.server.data_dir.clone());
        let store = crate::store::Store::open(&dir, 16).with_context(|| {
            format!(
                "opening the store at {} (if the server is running it holds the store: stop it, run this command, start it again)",
                dir.display()
            )
        })?;
        Ok((store, settings))
    }
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    command: Option<ReconcileCommand>,
    /// The campus day (YYYY-MM-DD); default: yesterday.
    #[arg(long)]
    date: Option<NaiveDate>,
    /// Directory for the CSV (default: `reconcile.report_dir` of the settings).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What upstream URLs starting with `/` are relative to (default: `http://` + `server.listen`,
    /// where `onecard demo` or `onecard sim` serves the simulators).
    #[arg(long)]
    upstream_base: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand)]
enum ReconcileCommand {
    /// The manual queue: open items, oldest first (`--all` includes closed ones).
    Queue {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Close a manual item (its id as `queue` shows it) with what was done; audited.
    Resolve {
        id: String,
        /// What was done, for the audit trail (e.g. "银行已于12月2日退款").
        #[arg(long)]
        note: String,
        /// Who did it.
        #[arg(long)]
        by: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ReconcileCommand::Queue { all, store }) => queue(&store, all),
        Some(ReconcileCommand::Resolve {
            id,
            note,
            by,
            store,
        }) => resolve(&store, &id, note, by),
        None => reconcile_day(args.store, args.date, args.out, args.upstream_base),
    }
}

fn reconcile_day(
    store_args: StoreArgs,
    date: Option<NaiveDate>,
    out: Option<PathBuf>,
    upstream_base: Option<String>,
) -> anyhow::Result<()> {
    crate::telemetry::init_logging(false);
    let (store, mut settings) = store_args.open()?;
    let base = upstream_base.unwrap_or_else(|| format!("http://{}", settings.server.listen));
    settings.resolve_self_urls(&base);
    let Some(upstreams) = settings.upstreams.clone() else {
        bail!("the settings have no [upstreams]: nothing to reconcile against");
    };
    let dir = out.unwrap_or_else(|| settings.reconcile.report_dir(&settings.server.data_dir));
    let (result, path) = actix_rt::System::new().block_on(async move {
        let adapters = crate::adapters::start(&upstreams)
            .await
            .context("starting the upstream adapters")?;
        let sources = Sources {
            bank: adapters.bank.clone(),
            card: Some(adapters.card.clone()),
            billers: adapters.billers.clone(),
        };
        let reconciler = Reconciler::new(
            store.orders()?,
            store.reconcile()?,
            sources,
            settings.reconcile.clone(),
            settings.server.utc_offset_hours,
            std::sync::Arc::new(crate::store::orders::SystemClock),
        );
        let date = date.unwrap_or_else(|| reconciler.yesterday());
        anyhow::Ok(run_and_report(&reconciler, date, &dir).await?)
    })?;
    print!("{}", summary(&result));
    println!("CSV: {}", path.display());
    Ok(())
}

/// The terminal summary of a day: each statement's state, then the count per class.
pub fn summary(result: &DayResult) -> String {
    let mut out = format!(
        "对账 {}: {}\n",
        result.date,
        if result.complete() {
            "complete"
        } else {
            "INCOMPLETE (run this day again once every statement is there)"
        }
    );
    for source in &result.sources {
        let state = match &source.state {
            SourceState::Ok {
                count,
                sum_fen,
                hash_checked,
            } => format!(
                "ok, {count} rows, {} yuan{}",
                crate::domain::Fen(*sum_fen).yuan(),
                if *hash_checked { ", hash checked" } else { "" }
            ),
            SourceState::Missing { reason } => format!("MISSING: {reason}"),
            SourceState::Malformed { reason } => format!("MALFORMED: {reason}"),
            SourceState::NotConfigured => "not configured".to_owned(),
        };
        out.push_str(&format!("  {:<8} {state}\n", source.upstream.as_str()));
    }
    for class in Class::ALL {
        let lines: Vec<_> = result.lines.iter().filter(|l| l.class == class).collect();
        let diff: i64 = lines.iter().map(|l| l.diff_fen()).sum();
        out.push_str(&format!(
            "  {:<16} {:>5}  diff {} yuan\n",
            class.as_str(),
            lines.len(),
            crate::domain::Fen(diff).yuan()
        ));
    }
    out
}

/// Run one store call to completion (the store's methods are async; this command is not).
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    Ok(runtime.block_on(future))
}

fn queue(store_args: &StoreArgs, all: bool) -> anyhow::Result<()> {
    let (store, settings) = store_args.open()?;
    let recon = store.reconcile()?;
    let items = block_on(recon.manual_items(!all))??;
    if items.is_empty() {
        println!("manual queue is empty");
    }
    for item in items {
        let l = &item.line;
        println!(
            "{}  {}  {}  ours {} / theirs {} yuan  {}  order {}  {}",
            item.id,
            l.class.as_str(),
            l.upstream.as_str(),
            crate::domain::Fen(l.ours_fen.unwrap_or(0)).yuan(),
            crate::domain::Fen(l.theirs_fen.unwrap_or(0)).yuan(),
            l.sno_masked,
            l.order_id.as_deref().unwrap_or("-"),
            l.detail
        );
        println!("    serials {}  theirs: {}", l.serials, l.state_theirs);
        if let Some(r) = &item.resolution {
            let at = chrono::DateTime::from_timestamp_millis(
                r.at_ms + i64::from(settings.server.utc_offset_hours) * 3_600_000,
            )
            .unwrap_or_default()
            .format("%Y-%m-%d %H:%M");
            println!("    resolved {at} by {}: {}", r.by, r.note);
        }
    }
    Ok(())
}

fn resolve(store_args: &StoreArgs, id: &str, note: String, by: String) -> anyhow::Result<()> {
    if note.trim().is_empty() || by.trim().is_empty() {
        bail!("--note and --by must say what was done and who did it");
    }
    let (store, _) = store_args.open()?;
    let recon = store.reconcile()?;
    let resolution = Resolution {
        by,
        note,
        at_ms: chrono::Utc::now().timestamp_millis(),
    };
    match block_on(recon.resolve(id, resolution))?? {
        Resolved::Resolved(item) => println!("resolved {}", item.id),
        Resolved::AlreadyResolved(item) => {
            let by = item.resolution.map(|r| r.by).unwrap_or_default();
            bail!("{} was already resolved by {by}", item.id)
        }
        Resolved::NotFound => bail!("no manual item {id} (see `onecard reconcile queue --all`)"),
    }
    Ok(())
}
