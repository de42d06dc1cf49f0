//! Reply templates: minijinja with strict undefined, plus `{1}`, `{2}` … for regex captures.
//!
//! Why it exists: operators write reply text that mixes fixed Chinese with values an action
//! produced (`{{ balance_yuan }}`) and parts of what the user typed (`{1}`). This module owns the
//! translation of `{N}` into a template expression (done once, at load time, on the template
//! *source*, so nothing a user types is ever parsed as template syntax), the minijinja
//! environment of one table, and rendering a rule's [`ReplySet`].
//!
//! It must never render user input as a template, and never fall back to printing an empty
//! string for a missing field: a missing field is an error ([`UndefinedBehavior::Strict`]) that
//! the validator already ruled out at load time.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value};
use rand::Rng;

use super::RuleError;
pub use super::model::ReplyMode;

/// The name under which captures are passed to templates; `{1}` becomes `{{ captures[0] }}`.
pub(crate) const CAPTURES: &str = "captures";

/// The replies of one rule, ready to render. Cheap to clone through its `Arc`.
pub struct ReplySet {
    pub(crate) mode: ReplyMode,
    pub(crate) items: Vec<ReplyItem>,
    /// The table's shared environment holding every compiled template.
    pub(crate) env: Arc<Environment<'static>>,
    /// Per item: the finished text when the template has no template syntax at all (most
    /// replies), so rendering it needs no template engine and no context.
    literals: Vec<Option<String>>,
}

/// One reply of a rule; every string is the *name* of a compiled template in the environment.
#[derive(Debug, Clone)]
pub(crate) enum ReplyItem {
    Text(String),
    /// One news message: its articles, in order (one for `news = {…}`, 1–8 for `articles`).
    News(Vec<NewsTemplates>),
}

/// The templates of one news article.
#[derive(Debug, Clone)]
pub(crate) struct NewsTemplates {
    pub title: String,
    pub description: Option<String>,
    pub pic_url: Option<String>,
    pub url: Option<String>,
}

/// A rendered reply, independent of the WeChat module's types (used by `explain` and tests).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RenderedReply {
    Text(String),
    /// One news message with its articles (at least one).
    News(Vec<NewsArticle>),
}

/// One rendered news article; absent parts are empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NewsArticle {
    pub title: String,
    pub description: String,
    pub pic_url: String,
    pub url: String,
}

impl RenderedReply {
    /// The WeChat message. WeChat shows one article per passive reply to a message and per
    /// customer-service news message (docs/wechat-protocol.md §5.2), so a news reply with
    /// several articles goes out as one text message that links every article, rather than as
    /// several messages (which would change a `random_one` rule's odds) or as the first
    /// article alone (which would lose the others).
    pub fn into_reply(self) -> crate::wechat::Reply {
        match self {
            RenderedReply::Text(text) => crate::wechat::Reply::Text(text),
            RenderedReply::News(mut articles) if articles.len() == 1 => {
                let a = articles.remove(0);
                crate::wechat::Reply::News(crate::wechat::Article {
                    title: a.title,
                    description: a.description,
                    pic_url: a.pic_url,
                    url: a.url,
                })
            }
            RenderedReply::News(articles) => {
                let entries: Vec<String> = articles
                    .iter()
                    .map(|a| {
                        let mut entry = if a.url.is_empty() {
                            a.title.clone()
                        } else {
                            format!("<a href=\"{}\">{}</a>", a.url, a.title)
                        };
                        if !a.description.is_empty() {
                            entry.push('\n');
                            entry.push_str(&a.description);
                        }
                        entry
                    })
                    .collect();
                crate::wechat::Reply::Text(entries.join("\n\n"))
            }
        }
    }
}

impl ReplySet {
    pub(crate) fn new(
        mode: ReplyMode,
        items: Vec<ReplyItem>,
        env: Arc<Environment<'static>>,
    ) -> Self {
        let literals = items
            .iter()
            .map(|item| match item {
                ReplyItem::Text(name) => env
                    .get_template(name)
                    .ok()
                    .map(|t| t.source().to_owned())
                    .filter(|src| !src.contains('{'))
                    .map(|src| src.trim_end().to_owned()),
                ReplyItem::News(_) => None,
            })
            .collect();
        Self {
            mode,
            items,
            env,
            literals,
        }
    }

    /// Send every reply, or one chosen at random.
    pub fn mode(&self) -> ReplyMode {
        self.mode
    }

