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

/// One inbound message or event, after decryption (PROTOCOL.md §4).
#[derive(Clone, Debug, PartialEq)]
pub struct InboundMessage {
    /// Our account's original id (`gh_…`); replies come *from* it.
    pub to_user: String,
    /// The sender's OpenID; replies go *to* it.
    pub from_user: String,
    /// Unix seconds, as WeChat stamped it. Part of the event dedup key.
    pub create_time: i64,
    pub body: InboundBody,
}

/// What the user sent (`MsgType`).
#[derive(Clone, Debug, PartialEq)]
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

/// `MsgType` = `event`, by `Event` compared case-insensitively (PROTOCOL.md §4.3).
#[derive(Clone, Debug, PartialEq)]
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

    /// Identity of this delivery for deduplicating WeChat's retries (PROTOCOL.md §5.1):
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
