use super::*;
use crate::domain::OpenId;
use crate::wechat::error::WeChatError;
use proptest::prelude::*;

fn parse(xml: &str) -> InboundMessage {
    InboundMessage::parse(xml.as_bytes()).unwrap()
}

fn event(xml: &str) -> Event {
    match parse(xml).body {
        InboundBody::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn text_sample() {
    let m = parse(
        "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1348831860</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[this is a test]]></Content>\n<MsgId>1234567890123456</MsgId>\n</xml>",
    );
    assert_eq!(
        m,
        InboundMessage {
            to_user: "toUser".into(),
            from_user: OpenId::parse("fromUser").unwrap(),
            create_time: 1348831860,
            body: InboundBody::Text {
                content: "this is a test".into(),
                msg_id: 1234567890123456
            },
        }
    );
    assert_eq!(m.dedup_key(), "m:fromUser:1234567890123456");
    assert_eq!(m.kind_label(), "text");
}

#[test]
fn image_sample() {
    let m = parse(
        "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1348831860</CreateTime>\n<MsgType><![CDATA[image]]></MsgType>\n<PicUrl><![CDATA[this is a url]]></PicUrl>\n<MediaId><![CDATA[media_id]]></MediaId>\n<MsgId>1234567890123456</MsgId>\n</xml>",
    );
    assert_eq!(
        m.body,
        InboundBody::Image {
            pic_url: "this is a url".into(),
            media_id: "media_id".into(),
            msg_id: 1234567890123456
        }
    );
}

#[test]
fn voice_sample_with_and_without_recognition() {
    let xml = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1357290913</CreateTime>\n<MsgType><![CDATA[voice]]></MsgType>\n<MediaId><![CDATA[media_id]]></MediaId>\n<Format><![CDATA[Format]]></Format>\n<MsgId>1234567890123456</MsgId>\n</xml>";
    assert_eq!(
        parse(xml).body,
        InboundBody::Voice {
            media_id: "media_id".into(),
            format: "Format".into(),
            recognition: None,
            msg_id: 1234567890123456
        }
    );
    let with = xml.replace(
        "<MsgId>",
        "<Recognition><![CDATA[查余额]]></Recognition>\n<MsgId>",
    );
    assert!(matches!(
        parse(&with).body,
        InboundBody::Voice { recognition: Some(r), .. } if r == "查余额"
    ));
}

#[test]
fn video_and_shortvideo_samples() {
    let video = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1357290913</CreateTime>\n<MsgType><![CDATA[video]]></MsgType>\n<MediaId><![CDATA[media_id]]></MediaId>\n<ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>\n<MsgId>1234567890123456</MsgId>\n</xml>";
    assert_eq!(
        parse(video).body,
        InboundBody::Video {
            media_id: "media_id".into(),
            thumb_media_id: "thumb_media_id".into(),
            msg_id: 1234567890123456
        }
    );
    let short = video.replace("[video]", "[shortvideo]");
    assert_eq!(
        parse(&short).body,
        InboundBody::ShortVideo {
            media_id: "media_id".into(),
            thumb_media_id: "thumb_media_id".into(),
            msg_id: 1234567890123456
        }
    );
    assert_eq!(parse(&short).kind_label(), "shortvideo");
}

#[test]
fn location_sample() {
    let m = parse(
        "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1351776360</CreateTime>\n<MsgType><![CDATA[location]]></MsgType>\n<Location_X>23.134521</Location_X>\n<Location_Y>113.358803</Location_Y>\n<Scale>20</Scale>\n<Label><![CDATA[位置信息]]></Label>\n<MsgId>1234567890123456</MsgId>\n</xml>",
    );
    assert_eq!(
        m.body,
        InboundBody::Location {
            latitude: 23.134521,
            longitude: 113.358803,
            scale: 20.0,
            label: "位置信息".into(),
            msg_id: 1234567890123456
        }
    );
}

#[test]
fn link_sample() {
    let m = parse(
        "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[fromUser]]></FromUserName>\n<CreateTime>1351776360</CreateTime>\n<MsgType><![CDATA[link]]></MsgType>\n<Title><![CDATA[公众平台官网链接]]></Title>\n<Description><![CDATA[公众平台官网链接]]></Description>\n<Url><![CDATA[url]]></Url>\n<MsgId>1234567890123456</MsgId>\n</xml>",
    );
    assert_eq!(
        m.body,
        InboundBody::Link {
            title: "公众平台官网链接".into(),
            description: "公众平台官网链接".into(),
            url: "url".into(),
            msg_id: 1234567890123456
        }
    );
}

#[test]
fn v1_decrypted_text_with_large_msg_id() {
    let m = parse(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>",
    );
    assert_eq!(m.to_user, "gh_10f6c3c3ac5a");
    assert_eq!(
        m.body,
        InboundBody::Text {
            content: "abcdteT".into(),
            msg_id: 6054768590064713728
        }
    );
}

const EV_HEAD: &str = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[FromUser]]></FromUserName>\n<CreateTime>123456789</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n";

#[test]
fn subscribe_plain_and_via_qr() {
    let plain = format!("{EV_HEAD}<Event><![CDATA[subscribe]]></Event>\n</xml>");
    assert_eq!(
        event(&plain),
        Event::Subscribe {
            scene: None,
            ticket: None
        }
    );
    let m = parse(&plain);
    assert_eq!(m.dedup_key(), "e:FromUser:123456789:subscribe:");
    assert_eq!(m.kind_label(), "event_subscribe");

    let empty_key = format!(
        "{EV_HEAD}<Event><![CDATA[subscribe]]></Event>\n<EventKey><![CDATA[]]></EventKey>\n</xml>"
    );
    assert_eq!(
        event(&empty_key),
        Event::Subscribe {
            scene: None,
            ticket: None
        }
    );

    let qr = format!(
        "{EV_HEAD}<Event><![CDATA[subscribe]]></Event>\n<EventKey><![CDATA[qrscene_123123]]></EventKey>\n<Ticket><![CDATA[TICKET]]></Ticket>\n</xml>"
    );
    assert_eq!(
        event(&qr),
        Event::Subscribe {
            scene: Some("123123".into()),
            ticket: Some("TICKET".into())
        }
    );
    assert_eq!(
        parse(&qr).dedup_key(),
        "e:FromUser:123456789:subscribe:qrscene_123123"
    );
}

#[test]
fn unsubscribe_scan_location_click_view() {
    assert_eq!(
        event(&format!(
            "{EV_HEAD}<Event><![CDATA[unsubscribe]]></Event>\n</xml>"
        )),
        Event::Unsubscribe
    );
    let scan = format!(
        "{EV_HEAD}<Event><![CDATA[SCAN]]></Event>\n<EventKey><![CDATA[SCENE_VALUE]]></EventKey>\n<Ticket><![CDATA[TICKET]]></Ticket>\n</xml>"
    );
    assert_eq!(
        event(&scan),
        Event::Scan {
            key: "SCENE_VALUE".into(),
            ticket: Some("TICKET".into())
        }
    );
    assert_eq!(
        parse(&scan).dedup_key(),
        "e:FromUser:123456789:SCAN:SCENE_VALUE"
    );
    assert_eq!(
        event(&format!(
            "{EV_HEAD}<Event><![CDATA[LOCATION]]></Event>\n<Latitude>23.137466</Latitude>\n<Longitude>113.352425</Longitude>\n<Precision>119.385040</Precision>\n</xml>"
        )),
        Event::Location {
            latitude: 23.137466,
            longitude: 113.352425,
            precision: 119.38504
        }
    );
    let click = format!(
        "{EV_HEAD}<Event><![CDATA[CLICK]]></Event>\n<EventKey><![CDATA[EVENTKEY]]></EventKey>\n</xml>"
    );
    assert_eq!(
        event(&click),
        Event::Click {
            key: "EVENTKEY".into()
        }
    );
    assert_eq!(parse(&click).kind_label(), "event_click");
    assert_eq!(
        event(&format!(
            "{EV_HEAD}<Event><![CDATA[VIEW]]></Event>\n<EventKey><![CDATA[www.qq.com]]></EventKey>\n<MenuId>MENUID</MenuId>\n</xml>"
        )),
        Event::View {
            url: "www.qq.com".into(),
            menu_id: Some("MENUID".into())
        }
    );
}

#[test]
fn event_names_are_case_insensitive() {
    assert_eq!(
        event(&format!(
            "{EV_HEAD}<Event><![CDATA[click]]></Event>\n<EventKey><![CDATA[K]]></EventKey>\n</xml>"
        )),
        Event::Click { key: "K".into() }
    );
    assert_eq!(
        event(&format!(
            "{EV_HEAD}<Event><![CDATA[UnSubscribe]]></Event>\n</xml>"
        )),
        Event::Unsubscribe
    );
}

const MENU_HEAD: &str = "<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n<FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\n";

#[test]
fn scancode_push_and_waitmsg() {
    let xml = format!(
        "{MENU_HEAD}<CreateTime>1408090502</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[scancode_push]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n<ScanResult><![CDATA[1]]></ScanResult>\n</ScanCodeInfo>\n</xml>"
    );
    assert_eq!(
        event(&xml),
        Event::ScanCode {
            wait_msg: false,
            key: "6".into(),
            scan_type: "qrcode".into(),
            scan_result: "1".into()
        }
    );
    let wait = xml.replace("scancode_push", "scancode_waitmsg");
    assert!(matches!(
        event(&wait),
        Event::ScanCode { wait_msg: true, .. }
    ));
    assert_eq!(parse(&wait).kind_label(), "event_scancode_waitmsg");
}

#[test]
fn pic_events() {
    let xml = format!(
        "{MENU_HEAD}<CreateTime>1408090651</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[pic_sysphoto]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n<SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList>\n</SendPicsInfo>\n</xml>"
    );
    assert_eq!(
        event(&xml),
        Event::Pic {
            kind: "pic_sysphoto".into(),
            key: "6".into(),
            count: 1
        }
    );
    for kind in ["pic_photo_or_album", "pic_weixin"] {
        assert_eq!(
            event(&xml.replace("pic_sysphoto", kind)),
            Event::Pic {
                kind: kind.into(),
                key: "6".into(),
                count: 1
            }
        );
    }
}

#[test]
fn location_select_event() {
    let xml = format!(
        "{MENU_HEAD}<CreateTime>1408091189</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[location_select]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n<Location_Y><![CDATA[113]]></Location_Y>\n<Scale><![CDATA[15]]></Scale>\n<Label><![CDATA[广州市海珠区客村艺苑路 106号]]></Label>\n<Poiname><![CDATA[]]></Poiname>\n</SendLocationInfo>\n</xml>"
    );
    assert_eq!(
        event(&xml),
        Event::LocationSelect {
            key: "6".into(),
            latitude: "23".into(),
            longitude: "113".into(),
            scale: "15".into(),
            label: "广州市海珠区客村艺苑路 106号".into(),
            poiname: String::new()
        }
    );
}

#[test]
fn job_finish_events() {
    let t = parse(
        "<xml>\n<ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\n<CreateTime>1395658920</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n<MsgID>200163836</MsgID>\n<Status><![CDATA[success]]></Status>\n</xml>",
    );
    assert_eq!(
        t.body,
        InboundBody::Event(Event::TemplateSendJobFinish {
            msg_id: 200163836,
            status: "success".into()
        })
    );
    assert_eq!(t.kind_label(), "event_templatesendjobfinish");
    let m = parse(
        "<xml>\n<ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>\n<FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>\n<CreateTime>1481013459</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[MASSSENDJOBFINISH]]></Event>\n<MsgID>1000001625</MsgID>\n<Status><![CDATA[err(30003)]]></Status>\n<TotalCount>0</TotalCount>\n<FilterCount>0</FilterCount>\n<SentCount>0</SentCount>\n<ErrorCount>0</ErrorCount>\n<CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>\n</xml>",
    );
    assert_eq!(
        m.body,
        InboundBody::Event(Event::MassSendJobFinish {
            msg_id: 1000001625,
            status: "err(30003)".into(),
            total: 0,
            filter: 0,
            sent: 0,
            errors: 0
        })
    );
}

#[test]
fn unknown_event_and_message_types() {
    let e = event(&format!(
        "{EV_HEAD}<Event><![CDATA[subscribe_msg_popup_event]]></Event>\n<SubscribeMsgPopupEvent><List><TemplateId>x</TemplateId></List></SubscribeMsgPopupEvent>\n</xml>"
    ));
    assert_eq!(
        e,
        Event::Unknown {
            event: "subscribe_msg_popup_event".into(),
            key: None
        }
    );
    let m = parse(
        "<xml><ToUserName><![CDATA[a]]></ToUserName><FromUserName><![CDATA[b]]></FromUserName><CreateTime>5</CreateTime><MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>77</MsgId><Title>t</Title></xml>",
    );
    assert_eq!(
        m.body,
        InboundBody::Unknown {
            msg_type: "miniprogrampage".into(),
            msg_id: Some(77)
        }
    );
    assert_eq!(m.kind_label(), "unknown");
    assert_eq!(m.dedup_key(), "m:b:77");
}

#[test]
fn unknown_elements_whitespace_and_escaped_text_are_fine() {
    let m = parse(
        "<?xml version=\"1.0\"?>\n<xml>\n  <ToUserName>gh_x</ToUserName>\n  <FromUserName>o_1</FromUserName>\n  <CreateTime> 1 </CreateTime>\n  <MsgType>text</MsgType>\n  <Content>a &lt;b&gt; &amp; c</Content>\n  <MsgDataId>9</MsgDataId><Idx>1</Idx>\n  <MsgId>2</MsgId>\n</xml>\n",
    );
    assert_eq!(
        m.body,
        InboundBody::Text {
            content: "a <b> & c".into(),
            msg_id: 2
        }
    );
}

#[test]
fn group_separator_in_content_is_stripped_not_fatal() {
    let m = InboundMessage::parse(
            b"<xml><ToUserName><![CDATA[a]]></ToUserName><FromUserName><![CDATA[b]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi\x1dthere\x00]]></Content><MsgId>3</MsgId></xml>",
        )
        .unwrap();
    assert_eq!(
        m.body,
        InboundBody::Text {
            content: "hithere".into(),
            msg_id: 3
        }
    );
}

#[test]
fn doctype_billion_laughs_and_external_entities_are_refused() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"#;
    assert!(matches!(
        InboundMessage::parse(laughs.as_bytes()),
        Err(WeChatError::Doctype)
    ));
    let xxe = r#"<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>"#;
    assert!(matches!(
        InboundMessage::parse(xxe.as_bytes()),
        Err(WeChatError::Doctype)
    ));
    // An undeclared custom entity (no DTD at all) is malformed, never resolved.
    let custom = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>";
    assert!(matches!(
        InboundMessage::parse(custom.as_bytes()),
        Err(WeChatError::MalformedXml(_))
    ));
}

