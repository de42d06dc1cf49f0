//! Card queries and report-loss: balance, transactions (paged: "回复 更多"), card info,
//! report loss (with an explicit confirmation) and the lost-and-found lookup.

use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use super::support::{
    adapters, argument, binding, is_confirm, label, mask_card, mask_name, parse_day, short_time,
    today, upstream, with_day_words,
};
use super::{
    ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput, DialogChange, MoreChange,
};
use crate::domain::Fen;
use crate::store::MoreCursor;
use crate::wire::{CardStatus, Direction, ErrorCode, TransactionsQuery};

/// How far back "流水" looks without a day named.
const RECENT_DAYS: i64 = 30;

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "balance",
            fields: &[
                "balance_yuan",
                "pending_yuan",
                "has_pending",
                "card_no_masked",
                "as_of",
            ],
            messages: &[],
            words: &[],
            run: balance,
        },
        ActionDef {
            name: "transactions",
            fields: TRANSACTION_FIELDS,
            messages: &[
                "transactions.empty",
                "transactions.bad_day",
                "transactions.period.day",
                "transactions.period.recent",
            ],
            words: with_day_words!(),
            run: transactions,
        },
        ActionDef {
            name: "more",
            fields: TRANSACTION_FIELDS,
            messages: &[
                "more.none",
                "transactions.empty",
                "transactions.period.day",
                "transactions.period.recent",
            ],
            words: &[],
            run: more,
        },
        ActionDef {
            name: "card_info",
            fields: &[
                "card_no_masked",
                "name_masked",
                "status",
                "card_type",
                "issued",
                "expires",
            ],
            messages: CARD_STATUS_LABELS,
            words: &[],
            run: card_info,
        },
        ActionDef {
            name: "report_loss",
            fields: &["card_no_masked"],
            messages: &[
                "loss.confirm",
                "loss.done",
                "loss.already",
                "loss.closed",
                "loss.kept",
            ],
            words: &["confirm"],
            run: report_loss,
        },
        ActionDef {
            name: "find_lost_card",
            fields: &["place", "pickup_hours", "found_at"],
            messages: &["lost.none", "lost.not_lost"],
            words: &[],
            run: find_lost_card,
        },
    ]
}

const TRANSACTION_FIELDS: &[&str] = &[
    "period", "count", "total", "page", "pages", "has_more", "items",
];

fn balance(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let bal = adapters(&input)?
            .card
            .balance(&b.account)
            .await
            .map_err(upstream("card"))?;
        Ok(ActionOutput::fields(json!({
            "balance_yuan": bal.balance_fen.yuan(),
            "pending_yuan": bal.pending_fen.yuan(),
            "has_pending": bal.pending_fen > Fen(0),
            "card_no_masked": mask_card(&b.card_no),
            "as_of": short_time(&input, &bal.as_of),
        })))
    })
}

/// One page of the card transactions of the campus days `from..=to`; the cursor in the session
/// record moves to the next page, or is cleared on the last one.
async fn transactions_page(
    input: &ActionInput<'_>,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
    page: u32,
) -> Result<ActionOutput, ActionError> {
    let period = period_label(input, from, to)?;
    let page_size = input.services.settings.page_size.max(1);
    let query = TransactionsQuery {
        account: account.to_owned(),
        from,
        to,
        page,
        page_size,
        direction: None,
        tx_type: None,
    };
    let result = adapters(input)?
        .card
        .transactions(&query)
        .await
        .map_err(upstream("card"))?;
    let pages = result.total.div_ceil(page_size as u64).max(1);
    let has_more = (page as u64) < pages;
    let more = if has_more {
        MoreChange::Next(Box::new(MoreCursor::Transactions {
            account: account.to_owned(),
            from,
            to,
            page: page + 1,
        }))
    } else {
        MoreChange::Done
    };
    if result.items.is_empty() {
        return Ok(
            ActionOutput::message("transactions.empty", json!({ "period": period }))
                .with_more(more),
        );
    }
    let items: Vec<Value> = result
        .items
        .iter()
        .map(|t| {
            let sign = match t.direction {
                Direction::In => "+",
                Direction::Out => "-",
            };
            json!({
                "time": short_time(input, &t.occurred_at),
                "place": if t.merchant_name.is_empty() { &t.type_name } else { &t.merchant_name },
                "type": t.type_name,
                "amount_yuan": format!("{sign}{}", t.amount_fen.yuan()),
                "balance_yuan": t.balance_after_fen.yuan(),
            })
        })
        .collect();
    Ok(ActionOutput::fields(json!({
        "period": period,
        "count": items.len(),
        "total": result.total,
        "page": page,
        "pages": pages,
        "has_more": has_more,
        "items": items,
    }))
    .with_more(more))
}

