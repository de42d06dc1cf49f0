//! WeChat's SHA-1 request signatures.
//!
//! Why it exists: every callback is authenticated by `sha1` over the byte-wise sorted
//! concatenation of the token, timestamp, nonce (and, in safe mode, `Encrypt`). This module
//! owns that computation and its constant-time comparison, nothing else: choosing which parts
//! to sign, the timestamp window and token rotation belong to [`super::codec`].
//!
//! It must never log or return the token, and never compare signatures with `==`.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Lowercase hex SHA-1 of the parts sorted byte-wise ascending and concatenated without a
/// separator (docs/wechat-protocol.md §2).
pub fn sign(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Whether `expected_hex` is the signature of `parts`, compared in constant time. Uppercase
/// hex is accepted (WeChat sends lowercase; case carries no secret).
pub fn verify(expected_hex: &str, parts: &[&str]) -> bool {
    let computed = sign(parts);
    let given = expected_hex.trim().to_ascii_lowercase();
    // Lengths are public (always 40 for a well-formed value); ct_eq on slices of different
    // lengths returns false without looking at the content.
    bool::from(computed.as_bytes().ct_eq(given.as_bytes()))
}

/// JS-SDK `wx.config` signature (docs/wechat-protocol.md §8.7): sha1 of
/// `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (keys in ASCII order, values raw, not
/// URL-escaped). `url` is the page URL; anything from `#` on is dropped, as WeChat requires.
pub fn jsapi_signature(jsapi_ticket: &str, noncestr: &str, timestamp: i64, url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let plain =
        format!("jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(plain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const J_TICKET: &str =
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";

    #[test]
    fn j_jsapi_signature_vectors() {
        assert_eq!(
            jsapi_signature(
                J_TICKET,
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com?params=value"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
        assert_eq!(
            jsapi_signature(
                J_TICKET,
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com"
            ),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
        // The fragment is not part of the signed URL.
        assert_eq!(
            jsapi_signature(
                J_TICKET,
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com#/bind"
            ),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
    }

    #[test]
    fn v0_get_verify_signature_official_example() {
        assert_eq!(
            sign(&["AAAAA", "1714036504", "1514711492"]),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
    }

    #[test]
    fn v0_plain_post_signature() {
        assert_eq!(
            sign(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn v0_safe_post_signatures_both_forms() {
        let encrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
        assert_eq!(
            sign(&["AAAAA", "1714112445", "415670741"]),
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        assert_eq!(
            sign(&["AAAAA", "1714112445", "415670741", encrypt]),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
    }

    #[test]
    fn vectors_md_plain_signature() {
        assert_eq!(
            sign(&["QDG6eK", "1409659813", "1372623149"]),
            "d2157f2f9079f4d6257b45edf665c43c62e60a0a"
        );
    }

    #[test]
    fn s_wechatpy_signature_and_its_negative() {
        let parts = ["test", "1410685589", "test"];
        assert_eq!(sign(&parts), "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff");
        assert!(verify("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", &parts));
        assert!(!verify("f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", &parts));
    }

    #[test]
    fn s_wechat_crypto_literal_words() {
        assert_eq!(
            sign(&["RMNlACHlV5ThzfRlVS4D4", "timestamp", "nonce", "encrypt"]),
            "8edac0945683c119ee71c9f6256d76c48aa08a96"
        );
    }

    #[test]
    fn s_wxjava_two_parts() {
        assert_eq!(
            sign(&["123", "345"]),
            "9f537aeb751ec72605f57f94a2f6dc3e3958e1dd"
        );
    }

    #[test]
    fn v1_plain_signature_derived() {
        assert_eq!(
            sign(&["spamtest", "1409735669", "1320562132"]),
            "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
        );
    }

    #[test]
    fn verify_rejects_wrong_length_and_empty() {
        let parts = ["test", "1410685589", "test"];
        assert!(!verify("", &parts));
        assert!(!verify("f21891de", &parts));
        assert!(verify("F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF", &parts));
    }
}