#[test]
fn a_user_typing_markup_gets_parsed_not_refused() {
    let m = InboundMessage::parse(
            b"<xml><ToUserName><![CDATA[a]]></ToUserName><FromUserName><![CDATA[b]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[<!DOCTYPE html> &amp; ]]]]><![CDATA[>]]></Content><MsgId>3</MsgId></xml>",
        )
        .unwrap();
    assert_eq!(
        m.body,
        InboundBody::Text {
            content: "<!DOCTYPE html> &amp; ]]>".into(),
            msg_id: 3
        }
    );
}

#[test]
fn debug_output_never_shows_user_content_or_the_full_openid() {
    let m = InboundMessage {
        to_user: "gh_x".into(),
        from_user: OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap(),
        create_time: 1,
        body: InboundBody::Text {
            content: "绑定 13812345678".into(),
            msg_id: 9,
        },
    };
    let shown = format!("{m:?}");
    assert!(
        !shown.contains("13812345678") && !shown.contains("oyORnuP8"),
        "{shown}"
    );
    assert!(
        shown.contains("…f0rs") && shown.contains("<14 chars>"),
        "{shown}"
    );
    let loc = InboundBody::Event(Event::Location {
        latitude: 23.1,
        longitude: 113.3,
        precision: 1.0,
    });
    assert!(!format!("{loc:?}").contains("23.1"));
}

