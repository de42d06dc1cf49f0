//! Money in chat: the top-up dialog (「充值 50」 → amount and bank card shown → 「确认」 → one
//! order), 「领取」 (过渡余额: claimed online or shown with where to tap, per
//! `[orders.topup] claim`), and the fields of the notice that tells the
//! user how an order ended.
//!
//! Why it exists: the order machine moves money but never speaks; this module decides what a
//! user may start and what they are told, as named messages and their fields (the text lives in
//! `config/rules/money_messages.toml`). Every refusal it can know of — limits, the service
//! window, no bound bank card, a lost card, an amount the card system cannot load — is given
//! here, before any money moves.
//!
//! It must never move money itself (it creates the order; the worker moves it), never create
//! an order without an explicit 「确认」, never create two for one confirmation, and never show
//! a full bank card number.

use std::sync::Arc;

use serde_json::{Value, json};

use super::support::{adapters, argument, binding, is_confirm, mask_card, yuan};
use super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::actors::orders::topup::{claimed_online, debit_went_unresolved, refusal_code};
use crate::actors::orders::{TopUpSettings, WorkerHandle};
use crate::adapters::AdapterError;
use crate::domain::{Fen, OrderId};
use crate::settings::ClaimMode;
use crate::store::SledOrders;
use crate::store::orders::{
    Created, NewOrder, Order, OrderClock, OrderKind, OrderState, OrderStore, OrderTask,
};
use crate::wire::{Balance, CardStatus, ClaimPending, ErrorCode};

/// What the money actions use besides the adapters: the orders store, the worker to wake,
/// the school's top-up settings and the clock they are judged by.
#[derive(Clone)]
pub struct Money {
    pub orders: SledOrders,
    pub worker: WorkerHandle,
    pub topup: TopUpSettings,
    /// The one time the top-up checks read (the service window and the campus day of the
    /// day's total): the system clock, or in the demo the simulated campus's business time,
    /// so moving the simulators' clock moves the window with it.
    pub clock: Arc<dyn OrderClock>,
}

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "top_up",
            fields: &[],
            messages: &[
                "topup.ask_amount",
                "topup.bad_amount",
                "topup.whole_yuan",
                "topup.under_minimum",
                "topup.over_order_limit",
                "topup.over_day_limit",
                "topup.closed",
                "topup.no_bank_card",
                "topup.card_lost",
                "topup.card_not_normal",
                "topup.over_wallet_cap",
                "topup.confirm",
                "topup.accepted",
                "topup.already_submitted",
                "topup.kept",
                "default.hint",
            ],
            words: &["confirm"],
            run: top_up,
        },
        ActionDef {
            name: "claim_pending",
            fields: &[],
            messages: &[
                "topup.pending",
                "topup.no_pending",
                "claim.done",
                "claim.card_lost",
                "claim.card_not_normal",
            ],
            words: &[],
            run: claim_pending,
        },
    ]
}

fn money<'a>(input: &ActionInput<'a>) -> Result<&'a Money, ActionError> {
    input
        .services
        .money
        .as_ref()
        .ok_or(ActionError::NotConfigured("orders"))
}

fn upstream_error(name: &'static str) -> impl Fn(AdapterError) -> ActionError {
    super::support::upstream(name)
}

/// Campus local time of `now` (Unix seconds): (minute of the day, start of the day in Unix ms).
fn campus_clock(now: i64, utc_offset_hours: i32) -> (u32, i64) {
    let offset = i64::from(utc_offset_hours) * 3600;
    let local = now + offset;
    let into_day = local.rem_euclid(86_400);
    let day_start = (local - into_day - offset) * 1000;
    ((into_day / 60) as u32, day_start)
}

/// The dialog step that takes the amount as the user's next text.
fn ask_amount() -> DialogChange {
    DialogChange::Step {
        step: "amount".into(),
        data: json!({}),
    }
}

/// A refusal as a message that ends the dialog.
fn refuse(key: &'static str, fields: Value) -> ActionOutput {
    ActionOutput::message(key, fields).with_dialog(DialogChange::End)
}

