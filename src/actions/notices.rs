//! Notices in chat: the latest announcements and news for the reader's audience, and the
//! service guide (a list of topics, an article by keyword, an article for a question).
//!
//! Items come from the content store; their titles and summaries are operator data, and every
//! sentence around them lives in the rule files. Who the reader is (student, staff, college)
//! comes from the card system's record of their bound card; an unbound reader, or one whose
//! record cannot be read right now, sees the items meant for everyone.

use serde_json::{Value, json};

use super::support::{adapters, argument};
use super::{ActionDef, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::store::{Category, ContentItem, GuideTopic, Reader, TicketCategory};

/// Place and description longer than this are asked again (a ticket is not an essay).
const TICKET_TEXT_MAX_CHARS: usize = 200;

/// At most this many items are offered per list (WeChat's limit for a 图文 reply).
const LIST_LIMIT: usize = 8;

const LIST_FIELDS: &[&str] = &["count", "lead", "items"];
const ARTICLE_FIELDS: &[&str] = &["title", "summary", "cover_url", "url"];
const GUIDE_MESSAGES: &[&str] = &["guide.topics", "guide.not_found"];

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "announcements",
            fields: LIST_FIELDS,
            messages: &["announcements.none"],
            run: announcements,
        },
        ActionDef {
            name: "news",
            fields: LIST_FIELDS,
            messages: &["news.none"],
            run: news,
        },
        ActionDef {
            name: "guide",
            fields: ARTICLE_FIELDS,
            messages: GUIDE_MESSAGES,
            run: guide,
        },
        ActionDef {
            name: "repair",
            fields: &["ticket_no"],
            messages: &[
                "repair.ask_category",
                "repair.bad_category",
                "repair.ask_place",
                "repair.ask_description",
                "repair.too_long",
                "repair.done",
            ],
            run: repair,
        },
        ActionDef {
            name: "my_repairs",
            fields: &["count", "items"],
            messages: &["repair.none"],
            run: my_repairs,
        },
        ActionDef {
            name: "guide_question",
            fields: ARTICLE_FIELDS,
            messages: &["default.hint"],
            run: guide_question,
        },
    ]
}

fn announcements(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(latest(input, Category::Announcement, "announcements.none"))
}

fn news(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(latest(input, Category::News, "news.none"))
}

async fn latest(
    input: ActionInput<'_>,
    category: Category,
    none: &'static str,
) -> Result<ActionOutput, super::ActionError> {
    let reader = reader(&input).await;
    let items = input
        .services
        .store
        .content()
        .latest(category, &reader, input.now, LIST_LIMIT)
        .map_err(content_error)?;
    let Some(first) = items.first() else {
        return Ok(ActionOutput::message(none, json!({})));
    };
    let listed: Vec<Value> = items.iter().map(|i| article(&input, i)).collect();
    Ok(ActionOutput::fields(json!({
        "count": items.len(),
        "lead": article(&input, first),
        "items": listed,
    })))
}

fn guide(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        match argument(&input) {
            None => topics(&input),
            Some(query) => answer(&input, &query, false),
        }
    })
}

fn guide_question(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let text = input.text.to_owned();
        answer(&input, &text, true)
    })
}

/// 「报修」: category (1–6) → place → description → ticket number. Steps are kept in the
/// session's dialog, so a restart repeats at most one question.
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
            _ => {
                let category = data["category"]
                    .as_str()
                    .and_then(|c| TicketCategory::ALL.into_iter().find(|k| k.as_str() == c))
                    .unwrap_or(TicketCategory::Other);
                let place = data["place"].as_str().unwrap_or_default().to_owned();
                let store = &input.services.store;
                let ticket = store
                    .tickets()
                    .submit(input.openid, category, &place, text, input.now)
                    .map_err(ticket_error)?;
                store.flush().await?;
                tracing::info!(ticket = %ticket.no, category = category.as_str(), "repair ticket submitted");
                Ok(
                    ActionOutput::message("repair.done", json!({ "ticket_no": ticket.no }))
                        .with_dialog(DialogChange::End),
                )
            }
        }
    })
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
                    "note": t.history.iter().rev().find(|e| !e.note.is_empty()).map(|e| e.note.clone()).unwrap_or_default(),
                })
            })
            .collect();
        Ok(ActionOutput::fields(
            json!({ "count": tickets.len(), "items": items }),
        ))
    })
}

fn ticket_error(e: crate::store::TicketError) -> super::ActionError {
    match e {
        crate::store::TicketError::Store(s) => s.into(),
        other => super::ActionError::Store(crate::store::StoreError::Engine(other.to_string())),
    }
}

