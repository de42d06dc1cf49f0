//! Repair tickets (报修) in chat: the dialog that files one (category → place → description →
//! an optional photo), 「我的报修」, and the reporter's answer to a resolved ticket (「确认解决」
//! or 「未解决」, within 7 days).
//!
//! The photo is an image message sent during the dialog; WeChat keeps it for 3 days only, so it
//! is fetched from the media API at once and stored with the ticket. A photo that cannot be
//! fetched is asked for again: the dialog keeps what the user already typed.
//!
//! Sentences live in `config/rules/notices*.toml`; the operators' side is
//! [`super::tickets_desk`].

use std::time::Duration;

use serde_json::{Value, json};

use super::support::argument;
use super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::actors::token_keeper::TokenKeeperHandle;
use crate::store::{Change, Photo, Ticket, TicketCategory, TicketError, TicketState};
use crate::wechat::api::{ApiClient, ApiError};

/// Place and description longer than this are asked again (a ticket is not an essay).
const TICKET_TEXT_MAX_CHARS: usize = 200;
/// At most this many tickets are listed.
const LIST_LIMIT: usize = 8;
/// WeChat's own limit for an image.
const PHOTO_MAX_BYTES: usize = 10 * 1024 * 1024;
/// The photo fetch must leave the callback time to answer.
const PHOTO_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// WeChat's media API, for the photo a user sends during the dialog.
#[derive(Clone)]
pub struct WeChatMedia {
    api: ApiClient,
    tokens: TokenKeeperHandle,
}

impl WeChatMedia {
    pub fn new(api: ApiClient, tokens: TokenKeeperHandle) -> Self {
        Self { api, tokens }
    }

    async fn fetch(&self, media_id: &str) -> Result<Photo, ApiError> {
        let media = self
            .tokens
            .call(|t| {
                let api = self.api.clone();
                async move { api.get_media(&t, media_id, PHOTO_MAX_BYTES).await }
            })
            .await?;
        Ok(Photo {
            media_id: media_id.to_owned(),
            content_type: media.content_type,
            bytes: media.bytes,
        })
    }
}

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "repair",
            fields: &["ticket_no"],
            messages: &[
                "repair.ask_category",
                "repair.bad_category",
                "repair.ask_place",
                "repair.ask_description",
                "repair.too_long",
                "repair.ask_photo",
                "repair.photo_failed",
                "repair.done",
                // Pushed by the desk when an operator moves or answers a ticket.
                "repair.update",
            ],
            words: &["skip"],
            run: repair,
        },
        ActionDef {
            name: "my_repairs",
            fields: &["count", "items"],
            messages: &["repair.none"],
            words: &[],
            run: my_repairs,
        },
        ActionDef {
            name: "repair_confirm",
            fields: &[],
            messages: ANSWER_MESSAGES,
            words: &[],
            // 「确认解决 [单号]」: the reporter confirms a resolved ticket.
            run: |input| Box::pin(answer(input, TicketState::Confirmed, "repair.confirmed")),
        },
        ActionDef {
            name: "repair_reopen",
            fields: &[],
            messages: ANSWER_MESSAGES,
            words: &[],
            // 「未解决 [单号]」: the reporter reopens a resolved ticket.
            run: |input| Box::pin(answer(input, TicketState::Submitted, "repair.reopened")),
        },
    ]
}

const ANSWER_MESSAGES: &[&str] = &[
    "repair.confirmed",
    "repair.reopened",
    "repair.nothing_to_answer",
    "repair.not_found",
    "repair.window_closed",
];

/// 「报修」: category (1–6) → place → description → photo or 「跳过」 → ticket number. Steps
/// are kept in the session's dialog, so a restart repeats at most one question.
fn repair(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let Some(dialog) = input.dialog else {
            return Ok(ask("repair.ask_category", "category", json!({})));
        };
        let text = input.raw_text.trim();
        let mut data = dialog.data.clone();
        match dialog.step.as_str() {
            "category" => {
                let picked = text
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| TicketCategory::ALL.get(i));
                match picked {
                    Some(c) => {
                        data["category"] = json!(c.as_str());
                        Ok(ask("repair.ask_place", "place", data))
                    }
                    None => Ok(ActionOutput::message("repair.bad_category", json!({}))),
                }
            }
            "place" | "description"
                if text.is_empty() || text.chars().count() > TICKET_TEXT_MAX_CHARS =>
            {
                Ok(ActionOutput::message(
                    "repair.too_long",
                    json!({ "max_chars": TICKET_TEXT_MAX_CHARS }),
                ))
            }
            "place" => {
                data["place"] = json!(text);
                Ok(ask("repair.ask_description", "description", data))
            }
            "description" => {
                data["description"] = json!(text);
                Ok(ask("repair.ask_photo", "photo", data))
            }
            _ => photo_step(&input, &data).await,
        }
    })
}

