//! The callback codec: the only thing `http::callback` calls.
//!
//! Why it exists: turning a raw callback (query string + body) into a trusted
//! [`InboundMessage`], and a reply back into the body WeChat expects, involves ordering rules
//! that are easy to get wrong and costly when wrong (PROTOCOL.md §2, §3, §6): check the
//! timestamp window, then the signature (`signature` in plain mode, **`msg_signature` over
//! `Encrypt`** in safe/compat mode), only then decrypt, and parse only the decrypted XML. Token
//! and EncodingAESKey rotation are handled here too: every configured token is accepted, keys
//! are tried current first, and a reply is encrypted with the key that decrypted the request
//! (Tencent's rotation rule, §6.2).
//!
//! It must never parse or act on a body before its signature is verified, never accept
//! plaintext when configured `encrypted_only`, and never log tokens, keys or content. It holds
//! no I/O and no clocks: callers pass `now_unix`.

use std::sync::Arc;

use serde::Deserialize;

use super::crypto::{self, AesKey};
use super::error::WeChatError;
use super::inbound::InboundMessage;
use super::reply::SUCCESS;
use super::signature;
use super::xml;

/// Default replay window: WeChat's documented retries span ~15 s; clocks drift.
pub const DEFAULT_TIMESTAMP_WINDOW_SECS: i64 = 300;

/// The query string WeChat appends to our callback URL (PROTOCOL.md §1). All optional here;
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
    /// Refuse plaintext callbacks (safe mode only).
    pub encrypted_only: bool,
}

impl Default for CodecConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            aes_keys: Vec::new(),
            app_id: String::new(),
            timestamp_window_secs: DEFAULT_TIMESTAMP_WINDOW_SECS,
            encrypted_only: false,
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
            .field("encrypted_only", &self.encrypted_only)
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

/// A verified, decrypted and parsed callback.
#[derive(Clone, Debug)]
pub struct Opened {
    pub message: InboundMessage,
    pub mode: Mode,
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
    encrypted_only: bool,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("tokens", &self.inner.tokens.len())
            .field("keys", &self.inner.keys.len())
            .field("app_id", &self.inner.app_id)
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
        if cfg.encrypted_only && keys.is_empty() {
            return Err(WeChatError::Config(
                "encrypted_only needs an EncodingAESKey",
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
                encrypted_only: cfg.encrypted_only,
            }),
        })
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
            if self.inner.encrypted_only {
                return Err(WeChatError::PlaintextRefused);
            }
            let sig = required(&q.signature, "signature")?;
            self.check_timestamp(timestamp, now_unix)?;
            self.match_token(sig, &[timestamp, nonce])
                .ok_or(WeChatError::BadSignature)?;
            let message = InboundMessage::parse(body)?;
            return Ok(Opened {
                message,
                mode: Mode::Plain,
            });
        }

        // Safe / compat: `signature` is not enough (PROTOCOL.md §3, "不要使用signature验证").
        let msg_sig = required(&q.msg_signature, "msg_signature")?;
        if self.inner.keys.is_empty() {
            return Err(WeChatError::NoAesKey);
        }
        self.check_timestamp(timestamp, now_unix)?;
        let encrypt = extract_encrypt(body)?;
        self.match_token(msg_sig, &[timestamp, nonce, &encrypt])
            .ok_or(WeChatError::BadMsgSignature)?;

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
                    return Ok(Opened {
                        message,
                        mode: Mode::Safe { key_index },
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
        self.seal_inner(mode, reply_xml, nonce, now_unix, None)
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
        self.seal_inner(mode, reply_xml, nonce, now_unix, Some(random))
    }

    fn seal_inner(
        &self,
        mode: &Mode,
        reply_xml: &str,
        nonce: &str,
        now_unix: i64,
        random: Option<[u8; 16]>,
    ) -> String {
        let key_index = match mode {
            Mode::Plain => return reply_xml.to_owned(),
            Mode::Safe { key_index } => *key_index,
        };
        if reply_xml.is_empty() || reply_xml == SUCCESS {
            return reply_xml.to_owned();
        }
        let Some(key) = self
            .inner
            .keys
            .get(key_index)
            .or_else(|| self.inner.keys.first())
        else {
            // Safe mode without a key cannot happen through `open`; answering plaintext would
            // make WeChat show its error page, "success" at least fails quietly.
            tracing::warn!(
                "safe-mode reply requested without an EncodingAESKey; answering success"
            );
            return SUCCESS.to_owned();
        };
        let encrypt = match random {
            Some(r) => {
                crypto::encrypt_with_random(key, r, &self.inner.app_id, reply_xml.as_bytes())
            }
            None => crypto::encrypt(key, &self.inner.app_id, reply_xml.as_bytes()),
        };
        let timestamp = now_unix.to_string();
        let token = self
            .inner
            .tokens
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let msg_signature = signature::sign(&[token, &timestamp, nonce, &encrypt]);
        envelope(&encrypt, &msg_signature, &timestamp, nonce)
    }

    /// Whether |now − timestamp| is inside the window. Checked before any signature compare.
    fn check_timestamp(&self, timestamp: &str, now_unix: i64) -> Result<(), WeChatError> {
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
        Ok(())
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

/// The `Encrypt` text of a safe/compat body, whitespace-trimmed (WxJava#1634).
fn extract_encrypt(body: &[u8]) -> Result<String, WeChatError> {
    xml::reject_dtd(body)?;
    let clean = xml::strip_illegal_control_bytes(body);
    let text = std::str::from_utf8(&clean).map_err(|_| WeChatError::NotUtf8)?;
    let fields = xml::parse(text)?;
    let encrypt = fields.req("Encrypt")?.trim();
    if encrypt.is_empty() {
        return Err(WeChatError::MissingField("Encrypt"));
    }
    Ok(encrypt.to_owned())
}

/// The encrypted reply envelope, in the layout of Tencent's samples (PROTOCOL.md §6.1).
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
