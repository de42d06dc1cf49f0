//! Telling the user how an order ended, through the pusher's durable outbox.
//!
//! The notice is rendered from the rules' `[messages]` (the text is the school's, not ours),
//! handed to the pusher, which stores and flushes it before pushing; only then is the order's
//! `NotifyUser` task acknowledged. A crash between the two sends the notice again after the
//! restart: at least once, never lost.

use futures_util::future::LocalBoxFuture;

use super::After;
use crate::actors::pusher::PusherHandle;
use crate::adapters::CardHandle;
use crate::rules::LiveRules;
use crate::settings::ClaimMode;
use crate::store::orders::{Order, OrderKind, OrderState};
use crate::wechat::Reply;

/// Where the worker sends an order's end. Production pushes a chat message
/// ([`ChatNotices`]); tests record.
pub trait OrderNotices: Send + Sync + 'static {
    /// Tell the order's user how it ended; [`After::Ack`] once the notice is durable.
    fn tell<'a>(&'a self, order: &'a Order) -> LocalBoxFuture<'a, After>;
}

/// Notices as WeChat messages through the pusher (customer-service API within the user's
/// window, a template or held for the user's next message otherwise).
#[derive(Clone)]
pub struct ChatNotices {
    pusher: PusherHandle,
    rules: LiveRules,
    /// Reads the new balance for a successful top-up; `None` without a card system.
    card: Option<CardHandle>,
    /// How 过渡余额 is claimed at this school: the hint a successful top-up's notice gives.
    claim: ClaimMode,
}

impl ChatNotices {
    pub fn new(
        pusher: PusherHandle,
        rules: LiveRules,
        card: Option<CardHandle>,
        claim: ClaimMode,
    ) -> Self {
        Self {
            pusher,
            rules,
            card,
            claim,
        }
    }
}

impl OrderNotices for ChatNotices {
    fn tell<'a>(&'a self, order: &'a Order) -> LocalBoxFuture<'a, After> {
        Box::pin(async move {
            let (key, fields) = match &order.kind {
                OrderKind::TopUp => {
                    let balance = match (&self.card, order.state) {
                        (Some(card), OrderState::Succeeded) => {
                            card.balance(&order.account).await.ok()
                        }
                        _ => None,
                    };
                    crate::actions::money::top_up_notice(order, balance.as_ref(), self.claim)
                }
                OrderKind::Payment { .. } => crate::actions::payments::payment_notice(order),
            };
            let text = self.rules.current().say(key, &fields);
            self.pusher
                .hand_over(&order.openid, None, vec![Reply::Text(text)])
                .await;
            metrics::counter!("onecard_orders_notices_total", "state" => state_label(order.state))
                .increment(1);
            After::Ack
        })
    }
}

/// Bounded label for metrics.
pub fn state_label(state: OrderState) -> &'static str {
    match state {
        OrderState::Created => "created",
        OrderState::Debiting => "debiting",
        OrderState::Debited => "debited",
        OrderState::Crediting => "crediting",
        OrderState::Claiming => "claiming",
        OrderState::Succeeded => "succeeded",
        OrderState::Failed => "failed",
        OrderState::Reversing => "reversing",
        OrderState::Reversed => "reversed",
        OrderState::NeedsManual => "needs_manual",
    }
}
