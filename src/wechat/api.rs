//! Client of WeChat's outbound HTTP API: access tokens, customer-service messages, template
//! messages, user tags and mass sends (群发), the custom menu and temporary media downloads
//! (docs/wechat-protocol.md §8.1–8.4, 8.6, 8.9).
//!
//! Why it exists: the pusher, the token keeper and the menu command need typed calls with one
//! error model. Success and failure are decided on `errcode` in the JSON body, never on the
//! HTTP status or `errmsg` text (§8.1). The base URL is configurable so the simulator can
//! stand in for `https://api.weixin.qq.com`.
//!
//! It must never log the AppSecret or an access token (both travel in URLs or bodies, so
//! transport errors are stripped of their URL), never retry or refresh tokens by itself (the
//! token keeper owns that, single flight), and never escape Chinese as `\uXXXX` (errcode
//! 40033).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize, Serializer};

use super::reply::Reply;

/// errcodes that mean "this access_token is no longer good": refresh and retry once.
const TOKEN_INVALID: [i64; 3] = [40001, 40014, 42001];

/// Errors of an outbound API call. `Debug` prints the cause chain.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// The request did not complete (connect, timeout, TLS, body read). URL stripped.
    #[error("WeChat API transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat API error {errcode}: {errmsg}")]
    Platform { errcode: i64, errmsg: String },
    /// The response was not the JSON we expect (only position and category are kept, never
    /// the body: it may hold a token).
    #[error("WeChat API response not understood: {0}")]
    Decode(String),
    /// The client was configured with an unusable value.
    #[error("invalid WeChat API client configuration: {0}")]
    Config(&'static str),
    /// A component in front of the API (e.g. the token keeper) could not answer.
    #[error("WeChat API unavailable: {0}")]
    Unavailable(String),
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::telemetry::error_chain_fmt(self, f)
    }
}

impl ApiError {
    /// 40001 / 40014 / 42001: the access token is invalid, expired or not the latest.
    pub fn is_token_invalid(&self) -> bool {
        matches!(self, Self::Platform { errcode, .. } if TOKEN_INVALID.contains(errcode))
    }

    /// WeChat's errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Platform { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }
}

/// An access token and its lifetime in seconds.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A 客服 message (`message/custom/send`), shapes per docs/wechat-protocol.md §8.3.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomMessage {
    pub touser: String,
    #[serde(flatten)]
    pub body: CustomBody,
}

/// The typed part of a [`CustomMessage`]: `msgtype` plus its object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub enum CustomBody {
    Text { text: CustomText },
    News { news: CustomNews },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomText {
    pub content: String,
}

/// Exactly one article (the platform refuses more since 2018).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomNews {
    pub articles: Vec<CustomArticle>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomArticle {
    pub title: String,
    pub description: String,
    pub url: String,
    pub picurl: String,
}

impl CustomMessage {
    /// The push equivalent of a passive reply.
    pub fn from_reply(openid: &str, reply: &Reply) -> Self {
        let body = match reply {
            Reply::Text(content) => CustomBody::Text {
                text: CustomText {
                    content: content.clone(),
                },
            },
            Reply::News(a) => CustomBody::News {
                news: CustomNews {
                    articles: vec![CustomArticle {
                        title: a.title.clone(),
                        description: a.description.clone(),
                        url: a.url.clone(),
                        picurl: a.pic_url.clone(),
                    }],
                },
            },
        };
        Self {
            touser: openid.to_owned(),
            body,
        }
    }
}

/// A 模板消息 (`message/template/send`), docs/wechat-protocol.md §8.4. `data` serializes as
/// `{"key":{"value":"…"}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateMessage {
    pub touser: String,
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Our outbox id: WeChat sends one message per openid + client_msg_id (10 min), so
    /// retries are safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(serialize_with = "template_data")]
    pub data: BTreeMap<String, String>,
}

fn template_data<S: Serializer>(data: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Value<'a> {
        value: &'a str,
    }
    s.collect_map(data.iter().map(|(k, v)| (k, Value { value: v })))
}

/// Where WeChat's web authorization starts (not under the API base).
pub const OAUTH_AUTHORIZE_BASE: &str = "https://open.weixin.qq.com/connect/oauth2/authorize";

