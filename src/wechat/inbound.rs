//! Inbound WeChat XML: every message and event the callback can receive, as one typed value.
//!
//! Why it exists: the rest of the system should match on [`InboundBody`] and [`Event`], never
//! on XML element names or on `Event` casing (`SCAN` vs `subscribe`). This module owns that
//! mapping in both directions: [`InboundMessage::parse`] for our callback and
//! [`InboundMessage::to_xml`] for WeChat's side (the chat client, tests, benches).
//!
//! It must never expand a DTD or a custom entity (any `<!DOCTYPE` / `<!ENTITY` is refused
//! before parsing), never fail on the control characters users type (they are stripped), and
//! never fail on elements it does not know (new fields appear over time; they are ignored).

use super::error::WeChatError;
use super::xml::{self, Fields};

/// One inbound message or event, after decryption (docs/wechat-protocol.md §4).
///
/// `Debug` is safe to log: user text, locations and URLs print as their length only and the
/// openid as its last four characters. Use the fields themselves where content is needed.
#[derive(Clone, PartialEq)]
pub struct InboundMessage {
    /// Our account's original id (`gh_…`); replies come *from* it.
    pub to_user: String,
    /// The sender's OpenID; replies go *to* it.
    pub from_user: String,
    /// Unix seconds, as WeChat stamped it. Part of the event dedup key.
    pub create_time: i64,
    pub body: InboundBody,
}

/// What the user sent (`MsgType`). `Debug` redacts user content (see [`InboundMessage`]).
#[derive(Clone, PartialEq)]
pub enum InboundBody {
    Text {
        content: String,
        msg_id: u64,
    },
    Image {
        pic_url: String,
        media_id: String,
        msg_id: u64,
    },
    Voice {
        media_id: String,
        format: String,
        recognition: Option<String>,
        msg_id: u64,
    },
    Video {
        media_id: String,
        thumb_media_id: String,
        msg_id: u64,
    },
    ShortVideo {
        media_id: String,
        thumb_media_id: String,
        msg_id: u64,
    },
    Location {
        latitude: f64,
        longitude: f64,
        scale: f64,
        label: String,
        msg_id: u64,
    },
    Link {
        title: String,
        description: String,
        url: String,
        msg_id: u64,
    },
    Event(Event),
    /// A message type we do not handle (`miniprogrampage`, `file`, …): answered "success".
    Unknown {
        msg_type: String,
        msg_id: Option<u64>,
    },
}

/// `MsgType` = `event`, by `Event` compared case-insensitively (docs/wechat-protocol.md §4.3).
/// `Debug` redacts scan results and locations.
#[derive(Clone, PartialEq)]
pub enum Event {
    /// Follow. `EventKey` `qrscene_X` (follow via a parametric QR code) gives `scene` `X`; an
    /// empty or absent key gives `None`; any other key is kept as is.
    Subscribe {
        scene: Option<String>,
        ticket: Option<String>,
    },
    Unsubscribe,
    /// An already-following user scanned a parametric QR code; `key` is the scene (no prefix).
    Scan {
        key: String,
        ticket: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        precision: f64,
    },
    Click {
        key: String,
    },
    View {
        url: String,
        menu_id: Option<String>,
    },
    ScanCode {
        wait_msg: bool,
        key: String,
        scan_type: String,
        scan_result: String,
    },
    /// `kind` is `pic_sysphoto`, `pic_photo_or_album` or `pic_weixin`.
    Pic {
        kind: String,
        key: String,
        count: u32,
    },
    LocationSelect {
        key: String,
        latitude: String,
        longitude: String,
        scale: String,
        label: String,
        poiname: String,
    },
    TemplateSendJobFinish {
        msg_id: u64,
        status: String,
    },
    MassSendJobFinish {
        msg_id: u64,
        status: String,
        total: u64,
        filter: u64,
        sent: u64,
        errors: u64,
    },
    Unknown {
        event: String,
        key: Option<String>,
    },
}

/// Debug-prints a user-supplied string as its length only.
pub(crate) struct Redacted<'a>(pub(crate) &'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} chars>", self.0.chars().count())
    }
}

/// Debug-prints an openid as `…` plus its last four characters.
struct Tail<'a>(&'a str);

impl std::fmt::Debug for Tail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        write!(f, "\"…{tail}\"")
    }
}

const HIDDEN: Redacted<'static> = Redacted("");

impl std::fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMessage")
            .field("to_user", &self.to_user)
            .field("from_user", &Tail(&self.from_user))
            .field("create_time", &self.create_time)
            .field("body", &self.body)
            .finish()
    }
}

