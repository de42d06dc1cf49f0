//! The property behind every fuzz target, written once: `fuzz_targets/*.rs` feed it
//! libFuzzer's bytes (`scripts/fuzz.sh`), and `tests/api/fuzz_smoke.rs` feeds it proptest's
//! values on every `cargo test`, so a panic on a path the fuzzer found is caught in CI too.
//!
//! Each check must return for any input (a panic is the bug) and asserts what must hold for
//! inputs it accepts: our own output parses back, only correctly signed messages verify, and
//! every refusal is the kind of error its caller maps to a 4xx or a diagnostic.

use std::path::Path;

use base64::Engine;
use onecard::actions::ActionRegistry;
use onecard::wechat::crypto::{AesKey, decrypt, encrypt_with_random};
use onecard::wechat::reply::{parse_passive, passive_xml};
use onecard::wechat::{CallbackQuery, Codec, CodecConfig, InboundMessage, Reply};
use onecard::wire;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// "Now" for every check that has a clock: fixed, so a failure replays exactly.
pub const NOW: i64 = 1_764_062_400;

/// Any bytes as a decrypted callback body: `InboundMessage::parse` returns, and whatever it
/// accepts survives `to_xml` → `parse` unchanged in kind and sender.
pub fn inbound_xml(data: &[u8]) {
    if let Ok(m) = InboundMessage::parse(data) {
        let again = InboundMessage::parse(m.to_xml().as_bytes()).expect("own XML parses");
        assert_eq!(again.from_user, m.from_user);
        assert_eq!(again.kind_label(), m.kind_label());
    }
}

/// Any bytes as a ciphertext under a fixed key: strict decryption returns. An even first byte
/// sends the rest through base64 (exercising the AES, padding and length checks), an odd one
/// uses it as raw `Encrypt` text (the base64 checks). Our own encryption always decrypts back.
pub fn encrypted_envelope(data: &[u8]) {
    let key = AesKey::parse(AES_KEY).expect("key");
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let b64 = base64::engine::general_purpose::STANDARD.encode(rest);
        let _ = decrypt(&key, APP_ID, &b64);
    } else {
        let _ = decrypt(&key, APP_ID, &String::from_utf8_lossy(rest));
    }
    let ct = encrypt_with_random(&key, [7; 16], APP_ID, rest);
    assert_eq!(decrypt(&key, APP_ID, &ct).expect("round trip"), rest);
}

/// A query string, a newline, then a body, through `Codec::verify_url` / `Codec::open`: every
/// refusal is a 4xx, never a panic.
pub fn query_signature(data: &[u8]) {
    let codec = Codec::new(CodecConfig {
        tokens: vec!["fuzztoken".into()],
        aes_keys: vec![AES_KEY.into()],
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
        codec.verify_url(&q, NOW).err(),
        codec.open(&q, body.as_bytes(), NOW).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            onecard::http::callback::refusal_status(&result).is_client_error(),
            "{result:?}"
        );
    }
}

/// Any text as reply content: the passive reply XML parses back to the same text, minus the
/// control characters XML forbids and with CR normalised by XML's line-end rule.
pub fn reply_cdata(text: &str) {
    let xml = passive_xml("oUser", "gh_account", 1, &Reply::Text(text.to_owned()));
    let (to, reply) = parse_passive(&xml).expect("own reply parses");
    assert_eq!(to, "oUser");
    // Controls are dropped first (by the writer), then XML's line-end rule applies (reader).
    let kept: String = text
        .chars()
        .filter(|&c| !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}'))
        .collect();
    let expected = kept.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(reply, Reply::Text(expected));
}

fn upstream_credentials() -> wire::Credentials {
    wire::Credentials::new("onecard-fuzz", "fuzz-secret")
}

