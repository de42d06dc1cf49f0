//! Callbacks an attacker builds from what a proxy log shows (signature, timestamp, nonce,
//! openid) or from another account's traffic: refused with a specific status and reason, and
//! nothing they ask for happens.

use onecard::wechat::{Event, InboundBody};

use crate::helpers::*;

const ZHANG: &str = "2024000001";

/// The balance text the card simulator holds for `sno` ("52.30").
async fn balance_text(app: &TestApp, sno: &str) -> String {
    let fen = app.sim_account(sno).await["balance_fen"].as_i64().unwrap();
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// A genuine safe-mode callback's URL, as a proxy access log records it.
fn logged_query(app: &TestApp, user: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let xml = app.wx.text_message(user, "帮助").to_xml();
    app.wx
        .platform()
        .seal_inbound(&xml, true, now, "7391", user)
        .0
}

#[tokio::test]
async fn forged_plaintext_unsubscribe_in_safe_mode_is_refused_and_the_binding_stays() {
    let app = spawn_app();
    let victim = openid("victim");
    app.bind(&victim, ZHANG).await;
    let balance = balance_text(&app, ZHANG).await;

    // The attacker keeps signature/timestamp/nonce from a logged URL, drops the encryption
    // parameters and posts a plaintext unsubscribe as the victim: `signature` does not cover
    // the body, so only the mode can refuse it.
    let logged = logged_query(&app, &victim);
    let plain_query: String = logged
        .split('&')
        .filter(|kv| !kv.starts_with("encrypt_type=") && !kv.starts_with("msg_signature="))
        .collect::<Vec<_>>()
        .join("&");
    let forged = app.wx.event_message(&victim, Event::Unsubscribe).to_xml();
    let (status, reason) = app.post_raw(&plain_query, forged).await;
    assert_eq!((status, reason.as_str()), (403, "plaintext refused"));

    // The same with encrypt_type=raw.
    let raw_query = format!("{plain_query}&encrypt_type=raw");
    let forged = app.wx.event_message(&victim, Event::Unsubscribe).to_xml();
    let (status, reason) = app.post_raw(&raw_query, forged).await;
    assert_eq!((status, reason.as_str()), (403, "plaintext refused"));

    // Still bound: the balance is the card's.
    let reply = app.say(&victim, "余额").await;
    assert!(reply.contains(&balance), "binding lost: {reply}");
}

#[tokio::test]
async fn a_message_to_another_account_is_refused() {
    let app = spawn_app();
    let user = openid("account");
    let mut msg = app.wx.text_message(&user, "帮助");
    msg.to_user = "gh_someoneelse01".into();
    let ex = app.wx.send(&msg).await.unwrap();
    assert_eq!((ex.status, ex.body.as_str()), (403, "wrong account"));
    // Addressed to us, the same message is answered.
    msg.to_user = ORIGINAL_ID.into();
    let ex = app.wx.send(&msg).await.unwrap();
    assert_eq!(ex.status, 200, "{}", ex.body);
}

#[tokio::test]
async fn compatible_mode_answers_the_encrypted_message_not_the_plaintext_copy() {
    let app = spawn_app_with(TestOptions {
        settings: |s| s.wechat.mode = Some(onecard::wechat::EncryptionMode::Compatible),
        ..TestOptions::default()
    });
    let (sender, victim) = (openid("compat"), openid("compatvictim"));
    let expected = app.say(&sender, "帮助").await;

    // The encrypted part says "帮助" from `sender`; the plaintext copy beside it claims to be
    // an unsubscribe from `victim`.
    let now = chrono::Utc::now().timestamp();
    let genuine = app.wx.text_message(&sender, "帮助").to_xml();
    let (query, body) = app
        .wx
        .platform()
        .seal_inbound(&genuine, true, now, "5150", &sender);
    let lie = app
        .wx
        .message(&victim, InboundBody::Event(Event::Unsubscribe));
    let lie = lie.to_xml();
    let lie_fields = lie
        .trim_start_matches("<xml>")
        .trim_end_matches("</xml>")
        .replace(
            &format!("<ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"),
            "",
        );
    let compat_body = body.replace("<Encrypt>", &format!("{lie_fields}<Encrypt>"));
    assert_ne!(compat_body, body);
    let (status, sealed) = app.post_raw(&query, compat_body.clone()).await;
    assert_eq!(status, 200, "{sealed}");
    let reply = app.wx.platform().open_reply(&sealed).unwrap().unwrap();
    assert!(
        reply.contains(&format!("<ToUserName><![CDATA[{sender}]]></ToUserName>")),
        "{reply}"
    );
    assert!(
        reply.contains(&format!("<Content><![CDATA[{expected}]]></Content>")),
        "{reply}"
    );

    // In safe mode (the default with a key) the compatible layout is refused outright.
    let safe = spawn_app();
    let (status, reason) = safe.post_raw(&query, compat_body).await;
    assert_eq!(
        (status, reason.as_str()),
        (400, "plaintext fields in safe mode")
    );
}

#[tokio::test]
async fn safe_mode_is_the_default_with_a_key_and_plaintext_is_refused() {
    let app = spawn_app();
    let user = openid("safe");
    let plain = app.wx_plain.text(&user, "帮助").await.unwrap();
    assert_eq!(
        (plain.status, plain.body.as_str()),
        (403, "plaintext refused")
    );
    assert!(app.say(&user, "帮助").await.contains("余额"));
}
