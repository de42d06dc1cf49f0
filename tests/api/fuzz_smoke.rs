//! Every fuzz target's property (fuzz/src/lib.rs) on a few hundred proptest inputs per
//! `cargo test`: random bytes plus inputs shaped like the real thing (callback XML, signed
//! upstream headers, rule files), so a panic on a path the fuzzer explores is caught in CI. The
//! long runs are `scripts/fuzz.sh`.

#[path = "../../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;

use checks::NOW;

/// A TOML string literal holding `s`, whatever it contains.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn inbound_xml_like() -> impl Strategy<Value = Vec<u8>> {
    let msg_type = prop_oneof![
        Just("text".to_owned()),
        Just("event".to_owned()),
        Just("image".to_owned()),
        Just("voice".to_owned()),
        Just("location".to_owned()),
        ".{0,8}",
    ];
    let event = prop_oneof![
        Just("subscribe".to_owned()),
        Just("unsubscribe".to_owned()),
        Just("CLICK".to_owned()),
        Just("SCAN".to_owned()),
        ".{0,8}",
    ];
    (
        ".{0,30}",
        msg_type,
        prop_oneof![any::<i64>().prop_map(|t| t.to_string()), ".{0,12}"],
        event,
        ".{0,40}",
        ".{0,40}",
    )
        .prop_map(|(from, kind, time, event, key, content)| {
            format!(
                "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>\
                 <FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{time}</CreateTime>\
                 <MsgType><![CDATA[{kind}]]></MsgType><Event><![CDATA[{event}]]></Event>\
                 <EventKey><![CDATA[{key}]]></EventKey><Content><![CDATA[{content}]]></Content>\
                 <MsgId>1</MsgId></xml>"
            )
            .into_bytes()
        })
}

fn query_and_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        Just("signature"),
        Just("timestamp"),
        Just("nonce"),
        Just("echostr"),
        Just("openid"),
        Just("encrypt_type"),
        Just("msg_signature"),
    ];
    let value = prop_oneof![
        "[0-9a-f]{40}",
        (NOW - 400..NOW + 400).prop_map(|t| t.to_string()),
        Just("aes".to_owned()),
        ".{0,40}",
    ];
    (vec((key, value), 0..8), ".{0,200}").prop_map(|(pairs, body)| {
        let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}\n{body}", qs.join("&")).into_bytes()
    })
}

/// `X-Timestamp` as text: near now, anywhere in i64, or not a number.
fn timestamp_header() -> impl Strategy<Value = String> {
    prop_oneof![
        (NOW - 600..NOW + 600).prop_map(|t| t.to_string()),
        any::<i64>().prop_map(|t| t.to_string()),
        // The extremes, whose window arithmetic would overflow if it were unchecked.
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        ".{0,20}",
    ]
}

fn signature_header() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-fA-F]{64}", ".{0,80}"]
}

fn envelope_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..200),
        (any::<u32>(), ".{0,20}", ".{0,20}").prop_map(|(code, msg, rid)| {
            serde_json::json!({"code": code, "message": msg, "request_id": rid, "data": {"a": 1}})
                .to_string()
                .into_bytes()
        }),
    ]
}

