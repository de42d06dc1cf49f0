//! The WeChat platform API simulator, served under `/sim/wechat`: a base URL our
//! `wechat::client` can point at instead of `https://api.weixin.qq.com`.
//!
//! It exists because the behaviours that break real deployments are platform rules, not JSON
//! shapes: a new `cgi-bin/token` fetch kills the previous token after a 5-minute overlap,
//! `stable_token` returns the same token while valid, expired tokens answer 42001, and
//! customer-service pushes are only allowed inside the window a user action opens (5 pushes in
//! 48 h after a user message, 3 in 1 minute after a menu click / subscribe / scan; otherwise
//! 45015 or 45047). Template messages need no window and honour `client_msg_id` for 10 min.
//! Menus are validated against WeChat's documented limits (docs/wechat-protocol.md §8.6).
//!
//! It owns only its in-memory state; the WeChat side (chat client, test harness) reports user
//! actions through `POST /sim/wechat/interactions`. It must never log tokens, secrets or message
//! contents, and it never talks to the real platform.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use actix_web::{HttpResponse, web};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use super::wechat_mass::{Limits, MASS_CLIENT_MSG_ID_EXISTS, MassRefusal, MassSim};
use super::{SimState, lock};
use onecard_wire::domain::OpenId;

/// `[sim.wechat]`: the simulated Official Account.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatSimConfig {
    /// AppID the platform accepts in token requests.
    #[serde(default = "default_app_id")]
    pub app_id: String,
    /// AppSecret the platform accepts in token requests.
    #[serde(default = "default_app_secret")]
    pub app_secret: String,
    /// Lifetime of an issued access_token (WeChat: 7200 s).
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: i64,
    /// Quotas and rates of template messages and mass sends (`POST /sim/wechat/limits`
    /// changes them at run time).
    #[serde(default)]
    pub limits: Limits,
}

fn default_app_id() -> String {
    "wx5f3a9c1e7b2d4a60".to_owned()
}
fn default_app_secret() -> String {
    "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f".to_owned()
}
fn default_token_ttl() -> i64 {
    7200
}

impl Default for WechatSimConfig {
    fn default() -> Self {
        Self {
            app_id: default_app_id(),
            app_secret: default_app_secret(),
            token_ttl_secs: default_token_ttl(),
            limits: Limits::default(),
        }
    }
}

/// After a new `cgi-bin/token` fetch the previous token stays valid this long.
const TOKEN_OVERLAP_SECS: i64 = 300;
/// `stable_token` normal mode rotates this long before expiry.
const STABLE_ROTATE_BEFORE_SECS: i64 = 300;
/// Minimum spacing of `stable_token` force refreshes.
const FORCE_REFRESH_SPACING_SECS: i64 = 30;
/// Customer-service window after a user message: 48 h, 5 pushes.
const MESSAGE_WINDOW_SECS: i64 = 48 * 3600;
const MESSAGE_WINDOW_PUSHES: u32 = 5;
/// After a menu click, subscribe or scan: 1 min, 3 pushes.
const EVENT_WINDOW_SECS: i64 = 60;
const EVENT_WINDOW_PUSHES: u32 = 3;
/// `client_msg_id` dedup horizon of template messages.
const TEMPLATE_DEDUP_SECS: i64 = 600;
/// OAuth codes are single-use and expire after 5 minutes.
const OAUTH_CODE_TTL_SECS: i64 = 300;
/// `cgi-bin/token` calls allowed per day.
const TOKEN_DAILY_QUOTA: u32 = 2000;
/// The user the OAuth step signs in when the browser names none (`sim_openid`).
pub const DEFAULT_OAUTH_OPENID: &str = "oSimDemoUser0000000000000001";

/// A WeChat API error: `errcode` plus the fixed English `errmsg` the platform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WxError {
    pub code: i64,
    pub msg: &'static str,
}

pub(crate) const fn wx(code: i64, msg: &'static str) -> WxError {
    WxError { code, msg }
}

const E_INVALID_CREDENTIAL: WxError = wx(
    40001,
    "invalid credential, access_token is invalid or not latest",
);
const E_GRANT_TYPE: WxError = wx(40002, "invalid grant_type");
const E_OPENID: WxError = wx(40003, "invalid openid");
const E_MSGTYPE: WxError = wx(40008, "invalid message type");
const E_APPID: WxError = wx(40013, "invalid appid");
const E_CHARSET: WxError = wx(
    40033,
    "invalid charset. please check your request, if include \\uxxxx will create fail!",
);
const E_TEMPLATE_ID: WxError = wx(40037, "invalid template_id");
const E_APPSECRET: WxError = wx(40125, "invalid appsecret");
const E_TOKEN_MISSING: WxError = wx(41001, "access_token missing");
const E_APPID_MISSING: WxError = wx(41002, "appid missing");
const E_SECRET_MISSING: WxError = wx(41004, "appsecret missing");
const E_TOKEN_EXPIRED: WxError = wx(42001, "access_token expired");
const E_REQUIRE_SUBSCRIBE: WxError = wx(43004, "require subscribe");
const E_EMPTY_POST: WxError = wx(44002, "empty post data");
const E_EMPTY_CONTENT: WxError = wx(44004, "empty content");
const E_ARTICLE_SIZE: WxError = wx(45008, "article size out of limit");
const E_DAILY_QUOTA: WxError = wx(45009, "reach max api daily quota limit");
const E_MINUTE_QUOTA: WxError = wx(
    45011,
    "api minute-quota reach limit  mustslower  retry next minute",
);
const E_OUT_OF_TIME: WxError = wx(
    45015,
    "response out of time limit or subscription is canceled",
);
const E_OUT_OF_COUNT: WxError = wx(45047, "out of response count limit");
const E_MENU_NOT_EXIST: WxError = wx(46003, "menu no exist");
const E_DATA_FORMAT: WxError = wx(47001, "data format error");
const E_INVALID_CODE: WxError = wx(40029, "invalid code");
const E_CODE_USED: WxError = wx(40163, "code been used");
const E_CODE_EXPIRED: WxError = wx(42003, "code expired");
const E_TICKET_TYPE: WxError = wx(40097, "invalid args");

