//! The callback codec: the only thing `http::callback` calls.
//!
//! Why it exists: turning a raw callback (query string + body) into a trusted
//! [`InboundMessage`], and a reply back into the body WeChat expects, involves ordering rules
//! that are easy to get wrong and costly when wrong (docs/wechat-protocol.md §2, §3, §6): check the
//! timestamp window, then the signature (`signature` in plain mode, **`msg_signature` over
//! `Encrypt`** in safe/compat mode), only then decrypt, and parse only the decrypted XML. Token
//! and EncodingAESKey rotation are handled here too: every configured token is accepted, keys
//! are tried current first, and a reply is encrypted with the key that decrypted the request
//! (Tencent's rotation rule, §6.2).
//!
//! The configured [`EncryptionMode`] decides what is accepted at all: in safe and compatible mode
//! a body without `Encrypt` is refused, because the plain `signature` covers only token,
//! timestamp and nonce — not the body — and appears in every callback URL (docs/SECURITY.md).
//! When the account's original id is configured, a message addressed to another account is
//! refused in every mode.
//!
//! It must never parse or act on a body before its signature is verified, never trust the
//! plaintext copy of a compatible-mode body, and never log tokens, keys or content. It holds
//! no I/O and no clocks: callers pass `now_unix`.

use std::sync::Arc;

use serde::Deserialize;

use super::crypto::{self, AesKey};
use super::error::WeChatError;
use super::inbound::InboundMessage;
use super::replay::ReplayGuard;
use super::reply::SUCCESS;
use super::signature;
use super::xml;

/// Default replay window: WeChat's documented retries span ~15 s; clocks drift.
pub const DEFAULT_TIMESTAMP_WINDOW_SECS: i64 = 300;
/// Default number of remembered (nonce, signature) pairs: 5 minutes at over 300 callbacks a
/// second, about 19 MB.
pub const DEFAULT_REPLAY_CACHE_CAPACITY: usize = 100_000;

/// The query string WeChat appends to our callback URL (docs/wechat-protocol.md §1). All optional here;
/// the codec decides which are required for the request at hand.
#[derive(Deserialize, Default, Clone, Debug)]
pub struct CallbackQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub openid: Option<String>,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
}

/// How WeChat delivers messages to us: 消息加解密方式 in the WeChat console, and so what the
/// codec accepts. Explicit in config (`wechat.mode`); unset means safe with an EncodingAESKey
/// and plain without.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionMode {
    /// 安全模式: only `encrypt_type=aes` bodies of `ToUserName` + `Encrypt`. Plaintext bodies and
    /// bodies that also carry plaintext message fields are refused.
    Safe,
    /// 兼容模式: encrypted bodies that may also carry a plaintext copy of the message; only the
    /// decrypted copy is read. Plaintext-only bodies are refused as in safe mode.
    Compatible,
    /// 明文模式: plaintext bodies authenticated by `signature` alone. Only without a key.
    Plain,
}

impl EncryptionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Safe => "safe",
            Self::Compatible => "compatible",
            Self::Plain => "plain",
        }
    }
}

/// Codec configuration, straight from settings.
#[derive(Clone)]
pub struct CodecConfig {
    /// Tokens: current first, then previous ones still accepted during a rotation.
    pub tokens: Vec<String>,
    /// EncodingAESKeys, current first; empty means plaintext only.
    pub aes_keys: Vec<String>,
    /// Our AppID: the receive id every ciphertext must end with.
    pub app_id: String,
    /// Maximum |now − timestamp| accepted, in seconds (> 0).
    pub timestamp_window_secs: i64,
    /// What is accepted; `None` = safe with a key, plain without.
    pub mode: Option<EncryptionMode>,
    /// The account's original id (`gh_…`): when set, the only `ToUserName` accepted.
    pub original_id: Option<String>,
    /// How many (nonce, signature) pairs are remembered at most (fixed size each).
    pub replay_cache_capacity: usize,
}

impl Default for CodecConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            aes_keys: Vec::new(),
            app_id: String::new(),
            timestamp_window_secs: DEFAULT_TIMESTAMP_WINDOW_SECS,
            mode: None,
            original_id: None,
            replay_cache_capacity: DEFAULT_REPLAY_CACHE_CAPACITY,
        }
    }
}

impl std::fmt::Debug for CodecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecConfig")
            .field("tokens", &format_args!("<{} redacted>", self.tokens.len()))
            .field(
                "aes_keys",
                &format_args!("<{} redacted>", self.aes_keys.len()),
            )
            .field("app_id", &self.app_id)
            .field("timestamp_window_secs", &self.timestamp_window_secs)
            .field("mode", &self.mode)
            .field("original_id", &self.original_id)
            .field("replay_cache_capacity", &self.replay_cache_capacity)
            .finish()
    }
}

/// How a request arrived, and so how its reply must be sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plaintext mode: reply XML goes back as is.
    Plain,
    /// Safe or compat mode (`encrypt_type=aes`): only the decrypted XML was trusted, and the
    /// reply is encrypted with `aes_keys[key_index]`, the key that decrypted the request.
    Safe { key_index: usize },
}

