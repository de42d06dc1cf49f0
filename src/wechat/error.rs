//! The one error type of the WeChat protocol boundary.
//!
//! Why it exists: operators need to tell a wrong token from a wrong EncodingAESKey from a replay
//! at a glance, and the HTTP callback needs to know which of them it is refusing. Each variant
//! has one short English [`WeChatError::reason`] (WeChat never shows it to users). Which HTTP
//! status a refusal gets is not decided here but in `crate::http::callback`: this is protocol
//! code and knows nothing of HTTP responses.
//!
//! It must never carry secrets or message content: no token, no key bytes, no plaintext, no
//! openid. Variants carry only lengths, indices and names of missing fields.

use std::fmt;

/// Everything that can go wrong while verifying, decrypting, parsing or sealing a WeChat
/// callback. The numeric codes of Tencent's sample (`-40001` …) are given where one applies.
#[derive(thiserror::Error)]
pub enum WeChatError {
    /// A required query parameter (`signature`, `timestamp`, `nonce`, `echostr`,
    /// `msg_signature`) is absent or empty.
    #[error("missing query parameter `{0}`")]
    MissingParam(&'static str),
    /// `encrypt_type` is neither absent, `raw` nor `aes`.
    #[error("unsupported encrypt_type")]
    UnsupportedEncryptType,
    /// `timestamp` is not a decimal Unix time.
    #[error("timestamp is not a decimal number")]
    BadTimestamp,
    /// `timestamp` is further from our clock than the configured window (replay protection).
    #[error("timestamp is {skew_secs}s away from now, outside the ±{window_secs}s window")]
    StaleTimestamp { skew_secs: i64, window_secs: i64 },
    /// The 3-part `signature` matches none of the configured tokens (-40001).
    #[error("signature does not match any configured token")]
    BadSignature,
    /// The 4-part `msg_signature` over `Encrypt` matches none of the configured tokens (-40001).
    #[error("msg_signature does not match any configured token")]
    BadMsgSignature,
    /// A plaintext callback arrived while the codec is configured for encrypted mode only.
    #[error("plaintext callback refused: encrypted mode only")]
    PlaintextRefused,
    /// An encrypted body also carries a plaintext copy of the message while the account is
    /// configured for safe mode: the WeChat console is in compatible mode.
    #[error("plaintext message fields beside Encrypt refused: configured for safe mode")]
    PlaintextInSafeMode,
    /// The (nonce, signature) pair of an earlier request, with another body: a logged callback
    /// URL reused to post something else.
    #[error("nonce and signature already used with another body")]
    ReplayedNonce,
    /// `ToUserName` is not this account's original id.
    #[error("ToUserName is not this account's original id")]
    WrongAccount,
    /// An encrypted callback arrived but no EncodingAESKey is configured.
    #[error("encrypted callback but no EncodingAESKey configured")]
    NoAesKey,
    /// The XML carries a `<!DOCTYPE` or `<!ENTITY` declaration; refused before parsing (XXE).
    #[error("XML with DOCTYPE or ENTITY declarations is refused")]
    Doctype,
    /// The XML is not well formed, or uses an entity we do not resolve (-40002).
    #[error("malformed XML: {0}")]
    MalformedXml(String),
    /// A required XML element is missing or has an unusable value (-40002).
    #[error("missing or invalid XML element <{0}>")]
    MissingField(&'static str),
    /// `FromUserName` is not an OpenID (letters, digits, `_` and `-`, at most 64).
    #[error("FromUserName is not an OpenID")]
    NotAnOpenId,
    /// The input is not valid UTF-8.
    #[error("input is not valid UTF-8")]
    NotUtf8,
    /// An EncodingAESKey is not 43 characters of `[A-Za-z0-9]` decoding to 32 bytes (-40004).
    #[error("invalid EncodingAESKey: {0}")]
    InvalidAesKey(&'static str),
    /// `Encrypt` is not canonical standard base64 (-40010).
    #[error("Encrypt is not valid base64")]
    Base64(#[source] base64::DecodeError),
    /// The ciphertext is not a positive multiple of 32 bytes (-40008).
    #[error("ciphertext length {0} is not a positive multiple of 32")]
    CipherLength(usize),
    /// The 32-byte PKCS#7 padding is not 1..=32 equal bytes (-40007).
    #[error("invalid PKCS#7 padding")]
    Padding,
    /// The 4-byte message length points outside the decrypted buffer (-40008).
    #[error("message length field out of bounds")]
    LengthField,
    /// The receive id after the message is not our AppID (-40005).
    #[error("appid in the ciphertext does not match ours")]
    AppIdMismatch,
    /// The codec or platform was configured with an unusable value (start-up only).
    #[error("invalid WeChat configuration: {0}")]
    Config(&'static str),
}

impl WeChatError {
    /// Short, stable English reason: the body of the refusal `crate::http` sends, and a bounded
    /// label for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingParam(_) => "missing parameter",
            Self::UnsupportedEncryptType => "unsupported encrypt_type",
            Self::BadTimestamp => "bad timestamp",
            Self::StaleTimestamp { .. } => "stale timestamp",
            Self::BadSignature => "bad signature",
            Self::BadMsgSignature => "bad msg_signature",
            Self::PlaintextRefused => "plaintext refused",
            Self::PlaintextInSafeMode => "plaintext fields in safe mode",
            Self::WrongAccount => "wrong account",
            Self::ReplayedNonce => "replayed nonce",
            Self::NoAesKey => "encryption not configured",
            Self::Doctype => "doctype refused",
            Self::MalformedXml(_) => "malformed xml",
            Self::MissingField(_) => "missing field",
            Self::NotAnOpenId => "FromUserName is not an OpenID",
            Self::NotUtf8 => "not utf-8",
            Self::InvalidAesKey(_) => "invalid aes key",
            Self::Base64(_) => "bad base64",
            Self::CipherLength(_) => "bad ciphertext length",
            Self::Padding => "bad padding",
            Self::LengthField => "bad length field",
            Self::AppIdMismatch => "appid mismatch",
            Self::Config(_) => "configuration error",
        }
    }
}

impl fmt::Debug for WeChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::telemetry::error_chain_fmt(self, f)
    }
}
