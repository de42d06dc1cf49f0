//! `onecard tickets list|show|reply|move`: the service desk's repair-ticket commands. They go
//! through the running server's admin listener (`server.admin_listen`), which holds the store,
//! checks each move and tells the reporter (docs/notices.md, "Repair tickets").

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::FixedOffset;
use clap::Subcommand;
use serde_json::Value;

#[derive(Subcommand)]
pub enum TicketsCommand {
    /// Tickets, oldest first.
    List {
        /// Only tickets in this state (submitted, accepted, in_progress, resolved, rejected,
        /// confirmed).
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// One ticket with its history.
    Show {
        no: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Answer the reporter without changing the state (they get it in WeChat).
    Reply {
        no: String,
        text: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Move a ticket: accepted, in_progress, resolved or rejected (the reporter is told).
    Move {
        no: String,
        to: String,
        /// A reply sent to the reporter with the move.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The admin listener's base URL (default: `server.admin_listen` of `--config`).
    #[arg(long)]
    admin: Option<String>,
    /// The settings file whose `server.admin_listen` is used when `--admin` is not given.
    #[arg(long, default_value = "config/demo.toml")]
    config: PathBuf,
    /// Who is acting, for the audit trail (default: $USER).
    #[arg(long, env = "USER", default_value = "")]
    operator: String,
}

impl AdminArgs {
    /// Campus time (`server.utc_offset_hours` of `--config`): times print as 「我的报修」 shows
    /// them, whatever the machine's own zone.
    fn campus(&self) -> anyhow::Result<FixedOffset> {
        let hours = super::load(&self.config)?.server.utc_offset_hours;
        Ok(crate::settings::campus_offset(hours))
    }

    fn base(&self) -> anyhow::Result<String> {
        super::admin_base(self.admin.as_deref(), &self.config)
    }
}

pub fn run(command: TicketsCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            TicketsCommand::List { state, admin } => {
                let mut url = format!("{}/tickets", admin.base()?);
                if let Some(s) = state {
                    url = format!("{url}?state={s}");
                }
                let list = call(reqwest::Client::new().get(&url), &admin).await?;
                let tickets = list.as_array().cloned().unwrap_or_default();
                let campus = admin.campus()?;
                for t in &tickets {
                    println!(
                        "{}  {:<11}  {:<14}  {}  {}{}",
                        t["no"].as_str().unwrap_or_default(),
                        t["state"].as_str().unwrap_or_default(),
                        t["category"].as_str().unwrap_or_default(),
                        local(&t["created_at"], campus),
                        t["place"].as_str().unwrap_or_default(),
                        if t["photo"] == true { "  [照片]" } else { "" },
                    );
                }
                eprintln!("{} tickets", tickets.len());
            }
            TicketsCommand::Show { no, admin } => {
                let url = format!("{}/tickets/{no}", admin.base()?);
                print_ticket(
                    &call(reqwest::Client::new().get(&url), &admin).await?,
                    admin.campus()?,
                );
            }
            TicketsCommand::Reply { no, text, admin } => {
                let url = format!("{}/tickets/{no}/reply", admin.base()?);
                let body = serde_json::json!({ "operator": admin.operator, "text": text });
                let t = call(reqwest::Client::new().post(&url).json(&body), &admin).await?;
                println!("replied to {no}; {}", reporter_update(&t));
                print_ticket(&t, admin.campus()?);
            }
            TicketsCommand::Move {
                no,
                to,
                note,
                admin,
            } => {
                let url = format!("{}/tickets/{no}/move", admin.base()?);
                let body =
                    serde_json::json!({ "operator": admin.operator, "to": to, "note": note });
                let t = call(reqwest::Client::new().post(&url).json(&body), &admin).await?;
                println!(
                    "{no} is now {}; {}",
                    t["state"].as_str().unwrap_or_default(),
                    reporter_update(&t)
                );
            }
        }
        Ok(())
    })
}

/// What became of the reporter's update, in the desk's words.
fn reporter_update(ticket: &Value) -> &'static str {
    match ticket["reporter_update"].as_str() {
        Some("queued") => "the reporter is told in WeChat",
        Some("switched_off") => {
            "the reporter switched ticket updates off; they see it in 「我的报修」"
        }
        Some("daily_cap") => {
            "the reporter had today's ticket updates (alerts.daily_caps.ticket_updates); they see it in 「我的报修」"
        }
        Some("already_queued") => "the reporter was already told of this change",
        _ => "the reporter could not be told (see the server log); they see it in 「我的报修」",
    }
}

async fn call(req: reqwest::RequestBuilder, admin: &AdminArgs) -> anyhow::Result<Value> {
    let base = admin.base()?;
    let response = req
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| {
            format!("reaching the admin listener at {base} (is the server running?)")
        })?;
    let status = response.status();
    if !status.is_success() {
        let why = response.text().await.unwrap_or_default();
        bail!("{why} ({status})");
    }
    Ok(response.json().await?)
}

fn local(ts: &Value, campus: FixedOffset) -> String {
    ts.as_i64()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| {
            t.with_timezone(&campus)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn print_ticket(t: &Value, campus: FixedOffset) {
    let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
    println!("{}  {}  ({})", s("no"), s("state"), s("category"));
    println!("  user         {}", s("user"));
    println!("  place        {}", s("place"));
    println!("  description  {}", s("description"));
    if let Some(p) = t["photo"].as_object() {
        println!(
            "  photo        {} bytes, {} (GET /tickets/{}/photo on the admin listener)",
            p.get("size").and_then(Value::as_u64).unwrap_or(0),
            p.get("content_type")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            s("no"),
        );
    }
    for e in t["history"].as_array().into_iter().flatten() {
        let by = match e["operator"].as_str() {
            Some(op) if !op.is_empty() => op.to_owned(),
            _ => e["by"].as_str().unwrap_or_default().to_owned(),
        };
        let note = e["note"].as_str().unwrap_or_default();
        println!(
            "  {}  {:<11}  {}{}",
            local(&e["at"], campus),
            e["state"].as_str().unwrap_or_default(),
            by,
            if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            },
        );
    }
}