impl std::fmt::Debug for InboundBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text { content, msg_id } => f
                .debug_struct("Text")
                .field("content", &Redacted(content))
                .field("msg_id", msg_id)
                .finish(),
            Self::Image {
                media_id, msg_id, ..
            } => f
                .debug_struct("Image")
                .field("media_id", media_id)
                .field("msg_id", msg_id)
                .finish_non_exhaustive(),
            Self::Voice {
                media_id,
                format,
                recognition,
                msg_id,
            } => f
                .debug_struct("Voice")
                .field("media_id", media_id)
                .field("format", format)
                .field("recognition", &recognition.as_deref().map(Redacted))
                .field("msg_id", msg_id)
                .finish(),
            Self::Video {
                media_id,
                thumb_media_id,
                msg_id,
            } => f
                .debug_struct("Video")
                .field("media_id", media_id)
                .field("thumb_media_id", thumb_media_id)
                .field("msg_id", msg_id)
                .finish(),
            Self::ShortVideo {
                media_id,
                thumb_media_id,
                msg_id,
            } => f
                .debug_struct("ShortVideo")
                .field("media_id", media_id)
                .field("thumb_media_id", thumb_media_id)
                .field("msg_id", msg_id)
                .finish(),
            Self::Location { label, msg_id, .. } => f
                .debug_struct("Location")
                .field("coordinates", &HIDDEN)
                .field("label", &Redacted(label))
                .field("msg_id", msg_id)
                .finish(),
            Self::Link {
                title, url, msg_id, ..
            } => f
                .debug_struct("Link")
                .field("title", &Redacted(title))
                .field("url", &Redacted(url))
                .field("msg_id", msg_id)
                .finish_non_exhaustive(),
            Self::Event(event) => f.debug_tuple("Event").field(event).finish(),
            Self::Unknown { msg_type, msg_id } => f
                .debug_struct("Unknown")
                .field("msg_type", msg_type)
                .field("msg_id", msg_id)
                .finish(),
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Subscribe { scene, ticket } => f
                .debug_struct("Subscribe")
                .field("scene", scene)
                .field("ticket", &ticket.as_ref().map(|_| HIDDEN))
                .finish(),
            Self::Unsubscribe => f.write_str("Unsubscribe"),
            Self::Scan { key, .. } => f
                .debug_struct("Scan")
                .field("key", key)
                .finish_non_exhaustive(),
            Self::Location { .. } => f
                .debug_struct("Location")
                .field("coordinates", &HIDDEN)
                .finish(),
            Self::Click { key } => f.debug_struct("Click").field("key", key).finish(),
            Self::View { url, menu_id } => f
                .debug_struct("View")
                .field("url", url)
                .field("menu_id", menu_id)
                .finish(),
            Self::ScanCode {
                wait_msg,
                key,
                scan_type,
                scan_result,
            } => f
                .debug_struct("ScanCode")
                .field("wait_msg", wait_msg)
                .field("key", key)
                .field("scan_type", scan_type)
                .field("scan_result", &Redacted(scan_result))
                .finish(),
            Self::Pic { kind, key, count } => f
                .debug_struct("Pic")
                .field("kind", kind)
                .field("key", key)
                .field("count", count)
                .finish(),
            Self::LocationSelect { key, .. } => f
                .debug_struct("LocationSelect")
                .field("key", key)
                .field("location", &HIDDEN)
                .finish(),
            Self::TemplateSendJobFinish { msg_id, status } => f
                .debug_struct("TemplateSendJobFinish")
                .field("msg_id", msg_id)
                .field("status", status)
                .finish(),
            Self::MassSendJobFinish {
                msg_id,
                status,
                total,
                filter,
                sent,
                errors,
            } => f
                .debug_struct("MassSendJobFinish")
                .field("msg_id", msg_id)
                .field("status", status)
                .field("total", total)
                .field("filter", filter)
                .field("sent", sent)
                .field("errors", errors)
                .finish(),
            Self::Unknown { event, key } => f
                .debug_struct("Unknown")
                .field("event", event)
                .field("key", key)
                .finish(),
        }
    }
}

impl InboundMessage {
    /// Parse a decrypted (or plaintext) callback body. XML-illegal control characters are
    /// stripped first; DTDs are refused; unknown elements are ignored.
    pub fn parse(xml: &[u8]) -> Result<Self, WeChatError> {
        xml::reject_dtd(xml)?;
        let clean = xml::strip_illegal_control_bytes(xml);
        let text = std::str::from_utf8(&clean).map_err(|_| WeChatError::NotUtf8)?;
        let f = xml::parse(text)?;
        Self::from_fields(&f)
    }

    fn from_fields(f: &Fields) -> Result<Self, WeChatError> {
        let to_user = f.req("ToUserName")?.trim().to_owned();
        let from_user = f.req("FromUserName")?.trim().to_owned();
        let create_time: i64 = f.num("CreateTime")?;
        let msg_type = f.req("MsgType")?.trim().to_owned();
        let body = match msg_type.to_ascii_lowercase().as_str() {
            "text" => InboundBody::Text {
                content: f.req("Content")?.to_owned(),
                msg_id: f.num("MsgId")?,
            },
            "image" => InboundBody::Image {
                pic_url: f.text("PicUrl"),
                media_id: f.text("MediaId"),
                msg_id: f.num("MsgId")?,
            },
            "voice" => InboundBody::Voice {
                media_id: f.text("MediaId"),
                format: f.text("Format"),
                recognition: f.opt_nonempty("Recognition"),
                msg_id: f.num("MsgId")?,
            },
            "video" => InboundBody::Video {
                media_id: f.text("MediaId"),
                thumb_media_id: f.text("ThumbMediaId"),
                msg_id: f.num("MsgId")?,
            },
            "shortvideo" => InboundBody::ShortVideo {
                media_id: f.text("MediaId"),
                thumb_media_id: f.text("ThumbMediaId"),
                msg_id: f.num("MsgId")?,
            },
            "location" => InboundBody::Location {
                latitude: f.num("Location_X")?,
                longitude: f.num("Location_Y")?,
                scale: f.num("Scale")?,
                label: f.text("Label"),
                msg_id: f.num("MsgId")?,
            },
            "link" => InboundBody::Link {
                title: f.text("Title"),
                description: f.text("Description"),
                url: f.text("Url"),
                msg_id: f.num("MsgId")?,
            },
            "event" => InboundBody::Event(parse_event(f)?),
            _ => InboundBody::Unknown {
                msg_type,
                msg_id: f.opt_num("MsgId")?,
            },
        };
        Ok(Self {
            to_user,
            from_user,
            create_time,
            body,
        })
    }

