//! The protocol half of the callback path for one safe-mode text message: verify the
//! `msg_signature`, decrypt, parse, build the passive reply and encrypt it — each step alone and
//! end to end through `Codec::open` + `passive_xml` + `Codec::seal`. Rule matching is measured
//! separately (`benches/rules_match.rs`).
//!
//! Run: `cargo bench --bench callback_path`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use onecard::domain::OpenId;
use onecard::wechat::crypto::{self, AesKey};
use onecard::wechat::platform::Platform;
use onecard::wechat::reply::passive_xml;
use onecard::wechat::{
    CallbackQuery, Codec, CodecConfig, InboundBody, InboundMessage, Mode, Reply, signature,
};

const TOKEN: &str = "onecardtoken";
const EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx2c2769f8efd9abc2";
const NOW: i64 = 1_764_000_000;
const NONCE: &str = "1320562132";

fn query_of(qs: &str) -> CallbackQuery {
    let mut q = CallbackQuery::default();
    for pair in qs.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let v = Some(v.to_owned());
        match k {
            "signature" => q.signature = v,
            "timestamp" => q.timestamp = v,
            "nonce" => q.nonce = v,
            "openid" => q.openid = v,
            "encrypt_type" => q.encrypt_type = v,
            "msg_signature" => q.msg_signature = v,
            _ => {}
        }
    }
    q
}

fn bench(c: &mut Criterion) {
    let platform = Platform::new(TOKEN, Some(EAK), APP_ID).expect("platform");
    let codec = Codec::new(CodecConfig {
        tokens: vec![TOKEN.into()],
        aes_keys: vec![EAK.into()],
        app_id: APP_ID.into(),
        ..CodecConfig::default()
    })
    .expect("codec");
    let key = AesKey::parse(EAK).expect("key");
    let message = InboundMessage {
        to_user: "gh_onecard0demo".into(),
        from_user: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").expect("openid"),
        create_time: NOW,
        body: InboundBody::Text {
            content: "余额".into(),
            msg_id: 6054768590064713728,
        },
    };
    let inner_xml = message.to_xml();
    let (qs, body) =
        platform.seal_inbound(&inner_xml, true, NOW, NONCE, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    let query = query_of(&qs);
    let encrypt = crypto::encrypt(&key, APP_ID, inner_xml.as_bytes());
    let msg_sig = signature::sign(&[TOKEN, &NOW.to_string(), NONCE, &encrypt]);
    let reply = Reply::Text("校园卡余额 123.45 元（截至 10:00）".into());
    let reply_xml = passive_xml(message.from_user.as_str(), &message.to_user, NOW, &reply);
    let ts = NOW.to_string();

    let mut g = c.benchmark_group("callback_path");
    g.bench_function("verify_msg_signature", |b| {
        b.iter(|| {
            signature::verify(
                black_box(&msg_sig),
                &[TOKEN, &ts, NONCE, black_box(&encrypt)],
            )
        })
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| crypto::decrypt(&key, APP_ID, black_box(&encrypt)).expect("decrypt"))
    });
    g.bench_function("parse", |b| {
        b.iter(|| InboundMessage::parse(black_box(inner_xml.as_bytes())).expect("parse"))
    });
    g.bench_function("reply_xml", |b| {
        b.iter(|| {
            passive_xml(
                message.from_user.as_str(),
                &message.to_user,
                NOW,
                black_box(&reply),
            )
        })
    });
    g.bench_function("encrypt_reply", |b| {
        b.iter(|| {
            codec.seal(
                &Mode::Safe { key_index: 0 },
                black_box(&reply_xml),
                NONCE,
                NOW,
            )
        })
    });
    g.bench_function("end_to_end", |b| {
        b.iter(|| {
            let opened = codec
                .open(black_box(&query), black_box(body.as_bytes()), NOW)
                .expect("open");
            let xml = passive_xml(
                opened.message.from_user.as_str(),
                &opened.message.to_user,
                NOW,
                &reply,
            );
            codec.seal_reply(&opened.mode, opened.token_index, &xml, NONCE, NOW)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
