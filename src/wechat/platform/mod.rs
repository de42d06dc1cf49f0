//! WeChat's side of the callback protocol: sign (and in safe mode encrypt) what WeChat would
//! POST to us, and open what we answer.
//!
//! Why it exists: `onecard chat`, `onecard doctor`, the integration tests and the benches all
//! need to play the WeChat platform against our callback exactly as Tencent does, without a
//! second implementation of the crypto. It reuses [`crate::wechat::crypto`] and
//! [`crate::wechat::signature`]; [`encode`] writes inbound messages as WeChat POSTs them.
//!
//! It must never be used to *accept* callbacks (that is [`crate::wechat::codec::Codec`]), and never
//! print the token or key.

mod encode;

use crate::wechat::crypto::{self, AesKey};
use crate::wechat::error::WeChatError;
use crate::wechat::reply::SUCCESS;
use crate::wechat::signature;
use crate::wechat::xml;

/// The WeChat platform for one account: its token, optional EncodingAESKey and AppID.
#[derive(Clone)]
pub struct Platform {
    token: String,
    key: Option<AesKey>,
    app_id: String,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("safe_capable", &self.key.is_some())
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// `encoding_aes_key` `None` or empty: plaintext only.
    pub fn new(
        token: &str,
        encoding_aes_key: Option<&str>,
        app_id: &str,
    ) -> Result<Self, WeChatError> {
        if token.is_empty() {
            return Err(WeChatError::Config("token is required"));
        }
        let key = match encoding_aes_key.map(str::trim) {
            None | Some("") => None,
            Some(k) => Some(AesKey::parse(k)?),
        };
        Ok(Self {
            token: token.to_owned(),
            key,
            app_id: app_id.to_owned(),
        })
    }

    /// Whether this platform can encrypt (an EncodingAESKey was given).
    pub fn can_encrypt(&self) -> bool {
        self.key.is_some()
    }

    /// The query string of the GET URL verification:
    /// `signature=…&timestamp=…&nonce=…&echostr=…`, URL-encoded.
    pub fn verify_url_query(&self, echostr: &str, timestamp: i64, nonce: &str) -> String {
        let ts = timestamp.to_string();
        let sig = signature::sign(&[&self.token, &ts, nonce]);
        query(&[
            ("signature", &sig),
            ("timestamp", &ts),
            ("nonce", nonce),
            ("echostr", echostr),
        ])
    }

    /// What WeChat POSTs for inbound `xml`: `(query string, body)`. In safe mode the body is
    /// the `ToUserName` + `Encrypt` envelope and the query carries `encrypt_type=aes` and
    /// `msg_signature`; `signature` is present in both modes, as WeChat sends it. If `safe` is
    /// asked without a key, the message goes out in plaintext.
    pub fn seal_inbound(
        &self,
        xml_text: &str,
        safe: bool,
        timestamp: i64,
        nonce: &str,
        openid: &str,
    ) -> (String, String) {
        let ts = timestamp.to_string();
        let sig = signature::sign(&[&self.token, &ts, nonce]);
        let key = match (&self.key, safe) {
            (Some(key), true) => key,
            _ => {
                let q = query(&[
                    ("signature", &sig),
                    ("timestamp", &ts),
                    ("nonce", nonce),
                    ("openid", openid),
                ]);
                return (q, xml_text.to_owned());
            }
        };
        let encrypt = crypto::encrypt(key, &self.app_id, xml_text.as_bytes());
        let msg_sig = signature::sign(&[&self.token, &ts, nonce, &encrypt]);
        let to_user = xml::parse(&String::from_utf8_lossy(&xml::strip_illegal_control_bytes(
            xml_text.as_bytes(),
        )))
        .ok()
        .and_then(|f| f.get("ToUserName").map(str::to_owned))
        .unwrap_or_default();
        let mut body = String::with_capacity(encrypt.len() + 100);
        body.push_str("<xml>");
        xml::push_cdata_element(&mut body, "ToUserName", &to_user);
        xml::push_cdata_element(&mut body, "Encrypt", &encrypt);
        body.push_str("</xml>");
        let q = query(&[
            ("signature", &sig),
            ("timestamp", &ts),
            ("nonce", nonce),
            ("openid", openid),
            ("encrypt_type", "aes"),
            ("msg_signature", &msg_sig),
        ]);
        (q, body)
    }

