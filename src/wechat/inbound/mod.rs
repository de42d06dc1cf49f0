//! Inbound WeChat XML: every message and event the callback can receive, as one typed value.
//!
//! Why it exists: the rest of the system should match on [`InboundBody`] and [`Event`], never
//! on XML element names or on `Event` casing (`SCAN` vs `subscribe`). This module owns the
//! types; [`parse`] reads them from our callback's XML, [`redact`] gives them a `Debug` that is
//! safe to log, and WeChat's side writes them (`crate::wechat::platform::encode`).
//!
//! It must never expand a DTD or a custom entity (any `<!DOCTYPE` / `<!ENTITY` is refused
//! before parsing), never fail on the control characters users type (they are stripped), and
//! never fail on elements it does not know (new fields appear over time; they are ignored).

use crate::domain::OpenId;

mod parse;
mod redact;

pub(crate) use redact::Redacted;

/// One inbound message or event, after decryption (docs/wechat-protocol.md §4).
///
/// `Debug` is safe to log: user text, locations and URLs print as their length only and the
/// openid as its last four characters. Use the fields themselves where content is needed.
#[derive(Clone, PartialEq)]
pub struct InboundMessage {
    /// Our account's original id (`gh_…`); replies come *from* it.
    pub to_user: String,
    /// The sender, parsed once here: replies go *to* it, and nothing downstream re-validates it.
    pub from_user: OpenId,
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

impl InboundMessage {
    /// Identity of this delivery for deduplicating WeChat's retries (docs/wechat-protocol.md §5.1):
    /// messages `m:{from}:{msg_id}`, events `e:{from}:{create_time}:{event}:{event_key}`.
    pub fn dedup_key(&self) -> String {
        let from = self.from_user.as_str();
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
            body => body.known_msg_type().unwrap_or("unknown"),
        }
    }
}

impl InboundBody {
    /// The `MsgType` WeChat gives this body (`event` for every event); `None` for a type we do
    /// not know, whose name is only in [`InboundBody::Unknown`].
    pub fn known_msg_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Voice { .. } => "voice",
            Self::Video { .. } => "video",
            Self::ShortVideo { .. } => "shortvideo",
            Self::Location { .. } => "location",
            Self::Link { .. } => "link",
            Self::Event(_) => "event",
            Self::Unknown { .. } => return None,
        })
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
}

#[cfg(test)]
mod tests;
