//! Typed settings: one TOML file plus environment overrides.
//!
//! Every key has a default so a config file names only what differs. Secrets can stay out of
//! files: any key can be overridden by an environment variable `ONECARD__SECTION__KEY`
//! (e.g. `ONECARD__WECHAT__APP_SECRET`). Unknown keys are an error, never ignored, so a typo in a
//! config file is caught at start-up instead of silently running with a default.
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
    /// Upstream adapters (`[upstreams.card]`, …): handed to `adapters` as they are.
    pub upstreams: toml::Table,
    /// Simulators served on our own listener under `/sim/` (demo); absent in production.
    pub sim: Option<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
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
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            callback_budget_ms: 4000,
            body_limit_bytes: 64 * 1024,
            workers: 0,
            session_arbiters: 0,
            store_cache_mb: 64,
            utc_offset_hours: 8,
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
    /// Refuse plaintext POSTs (safe mode only).
    pub encrypted_only: bool,
    pub timestamp_window_secs: i64,
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
            encrypted_only: false,
            timestamp_window_secs: 300,
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
    /// How long a delivery's result is remembered for WeChat's retries (≥ 60 s).
    pub dedup_window_secs: u64,
    /// Upper bound on remembered deliveries (memory bound).
    pub dedup_capacity: usize,
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
            dedup_window_secs: 120,
            dedup_capacity: 200_000,
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
}

impl Default for ServicesSettings {
    fn default() -> Self {
        Self {
            sms_sign: "校园一卡通".into(),
            bind_code_template: "SMS_BIND_CODE".into(),
            verify_code_template: "SMS_VERIFY_CODE".into(),
            page_size: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("environment override {var}: {message}")]
    Env { var: String, message: String },
}

impl Settings {
    /// Load `path`, apply `ONECARD__…` environment overrides, then resolve relative paths
    /// against the file's directory's parent (so `config/demo.toml` can say `dir = "config/rules"`
    /// and work from the repository root).
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, std::env::vars()).map_err(|e| match e {
            SettingsError::Parse { source, .. } => SettingsError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })
    }

    /// Parse settings text with the given environment (injectable for tests).
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut value: toml::Table = text.parse().map_err(|source| SettingsError::Parse {
            path: PathBuf::new(),
            source: Box::new(source),
        })?;
        for (var, raw) in env {
            let Some(rest) = var.strip_prefix("ONECARD__") else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
            set_path(&mut value, &keys, &raw).map_err(|message| SettingsError::Env {
                var: var.clone(),
                message,
            })?;
        }
        toml::Value::Table(value)
            .try_into()
            .map_err(|source| SettingsError::Parse {
                path: PathBuf::new(),
                source: Box::new(source),
            })
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
        for (_, section) in self.upstreams.iter_mut() {
            if let Some(toml::Value::String(url)) = section.get_mut("base_url") {
                fix(url);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], raw: &str) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    let mut cur = table;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{k}` is not a section"))?;
    }
    let value = if let Ok(i) = raw.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = raw.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(raw.to_owned())
    };
    cur.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_secrets_and_numbers() {
        let env = vec![
            (
                "ONECARD__WECHAT__APP_SECRET".to_string(),
                "s3cret".to_string(),
            ),
            (
                "ONECARD__SERVER__CALLBACK_BUDGET_MS".to_string(),
                "2500".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let s = Settings::from_toml("[wechat]\napp_id = \"wx1\"\n", env).unwrap();
        assert_eq!(s.wechat.app_id, "wx1");
        assert_eq!(s.wechat.app_secret, "s3cret");
        assert_eq!(s.server.callback_budget_ms, 2500);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Settings::from_toml("[server]\nlisten_addr = \"x\"\n", vec![]).unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn relative_urls_point_at_our_own_listener() {
        let mut s = Settings::from_toml("[wechat]\napi_base = \"/sim/wechat\"\n", vec![]).unwrap();
        s.resolve_self_urls("http://127.0.0.1:9000");
        assert_eq!(s.wechat.api_base, "http://127.0.0.1:9000/sim/wechat");
    }
}