    /// Identity of this delivery for deduplicating WeChat's retries (docs/wechat-protocol.md §5.1):
    /// messages `m:{from}:{msg_id}`, events `e:{from}:{create_time}:{event}:{event_key}`.
    pub fn dedup_key(&self) -> String {
        let from = &self.from_user;
        match &self.body {
            InboundBody::Text { msg_id, .. }
            | InboundBody::Image { msg_id, .. }
            | InboundBody::Voice { msg_id, .. }
            | InboundBody::Video { msg_id, .. }
            | InboundBody::ShortVideo { msg_id, .. }
            | InboundBody::Location { msg_id, .. }
            | InboundBody::Link { msg_id, .. }
            | InboundBody::Unknown {
                msg_id: Some(msg_id),
                ..
            } => format!("m:{from}:{msg_id}"),
            InboundBody::Unknown {
                msg_type,
                msg_id: None,
            } => {
                format!("u:{from}:{}:{msg_type}", self.create_time)
            }
            InboundBody::Event(event) => format!(
                "e:{from}:{}:{}:{}",
                self.create_time,
                event.wire_name(),
                event.event_key()
            ),
        }
    }

    /// A bounded label for metrics and logs.
    pub fn kind_label(&self) -> &'static str {
        match &self.body {
            InboundBody::Text { .. } => "text",
            InboundBody::Image { .. } => "image",
            InboundBody::Voice { .. } => "voice",
            InboundBody::Video { .. } => "video",
            InboundBody::ShortVideo { .. } => "shortvideo",
            InboundBody::Location { .. } => "location",
            InboundBody::Link { .. } => "link",
            InboundBody::Unknown { .. } => "unknown",
            InboundBody::Event(event) => match event {
                Event::Subscribe { .. } => "event_subscribe",
                Event::Unsubscribe => "event_unsubscribe",
                Event::Scan { .. } => "event_scan",
                Event::Location { .. } => "event_location",
                Event::Click { .. } => "event_click",
                Event::View { .. } => "event_view",
                Event::ScanCode {
                    wait_msg: false, ..
                } => "event_scancode_push",
                Event::ScanCode { wait_msg: true, .. } => "event_scancode_waitmsg",
                Event::Pic { .. } => "event_pic",
                Event::LocationSelect { .. } => "event_location_select",
                Event::TemplateSendJobFinish { .. } => "event_templatesendjobfinish",
                Event::MassSendJobFinish { .. } => "event_masssendjobfinish",
                Event::Unknown { .. } => "event_unknown",
            },
        }
    }

    /// Serialize as WeChat sends it (text in CDATA, numbers bare, one line). The platform side
    /// of the protocol: used by the chat client, tests and benches.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<xml>");
        xml::push_cdata_element(&mut out, "ToUserName", &self.to_user);
        xml::push_cdata_element(&mut out, "FromUserName", &self.from_user);
        xml::push_plain_element(&mut out, "CreateTime", &self.create_time);
        let msg_type = match &self.body {
            InboundBody::Text { .. } => "text",
            InboundBody::Image { .. } => "image",
            InboundBody::Voice { .. } => "voice",
            InboundBody::Video { .. } => "video",
            InboundBody::ShortVideo { .. } => "shortvideo",
            InboundBody::Location { .. } => "location",
            InboundBody::Link { .. } => "link",
            InboundBody::Event(_) => "event",
            InboundBody::Unknown { msg_type, .. } => msg_type.as_str(),
        };
        xml::push_cdata_element(&mut out, "MsgType", msg_type);
        let c = xml::push_cdata_element;
        let n = xml::push_plain_element;
        let o = &mut out;
        match &self.body {
            InboundBody::Text { content, msg_id } => {
                c(o, "Content", content);
                n(o, "MsgId", msg_id);
            }
            InboundBody::Image {
                pic_url,
                media_id,
                msg_id,
            } => {
                c(o, "PicUrl", pic_url);
                c(o, "MediaId", media_id);
                n(o, "MsgId", msg_id);
            }
            InboundBody::Voice {
                media_id,
                format,
                recognition,
                msg_id,
            } => {
                c(o, "MediaId", media_id);
                c(o, "Format", format);
                if let Some(r) = recognition {
                    c(o, "Recognition", r);
                }
                n(o, "MsgId", msg_id);
            }
            InboundBody::Video {
                media_id,
                thumb_media_id,
                msg_id,
            }
            | InboundBody::ShortVideo {
                media_id,
                thumb_media_id,
                msg_id,
            } => {
                c(o, "MediaId", media_id);
                c(o, "ThumbMediaId", thumb_media_id);
                n(o, "MsgId", msg_id);
            }
            InboundBody::Location {
                latitude,
                longitude,
                scale,
                label,
                msg_id,
            } => {
                n(o, "Location_X", latitude);
                n(o, "Location_Y", longitude);
                n(o, "Scale", scale);
                c(o, "Label", label);
                n(o, "MsgId", msg_id);
            }
            InboundBody::Link {
                title,
                description,
                url,
                msg_id,
            } => {
                c(o, "Title", title);
                c(o, "Description", description);
                c(o, "Url", url);
                n(o, "MsgId", msg_id);
            }
            InboundBody::Unknown { msg_id, .. } => {
                if let Some(id) = msg_id {
                    n(o, "MsgId", id);
                }
            }
            InboundBody::Event(event) => event.write_xml(o),
        }
        out.push_str("</xml>");
        out
    }
}

