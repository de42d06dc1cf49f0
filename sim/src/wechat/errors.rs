//! WeChat's error answers: `errcode` plus the fixed English `errmsg` the platform uses, one
//! constant per code the simulator gives.

use rand::Rng;
use serde_json::{Value, json};

/// A WeChat API error: `errcode` plus the fixed English `errmsg` the platform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WxError {
    pub code: i64,
    pub msg: &'static str,
}

pub(crate) const fn wx(code: i64, msg: &'static str) -> WxError {
    WxError { code, msg }
}

pub(super) const E_INVALID_CREDENTIAL: WxError = wx(
    40001,
    "invalid credential, access_token is invalid or not latest",
);
pub(super) const E_GRANT_TYPE: WxError = wx(40002, "invalid grant_type");
pub(super) const E_OPENID: WxError = wx(40003, "invalid openid");
pub(super) const E_MSGTYPE: WxError = wx(40008, "invalid message type");
pub(super) const E_APPID: WxError = wx(40013, "invalid appid");
pub(super) const E_CHARSET: WxError = wx(
    40033,
    "invalid charset. please check your request, if include \\uxxxx will create fail!",
);
pub(super) const E_TEMPLATE_ID: WxError = wx(40037, "invalid template_id");
pub(super) const E_APPSECRET: WxError = wx(40125, "invalid appsecret");
pub(super) const E_TOKEN_MISSING: WxError = wx(41001, "access_token missing");
pub(super) const E_APPID_MISSING: WxError = wx(41002, "appid missing");
pub(super) const E_SECRET_MISSING: WxError = wx(41004, "appsecret missing");
pub(super) const E_TOKEN_EXPIRED: WxError = wx(42001, "access_token expired");
pub(super) const E_REQUIRE_SUBSCRIBE: WxError = wx(43004, "require subscribe");
pub(super) const E_EMPTY_POST: WxError = wx(44002, "empty post data");
pub(super) const E_EMPTY_CONTENT: WxError = wx(44004, "empty content");
pub(super) const E_ARTICLE_SIZE: WxError = wx(45008, "article size out of limit");
pub(super) const E_DAILY_QUOTA: WxError = wx(45009, "reach max api daily quota limit");
pub(super) const E_MINUTE_QUOTA: WxError = wx(
    45011,
    "api minute-quota reach limit  mustslower  retry next minute",
);
pub(super) const E_OUT_OF_TIME: WxError = wx(
    45015,
    "response out of time limit or subscription is canceled",
);
pub(super) const E_OUT_OF_COUNT: WxError = wx(45047, "out of response count limit");
pub(super) const E_MENU_NOT_EXIST: WxError = wx(46003, "menu no exist");
pub(super) const E_DATA_FORMAT: WxError = wx(47001, "data format error");
pub(super) const E_INVALID_CODE: WxError = wx(40029, "invalid code");
pub(super) const E_CODE_USED: WxError = wx(40163, "code been used");
pub(super) const E_CODE_EXPIRED: WxError = wx(42003, "code expired");
pub(super) const E_TICKET_TYPE: WxError = wx(40097, "invalid args");

pub(super) const E_BUTTON_SIZE: WxError = wx(40016, "invalid button size");
pub(super) const E_BUTTON_TYPE: WxError = wx(40017, "invalid button type");
pub(super) const E_BUTTON_NAME: WxError = wx(40018, "invalid button name size");
pub(super) const E_BUTTON_KEY: WxError = wx(40019, "invalid button key size");
pub(super) const E_BUTTON_URL: WxError = wx(40020, "invalid button url size");
pub(super) const E_SUB_BUTTON_SIZE: WxError = wx(40023, "invalid sub button size");
pub(super) const E_SUB_BUTTON_TYPE: WxError = wx(40024, "invalid sub button type");
pub(super) const E_SUB_BUTTON_NAME: WxError = wx(40025, "invalid sub button name size");
pub(super) const E_SUB_BUTTON_KEY: WxError = wx(40026, "invalid sub button key size");
pub(super) const E_SUB_BUTTON_URL: WxError = wx(40027, "invalid sub button url size");
pub(super) const E_MEDIA_ID: WxError = wx(40007, "invalid media_id");

impl WxError {
    /// The JSON body the platform answers with (HTTP 200), `errmsg` suffixed with a request id
    /// like the real one (` rid: …`).
    pub(super) fn body(self) -> Value {
        let rid: u64 = rand::rng().random();
        json!({
            "errcode": self.code,
            "errmsg": format!("{} rid: {:016x}", self.msg, rid),
        })
    }
}