    /// Number of replies the rule defines (0 for an action rule whose action answers itself).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Render with action fields (a JSON object; anything else counts as no fields) and regex
    /// captures. `send_all` renders every reply in order, `random_one` one chosen at random.
    pub fn render_plain(
        &self,
        fields: &serde_json::Value,
        captures: &[String],
    ) -> Result<Vec<RenderedReply>, RuleError> {
        if self.literals.iter().all(Option::is_some) {
            let texts = self.literals.iter().flatten();
            return Ok(match self.mode {
                ReplyMode::SendAll => texts.map(|t| RenderedReply::Text(t.clone())).collect(),
                ReplyMode::RandomOne => {
                    let all: Vec<&String> = texts.collect();
                    if all.is_empty() {
                        return Ok(Vec::new());
                    }
                    vec![RenderedReply::Text(
                        all[rand::rng().random_range(0..all.len())].clone(),
                    )]
                }
            });
        }
        let ctx = context(fields, captures);
        match self.mode {
            ReplyMode::SendAll => self
                .items
                .iter()
                .map(|item| self.render_item(item, &ctx))
                .collect(),
            ReplyMode::RandomOne => {
                if self.items.is_empty() {
                    return Ok(Vec::new());
                }
                let pick = rand::rng().random_range(0..self.items.len());
                match self.items.get(pick) {
                    Some(item) => Ok(vec![self.render_item(item, &ctx)?]),
                    None => Ok(Vec::new()),
                }
            }
        }
    }

    /// Render with action fields (JSON object) and regex captures into WeChat replies.
    /// Mode `send_all` → every reply in order, `random_one` → one chosen at random.
    pub fn render(
        &self,
        fields: &serde_json::Value,
        captures: &[String],
    ) -> Result<Vec<crate::wechat::Reply>, RuleError> {
        Ok(self
            .render_plain(fields, captures)?
            .into_iter()
            .map(RenderedReply::into_reply)
            .collect())
    }

    /// Render every reply (whatever the mode) with a prepared context (previews).
    pub(crate) fn render_all_with(&self, ctx: &Value) -> Result<Vec<RenderedReply>, RuleError> {
        self.items
            .iter()
            .map(|item| self.render_item(item, ctx))
            .collect()
    }

    fn render_item(&self, item: &ReplyItem, ctx: &Value) -> Result<RenderedReply, RuleError> {
        match item {
            ReplyItem::Text(name) => Ok(RenderedReply::Text(render_named(&self.env, name, ctx)?)),
            ReplyItem::News(articles) => {
                let opt = |name: &Option<String>| -> Result<String, RuleError> {
                    match name {
                        Some(name) => render_named(&self.env, name, ctx),
                        None => Ok(String::new()),
                    }
                };
                let rendered = articles
                    .iter()
                    .map(|a| {
                        Ok(NewsArticle {
                            title: render_named(&self.env, &a.title, ctx)?,
                            description: opt(&a.description)?,
                            pic_url: opt(&a.pic_url)?,
                            url: opt(&a.url)?,
                        })
                    })
                    .collect::<Result<Vec<_>, RuleError>>()?;
                Ok(RenderedReply::News(rendered))
            }
        }
    }
}

impl std::fmt::Debug for ReplySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySet")
            .field("mode", &self.mode)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

/// A fresh environment configured the way every rule table uses it.
pub(crate) fn new_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Replies are plain text for WeChat, never HTML: no auto-escaping whatever the name.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

pub(crate) fn render_named(
    env: &Environment<'static>,
    name: &str,
    ctx: &Value,
) -> Result<String, RuleError> {
    let render = || -> Result<String, minijinja::Error> {
        let tmpl = env.get_template(name)?;
        tmpl.render(ctx)
    };
    render()
        .map(|s| s.trim_end().to_owned())
        .map_err(|source| RuleError::Render {
            name: name.to_owned(),
            source,
        })
}

/// The render context: the action's fields plus `captures`.
pub(crate) fn context(fields: &serde_json::Value, captures: &[String]) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    if let serde_json::Value::Object(obj) = fields {
        for (k, v) in obj {
            map.insert(k.clone(), json_to_value(v));
        }
    }
    context_of(map, captures)
}

/// A render context of `fields` (already as template values) plus `captures`.
pub(crate) fn context_of(mut fields: BTreeMap<String, Value>, captures: &[String]) -> Value {
    fields.insert(
        CAPTURES.to_owned(),
        Value::from(
            captures
                .iter()
                .map(|c| Value::from(c.as_str()))
                .collect::<Vec<_>>(),
        ),
    );
    Value::from(fields)
}

fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(json_to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// Rewrite `{N}` (N ≥ 1, outside any `{{ }}`, `{% %}`, `{# #}` or raw block) into
/// `{{ captures[N-1] }}`. Returns the new source and the largest N used (0 if none).
/// Newlines are preserved, so template error lines still point at the operator's text.
pub(crate) fn rewrite_captures(src: &str) -> (String, usize) {
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 16);
    let mut last = 0;
    let mut max = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied();
        match next {
            Some(b'{') => i = skip_to(src, i + 2, "}}"),
            Some(b'#') => i = skip_to(src, i + 2, "#}"),
            Some(b'%') => {
                let end = skip_to(src, i + 2, "%}");
                let inner = src
                    .get(i + 2..end.saturating_sub(2).max(i + 2))
                    .unwrap_or("");
                let tag = inner.trim().trim_matches('-').trim();
                i = if tag == "raw" {
                    find_endraw(src, end)
                } else {
                    end
                };
            }
            Some(d) if d.is_ascii_digit() => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                let n: usize = src.get(i + 1..j).and_then(|s| s.parse().ok()).unwrap_or(0);
                if bytes.get(j) == Some(&b'}') && (1..=99).contains(&n) {
                    out.push_str(&src[last..i]);
                    out.push_str(&format!("{{{{ {CAPTURES}[{}] }}}}", n - 1));
                    max = max.max(n);
                    last = j + 1;
                    i = j + 1;
                } else {
                    i = j;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&src[last..]);
    (out, max)
}

/// Index just past the next `close` at or after `from`, or the end of `src`.
fn skip_to(src: &str, from: usize, close: &str) -> usize {
    match src.get(from..).and_then(|rest| rest.find(close)) {
        Some(pos) => from + pos + close.len(),
        None => src.len(),
    }
}

/// Index just past the `{% endraw %}` tag after `from`, or the end of `src`.
fn find_endraw(src: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(pos) = src.get(i..).and_then(|rest| rest.find("{%")) {
        let start = i + pos;
        let end = skip_to(src, start + 2, "%}");
        let inner = src.get(start + 2..end.saturating_sub(2)).unwrap_or("");
        if inner.trim().trim_matches('-').trim() == "endraw" {
            return end;
        }
        i = end;
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_captures_outside_template_syntax_only() {
        assert_eq!(
            rewrite_captures("已查询 {1} 与 {2}"),
            (
                "已查询 {{ captures[0] }} 与 {{ captures[1] }}".to_owned(),
                2
            )
        );
        assert_eq!(
            rewrite_captures("{{ \"{1}\" }}"),
            ("{{ \"{1}\" }}".into(), 0)
        );
        assert_eq!(
            rewrite_captures("{% raw %}{1}{% endraw %}{1}"),
            ("{% raw %}{1}{% endraw %}{{ captures[0] }}".into(), 1)
        );
        assert_eq!(rewrite_captures("{0} {x} {"), ("{0} {x} {".into(), 0));
        assert_eq!(rewrite_captures("{# {3} #}"), ("{# {3} #}".into(), 0));
    }

    fn set(mode: ReplyMode, texts: &[&str]) -> ReplySet {
        let mut env = new_env();
        let mut items = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let name = format!("t{i}");
            env.add_template_owned(name.clone(), rewrite_captures(t).0)
                .unwrap();
            items.push(ReplyItem::Text(name));
        }
        ReplySet::new(mode, items, Arc::new(env))
    }

    #[test]
    fn send_all_renders_every_reply_with_fields_and_captures() {
        let s = set(
            ReplyMode::SendAll,
            &["余额 {{ balance_yuan }} 元", "你说的是 {1}"],
        );
        let out = s
            .render_plain(
                &serde_json::json!({"balance_yuan": "12.30"}),
                &["abc".into()],
            )
            .unwrap();
        assert_eq!(
            out,
            vec![
                RenderedReply::Text("余额 12.30 元".into()),
                RenderedReply::Text("你说的是 abc".into())
            ]
        );
    }

    #[test]
    fn random_one_renders_exactly_one_and_eventually_each() {
        let s = set(ReplyMode::RandomOne, &["甲", "乙", "丙"]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let out = s.render_plain(&serde_json::Value::Null, &[]).unwrap();
            assert_eq!(out.len(), 1);
            seen.insert(out[0].clone());
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn missing_field_is_an_error_not_an_empty_string() {
        let s = set(ReplyMode::SendAll, &["{{ nope }}"]);
        assert!(matches!(
            s.render_plain(&serde_json::json!({}), &[]),
            Err(RuleError::Render { .. })
        ));
    }

    #[test]
    fn user_text_in_captures_is_never_parsed_as_template() {
        let s = set(ReplyMode::SendAll, &["收到：{1}"]);
        let out = s
            .render_plain(&serde_json::Value::Null, &["{{ 7 * 6 }}".into()])
            .unwrap();
        assert_eq!(out, vec![RenderedReply::Text("收到：{{ 7 * 6 }}".into())]);
    }
}
