//! The six self-service payments (自助缴费) in chat: dorm electricity, network fee, photo fee,
//! library fines, language-exam fee and alumni donation.
//!
//! Every payment is the same conversation: look up what is owed or held (the biller, or the
//! public data store for library fines) → show exactly what will be paid, from which card →
//! 「确认」 → one order in the orders store, which the order worker drives (card e-wallet debit,
//! biller credit, refund if the biller does not take it) and whose end is pushed to the user.
//! The offer is checked before it is shown, so the common refusals are a clear reply, not a
//! failed order: the biller's own amount rules (catalog minimum and maximum), the card's state
//! (lost, frozen), its balance and its limits (single, daily, and the 免密 amount above which
//! the card system wants the card password, which a chat never asks for).
//!
//! Idempotency: an offer gets its order id when it is shown, kept in the dialog; 「确认」 creates
//! the order under the key `pay:{openid}:{order id}`. A redelivered or replayed 「确认」 finds
//! the same order; a second 「确认」 after the first has no offer left to confirm.
//!
//! Actions here never build sentences: they return fields for the messages in
//! `config/rules/payments_messages.toml`. They never log a room, an account or a student
//! number.

mod billers;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::support::{adapters, binding, is_confirm, upstream};
use super::{ActionDef, ActionError, ActionInput, ActionOutput, DialogChange};
use crate::actors::payments::Outcome;
use crate::adapters::BillersHandle;
use crate::domain::{Fen, OrderId};
use crate::store::orders::{Created, NewOrder, Order, OrderKind, OrderStore, OrderTask};
use crate::wire::{Biller, CardStatus, ErrorCode};

/// `[payments]`: what the chat offers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentSettings {
    /// The network-fee packages offered, in fen, in the order shown.
    pub net_packages_fen: Vec<i64>,
    /// A donation message longer than this is asked again.
    pub donation_message_max_chars: usize,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            net_packages_fen: vec![1_000, 2_000, 3_000, 5_000],
            donation_message_max_chars: 50,
        }
    }
}

pub(super) fn all() -> Vec<ActionDef> {
    billers::all()
}

/// The notices of a finished payment ([`payment_notice`]), pushed by the order worker.
pub const NOTICE_MESSAGES: &[&str] = &[
    "pay.succeeded.elec",
    "pay.succeeded.net",
    "pay.succeeded.photo",
    "pay.succeeded.library",
    "pay.succeeded.exam",
    "pay.succeeded.donation",
    "pay.succeeded",
    "pay.failed",
    "pay.failed.insufficient",
    "pay.failed.card_unusable",
    "pay.failed.limit",
    "pay.refunded",
    "pay.refunded.already_paid",
    "pay.refunded.day_limit",
    "pay.refunded.meter_offline",
    "pay.needs_manual",
    "pay.processing",
];

/// What the user is about to pay, kept in the dialog between the offer and 「确认」.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Offer {
    /// The order id this offer becomes; also the idempotency of its 「确认」.
    order_id: String,
    biller_id: String,
    target_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    receivable_ids: Vec<String>,
    amount_fen: Fen,
    /// What the offer showed, shown again with the acceptance.
    item: String,
    /// A donor's message for the biller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

const CONFIRM_STEP: &str = "confirm";

fn billers_of<'a>(input: &ActionInput<'a>) -> Result<&'a BillersHandle, ActionError> {
    adapters(input)?
        .billers
        .as_ref()
        .ok_or(ActionError::NotConfigured("billers"))
}

/// The biller's catalog entry (amount rules).
async fn catalog_entry(input: &ActionInput<'_>, biller_id: &str) -> Result<Biller, ActionError> {
    let catalog = billers_of(input)?
        .catalog()
        .await
        .map_err(upstream("billers"))?;
    catalog
        .items
        .into_iter()
        .find(|b| b.biller_id == biller_id)
        .ok_or(ActionError::NotConfigured("billers"))
}