/// The last step: an image is fetched and filed with the ticket; a skip word files it without.
async fn photo_step(input: &ActionInput<'_>, data: &Value) -> Result<ActionOutput, ActionError> {
    let photo = match input.media_id {
        Some(media_id) => match fetch_photo(input, media_id).await {
            Some(p) => Some(p),
            None => return Ok(ActionOutput::message("repair.photo_failed", json!({}))),
        },
        None if input.messages.is_word("skip", input.raw_text) => None,
        None => return Ok(ActionOutput::message("repair.ask_photo", json!({}))),
    };
    let category = data["category"]
        .as_str()
        .and_then(|c| TicketCategory::ALL.into_iter().find(|k| k.as_str() == c))
        .unwrap_or(TicketCategory::Other);
    let place = data["place"].as_str().unwrap_or_default();
    let description = data["description"].as_str().unwrap_or_default();
    let store = &input.services.store;
    let ticket = store
        .tickets()
        .submit(
            input.openid,
            category,
            place,
            description,
            photo.as_ref(),
            input.now,
        )
        .map_err(ticket_error)?;
    store.flush().await?;
    tracing::info!(
        ticket = %ticket.no,
        category = category.as_str(),
        photo_bytes = photo.as_ref().map_or(0, |p| p.bytes.len()),
        "repair ticket submitted"
    );
    Ok(ActionOutput::message(
        "repair.done",
        json!({ "ticket_no": ticket.no, "photo": photo.is_some() }),
    )
    .with_dialog(DialogChange::End))
}

async fn fetch_photo(input: &ActionInput<'_>, media_id: &str) -> Option<Photo> {
    let Some(media) = &input.services.media else {
        tracing::warn!("no WeChat media API configured; the photo cannot be fetched");
        return None;
    };
    match tokio::time::timeout(PHOTO_FETCH_TIMEOUT, media.fetch(media_id)).await {
        Ok(Ok(photo)) => Some(photo),
        Ok(Err(e)) => {
            tracing::warn!(errcode = e.errcode(), error = %e, "repair photo not fetched");
            None
        }
        Err(_) => {
            tracing::warn!("repair photo fetch timed out");
            None
        }
    }
}

fn ask(message: &'static str, step: &str, data: Value) -> ActionOutput {
    ActionOutput::message(message, json!({})).with_dialog(DialogChange::Step {
        step: step.into(),
        data,
    })
}

/// 「我的报修」: the user's tickets, newest first, with their state.
fn my_repairs(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let tickets = input
            .services
            .store
            .tickets()
            .of_user(input.openid)
            .map_err(ticket_error)?;
        if tickets.is_empty() {
            return Ok(ActionOutput::message("repair.none", json!({})));
        }
        let offset = i64::from(input.services.utc_offset_hours) * 3600;
        let items: Vec<Value> = tickets
            .iter()
            .take(LIST_LIMIT)
            .map(|t| {
                json!({
                    "no": t.no,
                    "category": t.category.as_str(),
                    "place": t.place,
                    "state": t.state.as_str(),
                    "date": chrono::DateTime::from_timestamp(t.created_at + offset, 0)
                        .map(|d| d.format("%m-%d").to_string())
                        .unwrap_or_default(),
                    "note": t.latest_note().unwrap_or_default(),
                })
            })
            .collect();
        Ok(ActionOutput::fields(
            json!({ "count": tickets.len(), "items": items }),
        ))
    })
}

/// The reporter's answer to a resolved ticket (the one named, else the latest they may still
/// answer): move it to `to` and say `done`.
async fn answer(
    input: ActionInput<'_>,
    to: TicketState,
    done: &'static str,
) -> Result<ActionOutput, ActionError> {
    let repo = input.services.store.tickets();
    let ticket = match argument(&input) {
        Some(no) => {
            let no = no.to_ascii_uppercase();
            match repo.get(&no).map_err(ticket_error)? {
                // Someone else's number is answered like an unknown one.
                Some(t) if t.openid == input.openid.as_str() => t,
                _ => {
                    return Ok(ActionOutput::message(
                        "repair.not_found",
                        json!({ "ticket_no": no }),
                    ));
                }
            }
        }
        None => match awaiting_answer(
            &repo.of_user(input.openid).map_err(ticket_error)?,
            input.now,
        ) {
            Some(t) => t.clone(),
            None => return Ok(ActionOutput::message("repair.nothing_to_answer", json!({}))),
        },
    };
    let no = ticket.no.clone();
    match repo.move_to(&no, to, Change::reporter(input.now)) {
        Ok(_) => {
            input.services.store.flush().await?;
            tracing::info!(ticket = %no, to = to.as_str(), "reporter answered a resolved ticket");
            Ok(ActionOutput::message(done, json!({ "ticket_no": no })))
        }
        Err(TicketError::WindowClosed(_)) => Ok(ActionOutput::message(
            "repair.window_closed",
            json!({ "ticket_no": no }),
        )),
        Err(TicketError::BadMove { .. }) => Ok(ActionOutput::message(
            "repair.nothing_to_answer",
            json!({ "ticket_no": no }),
        )),
        Err(e) => Err(ticket_error(e)),
    }
}

/// The user's most recently resolved ticket that they may still answer.
fn awaiting_answer(tickets: &[Ticket], now: i64) -> Option<&Ticket> {
    tickets
        .iter()
        .filter(|t| t.reporter_may_answer(now))
        .max_by_key(|t| t.resolved_at)
}

pub(super) fn ticket_error(e: TicketError) -> ActionError {
    match e {
        TicketError::Store(s) => s.into(),
        other => ActionError::Store(crate::store::StoreError::Engine(other.to_string())),
    }
}
