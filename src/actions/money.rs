//! Money in chat: the top-up dialog (「充值 50」 → amount and bank card shown → 「确认」 → one
//! order) and the fields of the notice that tells the user how an order ended.
//!
//! Why it exists: the order machine moves money but never speaks; this module decides what a
//! user is told, as a named message and its fields (the text lives in
//! `config/rules/money_messages.toml`). It must never move money itself, never create an
//! order without an explicit 「确认」, and never show a full bank card number.

use serde_json::{Value, json};

use super::support::yuan;
use crate::actors::orders::topup::refusal_code;
use crate::store::orders::{Order, OrderState};
use crate::wire::{Balance, ErrorCode};

/// The notice of a top-up that reached a terminal state: a message key and its fields.
pub fn top_up_notice(order: &Order, balance: Option<&Balance>) -> (&'static str, Value) {
    let fields = json!({
        "order_id": order.id.as_str(),
        "amount_yuan": order.amount.yuan(),
        "has_balance": balance.is_some(),
        "balance_yuan": balance.map(|b| yuan(b.balance_fen)).unwrap_or_default(),
        "pending_yuan": balance.map(|b| yuan(b.pending_fen)).unwrap_or_default(),
        "has_pending": balance.is_some_and(|b| b.pending_fen > 0),
    });
    let key = match order.state {
        OrderState::Succeeded => "topup.succeeded",
        OrderState::Failed => match refusal_code(order).and_then(ErrorCode::from_u32) {
            Some(ErrorCode::BankInsufficientFunds) => "topup.failed.insufficient_funds",
            Some(ErrorCode::BankOverLimit) => "topup.failed.over_limit",
            Some(ErrorCode::BankCardLost) => "topup.failed.bank_card_lost",
            Some(ErrorCode::BankAccountAbnormal) => "topup.failed.account_abnormal",
            Some(ErrorCode::BankOutOfServiceHours) => "topup.failed.bank_closed",
            Some(ErrorCode::BankNotBound) => "topup.no_bank_card",
            _ => "topup.failed",
        },
        OrderState::Reversed => "topup.reversed",
        OrderState::NeedsManual => "topup.needs_manual",
        // not an end: nothing to tell yet (the worker only notifies terminal orders)
        OrderState::Created
        | OrderState::Debiting
        | OrderState::Debited
        | OrderState::Crediting
        | OrderState::Reversing => "topup.processing",
    };
    (key, fields)
}

/// Every message a top-up notice may use (declared with the top-up action).
pub const NOTICE_MESSAGES: &[&str] = &[
    "topup.succeeded",
    "topup.failed",
    "topup.failed.insufficient_funds",
    "topup.failed.over_limit",
    "topup.failed.bank_card_lost",
    "topup.failed.account_abnormal",
    "topup.failed.bank_closed",
    "topup.no_bank_card",
    "topup.reversed",
    "topup.needs_manual",
    "topup.processing",
];
