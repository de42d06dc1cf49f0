//! Public H5 pages: `/h5/articles/{id}`, the page a 图文 reply links to.
//!
//! Readable on a phone without login: anyone holding the link may read a published item, as
//! with an article on the account itself. A draft, a withdrawn or expired item, or one not yet
//! out answers 404 with the same page as an unknown id, so the address reveals nothing.
//!
//! Markdown is rendered here and only here (pulldown-cmark). Authors' raw HTML is shown as
//! text, and links or images with a script scheme lose their target: an article can never run
//! code in a reader's WeChat browser. The page templates live in `config/h5/` (built in).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use minijinja::Environment;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

use crate::store::{Audience, ContentError, ContentItem, Store};

const ARTICLE: &str = "article.html";
pub(super) const NOT_FOUND: &str = "not_found.html";
/// How many other items of the same category the page links to.
const MORE_LIMIT: usize = 5;

pub struct H5State {
    store: Store,
    utc_offset_hours: i32,
    pages: Environment<'static>,
}

impl H5State {
    pub fn new(store: Store, utc_offset_hours: i32) -> Self {
        let mut pages = Environment::new();
        // `.html` names turn on minijinja's HTML auto-escaping for every value.
        pages
            .add_template(ARTICLE, include_str!("../../config/h5/article.html"))
            .expect("the built-in article template compiles");
        pages
            .add_template(NOT_FOUND, include_str!("../../config/h5/not_found.html"))
            .expect("the built-in not-found template compiles");
        pages
            .add_template(
                super::bills::FUN_BILL,
                include_str!("../../config/h5/fun_bill.html"),
            )
            .expect("the built-in fun bill template compiles");
        Self {
            store,
            utc_offset_hours,
            pages,
        }
    }

    pub(super) fn store(&self) -> crate::store::Store {
        self.store.clone()
    }
}

/// Mount the H5 routes.
pub fn routes(state: web::Data<H5State>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .route("/h5/articles/{id}", web::get().to(article));
    }
}

async fn article(state: web::Data<H5State>, id: web::Path<String>) -> HttpResponse {
    let now = chrono::Utc::now().timestamp();
    let item = match state.store.content().get(&id) {
        Ok(Some(item)) if item.visible_at(now) => item,
        Ok(_) => {
            return page(
                &state,
                StatusCode::NOT_FOUND,
                NOT_FOUND,
                serde_json::json!({}),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read content");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    // A store that cannot be read is an error page and a log line, never a page whose "more"
    // list is silently empty.
    let more = match more_links(&state, &item, now) {
        Ok(more) => more,
        Err(e) => {
            tracing::error!(error = %e, "cannot read content");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let published = chrono::DateTime::from_timestamp(
        item.publish_at + i64::from(state.utc_offset_hours) * 3600,
        0,
    )
    .map(|t| t.format("%Y-%m-%d").to_string())
    .unwrap_or_default();
    page(
        &state,
        StatusCode::OK,
        ARTICLE,
        serde_json::json!({
            "title": item.title,
            "author": item.author,
            "published": published,
            "cover_url": item.cover_url,
            "category": item.category.as_str(),
            "body_html": markdown_to_html(&item.body),
            "more": more,
        }),
    )
}

/// The other items an article links to: the latest for everyone in its category, then its
/// siblings of the same audience.
fn more_links(
    state: &H5State,
    item: &ContentItem,
    now: i64,
) -> Result<Vec<serde_json::Value>, ContentError> {
    let latest = state.store.content().latest(
        item.category,
        &crate::store::Reader::anyone(),
        now,
        MORE_LIMIT + 1,
    )?;
    Ok(latest
        .into_iter()
        .chain(same_audience(state, item, now)?)
        .filter(|m| m.id != item.id)
        .take(MORE_LIMIT)
        .map(|m| serde_json::json!({ "id": m.id, "title": m.title }))
        .collect())
}

/// Items of a narrower audience link to their siblings of the same audience too.
fn same_audience(
    state: &H5State,
    item: &ContentItem,
    now: i64,
) -> Result<Vec<ContentItem>, ContentError> {
    if item.audience == Audience::Everyone {
        return Ok(Vec::new());
    }
    let mut all = state.store.content().all()?;
    all.retain(|m| m.category == item.category && m.audience == item.audience && m.visible_at(now));
    all.sort_by_key(|m| std::cmp::Reverse(m.publish_at));
    Ok(all)
}

pub(super) fn page(
    state: &H5State,
    status: StatusCode,
    name: &str,
    fields: serde_json::Value,
) -> HttpResponse {
    let ctx = crate::rules::template::context(&fields, &[]);
    match state.pages.get_template(name).and_then(|t| t.render(&ctx)) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, page = name, "page template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Markdown (CommonMark + tables) to HTML, with the author's raw HTML shown as text and
/// `javascript:` / `data:` / `vbscript:` targets dropped.
pub fn markdown_to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_target(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_target(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

fn safe_target(url: CowStr<'_>) -> CowStr<'_> {
    let scheme: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    if ["javascript:", "data:", "vbscript:"]
        .iter()
        .any(|bad| scheme.starts_with(bad))
    {
        CowStr::Borrowed("#")
    } else {
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_raw_html_is_shown_as_text() {
        assert_eq!(
            markdown_to_html("# 标题\n\n**粗体** <script>alert(1)</script>"),
            "<h1>标题</h1>\n<p><strong>粗体</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        );
    }

    #[test]
    fn script_links_lose_their_target() {
        assert_eq!(
            markdown_to_html("[点我](javascript:alert(1)) [图](JaVaScRiPt:x)"),
            "<p><a href=\"#\">点我</a> <a href=\"#\">图</a></p>\n"
        );
        assert_eq!(
            markdown_to_html("[服务中心](https://example.edu.cn/a?b=1&c=2)"),
            "<p><a href=\"https://example.edu.cn/a?b=1&amp;c=2\">服务中心</a></p>\n"
        );
    }
}
