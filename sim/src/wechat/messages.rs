//! Customer-service messages: the window a user action opens (5 pushes in 48 h after a
//! message, 3 in 1 minute after a click / subscribe / scan), `message/custom/send` with its body
//! checks, and the outbox tests read what was pushed from.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::errors::{
    E_ARTICLE_SIZE, E_CHARSET, E_DATA_FORMAT, E_EMPTY_CONTENT, E_EMPTY_POST, E_MEDIA_ID, E_MSGTYPE,
    E_OPENID, E_OUT_OF_COUNT, E_OUT_OF_TIME,
};
use super::{
    EVENT_WINDOW_PUSHES, EVENT_WINDOW_SECS, Grant, InteractionKind, MESSAGE_WINDOW_PUSHES,
    MESSAGE_WINDOW_SECS, WechatSim, WxError, WxState,
};
use crate::lock;
use onecard_wire::domain::OpenId;

impl WechatSim {
    /// A user action reported by the WeChat side. Out-of-order reports older than the window
    /// already open are ignored.
    pub fn record_interaction(&self, openid: &str, kind: InteractionKind, at: i64) {
        // Only followers can write, click or scan; mass sends reach followers.
        match kind {
            InteractionKind::Unsubscribe => self.mass.unfollow(openid),
            _ => self.mass.follow(openid),
        }
        let mut st = lock(&self.st);
        let user = st.users.entry(openid.to_owned()).or_default();
        let (slot, secs, pushes) = match kind {
            InteractionKind::Message => (
                &mut user.message,
                MESSAGE_WINDOW_SECS,
                MESSAGE_WINDOW_PUSHES,
            ),
            InteractionKind::Click | InteractionKind::Scan => {
                (&mut user.event, EVENT_WINDOW_SECS, EVENT_WINDOW_PUSHES)
            }
            InteractionKind::Subscribe => {
                user.unsubscribed = false;
                (&mut user.event, EVENT_WINDOW_SECS, EVENT_WINDOW_PUSHES)
            }
            InteractionKind::Unsubscribe => {
                user.unsubscribed = true;
                user.message = None;
                user.event = None;
                return;
            }
        };
        if slot.is_none_or(|g| g.opened_at <= at) {
            *slot = Some(Grant {
                opened_at: at,
                until: at.saturating_add(secs),
                left: pushes,
            });
        }
    }

    /// Take one push from the user's open windows (the one closing first), or say why not.
    pub(super) fn consume_window(st: &mut WxState, openid: &str, now: i64) -> Result<(), WxError> {
        let Some(user) = st.users.get_mut(openid) else {
            return Err(E_OUT_OF_TIME);
        };
        let mut open: Vec<&mut Grant> = [user.event.as_mut(), user.message.as_mut()]
            .into_iter()
            .flatten()
            .filter(|g| g.opened_at <= now && now < g.until)
            .collect();
        if open.is_empty() {
            return Err(E_OUT_OF_TIME);
        }
        open.sort_by_key(|g| g.until);
        match open.into_iter().find(|g| g.left > 0) {
            Some(g) => {
                g.left -= 1;
                Ok(())
            }
            None => Err(E_OUT_OF_COUNT),
        }
    }

    /// `POST cgi-bin/message/custom/send`.
    pub fn custom_send(&self, token: Option<&str>, raw: &[u8], now: i64) -> Result<(), WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let body = parse_body(raw)?;
        let openid = touser(&body)?;
        validate_custom(&body)?;
        if let Err(e) = Self::consume_window(&mut st, &openid, now) {
            st.stats.custom_refused += 1;
            metrics::counter!("onecard_sim_wechat_custom_refused_total", "errcode" => e.code.to_string())
                .increment(1);
            return Err(e);
        }
        st.stats.custom_sent += 1;
        push_outbox(&mut st, &openid, body, "custom", now);
        Ok(())
    }

    /// Messages pushed to `openid`, oldest first.
    pub fn outbox(&self, openid: &str) -> Vec<Value> {
        lock(&self.st)
            .outbox
            .get(openid)
            .cloned()
            .unwrap_or_default()
    }

    /// How many messages of `kind` (`template`, `custom`, `mass`; any when `None`) containing
    /// `needle` in their JSON each openid received.
    pub fn received(&self, kind: Option<&str>, needle: Option<&str>) -> BTreeMap<String, u64> {
        let st = lock(&self.st);
        let mut out = BTreeMap::new();
        for (openid, messages) in &st.outbox {
            let n = messages
                .iter()
                .filter(|m| kind.is_none_or(|k| m["kind"] == k))
                .filter(|m| needle.is_none_or(|n| m.to_string().contains(n)))
                .count() as u64;
            if n > 0 {
                out.insert(openid.clone(), n);
            }
        }
        out
    }
}

pub(super) fn push_outbox(st: &mut WxState, openid: &str, mut body: Value, kind: &str, now: i64) {
    if let Some(obj) = body.as_object_mut() {
        obj.insert("kind".to_owned(), json!(kind));
        obj.insert("at".to_owned(), json!(now));
    }
    st.outbox.entry(openid.to_owned()).or_default().push(body);
}