/// An amount typed by the user, checked against the biller's minimum and maximum: the amount,
/// or the reply that asks again (the dialog stays where it is).
fn amount_within(text: &str, biller: &Biller) -> Result<Fen, ActionOutput> {
    let Ok(amount) = Fen::parse_yuan(text) else {
        return Err(ActionOutput::message("pay.bad_amount", json!({})));
    };
    if amount < biller.min_fen {
        return Err(ActionOutput::message(
            "pay.below_min",
            json!({ "item": biller.name, "min_yuan": biller.min_fen.yuan() }),
        ));
    }
    if amount > biller.max_fen {
        return Err(ActionOutput::message(
            "pay.above_max",
            json!({ "item": biller.name, "max_yuan": biller.max_fen.yuan() }),
        ));
    }
    Ok(amount)
}

/// Show `offer` with the biller's own message `key` once the card can pay it; otherwise the
/// reply that says why not (and the dialog ends: nothing is pending).
async fn offer(
    input: &ActionInput<'_>,
    offer: Offer,
    key: &'static str,
    mut fields: Value,
) -> Result<ActionOutput, ActionError> {
    let b = binding(input)?;
    let card = &adapters(input)?.card;
    let info = card.card_info(&b.account).await.map_err(upstream("card"))?;
    let amount = offer.amount_fen;
    let refuse = |key: &'static str, extra: Value| {
        let mut f = json!({ "item": offer.item, "amount_yuan": amount.yuan() });
        merge(&mut f, extra);
        Ok(ActionOutput::message(key, f).with_dialog(DialogChange::End))
    };
    if info.status != CardStatus::Normal {
        let status = super::card::status_label(input, info.status)?;
        return refuse("pay.card_unusable", json!({ "status": status }));
    }
    let balance = card.balance(&b.account).await.map_err(upstream("card"))?;
    let Some(balance_after) = balance
        .balance_fen
        .checked_sub(amount)
        .filter(|after| *after >= Fen(0))
    else {
        return refuse(
            "pay.insufficient",
            json!({ "balance_yuan": balance.balance_fen.yuan() }),
        );
    };
    if amount > balance.single_limit_fen {
        return refuse(
            "pay.over_single_limit",
            json!({ "limit_yuan": balance.single_limit_fen.yuan() }),
        );
    }
    if balance
        .day_spent_fen
        .checked_add(amount)
        .is_none_or(|spent| spent > balance.day_limit_fen)
    {
        return refuse(
            "pay.over_day_limit",
            json!({
                "spent_yuan": balance.day_spent_fen.yuan(),
                "limit_yuan": balance.day_limit_fen.yuan(),
            }),
        );
    }
    if amount > balance.nopwd_limit_fen {
        return refuse(
            "pay.needs_password",
            json!({ "limit_yuan": balance.nopwd_limit_fen.yuan() }),
        );
    }
    merge(
        &mut fields,
        json!({
            "item": offer.item,
            "amount_yuan": amount.yuan(),
            "card_no_masked": super::support::mask_card(&b.card_no),
            "balance_yuan": balance.balance_fen.yuan(),
            "balance_after_yuan": balance_after.yuan(),
        }),
    );
    let data = serde_json::to_value(&offer).unwrap_or_default();
    Ok(
        ActionOutput::message(key, fields).with_dialog(DialogChange::Step {
            step: CONFIRM_STEP.to_owned(),
            data,
        }),
    )
}

/// A new offer's order id (taken when it is shown).
fn new_order_id(input: &ActionInput<'_>) -> String {
    OrderId::generate(input.now.saturating_mul(1000)).to_string()
}