const E_BUTTON_SIZE: WxError = wx(40016, "invalid button size");
const E_BUTTON_TYPE: WxError = wx(40017, "invalid button type");
const E_BUTTON_NAME: WxError = wx(40018, "invalid button name size");
const E_BUTTON_KEY: WxError = wx(40019, "invalid button key size");
const E_BUTTON_URL: WxError = wx(40020, "invalid button url size");
const E_SUB_BUTTON_SIZE: WxError = wx(40023, "invalid sub button size");
const E_SUB_BUTTON_TYPE: WxError = wx(40024, "invalid sub button type");
const E_SUB_BUTTON_NAME: WxError = wx(40025, "invalid sub button name size");
const E_SUB_BUTTON_KEY: WxError = wx(40026, "invalid sub button key size");
const E_SUB_BUTTON_URL: WxError = wx(40027, "invalid sub button url size");
const E_MEDIA_ID: WxError = wx(40007, "invalid media_id");

impl WxError {
    /// The JSON body the platform answers with (HTTP 200), `errmsg` suffixed with a request id
    /// like the real one (` rid: …`).
    fn body(self) -> Value {
        let rid: u64 = rand::rng().random();
        json!({
            "errcode": self.code,
            "errmsg": format!("{} rid: {:016x}", self.msg, rid),
        })
    }
}

/// A user action the WeChat side reports; it opens (or refreshes) a customer-service window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InteractionKind {
    /// The user sent a message: 5 pushes within 48 h.
    Message,
    /// A `click` / `scancode_*` menu event: 3 pushes within 1 minute.
    Click,
    /// The user followed the account: 3 pushes within 1 minute.
    Subscribe,
    /// The user scanned a parametric QR code: 3 pushes within 1 minute.
    Scan,
    /// The user unfollowed: every window closes, templates answer 43004.
    Unsubscribe,
}

#[derive(Clone, Debug)]
struct TokenRec {
    expires_at: i64,
    /// Set when a newer token superseded this one: invalid (40001) from this instant.
    revoked_at: Option<i64>,
}

/// One open customer-service allowance.
#[derive(Clone, Copy, Debug)]
struct Grant {
    opened_at: i64,
    until: i64,
    left: u32,
}

#[derive(Debug, Default)]
struct UserWindow {
    /// Opened by the last user message.
    message: Option<Grant>,
    /// Opened by the last click / subscribe / scan.
    event: Option<Grant>,
    unsubscribed: bool,
}

/// Counters exposed at `GET /sim/wechat/stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WechatStats {
    /// Successful calls of `cgi-bin/token` and `cgi-bin/stable_token`.
    pub token_fetches: u64,
    /// Customer-service messages accepted.
    pub custom_sent: u64,
    /// Customer-service messages refused by the window / quota rules (45015, 45047).
    pub custom_refused: u64,
    /// Template messages accepted (a deduplicated retry is not counted).
    pub template_sent: u64,
    /// Template messages refused for the rate or the daily quota (45009).
    pub template_refused: u64,
    /// Messages delivered by mass sends (one per recipient).
    pub mass_delivered: u64,
}

#[derive(Default)]
struct WxState {
    tokens: HashMap<String, TokenRec>,
    plain_current: Option<String>,
    stable_current: Option<String>,
    last_force_refresh: Option<i64>,
    /// (campus day, `cgi-bin/token` calls that day): the daily quota is 2000.
    token_calls_today: (i64, u32),
    users: HashMap<String, UserWindow>,
    outbox: HashMap<String, Vec<Value>>,
    /// (openid, client_msg_id) → (first accepted at, msgid).
    template_dedup: HashMap<(String, String), (i64, u64)>,
    next_msgid: u64,
    menu: Option<Value>,
    menu_id: u64,
    stats: WechatStats,
    /// OAuth code → grant; one use, 5 minutes.
    oauth_codes: HashMap<String, OAuthGrant>,
    /// Web-auth access token → openid.
    oauth_tokens: HashMap<String, String>,
    /// Temporary media users sent: media_id → (content type, bytes).
    media: HashMap<String, (String, Vec<u8>)>,
}

