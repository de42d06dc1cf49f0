//! The callback as WeChat drives it: verification, every message type, both modes, and every
//! kind of bad request refused with a 4xx.

use onecard::wechat::{Event, InboundBody};

use crate::helpers::*;
use crate::isolation::healthy;

#[tokio::test]
async fn url_verification_echoes_echostr_and_refuses_a_forged_signature() {
    let app = spawn_app();
    let now = chrono::Utc::now().timestamp();
    let query = app
        .wx
        .platform()
        .verify_url_query("4375120948345356249", now, "1514711492");
    let resp = app.get(&format!("/wechat?{query}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "4375120948345356249");

    let forged = query.replace("signature=", "signature=f");
    let resp = app.get(&format!("/wechat?{forged}")).await;
    assert_eq!(
        (resp.status().as_u16(), resp.text().await.unwrap()),
        (403, "bad signature".to_owned())
    );
}

/// An app configured without an EncodingAESKey: plain mode.
fn plain_app() -> TestApp {
    spawn_app_with_settings(plaintext_mode)
}

#[tokio::test]
async fn help_is_answered_in_safe_and_plaintext_mode() {
    let app = spawn_app();
    let plain_app = plain_app();
    let user = openid("help");
    for wx in [&app.wx, &plain_app.wx_plain] {
        let ex = wx.text(&user, "帮助").await.unwrap();
        assert_eq!(ex.status, 200, "{}", ex.body);
        assert_eq!(text_of(&ex), help_text());
    }
    // Safe mode answers with an encrypted envelope (its content checked above, decrypted),
    // plaintext mode with plain XML; only the time, the nonce and what depends on them vary.
    let safe = app.wx.text(&user, "帮助").await.unwrap();
    let [_encrypted, _signature, _time, _nonce] = whole_match(
        r"<xml>\n<Encrypt><!\[CDATA\[([A-Za-z0-9+/]+=*)\]\]></Encrypt>\n<MsgSignature><!\[CDATA\[([0-9a-f]{40})\]\]></MsgSignature>\n<TimeStamp>(\d+)</TimeStamp>\n<Nonce><!\[CDATA\[(\w+)\]\]></Nonce>\n</xml>",
        &safe.body,
    );
    let plain = plain_app.wx_plain.text(&user, "帮助").await.unwrap();
    assert_passive_text(&plain.body, &user, &help_text());
}

/// What kind of message a body is, for [`expected_answer`].
enum Kind {
    /// Voice with WeChat's recognition of 「帮助」.
    RecognisedVoice,
    Subscribe,
    OtherEvent,
    /// Images, video, locations, links: nothing a rule reads.
    Unreadable,
}

fn body_kind(body: &InboundBody) -> Kind {
    match body {
        InboundBody::Voice {
            recognition: Some(_),
            ..
        } => Kind::RecognisedVoice,
        InboundBody::Event(Event::Subscribe { .. }) => Kind::Subscribe,
        InboundBody::Event(_) => Kind::OtherEvent,
        _ => Kind::Unreadable,
    }
}

/// The reply text a first message of this kind from a new user gets; `None`: the bare
/// "success" (no reply).
fn expected_answer(kind: &Kind) -> Option<String> {
    match kind {
        Kind::RecognisedVoice => Some(help_text()),
        Kind::Subscribe => Some(configured_reply("welcome")),
        Kind::OtherEvent => None,
        Kind::Unreadable => Some(DEFAULT_REPLY.to_owned()),
    }
}

#[tokio::test]
async fn every_message_and_event_type_gets_a_protocol_correct_answer() {
    let app = spawn_app();
    let user = openid("types");
    let bodies = vec![
        InboundBody::Image {
            pic_url: "http://x/p.jpg".into(),
            media_id: "m1".into(),
            msg_id: 11,
        },
        InboundBody::Voice {
            media_id: "m2".into(),
            format: "amr".into(),
            recognition: Some("帮助".into()),
            msg_id: 12,
        },
        InboundBody::Video {
            media_id: "m3".into(),
            thumb_media_id: "t3".into(),
            msg_id: 13,
        },
        InboundBody::ShortVideo {
            media_id: "m4".into(),
            thumb_media_id: "t4".into(),
            msg_id: 14,
        },
        InboundBody::Location {
            latitude: 38.88,
            longitude: 121.53,
            scale: 15.0,
            label: "大连理工大学".into(),
            msg_id: 15,
        },
        InboundBody::Link {
            title: "t".into(),
            description: "d".into(),
            url: "http://x".into(),
            msg_id: 16,
        },
        InboundBody::Event(Event::Subscribe {
            scene: None,
            ticket: None,
        }),
        InboundBody::Event(Event::Scan {
            key: "123".into(),
            ticket: Some("T".into()),
        }),
        InboundBody::Event(Event::Location {
            latitude: 38.8,
            longitude: 121.5,
            precision: 30.0,
        }),
        InboundBody::Event(Event::Click {
            key: "NO_SUCH_KEY".into(),
        }),
        InboundBody::Event(Event::View {
            url: "http://x".into(),
            menu_id: Some("1".into()),
        }),
        InboundBody::Event(Event::ScanCode {
            wait_msg: true,
            key: "6".into(),
            scan_type: "qrcode".into(),
            scan_result: "1".into(),
        }),
        InboundBody::Event(Event::Pic {
            kind: "pic_sysphoto".into(),
            key: "6".into(),
            count: 1,
        }),
        InboundBody::Event(Event::LocationSelect {
            key: "6".into(),
            latitude: "23".into(),
            longitude: "113".into(),
            scale: "15".into(),
            label: "x".into(),
            poiname: "".into(),
        }),
        InboundBody::Event(Event::TemplateSendJobFinish {
            msg_id: 200163836,
            status: "success".into(),
        }),
        InboundBody::Event(Event::MassSendJobFinish {
            msg_id: 1000001625,
            status: "err(30003)".into(),
            total: 0,
            filter: 0,
            sent: 0,
            errors: 0,
        }),
    ];
    for body in bodies {
        let label = format!("{body:?}");
        // One user per message: this is about types, not about one user's rate limit.
        let msg = app.wx.message(&openid("types"), body);
        let ex = app.wx.send(&msg).await.unwrap();
        assert_eq!(ex.status, 200, "{label}: {}", ex.body);
        match expected_answer(&body_kind(&msg.body)) {
            Some(text) => assert_eq!(text_of(&ex), text, "{label}"),
            None => assert_eq!(
                (ex.reply.is_none(), ex.body.as_str()),
                (true, "success"),
                "{label}"
            ),
        }
    }
    // Voice with recognition is treated as its text.
    let msg = app.wx.message(
        &user,
        InboundBody::Voice {
            media_id: "m".into(),
            format: "amr".into(),
            recognition: Some("帮助".into()),
            msg_id: 99,
        },
    );
    let msg = app.wx.message(&openid("voice"), msg.body);
    let ex = app.wx.send(&msg).await.unwrap();
    assert_eq!(text_of(&ex), help_text());
    // A subscribe gets the welcome reply.
    let ex = app
        .wx
        .event(
            &openid("sub"),
            Event::Subscribe {
                scene: None,
                ticket: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(text_of(&ex), configured_reply("welcome"), "{}", ex.body);
    // Events nobody answers get "success".
    let ex = app
        .wx
        .event(
            &user,
            Event::Location {
                latitude: 1.0,
                longitude: 2.0,
                precision: 3.0,
            },
        )
        .await
        .unwrap();
    assert_eq!(ex.body, "success");
}

#[tokio::test]
async fn unknown_message_types_are_answered_success() {
    let app = spawn_app();
    let now = chrono::Utc::now().timestamp();
    let xml = format!(
        "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[oUnknownType0000000000000001]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>777</MsgId></xml>"
    );
    let (query, body) =
        app.wx
            .platform()
            .seal_inbound(&xml, true, now, "42", "oUnknownType0000000000000001");
    let (status, text) = app.post_raw(&query, body).await;
    assert_eq!((status, text.as_str()), (200, "success"));
}

#[tokio::test]
async fn bad_requests_are_refused_with_4xx_never_5xx() {
    let Some(app) = spawn_app_alone(TestOptions::default()) else {
        return;
    };
    let refusals = r#"onecard_callback_requests_total{kind="message",outcome="refused"}"#;
    let refusals_before = app.metric(refusals).await;
    let now = chrono::Utc::now().timestamp();
    let user = "oBadRequests0000000000000001";
    let good = app.wx.text_message(user, "帮助").to_xml();
    let refused = |status: u16, reason: &str| (status, reason.to_owned());

    // Forged msg_signature in safe mode.
    let (q, body) = app.wx.platform().seal_inbound(&good, true, now, "1", user);
    let forged = q.replace("msg_signature=", "msg_signature=0");
    assert_eq!(
        app.post_raw(&forged, body.clone()).await,
        refused(403, "bad msg_signature")
    );

    // A stale timestamp (replay of an old capture).
    let (q, body) = app
        .wx
        .platform()
        .seal_inbound(&good, true, now - 3600, "2", user);
    assert_eq!(
        app.post_raw(&q, body).await,
        refused(403, "stale timestamp")
    );

    // Oversized body.
    let huge = format!(
        "<xml><Content><![CDATA[{}]]></Content></xml>",
        "a".repeat(200 * 1024)
    );
    let (q, body) = app
        .wx_plain
        .platform()
        .seal_inbound(&huge, false, now, "3", user);
    let (status, _) = app.post_raw(&q, body).await;
    assert_eq!(status, 413, "oversized");

    // Malformed XML inside a correctly signed and encrypted envelope reaches the parser.
    let (q, body) = app
        .wx
        .platform()
        .seal_inbound("<xml><ToUserName>oops", true, now, "4", user);
    assert_eq!(app.post_raw(&q, body).await, refused(400, "malformed xml"));

    // Entity-laden XML (billion laughs / XXE) is never expanded, inside the envelope or outside.
    let evil = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><xml><ToUserName>a</ToUserName><FromUserName>oEvil</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"#;
    let (q, body) = app.wx.platform().seal_inbound(evil, true, now, "5", user);
    assert_eq!(
        app.post_raw(&q, body).await,
        refused(400, "doctype refused")
    );
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>"#;
    let (q, _) = app.wx.platform().seal_inbound(&good, true, now, "6", user);
    assert_eq!(app.post_raw(&q, xxe).await, refused(400, "doctype refused"));

    // Missing signature parameters.
    assert_eq!(
        app.post_raw("timestamp=1", good.clone()).await,
        refused(400, "missing parameter")
    );
    assert_eq!(
        app.post_raw("", good).await,
        refused(400, "missing parameter")
    );

    // And the platform is still healthy.
    assert_eq!(app.get_json("/healthz").await, healthy(&app));
    // Each refusal is counted, but the oversized body: the body limit answers it before the
    // callback runs.
    assert_eq!(app.metric(refusals).await - refusals_before, 7.0);
}

#[tokio::test]
async fn content_with_cdata_terminator_round_trips() {
    let app = spawn_app_with(TestOptions {
        extra_rules: vec![("test_echo.toml", ECHO_RULE.to_owned())],
        actions: actions_with_echo,
        ..TestOptions::default()
    });
    // The terminator arrives inside the user's text and goes back out inside the reply: the
    // parser must read it as text and the encoder must split the CDATA around it.
    let said = "]]><xml><Content>x</Content>]]>";
    let ex = app
        .wx
        .text(&openid("cdata"), &format!("回声{said}"))
        .await
        .unwrap();
    assert_eq!(ex.status, 200, "{}", ex.body);
    assert_eq!(text_of(&ex), format!("你说：{said}"), "{}", ex.body);
}