/// The checks that need no upstream: amount rules, the window and the day's total. `None`
/// when the amount may be topped up now.
async fn local_refusal(
    input: &ActionInput<'_>,
    settings: &TopUpSettings,
    amount: Fen,
) -> Result<Option<ActionOutput>, ActionError> {
    let fields = json!({
        "amount_yuan": amount.yuan(),
        "min_yuan": settings.min_yuan,
        "per_order_max_yuan": settings.per_order_max_yuan,
        "per_day_max_yuan": settings.per_day_max_yuan,
        "hours": settings.service_hours.map(|h| h.display()).unwrap_or_default(),
    });
    // an amount that can never be loaded: ask again for another
    let ask_again =
        |key| Some(ActionOutput::message(key, fields.clone()).with_dialog(ask_amount()));
    if settings.whole_yuan_only && amount.fen() % 100 != 0 {
        return Ok(ask_again("topup.whole_yuan"));
    }
    if amount.fen() < settings.min_yuan * 100 {
        return Ok(ask_again("topup.under_minimum"));
    }
    if amount.fen() > settings.per_order_max_yuan * 100 {
        return Ok(ask_again("topup.over_order_limit"));
    }
    let m = money(input)?;
    let now = m.clock.now_ms().div_euclid(1000);
    let (minute, day_start_ms) = campus_clock(now, input.services.utc_offset_hours);
    if settings.service_hours.is_some_and(|h| !h.contains(minute)) {
        return Ok(Some(refuse("topup.closed", fields)));
    }
    let today = m.orders.list_for_user(input.openid, day_start_ms).await?;
    let spent: i64 = today
        .iter()
        .filter(|o| o.kind == OrderKind::TopUp)
        .filter(|o| !matches!(o.state, OrderState::Failed | OrderState::Reversed))
        .map(|o| o.amount.fen())
        .sum();
    if spent + amount.fen() > settings.per_day_max_yuan * 100 {
        let mut fields = fields;
        fields["left_yuan"] = json!(yuan((settings.per_day_max_yuan * 100 - spent).max(0)));
        return Ok(Some(refuse("topup.over_day_limit", fields)));
    }
    Ok(None)
}

/// Check everything that can be known before money moves, then show the amount and the bank
/// card and ask for 「确认」.
async fn prepare(input: &ActionInput<'_>, amount: Fen) -> Result<ActionOutput, ActionError> {
    let settings = &money(input)?.topup;
    if let Some(refusal) = local_refusal(input, settings, amount).await? {
        return Ok(refusal);
    }
    let b = binding(input)?;
    let ups = adapters(input)?;
    let bank = ups
        .bank
        .as_ref()
        .ok_or(ActionError::NotConfigured("bank"))?;
    let fields = json!({
        "amount_yuan": amount.yuan(),
        "card_no_masked": mask_card(&b.card_no),
    });
    let bank_card = match bank.binding(&b.student_id).await {
        Ok(card) if card.bound => card,
        Ok(_) => return Ok(refuse("topup.no_bank_card", fields)),
        Err(e) if e.code() == Some(ErrorCode::BankNotBound) => {
            return Ok(refuse("topup.no_bank_card", fields));
        }
        Err(e) => return Err(upstream_error("bank")(e)),
    };
    let info = ups
        .card
        .card_info(&b.account)
        .await
        .map_err(upstream_error("card"))?;
    match info.status {
        CardStatus::Normal => {}
        CardStatus::Lost => return Ok(refuse("topup.card_lost", fields)),
        CardStatus::Frozen | CardStatus::Closed => {
            return Ok(refuse("topup.card_not_normal", fields));
        }
    }
    let balance = ups
        .card
        .balance(&b.account)
        .await
        .map_err(upstream_error("card"))?;
    let room = balance
        .wallet_cap_fen
        .checked_sub(balance.balance_fen)
        .and_then(|r| r.checked_sub(balance.pending_fen))
        .unwrap_or_default()
        .max(Fen(0));
    if amount > room {
        let mut fields = fields;
        fields["room_yuan"] = json!(room.yuan());
        fields["cap_yuan"] = json!(balance.wallet_cap_fen.yuan());
        return Ok(refuse("topup.over_wallet_cap", fields));
    }
    let masked = bank_card.card_masked.unwrap_or_default();
    let tail: String = masked
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let nonce = format!("{:016x}", rand::random::<u64>());
    Ok(ActionOutput::message(
        "topup.confirm",
        json!({
            "amount_yuan": amount.yuan(),
            "card_no_masked": mask_card(&b.card_no),
            "bank_name": bank_card.bank_name.unwrap_or_default(),
            "bank_card_tail": tail,
        }),
    )
    .with_dialog(DialogChange::Step {
        step: "confirm".into(),
        data: json!({ "amount_fen": amount.fen(), "nonce": nonce }),
    }))
}

