//! Arbitrary query strings and bodies through `Codec::verify_url` / `Codec::open`: every
//! outcome is `Ok` or a `WeChatError` with a 4xx status, never a panic; nothing unsigned opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onecard::wechat::{CallbackQuery, Codec, CodecConfig};

fuzz_target!(|data: &[u8]| {
    let codec = Codec::new(CodecConfig {
        tokens: vec!["fuzztoken".into()],
        aes_keys: vec!["abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into()],
        app_id: "wxfuzz".into(),
        ..CodecConfig::default()
    })
    .expect("codec");
    let text = String::from_utf8_lossy(data);
    let (qs, body) = text.split_once('\n').unwrap_or((&text, ""));
    let mut q = CallbackQuery::default();
    for pair in qs.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = Some(v.to_owned());
        match k {
            "signature" => q.signature = v,
            "timestamp" => q.timestamp = v,
            "nonce" => q.nonce = v,
            "echostr" => q.echostr = v,
            "openid" => q.openid = v,
            "encrypt_type" => q.encrypt_type = v,
            "msg_signature" => q.msg_signature = v,
            _ => {}
        }
    }
    for result in [
        codec.verify_url(&q, 1_700_000_000).err(),
        codec.open(&q, body.as_bytes(), 1_700_000_000).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!((400..500).contains(&result.status()));
    }
});
