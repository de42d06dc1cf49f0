//! The WeChat Official Account protocol, exact to Tencent's spec (docs/wechat-protocol.md).
//!
//! Why it exists: everything that speaks WeChat's wire format lives here and nowhere else —
//! request signatures ([`signature`]), the WXBizMsgCrypt envelope ([`crypto`]), inbound XML
//! ([`inbound`]), passive replies ([`reply`]), the one entry point the HTTP callback calls
//! ([`codec`]), WeChat's own side for the chat client and tests ([`platform`]) and the outbound
//! HTTP API client ([`api`]).
//!
//! What it must never do: hold actors or touch the store, log tokens, keys, secrets or message
//! content, or trust a byte of a callback before its signature is verified. It is pure protocol
//! code; policy (dedup, deadlines, what to reply) belongs to the callers.

pub mod api;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod inbound;
pub mod platform;
pub mod replay;
pub mod reply;
pub mod signature;
mod xml;

pub use codec::{CallbackQuery, Codec, CodecConfig, EncryptionMode, Mode, Opened};
pub use error::WeChatError;
pub use inbound::{Event, InboundBody, InboundMessage};
pub use reply::{Article, Reply};
