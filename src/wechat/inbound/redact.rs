//! `Debug` for inbound messages that is safe to log: user text, locations and URLs print as
//! their length only and the openid as its last four characters.

use super::{Event, InboundBody, InboundMessage};

/// Debug-prints a user-supplied string as its length only.
pub(crate) struct Redacted<'a>(pub(crate) &'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} chars>", self.0.chars().count())
    }
}

const HIDDEN: Redacted<'static> = Redacted("");

impl std::fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMessage")
            .field("to_user", &self.to_user)
            .field("from_user", &self.from_user.log_tag())
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
            // Destructured as in platform/encode.rs: each side names every field on purpose, one
            // to write it, one to decide what a log may show, so a new field is seen by both.
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