fn order_fields(order: &Order) -> Value {
    json!({
        "order_id": order.id.as_str(),
        "amount_yuan": order.amount.yuan(),
        "done": order.state.is_terminal(),
    })
}

/// 「确认」: create the order (one per confirmation: the key is the dialog's nonce) and wake
/// the worker.
async fn confirm(input: &ActionInput<'_>, data: &Value) -> Result<ActionOutput, ActionError> {
    let amount = Fen(data.get("amount_fen").and_then(Value::as_i64).unwrap_or(0));
    let nonce = data
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if amount.fen() <= 0 || nonce.is_empty() {
        return Ok(ActionOutput::message("topup.ask_amount", json!({})).with_dialog(ask_amount()));
    }
    let m = money(input)?;
    let key = format!("topup:{}:{nonce}", input.openid.as_str());
    if let Some(existing) = m.orders.find_by_key(&key).await? {
        return Ok(refuse("topup.already_submitted", order_fields(&existing)));
    }
    // time has passed since the amount was shown: the window and the day's total again
    if let Some(refusal) = local_refusal(input, &m.topup, amount).await? {
        return Ok(refusal.with_dialog(DialogChange::End));
    }
    let b = binding(input)?;
    let order = NewOrder {
        id: OrderId::generate(input.now * 1000),
        idempotency_key: key,
        kind: OrderKind::TopUp,
        openid: input.openid.clone(),
        sno: b.student_id.clone(),
        account: b.account.clone(),
        amount,
    };
    let created = m.orders.create(order, Some(OrderTask::Advance)).await?;
    m.worker.wake();
    Ok(match created {
        Created::Created(order) => {
            tracing::info!(user = %input.openid.log_tag(), order = %order.id, amount_fen = order.amount.fen(), "top-up confirmed");
            ActionOutput::message("topup.accepted", order_fields(&order)).with_dialog(
                DialogChange::Step {
                    step: "submitted".into(),
                    data: json!({ "order_id": order.id.as_str() }),
                },
            )
        }
        Created::Existing(order) => refuse("topup.already_submitted", order_fields(&order)),
    })
}

fn top_up(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        money(&input)?;
        let Some(dialog) = input.dialog else {
            return match argument(&input) {
                None => {
                    Ok(ActionOutput::message("topup.ask_amount", json!({}))
                        .with_dialog(ask_amount()))
                }
                Some(raw) => match Fen::parse_yuan(&raw) {
                    Ok(amount) => prepare(&input, amount).await,
                    Err(_) => Ok(ActionOutput::message("topup.bad_amount", json!({}))
                        .with_dialog(ask_amount())),
                },
            };
        };
        match dialog.step.as_str() {
            "confirm" if is_confirm(&input) => confirm(&input, &dialog.data).await,
            "confirm" => Ok(refuse("topup.kept", json!({}))),
            "submitted" if is_confirm(&input) => {
                let id = dialog.data.get("order_id").and_then(Value::as_str);
                let order = match id.and_then(|id| OrderId::parse(id).ok()) {
                    Some(id) => money(&input)?.orders.get(&id).await?,
                    None => None,
                };
                Ok(match order {
                    Some(order) => refuse("topup.already_submitted", order_fields(&order)),
                    None => refuse("default.hint", json!({})),
                })
            }
            "submitted" => Ok(refuse("default.hint", json!({}))),
            // "amount" (and a step this version does not know): the text is the amount
            _ => match Fen::parse_yuan(input.text) {
                Ok(amount) => prepare(&input, amount).await,
                Err(_) => Ok(ActionOutput::message("topup.bad_amount", json!({}))),
            },
        }
    })
}

