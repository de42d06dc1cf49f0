//! Typed settings: one TOML file plus environment overrides, layered by the `config` crate.
//!
//! Every key has a default so a config file names only what differs. Secrets can stay out of
//! files: any key can be overridden by an environment variable `ONECARD__SECTION__KEY`
//! (e.g. `ONECARD__WECHAT__APP_SECRET`, `ONECARD__UPSTREAMS__CARD__APP_SECRET`). Unknown keys are
//! an error, never ignored, so a typo in a config file is caught at start-up instead of silently
//! running with a default. Errors name the key and the position, never a secret's value.
//!
//! URLs that start with `/` (like `api_base = "/sim/wechat"`) are relative to our own listener:
//! that is how `onecard demo` points every adapter at the simulators it serves itself.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub wechat: WeChatSettings,
    pub rules: RulesSettings,
    pub sessions: SessionSettings,
    pub services: ServicesSettings,
    pub binding: BindingSettings,
    /// Order worker and money machines (`[orders]`).
    pub orders: crate::actors::orders::OrdersSettings,
    /// Monthly and fun bills (`[bills]`: categories, terms, cohorts).
    pub bills: crate::bills::BillsSettings,
    /// The alerts consumer (`[alerts]`: poll interval, daily caps per kind).
    pub alerts: crate::actors::alerts::AlertsSettings,
    /// News push: the template, WeChat's pace, the back-off (docs/notices.md, "Pushing").
    pub push: PushSettings,
    /// The daily reconciliation (对账) job and its policy.
    pub reconcile: crate::reconcile::ReconcileSettings,
    /// `[payments]`: what the payment dialogs offer.
    pub payments: crate::actions::payments::PaymentSettings,
    /// Upstream adapters (`[upstreams.card]`, …); absent = campus services answer that they
    /// are unavailable.
    pub upstreams: Option<crate::adapters::AdaptersConfig>,
    /// Simulators served on our own listener under `/sim/` by `demo`; `serve` refuses to
    /// start when this is present.
    pub sim: Option<SimSection>,
}

/// The `[sim]` section: the simulators' configuration when they are built in (feature `sim`,
/// on by default). Without them the section is still recognised, so `serve` refuses it by name
/// and `demo` can say the simulators are missing instead of calling it an unknown field.
#[cfg(feature = "sim")]
pub type SimSection = crate::sim::SimConfig;
#[cfg(not(feature = "sim"))]
pub type SimSection = serde::de::IgnoredAny;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// The public listener: only what WeChat and users reach (`/wechat`, `/healthz`).
    pub listen: String,
    /// The operators' listener (`/metrics`); keep it on loopback or a private network.
    pub admin_listen: String,
    pub data_dir: PathBuf,
    /// Every callback is answered within this budget; after it, "success" now and a push later.
    /// WeChat waits 5 s per attempt, so this must stay well under 5000.
    pub callback_budget_ms: u64,
    pub body_limit_bytes: usize,
    /// actix-web worker threads; 0 = one per core.
    pub workers: usize,
    /// Dedicated arbiters (threads) for session actors; 0 = sessions live on the HTTP worker
    /// threads (no thread hop per message).
    pub session_arbiters: usize,
    /// sled page cache; sled's own default (1 GiB) is far too much for this workload.
    pub store_cache_mb: u64,
    /// Campus local time offset from UTC, for time-windowed rules and "today".
    pub utc_offset_hours: i32,
    /// On SIGTERM / Ctrl-C, how long to let callbacks in flight finish and late replies go out
    /// before exiting; what is left resumes at the next start.
    pub shutdown_budget_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            data_dir: PathBuf::from("data"),
            callback_budget_ms: 4000,
            body_limit_bytes: 64 * 1024,
            workers: 0,
            session_arbiters: 0,
            store_cache_mb: 64,
            utc_offset_hours: 8,
            shutdown_budget_ms: 20_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeChatSettings {
    pub app_id: String,
    pub app_secret: String,
    pub token: String,
    /// The token before the last rotation: still accepted until it is removed.
    pub previous_token: String,
    /// Empty = plaintext mode only.
    pub encoding_aes_key: String,
    pub previous_encoding_aes_key: String,
    /// 消息加解密方式 as set in the WeChat console: "safe", "compatible" or "plain". Unset: safe
    /// with an EncodingAESKey, plain without (docs/SECURITY.md).
    pub mode: Option<crate::wechat::EncryptionMode>,
    /// Replaced by `mode`; kept only so an old config fails start-up with a clear message.
    pub encrypted_only: Option<bool>,
    /// The account's original id (原始ID, `gh_…`): when set, messages addressed to any other
    /// ToUserName are refused.
    pub original_id: String,
    pub timestamp_window_secs: i64,
    /// (nonce, signature) pairs remembered for the timestamp window, at most (fixed size each).
    pub replay_cache_capacity: usize,
    /// WeChat API base; `/sim/wechat` = our own simulator.
    pub api_base: String,
    pub use_stable_token: bool,
    /// Refresh the access_token this long before it expires.
    pub token_refresh_margin_secs: u64,
    /// A template message used to deliver a reply when the customer-service window is closed.
    /// Its data carries the reply text in field `content`. Empty = keep the reply until the
    /// user's next message instead.
    pub fallback_template_id: String,
}

