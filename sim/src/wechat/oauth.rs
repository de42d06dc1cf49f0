//! Web authorization (网页授权): the browser's `connect/oauth2/authorize` step, one-time codes,
//! `sns/oauth2/access_token` and `sns/userinfo`.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::{SimState, lock};
use onecard_wire::domain::OpenId;

use super::errors::{
    E_APPSECRET, E_CODE_EXPIRED, E_CODE_USED, E_GRANT_TYPE, E_INVALID_CODE, E_INVALID_CREDENTIAL,
    E_OPENID,
};
use super::http::{Query, reply, token_q};
use super::tokens::new_token;
use super::{DEFAULT_OAUTH_OPENID, OAUTH_CODE_TTL_SECS, WechatSim, WxError};

#[derive(Clone, Debug)]
pub(super) struct OAuthGrant {
    pub(super) openid: String,
    pub(super) scope: String,
    pub(super) snapshot: bool,
    pub(super) issued_at: i64,
    pub(super) used: bool,
}

impl WechatSim {
    /// The authorize step (the user's WeChat client + consent): a one-time code for `openid`.
    pub fn oauth_authorize(&self, openid: &str, scope: &str, snapshot: bool, now: i64) -> String {
        let code = new_token()[..32].to_owned();
        let mut st = lock(&self.st);
        st.oauth_codes
            .retain(|_, g| now - g.issued_at < OAUTH_CODE_TTL_SECS * 2);
        st.oauth_codes.insert(
            code.clone(),
            OAuthGrant {
                openid: openid.to_owned(),
                scope: scope.to_owned(),
                snapshot,
                issued_at: now,
                used: false,
            },
        );
        code
    }

    /// `GET sns/oauth2/access_token`: exchange a code once, within 5 minutes.
    pub fn oauth_exchange(
        &self,
        appid: Option<&str>,
        secret: Option<&str>,
        code: Option<&str>,
        grant_type: Option<&str>,
        now: i64,
    ) -> Result<Value, WxError> {
        if grant_type != Some("authorization_code") {
            return Err(E_GRANT_TYPE);
        }
        self.check_credentials(Some("client_credential"), appid, secret, E_APPSECRET)?;
        let mut st = lock(&self.st);
        let grant = st
            .oauth_codes
            .get_mut(code.unwrap_or(""))
            .ok_or(E_INVALID_CODE)?;
        if grant.used {
            return Err(E_CODE_USED);
        }
        if now - grant.issued_at >= OAUTH_CODE_TTL_SECS {
            return Err(E_CODE_EXPIRED);
        }
        grant.used = true;
        let grant = grant.clone();
        let token = new_token();
        st.oauth_tokens.insert(token.clone(), grant.openid.clone());
        let mut v = json!({
            "access_token": token,
            "expires_in": 7200,
            "refresh_token": new_token(),
            "openid": grant.openid,
            "scope": grant.scope,
        });
        if grant.snapshot {
            v["is_snapshotuser"] = json!(1);
        }
        Ok(v)
    }

    /// `GET sns/userinfo` for a web-auth token.
    pub fn oauth_userinfo(
        &self,
        token: Option<&str>,
        openid: Option<&str>,
    ) -> Result<Value, WxError> {
        let st = lock(&self.st);
        let owner = st
            .oauth_tokens
            .get(token.unwrap_or(""))
            .ok_or(E_INVALID_CREDENTIAL)?;
        if Some(owner.as_str()) != openid {
            return Err(E_OPENID);
        }
        Ok(json!({
            "openid": owner,
            "nickname": "微信用户",
            "headimgurl": "",
            "privilege": [],
        }))
    }
}

pub(super) fn cookie<'a>(req: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    let raw = req.headers().get("cookie")?.to_str().ok()?;
    raw.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// `GET /sim/wechat/connect/oauth2/authorize?appid=&redirect_uri=&response_type=code&scope=&state=`
/// — what the user's WeChat client does: checks the parameters (in WeChat's order), then
/// redirects to `redirect_uri?code=CODE&state=STATE` at once (no consent page). The signed-in
/// user is `sim_openid` from the query or a cookie (the demo playground sets it), else
/// [`DEFAULT_OAUTH_OPENID`]; `sim_snapshot=1` simulates a 快照页 virtual user.
pub(super) async fn oauth_authorize(
    state: web::Data<SimState>,
    req: actix_web::HttpRequest,
    q: Query,
) -> HttpResponse {
    let keys: Vec<&str> = req
        .query_string()
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .filter(|k| !k.starts_with("sim_"))
        .collect();
    let bad = |why: &str| {
        HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!("微信授权参数错误: {why}"))
    };
    if keys != ["appid", "redirect_uri", "response_type", "scope", "state"] {
        return bad("参数顺序必须是 appid, redirect_uri, response_type, scope, state");
    }
    if q.get("appid") != Some(&state.wechat().cfg.app_id) {
        return bad("appid 错误 (10016)");
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return bad("response_type 必须是 code");
    }
    let scope = q.get("scope").cloned().unwrap_or_default();
    if scope != "snsapi_base" && scope != "snsapi_userinfo" {
        return bad("scope 错误 (10005)");
    }
    let st = q.get("state").cloned().unwrap_or_default();
    if st.len() > 128 || !st.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return bad("state 只能是字母和数字，最长 128 字节");
    }
    let Some(redirect) = q
        .get("redirect_uri")
        .filter(|r| r.starts_with("http://") || r.starts_with("https://") || r.starts_with('/'))
    else {
        return bad("redirect_uri 错误 (10003)");
    };
    let openid = q
        .get("sim_openid")
        .map(String::as_str)
        .or_else(|| cookie(&req, "sim_openid"))
        .filter(|o| OpenId::parse(o).is_ok())
        .unwrap_or(DEFAULT_OAUTH_OPENID)
        .to_owned();
    let snapshot = q.get("sim_snapshot").map(String::as_str) == Some("1");
    let code = state
        .wechat()
        .oauth_authorize(&openid, &scope, snapshot, state.clock().now());
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{sep}code={code}&state={st}");
    HttpResponse::Found()
        .insert_header(("location", location))
        .finish()
}

