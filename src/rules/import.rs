//! Import of WeChat's admin auto-reply rules (`get_current_autoreply_info`) into a rule file.
//!
//! Why it exists: switching an account to server mode silently disables the auto-reply rules
//! the school's staff built in the MP admin UI (a common complaint of operators moving to server mode). The API still *returns* them, so
//! `onecard rules import` turns that JSON into one of our TOML rule files: the subscribe reply,
//! the default reply and every keyword rule with its `equal`/`contain` keywords, its
//! `reply_all`/`random_one` mode and its text and news replies.
//!
//! What cannot be represented (image, voice and video replies: their media ids are temporary)
//! becomes a comment in the output and a warning, never a crash. Keywords that two imported
//! rules share (the admin UI's behaviour there is unclear) are kept in the first rule only, with a
//! warning, so the output always passes validation. Text that looks like template syntax is
//! wrapped in `{% raw %}` so it is sent literally.
//!
//! It never touches the network or the rules directory; the CLI decides where the text goes.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Deserialize;

use super::{RuleError, normalize};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AutoReplyInfo {
    errcode: Option<i64>,
    errmsg: Option<String>,
    is_add_friend_reply_open: i64,
    is_autoreply_open: i64,
    add_friend_autoreply_info: Option<SimpleReply>,
    message_default_autoreply_info: Option<SimpleReply>,
    keyword_autoreply_info: Option<KeywordInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SimpleReply {
    #[serde(rename = "type")]
    kind: String,
    content: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeywordInfo {
    list: Vec<KeywordRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeywordRule {
    rule_name: String,
    create_time: i64,
    reply_mode: String,
    keyword_list_info: Vec<Keyword>,
    reply_list_info: Vec<ReplyInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Keyword {
    match_mode: String,
    content: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReplyInfo {
    #[serde(rename = "type")]
    kind: String,
    content: String,
    news_info: Option<NewsInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewsInfo {
    list: Vec<NewsItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewsItem {
    title: String,
    author: String,
    digest: String,
    /// 1 (the default in WeChat) shows the cover at the top of the article page.
    show_cover: Option<i64>,
    cover_url: String,
    content_url: String,
    source_url: String,
}

/// The most articles one news reply holds (WeChat's 多图文 limit, and the rule format's).
const MAX_ARTICLES: usize = 8;

/// WeChat `get_current_autoreply_info` JSON → the text of a TOML rule file. Warnings about
/// what could not be imported are comments in the text (and logged).
pub fn import_autoreply(json: &str) -> Result<String, RuleError> {
    let (text, warnings) = import_autoreply_with_warnings(json)?;
    for w in &warnings {
        tracing::warn!(warning = %w, "auto-reply import");
    }
    Ok(text)
}

/// Like [`import_autoreply`], also returning the warnings for the CLI to print.
pub fn import_autoreply_with_warnings(json: &str) -> Result<(String, Vec<String>), RuleError> {
    // Notepad saves UTF-8 with a byte-order mark.
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    let info: AutoReplyInfo = serde_json::from_str(json).map_err(RuleError::ImportJson)?;
    if let Some(code) = info.errcode.filter(|c| *c != 0) {
        return Err(RuleError::Import(format!(
            "WeChat answered errcode {code}: {}",
            info.errmsg.as_deref().unwrap_or("")
        )));
    }
    let mut out = Importer::default();
    out.line("# 从公众号后台「自动回复」导入（接口 get_current_autoreply_info）。");
    out.line("# 请检查后放入 config/rules/，并运行 `onecard rules check` 校验。");
    out.line("# 图片、语音、视频回复无法导入（素材 id 为临时素材），已改为注释。");

    // Subscribe reply.
    if let Some(r) = &info.add_friend_autoreply_info {
        out.simple(
            "imported_subscribe",
            "被关注回复",
            "subscribe = true",
            r,
            info.is_add_friend_reply_open != 0,
        );
    }
    // Default reply.
    if let Some(r) = &info.message_default_autoreply_info {
        out.simple(
            "imported_default",
            "收到消息回复",
            "default = true",
            r,
            info.is_autoreply_open != 0,
        );
    }
    // Keyword rules.
    let rules = info
        .keyword_autoreply_info
        .map(|k| k.list)
        .unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        out.keyword_rule(i + 1, rule);
    }
    Ok((out.text, out.warnings))
}

#[derive(Default)]
struct Importer {
    text: String,
    warnings: Vec<String>,
    /// (match kind, normalised keyword) already taken by an earlier imported rule.
    taken: HashSet<(&'static str, String)>,
}

impl Importer {
    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn warn(&mut self, w: String) {
        let _ = writeln!(self.text, "# 警告：{w}");
        self.warnings.push(w);
    }

    fn simple(&mut self, id: &str, name: &str, trigger: &str, r: &SimpleReply, open: bool) {
        self.line("");
        if !open {
            // Kept as a comment, so switching it on is one edit and nothing is lost.
            self.warn(format!(
                "「{name}」在公众号后台处于关闭状态，未启用；内容已作为注释保留。"
            ));
            if r.kind == "text" && !r.content.trim().is_empty() {
                for l in [
                    "[[rule]]".to_owned(),
                    format!("id = {}", quote(id)),
                    format!("name = {}", quote(name)),
                    trigger.to_owned(),
                    format!("reply = {}", quote(&literal(&r.content))),
                ] {
                    let _ = writeln!(self.text, "# {l}");
                }
            }
            return;
        }
        if r.kind != "text" {
            self.warn(format!(
                "「{name}」是 {} 类型的回复，无法导入；请改写为文字或图文回复。",
                kind_zh(&r.kind)
            ));
            return;
        }
        if r.content.trim().is_empty() {
            self.warn(format!("「{name}」的内容为空，未导入。"));
            return;
        }
        self.line("[[rule]]");
        let _ = writeln!(self.text, "id = {}", quote(id));
        let _ = writeln!(self.text, "name = {}", quote(name));
        self.line(trigger);
        let _ = writeln!(self.text, "reply = {}", quote(&literal(&r.content)));
    }

    fn keyword_rule(&mut self, n: usize, rule: &KeywordRule) {
        self.line("");
        let label = if rule.rule_name.trim().is_empty() {
            format!("规则 {n}")
        } else {
            rule.rule_name.trim().to_owned()
        };
        let mut body = String::new();
        let mut warnings = Vec::new();
        let _ = writeln!(body, "[[rule]]");
        let _ = writeln!(body, "id = {}", quote(&format!("autoreply_{n}")));
        let _ = writeln!(body, "name = {}", quote(&label));
        if let Some(date) =
            chrono::DateTime::from_timestamp(rule.create_time, 0).filter(|_| rule.create_time > 0)
        {
            let _ = writeln!(body, "# 创建于 {}", date.format("%Y-%m-%d"));
        }
        let mut exact = Vec::new();
        let mut contains = Vec::new();
        for kw in &rule.keyword_list_info {
            let content = kw.content.trim();
            if content.is_empty() {
                continue;
            }
            let (kind, list) = match kw.match_mode.as_str() {
                "equal" => ("exact", &mut exact),
                "contain" => ("contains", &mut contains),
                other => {
                    warnings.push(format!(
                        "规则「{label}」的关键词「{content}」匹配方式 `{other}` 未知，按「半匹配」（contains）导入。"
                    ));
                    ("contains", &mut contains)
                }
            };
            if !self.taken.insert((kind, normalize(content))) {
                warnings.push(format!(
                    "关键词「{content}」已在前面的规则中使用，规则「{label}」中的这一个未导入。"
                ));
                continue;
            }
            list.push(quote(content));
        }
        if !exact.is_empty() {
            let _ = writeln!(body, "exact = [{}]", exact.join(", "));
        }
        if !contains.is_empty() {
            let _ = writeln!(body, "contains = [{}]", contains.join(", "));
        }
        let mode = if rule.reply_mode == "random_one" {
            "random_one"
        } else {
            "send_all"
        };
        let _ = writeln!(body, "mode = {}", quote(mode));
        let mut replies = Vec::new();
        for r in &rule.reply_list_info {
            match r.kind.as_str() {
                "text" if !r.content.trim().is_empty() => {
                    replies.push(format!("  {{ text = {} }},", quote(&literal(&r.content))));
                }
                "text" => warnings.push(format!("规则「{label}」有一条空的文字回复，未导入。")),
                "news" => {
                    let items = r.news_info.as_ref().map(|n| &n.list[..]).unwrap_or(&[]);
                    if let Some(reply) = news_reply(&label, items, &mut warnings) {
                        replies.push(reply);
                    }
                }
                other => warnings.push(format!(
                    "规则「{label}」的{}回复无法导入（素材 {}），已忽略。",
                    kind_zh(other),
                    if r.content.is_empty() {
                        "未知"
                    } else {
                        r.content.as_str()
                    }
                )),
            }
        }
        if !replies.is_empty() {
            let _ = writeln!(body, "replies = [\n{}\n]", replies.join("\n"));
        }
        let usable = (!exact.is_empty() || !contains.is_empty()) && !replies.is_empty();
        for w in warnings {
            self.warn(w);
        }
        if usable {
            self.text.push_str(&body);
        } else {
            self.warn(format!(
                "规则「{label}」没有可导入的关键词或回复，整条规则已改为注释。"
            ));
            for l in body.lines() {
                let _ = writeln!(self.text, "# {l}");
            }
        }
    }
}

/// One WeChat news reply → one reply of the rule: `{ news = {…} }` for one article,
/// `{ articles = [ … ] }` for several, so it stays one message (and one pick of `random_one`).
fn news_reply(label: &str, items: &[NewsItem], warnings: &mut Vec<String>) -> Option<String> {
    let mut articles = Vec::new();
    for a in items {
        let title = a.title.trim();
        if title.is_empty() {
            warnings.push(format!("规则「{label}」的一篇图文没有标题，未导入。"));
            continue;
        }
        // The article's link: its page, or the original article (阅读原文) when it has no page.
        let (url, source_dropped) = if a.content_url.trim().is_empty() {
            (&a.source_url, false)
        } else {
            (&a.content_url, !a.source_url.trim().is_empty())
        };
        let mut dropped = Vec::new();
        if !a.author.trim().is_empty() {
            dropped.push("作者（author）".to_owned());
        }
        if source_dropped {
            dropped.push("原文链接（source_url）".to_owned());
        }
        if a.show_cover == Some(0) {
            dropped.push("“正文不显示封面”（show_cover = 0）".to_owned());
        }
        if !dropped.is_empty() {
            warnings.push(format!(
                "规则「{label}」的图文「{title}」的{}在规则文件中没有对应字段，未导入。",
                dropped.join("、")
            ));
        }
        let mut news = format!("title = {}", quote(&literal(&a.title)));
        for (field, value) in [
            ("description", &a.digest),
            ("pic_url", &a.cover_url),
            ("url", url),
        ] {
            if !value.trim().is_empty() {
                let _ = write!(news, ", {field} = {}", quote(&literal(value)));
            }
        }
        articles.push(format!("{{ {news} }}"));
    }
    if items.is_empty() {
        warnings.push(format!("规则「{label}」的图文回复没有文章，未导入。"));
    }
    if articles.len() > MAX_ARTICLES {
        warnings.push(format!(
            "规则「{label}」的图文回复有 {} 篇文章，只导入前 {MAX_ARTICLES} 篇。",
            articles.len()
        ));
        articles.truncate(MAX_ARTICLES);
    }
    match articles.len() {
        0 => None,
        1 => Some(format!("  {{ news = {} }},", articles[0])),
        _ => Some(format!(
            "  {{ articles = [\n{}\n  ] }},",
            articles
                .iter()
                .map(|a| format!("      {a},"))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

fn kind_zh(kind: &str) -> &'static str {
    match kind {
        "img" | "image" => "图片",
        "voice" => "语音",
        "video" => "视频",
        "news" => "图文",
        "text" => "文字",
        _ => "未知类型",
    }
}

/// A TOML basic string with every escape done by the toml crate.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Text that must be sent literally: wrapped in a raw block if it contains template syntax or
/// something our `{N}` capture syntax would pick up.
fn literal(s: &str) -> String {
    let looks_like_template = s.contains("{{")
        || s.contains("{%")
        || s.contains("{#")
        || s.as_bytes().windows(3).any(|w| {
            w[0] == b'{' && w[1].is_ascii_digit() && (w[2] == b'}' || w[2].is_ascii_digit())
        });
    if looks_like_template && s.contains("endraw") {
        // A raw block would end early: print every `{` through an expression instead.
        s.replace('{', "{{ \"{\" }}")
    } else if looks_like_template {
        format!("{{% raw %}}{s}{{% endraw %}}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::{NewsArticle, RenderedReply, ReplyMode, Trigger};

    /// Shaped like the official sample (developers.weixin.qq.com … Getting_Rules_for_Auto_Replies)
    /// with a school's content: a news reply with two articles, a `random_one` rule, media
    /// replies, a keyword two rules share.
    pub(crate) const SAMPLE: &str = r#"{
  "is_add_friend_reply_open": 1,
  "is_autoreply_open": 1,
  "add_friend_autoreply_info": { "type": "text", "content": "欢迎关注XX大学一卡通！回复\"帮助\"查看功能。" },
  "message_default_autoreply_info": { "type": "text", "content": "您的留言已收到，工作人员会尽快回复。" },
  "keyword_autoreply_info": { "list": [
    { "rule_name": "补卡指南", "create_time": 1423028166, "reply_mode": "reply_all",
      "keyword_list_info": [
        { "type": "text", "match_mode": "contain", "content": "补卡" },
        { "type": "text", "match_mode": "equal", "content": "补办" }
      ],
      "reply_list_info": [
        { "type": "news", "content": "KQb_w_Tiz-nSdVLoTV35Psmty8hGBulGhEdbb9SKs-o",
          "news_info": { "list": [
            { "title": "校园卡补办流程", "author": "一卡通中心", "digest": "携带身份证到服务中心",
              "show_cover": 1, "cover_url": "http://mmbiz.qpic.cn/cover.jpg",
              "content_url": "http://mp.weixin.qq.com/s?__biz=MzA&mid=1", "source_url": "" },
            { "title": "补卡工本费说明", "author": "", "digest": "工本费 20 元",
              "show_cover": 0, "cover_url": "http://mmbiz.qpic.cn/fee.jpg",
              "content_url": "", "source_url": "https://card.example.edu.cn/fee" }
          ] } },
        { "type": "text", "content": "工本费 20 元，可用 {{ 微信 }} 支付" }
      ] },
    { "rule_name": "语音问候", "create_time": 1423027971, "reply_mode": "random_one",
      "keyword_list_info": [ { "type": "text", "match_mode": "contain", "content": "语音" } ],
      "reply_list_info": [ { "type": "voice", "content": "NESsxgHEvAcg3egJTtYj4uG1PTL6iPhratdWKDLAXYErhN6oEEfMdVyblWtBY5vp" } ] },
    { "rule_name": "作息", "create_time": 1423027926, "reply_mode": "random_one",
      "keyword_list_info": [
        { "type": "text", "match_mode": "equal", "content": "作息时间" },
        { "type": "text", "match_mode": "contain", "content": "补卡" }
      ],
      "reply_list_info": [
        { "type": "text", "content": "夏季作息：7:00 起床" },
        { "type": "news", "content": "MEDIA2",
          "news_info": { "list": [
            { "title": "校历", "author": "", "digest": "", "show_cover": 1, "cover_url": "",
              "content_url": "http://mp.weixin.qq.com/s?__biz=MzA&mid=2", "source_url": "" },
            { "title": "作息表", "author": "", "digest": "冬夏两季", "show_cover": 1, "cover_url": "",
              "content_url": "http://mp.weixin.qq.com/s?__biz=MzA&mid=3", "source_url": "" }
          ] } },
        { "type": "img", "content": "mVxSHjbK0nbpzeqFeodZB-jLD7ynaVOBtIjoCkzQ-Ip2bfDCHTmxlaKlnrvq1O7S" }
      ] }
  ] }
}"#;

    fn wed_9am() -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap()
    }

    /// What WeChat itself would answer for one reply of the export, as our rendered reply;
    /// `None` for the kinds that cannot be imported (media).
    fn expected_reply(r: &serde_json::Value) -> Option<RenderedReply> {
        let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
        match r["type"].as_str()? {
            "text" => Some(RenderedReply::Text(s(&r["content"]))),
            "news" => Some(RenderedReply::News(
                r["news_info"]["list"]
                    .as_array()?
                    .iter()
                    .map(|a| NewsArticle {
                        title: s(&a["title"]),
                        description: s(&a["digest"]),
                        pic_url: s(&a["cover_url"]),
                        url: Some(s(&a["content_url"]))
                            .filter(|u| !u.is_empty())
                            .unwrap_or_else(|| s(&a["source_url"])),
                    })
                    .collect(),
            )),
            _ => None,
        }
    }

    #[test]
    fn a_realistic_export_round_trips_into_the_same_replies() {
        let (text, _) = import_autoreply_with_warnings(SAMPLE).unwrap();
        let files = vec![(std::path::PathBuf::from("r/imported.toml"), text.clone())];
        let table = crate::rules::load::build(std::path::Path::new("r"), files, &NoActions)
            .unwrap_or_else(|d| panic!("{d:#?}\n{text}"));
        let export: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let no_fields = crate::rules::template::context(&serde_json::json!({}), &[]);
        let mut seen_keywords = HashSet::new();
        let rules = export["keyword_autoreply_info"]["list"].as_array().unwrap();
        for (n, rule) in rules.iter().enumerate() {
            let expected: Vec<RenderedReply> = rule["reply_list_info"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(expected_reply)
                .collect();
            let mode = match rule["reply_mode"].as_str() {
                Some("random_one") => ReplyMode::RandomOne,
                _ => ReplyMode::SendAll,
            };
            for kw in rule["keyword_list_info"].as_array().unwrap() {
                let word = kw["content"].as_str().unwrap();
                // WeChat's admin UI leaves a keyword two rules share to chance; the import
                // keeps it in the first rule (with a warning).
                let first_use = seen_keywords.insert(word);
                let m = table.route(&Trigger::Text(word), wed_9am()).unwrap();
                if expected.is_empty() {
                    assert!(m.is_default, "{word}: a rule with only media replies");
                    continue;
                }
                let owner = if first_use {
                    n + 1
                } else {
                    1 + rules
                        .iter()
                        .position(|r| r["keyword_list_info"].to_string().contains(word))
                        .unwrap()
                };
                assert_eq!(&*m.rule_id, format!("autoreply_{owner}"), "{word}");
                if !first_use {
                    continue;
                }
                assert_eq!(m.replies.mode(), mode, "{word}");
                assert_eq!(
                    m.replies.render_all_with(&no_fields).unwrap(),
                    expected,
                    "{word}"
                );
            }
        }
        for (trigger, key) in [
            (
                Trigger::Subscribe { scene: None },
                "add_friend_autoreply_info",
            ),
            (
                Trigger::Text("随便说点什么"),
                "message_default_autoreply_info",
            ),
        ] {
            let m = table.route(&trigger, wed_9am()).unwrap();
            assert_eq!(
                m.replies.render_plain(&serde_json::json!({}), &[]).unwrap(),
                vec![expected_reply(&export[key]).unwrap()],
                "{key}"
            );
        }
    }

    #[test]
    fn a_news_reply_with_two_articles_stays_one_reply_of_a_random_one_rule() {
        let (text, _) = import_autoreply_with_warnings(SAMPLE).unwrap();
        let files = vec![(std::path::PathBuf::from("r/imported.toml"), text.clone())];
        let table = crate::rules::load::build(std::path::Path::new("r"), files, &NoActions)
            .unwrap_or_else(|d| panic!("{d:#?}\n{text}"));
        let m = table.route(&Trigger::Text("作息时间"), wed_9am()).unwrap();
        // A text and a two-article news (the image is not importable): one in two, as in WeChat.
        assert_eq!(m.replies.len(), 2);
        assert_eq!(m.replies.mode(), ReplyMode::RandomOne);
        assert!(
            text.contains(
                "  { articles = [\n      { title = \"校历\", url = \"http://mp.weixin.qq.com/s?__biz=MzA&mid=2\" },\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn what_the_rule_format_cannot_hold_is_warned_about() {
        let (text, warnings) = import_autoreply_with_warnings(SAMPLE).unwrap();
        assert_eq!(
            warnings,
            vec![
                "规则「补卡指南」的图文「校园卡补办流程」的作者（author）在规则文件中没有对应字段，未导入。",
                "规则「补卡指南」的图文「补卡工本费说明」的“正文不显示封面”（show_cover = 0）在规则文件中没有对应字段，未导入。",
                "规则「语音问候」的语音回复无法导入（素材 NESsxgHEvAcg3egJTtYj4uG1PTL6iPhratdWKDLAXYErhN6oEEfMdVyblWtBY5vp），已忽略。",
                "规则「语音问候」没有可导入的关键词或回复，整条规则已改为注释。",
                "关键词「补卡」已在前面的规则中使用，规则「作息」中的这一个未导入。",
                "规则「作息」的图片回复无法导入（素材 mVxSHjbK0nbpzeqFeodZB-jLD7ynaVOBtIjoCkzQ-Ip2bfDCHTmxlaKlnrvq1O7S），已忽略。",
            ]
        );
        for w in &warnings {
            assert!(text.contains(&format!("# 警告：{w}\n")), "{w}");
        }
        // source_url is kept as the link of an article that has no page of its own.
        assert!(
            text.contains("url = \"https://card.example.edu.cn/fee\""),
            "{text}"
        );
        assert!(text.contains("# id = \"autoreply_2\""));
    }

    #[test]
    fn closed_replies_and_errors() {
        let (text, warnings) = import_autoreply_with_warnings(
            r#"{"is_add_friend_reply_open":0,"is_autoreply_open":1,
                "add_friend_autoreply_info":{"type":"text","content":"hi"},
                "message_default_autoreply_info":{"type":"img","content":"MEDIA"}}"#,
        )
        .unwrap();
        assert!(text.contains(
            "# 警告：「被关注回复」在公众号后台处于关闭状态，未启用；内容已作为注释保留。\n# [[rule]]\n# id = \"imported_subscribe\"\n# name = \"被关注回复\"\n# subscribe = true\n# reply = \"hi\"\n"
        ), "{text}");
        assert_eq!(
            warnings[0],
            "「被关注回复」在公众号后台处于关闭状态，未启用；内容已作为注释保留。"
        );
        assert_eq!(warnings.len(), 2);
        assert!(warnings[1].contains("图片"));
        assert!(matches!(
            import_autoreply(r#"{"errcode":40001,"errmsg":"invalid credential"}"#),
            Err(RuleError::Import(_))
        ));
        assert!(matches!(
            import_autoreply("not json"),
            Err(RuleError::ImportJson(_))
        ));
    }

    #[test]
    fn a_notepad_export_with_a_byte_order_mark_imports() {
        let json = format!("\u{feff}{SAMPLE}");
        let (with_bom, _) = import_autoreply_with_warnings(&json).unwrap();
        let (without, _) = import_autoreply_with_warnings(SAMPLE).unwrap();
        assert_eq!(with_bom, without);
    }

    #[test]
    fn text_containing_endraw_is_still_sent_as_written() {
        let said = "模板写法：{% raw %}{{ x }}{% endraw %} 和 {1}";
        let json = serde_json::json!({
            "is_autoreply_open": 1,
            "message_default_autoreply_info": { "type": "text", "content": said }
        })
        .to_string();
        let (text, _) = import_autoreply_with_warnings(&json).unwrap();
        let files = vec![(std::path::PathBuf::from("r/imported.toml"), text.clone())];
        let table = crate::rules::load::build(std::path::Path::new("r"), files, &NoActions)
            .unwrap_or_else(|d| panic!("{d:#?}\n{text}"));
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap();
        let m = table
            .route(&crate::rules::Trigger::Text("随便"), now)
            .unwrap();
        assert_eq!(
            m.replies.render_plain(&serde_json::json!({}), &[]).unwrap(),
            vec![crate::rules::RenderedReply::Text(said.into())]
        );
    }

    struct NoActions;
    impl crate::rules::ActionCatalog for NoActions {
        fn fields(&self, _: &str) -> Option<&'static [&'static str]> {
            None
        }
        fn messages(&self, _: &str) -> &'static [&'static str] {
            &[]
        }
        fn all_messages(&self) -> Vec<&'static str> {
            Vec::new()
        }
    }
}