#[test]
fn malformed_and_incomplete_messages_are_refused() {
    assert!(matches!(
        InboundMessage::parse(b"<xml><ToUserName>a</xml>"),
        Err(WeChatError::MalformedXml(_))
    ));
    assert!(matches!(
        InboundMessage::parse(b"<xml><ToUserName>a</ToUserName></xml>"),
        Err(WeChatError::MissingField("FromUserName"))
    ));
    assert!(matches!(
            InboundMessage::parse(b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType></xml>"),
            Err(WeChatError::MissingField("CreateTime"))
        ));
    assert!(matches!(
        InboundMessage::parse(b"\xff\xfe<xml/>"),
        Err(WeChatError::NotUtf8)
    ));
}

fn arb_text() -> impl Strategy<Value = String> {
    // Any chars except the controls the parser strips by design (and CR, which XML
    // normalizes to LF).
    proptest::string::string_regex("[^\\x00-\\x1f]{0,40}").unwrap()
}

fn arb_body() -> impl Strategy<Value = InboundBody> {
    prop_oneof![
        (arb_text(), any::<u64>())
            .prop_map(|(content, msg_id)| InboundBody::Text { content, msg_id }),
        (arb_text(), arb_text(), any::<u64>()).prop_map(|(pic_url, media_id, msg_id)| {
            InboundBody::Image {
                pic_url,
                media_id,
                msg_id,
            }
        }),
        (arb_text(), -90.0f64..90.0, any::<u64>()).prop_map(|(label, lat, msg_id)| {
            InboundBody::Location {
                latitude: lat,
                longitude: lat * 2.0,
                scale: 15.0,
                label,
                msg_id,
            }
        }),
        arb_text().prop_map(|key| InboundBody::Event(Event::Click { key })),
        "[a-z0-9]{1,10}".prop_map(|s| InboundBody::Event(Event::Subscribe {
            scene: Some(s),
            ticket: Some("T".into())
        })),
        (arb_text(), arb_text()).prop_map(|(scan_type, scan_result)| {
            InboundBody::Event(Event::ScanCode {
                wait_msg: true,
                key: "k".into(),
                scan_type,
                scan_result,
            })
        }),
    ]
}

proptest! {
    #[test]
    fn to_xml_then_parse_round_trips(body in arb_body(), from in "o[A-Za-z0-9_-]{27}", t in 0i64..4_000_000_000) {
        let m = InboundMessage { to_user: "gh_x".into(), from_user: OpenId::parse(&from).unwrap(), create_time: t, body };
        prop_assert_eq!(InboundMessage::parse(m.to_xml().as_bytes()).unwrap(), m);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = InboundMessage::parse(&bytes);
    }
}
