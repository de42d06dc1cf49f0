//! Signed links to a person's fun bill page: `?t=<payload>.<mac>`, where the payload names the
//! openid, the year (0 = the current period) and an expiry. Whoever holds the link sees that
//! bill until it expires, like a bill sent by mail; nobody can make one for another person.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::OpenId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "o")]
    pub openid: String,
    /// A calendar year, or 0 for the period current when the page is opened.
    #[serde(rename = "y")]
    pub year: i32,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

fn mac(key: &[u8], payload: &str) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"fun-bill-link\0");
    m.update(payload.as_bytes());
    m.finalize().into_bytes().to_vec()
}

pub fn sign(key: &[u8], openid: &OpenId, year: i32, expires_at: i64) -> String {
    let claims = LinkClaims {
        openid: openid.as_str().to_owned(),
        year,
        expires_at,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let tag = URL_SAFE_NO_PAD.encode(mac(key, &payload));
    format!("{payload}.{tag}")
}

/// The claims of a genuine, unexpired token.
pub fn verify(key: &[u8], token: &str, now: i64) -> Option<LinkClaims> {
    let (payload, tag) = token.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let expected = mac(key, payload);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag[..], &expected[..])) {
        return None;
    }
    let claims: LinkClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.expires_at > now).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_own_bill_until_it_expires_and_cannot_be_altered() {
        let key = b"0123456789abcdef0123456789abcdef";
        let me = OpenId::parse("oTESTuser0000000000000000001").unwrap();
        let token = sign(key, &me, 2025, 1_000);
        let claims = verify(key, &token, 999).unwrap();
        assert_eq!((claims.openid.as_str(), claims.year), (me.as_str(), 2025));
        assert_eq!(verify(key, &token, 1_000), None, "expired");
        assert_eq!(verify(b"another key", &token, 0), None);
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = LinkClaims {
            openid: "oTESTuser0000000000000000002".into(),
            year: 2025,
            expires_at: 1_000,
        };
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(verify(key, &format!("{forged}.{tag}"), 0), None);
        assert_eq!(verify(key, payload, 0), None);
    }
}