pub(super) async fn oauth_access_token(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    let g = |k: &str| q.get(k).map(String::as_str);
    reply(
        state
            .wechat()
            .oauth_exchange(g("appid"), g("secret"), g("code"), g("grant_type"), now),
    )
}

pub(super) async fn oauth_userinfo(state: web::Data<SimState>, q: Query) -> HttpResponse {
    reply(
        state
            .wechat()
            .oauth_userinfo(token_q(&q), q.get("openid").map(String::as_str)),
    )
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::Value;

    use crate::wechat::test_support::{ALICE, APPID, BOB, SECRET, errcode, frozen_state};

    use crate::configure;

    /// Where the authorize step redirected the browser.
    fn location_of<B>(resp: &actix_web::dev::ServiceResponse<B>) -> String {
        resp.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// The one-time code in a redirect's query.
    fn code_of(location: &str) -> String {
        location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned()
    }

    /// `sns/oauth2/access_token` for `code` with the demo credentials.
    fn exchange_uri(code: &str) -> String {
        format!(
            "/sim/wechat/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code={code}&grant_type=authorization_code"
        )
    }

    #[actix_web::test]
    async fn oauth_code_is_single_use_and_names_the_signed_in_user() {
        let state = frozen_state();
        let app = app!(state);
        let authorize = |extra: &str| {
            format!(
                "/sim/wechat/connect/oauth2/authorize?appid={APPID}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fh5%2Fbind%3Ffrom%3Dmenu&response_type=code&scope=snsapi_base&state=abc123{extra}"
            )
        };
        let req = test::TestRequest::get()
            .uri(&authorize(&format!("&sim_openid={ALICE}")))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), 302);
        let location = location_of(&resp);
        assert!(
            location.starts_with("http://127.0.0.1:8080/h5/bind?from=menu&code="),
            "{location}"
        );
        assert!(location.ends_with("&state=abc123"));
        let code = code_of(&location);
        let exchange = exchange_uri(&code);
        let v = get!(app, exchange).await;
        assert_eq!(v["openid"], ALICE);
        assert_eq!(v["scope"], "snsapi_base");
        assert_eq!(v["expires_in"], 7200);
        assert!(v.get("is_snapshotuser").is_none());
        let user = get!(
            app,
            format!(
                "/sim/wechat/sns/userinfo?access_token={}&openid={ALICE}",
                v["access_token"].as_str().unwrap()
            )
        )
        .await;
        assert_eq!(user["openid"], ALICE);
        assert_eq!(errcode(&get!(app, exchange).await), 40163);
        let bogus = format!(
            "/sim/wechat/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code=nope&grant_type=authorization_code"
        );
        assert_eq!(errcode(&get!(app, bogus).await), 40029);

        // Cookie-named user, snapshot flag, expiry after 5 minutes.
        let req = test::TestRequest::get()
            .uri(&authorize("&sim_snapshot=1"))
            .insert_header(("cookie", format!("theme=dark; sim_openid={BOB}")))
            .to_request();
        let location = location_of(&test::call_service(&app, req).await);
        let code = code_of(&location);
        state.clock().advance(300);
        let late = exchange_uri(&code);
        assert_eq!(errcode(&get!(app, late).await), 42003);
        let req = test::TestRequest::get()
            .uri(&authorize("&sim_snapshot=1"))
            .insert_header(("cookie", format!("sim_openid={BOB}")))
            .to_request();
        let location = location_of(&test::call_service(&app, req).await);
        let code = code_of(&location);
        let v = get!(app, exchange_uri(&code)).await;
        assert_eq!(
            (v["openid"].as_str(), v["is_snapshotuser"].as_i64()),
            (Some(BOB), Some(1))
        );

        // WeChat checks the parameter order.
        let wrong = format!(
            "/sim/wechat/connect/oauth2/authorize?redirect_uri=http%3A%2F%2Fx%2F&appid={APPID}&response_type=code&scope=snsapi_base&state=s"
        );
        let resp =
            test::call_service(&app, test::TestRequest::get().uri(&wrong).to_request()).await;
        assert_eq!(resp.status(), 400);

        // JS-SDK ticket needs a valid access token.
        let token = access_token!(app).await;
        let t = get!(
            app,
            format!("/sim/wechat/cgi-bin/ticket/getticket?access_token={token}&type=jsapi")
        )
        .await;
        assert_eq!((errcode(&t), t["expires_in"].as_i64()), (0, Some(7200)));
        assert_eq!(t["ticket"].as_str().unwrap().len(), 86);
        assert_eq!(
            errcode(
                &get!(
                    app,
                    "/sim/wechat/cgi-bin/ticket/getticket?access_token=x&type=jsapi"
                )
                .await
            ),
            40001
        );
    }
}
