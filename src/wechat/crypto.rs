//! WXBizMsgCrypt: the AES-256-CBC envelope of WeChat's safe and compatible modes.
//!
//! Why it exists: in safe mode every callback body and every passive reply is
//! `base64(AES-256-CBC(random16 ‖ be_u32(len) ‖ msg ‖ appid ‖ pkcs7_32))` with IV = key[..16]
//! (docs/wechat-protocol.md §6.1). This module owns the key parsing (lenient base64, because real
//! EncodingAESKeys carry non-zero spare bits), the 32-byte PKCS#7 padding done by hand (the
//! cipher runs with `NoPadding`) and a strict decryption that checks every length, every pad
//! byte and the appid.
//!
//! It must never log key material or plaintext, never accept a ciphertext whose appid differs
//! from ours, and never decrypt before the caller verified `msg_signature` (that ordering is
//! [`super::codec`]'s job).

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use rand::Rng;

use super::error::WeChatError;

/// The padding block of WXBizMsgCrypt: PKCS#7 with K = 32, not AES's 16.
const PAD_BLOCK: usize = 32;
/// Bytes before the message: 16 random + 4 length.
const HEADER: usize = 20;

/// Lenient engine for the EncodingAESKey only: the 43rd character's two spare bits are
/// random in real keys, and the trailing `=` may or may not be given. `Encrypt` itself is
/// decoded with the strict `STANDARD` engine.
const KEY_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type Enc = cbc::Encryptor<Aes256>;
type Dec = cbc::Decryptor<Aes256>;