#[derive(Clone, Debug)]
struct OAuthGrant {
    openid: String,
    scope: String,
    snapshot: bool,
    issued_at: i64,
    used: bool,
}

/// The simulated platform. All methods take the current (simulated) time explicitly.
pub struct WechatSim {
    cfg: WechatSimConfig,
    st: Mutex<WxState>,
    /// Followers, tags, quotas and mass sends (its own lock, always taken after `st`).
    mass: MassSim,
}

/// A successfully issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

fn new_token() -> String {
    // Real tokens are ~136 chars of [A-Za-z0-9_-]; clients must store ≥ 512.
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..136)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

impl WechatSim {
    pub fn new(cfg: WechatSimConfig) -> Self {
        Self {
            mass: MassSim::new(cfg.limits.clone()),
            cfg,
            st: Mutex::new(WxState {
                next_msgid: 200_228_332,
                menu_id: 449_129_811,
                ..WxState::default()
            }),
        }
    }

    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        wrong_secret: WxError,
    ) -> Result<(), WxError> {
        if grant_type != Some("client_credential") {
            return Err(E_GRANT_TYPE);
        }
        let appid = appid.filter(|s| !s.is_empty()).ok_or(E_APPID_MISSING)?;
        let secret = secret.filter(|s| !s.is_empty()).ok_or(E_SECRET_MISSING)?;
        if appid != self.cfg.app_id {
            return Err(E_APPID);
        }
        if secret != self.cfg.app_secret {
            return Err(wrong_secret);
        }
        Ok(())
    }

    /// `GET cgi-bin/token`: always a new token; the previous one dies after the overlap.
    pub fn fetch_token(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        now: i64,
    ) -> Result<IssuedToken, WxError> {
        self.check_credentials(grant_type, appid, secret, E_INVALID_CREDENTIAL)?;
        let mut st = lock(&self.st);
        // Daily quota of cgi-bin/token (docs/wechat-protocol.md §8.2): a refresh loop runs into 45009.
        let day = (now + 8 * 3600).div_euclid(86_400);
        if st.token_calls_today.0 != day {
            st.token_calls_today = (day, 0);
        }
        if st.token_calls_today.1 >= TOKEN_DAILY_QUOTA {
            return Err(E_DAILY_QUOTA);
        }
        st.token_calls_today.1 += 1;
        let token = new_token();
        if let Some(prev) = st.plain_current.take()
            && let Some(rec) = st.tokens.get_mut(&prev)
        {
            let end = now + TOKEN_OVERLAP_SECS;
            rec.revoked_at = Some(rec.revoked_at.map_or(end, |r| r.min(end)));
        }
        st.tokens.insert(
            token.clone(),
            TokenRec {
                expires_at: now + self.cfg.token_ttl_secs,
                revoked_at: None,
            },
        );
        st.plain_current = Some(token.clone());
        st.stats.token_fetches += 1;
        tracing::debug!(family = "plain", "sim wechat issued access_token");
        Ok(IssuedToken {
            access_token: token,
            expires_in: self.cfg.token_ttl_secs,
        })
    }

    /// `POST cgi-bin/stable_token`: the same token while valid in normal mode; a force
    /// refresh (at most every 30 s) invalidates the previous token at once.
    pub fn stable_token(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        force_refresh: bool,
        now: i64,
    ) -> Result<IssuedToken, WxError> {
        self.check_credentials(grant_type, appid, secret, E_APPSECRET)?;
        let mut st = lock(&self.st);
        let current = st.stable_current.clone().and_then(|t| {
            let rec = st.tokens.get(&t)?;
            let alive = rec.revoked_at.is_none_or(|r| r > now) && rec.expires_at > now;
            alive.then_some((t, rec.expires_at))
        });
        if !force_refresh
            && let Some((token, expires_at)) = &current
            && expires_at - now > STABLE_ROTATE_BEFORE_SECS
        {
            st.stats.token_fetches += 1;
            return Ok(IssuedToken {
                access_token: token.clone(),
                expires_in: expires_at - now,
            });
        }
        if force_refresh {
            if st
                .last_force_refresh
                .is_some_and(|t| now - t < FORCE_REFRESH_SPACING_SECS)
            {
                return Err(E_MINUTE_QUOTA);
            }
            st.last_force_refresh = Some(now);
            if let Some((old, _)) = &current
                && let Some(rec) = st.tokens.get_mut(old)
            {
                rec.revoked_at = Some(now);
            }
        }
        // Normal-mode rotation near expiry: the old token simply runs out on its own.
        let token = new_token();
        st.tokens.insert(
            token.clone(),
            TokenRec {
                expires_at: now + self.cfg.token_ttl_secs,
                revoked_at: None,
            },
        );
        st.stable_current = Some(token.clone());
        st.stats.token_fetches += 1;
        tracing::debug!(
            family = "stable",
            force_refresh,
            "sim wechat issued access_token"
        );
        Ok(IssuedToken {
            access_token: token,
            expires_in: self.cfg.token_ttl_secs,
        })
    }

    /// `POST /sim/wechat/expire_tokens`: every issued token answers 42001 from now on.
    pub fn expire_tokens(&self, now: i64) {
        let mut st = lock(&self.st);
        for rec in st.tokens.values_mut() {
            rec.expires_at = rec.expires_at.min(now);
        }
    }

    fn check_token(st: &WxState, token: Option<&str>, now: i64) -> Result<(), WxError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(E_TOKEN_MISSING)?;
        let rec = st.tokens.get(token).ok_or(E_INVALID_CREDENTIAL)?;
        if rec.revoked_at.is_some_and(|r| r <= now) {
            return Err(E_INVALID_CREDENTIAL);
        }
        if rec.expires_at <= now {
            return Err(E_TOKEN_EXPIRED);
        }
        Ok(())
    }

    /// Whether `token` would be accepted by a business API right now.
    pub fn token_status(&self, token: &str, now: i64) -> Result<(), WxError> {
        Self::check_token(&lock(&self.st), Some(token), now)
    }

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
    fn consume_window(st: &mut WxState, openid: &str, now: i64) -> Result<(), WxError> {
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

    /// `POST cgi-bin/message/template/send` → msgid (the same one for a deduplicated retry).
    pub fn template_send(&self, token: Option<&str>, raw: &[u8], now: i64) -> Result<u64, WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let body = parse_body(raw)?;
        let openid = touser(&body)?;
        let template_id = match body.get("template_id").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => return Err(E_TEMPLATE_ID),
        };
        if !body.get("data").is_some_and(Value::is_object) {
            return Err(E_DATA_FORMAT);
        }
        if st.users.get(&openid).is_some_and(|u| u.unsubscribed) {
            return Err(E_REQUIRE_SUBSCRIBE);
        }
        let client_msg_id = body
            .get("client_msg_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        st.template_dedup
            .retain(|_, (at, _)| now - *at < TEMPLATE_DEDUP_SECS);
        if let Some(id) = &client_msg_id
            && let Some((_, msgid)) = st.template_dedup.get(&(openid.clone(), id.clone()))
        {
            return Ok(*msgid);
        }
        if let Err(e) = self.mass.admit_template(&template_id, now) {
            st.stats.template_refused += 1;
            return Err(e);
        }
        let msgid = st.next_msgid;
        st.next_msgid += 1;
        if let Some(id) = client_msg_id {
            st.template_dedup.insert((openid.clone(), id), (now, msgid));
        }
        st.stats.template_sent += 1;
        push_outbox(&mut st, &openid, body, "template", now);
        Ok(msgid)
    }

    /// `POST cgi-bin/message/mass/sendall`: to every follower or a tag's members, each
    /// within their monthly allowance; a repeated `clientmsgid` answers 45065 with the first
    /// send's `msg_id`.
    pub fn mass_sendall(
        &self,
        token: Option<&str>,
        raw: &[u8],
        now: i64,
    ) -> Result<Value, WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let body = parse_body(raw)?;
        let req = MassSim::parse_sendall(&body)?;
        match self.mass.sendall(&req, now) {
            Ok(d) => {
                st.stats.mass_delivered += d.recipients.len() as u64;
                for openid in &d.recipients {
                    push_outbox(&mut st, openid, req.message.clone(), "mass", now);
                }
                Ok(
                    json!({"errcode": 0, "errmsg": "send job submission success", "msg_id": d.msg_id, "msg_data_id": d.msg_id}),
                )
            }
            Err(MassRefusal::Exists(msg_id)) => Ok(json!({
                "errcode": MASS_CLIENT_MSG_ID_EXISTS,
                "errmsg": "clientmsgid exist",
                "msg_id": msg_id,
            })),
            Err(MassRefusal::Error(e)) => Err(e),
        }
    }

    /// The broadcasting side (tags, quotas, mass-send records), after the token check.
    pub fn mass(&self, token: Option<&str>, now: i64) -> Result<&MassSim, WxError> {
        Self::check_token(&lock(&self.st), token, now)?;
        Ok(&self.mass)
    }

    /// The broadcasting side for the simulator's own inspection and knobs (no token).
    pub fn mass_inspection(&self) -> &MassSim {
        &self.mass
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

    /// Messages pushed to `openid`, oldest first.
    pub fn outbox(&self, openid: &str) -> Vec<Value> {
        lock(&self.st)
            .outbox
            .get(openid)
            .cloned()
            .unwrap_or_default()
    }

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

    /// `GET cgi-bin/ticket/getticket?type=jsapi`.
    pub fn jsapi_ticket(
        &self,
        token: Option<&str>,
        kind: Option<&str>,
        now: i64,
    ) -> Result<Value, WxError> {
        let st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        if kind != Some("jsapi") && kind != Some("wx_card") {
            return Err(E_TICKET_TYPE);
        }
        Ok(
            json!({"errcode": 0, "errmsg": "ok", "ticket": new_token()[..86].to_owned(), "expires_in": 7200}),
        )
    }

    pub fn stats(&self) -> WechatStats {
        lock(&self.st).stats
    }
}

