//! The actions every deployment has: help, echo_openid, feedback.

use serde_json::json;

use super::{ActionDef, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::store::Kept;

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "help",
            fields: &[],
            messages: &[],
            words: &[],
            run: help,
        },
        ActionDef {
            name: "echo_openid",
            fields: &["openid"],
            messages: &[],
            words: &[],
            run: echo_openid,
        },
        ActionDef {
            name: "feedback",
            fields: &[],
            messages: &[
                "feedback.ask",
                "feedback.thanks",
                "feedback.empty",
                "feedback.too_long",
                "feedback.daily_limit",
                "feedback.full",
            ],
            words: &[],
            run: feedback,
        },
    ]
}

/// Help is pure text from the rule file; the action exists so a rule can say `action = "help"`
/// and operators see it named in `rules test`.
fn help(_input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async { Ok(ActionOutput::fields(json!({}))) })
}

/// The user's OpenID, which support staff ask for when tracing a problem.
fn echo_openid(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        Ok(ActionOutput::fields(
            json!({ "openid": input.openid.as_str() }),
        ))
    })
}

/// Two steps: ask for the feedback, then keep the next message for the back office.
fn feedback(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let Some(_dialog) = input.dialog else {
            return Ok(
                ActionOutput::message("feedback.ask", json!({})).with_dialog(DialogChange::Step {
                    step: "await_text".into(),
                    data: json!({}),
                }),
            );
        };
        let text = input.raw_text.trim();
        if text.is_empty() {
            return Ok(ActionOutput::message("feedback.empty", json!({})));
        }
        let store = &input.services.store;
        let kept = store.feedback().add(
            input.openid,
            text,
            input.now,
            input.services.utc_offset_hours,
        )?;
        match kept {
            Kept::Kept => {}
            Kept::TooLong { max_chars } => {
                return Ok(ActionOutput::message(
                    "feedback.too_long",
                    json!({ "max_chars": max_chars }),
                ));
            }
            Kept::DailyLimit { per_day } => {
                return Ok(ActionOutput::message(
                    "feedback.daily_limit",
                    json!({ "per_day": per_day }),
                )
                .with_dialog(DialogChange::End));
            }
            Kept::UserFull { kept } => {
                return Ok(
                    ActionOutput::message("feedback.full", json!({ "kept": kept }))
                        .with_dialog(DialogChange::End),
                );
            }
        }
        store.flush().await?;
        Ok(ActionOutput::message("feedback.thanks", json!({})).with_dialog(DialogChange::End))
    })
}
