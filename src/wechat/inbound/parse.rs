//! Reading a callback body into an [`InboundMessage`]: the only place that knows WeChat's
//! element names for what arrives (docs/wechat-protocol.md §4).

use super::{Event, InboundBody, InboundMessage};
use crate::domain::OpenId;
use crate::wechat::error::WeChatError;
use crate::wechat::xml::{self, Fields};

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
        let from_user =
            OpenId::parse(f.req("FromUserName")?.trim()).map_err(|_| WeChatError::NotAnOpenId)?;
        let create_time: i64 = f.num("CreateTime")?;
        let msg_type = f.req("MsgType")?.trim().to_owned();
        // One arm per MsgType, each reading its own elements; `video` and `shortvideo` carry
        // the same ones but stay two variants, as WeChat keeps them two types.
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