/// How [`Codec::seal_reply`] sends a reply out.
enum Sealing<'a> {
    /// Encrypted with this key, in a signed envelope.
    Encrypt(&'a AesKey),
    /// This body, unencrypted.
    AsIs(&'a str),
}

/// A verified, decrypted and parsed callback.
#[derive(Clone, Debug)]
pub struct Opened {
    pub message: InboundMessage,
    pub mode: Mode,
    /// Which configured token authenticated the request (0 = current). [`Codec::seal_reply`]
    /// signs the reply with the same one, so replies stay valid while WeChat still uses the
    /// previous token during a rotation.
    pub token_index: usize,
    /// The last Unix second at which this request's timestamp still passes the window check:
    /// a byte-for-byte replay can arrive until then, so its result must be remembered as long.
    pub replayable_until: i64,
}

/// Verifies, decrypts and parses callbacks; seals replies. Cheap to clone.
#[derive(Clone)]
pub struct Codec {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: Vec<String>,
    keys: Vec<AesKey>,
    app_id: String,
    window: i64,
    mode: EncryptionMode,
    original_id: Option<String>,
    /// Without an original id, the first message's `ToUserName` is logged once so the operator
    /// can copy it into the config.
    told_original_id: std::sync::atomic::AtomicBool,
    replay: ReplayGuard,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("tokens", &self.inner.tokens.len())
            .field("keys", &self.inner.keys.len())
            .field("app_id", &self.inner.app_id)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// Validate every token and key now, so a typo fails start-up instead of every callback.
    pub fn new(cfg: CodecConfig) -> Result<Self, WeChatError> {
        if cfg.tokens.is_empty() {
            return Err(WeChatError::Config("at least one token is required"));
        }
        if cfg
            .tokens
            .iter()
            .any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(WeChatError::Config(
                "tokens must be non-empty printable ASCII",
            ));
        }
        let keys = cfg
            .aes_keys
            .iter()
            .map(|k| AesKey::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        if !keys.is_empty() && cfg.app_id.is_empty() {
            return Err(WeChatError::Config(
                "app_id is required with an EncodingAESKey",
            ));
        }
        let mode = match (cfg.mode, keys.is_empty()) {
            (None, false) => EncryptionMode::Safe,
            (None, true) => EncryptionMode::Plain,
            (Some(EncryptionMode::Plain), false) => {
                return Err(WeChatError::Config(
                    "mode \"plain\" with an EncodingAESKey: remove the key, or choose \"safe\" or \"compatible\" as in the WeChat console",
                ));
            }
            (Some(EncryptionMode::Safe | EncryptionMode::Compatible), true) => {
                return Err(WeChatError::Config(
                    "mode \"safe\" and \"compatible\" need an EncodingAESKey",
                ));
            }
            (Some(mode), _) => mode,
        };
        let original_id = cfg.original_id.filter(|id| !id.is_empty());
        if original_id.as_deref().is_some_and(|id| {
            !id.starts_with("gh_") || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }) {
            return Err(WeChatError::Config(
                "original_id is the account's 原始ID: gh_ followed by letters and digits",
            ));
        }
        if cfg.timestamp_window_secs <= 0 {
            return Err(WeChatError::Config(
                "timestamp_window_secs must be positive",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                tokens: cfg.tokens,
                keys,
                app_id: cfg.app_id,
                window: cfg.timestamp_window_secs,
                mode,
                original_id,
                told_original_id: std::sync::atomic::AtomicBool::new(false),
                replay: ReplayGuard::new(cfg.replay_cache_capacity),
            }),
        })
    }

    /// Forget the (nonce, signature) pairs whose timestamp has left the window (housekeeping).
    pub fn sweep_replays(&self, now_unix: i64) {
        self.inner.replay.sweep(now_unix);
    }

    /// Server URL verification (GET): returns the `echostr` to answer with, verbatim.
    pub fn verify_url(&self, q: &CallbackQuery, now_unix: i64) -> Result<String, WeChatError> {
        let sig = required(&q.signature, "signature")?;
        let timestamp = required(&q.timestamp, "timestamp")?;
        let nonce = required(&q.nonce, "nonce")?;
        let echostr = required(&q.echostr, "echostr")?;
        self.check_timestamp(timestamp, now_unix)?;
        self.match_token(sig, &[timestamp, nonce])
            .ok_or(WeChatError::BadSignature)?;
        Ok(echostr.to_owned())
    }

    /// A message or event (POST): authenticate, decrypt if `encrypt_type=aes`, parse.
    pub fn open(
        &self,
        q: &CallbackQuery,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Opened, WeChatError> {
        let timestamp = required(&q.timestamp, "timestamp")?;
        let nonce = required(&q.nonce, "nonce")?;
        let safe = match q.encrypt_type.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(t) if t.eq_ignore_ascii_case("raw") => false,
            Some(t) if t.eq_ignore_ascii_case("aes") => true,
            Some(_) => return Err(WeChatError::UnsupportedEncryptType),
        };
        if !safe {
            if self.inner.mode != EncryptionMode::Plain {
                return Err(WeChatError::PlaintextRefused);
            }
            let sig = required(&q.signature, "signature")?;
            let replayable_until = self.check_timestamp(timestamp, now_unix)?;
            let token_index = self
                .match_token(sig, &[timestamp, nonce])
                .ok_or(WeChatError::BadSignature)?;
            self.inner
                .replay
                .check(nonce, sig, body, replayable_until, now_unix)?;
            let message = InboundMessage::parse(body)?;
            self.check_account(&message)?;
            return Ok(Opened {
                message,
                mode: Mode::Plain,
                token_index,
                replayable_until,
            });
        }

        // Safe / compat: `signature` is not enough (docs/wechat-protocol.md §3, "不要使用signature验证").
        let msg_sig = required(&q.msg_signature, "msg_signature")?;
        if self.inner.keys.is_empty() {
            return Err(WeChatError::NoAesKey);
        }
        let replayable_until = self.check_timestamp(timestamp, now_unix)?;
        let envelope = Envelope::parse(body)?;
        let token_index = self
            .match_token(msg_sig, &[timestamp, nonce, &envelope.encrypt])
            .ok_or(WeChatError::BadMsgSignature)?;
        if envelope.has_plaintext_copy && self.inner.mode == EncryptionMode::Safe {
            return Err(WeChatError::PlaintextInSafeMode);
        }
        self.inner
            .replay
            .check(nonce, msg_sig, body, replayable_until, now_unix)?;
        let encrypt = envelope.encrypt;

        let mut first_err = None;
        for (key_index, key) in self.inner.keys.iter().enumerate() {
            match crypto::decrypt(key, &self.inner.app_id, &encrypt) {
                Ok(plain) => {
                    if key_index > 0 {
                        tracing::info!(
                            key_index,
                            "callback decrypted with a previous EncodingAESKey"
                        );
                    }
                    metrics::counter!(
                        "onecard_wechat_decrypt_total",
                        "key" => if key_index == 0 { "current" } else { "previous" }
                    )
                    .increment(1);
                    let message = InboundMessage::parse(&plain)?;
                    self.check_account(&message)?;
                    return Ok(Opened {
                        message,
                        mode: Mode::Safe { key_index },
                        token_index,
                        replayable_until,
                    });
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(WeChatError::NoAesKey))
    }

    /// The response body for `reply_xml`. Plain: as is. Safe: the encrypted envelope, with the
    /// key that decrypted the request and a `MsgSignature` under the current token; `success`
    /// and the empty body need no encryption and pass through.
    pub fn seal(&self, mode: &Mode, reply_xml: &str, nonce: &str, now_unix: i64) -> String {
        self.seal_reply(mode, 0, reply_xml, nonce, now_unix)
    }

    /// [`Codec::seal`] for the reply to `opened`: the key that decrypted it *and* the token
    /// that authenticated it. Prefer this over `seal` on the callback path.
    ///
    /// Takes the two parts of [`Opened`] it needs, so the caller can move the message out.
    pub fn seal_reply(
        &self,
        mode: &Mode,
        token_index: usize,
        reply_xml: &str,
        nonce: &str,
        now_unix: i64,
    ) -> String {
        let key = match self.sealing(mode, reply_xml) {
            Sealing::Encrypt(key) => key,
            Sealing::AsIs(body) => return body.to_owned(),
        };
        let encrypt = crypto::encrypt(key, &self.inner.app_id, reply_xml.as_bytes());
        self.signed_envelope(token_index, &encrypt, nonce, now_unix)
    }

    /// [`Codec::seal`] with a fixed 16-byte prefix: deterministic output for vectors and tests.
    pub fn seal_with_random(
        &self,
        mode: &Mode,
        reply_xml: &str,
        nonce: &str,
        now_unix: i64,
        random: [u8; 16],
    ) -> String {
        let key = match self.sealing(mode, reply_xml) {
            Sealing::Encrypt(key) => key,
            Sealing::AsIs(body) => return body.to_owned(),
        };
        let app_id = &self.inner.app_id;
        let encrypt = crypto::encrypt_with_random(key, random, app_id, reply_xml.as_bytes());
        self.signed_envelope(0, &encrypt, nonce, now_unix)
    }

    /// How a reply in `mode` goes out: encrypted with the key of `mode`, or as it is — a Plain
    /// reply, `success` or the empty body (they need no encryption), or `success` where Safe
    /// mode has no key.
    fn sealing<'a>(&'a self, mode: &Mode, reply_xml: &'a str) -> Sealing<'a> {
        let key_index = match mode {
            Mode::Plain => return Sealing::AsIs(reply_xml),
            Mode::Safe { key_index } => *key_index,
        };
        if reply_xml.is_empty() || reply_xml == SUCCESS {
            return Sealing::AsIs(reply_xml);
        }
        match self
            .inner
            .keys
            .get(key_index)
            .or_else(|| self.inner.keys.first())
        {
            Some(key) => Sealing::Encrypt(key),
            None => {
                // Safe mode without a key cannot happen through `open`; answering plaintext
                // would make WeChat show its error page, "success" at least fails quietly.
                tracing::warn!(
                    "safe-mode reply requested without an EncodingAESKey; answering success"
                );
                Sealing::AsIs(SUCCESS)
            }
        }
    }

    /// The encrypted reply in its envelope, with a `MsgSignature` under the token at
    /// `token_index` (the current one where there is no such token).
    fn signed_envelope(
        &self,
        token_index: usize,
        encrypt: &str,
        nonce: &str,
        now_unix: i64,
    ) -> String {
        let timestamp = now_unix.to_string();
        let token = self
            .inner
            .tokens
            .get(token_index)
            .or_else(|| self.inner.tokens.first())
            .map(String::as_str)
            .unwrap_or_default();
        let msg_signature = signature::sign(&[token, &timestamp, nonce, encrypt]);
        envelope(encrypt, &msg_signature, &timestamp, nonce)
    }

    /// The configured mode (resolved: never unset).
    pub fn mode(&self) -> EncryptionMode {
        self.inner.mode
    }

    /// A message addressed to another account (another `ToUserName`) is not ours to act on.
    fn check_account(&self, message: &InboundMessage) -> Result<(), WeChatError> {
        match &self.inner.original_id {
            Some(id) if message.to_user != *id => Err(WeChatError::WrongAccount),
            Some(_) => Ok(()),
            None => {
                if !self
                    .inner
                    .told_original_id
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        to_user = %message.to_user,
                        "wechat.original_id is not set: messages to other accounts are not refused; set it to this to_user"
                    );
                }
                Ok(())
            }
        }
    }

    /// Whether |now − timestamp| is inside the window. Checked before any signature compare.
    /// Returns the last second at which this timestamp still passes.
    fn check_timestamp(&self, timestamp: &str, now_unix: i64) -> Result<i64, WeChatError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WeChatError::BadTimestamp)?;
        let skew = now_unix.saturating_sub(ts);
        if skew.saturating_abs() > self.inner.window {
            return Err(WeChatError::StaleTimestamp {
                skew_secs: skew,
                window_secs: self.inner.window,
            });
        }
        Ok(ts.saturating_add(self.inner.window))
    }

    /// Index of the first token under which `sig` signs `token ‖ parts`. Every token is tried
    /// (no early exit on the compare itself; which token matched is not secret).
    fn match_token(&self, sig: &str, parts: &[&str]) -> Option<usize> {
        let mut all: Vec<&str> = Vec::with_capacity(parts.len() + 1);
        let mut matched = None;
        for (i, token) in self.inner.tokens.iter().enumerate() {
            all.clear();
            all.push(token);
            all.extend_from_slice(parts);
            if signature::verify(sig, &all) && matched.is_none() {
                matched = Some(i);
            }
        }
        if let Some(i) = matched {
            metrics::counter!(
                "onecard_wechat_signature_ok_total",
                "token" => if i == 0 { "current" } else { "previous" }
            )
            .increment(1);
        }
        matched
    }
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, WeChatError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(WeChatError::MissingParam(name)),
    }
}