/// One `[[rule]]` with a random trigger, action and template, or free text.
fn rule_file_like() -> impl Strategy<Value = String> {
    let trigger = prop_oneof![
        Just("exact"),
        Just("contains"),
        Just("prefix"),
        Just("suffix"),
        Just("regex"),
        Just("click"),
        Just("scan"),
    ];
    // Weighted towards rules that load, so the table-building and matching paths run too.
    let action = prop_oneof![
        4 => Just(String::new()),
        2 => Just("balance".to_owned()),
        1 => Just("transactions".to_owned()),
        1 => "[a-z_]{1,12}",
    ];
    let reply = prop_oneof![
        4 => "[\\p{Han}a-z0-9 ，。]{1,20}",
        2 => Just("余额 {{ balance_yuan }} 元".to_owned()),
        1 => Just("{% for x in items %}{{ x }}{% endfor %}".to_owned()),
        1 => Just("{{ unknown_field | upper }}".to_owned()),
        1 => ".{0,30}",
    ];
    let extra = prop_oneof![
        4 => Just(String::new()),
        2 => Just("requires_binding = true".to_owned()),
        1 => any::<i64>().prop_map(|p| format!("priority = {p}")),
        1 => ".{0,20}".prop_map(|w| format!("[rule.window]\nfrom = {}\n", toml_str(&w))),
    ];
    let keyword = prop_oneof![4 => "[\\p{Han}a-z0-9]{1,6}", 1 => ".{0,10}"];
    let rule = (
        prop_oneof![4 => "[a-z][a-z_]{0,9}", 1 => "[a-z_]{0,10}"],
        trigger,
        vec(keyword, 0..3),
        action,
        reply,
        extra,
    )
        .prop_map(|(id, trigger, keys, action, reply, extra)| {
            let keys: Vec<String> = keys.iter().map(|k| toml_str(k)).collect();
            let action = if action.is_empty() {
                String::new()
            } else {
                format!("action = {}\n", toml_str(&action))
            };
            format!(
                "[[rule]]\nid = {}\n{trigger} = [{}]\n{action}reply = {}\n{extra}\n",
                toml_str(&id),
                keys.join(", "),
                toml_str(&reply),
            )
        });
    prop_oneof![
        3 => vec(rule, 1..4).prop_map(|rules| rules.concat()),
        1 => ".{0,300}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inbound_xml_never_panics(data in prop_oneof![vec(any::<u8>(), 0..400), inbound_xml_like()]) {
        checks::inbound_xml(&data);
    }

    #[test]
    fn encrypted_envelope_never_panics(data in vec(any::<u8>(), 0..300)) {
        checks::encrypted_envelope(&data);
    }

    #[test]
    fn query_signature_never_panics(data in prop_oneof![vec(any::<u8>(), 0..300), query_and_body()]) {
        checks::query_signature(&data);
    }

    #[test]
    fn reply_cdata_never_panics(text in any::<String>()) {
        checks::reply_cdata(&text);
    }

    #[test]
    fn upstream_response_never_panics(
        status in any::<u16>(),
        request_id in "[A-Za-z0-9_-]{0,40}",
        timestamp in timestamp_header(),
        body in envelope_like(),
        signature in signature_header(),
    ) {
        checks::upstream_response(status, &request_id, &timestamp, &body, &signature);
    }

    #[test]
    fn upstream_request_never_panics(
        method in prop_oneof![Just("POST".to_owned()), Just("GET".to_owned()), ".{0,8}"],
        path in prop_oneof!["/api/v1/[a-z/_]{0,30}(\\?[a-z0-9=&]{0,20})?", ".{0,40}"],
        app_key in prop_oneof![Just("onecard-fuzz".to_owned()), ".{0,20}"],
        timestamp in timestamp_header(),
        nonce in prop_oneof!["[A-Za-z0-9_-]{0,70}", ".{0,20}"],
        signature in signature_header(),
        idempotency_key in prop_oneof!["[A-Za-z0-9_-]{0,40}", ".{0,20}"],
        body in vec(any::<u8>(), 0..200),
    ) {
        let headers = [
            app_key.as_str(),
            timestamp.as_str(),
            nonce.as_str(),
            signature.as_str(),
            idempotency_key.as_str(),
        ];
        checks::upstream_request(&method, &path, headers, &body);
    }
}

proptest! {
    // Each case writes a file and loads a directory: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rule_file_never_panics(text in rule_file_like()) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rules");
        checks::prepare_rules_dir(Path::new("config/rules"), &dir);
        checks::rule_file(&dir, &text);
    }
}

#[test]
fn every_shipped_rule_file_loads_beside_the_message_tables() {
    // The fuzz corpus starts from these; each must load on its own, or the fuzzer only ever
    // explores error paths.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rules");
    checks::prepare_rules_dir(Path::new("config/rules"), &dir);
    for entry in std::fs::read_dir("config/rules").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with("messages.toml") || !name.ends_with(".toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(dir.join("fuzz.toml"), &text).unwrap();
        let loaded = onecard::rules::load_dir(&dir, &onecard::actions::ActionRegistry::builtin());
        assert!(loaded.is_ok(), "{name}: {:?}", loaded.err());
    }
}
