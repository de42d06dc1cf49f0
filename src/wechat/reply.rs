//! Passive replies: the XML we put in the HTTP response to a WeChat callback.
//!
//! Why it exists: a reply is data ([`Reply`]), and exactly one function turns it into WeChat's
//! XML, CDATA-safe: a value containing `]]>` is split as `]]]]><![CDATA[>` and XML-illegal
//! control characters are dropped, so no user- or operator-supplied text can break the
//! envelope (opencrust-org/opencrust#242). [`parse_passive`] reads such XML back, for tests and
//! the chat client.
//!
//! It must never emit more than one news article (the platform rejects more for passive
//! replies since 2018) and never encrypt: sealing is [`super::codec`]'s job.

use super::error::WeChatError;
use super::inbound::Redacted;
use super::xml;

/// The body that tells WeChat "no passive reply; do not retry" (no encryption needed).
pub const SUCCESS: &str = "success";

/// What we answer. A passive news reply carries exactly one article. `Debug` prints text as
/// its length only: replies carry balances, names and grades.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    Text(String),
    News(Article),
}

impl Reply {
    /// Bytes of text this reply holds, for memory caps on remembered replies.
    pub fn text_bytes(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::News(a) => a.title.len() + a.description.len() + a.pic_url.len() + a.url.len(),
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => f.debug_tuple("Text").field(&Redacted(text)).finish(),
            Self::News(article) => f.debug_tuple("News").field(article).finish(),
        }
    }
}

/// One 图文 article.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Article {
    pub title: String,
    pub description: String,
    /// JPG/PNG, 360×200 (large) or 200×200.
    pub pic_url: String,
    pub url: String,
}

/// The passive reply XML, in the layout of Tencent's samples (docs/wechat-protocol.md §5.2).
/// `to_user` is the inbound `FromUserName` (the user), `from_user` the inbound `ToUserName`
/// (our account).
pub fn passive_xml(to_user: &str, from_user: &str, create_time: i64, reply: &Reply) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<xml>\n");
    xml::push_cdata_element(&mut out, "ToUserName", to_user);
    out.push('\n');
    xml::push_cdata_element(&mut out, "FromUserName", from_user);
    out.push('\n');
    xml::push_plain_element(&mut out, "CreateTime", &create_time);
    out.push('\n');
    match reply {
        Reply::Text(content) => {
            xml::push_cdata_element(&mut out, "MsgType", "text");
            out.push('\n');
            xml::push_cdata_element(&mut out, "Content", content);
            out.push('\n');
        }
        Reply::News(article) => {
            xml::push_cdata_element(&mut out, "MsgType", "news");
            out.push('\n');
            xml::push_plain_element(&mut out, "ArticleCount", &1);
            out.push_str("\n<Articles>\n<item>\n");
            xml::push_cdata_element(&mut out, "Title", &article.title);
            out.push('\n');
            xml::push_cdata_element(&mut out, "Description", &article.description);
            out.push('\n');
            xml::push_cdata_element(&mut out, "PicUrl", &article.pic_url);
            out.push('\n');
            xml::push_cdata_element(&mut out, "Url", &article.url);
            out.push_str("\n</item>\n</Articles>\n");
        }
    }
    out.push_str("</xml>");
    out
}

/// Read a plaintext passive reply back: `(ToUserName, Reply)`. Only `text` and `news` are
/// understood (the only kinds we send); a news reply yields its first article.
pub fn parse_passive(xml_text: &str) -> Result<(String, Reply), WeChatError> {
    let f = xml::parse(xml_text)?;
    let to_user = f.req("ToUserName")?.to_owned();
    let reply = match f.req("MsgType")?.trim() {
        "text" => Reply::Text(f.req("Content")?.to_owned()),
        "news" => Reply::News(Article {
            title: f.req("Articles/item/Title")?.to_owned(),
            description: f.text("Articles/item/Description"),
            pic_url: f.text("Articles/item/PicUrl"),
            url: f.text("Articles/item/Url"),
        }),
        _ => return Err(WeChatError::MissingField("MsgType")),
    };
    Ok((to_user, reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_reply_exact_bytes_match_the_official_sample() {
        assert_eq!(
            passive_xml("toUser", "fromUser", 12345678, &Reply::Text("你好".into())),
            "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>12345678</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[你好]]></Content>\n</xml>"
        );
    }

    #[test]
    fn news_reply_exact_bytes_match_the_official_sample() {
        let article = Article {
            title: "title1".into(),
            description: "description1".into(),
            pic_url: "picurl".into(),
            url: "url".into(),
        };
        assert_eq!(
            passive_xml(
                "toUser",
                "fromUser",
                12345678,
                &Reply::News(article.clone())
            ),
            "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>12345678</CreateTime>\n<MsgType><![CDATA[news]]></MsgType>\n<ArticleCount>1</ArticleCount>\n<Articles>\n<item>\n<Title><![CDATA[title1]]></Title>\n<Description><![CDATA[description1]]></Description>\n<PicUrl><![CDATA[picurl]]></PicUrl>\n<Url><![CDATA[url]]></Url>\n</item>\n</Articles>\n</xml>"
        );
        let xml = passive_xml("toUser", "fromUser", 1, &Reply::News(article.clone()));
        assert_eq!(
            parse_passive(&xml).unwrap(),
            ("toUser".to_owned(), Reply::News(article))
        );
    }

    #[test]
    fn cdata_terminator_in_content_round_trips() {
        let xml = passive_xml("o1", "gh", 1, &Reply::Text("a]]>b".into()));
        assert!(xml.contains("<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>"));
        assert_eq!(
            parse_passive(&xml).unwrap(),
            ("o1".to_owned(), Reply::Text("a]]>b".into()))
        );
    }

    #[test]
    fn control_characters_are_dropped_from_replies() {
        let xml = passive_xml("o1", "gh", 1, &Reply::Text("余额\u{1d}12.30\u{0}元".into()));
        assert!(xml.contains("<![CDATA[余额12.30元]]>"));
    }

    #[test]
    fn debug_shows_reply_length_not_text() {
        let shown = format!("{:?}", Reply::Text("你的成绩：95".into()));
        assert_eq!(shown, "Text(<7 chars>)");
    }

    #[test]
    fn parse_passive_refuses_unknown_types_and_garbage() {
        assert!(parse_passive("success").is_err());
        assert!(
            parse_passive("<xml><ToUserName>a</ToUserName><MsgType>image</MsgType></xml>").is_err()
        );
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_cdata(s in proptest::string::string_regex("[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\r]{0,64}").unwrap()) {
            let xml = passive_xml("o", "gh", 1, &Reply::Text(s.clone()));
            prop_assert_eq!(parse_passive(&xml).unwrap().1, Reply::Text(s));
        }

        #[test]
        fn cdata_heavy_text_round_trips(parts in proptest::collection::vec(prop_oneof![Just("]]>"), Just("]"), Just(">"), Just("<![CDATA["), Just("&amp;"), Just("中")], 0..20)) {
            let s: String = parts.concat();
            let xml = passive_xml("o", "gh", 1, &Reply::Text(s.clone()));
            prop_assert_eq!(parse_passive(&xml).unwrap().1, Reply::Text(s));
        }
    }
}