/// The answer to an offer: 「确认」 creates its order (once), anything else drops it.
async fn confirm(input: &ActionInput<'_>, data: &Value) -> Result<ActionOutput, ActionError> {
    let Ok(offer) = serde_json::from_value::<Offer>(data.clone()) else {
        return Ok(ActionOutput::message("pay.kept", json!({})).with_dialog(DialogChange::End));
    };
    let fields = json!({ "item": offer.item, "amount_yuan": offer.amount_fen.yuan() });
    if !is_confirm(input) {
        return Ok(ActionOutput::message("pay.kept", fields).with_dialog(DialogChange::End));
    }
    let b = binding(input)?;
    let (Ok(id), Some(sno)) = (OrderId::parse(&offer.order_id), Some(b.student_id.clone())) else {
        return Ok(ActionOutput::message("pay.kept", fields).with_dialog(DialogChange::End));
    };
    let order = NewOrder {
        id,
        idempotency_key: format!("pay:{}:{}", input.openid.as_str(), offer.order_id),
        kind: OrderKind::Payment {
            biller_id: offer.biller_id.clone(),
            target_id: offer.target_id.clone(),
            receivable_ids: offer.receivable_ids.clone(),
            note: offer.note.clone(),
        },
        openid: input.openid.clone(),
        sno,
        account: b.account.clone(),
        amount: offer.amount_fen,
    };
    let created = input
        .services
        .store
        .orders()?
        .create(order, Some(OrderTask::Advance))
        .await?;
    let order = created.order();
    if let Created::Created(_) = created {
        // the first step is due now: the worker takes it without waiting for its next poll
        if let Some(money) = &input.services.money {
            money.worker.wake();
        }
        input.services.store.audit(&json!({
            "event": "payment_ordered",
            "order": order.id.as_str(),
            "biller": offer.biller_id,
            "amount_fen": offer.amount_fen,
            "user": input.openid.log_tag(),
        }))?;
    }
    let mut fields = fields;
    merge(&mut fields, json!({ "order_id": order.id.as_str() }));
    Ok(ActionOutput::message("pay.accepted", fields).with_dialog(DialogChange::End))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// How a finished payment is told to its user: the message key and its fields.
pub fn payment_notice(order: &Order) -> (&'static str, Value) {
    let biller_id = match &order.kind {
        OrderKind::Payment { biller_id, .. } => biller_id.as_str(),
        OrderKind::TopUp => "",
    };
    let fields = json!({
        "order_id": order.id.as_str(),
        "amount_yuan": order.amount.yuan(),
        "biller_id": biller_id,
    });
    let key = match Outcome::of(order) {
        Outcome::Paid => match biller_id {
            "elec" => "pay.succeeded.elec",
            "net" => "pay.succeeded.net",
            "photo" => "pay.succeeded.photo",
            "library" => "pay.succeeded.library",
            "exam" => "pay.succeeded.exam",
            "donation" => "pay.succeeded.donation",
            _ => "pay.succeeded",
        },
        Outcome::Refused { card_code } => match card_code.and_then(ErrorCode::from_u32) {
            Some(ErrorCode::InsufficientFunds) => "pay.failed.insufficient",
            Some(
                ErrorCode::StatusNotNormal
                | ErrorCode::AlreadyLost
                | ErrorCode::CardFrozen
                | ErrorCode::CardClosed,
            ) => "pay.failed.card_unusable",
            Some(
                ErrorCode::OverSingleLimit | ErrorCode::OverDayLimit | ErrorCode::PasswordRequired,
            ) => "pay.failed.limit",
            _ => "pay.failed",
        },
        Outcome::Refunded { biller_code } => match biller_code.and_then(ErrorCode::from_u32) {
            Some(ErrorCode::AlreadyPaid) => "pay.refunded.already_paid",
            Some(ErrorCode::BillerDayLimit) => "pay.refunded.day_limit",
            Some(ErrorCode::MeterOffline) => "pay.refunded.meter_offline",
            _ => "pay.refunded",
        },
        Outcome::Manual => "pay.needs_manual",
        Outcome::InProgress => "pay.processing",
    };
    (key, fields)
}