impl Default for WeChatSettings {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            app_secret: String::new(),
            token: String::new(),
            previous_token: String::new(),
            encoding_aes_key: String::new(),
            previous_encoding_aes_key: String::new(),
            mode: None,
            encrypted_only: None,
            original_id: String::new(),
            timestamp_window_secs: 300,
            replay_cache_capacity: crate::wechat::codec::DEFAULT_REPLAY_CACHE_CAPACITY,
            api_base: "https://api.weixin.qq.com".into(),
            use_stable_token: true,
            token_refresh_margin_secs: 300,
            fallback_template_id: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSettings {
    pub dir: PathBuf,
    pub menu: PathBuf,
    /// Watch the rules directory and swap in valid edits.
    pub hot_reload: bool,
}

impl Default for RulesSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("config/rules"),
            menu: PathBuf::from("config/menu.toml"),
            hot_reload: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A session actor with no message for this long stops; its state stays in the store.
    pub idle_secs: u64,
    /// How long a delivery's result is remembered for WeChat's retries and byte-for-byte
    /// replays; at least `wechat.timestamp_window_secs` (checked at start-up).
    pub dedup_window_secs: u64,
    /// How long a delivery keeps its reply for WeChat's retries (three tries ~5 s apart); after
    /// that, until `dedup_window_secs`, a retry or replay is only recognised (answered "success",
    /// not run again), and costs a few dozen bytes instead of its reply.
    pub dedup_reply_secs: u64,
    /// Upper bounds on remembered deliveries (memory bound): count, and bytes (fixed size per
    /// entry plus reply text).
    pub dedup_capacity: usize,
    pub dedup_max_bytes: usize,
    /// A dialog (e.g. binding) abandoned for longer than this starts over.
    pub dialog_ttl_secs: u64,
    /// Per-user message rate (burst, then per minute) before the polite "slow down" reply.
    pub user_burst: u32,
    pub user_per_minute: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_secs: 300,
            dedup_window_secs: 300,
            dedup_reply_secs: crate::actors::deliveries::DEFAULT_REPLY_WINDOW.as_secs(),
            dedup_capacity: 200_000,
            dedup_max_bytes: 64 * 1024 * 1024,
            dialog_ttl_secs: 600,
            user_burst: 10,
            user_per_minute: 30,
        }
    }
}

/// What the campus services need beyond the adapters: SMS signature and template ids as
/// registered with the school's SMS platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesSettings {
    pub sms_sign: String,
    /// Template for the binding code; parameters `code`, `minutes`.
    pub bind_code_template: String,
    /// Template for other verification codes (绑定手机); parameters `code`, `minutes`.
    pub verify_code_template: String,
    /// Transactions shown per page ("回复 更多" shows the next).
    pub page_size: u32,
    /// Where phones reach this server's public pages (`/h5/articles/…`); `/` means our own
    /// listener (the demo).
    pub public_url: String,
    /// Content files (`*.md`) published at start when the content store is empty; empty for
    /// none. The demo points it at `config/content`.
    pub content_dir: PathBuf,
}

impl Default for ServicesSettings {
    fn default() -> Self {
        Self {
            sms_sign: "校园一卡通".into(),
            bind_code_template: "SMS_BIND_CODE".into(),
            verify_code_template: "SMS_VERIFY_CODE".into(),
            page_size: 5,
            public_url: "/".into(),
            content_dir: PathBuf::new(),
        }
    }
}

/// `[orders.topup] claim`: how a top-up's money leaves 过渡余额 (loaded onto the card account,
/// not yet on the card) and becomes spendable. Which one fits depends on the school's card
/// system: a chip wallet needs the card itself (a tap), an online account does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ClaimMode {
    /// The holder taps the card at a canteen POS or a self-service kiosk (领款); 「领取」 only
    /// says what waits and where to tap.
    AtTap,
    /// 「领取」 claims online (`card/load/claim`) and answers with the amount claimed and the
    /// new balance. The default: it is what the demo ships (see config/demo.toml).
    #[default]
    OnRequest,
    /// Every top-up claims right after its 圈存, as one more durable step of the order, so
    /// the money is spendable when the user is told; 「领取」 still claims anything left.
    Automatic,
}