impl Event {
    /// The `Event` value as WeChat spells it (case as in the docs).
    pub fn wire_name(&self) -> &str {
        match self {
            Self::Subscribe { .. } => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Scan { .. } => "SCAN",
            Self::Location { .. } => "LOCATION",
            Self::Click { .. } => "CLICK",
            Self::View { .. } => "VIEW",
            Self::ScanCode {
                wait_msg: false, ..
            } => "scancode_push",
            Self::ScanCode { wait_msg: true, .. } => "scancode_waitmsg",
            Self::Pic { kind, .. } => kind,
            Self::LocationSelect { .. } => "location_select",
            Self::TemplateSendJobFinish { .. } => "TEMPLATESENDJOBFINISH",
            Self::MassSendJobFinish { .. } => "MASSSENDJOBFINISH",
            Self::Unknown { event, .. } => event,
        }
    }

    /// The `EventKey` this event carries (empty when it has none; the msg id for job-finish
    /// events, which have no key), for dedup keys.
    pub fn event_key(&self) -> String {
        match self {
            Self::Subscribe {
                scene: Some(scene), ..
            } => format!("qrscene_{scene}"),
            Self::Subscribe { scene: None, .. } | Self::Unsubscribe | Self::Location { .. } => {
                String::new()
            }
            Self::Scan { key, .. }
            | Self::Click { key }
            | Self::ScanCode { key, .. }
            | Self::Pic { key, .. }
            | Self::LocationSelect { key, .. } => key.clone(),
            Self::View { url, .. } => url.clone(),
            Self::TemplateSendJobFinish { msg_id, .. } | Self::MassSendJobFinish { msg_id, .. } => {
                msg_id.to_string()
            }
            Self::Unknown { key, .. } => key.clone().unwrap_or_default(),
        }
    }

    fn write_xml(&self, o: &mut String) {
        let c = xml::push_cdata_element;
        let n = xml::push_plain_element;
        c(o, "Event", self.wire_name());
        match self {
            Self::Subscribe { scene, ticket } => {
                if let Some(scene) = scene {
                    c(o, "EventKey", &format!("qrscene_{scene}"));
                }
                if let Some(t) = ticket {
                    c(o, "Ticket", t);
                }
            }
            Self::Unsubscribe => {}
            Self::Scan { key, ticket } => {
                c(o, "EventKey", key);
                if let Some(t) = ticket {
                    c(o, "Ticket", t);
                }
            }
            Self::Location {
                latitude,
                longitude,
                precision,
            } => {
                n(o, "Latitude", latitude);
                n(o, "Longitude", longitude);
                n(o, "Precision", precision);
            }
            Self::Click { key } => c(o, "EventKey", key),
            Self::View { url, menu_id } => {
                c(o, "EventKey", url);
                if let Some(m) = menu_id {
                    c(o, "MenuId", m);
                }
            }
            Self::ScanCode {
                key,
                scan_type,
                scan_result,
                ..
            } => {
                c(o, "EventKey", key);
                o.push_str("<ScanCodeInfo>");
                c(o, "ScanType", scan_type);
                c(o, "ScanResult", scan_result);
                o.push_str("</ScanCodeInfo>");
            }
            Self::Pic { key, count, .. } => {
                c(o, "EventKey", key);
                o.push_str("<SendPicsInfo>");
                n(o, "Count", count);
                o.push_str("<PicList></PicList></SendPicsInfo>");
            }
            Self::LocationSelect {
                key,
                latitude,
                longitude,
                scale,
                label,
                poiname,
            } => {
                c(o, "EventKey", key);
                o.push_str("<SendLocationInfo>");
                c(o, "Location_X", latitude);
                c(o, "Location_Y", longitude);
                c(o, "Scale", scale);
                c(o, "Label", label);
                c(o, "Poiname", poiname);
                o.push_str("</SendLocationInfo>");
            }
            Self::TemplateSendJobFinish { msg_id, status } => {
                n(o, "MsgID", msg_id);
                c(o, "Status", status);
            }
            Self::MassSendJobFinish {
                msg_id,
                status,
                total,
                filter,
                sent,
                errors,
            } => {
                n(o, "MsgID", msg_id);
                c(o, "Status", status);
                n(o, "TotalCount", total);
                n(o, "FilterCount", filter);
                n(o, "SentCount", sent);
                n(o, "ErrorCount", errors);
            }
            Self::Unknown { key, .. } => {
                if let Some(k) = key {
                    c(o, "EventKey", k);
                }
            }
        }
    }
}

/// `MsgID` (job-finish events) with `MsgId` as a fallback.
fn job_msg_id(f: &Fields) -> Result<u64, WeChatError> {
    if f.get("MsgID").is_some() {
        f.num("MsgID")
    } else {
        f.num("MsgId")
    }
}

