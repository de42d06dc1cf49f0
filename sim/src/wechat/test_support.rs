//! What the WeChat simulator's tests share: the demo credentials, two users, request macros.

use serde_json::{Value, json};

use crate::{SimConfig, SimState};

pub(super) const APPID: &str = "wx5f3a9c1e7b2d4a60";
pub(super) const SECRET: &str = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
pub(super) const ALICE: &str = "oAlice_0123456789abcdefghijk";
pub(super) const BOB: &str = "oBob_0123456789abcdefghijklm";

macro_rules! app {
    ($state:expr) => {
        test::init_service(App::new().configure(configure($state.clone()))).await
    };
}

macro_rules! post_raw {
    ($app:expr, $uri:expr, $body:expr) => {
        async {
            let uri: &str = &$uri;
            let req = test::TestRequest::post()
                .uri(uri)
                .insert_header(("content-type", "application/json"))
                .set_payload($body)
                .to_request();
            let resp = test::call_service(&$app, req).await;
            assert_eq!(resp.status(), 200, "{uri}");
            test::read_body_json::<Value, _>(resp).await
        }
    };
}

macro_rules! post {
    ($app:expr, $uri:expr, $body:expr) => {
        post_raw!($app, $uri, ($body).to_string())
    };
}

macro_rules! get {
    ($app:expr, $uri:expr) => {
        async {
            let uri: &str = &$uri;
            let resp =
                test::call_service(&$app, test::TestRequest::get().uri(uri).to_request()).await;
            test::read_body_json::<Value, _>(resp).await
        }
    };
}

macro_rules! interact {
    ($app:expr, $openid:expr, $kind:expr, $at:expr) => {
        async {
            let at: Option<i64> = $at;
            let mut body = json!({"openid": $openid, "kind": $kind});
            if let Some(at) = at {
                body["at"] = json!(at);
            }
            assert_eq!(errcode(&post!($app, "/sim/wechat/interactions", &body).await), 0);
        }
    };
}

pub(super) fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

pub(super) fn token_uri() -> String {
    format!("/sim/wechat/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}")
}

pub(super) fn text(to: &str, content: &str) -> Value {
    json!({"touser": to, "msgtype": "text", "text": {"content": content}})
}

pub(super) fn send_uri(token: &str) -> String {
    format!("/sim/wechat/cgi-bin/message/custom/send?access_token={token}")
}

pub(super) fn typing_uri(token: &str) -> String {
    format!("/sim/wechat/cgi-bin/message/custom/typing?access_token={token}")
}

pub(super) fn typing_body() -> Value {
    json!({"touser": ALICE, "command": "Typing"})
}

/// A simulator whose business clock stands still (a test moves it with `advance`).
pub(super) fn frozen_state() -> SimState {
    let state = SimState::new(SimConfig::default());
    state.clock().freeze();
    state
}

/// A fresh access token from `cgi-bin/token` with the demo credentials.
macro_rules! access_token {
    ($app:expr) => {
        async {
            get!($app, &$crate::wechat::test_support::token_uri()).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
}