/// 「领取」: where the school claims online (`[orders.topup] claim`), move what waits in 过渡余额
/// onto the card and say how much and the new balance; elsewhere say what waits and where to
/// tap the card. Nothing pending is said without a write to the card system.
fn claim_pending(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let card = &adapters(&input)?.card;
        let mode = input
            .services
            .money
            .as_ref()
            .map_or(ClaimMode::AtTap, |m| m.topup.claim);
        let masked = mask_card(&b.card_no);
        let fields = |balance: &Balance| {
            json!({
                "balance_yuan": balance.balance_fen.yuan(),
                "pending_yuan": balance.pending_fen.yuan(),
                "card_no_masked": masked,
            })
        };
        let balance = card
            .balance(&b.account)
            .await
            .map_err(upstream_error("card"))?;
        if balance.pending_fen <= Fen(0) {
            return Ok(ActionOutput::message("topup.no_pending", fields(&balance)));
        }
        if !mode.online() {
            return Ok(ActionOutput::message("topup.pending", fields(&balance)));
        }
        // A fresh key per 「领取」: a claim moves no money in or out, so a repeat is harmless
        // (it finds nothing pending); the callback's own dedup answers a redelivered message.
        let request = ClaimPending {
            account: b.account.clone(),
            out_trade_no: format!("CLM{}{:016x}", input.now, rand::random::<u64>()),
        };
        match card.claim_pending(&request).await {
            Ok(done) => {
                tracing::info!(user = %input.openid.log_tag(), claimed_fen = done.claimed_fen.fen(), "pending loads claimed on request");
                Ok(ActionOutput::message(
                    "claim.done",
                    json!({
                        "claimed_yuan": done.claimed_fen.yuan(),
                        "balance_yuan": done.balance_fen_after.yuan(),
                        "card_no_masked": masked,
                    }),
                ))
            }
            // tapped at a POS since the balance was read
            Err(e) if e.code() == Some(ErrorCode::NothingToClaim) => {
                let now = card
                    .balance(&b.account)
                    .await
                    .map_err(upstream_error("card"))?;
                Ok(ActionOutput::message("topup.no_pending", fields(&now)))
            }
            Err(e) if e.code() == Some(ErrorCode::StatusNotNormal) => {
                let info = card
                    .card_info(&b.account)
                    .await
                    .map_err(upstream_error("card"))?;
                let key = match info.status {
                    CardStatus::Lost => "claim.card_lost",
                    CardStatus::Normal | CardStatus::Frozen | CardStatus::Closed => {
                        "claim.card_not_normal"
                    }
                };
                Ok(ActionOutput::message(key, fields(&balance)))
            }
            Err(e) => Err(upstream_error("card")(e)),
        }
    })
}

/// The notice of a top-up that reached a terminal state: a message key and its fields.
/// `claim` says how money waiting in 过渡余额 is claimed (the hint the user is given).
pub fn top_up_notice(
    order: &Order,
    balance: Option<&Balance>,
    claim: ClaimMode,
) -> (&'static str, Value) {
    let fields = json!({
        "claim_online": claim.online(),
        "order_id": order.id.as_str(),
        "amount_yuan": order.amount.yuan(),
        "has_balance": balance.is_some(),
        "balance_yuan": balance.map(|b| b.balance_fen.yuan()).unwrap_or_default(),
        "pending_yuan": balance.map(|b| b.pending_fen.yuan()).unwrap_or_default(),
        "has_pending": balance.is_some_and(|b| b.pending_fen > Fen(0)),
    });
    let key = match order.state {
        OrderState::Succeeded if claimed_online(order) => "topup.succeeded.claimed",
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
        OrderState::Reversed if debit_went_unresolved(order) => "topup.debit_unresolved",
        OrderState::Reversed => "topup.reversed",
        OrderState::NeedsManual => "topup.needs_manual",
        // not an end: nothing to tell yet (the worker only notifies terminal orders)
        OrderState::Created
        | OrderState::Debiting
        | OrderState::Debited
        | OrderState::Crediting
        | OrderState::Claiming
        | OrderState::Reversing => "topup.processing",
    };
    (key, fields)
}

/// Every message a top-up notice may use (declared with the top-up action).
pub const NOTICE_MESSAGES: &[&str] = &[
    "topup.succeeded",
    "topup.succeeded.claimed",
    "topup.failed",
    "topup.failed.insufficient_funds",
    "topup.failed.over_limit",
    "topup.failed.bank_card_lost",
    "topup.failed.account_abnormal",
    "topup.failed.bank_closed",
    "topup.no_bank_card",
    "topup.reversed",
    "topup.debit_unresolved",
    "topup.needs_manual",
    "topup.processing",
];
