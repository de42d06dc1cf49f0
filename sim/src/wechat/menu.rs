//! The custom menu: `menu/create` checked against WeChat's documented limits
//! (docs/wechat-protocol.md §8.6), `menu/get`, `menu/delete`.

use serde_json::{Value, json};

use crate::lock;

use super::errors::{
    E_BUTTON_KEY, E_BUTTON_NAME, E_BUTTON_SIZE, E_BUTTON_TYPE, E_BUTTON_URL, E_DATA_FORMAT,
    E_MEDIA_ID, E_MENU_NOT_EXIST, E_SUB_BUTTON_KEY, E_SUB_BUTTON_NAME, E_SUB_BUTTON_SIZE,
    E_SUB_BUTTON_TYPE, E_SUB_BUTTON_URL,
};
use super::messages::{non_empty_str, parse_body};
use super::{WechatSim, WxError};

impl WechatSim {
    /// `POST cgi-bin/menu/create`: validate against WeChat's limits, then store.
    pub fn menu_create(&self, token: Option<&str>, raw: &[u8], now: i64) -> Result<(), WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let body = parse_body(raw)?;
        validate_menu(&body)?;
        st.menu = Some(body);
        st.menu_id += 1;
        Ok(())
    }

    /// `GET cgi-bin/menu/get` shape: `{"menu":{"button":[…],"menuid":N}}`.
    pub fn menu_get(&self, token: Option<&str>, now: i64) -> Result<Value, WxError> {
        let st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let menu = st.menu.as_ref().ok_or(E_MENU_NOT_EXIST)?;
        Ok(
            json!({"menu": {"button": menu.get("button").cloned().unwrap_or(Value::Null), "menuid": st.menu_id}}),
        )
    }

    /// `GET cgi-bin/menu/delete`.
    pub fn menu_delete(&self, token: Option<&str>, now: i64) -> Result<(), WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        st.menu = None;
        Ok(())
    }

    /// The last menu created (the accepted JSON body), if any.
    pub fn menu(&self) -> Option<Value> {
        lock(&self.st).menu.clone()
    }
}

pub(super) const MENU_TYPES: &[&str] = &[
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "view_limited",
    "miniprogram",
    "article_id",
    "article_view_limited",
];

/// Error codes for one level of the menu: top-level buttons or sub-buttons.
pub(super) struct Level {
    pub(super) name_max: usize,
    pub(super) name: WxError,
    pub(super) kind: WxError,
    pub(super) key: WxError,
    pub(super) url: WxError,
}

pub(super) const TOP: Level = Level {
    name_max: 16,
    name: E_BUTTON_NAME,
    kind: E_BUTTON_TYPE,
    key: E_BUTTON_KEY,
    url: E_BUTTON_URL,
};
pub(super) const SUB: Level = Level {
    name_max: 60,
    name: E_SUB_BUTTON_NAME,
    kind: E_SUB_BUTTON_TYPE,
    key: E_SUB_BUTTON_KEY,
    url: E_SUB_BUTTON_URL,
};

pub(super) fn validate_menu(body: &Value) -> Result<(), WxError> {
    let buttons = body
        .get("button")
        .and_then(Value::as_array)
        .ok_or(E_BUTTON_SIZE)?;
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(E_BUTTON_SIZE);
    }
    for b in buttons {
        if let Some(sub) = b.get("sub_button") {
            check_name(b, &TOP)?;
            let sub = sub.as_array().ok_or(E_SUB_BUTTON_SIZE)?;
            if sub.is_empty() || sub.len() > 5 {
                return Err(E_SUB_BUTTON_SIZE);
            }
            for s in sub {
                check_leaf(s, &SUB)?;
            }
        } else {
            check_leaf(b, &TOP)?;
        }
    }
    Ok(())
}

pub(super) fn check_name(b: &Value, level: &Level) -> Result<(), WxError> {
    // Limits are in UTF-8 bytes: 16 bytes = 5 Chinese characters.
    match b.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n.len() <= level.name_max => Ok(()),
        _ => Err(level.name),
    }
}