/// 「11月20日」 for one day, 「近 30 天」 for the recent days (the words are in the message tables).
fn period_label(
    input: &ActionInput<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<String, ActionError> {
    if from == to {
        label(
            input,
            "transactions.period.day",
            json!({ "month": from.format("%m").to_string(), "day": from.format("%d").to_string() }),
        )
    } else {
        label(
            input,
            "transactions.period.recent",
            json!({ "days": (to - from).num_days() }),
        )
    }
}

fn transactions(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let today = today(&input);
        let (from, to) = match argument(&input) {
            Some(arg) => match parse_day(input.messages, &arg, today) {
                Some(day) => (day, day),
                None => return Ok(ActionOutput::message("transactions.bad_day", json!({}))),
            },
            None => (today - Duration::days(RECENT_DAYS), today),
        };
        transactions_page(&input, &b.account, from, to, 1).await
    })
}

fn more(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        match input.more {
            // A cursor of a card the user has since unbound continues nothing.
            Some(MoreCursor::Transactions {
                account,
                from,
                to,
                page,
            }) if *account == b.account => {
                transactions_page(&input, account, *from, *to, *page).await
            }
            _ => Ok(ActionOutput::message("more.none", json!({}))),
        }
    })
}

/// The message keys of the card states: every action that names a card's state declares them.
pub(super) const CARD_STATUS_LABELS: &[&str] = &[
    "card.status.normal",
    "card.status.lost",
    "card.status.frozen",
    "card.status.closed",
];

/// A card state's name from the message tables.
pub(super) fn status_label(
    input: &ActionInput<'_>,
    status: CardStatus,
) -> Result<String, ActionError> {
    let key = match status {
        CardStatus::Normal => "card.status.normal",
        CardStatus::Lost => "card.status.lost",
        CardStatus::Frozen => "card.status.frozen",
        CardStatus::Closed => "card.status.closed",
    };
    label(input, key, json!({}))
}

fn card_info(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let info = adapters(&input)?
            .card
            .card_info(&b.account)
            .await
            .map_err(upstream("card"))?;
        Ok(ActionOutput::fields(json!({
            "card_no_masked": mask_card(&info.card_no_display),
            "name_masked": mask_name(&b.name),
            "status": status_label(&input, info.status)?,
            "card_type": info.card_type_name,
            "issued": info.issue_date.to_string(),
            "expires": info.expire_date.to_string(),
        })))
    })
}

fn report_loss(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let fields = json!({ "card_no_masked": mask_card(&b.card_no) });
        let card = &adapters(&input)?.card;
        let Some(dialog) = input.dialog else {
            let info = card.card_info(&b.account).await.map_err(upstream("card"))?;
            return Ok(match info.status {
                CardStatus::Lost => ActionOutput::message("loss.already", fields),
                CardStatus::Closed => ActionOutput::message("loss.closed", fields),
                _ => {
                    ActionOutput::message("loss.confirm", fields).with_dialog(DialogChange::Step {
                        step: "await_confirm".into(),
                        data: json!({}),
                    })
                }
            });
        };
        if !is_confirm(&input) {
            return Ok(ActionOutput::message("loss.kept", fields).with_dialog(DialogChange::End));
        }
        // One key per confirmation: a retried delivery or a repeated "确认" cannot report twice.
        let tail = &input.openid.as_str()[input.openid.as_str().len().saturating_sub(8)..];
        let out_trade_no = format!("LOSS{}{tail}", dialog.started_at);
        match card.report_loss(&b.account, &out_trade_no).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(ErrorCode::AlreadyLost) => {
                return Ok(
                    ActionOutput::message("loss.already", fields).with_dialog(DialogChange::End)
                );
            }
            Err(e) if e.code() == Some(ErrorCode::CardClosed) => {
                return Ok(
                    ActionOutput::message("loss.closed", fields).with_dialog(DialogChange::End)
                );
            }
            Err(e) => return Err(upstream("card")(e)),
        }
        input
            .services
            .store
            .audit(&json!({ "event": "card_reported_lost", "user": input.openid.log_tag() }))?;
        Ok(ActionOutput::message("loss.done", fields).with_dialog(DialogChange::End))
    })
}

fn find_lost_card(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let found = adapters(&input)?
            .card
            .found_card(&b.account)
            .await
            .map_err(upstream("card"))?;
        if !found.found {
            let info = adapters(&input)?
                .card
                .card_info(&b.account)
                .await
                .map_err(upstream("card"))?;
            let key = if info.status == CardStatus::Lost {
                "lost.none"
            } else {
                "lost.not_lost"
            };
            return Ok(ActionOutput::message(key, json!({})));
        }
        Ok(ActionOutput::fields(json!({
            "place": found.place.unwrap_or_default(),
            "pickup_hours": found.pickup_hours.unwrap_or_default(),
            "found_at": found.found_at.map(|t| short_time(&input, &t)).unwrap_or_default(),
        })))
    })
}