/// What an encrypted callback body carries, before anything in it is trusted.
struct Envelope {
    /// The `Encrypt` text, whitespace-trimmed (WxJava#1634).
    encrypt: String,
    /// The body also carries plaintext message fields (compatible-mode layout). They are never
    /// read; safe mode refuses such a body.
    has_plaintext_copy: bool,
}

impl Envelope {
    fn parse(body: &[u8]) -> Result<Self, WeChatError> {
        xml::reject_dtd(body)?;
        let clean = xml::strip_illegal_control_bytes(body);
        let text = std::str::from_utf8(&clean).map_err(|_| WeChatError::NotUtf8)?;
        let fields = xml::parse(text)?;
        let encrypt = fields.req("Encrypt")?.trim();
        if encrypt.is_empty() {
            return Err(WeChatError::MissingField("Encrypt"));
        }
        Ok(Self {
            encrypt: encrypt.to_owned(),
            has_plaintext_copy: ["FromUserName", "MsgType", "CreateTime"]
                .iter()
                .any(|name| fields.get(name).is_some()),
        })
    }
}

/// The encrypted reply envelope, in the layout of Tencent's samples (docs/wechat-protocol.md §6.1).
pub(crate) fn envelope(encrypt: &str, msg_signature: &str, timestamp: &str, nonce: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + 200);
    out.push_str("<xml>\n");
    xml::push_cdata_element(&mut out, "Encrypt", encrypt);
    out.push('\n');
    xml::push_cdata_element(&mut out, "MsgSignature", msg_signature);
    out.push('\n');
    xml::push_plain_element(&mut out, "TimeStamp", &timestamp);
    out.push('\n');
    xml::push_cdata_element(&mut out, "Nonce", nonce);
    out.push_str("\n</xml>");
    out
}