impl TryFrom<String> for ClaimMode {
    type Error = String;
    /// A misspelt mode is refused with the three words a school can choose from.
    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "at_tap" => Ok(ClaimMode::AtTap),
            "on_request" => Ok(ClaimMode::OnRequest),
            "automatic" => Ok(ClaimMode::Automatic),
            other => Err(format!(
                "unknown claim mode `{other}`: use at_tap, on_request or automatic"
            )),
        }
    }
}

impl ClaimMode {
    /// Whether 过渡余额 can be claimed through the card system's API (「领取」 does it).
    pub fn online(self) -> bool {
        match self {
            ClaimMode::AtTap => false,
            ClaimMode::OnRequest | ClaimMode::Automatic => true,
        }
    }
}

/// News push (`onecard content push`): how items reach their audience.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// The 模板消息 template news pushes use; empty = template pushes are refused (mass
    /// sends still work).
    pub template_id: String,
    /// Template data keys and what fills them: `title`, `summary`, `publish_time` (campus
    /// time, `2026-01-05 09:00`) or `author`.
    pub template_fields: std::collections::BTreeMap<String, crate::store::ItemField>,
    /// Template messages sent per second at most: WeChat answers 45009 to a caller that is
    /// too fast.
    pub per_second: u32,
    /// Recipients whose `sending` mark is flushed together before their requests leave.
    pub batch: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// First wait after WeChat refuses for a limit (45009, 45011, 45047, -1); doubles up to
    /// `backoff_max_ms` while refusals continue.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        use crate::store::ItemField;
        Self {
            template_id: String::new(),
            template_fields: [
                ("keyword1".to_owned(), ItemField::Title),
                ("keyword2".to_owned(), ItemField::PublishTime),
                ("keyword3".to_owned(), ItemField::Summary),
            ]
            .into(),
            per_second: 50,
            batch: 50,
            concurrency: 8,
            backoff_initial_ms: 1000,
            backoff_max_ms: 600_000,
        }
    }
}

/// Limits on SMS verification codes (binding a card, verifying a phone with 绑定手机). They
/// bound guessing, SMS spraying and lock-outs; docs/SECURITY.md explains the trade-offs.
/// "Per day" is the campus day (`server.utc_offset_hours`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BindingSettings {
    /// Key for the HMAC of stored codes and of the user and phone keys of the limit counters.
    /// Empty = a random key generated on first start and kept in the store.
    pub code_secret: String,
    /// One code per phone (the card's phone on file, or the number being verified) this often.
    pub resend_secs: i64,
    /// How long a code can be typed back.
    pub valid_secs: i64,
    /// Wrong tries on one code before it is void and a new one must be asked for.
    pub wrong_per_code: u32,
    /// Wrong codes per card (or number being verified) per day, whoever typed them: then
    /// binding that card waits until the next day or an operator's `binding unlock`.
    pub wrong_codes_per_card_per_day: u32,
    /// Codes sent to one phone per day.
    pub codes_per_phone_per_day: u32,
    /// Distinct 学工号 one WeChat user may look up per day (typos included: each lookup
    /// tells whether a card exists, so it is what an enumeration script spends).
    pub cards_per_user_per_day: u32,
    /// Binding codes one WeChat user may have sent per day.
    pub codes_per_user_per_day: u32,
    /// Distinct numbers one user may verify with 绑定手机 per day.
    pub phone_numbers_per_user_per_day: u32,
    /// 绑定手机 codes one user may have sent per day.
    pub phone_codes_per_user_per_day: u32,
    /// 绑定手机 codes sent per day by all users together: the bound on SMS pumping through
    /// many accounts.
    pub phone_codes_per_day: u32,
}

impl Default for BindingSettings {
    fn default() -> Self {
        Self {
            code_secret: String::new(),
            resend_secs: 60,
            valid_secs: 300,
            wrong_per_code: 5,
            wrong_codes_per_card_per_day: 10,
            codes_per_phone_per_day: 10,
            cards_per_user_per_day: 3,
            codes_per_user_per_day: 5,
            phone_numbers_per_user_per_day: 3,
            phone_codes_per_user_per_day: 5,
            phone_codes_per_day: 1000,
        }
    }
}

