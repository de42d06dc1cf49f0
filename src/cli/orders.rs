//! `onecard orders list`: the orders in the store, for operators — above all the manual queue
//! (`--state needs_manual`, docs/MONEY.md). Reads the store directly, so run it with the server
//! stopped or on a restored copy of `onecard store export`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::store::OrderStore;
use crate::store::orders::{Order, OrderState};

#[derive(Subcommand)]
pub enum OrdersCommand {
    /// One line per order (oldest first): id, state, kind, amount, created (UTC), last reason.
    List {
        /// Only orders in this state: created, debiting, debited, crediting, succeeded, failed,
        /// reversing, reversed, needs_manual. Without it: every unfinished order.
        #[arg(long)]
        state: Option<String>,
        /// Data directory of the store.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// One JSON object per line (with the whole history) instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: OrdersCommand) -> anyhow::Result<()> {
    let OrdersCommand::List { state, data, json } = command;
    let state: Option<OrderState> = state
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.clone())).with_context(|| {
                format!("unknown state `{s}`: use created, debiting, debited, crediting, succeeded, failed, reversing, reversed or needs_manual")
            })
        })
        .transpose()?;
    let store = crate::store::Store::open(&data, 16)?;
    let orders = store.orders()?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let list = runtime.block_on(async {
        match state {
            Some(state) => orders.list_in_state(state).await,
            None => orders.list_unfinished().await,
        }
    })?;
    let mut out = std::io::stdout().lock();
    for order in &list {
        if json {
            serde_json::to_writer(&mut out, &json_line(order))?;
            std::io::Write::write_all(&mut out, b"\n")?;
        } else {
            std::io::Write::write_all(&mut out, text_line(order).as_bytes())?;
        }
    }
    eprintln!("{} orders", list.len());
    Ok(())
}

fn json_line(order: &Order) -> serde_json::Value {
    serde_json::json!({
        "id": order.id,
        "kind": order.kind,
        "state": order.state,
        "amount_fen": order.amount.fen(),
        "sno": order.sno.as_str(),
        "account": order.account,
        "created_at_ms": order.created_at_ms,
        "updated_at_ms": order.updated_at_ms,
        "history": order.history,
    })
}

fn text_line(order: &Order) -> String {
    let created = chrono::DateTime::from_timestamp_millis(order.created_at_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let reason = order
        .history
        .iter()
        .rev()
        .find_map(|c| c.detail.as_deref())
        .unwrap_or("");
    let state = serde_json::to_value(order.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let kind = serde_json::to_value(&order.kind)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{}  {state:<12}  {kind:<8}  {:>10} 元  {created} UTC  {reason}\n",
        order.id,
        order.amount.yuan()
    )
}
