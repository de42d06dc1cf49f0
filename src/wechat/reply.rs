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
use super::xml;

/// The body that tells WeChat "no passive reply; do not retry" (no encryption needed).
pub const SUCCESS: &str = "success";

/// What we answer. A passive news reply carries exactly one article.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Text(String),
    News(Article),
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

/// The passive reply XML, in the layout of Tencent's samples (PROTOCOL.md §5.2).
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