/// Web authorization scope (docs/wechat-protocol.md §8.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthScope {
    /// `snsapi_base`: silent, yields the openid only. Enough to bind a card.
    Base,
    /// `snsapi_userinfo`: consent page; nickname and avatar.
    UserInfo,
}

impl OAuthScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "snsapi_base",
            Self::UserInfo => "snsapi_userinfo",
        }
    }
}

/// The authorize URL to redirect a user to, parameters in the order WeChat checks
/// (`appid, redirect_uri, response_type, scope, state`) and ending in `#wechat_redirect`.
/// `state` must be 1..=128 characters of `[A-Za-z0-9]` (carry a CSRF nonce in it).
pub fn oauth_authorize_url(
    authorize_base: &str,
    app_id: &str,
    redirect_uri: &str,
    scope: OAuthScope,
    state: &str,
) -> Result<String, ApiError> {
    if state.is_empty() || state.len() > 128 || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::Config(
            "OAuth state must be 1..=128 letters or digits",
        ));
    }
    let mut url = String::with_capacity(authorize_base.len() + redirect_uri.len() * 3 + 120);
    url.push_str(authorize_base);
    url.push_str("?appid=");
    super::platform::percent_encode(&mut url, app_id);
    url.push_str("&redirect_uri=");
    super::platform::percent_encode(&mut url, redirect_uri);
    url.push_str("&response_type=code&scope=");
    url.push_str(scope.as_str());
    url.push_str("&state=");
    url.push_str(state);
    url.push_str("#wechat_redirect");
    Ok(url)
}

/// The answer of `sns/oauth2/access_token`: who the user is. The web-auth token is per user
/// and unrelated to the account's access token.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthUser {
    pub openid: String,
    pub scope: String,
    pub unionid: Option<String>,
    /// A 快照页 virtual user: never bind a card to it.
    pub is_snapshot_user: bool,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for OAuthUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthUser")
            .field("scope", &self.scope)
            .field("is_snapshot_user", &self.is_snapshot_user)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A JS-SDK ticket (`cgi-bin/ticket/getticket?type=jsapi`); cache it like the access token.
#[derive(Clone, PartialEq, Eq)]
pub struct JsapiTicket {
    pub ticket: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for JsapiTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsapiTicket")
            .field("ticket", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The API client. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Arc<str>,
    app_id: Arc<str>,
    /// The AppSecret: sent to the token endpoints only, never logged.
    secret: Arc<str>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("app_id", &self.app_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The union of the response shapes we read; unknown fields are ignored.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<String>,
    expires_in: Option<u64>,
    msgid: Option<u64>,
    ticket: Option<String>,
    refresh_token: Option<String>,
    openid: Option<String>,
    scope: Option<String>,
    unionid: Option<String>,
    #[serde(default)]
    is_snapshotuser: u8,
    /// Mass send (`message/mass/sendall`, and 45065 naming the earlier send).
    msg_id: Option<u64>,
    msg_status: Option<String>,
    tag: Option<Tag>,
    tags: Option<Vec<Tag>>,
}

/// A user tag (`cgi-bin/tags/*`): mass sends reach a tag's members.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Tag {
    pub id: u64,
    pub name: String,
}

/// Who a mass send (群发) reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MassAudience {
    /// Every follower (`is_to_all`).
    All,
    Tag(u64),
}

/// errcode of a mass send repeated with a `clientmsgid` WeChat already sent: the answer names
/// the earlier send's `msg_id`, which is what the caller wanted.
const MASS_ALREADY_SENT: i64 = 45065;
/// At most this many openids per `tags/members/batchtagging` call.
pub const TAGGING_BATCH: usize = 50;