    /// Open our callback's answer as WeChat does: `success` or an empty body → `None`;
    /// an encrypted envelope → its `MsgSignature` verified, then decrypted; anything else is
    /// returned as the plain reply XML.
    pub fn open_reply(&self, body: &str) -> Result<Option<String>, WeChatError> {
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed == SUCCESS {
            return Ok(None);
        }
        xml::reject_dtd(trimmed.as_bytes())?;
        let fields = xml::parse(trimmed)?;
        let Some(encrypt) = fields.get("Encrypt").map(str::trim) else {
            return Ok(Some(body.to_owned()));
        };
        let msg_sig = fields.req("MsgSignature")?.trim();
        let ts = fields.req("TimeStamp")?.trim();
        let nonce = fields.req("Nonce")?.trim();
        if !signature::verify(msg_sig, &[&self.token, ts, nonce, encrypt]) {
            return Err(WeChatError::BadMsgSignature);
        }
        let key = self.key.as_ref().ok_or(WeChatError::NoAesKey)?;
        let plain = crypto::decrypt(key, &self.app_id, encrypt)?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| WeChatError::NotUtf8)
    }
}

/// `k=v&k=v` with every byte outside `[A-Za-z0-9-_.~]` percent-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(&mut out, k);
        out.push('=');
        percent_encode(&mut out, v);
    }
    out
}

pub(crate) fn percent_encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_verify_url_query() {
        let p = Platform::new("AAAAA", None, "").unwrap();
        assert_eq!(
            p.verify_url_query("4375120948345356249", 1714036504, "1514711492"),
            "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249"
        );
        assert!(
            p.verify_url_query("a+b/c=", 1, "2")
                .ends_with("&echostr=a%2Bb%2Fc%3D")
        );
    }

    #[test]
    fn plain_inbound_query_and_body() {
        let p = Platform::new("AAAAA", None, "").unwrap();
        let (q, body) = p.seal_inbound("<xml/>", false, 1714037059, "486452656", "o_user");
        assert_eq!(
            q,
            "signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656&openid=o_user"
        );
        assert_eq!(body, "<xml/>");
        // Safe requested without a key: plaintext.
        let (q, _) = p.seal_inbound("<xml/>", true, 1714037059, "486452656", "o_user");
        assert!(!q.contains("encrypt_type"));
    }

    #[test]
    fn safe_inbound_carries_to_user_encrypt_and_msg_signature() {
        let p = Platform::new("AAAAA", Some(&"A".repeat(43)), "wxba5fad812f8e6fb9").unwrap();
        let xml_text =
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Content>x</Content></xml>";
        let (q, body) = p.seal_inbound(
            xml_text,
            true,
            1714112445,
            "415670741",
            "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        );
        assert!(q.starts_with("signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature="));
        let f = xml::parse(&body).unwrap();
        assert_eq!(f.get("ToUserName"), Some("gh_97417a04a28d"));
        let encrypt = f.get("Encrypt").unwrap();
        let msg_sig = q.rsplit_once("msg_signature=").unwrap().1;
        assert_eq!(
            msg_sig,
            signature::sign(&["AAAAA", "1714112445", "415670741", encrypt])
        );
        let key = AesKey::parse(&"A".repeat(43)).unwrap();
        assert_eq!(
            crypto::decrypt(&key, "wxba5fad812f8e6fb9", encrypt).unwrap(),
            xml_text.as_bytes()
        );
    }

    #[test]
    fn open_reply_handles_success_plain_and_verifies_envelopes() {
        let p = Platform::new("AAAAA", Some(&"A".repeat(43)), "wxba5fad812f8e6fb9").unwrap();
        assert_eq!(p.open_reply("success").unwrap(), None);
        assert_eq!(p.open_reply("").unwrap(), None);
        assert_eq!(
            p.open_reply("<xml><A>1</A></xml>").unwrap(),
            Some("<xml><A>1</A></xml>".into())
        );
        let env = "<xml>\n<Encrypt><![CDATA[ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==]]></Encrypt>\n<MsgSignature><![CDATA[1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1]]></MsgSignature>\n<TimeStamp>1713424427</TimeStamp>\n<Nonce><![CDATA[415670741]]></Nonce>\n</xml>";
        assert_eq!(
            p.open_reply(env).unwrap(),
            Some(r#"{"demo_resp":"good luck"}"#.into())
        );
        let forged = env.replace(
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1",
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea2",
        );
        assert!(matches!(
            p.open_reply(&forged),
            Err(WeChatError::BadMsgSignature)
        ));
        let no_key = Platform::new("AAAAA", None, "wxba5fad812f8e6fb9").unwrap();
        assert!(matches!(no_key.open_reply(env), Err(WeChatError::NoAesKey)));
    }

    #[test]
    fn bad_platform_configuration_is_refused() {
        assert!(Platform::new("", None, "").is_err());
        assert!(Platform::new("t", Some("nope"), "wx").is_err());
        assert!(!Platform::new("t", Some(""), "wx").unwrap().can_encrypt());
    }
}
