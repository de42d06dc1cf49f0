//! Content and news push on the admin listener: what `onecard content …` does while the server
//! runs (the server holds the store, so the CLI asks it instead of opening the store).
//!
//! - `POST /content` `{"files":[{"name":"x.md","text":"…"}],"push":"template"|"mass"|null}`:
//!   every file is parsed and checked before any is stored; then stored, flushed, and pushed
//!   when asked. Answers `{"items":[…],"jobs":[…]}`.
//! - `GET /content`: every item (body left out). `POST /content/{id}/withdraw`.
//! - `POST /content/{id}/push?channel=template|mass`: a push job for a published item.
//! - `GET /push/jobs`: every job with its recipients' counts.
//!
//! Like the rest of the admin listener it checks nobody: its address is the access control.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::actors::push::{PushError, PushHandle, reports};
use crate::store::{ContentError, ContentItem, PushChannel, Store};

/// What the content endpoints use.
pub struct ContentAdmin {
    pub store: Store,
    pub push: PushHandle,
    pub utc_offset_hours: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    files: Vec<PublishedFile>,
    #[serde(default)]
    push: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedFile {
    /// The file's name: its stem is the item's id unless the front matter names one.
    name: String,
    text: String,
}

#[derive(Deserialize)]
pub struct PushQuery {
    channel: String,
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn error(status: actix_web::http::StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.to_string() }))
}

fn content_error(e: ContentError) -> HttpResponse {
    use actix_web::http::StatusCode;
    match e {
        ContentError::Invalid(_) => error(StatusCode::BAD_REQUEST, e),
        ContentError::NotFound(_) => error(StatusCode::NOT_FOUND, e),
        ContentError::Store(_) => {
            tracing::error!(error = %e, "content admin: store error");
            error(StatusCode::INTERNAL_SERVER_ERROR, "store error")
        }
    }
}

fn push_error(e: PushError) -> HttpResponse {
    use actix_web::http::StatusCode;
    match e {
        PushError::NotFound(_) => error(StatusCode::NOT_FOUND, e),
        PushError::NotPublished { .. } | PushError::NoTemplate => error(StatusCode::BAD_REQUEST, e),
        PushError::Store(_) => {
            tracing::error!(error = %e, "push admin: store error");
            error(StatusCode::INTERNAL_SERVER_ERROR, "store error")
        }
    }
}

fn channel(raw: &str) -> Result<PushChannel, String> {
    PushChannel::parse(raw)
        .ok_or_else(|| format!("push channel must be `template` or `mass`, not `{raw}`"))
}

/// The item without its body (lists stay small).
fn summary(item: &ContentItem) -> serde_json::Value {
    let mut v = serde_json::to_value(item).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("body");
    }
    v
}

/// `POST /content`.
pub async fn publish(
    state: web::Data<ContentAdmin>,
    body: web::Json<PublishRequest>,
) -> HttpResponse {
    let now = now_unix();
    let channel = match body.push.as_deref().map(channel).transpose() {
        Ok(c) => c,
        Err(why) => return error(actix_web::http::StatusCode::BAD_REQUEST, why),
    };
    if channel == Some(PushChannel::Template) && state.push.settings().template_id.is_empty() {
        return push_error(PushError::NoTemplate);
    }
    let mut items = Vec::with_capacity(body.files.len());
    for file in &body.files {
        let stem = file.name.rsplit('/').next().unwrap_or_default();
        let stem = stem.strip_suffix(".md").unwrap_or(stem);
        match crate::store::parse_document(stem, &file.text, state.utc_offset_hours, now) {
            Ok(item) => items.push(item),
            Err(e) => return content_error(ContentError::Invalid(format!("{}: {e}", file.name))),
        }
    }
    for item in &items {
        if let Err(e) = state.store.content().put(item) {
            return content_error(e);
        }
    }
    if let Err(e) = state.store.flush().await {
        return content_error(ContentError::Store(e));
    }
    let mut jobs = Vec::new();
    if let Some(channel) = channel {
        for item in items
            .iter()
            .filter(|i| i.state == crate::store::ContentState::Published)
        {
            match state.push.push(&item.id, channel).await {
                Ok(job) => jobs.push(job),
                Err(e) => return push_error(e),
            }
        }
    }
    tracing::info!(
        items = items.len(),
        jobs = jobs.len(),
        "content published by an operator"
    );
    let items: Vec<_> = items.iter().map(summary).collect();
    HttpResponse::Ok().json(json!({ "items": items, "jobs": jobs }))
}

/// `GET /content`.
pub async fn list(state: web::Data<ContentAdmin>) -> HttpResponse {
    match state.store.content().all() {
        Ok(items) => HttpResponse::Ok().json(items.iter().map(summary).collect::<Vec<_>>()),
        Err(e) => content_error(e),
    }
}

/// `POST /content/{id}/withdraw`.
pub async fn withdraw(state: web::Data<ContentAdmin>, id: web::Path<String>) -> HttpResponse {
    let item = match state.store.content().withdraw(&id, now_unix()) {
        Ok(item) => item,
        Err(e) => return content_error(e),
    };
    if let Err(e) = state.store.flush().await {
        return content_error(ContentError::Store(e));
    }
    tracing::info!(content = %item.id, "content withdrawn by an operator");
    HttpResponse::Ok().json(summary(&item))
}

/// `POST /content/{id}/push?channel=`.
pub async fn push(
    state: web::Data<ContentAdmin>,
    id: web::Path<String>,
    q: web::Query<PushQuery>,
) -> HttpResponse {
    let channel = match channel(&q.channel) {
        Ok(c) => c,
        Err(why) => return error(actix_web::http::StatusCode::BAD_REQUEST, why),
    };
    match state.push.push(&id, channel).await {
        Ok(job) => HttpResponse::Ok().json(job),
        Err(e) => push_error(e),
    }
}

/// `GET /push/jobs`.
pub async fn jobs(state: web::Data<ContentAdmin>) -> HttpResponse {
    match reports(&state.store) {
        Ok(r) => HttpResponse::Ok().json(r),
        Err(e) => content_error(ContentError::Store(e)),
    }
}
