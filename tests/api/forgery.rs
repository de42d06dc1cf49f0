//! Callbacks an attacker builds from what a proxy log shows (signature, timestamp, nonce,
//! openid) or from another account's traffic: refused with a specific status and reason, and
//! nothing they ask for happens.

use std::time::Duration;

use onecard::wechat::{Event, InboundBody};

use crate::helpers::*;

const ZHANG: &str = "2024000001";

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
    app.assert_balance_reply(ZHANG, &reply).await;
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
    assert_eq!((ex.status, text_of(&ex)), (200, help_text()));
}

#[tokio::test]
async fn compatible_mode_answers_the_encrypted_message_not_the_plaintext_copy() {
    let app = spawn_app_with_settings(|s| {
        s.wechat.mode = Some(onecard::wechat::EncryptionMode::Compatible)
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
    assert_passive_text(&reply, &sender, &expected);

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
    assert_eq!(app.say(&user, "帮助").await, help_text());
}

/// What 「慢10」 answers first (the slow rule's first reply).
const SLOW_10_MS: &str = "慢慢来：10 毫秒";

/// Plain mode (no EncodingAESKey) with the slow echo action, which counts its runs.
fn plain_slow_app() -> TestApp {
    spawn_app_with(TestOptions {
        settings: plaintext_mode,
        ..slow_action_options()
    })
}

#[tokio::test]
async fn a_logged_signature_with_another_body_is_refused_and_the_same_body_is_a_retry() {
    let app = plain_slow_app();
    let (sender, victim) = (openid("logged"), openid("loggedvictim"));
    let now = chrono::Utc::now().timestamp();
    let genuine = app.wx_plain.text_message(&sender, "慢10").to_xml();
    let (query, body) = app
        .wx_plain
        .platform()
        .seal_inbound(&genuine, false, now, "80211", &sender);
    let (status, reply) = app.post_raw(&query, body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    assert_passive_text(&reply, &sender, SLOW_10_MS);

    // Someone who read the URL in a proxy log posts their own body under it.
    let forged = app.wx_plain.text_message(&victim, "慢20").to_xml();
    let (status, reason) = app.post_raw(&query, forged).await;
    assert_eq!((status, reason.as_str()), (403, "replayed nonce"));
    assert_eq!(slow_calls(&victim), 0);

    // The same body again is a retry: the remembered answer (encoded anew, so its CreateTime
    // may be a second later), the action not run again.
    let (status, again) = app.post_raw(&query, body).await;
    assert_eq!(status, 200, "{again}");
    assert_passive_text(&again, &sender, SLOW_10_MS);
    assert_eq!(slow_calls(&sender), 1);
}

#[tokio::test]
async fn a_byte_for_byte_replay_after_the_dedup_window_does_not_run_the_action_again() {
    // Small windows stand in for the production 300 s: the request's timestamp is 3 s in the
    // future (inside the 4 s window), so it stays valid for 7 s — longer than the 4 s dedup
    // window. The delivery must be remembered for as long as the request can be replayed.
    let app = spawn_app_with(TestOptions {
        settings: |s| {
            s.wechat.timestamp_window_secs = 4;
            s.sessions.dedup_window_secs = 4;
        },
        ..slow_action_options()
    });
    let user = openid("replay");
    let ts = chrono::Utc::now().timestamp() + 3;
    let xml = app.wx.text_message(&user, "慢10").to_xml();
    let (query, body) = app
        .wx
        .platform()
        .seal_inbound(&xml, true, ts, "60613", &user);
    let (status, first) = app.post_raw(&query, body.clone()).await;
    // The server took the delivery before it answered, so its windows started before this.
    let answered_at = std::time::Instant::now();
    assert_eq!(status, 200, "{first}");
    let open = |sealed: &str| app.wx.platform().open_reply(sealed).unwrap().unwrap();
    assert_passive_text(&open(&first), &user, SLOW_10_MS);
    assert_eq!(slow_calls(&user), 1);

    // Past the dedup window, still inside the timestamp window: the replay is recognised (its
    // reply is kept only for WeChat's retries, so it is answered "success") and the action does
    // not run again.
    tokio::time::sleep_until((answered_at + Duration::from_secs(4)).into()).await;
    let (status, replayed) = app.post_raw(&query, body.clone()).await;
    assert_eq!((status, replayed.as_str()), (200, "success"));
    assert_eq!(slow_calls(&user), 1, "the replay ran the action again");

    // Once the timestamp has left the window the replay is refused outright.
    while chrono::Utc::now().timestamp() <= ts + 4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, reason) = app.post_raw(&query, body).await;
    assert_eq!((status, reason.as_str()), (403, "stale timestamp"));
    assert_eq!(slow_calls(&user), 1);
}

#[test]
fn a_dedup_window_shorter_than_the_timestamp_window_is_refused_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = app_settings(4000, std::path::Path::new("config/rules"), tmp.path());
    settings.sessions.dedup_window_secs = 120;
    let err = actix_rt::System::new()
        .block_on(onecard::startup::Application::build(
            settings,
            onecard::startup::Profile::Demo,
        ))
        .err()
        .expect("start-up must refuse");
    assert_eq!(
        err.to_string(),
        "WeChat settings: sessions.dedup_window_secs (120) must be at least wechat.timestamp_window_secs (300): a replay the timestamp check lets through would run its action again"
    );
}
