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
//!
//! Where things are: [`errors`] (the error answers), [`tokens`] (access tokens, the JS-SDK
//! ticket), [`messages`] (the customer-service window, `custom/send`, the outbox), [`templates`]
//! (template messages and mass sends; their limits are `crate::wechat_mass`), [`menu`],
//! [`oauth`] (web authorization), [`media`] (temporary media) and [`http`] (routes, the fault
//! middleware, the handlers).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use crate::lock;
use crate::wechat_mass::{Limits, MassSim};

#[cfg(test)]
#[macro_use]
mod test_support;

mod errors;
mod http;
mod media;
mod menu;
mod messages;
mod oauth;
mod templates;
mod tokens;

pub use errors::WxError;
pub(crate) use errors::wx;
pub(crate) use http::{faults_mw, routes};
pub use tokens::IssuedToken;

use oauth::OAuthGrant;

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
    /// The template ids the account has added (公众号后台 「模板消息 → 我的模板」): a template
    /// message naming any other answers 40037, as WeChat does. Empty = any id is accepted.
    #[serde(default)]
    pub templates: Vec<String>,
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
            templates: Vec::new(),
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
    /// Template messages sent again with an openid + `client_msg_id` already delivered within
    /// 10 minutes: answered with the first msgid, not delivered again.
    pub template_deduplicated: u64,
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

/// The simulated platform. All methods take the current (simulated) time explicitly.
pub struct WechatSim {
    cfg: WechatSimConfig,
    st: Mutex<WxState>,
    /// Followers, tags, quotas and mass sends (its own lock, always taken after `st`).
    mass: MassSim,
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

    pub fn stats(&self) -> WechatStats {
        lock(&self.st).stats
    }
}