/// An upstream's answer as the client sees it: status, the `X-Request-Id` we sent, the
/// `X-Timestamp` and `X-Signature` headers as text, and the body. Verification and envelope
/// decoding return; a forged signature never verifies; the same answer signed with our
/// credentials verifies exactly when its timestamp is inside the window.
pub fn upstream_response(
    status: u16,
    request_id: &str,
    timestamp_header: &str,
    body: &[u8],
    signature: &str,
) {
    let creds = upstream_credentials();
    let timestamp = timestamp_header.trim().parse::<i64>().ok();
    if let Some(ts) = timestamp {
        let forged = wire::verify_response(&creds, status, request_id, ts, body, signature, NOW);
        let genuine = wire::sign_response(&creds, status, request_id, ts, body);
        if !signature.eq_ignore_ascii_case(&genuine) {
            assert!(forged.is_err(), "a forged response signature verified");
        }
        let signed = wire::verify_response(&creds, status, request_id, ts, body, &genuine, NOW);
        let in_window = ts
            .checked_sub(NOW)
            .is_some_and(|d| d.unsigned_abs() <= wire::TIMESTAMP_WINDOW_SECS.unsigned_abs());
        assert_eq!(signed.is_ok(), in_window, "ts {ts}: {signed:?}");
    }
    if let Ok(envelope) = serde_json::from_slice::<wire::Envelope<serde_json::Value>>(body) {
        let _ = envelope.error_code();
    }
}

/// A request as the upstream (our simulators, a school's gateway) sees it: any method, path,
/// header values and body. Verification returns a typed refusal, never a panic, and only the
/// request we sign ourselves is accepted — once; its replay is refused.
pub fn upstream_request(method: &str, path: &str, header_values: [&str; 5], body: &[u8]) {
    let creds = upstream_credentials();
    let guard = wire::ReplayGuard::new(16);
    let [app_key, timestamp, nonce, signature, idempotency_key] = header_values;
    let headers: Vec<(&str, &str)> = vec![
        (wire::headers::APP_KEY, app_key),
        (wire::headers::TIMESTAMP, timestamp),
        (wire::headers::NONCE, nonce),
        (wire::headers::SIGNATURE, signature),
        (wire::headers::IDEMPOTENCY_KEY, idempotency_key),
    ];
    let forged = wire::verify_request(&creds, method, path, headers.as_slice(), body, NOW, &guard);
    if let Ok(ts) = timestamp.trim().parse::<i64>() {
        let genuine = wire::sign_request(&creds, method, path, body, ts, nonce.trim());
        if !signature.trim().eq_ignore_ascii_case(&genuine.signature) {
            assert!(forged.is_err(), "a forged request verified");
        }
    }
    let _ = forged.map_err(|e| e.code());

    let nonce = "fuzz-nonce-0123456789";
    let signed = wire::sign_request(&creds, method, path, body, NOW, nonce);
    let pairs = signed.pairs();
    let fresh = wire::ReplayGuard::new(16);
    let verify = || wire::verify_request(&creds, method, path, &pairs, body, NOW, &fresh);
    assert_eq!(verify(), Ok(creds.clone()));
    assert_eq!(verify(), Err(wire::WireError::NonceReplayed));
}

/// Any text as one rule file beside the shipped message tables: loading returns a table or
/// diagnostics that point into a file (line and column from 1) with a message; a table that
/// loads answers a lookup.
pub fn rule_file(dir: &Path, text: &str) {
    std::fs::write(dir.join("fuzz.toml"), text).expect("write the rule file");
    match onecard::rules::load_dir(dir, &ActionRegistry::builtin()) {
        Ok(table) => {
            let now = chrono::DateTime::from_timestamp(NOW, 0)
                .expect("NOW is a valid time")
                .naive_utc();
            let _ = onecard::rules::explain(&table, &onecard::rules::Trigger::Text("余额"), now);
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            for d in diagnostics {
                assert!(d.line >= 1 && d.col >= 1, "{d}");
                assert!(!d.message.is_empty(), "{d}");
            }
        }
    }
}

/// Copy the shipped message tables (`config/rules/*messages.toml`, which actions require) into
/// `dir`, so `rule_file` exercises validation and not only "missing message".
pub fn prepare_rules_dir(shipped: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("rules dir");
    for entry in std::fs::read_dir(shipped).expect("shipped rules") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with("messages.toml") {
            std::fs::copy(&path, dir.join(name)).expect("copy message table");
        }
    }
}