impl std::fmt::Debug for BindingSettings {
    // The secret never reaches a log line or an error message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingSettings")
            .field(
                "code_secret",
                &if self.code_secret.is_empty() {
                    "(generated)"
                } else {
                    "(set)"
                },
            )
            .field("resend_secs", &self.resend_secs)
            .field("valid_secs", &self.valid_secs)
            .field("wrong_per_code", &self.wrong_per_code)
            .field(
                "wrong_codes_per_card_per_day",
                &self.wrong_codes_per_card_per_day,
            )
            .field("codes_per_phone_per_day", &self.codes_per_phone_per_day)
            .field("cards_per_user_per_day", &self.cards_per_user_per_day)
            .field("codes_per_user_per_day", &self.codes_per_user_per_day)
            .field(
                "phone_numbers_per_user_per_day",
                &self.phone_numbers_per_user_per_day,
            )
            .field(
                "phone_codes_per_user_per_day",
                &self.phone_codes_per_user_per_day,
            )
            .field("phone_codes_per_day", &self.phone_codes_per_day)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax. Only the position and the parser's message: the offending line may hold a
    /// secret, so it is never quoted.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key that is unknown or has the wrong type, from the file or the environment.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Environment variables that override the file: `ONECARD__SECTION__KEY`.
const ENV_PREFIX: &str = "ONECARD";
const ENV_SEPARATOR: &str = "__";

impl Settings {
    /// Load `path`, apply `ONECARD__…` environment overrides, then resolve relative paths
    /// against the file's directory's parent (so `config/demo.toml` can say `dir = "config/rules"`
    /// and work from the repository root).
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        Self::layered(path, &read(path)?, None)
    }

    /// [`Settings::load`] with `env` in place of the process environment: the file read as
    /// `serve` reads it, with `ONECARD__SECTION__KEY` overrides chosen by the caller. Tests run
    /// config/demo.toml this way with their own ports and directories, and hand the same
    /// variables to a child `onecard serve`.
    pub fn load_with(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::layered(path, &read(path)?, Some(env.into_iter().collect()))
    }

    /// Parse settings text with the given environment (injectable for tests).
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::layered(
            Path::new("<settings>"),
            text,
            Some(env.into_iter().collect()),
        )
    }

    /// The file, then the environment (`None` = the process environment). Environment values
    /// stay strings and are converted only where a field wants a number or a boolean, so an
    /// all-digit secret such as `ONECARD__WECHAT__TOKEN=123456` is the string "123456".
    fn layered(
        path: &Path,
        text: &str,
        env: Option<config::Map<String, String>>,
    ) -> Result<Self, SettingsError> {
        // Syntax is checked here first so the error can be reported without the line's text.
        if let Err(e) = text.parse::<toml::Table>() {
            let (line, column) = e
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((0, 0));
            return Err(SettingsError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            });
        }
        let invalid = |e: config::ConfigError| SettingsError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        };
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator(ENV_SEPARATOR)
                    .separator(ENV_SEPARATOR)
                    .source(env),
            )
            .build()
            .map_err(invalid)?
            .try_deserialize()
            .map_err(invalid)
    }

    /// The WeChat API base and every upstream base URL, with `/…` made absolute against our
    /// own listener.
    pub fn resolve_self_urls(&mut self, self_base: &str) {
        let fix = |url: &mut String| {
            if url.starts_with('/') {
                *url = format!("{}{}", self_base.trim_end_matches('/'), url);
            }
        };
        fix(&mut self.wechat.api_base);
        fix(&mut self.services.public_url);
        if let Some(upstreams) = &mut self.upstreams {
            for (_, section) in upstreams.sections_mut() {
                fix(&mut section.base_url);
            }
        }
    }
}

