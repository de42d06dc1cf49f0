//! Notices in chat: the latest announcements and news for the reader's audience, and the
//! service guide (a list of topics, an article by keyword, an article for a question). Repair
//! tickets are [`super::tickets`].
//!
//! Items come from the content store; their titles and summaries are operator data, and every
//! sentence around them lives in the rule files. Who the reader is (student, staff, college)
//! comes from the card system's record of their bound card; an unbound reader, or one whose
//! record cannot be read right now, sees the items meant for everyone.

use serde_json::{Value, json};

use super::support::{adapters, argument};
use super::{ActionDef, ActionFuture, ActionInput, ActionOutput};
use crate::store::{Category, ContentItem, GuideTopic, Reader};

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
            words: &[],
            run: |input| Box::pin(latest(input, Category::Announcement, "announcements.none")),
        },
        ActionDef {
            name: "news",
            fields: LIST_FIELDS,
            messages: &["news.none"],
            words: &[],
            run: |input| Box::pin(latest(input, Category::News, "news.none")),
        },
        ActionDef {
            name: "guide",
            fields: ARTICLE_FIELDS,
            messages: GUIDE_MESSAGES,
            words: &[],
            run: guide,
        },
        ActionDef {
            name: "guide_question",
            fields: ARTICLE_FIELDS,
            messages: &["default.hint"],
            words: &[],
            run: guide_question,
        },
    ]
}

/// The newest items of `category` the reader may see, or `none` where there is none.
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

/// The guide article that best fits `query`: with `in_text`, the one whose longest keyword
/// occurs in the user's sentence; otherwise also one whose keyword or title contains the word.
fn answer(
    input: &ActionInput<'_>,
    query: &str,
    in_text: bool,
) -> Result<ActionOutput, super::ActionError> {
    let guides = visible_guides(input)?;
    // The topic keeps the user's capitals for the reply; matching ignores case (「wifi」 finds
    // a 「WiFi」 keyword).
    let wanted = query.to_lowercase();
    let best = guides
        .iter()
        .filter_map(|g| {
            let hit = g
                .keywords
                .iter()
                .map(|k| k.to_lowercase())
                .filter(|k| {
                    !k.is_empty()
                        && (wanted.contains(k.as_str())
                            || (!in_text && k.contains(&wanted) && !wanted.is_empty()))
                })
                .map(|k| k.chars().count())
                .max()
                .or_else(|| (!in_text && g.title.to_lowercase().contains(&wanted)).then_some(0));
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
        "url": item.page_url(&input.services.settings.public_url),
    })
}

/// Who the reader is, from the card record of their bound card. Any failure reading it means
/// "everyone" items only: a notice list is not worth an error message.
async fn reader(input: &ActionInput<'_>) -> Reader {
    let (Some(binding), Ok(adapters)) = (input.binding, adapters(input)) else {
        return Reader::anyone();
    };
    match adapters.card.primary_account(&binding.student_id).await {
        Ok(account) => reader_of(&account),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the card record; showing items for everyone");
            Reader::anyone()
        }
    }
}

/// Who a card record says its holder is (also how a news push finds its audience).
pub(crate) fn reader_of(account: &crate::adapters::card::Account) -> Reader {
    Reader {
        student: is_student_type(&account.cust_type),
        staff: is_staff_type(&account.cust_type),
        college: Some(account.dept.clone()).filter(|d| !d.is_empty()),
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