fn push_outbox(st: &mut WxState, openid: &str, mut body: Value, kind: &str, now: i64) {
    if let Some(obj) = body.as_object_mut() {
        obj.insert("kind".to_owned(), json!(kind));
        obj.insert("at".to_owned(), json!(now));
    }
    st.outbox.entry(openid.to_owned()).or_default().push(body);
}

/// WeChat refuses `\uXXXX` escapes of non-ASCII characters (40033): Chinese must be sent as
/// raw UTF-8. ASCII control-character escapes are what every JSON encoder emits and pass.
fn has_non_ascii_escape(raw: &[u8]) -> bool {
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

fn parse_body(raw: &[u8]) -> Result<Value, WxError> {
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

fn touser(body: &Value) -> Result<String, WxError> {
    let raw = body.get("touser").and_then(Value::as_str).ok_or(E_OPENID)?;
    OpenId::parse(raw).map_err(|_| E_OPENID)?;
    Ok(raw.to_owned())
}

fn non_empty_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

fn validate_custom(body: &Value) -> Result<(), WxError> {
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

const MENU_TYPES: &[&str] = &[
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
struct Level {
    name_max: usize,
    name: WxError,
    kind: WxError,
    key: WxError,
    url: WxError,
}

const TOP: Level = Level {
    name_max: 16,
    name: E_BUTTON_NAME,
    kind: E_BUTTON_TYPE,
    key: E_BUTTON_KEY,
    url: E_BUTTON_URL,
};
const SUB: Level = Level {
    name_max: 60,
    name: E_SUB_BUTTON_NAME,
    kind: E_SUB_BUTTON_TYPE,
    key: E_SUB_BUTTON_KEY,
    url: E_SUB_BUTTON_URL,
};

fn validate_menu(body: &Value) -> Result<(), WxError> {
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

fn check_name(b: &Value, level: &Level) -> Result<(), WxError> {
    // Limits are in UTF-8 bytes: 16 bytes = 5 Chinese characters.
    match b.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n.len() <= level.name_max => Ok(()),
        _ => Err(level.name),
    }
}

fn check_leaf(b: &Value, level: &Level) -> Result<(), WxError> {
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

// ---------------------------------------------------------------------------------------------
// HTTP

type Query = web::Query<HashMap<String, String>>;

fn reply(result: Result<Value, WxError>) -> HttpResponse {
    let body = result.unwrap_or_else(WxError::body);
    HttpResponse::Ok()
        .content_type("application/json; encoding=utf-8")
        .body(body.to_string())
}

fn ok() -> Value {
    json!({"errcode": 0, "errmsg": "ok"})
}

fn token_q(q: &Query) -> Option<&str> {
    q.get("access_token").map(String::as_str)
}

/// Fault injection for the WeChat API (`/cgi-bin/...` only; the inspection endpoints never
/// fail): latency, `-1 system error` (HTTP 200, as WeChat answers when busy), hangs and lost
/// responses, per `[sim.faults.wechat]` / `POST /sim/faults/wechat`.
pub(crate) async fn faults_mw(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use super::faults::Outcome;
    let state = req.app_data::<web::Data<SimState>>().cloned();
    let Some(state) = state.filter(|_| req.path().contains("/cgi-bin/")) else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let plan = state.faults().plan("wechat", state.clock().now());
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
    cfg.route("/cgi-bin/token", web::get().to(get_token))
        .route("/cgi-bin/stable_token", web::post().to(post_stable_token))
        .route("/cgi-bin/message/custom/send", web::post().to(custom_send))
        .route(
            "/cgi-bin/message/custom/typing",
            web::post().to(custom_typing),
        )
        .route(
            "/cgi-bin/message/template/send",
            web::post().to(template_send),
        )
        .route("/cgi-bin/menu/create", web::post().to(menu_create))
        .route("/cgi-bin/menu/get", web::get().to(menu_get))
        .route("/cgi-bin/menu/delete", web::get().to(menu_delete))
        .route("/cgi-bin/ticket/getticket", web::get().to(getticket))
        .route("/connect/oauth2/authorize", web::get().to(oauth_authorize))
        .route(
            "/sns/oauth2/access_token",
            web::get().to(oauth_access_token),
        )
        .route("/sns/userinfo", web::get().to(oauth_userinfo))
        .route("/cgi-bin/clear_quota", web::post().to(clear_quota))
        .route("/cgi-bin/tags/create", web::post().to(tags_create))
        .route("/cgi-bin/tags/get", web::get().to(tags_get))
        .route(
            "/cgi-bin/tags/members/batchtagging",
            web::post().to(tags_batchtagging),
        )
        .route(
            "/cgi-bin/message/mass/sendall",
            web::post().to(mass_sendall),
        )
        .route("/cgi-bin/message/mass/get", web::post().to(mass_get))
        .route("/interactions", web::post().to(interactions))
        .route("/followers", web::post().to(followers))
        .route("/limits", web::get().to(limits_get))
        .route("/limits", web::post().to(limits_set))
        .route("/received", web::get().to(received))
        .route("/mass", web::get().to(mass_records))
        .route("/menu", web::get().to(last_menu))
        .route("/outbox", web::get().to(outbox))
        .route("/stats", web::get().to(stats))
        .route("/expire_tokens", web::post().to(expire_tokens))
        .route("/cgi-bin/media/get", web::get().to(media_get))
        .route("/media", web::post().to(media_upload));
}

fn issued(t: IssuedToken) -> Value {
    json!({"access_token": t.access_token, "expires_in": t.expires_in})
}

async fn get_token(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    let g = |k: &str| q.get(k).map(String::as_str);
    reply(
        state
            .wechat()
            .fetch_token(g("grant_type"), g("appid"), g("secret"), now)
            .map(issued),
    )
}

#[derive(Deserialize)]
struct StableTokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

async fn post_stable_token(state: web::Data<SimState>, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    let result = parse_body(&raw)
        .and_then(|v| serde_json::from_value::<StableTokenBody>(v).map_err(|_| E_DATA_FORMAT))
        .and_then(|b| {
            state.wechat().stable_token(
                b.grant_type.as_deref(),
                b.appid.as_deref(),
                b.secret.as_deref(),
                b.force_refresh,
                now,
            )
        });
    reply(result.map(issued))
}

async fn custom_send(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(
        state
            .wechat()
            .custom_send(token_q(&q), &raw, now)
            .map(|()| ok()),
    )
}

async fn custom_typing(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    reply(
        state
            .wechat()
            .token_status(token_q(&q).unwrap_or(""), now)
            .map(|()| ok()),
    )
}

async fn template_send(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(
        state
            .wechat()
            .template_send(token_q(&q), &raw, now)
            .map(|msgid| json!({"errcode": 0, "errmsg": "ok", "msgid": msgid})),
    )
}

async fn menu_create(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(
        state
            .wechat()
            .menu_create(token_q(&q), &raw, now)
            .map(|()| ok()),
    )
}

async fn menu_get(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    reply(state.wechat().menu_get(token_q(&q), now))
}

async fn menu_delete(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    reply(state.wechat().menu_delete(token_q(&q), now).map(|()| ok()))
}

async fn getticket(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    reply(
        state
            .wechat()
            .jsapi_ticket(token_q(&q), q.get("type").map(String::as_str), now),
    )
}

fn cookie<'a>(req: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
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
async fn oauth_authorize(
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

async fn oauth_access_token(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    let g = |k: &str| q.get(k).map(String::as_str);
    reply(
        state
            .wechat()
            .oauth_exchange(g("appid"), g("secret"), g("code"), g("grant_type"), now),
    )
}

async fn oauth_userinfo(state: web::Data<SimState>, q: Query) -> HttpResponse {
    reply(
        state
            .wechat()
            .oauth_userinfo(token_q(&q), q.get("openid").map(String::as_str)),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractionBody {
    openid: String,
    kind: InteractionKind,
    at: Option<i64>,
}

async fn interactions(state: web::Data<SimState>, raw: web::Bytes) -> HttpResponse {
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

async fn last_menu(state: web::Data<SimState>) -> HttpResponse {
    match state.wechat().menu() {
        Some(menu) => HttpResponse::Ok().json(menu),
        None => HttpResponse::NotFound().json(E_MENU_NOT_EXIST.body()),
    }
}

async fn outbox(state: web::Data<SimState>, q: Query) -> HttpResponse {
    match q.get("openid") {
        Some(openid) => HttpResponse::Ok().json(state.wechat().outbox(openid)),
        None => HttpResponse::BadRequest().json(json!({"error": "openid is required"})),
    }
}

async fn clear_quota(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    let wechat = state.wechat();
    reply(
        parse_body(&raw)
            .and_then(|body| {
                wechat
                    .mass(token_q(&q), now)?
                    .clear_quota(&wechat.cfg.app_id, &body, now)
            })
            .map(|()| ok()),
    )
}

async fn tags_create(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(
        parse_body(&raw).and_then(|body| state.wechat().mass(token_q(&q), now)?.create_tag(&body)),
    )
}

async fn tags_get(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    reply(state.wechat().mass(token_q(&q), now).map(MassSim::tags))
}

async fn tags_batchtagging(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(
        parse_body(&raw)
            .and_then(|body| state.wechat().mass(token_q(&q), now)?.tag_users(&body))
            .map(|()| ok()),
    )
}

async fn mass_sendall(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(state.wechat().mass_sendall(token_q(&q), &raw, now))
}

async fn mass_get(state: web::Data<SimState>, q: Query, raw: web::Bytes) -> HttpResponse {
    let now = state.clock().now();
    reply(
        parse_body(&raw).and_then(|body| state.wechat().mass(token_q(&q), now)?.mass_status(&body)),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowersBody {
    openids: Vec<String>,
}

/// `POST /sim/wechat/followers {"openids":[…]}`: these people follow the account (the
/// WeChat side of a deployment that already has followers).
async fn followers(state: web::Data<SimState>, body: web::Json<FollowersBody>) -> HttpResponse {
    if body.openids.iter().any(|o| OpenId::parse(o).is_err()) {
        return HttpResponse::BadRequest().json(json!({"error": "invalid openid"}));
    }
    state
        .wechat()
        .mass_inspection()
        .add_followers(&body.openids);
    HttpResponse::Ok().json(ok())
}

async fn limits_get(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.wechat().mass_inspection().limits())
}

/// `POST /sim/wechat/limits`: replace the quotas and rates (fields left out take WeChat's
/// defaults).
async fn limits_set(state: web::Data<SimState>, raw: web::Bytes) -> HttpResponse {
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
async fn received(state: web::Data<SimState>, q: Query) -> HttpResponse {
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

async fn mass_records(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.wechat().mass_inspection().mass_records())
}

async fn stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.wechat().stats())
}

async fn expire_tokens(state: web::Data<SimState>) -> HttpResponse {
    let now = state.clock().now();
    state.wechat().expire_tokens(now);
    HttpResponse::Ok().json(ok())
}

// ---- temporary media: what a user's picture message points at ------------------------------

impl WechatSim {
    /// A user's phone uploads a picture (the image message then carries the returned id).
    pub fn upload_media(&self, content_type: &str, bytes: Vec<u8>) -> String {
        let media_id = new_token()[..64].to_owned();
        lock(&self.st)
            .media
            .insert(media_id.clone(), (content_type.to_owned(), bytes));
        media_id
    }

    /// `GET cgi-bin/media/get`: the file itself, or 40007 for an unknown media_id.
    pub fn media_get(
        &self,
        token: Option<&str>,
        media_id: Option<&str>,
        now: i64,
    ) -> Result<(String, Vec<u8>), WxError> {
        let st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        st.media
            .get(media_id.unwrap_or_default())
            .cloned()
            .ok_or(E_MEDIA_ID)
    }
}

async fn media_get(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    let media_id = q.get("media_id").map(String::as_str);
    match state.wechat().media_get(token_q(&q), media_id, now) {
        Ok((content_type, bytes)) => HttpResponse::Ok().content_type(content_type).body(bytes),
        Err(e) => reply(Err(e)),
    }
}

/// `POST /sim/wechat/media` (body: the picture, `Content-Type` its type) → `{"media_id"}`.
async fn media_upload(
    state: web::Data<SimState>,
    req: actix_web::HttpRequest,
    raw: web::Bytes,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("image/jpeg");
    let media_id = state.wechat().upload_media(content_type, raw.to_vec());
    HttpResponse::Ok().json(json!({ "media_id": media_id }))
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::{Value, json};

    use super::{WechatSim, WechatSimConfig};
    use crate::{SimConfig, SimState, configure};

    const APPID: &str = "wx5f3a9c1e7b2d4a60";
    const SECRET: &str = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
    const ALICE: &str = "oAlice_0123456789abcdefghijk";
    const BOB: &str = "oBob_0123456789abcdefghijklm";

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

    fn errcode(v: &Value) -> i64 {
        v["errcode"].as_i64().unwrap_or(0)
    }

    fn token_uri() -> String {
        format!(
            "/sim/wechat/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        )
    }

    fn text(to: &str, content: &str) -> Value {
        json!({"touser": to, "msgtype": "text", "text": {"content": content}})
    }

    fn send_uri(token: &str) -> String {
        format!("/sim/wechat/cgi-bin/message/custom/send?access_token={token}")
    }

    fn typing_uri(token: &str) -> String {
        format!("/sim/wechat/cgi-bin/message/custom/typing?access_token={token}")
    }

    fn typing_body() -> Value {
        json!({"touser": ALICE, "command": "Typing"})
    }

    #[actix_web::test]
    async fn token_endpoint_answers_real_shape_and_rejects_bad_credentials() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let v = get!(app, &token_uri()).await;
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{v}");
        assert_eq!(v["expires_in"], 7200);
        assert_eq!(v["access_token"].as_str().unwrap().len(), 136);

        let v = get!(app, &format!("/sim/wechat/cgi-bin/token?grant_type=client_credential&appid=wxnope&secret={SECRET}")).await;
        assert_eq!(errcode(&v), 40013);
        assert!(
            v["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("invalid appid rid: "),
            "{v}"
        );
        let v = get!(
            app,
            &format!(
                "/sim/wechat/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret=wrong"
            )
        )
        .await;
        assert_eq!(errcode(&v), 40001);
        let v = get!(
            app,
            &format!("/sim/wechat/cgi-bin/token?grant_type=password&appid={APPID}&secret={SECRET}")
        )
        .await;
        assert_eq!(errcode(&v), 40002);
        let v = post!(app, "/sim/wechat/cgi-bin/stable_token", &json!({"grant_type":"client_credential","appid":APPID,"secret":"wrong","force_refresh":false})).await;
        assert_eq!(errcode(&v), 40125);
        assert_eq!(state.wechat().stats().token_fetches, 1);
    }

    #[actix_web::test]
    async fn new_token_fetch_kills_the_previous_one_after_five_minutes() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let a = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let b = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(a, b);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&a), &typing_body()).await),
            0
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri(&b), &typing_body()).await),
            0
        );
        state.clock().advance(299);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&a), &typing_body()).await),
            0
        );
        state.clock().advance(1);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&a), &typing_body()).await),
            40001
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri(&b), &typing_body()).await),
            0
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri("made-up"), &typing_body()).await),
            40001
        );
        assert_eq!(
            errcode(
                &post!(
                    app,
                    "/sim/wechat/cgi-bin/message/custom/typing",
                    &typing_body()
                )
                .await
            ),
            41001
        );

        // Natural expiry after 7200 s, then the refresh-test knob.
        state.clock().advance(7200);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&b), &typing_body()).await),
            42001
        );
        let c = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            errcode(&post!(app, &typing_uri(&c), &typing_body()).await),
            0
        );
        assert_eq!(
            post!(app, "/sim/wechat/expire_tokens", &json!({})).await,
            json!({"errcode":0,"errmsg":"ok"})
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri(&c), &typing_body()).await),
            42001
        );
        let sent = post!(app, &send_uri(&c), &text(ALICE, "你好")).await;
        assert_eq!(errcode(&sent), 42001);
        assert!(
            sent["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("access_token expired")
        );
    }

    #[actix_web::test]
    async fn a_token_refresh_loop_hits_the_daily_quota() {
        let sim = WechatSim::new(WechatSimConfig::default());
        let g = Some("client_credential");
        let now = 1_764_062_400; // 17:20 campus time
        for _ in 0..2000 {
            assert!(sim.fetch_token(g, Some(APPID), Some(SECRET), now).is_ok());
        }
        assert_eq!(
            sim.fetch_token(g, Some(APPID), Some(SECRET), now),
            Err(super::E_DAILY_QUOTA)
        );
        // The quota resets at campus midnight (7 h later).
        assert!(
            sim.fetch_token(g, Some(APPID), Some(SECRET), now + 7 * 3600)
                .is_ok()
        );
    }

    #[actix_web::test]
    async fn stable_token_is_stable_until_forced_and_force_is_rate_limited() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let body = |force: bool| json!({"grant_type":"client_credential","appid":APPID,"secret":SECRET,"force_refresh":force});
        let uri = "/sim/wechat/cgi-bin/stable_token";
        let first = post!(app, uri, &body(false)).await;
        assert_eq!(first["expires_in"], 7200);
        state.clock().advance(100);
        let again = post!(app, uri, &body(false)).await;
        assert_eq!(again["access_token"], first["access_token"]);
        assert_eq!(again["expires_in"], 7100);
        // cgi-bin/token is isolated from stable tokens.
        get!(app, &token_uri()).await;
        let old = first["access_token"].as_str().unwrap().to_owned();
        state.clock().advance(400);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&old), &typing_body()).await),
            0
        );

        let forced = post!(app, uri, &body(true)).await;
        assert_ne!(forced["access_token"], first["access_token"]);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&old), &typing_body()).await),
            40001
        );
        assert_eq!(errcode(&post!(app, uri, &body(true)).await), 45011);
        state.clock().advance(30);
        assert_eq!(errcode(&post!(app, uri, &body(true)).await), 0);

        // Normal mode rotates within the last 5 minutes; every answer has ≥ 300 s left.
        let cur = post!(app, uri, &body(false)).await;
        state.clock().advance(7200 - 300);
        let rotated = post!(app, uri, &body(false)).await;
        assert_ne!(rotated["access_token"], cur["access_token"]);
        assert_eq!(rotated["expires_in"], 7200);
        let cur_token = cur["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            errcode(&post!(app, &typing_uri(&cur_token), &typing_body()).await),
            0
        );
    }

    #[actix_web::test]
    async fn user_message_allows_five_pushes_then_45047_and_closes_after_48h() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let token = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
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
            json!({"token_fetches":1,"custom_sent":7,"custom_refused":4,"template_sent":0,"template_refused":0,"mass_delivered":0})
        );
    }

    #[actix_web::test]
    async fn menu_click_allows_three_pushes_within_one_minute() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let token = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
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
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let token = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
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
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let token = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
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

    #[actix_web::test]
    async fn wechat_faults_answer_system_error_but_spare_inspection() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
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

    #[actix_web::test]
    async fn oauth_code_is_single_use_and_names_the_signed_in_user() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
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
        let location = resp
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            location.starts_with("http://127.0.0.1:8080/h5/bind?from=menu&code="),
            "{location}"
        );
        assert!(location.ends_with("&state=abc123"));
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let exchange = format!(
            "/sim/wechat/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code={code}&grant_type=authorization_code"
        );
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
        let location = test::call_service(&app, req)
            .await
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        state.clock().advance(300);
        let late = format!(
            "/sim/wechat/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code={code}&grant_type=authorization_code"
        );
        assert_eq!(errcode(&get!(app, late).await), 42003);
        let req = test::TestRequest::get()
            .uri(&authorize("&sim_snapshot=1"))
            .insert_header(("cookie", format!("sim_openid={BOB}")))
            .to_request();
        let location = test::call_service(&app, req)
            .await
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let v = get!(app, format!("/sim/wechat/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code={code}&grant_type=authorization_code")).await;
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
        let token = get!(app, token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
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

    #[actix_web::test]
    async fn menu_create_enforces_wechat_limits_and_stores_the_menu() {
        let state = SimState::new(SimConfig::default());
        state.clock().freeze();
        let app = app!(state);
        let token = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
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
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/sim/wechat/menu")
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), 200);
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
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/sim/wechat/menu")
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), 404);
    }
}