fn read(path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The campus time zone for `server.utc_offset_hours`; an offset chrono cannot
/// represent falls back to UTC rather than failing a request.
pub fn campus_offset(utc_offset_hours: i32) -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(utc_offset_hours * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset is valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const UPSTREAMS: &str = r#"
[upstreams.card]
base_url = "https://ecard-gw.example.edu.cn"
app_key = "onecard"
app_secret = "from-the-file"
[upstreams.sms]
base_url = "/sim/sms"
app_key = "onecard"
app_secret = "from-the-file"
[upstreams.public_data]
base_url = "/sim/data"
app_key = "onecard"
app_secret = "from-the-file"
"#;

    #[test]
    fn environment_overrides_secrets_and_numbers() {
        let env = env(&[
            ("ONECARD__WECHAT__APP_SECRET", "s3cret"),
            ("ONECARD__SERVER__CALLBACK_BUDGET_MS", "2500"),
            ("ONECARD__RULES__HOT_RELOAD", "false"),
            ("ONECARD__SERVER__UTC_OFFSET_HOURS", "-5"),
            ("PATH", "/bin"),
        ]);
        let s = Settings::from_toml("[wechat]\napp_id = \"wx1\"\n", env).unwrap();
        assert_eq!(s.wechat.app_id, "wx1");
        assert_eq!(s.wechat.app_secret, "s3cret");
        assert_eq!(s.server.callback_budget_ms, 2500);
        assert!(!s.rules.hot_reload);
        assert_eq!(s.server.utc_offset_hours, -5);
    }

    #[test]
    fn all_digit_secrets_from_the_environment_stay_strings() {
        // A hand-written layering once turned these into integers and refused them, printing
        // the value in the error.
        let text = format!("[wechat]\ntoken = \"from-the-file\"\n{UPSTREAMS}");
        let env = env(&[
            ("ONECARD__WECHAT__TOKEN", "123456"),
            ("ONECARD__WECHAT__APP_SECRET", "007"),
            ("ONECARD__UPSTREAMS__CARD__APP_SECRET", "0042"),
            ("ONECARD__UPSTREAMS__CARD__TIMEOUT_MS", "800"),
        ]);
        let s = Settings::from_toml(&text, env).unwrap();
        assert_eq!(s.wechat.token, "123456");
        assert_eq!(s.wechat.app_secret, "007");
        let card = &s.upstreams.as_ref().unwrap().card;
        assert_eq!(card.app_secret, "0042");
        assert_eq!(card.timeout_ms, 800);
        assert!(card.require_signed_responses, "signed responses by default");
    }

    #[test]
    fn a_syntax_error_names_the_line_but_never_quotes_it() {
        let text = "[wechat]\napp_id = \"wx1\"\napp_secret = s3cret-9f8e7d\n";
        let err = Settings::from_toml(text, vec![]).unwrap_err().to_string();
        assert!(err.starts_with("<settings>:3:14: "), "{err}");
        assert!(!err.contains("9f8e7d"), "the secret leaked: {err}");
    }

    #[test]
    fn a_type_error_in_the_environment_never_quotes_a_secret() {
        // The secret is valid; the error is elsewhere, and the message must not carry any
        // other value that came in with it.
        let env = env(&[
            ("ONECARD__WECHAT__APP_SECRET", "9f8e7d-secret-value"),
            ("ONECARD__SERVER__WORKERS", "many"),
        ]);
        let err = Settings::from_toml("", env).unwrap_err().to_string();
        assert!(err.contains("server.workers"), "{err}");
        assert!(!err.contains("9f8e7d"), "the secret leaked: {err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Settings::from_toml("[server]\nlisten_addr = \"x\"\n", vec![]).unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
        let err = Settings::from_toml("", env(&[("ONECARD__WECHAT__TOKNE", "x")])).unwrap_err();
        assert!(err.to_string().contains("tokne"), "{err}");
    }

    #[test]
    fn the_claim_mode_is_one_of_three_words_and_defaults_to_on_request() {
        let claim = |text: &str| Settings::from_toml(text, vec![]).map(|s| s.orders.topup.claim);
        assert_eq!(claim("").unwrap(), ClaimMode::OnRequest);
        for (word, mode) in [
            ("at_tap", ClaimMode::AtTap),
            ("on_request", ClaimMode::OnRequest),
            ("automatic", ClaimMode::Automatic),
        ] {
            let text = format!("[orders.topup]\nclaim = \"{word}\"\n");
            assert_eq!(claim(&text).unwrap(), mode, "{word}");
        }
        let err = claim("[orders.topup]\nclaim = \"sometimes\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "<settings>: unknown claim mode `sometimes`: use at_tap, on_request or automatic for key `orders.topup.claim`"
        );
    }

    #[test]
    fn relative_urls_point_at_our_own_listener() {
        let text = format!("[wechat]\napi_base = \"/sim/wechat\"\n{UPSTREAMS}");
        let mut s = Settings::from_toml(&text, vec![]).unwrap();
        s.resolve_self_urls("http://127.0.0.1:9000");
        assert_eq!(s.wechat.api_base, "http://127.0.0.1:9000/sim/wechat");
        let upstreams = s.upstreams.unwrap();
        assert_eq!(upstreams.sms.base_url, "http://127.0.0.1:9000/sim/sms");
        assert_eq!(upstreams.card.base_url, "https://ecard-gw.example.edu.cn");
    }
}