#[cfg(test)]
mod tests {
    //! Protocol vectors: each test spells out its whole query and body (docs/wechat-protocol.md),
    //! so a reader can check one against WeChat's documentation without following a helper.

    use super::*;
    use crate::wechat::inbound::InboundBody;
    use crate::wechat::platform::Platform;
    use proptest::prelude::*;

    const V0_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    const ABC_EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const V5_EAK: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const V5_BODY: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt></xml>";
    const V1_BODY: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>";

    fn config(tokens: &[&str], keys: &[&str], app_id: &str) -> CodecConfig {
        CodecConfig {
            tokens: tokens.iter().map(|s| s.to_string()).collect(),
            aes_keys: keys.iter().map(|s| s.to_string()).collect(),
            app_id: app_id.into(),
            ..CodecConfig::default()
        }
    }

    fn codec(tokens: &[&str], keys: &[&str], app_id: &str) -> Codec {
        Codec::new(config(tokens, keys, app_id)).unwrap()
    }

    fn codec_in(mode: EncryptionMode, tokens: &[&str], keys: &[&str], app_id: &str) -> Codec {
        Codec::new(CodecConfig {
            mode: Some(mode),
            ..config(tokens, keys, app_id)
        })
        .unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> CallbackQuery {
        let mut q = CallbackQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "signature" => q.signature = v,
                "timestamp" => q.timestamp = v,
                "nonce" => q.nonce = v,
                "echostr" => q.echostr = v,
                "openid" => q.openid = v,
                "encrypt_type" => q.encrypt_type = v,
                "msg_signature" => q.msg_signature = v,
                _ => panic!("unknown key {k}"),
            }
        }
        q
    }

    /// Why `c` refuses `body` with `query` at `now`.
    fn refusal(c: &Codec, query: &CallbackQuery, body: &str, now: i64) -> WeChatError {
        c.open(query, body.as_bytes(), now).unwrap_err()
    }

    fn text_xml(content: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>42</MsgId></xml>"
        )
    }

    #[test]
    fn v0_get_verification_echoes_echostr() {
        let c = codec(&["AAAAA"], &[], "");
        let query = q(&[
            ("signature", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
            ("echostr", "4375120948345356249"),
            ("timestamp", "1714036504"),
            ("nonce", "1514711492"),
        ]);
        assert_eq!(
            c.verify_url(&query, 1714036504).unwrap(),
            "4375120948345356249"
        );
        let mut bad = query.clone();
        bad.nonce = Some("1514711493".into());
        assert!(matches!(
            c.verify_url(&bad, 1714036504),
            Err(WeChatError::BadSignature)
        ));
        let mut missing = query.clone();
        missing.echostr = None;
        assert!(matches!(
            c.verify_url(&missing, 1714036504),
            Err(WeChatError::MissingParam("echostr"))
        ));
    }

    #[test]
    fn v0_plain_post_is_accepted_with_its_signature() {
        let c = codec(&["AAAAA"], &[], "");
        let query = q(&[
            ("signature", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
            ("timestamp", "1714037059"),
            ("nonce", "486452656"),
            ("openid", "o_user"),
        ]);
        let opened = c
            .open(&query, text_xml("余额").as_bytes(), 1714037059)
            .unwrap();
        assert_eq!(opened.mode, Mode::Plain);
        assert_eq!(
            opened.message.body,
            InboundBody::Text {
                content: "余额".into(),
                msg_id: 42
            }
        );
    }

    #[test]
    fn v0_safe_inbound_authenticates_by_msg_signature_then_decrypts() {
        // V0's plaintext is JSON (the example account chose JSON), so the codec must get
        // through signature and decryption and then refuse it as XML: that proves the order.
        let c = codec(&["AAAAA"], &["A".repeat(43).as_str()], "wxba5fad812f8e6fb9");
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[{V0_ENCRYPT}]]></Encrypt></xml>"
        );
        let query = q(&[
            ("signature", "6c5c811b55cc85e0e1b54100749188c20beb3f5d"),
            ("timestamp", "1714112445"),
            ("nonce", "415670741"),
            ("openid", "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"),
            ("encrypt_type", "aes"),
            ("msg_signature", "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"),
        ]);
        assert!(matches!(
            refusal(&c, &query, &body, 1714112445),
            WeChatError::MalformedXml(_)
        ));
        let mut wrong = query.clone();
        wrong.msg_signature = Some("046e02f8204d34f8ba5fa3b1db94908f3df2e9b4".into());
        assert!(matches!(
            refusal(&c, &wrong, &body, 1714112445),
            WeChatError::BadMsgSignature
        ));
    }

    #[test]
    fn v0_reply_seals_deterministically() {
        let c = codec(&["AAAAA"], &["A".repeat(43).as_str()], "wxba5fad812f8e6fb9");
        let sealed = c.seal_with_random(
            &Mode::Safe { key_index: 0 },
            r#"{"demo_resp":"good luck"}"#,
            "415670741",
            1713424427,
            *b"707722b803182950",
        );
        assert_eq!(
            sealed,
            "<xml>\n<Encrypt><![CDATA[ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==]]></Encrypt>\n<MsgSignature><![CDATA[1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1]]></MsgSignature>\n<TimeStamp>1713424427</TimeStamp>\n<Nonce><![CDATA[415670741]]></Nonce>\n</xml>"
        );
    }

    #[test]
    fn v4c_envelope_exact_bytes() {
        let c = codec(
            &["123456"],
            &["kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"],
            "wx49f0ab532d5d035a",
        );
        let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let sealed = c.seal_with_random(
            &Mode::Safe { key_index: 0 },
            msg,
            "461056294",
            1411525903,
            *b"1234567890123456",
        );
        assert_eq!(
            sealed,
            "<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>\n<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>"
        );
    }

    #[test]
    fn v5_safe_body_opens_to_the_text_message() {
        let c = codec(&["QDG6eK"], &[V5_EAK], "wx5823bf96d3bd56c7");
        let query = q(&[
            ("timestamp", "1409659813"),
            ("nonce", "1372623149"),
            ("encrypt_type", "aes"),
            ("msg_signature", "477715d11cdb4164915debcba66cb864d751f3e6"),
        ]);
        let opened = c.open(&query, V5_BODY.as_bytes(), 1409659813).unwrap();
        assert_eq!(opened.mode, Mode::Safe { key_index: 0 });
        assert_eq!(opened.message.from_user.as_str(), "mycreate");
        assert_eq!(
            opened.message.body,
            InboundBody::Text {
                content: "hello".into(),
                msg_id: 4561255354251345929
            }
        );
    }

    #[test]
    fn v1_compat_body_trusts_only_the_decrypted_copy() {
        let c = codec_in(
            EncryptionMode::Compatible,
            &["spamtest"],
            &[ABC_EAK],
            "wx2c2769f8efd9abc2",
        );
        let query = q(&[
            ("signature", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"),
            ("timestamp", "1409735669"),
            ("nonce", "1320562132"),
            ("encrypt_type", "aes"),
            ("msg_signature", "5d197aaffba7e9b25a30732f161a50dee96bd5fa"),
        ]);
        // Tamper with the plaintext copy: the decrypted one must win.
        let tampered = V1_BODY.replace(
            "<Content><![CDATA[abcdteT]]>",
            "<Content><![CDATA[转账1000]]>",
        );
        let opened = c.open(&query, tampered.as_bytes(), 1409735669).unwrap();
        assert_eq!(
            opened.message.body,
            InboundBody::Text {
                content: "abcdteT".into(),
                msg_id: 6054768590064713728
            }
        );
        // The same request without encrypt_type would be authenticated by `signature` alone,
        // which does not cover the body: refused.
        let mut plain = query.clone();
        plain.encrypt_type = None;
        let err = c.open(&plain, V1_BODY.as_bytes(), 1409735669).unwrap_err();
        assert!(matches!(err, WeChatError::PlaintextRefused));
        // Safe mode refuses the compatible layout altogether: the console is not in safe mode.
        let safe = codec(&["spamtest"], &[ABC_EAK], "wx2c2769f8efd9abc2");
        assert_eq!(safe.mode(), EncryptionMode::Safe);
        let err = safe
            .open(&query, V1_BODY.as_bytes(), 1409735669)
            .unwrap_err();
        assert!(matches!(err, WeChatError::PlaintextInSafeMode));
        assert_eq!(err.reason(), "plaintext fields in safe mode");
    }

    #[test]
    fn to_user_name_must_be_the_configured_original_id_in_every_mode() {
        let with_id = |keys: &[&str]| {
            Codec::new(CodecConfig {
                tokens: vec!["tok".into()],
                aes_keys: keys.iter().map(|s| s.to_string()).collect(),
                app_id: "wxapp".into(),
                original_id: Some("gh_x".into()),
                ..CodecConfig::default()
            })
            .unwrap()
        };
        let other = text_xml("hi").replace("gh_x", "gh_someoneelse");
        for (safe, keys) in [(true, &[ABC_EAK][..]), (false, &[][..])] {
            let c = with_id(keys);
            let p = Platform::new("tok", Some(ABC_EAK), "wxapp").unwrap();
            let (qs, body) = p.seal_inbound(&text_xml("hi"), safe, 100, "1", "o_user");
            assert!(c.open(&parse_query(&qs), body.as_bytes(), 100).is_ok());
            let (qs, body) = p.seal_inbound(&other, safe, 100, "2", "o_user");
            let err = c.open(&parse_query(&qs), body.as_bytes(), 100).unwrap_err();
            assert!(matches!(err, WeChatError::WrongAccount), "{err}");
            assert_eq!(err.reason(), "wrong account");
        }
    }

    #[test]
    fn signature_where_msg_signature_is_needed_is_refused() {
        let c = codec(&["spamtest"], &[ABC_EAK], "wx2c2769f8efd9abc2");
        let query = q(&[
            ("signature", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"),
            ("timestamp", "1409735669"),
            ("nonce", "1320562132"),
            ("encrypt_type", "aes"),
        ]);
        assert!(matches!(
            refusal(&c, &query, V1_BODY, 1409735669),
            WeChatError::MissingParam("msg_signature")
        ));
        // The 3-part signature passed as msg_signature does not verify either.
        let mut swapped = query.clone();
        swapped.msg_signature = swapped.signature.clone();
        assert!(matches!(
            refusal(&c, &swapped, V1_BODY, 1409735669),
            WeChatError::BadMsgSignature
        ));
    }

    #[test]
    fn v2_wrong_appid_is_refused_after_a_valid_signature() {
        let body = "<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA[rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==]]></Encrypt></xml>";
        let query = q(&[
            ("timestamp", "1458300676"),
            ("nonce", "260774613"),
            ("encrypt_type", "aes"),
            ("msg_signature", "4f3ad57b6989f09f4eb392acce4f9e93942ed890"),
        ]);
        let right = codec(&["pamtest"], &[ABC_EAK], "wxb11529c136998cb6");
        let opened = right.open(&query, body.as_bytes(), 1458300676).unwrap();
        assert_eq!(opened.message.from_user.as_str(), "asdasdasdsadasd");
        let wrong = codec(&["pamtest"], &[ABC_EAK], "wxWRONG");
        let err = wrong.open(&query, body.as_bytes(), 1458300676).unwrap_err();
        assert!(matches!(err, WeChatError::AppIdMismatch));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_before_the_signature() {
        let c = codec(&["AAAAA"], &[], "");
        let query = q(&[
            ("signature", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
            ("timestamp", "1714037059"),
            ("nonce", "486452656"),
        ]);
        let body = text_xml("x");
        assert!(c.open(&query, body.as_bytes(), 1714037059 + 300).is_ok());
        let err = c
            .open(&query, body.as_bytes(), 1714037059 + 301)
            .unwrap_err();
        assert!(matches!(
            err,
            WeChatError::StaleTimestamp {
                skew_secs: 301,
                window_secs: 300
            }
        ));
        assert!(matches!(
            refusal(&c, &query, &body, 1714037059 - 301),
            WeChatError::StaleTimestamp { .. }
        ));
        let mut junk = query.clone();
        junk.timestamp = Some("soon".into());
        assert!(matches!(
            refusal(&c, &junk, &body, 0),
            WeChatError::BadTimestamp
        ));
    }

    #[test]
    fn rotated_previous_token_and_key_are_accepted_and_the_reply_uses_the_decrypting_key() {
        let old_key = "A".repeat(43);
        let new_key = ABC_EAK;
        let wechat_old = Platform::new("oldtoken", Some(&old_key), "wxapp").unwrap();
        let ours = codec(&["newtoken", "oldtoken"], &[new_key, &old_key], "wxapp");
        let (qs, body) =
            wechat_old.seal_inbound(&text_xml("hi"), true, 1_700_000_000, "99", "o_user");
        let query = parse_query(&qs);
        let opened = ours.open(&query, body.as_bytes(), 1_700_000_000).unwrap();
        assert_eq!(opened.mode, Mode::Safe { key_index: 1 });
        assert_eq!(opened.token_index, 1);
        // seal_reply signs with the token WeChat used, so WeChat (still on the old token)
        // accepts the reply; `seal` signs with the current token.
        let reply_for_old = ours.seal_reply(
            &opened.mode,
            opened.token_index,
            "<xml/>",
            "99",
            1_700_000_001,
        );
        assert_eq!(
            wechat_old.open_reply(&reply_for_old).unwrap(),
            Some("<xml/>".into())
        );
        assert!(matches!(
            wechat_old.open_reply(&ours.seal(&opened.mode, "<xml/>", "99", 1_700_000_001)),
            Err(WeChatError::BadMsgSignature)
        ));
        let reply = "<xml><Content><![CDATA[ok]]></Content></xml>";
        let sealed = ours.seal(&opened.mode, reply, "99", 1_700_000_001);
        // Decrypts with the old key, not the new one.
        let env = xml::parse(&sealed).unwrap();
        let encrypt = env.get("Encrypt").unwrap();
        assert_eq!(
            crypto::decrypt(&AesKey::parse(&old_key).unwrap(), "wxapp", encrypt).unwrap(),
            reply.as_bytes()
        );
        assert!(crypto::decrypt(&AesKey::parse(new_key).unwrap(), "wxapp", encrypt).is_err());
        // An unknown token is still refused.
        let stranger = Platform::new("someoneelse", Some(&old_key), "wxapp").unwrap();
        let (qs, body) =
            stranger.seal_inbound(&text_xml("hi"), true, 1_700_000_000, "99", "o_user");
        assert!(matches!(
            refusal(&ours, &parse_query(&qs), &body, 1_700_000_000),
            WeChatError::BadMsgSignature
        ));
    }

    #[test]
    fn safe_mode_is_the_default_with_a_key_and_refuses_plaintext() {
        let c = Codec::new(CodecConfig {
            tokens: vec!["AAAAA".into()],
            aes_keys: vec!["A".repeat(43)],
            app_id: "wxapp".into(),
            ..CodecConfig::default()
        })
        .unwrap();
        assert_eq!(c.mode(), EncryptionMode::Safe);
        let query = q(&[
            ("signature", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
            ("timestamp", "1714037059"),
            ("nonce", "486452656"),
        ]);
        let err = c
            .open(&query, text_xml("x").as_bytes(), 1714037059)
            .unwrap_err();
        assert!(matches!(err, WeChatError::PlaintextRefused));
    }

    #[test]
    fn doctype_and_malformed_bodies_are_refused_after_authentication() {
        let p = Platform::new("tok", None, "").unwrap();
        let c = codec(&["tok"], &[], "");
        let evil = r#"<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>"#;
        let (qs, body) = p.seal_inbound(evil, false, 100, "1", "o");
        let err = c.open(&parse_query(&qs), body.as_bytes(), 100).unwrap_err();
        assert!(matches!(err, WeChatError::Doctype));
        let (qs, body) = p.seal_inbound("<xml><ToUserName>", false, 100, "2", "o");
        assert!(matches!(
            refusal(&c, &parse_query(&qs), &body, 100),
            WeChatError::MalformedXml(_)
        ));
    }

    #[test]
    fn odd_encrypt_types_and_missing_keys_are_400s() {
        let plain_only = codec(&["t"], &[], "");
        let p = Platform::new("t", Some(ABC_EAK), "wxapp").unwrap();
        let (qs, body) = p.seal_inbound(&text_xml("x"), true, 100, "1", "o");
        let err = plain_only
            .open(&parse_query(&qs), body.as_bytes(), 100)
            .unwrap_err();
        assert!(matches!(err, WeChatError::NoAesKey));
        let mut odd = parse_query(&qs);
        odd.encrypt_type = Some("des".into());
        assert!(matches!(
            refusal(&plain_only, &odd, &body, 100),
            WeChatError::UnsupportedEncryptType
        ));
        // encrypt_type=raw is plaintext; AES is case-insensitive.
        let both = codec(&["t"], &[ABC_EAK], "wxapp");
        let mut upper = parse_query(&qs);
        upper.encrypt_type = Some("AES".into());
        assert!(both.open(&upper, body.as_bytes(), 100).is_ok());
        let (qs, body) = p.seal_inbound(&text_xml("x"), false, 100, "1", "o");
        let mut raw = parse_query(&qs);
        raw.encrypt_type = Some("raw".into());
        assert_eq!(
            plain_only.open(&raw, body.as_bytes(), 100).unwrap().mode,
            Mode::Plain
        );
        assert!(matches!(
            refusal(&both, &raw, &body, 100),
            WeChatError::PlaintextRefused
        ));
        // A safe-mode query over a body without <Encrypt>.
        let mut safe_q = parse_query(&qs);
        safe_q.encrypt_type = Some("aes".into());
        safe_q.msg_signature = Some("0".repeat(40));
        assert!(matches!(
            refusal(&both, &safe_q, &body, 100),
            WeChatError::MissingField("Encrypt")
        ));
    }

    #[test]
    fn a_key_index_out_of_range_seals_with_the_current_key() {
        let c = codec(&["t"], &[ABC_EAK], "wxapp");
        let sealed = c.seal(&Mode::Safe { key_index: 5 }, "<xml/>", "1", 1);
        let p = Platform::new("t", Some(ABC_EAK), "wxapp").unwrap();
        assert_eq!(p.open_reply(&sealed).unwrap(), Some("<xml/>".into()));
    }

    #[test]
    fn success_and_empty_replies_are_not_encrypted() {
        let c = codec(&["t"], &[ABC_EAK], "wxapp");
        assert_eq!(
            c.seal(&Mode::Safe { key_index: 0 }, SUCCESS, "1", 1),
            "success"
        );
        assert_eq!(c.seal(&Mode::Safe { key_index: 0 }, "", "1", 1), "");
        assert_eq!(c.seal(&Mode::Plain, "<xml/>", "1", 1), "<xml/>");
    }

    #[test]
    fn bad_configuration_is_refused_at_start_up() {
        let base = CodecConfig {
            tokens: vec!["t".into()],
            aes_keys: vec![ABC_EAK.into()],
            app_id: "wxapp".into(),
            ..CodecConfig::default()
        };
        assert!(Codec::new(base.clone()).is_ok());
        for cfg in [
            CodecConfig {
                tokens: vec![],
                ..base.clone()
            },
            CodecConfig {
                aes_keys: vec!["short".into()],
                ..base.clone()
            },
            CodecConfig {
                app_id: String::new(),
                ..base.clone()
            },
            CodecConfig {
                timestamp_window_secs: 0,
                ..base.clone()
            },
            CodecConfig {
                aes_keys: vec![],
                mode: Some(EncryptionMode::Safe),
                ..base.clone()
            },
            CodecConfig {
                aes_keys: vec![],
                mode: Some(EncryptionMode::Compatible),
                ..base.clone()
            },
            CodecConfig {
                mode: Some(EncryptionMode::Plain),
                ..base.clone()
            },
            CodecConfig {
                original_id: Some("wx_not_an_original_id".into()),
                ..base.clone()
            },
        ] {
            assert!(Codec::new(cfg).is_err());
        }
        assert!(!format!("{base:?}").contains(ABC_EAK));
    }

    /// Minimal query-string parser for tests (the HTTP layer uses serde_urlencoded).
    fn parse_query(qs: &str) -> CallbackQuery {
        let decode = |s: &str| {
            let mut out = Vec::new();
            let b = s.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        };
        let pairs: Vec<(String, String)> = qs
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (decode(k), decode(v))
            })
            .collect();
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        q(&refs)
    }

    proptest! {
        #[test]
        fn platform_seal_then_codec_open_round_trips_in_both_modes(
            content in "[^\\x00-\\x1f]{0,80}",
            safe in any::<bool>(),
            ts in 1_600_000_000i64..1_900_000_000,
            nonce in "[0-9]{1,10}",
        ) {
            let wechat = Platform::new("tok3n", Some(ABC_EAK), "wxapp").unwrap();
            let ours = if safe { codec(&["tok3n"], &[ABC_EAK], "wxapp") } else { codec(&["tok3n"], &[], "wxapp") };
            let msg = crate::wechat::InboundMessage {
                to_user: "gh_x".into(),
                from_user: crate::domain::OpenId::parse("o_user").unwrap(),
                create_time: ts,
                body: InboundBody::Text { content: content.clone(), msg_id: 7 },
            };
            let (qs, body) = wechat.seal_inbound(&msg.to_xml(), safe, ts, &nonce, "o_user");
            let opened = ours.open(&parse_query(&qs), body.as_bytes(), ts).unwrap();
            prop_assert_eq!(&opened.message, &msg);
            prop_assert_eq!(opened.mode, if safe { Mode::Safe { key_index: 0 } } else { Mode::Plain });
            let reply = crate::wechat::reply::passive_xml("o_user", "gh_x", ts, &crate::wechat::Reply::Text(content.clone()));
            let sealed = ours.seal(&opened.mode, &reply, &nonce, ts);
            prop_assert_eq!(wechat.open_reply(&sealed).unwrap(), Some(reply));
        }
    }
}
