//! `onecard orders list|show`: the orders, for operators — above all the manual queue
//! (`--state needs_manual`, docs/MONEY.md). Through the running server's admin listener, or on
//! a stopped server's data directory (`cli::desk`); the same lines either way.

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use super::desk::{Ask, DeskArgs, runtime};
use crate::actions::money_desk::OrderFilter;

#[derive(Subcommand)]
pub enum OrdersCommand {
    /// One line per order (oldest first): id, state, kind, amount, created (UTC), last reason.
    /// Without a filter: every unfinished order.
    List {
        /// Only orders in this state: created, debiting, debited, crediting, claiming, succeeded,
        /// failed, reversing, reversed, needs_manual.
        #[arg(long)]
        state: Option<String>,
        /// Only this card holder's orders (学工号).
        #[arg(long)]
        sno: Option<String>,
        /// Only orders created on this campus day (YYYY-MM-DD).
        #[arg(long)]
        day: Option<String>,
        /// One JSON object per line (with the whole history) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        desk: DeskArgs,
    },
    /// One order: its keys at the upstreams and every state change.
    Show {
        id: String,
        #[command(flatten)]
        desk: DeskArgs,
    },
}

pub fn run(command: OrdersCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            OrdersCommand::List {
                state,
                sno,
                day,
                json,
                desk,
            } => {
                let filter = OrderFilter::parse(state.as_deref(), sno.as_deref(), day.as_deref())?;
                let query: Vec<(&str, &str)> = [("state", &state), ("sno", &sno), ("day", &day)]
                    .into_iter()
                    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
                    .collect();
                let path = format!("/orders?{}", query_string(&query));
                let list: Vec<Value> = match desk.ask(Ask::get(path)).await? {
                    Some(response) => response.json().await.context("the server's answer")?,
                    None => desk.local_desk()?.orders(&filter).await?,
                };
                let mut out = String::new();
                for order in &list {
                    if json {
                        out.push_str(&serde_json::to_string(order)?);
                        out.push('\n');
                    } else {
                        out.push_str(&text_line(order));
                    }
                }
                print!("{out}");
                eprintln!("{} orders", list.len());
            }
            OrdersCommand::Show { id, desk } => {
                let order: Value = match desk.ask(Ask::get(format!("/orders/{id}"))).await? {
                    Some(response) => response.json().await.context("the server's answer")?,
                    None => desk.local_desk()?.order(&id).await?,
                };
                print!("{}", show(&order));
            }
        }
        anyhow::Ok(())
    })
}

/// `a=b&c=d`, percent-encoded.
fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("a fixed URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

fn utc(ms: &Value) -> String {
    ms.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn yuan(fen: &Value) -> String {
    crate::domain::Fen(fen.as_i64().unwrap_or(0)).yuan()
}

/// `{id}  {state}  {kind}  {amount} 元  {created} UTC  {last reason}`.
pub fn text_line(order: &Value) -> String {
    let s = |k: &str| order[k].as_str().unwrap_or_default().to_owned();
    format!(
        "{}  {:<12}  {:<8}  {:>10} 元  {} UTC  {}\n",
        s("id"),
        s("state"),
        s("kind"),
        yuan(&order["amount_fen"]),
        utc(&order["created_at_ms"]),
        s("reason"),
    )
}

/// The order, its keys, then one line per state change.
pub fn show(order: &Value) -> String {
    let s = |k: &str| order[k].as_str().unwrap_or_default().to_owned();
    let mut out = format!("{}  {}  ({})\n", s("id"), s("state"), s("kind"));
    if let Some(biller) = order["biller_id"].as_str() {
        out.push_str(&format!(
            "  biller       {biller} / {}\n",
            order["target_id"].as_str().unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "  amount       {} 元\n",
        yuan(&order["amount_fen"])
    ));
    out.push_str(&format!("  学工号        {}\n", s("sno")));
    out.push_str(&format!("  account      {}\n", s("account")));
    out.push_str(&format!(
        "  created      {} UTC\n",
        utc(&order["created_at_ms"])
    ));
    let key = |k: &str| order["keys"][k].as_str().unwrap_or_default().to_owned();
    out.push_str(&format!(
        "  keys         debit {}  credit {}  cancel {}  reverse {}\n",
        key("debit"),
        key("credit"),
        key("cancel_credit"),
        key("reverse")
    ));
    for change in order["history"].as_array().into_iter().flatten() {
        let detail = change["detail"].as_str().unwrap_or_default();
        out.push_str(&format!(
            "  {} UTC  {} → {}{}\n",
            utc(&change["at_ms"]),
            change["from"].as_str().unwrap_or_default(),
            change["to"].as_str().unwrap_or_default(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        ));
    }
    out
}