/// WeChat refuses `\uXXXX` escapes of non-ASCII characters (40033): Chinese must be sent as
/// raw UTF-8. ASCII control-character escapes are what every JSON encoder emits and pass.
pub(super) fn has_non_ascii_escape(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            if raw.get(i + 1) == Some(&b'u')
                && let Some(hex) = raw.get(i + 2..i + 6)
                && let Ok(s) = std::str::from_utf8(hex)
                && let Ok(cp) = u32::from_str_radix(s, 16)
                && cp >= 0x80
            {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

pub(super) fn parse_body(raw: &[u8]) -> Result<Value, WxError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(E_EMPTY_POST);
    }
    if has_non_ascii_escape(raw) {
        return Err(E_CHARSET);
    }
    let v: Value = serde_json::from_slice(raw).map_err(|_| E_DATA_FORMAT)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(E_DATA_FORMAT)
    }
}

pub(super) fn touser(body: &Value) -> Result<String, WxError> {
    let raw = body.get("touser").and_then(Value::as_str).ok_or(E_OPENID)?;
    OpenId::parse(raw).map_err(|_| E_OPENID)?;
    Ok(raw.to_owned())
}

pub(super) fn non_empty_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

pub(super) fn validate_custom(body: &Value) -> Result<(), WxError> {
    let msgtype = body
        .get("msgtype")
        .and_then(Value::as_str)
        .ok_or(E_MSGTYPE)?;
    let payload = body.get(msgtype);
    let field = |k: &str| payload.and_then(|p| p.get(k));
    match msgtype {
        "text" => {
            if !non_empty_str(field("content")) {
                return Err(E_EMPTY_CONTENT);
            }
        }
        "news" => {
            let articles = field("articles")
                .and_then(Value::as_array)
                .ok_or(E_DATA_FORMAT)?;
            if articles.len() != 1 {
                return Err(E_ARTICLE_SIZE);
            }
            if !articles.iter().all(|a| non_empty_str(a.get("title"))) {
                return Err(E_DATA_FORMAT);
            }
        }
        "image" | "voice" | "mpnews" | "video" => {
            if !non_empty_str(field("media_id")) {
                return Err(E_MEDIA_ID);
            }
        }
        "music" | "msgmenu" | "wxcard" | "miniprogrampage" => {
            if !payload.is_some_and(Value::is_object) {
                return Err(E_DATA_FORMAT);
            }
        }
        _ => return Err(E_MSGTYPE),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::{Value, json};

    use crate::wechat::test_support::{ALICE, BOB, errcode, frozen_state, send_uri, text};

    use crate::configure;

    #[actix_web::test]
    async fn user_message_allows_five_pushes_then_45047_and_closes_after_48h() {
        let state = frozen_state();
        let app = app!(state);
        let token = access_token!(app).await;
        let v = post!(app, &send_uri(&token), &text(ALICE, "余额 12.30 元")).await;
        assert_eq!(errcode(&v), 45015);
        assert!(
            v["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("response out of time limit")
        );

        interact!(app, ALICE, "message", None).await;
        for i in 0..5 {
            let v = post!(app, &send_uri(&token), &text(ALICE, &format!("第{i}条"))).await;
            assert_eq!(v, json!({"errcode":0,"errmsg":"ok"}));
        }
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(ALICE, "第6条")).await),
            45047
        );
        // A new message gives a fresh allowance.
        interact!(app, ALICE, "message", None).await;
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(ALICE, "再来")).await),
            0
        );
        // An old message reported late does not reopen anything.
        let now = state.clock().now();
        interact!(app, BOB, "message", Some(now - 48 * 3600)).await;
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(BOB, "迟到")).await),
            45015
        );
        interact!(app, BOB, "message", Some(now - 48 * 3600 + 10)).await;
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(BOB, "刚好")).await),
            0
        );
        state.clock().advance(10);
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(BOB, "过期")).await),
            45015
        );

        let stats = get!(app, "/sim/wechat/stats").await;
        assert_eq!(
            stats,
            json!({"token_fetches":1,"custom_sent":7,"custom_refused":4,"template_sent":0,"template_refused":0,"template_deduplicated":0,"mass_delivered":0})
        );
    }

    #[actix_web::test]
    async fn menu_click_allows_three_pushes_within_one_minute() {
        let state = frozen_state();
        let app = app!(state);
        let token = access_token!(app).await;
        for kind in ["click", "subscribe", "scan"] {
            let openid = format!("o{kind}_0123456789abcdefghij");
            interact!(app, &openid, kind, None).await;
            for _ in 0..3 {
                assert_eq!(
                    errcode(&post!(app, &send_uri(&token), &text(&openid, "好的")).await),
                    0
                );
            }
            assert_eq!(
                errcode(&post!(app, &send_uri(&token), &text(&openid, "第4条")).await),
                45047,
                "{kind}"
            );
        }
        // Window closes after 60 s even with pushes left.
        interact!(app, ALICE, "click", None).await;
        state.clock().advance(60);
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(ALICE, "晚了")).await),
            45015
        );
        // A click inside an open 48-h window consumes the short window first.
        interact!(app, BOB, "message", None).await;
        interact!(app, BOB, "click", None).await;
        for _ in 0..8 {
            assert_eq!(
                errcode(&post!(app, &send_uri(&token), &text(BOB, "ok")).await),
                0
            );
        }
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(BOB, "no")).await),
            45047
        );
        // Unsubscribe closes everything; templates then need a subscription.
        interact!(app, BOB, "unsubscribe", None).await;
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(BOB, "no")).await),
            45015
        );
        let tmpl =
            json!({"touser": BOB, "template_id": "T1", "data": {"keyword1": {"value": "x"}}});
        let uri = format!("/sim/wechat/cgi-bin/message/template/send?access_token={token}");
        assert_eq!(errcode(&post!(app, &uri, &tmpl).await), 43004);
    }

    #[actix_web::test]
    async fn outbox_lists_custom_and_template_messages_oldest_first_and_dedups_templates() {
        let state = frozen_state();
        let app = app!(state);
        let token = access_token!(app).await;
        interact!(app, ALICE, "message", None).await;
        let t0 = state.clock().now();
        assert_eq!(
            errcode(&post!(app, &send_uri(&token), &text(ALICE, "查询中……")).await),
            0
        );
        state.clock().advance(2);
        let tmpl = json!({
            "touser": ALICE, "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
            "client_msg_id": "MSG_000001",
            "data": {"keyword1": {"value": "充值成功"}, "keyword2": {"value": "50.00元"}}
        });
        let uri = format!("/sim/wechat/cgi-bin/message/template/send?access_token={token}");
        let first = post!(app, &uri, &tmpl).await;
        assert_eq!(first, json!({"errcode":0,"errmsg":"ok","msgid":200228332}));
        state.clock().advance(599);
        assert_eq!(
            post!(app, &uri, &tmpl).await,
            first,
            "retry within 10 min is deduplicated"
        );
        state.clock().advance(1);
        assert_eq!(
            post!(app, &uri, &tmpl).await["msgid"],
            200228333,
            "after 10 min it is new"
        );
        let news = json!({"touser": ALICE, "msgtype": "news", "news": {"articles": [{"title": "消费明细", "description": "近7天", "url": "http://x/h5", "picurl": ""}]}});
        assert_eq!(errcode(&post!(app, &send_uri(&token), &news).await), 0);

        let out = get!(app, &format!("/sim/wechat/outbox?openid={ALICE}")).await;
        let out = out.as_array().unwrap();
        assert_eq!(out.len(), 4);
        // `at` is the simulated clock, which also ticks with the wall clock during the test.
        let at = |i: usize| out[i]["at"].as_i64().unwrap();
        assert!((t0..=t0 + 1).contains(&at(0)));
        assert_eq!(
            out[0],
            json!({"touser": ALICE, "msgtype": "text", "text": {"content": "查询中……"}, "kind": "custom", "at": at(0)})
        );
        assert!((t0 + 2..=t0 + 3).contains(&at(1)));
        let mut expected = tmpl.clone();
        expected["kind"] = json!("template");
        expected["at"] = json!(at(1));
        assert_eq!(out[1], expected, "the accepted body plus kind and at");
        assert!((600..=601).contains(&(at(2) - at(1))));
        assert_eq!(out[3]["msgtype"], "news");
        assert_eq!(
            get!(app, &format!("/sim/wechat/outbox?openid={BOB}")).await,
            json!([])
        );
        assert_eq!(state.wechat().stats().template_sent, 2);
    }

    #[actix_web::test]
    async fn bad_message_bodies_get_wechat_error_codes() {
        let state = frozen_state();
        let app = app!(state);
        let token = access_token!(app).await;
        interact!(app, ALICE, "message", None).await;
        let uri = send_uri(&token);
        let escaped = r#"{"touser":"oAlice_0123456789abcdefghijk","msgtype":"text","text":{"content":"\u4f60\u597d"}}"#;
        assert_eq!(
            errcode(&post_raw!(app, &uri, escaped.to_owned()).await),
            40033
        );
        assert_eq!(
            errcode(&post_raw!(app, &uri, "{not json".to_owned()).await),
            47001
        );
        assert_eq!(errcode(&post_raw!(app, &uri, String::new()).await), 44002);
        assert_eq!(
            errcode(&post!(app, &uri, &text("bad openid!", "x")).await),
            40003
        );
        assert_eq!(errcode(&post!(app, &uri, &text(ALICE, "")).await), 44004);
        assert_eq!(
            errcode(&post!(app, &uri, &json!({"touser": ALICE, "msgtype": "fax"})).await),
            40008
        );
        let two = json!({"touser": ALICE, "msgtype": "news", "news": {"articles": [{"title": "a"}, {"title": "b"}]}});
        assert_eq!(errcode(&post!(app, &uri, &two).await), 45008);
        // None of these consumed the window.
        assert_eq!(state.wechat().outbox(ALICE).len(), 0);
        assert_eq!(state.wechat().stats().custom_refused, 0);
    }
}
