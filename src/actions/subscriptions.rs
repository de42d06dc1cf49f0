//! 「退订新闻」 / 「订阅新闻」: whether news pushes reach this user.
//!
//! The choice is stored per openid (`store::push`) and flushed before the confirmation, so a
//! user told "unsubscribed" is skipped by every template push that has not reached them yet.
//! Mass sends (群发) go to WeChat's followers or a tag and cannot leave one person out; the
//! confirmation text says so. The sentences live in `config/rules/push_messages.toml`.

use serde_json::json;

use super::{ActionDef, ActionFuture, ActionInput, ActionOutput};

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "unsubscribe_news",
            fields: &[],
            messages: &["news.unsubscribed", "news.already_unsubscribed"],
            words: &[],
            run: unsubscribe_news,
        },
        ActionDef {
            name: "subscribe_news",
            fields: &[],
            messages: &["news.subscribed", "news.already_subscribed"],
            words: &[],
            run: subscribe_news,
        },
    ]
}

fn unsubscribe_news(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(choose(
        input,
        false,
        "news.unsubscribed",
        "news.already_unsubscribed",
    ))
}

fn subscribe_news(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(choose(
        input,
        true,
        "news.subscribed",
        "news.already_subscribed",
    ))
}

async fn choose(
    input: ActionInput<'_>,
    subscribed: bool,
    changed: &'static str,
    unchanged: &'static str,
) -> Result<ActionOutput, super::ActionError> {
    let store = &input.services.store;
    let did_change = store
        .push()
        .set_news_subscribed(input.openid, subscribed, input.now)?;
    store.flush().await?;
    tracing::info!(user = %input.openid.log_tag(), subscribed, did_change, "news subscription chosen");
    let key = if did_change { changed } else { unchanged };
    Ok(ActionOutput::message(key, json!({})))
}
