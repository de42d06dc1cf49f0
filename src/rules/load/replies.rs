//! Replies and templates: each text or news part compiled once, its fields checked against
//! the rule's action and its `{1}` captures against the rule's triggers.

use toml::Spanned;

use super::{Loc, TemplateCtx, Validator};
use crate::rules::model::{NewsDef, ReplyDef};
use crate::rules::template::{CAPTURES, NewsTemplates, ReplyItem, rewrite_captures};

/// The most articles one news message holds (WeChat's limit for 多图文).
const MAX_ARTICLES: usize = 8;

impl Validator {
    pub(super) fn template_name(&mut self, id: &str, part: &str) -> String {
        self.seq += 1;
        format!("{id}#{}{part}", self.seq)
    }

    pub(super) fn reply(
        &mut self,
        file: usize,
        id: &str,
        r: &Spanned<ReplyDef>,
        ctx: &TemplateCtx<'_>,
    ) -> Option<ReplyItem> {
        let l = Loc {
            file,
            span: r.span(),
        };
        let def = r.get_ref();
        match (&def.text, &def.news, &def.articles) {
            (Some(text), None, None) => {
                let tl = Loc {
                    file,
                    span: text.span(),
                };
                if text.get_ref().trim().is_empty() {
                    self.error(&tl, "empty reply".into());
                    return None;
                }
                let name = self.template_name(id, "");
                self.compile(name, text, &tl, Some(ctx))
                    .map(ReplyItem::Text)
            }
            (None, Some(news), None) => self
                .article(file, id, news, ctx)
                .map(|a| ReplyItem::News(vec![a])),
            (None, None, Some(articles)) => {
                let n = articles.get_ref().len();
                if !(1..=MAX_ARTICLES).contains(&n) {
                    let al = Loc {
                        file,
                        span: articles.span(),
                    };
                    self.error(
                        &al,
                        format!(
                            "a news reply holds 1 to {MAX_ARTICLES} articles, this one has {n}"
                        ),
                    );
                    return None;
                }
                // Compile every article so each problem is reported, then keep the reply only
                // if all of them are good.
                let compiled: Vec<_> = articles
                    .get_ref()
                    .iter()
                    .map(|a| self.article(file, id, a, ctx))
                    .collect();
                compiled
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(ReplyItem::News)
            }
            _ => {
                self.error(
                    &l,
                    "a reply needs exactly one of `text`, `news` or `articles`".into(),
                );
                None
            }
        }
    }

    fn article(
        &mut self,
        file: usize,
        id: &str,
        news: &NewsDef,
        ctx: &TemplateCtx<'_>,
    ) -> Option<NewsTemplates> {
        let tl = Loc {
            file,
            span: news.title.span(),
        };
        if news.title.get_ref().trim().is_empty() {
            self.error(&tl, "empty reply: a news reply needs a title".into());
            return None;
        }
        let name = self.template_name(id, ".title");
        let title = self.compile(name, &news.title, &tl, Some(ctx));
        let part = |this: &mut Self, label: &str, v: &Option<Spanned<String>>| {
            let Some(s) = v else {
                return Some(None);
            };
            let l = Loc {
                file,
                span: s.span(),
            };
            let name = this.template_name(id, &format!(".{label}"));
            this.compile(name, s, &l, Some(ctx)).map(Some)
        };
        let description = part(self, "description", &news.description);
        let pic_url = part(self, "pic_url", &news.pic_url);
        let url = part(self, "url", &news.url);
        Some(NewsTemplates {
            title: title?,
            description: description?,
            pic_url: pic_url?,
            url: url?,
        })
    }

    /// Compile one template; check its syntax, the fields it uses against the action and its
    /// capture references. Returns the template name on success.
    pub(super) fn compile(
        &mut self,
        name: String,
        text: &Spanned<String>,
        loc: &Loc,
        ctx: Option<&TemplateCtx<'_>>,
    ) -> Option<String> {
        let (source, used_captures) = rewrite_captures(text.get_ref());
        if let Err(e) = self.env.add_template_owned(name.clone(), source) {
            let (line, col) = self.template_pos(loc, e.line().unwrap_or(1));
            let detail = e
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| e.kind().to_string());
            self.error_at(
                loc.file,
                line,
                col,
                format!("invalid template syntax: {detail}"),
            );
            return None;
        }
        let Some(ctx) = ctx else {
            return Some(name);
        };
        let used = match self.env.get_template(&name) {
            Ok(t) => t.undeclared_variables(false),
            Err(_) => Default::default(),
        };
        let mut unknown: Vec<String> = used
            .into_iter()
            .filter(|v| {
                ctx.check_fields
                    && v != CAPTURES
                    && !self.globals.contains(v)
                    && !ctx.fields.contains(&v.as_str())
            })
            .collect();
        unknown.sort();
        let mut ok = unknown.is_empty();
        for var in unknown {
            let message = match ctx.action {
                Some(action) if ctx.fields.is_empty() => {
                    format!("template uses `{var}`, but action `{action}` provides no fields")
                }
                Some(action) => format!(
                    "template uses `{var}`, which action `{action}` does not provide (it provides: {})",
                    ctx.fields.join(", ")
                ),
                None => {
                    format!("template uses `{var}`, but the rule has no action to provide it")
                }
            };
            self.error(loc, message);
        }
        if ctx.check_captures && used_captures > ctx.max_captures {
            ok = false;
            self.error(
                loc,
                format!(
                    "reply uses {{{used_captures}}}, but the rule's triggers provide at most {} capture(s)",
                    ctx.max_captures
                ),
            );
        }
        ok.then_some(name)
    }
}