/// The guide article that best fits `query`: with `in_text`, the one whose longest keyword
/// occurs in the user's sentence; otherwise also one whose keyword or title contains the word.
fn answer(
    input: &ActionInput<'_>,
    query: &str,
    in_text: bool,
) -> Result<ActionOutput, super::ActionError> {
    let guides = visible_guides(input)?;
    let best = guides
        .iter()
        .filter_map(|g| {
            let hit = g
                .keywords
                .iter()
                .filter(|k| {
                    !k.is_empty()
                        && (query.contains(k.as_str())
                            || (!in_text && k.contains(query) && !query.is_empty()))
                })
                .map(|k| k.chars().count())
                .max()
                .or_else(|| (!in_text && g.title.contains(query)).then_some(0));
            hit.map(|len| (len, g))
        })
        .max_by_key(|(len, g)| (*len, std::cmp::Reverse(g.topic)));
    match best {
        Some((_, g)) => Ok(ActionOutput::fields(article(input, g))),
        // A question the guide does not cover is an unmatched message: the same pointer to
        // 「帮助」 as any other.
        None if in_text => Ok(ActionOutput::message("default.hint", json!({}))),
        None => Ok(ActionOutput::message(
            "guide.not_found",
            json!({ "query": query, "topics": topic_list(&guides) }),
        )),
    }
}

fn topics(input: &ActionInput<'_>) -> Result<ActionOutput, super::ActionError> {
    let guides = visible_guides(input)?;
    Ok(ActionOutput::message(
        "guide.topics",
        json!({ "topics": topic_list(&guides) }),
    ))
}

/// Guide articles for everyone, grouped by topic in [`GuideTopic::ALL`] order.
fn topic_list(guides: &[ContentItem]) -> Vec<Value> {
    GuideTopic::ALL
        .iter()
        .filter_map(|topic| {
            let articles: Vec<Value> = guides
                .iter()
                .filter(|g| g.topic == Some(*topic))
                .map(|g| {
                    json!({
                        "title": g.title,
                        "keyword": g.keywords.first().cloned().unwrap_or_else(|| g.title.clone()),
                    })
                })
                .collect();
            (!articles.is_empty()).then(|| json!({ "topic": topic.as_str(), "articles": articles }))
        })
        .collect()
}

fn visible_guides(input: &ActionInput<'_>) -> Result<Vec<ContentItem>, super::ActionError> {
    let mut guides = input
        .services
        .store
        .content()
        .latest(Category::Guide, &Reader::anyone(), input.now, usize::MAX)
        .map_err(content_error)?;
    guides.sort_by(|a, b| a.topic.cmp(&b.topic).then(a.publish_at.cmp(&b.publish_at)));
    Ok(guides)
}

fn article(input: &ActionInput<'_>, item: &ContentItem) -> Value {
    json!({
        "title": item.title,
        "summary": item.summary,
        "cover_url": item.cover_url,
        "url": format!(
            "{}/h5/articles/{}",
            input.services.settings.public_url.trim_end_matches('/'),
            item.id
        ),
    })
}

/// Who the reader is, from the card record of their bound card. Any failure reading it means
/// "everyone" items only: a notice list is not worth an error message.
async fn reader(input: &ActionInput<'_>) -> Reader {
    let (Some(binding), Ok(adapters)) = (input.binding, adapters(input)) else {
        return Reader::anyone();
    };
    match adapters.card.primary_account(&binding.student_id).await {
        Ok(account) => Reader {
            student: is_student_type(&account.cust_type),
            staff: is_staff_type(&account.cust_type),
            college: Some(account.dept).filter(|d| !d.is_empty()),
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the card record; showing items for everyone");
            Reader::anyone()
        }
    }
}

/// Customer types (docs/campus-domain.md §1.5): 1x staff (在职教职工, 博士后, 教授), 20 附属医院.
fn is_staff_type(cust_type: &str) -> bool {
    cust_type.starts_with('1') || cust_type == "20"
}

/// 3x graduate students and 4x undergraduate / vocational / continuing education.
fn is_student_type(cust_type: &str) -> bool {
    cust_type.starts_with('3') || cust_type.starts_with('4')
}

fn content_error(e: crate::store::ContentError) -> super::ActionError {
    match e {
        crate::store::ContentError::Store(s) => s.into(),
        other => super::ActionError::Store(crate::store::StoreError::Engine(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_types_map_to_audiences() {
        assert!(is_staff_type("10") && is_staff_type("13") && is_staff_type("20"));
        assert!(is_student_type("40") && is_student_type("31"));
        assert!(!is_staff_type("40") && !is_student_type("10"));
        assert!(!is_staff_type("51") && !is_student_type("51"));
    }
}