pub(super) fn check_leaf(b: &Value, level: &Level) -> Result<(), WxError> {
    check_name(b, level)?;
    let kind = b.get("type").and_then(Value::as_str).ok_or(level.kind)?;
    if !MENU_TYPES.contains(&kind) {
        return Err(level.kind);
    }
    let str_len = |k: &str| b.get(k).and_then(Value::as_str).map(str::len);
    match kind {
        "click" | "scancode_push" | "scancode_waitmsg" | "pic_sysphoto" | "pic_photo_or_album"
        | "pic_weixin" | "location_select" => match str_len("key") {
            Some(n) if n > 0 && n <= 128 => Ok(()),
            _ => Err(level.key),
        },
        "view" | "miniprogram" => {
            match str_len("url") {
                Some(n) if n > 0 && n <= 1024 => {}
                _ => return Err(level.url),
            }
            if kind == "miniprogram"
                && !(non_empty_str(b.get("appid")) && non_empty_str(b.get("pagepath")))
            {
                return Err(E_DATA_FORMAT);
            }
            Ok(())
        }
        "media_id" | "view_limited" => {
            if non_empty_str(b.get("media_id")) {
                Ok(())
            } else {
                Err(E_MEDIA_ID)
            }
        }
        _ => {
            // article_id / article_view_limited
            if non_empty_str(b.get("article_id")) {
                Ok(())
            } else {
                Err(E_DATA_FORMAT)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::{Value, json};

    use crate::wechat::test_support::{errcode, frozen_state};

    use crate::configure;

    #[actix_web::test]
    async fn menu_create_enforces_wechat_limits_and_stores_the_menu() {
        let state = frozen_state();
        let app = app!(state);
        let token = access_token!(app).await;
        let uri = format!("/sim/wechat/cgi-bin/menu/create?access_token={token}");
        let click = |name: &str, key: &str| json!({"type": "click", "name": name, "key": key});
        let cases: Vec<(Value, i64)> = vec![
            (json!({"button": []}), 40016),
            (
                json!({"button": [click("a","a"), click("b","b"), click("c","c"), click("d","d")]}),
                40016,
            ),
            (json!({"button": [click("一卡通服务中", "k")]}), 40018), // 18 bytes > 16
            (json!({"button": [click("一卡通服务", "k")]}), 0),       // 15 bytes
            (
                json!({"button": [{"type": "teleport", "name": "x", "key": "k"}]}),
                40017,
            ),
            (json!({"button": [click("x", &"k".repeat(129))]}), 40019),
            (json!({"button": [{"type": "view", "name": "x"}]}), 40020),
            (
                json!({"button": [{"name": "更多", "sub_button": []}]}),
                40023,
            ),
            (
                json!({"button": [{"name": "更多", "sub_button": [click("1","1"),click("2","2"),click("3","3"),click("4","4"),click("5","5"),click("6","6")]}]}),
                40023,
            ),
            (
                json!({"button": [{"name": "更多", "sub_button": [{"type": "bogus", "name": "x"}]}]}),
                40024,
            ),
            (
                json!({"button": [{"name": "更多", "sub_button": [click(&"很".repeat(21), "k")]}]}),
                40025,
            ),
            (
                json!({"button": [{"name": "更多", "sub_button": [{"type": "view", "name": "x", "url": "u".repeat(1025)}]}]}),
                40027,
            ),
            (
                json!({"button": [{"type": "media_id", "name": "x"}]}),
                40007,
            ),
        ];
        for (menu, code) in &cases {
            assert_eq!(errcode(&post!(app, &uri, menu).await), *code, "{menu}");
        }
        let app_ref = &app;
        // The inspection endpoint: 200 and the menu while one is set, 404 once it is deleted.
        let last_menu_status = move || async move {
            let req = test::TestRequest::get().uri("/sim/wechat/menu");
            test::call_service(app_ref, req.to_request()).await.status()
        };
        assert_eq!(last_menu_status().await, 200);
        let good = json!({"button": [
            click("查余额", "BALANCE"),
            {"name": "服务", "sub_button": [
                click("挂失", "REPORT_LOSS"),
                {"type": "view", "name": "充值", "url": "http://127.0.0.1/h5/topup"},
                {"type": "miniprogram", "name": "小程序", "url": "http://mp.weixin.qq.com", "appid": "wx286b93c14bbf93aa", "pagepath": "pages/index"}
            ]}
        ]});
        assert_eq!(
            post!(app, &uri, &good).await,
            json!({"errcode":0,"errmsg":"ok"})
        );
        assert_eq!(get!(app, "/sim/wechat/menu").await, good);
        let got = get!(
            app,
            &format!("/sim/wechat/cgi-bin/menu/get?access_token={token}")
        )
        .await;
        assert_eq!(got["menu"]["button"], good["button"]);
        assert_eq!(
            errcode(
                &get!(
                    app,
                    &format!("/sim/wechat/cgi-bin/menu/delete?access_token={token}")
                )
                .await
            ),
            0
        );
        assert_eq!(last_menu_status().await, 404);
    }
}
