//! Writing an [`InboundMessage`] as WeChat POSTs it: the platform's side of the inbound format,
//! used by the chat client, the tests, the benches, and the pusher to keep a late message.

use crate::wechat::inbound::{Event, InboundBody, InboundMessage};
use crate::wechat::xml;

// One arm per message type and event, field by field in WeChat's order: the arms look
// alike, but each writes a different element list (docs/wechat-protocol.md), and a shared
// table would only move the same lines into data.
impl InboundMessage {
    /// Serialize as WeChat sends it (text in CDATA, numbers bare, one line). The platform side
    /// of the protocol: used by the chat client, tests and benches.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<xml>");
        xml::push_cdata_element(&mut out, "ToUserName", &self.to_user);
        xml::push_cdata_element(&mut out, "FromUserName", self.from_user.as_str());
        xml::push_plain_element(&mut out, "CreateTime", &self.create_time);
        let msg_type = match &self.body {
            InboundBody::Unknown { msg_type, .. } => msg_type,
            known => known.known_msg_type().unwrap_or_default(),
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
            // The same names as the location message's, but WeChat nests them in
            // <SendLocationInfo> and sends every one as text (CDATA), numbers included.
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
