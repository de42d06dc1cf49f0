//! The HTTP face of the WeChat simulator under `/sim/wechat`: the routes, the fault-injection
//! middleware, the JSON answer shape, and the handlers of the API and of the inspection
//! endpoints (`interactions`, `outbox`, `stats`, …).

use std::collections::HashMap;

use actix_web::{HttpResponse, Route, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SimState;
use crate::wechat_mass::{Limits, MassSim};
use onecard_wire::domain::OpenId;

use super::errors::{E_DATA_FORMAT, E_MENU_NOT_EXIST};
use super::media::{media_get, media_upload};
use super::messages::parse_body;
use super::oauth::{oauth_access_token, oauth_authorize, oauth_userinfo};
use super::tokens::IssuedToken;
use super::{InteractionKind, WechatSim, WxError, wx};

pub(super) type Query = web::Query<HashMap<String, String>>;

pub(super) fn reply(result: Result<Value, WxError>) -> HttpResponse {
    let body = result.unwrap_or_else(WxError::body);
    HttpResponse::Ok()
        .content_type("application/json; encoding=utf-8")
        .body(body.to_string())
}

pub(super) fn ok() -> Value {
    json!({"errcode": 0, "errmsg": "ok"})
}

pub(super) fn token_q(q: &Query) -> Option<&str> {
    q.get("access_token").map(String::as_str)
}

/// Fault injection for the WeChat API (`/cgi-bin/...` only; the inspection endpoints never
/// fail): latency, `-1 system error` (HTTP 200, as WeChat answers when busy), hangs and lost
/// responses, per `[sim.faults.wechat]` / `POST /sim/faults/wechat`; `ops` limits them to some
/// endpoints (`message/template/send`: a template delivered whose answer is lost).
pub(crate) async fn faults_mw(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use crate::faults::Outcome;
    let state = req.app_data::<web::Data<SimState>>().cloned();
    let Some(state) = state.filter(|_| req.path().contains("/cgi-bin/")) else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let plan = state
        .faults()
        .plan_for("wechat", Some(req.path()), state.clock().now());
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let busy = || reply(Err(wx(-1, "system error")));
    match plan.outcome {
        Outcome::Proceed => next.call(req).await.map(|r| r.map_into_boxed_body()),
        Outcome::Error | Outcome::Down => Ok(req.into_response(busy())),
        Outcome::RateLimited => {
            Ok(req.into_response(reply(Err(wx(45009, "reach max api daily quota limit")))))
        }
        Outcome::Hang(d) => {
            tokio::time::sleep(d).await;
            Ok(req.into_response(HttpResponse::ServiceUnavailable().finish()))
        }
        Outcome::LoseResponse => {
            let done = next.call(req).await?;
            let (req, _) = done.into_parts();
            Ok(actix_web::dev::ServiceResponse::new(
                req,
                HttpResponse::ServiceUnavailable().finish(),
            ))
        }
    }
}

/// Routes of this simulator, to be mounted under `/sim/wechat`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    let (get, post) = (web::get, web::post);
    cfg.route(
        "/cgi-bin/token",
        cgi(get(), |wx, q, _, now| {
            let g = |k: &str| q.get(k).map(String::as_str);
            wx.fetch_token(g("grant_type"), g("appid"), g("secret"), now)
                .map(issued)
        }),
    )
    .route("/cgi-bin/stable_token", cgi(post(), stable_token))
    .route(
        "/cgi-bin/message/custom/send",
        cgi(post(), |wx, q, raw, now| {
            wx.custom_send(token_q(q), raw, now).map(|()| ok())
        }),
    )
    .route(
        "/cgi-bin/message/custom/typing",
        cgi(post(), |wx, q, _, now| {
            wx.token_status(token_q(q).unwrap_or(""), now)
                .map(|()| ok())
        }),
    )
    .route(
        "/cgi-bin/message/template/send",
        cgi(post(), |wx, q, raw, now| {
            wx.template_send(token_q(q), raw, now)
                .map(|msgid| json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
        }),
    )
    .route(
        "/cgi-bin/menu/create",
        cgi(post(), |wx, q, raw, now| {
            wx.menu_create(token_q(q), raw, now).map(|()| ok())
        }),
    )
    .route(
        "/cgi-bin/menu/get",
        cgi(get(), |wx, q, _, now| wx.menu_get(token_q(q), now)),
    )
    .route(
        "/cgi-bin/menu/delete",
        cgi(get(), |wx, q, _, now| {
            wx.menu_delete(token_q(q), now).map(|()| ok())
        }),
    )
    .route(
        "/cgi-bin/ticket/getticket",
        cgi(get(), |wx, q, _, now| {
            wx.jsapi_ticket(token_q(q), q.get("type").map(String::as_str), now)
        }),
    )
    .route("/connect/oauth2/authorize", get().to(oauth_authorize))
    .route("/sns/oauth2/access_token", get().to(oauth_access_token))
    .route("/sns/userinfo", get().to(oauth_userinfo))
    .route(
        "/cgi-bin/clear_quota",
        cgi(post(), |wx, q, raw, now| {
            let body = parse_body(raw)?;
            wx.mass(token_q(q), now)?
                .clear_quota(&wx.cfg.app_id, &body, now)
                .map(|()| ok())
        }),
    )
    .route(
        "/cgi-bin/tags/create",
        cgi(post(), |wx, q, raw, now| {
            let body = parse_body(raw)?;
            wx.mass(token_q(q), now)?.create_tag(&body)
        }),
    )
    .route(
        "/cgi-bin/tags/get",
        cgi(get(), |wx, q, _, now| {
            wx.mass(token_q(q), now).map(MassSim::tags)
        }),
    )
    .route(
        "/cgi-bin/tags/members/batchtagging",
        cgi(post(), |wx, q, raw, now| {
            let body = parse_body(raw)?;
            wx.mass(token_q(q), now)?.tag_users(&body).map(|()| ok())
        }),
    )
    .route(
        "/cgi-bin/message/mass/sendall",
        cgi(post(), |wx, q, raw, now| {
            wx.mass_sendall(token_q(q), raw, now)
        }),
    )
    .route(
        "/cgi-bin/message/mass/get",
        cgi(post(), |wx, q, raw, now| {
            let body = parse_body(raw)?;
            wx.mass(token_q(q), now)?.mass_status(&body)
        }),
    )
    .route("/interactions", post().to(interactions))
    .route("/followers", post().to(followers))
    .route("/limits", get().to(limits_get))
    .route("/limits", post().to(limits_set))
    .route("/received", get().to(received))
    .route("/mass", get().to(mass_records))
    .route("/menu", get().to(last_menu))
    .route("/outbox", get().to(outbox))
    .route("/stats", get().to(stats))
    .route("/expire_tokens", post().to(expire_tokens))
    .route("/cgi-bin/media/get", get().to(media_get))
    .route("/media", post().to(media_upload));
}

/// One WeChat API call: the simulator, the query string (`access_token` and the like), the
/// body (empty for a GET) and the simulated time in; WeChat's JSON answer or error out.
type CgiCall = fn(&WechatSim, &Query, &[u8], i64) -> Result<Value, WxError>;

/// The handler of a `/cgi-bin` call that needs nothing beyond what [`CgiCall`] gets: read the
/// clock, run the call, answer as WeChat does (HTTP 200, errors in `errcode`).
fn cgi(method: Route, call: CgiCall) -> Route {
    method.to(
        move |state: web::Data<SimState>, q: Query, raw: web::Bytes| async move {
            let now = state.clock().now();
            reply(call(state.wechat(), &q, &raw, now))
        },
    )
}

pub(super) fn issued(t: IssuedToken) -> Value {
    json!({"access_token": t.access_token, "expires_in": t.expires_in})
}

#[derive(Deserialize)]
pub(super) struct StableTokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

fn stable_token(wx: &WechatSim, _: &Query, raw: &[u8], now: i64) -> Result<Value, WxError> {
    let b = parse_body(raw)
        .and_then(|v| serde_json::from_value::<StableTokenBody>(v).map_err(|_| E_DATA_FORMAT))?;
    wx.stable_token(
        b.grant_type.as_deref(),
        b.appid.as_deref(),
        b.secret.as_deref(),
        b.force_refresh,
        now,
    )
    .map(issued)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InteractionBody {
    openid: String,
    kind: InteractionKind,
    at: Option<i64>,
}

pub(super) async fn interactions(state: web::Data<SimState>, raw: web::Bytes) -> HttpResponse {
    let body: InteractionBody = match serde_json::from_slice(&raw) {
        Ok(b) => b,
        Err(e) => {
            return HttpResponse::BadRequest().json(json!({"error": e.to_string()}));
        }
    };
    if OpenId::parse(&body.openid).is_err() {
        return HttpResponse::BadRequest().json(json!({"error": "invalid openid"}));
    }
    let at = body.at.unwrap_or_else(|| state.clock().now());
    state
        .wechat()
        .record_interaction(&body.openid, body.kind, at);
    HttpResponse::Ok().json(ok())
}

pub(super) async fn last_menu(state: web::Data<SimState>) -> HttpResponse {
    match state.wechat().menu() {
        Some(menu) => HttpResponse::Ok().json(menu),
        None => HttpResponse::NotFound().json(E_MENU_NOT_EXIST.body()),
    }
}

pub(super) async fn outbox(state: web::Data<SimState>, q: Query) -> HttpResponse {
    match q.get("openid") {
        Some(openid) => HttpResponse::Ok().json(state.wechat().outbox(openid)),
        None => HttpResponse::BadRequest().json(json!({"error": "openid is required"})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FollowersBody {
    openids: Vec<String>,
}

/// `POST /sim/wechat/followers {"openids":[…]}`: these people follow the account (the
/// WeChat side of a deployment that already has followers).
pub(super) async fn followers(
    state: web::Data<SimState>,
    body: web::Json<FollowersBody>,
) -> HttpResponse {
    if body.openids.iter().any(|o| OpenId::parse(o).is_err()) {
        return HttpResponse::BadRequest().json(json!({"error": "invalid openid"}));
    }
    state
        .wechat()
        .mass_inspection()
        .add_followers(&body.openids);
    HttpResponse::Ok().json(ok())
}

pub(super) async fn limits_get(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.wechat().mass_inspection().limits())
}

/// `POST /sim/wechat/limits`: replace the quotas and rates (fields left out take WeChat's
/// defaults).
pub(super) async fn limits_set(state: web::Data<SimState>, raw: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<Limits>(&raw) {
        Ok(limits) => {
            state.wechat().mass_inspection().set_limits(limits.clone());
            HttpResponse::Ok().json(limits)
        }
        Err(e) => HttpResponse::BadRequest().json(json!({"error": e.to_string()})),
    }
}

/// `GET /sim/wechat/received?kind=template&contains=…`: per openid, how many such messages
/// it received; `{"users":N,"messages":M,"counts":{openid:n}}`.
pub(super) async fn received(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let counts = state.wechat().received(
        q.get("kind").map(String::as_str),
        q.get("contains").map(String::as_str),
    );
    HttpResponse::Ok().json(json!({
        "users": counts.len(),
        "messages": counts.values().sum::<u64>(),
        "counts": counts,
    }))
}

pub(super) async fn mass_records(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.wechat().mass_inspection().mass_records())
}

pub(super) async fn stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.wechat().stats())
}

pub(super) async fn expire_tokens(state: web::Data<SimState>) -> HttpResponse {
    let now = state.clock().now();
    state.wechat().expire_tokens(now);
    HttpResponse::Ok().json(ok())
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::{Value, json};

    use crate::wechat::test_support::{ALICE, errcode, frozen_state, token_uri};

    use crate::configure;

    #[actix_web::test]
    async fn wechat_faults_answer_system_error_but_spare_inspection() {
        let state = frozen_state();
        let app = app!(state);
        state
            .faults()
            .set(
                "wechat",
                crate::Faults {
                    error_rate: 1.0,
                    ..Default::default()
                },
            )
            .unwrap();
        let v = get!(app, token_uri()).await;
        assert_eq!(errcode(&v), -1);
        assert_eq!(get!(app, "/sim/wechat/stats").await["token_fetches"], 0);
        state
            .faults()
            .set("wechat", crate::Faults::default())
            .unwrap();
        assert_eq!(get!(app, token_uri()).await["expires_in"], 7200);
    }

    /// A template delivered whose answer is lost, and the same send again: WeChat keeps one
    /// message per openid + `client_msg_id`, so the user has one and the stats say the second
    /// was absorbed. The fault limited to `message/template/send` spares the token call.
    #[actix_web::test]
    async fn a_lost_template_answer_sent_again_with_its_client_msg_id_is_delivered_once() {
        let state = frozen_state();
        let app = app!(state);
        let token = access_token!(app).await;
        let lose_template_answers = crate::Faults {
            lost_response_rate: 1.0,
            ops: vec!["message/template/send".into()],
            ..Default::default()
        };
        state.faults().set("wechat", lose_template_answers).unwrap();
        let uri = format!("/sim/wechat/cgi-bin/message/template/send?access_token={token}");
        let send = json!({"touser": ALICE, "template_id": "TPL-alert", "client_msg_id": "onecard-reply-7",
                          "data": {"content": {"value": "【大额消费提醒】"}}});
        let req = test::TestRequest::post()
            .uri(&uri)
            .set_json(&send)
            .to_request();
        let lost = test::call_service(&app, req).await;
        assert_eq!(lost.status(), 503);
        assert_eq!(errcode(&get!(app, token_uri()).await), 0);

        state
            .faults()
            .set("wechat", crate::Faults::default())
            .unwrap();
        let again = post!(app, &uri, &send).await;
        assert_eq!(errcode(&again), 0);
        let outbox = get!(app, format!("/sim/wechat/outbox?openid={ALICE}")).await;
        assert_eq!(outbox.as_array().unwrap().len(), 1, "{outbox}");
        assert_eq!(outbox[0]["client_msg_id"], "onecard-reply-7");
        let stats = get!(app, "/sim/wechat/stats").await;
        assert_eq!(
            (&stats["template_sent"], &stats["template_deduplicated"]),
            (&json!(1), &json!(1))
        );
    }
}
