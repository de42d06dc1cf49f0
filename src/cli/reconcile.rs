//! `onecard reconcile`: run a campus day's reconciliation against the configured upstreams and
//! write its CSV; read a day's result; list the manual queue; close an item with a note.
//!
//! Each goes through the running server's admin listener, or, with the server stopped, opens
//! the data directory itself (`cli::desk`). A run on a stopped server starts its own adapters:
//! upstream URLs that start with `/` (the demo's simulators) are then taken relative to
//! `--upstream-base`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::desk::{Ask, DeskArgs, runtime};
use crate::actions::money_desk::DayRun;
use crate::reconcile::{SledReconciler, run_and_report};
use crate::store::reconcile::{Class, DayResult, ManualItem, SourceState};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    command: Option<ReconcileCommand>,
    /// The campus day (YYYY-MM-DD); default: yesterday.
    #[arg(long)]
    date: Option<NaiveDate>,
    /// Directory for a copy of the CSV (default: the server writes it to
    /// `reconcile.report_dir` of its settings).
    #[arg(long)]
    out: Option<PathBuf>,
    /// With the server stopped: what upstream URLs starting with `/` are relative to
    /// (default: `http://` + `server.listen`, where `onecard demo` or `onecard sim` serves the
    /// simulators).
    #[arg(long)]
    upstream_base: Option<String>,
    #[command(flatten)]
    desk: DeskArgs,
}

#[derive(Subcommand)]
enum ReconcileCommand {
    /// The manual queue: open items, oldest first (`--all` includes closed ones).
    Queue {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        desk: DeskArgs,
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
        desk: DeskArgs,
    },
    /// A reconciled day's summary, as stored by its last run; `--csv FILE` writes its report.
    Show {
        #[arg(long)]
        date: NaiveDate,
        #[arg(long)]
        csv: Option<PathBuf>,
        #[command(flatten)]
        desk: DeskArgs,
    },
}

pub fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ReconcileCommand::Queue { all, desk }) => queue(&desk, all),
        Some(ReconcileCommand::Resolve { id, note, by, desk }) => resolve(&desk, &id, &note, &by),
        Some(ReconcileCommand::Show { date, csv, desk }) => show(&desk, date, csv.as_deref()),
        None => reconcile_day(args.desk, args.date, args.out, args.upstream_base),
    }
}

fn reconcile_day(
    desk: DeskArgs,
    date: Option<NaiveDate>,
    out: Option<PathBuf>,
    upstream_base: Option<String>,
) -> anyhow::Result<()> {
    let body = serde_json::json!({ "date": date.map(|d| d.to_string()) });
    let answer = runtime()?.block_on(async {
        let Some(response) = desk.ask(Ask::post("/reconcile/run", body)).await? else {
            return anyhow::Ok(None);
        };
        let run: DayRun = response.json().await.context("the server's answer")?;
        let copy = match &out {
            Some(dir) => Some(copy_csv(&desk, run.result.date, dir).await?),
            None => None,
        };
        Ok(Some((run, copy)))
    })?;
    let (result, path) = match answer {
        Some((run, copy)) => (run.result, copy.unwrap_or(run.csv_path)),
        None => reconcile_stopped(&desk, date, out, upstream_base)?,
    };
    print!("{}", summary(&result));
    println!("CSV: {}", path.display());
    Ok(())
}