fn parse_event(f: &Fields) -> Result<Event, WeChatError> {
    let raw = f.req("Event")?.trim().to_owned();
    let key = f.text("EventKey");
    let event = match raw.to_ascii_lowercase().as_str() {
        "subscribe" => {
            let trimmed = key.trim();
            let scene = if trimmed.is_empty() {
                None
            } else {
                Some(
                    trimmed
                        .strip_prefix("qrscene_")
                        .unwrap_or(trimmed)
                        .to_owned(),
                )
            };
            Event::Subscribe {
                scene,
                ticket: f.opt_nonempty("Ticket"),
            }
        }
        "unsubscribe" => Event::Unsubscribe,
        "scan" => Event::Scan {
            key,
            ticket: f.opt_nonempty("Ticket"),
        },
        "location" => Event::Location {
            latitude: f.num("Latitude")?,
            longitude: f.num("Longitude")?,
            precision: f.num("Precision")?,
        },
        "click" => Event::Click { key },
        "view" => Event::View {
            url: key,
            menu_id: f.opt_nonempty("MenuId"),
        },
        lower @ ("scancode_push" | "scancode_waitmsg") => Event::ScanCode {
            wait_msg: lower == "scancode_waitmsg",
            key,
            scan_type: f.text("ScanCodeInfo/ScanType"),
            scan_result: f.text("ScanCodeInfo/ScanResult"),
        },
        lower @ ("pic_sysphoto" | "pic_photo_or_album" | "pic_weixin") => Event::Pic {
            kind: lower.to_owned(),
            key,
            count: f.opt_num("SendPicsInfo/Count")?.unwrap_or(0),
        },
        "location_select" => Event::LocationSelect {
            key,
            latitude: f.text("SendLocationInfo/Location_X"),
            longitude: f.text("SendLocationInfo/Location_Y"),
            scale: f.text("SendLocationInfo/Scale"),
            label: f.text("SendLocationInfo/Label"),
            poiname: f.text("SendLocationInfo/Poiname"),
        },
        "templatesendjobfinish" => Event::TemplateSendJobFinish {
            msg_id: job_msg_id(f)?,
            status: f.text("Status"),
        },
        "masssendjobfinish" => Event::MassSendJobFinish {
            msg_id: job_msg_id(f)?,
            status: f.text("Status"),
            total: f.opt_num("TotalCount")?.unwrap_or(0),
            filter: f.opt_num("FilterCount")?.unwrap_or(0),
            sent: f.opt_num("SentCount")?.unwrap_or(0),
            errors: f.opt_num("ErrorCount")?.unwrap_or(0),
        },
        _ => Event::Unknown {
            event: raw,
            key: f.opt_nonempty("EventKey"),
        },
    };
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(xml: &str) -> InboundMessage {
        InboundMessage::parse(xml.as_bytes()).unwrap()
    }

    fn event(xml: &str) -> Event {
        match parse(xml).body {
            InboundBody::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn text_sample() {
        let m = parse(
            "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1348831860</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[this is a test]]></Content>\n<MsgId>1234567890123456</MsgId>\n</xml>",
        );
        assert_eq!(
            m,
            InboundMessage {
                to_user: "toUser".into(),
                from_user: "fromUser".into(),
                create_time: 1348831860,
                body: InboundBody::Text {
                    content: "this is a test".into(),
                    msg_id: 1234567890123456
                },
            }
        );
        assert_eq!(m.dedup_key(), "m:fromUser:1234567890123456");
        assert_eq!(m.kind_label(), "text");
    }

    #[test]
    fn image_sample() {
        let m = parse(
            "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1348831860</CreateTime>\n<MsgType><![CDATA[image]]></MsgType>\n<PicUrl><![CDATA[this is a url]]></PicUrl>\n<MediaId><![CDATA[media_id]]></MediaId>\n<MsgId>1234567890123456</MsgId>\n</xml>",
        );
        assert_eq!(
            m.body,
            InboundBody::Image {
                pic_url: "this is a url".into(),
                media_id: "media_id".into(),
                msg_id: 1234567890123456
            }
        );
    }

    #[test]
    fn voice_sample_with_and_without_recognition() {
        let xml = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1357290913</CreateTime>\n<MsgType><![CDATA[voice]]></MsgType>\n<MediaId><![CDATA[media_id]]></MediaId>\n<Format><![CDATA[Format]]></Format>\n<MsgId>1234567890123456</MsgId>\n</xml>";
        assert_eq!(
            parse(xml).body,
            InboundBody::Voice {
                media_id: "media_id".into(),
                format: "Format".into(),
                recognition: None,
                msg_id: 1234567890123456
            }
        );
        let with = xml.replace(
            "<MsgId>",
            "<Recognition><![CDATA[查余额]]></Recognition>\n<MsgId>",
        );
        assert!(matches!(
            parse(&with).body,
            InboundBody::Voice { recognition: Some(r), .. } if r == "查余额"
        ));
    }

    #[test]
    fn video_and_shortvideo_samples() {
        let video = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1357290913</CreateTime>\n<MsgType><![CDATA[video]]></MsgType>\n<MediaId><![CDATA[media_id]]></MediaId>\n<ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>\n<MsgId>1234567890123456</MsgId>\n</xml>";
        assert_eq!(
            parse(video).body,
            InboundBody::Video {
                media_id: "media_id".into(),
                thumb_media_id: "thumb_media_id".into(),
                msg_id: 1234567890123456
            }
        );
        let short = video.replace("[video]", "[shortvideo]");
        assert_eq!(
            parse(&short).body,
            InboundBody::ShortVideo {
                media_id: "media_id".into(),
                thumb_media_id: "thumb_media_id".into(),
                msg_id: 1234567890123456
            }
        );
        assert_eq!(parse(&short).kind_label(), "shortvideo");
    }

    #[test]
    fn location_sample() {
        let m = parse(
            "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1351776360</CreateTime>\n<MsgType><![CDATA[location]]></MsgType>\n<Location_X>23.134521</Location_X>\n<Location_Y>113.358803</Location_Y>\n<Scale>20</Scale>\n<Label><![CDATA[位置信息]]></Label>\n<MsgId>1234567890123456</MsgId>\n</xml>",
        );
        assert_eq!(
            m.body,
            InboundBody::Location {
                latitude: 23.134521,
                longitude: 113.358803,
                scale: 20.0,
                label: "位置信息".into(),
                msg_id: 1234567890123456
            }
        );
    }

    #[test]
    fn link_sample() {
        let m = parse(
            "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1351776360</CreateTime>\n<MsgType><![CDATA[link]]></MsgType>\n<Title><![CDATA[公众平台官网链接]]></Title>\n<Description><![CDATA[公众平台官网链接]]></Description>\n<Url><![CDATA[url]]></Url>\n<MsgId>1234567890123456</MsgId>\n</xml>",
        );
        assert_eq!(
            m.body,
            InboundBody::Link {
                title: "公众平台官网链接".into(),
                description: "公众平台官网链接".into(),
                url: "url".into(),
                msg_id: 1234567890123456
            }
        );
    }

    #[test]
    fn v1_decrypted_text_with_large_msg_id() {
        let m = parse(
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>",
        );
        assert_eq!(m.to_user, "gh_10f6c3c3ac5a");
        assert_eq!(
            m.body,
            InboundBody::Text {
                content: "abcdteT".into(),
                msg_id: 6054768590064713728
            }
        );
    }

    const EV_HEAD: &str = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[FromUser]]></FromUserName>\n<CreateTime>123456789</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n";

    #[test]
    fn subscribe_plain_and_via_qr() {
        let plain = format!("{EV_HEAD}<Event><![CDATA[subscribe]]></Event>\n</xml>");
        assert_eq!(
            event(&plain),
            Event::Subscribe {
                scene: None,
                ticket: None
            }
        );
        let m = parse(&plain);
        assert_eq!(m.dedup_key(), "e:FromUser:123456789:subscribe:");
        assert_eq!(m.kind_label(), "event_subscribe");

        let empty_key = format!(
            "{EV_HEAD}<Event><![CDATA[subscribe]]></Event>\n<EventKey><![CDATA[]]></EventKey>\n</xml>"
        );
        assert_eq!(
            event(&empty_key),
            Event::Subscribe {
                scene: None,
                ticket: None
            }
        );

        let qr = format!(
            "{EV_HEAD}<Event><![CDATA[subscribe]]></Event>\n<EventKey><![CDATA[qrscene_123123]]></EventKey>\n<Ticket><![CDATA[TICKET]]></Ticket>\n</xml>"
        );
        assert_eq!(
            event(&qr),
            Event::Subscribe {
                scene: Some("123123".into()),
                ticket: Some("TICKET".into())
            }
        );
        assert_eq!(
            parse(&qr).dedup_key(),
            "e:FromUser:123456789:subscribe:qrscene_123123"
        );
    }

    #[test]
    fn unsubscribe_scan_location_click_view() {
        assert_eq!(
            event(&format!(
                "{EV_HEAD}<Event><![CDATA[unsubscribe]]></Event>\n</xml>"
            )),
            Event::Unsubscribe
        );
        let scan = format!(
            "{EV_HEAD}<Event><![CDATA[SCAN]]></Event>\n<EventKey><![CDATA[SCENE_VALUE]]></EventKey>\n<Ticket><![CDATA[TICKET]]></Ticket>\n</xml>"
        );
        assert_eq!(
            event(&scan),
            Event::Scan {
                key: "SCENE_VALUE".into(),
                ticket: Some("TICKET".into())
            }
        );
        assert_eq!(
            parse(&scan).dedup_key(),
            "e:FromUser:123456789:SCAN:SCENE_VALUE"
        );
        assert_eq!(
            event(&format!(
                "{EV_HEAD}<Event><![CDATA[LOCATION]]></Event>\n<Latitude>23.137466</Latitude>\n<Longitude>113.352425</Longitude>\n<Precision>119.385040</Precision>\n</xml>"
            )),
            Event::Location {
                latitude: 23.137466,
                longitude: 113.352425,
                precision: 119.38504
            }
        );
        let click = format!(
            "{EV_HEAD}<Event><![CDATA[CLICK]]></Event>\n<EventKey><![CDATA[EVENTKEY]]></EventKey>\n</xml>"
        );
        assert_eq!(
            event(&click),
            Event::Click {
                key: "EVENTKEY".into()
            }
        );
        assert_eq!(parse(&click).kind_label(), "event_click");
        assert_eq!(
            event(&format!(
                "{EV_HEAD}<Event><![CDATA[VIEW]]></Event>\n<EventKey><![CDATA[www.qq.com]]></EventKey>\n<MenuId>MENUID</MenuId>\n</xml>"
            )),
            Event::View {
                url: "www.qq.com".into(),
                menu_id: Some("MENUID".into())
            }
        );
    }

    #[test]
    fn event_names_are_case_insensitive() {
        assert_eq!(
            event(&format!(
                "{EV_HEAD}<Event><![CDATA[click]]></Event>\n<EventKey><![CDATA[K]]></EventKey>\n</xml>"
            )),
            Event::Click { key: "K".into() }
        );
        assert_eq!(
            event(&format!(
                "{EV_HEAD}<Event><![CDATA[UnSubscribe]]></Event>\n</xml>"
            )),
            Event::Unsubscribe
        );
    }

    const MENU_HEAD: &str = "<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n<FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\n";

    #[test]
    fn scancode_push_and_waitmsg() {
        let xml = format!(
            "{MENU_HEAD}<CreateTime>1408090502</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[scancode_push]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n<ScanResult><![CDATA[1]]></ScanResult>\n</ScanCodeInfo>\n</xml>"
        );
        assert_eq!(
            event(&xml),
            Event::ScanCode {
                wait_msg: false,
                key: "6".into(),
                scan_type: "qrcode".into(),
                scan_result: "1".into()
            }
        );
        let wait = xml.replace("scancode_push", "scancode_waitmsg");
        assert!(matches!(
            event(&wait),
            Event::ScanCode { wait_msg: true, .. }
        ));
        assert_eq!(parse(&wait).kind_label(), "event_scancode_waitmsg");
    }

    #[test]
    fn pic_events() {
        let xml = format!(
            "{MENU_HEAD}<CreateTime>1408090651</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[pic_sysphoto]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n<SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList>\n</SendPicsInfo>\n</xml>"
        );
        assert_eq!(
            event(&xml),
            Event::Pic {
                kind: "pic_sysphoto".into(),
                key: "6".into(),
                count: 1
            }
        );
        for kind in ["pic_photo_or_album", "pic_weixin"] {
            assert_eq!(
                event(&xml.replace("pic_sysphoto", kind)),
                Event::Pic {
                    kind: kind.into(),
                    key: "6".into(),
                    count: 1
                }
            );
        }
    }

    #[test]
    fn location_select_event() {
        let xml = format!(
            "{MENU_HEAD}<CreateTime>1408091189</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[location_select]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n<Location_Y><![CDATA[113]]></Location_Y>\n<Scale><![CDATA[15]]></Scale>\n<Label><![CDATA[广州市海珠区客村艺苑路 106号]]></Label>\n<Poiname><![CDATA[]]></Poiname>\n</SendLocationInfo>\n</xml>"
        );
        assert_eq!(
            event(&xml),
            Event::LocationSelect {
                key: "6".into(),
                latitude: "23".into(),
                longitude: "113".into(),
                scale: "15".into(),
                label: "广州市海珠区客村艺苑路 106号".into(),
                poiname: String::new()
            }
        );
    }

    #[test]
    fn job_finish_events() {
        let t = parse(
            "<xml>\n<ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\n<CreateTime>1395658920</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n<MsgID>200163836</MsgID>\n<Status><![CDATA[success]]></Status>\n</xml>",
        );
        assert_eq!(
            t.body,
            InboundBody::Event(Event::TemplateSendJobFinish {
                msg_id: 200163836,
                status: "success".into()
            })
        );
        assert_eq!(t.kind_label(), "event_templatesendjobfinish");
        let m = parse(
            "<xml>\n<ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>\n<FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>\n<CreateTime>1481013459</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[MASSSENDJOBFINISH]]></Event>\n<MsgID>1000001625</MsgID>\n<Status><![CDATA[err(30003)]]></Status>\n<TotalCount>0</TotalCount>\n<FilterCount>0</FilterCount>\n<SentCount>0</SentCount>\n<ErrorCount>0</ErrorCount>\n<CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>\n</xml>",
        );
        assert_eq!(
            m.body,
            InboundBody::Event(Event::MassSendJobFinish {
                msg_id: 1000001625,
                status: "err(30003)".into(),
                total: 0,
                filter: 0,
                sent: 0,
                errors: 0
            })
        );
    }

    #[test]
    fn unknown_event_and_message_types() {
        let e = event(&format!(
            "{EV_HEAD}<Event><![CDATA[subscribe_msg_popup_event]]></Event>\n<SubscribeMsgPopupEvent><List><TemplateId>x</TemplateId></List></SubscribeMsgPopupEvent>\n</xml>"
        ));
        assert_eq!(
            e,
            Event::Unknown {
                event: "subscribe_msg_popup_event".into(),
                key: None
            }
        );
        let m = parse(
            "<xml><ToUserName><![CDATA[a]]></ToUserName><FromUserName><![CDATA[b]]></FromUserName><CreateTime>5</CreateTime><MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>77</MsgId><Title>t</Title></xml>",
        );
        assert_eq!(
            m.body,
            InboundBody::Unknown {
                msg_type: "miniprogrampage".into(),
                msg_id: Some(77)
            }
        );
        assert_eq!(m.kind_label(), "unknown");
        assert_eq!(m.dedup_key(), "m:b:77");
    }

    #[test]
    fn unknown_elements_whitespace_and_escaped_text_are_fine() {
        let m = parse(
            "<?xml version=\"1.0\"?>\n<xml>\n  <ToUserName>gh_x</ToUserName>\n  <FromUserName>o_1</FromUserName>\n  <CreateTime> 1 </CreateTime>\n  <MsgType>text</MsgType>\n  <Content>a &lt;b&gt; &amp; c</Content>\n  <MsgDataId>9</MsgDataId><Idx>1</Idx>\n  <MsgId>2</MsgId>\n</xml>\n",
        );
        assert_eq!(
            m.body,
            InboundBody::Text {
                content: "a <b> & c".into(),
                msg_id: 2
            }
        );
    }

    #[test]
    fn group_separator_in_content_is_stripped_not_fatal() {
        let m = InboundMessage::parse(
            b"<xml><ToUserName><![CDATA[a]]></ToUserName><FromUserName><![CDATA[b]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi\x1dthere\x00]]></Content><MsgId>3</MsgId></xml>",
        )
        .unwrap();
        assert_eq!(
            m.body,
            InboundBody::Text {
                content: "hithere".into(),
                msg_id: 3
            }
        );
    }

    #[test]
    fn doctype_billion_laughs_and_external_entities_are_refused() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"#;
        assert!(matches!(
            InboundMessage::parse(laughs.as_bytes()),
            Err(WeChatError::Doctype)
        ));
        let xxe = r#"<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>"#;
        assert!(matches!(
            InboundMessage::parse(xxe.as_bytes()),
            Err(WeChatError::Doctype)
        ));
        // An undeclared custom entity (no DTD at all) is malformed, never resolved.
        let custom = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>";
        assert!(matches!(
            InboundMessage::parse(custom.as_bytes()),
            Err(WeChatError::MalformedXml(_))
        ));
    }

    #[test]
    fn a_user_typing_markup_gets_parsed_not_refused() {
        let m = InboundMessage::parse(
            b"<xml><ToUserName><![CDATA[a]]></ToUserName><FromUserName><![CDATA[b]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[<!DOCTYPE html> &amp; ]]]]><![CDATA[>]]></Content><MsgId>3</MsgId></xml>",
        )
        .unwrap();
        assert_eq!(
            m.body,
            InboundBody::Text {
                content: "<!DOCTYPE html> &amp; ]]>".into(),
                msg_id: 3
            }
        );
    }

    #[test]
    fn debug_output_never_shows_user_content_or_the_full_openid() {
        let m = InboundMessage {
            to_user: "gh_x".into(),
            from_user: "oyORnuP8q7ou2gfYjqLzSIWZf0rs".into(),
            create_time: 1,
            body: InboundBody::Text {
                content: "绑定 13812345678".into(),
                msg_id: 9,
            },
        };
        let shown = format!("{m:?}");
        assert!(
            !shown.contains("13812345678") && !shown.contains("oyORnuP8"),
            "{shown}"
        );
        assert!(
            shown.contains("…f0rs") && shown.contains("<14 chars>"),
            "{shown}"
        );
        let loc = InboundBody::Event(Event::Location {
            latitude: 23.1,
            longitude: 113.3,
            precision: 1.0,
        });
        assert!(!format!("{loc:?}").contains("23.1"));
    }

    #[test]
    fn malformed_and_incomplete_messages_are_refused() {
        assert!(matches!(
            InboundMessage::parse(b"<xml><ToUserName>a</xml>"),
            Err(WeChatError::MalformedXml(_))
        ));
        assert!(matches!(
            InboundMessage::parse(b"<xml><ToUserName>a</ToUserName></xml>"),
            Err(WeChatError::MissingField("FromUserName"))
        ));
        assert!(matches!(
            InboundMessage::parse(b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType></xml>"),
            Err(WeChatError::MissingField("CreateTime"))
        ));
        assert!(matches!(
            InboundMessage::parse(b"\xff\xfe<xml/>"),
            Err(WeChatError::NotUtf8)
        ));
    }

    fn arb_text() -> impl Strategy<Value = String> {
        // Any chars except the controls the parser strips by design (and CR, which XML
        // normalizes to LF).
        proptest::string::string_regex("[^\\x00-\\x1f]{0,40}").unwrap()
    }

    fn arb_body() -> impl Strategy<Value = InboundBody> {
        prop_oneof![
            (arb_text(), any::<u64>())
                .prop_map(|(content, msg_id)| InboundBody::Text { content, msg_id }),
            (arb_text(), arb_text(), any::<u64>()).prop_map(|(pic_url, media_id, msg_id)| {
                InboundBody::Image {
                    pic_url,
                    media_id,
                    msg_id,
                }
            }),
            (arb_text(), -90.0f64..90.0, any::<u64>()).prop_map(|(label, lat, msg_id)| {
                InboundBody::Location {
                    latitude: lat,
                    longitude: lat * 2.0,
                    scale: 15.0,
                    label,
                    msg_id,
                }
            }),
            arb_text().prop_map(|key| InboundBody::Event(Event::Click { key })),
            "[a-z0-9]{1,10}".prop_map(|s| InboundBody::Event(Event::Subscribe {
                scene: Some(s),
                ticket: Some("T".into())
            })),
            (arb_text(), arb_text()).prop_map(|(scan_type, scan_result)| {
                InboundBody::Event(Event::ScanCode {
                    wait_msg: true,
                    key: "k".into(),
                    scan_type,
                    scan_result,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn to_xml_then_parse_round_trips(body in arb_body(), from in "o[A-Za-z0-9_-]{27}", t in 0i64..4_000_000_000) {
            let m = InboundMessage { to_user: "gh_x".into(), from_user: from, create_time: t, body };
            prop_assert_eq!(InboundMessage::parse(m.to_xml().as_bytes()).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = InboundMessage::parse(&bytes);
        }
    }
}