impl ApiClient {
    /// `base_url` without the trailing slash, e.g. `https://api.weixin.qq.com` or the
    /// simulator's `http://127.0.0.1:PORT/sim/wechat`. `timeout` bounds every call.
    pub fn new(
        base_url: &str,
        app_id: &str,
        app_secret: &str,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let base = base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Config(
                "base_url must start with http:// or https://",
            ));
        }
        let http = crate::tls::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiError::Transport(e.without_url()))?;
        Ok(Self {
            http,
            base: base.into(),
            app_id: app_id.into(),
            secret: app_secret.into(),
        })
    }

    /// `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`. Note: every call
    /// invalidates the previous token after 5 minutes; only the token keeper calls this.
    pub async fn fetch_token(&self) -> Result<AccessToken, ApiError> {
        let req = self.http.get(self.url("/cgi-bin/token")).query(&[
            ("grant_type", "client_credential"),
            ("appid", &self.app_id),
            ("secret", &self.secret),
        ]);
        let env = self.call("token", req).await?;
        token_from(env)
    }

    /// `POST /cgi-bin/stable_token`: the same token for repeated calls unless `force_refresh`.
    pub async fn fetch_stable_token(&self, force_refresh: bool) -> Result<AccessToken, ApiError> {
        #[derive(Serialize)]
        struct StableTokenRequest<'a> {
            grant_type: &'a str,
            appid: &'a str,
            secret: &'a str,
            force_refresh: bool,
        }
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid: &self.app_id,
            secret: &self.secret,
            force_refresh,
        };
        let req = self
            .http
            .post(self.url("/cgi-bin/stable_token"))
            .json(&body);
        let env = self.call("stable_token", req).await?;
        token_from(env)
    }

    /// `POST /cgi-bin/message/custom/send?access_token=`.
    pub async fn send_custom(&self, token: &str, msg: &CustomMessage) -> Result<(), ApiError> {
        let req = self
            .http
            .post(self.url("/cgi-bin/message/custom/send"))
            .query(&[("access_token", token)])
            .json(msg);
        self.call("custom_send", req).await.map(drop)
    }

    /// `POST /cgi-bin/message/custom/typing`: show or cancel "对方正在输入".
    pub async fn send_typing(
        &self,
        token: &str,
        openid: &str,
        typing: bool,
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({
            "touser": openid,
            "command": if typing { "Typing" } else { "CancelTyping" },
        });
        let req = self
            .http
            .post(self.url("/cgi-bin/message/custom/typing"))
            .query(&[("access_token", token)])
            .json(&body);
        self.call("custom_typing", req).await.map(drop)
    }

    /// `POST /cgi-bin/message/template/send?access_token=`; returns WeChat's `msgid`, which
    /// the later `TEMPLATESENDJOBFINISH` event carries as `MsgID`.
    pub async fn send_template(&self, token: &str, msg: &TemplateMessage) -> Result<u64, ApiError> {
        let req = self
            .http
            .post(self.url("/cgi-bin/message/template/send"))
            .query(&[("access_token", token)])
            .json(msg);
        let env = self.call("template_send", req).await?;
        env.msgid
            .ok_or_else(|| ApiError::Decode("template send answer without msgid".into()))
    }

    /// `POST /cgi-bin/tags/create`: a new tag; 45157 if the name exists.
    pub async fn create_tag(&self, token: &str, name: &str) -> Result<Tag, ApiError> {
        let body = serde_json::json!({ "tag": { "name": name } });
        let req = self
            .http
            .post(self.url("/cgi-bin/tags/create"))
            .query(&[("access_token", token)])
            .json(&body);
        let env = self.call("tags_create", req).await?;
        env.tag
            .ok_or_else(|| ApiError::Decode("tag create answer without tag".into()))
    }

    /// `GET /cgi-bin/tags/get`: every tag of the account.
    pub async fn tags(&self, token: &str) -> Result<Vec<Tag>, ApiError> {
        let req = self
            .http
            .get(self.url("/cgi-bin/tags/get"))
            .query(&[("access_token", token)]);
        Ok(self.call("tags_get", req).await?.tags.unwrap_or_default())
    }

    /// `POST /cgi-bin/tags/members/batchtagging`: at most [`TAGGING_BATCH`] openids a call.
    /// Tagging a user who has the tag already is not an error.
    pub async fn tag_users(
        &self,
        token: &str,
        tag_id: u64,
        openids: &[&str],
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({ "openid_list": openids, "tagid": tag_id });
        let req = self
            .http
            .post(self.url("/cgi-bin/tags/members/batchtagging"))
            .query(&[("access_token", token)])
            .json(&body);
        self.call("tags_batchtagging", req).await.map(drop)
    }

    /// `POST /cgi-bin/message/mass/sendall` with a text message; returns the send's `msg_id`.
    /// `client_msg_id` makes a repeat safe: WeChat answers 45065 with the first send's id,
    /// which is returned as success.
    pub async fn mass_send_text(
        &self,
        token: &str,
        audience: MassAudience,
        content: &str,
        client_msg_id: &str,
    ) -> Result<u64, ApiError> {
        let filter = match audience {
            MassAudience::All => serde_json::json!({ "is_to_all": true }),
            MassAudience::Tag(id) => serde_json::json!({ "is_to_all": false, "tag_id": id }),
        };
        let body = serde_json::json!({
            "filter": filter,
            "text": { "content": content },
            "msgtype": "text",
            "clientmsgid": client_msg_id,
        });
        let req = self
            .http
            .post(self.url("/cgi-bin/message/mass/sendall"))
            .query(&[("access_token", token)])
            .json(&body);
        let env = self.call("mass_sendall", req).await?;
        env.msg_id
            .ok_or_else(|| ApiError::Decode("mass send answer without msg_id".into()))
    }

    /// `POST /cgi-bin/message/mass/get`: the send's status (`SEND_SUCCESS`, `SENDING`, …).
    pub async fn mass_status(&self, token: &str, msg_id: u64) -> Result<String, ApiError> {
        let body = serde_json::json!({ "msg_id": msg_id.to_string() });
        let req = self
            .http
            .post(self.url("/cgi-bin/message/mass/get"))
            .query(&[("access_token", token)])
            .json(&body);
        let env = self.call("mass_get", req).await?;
        env.msg_status
            .ok_or_else(|| ApiError::Decode("mass status answer without msg_status".into()))
    }

    /// `POST /cgi-bin/menu/create?access_token=` with the menu JSON as given.
    pub async fn create_menu(&self, token: &str, menu: &serde_json::Value) -> Result<(), ApiError> {
        let req = self
            .http
            .post(self.url("/cgi-bin/menu/create"))
            .query(&[("access_token", token)])
            .json(menu);
        self.call("menu_create", req).await.map(drop)
    }

    /// `GET /sns/oauth2/access_token?appid=&secret=&code=&grant_type=authorization_code`:
    /// exchange the one-time `code` from the OAuth redirect for the user's openid.
    pub async fn exchange_oauth_code(&self, code: &str) -> Result<OAuthUser, ApiError> {
        let req = self.http.get(self.url("/sns/oauth2/access_token")).query(&[
            ("appid", &*self.app_id),
            ("secret", &*self.secret),
            ("code", code),
            ("grant_type", "authorization_code"),
        ]);
        let env = self.call("sns_access_token", req).await?;
        match (env.openid, env.access_token) {
            (Some(openid), Some(access_token)) if !openid.is_empty() => Ok(OAuthUser {
                openid,
                scope: env.scope.unwrap_or_default(),
                unionid: env.unionid.filter(|u| !u.is_empty()),
                is_snapshot_user: env.is_snapshotuser == 1,
                access_token,
                refresh_token: env.refresh_token.unwrap_or_default(),
                expires_in: env.expires_in.unwrap_or(0),
            }),
            _ => Err(ApiError::Decode(
                "OAuth answer without openid/access_token".into(),
            )),
        }
    }

    /// `GET /cgi-bin/ticket/getticket?access_token=&type=jsapi`.
    pub async fn fetch_jsapi_ticket(&self, token: &str) -> Result<JsapiTicket, ApiError> {
        let req = self
            .http
            .get(self.url("/cgi-bin/ticket/getticket"))
            .query(&[("access_token", token), ("type", "jsapi")]);
        let env = self.call("jsapi_ticket", req).await?;
        match (env.ticket, env.expires_in) {
            (Some(ticket), Some(expires_in)) if !ticket.is_empty() => {
                Ok(JsapiTicket { ticket, expires_in })
            }
            _ => Err(ApiError::Decode(
                "ticket answer without ticket/expires_in".into(),
            )),
        }
    }

    /// `GET /cgi-bin/media/get?access_token=&media_id=`: a temporary media file a user sent
    /// (kept by WeChat for 3 days). WeChat answers the file itself, or a JSON error (40007 for
    /// an unknown or expired media_id). Files over `max_bytes` are refused, not truncated.
    pub async fn get_media(
        &self,
        token: &str,
        media_id: &str,
        max_bytes: usize,
    ) -> Result<Media, ApiError> {
        let started = Instant::now();
        let req = self
            .http
            .get(self.url("/cgi-bin/media/get"))
            .query(&[("access_token", token), ("media_id", media_id)]);
        let result = fetch_media(req, max_bytes).await;
        observe("media_get", started, &result);
        result
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send, read the body, decide on `errcode`. Emits one metric and, on failure, one log
    /// line with the endpoint and errcode/errmsg only.
    async fn call(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Envelope, ApiError> {
        let started = Instant::now();
        let result = send(req).await;
        observe(endpoint, started, &result);
        result
    }
}

/// One metric per call and, on failure, one log line with the endpoint and errcode/errmsg only.
fn observe<T>(endpoint: &'static str, started: Instant, result: &Result<T, ApiError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(ApiError::Platform { .. }) => "errcode",
        Err(ApiError::Transport(_)) => "transport",
        Err(_) => "decode",
    };
    metrics::counter!("onecard_wechat_api_calls_total", "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("onecard_wechat_api_duration_seconds", "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    if let Err(e) = result {
        tracing::warn!(endpoint, errcode = e.errcode(), error = %e, "WeChat API call failed");
    }
}

async fn send(req: reqwest::RequestBuilder) -> Result<Envelope, ApiError> {
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::Transport(e.without_url()))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ApiError::Transport(e.without_url()))?;
    let env: Envelope = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::Decode(format!(
            "HTTP {}: {:?} error at line {} column {}",
            status.as_u16(),
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if env.errcode == MASS_ALREADY_SENT && env.msg_id.is_some() {
        return Ok(env);
    }
    if env.errcode != 0 {
        return Err(ApiError::Platform {
            errcode: env.errcode,
            errmsg: env.errmsg,
        });
    }
    Ok(env)
}

/// A media file downloaded from WeChat.
#[derive(Clone, PartialEq, Eq)]
pub struct Media {
    /// As WeChat labelled it (`image/jpeg`, …).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

async fn fetch_media(req: reqwest::RequestBuilder, max_bytes: usize) -> Result<Media, ApiError> {
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::Transport(e.without_url()))?;
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(ApiError::Decode(format!(
            "media larger than {max_bytes} bytes"
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ApiError::Transport(e.without_url()))?;
    // Errors come as JSON (or text/plain holding JSON); a file never parses as our envelope
    // with a non-zero errcode.
    if content_type.starts_with("application/json") || content_type.starts_with("text/") {
        let env: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Decode(format!("media answer: {:?}", e.classify())))?;
        return Err(ApiError::Platform {
            errcode: if env.errcode == 0 { -1 } else { env.errcode },
            errmsg: env.errmsg,
        });
    }
    if bytes.len() > max_bytes {
        return Err(ApiError::Decode(format!(
            "media larger than {max_bytes} bytes"
        )));
    }
    Ok(Media {
        content_type,
        bytes: bytes.to_vec(),
    })
}

fn token_from(env: Envelope) -> Result<AccessToken, ApiError> {
    match (env.access_token, env.expires_in) {
        (Some(token), Some(expires_in)) if !token.is_empty() => {
            Ok(AccessToken { token, expires_in })
        }
        _ => Err(ApiError::Decode(
            "token answer without access_token/expires_in".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::reply::Article;
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use std::sync::Mutex;

    /// What the fake WeChat saw: (method, path, query, body).
    type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

    /// A fake API on 127.0.0.1:0 answering every request with `status` and `body`.
    fn fake(status: u16, body: &'static str) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let server = HttpServer::new(move || {
            let log = log.clone();
            App::new().default_service(web::to(move |req: HttpRequest, bytes: web::Bytes| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push((
                        req.method().to_string(),
                        req.path().to_owned(),
                        req.query_string().to_owned(),
                        String::from_utf8(bytes.to_vec()).unwrap(),
                    ));
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(body)
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        (format!("http://127.0.0.1:{port}/sim/wechat/"), seen)
    }

    fn client(base: &str) -> ApiClient {
        ApiClient::new(base, "wxapp", "s3cret", Duration::from_secs(5)).unwrap()
    }

    fn last(seen: &Seen) -> (String, String, String, String) {
        seen.lock().unwrap().last().cloned().unwrap()
    }

    #[actix_rt::test]
    async fn fetch_token_sends_the_documented_query() {
        let (base, seen) = fake(200, r#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#);
        let t = client(&base).fetch_token().await.unwrap();
        assert_eq!(
            t,
            AccessToken {
                token: "ACCESS_TOKEN".into(),
                expires_in: 7200
            }
        );
        assert!(!format!("{t:?}").contains("ACCESS_TOKEN"));
        let (method, path, query, _) = last(&seen);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/sim/wechat/cgi-bin/token")
        );
        assert_eq!(
            query,
            "grant_type=client_credential&appid=wxapp&secret=s3cret"
        );
    }

    #[actix_rt::test]
    async fn stable_token_posts_json_and_errors_decide_on_errcode() {
        let (base, seen) = fake(200, r#"{"access_token":"S","expires_in":300}"#);
        let t = client(&base).fetch_stable_token(true).await.unwrap();
        assert_eq!(t.expires_in, 300);
        let (method, path, _, body) = last(&seen);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("POST", "/sim/wechat/cgi-bin/stable_token")
        );
        assert_eq!(
            body,
            r#"{"grant_type":"client_credential","appid":"wxapp","secret":"s3cret","force_refresh":true}"#
        );

        let (base, _) = fake(200, r#"{"errcode":40013,"errmsg":"invalid appid rid: 1"}"#);
        let err = client(&base).fetch_token().await.unwrap_err();
        assert_eq!(err.errcode(), Some(40013));
        assert!(!err.is_token_invalid());
    }

    #[actix_rt::test]
    async fn custom_text_is_sent_with_chinese_unescaped() {
        let (base, seen) = fake(200, r#"{"errcode":0,"errmsg":"ok"}"#);
        let msg = CustomMessage::from_reply("o1", &Reply::Text("余额 12.30 元".into()));
        client(&base).send_custom("TOK", &msg).await.unwrap();
        let (_, path, query, body) = last(&seen);
        assert_eq!(path, "/sim/wechat/cgi-bin/message/custom/send");
        assert_eq!(query, "access_token=TOK");
        assert_eq!(
            body,
            r#"{"touser":"o1","msgtype":"text","text":{"content":"余额 12.30 元"}}"#
        );
    }

    #[test]
    fn custom_news_shape() {
        let msg = CustomMessage::from_reply(
            "o1",
            &Reply::News(Article {
                title: "Happy Day".into(),
                description: "Is Really A Happy Day".into(),
                pic_url: "PIC_URL".into(),
                url: "URL".into(),
            }),
        );
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"touser":"o1","msgtype":"news","news":{"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"URL","picurl":"PIC_URL"}]}}"#
        );
    }

    #[actix_rt::test]
    async fn invalid_token_errcodes_are_recognised() {
        for code in [40001, 40014, 42001] {
            let body: &'static str = Box::leak(
                format!(r#"{{"errcode":{code},"errmsg":"invalid credential hint: [x]"}}"#)
                    .into_boxed_str(),
            );
            let (base, _) = fake(200, body);
            let msg = CustomMessage::from_reply("o1", &Reply::Text("x".into()));
            let err = client(&base).send_custom("OLD", &msg).await.unwrap_err();
            assert!(err.is_token_invalid(), "{code}");
            assert_eq!(err.errcode(), Some(code));
        }
        let (base, _) = fake(
            200,
            r#"{"errcode":45015,"errmsg":"response out of time limit"}"#,
        );
        let msg = CustomMessage::from_reply("o1", &Reply::Text("x".into()));
        let err = client(&base).send_custom("T", &msg).await.unwrap_err();
        assert!(!err.is_token_invalid());
    }

    #[actix_rt::test]
    async fn template_send_returns_msgid_and_serializes_data_values() {
        let (base, seen) = fake(200, r#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#);
        let msg = TemplateMessage {
            touser: "o1".into(),
            template_id: "tpl".into(),
            url: None,
            client_msg_id: Some("out-1".into()),
            data: [
                ("amount".to_owned(), "39.8元".to_owned()),
                ("card".to_owned(), "2024001".to_owned()),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(
            client(&base).send_template("TOK", &msg).await.unwrap(),
            200228332
        );
        let (_, path, query, body) = last(&seen);
        assert_eq!(path, "/sim/wechat/cgi-bin/message/template/send");
        assert_eq!(query, "access_token=TOK");
        assert_eq!(
            body,
            r#"{"touser":"o1","template_id":"tpl","client_msg_id":"out-1","data":{"amount":{"value":"39.8元"},"card":{"value":"2024001"}}}"#
        );
    }

    #[actix_rt::test]
    async fn menu_create_posts_the_menu_as_given() {
        let (base, seen) = fake(200, r#"{"errcode":0,"errmsg":"ok"}"#);
        let menu = serde_json::json!({"button":[{"type":"click","name":"余额","key":"BALANCE"}]});
        client(&base).create_menu("TOK", &menu).await.unwrap();
        let (_, path, _, body) = last(&seen);
        assert_eq!(path, "/sim/wechat/cgi-bin/menu/create");
        // Key order is serde_json's; WeChat reads JSON, so compare values, and check that
        // Chinese travels unescaped (errcode 40033 otherwise).
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            menu
        );
        assert!(body.contains("余额"));
    }

    #[actix_rt::test]
    async fn http_status_is_ignored_non_json_is_a_decode_error() {
        let (base, _) = fake(500, r#"{"errcode":0,"errmsg":"ok"}"#);
        let menu = serde_json::json!({});
        assert!(client(&base).create_menu("TOK", &menu).await.is_ok());
        let (base, _) = fake(502, "<html>bad gateway</html>");
        let err = client(&base).create_menu("TOK", &menu).await.unwrap_err();
        assert!(matches!(err, ApiError::Decode(_)));
        assert_eq!(err.errcode(), None);
        let (base, _) = fake(200, r#"{"errcode":0,"errmsg":"ok"}"#);
        assert!(matches!(
            client(&base).fetch_token().await,
            Err(ApiError::Decode(_))
        ));
    }

    #[actix_rt::test]
    async fn transport_errors_never_show_the_secret_or_token() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let c = client(&format!("http://127.0.0.1:{port}"));
        let err = c.fetch_token().await.unwrap_err();
        assert!(matches!(err, ApiError::Transport(_)));
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let msg = CustomMessage::from_reply("o1", &Reply::Text("x".into()));
        let shown = format!(
            "{:?}",
            c.send_custom("SECRET_TOKEN", &msg).await.unwrap_err()
        );
        assert!(!shown.contains("SECRET_TOKEN"), "{shown}");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn oauth_authorize_url_has_the_checked_parameter_order() {
        assert_eq!(
            oauth_authorize_url(
                OAUTH_AUTHORIZE_BASE,
                "wxapp",
                "https://card.example.edu/h5/bind?from=menu",
                OAuthScope::Base,
                "abc123"
            )
            .unwrap(),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxapp&redirect_uri=https%3A%2F%2Fcard.example.edu%2Fh5%2Fbind%3Ffrom%3Dmenu&response_type=code&scope=snsapi_base&state=abc123#wechat_redirect"
        );
        for bad in ["", "a-b", &"x".repeat(129)] {
            assert!(
                oauth_authorize_url(
                    OAUTH_AUTHORIZE_BASE,
                    "wx",
                    "https://x",
                    OAuthScope::UserInfo,
                    bad
                )
                .is_err()
            );
        }
    }

    #[actix_rt::test]
    async fn oauth_code_exchange_and_snapshot_users() {
        let (base, seen) = fake(
            200,
            r#"{"access_token":"AT","expires_in":7200,"refresh_token":"RT","openid":"oUser","scope":"snsapi_base","is_snapshotuser":1}"#,
        );
        let user = client(&base).exchange_oauth_code("CODE1").await.unwrap();
        assert_eq!(user.openid, "oUser");
        assert!(user.is_snapshot_user);
        assert_eq!(user.unionid, None);
        assert!(!format!("{user:?}").contains("AT"));
        let (method, path, query, _) = last(&seen);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/sim/wechat/sns/oauth2/access_token")
        );
        assert_eq!(
            query,
            "appid=wxapp&secret=s3cret&code=CODE1&grant_type=authorization_code"
        );

        let (base, _) = fake(200, r#"{"errcode":40163,"errmsg":"code been used"}"#);
        assert_eq!(
            client(&base)
                .exchange_oauth_code("CODE1")
                .await
                .unwrap_err()
                .errcode(),
            Some(40163)
        );
    }

    #[actix_rt::test]
    async fn jsapi_ticket_is_fetched_with_the_token() {
        let (base, seen) = fake(
            200,
            r#"{"errcode":0,"errmsg":"ok","ticket":"bxLdikRXVbTPdHSM05e5u5sUoXNKd8-41ZO3MhKoyN5OfkWITDGgnr2fwJ0m9E8NYzWKVZvdVtaUgWvsdshFKA","expires_in":7200}"#,
        );
        let t = client(&base).fetch_jsapi_ticket("TOK").await.unwrap();
        assert_eq!(t.expires_in, 7200);
        assert!(t.ticket.starts_with("bxLdikRX"));
        let (_, path, query, _) = last(&seen);
        assert_eq!(path, "/sim/wechat/cgi-bin/ticket/getticket");
        assert_eq!(query, "access_token=TOK&type=jsapi");
    }

    /// Contract with `onecard sim`: the simulator speaks the same wire protocol as WeChat, so
    /// this client must work against it unchanged.
    #[actix_rt::test]
    async fn contract_with_the_wechat_simulator() {
        use crate::sim::{SimConfig, SimState, configure};
        let cfg = SimConfig {
            accounts: 10,
            ..SimConfig::default()
        };
        let (app_id, secret) = (cfg.wechat.app_id.clone(), cfg.wechat.app_secret.clone());
        let state = SimState::new(cfg);
        let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        let base = format!("http://127.0.0.1:{port}/sim/wechat");
        let api = ApiClient::new(&base, &app_id, &secret, Duration::from_secs(5)).unwrap();

        let token = api.fetch_token().await.unwrap();
        assert!(!token.token.is_empty() && token.expires_in > 0);
        let stable = api.fetch_stable_token(false).await.unwrap();
        assert_eq!(api.fetch_stable_token(false).await.unwrap(), stable);

        let msg = TemplateMessage {
            touser: "oyORnuP8q7ou2gfYjqLzSIWZf0rs".into(),
            template_id: "tpl_balance".into(),
            url: None,
            client_msg_id: Some("outbox-1".into()),
            data: [("amount".to_owned(), "12.30元".to_owned())]
                .into_iter()
                .collect(),
        };
        let first = api.send_template(&token.token, &msg).await.unwrap();
        assert_eq!(
            api.send_template(&token.token, &msg).await.unwrap(),
            first,
            "client_msg_id dedup"
        );

        let menu = serde_json::json!({"button":[{"type":"click","name":"余额","key":"BALANCE"}]});
        api.create_menu(&stable.token, &menu).await.unwrap();

        let err = api.send_template("not-a-token", &msg).await.unwrap_err();
        assert!(err.is_token_invalid(), "{err}");

        let ticket = api.fetch_jsapi_ticket(&token.token).await.unwrap();
        assert!(!ticket.ticket.is_empty() && ticket.expires_in > 0);

        // Web authorization end to end: our authorize URL passes the simulator's parameter-order
        // check, its redirect carries a code, and the code names the signed-in user once.
        let authorize = oauth_authorize_url(
            &format!("{base}/connect/oauth2/authorize"),
            &app_id,
            "http://127.0.0.1:8080/h5/bind?from=menu",
            OAuthScope::Base,
            "csrf42",
        )
        .unwrap();
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = browser
            .get(authorize.replace(
                "&state=csrf42",
                "&state=csrf42&sim_openid=oyORnuP8q7ou2gfYjqLzSIWZf0rs",
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("http://127.0.0.1:8080/h5/bind?from=menu&code="),
            "{location}"
        );
        assert!(location.ends_with("&state=csrf42"), "{location}");
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let user = api.exchange_oauth_code(code).await.unwrap();
        assert_eq!(user.openid, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        assert!(!user.is_snapshot_user);
        assert!(
            api.exchange_oauth_code(code)
                .await
                .unwrap_err()
                .errcode()
                .is_some(),
            "single use"
        );

        let wrong = ApiClient::new(&base, &app_id, "wrong-secret", Duration::from_secs(5)).unwrap();
        assert!(wrong.fetch_token().await.unwrap_err().errcode().is_some());
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(ApiClient::new("ftp://x", "a", "s", Duration::from_secs(1)).is_err());
        assert!(ApiClient::new("/sim/wechat", "a", "s", Duration::from_secs(1)).is_err());
    }
}