/// Fetch a day's CSV from the server into `dir`; its path.
async fn copy_csv(desk: &DeskArgs, date: NaiveDate, dir: &Path) -> anyhow::Result<PathBuf> {
    let Some(response) = desk
        .ask(Ask::get(format!("/reconcile/days/{date}/csv")))
        .await?
    else {
        bail!("the server stopped answering");
    };
    let bytes = response.bytes().await?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("reconcile-{date}.csv"));
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The run on a stopped server: its store, and adapters of our own.
fn reconcile_stopped(
    desk: &DeskArgs,
    date: Option<NaiveDate>,
    out: Option<PathBuf>,
    upstream_base: Option<String>,
) -> anyhow::Result<(DayResult, PathBuf)> {
    crate::telemetry::init_logging(false);
    let (store, mut settings) = desk.open_store()?;
    let base = upstream_base.unwrap_or_else(|| format!("http://{}", settings.server.listen));
    settings.resolve_self_urls(&base);
    let Some(upstreams) = settings.upstreams.clone() else {
        bail!("the settings have no [upstreams]: nothing to reconcile against");
    };
    let dir = out.unwrap_or_else(|| settings.reconcile.report_dir(&settings.server.data_dir));
    actix_rt::System::new().block_on(async move {
        let adapters = crate::adapters::start(&upstreams)
            .await
            .context("starting the upstream adapters")?;
        let reconciler = SledReconciler::on(&settings, &store, &adapters)?;
        let date = date.unwrap_or_else(|| reconciler.yesterday());
        anyhow::Ok(run_and_report(&reconciler, date, &dir).await?)
    })
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

fn queue(desk: &DeskArgs, all: bool) -> anyhow::Result<()> {
    let offset = desk.settings()?.server.utc_offset_hours;
    let items: Vec<ManualItem> = runtime()?.block_on(async {
        let path = format!("/reconcile/queue?all={all}");
        anyhow::Ok(match desk.ask(Ask::get(path)).await? {
            Some(response) => response.json().await.context("the server's answer")?,
            None => desk.local_desk()?.queue(all).await?,
        })
    })?;
    if items.is_empty() {
        println!("manual queue is empty");
    }
    for item in &items {
        print!("{}", queue_item(item, offset));
    }
    Ok(())
}

/// One manual item as `queue` prints it.
pub fn queue_item(item: &ManualItem, utc_offset_hours: i32) -> String {
    let l = &item.line;
    let mut out = format!(
        "{}  {}  {}  ours {} / theirs {} yuan  {}  order {}  {}\n",
        item.id,
        l.class.as_str(),
        l.upstream.as_str(),
        crate::domain::Fen(l.ours_fen.unwrap_or(0)).yuan(),
        crate::domain::Fen(l.theirs_fen.unwrap_or(0)).yuan(),
        l.sno_masked,
        l.order_id.as_deref().unwrap_or("-"),
        l.detail
    );
    out.push_str(&format!(
        "    serials {}  theirs: {}\n",
        l.serials, l.state_theirs
    ));
    if let Some(r) = &item.resolution {
        let at = chrono::DateTime::from_timestamp_millis(r.at_ms)
            .unwrap_or_default()
            .with_timezone(&crate::settings::campus_offset(utc_offset_hours))
            .format("%Y-%m-%d %H:%M");
        out.push_str(&format!("    resolved {at} by {}: {}\n", r.by, r.note));
    }
    out
}

fn resolve(desk: &DeskArgs, id: &str, note: &str, by: &str) -> anyhow::Result<()> {
    let item: ManualItem = runtime()?.block_on(async {
        let body = serde_json::json!({ "id": id, "by": by, "note": note });
        anyhow::Ok(
            match desk
                .ask(Ask::post("/reconcile/queue/resolve", body))
                .await?
            {
                Some(response) => response.json().await.context("the server's answer")?,
                None => desk.local_desk()?.resolve(id, by, note).await?,
            },
        )
    })?;
    println!("resolved {}", item.id);
    Ok(())
}

fn show(desk: &DeskArgs, date: NaiveDate, csv: Option<&Path>) -> anyhow::Result<()> {
    let (result, bytes): (DayResult, Option<Vec<u8>>) = runtime()?.block_on(async {
        if let Some(response) = desk
            .ask(Ask::get(format!("/reconcile/days/{date}")))
            .await?
        {
            let result = response.json().await.context("the server's answer")?;
            let bytes = match csv {
                Some(_) => match desk
                    .ask(Ask::get(format!("/reconcile/days/{date}/csv")))
                    .await?
                {
                    Some(r) => Some(r.bytes().await?.to_vec()),
                    None => bail!("the server stopped answering"),
                },
                None => None,
            };
            return anyhow::Ok((result, bytes));
        }
        let local = desk.local_desk()?;
        let bytes = match csv {
            Some(_) => Some(local.day_csv(date).await?),
            None => None,
        };
        Ok((local.day(date).await?, bytes))
    })?;
    print!("{}", summary(&result));
    if let (Some(path), Some(bytes)) = (csv, bytes) {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("CSV: {}", path.display());
    }
    Ok(())
}