/// A decoded 32-byte AES key. Parsed once at start-up; `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl AesKey {
    /// Parse an EncodingAESKey: exactly 43 characters of `[A-Za-z0-9]` (no `+`, `/` or `=`),
    /// decoded leniently to exactly 32 bytes.
    pub fn parse(encoding_aes_key: &str) -> Result<Self, WeChatError> {
        if encoding_aes_key.len() != 43 {
            return Err(WeChatError::InvalidAesKey("must be 43 characters"));
        }
        if !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(WeChatError::InvalidAesKey(
                "must be letters and digits only",
            ));
        }
        let bytes = KEY_B64
            .decode(encoding_aes_key)
            .map_err(|_| WeChatError::InvalidAesKey("not base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| WeChatError::InvalidAesKey("does not decode to 32 bytes"))?;
        Ok(Self(key))
    }

    /// The raw key, for tests that compare against published hex.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Encrypt `msg` for `app_id` with a fresh random 16-byte prefix from the thread CSPRNG.
/// The prefix is drawn from `[A-Za-z0-9]`, as Tencent's own samples do, so peers that wrongly
/// assume ASCII there still work.
pub fn encrypt(key: &AesKey, app_id: &str, msg: &[u8]) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut random = [0u8; 16];
    for byte in &mut random {
        *byte = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    encrypt_with_random(key, random, app_id, msg)
}

/// Deterministic encryption with a given prefix: the conformance vectors need it.
pub fn encrypt_with_random(key: &AesKey, random: [u8; 16], app_id: &str, msg: &[u8]) -> String {
    // WeChat messages are a few KiB; a message over 4 GiB cannot reach here, but do not
    // truncate silently if it ever does: saturate, and decryption on the other side fails.
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    let unpadded = HEADER + msg.len() + app_id.len();
    let pad = PAD_BLOCK - unpadded % PAD_BLOCK; // 1..=32, a full block when aligned
    let mut buf = Vec::with_capacity(unpadded + pad);
    buf.extend_from_slice(&random);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(msg);
    buf.extend_from_slice(app_id.as_bytes());
    // pad <= 32, so the cast cannot truncate.
    buf.resize(unpadded + pad, pad as u8);
    let total = buf.len();
    let cipher = Enc::new(&key.0.into(), &key.iv().into());
    // The buffer is a multiple of 32 (so of 16): NoPadding cannot fail on it.
    match cipher.encrypt_padded::<NoPadding>(&mut buf, total) {
        Ok(ct) => STANDARD.encode(ct),
        Err(_) => String::new(),
    }
}

/// Strict decryption of an `Encrypt` value: canonical base64, length a positive multiple of
/// 32, pad byte in 1..=32 with all pad bytes equal, length field inside the buffer, appid equal
/// to ours. Returns the message bytes (the inner XML).
pub fn decrypt(key: &AesKey, app_id: &str, encrypt_b64: &str) -> Result<Vec<u8>, WeChatError> {
    let mut buf = STANDARD
        .decode(encrypt_b64.trim_ascii())
        .map_err(WeChatError::Base64)?;
    if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
        return Err(WeChatError::CipherLength(buf.len()));
    }
    let cipher = Dec::new(&key.0.into(), &key.iv().into());
    let plain_len = cipher
        .decrypt_padded::<NoPadding>(&mut buf)
        .map_err(|_| WeChatError::CipherLength(0))?
        .len();
    buf.truncate(plain_len);

    let pad = usize::from(*buf.last().ok_or(WeChatError::Padding)?);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > buf.len() {
        return Err(WeChatError::Padding);
    }
    let body_len = buf.len() - pad;
    if buf[body_len..].iter().any(|&b| usize::from(b) != pad) {
        return Err(WeChatError::Padding);
    }
    buf.truncate(body_len);

    if buf.len() < HEADER {
        return Err(WeChatError::LengthField);
    }
    let len_bytes: [u8; 4] = [buf[16], buf[17], buf[18], buf[19]];
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| WeChatError::LengthField)?;
    let msg_end = HEADER
        .checked_add(msg_len)
        .filter(|&end| end <= buf.len())
        .ok_or(WeChatError::LengthField)?;
    if &buf[msg_end..] != app_id.as_bytes() {
        return Err(WeChatError::AppIdMismatch);
    }
    buf.truncate(msg_end);
    buf.drain(..HEADER);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V0_EAK: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const V0_APPID: &str = "wxba5fad812f8e6fb9";
    const V0_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    const ABC_EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const V2_APPID: &str = "wxb11529c136998cb6";
    const V2_ENCRYPT: &str = "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";

    fn key(eak: &str) -> AesKey {
        AesKey::parse(eak).unwrap()
    }

    /// Raw AES-CBC encryption of an arbitrary (already block-aligned) plaintext, to build
    /// malformed ciphertexts for the negative tests.
    fn raw_encrypt(key: &AesKey, plain: &[u8]) -> String {
        let mut buf = plain.to_vec();
        let n = buf.len();
        let ct = Enc::new(&key.0.into(), &key.iv().into())
            .encrypt_padded::<NoPadding>(&mut buf, n)
            .unwrap()
            .to_vec();
        STANDARD.encode(ct)
    }

    fn framed(msg: &[u8], app_id: &str, declared_len: u32) -> Vec<u8> {
        let mut b = b"0123456789abcdef".to_vec();
        b.extend_from_slice(&declared_len.to_be_bytes());
        b.extend_from_slice(msg);
        b.extend_from_slice(app_id.as_bytes());
        b
    }

    #[test]
    fn key_all_a_is_32_zero_bytes() {
        assert_eq!(key(V0_EAK).as_bytes(), &[0u8; 32]);
    }

    #[test]
    fn non_canonical_key_is_accepted_and_matches_published_hex() {
        assert_eq!(
            hex::encode(key(ABC_EAK).as_bytes()),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        // jWmYm7… and kWxPEV… have non-zero spare bits too.
        key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
        key("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR");
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert!(AesKey::parse("").is_err());
        assert!(AesKey::parse(&"A".repeat(42)).is_err());
        assert!(AesKey::parse(&"A".repeat(44)).is_err());
        assert!(AesKey::parse(&format!("{}+", "A".repeat(42))).is_err());
        assert!(AesKey::parse(&format!("{}=", "A".repeat(42))).is_err());
        assert!(format!("{:?}", key(ABC_EAK)).contains("redacted"));
    }

    /// Seal `plain` with the vector's fixed random, check the ciphertext and its signature
    /// over `[token, timestamp, nonce, ciphertext]`, and give the ciphertext back.
    fn sealed_as_vector(
        key: &AesKey,
        random: &[u8; 16],
        app_id: &str,
        plain: &[u8],
        ciphertext: &str,
        [token, timestamp, nonce]: [&str; 3],
        signature: &str,
    ) -> String {
        let ct = encrypt_with_random(key, *random, app_id, plain);
        assert_eq!(ct, ciphertext);
        assert_eq!(
            crate::wechat::signature::sign(&[token, timestamp, nonce, &ct]),
            signature
        );
        ct
    }

    #[test]
    fn v0_inbound_decrypts_to_the_official_plaintext() {
        let plain = decrypt(&key(V0_EAK), V0_APPID, V0_ENCRYPT).unwrap();
        assert_eq!(plain.len(), 167);
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#
        );
    }

    #[test]
    fn v0_reply_encrypts_deterministically() {
        sealed_as_vector(
            &key(V0_EAK),
            b"707722b803182950",
            V0_APPID,
            br#"{"demo_resp":"good luck"}"#,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==",
            ["AAAAA", "1713424427", "415670741"],
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1",
        );
    }

    const V1_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
    const V1_PLAIN: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";

    #[test]
    fn v1_decrypts_and_re_encrypts_to_the_same_string() {
        let k = key(ABC_EAK);
        let plain = decrypt(&k, "wx2c2769f8efd9abc2", V1_ENCRYPT).unwrap();
        assert_eq!(plain, V1_PLAIN.as_bytes());
        assert_eq!(
            encrypt_with_random(&k, *b"89465c840c5f116f", "wx2c2769f8efd9abc2", &plain),
            V1_ENCRYPT
        );
    }

    #[test]
    fn v2_decrypts_and_wrong_appid_is_refused() {
        let k = key(ABC_EAK);
        let plain = decrypt(&k, V2_APPID, V2_ENCRYPT).unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL><ToUserName><![CDATA[asdasdasd]]></ToUserName><FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName><CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>"
        );
        assert!(matches!(
            decrypt(&k, "wxWRONG", V2_ENCRYPT),
            Err(WeChatError::AppIdMismatch)
        ));
    }

    #[test]
    fn v3a_fixed_random_chinese_message() {
        sealed_as_vector(
            &key(ABC_EAK),
            b"aaaabbbbccccdddd",
            V2_APPID,
            "我是中文abcd123".as_bytes(),
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==",
            ["pamtest", "1409304348", "xxxxxx"],
            "82c962d39941aa48552f90ef55aa323dc620cc10",
        );
    }

    #[test]
    fn v3b_fixed_random_long_message() {
        let msg = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
        assert_eq!(msg.len(), 435);
        sealed_as_vector(
            &key(ABC_EAK),
            b"aaaabbbbccccdddd",
            V2_APPID,
            msg.as_bytes(),
            "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb",
            ["pamtest", "1409304348", "xxxxxx"],
            "ea88b765074e41eb8c7a75b449db34fa2fd560d5",
        );
    }

    const V4_EAK: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const V4_RID: &str = "wx49f0ab532d5d035a";

    #[test]
    fn v4a_wecom_echostr_decrypts() {
        let echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        assert_eq!(
            decrypt(&key(V4_EAK), V4_RID, echostr).unwrap(),
            b"5927782489442352469"
        );
        assert_eq!(
            crate::wechat::signature::sign(&["123456", "1411443780", "437374425", echostr]),
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
        );
        assert!(!crate::wechat::signature::verify(
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            &["123456", "1411443780", "437374424", echostr]
        ));
    }

    #[test]
    fn v4b_decrypts_pad_one() {
        let enc = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert_eq!(
            crate::wechat::signature::sign(&["123456", "1411525903", "461056294", enc]),
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
        );
        assert_eq!(
            String::from_utf8(decrypt(&key(V4_EAK), V4_RID, enc).unwrap()).unwrap(),
            "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"
        );
    }

    #[test]
    fn v4c_fixed_random_encrypt() {
        let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        sealed_as_vector(
            &key(V4_EAK),
            b"1234567890123456",
            V4_RID,
            msg.as_bytes(),
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3",
            ["123456", "1411525903", "461056294"],
            "407518b7649e86ef23978113f92d27afa9296533",
        );
    }

    #[test]
    fn v5_wecom_doc_sample_decrypts_pad_thirty() {
        let enc = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
        assert_eq!(
            crate::wechat::signature::sign(&["QDG6eK", "1409659813", "1372623149", enc]),
            "477715d11cdb4164915debcba66cb864d751f3e6"
        );
        let plain = decrypt(
            &key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            "wx5823bf96d3bd56c7",
            enc,
        )
        .unwrap();
        assert_eq!(plain.len(), 284);
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
        );
    }

    #[test]
    fn vectors_md_2_echostr_decrypts() {
        let echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        assert_eq!(
            crate::wechat::signature::sign(&["QDG6eK", "1409659589", "263014780", echostr]),
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
        );
        assert_eq!(
            decrypt(
                &key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
                "wx5823bf96d3bd56c7",
                echostr
            )
            .unwrap(),
            b"1616140317555161061"
        );
    }

    #[test]
    fn d1_aligned_message_gets_a_full_block_of_32() {
        let k = key(V0_EAK);
        let ct = encrypt_with_random(
            &k,
            *b"0123456789abcdef",
            V0_APPID,
            b"abcdefghijklmnopqrstuvwxyz",
        );
        assert_eq!(
            ct,
            "uMMzGtqcnpOzXOYBwDQNreOzv02yzI0bkPPytDAr20xVHmHdVW0O92RuUcMCuXN4DMkboHlg4Y+oen1qwCcKBZ0fonDVqWBDlWtYlGIvdUH71ANvK32Zc5HlRO7GXLLl"
        );
        assert_eq!(STANDARD.decode(&ct).unwrap().len(), 96);
        assert_eq!(
            crate::wechat::signature::sign(&["AAAAA", "1714112445", "415670741", &ct]),
            "dcf7f4ea30bd32918f8a5e386aed9ff923af1c7e"
        );
        assert_eq!(
            decrypt(&k, V0_APPID, &ct).unwrap(),
            b"abcdefghijklmnopqrstuvwxyz"
        );
    }

    #[test]
    fn flipped_byte_is_refused() {
        let k = key(V0_EAK);
        let mut raw = STANDARD.decode(V0_ENCRYPT).unwrap();
        // Flip a byte in the second-to-last block: it garbles the last block's padding / appid.
        let n = raw.len();
        raw[n - 20] ^= 0x01;
        let tampered = STANDARD.encode(&raw);
        assert!(decrypt(&k, V0_APPID, &tampered).is_err());
        // Flip a byte in the first block: the length field or the content changes.
        let mut raw = STANDARD.decode(V0_ENCRYPT).unwrap();
        raw[0] ^= 0x80;
        let r = decrypt(&k, V0_APPID, &STANDARD.encode(&raw));
        assert!(r.is_err() || r.unwrap() != decrypt(&k, V0_APPID, V0_ENCRYPT).unwrap());
    }

    #[test]
    fn pad_zero_and_pad_thirty_three_are_refused() {
        let k = key(V0_EAK);
        let mut body = framed(b"hi", V0_APPID, 2);
        body.resize(64, 0);
        assert!(matches!(
            decrypt(&k, V0_APPID, &raw_encrypt(&k, &body)),
            Err(WeChatError::Padding)
        ));
        let mut body = framed(b"hi", V0_APPID, 2);
        body.resize(64, 33);
        assert!(matches!(
            decrypt(&k, V0_APPID, &raw_encrypt(&k, &body)),
            Err(WeChatError::Padding)
        ));
        // Unequal pad bytes: last says 4 but the three before are not 4.
        let mut body = framed(b"hi", V0_APPID, 2);
        body.resize(60, 9);
        body.extend_from_slice(&[1, 2, 3, 4]);
        assert!(matches!(
            decrypt(&k, V0_APPID, &raw_encrypt(&k, &body)),
            Err(WeChatError::Padding)
        ));
    }

    #[test]
    fn length_field_overflowing_the_buffer_is_refused() {
        let k = key(V0_EAK);
        for declared in [100u32, u32::MAX] {
            let mut body = framed(b"hi", V0_APPID, declared);
            let pad = 32 - body.len() % 32;
            body.resize(body.len() + pad, pad as u8);
            assert!(matches!(
                decrypt(&k, V0_APPID, &raw_encrypt(&k, &body)),
                Err(WeChatError::LengthField)
            ));
        }
        // Too short to hold the header at all: 32 bytes of pad 20 leaves 12 < 20.
        let body = [[0u8; 12].as_slice(), [20u8; 20].as_slice()].concat();
        assert!(matches!(
            decrypt(&k, V0_APPID, &raw_encrypt(&k, &body)),
            Err(WeChatError::LengthField)
        ));
    }

    #[test]
    fn ciphertext_length_48_and_empty_are_refused() {
        let k = key(V0_EAK);
        let forty_eight = STANDARD.encode([7u8; 48]);
        assert!(matches!(
            decrypt(&k, V0_APPID, &forty_eight),
            Err(WeChatError::CipherLength(48))
        ));
        assert!(matches!(
            decrypt(&k, V0_APPID, ""),
            Err(WeChatError::CipherLength(0))
        ));
    }

    #[test]
    fn non_canonical_or_garbage_base64_in_encrypt_is_refused() {
        let k = key(V0_EAK);
        assert!(matches!(
            decrypt(&k, V0_APPID, "not base64!!"),
            Err(WeChatError::Base64(_))
        ));
        // Missing '=' padding: the strict engine refuses.
        let unpadded = V0_ENCRYPT.trim_end_matches('=');
        assert!(matches!(
            decrypt(&k, V0_APPID, unpadded),
            Err(WeChatError::Base64(_))
        ));
        // Surrounding whitespace is trimmed (WxJava#1634).
        assert!(decrypt(&k, V0_APPID, &format!("\n {V0_ENCRYPT}\n")).is_ok());
    }

    #[test]
    fn encrypt_uses_a_fresh_prefix_each_time() {
        let k = key(V0_EAK);
        let a = encrypt(&k, V0_APPID, b"same");
        let b = encrypt(&k, V0_APPID, b"same");
        assert_ne!(a, b);
        assert_eq!(decrypt(&k, V0_APPID, &a).unwrap(), b"same");
    }

    proptest! {
        #[test]
        fn encrypt_decrypt_round_trip(msg in proptest::collection::vec(any::<u8>(), 0..600),
                                      app_id in "[A-Za-z0-9_]{0,40}",
                                      random in any::<[u8; 16]>(),
                                      key_bytes in any::<[u8; 32]>()) {
            let k = AesKey(key_bytes);
            let ct = encrypt_with_random(&k, random, &app_id, &msg);
            prop_assert_eq!(STANDARD.decode(&ct).unwrap().len() % 32, 0);
            prop_assert_eq!(decrypt(&k, &app_id, &ct).unwrap(), msg.clone());
            let ct = encrypt(&k, &app_id, &msg);
            prop_assert_eq!(decrypt(&k, &app_id, &ct).unwrap(), msg);
        }

        #[test]
        fn decrypt_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let k = AesKey([3u8; 32]);
            let _ = decrypt(&k, "wx", &STANDARD.encode(&bytes));
        }
    }
}
