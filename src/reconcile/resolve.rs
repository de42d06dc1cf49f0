//! The safe cases, resolved automatically: money that left a student and never arrived is
//! given back by key; an order whose money did arrive everywhere is completed (补单). Every
//! action is one audit entry; anything that does not go through becomes a manual item.
//!
//! A bank debit can be reversed only within its bank day (5201 after the cut), and the T+1
//! statement always comes after the cut: then the money is delivered instead — the card is
//! loaded with the order's redelivery key (the credit key was cancelled first, and a card
//! system refuses a cancelled key for good) and the order completes. Either way the student
//! ends with their money in exactly one place.
//!
//! Only the order's own step keys are used (`OrderId::step_key`), the same ones the order
//! machines send: a reversal or refund the machine already made is replayed by the upstream,
//! never made twice. Amount and unknown-key differences are never touched here.

use serde_json::json;

use super::matcher::{Outcome, Remedy};
use super::sources::Sources;
use crate::adapters::AdapterError;
use crate::domain::OrderStep;
use crate::store::StoreError;
use crate::store::orders::{Order, OrderKind, OrderState, OrderStore, OrderTask, Transition};
use crate::store::reconcile::Action;
use crate::wire::{ErrorCode, LoadCreate, LoadSource, Refund, Reverse, ReverseState, TradeState};

/// What one remedy did.
enum Done {
    /// Given back; the upstream's serial of the reversal or refund.
    Reversed(String),
    /// Delivered; the serial of the credit made now, if one was.
    Completed(Option<String>),
    Failed(String),
}

/// Give the debit back: cancel the credit by key first (so a late original cannot land), then
/// reverse the bank debit (top-up) or refund the card debit (payment).
async fn reverse_debit(sources: &Sources, order: &Order) -> Done {
    let id = &order.id;
    match &order.kind {
        OrderKind::TopUp => {
            let (Some(bank), Some(card)) = (&sources.bank, &sources.card) else {
                return Done::Failed("bank or card system not configured".into());
            };
            let cancel = Reverse {
                orig_out_trade_no: id.step_key(OrderStep::Credit),
                out_trade_no: id.step_key(OrderStep::CancelCredit),
            };
            if let Err(e) = card.reverse_load(&cancel).await {
                return Done::Failed(format!("card load cancel failed: {e}"));
            }
            let reversal = Reverse {
                orig_out_trade_no: id.step_key(OrderStep::Debit),
                out_trade_no: id.step_key(OrderStep::Reverse),
            };
            match bank.reverse(&reversal).await {
                Ok(r) => match r.state {
                    ReverseState::Reversed => Done::Reversed(r.trade_no.unwrap_or_default()),
                    ReverseState::NothingToReverse => {
                        Done::Failed("bank had nothing to reverse".into())
                    }
                },
                Err(AdapterError::Rejected { code, .. })
                    if code == ErrorCode::BankReverseWindowClosed.as_u32() =>
                {
                    let load = LoadCreate {
                        account: order.account.clone(),
                        amount_fen: order.amount,
                        out_trade_no: id.step_key(OrderStep::Redeliver),
                        source: LoadSource::Bank,
                        source_ref: id.step_key(OrderStep::Debit),
                    };
                    match card.load(&load).await {
                        Ok(r) if r.state == TradeState::Success => {
                            Done::Completed(Some(r.trade_no))
                        }
                        Ok(r) => Done::Failed(format!(
                            "bank reversal window closed; card load answered {:?}",
                            r.state
                        )),
                        Err(e) => Done::Failed(format!(
                            "bank reversal window closed; card load failed: {e}"
                        )),
                    }
                }
                Err(e) => Done::Failed(format!("bank reversal failed: {e}")),
            }
        }
        OrderKind::Payment { .. } => {
            let Some(card) = &sources.card else {
                return Done::Failed("card system not configured".into());
            };
            let refund = Refund {
                orig_out_trade_no: id.step_key(OrderStep::Debit),
                out_trade_no: id.step_key(OrderStep::Reverse),
                amount_fen: order.amount,
            };
            match card.refund(&refund).await {
                Ok(r) => Done::Reversed(r.trade_no),
                Err(e) => Done::Failed(format!("card refund failed: {e}")),
            }
        }
    }
}

/// Apply the outcome's remedy (when `enabled`), record what happened on its line, and return
/// the audit entry. Store failures stop the run; upstream failures make a manual item.
pub async fn apply<S: OrderStore>(
    orders: &S,
    sources: &Sources,
    enabled: bool,
    date: chrono::NaiveDate,
    outcome: &mut Outcome,
) -> Result<Option<serde_json::Value>, StoreError> {
    let Some(order) = outcome.order.clone() else {
        return Ok(None);
    };
    if !enabled || outcome.remedy == Remedy::None {
        return Ok(None);
    }
    let done = match outcome.remedy {
        Remedy::None => return Ok(None),
        Remedy::ReverseDebit => reverse_debit(sources, &order).await,
        Remedy::Complete => Done::Completed(None),
    };
    let line = &mut outcome.line;
    let (to, event, detail) = match done {
        Done::Failed(why) => {
            tracing::warn!(order = %order.id, %date, why, "reconcile: automatic resolution failed");
            line.action = Action::Manual;
            line.detail = format!("{}; automatic resolution failed: {why}", line.detail);
            return Ok(None);
        }
        Done::Reversed(serial) => {
            line.action = Action::AutoReversed;
            if !serial.is_empty() {
                line.serials = format!("{};{serial}", line.serials);
            }
            (
                OrderState::Reversed,
                "reconcile_auto_reversed",
                format!("reconciliation {date}: debit given back"),
            )
        }
        Done::Completed(serial) => {
            line.action = Action::AutoCompleted;
            if let Some(serial) = serial {
                line.serials = format!("{};{serial}", line.serials);
            }
            (
                OrderState::Succeeded,
                "reconcile_auto_completed",
                format!("reconciliation {date}: every upstream shows the money arrived"),
            )
        }
    };
    // The order ends where the money is; the user hears how it ended.
    if order.state != to {
        let change = Transition::new(order.state, to)
            .because(detail)
            .then(OrderTask::NotifyUser);
        orders.transition(&order.id, change).await?;
    }
    tracing::info!(order = %order.id, %date, action = line.action.as_str(), "reconcile: resolved automatically");
    Ok(Some(json!({
        "event": event,
        "date": date.to_string(),
        "order": order.id.as_str(),
        "key": line.key,
        "upstream": line.upstream.as_str(),
        "amount_fen": order.amount.fen(),
        "order_state_before": order.state,
    })))
}
